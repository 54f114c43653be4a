import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountOf, overlayLayers, parseMountinfo, unionsFrom } from '../src/mountinfo.js';

const TEXT = [
  '22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '66 43 0:39 / /tmp/u/m rw,relatime - overlay overlay rw,lowerdir=/tmp/u/l1:/tmp/u/l2,upperdir=/tmp/u/up,workdir=/tmp/u/w,uuid=on',
  '67 43 0:40 / /tmp/u/with\\040space rw,relatime - overlay overlay ro,lowerdir=/tmp/u/we\\134\\054ird\\134:x:/tmp/u/l1,redirect_dir=on',
  '68 43 0:41 / /tmp/u/new rw shared:5 - overlay overlay rw,lowerdir+=/a,lowerdir+=/b,upperdir=/u,workdir=/w',
  '69 43 0:42 / /tmp/u/m ro - tmpfs tmpfs rw',
].join('\n');

describe('mountinfo', () => {
  it('parses fields and unescapes octal', () => {
    const e = parseMountinfo(TEXT);
    expect(e).toHaveLength(5);
    expect(e[2]!.mountpoint).toBe('/tmp/u/with space');
    expect(e[0]).toMatchObject({ id: 22, parent: 1, fstype: 'ext4', source: '/dev/vda' });
  });

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
    expect(u[0]).toEqual({ mountpoint: '/tmp/u/m', driver: 'overlay', lowers: ['/tmp/u/l1', '/tmp/u/l2'], upper: '/tmp/u/up', work: '/tmp/u/w', readonly: false, id: 66 });
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
