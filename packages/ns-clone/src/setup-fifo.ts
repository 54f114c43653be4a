/**
 * The setup handshake (--wait-for-setup). Before any setup inside, the
 * child opens a fifo for reading and waits for one byte; a pipeline
 * configures cgroups and network by pid meanwhile, then releases it:
 *
 *   pid=$(ns-clone --detach --wait-for-setup --net -- sleep 100)
 *   cg attach web $pid && netsetup veth --pid $pid ...
 *   ns-clone release $pid        # or: echo > FIFO (from the --json output)
 *
 * Opening the fifo and closing it without writing (`: > FIFO`) aborts the
 * child instead: it exits 125 without running the command. The child
 * removes the fifo once it has read it; `release` also removes the small
 * state file that maps the pid to its fifo.
 *
 * A detached child (--detach) has nobody left to take back what its start
 * made should its command never run: its namespaces bound to a PATH
 * (--net=PATH) and the directories made for the fifo. They are noted in its
 * record (PID.fifo-path), which `release --abort` (or a release that finds
 * the child killed while held) acts on, as the foreground ns-clone does (its
 * record notes the same, and its owner: acted on once that ns-clone is gone,
 * killed while its child was held). A
 * record is acted on only while its fifo (device, inode and birth time) and
 * its child (start time) are the ones it noted: a release by hand (`echo >
 * FIFO`) leaves the record behind, and the pid or the fifo's path may be
 * used again by another child since, even the inode number (ext4 gives a
 * file made again the number just freed). (Not the fifo's change time: a
 * chmod, chown or touch to let another user release it leaves it the
 * record's.) Where statx is refused now (a seccomp filter) no birth time can
 * be read: a record that noted one is acted on only while the fifo's change
 * time is still that birth time (no chmod since), else refused, kept; one
 * that noted none (statx refused at its start too, a file system keeping
 * none) or only an older ns-clone's `birth`, by device and inode alone.
 */
import { closeSync, constants, existsSync, lstatSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bornKnown, mkfifo, statxFile, type FileStat } from '@boxkit/native';
import { createInMadeParent, removeMadeDirs } from '@boxkit/common/dirs';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { shellQuote } from '@boxkit/common/exec';
import { ownerGone, procStat } from '@boxkit/common/proc';
import { atomicWrite, sweepAsides } from '@boxkit/common/state';
import { err } from '@boxkit/common/stdio';
import { takeBack, type Persisted } from './persist.js';

/** Where fifos and their pid records live: $BOXKIT_STATE_DIR/ns-clone, /run/boxkit/ns-clone for root, else /tmp. */
export function setupDir(): string {
  const base = process.env.BOXKIT_STATE_DIR || (process.geteuid?.() === 0 ? '/run/boxkit' : `/tmp/boxkit-${process.geteuid?.()}`);
  return join(base, 'ns-clone');
}

// (the name made again when taken: a second fifo of this process in the same millisecond, or one a process of this pid left)
let fifoSeq = 0;
const defaultFifoPath = () => join(setupDir(), `setup-${process.pid}-${Date.now().toString(36)}${fifoSeq ? `-${fifoSeq}` : ''}.fifo`);

/**
 * st_dev or st_ino as a record holds it (JSON): a number while it is exact
 * as one (what older ns-clones wrote and read), decimal text from 2^53 on
 * (overlayfs' xino sets an inode number's high bits), where a number would
 * round it to another file's.
 */
export type FileId = number | string;

/**
 * A bigint st_dev or st_ino as unsigned: Node's bigint stats hold them in
 * a BigInt64Array, so an inode number from 2^63 on (xino's) comes negative.
 */
const unsigned = (v: bigint): bigint => BigInt.asUintN(64, v);

/** A bigint st_dev or st_ino (a stat's, or statx's) as a FileId. */
const fileId = (v: bigint): FileId => (unsigned(v) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : String(unsigned(v)));

/**
 * Is a record's FileId exact: text, or a number below 2^53 and not negative?
 * Older ns-clones noted Number() of Node's signed bigint: an inode number from
 * 2^63 on (xino) as a rounded negative number, one from 2^53 on rounded,
 * which no file's key matches.
 */
const exact = (v: FileId): boolean => typeof v === 'string' || (Number.isSafeInteger(v) && v >= 0);

/** The record's fifo's device and inode when it noted them exactly (exact); undefined: none noted, or rounded. */
const exactIds = (rec: FifoRecord): { dev: FileId; ino: FileId } | undefined =>
  (rec.dev !== undefined && rec.ino !== undefined && exact(rec.dev) && exact(rec.ino) ? { dev: rec.dev, ino: rec.ino } : undefined);

/** A fifo just made, and its identity (st_dev, st_ino, birth time) for its record. */
export interface MadeFifo {
  fifo: string;
  dev: FileId;
  ino: FileId;
  /**
   * Birth time in ns (statx's stx_btime, the kernel vouching for it), as decimal text; undefined where the file
   * system keeps none or statx is refused (a seccomp filter).
   */
  btime?: string;
}


/**
 * A fifo's identity: device, inode and (where the kernel gives one: bornKnown) birth time in ns. Where statx is
 * refused, no birth time, and the change time in ns instead (`ctime`), which is the birth time until a chmod,
 * chown, touch or write of the fifo.
 */
function identity(path: string): { fifo: boolean; dev: FileId; ino: FileId; btime?: string; ctime?: string } {
  let s: FileStat;
  try {
    s = statxFile(path);
  } catch {
    // statx refused (EPERM, ENOSYS: a seccomp filter, a kernel before 4.11; EOPNOTSUPP, EINVAL: a file system or
    // sandbox that declines it), as Node's stat falls back on all of them: Node's stat, which throws by itself what
    // stat(2) fails with (ENOENT). Its birth time is the change time, which a chmod (to let another user release the
    // child) moves: noted as the change time, never as a birth time
    const st = statSync(path, { bigint: true });
    return { fifo: st.isFIFO(), dev: fileId(st.dev), ino: fileId(st.ino), ctime: String(st.ctimeNs) };
  }
  return { fifo: (s.mode & constants.S_IFMT) === constants.S_IFIFO, dev: fileId(s.dev), ino: fileId(s.ino), ...(bornKnown(s) ? { btime: String(s.btimeNs) } : {}) };
}

/**
 * Make a fresh fifo for one child (absolute: `release` may run from another
 * directory). The directories made for it are added to `made`; when the
 * fifo cannot be made, they are removed again before the error is thrown.
 */
export function createSetupFifo(path?: string, made: string[] = []): string {
  return makeSetupFifo(path, made).fifo;
}

/**
 * createSetupFifo, with the fifo's identity taken before any child exists:
 * once one runs, a release by hand (`echo > FIFO` as soon as it appears) may
 * have it read and remove the fifo before ns-clone looks at it.
 */
export function makeSetupFifo(path?: string, made: string[] = []): MadeFifo {
  let fifo = path ? resolve(path) : defaultFifoPath();
  const mine: string[] = [];
  try {
    for (;;) {
      try {
        // (made again when a failing run removed an empty state dir between our mkdir and mkfifo)
        createInMadeParent(fifo, () => mkfifo(fifo, 0o600), mine, 0o700);
        break;
      } catch (e) {
        if (path || (e as NodeJS.ErrnoException).code !== 'EEXIST' || ++fifoSeq > 16) throw e;
        fifo = defaultFifoPath();
      }
    }
  } catch (e) {
    removeMadeDirs(mine);
    throw e;
  }
  let st;
  try {
    st = identity(fifo);
  } catch (e) {
    // (removed already, by someone else: nothing of ours to take back but the directories)
    removeMadeDirs(mine);
    throw e;
  }
  made.push(...mine);
  // records whose child is gone and whose fifo is not there go now (released by hand, then ended), and
  // those naming this fifo's device and inode that noted no statx birth time (a file system that keeps none,
  // an older ns-clone), or any naming them when this fifo has none (statx refused): a fifo made at a path
  // again gets the freed inode number (ext4), which they could take for theirs (none of them is owed a
  // take-back: their fifo is gone, else mkfifo failed with EEXIST)
  const madeFifo: MadeFifo = { fifo, dev: st.dev, ino: st.ino, ...(st.btime ? { btime: st.btime } : {}) };
  sweepRecords({ ...madeFifo, given: !!path });
  return madeFifo;
}

/**
 * The one record of a held child, `$STATE/ns-clone/PID.fifo-path` (JSON),
 * written once before its pid is printed and removed last: its fifo, that
 * fifo's inode and the child's start time (so that a record a release by
 * hand left behind, or one of an earlier process with the same pid, is told
 * apart from the child there now), and for a detached child what its start
 * made that its command never running should take back.
 */
export interface FifoRecord {
  fifo: string;
  /**
   * The fifo's st_dev and st_ino (undefined: a record of an older
   * ns-clone, which held only the path), and its birth time (ns, decimal,
   * statx's, the kernel vouching for it): a fifo made at that path later
   * may get the freed inode number again (ext4), never the same birth time.
   * Without one (a file system that keeps none, statx refused at the
   * start), making a fifo with that device and inode removes the record
   * (makeSetupFifo).
   */
  dev?: FileId;
  ino?: FileId;
  btime?: string;
  /**
   * An older ns-clone's birth time: statx's, or where statx was refused
   * Node's birthtime, the change time then (no telling which): compared only
   * with a birth time statx gives now, else the device and inode alone.
   */
  birth?: string;
  /** The child's start time (/proc/PID/stat, clock ticks since boot). */
  start?: number;
  /** Namespaces bound to a PATH, in the order they were made. */
  persisted?: Persisted[];
  /** Directories made for the fifo and this record, outermost first (removed only while empty). */
  dirs?: string[];
  /**
   * A foreground start: its ns-clone (pid and start time), which takes back
   * what it made itself while it lives; killed (-9), its record does.
   */
  owner?: { pid: number; start?: number };
}

const recordPath = (pid: number | string) => join(setupDir(), `${pid}.fifo-path`);

/**
 * Remember which fifo holds `pid` (so `ns-clone release PID` finds it), and,
 * for a detached child (`undo`), what its start made: one record, replacing
 * whatever an earlier process of that pid left. Directories made go to `made`
 * (and into the record's undo, as they are made before it is written).
 */
export function recordFifo(pid: number, { fifo, dev, ino, btime }: MadeFifo, made: string[] = [], undo?: { persisted: readonly Persisted[]; owner?: boolean }): void {
  const record = recordPath(pid);
  const start = procStat(pid)?.start;
  // (a --setup-fifo elsewhere made no state dir: the record needs one all the same, made again when a
  // failing run removed it, empty, between our mkdir and our write)
  createInMadeParent(record, () => {
    const rec: FifoRecord = { fifo, dev, ino, ...(btime ? { btime } : {}), ...(start !== undefined ? { start } : {}), ...(undo ? { persisted: [...undo.persisted], dirs: [...made] } : {}), ...(undo?.owner ? { owner: { pid: process.pid, start: procStat('self')?.start } } : {}) };
    // one write(2) of a few hundred bytes, before anyone knows the pid to read it (and no mkdir of its own,
    // as atomicWrite would: a directory made here must be in the record)
    writeFileSync(record, JSON.stringify(rec), { mode: 0o600 });
  }, made, 0o700);
}

function readRecord(pid: number | string): FifoRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordPath(pid), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const r = JSON.parse(text) as FifoRecord;
    if (r && typeof r.fifo === 'string') return r;
  } catch {
    // an older ns-clone's: the fifo's path alone
  }
  return { fifo: text.trim() };
}

/**
 * ownFifo's answer: 'own', 'other' (or none there), or 'unproven' (statx refused here, the record's birth time
 * cannot be read: the record must stay, and nothing be done by it).
 */
type Owned = 'own' | 'other' | 'unproven';

/**
 * Is the fifo at rec.fifo the record's own (same device, inode and birth time as noted)? A record whose device or
 * inode an older ns-clone noted rounded (exactIds): its birth time alone, if any.
 */
function ownFifo(rec: FifoRecord): Owned {
  let st: ReturnType<typeof identity>;
  try {
    st = identity(rec.fifo);
  } catch {
    return 'other';
  }
  if (!st.fifo) return 'other';
  // an older ns-clone's record, the path alone: a fifo is there
  if (rec.ino === undefined) return 'own';
  if (rec.dev === undefined) return 'other';
  const ids = exactIds(rec);
  if (ids && fileKey(st) !== fileKey(ids)) return 'other';
  if (rec.btime !== undefined) {
    if (st.ctime === undefined) return st.btime === rec.btime ? 'own' : 'other';
    // statx refused here: the change time still the birth time proves it (a fifo made at the path since was born
    // later); moved (a chmod), or another's, there is no telling
    return st.ctime === rec.btime ? 'own' : 'unproven';
  }
  // a record that noted no birth time (statx refused at its start, a file system keeping none), or an older
  // ns-clone's (its `birth` maybe Node's, the change time then): the device and inode alone where statx gives none now
  if (rec.birth === undefined || st.btime === undefined) return 'own';
  return st.btime === rec.birth ? 'own' : 'other';
}

/** The refusal of a release (or a take-back) by a record whose fifo cannot be told to be its own (ownFifo's 'unproven'). */
const unprovenFifo = (pid: number | string, rec: FifoRecord) => new UsageError(`cannot tell whether ${rec.fifo} is process ${pid}'s: statx is refused here`);

/**
 * Is the fifo made for a held child still there, the same one? Then the child never read it (it removes
 * it once it has): its command never ran, whatever ended it. (No telling: taken as read, its namespaces kept.)
 */
export const fifoUnread = (m: MadeFifo): boolean => ownFifo(m) === 'own';

/** Is the foreground ns-clone that made the record still there (it takes back what it made itself)? */
function ownerAlive(rec: FifoRecord): boolean {
  if (!rec.owner) return false;
  const st = procStat(rec.owner.pid);
  return !!st && st.state !== 'Z' && st.state !== 'X' && (rec.owner.start === undefined || st.start === rec.owner.start);
}

/** Has the record's child ended (or is the process of that pid now another one, started since)? */
function childGone(pid: number | string, rec: FifoRecord): boolean {
  const st = procStat(Number(pid));
  return !st || st.state === 'Z' || st.state === 'X' || (rec.start !== undefined && st.start !== rec.start);
}

/** One thing a release or a take-back does, as a shell line and as done. */
interface Act {
  shell: string[];
  /** A string: not done, and why (another start is binding a PATH): what follows waits for the next sweep. */
  run(): string | void;
}

/**
 * What taking back the child `pid` does (it will never run its command:
 * aborted, or killed while held): its namespaces still bound where its start
 * bound them are unmounted, then its fifo (if still its own) and its record
 * removed (last but the directories: a kill midway leaves it for the next
 * release), then the directories made for them, while empty. The real run
 * and --dry-run both render from this.
 */
function takeBackPlan(pid: number | string, rec: FifoRecord, fifoOurs: boolean): { acts: Act[]; unmounts: string[] } {
  const acts: Act[] = [];
  const unmounts: string[] = [];
  // a foreground start still running takes back what it made itself, its fifo and record too: it looks at its
  // fifo, still there and unread, to tell that its command never ran
  if (ownerAlive(rec)) return { acts: [], unmounts: [] };
  for (const p of [...(rec.persisted ?? [])].reverse()) {
    // another start binds PATH now (it holds the file's lock): the record stays for the next sweep, which finds
    // PATH bound and leaves it. This entry is noted as never bound, so that no later take-back takes that other
    // start's bind for it
    const noted = (later: string | void) => {
      if (later) neverBound(pid, rec, p);
      return later;
    };
    // only the bind this start made there (its mount): one bound at PATH since is someone else's, even of a namespace
    // the kernel gave this one's inode number again. Never bound (its start killed before the bind's attach), or bound
    // by mount(2), its mount unknown: the empty file and directories made for it, never an unmount. Unmounted, the
    // empty file made for it goes under PATH's lock, as a bind never made (it removed PATH unlocked: a start that had
    // locked that file the moment it was unmounted found it gone under its bind)
    const back = takeBack(p);
    if (!back) continue;
    if (back.unmounts) unmounts.push(p.path);
    acts.push({ shell: back.shell, run: () => noted(back.run()) });
  }
  acts.push(forgetAct(pid, rec, fifoOurs));
  const dirs = (rec.dirs ?? []).filter((d) => existsSync(d));
  if (dirs.length) acts.push({ shell: [shellQuote(['rmdir', '--ignore-fail-on-non-empty', ...[...dirs].reverse()])], run: () => removeMadeDirs([...dirs]) });
  return { acts, unmounts };
}

/**
 * Rewrite the record with `p` noted as never bound (no namespace identity:
 * stillPersisted is false for it), so that a later take-back never unmounts
 * a namespace bound at its PATH since. Written aside and renamed: a reader
 * sees the old record or the new. Not when the record went meanwhile.
 */
function neverBound(pid: number | string, rec: FifoRecord, p: Persisted): void {
  delete p.dev;
  delete p.ino;
  delete p.mount;
  const record = recordPath(pid);
  if (!existsSync(record)) return;
  try {
    atomicWrite(record, JSON.stringify(rec), 0o600);
  } catch {
    // (not rewritten: the next sweep finds PATH bound by the other start, and takes nothing back; atomicWrite
    // removed its file aside, and one a kill left goes at the next sweep)
  }
}

/** rm -f of the fifo (when still the record's own) and the record. */
function forgetAct(pid: number | string, rec: FifoRecord, fifoOurs: boolean): Act {
  const record = recordPath(pid);
  return {
    shell: [shellQuote(['rm', '-f', ...(fifoOurs ? [rec.fifo] : []), record])],
    run: () => {
      if (fifoOurs) rmSync(rec.fifo, { force: true });
      rmSync(record, { force: true });
    },
  };
}

/**
 * Run the acts in order; stop at one that is left for later (its reason
 * returned): the record, removed after what it names, stays for the next
 * sweep or release, which does the rest.
 */
const runActs = (acts: Act[]): string | undefined => {
  for (const a of acts) {
    const later = a.run();
    if (later) return later;
  }
  return undefined;
};

/** Remove a fifo and its pid record once nobody can be waiting on it (the child is gone). */
export function forgetFifo(pid: number, fifo: string): void {
  rmSync(fifo, { force: true });
  rmSync(recordPath(pid), { force: true });
}

/**
 * A file's device and inode as one key: a fifo's path may be spelled many
 * ways (a symlinked state dir, /var/run). Exact on every side: the stats
 * it is given are bigint ones (a number rounds an inode from 2^53 on), read
 * as unsigned, and a record's FileIds are exact, so one file gives one key.
 */
export const fileKey = (st: { dev: FileId | bigint; ino: FileId | bigint }) => `${key(st.dev)}:${key(st.ino)}`;
const key = (v: FileId | bigint) => (typeof v === 'bigint' ? unsigned(v) : v);

/** The fifo a record names, as fileKey: the identity it noted (an older record, or one that noted it rounded: what its path leads to now). */
function recordKey(rec: FifoRecord): string | undefined {
  const ids = exactIds(rec);
  if (ids) return fileKey(ids);
  const st = lstatSync(rec.fifo, { bigint: true, throwIfNoEntry: false });
  return st ? fileKey(st) : undefined;
}

/**
 * Remove the stale records (child gone, fifo not its own: released by hand,
 * then ended; nothing to take back), and, given `mine` (the fifo a start
 * just made, at a path it was given: on a file system without birth times),
 * the records that noted its inode and no statx birth time (any birth time,
 * when `mine` has none: statx refused): they could take it for theirs. A record
 * whose fifo cannot be told to be its own (ownFifo's 'unproven') is left as it
 * is. A detached start's
 * record whose child is gone with its fifo unread (killed while held, or its
 * start killed: the child ends with the start's pipe, and nobody ever learnt
 * its pid) is taken back as a release of it would: the namespaces it bound
 * are unmounted, so that the same start can bind its PATH again (a
 * take-back that fails is a warning: the start sweeping is another's).
 * Default fifos no record names whose maker is gone go too (`mine`, the
 * fifo the sweeping start just made, never).
 */
export function sweepRecords(mine?: { dev: FileId; ino: FileId; given: boolean; btime?: string }): void {
  let names: string[];
  try {
    names = readdirSync(setupDir());
  } catch {
    return;
  }
  // the records rewritten aside (atomicWrite's NAME.PID.tmp) by a process killed before its rename (only
  // theirs: a fifo given at a path in this dir may be named anything)
  const asides = names.flatMap((n) => /^(\d+\.fifo-path)\.\d+\.tmp$/.exec(n)?.[1] ?? []);
  if (asides.length) sweepAsides(setupDir(), asides);
  const named = new Set<string>();
  for (const n of names) {
    const m = /^(\d+)\.fifo-path$/.exec(n);
    if (!m) continue;
    const rec = readRecord(m[1]!);
    if (!rec) continue;
    const key = recordKey(rec);
    if (key) named.add(key);
    if (mine?.given && (rec.btime === undefined || mine.btime === undefined) && key === fileKey(mine)) {
      rmSync(join(setupDir(), n), { force: true });
      continue;
    }
    if (!childGone(m[1]!, rec)) continue;
    const own = ownFifo(rec);
    if (own === 'other') rmSync(join(setupDir(), n), { force: true });
    // its fifo unread, the child gone: its command never ran, and nobody will read that fifo. A start that
    // noted what it made (every detached start; a foreground one notes itself as owner: not while that
    // ns-clone lives, which looks at its fifo, unread, to tell that its command never ran) is taken back
    // whatever it bound: a held child killed, or its start killed after the record (the child ends with it)
    // left the fifo and the record, and with nothing bound no sweep took them (only a release PID did).
    // (A foreground record of an older ns-clone names no owner: that ns-clone may live; it is left alone.)
    else if (own === 'own' && (rec.persisted !== undefined || rec.owner) && rec.ino !== undefined && !ownerAlive(rec)) {
      // another start's leftovers: a take-back that fails (EBUSY, EROFS) must not fail this one; the next sweep tries again
      try {
        runActs(takeBackPlan(m[1]!, rec, true).acts);
      } catch (e) {
        err(`ns-clone: warning: what the start of process ${m[1]} left was not taken back (${(e as Error).message}); the next start tries again`);
      }
    }
  }
  // (the fifo this start just made has no record yet, and whatever its name, it is ours)
  if (mine !== undefined) named.add(fileKey(mine));
  sweepUnrecorded(names, named);
}

/**
 * A fifo at the default path: `setup-MAKER-TIME[-N].fifo`, MAKER the pid of
 * the ns-clone that made it, TIME when (Date.now(), base 36), just before
 * its mkfifo.
 */
const DEFAULT_FIFO = /^setup-(\d+)-([0-9a-z]+)(?:-\d+)?\.fifo$/;

/**
 * Was the fifo made when its default name says: born (statx's birth time,
 * `s`, where the kernel vouches for it: proven; else its mtime, which only a
 * write or a touch changes: a later one keeps the fifo; a touch -d or
 * utimes(2) to before its birth, into the window, has it taken for
 * ns-clone's, its maker gone: removed) from 0.1 s before TIME (file times come from a
 * coarser clock) to 2 s after? Then ns-clone made it under that name. A
 * fifo a user had made there under such a name (`--setup-fifo` given a
 * path an earlier start printed) was born later: it is not ns-clone's
 * default one, and no sweep removes it. (Not Node's birthtime: where statx
 * is refused it is the change time, which a chmod moves.)
 */
export function bornAsNamed(time: string, s: Pick<FileStat, 'mask' | 'btimeNs'> | undefined, mtimeNs: bigint): boolean {
  const t = parseInt(time, 36);
  const born = Number((s && bornKnown(s) ? s.btimeNs : mtimeNs) / 1_000_000n);
  return born >= t - 100 && born <= t + 2000;
}

/** statx's view of PATH (not followed) for its birth time; undefined where statx is refused (or PATH gone). */
function birthStat(path: string): FileStat | undefined {
  try {
    return statxFile(path, false);
  } catch {
    return undefined;
  }
}

/**
 * Remove the default fifos no record names whose maker is gone (killed
 * between its mkfifo and its record: a child it made then was held on its
 * sync pipe and ended with it, so nobody waits on such a fifo). A maker
 * alive has not written its record yet; a pid used again by a process that
 * started after the fifo was made is not its maker (common's ownerGone, by
 * the fifo's mtime: never before its birth, so never before its maker's
 * start).
 * The records are read again before the fifo goes: a maker that wrote its
 * record, let its child wait on the fifo and exited since the first read
 * made it a child's. Only fifos ns-clone made under their default name go
 * (bornAsNamed), never one given with --setup-fifo under a name like theirs.
 * Fifos and records are matched by device and inode
 * (fileKey), never by path: a record names the fifo by the path its start
 * was given the state dir by (a symlink, /var/run for /run, a relative one).
 */
function sweepUnrecorded(names: readonly string[], named: ReadonlySet<string>): void {
  const dir = setupDir();
  const gone: { path: string; key: string }[] = [];
  for (const n of names) {
    const m = DEFAULT_FIFO.exec(n);
    if (!m) continue;
    const path = join(dir, n);
    try {
      const st = lstatSync(path, { bigint: true });
      if (st.isFIFO() && !named.has(fileKey(st)) && bornAsNamed(m[2]!, birthStat(path), st.mtimeNs) && ownerGone(Number(m[1]), Number(st.mtimeMs))) gone.push({ path, key: fileKey(st) });
    } catch {
      // gone meanwhile
    }
  }
  if (!gone.length) return;
  const now = new Set<string>();
  try {
    for (const n of readdirSync(dir)) {
      if (!/^\d+\.fifo-path$/.test(n)) continue;
      const rec = readRecord(n.replace('.fifo-path', ''));
      const key = rec && recordKey(rec);
      if (key) now.add(key);
    }
  } catch {
    return;
  }
  for (const { path, key } of gone) {
    const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (st && fileKey(st) === key && !now.has(key)) rmSync(path, { force: true });
  }
}

/**
 * The pid whose record names the fifo at `fifo` now (a release given the
 * fifo's path), if any: the record must have noted this fifo's device and
 * inode, as the file at `fifo` has them (the path may be spelled another way
 * than the record's: a symlinked state dir, /var/run for /run). A record
 * (naming any path) whose child is gone, and whose fifo is not the one there
 * (released by hand, `echo > FIFO`, then ended: nothing to take back), is
 * stale: removed unless `dryRun`.
 */
function pidOfFifo(fifo: string, dryRun: boolean): string | undefined {
  let names: string[];
  try {
    names = readdirSync(setupDir());
  } catch {
    return undefined;
  }
  const at = statSync(fifo, { bigint: true, throwIfNoEntry: false });
  const key = at?.isFIFO() ? fileKey(at) : undefined;
  let found: string | undefined;
  let foundGone: string | undefined;
  for (const n of names) {
    const m = /^(\d+)\.fifo-path$/.exec(n);
    if (!m) continue;
    const rec = readRecord(m[1]!);
    if (!rec) continue;
    const gone = childGone(m[1]!, rec);
    // (one that cannot be told to be its own, found: its release is refused, the record kept)
    const own = ownFifo(rec);
    if (own !== 'other' && key !== undefined && rec.ino !== undefined && recordKey(rec) === key) {
      // (a child waiting there first; one killed while it waited, its fifo still there, is taken back)
      if (!gone) found ??= m[1];
      else foundGone ??= m[1];
      continue;
    }
    // any path: the records children released by hand at their own (default) fifo left would pile up
    if (!dryRun && gone && own === 'other') rmSync(join(setupDir(), n), { force: true });
  }
  return found ?? foundGone;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child's setup fifo, and the record that maps its pid to it (when given by pid, or found by the fifo's path). */
export interface SetupFifo {
  fifo: string;
  record?: string;
  pid?: string;
  /** The record's content (when found). */
  rec?: FifoRecord;
  /** Dry run only: the record's child is gone; what a release would take back (the real run does it, then fails). */
  gone?: { lines: string[]; message: string };
  /**
   * An abort of a start that has ended (its record says its child is gone,
   * or it left none and no such process runs): nothing to abort, which is
   * what an abort wants (as `netsetup down` of what is gone): the one line
   * saying so. The take-back its record asked for is done (a dry run: `gone`).
   */
  ended?: string;
}

/** No process of that pid runs (none, or a zombie nobody reaped yet). */
function processGone(pid: string): boolean {
  const st = procStat(Number(pid));
  return !st || st.state === 'Z' || st.state === 'X';
}

/**
 * The fifo a child waits on, given the fifo path or the child's pid; a stale
 * record is removed unless `dryRun`. The record's child gone (killed while
 * held, or aborted by hand), what its start made is taken back and ESRCH
 * thrown; a dry run returns what that would do (`gone`). With `abort`, a
 * start that has ended is no error: returned with the line that says so
 * (`ended`), as is a pid with no record that no process has, or a fifo
 * path no record names where no file is (aborted already: a teardown's
 * trap and its explicit abort both run it).
 */
export function findSetupFifo(target: string, dryRun = false, abort = false): SetupFifo {
  let fifo = target;
  let rec: FifoRecord | undefined;
  let pid = /^\d+$/.test(target) ? target : undefined;
  if (!pid) pid = pidOfFifo(resolve(target), dryRun);
  if (pid) {
    rec = readRecord(pid);
    if (rec) fifo = rec.fifo;
    else if (pid === target && abort && processGone(pid)) return { fifo: '', pid, ended: `process ${pid} is already gone: nothing to abort` };
    else if (pid === target) throw new UsageError(`process ${target} is not waiting for setup (no record in ${setupDir()})`, 'give the fifo path instead');
    else pid = undefined; // released meanwhile: the fifo itself says
  }
  const record = pid ? recordPath(pid) : undefined;
  if (pid && rec && childGone(pid, rec)) {
    // killed while it waited: nobody will read the fifo (a release would wait 5 s for nothing, every
    // time). Its own fifo still there, it never read it: its command never ran (killed while held, or
    // aborted with `: > FIFO`), so what its start made goes, as a foreground run takes it back. Its
    // fifo gone or another's there: it was released and ran; only its record goes.
    const gone = (why: string) => (abort ? `process ${pid} is already gone: nothing to abort (${why})` : `process ${pid} is gone: nothing to release (${why})`);
    if (ownerAlive(rec)) {
      const message = gone(`its ns-clone, pid ${rec.owner!.pid}, takes back what it made`);
      if (abort) return { fifo, record: record!, pid, rec, ended: message };
      throw new BoxkitError('ESRCH', message);
    }
    const owned = ownFifo(rec);
    if (owned === 'unproven') throw unprovenFifo(pid, rec);
    const ours = owned === 'own';
    const plan = ours ? takeBackPlan(pid, rec, true) : { acts: [forgetAct(pid, rec, false)], unmounts: [] };
    const what = plan.unmounts.length ? `; its namespace at ${plan.unmounts.join(', ')} is unmounted` : '';
    if (dryRun) {
      const message = gone(`a release removes its ${ours ? 'fifo and ' : ''}record${what.replace(' is ', ' would be ')}`);
      return { fifo, record: record!, pid, rec, gone: { lines: plan.acts.flatMap((a) => a.shell), message }, ...(abort ? { ended: message } : {}) };
    }
    const later = runActs(plan.acts);
    const message = gone(later ? `its record is kept for the next release or start: ${later}` : `its fifo and record are removed${what}`);
    if (abort) return { fifo, record: record!, pid, rec, ended: message };
    throw new BoxkitError('ESRCH', message);
  }
  const owned = pid && rec ? ownFifo(rec) : undefined;
  // statx refused here, the fifo's change time not the record's birth time: it may be another start's (its
  // child run), or this one's, chmod'ed. Neither released nor dropped (a record dropped, a held child's fifo
  // is swept: held forever)
  if (owned === 'unproven') throw unprovenFifo(pid!, rec!);
  if (owned === 'other') {
    // the child read its fifo (released by hand) and runs; a fifo at that path now is someone else's
    if (!dryRun) rmSync(record!, { force: true });
    throw new UsageError(`${fifo}: no such fifo (already released?)`);
  }
  try {
    if (!statSync(fifo).isFIFO()) throw new UsageError(`${fifo}: not a fifo`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // an abort of a fifo that is gone, no record naming it (aborted already: a teardown's trap and its explicit
    // abort both run it, given the --json setupFifo): nothing to abort, as by pid
    if (abort && !pid && (e as NodeJS.ErrnoException).code === 'ENOENT') return { fifo, ended: `${fifo} is already gone: nothing to abort` };
    throw new UsageError(`${fifo}: no such fifo (already released?)`);
  }
  return { fifo, ...(record ? { record } : {}), ...(pid ? { pid } : {}), ...(rec ? { rec } : {}) };
}

/** What a release does after writing to (or closing) the fifo: the same plan for the real run and --dry-run. */
function afterRelease(f: SetupFifo, abort: boolean): Act[] {
  const rmFifo: Act = { shell: [shellQuote(['rm', '-f', f.fifo, ...(f.record ? [f.record] : [])])], run: () => {
    rmSync(f.fifo, { force: true });
    if (f.record) rmSync(f.record, { force: true });
  } };
  // aborted, its command never runs: nobody else stays to take back what a detached start made
  if (abort && f.pid && f.rec?.persisted) return takeBackPlan(f.pid, f.rec, true).acts;
  return [rmFifo];
}

/** What a release does, as shell lines (--dry-run, -v). */
export function releaseShell(f: SetupFifo, abort = false): string[] {
  if (f.gone) return f.gone.lines;
  return [`${abort ? ':' : 'echo'} > ${shellQuote([f.fifo])}`, ...afterRelease(f, abort).flatMap((a) => a.shell)];
}

/** Release (or abort) the child waiting on a fifo, given the fifo path or the child's pid. */
export async function releaseSetup(target: string, opts: { abort?: boolean; timeoutMs?: number; trace?: (line: string) => void; onEnded?: (message: string) => void } = {}): Promise<string> {
  const found = findSetupFifo(target, false, !!opts.abort);
  const { fifo } = found;
  // an abort of a start that has ended: nothing to abort (ESRCH for a caller that does not take that as done)
  if (found.ended !== undefined) {
    if (!opts.onEnded) throw new BoxkitError('ESRCH', found.ended);
    opts.onEnded(found.ended);
    return fifo;
  }
  for (const l of releaseShell(found, opts.abort)) opts.trace?.(l);
  // the child may not have opened its end yet: ENXIO until it has
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      if (!opts.abort) writeSync(fd, '\n');
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) {
        throw new BoxkitError('ERELEASE', `release ${target}: nobody is waiting on ${fifo}`);
      }
      await sleep(20);
    }
  }
  // (the plan is made again: what is bound where is looked at now, after the child's end of the fifo)
  runActs(afterRelease(found, !!opts.abort));
  // aborted, the child exits at once (its read of the fifo ends): waited for, so that an abort that returned
  // has no child left, and one run again right after (a trap, then the explicit call) finds it gone
  if (opts.abort && found.pid && found.rec) await childEnds(found.pid, found.rec, deadline);
  return fifo;
}

/** Wait (5 ms steps) until the record's child has ended, or `deadline` passed. */
async function childEnds(pid: string, rec: FifoRecord, deadline: number): Promise<void> {
  while (!childGone(pid, rec) && Date.now() < deadline) await sleep(5);
}
