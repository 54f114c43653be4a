import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMountinfo } from '@boxkit/common/mountinfo';
import { findUnion, hiddenMounts, hiddenUnionsAt, isMountpoint, mountOf, mountOptionsAt, overlayLayers, unionsFrom } from '../src/mountinfo.js';

const TEXT = [
  '22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '66 43 0:39 / /tmp/u/m rw,relatime - overlay overlay rw,lowerdir=/tmp/u/l1:/tmp/u/l2,upperdir=/tmp/u/up,workdir=/tmp/u/w,uuid=on',
  '67 43 0:40 / /tmp/u/with\\040space rw,relatime - overlay overlay ro,lowerdir=/tmp/u/we\\134\\054ird\\134:x:/tmp/u/l1,redirect_dir=on',
  '68 43 0:41 / /tmp/u/new rw shared:5 - overlay overlay rw,lowerdir+=/a,lowerdir+=/b,upperdir=/u,workdir=/w',
  '69 43 0:42 / /tmp/u/m ro - tmpfs tmpfs rw',
].join('\n');

describe('mountinfo', () => {
  it('mountOf: the top mount at the deepest mount point above a path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unionfs-mountof-'));
    try {
      const file = join(dir, 'mountinfo');
      writeFileSync(file, TEXT);
      expect(mountOf('/tmp/u/m/etc/hosts', file)?.id).toBe(69);
      expect(mountOf('/tmp/u/m', file)?.id).toBe(69);
      expect(mountOf('/tmp/u/mx', file)?.id).toBe(22);
      expect(mountOf('/tmp/u/with space/a', file)?.id).toBe(67);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads overlay layers, escaped separators included', () => {
    const u = unionsFrom(parseMountinfo(TEXT));
    expect(u.map((x) => x.mountpoint)).toEqual(['/tmp/u/m', '/tmp/u/with space', '/tmp/u/new']);
    // (under the tmpfs mounted over it later: hidden)
    expect(u[0]).toEqual({ mountpoint: '/tmp/u/m', driver: 'overlay', lowers: ['/tmp/u/l1', '/tmp/u/l2'], upper: '/tmp/u/up', work: '/tmp/u/w', readonly: false, id: 66, hiddenBy: '/tmp/u/m' });
    expect(u[1]!.lowers).toEqual(['/tmp/u/we,ird:x', '/tmp/u/l1']);
    expect(u[1]!.readonly).toBe(true);
    expect(u[2]!.lowers).toEqual(['/a', '/b']);
  });

  it('a comma inside a layer path (\\054: given raw through fsconfig, as mount(8) of util-linux 2.39+ does) stays in the path', () => {
    const e = parseMountinfo('71 43 0:51 / /tmp/u/c rw - overlay overlay rw,lowerdir=/tmp/u/l\\054a:/tmp/u/l2,upperdir=/tmp/u/u\\054p,workdir=/tmp/u/w\\054k,uuid=on\n');
    expect(unionsFrom(e)[0]).toMatchObject({ lowers: ['/tmp/u/l,a', '/tmp/u/l2'], upper: '/tmp/u/u,p', work: '/tmp/u/w,k' });
  });

  it('splits lowerdir only on unescaped colons', () => {
    expect(overlayLayers('rw,lowerdir=/a\\:b:/c').lowers).toEqual(['/a:b', '/c']);
  });

  it('reads aufs branches from sysfs (si=<id> names /sys/fs/aufs/si_<id>/br<N>)', () => {
    const sysfs = mkdtempSync(join(tmpdir(), 'unionfs-aufs-'));
    try {
      mkdirSync(join(sysfs, 'si_8f2a'));
      writeFileSync(join(sysfs, 'si_8f2a', 'br0'), '/tmp/a/tmp=rw\n');
      writeFileSync(join(sysfs, 'si_8f2a', 'br1'), '/tmp/a/dira=ro\n');
      writeFileSync(join(sysfs, 'si_8f2a', 'br10'), '/tmp/a/dirk=ro\n');
      writeFileSync(join(sysfs, 'si_8f2a', 'br2'), '/tmp/a/dirb=ro+wh\n');
      const e = parseMountinfo('70 43 0:50 / /tmp/a/mnt rw,relatime - aufs none rw,si=8f2a,udba=reval\n');
      expect(unionsFrom(e, sysfs)).toEqual([{ mountpoint: '/tmp/a/mnt', driver: 'aufs', upper: '/tmp/a/tmp', lowers: ['/tmp/a/dira', '/tmp/a/dirb', '/tmp/a/dirk'], readonly: false, id: 70 }]);
    } finally {
      rmSync(sysfs, { recursive: true, force: true });
    }
  });
});

/** overlay at `mp` with upper `up` (lowers /l1:/l2). */
const ovl = (id: number, parent: number, mp: string, up: string) =>
  `${id} ${parent} 0:${id} / ${mp} rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir=${up},workdir=${up}.work`;
const tmpfs = (id: number, parent: number, mp: string, opts = 'rw,relatime') => `${id} ${parent} 0:${id} / ${mp} ${opts} - tmpfs tmpfs rw`;

describe('mountinfo: hidden mounts (the path leads into a later mount)', () => {
  // a union at /d/a/b, a mount inside it, then a tmpfs over /d/a: /d/a/b now leads into the tmpfs
  const OVER_PARENT = parseMountinfo([
    '27 1 253:0 / / rw - ext4 /dev/vda rw',
    ovl(100, 27, '/d/a/b', '/d/up'),
    tmpfs(101, 100, '/d/a/b/in'),
    tmpfs(102, 27, '/d/a', 'rw,nodev'),
  ].join('\n'));

  it('a later mount over a directory above hides a mount and what is mounted on it', () => {
    const hidden = hiddenMounts(OVER_PARENT);
    expect([...hidden.keys()].sort()).toEqual([100, 101]);
    expect(hidden.get(100)!.mountpoint).toBe('/d/a');
    expect(hidden.get(101)!.mountpoint).toBe('/d/a');
    expect(mountOf('/d/a/b/x', OVER_PARENT)?.id).toBe(102);
    expect(mountOf('/d/a/b/in/x', OVER_PARENT)?.id).toBe(102);
    expect(mountOf('/d/a/b', OVER_PARENT)?.id).toBe(102);
    expect(mountOf('/d/other', OVER_PARENT)?.id).toBe(27);
    expect(findUnion('/d/a/b', OVER_PARENT)).toBeUndefined();
    expect(isMountpoint('/d/a/b', OVER_PARENT)).toBe(false);
    expect(isMountpoint('/d/a', OVER_PARENT)).toBe(true);
    expect(mountOptionsAt('/d/a/b', OVER_PARENT)).toEqual([]);
    // still listed (it holds its upper), marked
    expect(unionsFrom(OVER_PARENT)).toEqual([{ mountpoint: '/d/a/b', driver: 'overlay', lowers: ['/l1', '/l2'], upper: '/d/up', work: '/d/up.work', readonly: false, id: 100, hiddenBy: '/d/a' }]);
    expect(hiddenUnionsAt('/d/a/b', OVER_PARENT).map((u) => u.id)).toEqual([100]);
  });

  it('a mount made inside the later mount is not hidden (its parent is that mount)', () => {
    const e = parseMountinfo([...OVER_PARENT.map((m) => `${m.id} ${m.parent} 0:1 / ${m.mountpoint} ${m.options.join(',')} - ${m.fstype} ${m.source} ${m.superOptions}`), ovl(103, 102, '/d/a/b', '/d/up2')].join('\n'));
    expect(hiddenMounts(e).has(103)).toBe(false);
    expect(findUnion('/d/a/b', e)?.id).toBe(103);
    expect(mountOf('/d/a/b/x', e)?.id).toBe(103);
    expect(isMountpoint('/d/a/b', e)).toBe(true);
  });

  it('a later mount at the same path covers the whole mount below it (its parent)', () => {
    const e = parseMountinfo([
      '27 1 253:0 / / rw - ext4 /dev/vda rw',
      ovl(100, 27, '/s', '/up'),
      tmpfs(101, 100, '/s/in'),
      tmpfs(102, 100, '/s', 'ro,nosuid'),
    ].join('\n'));
    expect([...hiddenMounts(e).keys()].sort()).toEqual([100, 101]);
    expect(findUnion('/s', e)).toBeUndefined();
    expect(mountOptionsAt('/s', e)).toEqual(['ro', 'nosuid']);
    expect(mountOf('/s/in/x', e)?.id).toBe(102);
    expect(hiddenUnionsAt('/s', e)[0]?.hiddenBy).toBe('/s');
  });

  it('by parent ids, not by table order: a mount moved in (mount --move) keeps its earlier place', () => {
    // tmpfs 90 made first elsewhere, then the union at /m/a/b, then 92 moved to /m/a, then 90 moved to /m/a/b
    const e = parseMountinfo([
      '27 1 253:0 / / rw - ext4 /dev/vda rw',
      tmpfs(90, 92, '/m/a/b'),
      ovl(91, 27, '/m/a/b', '/m/up'),
      tmpfs(92, 27, '/m/a'),
    ].join('\n'));
    expect([...hiddenMounts(e).keys()]).toEqual([91]);
    // the last entry at /m/a/b is the hidden union; the path leads to the tmpfs
    expect(findUnion('/m/a/b', e)).toBeUndefined();
    expect(isMountpoint('/m/a/b', e)).toBe(true);
    expect(mountOf('/m/a/b/x', e)?.id).toBe(90);
  });

  it('two mounts of one parent on one directory: the later is on top (findmnt)', () => {
    const e = parseMountinfo(['27 1 253:0 / / rw - ext4 /dev/vda rw', ovl(100, 27, '/t', '/u1'), ovl(101, 27, '/t', '/u2')].join('\n'));
    expect(findUnion('/t', e)?.id).toBe(101);
    expect(hiddenUnionsAt('/t', e).map((u) => u.id)).toEqual([100]);
  });

  it('a root listed as its own parent, or a parent not listed, ends the walk', () => {
    const e = parseMountinfo(['27 27 253:0 / / rw - ext4 /dev/vda rw', tmpfs(30, 27, '/x'), tmpfs(31, 999, '/y')].join('\n'));
    expect(hiddenMounts(e).size).toBe(0);
    expect(mountOf('/x/1', e)?.id).toBe(30);
    expect(mountOf('/z', e)?.id).toBe(27);
    // a root of its own with the real root mounted over it (rootfs, where the process root shows it)
    const r = parseMountinfo(['1 1 0:1 / / rw - rootfs rootfs rw', '22 1 253:0 / / rw - ext4 /dev/vda rw', tmpfs(30, 22, '/x')].join('\n'));
    expect([...hiddenMounts(r)].map(([id, by]) => [id, by.id])).toEqual([[1, 22]]);
    expect(mountOf('/x/1', r)?.id).toBe(30);
    expect(mountOf('/z', r)?.id).toBe(22);
  });
});
