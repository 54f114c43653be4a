/**
 * `run gc`: remove what crashed runs left: containers whose `run` died
 * during setup, --rm containers whose `run` died, data dirs no record
 * names (a run killed between mkdir and its first record write), and exit
 * files no one will read (a bk-keeper killed as it wrote one, or one
 * left for a container that is gone).
 */
import { readdirSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { dataDir, report, shellQuote } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';
import { umountIfMounted } from '@boxkit/native';
import { teardownIfOwn, teardownShell } from '../container/teardown.js';
import { isGarbage, list, locked, sweepExitFiles } from '../state/store.js';

export { isGarbage } from '../state/store.js';

export async function gc(a: { json: boolean; dryRun: boolean }): Promise<number> {
  const removed: string[] = [];
  // --dry-run: what it would do, as the commands rm --dry-run prints (one document with --json)
  const d = a.dryRun ? dryRunOutput(a) : undefined;
  const recs = list();
  for (const r of recs.filter(isGarbage)) {
    if (d) for (const l of teardownShell(r)) d.print(l);
    // (its name may be a new container's by now: that one is not garbage)
    else if (!(await teardownIfOwn(r))) continue;
    removed.push(r.name);
  }
  const orphans: string[] = [];
  let files: string[] = [];
  await locked(() => {
    files = sweepExitFiles({ orphans: true, dryRun: !!d });
    // (a dry run: those of the containers above go with them, as a real gc's teardown takes them)
    if (d) files = files.filter((f) => !removed.includes(basename(f).replace(/\.exit(\.\d+\.tmp)?$/, '')));
    if (d) for (const f of files) d.print(shellQuote(['rm', '-f', f]));
    // read under the lock: a run saves its record (under the lock) before it makes its data dir
    const known = new Set(list().map((r) => r.id));
    let dirs: string[] = [];
    try {
      dirs = readdirSync(dataDir('containers'));
    } catch {
      // nothing made yet
    }
    for (const dir of dirs) {
      if (known.has(dir) || dir.startsWith('.')) continue;
      orphans.push(dir);
      if (d) {
        d.print(shellQuote(['unionfs', 'umount', dataDir('containers', dir, 'rootfs')]));
        d.print(shellQuote(['rm', '-rf', dataDir('containers', dir)]));
        continue;
      }
      umountIfMounted(dataDir('containers', dir, 'rootfs'), true);
      rmSync(dataDir('containers', dir), { recursive: true, force: true });
    }
  });
  if (d) {
    d.done({ removed, orphans, files });
    return 0;
  }
  report(a, { removed, orphans, files }, () => [...removed.map((n) => `removed ${n}`), ...orphans.map((d) => `removed data of ${d}`), ...files.map((f) => `removed exit file ${f}`)]);
  return 0;
}
