/**
 * The services the kernel and the state hold for a prefix, when a sync or a
 * library caller cannot take the state file's word alone: the stored
 * services (and what throws instead of an empty list), and the backend whose
 * chains a damaged or missing state's services are in.
 */

import { readFileSync } from 'node:fs';
import { detectBackend, holdsChains, tool, type Backend } from './backend.js';
import { DEFAULT_NODEPORT_RANGE, type PortRange, type Service } from './model.js';
import { DEFAULT_PREFIX, Names } from './names.js';
import { parseSave } from './saved.js';
import { kernelServices } from './status.js';
import { loadState, MissingState, storedList } from './store.js';

/**
 * The backend a damaged or missing state's chains are in (`auto`): the
 * host's iptables, unless only the other backend holds chains of the prefix
 * (a state written with --backend legacy): add and rm build on those. The
 * other backend is asked first: on an nft host whose kernel has no legacy
 * tables that is a file read, and the host's need not be read at all (a
 * first add, with no state, spawns no iptables-save for it).
 */
export async function backendHolding(names: Names): Promise<Backend> {
  const host = detectBackend();
  const other: Backend = host === 'nft' ? 'legacy' : 'nft';
  const ours = (chain: string) => names.owns(chain);
  if (!(await holdsChains(other, ours))) return host;
  return (await holdsChains(host, ours)) ? host : other;
}

/**
 * The services stored for `prefix`. Throws CorruptState, StaleState or
 * MissingState (no state file while the kernel holds services of the
 * prefix) rather than return [], since a caller that builds the next list
 * on [] would remove every other service. To build on what is there
 * whatever the state, pass sync() a function of the stored services.
 */
export function storedServices(prefix = DEFAULT_PREFIX): { services: Service[]; backend?: Backend; nodePortRange: PortRange } {
  const s = loadState(prefix);
  if (!s) {
    const held = heldServicesSync(new Names(prefix));
    if (held) throw new MissingState(prefix, held);
  }
  return { services: s ? storedList(s) : [], ...(s ? { backend: s.backend } : {}), nodePortRange: s?.nodePortRange ?? DEFAULT_NODEPORT_RANGE };
}

/**
 * How many services the kernel's rules of the prefix describe, read
 * synchronously: the host's iptables, then the other backend (legacy only
 * when the kernel has its tables, as holdsChains reads it). 0 when neither
 * can be read (not installed, not root).
 */
function heldServicesSync(names: Names): number {
  const { execFileSync } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
  const host = detectBackend();
  for (const b of [host, host === 'nft' ? 'legacy' : 'nft'] as const) {
    if (b === 'legacy' && !legacyTables()) continue;
    try {
      const text = execFileSync(tool(b, 'save'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
      const n = kernelServices(parseSave(text, names), names).length;
      if (n) return n;
    } catch {
      // this backend cannot be read: it holds nothing we could build on
    }
  }
  return 0;
}

function legacyTables(): boolean {
  try {
    return readFileSync('/proc/net/ip_tables_names', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}
