/**
 * What netsetup made, under the state dir ($BOXKIT_STATE_DIR/netsetup,
 * default /run/boxkit): bridges, NAT networks and published ports in one
 * JSON file changed under a flock (rare commands); attachments and address
 * leases in files of their own, claimed without a lock (store.ts), so the
 * per-container path (`veth`, `down`) stays cheap.
 */
import { readJson, stateDir, withLock, writeJson } from '@boxkit/common/state';
import { crashPoint } from './crash.js';

export interface BridgeRecord {
  name: string;
  /** the bridge's own address with prefix: 10.10.15.1/24 */
  cidr: string;
}

export interface AttachmentRecord {
  hostIfname: string;
  ifname: string;
  netns?: string;
  pid?: number;
  /** nsfs inode of the container's namespace: the host name is derived from it */
  nsInode: number;
  bridge: string;
  /** 10.10.15.2/24 */
  ip: string;
  gateway?: string;
  /** the address came from IPAM (--ip auto) */
  auto: boolean;
  mtu?: number;
  hairpin: boolean;
  created: string;
  /** pid of the netsetup process that made it: a record without its link is in progress while that process lives */
  owner?: number;
}

export interface NatRecord {
  cidr: string;
  outIf?: string;
  chain: string;
}

export interface PublishRecord {
  /** 8080:10.10.15.2:80/tcp */
  spec: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  proto: 'tcp' | 'udp';
  hostIp?: string;
  /** the subnet whose members are masqueraded on hairpin (the bridge's) */
  subnet: string;
  /** the bridge whose route_localnet this port needs (published on localhost); older records: found by subnet */
  localnet?: string;
}

/** route_localnet of a bridge as it was before netsetup turned it on (localnet.ts) */
export interface LocalnetRecord {
  before: string;
}

export interface NetState {
  /**
   * 2: no publish rule without its entry (publish writes the entry first). A state an older
   * netsetup wrote is 1 until the first `down` after the upgrade removes what it may have left.
   */
  version: 1 | 2;
  bridges: Record<string, BridgeRecord>;
  nat: Record<string, NatRecord>;
  publish: Record<string, PublishRecord>;
  /** by bridge name */
  localnet: Record<string, LocalnetRecord>;
  /** host-gw routes netsetup added, by destination */
  routes: Record<string, RouteRecord>;
}

export interface RouteRecord {
  cidr: string;
  via: string;
  dev?: string;
}

export function statePath(): string {
  return stateDir('netsetup', 'state.json');
}

function empty(): NetState {
  return { version: 2, bridges: {}, nat: {}, publish: {}, localnet: {}, routes: {} };
}

export function readState(): NetState {
  return { ...empty(), ...(readJson<NetState>(statePath()) ?? {}) };
}

/** Read, change and write the state under the lock; `fn` may throw to abort without writing. */
export async function updateState<T>(fn: (s: NetState) => T | Promise<T>): Promise<T> {
  return withLock(stateDir('netsetup', 'lock'), async () => {
    const s = readState();
    const r = await fn(s);
    writeJson(statePath(), s);
    return r;
  });
}

/**
 * Run `fn` on the state: for a dry run on a copy, read without the lock and
 * never written (`write` false); else under the lock, written when `fn`
 * returns (`write` true; see updateState). `write` tells `fn` whether what
 * it notes lasts: only then may it record intent first (intentFirst).
 */
export async function withNetState<T>(opts: { dryRun?: boolean }, fn: (s: NetState, write: boolean) => T | Promise<T>): Promise<T> {
  return opts.dryRun ? fn(readState(), false) : updateState((s) => fn(s, true));
}

/** Write the state now, from inside updateState (a record of intent before a kernel change). */
export function writeStateNow(s: NetState): void {
  writeJson(statePath(), s);
}

/** What a kernel change notes in the state before it is made, and how it is taken back (intentFirst). */
export interface Intent {
  /** note the change in the state (written right after) */
  record(): void;
  /** on failure: remove what the change made, and the note (the state is written after) */
  undo(): void | Promise<void>;
  /** a crashPoint right after the note is written (tests) */
  crashAt?: string;
}

/**
 * Make a change with its intent written first, from inside updateState: a
 * netsetup killed while `change` runs leaves a record that finds what it
 * made (`down`, `publish rm`, `route rm`); when `change` fails, `intent.undo`
 * takes it back and the state is written again, so nothing is left
 * half-made. A failing undo leaves the note in place (and its error is the
 * one thrown), so the next removal still finds it. No `intent` (a dry run,
 * or the record is there already): `change` alone.
 */
export async function intentFirst<T>(s: NetState, intent: Intent | undefined, change: () => Promise<T>): Promise<T> {
  if (!intent) return change();
  intent.record();
  writeStateNow(s);
  if (intent.crashAt) crashPoint(intent.crashAt);
  try {
    return await change();
  } catch (e) {
    await intent.undo();
    writeStateNow(s);
    throw e;
  }
}

/** Run `fn` under the state lock without writing (for iptables read-modify-write). */
export async function locked<T>(fn: () => T | Promise<T>): Promise<T> {
  return withLock(stateDir('netsetup', 'lock'), fn);
}
