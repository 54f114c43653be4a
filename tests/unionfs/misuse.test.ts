/**
 * What a user who knows mount(8) and docker tries next: the same mount with
 * other flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

/** The per-mount options mountinfo shows for the top mount at `mnt`. */
function mountOptions(mnt: string): string[] {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === mnt).pop();
  return line?.split(' ')[5]?.split(',') ?? [];
}

describe.skipIf(skipReason)(title('unionfs: a repeat with other flags'), () => {
  let d = '';
  beforeAll(() => {
    d = scratch('misuse');
    files(d, { 'lo/etc/hosts': 'h', 'lo2/x': 'x' });
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
  });

  it.each([
    [['-o', 'nosuid,nodev'], [], 'with nodev, nosuid'],
    [[], ['-o', 'nosuid'], 'without nosuid'],
    [['-o', 'noexec'], ['-o', 'nodev'], 'with noexec and without nodev'],
  ])('a union mounted %j, asked again with %j, is refused naming the flags (it said "already mounted")', async (first, again, says) => {
    const mnt = join(d, 'mnt-flags');
    expect((await unionfs(['mount', '-l', 'lo', '-u', 'up-flags', ...first, 'mnt-flags'], d)).exitCode).toBe(0);
    try {
      const before = mountOptions(mnt);
      const r = await unionfs(['mount', '-l', 'lo', '-u', 'up-flags', ...again, 'mnt-flags'], d);
      expect(r.exitCode).toBe(1);
      expect(errorLines(r.stderr)).toEqual([`unionfs: mount ${mnt}: the same union is mounted there ${says}`]);
      expect(r.stderr).toMatch(/hint: unionfs umount /);
      expect(mountsUnder(mnt)).toEqual([mnt]);
      expect(mountOptions(mnt)).toEqual(before);
      // the same flags (in another order) are the same union: idempotent
      const same = await unionfs(['mount', '-l', 'lo', '-u', 'up-flags', ...first.map((a) => a.split(',').reverse().join(',')), 'mnt-flags'], d);
      expect(same.exitCode).toBe(0);
      expect(same.stdout).toMatch(/^already mounted /);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });
});
