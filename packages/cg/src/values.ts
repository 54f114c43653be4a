/**
 * Parsing the values users type (sizes, microseconds, CPU counts, CPU lists,
 * devices). Every parser throws UsageError (exit 2) so bad input is rejected
 * before anything is written to a cgroup file.
 */
import { UsageError } from '@boxkit/common';

/** `max` (no limit) or a number; kernel files take both. */
export type Limit = number | 'max';

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** 64M, 1G, 512K, 1048576, max (also -1 and `infinity`, as docker and systemd accept). Base 1024. */
export function parseSize(what: string, value: string | number): Limit {
  const s = String(value).trim();
  if (/^(max|-1|infinity|unlimited)$/i.test(s)) return 'max';
  const m = /^(\d+(?:\.\d+)?)\s*([BKMGT]?)(?:i?B)?$/i.exec(s);
  if (!m) throw new UsageError(`invalid ${what} '${s}'`, "use a size like 512K, 64M, 1G, a number of bytes, or 'max'");
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`invalid ${what} '${s}': too large`);
  return bytes;
}

/** The smallest memory limit the kernel can honour: it counts in pages and rounds a limit down to one. */
export const PAGE_BYTES = 4096;
const NO_LIMIT_HINT = "for no limit use 'max' (or -1)";

/**
 * A memory limit (hard, high, or memory+swap): a size of at least one page,
 * or max. 0 is refused: docker reads it as no limit, while the kernel takes
 * it literally (every charge fails: the group's processes are OOM-killed at
 * once on v1 and v2), so either reading would surprise half of the users.
 */
export function parseMemoryLimit(what: string, value: string | number): Limit {
  const v = parseSize(what, value);
  const s = String(value).trim();
  if (v === 0) throw new UsageError(`invalid ${what} '${s}': the kernel takes 0 literally (no memory at all: every process OOM-killed), not as no limit`, NO_LIMIT_HINT);
  if (v !== 'max' && v < PAGE_BYTES) {
    throw new UsageError(`invalid ${what} '${s}': below one page (${PAGE_BYTES} bytes), which the kernel rounds down to 0`, `use a size like 64M; ${NO_LIMIT_HINT}`);
  }
  return v;
}

/** A whole number within [min, max]. */
export function parseIntIn(what: string, value: string | number, min: number, max: number): number {
  const s = String(value).trim();
  const n = /^-?\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`invalid ${what} '${s}'`, `use a whole number from ${min} to ${max}`);
  }
  return n;
}

/** The kernel's PID_MAX_LIMIT: pids.max refuses more. */
export const PIDS_MAX = 4194304;

/**
 * pids.max: 1..4194304 or max. The kernel accepts 0 (no process of the group
 * may fork, on v1 and v2 alike), but docker's --pids-limit 0 means no limit:
 * refused, as a memory limit of 0 is, rather than guessed.
 */
export function parsePids(what: string, value: string | number): Limit {
  const s = String(value).trim();
  if (/^(max|-1|unlimited)$/i.test(s)) return 'max';
  if (/^0+$/.test(s)) {
    throw new UsageError(`invalid ${what} '${s}': the kernel takes 0 literally (no process may fork), not as no limit`, `${NO_LIMIT_HINT}; 1 keeps a group of one process from forking`);
  }
  return parseIntIn(what, s, 1, PIDS_MAX);
}

/**
 * An I/O rate (bytes/s with a unit, or I/O operations/s) or max. 0 and 1
 * are refused: v1's blkio.throttle files take 0 as "no limit" (and 1 as 1),
 * v2's io.max refuses both (ERANGE, EINVAL), so neither means the same on
 * both. iops above 2^32-1 are what both kernels clamp to.
 */
export function parseRate(what: string, value: string | number, unit: 'bytes' | 'ops'): Limit {
  const s = String(value).trim();
  const v = unit === 'bytes' ? parseSize(what, s) : /^(max|-1|unlimited)$/i.test(s) ? 'max' : parseIntIn(what, s, 0, 2 ** 32 - 1);
  if (v !== 'max' && v < 2) {
    throw new UsageError(`invalid ${what} '${s}': below the smallest rate cgroup v2 accepts (2; v1 takes 0 as no limit)`, NO_LIMIT_HINT);
  }
  return v;
}

// cpu.cfs_quota_us / cpu.max: the kernel refuses quotas below 1 ms and periods outside 1 ms .. 1 s.
export const QUOTA_MIN_US = 1000;
/** the kernel's largest quota: MAX_BW (2^44 - 1) µs, kernel/sched/core.c; above it the write is EINVAL */
export const QUOTA_MAX_US = 2 ** 44 - 1;
export const PERIOD_MIN_US = 1000;
export const PERIOD_MAX_US = 1_000_000;
export const DEFAULT_PERIOD_US = 100_000;

/** CPU quota in µs (or max/-1 for none); at least 1000 µs, as the kernel requires. */
export function parseQuota(value: string | number): Limit {
  const s = String(value).trim();
  if (/^(max|-1)$/i.test(s)) return 'max';
  if (!/^\d+$/.test(s) || Number(s) < QUOTA_MIN_US) {
    throw new UsageError(`invalid cpu quota '${s}'`, `use at least ${QUOTA_MIN_US} µs (the kernel's minimum), or max`);
  }
  if (Number(s) > QUOTA_MAX_US) throw new UsageError(`invalid cpu quota '${s}'`, `the kernel's largest quota is ${QUOTA_MAX_US} µs; for no limit use max`);
  return parseIntIn('cpu quota (µs)', s, QUOTA_MIN_US, QUOTA_MAX_US);
}

export function parsePeriod(value: string | number): number {
  return parseIntIn('cpu period (µs)', value, PERIOD_MIN_US, PERIOD_MAX_US);
}

/** `--cpus 1.5` -> a quota for the given period (docker: cpus * period). */
export function cpusToQuota(value: string | number, period: number): number {
  const s = String(value).trim();
  const cpus = /^\d+(\.\d+)?$|^\.\d+$/.test(s) ? Number(s) : NaN;
  if (!(cpus > 0) || cpus > 1024) throw new UsageError(`invalid cpus '${s}'`, 'use a number of CPUs such as 0.5, 1 or 1.5');
  const quota = Math.round(cpus * period);
  if (quota < QUOTA_MIN_US) throw new UsageError(`invalid cpus '${s}': a quota of ${quota} µs is below the kernel's 1000 µs minimum`);
  return quota;
}

/** A CPU or memory-node list: 0, 0-3, 0,2,4-5. Returned normalised (no spaces). */
export function parseCpuList(what: string, value: string | number): string {
  const s = String(value).trim();
  const ok = /^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(s) && s.split(',').every((r) => {
    const [a, b] = r.split('-').map(Number);
    return b === undefined || a! <= b;
  });
  if (!ok) throw new UsageError(`invalid ${what} '${s}'`, 'use a list like 0, 0-3 or 0,2-3');
  return s;
}

/** Expand a CPU list into its members (for checks and tests). */
export function expandCpuList(list: string): number[] {
  const out: number[] = [];
  for (const r of list.trim().split(',').filter(Boolean)) {
    const [a, b] = r.split('-').map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.push(i);
  }
  return out;
}

/** A block device as MAJ:MIN. */
export function parseDevice(value: string): string {
  const s = String(value).trim();
  if (!/^\d+:\d+$/.test(s)) throw new UsageError(`invalid device '${s}'`, 'use MAJOR:MINOR as shown by lsblk (e.g. 8:0) or a /dev path');
  return s;
}

/** A devices-cgroup rule (v1 devices.allow/deny): `a`, or `TYPE MAJ:MIN ACCESS` with * wildcards. */
export function parseDeviceRule(value: string): string {
  const s = String(value).trim().replace(/\s+/g, ' ');
  const m = /^(?:a|[abc] (\d+|\*):(\d+|\*) [rwm]{1,3})$/.exec(s);
  if (!m) throw new UsageError(`invalid device rule '${s}'`, "use 'a' or 'TYPE MAJ:MIN ACCESS', e.g. 'c 1:3 rwm' or 'b *:* r'");
  // a device number has 12 bits of major and 20 of minor: anything larger names no device
  if ((m[1] !== undefined && m[1] !== '*' && Number(m[1]) > MAX_MAJOR) || (m[2] !== undefined && m[2] !== '*' && Number(m[2]) > MAX_MINOR)) {
    throw new UsageError(`invalid device rule '${s}': a major is at most ${MAX_MAJOR} and a minor at most ${MAX_MINOR}`);
  }
  return s;
}
export const MAX_MAJOR = 4095;
export const MAX_MINOR = 1048575;

/** Human form of a byte count: 33554432 -> 32M. */
export function formatSize(n: Limit): string {
  if (n === 'max') return 'max';
  for (const u of ['T', 'G', 'M', 'K']) if (n >= UNITS[u]! && n % UNITS[u]! === 0) return `${n / UNITS[u]!}${u}`;
  return String(n);
}
