/**
 * `run gc`: remove what crashed runs left: containers whose `run` died
 * during setup, --rm containers whose `run` died, data dirs no record
 * names (a run killed between mkdir and its first record write), store
 * files no one will read (a bk-keeper or a record write killed half-way,
 * an exit file left for a container that is gone), and image layers whose
 * extraction was killed.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { dataDir, report, shellQuote } from '@boxkit/common';
import { dryRunOutput, warn } from '@boxkit/common/output';
import { umountIfMounted } from '@boxkit/native';
import { sweepStaleLayers } from '@boxkit/unionfs';
import { removeGroup, type Group } from '@boxkit/cg';
import { group } from '../container/cgroup.js';
import { teardownNetwork } from '../container/network.js';
import { hostVethName } from '../state/names.js';
import { teardownIfOwn, teardownShell } from '../container/teardown.js';
import { isGarbage, list, locked, scan, sweepStoreFiles } from '../state/store.js';

export { isGarbage } from '../state/store.js';

/**
 * A process whose root is the mount at `dir` (a container's PID 1 after
 * pivot_root, or anything it started), or undefined when `dir` is no mount
 * point or nobody has it as root: an overlay's directories carry its own
 * st_dev, which /proc/PID/root/ of a process rooted in it shows.
 */
export function rootOf(dir: string): number | undefined {
  let dev: number;
  try {
    dev = statSync(dir).dev;
    if (dev === statSync(dirname(dir)).dev) return undefined;
  } catch {
    return undefined;
  }
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (statSync(`/proc/${p}/root/`).dev === dev) return Number(p);
    } catch {
      // gone, or a kernel thread
    }
  }
  return undefined;
}

/** A container id (newId): what names its cgroup and its host veth. */
const ID = /^[0-9a-f]{12}$/;

/**
 * What a container whose record is gone may still hold, named by its id:
 * its group under the default parent or gc's own (the parent it had was in
 * the record), and its host veth with netsetup's record of it (lease, ports).
 */
function orphanParts(id: string): { groups: { group: Group; shell: string }[]; hostVeth: string; vethShell: string } {
  const groups = ['boxkit', 'self'].map((parent) => {
    const g = group(parent, id);
    return { group: g, shell: shellQuote(['cg', 'rm', id, ...(parent === 'boxkit' ? [] : ['--parent', parent])]) };
  }).filter((x) => x.group.dirs.some((dir) => existsSync(dir.path)));
  const hostVeth = hostVethName(id);
  return { groups, hostVeth, vethShell: shellQuote(['netsetup', 'down', '--host-ifname', hostVeth]) };
}

/** A process in the group (any of its directories), or undefined. */
function firstProcess(g: Group): number | undefined {
  for (const d of g.dirs) {
    try {
      const pid = readFileSync(join(d.path, 'cgroup.procs'), 'utf8').split('\n').find(Boolean);
      if (pid) return Number(pid);
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Remove them; processes left in a group (none, its root unused) keep it, with a warning. */
async function removeOrphanParts(id: string, parts: ReturnType<typeof orphanParts>): Promise<void> {
  for (const { group: g } of parts.groups) {
    await removeGroup(g).catch((e: unknown) => warn('run', `warning: ${id}: its cgroup was not removed: ${(e as Error).message.split('\n')[0]}`));
  }
  await teardownNetwork({ mode: 'bridge', hostVeth: parts.hostVeth }).catch((e: unknown) => warn('run', `warning: ${id}: its network was not removed: ${(e as Error).message.split('\n')[0]}`));
}

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
      // its record is gone but its container runs (the record removed by hand): never pull its root
      // or its network away. Its root in use, or processes in a group named by its id (seen from any
      // pid or mount namespace, where the root's st_dev may not be), says it runs.
      const parts = ID.test(dir) ? orphanParts(dir) : undefined;
      const user = rootOf(dataDir('containers', dir, 'rootfs')) ?? parts?.groups.map((g) => firstProcess(g.group)).find((p) => p !== undefined);
      if (user !== undefined) {
        warn('run', `warning: ${dir}: no record, but pid ${user} is still its: not removed (end that process, then run gc)`);
        continue;
      }
      orphans.push(dir);
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
  if (d) {
    for (const l of layers) d.print(shellQuote(['rm', '-rf', l]));
    d.done({ removed, orphans, files, layers });
    return 0;
  }
  report(a, { removed, orphans, files, layers }, () => [...removed.map((n) => `removed ${n}`), ...orphans.map((d) => `removed data of ${d}`),
    ...files.map((f) => `removed ${f}`), ...layers.map((l) => `removed half-extracted layer ${l}`)]);
  return 0;
}
