import type { Group } from '@boxkit/cg';
import type { Limits } from '../container/spec.js';

/**
 * What `run` remembers about a container: enough to show it (ps, inspect),
 * to join it (exec), and to take every piece of it apart again (rm, gc),
 * even after the `run` that made it was killed half-way.
 */
export type Status = 'creating' | 'running' | 'exited';

export interface NetRecord {
  mode: 'none' | 'host' | 'bridge';
  bridge?: string;
  /** address with prefix, e.g. 10.10.15.2/24 */
  ip?: string;
  gateway?: string;
  hostVeth?: string;
  publish?: { hostPort: number; containerPort: number; proto: 'tcp' | 'udp'; hostIp?: string }[];
}

export interface ProcessRecord {
  /** the --env settings (the defaults PATH, HOSTNAME, HOME are made again from these) */
  env: Record<string, string>;
  workdir: string;
  uid: number;
  gid: number;
  groups: number[];
  home: string;
  privileged: boolean;
}

export interface ContainerRecord {
  id: string;
  name: string;
  status: Status;
  created: string;
  /** the `run` process that made it; a dead creator of a 'creating' record means a crashed run */
  creatorPid: number;
  /** its start time (clock ticks since boot): a pid reused since then is not the creator */
  creatorStart?: number;
  /** the container's PID 1 as seen from the host, and its start time (guards against pid reuse) */
  pid?: number;
  pidStart?: number;
  started?: string;
  finished?: string;
  exitCode?: number;
  command: string[];
  rootfs: string;
  layers: string[];
  mountpoint: string;
  upper: string;
  work: string;
  hostname: string;
  net: NetRecord;
  /** the cgroup as the cg library resolved it (a directory per hierarchy) */
  cgroup?: Group;
  /** the limits it was given (--cpus as quota/period, --memory in bytes, --pids), as inspect shows them */
  limits?: Limits;
  /** --volume, as given: HOST:CONTAINER[:ro] */
  volumes?: string[];
  /** how its command was started (--env, --user, --workdir, --privileged): `run exec` starts its commands the same way, as docker exec does */
  process?: ProcessRecord;
  detach: boolean;
  autoRemove: boolean;
  /** --stop-timeout: seconds `run stop` waits between SIGTERM and SIGKILL unless given --time (absent in older records: 10) */
  stopTimeout?: number;
  logs?: { stdout: string; stderr: string };
}

const STATUSES: readonly Status[] = ['creating', 'running', 'exited'];
const NET_MODES: readonly NetRecord['mode'][] = ['none', 'host', 'bridge'];
const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Is `v` a record run can act on, saved under `name`? Only the fields every
 * reader relies on (ps sorts by `created`, teardown takes the paths apart):
 * a file edited into something else is refused by name, not read half-way.
 */
export function isRecord(v: unknown, name: string): v is ContainerRecord {
  const r = v as Partial<ContainerRecord> | null;
  return typeof r === 'object' && r !== null && !Array.isArray(r)
    && r.name === name && typeof r.id === 'string' && /^[0-9a-f]{12}$/.test(r.id)
    && STATUSES.includes(r.status as Status) && typeof r.created === 'string' && typeof r.creatorPid === 'number'
    && strings(r.command) && strings(r.layers) && typeof r.rootfs === 'string' && typeof r.hostname === 'string'
    && typeof r.mountpoint === 'string' && typeof r.upper === 'string' && typeof r.work === 'string'
    && typeof r.net === 'object' && r.net !== null && NET_MODES.includes(r.net.mode)
    && typeof r.detach === 'boolean' && typeof r.autoRemove === 'boolean';
}
