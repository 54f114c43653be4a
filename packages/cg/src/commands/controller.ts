/**
 * Per-controller commands as users write them (`cg cpu --quota 50000`):
 * flags -> Limits, then the same plan as `cg set`, but the group is made
 * only in the hierarchies of that controller (cpu also makes cpuacct, so
 * usage can be read), so --dry-run shows the article's two lines.
 */
import { stat } from 'node:fs/promises';
import { UsageError } from '@boxkit/common';
import { parseLimits } from '../limits.js';
import { planCreate } from '../create.js';
import type { Controller } from '../layout.js';
import type { IoLimit, Limits } from '../settings.js';
import { parseDevice, parseDeviceRule, parseIntIn, parseMemoryLimit, parsePids, parseRate, parseSize, type Limit } from '../values.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';
import { cgLine } from '../group.js';

type Flags = Record<string, string | string[] | undefined>;
type Kind = 'cpu' | 'memory' | 'pids' | 'cpuset' | 'io' | 'devices';

const addSwap = (mem: Limit | undefined, swap: Limit): Limit => {
  if (mem === undefined) throw new UsageError('--swap needs --max', 'swap is allowed on top of the memory limit');
  return swap === 'max' || mem === 'max' ? 'max' : mem + swap;
};

async function deviceNumber(dev: string): Promise<string> {
  if (!dev.startsWith('/')) return parseDevice(dev);
  try {
    const st = await stat(dev);
    if (!st.isBlockDevice()) throw new UsageError(`${dev} is not a block device`);
    return `${Math.floor(st.rdev / 256) & 0xfff}:${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`no such device ${dev}`);
  }
}

/** Each controller: its flags -> Limits, and the hierarchies its group needs. */
const KINDS: Record<Kind, { controllers: Controller[]; limits: (f: Flags) => Limits | Promise<Limits> }> = {
  cpu: {
    controllers: ['cpu', 'cpuacct'],
    limits: (f) => parseLimits({ cpuQuota: f.quota as string, cpuPeriod: f.period as string, cpus: f.cpus as string, cpuShares: f.shares as string, cpuWeight: f.weight as string }),
  },
  memory: {
    controllers: ['memory'],
    limits: (f) => {
      const l: Limits = {};
      if (f.max !== undefined) l.memory = parseMemoryLimit('memory limit', f.max as string);
      // swap on top of the limit: 0 is a real value here (no swap)
      if (f.swap !== undefined) l.memorySwap = addSwap(l.memory, parseSize('swap limit', f.swap as string));
      if (f.high !== undefined) l.memoryHigh = parseMemoryLimit('memory high', f.high as string);
      return l;
    },
  },
  pids: { controllers: ['pids'], limits: (f) => (f.max !== undefined ? { pids: parsePids('pids limit', f.max as string) } : {}) },
  cpuset: { controllers: ['cpuset'], limits: (f) => parseLimits({ cpusetCpus: f.cpus as string, cpusetMems: f.mems as string }) },
  io: {
    controllers: ['io'],
    limits: async (f) => {
      const l: Limits = {};
      if (f.weight !== undefined) l.ioWeight = parseIntIn('io weight', f.weight as string, 10, 1000);
      // yargs hands the flags over camel-cased (strip-dashed)
      const rates = (['readBps', 'writeBps', 'readIops', 'writeIops'] as const).filter((k) => f[k] !== undefined);
      if (rates.length && f.device === undefined) throw new UsageError('--read-bps/--write-bps/--read-iops/--write-iops need --device');
      if (f.device !== undefined) {
        if (!rates.length) throw new UsageError('--device needs a rate (--read-bps, --write-bps, --read-iops or --write-iops)');
        const d: IoLimit = { device: await deviceNumber(f.device as string) };
        const key = { readBps: 'rbps', writeBps: 'wbps', readIops: 'riops', writeIops: 'wiops' } as const;
        for (const k of rates) d[key[k]] = parseRate(`${key[k]} rate`, f[k] as string, k.endsWith('Bps') ? 'bytes' : 'ops');
        l.io = [d];
      }
      return l;
    },
  },
  devices: {
    controllers: ['devices'],
    limits: (f) => {
      const l: Limits = {};
      if (f.deny?.length) l.devicesDeny = (f.deny as string[]).map(parseDeviceRule);
      if (f.allow?.length) l.devicesAllow = (f.allow as string[]).map(parseDeviceRule);
      return l;
    },
  },
};

export async function runController(kind: Kind, a: GroupArgs & Flags): Promise<number> {
  const k = KINDS[kind];
  const limits = await k.limits(a as Flags);
  // no limit to set: it would only make the group (a look at its limits is `cg show`)
  if (!Object.keys(limits).length) {
    throw new UsageError(`${kind}: no limit given`, `see 'cg ${kind} --help' for its flags; to read the group's limits: ${cgLine(['show', a.group], a.parent)}`);
  }
  const g = groupFrom(a, k.controllers);
  await apply(a, planCreate(g, limits, { mode: 'set' }));
  reportGroup(a, g, 'set', { limits });
  return 0;
}
