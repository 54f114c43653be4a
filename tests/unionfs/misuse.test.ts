/**
 * What a user who knows mount(8) and docker tries next: the same mount with
 * other flags, a commit written into the union it commits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionfs } from './helpers.js';
import { mount, umountIfMounted, MS } from '../../native/src/index.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

/** The per-mount options mountinfo shows for the top mount at `mnt`. */
function mountOptions(mnt: string): string[] {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === mnt).pop();
  return line?.split(' ')[5]?.split(',') ?? [];
}

describe.skipIf(skipReason)(title('unionfs: a repeat with other flags, a commit into its own union'), () => {
  let d = '';
  beforeAll(() => {
    d = scratch('misuse');
    files(d, { 'lo/etc/hosts': 'h', 'lo2/x': 'x', 'lo3/etc/hosts': 'h', 'lo3/var/a': 'a', 'lo3/opt/keep': 'k', 'lo3/opt/.wh.keep': 'a file of the lower' });
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

  it('commit MNT MNT/layer.tar is refused: the tarball would be written into the upper it is reading', async () => {
    const mnt = join(d, 'mnt-commit');
    expect((await unionfs(['mount', '-l', 'lo', '-u', 'up-commit', 'mnt-commit'], d)).exitCode).toBe(0);
    try {
      writeFileSync(join(mnt, 'new'), 'n');
      const before = readdirSync(join(d, 'up-commit')).sort();
      for (const out of [join(mnt, 'layer.tar'), join(mnt, 'etc/layer.tar')]) {
        for (const target of [mnt, join(d, 'up-commit')]) {
          const r = await unionfs(['commit', target, out]);
          expect(r.exitCode).toBe(2);
          expect(errorLines(r.stderr)).toEqual([`unionfs: ${out}: the tarball would be inside the union it holds (${mnt})`]);
          expect(existsSync(out)).toBe(false);
        }
      }
      expect(readdirSync(join(d, 'up-commit')).sort()).toEqual(before);
      expect((await unionfs(['commit', mnt, join(d, 'ok.tar')])).exitCode).toBe(0);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });

  it("files named '.wh.' or '.wh...' in a union are content: diff says A (it said 'D /' and 'D /..'), commit refuses them (its layer would be refused)", async () => {
    const mnt = join(d, 'mnt-dotwh');
    expect((await unionfs(['mount', '-l', 'lo', '-u', 'up-dotwh', 'mnt-dotwh'], d)).exitCode).toBe(0);
    try {
      writeFileSync(join(mnt, '.wh.'), '');
      writeFileSync(join(mnt, 'etc/.wh...'), '');
      const r = await unionfs(['diff', mnt]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.split('\n')).toEqual(['A /.wh.', 'C /etc', 'A /etc/.wh...']);
      const out = join(d, 'dotwh.tar');
      const c = await unionfs(['commit', mnt, out]);
      expect(c.exitCode).toBe(2);
      expect(errorLines(c.stderr)).toEqual([`unionfs: ${join(d, 'up-dotwh')}/.wh.: a file named '.wh.' cannot go in an OCI layer, where '.wh.' names are whiteouts`]);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(d).filter((n) => n.includes('dotwh.tar'))).toEqual([]);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });
  it('a regular file named .wh.X in an overlay union is content: diff says A (it said D X), diff of the unmounted upper too; commit refuses it (its layer would delete X)', async () => {
    const mnt = join(d, 'mnt-whfile');
    expect((await unionfs(['mount', '-l', 'lo3', '-u', 'up-whfile', 'mnt-whfile'], d)).exitCode).toBe(0);
    const expected = ['C /etc', 'A /etc/.wh.hosts', 'C /opt/keep', 'C /var', 'A /var/.wh..wh..opq'];
    try {
      writeFileSync(join(mnt, 'etc/.wh.hosts'), 'a file, in overlay');
      writeFileSync(join(mnt, 'var/.wh..wh..opq'), 'not opaque, in overlay');
      // the lower's own .wh.keep hides nothing either: keep is changed, not added
      writeFileSync(join(mnt, 'opt/keep'), 'changed');
      expect(readdirSync(join(mnt, 'etc')).sort()).toEqual(['.wh.hosts', 'hosts']);
      expect(readdirSync(join(mnt, 'var')).sort()).toEqual(['.wh..wh..opq', 'a']);
      const r = await unionfs(['diff', mnt]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.split('\n')).toEqual(expected);
      expect(JSON.parse((await unionfs(['diff', mnt, '--json'])).stdout).driver).toBe('overlay');
      const out = join(d, 'whfile.tar');
      const c = await unionfs(['commit', mnt, out]);
      expect(c.exitCode).toBe(2);
      expect(errorLines(c.stderr)).toEqual([`unionfs: ${join(d, 'up-whfile')}/etc/.wh.hosts: a file named '.wh.hosts' cannot go in an OCI layer, where '.wh.' names are whiteouts`]);
      expect(readdirSync(d).filter((n) => n.includes('whfile.tar'))).toEqual([]);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
    // unmounted, the upper is read as overlay's (nothing marks it aufs's)
    const up = await unionfs(['diff', join(d, 'up-whfile'), '--lower', join(d, 'lo3')]);
    expect(up.stdout.split('\n')).toEqual(expected);
    // told it was aufs's, .wh. files are whiteouts again
    const aufs = await unionfs(['diff', join(d, 'up-whfile'), '--lower', join(d, 'lo3'), '--driver', 'aufs']);
    expect(aufs.stdout.split('\n')).toEqual(['C /etc', 'D /etc/hosts', 'C /opt', 'A /opt/keep', 'C /var', 'D /var/a']);
  });
  it("commit refuses the deletion of a lower's file named '.wh.X' too: its OCI form '.wh..wh.X' is aufs bookkeeping, which extract skips (the deletion was lost)", async () => {
    const mnt = join(d, 'mnt-whdel');
    expect((await unionfs(['mount', '-l', 'lo3', '-u', 'up-whdel', 'mnt-whdel'], d)).exitCode).toBe(0);
    try {
      rmSync(join(mnt, 'opt/.wh.keep'));
      expect((await unionfs(['diff', mnt])).stdout.split('\n')).toEqual(['C /opt', 'D /opt/.wh.keep']);
      const out = join(d, 'whdel.tar');
      const c = await unionfs(['commit', mnt, out]);
      expect(errorLines(c.stderr)).toEqual([`unionfs: ${join(d, 'up-whdel')}/opt/.wh.keep: the deletion of '.wh.keep' cannot go in an OCI layer, where '.wh.' names are whiteouts`]);
      expect(c.exitCode).toBe(2);
      expect(readdirSync(d).filter((n) => n.includes('whdel.tar'))).toEqual([]);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });
  it('an upper or work dir in use by another mounted union is refused (the kernel only warns in dmesg and mounts it twice)', async () => {
    const m1 = join(d, 'mnt-shared1');
    expect((await unionfs(['mount', '-l', 'lo', '-u', 'up-shared', 'mnt-shared1'], d)).exitCode).toBe(0);
    try {
      const before = readdirSync(d).sort();
      const upper = await unionfs(['mount', '-l', 'lo2', '-u', 'up-shared', 'mnt-shared2'], d);
      expect(upper.exitCode).toBe(1);
      expect(errorLines(upper.stderr)).toEqual([`unionfs: upper ${join(d, 'up-shared')} is in use by the union at ${m1}`]);
      const work = await unionfs(['mount', '-l', 'lo2', '-u', 'up-other', '-w', 'up-shared.work', 'mnt-shared2'], d);
      expect(work.exitCode).toBe(1);
      expect(errorLines(work.stderr)).toEqual([`unionfs: work dir ${join(d, 'up-shared.work')} is in use by the union at ${m1}`]);
      expect(readdirSync(d).sort()).toEqual(before);
      expect(mountsUnder(join(d, 'mnt-shared2'))).toEqual([]);
      // the same union where it is mounted stays idempotent
      const again = await unionfs(['mount', '-l', 'lo', '-u', 'up-shared', 'mnt-shared1'], d);
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toMatch(/^already mounted /);
    } finally {
      expect((await unionfs(['umount', m1])).exitCode).toBe(0);
    }
  });
  it('an upper or work dir in use is refused by what it is, not its spelling: through a bind mount, or as another tool named it through a symlink (mountinfo keeps its path)', async () => {
    files(d, { 'real/': null, 'view/': null, 'real/up-id/': null, 'real/up-id.work/': null, 'real/up-link/': null, 'real/up-link.work/': null });
    symlinkSync(join(d, 'real'), join(d, 'link'));
    mount(join(d, 'real'), join(d, 'view'), null, MS.BIND);
    const m1 = join(d, 'mnt-id1'), m2 = join(d, 'mnt-id2');
    try {
      expect((await unionfs(['mount', '-l', 'lo', '-u', 'real/up-id', 'mnt-id1'], d)).exitCode).toBe(0);
      const upper = await unionfs(['mount', '-l', 'lo2', '-u', 'view/up-id', '-w', 'view/up-other.work', 'mnt-id2'], d);
      expect(errorLines(upper.stderr)).toEqual([`unionfs: upper ${join(d, 'view/up-id')} is in use by the union at ${m1}`]);
      expect(upper.exitCode).toBe(1);
      const work = await unionfs(['mount', '-l', 'lo2', '-u', 'view/up-other', '-w', 'view/up-id.work', 'mnt-id2'], d);
      expect(errorLines(work.stderr)).toEqual([`unionfs: work dir ${join(d, 'view/up-id.work')} is in use by the union at ${m1}`]);
      expect(work.exitCode).toBe(1);
      expect(existsSync(join(d, 'real/up-other'))).toBe(false);
      expect(mountsUnder(m2)).toEqual([]);
      expect((await unionfs(['umount', m1])).exitCode).toBe(0);
      // mount(8) passes the path as given: mountinfo shows the symlink's spelling
      mkdirSync(m1, { recursive: true });
      mount('overlay', m1, 'overlay', 0, `lowerdir=${join(d, 'lo')},upperdir=${join(d, 'link/up-link')},workdir=${join(d, 'link/up-link.work')}`);
      const linked = await unionfs(['mount', '-l', 'lo2', '-u', 'real/up-link', 'mnt-id2'], d);
      expect(errorLines(linked.stderr)).toEqual([`unionfs: upper ${join(d, 'real/up-link')} is in use by the union at ${m1}`]);
      expect(mountsUnder(m2)).toEqual([]);
    } finally {
      for (const m of [m2, m1, join(d, 'view')]) umountIfMounted(m, true);
    }
  });
  it('commit refuses a tarball inside the layer or union it holds whatever the spelling: the upper or the mount point through a bind mount', async () => {
    files(d, { 'real-c/up-c/etc/x': 'x', 'view-c/': null, 'mnt-c-view/': null });
    mount(join(d, 'real-c'), join(d, 'view-c'), null, MS.BIND);
    const mnt = join(d, 'mnt-c');
    try {
      const before = readdirSync(join(d, 'real-c/up-c')).sort();
      const out = join(d, 'real-c/up-c/layer.tar');
      const r = await unionfs(['commit', join(d, 'view-c/up-c'), out]);
      expect(errorLines(r.stderr)).toEqual([`unionfs: ${out}: the tarball would be inside the layer it holds`]);
      expect(r.exitCode).toBe(2);
      expect(readdirSync(join(d, 'real-c/up-c')).sort()).toEqual(before);
      expect((await unionfs(['mount', '-l', 'lo', '-u', 'real-c/up-c', 'mnt-c'], d)).exitCode).toBe(0);
      mount(mnt, join(d, 'mnt-c-view'), null, MS.BIND);
      const viaMount = join(d, 'mnt-c-view/etc/layer.tar');
      const m = await unionfs(['commit', mnt, viaMount]);
      expect(errorLines(m.stderr)).toEqual([`unionfs: ${viaMount}: the tarball would be inside the union it holds (${mnt})`]);
      expect(m.exitCode).toBe(2);
      expect(readdirSync(join(d, 'real-c/up-c')).sort()).toEqual(before);
    } finally {
      for (const m of [join(d, 'mnt-c-view'), mnt, join(d, 'view-c')]) umountIfMounted(m, true);
    }
  });
  it('diff of a mounted union\'s upper finds the union through another spelling of the upper (a bind mount): its changes are against the lowers (C), not all A', async () => {
    files(d, { 'real-d/up-diff/': null, 'view-d/': null });
    mount(join(d, 'real-d'), join(d, 'view-d'), null, MS.BIND);
    const mnt = join(d, 'mnt-diff');
    try {
      expect((await unionfs(['mount', '-l', 'lo', '-u', 'real-d/up-diff', 'mnt-diff'], d)).exitCode).toBe(0);
      writeFileSync(join(mnt, 'etc/hosts'), 'changed');
      const r = await unionfs(['diff', join(d, 'view-d/up-diff')]);
      expect(r.stdout.split('\n')).toEqual(['C /etc/hosts']);
      expect(r.exitCode).toBe(0);
    } finally {
      for (const m of [mnt, join(d, 'view-d')]) umountIfMounted(m, true);
    }
  });
  it('a one-value option given twice counts once, the last (as mount(8) takes -t); -o given twice is joined (as mount(8) joins them)', async () => {
    const mnt = join(d, 'mnt-twice');
    // before: 'The "path" argument must be of type string. Received an instance of Array' (exit 1)
    const r = await unionfs(['mount', '-l', 'lo', '-u', 'up-first', '-u', 'up-last', '-o', 'nodev', '-o', 'noexec', 'mnt-twice'], d);
    expect(r.exitCode, r.stderr).toBe(0);
    try {
      writeFileSync(join(mnt, 'new'), 'n');
      expect(readdirSync(join(d, 'up-last'))).toEqual(['new']);
      expect(existsSync(join(d, 'up-first'))).toBe(false);
      expect(mountOptions(mnt)).toEqual(expect.arrayContaining(['nodev', 'noexec']));
      const diff = await unionfs(['diff', join(d, 'up-last'), '--driver', 'aufs', '--driver', 'overlay', '-l', 'lo'], d);
      expect(diff.stdout.split('\n'), diff.stderr).toEqual(['A /new']);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });
});
