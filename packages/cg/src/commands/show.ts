/** cg show (limits read back + usage) and cg stats [--watch]. */
import { BoxkitError, printJson, printLines, report } from '@boxkit/common';
import { existsSync } from 'node:fs';
import { writeAll } from '@boxkit/common/stdio';
import { join } from 'node:path';
import { SETTINGS, BLKIO_EXTRA, type Limits } from '../settings.js';
import { versionOf, type Group } from '../group.js';
import { cpuCores, groupStats, type GroupStats } from '../stats.js';
import { groupPids } from '../membership.js';
import { readValue } from '../steps.js';
import { formatPolicy } from '../devices.js';
import { recordedPolicy } from '../drivers/devices-v2.js';
import { formatSize } from '../values.js';
import { groupFrom, groupJson, type GroupArgs } from './common.js';

function mustExist(g: Group): void {
  if (!g.dirs.some((d) => existsSync(d.path))) {
    throw new BoxkitError('ENOENT', `group ${g.name} does not exist (${g.dirs[0]!.path})`, { hint: "see 'cg ls' (and --parent)" });
  }
}

/** Every table file the group has, as the kernel reads it back. */
export function readLimits(g: Group): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of Object.values(SETTINGS)) {
    const v = versionOf(g, spec.controller);
    const f = v === 1 ? spec.v1 : v === 2 ? spec.v2 : undefined;
    if (!f || !('file' in f)) continue;
    const files = f.file === 'blkio.throttle.read_bps_device' ? [f.file, ...BLKIO_EXTRA.map(([, x]) => x)] : [f.file];
    for (const file of files) {
      if (file.startsWith('devices.')) continue; // write-only; devices.list is the readable form
      const val = readValue(join(g.paths[spec.controller]!, file));
      if (val !== undefined) out[file] = val.replace(/\n/g, '; ');
    }
  }
  // device rules: v1 reads them back from devices.list, v2 from what boxkit recorded with its program
  // (a v2 group with no record has no rules of its own: its parents' still apply, so nothing is shown)
  const dev = g.paths.devices;
  const v1 = versionOf(g, 'devices') === 1;
  const recorded = dev && !v1 && existsSync(dev) ? recordedPolicy(dev) : undefined;
  const val = !dev ? undefined : v1 ? readValue(join(dev, 'devices.list')) : recorded && formatPolicy(recorded);
  if (val !== undefined) out[v1 ? 'devices.list' : 'devices'] = val.replace(/\n/g, '; ');
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (n: number | undefined) => (n === undefined ? '-' : formatSize(n - (n % 1024)).replace(/^(\d+)$/, '$1B'));

function statLine(s: GroupStats, cores: number | undefined): string {
  const parts = [
    `cpu ${cores === undefined ? '-' : `${(cores * 100).toFixed(1)}%`} (${((s.cpu?.usageUsec ?? 0) / 1e6).toFixed(2)}s, throttled ${s.cpu?.nrThrottled ?? '-'}/${s.cpu?.nrPeriods ?? '-'})`,
    `mem ${mb(s.memory?.current)} peak ${mb(s.memory?.peak)} failcnt ${s.memory?.failcnt ?? '-'} oom_kill ${s.memory?.oomKills ?? '-'}`,
    `pids ${s.pids?.current ?? '-'}/${s.pids?.max ?? '-'}`,
  ];
  if (s.frozen) parts.push('FROZEN');
  return parts.join('  ');
}

export function runShow(a: GroupArgs): number {
  const g = groupFrom(a);
  mustExist(g);
  const limits = readLimits(g);
  const stats = groupStats(g);
  const pids = groupPids(g);
  report(a, { ...groupJson(g), limits, stats, pids }, () => [
    `group ${g.name}`,
    ...g.dirs.map((d) => `  path     ${d.path} (v${d.version}: ${d.controllers.join(',')})`),
    ...Object.entries(limits).map(([k, v]) => `  ${k.padEnd(32)} ${v}`),
    `  usage    ${statLine(stats, undefined)}`,
    `  pids     ${pids.join(' ') || '-'}`,
  ]);
  return 0;
}

export async function runStats(a: GroupArgs & { watch?: boolean; interval: number; count?: number }): Promise<number> {
  const g = groupFrom(a);
  mustExist(g);
  const ms = Math.max(50, Math.round((a.interval ?? 1) * 1000));
  let prev = groupStats(g);
  let t0 = Date.now();
  for (let n = 0; ; n++) {
    await sleep(ms);
    const cur = groupStats(g);
    // removed meanwhile (cg rm, rmdir): its readings would be dashes from now on, and --watch printed them forever
    if (!g.dirs.some((d) => existsSync(d.path))) {
      throw new BoxkitError('ENOENT', `group ${g.name} was removed (${g.dirs[0]!.path})`, { hint: "see 'cg ls' (and --parent)" });
    }
    const t1 = Date.now();
    const cores = cpuCores(prev, cur, t1 - t0);
    const doc = { ...groupJson(g), time: new Date(t1).toISOString(), stats: cur, cpuCores: cores, cpuPercent: cores === undefined ? undefined : cores * 100 };
    if (!a.watch) {
      if (a.json) printJson(doc);
      else printLines([statLine(cur, cores)]);
      break;
    }
    // one JSON line per reading; the reader gone (`| head -2`), --watch ends (it went on forever)
    if (!writeAll(1, `${a.json ? JSON.stringify(doc) : `${new Date(t1).toISOString().slice(11, 19)}  ${statLine(cur, cores)}`}\n`)) break;
    if (a.count !== undefined && n + 1 >= a.count) break;
    prev = cur;
    t0 = t1;
  }
  return 0;
}
export type { Limits };
