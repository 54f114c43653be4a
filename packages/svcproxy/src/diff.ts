/**
 * desired vs current -> the smallest iptables-restore --noflush text that
 * makes the kernel match: only chains whose rules differ are declared
 * (which flushes them) and rewritten, chains no longer wanted are flushed
 * and deleted, missing hook rules are inserted and stray ones deleted.
 *
 * Each written chain is declared right before its rules, in the desired
 * state's order (a chain before the chains that jump to it: rules.ts
 * chainsOf), so the text can be written to iptables-restore chain by chain
 * while the rest is still being rendered (diffChunks).
 */
import type { ChainRules, Hook, Ruleset, Table } from './rules.js';
import { TABLES } from './rules.js';

export interface TableDiff {
  /** chains to (re)write, with whether the kernel already has them */
  write: { chain: string; exists: boolean; rules: string[] }[];
  /** our chains the desired state no longer has */
  remove: string[];
  hookAdd: Hook[];
  hookDel: Hook[];
}

export type Diff = Record<Table, TableDiff>;

/** iptables-save quotes comments only sometimes (and prints single blanks): compare without quotes. */
export const norm = (s: string): string => (s.includes('"') ? s.replaceAll('"', '') : s);

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  // identical text first: the common case, and the only one when comparing with stored state
  return a.length === b.length && a.every((r, i) => r === b[i] || norm(r) === norm(b[i]!));
}

const emptyTableDiff = (): TableDiff => ({ write: [], remove: [], hookAdd: [], hookDel: [] });

/** Hooks: each wanted hook consumes one matching rule; what is left over is stray (a duplicate or stale). */
function hookDiff(t: Table, desired: readonly Hook[], current: readonly Hook[], d: TableDiff): void {
  const left = current.filter((h) => h.table === t);
  for (const h of desired) {
    if (h.table !== t) continue;
    const i = left.findIndex((c) => c.chain === h.chain && norm(c.spec) === norm(h.spec));
    if (i >= 0) left.splice(i, 1);
    else d.hookAdd.push(h);
  }
  d.hookDel = left;
}

export function diff(desired: Ruleset, current: Ruleset, existing?: Record<Table, Set<string>>): Diff {
  const out = {} as Diff;
  for (const t of TABLES) {
    const want = desired.chains[t];
    const have = current.chains[t];
    const d = emptyTableDiff();
    for (const [chain, rules] of want) {
      const cur = have.get(chain);
      if (cur && sameRules(cur, rules)) continue;
      d.write.push({ chain, exists: cur !== undefined || (existing?.[t].has(chain) ?? false), rules });
    }
    for (const chain of have.keys()) if (!want.has(chain)) d.remove.push(chain);
    hookDiff(t, desired.hooks, current.hooks, d);
    out[t] = d;
  }
  return out;
}

export function isEmpty(d: Diff): boolean {
  return TABLES.every((t) => !hasChange(d[t]));
}

export function chainsWritten(d: Diff): number {
  return TABLES.reduce((n, t) => n + d[t].write.length, 0);
}

export interface RestoreOptions {
  /**
   * Put `-Z` first in the nat section: iptables-nft 1.8.x then loads its
   * whole chain cache at once instead of inserting every chain name into a
   * sorted list (quadratic: 25 min for 60k chains). Resets nat counters.
   */
  zeroCounters?: boolean;
  /** the `*nat` line was already sent (RestoreRun.openNat): always close the nat section, never open it */
  natOpen?: boolean;
  /**
   * Declare every written chain first, then write their rules (instead of
   * each chain's declaration right before its rules). iptables-legacy-restore
   * wants this: chains declared between rules cost it ~25% more at 60k
   * chains (libiptc), 3.1 -> 4.1 s.
   */
  declareFirst?: boolean;
}

const hasChange = (td: TableDiff): boolean => td.write.length + td.remove.length + td.hookAdd.length + td.hookDel.length > 0;

/** How many lines restoreText() has (without building it). */
export function restoreLines(d: Diff, opts: RestoreOptions = {}): number {
  let n = 0;
  for (const t of TABLES) {
    const td = d[t];
    if (!hasChange(td)) continue;
    n += 2 + td.hookDel.length + td.write.length + 2 * td.remove.length + td.hookAdd.length;
    for (const w of td.write) n += w.rules.length;
    if (t === 'nat' && opts.zeroCounters) n++;
  }
  return n;
}

/** Chunks of about this many characters: one pipe write each, so the restore can parse while more is made. */
const CHUNK = 64 * 1024;

// the pieces of a table's section; restoreChunks and diffChunks put them together the same way
function sectionHead(t: Table, td: TableDiff, opts: RestoreOptions): string {
  let s = t === 'nat' && opts.natOpen ? '' : `*${t}\n`;
  if (t === 'nat' && opts.zeroCounters) s += '-Z\n';
  // stray hooks go first so the chains they jump to can be deleted below
  for (const h of td.hookDel) s += `-D ${h.chain} ${h.spec}\n`;
  return s;
}

/** A chain written: declaring it creates it, or flushes it when it exists; then its rules. */
function chainText(w: TableDiff['write'][number]): string {
  return `:${w.chain} - [0:0]\n${rulesText(w)}`;
}

function rulesText(w: TableDiff['write'][number]): string {
  let s = '';
  const head = `-A ${w.chain} `;
  for (const r of w.rules) s += `${head}${r}\n`;
  return s;
}

/** Removed chains are flushed, hooks inserted, then the removed chains deleted. */
function* sectionTail(td: TableDiff, buf: { s: string }): Generator<string> {
  for (const c of td.remove) {
    buf.s += `:${c} - [0:0]\n`;
    if (buf.s.length > CHUNK) (yield buf.s, (buf.s = ''));
  }
  for (const h of td.hookAdd) buf.s += `-I ${h.chain} 1 ${h.spec}\n`;
  for (const c of td.remove) {
    buf.s += `-X ${c}\n`;
    if (buf.s.length > CHUNK) (yield buf.s, (buf.s = ''));
  }
  buf.s += 'COMMIT\n';
}

/**
 * The iptables-restore --noflush text for a diff (one section per table
 * that changes), in chunks: at 10k services it is 220k lines, better fed
 * to iptables-restore as it is made than built as one string first.
 */
export function* restoreChunks(d: Diff, opts: RestoreOptions = {}): Generator<string> {
  const buf = { s: '' };
  for (const t of TABLES) {
    const td = d[t];
    if (!hasChange(td)) {
      if (t === 'nat' && opts.natOpen) buf.s += 'COMMIT\n';
      continue;
    }
    buf.s += sectionHead(t, td, opts);
    if (opts.declareFirst) {
      for (const w of td.write) buf.s += `:${w.chain} - [0:0]\n`;
      for (const w of td.write) {
        buf.s += rulesText(w);
        if (buf.s.length > CHUNK) (yield buf.s, (buf.s = ''));
      }
    } else {
      for (const w of td.write) {
        buf.s += chainText(w);
        if (buf.s.length > CHUNK) (yield buf.s, (buf.s = ''));
      }
    }
    yield* sectionTail(td, buf);
  }
  if (buf.s) yield buf.s;
}

export interface StreamedDiff {
  diff: Diff;
  /** the text has a leading -Z (zeroAbove was passed and the change declares more chains) */
  zero: boolean;
  /** the text not yielded yet: the end of it, with every COMMIT (write it only if the diff is not empty) */
  rest: string;
  /** every declaration came before the rules (RestoreOptions.declareFirst) */
  declareFirst: boolean;
}

/**
 * diff() and restoreChunks() in one pass over the desired chains as they
 * are made: each chain that differs from `current` is yielded as text at
 * once (in chunks), so iptables-restore parses while the rest is rendered.
 * Nothing yielded carries a COMMIT: the end of the text, with every
 * COMMIT, is returned (`rest`), and a diff that turns out empty yields
 * nothing at all. The text is exactly what restoreChunks(diff,
 * {zeroCounters: zero, natOpen}) makes.
 *
 * zeroAbove (iptables-nft): a change that declares more chains than this
 * gets a leading -Z. The nat text is held back until its written chains
 * pass that many (then -Z is certain) or until the end (when it is known).
 */
export function* diffChunks(
  desired: Iterable<ChainRules>,
  desiredHooks: readonly Hook[],
  current: Ruleset,
  existing: Record<Table, Set<string>> | undefined,
  opts: {
    natOpen?: boolean;
    zeroAbove?: number;
    /**
     * The caller knows more than zeroAbove nat chains will be written (a
     * lower bound: see sync.ts): -Z goes out at once and no chain is held
     * back, the text is the same.
     */
    zeroCertain?: boolean;
    declareFirst?: boolean;
  } = {},
): Generator<string, StreamedDiff> {
  const d: Diff = { nat: emptyTableDiff(), filter: emptyTableDiff() };
  for (const t of TABLES) hookDiff(t, desiredHooks, current.hooks, d[t]);
  const seen: Record<Table, Set<string>> = { nat: new Set(), filter: new Set() };
  const text: RestoreOptions = { natOpen: opts.natOpen, zeroCounters: false };
  // declareFirst: the declarations go out as the chains are made, their rules once all are declared
  let rules = '';
  const made = (w: TableDiff['write'][number]): string => {
    if (!opts.declareFirst) return chainText(w);
    rules += rulesText(w);
    return `:${w.chain} - [0:0]\n`;
  };
  let started = false; // the nat section's head is in buf (so nat text may be yielded)
  let held = ''; // nat chains made before that
  let buf = '';
  const start = () => {
    started = true;
    buf += sectionHead('nat', d.nat, text) + held;
    held = '';
  };
  if (opts.zeroAbove !== undefined && opts.zeroCertain) {
    text.zeroCounters = true;
    start();
  } else if (opts.zeroAbove === undefined && d.nat.hookDel.length) start();
  // (no destructuring, and no lookups in a table that holds none of our chains: a full render passes here cold
  // for every chain)
  for (const c of desired) {
    const t = c[0], chain = c[1], rules = c[2];
    const have = current.chains[t];
    const cur = have.size ? have.get(chain) : undefined;
    // only the kernel's chains can be left over (removed below)
    if (cur !== undefined) seen[t].add(chain);
    if (cur && sameRules(cur, rules)) continue;
    const w = { chain, exists: cur !== undefined || (existing?.[t].has(chain) ?? false), rules };
    d[t].write.push(w);
    if (t !== 'nat') continue; // filter's section comes after nat's COMMIT
    if (started) buf += made(w);
    else {
      held += made(w);
      if (opts.zeroAbove === undefined) start();
      else if (d.nat.write.length > opts.zeroAbove) {
        text.zeroCounters = true;
        start();
      }
    }
    if (buf.length > CHUNK) (yield buf, (buf = ''));
  }
  for (const t of TABLES) for (const chain of current.chains[t].keys()) if (!seen[t].has(chain)) d[t].remove.push(chain);
  if (!started) {
    if (opts.zeroAbove !== undefined) text.zeroCounters = TABLES.reduce((n, t) => n + d[t].write.length + d[t].remove.length, 0) > opts.zeroAbove;
    if (hasChange(d.nat)) start();
  }
  // the rest: nat's end (or a bare COMMIT for a nat section opened early), then filter's whole section
  const rest = { s: buf };
  if (started) {
    for (let at = 0; at < rules.length; at += CHUNK) {
      rest.s += rules.slice(at, at + CHUNK);
      yield rest.s; // no COMMIT in it
      rest.s = '';
    }
    yield* sectionTail(d.nat, rest); // chunks of removed chains' lines: no COMMIT in them
  } else if (opts.natOpen) rest.s += 'COMMIT\n';
  for (const c of restoreChunks({ nat: emptyTableDiff(), filter: d.filter }, { declareFirst: opts.declareFirst })) rest.s += c;
  return { diff: d, zero: !!text.zeroCounters, rest: rest.s, declareFirst: !!opts.declareFirst };
}

/** The iptables-restore --noflush text for a diff, as one string ('' when nothing changes). */
export function restoreText(d: Diff, opts: RestoreOptions = {}): string {
  let out = '';
  for (const c of restoreChunks(d, { ...opts, natOpen: false })) out += c;
  return out;
}

/** The same change as article-style `iptables -t nat -N/-A` commands. */
export function explainLines(d: Diff, bin = 'iptables'): string[] {
  const out: string[] = [];
  for (const t of TABLES) {
    const td = d[t];
    const x = (args: string) => out.push(`${bin} -t ${t} ${args}`);
    for (const h of td.hookDel) x(`-D ${h.chain} ${h.spec}`);
    for (const w of td.write) x(w.exists ? `-F ${w.chain}` : `-N ${w.chain}`);
    for (const c of td.remove) x(`-F ${c}`);
    for (const w of td.write) for (const r of w.rules) x(`-A ${w.chain} ${r}`);
    for (const h of td.hookAdd) x(`-I ${h.chain} 1 ${h.spec}`);
    for (const c of td.remove) x(`-X ${c}`);
  }
  return out;
}
