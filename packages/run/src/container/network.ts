/**
 * The container's network: nothing (a fresh netns with lo), the host's, or
 * a veth pair from a bridge with an address (IPAM), a default route, NAT
 * and published ports. Adapter over the netsetup library.
 */
import type { NetRecord } from '../state/record.js';
import type { ContainerSpec } from './spec.js';

export interface NetPlan {
  spec: ContainerSpec;
  hostVeth: string;
}

/** Shell lines for --dry-run; PID stands for the held child's pid. */
export function netShell(_p: NetPlan, _pid: string): string[] {
  return [];
}

/** Set up the network for the held child `pid`; returns what to record. */
export async function setupNetwork(p: NetPlan, _pid: number): Promise<NetRecord> {
  const n = p.spec.net;
  if (n.mode !== 'bridge') return { mode: n.mode };
  throw new Error('bridge networking is not wired yet');
}

/** Undo setupNetwork; tolerant of what is already gone. */
export async function teardownNetwork(_net: NetRecord): Promise<void> {}
