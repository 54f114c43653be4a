import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readdirSync, writeFileSync, appendFileSync, rmSync, mkdirSync } from 'node:fs';
import { flock, LOCK, mknod, mount, MS, S_IF, umount2 } from '../../native/src/index.js';
import { join } from 'node:path';
import { execa } from 'execa';
import { binPath, skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, tree, unionAt, unionfs, withTooDeepLower } from './helpers.js';
import { mountUnion, planUnion, renderMount, umountUnion } from '../../packages/unionfs/src/index.js';
import { mountOf } from '../../packages/unionfs/src/mountinfo.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;
let root = '';

describe.skipIf(skipReason)(title('unionfs mount/umount (real overlay mounts)'), () => {
  beforeAll(() => {
    root = scratch('mount');
  });
  afterAll(() => {
    const left = mountsUnder(root);
    detachAll(root);
    expect(left, 'every test unmounts what it mounted').toEqual([]);
  });

  it('shows lower files, copies up on write, puts new files in the upper, whites out deletes; topmost of three lowers wins', async () => {
    const d = join(root, 'basic');
    files(d, {
      'l1/shared': 'from l1', 'l2/shared': 'from l2', 'l3/shared': 'from l3',
      'l3/base': 'base', 'l2/mid': 'mid', 'l2/dir/inner': 'inner', 'mnt/': null,
    });
    const r = await unionfs(['mount', '--lower', 'l1', '--lower', 'l2', '--lower', 'l3', '--upper', 'up', 'mnt'], d);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const mnt = join(d, 'mnt');
    expect(unionAt(mnt)).toMatchObject({ driver: 'overlay', upper: join(d, 'up'), lowers: ['l1', 'l2', 'l3'].map((l) => join(d, l)) });

    // visible, topmost wins
    expect(readFileSync(join(mnt, 'shared'), 'utf8')).toBe('from l1');
    expect(readFileSync(join(mnt, 'base'), 'utf8')).toBe('base');
    expect(readFileSync(join(mnt, 'dir/inner'), 'utf8')).toBe('inner');
    // the work dir was made beside the upper
    expect(lstatSync(join(d, 'up.work')).isDirectory()).toBe(true);

    // write: copy-up, lower untouched
    appendFileSync(join(mnt, 'base'), '+more');
    expect(readFileSync(join(mnt, 'base'), 'utf8')).toBe('base+more');
    expect(readFileSync(join(d, 'up/base'), 'utf8')).toBe('base+more');
    expect(readFileSync(join(d, 'l3/base'), 'utf8')).toBe('base');

    // new file lands in the upper only
    writeFileSync(join(mnt, 'new'), 'new');
    expect(readFileSync(join(d, 'up/new'), 'utf8')).toBe('new');
    for (const l of ['l1', 'l2', 'l3']) expect(existsSync(join(d, l, 'new'))).toBe(false);

    // delete: a 0/0 character device in the upper, hidden in the union, the lower keeps it
    rmSync(join(mnt, 'mid'));
    expect(existsSync(join(mnt, 'mid'))).toBe(false);
    expect(readdirSync(mnt)).not.toContain('mid');
    const wh = lstatSync(join(d, 'up/mid'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(readFileSync(join(d, 'l2/mid'), 'utf8')).toBe('mid');

    // mounting the same union again is idempotent
    const again = await unionfs(['mount', '--lower', 'l1', '--lower', 'l2', '--lower', 'l3', '--upper', 'up', 'mnt', '--json'], d);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ mountpoint: mnt, mounted: false });
    expect(mountsUnder(mnt)).toHaveLength(1);

    const u = await unionfs(['umount', mnt]);
    expect(u.exitCode).toBe(0);
    expect(u.stdout).toBe(`unmounted ${mnt}`);
    expect(mountsUnder(mnt)).toEqual([]);
  });

  it('the aufs syntax mounts the same union (overlay here), saying so once', async () => {
    const d = join(root, 'aufs');
    files(d, { 'image/etc/hostname': 'image', 'image/bin/sh': 'sh', 'tmp/': null, 'mnt/': null });
    const r = await unionfs(['mount', '-o', 'br=./tmp=rw:./image=ro,udba=reval', 'none', './mnt'], d);
    expect(r.exitCode).toBe(0);
    const notes = r.stderr.split('\n').filter(Boolean);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^unionfs: aufs is not in this kernel: mounting the branches with overlay .*udba=reval/);
    const mnt = join(d, 'mnt');
    const viaAufs = unionAt(mnt);
    expect(viaAufs).toMatchObject({ driver: 'overlay', upper: join(d, 'tmp'), lowers: [join(d, 'image')] });
    writeFileSync(join(mnt, 'etc/hostname'), 'container');
    expect(readFileSync(join(d, 'tmp/etc/hostname'), 'utf8')).toBe('container');
    expect(readFileSync(join(d, 'image/etc/hostname'), 'utf8')).toBe('image');
    expect((await unionfs(['umount', mnt])).exitCode).toBe(0);

    // --branch, repeated, is the same union
    const b = await unionfs(['mount', '--branch', './tmp=rw', '--branch', './image=ro', './mnt'], d);
    expect(b.exitCode).toBe(0);
    expect(unionAt(mnt)).toEqual({ ...viaAufs, id: unionAt(mnt)!.id });
    expect(readFileSync(join(mnt, 'etc/hostname'), 'utf8')).toBe('container');
    expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
  });

  it('ls and show read the layers back from mountinfo', async () => {
    const d = join(root, 'ls');
    files(d, { 'a/x': 'x', 'b/y': 'y', 'mnt/': null });
    expect((await unionfs(['mount', '-l', 'a', '-l', 'b', 'mnt'], d)).exitCode).toBe(0);
    const mnt = join(d, 'mnt');
    const ls = JSON.parse((await unionfs(['ls', '--json'])).stdout) as { unions: { mountpoint: string }[] };
    expect(ls.unions.find((u) => u.mountpoint === mnt)).toEqual({ mountpoint: mnt, driver: 'overlay', lowers: [join(d, 'a'), join(d, 'b')], readonly: true, id: expect.any(Number) });
    const show = await unionfs(['show', mnt]);
    expect(show.stdout).toContain(`lower:      ${join(d, 'a')}\n            ${join(d, 'b')}`);
    expect(show.stdout).toContain('upper:      -');
    // read-only without an upper
    expect(() => writeFileSync(join(mnt, 'z'), 'z')).toThrow(/EROFS/);
    expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    const gone = await unionfs(['show', mnt]);
    expect(gone.exitCode).toBe(2);
    expect(errorLines(gone.stderr)).toEqual([`unionfs: ${mnt}: not a union mount`]);
    // a path that is not there is not "not a union mount": say it is missing
    const missing = await unionfs(['show', './nosuch'], d);
    expect(missing.exitCode).toBe(2);
    expect(errorLines(missing.stderr)).toEqual([`unionfs: ${join(d, 'nosuch')}: no such file or directory`]);
  });

  it('-o nodev is a real mount flag: device nodes of the layers cannot be opened', async () => {
    const d = join(root, 'nodev');
    files(d, { 'a/x': 'x', 'b/y': 'y' });
    mknod(join(d, 'a/null'), S_IF.CHR | 0o666, 1, 3);
    for (const [args, opens] of [[['-o', 'nodev'], false], [[], true]] as const) {
      const r = await unionfs(['mount', '-l', 'a', '-l', 'b', ...args, 'mnt'], d);
      expect(r.exitCode).toBe(0);
      try {
        if (opens) expect(() => closeSync(openSync(join(d, 'mnt/null'), 'r'))).not.toThrow();
        else expect(() => openSync(join(d, 'mnt/null'), 'r')).toThrow(/EACCES/);
        expect(readFileSync('/proc/self/mountinfo', 'utf8')).toMatch(new RegExp(` ${join(d, 'mnt')} \\S*${opens ? '' : 'nodev'}`));
      } finally {
        expect((await unionfs(['umount', join(d, 'mnt')])).exitCode).toBe(0);
      }
    }
  });

  it('--volatile: the kernel mounts the upper volatile; that upper is then refused, with the reason, until the mark is removed', async () => {
    const d = join(root, 'volatile');
    files(d, { 'lo/a': 'a', 'mnt/': null });
    const mnt = join(d, 'mnt');
    const mountLine = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt);
    const superOptions = () => mountLine()?.split(' - ')[1]?.split(' ')[2]?.split(',') ?? [];
    // shown as `volatile`, or `fsync=volatile` by newer kernels
    const isVolatile = () => superOptions().some((o) => o === 'volatile' || o === 'fsync=volatile');

    const r = await unionfs(['mount', '-l', 'lo', '-u', 'up', '--volatile', 'mnt'], d);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(isVolatile()).toBe(true);
    writeFileSync(join(mnt, 'new'), 'kept until deleted');
    expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    expect(readFileSync(join(d, 'up/new'), 'utf8')).toBe('kept until deleted');

    const mark = join(d, 'up.work/work/incompat/volatile');
    expect(existsSync(mark)).toBe(true);
    const again = await unionfs(['mount', '-l', 'lo', '-u', 'up', 'mnt'], d);
    expect(again.exitCode).toBe(1);
    expect(errorLines(again.stderr)).toEqual([`unionfs: upper ${join(d, 'up')} was mounted with --volatile before: overlay refuses it until ${mark} is removed`]);
    expect(mountLine()).toBeUndefined();

    rmSync(join(d, 'up.work/work/incompat'), { recursive: true });
    const plain = await unionfs(['mount', '-l', 'lo', '-u', 'up', 'mnt'], d);
    expect(plain.exitCode).toBe(0);
    expect(superOptions()).toContain(`upperdir=${join(d, 'up')}`);
    expect(isVolatile()).toBe(false);
    expect(readFileSync(join(mnt, 'new'), 'utf8')).toBe('kept until deleted');
    expect((await unionfs(['umount', mnt])).exitCode).toBe(0);

    const noUpper = await unionfs(['mount', '-l', 'lo', '-l', 'mnt', '--volatile', join(d, 'm2')], d);
    expect(noUpper.exitCode).toBe(2);
    expect(errorLines(noUpper.stderr)).toEqual(['unionfs: --volatile needs an --upper']);
    expect(existsSync(join(d, 'm2'))).toBe(false);
  });

  it('a mount plans and applies under the unionfs lock: it waits while another holds it, then finds its union', async () => {
    const d = join(root, 'race');
    files(d, { 'a/x': 'x', 'b/y': 'y' });
    const lockPath = join(process.env.BOXKIT_STATE_DIR!, 'unionfs', 'lock');
    mkdirSync(join(lockPath, '..'), { recursive: true });
    const fd = openSync(lockPath, 'a');
    flock(fd, LOCK.EX);
    let waiting: Promise<{ exitCode: number; stdout: string }> | undefined;
    try {
      waiting = unionfs(['mount', '-l', 'a', '-l', 'b', '-u', 'up', 'mnt', '--json'], d);
      await new Promise((r) => setTimeout(r, 2500));
      // still blocked on the lock: nothing planned, made or mounted yet
      expect(existsSync(join(d, 'up'))).toBe(false);
      expect(mountsUnder(d)).toEqual([]);
    } finally {
      closeSync(fd);
    }
    const first = await waiting!;
    expect(first.exitCode).toBe(0);
    expect(JSON.parse(first.stdout).mounted).toBe(true);
    const rs = await Promise.all([1, 2, 3].map(() => unionfs(['mount', '-l', 'a', '-l', 'b', '-u', 'up', 'mnt', '--json'], d)));
    expect(rs.map((r) => [r.exitCode, JSON.parse(r.stdout).mounted])).toEqual([[0, false], [0, false], [0, false]]);
    expect(mountsUnder(join(d, 'mnt'))).toEqual([join(d, 'mnt')]);
    expect((await unionfs(['umount', join(d, 'mnt')])).exitCode).toBe(0);
    expect(mountsUnder(d)).toEqual([]);
  });

  it('--dry-run prints the mount(8) line and changes nothing', async () => {
    const d = join(root, 'dry');
    files(d, { 'a/x': 'x', 'b/y': 'y' });
    const r = await unionfs(['mount', '--lower', 'a', '--lower', 'b', '--upper', 'up', 'mnt', '--dry-run'], d);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `mkdir -p ${d}/up`, `mkdir -p ${d}/up.work`, `mkdir -p ${d}/mnt`,
      `mount -t overlay overlay -o lowerdir=${d}/a:${d}/b,upperdir=${d}/up,workdir=${d}/up.work ${d}/mnt`,
    ]);
    expect(readdirSync(d).sort()).toEqual(['a', 'b']);
    expect(mountsUnder(d)).toEqual([]);
  });

  it("a --dry-run mount(8) line pasted after 'unionfs' mounts that union (overlay's -o lowerdir=...,upperdir=...,workdir=...; escapes kept)", async () => {
    const d = join(root, 'paste');
    // a ',' and a ':' in a layer's name: overlay's escapes must come back as the same path
    files(d, { 'a,1:x/x': 'from a', 'a,1:x/s': 'shared-a', 'b/y': 'from b', 'b/s': 'shared-b' });
    const dry = await unionfs(['mount', '--lower', 'a,1:x', '--lower', 'b', '--upper', 'up', 'mnt', '--dry-run'], d);
    expect(dry.exitCode).toBe(0);
    const line = dry.stdout.split('\n').at(-1)!;
    expect(line).toMatch(/^mount -t overlay overlay -o .*lowerdir=/);
    // pasted as a user would: through a shell, its quoting included
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = await execa('bash', ['-c', `${binPath('unionfs')} ${line}`], { cwd: '/', env, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const mnt = join(d, 'mnt');
    try {
      expect(unionAt(mnt)).toMatchObject({ driver: 'overlay', lowers: [join(d, 'a,1:x'), join(d, 'b')], upper: join(d, 'up'), work: join(d, 'up.work'), readonly: false });
      expect(readdirSync(mnt).sort()).toEqual(['s', 'x', 'y']);
      expect(readFileSync(join(mnt, 's'), 'utf8')).toBe('shared-a');
      writeFileSync(join(mnt, 'new'), 'new');
      expect(readFileSync(join(d, 'up/new'), 'utf8')).toBe('new');
      // the same line again: already mounted, nothing changes
      const again = await execa('bash', ['-c', `${binPath('unionfs')} ${line} --json`], { cwd: '/', env, reject: false });
      expect(again.exitCode).toBe(0);
      expect(JSON.parse(String(again.stdout))).toMatchObject({ mountpoint: mnt, mounted: false });
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }

    // the review's command: relative paths, no -t, the dummy source 'overlay'; the work dir made as the flag form makes it
    files(d, { 'dira/a': 'a', 'dirb/b': 'b' });
    const rel = await unionfs(['mount', '-o', 'lowerdir=./dira:./dirb,upperdir=./tmp,workdir=./tmp.work', 'overlay', './mnt2'], d);
    expect(rel.stderr).toBe('');
    expect(rel.exitCode).toBe(0);
    try {
      expect(unionAt(join(d, 'mnt2'))).toMatchObject({ driver: 'overlay', lowers: [join(d, 'dira'), join(d, 'dirb')], upper: join(d, 'tmp'), work: join(d, 'tmp.work') });
      expect(readdirSync(join(d, 'mnt2')).sort()).toEqual(['a', 'b']);
    } finally {
      expect((await unionfs(['umount', join(d, 'mnt2')])).exitCode).toBe(0);
    }
  });

  it('library: planUnion/renderMount/mountUnion/umountUnion in-process', async () => {
    const d = join(root, 'lib');
    files(d, { 'a/x': 'ax', 'b/x': 'bx', 'b/y': 'by' });
    const opts = { lowers: [join(d, 'a'), join(d, 'b')], upper: join(d, 'up'), mountpoint: join(d, 'mnt') };
    const plan = planUnion(opts);
    expect(renderMount(plan)).toBe(`unionfs mount --lower ${d}/a --lower ${d}/b --upper ${d}/up --work ${d}/up.work ${d}/mnt`);
    const m = await mountUnion(opts);
    try {
      expect(m).toEqual({ mountpoint: join(d, 'mnt'), driver: 'overlay', lowers: opts.lowers, upper: join(d, 'up'), work: join(d, 'up.work'), readonly: false, mounted: true });
      expect(readFileSync(join(d, 'mnt/x'), 'utf8')).toBe('ax');
      expect(readFileSync(join(d, 'mnt/y'), 'utf8')).toBe('by');
    } finally {
      expect(umountUnion(join(d, 'mnt'))).toEqual({ mountpoint: join(d, 'mnt'), unmounted: true });
    }
    expect(umountUnion(join(d, 'mnt'))).toEqual({ mountpoint: join(d, 'mnt'), unmounted: false });
  });

  it('a work dir on another filesystem or mount than the upper is refused before anything is made (exit 2, both paths named; the kernel said EINVAL, exit 1)', async () => {
    const d = join(root, 'work-elsewhere');
    files(d, { 'a/x': 'x', 'up/': null, 'same/': null });
    const refused = async (args: string[], line: string) => {
      const before = tree(d);
      const r = await unionfs(['mount', '-l', 'a', ...args], d);
      expect(r.exitCode).toBe(2);
      expect(errorLines(r.stderr)).toEqual([line]);
      expect(r.stderr).toMatch(/^hint: /m);
      expect(tree(d)).toEqual(before);
      expect(mountsUnder(join(d, 'mnt'))).toEqual([]);
    };
    await withOtherFs(d, async (other) => {
      // given --work (its parents made too, with the upper missing: where each would be made counts)
      await refused(['-u', 'up', '--work', join(other, 'work'), 'mnt'], `unionfs: work dir ${other}/work and upper ${d}/up are on different filesystems`);
      await refused(['-u', 'new/up', '--work', join(other, 'w/work'), 'mnt/in'], `unionfs: work dir ${other}/w/work and upper ${d}/new/up are on different filesystems`);
      // the upper is a mount point: its default work dir beside it is outside that mount
      await refused(['-u', other, 'mnt'], `unionfs: work dir ${other}.work and upper ${other} are on different filesystems`);
    });
    // one filesystem, but another mount (a bind mount): overlay refuses that too
    mkdirSync(join(d, 'bound'));
    mount(join(d, 'same'), join(d, 'bound'), '', MS.BIND, '');
    try {
      await refused(['-u', 'up', '--work', join(d, 'bound/work'), 'mnt'], `unionfs: work dir ${d}/bound/work and upper ${d}/up are on different mounts (${d}/bound and ${mountOf(d)!.mountpoint})`);
    } finally {
      umount2(join(d, 'bound'));
    }
    // beside the upper: mounts
    expect((await unionfs(['mount', '-l', 'a', '-u', 'up', '--work', 'same/work', 'mnt'], d)).exitCode).toBe(0);
    expect((await unionfs(['umount', join(d, 'mnt')])).exitCode).toBe(0);
  });

  it('a mount the kernel refuses leaves nothing this run made (undo in reverse)', async () => {
    const d = join(root, 'undo');
    files(d, { 'a/x': 'x', 'up/': null });
    await withTooDeepLower(root, async (deep) => {
      const r = await unionfs(['mount', '-l', 'a', '-l', deep, '-u', 'up', 'mnt'], d);
      expect(r.exitCode).toBe(1);
      expect(errorLines(r.stderr)).toEqual([`unionfs: mount ${d}/mnt: invalid argument (EINVAL)`]);
      // the work dir and the mount point it made are gone again
      expect(readdirSync(d).sort()).toEqual(['a', 'up']);
    });
    expect(mountsUnder(d)).toEqual([]);
  });

  it('a refused mount also removes the parent directories it made on the way (mkdir -p)', async () => {
    const d = join(root, 'undo-deep');
    files(d, { 'a/x': 'x' });
    await withTooDeepLower(root, async (deep) => {
      const r = await unionfs(['mount', '-l', 'a', '-l', deep, '-u', 'new/deep/up', '--work', 'w/work', 'mnt/in/here'], d);
      expect(r.exitCode).toBe(1);
      expect(readdirSync(d).sort()).toEqual(['a']);
    });
    expect(mountsUnder(d)).toEqual([]);
  });
});

/** Run `fn` with d/otherfs a tmpfs of its own (a filesystem other than d's), unmounted after. */
async function withOtherFs(d: string, fn: (other: string) => Promise<void>): Promise<void> {
  const other = join(d, 'otherfs');
  mkdirSync(other);
  mount('boxkit-test-tmpfs', other, 'tmpfs', 0, 'size=1m');
  try {
    await fn(other);
  } finally {
    umount2(other);
  }
}
