/**
 * `netsetup netns add|rm|ls`: named network namespaces exactly where
 * `ip netns` keeps them (/run/netns, alias /var/run/netns), so `ip netns
 * exec` works on them. add is idempotent and brings `lo` up; rm also
 * removes the attachments made into that namespace and succeeds when gone.
 */
import { validateName } from '@boxkit/common/validate';
import { detachMany, type Detached } from './detach.js';
import { namedNetns, nsInode } from './kernel.js';
import { execute, type ExecOptions, type Op } from './ops.js';

function exists(name: string): boolean {
  try {
    nsInode({ netns: name });
    return true;
  } catch {
    return false;
  }
}

export async function addNetns(name: string, opts: ExecOptions = {}): Promise<{ name: string; created: boolean; changed: boolean }> {
  validateName('netns', name);
  const ops: Op[] = exists(name) ? [] : [{ kind: 'exec', file: 'ip', args: ['netns', 'add', name] }, { kind: 'ip', ns: { netns: name }, args: ['link', 'set', 'lo', 'up'] }];
  await execute(ops, opts);
  return { name, created: ops.length > 0, changed: ops.length > 0 };
}

/** Remove a named netns, and first the attachments netsetup made into it (`detached`: what `down --netns NAME` reports). */
export async function removeNetns(name: string, opts: ExecOptions = {}): Promise<{ name: string; removed: boolean; detached: Detached[]; changed: boolean }> {
  validateName('netns', name);
  const detached = await detachMany([{ netns: name }], opts);
  const there = namedNetns().includes(name);
  await execute(there ? [{ kind: 'exec', file: 'ip', args: ['netns', 'del', name] }] : [], opts);
  return { name, removed: there, detached, changed: there || detached.length > 0 };
}

export function listNetns(): { name: string }[] {
  return namedNetns().map((name) => ({ name }));
}
