/**
 * What an upper layer changed against its lowers, as docker diff reports
 * it: A added, C changed, D deleted, one path each, sorted. Like docker, a
 * directory counts as changed when a child was added or deleted, or when
 * its mode, owner or mtime differ from the lower one. Unlike docker (which
 * reports an opaque directory as deleted and re-added), an opaque directory
 * is C and the lower entries it hides are D.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { isOpaqueDir, isWhiteout, WH_PREFIX } from './whiteout.js';
import type { DriverName } from './spec.js';
import { walkLayer } from './walk.js';
import { fsError, fsPath, readHints } from './fserror.js';

export type ChangeKind = 'A' | 'C' | 'D';
export interface Change {
  kind: ChangeKind;
  /** absolute inside the union: /etc/hosts */
  path: string;
}

/** Not there: no such name, or a part of the path is no directory. Anything else (EACCES, EIO) is a layer diff cannot read. */
const absent = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as { code?: string }).code ?? '');

function lst(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true, throwIfNoEntry: false });
  } catch (e) {
    // (a lower it cannot read would show every file of the upper as added)
    if (absent(e)) return undefined;
    throw e;
  }
}

/**
 * The merged view of the lowers at `rel`: the topmost lower that has it,
 * stopping at a whiteout of it or of an ancestor, at a non-directory
 * ancestor, and below an opaque ancestor (in `driver`'s format).
 */
export function lowerLookup(lowers: string[], rel: string, driver: DriverName = 'overlay'): BigIntStats | undefined {
  const parts = rel.split('/');
  for (const lower of lowers) {
    let opaque = false;
    for (let i = 0; i < parts.length; i++) {
      const dir = join(lower, ...parts.slice(0, i));
      const name = parts[i]!;
      const st = lst(join(dir, name));
      if (isWhiteout(dir, name, st, driver)) return undefined;
      if (!st) {
        if (opaque) return undefined;
        break;
      }
      if (i === parts.length - 1) return st;
      if (!st.isDirectory()) return undefined;
      if (isOpaqueDir(join(dir, name), driver)) opaque = true;
    }
  }
  return undefined;
}

/** Names the lowers show in directory `rel` (merged, whiteouts applied). */
function lowerNames(lowers: string[], rel: string, driver: DriverName): string[] {
  const seen = new Set<string>();
  for (const lower of lowers) {
    try {
      // aufs's .wh. names are whiteouts and bookkeeping; in overlay they are names like any other
      for (const n of readdirSync(join(lower, rel))) if (driver === 'overlay' || !n.startsWith(WH_PREFIX)) seen.add(n);
    } catch (e) {
      // not a directory in this lower
      if (!absent(e)) throw e;
    }
  }
  return [...seen].filter((n) => lowerLookup(lowers, rel ? `${rel}/${n}` : n, driver));
}

function sameDir(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs;
}

/** The changes of `upper` over `lowers`, all read in the format of `driver` (the union's). */
export function diffLayers(upper: string, lowers: string[], driver: DriverName = 'overlay'): Change[] {
  try {
    return changesOf(upper, lowers, driver);
  } catch (e) {
    throw fsError(e, `cannot read ${fsPath(e) ?? upper}`, readHints('diff'));
  }
}

function changesOf(upper: string, lowers: string[], driver: DriverName): Change[] {
  const changes = new Map<string, ChangeKind>();
  const opaqueDirs = new Set<string>();
  const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
  const touchParent = (rel: string) => {
    const parent = parentOf(rel);
    if (parent && !changes.has(parent)) changes.set(parent, 'C');
  };
  const underOpaque = (rel: string) => {
    for (let p = parentOf(rel); p; p = parentOf(p)) if (opaqueDirs.has(p)) return true;
    return false;
  };
  for (const e of walkLayer(upper, driver)) {
    if (e.role.role === 'meta' || e.role.role === 'opaque-marker') continue;
    if (e.role.role === 'whiteout') {
      // a whiteout for something no lower has (or already hidden) changes nothing visible
      if (underOpaque(e.role.target) || !lowerLookup(lowers, e.role.target, driver)) continue;
      changes.set(e.role.target, 'D');
      touchParent(e.role.target);
      continue;
    }
    const below = underOpaque(e.rel) ? undefined : lowerLookup(lowers, e.rel, driver);
    if (!below) {
      changes.set(e.rel, 'A');
      touchParent(e.rel);
    } else if (!e.st.isDirectory() || !below.isDirectory()) {
      changes.set(e.rel, 'C');
    } else if (e.opaque || !sameDir(e.st, below)) {
      changes.set(e.rel, 'C');
    }
    if (e.st.isDirectory() && e.opaque && below?.isDirectory()) {
      opaqueDirs.add(e.rel);
      const mine = new Set(readdirSync(e.abs));
      for (const n of lowerNames(lowers, e.rel, driver)) {
        if (!mine.has(n)) changes.set(`${e.rel}/${n}`, 'D');
      }
    }
  }
  return [...changes].map(([p, kind]) => ({ kind, path: `/${p}` })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
