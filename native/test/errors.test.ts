import { afterAll, describe, expect, it } from 'vitest';
import { SysError, errnoName, errnoNumber, encodeProgram, execStep, opName, OP } from '../src/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';

const osErrno = constants.errno;
import { join } from 'node:path';
import { mount, chdir, kill } from '../src/libc.js';

describe('SysError', () => {
  it('carries code, errno, syscall and path like a Node fs error', () => {
    const e = new SysError('mount', 2, '/nowhere');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(2);
    expect(e.syscall).toBe('mount');
    expect(e.path).toBe('/nowhere');
    expect(e.message).toBe('mount /nowhere: no such file or directory (ENOENT)');
  });
  it('maps names both ways and tolerates unknown numbers', () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoNumber('EBUSY')).toBe(16);
    expect(errnoName(4242)).toBe('E4242');
  });
  it('every name it knows has the number Node knows it by (os.constants.errno)', () => {
    for (let n = 1; n < 200; n++) {
      const name = errnoName(n);
      if (name !== `E${n}`) expect([name, osErrno[name as keyof typeof osErrno]]).toEqual([name, n]);
    }
    expect(errnoName(75)).toBe('EOVERFLOW'); // a file owned by an unmapped uid: was printed as E75
  });
});

describe('libc bindings turn -1 into a typed error from the real errno', () => {
  const made: string[] = [];
  const scratch = () => {
    const d = mkdtempSync(join(tmpdir(), 'bk-errors-'));
    made.push(d);
    return d;
  };
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('chdir into a missing directory is ENOENT naming the path', () => {
    const missing = join(scratch(), 'missing');
    expect(() => chdir(missing)).toThrowError(expect.objectContaining({ code: 'ENOENT', syscall: 'chdir', path: missing }));
  });
  it('kill of a pid that cannot exist is ESRCH', () => {
    expect(() => kill(2 ** 22 + 7, 0)).toThrowError(expect.objectContaining({ code: 'ESRCH', syscall: 'kill' }));
  });
  it('mount with an unknown filesystem type is ENODEV or EPERM (not root)', () => {
    const dir = scratch();
    try {
      mount('none', dir, 'no-such-fs', 0);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SysError);
      expect(['ENODEV', 'EPERM']).toContain((e as SysError).code);
      expect((e as SysError).path).toBe(dir);
    }
  });
});

describe('program encoding', () => {
  it('lays out op, counts, 64-bit ints and NUL-terminated, 4-aligned strings', () => {
    const b = encodeProgram([{ op: 'MKDIR', ints: [0o755], strs: ['/abc'] }]);
    expect(b.readUInt32LE(0)).toBe(OP.MKDIR);
    expect(b.readUInt32LE(4)).toBe(1);
    expect(b.readUInt32LE(8)).toBe(1);
    expect(b.readBigInt64LE(12)).toBe(0o755n);
    expect(b.readUInt32LE(20)).toBe(4);
    expect(b.subarray(24, 29).toString('latin1')).toBe('/abc\0');
    expect(b.length).toBe(32);
  });
  it('marks optional steps and rejects NUL bytes', () => {
    const b = encodeProgram([{ op: 'MASK_PATH', strs: ['/x'], optional: true }]);
    expect(b.readUInt32LE(0)).toBe(OP.MASK_PATH | 0x10000);
    expect(() => encodeProgram([{ op: 'CHDIR', strs: ['a\0b'] }])).toThrow(/NUL/);
  });
  it('builds exec steps with argv then envp', () => {
    const s = execStep(['sh', '-c', 'true'], { PATH: '/bin', GONE: undefined });
    expect(s.strs).toEqual(['sh', 'sh', '-c', 'true', 'PATH=/bin']);
    expect(s.ints).toEqual([3]);
    expect(opName(OP.PIVOT_ROOT)).toBe('pivot-root');
  });
});
