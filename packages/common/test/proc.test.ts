import { describe, expect, it } from 'vitest';
import { parseProcStat, procStat } from '../src/proc.js';

/** A stat line as the kernel writes it: pid (comm) then 50 fields; starttime is the 22nd field overall. */
const line = (comm: string) =>
  `4242 (${comm}) S 17 4242 4242 34816 4250 4194560 1100 0 0 0 3 1 0 0 20 0 1 0 987654 10000000 800 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n`;

describe('procStat', () => {
  it('reads the typed fields', () => {
    expect(parseProcStat(line('sh'))).toEqual({ comm: 'sh', state: 'S', ppid: 17, pgrp: 4242, tpgid: 4250, start: 987654 });
  });

  it('a comm with spaces and parentheses: the fields start after the last ")"', () => {
    for (const comm of ['a b', 'x) S 1 2 3', '((', ') (', 'z) Z 9 9']) {
      expect(parseProcStat(line(comm))).toEqual({ comm, state: 'S', ppid: 17, pgrp: 4242, tpgid: 4250, start: 987654 });
    }
  });

  it('no controlling terminal: tpgid -1', () => {
    expect(parseProcStat(line('d').replace(' 34816 4250 ', ' 0 -1 ')).tpgid).toBe(-1);
  });

  it('this process, by pid and as self', () => {
    const me = procStat(process.pid)!;
    expect(me).toMatchObject({ ppid: process.ppid, state: 'R' });
    expect(me.start).toBeGreaterThan(0);
    expect(procStat('self')).toMatchObject({ ppid: process.ppid, start: me.start });
  });

  it('no such process: undefined', () => {
    // above PID_MAX_LIMIT (2^22): never a process
    expect(procStat(2 ** 22 + 1)).toBeUndefined();
  });
});
