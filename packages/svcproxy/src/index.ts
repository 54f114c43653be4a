/**
 * svcproxy as a library: Kubernetes-style Service VIPs and NodePorts as
 * iptables NAT chains, synced in one iptables-restore --noflush run.
 */
import type { Service } from './model.js';
import { sync, type SyncOptions, type SyncResult } from './sync.js';
import { DEFAULT_PREFIX, Names } from './names.js';
import { emptyRuleset, render } from './rules.js';
import { diff, restoreText } from './diff.js';
import { addWanted, rmWanted } from './edit.js';
import { holdsChains, type Backend } from './backend.js';
import { statedBackend } from './store.js';

export type { Endpoint, PortRange, Protocol, Service } from './model.js';
export { DEFAULT_NODEPORT_RANGE, DEFAULT_AFFINITY_SECONDS, checkServices, parseRange } from './model.js';
export { parseDocument, toService, toServices } from './spec.js';
export { DEFAULT_PREFIX, Names } from './names.js';
export { render, probability, MASQ_MARK, type Ruleset, type Hook, type Table } from './rules.js';
export { diff, restoreText, explainLines, type Diff } from './diff.js';
export { parseSave } from './saved.js';
export { detectBackend, type Backend, type BackendChoice } from './backend.js';
export { sync, NFT_CHAIN_LIST_LIMIT, type SyncOptions, type SyncResult, type Wanted } from './sync.js';
export { storedServices } from './held.js';
export { listServices, type ListResult, type ServiceStatus, type EndpointStatus } from './status.js';
/** what storedServices() throws instead of a list a caller could build on (README: Library) */
export { CorruptState, MissingState, StaleState } from './store.js';

/** Make the kernel hold exactly these services (new, changed and removed ones in one restore). */
export function applyServices(services: readonly Service[], opts: SyncOptions = {}): Promise<SyncResult> {
  return sync(services, opts);
}

/** Add or replace one service (in place), keeping the others. */
export function addService(service: Service, opts: SyncOptions = {}): Promise<SyncResult> {
  return sync(addWanted(service), opts);
}

/** Remove services by name; removing what is gone succeeds. */
export function removeServices(names: readonly string[], opts: SyncOptions = {}): Promise<SyncResult> {
  return sync(rmWanted(names), opts);
}

/**
 * Remove every chain and hook rule of this prefix and forget the services.
 * `auto` follows the backend the state names; the other backend may hold
 * chains of this prefix too (no readable state said where they were, or
 * another svcproxy wrote them there): with `auto` they go as well, with a
 * warning; with a backend named, or a dry run, the warning says how.
 */
export async function flushServices(opts: SyncOptions = {}): Promise<SyncResult> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const auto = (opts.backend ?? 'auto') === 'auto';
  const named = auto ? statedBackend(prefix) : undefined;
  const r = await sync(null, opts);
  const other: Backend = r.backend === 'nft' ? 'legacy' : 'nft';
  const names = new Names(prefix);
  if (!(await holdsChains(other, (chain) => names.owns(chain)))) return r;
  if (r.dryRun || !auto) {
    opts.warn?.(`warning: iptables-${other} holds chains of ${prefix} too: svcproxy flush --backend ${other} removes them`);
    return r;
  }
  opts.warn?.(named
    ? `warning: iptables-${other} holds chains of ${prefix} too (the state names iptables-${named}): removing them as well`
    : `warning: no state names the backend of ${prefix}: removing its chains from iptables-${other} too`);
  const r2 = await sync(null, { ...opts, backend: other });
  return {
    ...r, chainsRemoved: r.chainsRemoved + r2.chainsRemoved, hooksRemoved: r.hooksRemoved + r2.hooksRemoved, changed: r.changed || r2.changed,
  };
}

/** The iptables-restore text that loads these services into a table that has none of ours. */
export function renderRestore(services: readonly Service[], prefix: string = DEFAULT_PREFIX): string {
  return restoreText(diff(render(prefix, services), emptyRuleset()));
}
