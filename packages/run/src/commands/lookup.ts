/** Finding a container by name or id (prefix), for every command that takes one. */
import { BoxkitError } from '@boxkit/common';
import { reportFailure, toStderr } from '@boxkit/common/errors';
import type { ContainerRecord } from '../state/record.js';
import { list, load } from '../state/store.js';
import { checkName } from '../state/names.js';

export function find(ref: string): ContainerRecord | undefined {
  checkName(ref);
  const byName = load(ref);
  if (byName) return byName;
  const byId = list().filter((r) => r.id.startsWith(ref));
  return byId.length === 1 ? byId[0] : undefined;
}

export function mustFind(ref: string): ContainerRecord {
  const r = find(ref);
  if (!r) throw new BoxkitError('ENOENT', `no such container: ${ref}`, { hint: 'see run ps -a' });
  return r;
}

/**
 * Do `fn` for each name as docker does with several: a name that fails is
 * reported on its own (the usual one line and hint) and the others are
 * still done. Returns the exit code of the first failure, or 0.
 */
export async function eachName(names: readonly string[], fn: (name: string) => void | Promise<void>): Promise<number> {
  let code = 0;
  for (const n of names) {
    try {
      await fn(n);
    } catch (e) {
      const c = reportFailure('run', e, toStderr);
      if (!code) code = c;
    }
  }
  return code;
}
