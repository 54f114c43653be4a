import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

/** Every path below a dir: what "nothing created" is checked against. */
function everything(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [r, ...everything(dir, r)] : [r];
  });
}

describe.skipIf(skipReason)(title('unionfs mount: bad input is exit 2, one line, nothing mounted or created'), () => {
  let d = '', data = '';
  const many: string[] = [];
  beforeAll(() => {
    d = scratch('bad');
    // a data dir of this file's own: nothing may be made there either (layers of a --lower-tar)
    data = join(scratch('bad-data'), 'data');
    files(d, { 'image/x': 'x', 'image2/y': 'y', 'mnt/': null, 'afile': 'not a dir' });
    symlinkSync('nowhere', join(d, 'dangling'));
    execFileSync('tar', ['-C', join(d, 'image'), '-cf', join(d, 'layer.tar'), '.']);
    copyFileSync(join(d, 'layer.tar'), join(d, 'copy.tar'));
    for (let i = 0; i < 40; i++) {
      const p = `layers/layer-number-${String(i).padStart(3, '0')}-${'z'.repeat(80)}`;
      mkdirSync(join(d, p), { recursive: true });
      many.push('-l', p);
    }
  });
  afterAll(() => detachAll(d));

  const cases: [string, () => string[], RegExp][] = [
    ['a missing lower dir', () => ['mount', '-l', 'nope', '-u', 'up', 'mnt'], /^unionfs: lower layer .*\/nope: no such directory$/],
    ['an upper equal to a lower', () => ['mount', '-l', 'image', '-u', 'image', 'mnt'], /^unionfs: upper .*\/image is the same as lower layer .*\/image$/],
    ['an upper inside a lower', () => ['mount', '-l', 'image', '-u', 'image/up', 'mnt'], /^unionfs: upper .*\/image\/up is inside lower layer .*\/image$/],
    ['a mount point that is a file', () => ['mount', '-l', 'image', '-u', 'up', 'afile'], /^unionfs: mount point .*\/afile: not a directory$/],
    ['too many layers for one mount option', () => ['mount', ...many, '-u', 'up', 'mnt'], /^unionfs: too many layers for one mount option: \d+ bytes > 4095 \(40 lower layers\)$/],
    ['an unknown driver', () => ['mount', '-l', 'image', '-u', 'up', '--driver', 'devicemapper', 'mnt'], /^unionfs: unknown driver 'devicemapper'$/],
    ['a mount point below a file', () => ['mount', '-l', 'image', '-u', 'up', 'afile/mnt'], /^unionfs: mount point .*\/afile\/mnt: .*\/afile is not a directory$/],
    ['an upper below a file', () => ['mount', '-l', 'image', '-u', 'afile/up', 'mnt'], /^unionfs: upper .*\/afile\/up: .*\/afile is not a directory$/],
    ['a work dir below a file', () => ['mount', '-l', 'image', '-u', 'up', '-w', 'afile/w', 'mnt'], /^unionfs: work dir .*\/afile\/w: .*\/afile is not a directory$/],
    ['a mount point that is a dangling symlink', () => ['mount', '-l', 'image', '-l', 'image2', 'dangling'], /^unionfs: mount point .*\/dangling: .*\/dangling is a symlink to nowhere, which does not exist$/],
    ['an upper below a dangling symlink', () => ['mount', '-l', 'image', '-u', 'dangling/up', 'mnt'], /^unionfs: upper .*\/dangling\/up: .*\/dangling is a symlink to nowhere, which does not exist$/],
    ['the same layer tarball twice', () => ['mount', '--lower-tar', 'layer.tar', '--lower-tar', 'layer.tar', '-l', 'image', 'mnt'], /^unionfs: lower tarball .*\/layer\.tar is given twice$/],
    ['two tarballs of one layer', () => ['mount', '--lower-tar', 'layer.tar', '--lower-tar', 'copy.tar', '-l', 'image', 'mnt'], /^unionfs: lower tarball .*\/copy\.tar holds the same layer as .*\/layer\.tar$/],
    ['aufs branches in an order overlay cannot do', () => ['mount', '-o', 'br=./image=ro:./up=rw', 'mnt'], /^unionfs: the rw branch .* is not the first$/],
    // (it said yargs' 'Not enough non-option arguments: got 0, need at least 1')
    ['a mount point missing from the command', () => ['mount', '-l', 'image'], /^unionfs: no mount point given$/],
    // overlay's own -o form: the same checks as --lower/--upper/--work
    ['a missing lower dir in -o lowerdir=', () => ['mount', '-o', 'lowerdir=./image:./nope,upperdir=./up,workdir=./up.work', 'overlay', 'mnt'], /^unionfs: lower layer .*\/nope: no such directory$/],
    ['an upper inside a lower in -o', () => ['mount', '-o', 'lowerdir=./image,upperdir=./image/up', 'mnt'], /^unionfs: upper .*\/image\/up is inside lower layer .*\/image$/],
    ['-o lowerdir= with --lower', () => ['mount', '-o', 'lowerdir=./image', '-l', 'image2', 'mnt'], /^unionfs: give the layers either in -o \(lowerdir=, upperdir=, workdir=\) or as --lower\/--upper\/--work, not both$/],
    ["an overlay option unionfs does not make", () => ['mount', '-t', 'overlay', '-o', 'lowerdir=./image:./image2,metacopy=on', 'overlay', 'mnt'], /^unionfs: unsupported mount option 'metacopy=on'$/],
    // an empty value ('') named as such: an empty --upper was dropped (a read-only union of the lowers was mounted), an
    // empty --work too (UPPER.work was made), and the others resolved as the current directory or were named '-'
    ['an empty --upper', () => ['mount', '-l', 'image', '-l', 'image2', '--upper', '', 'mnt'], /^unionfs: --upper is empty$/],
    ['an empty --upper=', () => ['mount', '-l', 'image', '-l', 'image2', '--upper=', 'mnt'], /^unionfs: --upper is empty$/],
    ['an empty --work', () => ['mount', '-l', 'image', '-u', 'up', '-w', '', 'mnt'], /^unionfs: --work is empty$/],
    ['an empty --lower', () => ['mount', '-l', 'image', '-l', '', '-u', 'up', 'mnt'], /^unionfs: --lower is empty$/],
    // a `-` typed for one option names that option only (an empty --upper beside --work - was named --upper '-')
    ['an empty --upper beside a --work -', () => ['mount', '-l', 'image', '--upper', '', '--work', '-', 'mnt'], /^unionfs: --upper is empty$/],
    ['--upper -', () => ['mount', '-l', 'image', '--upper', '-', 'mnt'], /^unionfs: --upper '-': a directory is needed \(not stdin or stdout, as tar's -f - takes it\)$/],
    ['-u - beside an empty --work', () => ['mount', '-l', 'image', '--work', '', '-u', '-', 'mnt'], /^unionfs: --upper '-': a directory is needed/],
    ['an empty --lower-tar', () => ['mount', '--lower-tar', '', '-l', 'image', '-u', 'up', 'mnt'], /^unionfs: --lower-tar is empty$/],
    ['an empty mount point', () => ['mount', '-l', 'image', '-u', 'up', ''], /^unionfs: MOUNTPOINT is empty$/],
    // a branch without its directory was taken for a directory named '=rw' (made, and mounted as the upper)
    ['a --branch without a directory', () => ['mount', '--branch', '=rw', '--branch', 'image=ro', 'mnt'], /^unionfs: invalid branch '=rw': no directory$/],
    ['a br= branch without a directory', () => ['mount', '-o', 'br=./up=rw:=ro:./image=ro', 'none', 'mnt'], /^unionfs: invalid branch '=ro': no directory$/],
    ['an empty -o upperdir=', () => ['mount', '-o', 'lowerdir=./image:./image2,upperdir=', 'overlay', 'mnt'], /^unionfs: -o upperdir= is empty$/],
    ['an empty -o workdir=', () => ['mount', '-o', 'lowerdir=./image,upperdir=./up,workdir=', 'overlay', 'mnt'], /^unionfs: -o workdir= is empty$/],
  ];

  it.each(cases)('%s', async (_, args, re) => {
    const before = everything(d);
    const r = await unionfs(args(), d, { BOXKIT_DATA_DIR: data });
    expect(r.exitCode).toBe(2);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(re);
    expect(r.stdout).toBe('');
    expect(mountsUnder(d)).toEqual([]);
    expect(everything(d)).toEqual(before);
    expect(existsSync(data)).toBe(false);
  });
});

describe.skipIf(skipReason)(title('unionfs commit and extract: an output they cannot make is exit 2, one line, nothing created'), () => {
  let d = '';
  beforeAll(() => {
    d = scratch('bad-out');
    files(d, { 'up/etc/hosts': 'h', 'afile': 'not a dir' });
    symlinkSync('nowhere', join(d, 'dangling'));
    execFileSync('tar', ['-C', join(d, 'up'), '-cf', join(d, 'layer.tar'), '.']);
  });

  const cases: [string, string[], RegExp][] = [
    ['commit into a missing directory', ['commit', 'up', 'nodir/out.tar'], /^unionfs: .*\/nodir\/out\.tar: no such directory .*\/nodir$/],
    ['commit below a file', ['commit', 'up', 'afile/out.tar'], /^unionfs: .*\/afile\/out\.tar: .*\/afile is not a directory$/],
    ['extract below a file', ['extract', 'layer.tar', 'afile/layer'], /^unionfs: .*\/afile\/layer: .*\/afile is not a directory$/],
    ['extract onto a dangling symlink', ['extract', 'layer.tar', 'dangling'], /^unionfs: .*\/dangling: already exists$/],
    ['extract below a dangling symlink', ['extract', 'layer.tar', 'dangling/layer'], /^unionfs: .*\/dangling\/layer: .*\/dangling is a symlink to nowhere, which does not exist$/],
    // tar's -f - habit: it was taken for the current directory ('<cwd>: is a directory', '<cwd>: no such file')
    ['commit to - (stdout)', ['commit', 'up', '-'], /^unionfs: OUTPUT '-': a file is needed \(not stdin or stdout, as tar's -f - takes it\)$/],
    ['extract from - (stdin)', ['extract', '-', 'new-layer'], /^unionfs: TARBALL '-': a file is needed \(not stdin or stdout, as tar's -f - takes it\)$/],
    ['extract into -', ['extract', 'layer.tar', '-'], /^unionfs: DIR '-': a new directory is needed \(not stdin or stdout, as tar's -f - takes it\)$/],
    // '' typed: named empty, not '-' (yargs hands a lone - over as ''), and never the current directory (diff '' listed it
    // as an upper, umount '' unmounted it or said nothing)
    ['commit to an empty OUTPUT', ['commit', 'up', ''], /^unionfs: OUTPUT is empty$/],
    ['commit of an empty target', ['commit', '', 'out.tar'], /^unionfs: MOUNTPOINT\|UPPER is empty$/],
    ['extract from an empty TARBALL', ['extract', '', 'new-layer'], /^unionfs: TARBALL is empty$/],
    ['extract into an empty DIR', ['extract', 'layer.tar', ''], /^unionfs: DIR is empty$/],
    ['diff of an empty target', ['diff', ''], /^unionfs: MOUNTPOINT\|UPPER is empty$/],
    ['diff with an empty --lower', ['diff', 'up', '--lower', ''], /^unionfs: --lower is empty$/],
    ['umount of an empty mount point', ['umount', ''], /^unionfs: MOUNTPOINT is empty$/],
    ['show of an empty mount point', ['show', ''], /^unionfs: MOUNTPOINT is empty$/],
  ];

  it.each(cases)('%s', async (_, args, re) => {
    const before = everything(d);
    const r = await unionfs(args, d);
    expect(r.exitCode).toBe(2);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(re)]);
    expect(r.stdout).toBe('');
    expect(everything(d)).toEqual(before);
  });
});
