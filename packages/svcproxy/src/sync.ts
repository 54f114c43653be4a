/**
 * One sync: render what is wanted, compare with what is there, write the
 * difference in one iptables-restore --noflush run, then remember what was
 * asked for. "What is there" is the kernel (iptables-save) for a
 * reconciling sync, which also repairs rules someone deleted; a partial sync
 * (kube-proxy's fast path) trusts the last stored services and falls back
 * to reconciling if the kernel refuses the change.
 */

import { UsageError } from '@boxkit/common/errors';
import { chooseBackend, holdsChains, restore, saveTables, startRestore, tool, type Backend, type BackendChoice, type Restorer } from './backend.js';
import { chainsWritten, diff, diffChunks, explainLines, isEmpty, restoreChunks, restoreLines, restoreText, type Diff, type StreamedDiff } from './diff.js';
import { mark as phase } from '@boxkit/common/phases';
import { DEFAULT_NODEPORT_RANGE, type PortRange, type Service } from './model.js';
import { bucketOf, DEFAULT_PREFIX, Names } from './names.js';
import { chainsOf, emptyRuleset, hooks, render, TABLES, type Ruleset, type Scope } from './rules.js';
import { parseSave, type Saved } from './saved.js';
import { CorruptState, StaleState, dropState, encode, fromServices, loadState, locked, MIXED_RANGE, noStateMessage, pendingBytes, pendingState, readPending, restorePending, statedBackend, stateExists, storedList, writePending, writeState, type StoredState } from './store.js';
import { applyDelta, deltaRender, docDelta, OnceNames } from './delta.js';
import { indexDoc } from './jsondoc.js';
import { kernelServices } from './status.js';
import { backendHolding } from './held.js';
import { dropStaleUdp, udpDropPlan } from './udp-flows.js';

export interface SyncOptions {
  /** chain prefix (default BKSVC) */
  prefix?: string;
  backend?: BackendChoice;
  /** trust the stored services instead of reading the kernel first */
  partial?: boolean;
  /** compute and return the change, touch nothing */
  dryRun?: boolean;
  nodePortRange?: PortRange;
  /** called for each line a verbose run prints */
  trace?: (line: string) => void;
  warn?: (message: string) => void;
}

export interface SyncResult {
  prefix: string;
  backend: Backend;
  mode: 'reconcile' | 'partial';
  services: number;
  chainsWritten: number;
  chainsRemoved: number;
  hooksAdded: number;
  hooksRemoved: number;
  zeroedCounters: boolean;
  /** the kernel did not match: a restore was (or, dry run, would be) written */
  changed: boolean;
  /** the iptables-restore --noflush input ('' when the kernel already matches; made when first read) */
  restore: string;
  /** the same change as iptables -t TABLE -N/-A commands (dry runs only) */
  explain: string[];
  dryRun: boolean;
}

/**
 * Above this many chains in one --noflush run, iptables-nft 1.8.x spends
 * its time in a sorted-list insert per chain name (2.6 s at 6k chains,
 * 25 min at 60k; ../notes/scale-anchors.md). A leading -Z avoids it.
 */
export const NFT_CHAIN_LIST_LIMIT = 1000;
/** Above this many services, every legacy update rewrites a big table blob in the kernel. */
const LEGACY_BIG = 5000;
/**
 * iptables-legacy-restore (libiptc) is ~25% slower when chains are declared
 * between rules, at 60k chains (3.1 -> 4.1 s), so a big change declares
 * every chain first and sends the rules after. At 6k chains (1k services)
 * the interleaved text costs it no more (0.91x, same run), and it lets the
 * restore parse each chain's rules while the next are rendered: with every
 * declaration first, a reconcile's rules could only go out once the last
 * chain was rendered, and the restore parsed them all after our render.
 */
export const LEGACY_DECLARE_FIRST_ABOVE = 20_000;
/** declareFirst for a text that writes about this many chains (see LEGACY_DECLARE_FIRST_ABOVE) */
export const declareFirstFor = (backend: Backend, chains: number): boolean => backend === 'legacy' && chains > LEGACY_DECLARE_FIRST_ABOVE;
/** the nat chains a list of services makes (each with endpoints: its service chain and one per endpoint) */
const natChainsOf = (services: readonly Service[]): number => services.reduce((n, s) => n + (s.endpoints.length ? 1 + s.endpoints.length : 0), 0);

function sameService(a: Service, b: Service): boolean {
  return a.protocol === b.protocol && a.vip === b.vip && a.port === b.port && a.nodePort === b.nodePort && a.affinitySeconds === b.affinitySeconds &&
    a.endpoints.length === b.endpoints.length && a.endpoints.every((e, i) => e.ip === b.endpoints[i]!.ip && e.port === b.endpoints[i]!.port);
}

/** What differs between two service lists: the names to re-render and the /24 buckets they touch. */
export function scopeOf(before: readonly Service[], after: readonly Service[]): Scope {
  const old = new Map(before.map((s) => [s.name, s]));
  const names = new Set<string>();
  const buckets = new Set<string>();
  const touch = (s: Service) => (names.add(s.name), buckets.add(bucketOf(s.vip)));
  for (const s of after) {
    const o = old.get(s.name);
    old.delete(s.name);
    if (o && sameService(o, s)) continue;
    touch(s);
    if (o) touch(o);
  }
  for (const o of old.values()) touch(o);
  return { names, buckets };
}

/** The wanted services, or a function of the stored ones (evaluated under the lock), or a document; null removes everything. */
export type Wanted = WantedList | ((stored: readonly Service[], state?: StoredState) => WantedList | Promise<WantedList>) | DocWanted;
export type WantedList = readonly Service[] | null;

/**
 * The wanted services as a services document (apply, add, rm): a partial
 * sync then compares it with the stored one and works on the change only
 * (delta.ts), and the state keeps it.
 */
export interface DocWanted {
  kind: 'doc';
  /** the new document's bytes (apply reads the file; add and rm splice the stored document) */
  doc(state: StoredState | undefined): Buffer;
  /** every service of that document, checked (errors as the command reports them), and whether JSON read it (then its entries can be indexed) */
  services(doc: Buffer, state: StoredState | undefined): Promise<{ services: Service[]; json: boolean }>;
  /** built from the stored services (add, rm): a damaged or stale state means the kernel's services, and the stored entries keep the range they were checked under */
  keepsStored: boolean;
  /**
   * rm: it only takes services away. With no state (or a damaged one) and
   * nothing of the prefix in the kernel there is nothing to take: the sync
   * writes nothing (an empty list would install the prefix's shared chains
   * and hooks), and a damaged state goes, as flush drops it.
   */
  onlyRemoves?: boolean;
  /**
   * For a reconcile, services() in a stream: the document parsed at once (a
   * syntax error throws here), each entry checked when the render reads it,
   * and the checks across entries after the last (errors as services()
   * reports them). The render writes to iptables-restore before the last
   * entry is checked; no COMMIT goes out before the whole list was read, and
   * an error kills the restore, so the kernel is unchanged.
   */
  stream?(doc: Buffer): Promise<{ entries: Iterable<Service>; json: boolean; natChainsAtLeast?: number }>;
}

const isDoc = (w: Wanted): w is DocWanted => w !== null && typeof w === 'object' && (w as DocWanted).kind === 'doc';
const sameRange = (a: PortRange, b: PortRange) => a.min === b.min && a.max === b.max;

/**
 * Make the kernel hold exactly `wanted` (nothing of ours for null). The
 * kernel side is spawned first so it overlaps computing the change; nothing
 * commits before the last COMMIT, and a failure after it puts back what was
 * there (putBack).
 */
/**
 * Services of the prefix live in one backend at a time: a sync to another
 * one (--backend) while the state's still holds the prefix's chains would
 * leave those live beside the new ones (ls and flush see one backend).
 * Refused before anything changes.
 */
async function refuseBackendSwitch(prefix: string, names: Names, to: Backend): Promise<void> {
  const was = statedBackend(prefix);
  if (!was || was === to || !(await holdsChains(was, (c) => names.owns(c)))) return;
  throw new UsageError(`the services of ${prefix} are in iptables-${was}: a sync with --backend ${to} would leave them there, live`,
    `svcproxy flush first (it removes them from iptables-${was}), or keep --backend ${was}`);
}

export async function sync(wanted: Wanted, opts: SyncOptions = {}): Promise<SyncResult> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const names = new Names(prefix);
  if (wanted !== null && opts.backend && opts.backend !== 'auto') await refuseBackendSwitch(prefix, names, opts.backend);
  const range = opts.nodePortRange ?? DEFAULT_NODEPORT_RANGE;
  const doc = isDoc(wanted) ? wanted : undefined;
  /** the pending marker found under the lock: an earlier sync stopped between its restore and its state write */
  let pending: Buffer | undefined;
  /** add, rm and a function of the stored services build on what is stored: with a damaged state, on the kernel's services */
  const buildsOnStored = typeof wanted === 'function' || !!doc?.keepsStored;
  /** the state file was damaged (CorruptState) and this sync builds on the stored services: it builds on the kernel's */
  let damaged = false;
  /**
   * No state file (another BOXKIT_STATE_DIR, or it was deleted), nor a
   * marker to build on. That is not "no services" while the kernel holds
   * some of the prefix: add and rm build on those (as for a damaged state),
   * and apply says what it replaces.
   */
  let missing = false;
  const load = (): StoredState | undefined => {
    missing = false;
    pending = readPending(prefix);
    if (pending) {
      opts.warn?.('warning: an earlier sync stopped between iptables-restore and its state write: the state may be stale; reconciling with the kernel');
      // add and rm build on what that sync was writing (what the kernel most likely has), the edit made to it
      const p = doc?.keepsStored ? pendingState(prefix, pending, indexDoc) : undefined;
      if (p) return p;
    }
    try {
      const s = loadState(prefix);
      missing = !s;
      return s;
    } catch (e) {
      // a damaged file is not trusted: apply and flush reconcile with the kernel (and replace or drop it); add and rm
      // (and a library caller's function of the stored services) build on the services the kernel's rules describe,
      // as for a stale state: the kernel is the truth, and the state written after it is whole again
      if (!(e instanceof CorruptState)) throw e;
      if (!damaged) opts.warn?.(`warning: ${e.message}: reconciling with the kernel`); // (once, if a stale retry reads it again)
      damaged = buildsOnStored;
      return undefined;
    }
  };
  /**
   * `stale`: the stored services failed today's checks (StaleState) in a
   * first run, which changed nothing: not trusted now. No partial sync, and
   * what add/rm (or a function of the stored services) build on is what the
   * kernel's rules say (kernelServices), as ls lists it for a damaged state.
   */
  const run = async (stale = false): Promise<SyncResult> => {
    // (hrtime, not performance.now(): the global `performance` loads perf_hooks, nine modules compiled per start)
    const t0 = process.hrtime.bigint();
    phase('sync');
    const ms = () => `${Math.round(Number(process.hrtime.bigint() - t0) / 1e6)} ms`;
    const named = opts.backend && opts.backend !== 'auto' ? opts.backend : undefined;
    // a reconcile that need not read the state to pick the backend starts the kernel side first (the state of 10k services is MBs);
    // add and rm with no state file pick the backend that holds the prefix's chains, as for a damaged one
    const early = !opts.partial && (named !== undefined || (!buildsOnStored && !stateExists(prefix)));
    let state = early ? undefined : load();
    // auto sticks to the backend the services were written with; a damaged or missing state does not say it: the kernel's chains do
    const backend = (damaged || (missing && buildsOnStored)) && !named ? await backendHolding(names) : chooseBackend(named ?? state?.backend);
    const partial = !!opts.partial && !!state && state.backend === backend && !pending && !stale;
    if (!partial) opts.trace?.(`${tool(backend, 'save')}`);
    const saving = partial ? undefined : saveTables(backend, TABLES);
    saving?.catch(() => undefined); // awaited below; a failure before that must not be unhandled
    const rr = opts.dryRun ? undefined : startRestore(backend, opts.trace);
    if (rr && backend === 'legacy') rr.openNat();
    phase('spawned');
    const at: Attempt = { prefix, names, backend, rr, opts, ms };
    /** rm with no state (or a damaged one) and nothing of the prefix in the kernel: nothing is wanted of ours, as before */
    let nothingToRemove = false;
    const rollback: Rollback = { marked: false, committed: false };
    try {
      if (early) state = load();
      /** the kernel's chains, read at once when the services to keep come from them */
      let savedEarly: Saved | undefined;
      if (damaged || (stale && state && buildsOnStored)) {
        savedEarly = parseSave(await saving!, names);
        state = fromServices(prefix, backend, MIXED_RANGE, kernelServices(savedEarly, names));
      } else if (missing && buildsOnStored) {
        // (no state: not partial, so the kernel is being read)
        savedEarly = parseSave(await saving!, names);
        const held = kernelServices(savedEarly, names);
        if (held.length) {
          opts.warn?.(`warning: ${noStateMessage(prefix, held.length)}: building on the kernel's services (reconciling with the kernel)`);
          state = fromServices(prefix, backend, MIXED_RANGE, held);
        }
      }
      // rm with no state (or a damaged one) and no chain of the prefix in the kernel: nothing to take away
      nothingToRemove = !!doc?.onlyRemoves && (missing || damaged) && !!savedEarly && !savedEarly.chains.nat.size && !savedEarly.chains.filter.size;
      const w = await wantedFrom(nothingToRemove ? null : wanted, state, partial, range, at);
      let change: Change;
      if (w.delta) change = w.delta;
      else if (partial) change = partialFromStored(state!, w.services, at);
      else {
        // reconcile: each chain goes to iptables-restore as soon as it is rendered and compared with the kernel's
        const saved = savedEarly ?? parseSave(await saving!, names);
        phase('saved');
        // apply replaces everything by design; with no state it says what it replaces (an empty kernel: nothing to say, no cost)
        if (missing && !buildsOnStored && w.services !== null && !pending && (saved.chains.nat.size || saved.chains.filter.size)) {
          const held = kernelServices(saved, names).length;
          if (held) opts.warn?.(`warning: ${noStateMessage(prefix, held)}: reconciling with the kernel: services not in the new list are removed`);
        }
        opts.trace?.(`# read the kernel: ${ms()}`);
        change = { compared: saved, prior: () => saved, streamed: await streamReconcile(saved, w, at) };
        phase('written');
      }
      rollback.prior = change.prior;
      const count = w.count();
      const { diff: d, zero, declareFirst } = change.streamed;
      const stored = stateWriter(prefix, w.next);
      // before any COMMIT goes out: a crash from here until the state is written leaves the marker for the next sync
      const mark = () => {
        if (!rollback.marked) writePending(prefix, pendingBytes(backend, w.pendingDoc()));
        rollback.marked = true;
      };
      const remember = (r: SyncResult): SyncResult => (stored.write(), r);
      // the UDP flows the change makes stale: worked out while iptables-restore commits, deleted after it
      let udp: (() => void) | undefined | null = null;
      const planUdp = () => (udp === null ? (udp = udpDropPlan(change.compared, d, names, opts)) : udp);
      opts.trace?.(`# compared: ${ms()}`);
      const result = summary(d, { prefix, backend, partial, count, zero, declareFirst, dryRun: !!opts.dryRun });
      if (!rr) return result;
      if (zero) {
        opts.warn?.(`warning: ${tool(backend, 'restore')} --noflush is slow with ${chainCount(d)} chains (a sorted-list insert per chain name in iptables 1.8); loading the nat table's chain cache at once with a leading -Z instead: nat rule counters were reset`);
      }
      if (backend === 'legacy' && count > LEGACY_BIG) {
        opts.warn?.(`warning: iptables-legacy replaces the whole nat table in the kernel on every change: with ${count} services each update costs seconds; the nft backend updates in place (--backend nft)`);
      }
      try {
        await commitRestore(rr, change.streamed, result, at, rollback, mark, () => (stored.prepare(), planUdp()));
      } catch (e) {
        if (!partial) throw e;
        // (a restore that failed before its end still holds the xtables lock, which the reconcile's own restore takes)
        await rr?.abort();
        // the kernel is not what we last wrote (someone changed it): reconcile the whole set against it
        opts.warn?.(`warning: partial sync refused (${(e as Error).message}); reconciling with the kernel`);
        const all = w.services !== undefined ? w.services : storedList(w.next()!);
        return remember(await reconcileAfterRefusedPartial(all, count, at, rollback, mark));
      }
      opts.trace?.(`# restored: ${ms()}`);
      planUdp()?.();
      return remember(result);
    } catch (e) {
      // the kernel is as before this sync: the marker goes back to what it was (a crash before this sync's still stands)
      const unmark = () => rollback.marked && restorePending(prefix, pending);
      if (rr && !rollback.committed) (await rr.abort(), unmark());
      else if (rr) {
        // iptables-restore commits table by table: a failure in filter leaves nat changed. Put back what was there
        // (never what the state says: it may be damaged, missing or stale, and the kernel may not have changed at all)
        await rr.settled();
        if (rollback.prior) await putBack(backend, names, rollback.prior()).then(unmark, () => undefined);
      }
      throw e;
    }
  };
  // an older svcproxy's services, refused by today's checks before anything changed: once more, trusting the kernel
  const attempt = () => run().catch((e: unknown) => {
    if (!(e instanceof StaleState)) throw e;
    opts.warn?.(`warning: ${e.message}: reconciling with the kernel`);
    return run(true);
  });
  return opts.dryRun ? attempt() : locked(prefix, attempt);
}

/** What the steps of one sync attempt share. */
interface Attempt {
  prefix: string;
  names: Names;
  backend: Backend;
  /** the restore, spawned before the change is computed (none in a dry run) */
  rr: Restorer | undefined;
  opts: SyncOptions;
  /** the time since the attempt started, for the trace */
  ms: () => string;
}

/** What a failed attempt needs to leave the kernel and the pending marker as they were. */
interface Rollback {
  /** this attempt wrote the pending marker: put back as it was when the kernel is unchanged */
  marked: boolean;
  /** a COMMIT may have gone through: a table may have changed */
  committed: boolean;
  /** what our chains were before this attempt's restore, to put back once a COMMIT may have gone through */
  prior?: () => Ruleset;
}

/** The wanted services as a sync reads them, and what it stores and marks for them. */
interface WantedRead {
  /** undefined for a document's delta: its services are read only if the kernel refuses the change */
  services: WantedList | undefined;
  /** how many services the kernel holds after the sync (a stream's, once the render has read it) */
  count: () => number;
  /** the state to store once the restore succeeded */
  next: () => StoredState | undefined;
  /** the wanted services as a JSON document, for the pending marker */
  pendingDoc: () => Buffer;
  /** the wanted services as the render reads them, when they are checked on the way (DocWanted.stream) */
  lazy?: Iterable<Service>;
  /** how many nat chains the wanted services make at least, if every entry passes its checks (a stream tells it) */
  natAtLeast: number;
  /** a partial sync's change of a document, rendered from the delta of the two documents */
  delta?: Change;
}

/** The change a sync writes, and what it was computed against. */
interface Change {
  streamed: StreamedDiff;
  /** the chains the diff was made against (what a removed chain held: its endpoint) */
  compared: Ruleset;
  /** what our chains are before the restore, to put back if it fails after a COMMIT may have gone through */
  prior: () => Ruleset;
}

/**
 * Read the wanted services: a list, a function of the stored ones, or a
 * document. A partial sync of a document whose stored entries were checked
 * under the same NodePort range renders only the entries that changed
 * (delta.ts); a reconcile of a document that streams reads its entries as
 * the render takes them.
 */
async function wantedFrom(wanted: Wanted, state: StoredState | undefined, partial: boolean, range: PortRange, at: Attempt): Promise<WantedRead> {
  const { prefix, names, backend, opts } = at;
  if (!isDoc(wanted)) {
    const w = typeof wanted === 'function' ? await wanted(state ? storedList(state) : [], state) : wanted;
    return {
      services: w,
      count: () => w?.length ?? 0,
      // services from elsewhere (a library caller): stored under no range, so the next apply checks every entry
      next: () => (w ? fromServices(prefix, backend, MIXED_RANGE, w) : undefined),
      pendingDoc: () => fromServices(prefix, backend, MIXED_RANGE, w ?? []).doc,
      natAtLeast: 0,
    };
  }
  const bytes = wanted.doc(state);
  // a partial sync of a document: the change only, if the stored entries were checked as these would be
  const delta = partial && sameRange(state!.nodePortRange, range) ? docDelta(state!, bytes, range) : undefined;
  const dr = delta && deltaRender(state!, delta);
  if (dr) {
    const once = new OnceNames(prefix);
    const desired = render(once, dr.after, dr.scopeAfter);
    const cur = render(once, dr.before, dr.scopeBefore);
    opts.trace?.(`# compared the document: ${delta.added.length} entries read (${dr.scopeAfter.names.size} changed, ${dr.after.length} rendered): ${at.ms()}`);
    const streamed = partialDiff(desired, cur, backend, at.rr);
    const count = state!.starts.length - (delta.b - delta.a) + delta.added.length;
    const st = state!;
    return {
      services: undefined,
      count: () => count,
      next: () => applyDelta(st, delta, backend, dr.cidrs),
      pendingDoc: () => bytes,
      natAtLeast: 0,
      // a partial sync trusts the stored services to be what the kernel holds
      delta: { streamed, compared: cur, prior: () => render(names, storedList(st)) },
    };
  }
  const stateRange = wanted.keepsStored && state && !sameRange(state.nodePortRange, range) ? MIXED_RANGE : range;
  let json: boolean;
  let list: Service[];
  let lazy: Iterable<Service> | undefined;
  let natAtLeast = 0;
  if (!partial && wanted.stream) {
    // checked as rendered (streamReconcile): the first chains go to iptables-restore before the last entry is read
    const st = await wanted.stream(bytes);
    json = st.json;
    natAtLeast = st.natChainsAtLeast ?? 0;
    list = [];
    const into = list;
    lazy = (function* () {
      for (const svc of st.entries) yield (into.push(svc), svc);
    })();
  } else {
    const r = await wanted.services(bytes, state);
    json = r.json;
    list = r.services;
  }
  return {
    services: list,
    count: () => list.length,
    // indexed once the restore has the change (a byte scan of the whole file: ~8 ms at 1k, cold)
    next: () => {
      const index = json ? indexDoc(bytes) : undefined;
      return fromServices(prefix, backend, stateRange, list, index && { bytes, ...index });
    },
    pendingDoc: () => (json ? bytes : fromServices(prefix, backend, MIXED_RANGE, list).doc),
    lazy,
    natAtLeast,
  };
}

/** A partial sync of services: only what changed against the stored services, both sides rendered with the same scope. */
function partialFromStored(state: StoredState, services: WantedList | undefined, at: Attempt): Change {
  const { names } = at;
  const stored = storedList(state);
  const scope = services ? scopeOf(stored, services) : undefined;
  const desired = services ? render(names, services, scope) : emptyRuleset();
  at.opts.trace?.(`# rendered ${services?.length ?? 0} services${scope ? ` (${scope.names.size} changed)` : ''}: ${at.ms()}`);
  const compared = render(names, stored, scope);
  return {
    streamed: partialDiff(desired, compared, at.backend, at.rr),
    compared,
    // a partial sync trusts the stored services to be what the kernel holds
    prior: () => render(names, storedList(state)),
  };
}

/**
 * A reconcile's change against the kernel's chains (`saved`), written to
 * iptables-restore chain by chain as each is rendered and compared, all but
 * the end with the COMMITs (the StreamedDiff's `rest`).
 */
async function streamReconcile(saved: Saved, w: WantedRead, at: Attempt): Promise<StreamedDiff> {
  const { names, backend, rr } = at;
  const services = w.services;
  const wantedNat = w.lazy ? w.natAtLeast : services ? natChainsOf(services) : 0;
  const chunks = diffChunks(services ? chainsOf(names, w.lazy ?? services) : [], services ? hooks(names) : [], saved, saved.allChains, {
    natOpen: rr?.natOpen,
    zeroAbove: backend === 'nft' ? NFT_CHAIN_LIST_LIMIT : undefined,
    // more chains to write than the limit whatever the kernel's are (each of its chains matches at most one wanted
    // chain): -Z is certain, so the first chains need not wait for the limit's worth (~20 ms of a 1k full apply).
    // If an entry fails its checks the restore is killed anyway.
    zeroCertain: wantedNat - saved.chains.nat.size > NFT_CHAIN_LIST_LIMIT,
    // (the wanted chains, not the change: a big set's small change writes few chains in any order)
    declareFirst: declareFirstFor(backend, wantedNat),
  });
  let r: IteratorResult<string, StreamedDiff>;
  while (!(r = chunks.next()).done) await rr?.write(r.value);
  return r.value;
}

/**
 * Send the rest of the change (every COMMIT) and wait for the restore: the
 * pending marker goes first (`mark`), and `whileCommitting` works out what
 * comes after while iptables-restore commits (on legacy the restore in this
 * process has committed by then, or waits for the xtables lock). With
 * nothing to change the restore is killed before it got any COMMIT.
 */
async function commitRestore(
  rr: Restorer, streamed: StreamedDiff, result: SyncResult, at: Attempt, rollback: Rollback, mark: () => void, whileCommitting: () => void,
): Promise<void> {
  const { diff: d, zero, rest } = streamed;
  if (isEmpty(d)) {
    await rr.abort();
    return;
  }
  const inProcess = rr.how ? ` (${rr.how})` : '';
  at.opts.trace?.(`${tool(at.backend, 'restore')} --noflush <<EOF  # ${restoreLines(d, { zeroCounters: zero })} lines, ${result.chainsWritten} chains written, ${result.chainsRemoved} removed${inProcess}`);
  // it died on an earlier line: it never reads a COMMIT, so the kernel is unchanged
  const diedEarly = rr.exited;
  mark();
  // (a reconcile wrote all but this already: the end with every COMMIT)
  for (let from = 0; from < rest.length; from += 64 * 1024) await rr.write(rest.slice(from, from + 64 * 1024));
  rollback.committed = !diedEarly; // from here on, a failure may have changed a table
  const finished = rr.finish();
  whileCommitting();
  await finished;
  phase('restored');
}

/**
 * After the kernel refused a partial sync (it is not what we last wrote:
 * someone changed it), the whole set (`all`) reconciled against what the
 * kernel holds now, in a restore of its own. Its summary; the caller stores
 * the state.
 */
async function reconcileAfterRefusedPartial(all: WantedList, count: number, at: Attempt, rollback: Rollback, mark: () => void): Promise<SyncResult> {
  const { prefix, names, backend } = at;
  const saved = parseSave(await saveTables(backend, TABLES), names);
  rollback.prior = () => saved;
  const d = diff(all ? render(names, all) : emptyRuleset(), saved, saved.allChains);
  const zero = backend === 'nft' && chainCount(d) > NFT_CHAIN_LIST_LIMIT;
  mark();
  rollback.committed = true; // (its own restore: nat may be committed when filter fails)
  const declareFirst = declareFirstFor(backend, chainCount(d));
  await restore(backend, restoreText(d, { zeroCounters: zero, declareFirst }));
  // (the UDP flows to the endpoints this reconcile removed end as after any sync)
  dropStaleUdp(saved, d, names, at.opts);
  return summary(d, { prefix, backend, partial: false, count, zero, declareFirst, dryRun: false });
}

/**
 * The state a sync stores once its restore succeeded: `prepare` makes its
 * bytes (once, while iptables-restore commits), `write` stores them (or
 * drops the file when nothing of ours is wanted).
 */
function stateWriter(prefix: string, next: () => StoredState | undefined): { prepare(): void; write(): void } {
  let bytes: Buffer | null | undefined;
  const prepare = () => {
    if (bytes === undefined) {
      const st = next();
      bytes = st ? encode(st) : null;
    }
    return bytes;
  };
  return {
    prepare,
    write: () => {
      const b = prepare();
      if (b) writeState(prefix, b);
      else dropState(prefix);
    },
  };
}

/** A partial sync's diff of two renders with the same scope, as one restore text. */
function partialDiff(desired: Ruleset, cur: Ruleset, backend: Backend, rr: Restorer | undefined): StreamedDiff {
  cur.hooks = desired.hooks;
  const d = diff(desired, cur);
  const zero = backend === 'nft' && chainCount(d) > NFT_CHAIN_LIST_LIMIT;
  const declareFirst = declareFirstFor(backend, chainCount(d));
  return { diff: d, zero, declareFirst, rest: isEmpty(d) ? '' : [...restoreChunks(d, { zeroCounters: zero, natOpen: rr?.natOpen, declareFirst })].join('') };
}

/**
 * Best effort after a failed sync that may have committed a table: make our
 * chains and hooks what they were before it (`before`), whatever they are now.
 * When nothing was committed the kernel already matches and nothing is written.
 */
async function putBack(backend: Backend, names: Names, before: Ruleset): Promise<void> {
  const now = parseSave(await saveTables(backend, TABLES), names);
  const d = diff(before, now, now.allChains);
  // declarations first: the saved chains come in iptables-save's order, not a chain before the chains that jump to it
  await restore(backend, restoreText(d, { zeroCounters: backend === 'nft' && chainCount(d) > NFT_CHAIN_LIST_LIMIT, declareFirst: true }));
}

function chainCount(d: Diff): number {
  return TABLES.reduce((n, t) => n + d[t].write.length + d[t].remove.length, 0);
}

function summary(
  d: Diff,
  x: { prefix: string; backend: Backend; partial: boolean; count: number; zero: boolean; declareFirst: boolean; dryRun: boolean },
): SyncResult {
  let text: string | undefined;
  let explain: string[] | undefined;
  return {
    prefix: x.prefix,
    backend: x.backend,
    mode: x.partial ? 'partial' : 'reconcile',
    services: x.count,
    chainsWritten: chainsWritten(d),
    chainsRemoved: TABLES.reduce((n, t) => n + d[t].remove.length, 0),
    hooksAdded: TABLES.reduce((n, t) => n + d[t].hookAdd.length, 0),
    hooksRemoved: TABLES.reduce((n, t) => n + d[t].hookDel.length, 0),
    zeroedCounters: x.zero,
    changed: !isEmpty(d),
    // the whole text only when someone reads it (a dry run prints it; a sync streams it instead)
    get restore() {
      return (text ??= restoreText(d, { zeroCounters: x.zero, declareFirst: x.declareFirst }));
    },
    // only a dry run shows it, with --explain or --json: at 10k services it is another 220k strings
    get explain() {
      return (explain ??= x.dryRun ? explainLines(d, x.backend === 'legacy' ? 'iptables-legacy' : 'iptables') : []);
    },
    dryRun: x.dryRun,
  };
}
