/**
 * Layer tarballs come from anywhere (a registry, a colleague, a CI cache):
 * extract and --lower-tar must never touch anything outside the layer they
 * make, and a file that is no tar at all is named as such.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bk, skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionfs, withTooDeepLower } from './helpers.js';
import { TarWriter, type TarEntry } from '../../packages/unionfs/src/tar.js';
import { applyUnion, planUnion } from '../../packages/unionfs/src/index.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;
const me = { uid: 0, gid: 0, mtime: 1_700_000_000 };

describe.skipIf(skipReason)(title('unionfs extract / --lower-tar: hostile and foreign tarballs'), () => {
  let d = '';
  let content = '';
  const tarOf = (name: string, entries: [TarEntry, string?][]): string => {
    const out = join(d, name);
    const w = new TarWriter(out);
    for (const [e, src] of entries) w.add(e, src);
    w.finish();
    return out;
  };
  beforeAll(() => {
    d = scratch('hostile');
    content = join(d, 'content');
    writeFileSync(content, 'data');
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
  });

  it.each([
    ['.wh.', /whiteout '\.wh\.' names no entry$/],
    ['.wh..', /whiteout '\.wh\.\.' names no entry$/],
    ['.wh...', /entry '\.wh\.\.\.' escapes the layer$/],
    ['sub/.wh...', /entry 'sub\/\.wh\.\.\.' escapes the layer$/],
  ])('a whiteout named %s is refused: it would delete the layer, or the dir beside it', async (name, re) => {
    const parent = join(d, `layers-${name.replace(/\W/g, '_')}`);
    files(parent, { 'other-layer/keep': 'kept' });
    const tar = tarOf(`wh-${name.replace(/\W/g, '_')}.tar`, [
      [{ name: 'sub/', type: 'dir', mode: 0o755, ...me }],
      [{ name: 'sub/file', type: 'file', mode: 0o644, size: 4, ...me }, content],
      [{ name, type: 'file', mode: 0o600, size: 0, ...me }],
    ]);
    const r = await unionfs(['extract', tar, join(parent, 'new')]);
    expect(r.exitCode).toBe(2);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(re)]);
    expect(lstatSync(parent).isDirectory()).toBe(true);
    expect(readdirSync(parent)).toEqual(['other-layer']);
    expect(readFileSync(join(parent, 'other-layer/keep'), 'utf8')).toBe('kept');
    // and the directories made on the way to a new layer go again (they stayed)
    const deep = await unionfs(['extract', tar, join(parent, 'new/deep/layer')]);
    expect(deep.exitCode).toBe(2);
    expect(readdirSync(parent)).toEqual(['other-layer']);
  });

  it('aufs bookkeeping in a layer (.wh..wh.plnk/, .wh..wh.orph/) is skipped, as docker skips it', async () => {
    const tar = tarOf('aufs-meta.tar', [
      [{ name: '.wh..wh.plnk/', type: 'dir', mode: 0o700, ...me }],
      [{ name: '.wh..wh.plnk/262.3416', type: 'file', mode: 0o644, size: 4, ...me }, content],
      [{ name: '.wh..wh.orph/', type: 'dir', mode: 0o700, ...me }],
      [{ name: 'etc/', type: 'dir', mode: 0o755, ...me }],
      [{ name: 'etc/.wh..wh..opq', type: 'file', mode: 0o600, size: 0, ...me }],
      [{ name: 'etc/hosts', type: 'file', mode: 0o644, size: 4, ...me }, content],
    ]);
    const out = join(d, 'layer-aufs-meta');
    const r = await unionfs(['extract', tar, out]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(readdirSync(out)).toEqual(['etc']);
    expect(readdirSync(join(out, 'etc'))).toEqual(['hosts']);
  });

  it('--lower-tar with such a whiteout leaves the layers extracted before in place', async () => {
    const data = join(d, 'data-wh');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_DATA_DIR: data };
    delete env.NODE_EXTRA_CA_CERTS;
    files(d, { 'base/x': 'x', 'good/etc/hosts': 'h' });
    const good = join(d, 'good.tar');
    execFileSync('tar', ['-C', join(d, 'good'), '-cf', good, '.']);
    const m1 = join(d, 'mnt-good');
    expect((await bk('unionfs', ['mount', '--lower-tar', good, '--lower', join(d, 'base'), m1], { env })).exitCode).toBe(0);
    expect((await unionfs(['umount', m1])).exitCode).toBe(0);
    const layers = join(data, 'unionfs', 'layers');
    const before = readdirSync(layers);
    expect(before).toHaveLength(1);
    const evil = tarOf('evil-mount.tar', [[{ name: '.wh...', type: 'file', mode: 0o600, size: 0, ...me }]]);
    const r = await bk('unionfs', ['mount', '--lower-tar', evil, '--lower', join(d, 'base'), join(d, 'mnt-evil')], { env });
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/escapes the layer/);
    expect(lstatSync(layers).isDirectory()).toBe(true);
    expect(readdirSync(layers)).toEqual(before);
    expect(mountsUnder(d)).toEqual([]);
  });

  it('a failed --lower-tar leaves no layers dir it made (a good layer before a corrupt one, a missing one, a refused mount); an existing layers dir stays with its layers', async () => {
    const base = join(d, 'leftover');
    files(base, { 'lo/x': 'x', 'good/etc/hosts': 'h', 'good2/etc/motd': 'm' });
    const good = join(base, 'good.tar'), good2 = join(base, 'good2.tar'), corrupt = join(base, 'corrupt.tar');
    execFileSync('tar', ['-C', join(base, 'good'), '-cf', good, '.']);
    execFileSync('tar', ['-C', join(base, 'good2'), '-cf', good2, '.']);
    writeFileSync(corrupt, 'not a layer\n'.repeat(100));
    const fresh = join(base, 'data-fresh');
    const refused = async (args: string[], data: string, code: number) => {
      const r = await unionfs(['mount', ...args, '-l', 'lo', '-u', 'up', 'mnt'], base, { BOXKIT_DATA_DIR: data });
      expect(r.exitCode).toBe(code);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(readdirSync(base).sort()).toEqual(['corrupt.tar', 'good', 'good.tar', 'good2', 'good2.tar', 'lo', ...(existsSync(data) ? [data.slice(base.length + 1)] : [])].sort());
    };
    // the good layer was extracted (layers dir made), then the corrupt one failed: both go, and the dirs above
    await refused(['--lower-tar', good, '--lower-tar', corrupt], fresh, 2);
    expect(existsSync(fresh)).toBe(false);
    await refused(['--lower-tar', join(base, 'missing.tar')], fresh, 2);
    expect(existsSync(fresh)).toBe(false);
    // the kernel refuses the mount after the layer was extracted
    await withTooDeepLower(d, async (deep) => {
      const r = await unionfs(['mount', '--lower-tar', good, '-l', deep, 'mnt'], base, { BOXKIT_DATA_DIR: fresh });
      expect(r.exitCode).toBe(1);
      expect(existsSync(fresh)).toBe(false);
      expect(existsSync(join(base, 'mnt'))).toBe(false);
    });
    // a layers dir that was there stays, with the layers it had
    const kept = join(base, 'data-kept');
    expect((await unionfs(['extract', good, join(kept, 'unionfs/layers/earlier')])).exitCode).toBe(0);
    await refused(['--lower-tar', good2, '--lower-tar', corrupt], kept, 2);
    expect(readdirSync(join(kept, 'unionfs/layers'))).toEqual(['earlier']);
    expect(mountsUnder(base)).toEqual([]);
  });

  it.each([
    ['a hard link to a file the layer does not hold', [[{ name: 'x', type: 'link', mode: 0o644, linkname: 'missing', size: 0, ...me }]], /hard link 'x' to 'missing', which the layer does not hold before it$/],
    ['a hard link to a directory', [[{ name: 'd/', type: 'dir', mode: 0o755, ...me }], [{ name: 'x', type: 'link', mode: 0o644, linkname: 'd', size: 0, ...me }]], /hard link 'x' to the directory 'd'$/],
    ['an entry below a file', [[{ name: 'a', type: 'file', mode: 0o644, size: 0, ...me }], [{ name: 'a/b', type: 'file', mode: 0o644, size: 0, ...me }]], /entry 'a\/b' is below 'a', which is not a directory$/],
  ] as [string, [TarEntry, string?][], RegExp][])('a tarball with %s is bad input (exit 2, one line; it was exit 1 with the errno, or "needs root"), and nothing is left', async (what, entries, re) => {
    const tar = tarOf(`broken-${what.replace(/\W+/g, '-')}.tar`, entries);
    const out = join(d, `layer-broken-${what.replace(/\W+/g, '-')}`);
    const before = readdirSync(d).sort();
    const r = await unionfs(['extract', tar, out]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(re)]);
    expect(readdirSync(d).sort()).toEqual(before);
  });

  it('--lower-tar: a tarball rewritten between its hash and its extraction is refused, not extracted under the old content\'s address (a later user of that layer would get the new content)', async () => {
    const base = join(d, 'swapped');
    files(base, { 'lo/x': 'x', 'a/etc/who': 'the layer that was hashed', 'b/etc/who': 'another layer' });
    const tar = join(base, 'layer.tar'), other = join(base, 'other.tar');
    execFileSync('tar', ['-C', join(base, 'a'), '-cf', tar, '.']);
    execFileSync('tar', ['-C', join(base, 'b'), '-cf', other, '.']);
    const data = join(base, 'data');
    const saved = process.env.BOXKIT_DATA_DIR;
    process.env.BOXKIT_DATA_DIR = data;
    try {
      const plan = planUnion({ lowerTars: [tar], lowers: [join(base, 'lo')], mountpoint: join(base, 'mnt') });
      // same file, new content (as a writer the tarball's owner lets in would)
      writeFileSync(tar, readFileSync(other));
      await expect(applyUnion(plan)).rejects.toThrow(/changed after it was hashed/);
      expect(existsSync(data)).toBe(false);
      expect(mountsUnder(base)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.BOXKIT_DATA_DIR;
      else process.env.BOXKIT_DATA_DIR = saved;
      detachAll(base);
    }
  });

  it('--lower-tar of a layer over 2 GiB is read (hashing it read the whole file into one Buffer: exit 1, "File size is greater than 2 GiB")', async () => {
    const base = join(d, 'big');
    files(base, { 'src/etc/big-layer': 'from a big layer', 'lo/x': 'x' });
    const tar = join(base, 'big.tar');
    execFileSync('tar', ['-C', join(base, 'src'), '-cf', tar, '.']);
    // zeros after the end blocks, sparse: readers stop at the end, the hash reads it all
    truncateSync(tar, 2300 * 2 ** 20);
    const mnt = join(base, 'mnt');
    const r = await unionfs(['mount', '--lower-tar', tar, '-l', 'lo', 'mnt'], base, { BOXKIT_DATA_DIR: join(base, 'data') });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    try {
      expect(readFileSync(join(mnt, 'etc/big-layer'), 'utf8')).toBe('from a big layer');
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
  });

  it('a directory entry over a symlink of the layer replaces the symlink (as GNU tar does): the symlink target keeps its mode', async () => {
    const victim = join(d, 'victim-1');
    mkdirSync(victim, { mode: 0o755 });
    const tar = tarOf('dir-over-symlink.tar', [
      [{ name: 'evil', type: 'symlink', mode: 0o777, linkname: victim, ...me }],
      [{ name: 'evil/', type: 'dir', mode: 0o777, ...me }],
    ]);
    const out = join(d, 'layer-dir-over-symlink');
    const r = await unionfs(['extract', tar, out]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(statSync(victim).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(out, 'evil')).isDirectory()).toBe(true);
    expect(lstatSync(join(out, 'evil')).mode & 0o7777).toBe(0o777);
  });

  it('a directory later replaced by a symlink: its mode, and its subdirectories\' modes, are not applied through the symlink', async () => {
    const victim = join(d, 'victim-2');
    mkdirSync(join(victim, 'sub'), { recursive: true, mode: 0o755 });
    const tar = tarOf('symlink-over-dir.tar', [
      [{ name: 'evil/', type: 'dir', mode: 0o777, ...me }],
      [{ name: 'evil/sub/', type: 'dir', mode: 0o777, ...me }],
      [{ name: 'evil', type: 'symlink', mode: 0o777, linkname: victim, ...me }],
    ]);
    const out = join(d, 'layer-symlink-over-dir');
    const r = await unionfs(['extract', tar, out]);
    expect(r.exitCode).toBe(0);
    expect(statSync(victim).mode & 0o7777).toBe(0o755);
    expect(statSync(join(victim, 'sub')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(out, 'evil')).isSymbolicLink()).toBe(true);
  });

  it('a compressed layer or a file that is no tar is named as such, not "truncated"', async () => {
    files(d, { 'src/etc/hosts': 'h' });
    const tar = join(d, 'plain.tar');
    execFileSync('tar', ['-C', join(d, 'src'), '-cf', tar, '.']);
    writeFileSync(`${tar}.gz`, gzipSync(readFileSync(tar)));
    writeFileSync(join(d, 'notes.txt'), 'these are notes, not a layer\n'.repeat(40));
    const gz = await unionfs(['extract', `${tar}.gz`, join(d, 'out-gz')]);
    expect(gz.exitCode).toBe(2);
    expect(errorLines(gz.stderr)).toEqual([expect.stringMatching(/plain\.tar\.gz: gzip-compressed, not a tar archive$/)]);
    expect(gz.stderr).toMatch(/hint: .*gunzip/);
    const txt = await unionfs(['extract', join(d, 'notes.txt'), join(d, 'out-txt')]);
    expect(txt.exitCode).toBe(2);
    expect(errorLines(txt.stderr)).toEqual([expect.stringMatching(/notes\.txt: not a tar archive \(bad header checksum at byte 0\)$/)]);
    expect(existsSync(join(d, 'out-gz'))).toBe(false);
    expect(existsSync(join(d, 'out-txt'))).toBe(false);
  });

  it('a tar without its two end blocks is read as GNU tar and Go read it; one cut inside an entry is truncated', async () => {
    const tar = join(d, 'plain.tar');
    let buf = readFileSync(tar);
    while (buf.subarray(buf.length - 512).every((b) => b === 0)) buf = buf.subarray(0, buf.length - 512);
    const noEnd = join(d, 'noend.tar');
    writeFileSync(noEnd, buf);
    execFileSync('tar', ['-tf', noEnd]);
    const r = await unionfs(['extract', noEnd, join(d, 'out-noend')]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(d, 'out-noend/etc/hosts'), 'utf8')).toBe('h');
    const cut = join(d, 'cut.tar');
    writeFileSync(cut, buf.subarray(0, buf.length - 100));
    const c = await unionfs(['extract', cut, join(d, 'out-cut')]);
    expect(c.exitCode).toBe(2);
    expect(errorLines(c.stderr)).toEqual([expect.stringMatching(/cut\.tar: truncated tar archive$/)]);
    expect(existsSync(join(d, 'out-cut'))).toBe(false);
  });
});
