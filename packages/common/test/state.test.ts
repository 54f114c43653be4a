import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWrite, createExclusive, readJson, unwritten } from '../src/state.js';
import { sleepSync } from '../src/sleep.js';

describe('atomicWrite', () => {
  it('a write that fails leaves no temp file behind (state dirs are scanned and /run is small)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-atomic-'));
    try {
      // the rename cannot replace a non-empty directory: the write fails after the temp file was made
      mkdirSync(join(dir, 'x.json', 'inside'), { recursive: true });
      expect(() => atomicWrite(join(dir, 'x.json'), '{}')).toThrow();
      expect(readdirSync(dir)).toEqual(['x.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a state dir it may not make (EACCES, EPERM) is named with the hint every refused errno error gets, 'this needs root' (its mkdir's error was wrapped without it)", (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-atomic-denied-'));
    // refused by the kernel: root passes the mode bits, not an immutable directory (EPERM); anyone else, mode 0500 (EACCES)
    const root = process.geteuid?.() === 0;
    const locked = root ? spawnSync('chattr', ['+i', dir]).status === 0 : (chmodSync(dir, 0o500), true);
    try {
      if (!locked) return ctx.skip(); // (a file system without the immutable flag: nothing refuses root here)
      const path = join(dir, 'state', 'x.json');
      expect(() => atomicWrite(path, '{}')).toThrow(expect.objectContaining({ code: root ? 'EPERM' : 'EACCES', message: expect.stringContaining(`cannot write ${path}: `), hint: 'this needs root (or CAP_SYS_ADMIN/CAP_NET_ADMIN)' }));
    } finally {
      if (root) spawnSync('chattr', ['-i', dir]);
      else chmodSync(dir, 0o700);
      rmSync(dir, { recursive: true, force: true });
    }
    // the open refused, as the mkdir: the same hint
    const denied = Object.assign(new Error("EACCES: permission denied, open '/run/boxkit/x.json.1.tmp'"), { code: 'EACCES', syscall: 'open' });
    expect(unwritten('/run/boxkit/x.json', denied)).toMatchObject({ message: 'cannot write /run/boxkit/x.json: permission denied', hint: 'this needs root (or CAP_SYS_ADMIN/CAP_NET_ADMIN)' });
  });
});

describe('readJson', () => {
  it('names the file that is not JSON; a missing one is undefined', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-readjson-'));
    try {
      writeFileSync(join(dir, 'bad.json'), '{"a":');
      expect(() => readJson(join(dir, 'bad.json'))).toThrow(`${join(dir, 'bad.json')}: not valid JSON (`);
      expect(readJson(join(dir, 'none.json'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createExclusive', () => {
  it('creates the file whole when nothing is there; a file or a dangling symlink there is false; no file aside is left; other errors throw, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-excl-'));
    try {
      const p = join(dir, 'm.json');
      expect(createExclusive(p, 'one', 0o600)).toBe(true);
      expect(readFileSync(p, 'utf8')).toBe('one');
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(createExclusive(p, 'two')).toBe(false);
      expect(readFileSync(p, 'utf8')).toBe('one');
      symlinkSync(join(dir, 'nowhere'), join(dir, 'l'));
      expect(createExclusive(join(dir, 'l'), 'x')).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(['l', 'm.json']);
      // (named by the file it was to create: Node's message named the file aside, PATH.PID.tmp)
      expect(() => createExclusive(join(dir, 'm.json', 'under'), 'x')).toThrow(expect.objectContaining({ code: 'ENOTDIR', message: `cannot write ${join(dir, 'm.json', 'under')}: not a directory` }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sleepSync', () => {
  it('blocks for about the time asked', () => {
    const t0 = Date.now();
    sleepSync(30);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(29);
  });
});
