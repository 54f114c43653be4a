/**
 * A union hidden by a later mount over a directory above it (a union at
 * m/u, then a tmpfs at m): mountinfo still lists the union at m/u, but the
 * path m/u now leads into the tmpfs. Each command answers for what the path
 * leads to, and none takes the hidden union for the one there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mount, MS, umount2 } from '../../native/src/index.js';
import { skipReason } from '../harness/index.js';
import { mountOf, parseMountinfo } from '../../packages/unionfs/src/mountinfo.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionAt, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;
let root = '';

/** The kernel's own answer: the mount id an open of `path` lands on (/proc/self/fdinfo's mnt_id). */
function kernelMountId(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return Number(/^mnt_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]);
  } finally {
    closeSync(fd);
  }
}

/** The mounts listed at `path` in mountinfo, in the table's order, by fstype. */
function listedAt(path: string): string[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.mountpoint === path).map((e) => e.fstype);
}

const tmpfsAt = (dir: string) => mount('tmpfs', dir, 'tmpfs', 0, 'size=1m');

describe.skipIf(skipReason)(title('unionfs and a union hidden by a later mount (real mounts)'), () => {
  beforeAll(() => {
    root = scratch('hidden');
  });
  afterAll(() => {
    const left = mountsUnder(root);
    detachAll(root);
    detachAll(root); // what the first pass uncovered
    expect(left, 'every test unmounts what it mounted').toEqual([]);
  });

  it('umount, show, ls, diff and mount of a path whose union a tmpfs over its parent hides', async () => {
    const d = join(root, 'over-parent');
    files(d, { 'a/x': 'x', 'm/u/': null, 'm/keep': 'k' });
    const [m, u] = [join(d, 'm'), join(d, 'm/u')];
    expect((await unionfs(['mount', '-l', 'a', '-u', 'up', u], d)).exitCode).toBe(0);
    const hiddenId = unionAt(u)!.id;
    tmpfsAt(m);
    try {
      // mountinfo still lists the union at m/u; the path leads into the tmpfs (where m/u is missing)
      expect(listedAt(u)).toEqual(['overlay']);
      expect(mountOf(d)!.id).not.toBe(kernelMountId(m));
      expect(mountOf(u)!.id).toBe(kernelMountId(m));

      // umount: the union is still there, not "nothing mounted" (exit 0 before, quietly)
      const gone = await unionfs(['umount', u]);
      expect(gone.exitCode).toBe(1);
      expect(errorLines(gone.stderr)).toEqual([`unionfs: umount ${u}: the union mounted there is hidden by the mount at ${m}`]);
      expect(gone.stderr).toMatch(new RegExp(`^hint: unmount ${m} first`, 'm'));
      // with a directory there in the tmpfs: the same (before: umount2 of the tmpfs's dir, EINVAL, exit 0)
      mkdirSync(u);
      const again = await unionfs(['umount', u]);
      expect(again.exitCode).toBe(1);
      expect(errorLines(again.stderr)).toEqual([`unionfs: umount ${u}: the union mounted there is hidden by the mount at ${m}`]);
      expect(listedAt(u)).toEqual(['overlay']);

      // show: not the union the path no longer leads to (it showed it before)
      const show = await unionfs(['show', u]);
      expect(show.exitCode).toBe(2);
      expect(errorLines(show.stderr)).toEqual([`unionfs: ${u}: not a union mount`]);
      expect(show.stderr).toContain(`hint: the union mounted there is hidden by the mount at ${m}`);
      // ls: listed (it still holds its upper), marked
      const ls = JSON.parse((await unionfs(['ls', '--json'])).stdout) as { unions: { id: number; hiddenBy?: string }[] };
      expect(ls.unions.find((x) => x.id === hiddenId)?.hiddenBy).toBe(m);
      expect((await unionfs(['ls'])).stdout).toMatch(new RegExp(`^${u} +overlay +rw,hidden +${d}/up `, 'm'));

      // diff of the path: the tmpfs's dir is not that union's changes (before: the hidden union's upper)
      const diff = await unionfs(['diff', u]);
      expect(diff.exitCode).toBe(2);
      expect(errorLines(diff.stderr)).toEqual([`unionfs: ${u}: the union mounted there is hidden by the mount at ${m}`]);
      expect(diff.stderr).toContain(`hint: give its upper dir instead: ${d}/up`);
      // its upper is still its own
      expect((await unionfs(['diff', join(d, 'up')])).exitCode).toBe(0);

      // the same union again: its upper is in use by the hidden one (before: "already mounted", nothing at m/u)
      const same = await unionfs(['mount', '-l', 'a', '-u', 'up', u], d);
      expect(same.exitCode).toBe(1);
      expect(errorLines(same.stderr)).toEqual([`unionfs: upper ${d}/up is in use by the union at ${u} (hidden by the mount at ${m})`]);
      expect(listedAt(u)).toEqual(['overlay']);

      // another union at m/u: the path is free (before: "another union is mounted there", exit 1)
      const other = await unionfs(['mount', '-l', 'a', '-u', 'up2', u], d);
      expect(other.stderr).toBe('');
      expect(other.exitCode).toBe(0);
      expect(readFileSync(join(u, 'x'), 'utf8')).toBe('x');
      expect(kernelMountId(u)).toBe(unionAt(u)!.id);
      expect(JSON.parse((await unionfs(['show', '--json', u])).stdout)).toMatchObject({ upper: join(d, 'up2') });
      // umount takes the one the path leads to, and only that
      expect((await unionfs(['umount', u])).exitCode).toBe(0);
      expect(listedAt(u)).toEqual(['overlay']);
      expect(kernelMountId(u)).toBe(kernelMountId(m));
    } finally {
      umount2(m);
    }
    // uncovered: its own path leads to it again
    expect(readFileSync(join(u, 'x'), 'utf8')).toBe('x');
    expect((await unionfs(['umount', u])).exitCode).toBe(0);
    expect(mountsUnder(d)).toEqual([]);
  });

  it('an upper below a hidden union\'s mount point is on the mount over it: a work dir there is accepted', async () => {
    const d = join(root, 'work');
    files(d, { 'a/x': 'x', 'b/y': 'y', 'm/u/': null });
    const [m, u] = [join(d, 'm'), join(d, 'm/u')];
    expect((await unionfs(['mount', '-l', 'a', '-u', 'up', u], d)).exitCode).toBe(0);
    tmpfsAt(m);
    try {
      mkdirSync(u);
      // upper m/u/up and work m/w are both on the tmpfs (refused before: 'on different mounts (<m> and <m/u>)')
      const r = await unionfs(['mount', '-l', 'b', '-u', join(u, 'up'), '--work', join(m, 'w'), join(m, 'mnt')], d);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      writeFileSync(join(m, 'mnt/new'), 'n');
      expect(readFileSync(join(u, 'up/new'), 'utf8')).toBe('n');
      expect((await unionfs(['umount', join(m, 'mnt')])).exitCode).toBe(0);
      // a work dir on another mount is still refused, naming the mounts the paths lead to
      mkdirSync(join(d, 'm2'));
      tmpfsAt(join(d, 'm2'));
      try {
        const bad = await unionfs(['mount', '-l', 'b', '-u', join(u, 'up'), '--work', join(d, 'm2/w'), join(m, 'mnt')], d);
        expect(bad.exitCode).toBe(2);
        expect(errorLines(bad.stderr)).toEqual([`unionfs: work dir ${d}/m2/w and upper ${u}/up are on different filesystems`]);
      } finally {
        umount2(join(d, 'm2'));
      }
    } finally {
      umount2(m);
    }
    expect((await unionfs(['umount', u])).exitCode).toBe(0);
    expect(mountsUnder(d)).toEqual([]);
  });

  it('a tmpfs moved in over a hidden union (mount --move: listed before it) is not unmounted as that union', async () => {
    const d = join(root, 'moved');
    files(d, { 'a/x': 'x', 't/': null, 'c/': null, 'n/u/': null });
    const [t, c, n, u] = ['t', 'c', 'n', 'n/u'].map((p) => join(d, p)) as [string, string, string, string];
    // the tmpfs made first, the union at n/u, then c over n, then the tmpfs moved to n/u inside c
    tmpfsAt(t);
    writeFileSync(join(t, 'mine'), 'tmpfs');
    // where each is now, for the cleanup
    let tmpfsAtNow = t, coverAtNow: string | undefined;
    try {
      expect((await unionfs(['mount', '-l', 'a', '-u', 'up', u], d)).exitCode).toBe(0);
      tmpfsAt(c);
      coverAtNow = c;
      mkdirSync(join(c, 'u'));
      mount(c, n, '', MS.MOVE, '');
      coverAtNow = n;
      mount(t, u, '', MS.MOVE, '');
      tmpfsAtNow = u;
      // mountinfo lists the tmpfs before the union at n/u; the path leads to the tmpfs
      expect(listedAt(u)).toEqual(['tmpfs', 'overlay']);
      expect(readFileSync(join(u, 'mine'), 'utf8')).toBe('tmpfs');
      expect(mountOf(join(u, 'mine'))!.id).toBe(kernelMountId(u));

      // before: the last entry at n/u (the hidden union) passed as the mount there, and umount2 took the tmpfs
      const r = await unionfs(['umount', u]);
      expect(r.exitCode).toBe(2);
      expect(errorLines(r.stderr)).toEqual([`unionfs: umount ${u}: not a union mount`]);
      expect(r.stderr).toContain(`hint: the union mounted there is hidden by the mount at ${n}`);
      expect(readFileSync(join(u, 'mine'), 'utf8')).toBe('tmpfs');
      expect(listedAt(u)).toEqual(['tmpfs', 'overlay']);
      expect((await unionfs(['show', u])).exitCode).toBe(2);
    } finally {
      try {
        umount2(tmpfsAtNow);
      } finally {
        if (coverAtNow) umount2(coverAtNow);
      }
    }
    expect((await unionfs(['umount', u])).exitCode).toBe(0);
    expect(mountsUnder(d)).toEqual([]);
  });
});
