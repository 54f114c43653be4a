/**
 * svcproxy as a library: Kubernetes-style Service VIPs and NodePorts as
 * iptables NAT chains, synced in one iptables-restore --noflush run.
 */
import type { Service } from './model.js';
import { sync, type SyncOptions, type SyncResult } from './sync.js';
import { DEFAULT_PREFIX } from './names.js';
import { emptyRuleset, render } from './rules.js';
import { diff, restoreText } from './diff.js';
import { addWanted, rmWanted } from './edit.js';

export type { Endpoint, PortRange, Protocol, Service } from './model.js';
export { DEFAULT_NODEPORT_RANGE, DEFAULT_AFFINITY_SECONDS, checkServices, parseRange } from './model.js';
export { parseDocument, toService, toServices } from './spec.js';
export { DEFAULT_PREFIX, Names } from './names.js';
export { render, probability, MASQ_MARK, type Ruleset, type Hook, type Table } from './rules.js';
export { diff, restoreText, explainLines, type Diff } from './diff.js';
export { parseSave } from './saved.js';
export { detectBackend, type Backend, type BackendChoice } from './backend.js';
export { sync, storedServices, NFT_CHAIN_LIST_LIMIT, type SyncOptions, type SyncResult, type Wanted } from './sync.js';
export { listServices, type ListResult, type ServiceStatus, type EndpointStatus } from './status.js';

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

/** Remove every chain and hook rule of this prefix and forget the services. */
export function flushServices(opts: SyncOptions = {}): Promise<SyncResult> {
  return sync(null, opts);
}

/** The iptables-restore text that loads these services into a table that has none of ours. */
export function renderRestore(services: readonly Service[], prefix: string = DEFAULT_PREFIX): string {
  return restoreText(diff(render(prefix, services), emptyRuleset()));
}
