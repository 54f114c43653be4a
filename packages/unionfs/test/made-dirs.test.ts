/**
 * What a failed mount or extraction takes back of the directories its
 * mkdir -p made, when someone else works in them meanwhile: only its own,
 * and only while empty. mkdir -p is one mkdir(2) per missing level, so
 * another process can make one of those levels in between: node:fs is
 * wrapped here to run "the other process" at such a point (a recursive
 * mkdirSync goes level by level, as the kernel sees it).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
// (node:fs as wrapped below: vi.mock is hoisted above these imports)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { toPlanSteps } from '../src/apply.js';
import { extractLayer } from '../src/extract.js';
import { planUnion } from '../src/plan.js';
import { TarWriter } from '../src/tar.js';

const race = vi.hoisted(() => ({ after: undefined as ((dir: string) => void) | undefined }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  type Opts = { recursive?: boolean; mode?: number } | number | undefined;
  const mkdirSync = (p: string, o?: Opts): string | undefined => {
    // (a recursive one returns the first level it made, as node's does)
    const opts = typeof o === 'object' ? o : { mode: o };
    if (opts.recursive) {
      const missing: string[] = [];
      for (let d = resolve(p); !fs.existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
      let first: string | undefined;
      for (const d of missing) {
        try {
          mkdirSync(d, { mode: opts.mode ?? 0o777 });
          first ??= d;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      return first;
    }
    fs.mkdirSync(p, opts.mode);
    const hook = race.after;
    if (hook) hook(resolve(p));
    return undefined;
  };
  return { ...fs, mkdirSync, default: { ...fs, mkdirSync } };
});

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'unionfs-made-'));
  writeFileSync(join(root, 'content'), 'data');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A tarball extraction refuses after it made its dirs: an entry that climbs out of the layer. */
function badTar(): string {
  const out = join(root, 'bad.tar');
  const w = new TarWriter(out);
  w.add({ name: '../evil', type: 'file', mode: 0o644, size: 4, uid: 0, gid: 0, mtime: 1_700_000_000 }, join(root, 'content'));
  w.finish();
  return out;
}

/** Run `fn` with `other` called once, right after the first mkdir(2) of `when`. */
async function withRace(when: string, other: () => void, fn: () => void | Promise<void>): Promise<void> {
  let done = false;
  race.after = (dir) => {
    if (done || dir !== when) return;
    done = true;
    other();
  };
  try {
    await fn();
  } finally {
    race.after = undefined;
  }
  expect(done, `the race at ${when} ran`).toBe(true);
}

describe('directories a failed run made, and others made meanwhile', () => {
  it('extract: a level of its mkdir -p that another process made is not removed (it was, while empty)', async () => {
    const [top, theirs] = [join(root, 'x1/new'), join(root, 'x1/new/deep')];
    await withRace(top, () => mkdirSync(theirs), async () => {
      await expect(extractLayer(badTar(), join(theirs, 'layer'))).rejects.toThrow(/escapes the layer/);
    });
    // theirs stays (the other process is about to use it); ours goes only once empty: it holds theirs
    expect(existsSync(theirs)).toBe(true);
    expect(existsSync(join(theirs, 'layer'))).toBe(false);
  });

  it('extract: its parent dir removed by another failing extraction before the temp dir is made: made again', async () => {
    const parent = join(root, 'x2/layers');
    // (its own extraction then fails on the bad entry: what counts is that it got that far)
    await withRace(parent, () => rmSync(parent, { recursive: true }), async () => {
      await expect(extractLayer(badTar(), join(parent, 'layer'))).rejects.toThrow(/escapes the layer/);
    });
    expect(existsSync(join(root, 'x2'))).toBe(false);
  });

  it('mount: undo of a made upper removes that upper and the empty parents it made, not what others put beside it', () => {
    for (const d of ['l1', 'l2', 'mnt']) mkdirSync(join(root, 'm', d), { recursive: true });
    const plan = planUnion({ lowers: ['l1', 'l2'], upper: 'new/up', mountpoint: 'mnt' }, { filesystems: new Set(['overlay']), cwd: join(root, 'm'), mountinfo: join(root, 'content') });
    const steps = toPlanSteps(plan).filter((s) => s.shell.startsWith('mkdir'));
    expect(steps.map((s) => s.shell)).toEqual([`mkdir -p ${root}/m/new/up`, `mkdir -p ${root}/m/new/up.work`]);
    for (const s of steps) s.apply();
    // meanwhile, another user of new/ (the mount then fails: undo in reverse)
    mkdirSync(join(root, 'm/new/theirs'));
    writeFileSync(join(root, 'm/new/theirs/file'), 'kept');
    for (const s of [...steps].reverse()) s.undo?.();
    expect(readFileSync(join(root, 'm/new/theirs/file'), 'utf8')).toBe('kept');
    expect(existsSync(join(root, 'm/new/up'))).toBe(false);
    expect(existsSync(join(root, 'm/new/up.work'))).toBe(false);
  });

  it('mount: with nobody else there, undo leaves nothing it made', () => {
    const plan = planUnion({ lowers: ['l1', 'l2'], upper: 'new2/deep/up', mountpoint: 'mnt' }, { filesystems: new Set(['overlay']), cwd: join(root, 'm'), mountinfo: join(root, 'content') });
    const steps = toPlanSteps(plan).filter((s) => s.shell.startsWith('mkdir'));
    for (const s of steps) s.apply();
    // overlay puts its work/ inside the work dir
    mkdirSync(join(root, 'm/new2/deep/up.work/work'));
    for (const s of [...steps].reverse()) s.undo?.();
    expect(existsSync(join(root, 'm/new2'))).toBe(false);
  });
});
