/** `run [options] -- CMD`: create and start a container. */
import { availableParallelism } from 'node:os';
import type { CommonArgs } from '@boxkit/common';
import { UsageError } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';
import { validateSeconds } from '@boxkit/common/validate';
import { parseLimits, parsePids } from '@boxkit/cg';
import { isLocalAddress } from '@boxkit/netsetup';
import { checkVolumes, parseVolume } from '../container/volumes.js';
import { parseCidr, parseEnv, parseNet, parsePublish, parseSize, checkHostname, type ContainerSpec } from '../container/spec.js';

export interface RunArgs extends CommonArgs {
  cmd?: string[];
  name?: string;
  rootfs?: string;
  image?: string;
  layer?: string[];
  volume?: string[];
  hostname?: string;
  net: string;
  ip?: string;
  publish?: string[];
  cpus?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  memory?: string;
  pids?: number;
  env?: string[];
  workdir: string;
  user?: string;
  readOnly: boolean;
  cgroupParent: string;
  detach: boolean;
  rm: boolean;
  interactive: boolean;
  tty: boolean;
  init: boolean;
  privileged: boolean;
  stopTimeout: number;
}

/**
 * Flags -> spec; every check happens here, before anything changes. `hostIpsChecked`: the -p
 * host addresses were checked already (by the `run -d` that hands its arguments to its keeper).
 */
export function toSpec(a: RunArgs, hostIpsChecked = false): ContainerSpec {
  const command = [...(a.cmd ?? []), ...(a['--'] ?? [])].map(String);
  if (!command.length) throw new UsageError('no command given', "put it after '--': run -- sh -c 'echo hi'");
  const net = parseNet(a.net);
  if (a.ip !== undefined && net.mode !== 'bridge') throw new UsageError('--ip needs --net bridge');
  // a bare address (docker's --ip 10.88.0.5) takes the bridge's prefix when the network is set up
  if (a.ip !== undefined && a.ip !== 'auto') {
    try {
      parseCidr(a.ip.includes('/') ? a.ip : `${a.ip}/32`);
    } catch {
      throw new UsageError(`invalid address '${a.ip}'`, "use an IPv4 address (10.88.0.5: the bridge's prefix), a CIDR (10.10.15.2/24), or auto");
    }
  }
  // one host port to two container ports (-p 8080:80 -p 8080:81) is bad input: refused here, before
  // anything is made (netsetup refused the second after the bridge was made and the first published,
  // hinting to remove the first one's rule by hand). As netsetup judges it: the same address, or one
  // of them every address; one port on two addresses is fine, and the same mapping twice is one
  const publish: ReturnType<typeof parsePublish>[] = [];
  for (const given of a.publish ?? []) {
    const p = parsePublish(given);
    // a host address that is not this host's (netsetup publish refuses it: its DNAT rule would never
    // match) is refused here with the rest, before anything is made: it was refused only once the
    // container, its cgroup and veth were made (then undone), and --dry-run printed the refused line
    if (p.hostIp && net.mode === 'bridge' && !hostIpsChecked && !isLocalAddress(p.hostIp)) {
      throw new UsageError(`--publish ${given}: host address ${p.hostIp} is not an address of this host`, 'publish on one of its addresses (ip -4 addr), or on every address: no IP, or 0.0.0.0');
    }
    const clash = p.hostPort ? publish.find((q) => q.hostPort === p.hostPort && q.proto === p.proto && (!q.hostIp || !p.hostIp || q.hostIp === p.hostIp)) : undefined;
    if (!clash) publish.push(p);
    else if (clash.containerPort !== p.containerPort || clash.hostIp !== p.hostIp) {
      throw new UsageError(`--publish ${given}: host port ${p.hostPort}/${p.proto}${p.hostIp ? ` on ${p.hostIp}` : ''} is published twice`, 'a host port goes to one container port: give another host port, or the container port alone for any free one');
    }
  }
  const volumes = (a.volume ?? []).map(parseVolume);
  checkVolumes(volumes);
  if (publish.length && net.mode !== 'bridge') throw new UsageError('--publish needs --net bridge');
  // cg's reading of --cpus, --cpu-quota and --cpu-period: one converter, the same refusals in the same words
  const cpu = parseLimits({ cpus: a.cpus, cpuQuota: a.cpuQuota, cpuPeriod: a.cpuPeriod });
  // docker's bounds, which cg (as cgset) leaves to the user: more CPUs than this process may use
  // is no limit at all, and under 6M a container is killed at its start
  const cores = availableParallelism();
  if (a.cpus !== undefined && a.cpus > cores) throw new UsageError(`--cpus ${a.cpus}: only ${cores} CPU${cores > 1 ? 's are' : ' is'} available`, `give 0.01 to ${cores}`);
  const period = cpu.cpuPeriod;
  // --cpu-quota -1 (or max): no quota, as docker
  const cpuQuota = cpu.cpuQuota === 'max' ? undefined : cpu.cpuQuota;
  // cg's reading: 1..4194304 (PID_MAX_LIMIT), 0 refused with the reason (the kernel takes it literally, docker as no limit)
  const pids = a.pids === undefined ? undefined : parsePids('--pids', a.pids);
  if (a.detach && a.tty) throw new UsageError('-d with -t is not supported', 'a detached container has no terminal to relay; use -d alone and run logs');
  if (a.rootfs !== undefined && a.image !== undefined) throw new UsageError('--rootfs and --image are alternatives: give one');
  if (!a.workdir.startsWith('/')) throw new UsageError(`--workdir '${a.workdir}' must be absolute`);
  return {
    ...(a.name !== undefined ? { name: a.name } : {}),
    ...(a.rootfs !== undefined ? { rootfs: a.rootfs } : {}),
    ...(a.image !== undefined ? { image: a.image } : {}),
    layers: a.layer ?? [],
    volumes,
    ...(a.hostname !== undefined ? { hostname: checkHostname(a.hostname) } : {}),
    net,
    ...(a.ip !== undefined ? { ip: a.ip } : {}),
    publish,
    // (found local above, or told so: the publish at the start does not ask again)
    hostIpsChecked: true,
    limits: {
      ...(cpuQuota !== undefined ? { cpuQuota, cpuPeriod: period ?? 100_000 } : period !== undefined ? { cpuPeriod: period } : {}),
      ...(a.memory !== undefined ? { memory: minimumMemory(parseSize(a.memory), a.memory) } : {}),
      ...(typeof pids === 'number' ? { pids } : {}),
    },
    env: parseEnv(a.env ?? []),
    workdir: a.workdir,
    ...(a.user !== undefined ? { user: a.user } : {}),
    readOnly: a.readOnly,
    cgroupParent: a.cgroupParent,
    detach: a.detach,
    autoRemove: a.rm,
    interactive: a.interactive,
    tty: a.tty,
    init: a.init,
    privileged: a.privileged,
    stopTimeout: validateSeconds('--stop-timeout', a.stopTimeout),
    command,
  };
}

export async function runContainer(a: RunArgs): Promise<number> {
  const spec = toSpec(a);
  if (a.dryRun) {
    const { pipeline } = await import('../container/pipeline.js');
    // with --json: one document, the pipeline as its commands
    const d = dryRunOutput(a);
    for (const l of await pipeline(spec)) d.print(l);
    d.done();
    return 0;
  }
  if (spec.detach) {
    // started by a keeper that stays its parent, to record how it ends (see keeper.ts)
    const { startKept } = await import('../container/keeper.js');
    // (the -p host addresses are checked: toSpec above; the keeper is told so)
    return startKept(a);
  }
  const { startContainer } = await import('../container/create.js');
  // caught before the start: the container may run (and be signalled) before startContainer returns
  const { catchRunSignals, stopBeforeStart, waitForeground } = await import('../container/lifecycle.js');
  const caught = catchRunSignals(spec.stopTimeout);
  // until the command runs, a Ctrl-C or kill stops the start instead (undone, 128+N)
  const stop = stopBeforeStart();
  let started;
  try {
    started = await startContainer(spec, { verbose: a.verbose, signal: stop.signal });
  } catch (e) {
    caught.release();
    throw e;
  } finally {
    stop.release();
  }
  const { rec, child, tty } = started;
  if (tty) {
    const { relay } = await import('../container/tty.js');
    relay(tty, child.wait());
  }
  return waitForeground(rec, child, spec.stopTimeout, caught);
}

/** docker's minimum --memory: below it the runtime's own start does not fit and the container dies (137) before its command runs. */
const MIN_MEMORY = 6 * 1024 * 1024;
function minimumMemory(bytes: number | 'max', typed: string): number | 'max' {
  if (bytes !== 'max' && bytes < MIN_MEMORY) throw new UsageError(`--memory ${typed}: below the minimum of 6M`, 'as docker: a container under 6M is killed before its command runs');
  return bytes;
}
