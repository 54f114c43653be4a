/**
 * Taking a container apart: every piece its record names, in reverse order
 * of creation, each step tolerant of what is already gone, so rm, --rm, a
 * failed start and gc all share one path.
 */
import { BoxkitError, shellQuote } from '@boxkit/common';
import { err } from '@boxkit/common/stdio';
import { after } from '@boxkit/common/errors';
import { kill } from '@boxkit/native';
import type { ContainerRecord } from '../state/record.js';
import { containerData, forget, isAlive, load, locked, recordPath } from '../state/store.js';
import { removeTree } from '../state/remove.js';
import { removeCgroup } from './cgroup.js';
import { teardownNetwork } from './network.js';
import { unmountUnion } from './union.js';
import { replacedTrees, sweepReplacedAfter } from '../rootfs/default.js';
import { warn } from '@boxkit/common/output';
import { mark } from '@boxkit/common/phases';

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/** SIGKILL PID 1 (the kernel then kills the whole PID namespace) and wait for it to go. */
export async function killContainer(rec: ContainerRecord): Promise<void> {
  if (!rec.pid || !isAlive(rec)) return;
  try {
    kill(rec.pid, 9);
  } catch {
    // already gone
  }
  await until(() => !isAlive(rec), 5000);
}

/** teardown() as the boxkit commands a user could run (rm --dry-run); `self` is the cgroup of the `run` that made it. */
export function teardownShell(rec: ContainerRecord): string[] {
  const lines: string[] = [];
  if (rec.pid && isAlive(rec)) lines.push(`kill -KILL ${rec.pid}`);
  if (rec.net.mode === 'bridge' && rec.net.hostVeth) lines.push(shellQuote(['netsetup', 'down', '--host-ifname', rec.net.hostVeth]));
  if (rec.cgroup) lines.push(shellQuote(['cg', 'rm', rec.cgroup.name, ...(rec.cgroup.parent === 'root' ? [] : ['--parent', rec.cgroup.parent])]));
  lines.push(shellQuote(['unionfs', 'umount', rec.mountpoint]));
  lines.push(shellQuote(['rm', '-rf', containerData(rec.id)]));
  lines.push(shellQuote(['rm', '-f', recordPath(rec.name)]));
  return lines;
}

/**
 * teardown() of a container found ended by someone other than its own run (ps, gc, a keeper):
 * under the store's lock, and only while the record under its name is still this container's.
 * Its name, and with it its cgroup's path, may be a new container's by then (a new run takes
 * the name of an ended --rm container, under the lock): a teardown from a stale record removed
 * the new one's cgroup, killing it, and its record. Returns whether it removed it.
 */
export async function teardownIfOwn(rec: ContainerRecord, opts: TeardownOptions = {}): Promise<boolean> {
  return locked(async () => {
    if (load(rec.name)?.id !== rec.id) return false;
    await teardown(rec, opts);
    return true;
  });
}

export interface TeardownOptions {
  /**
   * Leave the default rootfs trees a rebuild kept to the caller's own sweep (false: `run gc`,
   * which sweeps them after its teardowns and reports what it removed). Default: swept here.
   */
  sweepReplaced?: boolean;
}

/** Remove everything of `rec`. */
export async function teardown(rec: ContainerRecord, opts: TeardownOptions = {}): Promise<void> {
  const wasAlive = isAlive(rec);
  await killContainer(rec);
  mark('killed');
  const errors: unknown[] = [];
  const step = async (fn: () => void | Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };
  await step(() => teardownNetwork(rec.net));
  mark('t-net');
  await step(() => removeCgroup(rec.cgroup));
  mark('t-cgroup');
  await step(() => unmountUnion(rec.mountpoint));
  mark('t-umount');
  await step(() => removeTree(containerData(rec.id)));
  mark('t-rm');
  // the rest stays for the next rm -f (the record too): say that its processes are gone all the same
  if (errors.length) throw after(`${rec.name}: ${wasAlive && !isAlive(rec) ? 'stopped, but ' : ''}not removed`, errors[0], `run rm -f ${rec.name} again once that is fixed`);
  forget(rec.name);
  mark('t-forget');
  // the default rootfs tree a rebuild kept for it, and others, if it was their last user; one
  // that cannot be removed now is left to run gc (the container itself is gone)
  if (opts.sweepReplaced === false) return;
  try {
    await sweepReplacedAfter(rec);
  } catch (e) {
    // (a Ctrl-C that stopped a foreground run's wait for the build lock: the trees left, named, with the gc that removes them)
    const left = e instanceof BoxkitError && e.code === 'EINTR' ? replacedTrees() : [];
    if (!left.length) {
      warn('run', `warning: a replaced default rootfs tree was not removed: ${(e as Error).message} (run gc removes it)`);
    } else {
      warn('run', `warning: ${rec.name} is removed, but not the default rootfs ${left.length > 1 ? 'trees' : 'tree'} a rebuild replaced (${left.join(', ')}): ${(e as Error).message}`);
      err(`hint: run gc removes ${left.length > 1 ? 'them' : 'it'} once that lock is free`);
    }
  }
  mark('t-sweep');
}
