/**
 * The two union drivers as a table: how each one is asked for a mount
 * (fstype, source, option string) and how the option string is escaped.
 * `auto` picks aufs when the kernel has it, as the article does, and
 * overlay otherwise; the choice is made once, here.
 */
import { readFileSync } from 'node:fs';
import type { DriverName } from './spec.js';

/** The layers of a union once resolved to absolute paths. */
export interface Layers {
  lowers: string[];
  upper?: string;
  work?: string;
  udba?: string;
  volatile?: boolean;
}

export interface Driver {
  fstype: string;
  /** The mount source shown in mountinfo (`overlay overlay`, `none`). */
  source: string;
  /** The data argument of mount(2). */
  options(l: Layers): string;
}

/** overlay splits its options on ',' and lowerdir on ':'; a backslash keeps either in a path. */
export function overlayEscape(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

export const DRIVERS: Record<DriverName, Driver> = {
  overlay: {
    fstype: 'overlay',
    source: 'overlay',
    options: (l) =>
      [
        `lowerdir=${l.lowers.map(overlayEscape).join(':')}`,
        ...(l.upper ? [`upperdir=${overlayEscape(l.upper)}`, `workdir=${overlayEscape(l.work ?? '')}`] : []),
        ...(l.volatile ? ['volatile'] : []),
      ].join(','),
  },
  aufs: {
    fstype: 'aufs',
    source: 'none',
    options: (l) =>
      [
        `br=${[...(l.upper ? [`${l.upper}=rw`] : []), ...l.lowers.map((d) => `${d}=ro`)].map((b) => b.replace(/:/g, '\\:')).join(':')}`,
        ...(l.udba ? [`udba=${l.udba}`] : []),
      ].join(','),
  },
};

/** Filesystems the running kernel knows (from /proc/filesystems). */
export function kernelFilesystems(path = '/proc/filesystems'): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const name = line.split('\t').pop()?.trim();
    if (name) out.add(name);
  }
  return out;
}

/** auto: aufs when the kernel has it, overlay otherwise. */
export function pickDriver(asked: 'auto' | DriverName, fs: Set<string>): DriverName {
  if (asked !== 'auto') return asked;
  return fs.has('aufs') ? 'aufs' : 'overlay';
}

/** overlay's mount data must fit in one page, terminating NUL included. */
export const MAX_OPTIONS = 4095;
/** overlay's stack limit (OVL_MAX_STACK). */
export const MAX_LOWERS = 500;
