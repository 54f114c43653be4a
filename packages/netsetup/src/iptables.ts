/**
 * The nat table as netsetup sees it: `iptables-save -t nat` parsed into
 * chains and rules. boxkit's rules are recognised by their `-m comment`
 * (always starting with "boxkit "), so removal deletes exactly the rules a
 * command made, in whatever form iptables-save prints them back.
 */
import { runLite as run } from '@boxkit/common/exec';
import type { Op } from './ops.js';

export interface SavedRule {
  chain: string;
  /** the words after `-A` (chain first), ready for `-D` */
  spec: string[];
  comment?: string;
}

export interface NatTable {
  chains: Set<string>;
  rules: SavedRule[];
}

/** Split an iptables-save line into words (double quotes group, \" escapes). */
export function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '\\' && line[i + 1] === '"') cur += line[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inWord = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

export function parseSave(text: string): NatTable {
  const chains = new Set<string>();
  const rules: SavedRule[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) {
      const w = words(line).slice(1);
      const ci = w.indexOf('--comment');
      rules.push({ chain: w[0]!, spec: w, ...(ci >= 0 ? { comment: w[ci + 1]! } : {}) });
    }
  }
  return { chains, rules };
}

/** Read one table; an empty table when iptables cannot be read (dry run as non-root). */
export async function readTable(table: 'nat' | 'filter', lenient = false): Promise<NatTable> {
  try {
    return parseSave((await run('iptables-save', ['-t', table])).stdout);
  } catch (e) {
    if (lenient) return { chains: new Set(), rules: [] };
    throw e;
  }
}

/** Read the nat table (see readTable). */
export function readNat(lenient = false): Promise<NatTable> {
  return readTable('nat', lenient);
}

export function hasComment(t: NatTable, comment: string): boolean {
  return t.rules.some((r) => r.comment === comment);
}

/** Ops deleting every rule (of `table`, nat unless told) whose comment satisfies `match`. */
export function deleteRules(t: NatTable, match: (comment: string) => boolean, table: 'nat' | 'filter' = 'nat'): Op[] {
  return t.rules.filter((r) => r.comment !== undefined && match(r.comment)).map((r) => ({ kind: 'ipt', table, args: ['-D', ...r.spec] }));
}

/** Rules left in `chain` after removing those matched. */
export function remaining(t: NatTable, chain: string, match: (comment: string) => boolean): number {
  return t.rules.filter((r) => r.chain === chain && !(r.comment !== undefined && match(r.comment))).length;
}

export const nat = (...args: string[]): Op => ({ kind: 'ipt', table: 'nat', args });
export const filter = (...args: string[]): Op => ({ kind: 'ipt', table: 'filter', args });
