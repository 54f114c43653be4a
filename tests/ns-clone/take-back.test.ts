/**
 * The take-back of what a dead --KIND=PATH start bound (a sweep, a release)
 * unmounts only the bind that start made: never a namespace someone else
 * bound at PATH since, even one the kernel gave the dead namespace's nsfs
 * inode number again (it hands the freed number to the next namespace made).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { statxMount } from '@boxkit/native';
import { stillPersisted, type Persisted } from '../../packages/ns-clone/src/persist.js';
import { isPinned, pin, signalPinned, skipReason, unreaped, type Pinned } from '../harness/index.js';
import { alive, bindCase, binPath, childrenOf, inMoveMount, mountsAt, ns, nsAtMoveMount, sleep, straceBin, until } from './helpers.js';

const recordsIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.fifo-path')) : []);

/**
 * Bind new network namespaces at PATH (`unshare --net=PATH true`, onto the
 * file there, made when missing) until one gets nsfs inode `ino` (a
 * namespace just freed: the kernel gives the lowest free number to the next
 * one made, once its cleanup ran). Each other one is kept alive, bound at
 * PATH.N (pushed to `kept`), so that a lower number freed meanwhile (by
 * other tests on this machine) is used up and not given again.
 */
async function bindUntilIno(path: string, ino: number, kept: string[]): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (!existsSync(path)) writeFileSync(path, '');
    execFileSync('unshare', [`--net=${path}`, 'true']);
    if (statSync(path).ino === ino) return;
    const keep = `${path}.${kept.length}`;
    writeFileSync(keep, '');
    execFileSync('mount', ['--bind', path, keep]);
    kept.push(keep);
    execFileSync('umount', [path]);
    await sleep(5);
  }
  throw new Error(`no namespace bound at ${path} got the freed inode number ${ino} in 400 tries`);
}

const umountAll = (paths: readonly string[]) => {
  for (const k of paths) while (mountsAt(k).length) execFileSync('umount', [k]);
};

/** strace's arguments that make ns-clone (and its children) meet a kernel without open_tree (5.2) and statx (4.11). */
const oldKernel = ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=open_tree,statx', '-e', 'inject=open_tree:error=ENOSYS', '-e', 'inject=statx:error=ENOSYS'];

/**
 * A foreground `--net=PATH --wait-for-setup -- true` (started by `launch`) is held; the user unmounts its bind and
 * binds a namespace of their own at PATH; `release --abort`: the start ends 125, and the user's bind stays, its record gone.
 */
async function ownUndoLeavesUsersBind(name: string, launch: (args: string[], env: NodeJS.ProcessEnv) => ResultPromise): Promise<void> {
  const { path, records, env } = bindCase(name);
  const p = launch([`--net=${path}`, '--wait-for-setup', '--', 'true'], env);
  try {
    const recorded = () => recordsIn(records)[0]?.split('.')[0];
    await until(() => !!recorded() && mountsAt(path).length === 1, 10000, "the held child's record and bind");
    // the user takes the start's namespace off PATH and binds one of their own there (its file, still there)
    execFileSync('umount', [path]);
    execFileSync('unshare', [`--net=${path}`, 'true']);
    const users = statSync(path).ino;
    expect(mountsAt(path)).toHaveLength(1);
    expect((await ns(['release', recorded()!, '--abort'], { env })).exitCode).toBe(0);
    const r = await p;
    expect(r.exitCode, String(r.stderr)).toBe(125);
    expect(mountsAt(path), "the user's bind at PATH").toHaveLength(1);
    expect(statSync(path).ino).toBe(users);
    expect(recordsIn(records)).toEqual([]);
  } finally {
    // the ns-clone it started: `p` itself, or strace's child (strace killed alone detaches it, held, and it ran on),
    // pinned while `p`, unreaped, is its parent
    const started = unreaped(p) ? childrenOf(p.pid!).map(pin) : [];
    for (const c of started) signalPinned(c, 'SIGKILL');
    p.kill('SIGKILL');
    await p.catch(() => {});
    // (a wait that times out is logged, not thrown: thrown from here it would replace the test's own failure)
    for (const c of started) await until(() => !isPinned(c) || !alive(c.pid), 5000, `pid ${c.pid} (started under ${p.pid}) to exit`).catch((e: Error) => console.error(`${name} cleanup: ${e.message}`));
    umountAll([path]);
  }
}

describe.skipIf(skipReason)(`ns-clone take-back of a dead start's bind${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("a held child killed after the user unmounted its PATH and bound a namespace of their own there, which the kernel gave the dead namespace's inode number: a release (any) leaves the user's bind (it unmounted and removed it)", async () => {
    const { path, records, env } = bindCase('takeback-reused-ino');
    const a = await ns(['-d', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], { env });
    expect(a.exitCode, a.stderr).toBe(0);
    const held: Pinned = pin(Number(a.stdout));
    const kept: string[] = [];
    try {
      const ino = statSync(path).ino;
      // the record names the bind's mount, known before it was attached (the unique id where the kernel has it, 6.8+;
      // before, mountinfo's id and the nsfs inode's ctime)
      const rec = JSON.parse(readFileSync(join(records, `${a.stdout}.fifo-path`), 'utf8')) as { persisted: Persisted[] };
      const now = statxMount(path);
      const noted = now.unique ? { id: now.mntId, unique: true } : { id: now.mntId, ctime: now.ctimeNs };
      expect.soft(rec.persisted.map((p) => [p.path, p.ino, p.mount])).toEqual([[path, ino, noted]]);
      expect.soft(stillPersisted(rec.persisted[0]!)).toBe(true);
      // what a kernel before 6.8 notes instead (mountinfo's id and the nsfs inode's ctime): its own bind, found as such
      const old = statxMount(path, false);
      const fallback: Persisted = { ...rec.persisted[0]!, mount: { id: old.mntId, ctime: old.ctimeNs } };
      expect.soft(stillPersisted(fallback)).toBe(true);

      execFileSync('umount', [path]);
      rmSync(path);
      signalPinned(held, 'SIGKILL');
      await until(() => !alive(held.pid), 5000, 'the held child to die');
      // the user binds a namespace of their own at PATH (touch PATH; unshare --net=PATH): the kernel gives it the dead
      // one's number
      await bindUntilIno(path, ino, kept);
      const userMount = statxMount(path, false);
      // any release sweeps the dead start's record: it unmounted the user's namespace and removed PATH
      const r = await ns(['release', '999999'], { env });
      expect(r.exitCode).toBe(2);
      expect(mountsAt(path), "the user's bind at PATH").toHaveLength(1);
      expect(statSync(path).ino).toBe(ino);
      expect(recordsIn(records)).toEqual([]);
      // the fallback identity tells them apart too: by the nsfs inode's ctime, where the mount id came back
      expect(stillPersisted(fallback)).toBe(false);
      expect(userMount.ctimeNs).not.toBe(old.ctimeNs);
      console.log(`take-back: kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, unique mount ids: ${now.unique}; the user's bind got mountinfo id ${userMount.mntId}, ours had ${old.mntId}`);
    } finally {
      signalPinned(held, 'SIGKILL');
      umountAll([path, ...kept]);
    }
  });

  it("a foreground --wait-for-setup --net=PATH start whose command never runs (aborted) leaves a namespace the user bound at PATH meanwhile, after unmounting the start's: its own undo unmounts only its bind (it unmounted the user's and removed PATH)", async () => {
    await ownUndoLeavesUsersBind('takeback-own-undo', (args, env) => execa(binPath('ns-clone'), args, { reject: false, env }));
  });

  it("a start killed at the entry of its bind's attach (move_mount(2)), whose namespace's inode number the kernel then gave another namespace bound at that PATH (the user's, or another start's with another state dir): the dead start's take-back leaves that bind (it unmounted it)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, state, records, env } = bindCase('takeback-unbound-reused-ino');
    const a = await nsAtMoveMount(strace, path, 'signal=KILL', ['--detach', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], env);
    expect(a.signal ?? a.exitCode, a.stderr).toBe(a.signal ? 'SIGKILL' : 137);
    const [name] = recordsIn(records);
    expect(name).toBeDefined();
    const rec = JSON.parse(readFileSync(join(records, name!), 'utf8')) as { persisted: Persisted[] };
    const ino = rec.persisted[0]!.ino!;
    const child = Number(name!.replace('.fifo-path', ''));
    await until(() => !alive(child), 5000, "A's held child to end with it");
    expect(mountsAt(path)).toEqual([]);
    // another namespace bound at PATH (A's empty file: the user's, or another start's with a state dir of its own)
    // gets A's number
    const kept: string[] = [];
    try {
      await bindUntilIno(path, ino, kept);
      const r = await ns(['release', '999999'], { env });
      expect(r.exitCode).toBe(2);
      expect(mountsAt(path), 'the other bind at PATH').toHaveLength(1);
      expect(statSync(path).ino).toBe(ino);
      expect(recordsIn(records)).toEqual([]);
    } finally {
      umountAll([path, ...kept]);
    }
  });

  it('without open_tree (a kernel before 5.2, ENOSYS injected by strace) the bind is made by mount(2), its mount unknown to the record: a take-back of the held child killed leaves it bound (it cannot tell it from one bound since), and the record goes', async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, records, env } = bindCase('takeback-no-open-tree');
    const r = await execa(strace, ['-qq', '-o', '/dev/null', '-e', 'trace=open_tree', '-e', 'inject=open_tree:error=ENOSYS',
      binPath('ns-clone'), '--detach', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], { reject: false, env });
    expect(r.exitCode, r.stderr).toBe(0);
    const held = pin(Number(r.stdout));
    try {
      expect(mountsAt(path)).toHaveLength(1);
      expect(readlinkSync(`/proc/${held.pid}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
      const rec = JSON.parse(readFileSync(join(records, `${held.pid}.fifo-path`), 'utf8')) as { persisted: Persisted[] };
      expect(rec.persisted.map((p) => [p.path, p.mount])).toEqual([[path, undefined]]);
      signalPinned(held, 'SIGKILL');
      await until(() => !alive(held.pid), 5000, 'the held child to die');
      const rel = await ns(['release', String(held.pid)], { env });
      expect(rel.exitCode).toBe(1);
      expect(rel.stderr.split('\n')[0]).toBe(`ns-clone: process ${held.pid} is gone: nothing to release (its fifo and record are removed)`);
      expect(mountsAt(path)).toHaveLength(1);
      expect(recordsIn(records)).toEqual([]);
    } finally {
      signalPinned(held, 'SIGKILL');
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
  });

  it("without open_tree and statx's mount ids (a kernel before 5.2, ENOSYS injected by strace) a start's own undo unmounts its bind made by mount(2) and removes its file, PATH showing its namespace: a foreground command not found (127) left --net=PATH bound", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, env } = bindCase('takeback-own-undo-old-kernel');
    try {
      const r = await execa(strace, [...oldKernel, binPath('ns-clone'), `--net=${path}`, '--', '/nonexistent'], { reject: false, env });
      expect(r.exitCode, String(r.stderr)).toBe(127);
      expect(String(r.stderr)).toContain('command not found');
      expect(mountsAt(path), 'the bind at PATH').toEqual([]);
      expect(existsSync(path)).toBe(false);
    } finally {
      umountAll([path]);
    }
  });

  it("without open_tree and statx's mount ids (ENOSYS injected by strace) a foreground --wait-for-setup start whose command never runs (aborted) leaves a namespace the user bound at PATH after unmounting the start's: its own undo goes by PATH's namespace, the user's now", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    await ownUndoLeavesUsersBind('takeback-own-undo-old-kernel-user', (args, env) => execa(strace, [...oldKernel, binPath('ns-clone'), ...args], { reject: false, env }));
  });

  it("the take-back of a bind (a release's sweep) leaves PATH's file to another start that locked it to bind it the moment it was unmounted (held in its move_mount(2)): that start binds it (it failed 125: PATH removed under it, unlocked)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, state, records, env } = bindCase('takeback-bound-locked');
    const a = await ns(['-d', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], { env });
    expect(a.exitCode, a.stderr).toBe(0);
    const held = pin(Number(a.stdout));
    signalPinned(held, 'SIGKILL');
    await until(() => !alive(held.pid), 5000, 'the held child to die');
    expect(mountsAt(path)).toHaveLength(1);
    // the release's sweep takes A's bind back: its umount2 done, and held 3 s on its way out
    const rel = execa(strace, ['-qq', '-o', '/dev/null', '-P', path, '-e', 'trace=umount2', '-e', 'inject=umount2:delay_exit=3000000',
      binPath('ns-clone'), 'release', '999999'], { reject: false, env });
    // meanwhile B (a state dir of its own: its sweep never sees A's record) locks PATH's file, finds nothing bound,
    // and is held 3 s in its move_mount(2)
    let b: ReturnType<typeof nsAtMoveMount> | undefined;
    let bound: Pinned | undefined;
    try {
      await until(() => mountsAt(path).length === 0, 5000, "the release's umount of A's bind");
      b = nsAtMoveMount(strace, path, 'delay_enter=3000000', ['-d', `--net=${path}`, '--', 'sleep', '30'], { ...env, BOXKIT_STATE_DIR: `${state}-b` });
      await until(() => inMoveMount(b!.pid!), 5000, 'B inside its move_mount(2)');
      const r = await rel;
      expect(r.exitCode, String(r.stderr)).toBe(2);
      const rb = await b;
      bound = rb.exitCode === 0 ? pin(Number(String(rb.stdout))) : undefined;
      expect(rb.exitCode, String(rb.stderr)).toBe(0);
      expect(mountsAt(path)).toHaveLength(1);
      expect(readlinkSync(`/proc/${String(rb.stdout)}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
      // A's record was kept while B held PATH (its entry noted as never bound); the next sweep removes it, B's bind stays
      expect(recordsIn(records)).toHaveLength(1);
      expect((await ns(['release', '999999'], { env })).exitCode).toBe(2);
      expect(recordsIn(records)).toEqual([]);
      expect(mountsAt(path)).toHaveLength(1);
    } finally {
      await rel.catch(() => {});
      await b?.catch(() => {});
      if (bound) signalPinned(bound);
      umountAll([path]);
    }
  });
});
