/**
 * The container store: one JSON file per container under the state dir,
 * written atomically, changed under one lock so concurrent `run`s never
 * take the same name, address or id.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite, BoxkitError, dataDir, readJson, removeFile, stateDir, withLock } from '@boxkit/common';
import { warn } from '@boxkit/common/output';
import { procStat } from '@boxkit/common/proc';
import { writerGone } from '@boxkit/common/state';
import { isRecord, type ContainerRecord, type Status } from './record.js';

export const containersDir = (): string => stateDir('run', 'containers');
export const recordPath = (name: string): string => join(containersDir(), `${name}.json`);
/** Where a kept container's keeper (bk-keeper) leaves its exit status, `ID STATUS`, before it starts run again to record it. */
export const exitPath = (name: string): string => join(containersDir(), `${name}.exit`);
/** Held by the one process recording kept containers' ends (bk-keeper, then run's finish): see native/c/keeper.c. */
export const finishLockPath = (): string => stateDir('run', 'finish.lock');
export const containerData = (id: string, ...parts: string[]): string => dataDir('containers', id, ...parts);

/** Everything that changes the store goes through this lock. */
export function locked<T>(fn: () => T | Promise<T>): Promise<T> {
  return withLock(stateDir('run', 'lock'), fn);
}

/** The record of `name`, or undefined; a damaged one (not JSON, or not a record) is an error naming it. */
export function load(name: string): ContainerRecord | undefined {
  const path = recordPath(name);
  let v: unknown;
  try {
    v = readJson<unknown>(path);
  } catch (e) {
    throw e instanceof BoxkitError && e.code === 'EBADSTATE' ? damaged(name, e.message) : e;
  }
  if (v === undefined) return undefined;
  if (!isRecord(v, name)) throw damaged(name, `${path}: not a container record`);
  return v;
}

/** The error of a damaged record: what to do is forget it (rm -f), then let gc take what it held. */
function damaged(name: string, why: string): BoxkitError {
  return new BoxkitError('EBADSTATE', why, { hint: `run rm -f ${name} forgets it; then run gc removes what it held (or names the process to end first)` });
}

/**
 * Owner-only, as docker's config.v2.json: a record holds the container's --env (its secrets too),
 * which the default 0644 in /run/boxkit gave every user of the host to read.
 */
export function save(rec: ContainerRecord): void {
  atomicWrite(recordPath(rec.name), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
}

/** The store's files (records, exit files), none when it was never made. */
function storeFiles(): string[] {
  try {
    return readdirSync(containersDir());
  } catch {
    return [];
  }
}

/** Remove a record and its exit files (first: a crash between leaves the record to remove again, not a file nobody knows). */
export function forget(name: string): void {
  sweepStoreFiles({ name });
  removeFile(exitPath(name));
  removeFile(recordPath(name));
}

/**
 * A file being written aside, then renamed: an exit file (bk-keeper writes NAME.exit.PID.tmp,
 * native/c/keeper.c) or a record (save's atomic write, NAME.json.PID.tmp).
 */
const ASIDE = /^(.+)\.(?:exit|json)\.(\d+)\.tmp$/;

/**
 * Remove store files nobody will read, and say which: the NAME.exit.PID.tmp
 * or NAME.json.PID.tmp of a writer killed between its write and its rename
 * (its PID gone since the file was written), of `name` or of every
 * container; with `orphans` (gc, under the lock: bk-keeper writes only under
 * it and only while the record exists) also each NAME.exit whose container
 * has no record. `dryRun`: only say.
 */
export function sweepStoreFiles(o: { name?: string; orphans?: boolean; dryRun?: boolean } = {}): string[] {
  const files = storeFiles();
  const records = new Set(files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)));
  const gone: string[] = [];
  for (const f of files) {
    const aside = ASIDE.exec(f);
    const name = aside ? aside[1]! : f.endsWith('.exit') ? f.slice(0, -5) : undefined;
    if (name === undefined || (o.name !== undefined && name !== o.name)) continue;
    const path = join(containersDir(), f);
    if (aside) {
      if (!writerGone(path, Number(aside[2]))) continue;
    } else if (!o.orphans || records.has(name)) continue;
    gone.push(path);
    if (!o.dryRun) removeFile(path);
  }
  return gone;
}

/**
 * The exit status bk-keeper left for `rec` (see native/c/keeper.c): it writes it before it starts
 * run again to record it, so that a start that fails (its blob removed or rebuilt, ENOMEM) does
 * not lose it. Only a file of this very container counts (a keeper of an older one of its name
 * may have written after that one was removed).
 */
export function keptExitCode(rec: Pick<ContainerRecord, 'name' | 'id'>): number | undefined {
  let text: string;
  try {
    text = readFileSync(exitPath(rec.name), 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\S+) (\d+)\n$/.exec(text);
  return m && m[1] === rec.id ? Number(m[2]) : undefined;
}

/**
 * Kept containers whose end bk-keeper left in their exit file and nobody has recorded yet (their
 * records still say running): what the process holding the finish lock records besides its own.
 */
export function endsLeft(): ContainerRecord[] {
  const left: ContainerRecord[] = [];
  for (const f of storeFiles()) {
    if (!f.endsWith('.exit')) continue;
    let rec: ContainerRecord | undefined;
    try {
      rec = load(f.slice(0, -5));
    } catch {
      continue; // a damaged record (ps says so): its end is for nobody to record
    }
    if (rec && rec.status === 'running' && keptExitCode(rec) !== undefined && !isAlive(rec)) left.push(rec);
  }
  return left;
}

/** The records, oldest first, and the names of damaged ones (each said once, as a warning). */
export function scan(): { records: ContainerRecord[]; damaged: string[] } {
  const records: ContainerRecord[] = [];
  const bad: string[] = [];
  for (const f of storeFiles()) {
    if (!f.endsWith('.json')) continue;
    const name = f.slice(0, -5);
    try {
      const r = load(name);
      if (r) records.push(r);
    } catch (e) {
      if (!(e instanceof BoxkitError) || e.code !== 'EBADSTATE') throw e;
      bad.push(name);
      if (!warned.has(name)) warn('run', `warning: ${e.message}: skipped (${e.hint})`);
      warned.add(name);
    }
  }
  return { records: records.sort((a, b) => a.created.localeCompare(b.created)), damaged: bad };
}
const warned = new Set<string>();

/** The records, oldest first; a damaged one is skipped with a warning (one bad file must not stop ps or gc). */
export function list(): ContainerRecord[] {
  return scan().records;
}

/** A process's start time in clock ticks since boot (field 22 of /proc/PID/stat). */
export function startTime(pid: number): number | undefined {
  return procStat(pid)?.start;
}

/** Is the process `pid`, started at `start` (when known), there and not a zombie? */
function running(pid: number, start: number | undefined): boolean {
  const st = procStat(pid);
  return st !== undefined && (start === undefined || st.start === start) && st.state !== 'Z';
}

/** Is the container's PID 1 (the very process, not a reused pid) alive? (a zombie is not running) */
export function isAlive(rec: ContainerRecord): boolean {
  return !!rec.pid && running(rec.pid, rec.pidStart);
}

export function creatorAlive(rec: ContainerRecord): boolean {
  // a zombie (killed, its parent not reaping yet) creates and waits for nothing
  return rec.creatorPid > 0 && running(rec.creatorPid, rec.creatorStart);
}

/** Left by a crash or by nobody: half-made with its `run` dead, or a --rm container whose `run` is gone and whose PID 1 ended. */
export function isGarbage(r: ContainerRecord): boolean {
  if (creatorAlive(r)) return false;
  if (r.status === 'creating') return true;
  return r.autoRemove && !isAlive(r);
}

/** The status as it is now (a record says 'running' until someone notices PID 1 is gone). */
export function liveStatus(rec: ContainerRecord): Status {
  if (rec.status === 'running' && !isAlive(rec)) return 'exited';
  return rec.status;
}
