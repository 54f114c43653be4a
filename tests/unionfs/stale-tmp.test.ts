/**
 * A killed --lower-tar extraction leaves its `<digest>.<pid>.tmp` dir in the
 * layer store; the next extraction removes those of dead pids (and keeps a
 * live extraction's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, skipReason } from '../harness/index.js';
import { detachAll, files, mountsUnder, scratch, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid of a process this test ran and reaped: no process has it. */
function deadPid(): number {
  const pid = spawnSync('true').pid!;
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  return pid;
}

/** A partial extraction as a killed one leaves it. */
function partial(store: string, name: string): string {
  const p = join(store, name);
  files(p, { 'etc/hosts': 'partial', 'usr/lib/': null });
  return p;
}

describe.skipIf(skipReason)(title('unionfs --lower-tar sweeps what killed extractions left'), () => {
  let d = '';
  beforeAll(() => {
    d = scratch('stale-tmp');
    files(d, { 'base/x': 'x', 'layer/etc/hosts': 'from the layer\n', 'other/etc/motd': 'm' });
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
    rmSync(d, { recursive: true, force: true });
  });

  it("removes the <digest>.<pid>.tmp dirs of dead pids (this layer's and others'), keeps a live pid's", async () => {
    const tar = join(d, 'layer.tar'), other = join(d, 'other.tar');
    execFileSync('tar', ['-C', join(d, 'layer'), '-cf', tar, '.']);
    execFileSync('tar', ['-C', join(d, 'other'), '-cf', other, '.']);
    const data = join(d, 'data-sweep');
    const store = join(data, 'unionfs', 'layers');
    mkdirSync(store, { recursive: true });
    const digest = sha256(tar), otherDigest = sha256(other);
    const dead = partial(store, `${digest}.${deadPid()}.tmp`);
    const deadOther = partial(store, `${otherDigest}.${deadPid()}.tmp`);
    // this test process: alive, as an extraction at work would be
    const live = partial(store, `${otherDigest}.${process.pid}.tmp`);

    const mnt = join(d, 'mnt');
    const r = await unionfs(['mount', '--lower-tar', tar, '--lower', join(d, 'base'), mnt], d, { BOXKIT_DATA_DIR: data });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    try {
      expect(readFileSync(join(mnt, 'etc/hosts'), 'utf8')).toBe('from the layer\n');
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(deadOther)).toBe(false);
    expect(readFileSync(join(live, 'etc/hosts'), 'utf8')).toBe('partial');
    expect(readdirSync(store).sort()).toEqual([digest, `${otherDigest}.${process.pid}.tmp`].sort());
  });

  it('mount --lower-tar killed (-9) while it extracts: the next mount of the same tarball leaves no tmp dir', async () => {
    // ~60 MB in 3000 files: long enough to extract that the kill lands in the middle
    const big = join(d, 'big');
    const block = Buffer.alloc(20_000, 'b');
    for (let i = 0; i < 3000; i++) {
      if (i % 100 === 0) mkdirSync(join(big, `d${i / 100}`), { recursive: true });
      writeFileSync(join(big, `d${Math.floor(i / 100)}`, `f${i}`), block);
    }
    const tar = join(d, 'big.tar');
    execFileSync('tar', ['-C', big, '-cf', tar, '.']);
    rmSync(big, { recursive: true });
    const digest = sha256(tar);
    const data = join(d, 'data-kill');
    const store = join(data, 'unionfs', 'layers');
    const mnt = join(d, 'mnt-big');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_DATA_DIR: data };
    delete env.NODE_EXTRA_CA_CERTS;

    // killed once its tmp dir holds part of the layer (the stub execs node: the pid in the name is the child's)
    const child = spawn(binPath('unionfs'), ['mount', '--lower-tar', tar, '--lower', join(d, 'base'), mnt], { env, stdio: 'ignore' });
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    const tmp = join(store, `${digest}.${child.pid}.tmp`);
    for (let i = 0; i < 2000 && !(existsSync(join(tmp, 'd1')) || child.exitCode !== null); i++) await sleep(5);
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode, 'killed before the extraction ended').toBe('SIGKILL');
    expect(existsSync(tmp)).toBe(true);
    expect(existsSync(join(store, digest))).toBe(false);
    expect(mountsUnder(mnt)).toEqual([]);

    const r = await unionfs(['mount', '--lower-tar', tar, '--lower', join(d, 'base'), mnt], d, { BOXKIT_DATA_DIR: data });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    try {
      expect(readFileSync(join(mnt, 'd29/f2999')).length).toBe(20_000);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }
    expect(readdirSync(store)).toEqual([digest]);
  });
});
