/**
 * `iptables-legacy-restore -w 10 --noflush` done in this process, for the
 * text a sync writes: under the xtables lock (taken, and nat read, when the
 * nat section opens, as the restore does at its `*nat` line), read each
 * table the text names from the kernel (IPT_SO_GET_ENTRIES), apply its
 * section's lines to that copy (native/c/iptblob.c, as libiptc would),
 * then swap each table whole (IPT_SO_SET_REPLACE), nat then filter, and
 * carry the counters of the rules kept over (IPT_SO_SET_ADD_COUNTERS).
 *
 * Why: at 1k services iptables-legacy-restore spent ~25 ms parsing what
 * was already rendered, and its own start and exit, beyond the kernel's
 * work (see packages/svcproxy/README.md and bench/results/svcproxy.md).
 *
 * Only the lines and options svcproxy writes are modelled. Anything else
 * (an option of a stray hook someone else wrote, a `-D` that finds no
 * rule, a table the kernel has not made yet), and any failure before the
 * first swap, hands the whole text to iptables-legacy-restore instead: it
 * then does the work, or fails with its own message, as before.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { iptClose, iptOpen, iptPrepare, iptRead, IptRefused, type IptPrepared, type IptRead } from '@boxkit/native';
import { BoxkitError } from '@boxkit/common/errors';
import { flockPolled, flockUntilSync } from '@boxkit/common/state';
import { mark as phase } from '@boxkit/common/phases';
import type { Restorer } from '../backend.js';

/** Why the text was not applied in this process; nothing was changed. */
export class Declined extends Error {}

/** iptables-legacy's lock (xshared.c: XTABLES_LOCKFILE or /run/xtables.lock), waited for as `-w 10` does. */
const LOCK_WAIT_MS = 10_000;
const lockPath = () => process.env.XTABLES_LOCKFILE || '/run/xtables.lock';

/** The xtables lock and an IPT_SO_* socket, held from when the nat section opens, and nat as read then. */
interface Held {
  lock: number;
  fd: number;
  nat?: IptRead;
}

function release(h: Held): void {
  h.nat?.free();
  iptClose(h.fd);
  closeSync(h.lock);
}

export class InProcessRestore implements Restorer {
  natOpen = false;
  readonly how = 'in this process: IPT_SO_SET_REPLACE';
  private readonly chunks: string[] = [];
  private aborted = false;
  private done: Promise<void> | undefined;
  private real: Restorer | undefined;
  private held: Held | undefined;

  /** `spawnReal`: the iptables-legacy-restore run to hand the text to when this one declines it. */
  constructor(private readonly spawnReal: () => Restorer, private readonly trace?: (line: string) => void) {}

  /**
   * As iptables-legacy-restore does when its `*nat` line arrives: take the
   * xtables lock and read nat now, held until finish() or abort(). The
   * read (~300 ms at 10k services) blocks this thread; it overlaps
   * iptables-save, which the sync has just started. If the lock is held
   * elsewhere, or anything fails, finish() does it all then.
   */
  openNat(): void {
    this.natOpen = true;
    this.chunks.push('*nat\n');
    let lock: number | undefined;
    let fd: number | undefined;
    try {
      lock = openLock();
      if (flockUntilSync(lock, 0, lockPath())) {
        fd = iptOpen();
        this.held = { lock, fd, nat: iptRead(fd, 'nat') };
        return;
      }
    } catch {
      // (finish() meets it again, and says so)
    }
    if (fd !== undefined) iptClose(fd);
    if (lock !== undefined) closeSync(lock);
  }

  async write(chunk: string): Promise<void> {
    if (chunk && !this.aborted && !this.done) this.chunks.push(chunk);
  }

  /** nothing here dies on a line: it reads everything until finish() */
  get exited(): boolean {
    return this.aborted;
  }

  async settled(): Promise<void> {
    await this.done?.catch(() => undefined);
  }

  finish(): Promise<void> {
    if (!this.done) {
      this.done = this.aborted ? Promise.reject(new Error('the restore was aborted')) : this.run();
      this.done.catch(() => {});
    }
    return this.done;
  }

  async abort(): Promise<void> {
    if (!this.done) {
      this.aborted = true;
      if (this.held) release(this.held);
      this.held = undefined;
    }
    await this.real?.abort();
  }

  private async run(): Promise<void> {
    const text = this.chunks.join('');
    this.chunks.length = 0;
    let swapping = false;
    try {
      const held = this.held;
      this.held = undefined;
      await applyText(text, () => (swapping = true), held);
    } catch (e) {
      if (e instanceof BoxkitError) throw e;
      if (swapping) throw new BoxkitError('EEXEC', `iptables-legacy-restore --noflush (${this.how}): ${(e as Error).message}`);
      // nothing was swapped, the kernel is as it was: the real restore does it, or says why it cannot
      this.trace?.(`# not applied in this process (${(e as Error).message}): iptables-legacy-restore --noflush`);
      const real = (this.real = this.spawnReal());
      await real.write(text);
      await real.finish();
    }
  }
}

/**
 * Apply an iptables-restore --noflush text to the kernel's legacy tables,
 * in this process. `onSwap` is called before the first table is swapped
 * (from then on a failure may leave a table changed); any error before it
 * leaves the kernel as it was (Declined).
 */
export async function applyText(text: string, onSwap: () => void, held?: Held): Promise<void> {
  let h = held;
  if (!h) {
    const lock = openLock();
    try {
      await xtablesLock(lock);
      h = { lock, fd: iptOpen() };
    } catch (e) {
      closeSync(lock);
      throw e;
    }
  }
  try {
    const { fd } = h;
    const prepared: IptPrepared[] = [];
    const tables: string[] = [];
    try {
      // every table read and edited before the first is swapped in (nat maybe read already: openNat)
      for (const [table, lines] of sections(text)) {
        tables.push(table);
        const read = table === 'nat' && h.nat ? h.nat : table;
        if (read !== table) h.nat = undefined;
        try {
          prepared.push(iptPrepare(fd, read, Buffer.from(lines, 'latin1')));
        } catch (e) {
          throw new Declined(`${table}: ${(e as Error).message}`);
        }
      }
      phase('prepared');
      // a first swap the kernel refuses changed nothing: declined (iptables-legacy-restore may get further, or says why not)
      let swapped = false;
      for (const [i, p] of prepared.entries()) {
        try {
          p.commit();
        } catch (e) {
          if (!swapped && e instanceof IptRefused) throw new Declined(`${tables[i]}: ${e.message}`);
          if (!swapped) onSwap();
          throw e;
        }
        if (!swapped) (swapped = true), onSwap();
      }
    } finally {
      for (const p of prepared) p.free();
    }
  } finally {
    release(h);
  }
}

const openLock = () => openSync(lockPath(), constants.O_RDWR | constants.O_CREAT, 0o600);

/**
 * flock the xtables lock, tried again after 1, 2, 4 ... 20 ms between
 * turns of the event loop (a signal is handled while it waits) for up to
 * LOCK_WAIT_MS, as `iptables -w 10` waits.
 */
function xtablesLock(fd: number): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  return flockPolled(fd, lockPath(), () => {
    // not declined: iptables-legacy-restore -w 10 would wait 10 s more
    if (Date.now() >= deadline) {
      throw new BoxkitError('EEXEC', `iptables-legacy-restore --noflush: another program has held the xtables lock (${lockPath()}) for ${LOCK_WAIT_MS / 1000} s`);
    }
  });
}

/** The text's sections that change something: [table, its lines without `*table` and COMMIT]. */
function sections(text: string): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    if (!line || line.startsWith('#')) {
      at = end + 1;
      continue;
    }
    if (!line.startsWith('*')) throw new Declined(`a line outside a table: ${line}`);
    const table = line.slice(1);
    if (table !== 'nat' && table !== 'filter') throw new Declined(`table ${table}`);
    // each section is edited from the kernel's table as read before any swap: a second one would lose the first's lines
    if (seen.has(table)) throw new Declined(`a second ${table} section`);
    seen.add(table);
    const commit = text.indexOf('\nCOMMIT\n', end);
    if (commit < 0) throw new Declined(`no COMMIT line for ${table}`);
    if (commit > end) out.push([table, text.slice(end + 1, commit + 1)]);
    at = commit + 8;
  }
  return out;
}
