/**
 * The iptables backend, chosen once: the nf_tables one (`iptables-nft`, the
 * default on Debian 12) or iptables-legacy. `auto` follows what the host's
 * `iptables-restore` points to, as the user's own `iptables` would.
 */
import { realpathSync } from 'node:fs';
import { delimiter, join, basename } from 'node:path';
import { run, UsageError } from '@boxkit/common';
import type { Table } from './rules.js';

export type Backend = 'nft' | 'legacy';
export const BACKENDS = ['auto', 'nft', 'legacy'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export function detectBackend(): Backend {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/sbin').split(delimiter)) {
    try {
      const real = basename(realpathSync(join(dir, 'iptables-restore')));
      return real.includes('legacy') ? 'legacy' : 'nft';
    } catch {
      // not in this directory
    }
  }
  return 'nft';
}

export function chooseBackend(b: BackendChoice | undefined): Backend {
  if (b === undefined || b === 'auto') return detectBackend();
  if (b !== 'nft' && b !== 'legacy') throw new UsageError(`unknown backend '${String(b)}'`, 'use auto, nft or legacy');
  return b;
}

export const tool = (b: Backend, what: 'save' | 'restore' | ''): string => `iptables-${b}${what ? `-${what}` : ''}`;

/** iptables-save of the given tables (with counters when asked). */
export async function saveTables(b: Backend, tables: readonly Table[], counters = false): Promise<string> {
  const parts = await Promise.all(tables.map((t) => run(tool(b, 'save'), [...(counters ? ['-c'] : []), '-t', t])));
  return parts.map((p) => p.stdout).join('\n');
}

/** One iptables-restore --noflush run (legacy waits for the xtables lock like iptables -w). */
export async function restore(b: Backend, text: string): Promise<void> {
  if (!text) return;
  await run(tool(b, 'restore'), [...(b === 'legacy' ? ['-w', '10'] : []), '--noflush'], { input: text });
}
