/**
 * `run gc`: remove what crashed runs left: containers whose `run` died
 * during setup, --rm containers whose `run` died, data dirs no record
 * names (a run killed between mkdir and its first record write), store
 * files no one will read (a bk-keeper or a record write killed half-way,
 * an exit file left for a container that is gone), image layers whose
 * extraction was killed, default rootfs trees a killed build left (or a
 * rebuild kept for the containers then running on the old one), and the
 * notes of FROM-scratch root filesystems a container ran from whose dir is
 * gone or another one now (ran-from.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { dataDir, report, shellQuote } from '@boxkit/common';
import { dryRunOutput, warn } from '@boxkit/common/output';
import { umountIfMounted } from '@boxkit/native';
import { sweepStaleLayers } from '@boxkit/unionfs';
import { ID, orphanAlive, orphanParts, removeOrphanParts } from '../container/orphan.js';
import { teardownIfOwn, teardownShell } from '../container/teardown.js';
import { isGarbage, list, locked, scan, sweepStoreFiles } from '../state/store.js';

export { isGarbage } from '../state/store.js';

export async function gc(a: { json: boolean; dryRun: boolean }): Promise<number> {
  const removed: string[] = [];
  // --dry-run: what it would do, as the commands rm --dry-run prints (one document with --json)
  const d = a.dryRun ? dryRunOutput(a) : undefined;
  const recs = list();
  // (a dry run: what its sweep of the default rootfs counts as gone, as a real gc's teardowns remove them)
  const going = { ids: new Set<string>(), mountpoints: new Set<string>() };
  for (const r of recs.filter(isGarbage)) {
    if (d) for (const l of teardownShell(r)) d.print(l);
    // (its name may be a new container's by now: that one is not garbage). The default rootfs
    // trees kept for it are left to the sweep below, which reports what it removes
    else if (!(await teardownIfOwn(r, { sweepReplaced: false }))) continue;
    removed.push(r.name);
    going.ids.add(r.id);
    going.mountpoints.add(resolve(r.mountpoint));
  }
  const orphans: string[] = [];
  let files: string[] = [];
  await locked(async () => {
    files = sweepStoreFiles({ orphans: true, dryRun: !!d });
    // (a dry run: those of the containers above go with them, as a real gc's teardown takes them)
    if (d) files = files.filter((f) => !removed.includes(basename(f).replace(/\.(exit|json\.\d+\.tmp)$|\.exit\.\d+\.tmp$/, '')));
    if (d) for (const f of files) d.print(shellQuote(['rm', '-f', f]));
    // read under the lock: a run saves its record (under the lock) before it makes its data dir
    const { records, damaged } = scan();
    // a damaged record's container is unknown: any data dir could be its, in use
    if (damaged.length) {
      warn('run', `warning: data dirs not swept while ${damaged.map((n) => `${n}'s`).join(', ')} record is damaged (run rm -f ${damaged.join(' ')} forgets it)`);
      return;
    }
    const known = new Set(records.map((r) => r.id));
    let dirs: string[] = [];
    try {
      dirs = readdirSync(dataDir('containers'));
    } catch {
      // nothing made yet
    }
    for (const dir of dirs) {
      if (known.has(dir) || dir.startsWith('.')) continue;
      // its record is gone but its container may run: never pull its root or its network away
      const parts = ID.test(dir) ? orphanParts(dir) : undefined;
      const user = orphanAlive(dataDir('containers', dir, 'rootfs'), parts);
      if (user !== undefined) {
        warn('run', `warning: ${dir}: no record, but pid ${user} is still its: not removed (end that process, then run gc)`);
        continue;
      }
      orphans.push(dir);
      going.mountpoints.add(resolve(dataDir('containers', dir, 'rootfs')));
      if (d) {
        if (parts) for (const l of [...parts.groups.map((g) => g.shell), parts.vethShell]) d.print(l);
        d.print(shellQuote(['unionfs', 'umount', dataDir('containers', dir, 'rootfs')]));
        d.print(shellQuote(['rm', '-rf', dataDir('containers', dir)]));
        continue;
      }
      if (parts) await removeOrphanParts(dir, parts);
      umountIfMounted(dataDir('containers', dir, 'rootfs'), true);
      rmSync(dataDir('containers', dir), { recursive: true, force: true });
    }
  });
  // image layers whose extraction was killed half-way (a killed `run --image`): unionfs's own sweep
  const layers = sweepStaleLayers(undefined, !!d);
  // and default rootfs trees a killed build, or a rebuild under running containers, left beside it:
  // `rootfs`, a list of their own (they are no image layers)
  const { sweepDefaultRootfs } = await import('../rootfs/default.js');
  const rootfs = await sweepDefaultRootfs(!!d, d ? going : undefined);
  // and the notes of FROM-scratch dirs a container ran from (ran-from.ts) whose dir is gone or another one now
  const { sweepRanFrom } = await import('../rootfs/ran-from.js');
  const notes = sweepRanFrom(!!d);
  const ranFrom = notes.map((n) => n.note);
  if (d) {
    for (const l of [...layers, ...rootfs]) d.print(shellQuote(['rm', '-rf', l]));
    for (const n of ranFrom) d.print(shellQuote(['rm', '-f', n]));
    d.done({ removed, orphans, files, layers, rootfs, ranFrom });
    return 0;
  }
  report(a, { removed, orphans, files, layers, rootfs, ranFrom }, () => [...removed.map((n) => `removed ${n}`), ...orphans.map((d) => `removed data of ${d}`),
    ...files.map((f) => `removed ${f}`), ...layers.map((l) => `removed half-extracted layer ${l}`), ...rootfs.map((t) => `removed rootfs left over ${t}`),
    ...notes.map((n) => `removed ran-from note ${n.note} (${n.dir ? `${n.dir}: ${n.why}` : n.why})`)]);
  return 0;
}
