import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planUnion } from '../src/plan.js';
import { renderMount, renderShell } from '../src/render.js';

let root = '';
const OVERLAY = new Set(['overlay', 'ext4']);
const WITH_AUFS = new Set(['overlay', 'aufs']);
const env = (fs = OVERLAY) => ({ filesystems: fs, cwd: root, mountinfo: join(root, 'mountinfo') });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'unionfs-plan-'));
  for (const d of ['l1', 'l2', 'l3', 'mnt']) mkdirSync(join(root, d));
  writeFileSync(join(root, 'file'), '');
  writeFileSync(join(root, 'mountinfo'), '');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('planUnion', () => {
  it('plans overlay with lowers topmost first and a work dir beside the upper', () => {
    const p = planUnion({ lowers: ['l1', 'l2', 'l3'], upper: 'up', mountpoint: 'mnt' }, env());
    expect(p.driver).toBe('overlay');
    expect(p.work).toBe(join(root, 'up.work'));
    expect(renderShell(p)).toEqual([
      `mkdir -p ${root}/up`,
      `mkdir -p ${root}/up.work`,
      `mount -t overlay overlay -o lowerdir=${root}/l1:${root}/l2:${root}/l3,upperdir=${root}/up,workdir=${root}/up.work ${root}/mnt`,
    ]);
    expect(p.mount).toEqual({ source: 'overlay', target: `${root}/mnt`, fstype: 'overlay', flags: 0, data: `lowerdir=${root}/l1:${root}/l2:${root}/l3,upperdir=${root}/up,workdir=${root}/up.work` });
    expect(renderMount(p)).toBe(`unionfs mount --lower ${root}/l1 --lower ${root}/l2 --lower ${root}/l3 --upper ${root}/up --work ${root}/up.work ${root}/mnt`);
  });

  it('read-only: no upper, MS_RDONLY with --readonly', () => {
    const p = planUnion({ lowers: ['l1', 'l2'], mountpoint: 'mnt', readonly: true }, env());
    expect(p.mount.flags & 1).toBe(1);
    expect(renderShell(p)).toEqual([`mount -t overlay overlay -o ro,lowerdir=${root}/l1:${root}/l2 ${root}/mnt`]);
  });

  it('generic flags (-o nodev,nosuid) with overlay syntax become mount(2) bits and render both ways', () => {
    const p = planUnion({ lowers: ['l1'], upper: 'up', mountpoint: 'mnt', mountOptions: 'nodev,nosuid', readonly: true }, env());
    expect(p.mount.flags).toBe(1 | 2 | 4);
    expect(renderShell(p).at(-1)).toBe(`mount -t overlay overlay -o ro,nodev,nosuid,lowerdir=${root}/l1,upperdir=${root}/up,workdir=${root}/up.work ${root}/mnt`);
    expect(renderMount(p)).toBe(`unionfs mount --lower ${root}/l1 --upper ${root}/up --work ${root}/up.work --readonly -o nodev,nosuid ${root}/mnt`);
    expect(planUnion({ lowers: ['l1'], upper: 'up', mountpoint: 'mnt', mountFlags: ['noexec'] }, env()).mount.flags).toBe(8);
    expect(() => planUnion({ lowers: ['l1'], upper: 'up', mountpoint: 'mnt', mountFlags: ['sync'] }, env())).toThrow(/unsupported mount flag 'sync'/);
  });

  it('auto picks aufs when the kernel has it, and renders the aufs form', () => {
    const p = planUnion({ lowers: ['l1', 'l2'], upper: 'up', mountpoint: 'mnt', udba: 'reval' }, env(WITH_AUFS));
    expect(p.driver).toBe('aufs');
    expect(renderShell(p).at(-1)).toBe(`mount -t aufs none -o br=${root}/up=rw:${root}/l1=ro:${root}/l2=ro,udba=reval ${root}/mnt`);
    expect(p.notice).toBeUndefined();
  });

  it('aufs gets no work dir: none is made (it was, and left unused), --work is refused', () => {
    const p = planUnion({ lowers: ['l1'], upper: 'up-aufs', mountpoint: 'mnt' }, env(WITH_AUFS));
    expect(p.driver).toBe('aufs');
    expect(p.work).toBeUndefined();
    expect(renderShell(p)).toEqual([`mkdir -p ${root}/up-aufs`, `mount -t aufs none -o br=${root}/up-aufs=rw:${root}/l1=ro ${root}/mnt`]);
    expect(renderMount(p)).toBe(`unionfs mount --lower ${root}/l1 --upper ${root}/up-aufs ${root}/mnt`);
    expect(() => planUnion({ lowers: ['l1'], upper: 'up-aufs', work: 'w', mountpoint: 'mnt', driver: 'aufs' }, env(WITH_AUFS))).toThrow(/^--work is an overlay option$/);
  });

  it('aufs syntax on a kernel without aufs: overlay, with one notice', () => {
    const p = planUnion({ mountOptions: 'br=./up=rw:./l1=ro:./l2=ro', mountpoint: './mnt' }, env());
    expect(p.driver).toBe('overlay');
    expect(p.upper).toBe(join(root, 'up'));
    expect(p.lowers).toEqual([join(root, 'l1'), join(root, 'l2')]);
    expect(p.notice).toMatch(/^aufs is not in this kernel: mounting the branches with overlay/);
    expect(p.notice).not.toContain('\n');
  });

  it('--driver aufs on a kernel without aufs: the system refuses (exit 1)', () => {
    expect(() => planUnion({ lowers: ['l1', 'l2'], mountpoint: 'mnt', driver: 'aufs' }, env())).toThrow(/no aufs filesystem/);
  });

  const bad: [string, Parameters<typeof planUnion>[0], RegExp][] = [
    ['a missing lower', { lowers: ['nope'], upper: 'up', mountpoint: 'mnt' }, /lower layer .*nope: no such directory/],
    ['upper equal to a lower', { lowers: ['l1'], upper: 'l1', mountpoint: 'mnt' }, /upper .* is the same as lower layer/],
    ['upper inside a lower', { lowers: ['l1', 'l2'], upper: 'l2/up', mountpoint: 'mnt' }, /upper .* is inside lower layer/],
    ['a lower inside the upper', { lowers: ['l1'], upper: '.', mountpoint: 'mnt' }, /inside upper/],
    ['work inside the upper', { lowers: ['l1'], upper: 'up', work: 'up/w', mountpoint: 'mnt' }, /overlap/],
    ['a mount point that is a file', { lowers: ['l1'], upper: 'up', mountpoint: 'file' }, /mount point .*file: not a directory/],
    ['a lower that is a file', { lowers: ['file'], upper: 'up', mountpoint: 'mnt' }, /not a directory/],
    ['a lower given twice', { lowers: ['l1', 'l1'], upper: 'up', mountpoint: 'mnt' }, /given twice/],
    ['one lower and no upper', { lowers: ['l1'], mountpoint: 'mnt' }, /at least two lower layers/],
    ['an unknown driver', { lowers: ['l1'], upper: 'up', mountpoint: 'mnt', driver: 'btrfs' }, /unknown driver 'btrfs'/],
  ];
  it.each(bad)('rejects %s with exit 2 before creating anything', (_, o, re) => {
    const before = readdirSync(root).sort();
    try {
      planUnion(o, env());
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(re);
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
    expect(readdirSync(root).sort()).toEqual(before);
  });

  it('rejects too many layers for one mount option (4096-byte page)', () => {
    const many: string[] = [];
    for (let i = 0; i < 40; i++) {
      const d = join(root, 'many', `layer-with-a-rather-long-name-${'x'.repeat(60)}-${i}`);
      mkdirSync(d, { recursive: true });
      many.push(d);
    }
    try {
      planUnion({ lowers: many, upper: 'up', mountpoint: 'mnt' }, env());
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/too many layers for one mount option: \d+ bytes > 4095 \(40 lower layers\)/);
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
    // a shorter stack fits
    expect(planUnion({ lowers: many.slice(0, 20), upper: 'up', mountpoint: 'mnt' }, env()).lowers).toHaveLength(20);
    rmSync(join(root, 'many'), { recursive: true });
  });

  it('escapes separators overlay would split on', () => {
    mkdirSync(join(root, 'we,ird:x'));
    const p = planUnion({ lowers: ['we,ird:x', 'l1'], mountpoint: 'mnt' }, env());
    expect(p.mount.data).toBe(`lowerdir=${root}/we\\,ird\\:x:${root}/l1`);
    rmSync(join(root, 'we,ird:x'), { recursive: true });
  });

  it("the -o of its own --dry-run line plans the same mount (overlay's options, escapes and flags included)", () => {
    mkdirSync(join(root, 'we,ird:y'));
    try {
      const p = planUnion({ lowers: ['we,ird:y', 'l1'], upper: 'u,p:1', mountpoint: 'mnt', readonly: true, mountFlags: ['nodev'] }, env());
      const line = renderShell(p).at(-1)!;
      // mount -t overlay overlay -o OPTS MNT: take OPTS back out of the shell quoting
      const opts = line.match(/ -o '?(.*?)'? \S+$/)![1]!;
      const again = planUnion({ mountOptions: opts, mountpoint: 'mnt' }, env());
      expect(again.mount).toEqual(p.mount);
      expect(again.steps).toEqual(p.steps);
    } finally {
      rmSync(join(root, 'we,ird:y'), { recursive: true });
    }
  });

  it('is idempotent: the same union already mounted is nothing to do; another one is refused', () => {
    writeFileSync(join(root, 'mountinfo'), `66 43 0:39 / ${root}/mnt rw - overlay overlay rw,lowerdir=${root}/l1:${root}/l2,upperdir=${root}/up,workdir=${root}/up.work\n`);
    try {
      const p = planUnion({ lowers: ['l1', 'l2'], upper: 'up', mountpoint: 'mnt' }, env());
      expect(p.already).toBe(true);
      expect(p.steps).toEqual([]);
      expect(() => planUnion({ lowers: ['l2', 'l1'], upper: 'up', mountpoint: 'mnt' }, env())).toThrow(/another union is mounted there/);
    } finally {
      writeFileSync(join(root, 'mountinfo'), '');
    }
  });
  it('a union hidden by a later mount over a directory above is not "already mounted", but still holds its upper', () => {
    // the union at mnt, then a tmpfs over the whole test dir: mnt now leads into the tmpfs
    writeFileSync(join(root, 'mountinfo'), [
      '27 1 253:0 / / rw - ext4 /dev/vda rw',
      `66 27 0:39 / ${root}/mnt rw - overlay overlay rw,lowerdir=${root}/l1:${root}/l2,upperdir=${root}/up,workdir=${root}/up.work`,
      `67 27 0:40 / ${root} rw - tmpfs tmpfs rw`,
    ].join('\n'));
    try {
      // the same union again: its upper is the hidden one's (before: 'already mounted', and nothing done)
      expect(() => planUnion({ lowers: ['l1', 'l2'], upper: 'up', mountpoint: 'mnt' }, env())).toThrow(
        `upper ${root}/up is in use by the union at ${root}/mnt (hidden by the mount at ${root})`,
      );
      // another upper: mnt is free (before: 'another union is mounted there')
      const p = planUnion({ lowers: ['l2', 'l1'], upper: 'up2', mountpoint: 'mnt' }, env());
      expect(p.already).toBe(false);
      expect(p.steps.map((s) => s.kind)).toEqual(['mkdir', 'mkdir', 'mount']);
      // an upper below the hidden union's mount point is on the tmpfs, as a work dir beside the test dir is
      // (before: refused, 'on different mounts (<root> and <root>/mnt)')
      expect(planUnion({ lowers: ['l1', 'l2'], upper: 'mnt/up', work: 'w', mountpoint: 'mnt2' }, env()).already).toBe(false);
    } finally {
      writeFileSync(join(root, 'mountinfo'), '');
    }
  });
});
