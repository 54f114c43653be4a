/**
 * How a sync is shown: the restore text (--dry-run), iptables commands
 * (--explain), one JSON document (--json), or one human line.
 */
import type { CommonArgs } from '@boxkit/common/cli';
import { printJson, printLines, warn } from '@boxkit/common/output';
import { err, trace, writeAll } from '@boxkit/common/stdio';
import type { SyncOptions, SyncResult } from '../sync.js';
import { parseRange } from '../model.js';
import { nodeportRangeOf, type SyncArgs } from './args.js';

export function syncOptions(a: Partial<SyncArgs> & CommonArgs & { explain?: boolean }): SyncOptions {
  return {
    prefix: a.prefix ?? 'BKSVC',
    backend: a.backend ?? 'auto',
    partial: a.partial ?? false,
    dryRun: a.dryRun || !!a.explain,
    nodePortRange: parseRange(nodeportRangeOf(a)),
    ...(a.verbose ? { trace } : {}),
    warn: (m) => warn('svcproxy', m),
  };
}

export function reportSync(a: CommonArgs & { explain?: boolean }, r: SyncResult, what: string): number {
  const changed = r.changed;
  if (a.json) {
    // field by field: r.restore is built only when read, and only a dry run shows it
    const { prefix, backend, mode, services, chainsWritten, chainsRemoved, hooksAdded, hooksRemoved, zeroedCounters, dryRun } = r;
    const doc = { prefix, backend, mode, services, chainsWritten, chainsRemoved, hooksAdded, hooksRemoved, zeroedCounters, dryRun, changed };
    // a dry run as every boxkit tool prints it with --json: its fields, dryRun and the commands (here: as iptables commands)
    printJson(r.dryRun ? { ...doc, restore: r.restore, explain: r.explain, commands: r.explain } : doc);
    return 0;
  }
  if (r.dryRun) {
    if (!changed) err('svcproxy: nothing to change: the kernel already matches');
    if (a.explain) printLines(r.explain);
    else if (changed) writeAll(1, r.restore);
    return 0;
  }
  printLines([
    changed
      ? `${what}: ${r.services} service(s); ${r.chainsWritten} chain(s) written, ${r.chainsRemoved} removed (${r.mode}, iptables-${r.backend})`
      : `${what}: ${r.services} service(s); nothing to change (iptables-${r.backend})`,
  ]);
  return 0;
}
