/**
 * Building a container, in order: reserve the name, union mount, cgroup
 * with limits, a child held in new namespaces, the cgroup and the network
 * attached from outside, then release: the child pivots into the union and
 * execs. Each piece is recorded as soon as it exists, so a failure undoes
 * exactly what this run made and `run gc` can finish a run that was killed.
 */
import { isoTime } from '@boxkit/common/time';
import { lexists } from '@boxkit/common/dirs';
import { lastLook } from '@boxkit/common/signals';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BoxkitError, Cleanup, dataDir, EXIT, UsageError } from '@boxkit/common';
import { symlinkedMountPoint } from '@boxkit/common/validate';
import { CLONE, StepError, spawn, type Child } from '@boxkit/native';
import type { ContainerRecord } from '../state/record.js';
import { containerData, isAlive, isGarbage, load, locked, forget, save, startTime } from '../state/store.js';
import { teardown } from './teardown.js';
import { checkName, defaultName, hostVethName, newId } from '../state/names.js';
import { ensureDefaultRootfs } from '../rootfs/default.js';
import { noteRanFrom } from '../rootfs/ran-from.js';
import { containerEnv, MOUNT_POINTS, type ContainerSpec } from './spec.js';
import { containerProgram } from './program.js';
import { resolveUser } from './user.js';
import { writeInRoot } from './inroot.js';
import { resolvConf } from './dns.js';
import { volumeFdBase, volumeString } from './volumes.js';
import { attachShell, cgroupfsOf, cgroupShell, createCgroup, group, joinWrites, removeCgroup } from './cgroup.js';
import { isTarball, mountUnion, unionShell, unmountUnion } from './union.js';
import { allocateTty, ttySteps, type Tty } from './tty.js';
import { checkHostPorts, checkIp, setupNetwork, teardownNetwork } from './network.js';
import { mark } from '@boxkit/common/phases';
import { trace as traceLine } from '@boxkit/common/stdio';

export interface Started {
  rec: ContainerRecord;
  child: Child;
  /** with -t: the pty whose master this process relays */
  tty?: Tty;
}

export interface StartOptions {
  verbose?: boolean;
  /** where -v lines go */
  trace?: (line: string) => void;
  /** aborted: stop before the command runs, undoing what was made (its reason is the error) */
  signal?: AbortSignal;
  /** look at `signal` after a turn of the event loop before the release, even for a quick start (run -d's keeper) */
  lookLast?: boolean;
}

/** Exit status for a step the child reported before exec (docker's convention). */
export function execFailureStatus(e: StepError): number {
  if (e.stepName !== 'exec') return EXIT.CANNOT_START;
  return e.code === 'ENOENT' || e.code === 'ENOTDIR' ? EXIT.NOT_FOUND : e.code === 'EACCES' || e.code === 'ENOEXEC' ? EXIT.NOT_EXECUTABLE : EXIT.CANNOT_START;
}

/** The lower layers, topmost first: --layer dirs above the rootfs (or an --image tarball, below them all). */
export async function resolveLowers(spec: ContainerSpec): Promise<{ rootfs: string; lowers: string[]; tars: string[] }> {
  const rootfs = resolve(spec.rootfs ?? spec.image ?? (await ensureDefaultRootfs()).dir);
  for (const d of [rootfs, ...spec.layers]) {
    if (!existsSync(d)) throw new UsageError(`no such ${d === rootfs && spec.image ? 'image' : 'directory'}: ${d}`);
  }
  const layers = [...spec.layers].reverse().map((l) => resolve(l));
  if (spec.image && isTarball(rootfs)) return { rootfs, lowers: layers, tars: [rootfs] };
  if (!statSync(rootfs).isDirectory()) throw new UsageError(`--rootfs ${rootfs}: not a directory`);
  return { rootfs, lowers: [...layers, rootfs], tars: [] };
}

/**
 * The namespaces the child is cloned into. Not the mount namespace: the
 * child unshares that itself once released (see containerProgram), so the
 * union mounted while it waits is in its copy, and the mount can overlap
 * the cgroup attach.
 */
export const namespaceFlags = (spec: ContainerSpec): number =>
  CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWPID | (spec.net.mode === 'host' ? 0 : CLONE.NEWNET);

/** A start slower than this (50 ms) takes a turn of the event loop before the command runs, to see a signal. */
const SLOW_START_NS = 50_000_000n;

export async function startContainer(spec: ContainerSpec, opts: StartOptions = {}): Promise<Started> {
  // lines are made only with -v: the union's needs a second plan of the mount
  const print = opts.trace ?? traceLine;
  const trace = (line: () => string) => {
    if (opts.verbose) print(line());
  };
  mark('start');
  // (process.hrtime, not performance.now(): the first use of that global loads perf_hooks, 9 builtins)
  const t0 = process.hrtime.bigint();
  const { rootfs, lowers, tars } = await resolveLowers(spec);
  checkHostPorts(spec.publish);
  const ip = await checkIp(spec);
  mark('lowers');
  const id = newId();
  const name = checkName(spec.name ?? defaultName(id));
  const hostname = spec.hostname ?? name;
  // checked before anything changes; an image tarball's users are known once it is mounted
  let ids = resolveUser(tars.length ? '/nonexistent' : rootfs, tars.length ? undefined : spec.user);
  const cg = { parent: spec.cgroupParent, name: id, limits: spec.limits, privileged: spec.privileged };
  const hostVeth = hostVethName(id);
  const rec = firstRecord(spec, { id, name, hostname, rootfs, hostVeth, cgroup: group(cg.parent, cg.name, cg.limits) });
  await reserveName(rec);
  mark('reserve');
  const undo = new Cleanup();
  undo.push(() => forget(name));
  // root's only (as docker's 0710 overlay2 dirs): the upper holds what the container writes, its
  // logs what it prints; 0755 let every host user read them, and the merged root through rootfs/
  mkdirSync(dataDir('containers'), { recursive: true, mode: 0o755 });
  mkdirSync(containerData(id), { mode: 0o700 });
  undo.push(() => rmSync(containerData(id), { recursive: true, force: true }));
  let child: Child | undefined;
  try {
    opts.signal?.throwIfAborted();
    const union = { lowers, tars, upper: rec.upper, work: rec.work, mountpoint: rec.mountpoint, volatile: spec.autoRemove };
    let ranFromScratch = false;
    const mountRoot = async () => {
      trace(() => unionShell(union));
      await mountUnion(union, opts.signal);
      undo.push(() => unmountUnion(rec.mountpoint));
      const link = symlinkedMountPoint(rec.mountpoint, MOUNT_POINTS);
      if (link) {
        throw new BoxkitError('EINVAL', `root filesystem: /${link.name} is a symlink (to ${link.target}): the container would get no /${link.name}`,
          { hint: `make /${link.name} a directory in the image or rootfs` });
      }
      // made in the container's layer when the image lacks them, as runc does (a rootfs of one static
      // binary, docker's FROM scratch, failed: "container setup (mount .../proc): no such file or directory")
      let scratch = false;
      for (const d of MOUNT_POINTS) {
        if (lexists(join(rec.mountpoint, d))) continue;
        mkdirSync(join(rec.mountpoint, d), 0o755);
        scratch = true;
      }
      // a --rootfs DIR of that kind (no etc/ either, before writeIdentity makes it) is noted once its
      // command has started (below); the default rootfs costs nothing here
      ranFromScratch = !!spec.rootfs && !tars.length && (scratch || !lexists(join(rec.mountpoint, 'etc')));
      if (tars.length && spec.user) ids = resolveUser(rec.mountpoint, spec.user);
      writeIdentity(rec.mountpoint, hostname, spec.net.mode !== 'host');
      mark('mount');
    };
    // Mounted after the clone, during the attach, unless: an image tarball's
    // users are known once it is mounted (the program below needs them), or
    // -v prints the steps, which then keep the order of the pipeline a user
    // could run by hand (ns-clone makes the mount namespace at clone time).
    const mountFirst = (tars.length > 0 && spec.user !== undefined) || opts.verbose === true;
    if (mountFirst) await mountRoot();

    trace(() => cgroupShell(cg));
    rec.cgroup = await createCgroup(cg);
    undo.push(() => removeCgroup(rec.cgroup));
    mark('cgroup');

    const stdio = containerStdio(spec, rec);
    let tty: Tty | undefined;
    if (spec.tty) {
      tty = allocateTty();
      const t = tty;
      undo.push(() => {
        try {
          closeSync(t.master);
        } catch {
          // handed to the relay already
        }
      });
    }
    const env = containerEnv(spec, hostname, ids.home);
    const steps = containerProgram({
      root: rec.mountpoint, hostname, argv: spec.command, env, workdir: spec.workdir,
      uid: ids.uid, gid: ids.gid, groups: ids.groups, readOnly: spec.readOnly, privileged: spec.privileged,
      init: spec.init, cgroupns: true, netns: spec.net.mode !== 'host', volumes: spec.volumes,
      ...(spec.volumes.length ? { volumeFdBase: volumeFdBase(spec.volumes.length) } : {}), joinCgroup: joinWrites(rec.cgroup), ...(stdio ? { stdio } : {}),
      ...(existsSync('/proc/self/ns/cgroup') ? { cgroupfs: cgroupfsOf(rec.cgroup) } : {}),
      ...(tty ? { tty: { steps: ttySteps(tty), slave: tty.slave } } : {}),
    });
    trace(() => `ns-clone --wait-for-setup ... -- ${spec.command.join(' ')}`);
    try {
      child = spawn({ flags: namespaceFlags(spec), steps, pdeathsig: spec.detach ? 0 : 9 });
    } finally {
      for (const fd of stdio ?? []) if (fd > 2) closeSync(fd);
    }
    mark('clone');
    const c = child;
    undo.push(async () => {
      c.abort();
      await c.wait();
    });
    rec.pid = c.pid;
    rec.pidStart = startTime(c.pid);

    // the child moves itself into the cgroup (its first steps) while this
    // thread mounts the union and sets up the network
    trace(() => attachShell(cg, String(c.pid)));
    if (!mountFirst) await mountRoot();
    const netPlan = { spec, hostVeth, ...(ip ? { ip } : {}) };
    undo.push(() => teardownNetwork(rec.net));
    rec.net = await setupNetwork(netPlan, c.pid, trace);
    if (rec.net.ip) addHost(rec.mountpoint, rec.net.ip.split('/')[0]!, hostname);
    mark('net');
    // the last look before the command runs (a signal since is passed on to it). A signal's
    // handler runs only in a turn of the event loop, which a start that waited on no I/O (on
    // the store's lock, say) never took: a slow start looks through it first (lastLook). Not a quick one: the
    // turn cost ~1 ms here (save-net 0.3 -> 1.1-1.3 ms, medians of 40), and a signal has ~15 ms to come.
    if (opts.lookLast || process.hrtime.bigint() - t0 > SLOW_START_NS) await lastLook(opts.signal);
    else opts.signal?.throwIfAborted();
    rec.status = 'running';
    rec.started = isoTime();
    rec.process = { env: spec.env, workdir: spec.workdir, uid: ids.uid, gid: ids.gid, groups: ids.groups, home: ids.home, privileged: spec.privileged };
    save(rec);
    mark('save');

    trace(() => `ns-clone release ${c.pid}`);
    c.release();
    try {
      c.confirmExec();
      mark('exec');
    } catch (e) {
      throw e instanceof StepError ? startFailure(e, spec.command[0]!) : e;
    }
    // a container runs from that FROM-scratch DIR: `run rootfs DIR` may add programs to it from now
    // on (see ran-from.ts). Only now: a start that failed (its command not found in a dir that holds
    // no root filesystem, a project dir named by mistake) proves nothing, and noted it
    if (ranFromScratch) {
      try {
        noteRanFrom(rootfs);
      } catch {
        // (unwritable data dir: the container runs all the same; only that proof is missing)
      }
    }
    undo.commit();
    return { rec, child: c, ...(tty ? { tty } : {}) };
  } catch (e) {
    await undo.run();
    throw e;
  }
}

/**
 * The record as saved before anything is made: everything gc needs to undo
 * a run killed half-way (paths, the cgroup as resolved now, the host veth).
 */
function firstRecord(spec: ContainerSpec, c: { id: string; name: string; hostname: string; rootfs: string; hostVeth: string; cgroup: ContainerRecord['cgroup'] }): ContainerRecord {
  const { id } = c;
  return {
    id, name: c.name, status: 'creating', created: isoTime(), creatorPid: process.pid, creatorStart: startTime(process.pid),
    command: spec.command, rootfs: c.rootfs, layers: spec.layers,
    mountpoint: containerData(id, 'rootfs'), upper: containerData(id, 'upper'), work: containerData(id, 'work'),
    hostname: c.hostname, net: spec.net.mode === 'bridge' ? { mode: 'bridge', bridge: spec.net.bridge, hostVeth: c.hostVeth } : { mode: spec.net.mode },
    limits: spec.limits, ...(spec.volumes.length ? { volumes: spec.volumes.map(volumeString) } : {}), detach: spec.detach, autoRemove: spec.autoRemove,
    stopTimeout: spec.stopTimeout, cgroup: c.cgroup,
  };
}

/** Save the record under its name, or refuse: the name is another container's. */
async function reserveName(rec: ContainerRecord): Promise<void> {
  await locked(async () => {
    const old = load(rec.name);
    if (old) {
      // a --rm container that ended with nobody left to remove it (a -d one, or its run killed) holds
      // the name only until someone looks (ps, gc): docker would have removed it already
      // (an ended -d --rm one too while its keeper is at it: the keeper removes it only if its record is still there)
      if (!(old.autoRemove && (isGarbage(old) || (old.detach && old.status === 'running' && !isAlive(old))))) throw new BoxkitError('EEXIST', `container name '${rec.name}' is already in use`, { hint: `run rm ${rec.name}`, exitCode: EXIT.USAGE });
      await teardown(old);
    }
    save(rec);
  });
}

/**
 * The container's fds 0-2, or undefined to pass this process's own (-i)
 * or none (-t: the pty's). -d: its output to the log files (rec.logs).
 */
function containerStdio(spec: ContainerSpec, rec: ContainerRecord): [number, number, number] | undefined {
  if (spec.detach) {
    rec.logs = { stdout: containerData(rec.id, 'stdout.log'), stderr: containerData(rec.id, 'stderr.log') };
    return [openSync('/dev/null', 'r'), openSync(rec.logs.stdout, 'a', 0o640), openSync(rec.logs.stderr, 'a', 0o640)];
  }
  // as docker run without -i: the caller's stdin (a script's, a loop's) is not the container's to read
  if (!spec.interactive && !spec.tty) return [openSync('/dev/null', 'r'), 1, 2];
  return undefined;
}

/** A step the child reported failed before exec, as run reports it: the command's name or the setup step. */
function startFailure(e: StepError, command: string): BoxkitError {
  const what = e.stepName === 'exec' ? command : `container setup (${e.stepName}${e.object ? ` ${e.object}` : ''})`;
  return new BoxkitError(e.code, `${what}: ${e.message.replace(/^[^:]*: /, '')}`, { exitCode: execFailureStatus(e), cause: e, ...(e.hint ? { hint: e.hint } : {}) });
}

/**
 * /etc/hostname and /etc/hosts in the upper layer, so the container knows its
 * name. Written inside the root as the container sees it: a symlink of the
 * image's is replaced, never followed to a host file (see inroot.ts).
 */
function writeIdentity(root: string, hostname: string, ownNetns: boolean): void {
  try {
    writeInRoot(root, '/etc', 'hostname', `${hostname}\n`);
    writeInRoot(root, '/etc', 'hosts', `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`);
    const host = readIfThere('/etc/resolv.conf');
    if (host !== undefined) writeInRoot(root, '/etc', 'resolv.conf', resolvConf(host, ownNetns, readIfThere('/run/systemd/resolve/resolv.conf')));
  } catch {
    // a rootfs without a writable /etc: the container still runs
  }
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function addHost(root: string, ip: string, hostname: string): void {
  try {
    writeInRoot(root, '/etc', 'hosts', `${ip}\t${hostname}\n`, true);
  } catch {
    // no /etc: nothing to tell
  }
}
