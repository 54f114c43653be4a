/**
 * Attachments and address leases, claimed without a lock: one file per
 * attachment ($BOXKIT_STATE_DIR/netsetup/attachments/<host-ifname>.json)
 * and one per leased address (leases/<ip>), each made
 * with an atomic exclusive create (link(2) of a written temporary file, or
 * O_EXCL). Two calls can never both claim the same address or attachment,
 * and `veth`'s ordinary path needs neither the flock (koffi: ~5-50 ms to
 * load here) nor an fsync'd rewrite of a shared file. Removing what is not
 * one's own claim takes the store lock (withStoreLock, below).
 */
import { linkSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ownerGone } from '@boxkit/common/proc';
import { atomicWrite, createExclusive, removeFile, stateDir, sweepAsides, withLock, withLockSync, writeAside } from '@boxkit/common/state';
import type { AttachmentRecord } from './state.js';
import { crashPoint } from './crash.js';

const attachDir = () => stateDir('netsetup', 'attachments');
/**
 * One directory for every network: a lease is named by the address alone,
 * so 10.10.15.5/25 and 10.10.15.5/24 (or two overlapping bridges) contend
 * for the same file and the O_EXCL create hands the address out once.
 */
const leaseDir = () => stateDir('netsetup', 'leases');

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function readRecord(path: string): AttachmentRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as AttachmentRecord;
  } catch {
    return undefined; // gone meanwhile
  }
}

export function readAttachments(): AttachmentRecord[] {
  let names: string[];
  try {
    names = readdirSync(attachDir());
  } catch (e) {
    if (code(e) === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => n.endsWith('.json')).map((n) => readRecord(join(attachDir(), n))).filter((r): r is AttachmentRecord => !!r);
}

export function readAttachment(hostIfname: string): AttachmentRecord | undefined {
  return readRecord(join(attachDir(), `${hostIfname}.json`));
}

/** Run a file write; when its directory is missing, make it and run it again (one mkdir per state dir's life, not per call). */
function inDir<T>(dir: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return write();
  }
}

/** Create the record if no attachment of that host name exists; false when one does. */
export function claimAttachment(rec: AttachmentRecord): boolean {
  return inDir(attachDir(), () => createExclusive(join(attachDir(), `${rec.hostIfname}.json`), `${JSON.stringify(rec, null, 2)}\n`));
}

/** Replace a record (readers see the old or the new one; a write refused names it and leaves no temp file). */
export function writeAttachment(rec: AttachmentRecord): void {
  atomicWrite(join(attachDir(), `${rec.hostIfname}.json`), `${JSON.stringify(rec, null, 2)}\n`);
}

export function removeAttachment(hostIfname: string): void {
  removeFile(join(attachDir(), `${hostIfname}.json`));
}

/** The names in the lease directory (empty when it does not exist yet). */
function leaseNames(): string[] {
  try {
    return readdirSync(leaseDir()).filter((n) => !n.startsWith('.')); // (not a claim in the making)
  } catch {
    return [];
  }
}

/** A directory of the layout before leases/<ip>: leases/<network>_<prefix>/<ip>. */
const OLD_LEASE_DIR = /^\d+\.\d+\.\d+\.\d+_\d+$/;

/** The addresses leased in the old layout's directories among `names`, by directory: read, never moved. */
function oldLeases(names: readonly string[]): { dir: string; ips: string[] }[] {
  const out: { dir: string; ips: string[] }[] = [];
  for (const d of names.filter((n) => OLD_LEASE_DIR.test(n))) {
    const dir = join(leaseDir(), d);
    try {
      out.push({ dir, ips: readdirSync(dir).filter((n) => !n.startsWith('.')) });
    } catch {
      // moved meanwhile by a migration: its leases are under leases/<ip> now
    }
  }
  return out;
}

/** The lease directory already migrated by this process (tests change BOXKIT_STATE_DIR between cases). */
let migrated: string | undefined;

/**
 * Move leases of the old layout (leases/<network>_<prefix>/<ip>, written
 * by a netsetup before the upgrade for containers still running) to
 * leases/<ip>, so that they are freed by `down` and claims contend for one
 * name. Only the commands that change leases anyway run it (a claim, a
 * release, a forget, a reclaim), once per process before the first such
 * change; a read (`ls`, any --dry-run) sees an old lease where it is
 * (leasedIps, leaseHolder) and moves nothing. Costs one readdir when there
 * is nothing to move. No lock: each lease is linked to its
 * new name (atomic, EEXIST when there) before its old name goes, so at
 * every moment it exists under one name at least, and concurrent
 * migrations (or claims) agree. A lease of an address that was given out
 * again under the new layout meanwhile keeps the newer holder: the address
 * is in two places already and only `down` of one of them can tell.
 */
function migrateOldLeases(): void {
  if (migrated === leaseDir()) return;
  migrated = leaseDir();
  for (const { dir, ips } of oldLeases(leaseNames())) {
    for (const ip of ips) {
      try {
        linkSync(join(dir, ip), join(leaseDir(), ip));
      } catch (e) {
        if (code(e) !== 'EEXIST' && code(e) !== 'ENOENT') throw e;
      }
      removeFile(join(dir, ip));
    }
    try {
      rmdirSync(dir);
    } catch {
      // not empty (a lease written meanwhile by an old netsetup still running) or gone
    }
  }
}

/**
 * Addresses leased right now, in every network (one readdir, so a batch
 * does not probe address by address), those of the old layout included.
 */
export function leasedIps(): Set<string> {
  const names = leaseNames();
  const ips = new Set(names.filter((n) => !OLD_LEASE_DIR.test(n)));
  for (const { ips: old } of oldLeases(names)) for (const ip of old) ips.add(ip);
  return ips;
}

/**
 * Take `ip` for `holder`; false when someone holds it. The lease has its
 * holder line before it has its name (written aside, then linked: EEXIST
 * when taken): an exclusive create and then a write left an empty lease
 * when netsetup was killed between the two, which no `down` could tell
 * was its own (a clean-clone CI run: a kill at 44 ms of 20).
 */
export function claimLease(ip: string, holder: string): boolean {
  migrateOldLeases();
  const tmp = join(leaseDir(), `.${ip}.${process.pid}.tmp`);
  // (a write refused names the lease and leaves no file aside; 0o666 less the umask, as writeFileSync made it)
  writeAside(tmp, join(leaseDir(), ip), `${holder}\n`, 0o666);
  crashPoint('lease-aside');
  try {
    linkSync(tmp, join(leaseDir(), ip));
    return true;
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    throw e;
  } finally {
    removeFile(tmp);
  }
}

/**
 * Remove the files a killed netsetup was writing aside (`*.PID.tmp`: a
 * record or a lease before its link or rename) when PID is gone or was
 * reused since (common's sweepAsides), so that after a crash `down` leaves nothing behind.
 */
export function sweepTmp(): void {
  for (const dir of [attachDir(), leaseDir()]) sweepAsides(dir);
}

/** The holder line of `ip`'s lease ('?' when empty), undefined when nobody holds it; moves nothing (see migrateOldLeases). */
export function leaseHolder(ip: string): string | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8').trim() || '?';
    } catch {
      return undefined;
    }
  };
  const now = read(join(leaseDir(), ip));
  if (now !== undefined) return now;
  // not under leases/<ip>: in an old-layout directory, or nowhere
  for (const { dir, ips } of oldLeases(leaseNames())) {
    if (!ips.includes(ip)) continue;
    const old = read(join(dir, ip));
    if (old !== undefined) return old;
  }
  // a migration may have moved it between the two looks (linked to its new name before its old one went)
  return read(join(leaseDir(), ip));
}

/** Free `ip` if `holder` (or anyone, when undefined) holds it. */
export function releaseLease(ip: string, holder?: string): void {
  migrateOldLeases();
  if (holder !== undefined && leaseHolder(ip) !== holder) return;
  removeFile(join(leaseDir(), ip));
}

/** The host ifname and pid a lease's holder line names (`bk117fe8e439 31016`). */
export function parseHolder(holder: string): { hostIfname: string; pid?: number } {
  const [hostIfname = '', pid] = holder.split(' ');
  return { hostIfname, ...(pid && /^\d+$/.test(pid) ? { pid: Number(pid) } : {}) };
}

/**
 * The leases held by `hostIfname`, found by reading every lease: only for an
 * attachment whose address is not known (a record left pending by a killed
 * `veth`, or no record at all), so never on the ordinary path.
 */
export function leasesHeldBy(hostIfname: string): { ip: string; holder: string }[] {
  const out: { ip: string; holder: string }[] = [];
  for (const ip of leasedIps()) {
    const holder = leaseHolder(ip);
    if (holder !== undefined && parseHolder(holder).hostIfname === hostIfname) out.push({ ip, holder });
  }
  return out;
}

/**
 * The lock of the cleanups: whoever removes a record or a lease that is not
 * its own (a stale one, one `down` was asked to remove, an orphan) holds it
 * while it checks that the thing is still the one it read and removes it.
 * Without it two cleaners of one stale record interleave: the second removes
 * what the first claimed meanwhile (the record, the lease of an address then
 * given out twice, the link through its undo). Claims take no lock (an
 * exclusive create only succeeds on what is absent), so `veth`'s ordinary
 * path never waits here.
 */
const lockPath = () => stateDir('netsetup', 'store.lock');

export function withStoreLock<T>(fn: () => Promise<T>): Promise<T> {
  return withLock(lockPath(), fn);
}

/** withStoreLock for synchronous work (the same flock: never nest the two). */
export function withStoreLockSync<T>(fn: () => T): T {
  return withLockSync(lockPath(), fn);
}

/** The same record (the same claim), as read from its file. */
export function sameRecord(a: AttachmentRecord, b: AttachmentRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Does `holder` (a lease's line) belong to attachment `a`? To the very claim
 * when the record names its owner (the holder line is `<host-ifname> <pid>`
 * of the netsetup that made both): a stale record of a host name must not
 * free the lease a newer claim of that name took.
 */
function heldBy(holder: string, a: AttachmentRecord): boolean {
  return a.owner !== undefined ? holder === `${a.hostIfname} ${a.owner}` : parseHolder(holder).hostIfname === a.hostIfname;
}

/**
 * Is `a`'s address still its own: leased by it, or by nobody? Not when
 * another attachment holds the lease (this record outlived its lease: a
 * forget cut between the two, or a double grant an old netsetup left), and
 * then what names the address (published ports) is that attachment's.
 */
export function ownsAddress(a: AttachmentRecord): boolean {
  if (!a.ip) return false;
  const holder = leaseHolder(a.ip.split('/')[0]!);
  return holder === undefined || heldBy(holder, a);
}

/** Does `a` hold its address's lease (not free, not another's)? A record a forget cut short does not. */
export function holdsLease(a: AttachmentRecord): boolean {
  const holder = a.ip ? leaseHolder(a.ip.split('/')[0]!) : undefined;
  return holder !== undefined && heldBy(holder, a);
}

/**
 * Drop an attachment's record and its lease: under the store lock, or when
 * the record is the caller's own claim. The lease goes first (the record is
 * what finds it) and only if this attachment holds it: after a crash
 * part-way through an earlier forget, the address may be another's by now. A pending record (a `veth` killed between its claim and its
 * address) names no address: its lease, if it was taken, is found by holder.
 */
export function forget(a: AttachmentRecord): void {
  migrateOldLeases(); // its lease may be in the old layout: moved, it is freed below like any other
  if (a.ip) {
    const ip = a.ip.split('/')[0]!;
    const holder = leaseHolder(ip);
    if (holder !== undefined && heldBy(holder, a)) removeFile(join(leaseDir(), ip));
  } else {
    for (const l of leasesHeldBy(a.hostIfname)) if (heldBy(l.holder, a)) releaseLease(l.ip, l.holder);
  }
  // a kill here leaves the record without its lease: the next `down` (or a repeated `veth`) of
  // it removes the record and nothing of the address, which another container may hold by then
  crashPoint('lease-freed');
  removeAttachment(a.hostIfname);
}

/**
 * Is another netsetup at work on `a` right now: its owner (not this
 * process) lives and started before the record was written (not a
 * later process that was given the pid of a killed one)?
 */
export function inProgress(a: AttachmentRecord): boolean {
  if (a.owner === undefined || a.owner === process.pid) return false;
  const since = Date.parse(a.created);
  return !ownerGone(a.owner, Number.isNaN(since) ? 0 : since);
}

/**
 * Free the leases nobody can ever free: their holder's host link is absent,
 * no attachment record of that host name holds the address, and the holder
 * pid is dead or reused. A netsetup before crash-consistent attach (lease
 * before record) killed between the two left such leases; `down
 * --host-ifname` frees the ones of the names it is told of
 * (reclaimOrphanLeasesOf), this frees them all, when a subnet is full.
 * Reads every lease. Returns the addresses freed.
 */
export function reclaimOrphanLeases(links: Set<string>): string[] {
  // under the lock: two reclaimers (two full-subnet `veth`s) each checked a lease's holder, and the
  // second's unlink could land after the first had freed the address and taken it again
  return withStoreLockSync(() => reclaimLocked(links));
}

/**
 * reclaimOrphanLeases of the leases held by the host names `only` (a `down` of names with no
 * record: a lease its netsetup took before being killed), all under one take of the store lock,
 * taken by withLock: a foreground run's teardown waits for it as for its other locks (common's
 * lockWaits: said after 1 s, stopped by a signal). Taken by withStoreLockSync, that wait blocked in
 * flock(2), unannounced and deaf to a Ctrl-C until the lock was free.
 */
export function reclaimOrphanLeasesOf(links: Set<string>, only: readonly string[]): Promise<string[]> {
  const names = new Set(only);
  return withStoreLock(async () => reclaimLocked(links, names));
}

/** reclaimOrphanLeases under the store lock, of the leases of the host names `only` (all when absent): every lease read once. */
function reclaimLocked(links: Set<string>, only?: ReadonlySet<string>): string[] {
  migrateOldLeases(); // every lease under leases/<ip>, where the loop reads and frees them
  const freed: string[] = [];
  for (const ip of leasedIps()) {
    const path = join(leaseDir(), ip);
    let holder: string;
    let since: number;
    try {
      holder = readFileSync(path, 'utf8').trim();
      since = statSync(path).mtimeMs;
    } catch {
      continue; // freed meanwhile
    }
    const h = parseHolder(holder);
    if (!h.hostIfname || h.pid === undefined || (only !== undefined && !only.has(h.hostIfname))) continue;
    if (links.has(h.hostIfname) || !ownerGone(h.pid, since)) continue;
    const rec = readAttachment(h.hostIfname);
    if (rec && (!rec.ip || rec.ip.split('/')[0] === ip)) continue; // its record finds it (a pending one by holder)
    // read again just before: a new holder may have taken a lease freed meanwhile
    if (leaseHolder(ip) !== holder) continue;
    removeFile(path);
    freed.push(ip);
  }
  return freed;
}
