import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMountinfo, readMountinfo, unescapeOctal } from '../src/mountinfo.js';

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
    expect(e[0]).toMatchObject({ id: 22, parent: 1, dev: '253:0', fstype: 'ext4', source: '/dev/vda', options: ['rw', 'relatime'], superOptions: 'rw' });
  });

  it('keeps the super options escaped (a \\054 inside a value is not a separator)', () => {
    expect(parseMountinfo(TEXT)[2]!.superOptions).toBe('ro,lowerdir=/tmp/u/we\\134\\054ird\\134:x:/tmp/u/l1,redirect_dir=on');
  });

  it('finds the end of the optional fields however many there are, and skips a line without one', () => {
    const e = parseMountinfo([
      '30 22 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 master:2 propagate_from:1 - cgroup cgroup rw,cpu,cpuacct',
      '31 22 0:27 / /dev/pts rw - devpts devpts rw,gid=5,mode=620,ptmxmode=666',
      'not a mountinfo line',
      '',
    ].join('\n'));
    expect(e.map((m) => [m.id, m.fstype, m.mountpoint, m.superOptions])).toEqual([
      [30, 'cgroup', '/sys/fs/cgroup/cpu,cpuacct', 'rw,cpu,cpuacct'],
      [31, 'devpts', '/dev/pts', 'rw,gid=5,mode=620,ptmxmode=666'],
    ]);
    expect(e[1]!.dev).toBe('0:27');
  });

  it('a mount point holding " - " (written \\040-\\040) stays one field', () => {
    const [m] = parseMountinfo('40 22 0:50 / /tmp/a\\040-\\040b rw - tmpfs my\\040src rw');
    expect(m).toMatchObject({ mountpoint: '/tmp/a - b', fstype: 'tmpfs', source: 'my src' });
  });

  it('unescapeOctal undoes \\ooo only', () => {
    expect(unescapeOctal('a\\040b\\011c\\012d\\134e')).toBe('a b\tc\nd\\e');
    expect(unescapeOctal('plain')).toBe('plain');
    expect(unescapeOctal('\\x41\\12')).toBe('\\x41\\12');
  });

  it('readMountinfo reads a file, and throws when there is none (a process gone)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'common-mountinfo-'));
    try {
      writeFileSync(join(dir, 'mountinfo'), TEXT);
      expect(readMountinfo(join(dir, 'mountinfo')).map((m) => m.id)).toEqual([22, 66, 67, 68, 69]);
      expect(() => readMountinfo(join(dir, 'none'))).toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("this process's table has its root", () => {
    expect(readMountinfo().some((m) => m.mountpoint === '/')).toBe(true);
  });
});
