/**
 * uid/gid maps: parsing `inner:outer:count`, the maps each flag means, and
 * writing them for a held child. Root writes /proc/PID/{uid,gid}_map itself;
 * an unprivileged user may write only a single line mapping its own id (and
 * must deny setgroups first, user_namespaces(7)); other ranges go through
 * the setuid helpers newuidmap/newgidmap, which check /etc/subuid.
 */
import { writeFileSync } from 'node:fs';
import { UsageError } from '@boxkit/common/errors';
import { runLite } from '@boxkit/common/exec';
import type { IdRange } from './spec.js';

const MAX_ID = 0xfffffffe; // (uid_t)-1 is never valid
const MAX_LINES = 340; // the kernel's limit per map since 4.15

/** Parse `inner:outer:count` (also `inner,outer,count`). */
export function parseRange(kind: 'uid' | 'gid', text: string): IdRange {
  const m = /^(\d{1,10})[:,](\d{1,10})[:,](\d{1,10})$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid ${kind} map range '${text}'`, 'use inner:outer:count, e.g. 0:100000:65536');
  const [inner, outer, count] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (count < 1 || inner + count - 1 > MAX_ID || outer + count - 1 > MAX_ID) {
    throw new UsageError(`invalid ${kind} map range '${text}'`, `count must be at least 1 and ids at most ${MAX_ID}`);
  }
  return { inner, outer, count };
}

/** Reject overlapping ranges (the kernel does too, with a less helpful EINVAL). */
export function checkRanges(kind: 'uid' | 'gid', ranges: IdRange[]): IdRange[] {
  if (ranges.length > MAX_LINES) throw new UsageError(`too many ${kind} map ranges (${ranges.length} > ${MAX_LINES})`);
  for (const side of ['inner', 'outer'] as const) {
    const sorted = [...ranges].sort((a, b) => a[side] - b[side]);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!, cur = sorted[i]!;
      if (prev[side] + prev.count > cur[side]) {
        throw new UsageError(`overlapping ${kind} map ranges (${side} ids ${cur[side]}..${prev[side] + prev.count - 1})`);
      }
    }
  }
  return ranges;
}

export interface MapFlags {
  mapRootUser?: boolean;
  mapCurrentUser?: boolean;
  mapUser?: number;
  mapGroup?: number;
  mapUsers?: string[];
  mapGroups?: string[];
}

/** The uid and gid maps the map flags ask for, given the caller's ids. */
export function mapsFromFlags(f: MapFlags, uid: number, gid: number): { uidMap?: IdRange[]; gidMap?: IdRange[] } {
  const innerUid = f.mapRootUser ? 0 : f.mapUser ?? (f.mapCurrentUser ? uid : undefined);
  const innerGid = f.mapRootUser ? 0 : f.mapGroup ?? (f.mapCurrentUser ? gid : undefined);
  const uidMap = [
    ...(innerUid !== undefined ? [{ inner: innerUid, outer: uid, count: 1 }] : []),
    ...(f.mapUsers ?? []).map((r) => parseRange('uid', r)),
  ];
  const gidMap = [
    ...(innerGid !== undefined ? [{ inner: innerGid, outer: gid, count: 1 }] : []),
    ...(f.mapGroups ?? []).map((r) => parseRange('gid', r)),
  ];
  return {
    ...(uidMap.length ? { uidMap: checkRanges('uid', uidMap) } : {}),
    ...(gidMap.length ? { gidMap: checkRanges('gid', gidMap) } : {}),
  };
}

export const mapText = (ranges: IdRange[]): string => ranges.map((r) => `${r.inner} ${r.outer} ${r.count}\n`).join('');

/** How a map gets written: directly, or by a setuid helper for an unprivileged caller. */
export type MapWriter = 'direct' | 'newuidmap';

export function mapWriter(ranges: IdRange[], ownId: number, euid: number): MapWriter {
  if (euid === 0) return 'direct';
  const only = ranges.length === 1 ? ranges[0]! : undefined;
  return only && only.count === 1 && only.outer === ownId ? 'direct' : 'newuidmap';
}

/** The shell lines that write the maps for child PID (for --dry-run and -v). */
export function describeMaps(pid: string, uidMap: IdRange[] | undefined, gidMap: IdRange[] | undefined, uid: number, gid: number, euid: number): string[] {
  const lines: string[] = [];
  const one = (file: 'uid_map' | 'gid_map', ranges: IdRange[], own: number) => {
    if (mapWriter(ranges, own, euid) === 'direct') {
      if (file === 'gid_map' && euid !== 0) lines.push(`echo deny > /proc/${pid}/setgroups`);
      lines.push(ranges.length === 1
        ? `echo '${mapText(ranges).trim()}' > /proc/${pid}/${file}`
        : `printf '${mapText(ranges).replace(/\n/g, '\\n')}' > /proc/${pid}/${file}`);
    } else {
      const tool = file === 'uid_map' ? 'newuidmap' : 'newgidmap';
      lines.push(`${tool} ${pid} ${ranges.map((r) => `${r.inner} ${r.outer} ${r.count}`).join(' ')}`);
    }
  };
  if (uidMap) one('uid_map', uidMap, uid);
  if (gidMap) one('gid_map', gidMap, gid);
  return lines;
}

/** Write the maps of a child held before its first step. */
export async function writeMaps(pid: number, uidMap: IdRange[] | undefined, gidMap: IdRange[] | undefined): Promise<void> {
  const euid = process.geteuid!(), uid = process.getuid!(), gid = process.getgid!();
  const write = async (file: 'uid_map' | 'gid_map', ranges: IdRange[], own: number) => {
    if (mapWriter(ranges, own, euid) === 'direct') {
      if (file === 'gid_map' && euid !== 0) writeFileSync(`/proc/${pid}/setgroups`, 'deny');
      writeFileSync(`/proc/${pid}/${file}`, mapText(ranges));
      return;
    }
    const args = [String(pid), ...ranges.flatMap((r) => [String(r.inner), String(r.outer), String(r.count)])];
    await runLite(file === 'uid_map' ? 'newuidmap' : 'newgidmap', args);
  };
  if (uidMap) await write('uid_map', uidMap, uid);
  if (gidMap) await write('gid_map', gidMap, gid);
}
