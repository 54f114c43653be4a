/**
 * `run gc`: remove what crashed runs left: containers whose `run` died
 * during setup, --rm containers whose `run` died, and data dirs no record
 * names (a run killed between mkdir and its first record write).
 */
import { readdirSync, rmSync } from 'node:fs';
import { dataDir, report } from '@boxkit/common';
import { umountIfMounted } from '@boxkit/native';
import { teardown } from '../container/teardown.js';
import { isGarbage, list, locked } from '../state/store.js';

export { isGarbage } from '../state/store.js';

export async function gc(a: { json: boolean; dryRun: boolean }): Promise<number> {
  const removed: string[] = [];
  const recs = list();
  for (const r of recs.filter(isGarbage)) {
    if (!a.dryRun) await teardown(r);
    removed.push(r.name);
  }
  const orphans: string[] = [];
  await locked(() => {
    // read under the lock: a run saves its record (under the lock) before it makes its data dir
    const known = new Set(list().map((r) => r.id));
    let dirs: string[] = [];
    try {
      dirs = readdirSync(dataDir('containers'));
    } catch {
      // nothing made yet
    }
    for (const d of dirs) {
      if (known.has(d) || d.startsWith('.')) continue;
      orphans.push(d);
      if (a.dryRun) continue;
      umountIfMounted(dataDir('containers', d, 'rootfs'), true);
      rmSync(dataDir('containers', d), { recursive: true, force: true });
    }
  });
  report(a, { ...(a.dryRun ? { dryRun: true } : {}), removed, orphans }, () => [...removed.map((n) => `removed ${n}`), ...orphans.map((d) => `removed data of ${d}`)]);
  return 0;
}
