/**
 * THE table: every user-facing setting with its controller and the file (and
 * value format) it is written to on cgroup v1 and on v2. Sources:
 * Documentation/admin-guide/cgroup-v2.rst, crun(1) "CGROUP v2", runc's fs/fs2,
 * libcgroup's abstraction map (see /work/shared/notes/cgroups.md).
 */
import type { Controller } from './layout.js';
import { DEFAULT_PERIOD_US, type Limit } from './values.js';

export interface IoLimit {
  device: string;
  rbps?: Limit;
  wbps?: Limit;
  riops?: Limit;
  wiops?: Limit;
}

/** Limits in user terms (docker's flag names); every field optional. */
export interface Limits {
  cpuQuota?: Limit;
  cpuPeriod?: number;
  /** v2 cpu.weight 1..10000 */
  cpuWeight?: number;
  /** v1 cpu.shares 2..262144 */
  cpuShares?: number;
  memory?: Limit;
  /** memory + swap, as docker's --memory-swap */
  memorySwap?: Limit;
  memoryHigh?: Limit;
  pids?: Limit;
  cpusetCpus?: string;
  cpusetMems?: string;
  io?: IoLimit[];
  ioWeight?: number;
  devicesDeny?: string[];
  devicesAllow?: string[];
}

/** One write: a value (or several lines, written one write() each) into a file of a controller's directory. */
export interface Write {
  controller: Controller;
  file: string;
  values: string[];
  /** which setting asked for it (for errors) */
  setting: keyof Limits;
}

type Render = (l: Limits) => string[];
interface FileSpec {
  file: string;
  render: Render;
}
/** Not a file: an eBPF program attached to the group (v2 device rules, drivers/devices-v2.ts). */
interface ProgramSpec {
  program: 'devices';
}
export interface SettingSpec {
  controller: Controller;
  /** settings of one controller are written in table order (period before quota, memory before memsw) */
  v1: FileSpec;
  v2: FileSpec | ProgramSpec;
}

const one = (s: string | number): string[] => [String(s)];
const lim = (v: Limit | undefined): string => (v === undefined ? 'max' : String(v));
const v1lim = (v: Limit): string => (v === 'max' ? '-1' : String(v));

/** systemd's CPUShares<->CPUWeight rule (linear through the defaults 1024 <-> 100), clamped to each range. */
export const weightToShares = (w: number): number => Math.min(262144, Math.max(2, Math.round((w * 1024) / 100)));
/**
 * shares -> weight as runc >= 1.3.2 and crun >= 1.23 convert it (maps 2, 1024
 * and 262144 to 1, 100 and 10000; the older linear rule gave 1024 -> 39).
 */
export function sharesToWeight(s: number): number {
  if (s <= 2) return 1;
  if (s >= 262144) return 10000;
  const l = Math.log2(s);
  return Math.min(10000, Math.max(1, Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34))));
}

function ioMax(l: Limits): string[] {
  return (l.io ?? []).map((d) => {
    const parts = [['rbps', d.rbps], ['wbps', d.wbps], ['riops', d.riops], ['wiops', d.wiops]] as const;
    return `${d.device} ${parts.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${lim(v)}`).join(' ')}`;
  });
}
const blkio = (k: keyof IoLimit): Render => (l) =>
  (l.io ?? []).filter((d) => d[k] !== undefined).map((d) => `${d.device} ${d[k] === 'max' ? 0 : d[k]}`);

/** Keyed by setting; order matters within a controller (see SettingSpec). */
export const SETTINGS: Record<keyof Limits, SettingSpec> = {
  cpuPeriod: {
    controller: 'cpu',
    v1: { file: 'cpu.cfs_period_us', render: (l) => one(l.cpuPeriod!) },
    // cpu.max holds both numbers; it is written once, by cpuQuota
    v2: { file: 'cpu.max', render: (l) => (l.cpuQuota === undefined ? [`max ${l.cpuPeriod}`] : []) },
  },
  cpuQuota: {
    controller: 'cpu',
    v1: { file: 'cpu.cfs_quota_us', render: (l) => one(v1lim(l.cpuQuota!)) },
    v2: { file: 'cpu.max', render: (l) => [`${lim(l.cpuQuota)} ${l.cpuPeriod ?? DEFAULT_PERIOD_US}`] },
  },
  cpuShares: {
    controller: 'cpu',
    v1: { file: 'cpu.shares', render: (l) => one(l.cpuShares!) },
    v2: { file: 'cpu.weight', render: (l) => one(sharesToWeight(l.cpuShares!)) },
  },
  cpuWeight: {
    controller: 'cpu',
    v1: { file: 'cpu.shares', render: (l) => one(weightToShares(l.cpuWeight!)) },
    v2: { file: 'cpu.weight', render: (l) => one(l.cpuWeight!) },
  },
  // cpuset: v1 needs cpus and mems set before any task can join (ENOSPC otherwise)
  cpusetCpus: {
    controller: 'cpuset',
    v1: { file: 'cpuset.cpus', render: (l) => one(l.cpusetCpus!) },
    v2: { file: 'cpuset.cpus', render: (l) => one(l.cpusetCpus!) },
  },
  cpusetMems: {
    controller: 'cpuset',
    v1: { file: 'cpuset.mems', render: (l) => one(l.cpusetMems!) },
    v2: { file: 'cpuset.mems', render: (l) => one(l.cpusetMems!) },
  },
  memory: {
    controller: 'memory',
    v1: { file: 'memory.limit_in_bytes', render: (l) => one(v1lim(l.memory!)) },
    v2: { file: 'memory.max', render: (l) => one(lim(l.memory)) },
  },
  memorySwap: {
    controller: 'memory',
    // v1 limits memory+swap together; v2 limits swap alone (runc: swap.max = memsw - mem)
    v1: { file: 'memory.memsw.limit_in_bytes', render: (l) => one(v1lim(l.memorySwap!)) },
    v2: {
      file: 'memory.swap.max',
      render: (l) => one(l.memorySwap === 'max' || l.memory === undefined || l.memory === 'max' ? 'max' : l.memorySwap! - l.memory),
    },
  },
  memoryHigh: {
    controller: 'memory',
    v1: { file: 'memory.soft_limit_in_bytes', render: (l) => one(v1lim(l.memoryHigh!)) },
    v2: { file: 'memory.high', render: (l) => one(lim(l.memoryHigh)) },
  },
  pids: {
    controller: 'pids',
    v1: { file: 'pids.max', render: (l) => one(lim(l.pids)) },
    v2: { file: 'pids.max', render: (l) => one(lim(l.pids)) },
  },
  io: {
    controller: 'io',
    v1: { file: 'blkio.throttle.read_bps_device', render: blkio('rbps') },
    v2: { file: 'io.max', render: ioMax },
  },
  ioWeight: {
    controller: 'io',
    v1: { file: 'blkio.weight', render: (l) => one(l.ioWeight!) },
    // crun/runc: io.weight = 1 + (blkio - 10) * 9999 / 990
    v2: { file: 'io.weight', render: (l) => [`default ${1 + Math.round(((l.ioWeight! - 10) * 9999) / 990)}`] },
  },
  devicesDeny: {
    controller: 'devices',
    v1: { file: 'devices.deny', render: (l) => l.devicesDeny! },
    v2: { program: 'devices' },
  },
  devicesAllow: {
    controller: 'devices',
    v1: { file: 'devices.allow', render: (l) => l.devicesAllow! },
    v2: { program: 'devices' },
  },
};

/** The other three v1 blkio throttle files (one v2 io.max line carries all four). */
export const BLKIO_EXTRA: [keyof IoLimit, string][] = [
  ['wbps', 'blkio.throttle.write_bps_device'],
  ['riops', 'blkio.throttle.read_iops_device'],
  ['wiops', 'blkio.throttle.write_iops_device'],
];

/** The writes that carry `limits` on a hierarchy of the given version, in a safe order. */
export function writesFor(limits: Limits, versionOf: (c: Controller) => 1 | 2 | undefined): Write[] {
  const out: Write[] = [];
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof Limits, SettingSpec][]) {
    if (limits[key] === undefined) continue;
    const version = versionOf(spec.controller);
    if (version === undefined) continue; // checked by the caller, which knows the layout
    const f = version === 1 ? spec.v1 : spec.v2;
    if (!('file' in f)) continue;
    const values = f.render(limits);
    if (values.length) out.push({ controller: spec.controller, file: f.file, values, setting: key });
    if (key === 'io' && version === 1) {
      for (const [k, file] of BLKIO_EXTRA) {
        const r = blkio(k)(limits);
        if (r.length) out.push({ controller: 'io', file, values: r, setting: 'io' });
      }
    }
  }
  return out;
}

/** The controllers a set of limits needs. */
export function controllersFor(limits: Limits): Controller[] {
  const set = new Set<Controller>();
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof Limits, SettingSpec][]) if (limits[key] !== undefined) set.add(spec.controller);
  return [...set];
}
