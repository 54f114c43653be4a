import { describe, expect, it } from 'vitest';
import { closeSync, constants, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPty } from '@boxkit/native';
import { relay } from '../src/container/tty.js';

const closed = (fd: number) => {
  try {
    fstatSync(fd);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EBADF';
  }
};

describe('run -t relay', () => {
  it('when the pty ends before the container is reaped, the relay leaves alone a file that took the master fd number since', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-relay-'));
    try {
      const t = openPty();
      const slave = openSync(t.slave, constants.O_RDWR | constants.O_NOCTTY);
      let reaped!: () => void;
      relay(t, new Promise<void>((r) => (reaped = r)));
      // the container's last fd of the slave closes: the master reads EIO, and the relay's stream closes it
      closeSync(slave);
      for (let i = 0; i < 400 && !closed(t.master); i++) await new Promise((r) => setTimeout(r, 5));
      expect(closed(t.master)).toBe(true);
      // this process opens a file before the container's exit is seen: it gets the master's number
      writeFileSync(join(dir, 'f'), 'not the container output');
      const fd = openSync(join(dir, 'f'), 'r');
      expect(fd).toBe(t.master);
      reaped();
      await new Promise((r) => setImmediate(r));
      // still open, and nothing read from it (a drain of the number read it and closed it)
      expect(closed(fd)).toBe(false);
      const buf = Buffer.alloc(64);
      expect(buf.subarray(0, readSync(fd, buf, 0, 64, null)).toString()).toBe('not the container output');
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
