/**
 * A file system that refuses (full, read-only) or a layer that is gone: one
 * line naming the user's path, a hint saying what to do, the exit code of
 * DESIGN.md, and nothing half-written left (no partial tarball or layer).
 * Node's raw text ("no space left on device, write") named neither.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, skipReason } from '../harness/index.js';
import { mount, umount2 } from '../../native/src/index.js';
import { detachAll, files, mountsUnder, scratch, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

/**
 * The bin run as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (it keeps CAP_SYS_ADMIN):
 * file modes then bind it, as they bind a root whose NFS server squashes it.
 */
function withoutDac(args: string[], env: Record<string, string> = {}, caps = '-dac_override,-dac_read_search'): { exitCode: number; stderr: string } {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  const r = spawnSync('setpriv', [`--inh-caps=${caps}`, `--bounding-set=${caps}`, binPath('unionfs'), ...args], { env: e, encoding: 'utf8' });
  return { exitCode: r.status ?? -1, stderr: r.stderr };
}

/** stderr as its lines: the error line first, then the hint. */
const lines = (stderr: string) => stderr.split('\n').filter(Boolean);

describe.skipIf(skipReason)(title('unionfs: a file system that refuses, or a layer that is gone, is one line with the path and a hint'), () => {
  let d = '';
  /** A new tmpfs of 64 KiB at `dir` (unmounted in afterAll): full at the first layer of any size. */
  const small = (dir: string, opts = 'size=64k', flags = 0) => {
    mkdirSync(dir, { recursive: true });
    mount('tmpfs', dir, 'tmpfs', flags, opts);
    return dir;
  };
  beforeAll(() => {
    d = scratch('fs-errors');
    files(d, { 'lo/a': 'a', 'lo2/b': 'b' });
    // 256 KiB of content that does not compress: more than a 64 KiB tmpfs holds
    mkdirSync(join(d, 'big'));
    writeFileSync(join(d, 'big/data'), Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 7919) % 251)));
    execFileSync('tar', ['-C', join(d, 'big'), '-cf', join(d, 'big.tar'), '.']);
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
    rmSync(d, { recursive: true, force: true });
  });

  it('diff and commit of a union whose upper dir was removed: exit 2, naming the union and its upper, no tarball written', async () => {
    const mnt = join(d, 'mnt-gone'), up = join(d, 'up-gone');
    expect((await unionfs(['mount', '--lower', join(d, 'lo'), '--upper', up, mnt])).exitCode).toBe(0);
    try {
      writeFileSync(join(mnt, 'new'), 'x');
      rmSync(up, { recursive: true });
      for (const args of [['diff', mnt], ['commit', mnt, join(d, 'gone.tar')]]) {
        const r = await unionfs(args);
        expect(r.exitCode, args[0]).toBe(2);
        expect(lines(r.stderr)).toEqual([
          `unionfs: ${mnt}: its upper dir ${up} no longer exists (removed or renamed while the union is mounted)`,
          `hint: if it was moved, move it back; if removed, its changes are lost: unmount the union (unionfs umount ${mnt})`,
        ]);
      }
      expect(readdirSync(d).filter((n) => n.includes('gone.tar'))).toEqual([]);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });

  it('diff of a union whose lower dir was removed: exit 2, naming that lower (it reported every file as added)', async () => {
    const mnt = join(d, 'mnt-lower-gone'), lower = join(d, 'lower-gone');
    files(lower, { 'etc/hosts': 'h' });
    expect((await unionfs(['mount', '--lower', lower, '--upper', join(d, 'up-lower-gone'), mnt])).exitCode).toBe(0);
    try {
      rmSync(lower, { recursive: true });
      const r = await unionfs(['diff', mnt]);
      expect(r.exitCode).toBe(2);
      expect(lines(r.stderr)[0]).toBe(`unionfs: ${mnt}: its lower layer ${lower} no longer exists (removed or renamed while the union is mounted)`);
      expect(lines(r.stderr)[1]).toMatch(/^hint: if it was moved, move it back, or name the lowers/);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });

  it.each(['upper', 'lower'] as const)('diff of a union whose %s this root may not reach (no CAP_DAC_*): exit 1, permission denied with a hint of its own, not "no longer exists"', async (which) => {
    const shut = join(d, `shut-${which}`), lower = join(shut, 'lower'), up = which === 'upper' ? join(shut, 'up') : join(d, 'up-shut-lower');
    const mnt = join(d, `mnt-shut-${which}`);
    files(lower, { 'etc/hosts': 'h' });
    expect((await unionfs(['mount', '--lower', lower, '--upper', up, mnt])).exitCode).toBe(0);
    chmodSync(shut, 0);
    try {
      const r = withoutDac(['diff', mnt]);
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual(which === 'upper' ? [
        `unionfs: upper dir ${up}: permission denied`,
        `hint: the union at ${mnt} keeps its upper dir there, below a directory this user may not search: chmod it, or run as root with CAP_DAC_OVERRIDE`,
      ] : [
        `unionfs: lower layer ${lower}: permission denied`,
        `hint: the union at ${mnt} reads that lower below a directory this user may not search: chmod it, run as root with CAP_DAC_OVERRIDE, or name the lowers to compare with: unionfs diff ${up} --lower DIR...`,
      ]);
    } finally {
      chmodSync(shut, 0o755);
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });

  it('commit to a full file system: exit 1, naming OUT, with a hint; no partial tarball left there', async () => {
    const full = small(join(d, 'tmpfs-commit'));
    try {
      const out = join(full, 'layer.tar');
      const r = await unionfs(['commit', join(d, 'big'), out]);
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual([
        `unionfs: commit ${out}: no space left on device`,
        `hint: free space on the file system of ${full}, or give an OUT elsewhere`,
      ]);
      expect(readdirSync(full)).toEqual([]);
    } finally {
      umount2(full);
    }
  });

  it('commit into a read-only file system: exit 1, naming OUT (not its temp file)', async () => {
    const ro = small(join(d, 'tmpfs-ro-commit'), 'size=64k', 1 /* MS_RDONLY */);
    try {
      const r = await unionfs(['commit', join(d, 'lo'), join(ro, 'layer.tar')]);
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual([
        `unionfs: commit ${join(ro, 'layer.tar')}: read-only file system`,
        `hint: give an OUT elsewhere: ${ro} is on a read-only file system`,
      ]);
    } finally {
      umount2(ro);
    }
  });

  it('extract into a full file system: exit 1, naming DIR; neither DIR nor its temp dir nor the parents it made are left', async () => {
    const full = small(join(d, 'tmpfs-extract'));
    try {
      const dir = join(full, 'new/layer');
      const r = await unionfs(['extract', join(d, 'big.tar'), dir]);
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual([
        `unionfs: extract ${dir}: no space left on device`,
        `hint: free space on the file system of ${join(full, 'new')}, or extract it elsewhere`,
      ]);
      expect(readdirSync(full)).toEqual([]);
    } finally {
      umount2(full);
    }
  });

  it('mount --lower-tar with the layer store on a full file system: exit 1, naming the store and BOXKIT_DATA_DIR; nothing left, nothing mounted', async () => {
    const full = small(join(d, 'tmpfs-store'));
    try {
      const data = join(full, 'data'), mnt = join(d, 'mnt-store');
      const r = await unionfs(['mount', '--lower-tar', join(d, 'big.tar'), '--lower', join(d, 'lo'), mnt], d, { BOXKIT_DATA_DIR: data });
      expect(r.exitCode).toBe(1);
      const store = join(data, 'unionfs/layers');
      expect(lines(r.stderr)).toEqual([
        `unionfs: extract into the layer store ${store}: no space left on device`,
        `hint: free space on the file system of ${store}, or point BOXKIT_DATA_DIR at a file system with room for the layer (default /var/lib/boxkit)`,
      ]);
      expect(readdirSync(full)).toEqual([]);
      expect(existsSync(mnt)).toBe(false);
      expect(mountsUnder(mnt)).toEqual([]);
    } finally {
      umount2(full);
    }
  });

  it('a layer or tarball this root may not read (no CAP_DAC_*): exit 1, naming the file, nothing left', async () => {
    files(d, { 'locked/open': 'o', 'locked/shut/secret': 's', 'locked/shut/dir/': null, 'up-over-shut/secret': 'changed' });
    execFileSync('tar', ['-C', join(d, 'lo'), '-cf', join(d, 'locked/shut/in.tar'), '.']);
    chmodSync(join(d, 'locked/shut'), 0);
    const tar = join(d, 'locked.tar');
    execFileSync('tar', ['-C', join(d, 'lo'), '-cf', tar, '.']);
    chmodSync(tar, 0);
    const data = join(d, 'data-locked'), mnt = join(d, 'mnt-locked');
    const cases: [string[], string, string][] = [
      [['diff', join(d, 'locked')], `unionfs: cannot read ${join(d, 'locked/shut')}: permission denied`, 'hint: diff reads every file of the layers, and their xattrs: run it as root'],
      // a lower it cannot read: it reported /secret as added (exit 0)
      [['diff', join(d, 'up-over-shut'), '--lower', join(d, 'locked/shut')], `unionfs: cannot read ${join(d, 'locked/shut/secret')}: permission denied`, 'hint: diff reads every file of the layers, and their xattrs: run it as root'],
      [['commit', join(d, 'locked'), join(d, 'locked-out/layer.tar')], `unionfs: cannot read ${join(d, 'locked/shut')}: permission denied`, 'hint: commit reads every file of the layers, and their xattrs: run it as root'],
      [['extract', tar, join(d, 'locked-out/layer')], `unionfs: cannot read ${tar}: permission denied`, 'hint: give a tarball this user can read (or run as root)'],
      [['mount', '--lower-tar', tar, '--lower', join(d, 'lo2'), mnt], `unionfs: cannot read lower tarball ${tar}: permission denied`, 'hint: give a tarball this user can read (or run as root)'],
      // paths below a directory it may not search: they said 'no such directory' (or file), exit 2
      ...([
        [['diff', join(d, 'locked/shut/dir')], join(d, 'locked/shut/dir')],
        [['diff', join(d, 'lo'), '--lower', join(d, 'locked/shut/dir')], `lower layer ${join(d, 'locked/shut/dir')}`],
        [['mount', '--lower', join(d, 'locked/shut/dir'), '--lower', join(d, 'lo2'), mnt], `lower layer ${join(d, 'locked/shut/dir')}`],
        [['mount', '--lower-tar', join(d, 'locked/shut/in.tar'), '--lower', join(d, 'lo2'), mnt], `lower tarball ${join(d, 'locked/shut/in.tar')}`],
        [['extract', join(d, 'locked/shut/in.tar'), join(d, 'locked-out/layer')], join(d, 'locked/shut/in.tar')],
      ] as [string[], string][]).map(([args, what]): [string[], string, string] => [
        args, `unionfs: ${what}: permission denied`, `hint: this user cannot reach ${what.split(' ').pop()}: give a path it can read (or run as root)`,
      ]),
    ];
    mkdirSync(join(d, 'locked-out'));
    try {
      for (const [args, line, hint] of cases) {
        const r = withoutDac(args, { BOXKIT_DATA_DIR: data });
        expect(r.exitCode, args[0]).toBe(1);
        expect(lines(r.stderr), args[0]).toEqual([line, hint]);
      }
      expect(readdirSync(join(d, 'locked-out'))).toEqual([]);
      expect(existsSync(data)).toBe(false);
      expect(existsSync(mnt)).toBe(false);
    } finally {
      chmodSync(join(d, 'locked/shut'), 0o755);
    }
  });

  it('mkdir -p of an upper on a file system out of inodes: exit 1, naming it, nothing made; umount without CAP_SYS_ADMIN names the capability', async () => {
    const full = small(join(d, 'tmpfs-inodes'), 'size=64k,nr_inodes=3');
    const mnt = join(d, 'mnt-inodes');
    try {
      const r = await unionfs(['mount', '--lower', join(d, 'lo'), '--upper', join(full, 'a/b/up'), mnt]);
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual([
        `unionfs: mkdir -p ${join(full, 'a/b/up')}: no space left on device`,
        'hint: its file system is full (no space or no inodes left): free some, or give an upper, work dir and mount point elsewhere',
      ]);
      expect(readdirSync(full)).toEqual([]);
      expect(existsSync(mnt)).toBe(false);
    } finally {
      umount2(full);
    }
    expect((await unionfs(['mount', '--lower', join(d, 'lo'), '--lower', join(d, 'lo2'), mnt])).exitCode).toBe(0);
    try {
      const r = withoutDac(['umount', mnt], {}, '-sys_admin');
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual([`unionfs: umount ${mnt}: operation not permitted`, 'hint: unmounting needs root (CAP_SYS_ADMIN)']);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });

  it('mount with an upper to make on a read-only file system, or its lock there: exit 1, naming the dir', async () => {
    const ro = small(join(d, 'tmpfs-ro-mount'), 'size=64k', 1 /* MS_RDONLY */);
    try {
      const mnt = join(d, 'mnt-ro');
      let r = await unionfs(['mount', '--lower', join(d, 'lo'), '--upper', join(ro, 'up'), mnt]);
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)[0]).toBe(`unionfs: mkdir -p ${join(ro, 'up')}: read-only file system`);
      expect(lines(r.stderr)[1]).toBe('hint: its file system is read-only: give an upper, work dir and mount point that exist, or that can be made elsewhere');
      expect(existsSync(mnt)).toBe(false);
      // (Node's mkdir -p said ENOENT there: no such file or directory)
      r = await unionfs(['mount', '--lower', join(d, 'lo'), '--lower', join(d, 'lo2'), mnt], d, { BOXKIT_STATE_DIR: join(ro, 'state') });
      expect(r.exitCode).toBe(1);
      expect(lines(r.stderr)).toEqual([
        `unionfs: lock ${join(ro, 'state/unionfs/lock')}: read-only file system`,
        `hint: point BOXKIT_STATE_DIR at a directory this user can write to (default /run/boxkit): ${join(ro, 'state/unionfs')} is on a read-only file system`,
      ]);
      expect(existsSync(mnt)).toBe(false);
    } finally {
      umount2(ro);
    }
  });
});
