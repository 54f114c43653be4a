/** Finding a container by name or id (prefix), for every command that takes one. */
import { BoxkitError } from '@boxkit/common';
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
