/**
 * desired vs current -> the smallest iptables-restore --noflush text that
 * makes the kernel match: only chains whose rules differ are declared
 * (which flushes them) and rewritten, chains no longer wanted are flushed
 * and deleted, missing hook rules are inserted and stray ones deleted.
 */
import type { Hook, Ruleset, Table } from './rules.js';
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

export function diff(desired: Ruleset, current: Ruleset, existing?: Record<Table, Set<string>>): Diff {
  const out = {} as Diff;
  for (const t of TABLES) {
    const want = desired.chains[t];
    const have = current.chains[t];
    const d: TableDiff = { write: [], remove: [], hookAdd: [], hookDel: [] };
    for (const [chain, rules] of want) {
      const cur = have.get(chain);
      if (cur && sameRules(cur, rules)) continue;
      d.write.push({ chain, exists: cur !== undefined || (existing?.[t].has(chain) ?? false), rules });
    }
    for (const chain of have.keys()) if (!want.has(chain)) d.remove.push(chain);
    // hooks: each wanted hook consumes one matching rule; what is left over is stray (a duplicate or stale)
    const left = current.hooks.filter((h) => h.table === t);
    for (const h of desired.hooks.filter((x) => x.table === t)) {
      const i = left.findIndex((c) => c.chain === h.chain && norm(c.spec) === norm(h.spec));
      if (i >= 0) left.splice(i, 1);
      else d.hookAdd.push(h);
    }
    d.hookDel = left;
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

/**
 * The iptables-restore --noflush text for a diff (one section per table
 * that changes), in chunks: at 10k services it is 220k lines, better fed
 * to iptables-restore as it is made than built as one string first.
 */
export function* restoreChunks(d: Diff, opts: RestoreOptions = {}): Generator<string> {
  let buf = '';
  for (const t of TABLES) {
    const td = d[t];
    const open = t === 'nat' && opts.natOpen;
    if (!hasChange(td)) {
      if (open) buf += 'COMMIT\n';
      continue;
    }
    if (!open) buf += `*${t}\n`;
    if (t === 'nat' && opts.zeroCounters) buf += '-Z\n';
    // stray hooks go first so the chains they jump to can be deleted below
    for (const h of td.hookDel) buf += `-D ${h.chain} ${h.spec}\n`;
    // declaring a chain creates it, or flushes it when it exists
    for (const w of td.write) {
      buf += `:${w.chain} - [0:0]\n`;
      if (buf.length > CHUNK) (yield buf, (buf = ''));
    }
    for (const c of td.remove) buf += `:${c} - [0:0]\n`;
    for (const w of td.write) {
      const head = `-A ${w.chain} `;
      for (const r of w.rules) buf += `${head}${r}\n`;
      if (buf.length > CHUNK) (yield buf, (buf = ''));
    }
    for (const h of td.hookAdd) buf += `-I ${h.chain} 1 ${h.spec}\n`;
    for (const c of td.remove) {
      buf += `-X ${c}\n`;
      if (buf.length > CHUNK) (yield buf, (buf = ''));
    }
    buf += 'COMMIT\n';
  }
  if (buf) yield buf;
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
