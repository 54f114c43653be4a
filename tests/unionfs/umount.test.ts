import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;
let root = '';

describe.skipIf(skipReason)(title('unionfs umount (real overlay mounts)'), () => {
  beforeAll(() => {
    root = scratch('umount');
  });
  afterAll(() => {
    const left = mountsUnder(root);
    detachAll(root);
    expect(left, 'every test unmounts what it mounted').toEqual([]);
  });

  it('umount of a busy union says so; umount of what is not mounted succeeds quietly', async () => {
    const d = join(root, 'busy');
    files(d, { 'a/x': 'x', 'mnt/': null });
    expect((await unionfs(['mount', '-l', 'a', '-u', 'up', 'mnt'], d)).exitCode).toBe(0);
    const mnt = join(d, 'mnt');
    const sleeper = spawn('sleep', ['60'], { cwd: mnt, stdio: 'ignore' });
    const exited = new Promise((res) => sleeper.on('exit', res));
    try {
      const busy = await unionfs(['umount', mnt]);
      expect(busy.exitCode).toBe(1);
      expect(errorLines(busy.stderr)).toEqual([`unionfs: umount ${mnt}: the mount is busy (a process has a file or its cwd in it)`]);
      expect(busy.stderr).toMatch(/^hint: .*--lazy/m);
      expect(mountsUnder(mnt)).toEqual([mnt]);
    } finally {
      sleeper.kill('SIGKILL'); // (not process.kill(sleeper.pid): once its exit was seen, the pid may be another's)
      await exited;
    }
    const ok = await unionfs(['umount', mnt]);
    expect(ok.exitCode).toBe(0);
    expect(mountsUnder(mnt)).toEqual([]);
    for (const target of [mnt, join(d, 'never-made')]) {
      const quiet = await unionfs(['umount', target]);
      expect(quiet.exitCode).toBe(0);
      expect(quiet.stdout).toBe('');
      expect(quiet.stderr).toBe('');
    }
  });

  it('umount --lazy detaches a busy union at once', async () => {
    const d = join(root, 'lazy');
    files(d, { 'a/x': 'x', 'mnt/': null });
    expect((await unionfs(['mount', '-l', 'a', '-u', 'up', 'mnt'], d)).exitCode).toBe(0);
    const mnt = join(d, 'mnt');
    const sleeper = spawn('sleep', ['60'], { cwd: mnt, stdio: 'ignore' });
    const exited = new Promise((res) => sleeper.on('exit', res));
    try {
      const r = await unionfs(['umount', '--lazy', mnt]);
      expect(r.exitCode).toBe(0);
      expect(mountsUnder(mnt)).toEqual([]);
    } finally {
      sleeper.kill('SIGKILL'); // (not process.kill(sleeper.pid): once its exit was seen, the pid may be another's)
      await exited;
    }
  });
});
