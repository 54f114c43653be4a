import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createInMadeParent, makeDirs, removeMadeDirs } from '../src/dirs.js';

describe('makeDirs', () => {
  it('makes the missing levels, lists only those, and removeMadeDirs takes back only them', () => {
    const top = mkdtempSync(join(tmpdir(), 'bk-dirs-'));
    try {
      makeDirs(join(top, 'shared'));
      const made = makeDirs(join(top, 'shared', 'a', 'b'));
      expect(made).toEqual([join(top, 'shared', 'a'), join(top, 'shared', 'a', 'b')]);
      removeMadeDirs(made);
      expect(readdirSync(join(top, 'shared'))).toEqual([]);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });

  it("a parent that another run's undo takes back between two mkdirs is made again (no ENOENT)", async () => {
    const top = mkdtempSync(join(tmpdir(), 'bk-dirs-'));
    // another run that makes the shared parent and takes it back while it is empty, over and over
    // (a process group of its own: its mkdir and rmdir children go with it at the end)
    const other = spawn('sh', ['-c', `while :; do mkdir ${join(top, 'p')} 2>/dev/null; rmdir ${join(top, 'p')} 2>/dev/null; done`], { stdio: 'ignore', detached: true });
    try {
      let failures = 0;
      let madeParent = 0;
      for (let i = 0; i < 3000; i++) {
        try {
          const made = makeDirs(join(top, 'p', 'q'));
          if (made.length === 2) madeParent++;
          expect(existsSync(join(top, 'p', 'q'))).toBe(true);
          // each level once, the last the one asked for, and all still there (none the other's)
          expect(new Set(made).size).toBe(made.length);
          expect(made.at(-1)).toBe(join(top, 'p', 'q'));
          removeMadeDirs(made);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          failures++;
        }
      }
      // the race was met (the parent was there for some tries, made by us for others), and never failed
      expect(madeParent).toBeGreaterThan(0);
      expect(failures).toBe(0);
    } finally {
      const exited = new Promise((r) => other.once('exit', r));
      process.kill(-other.pid!, 'SIGKILL');
      await exited;
      rmSync(top, { recursive: true, force: true });
    }
  });
});

describe('createInMadeParent', () => {
  it('when its parent is taken away before the entry is made, makes it again and lists it once', () => {
    const top = mkdtempSync(join(tmpdir(), 'bk-dirs-'));
    try {
      const made: string[] = [];
      let tries = 0;
      // the first create finds its parent gone (another run's undo took it back)
      createInMadeParent(join(top, 'p', 'entry'), () => {
        if (tries++ === 0) rmdirSync(join(top, 'p'));
        writeFileSync(join(top, 'p', 'entry'), 'x');
      }, made);
      expect(tries).toBe(2);
      expect(made).toEqual([join(top, 'p')]);
      expect(existsSync(join(top, 'p', 'entry'))).toBe(true);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});
