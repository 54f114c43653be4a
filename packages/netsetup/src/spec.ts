/**
 * What one attachment asks for: the `veth` flags, or one JSON line of
 * `veth -` with the same field names.
 */
import { UsageError } from '@boxkit/common/errors';

/** One attachment, as given on the command line or as a JSON line of `veth -`. */
export interface AttachSpec {
  netns?: string;
  pid?: number;
  bridge: string;
  /** 'auto' (default) or an address with prefix, 10.10.15.2/24 */
  ip?: string;
  /** the default route's gateway; default: the bridge's address when it is in the container's subnet; 'none': no default route */
  gateway?: string;
  /** name inside the container (default eth0) */
  ifname?: string;
  /** host-side name (default derived: bk + 11 hex digits) */
  hostIfname?: string;
  mtu?: number;
  hairpin?: boolean;
}

const KEYS = new Set(['netns', 'pid', 'bridge', 'ip', 'gateway', 'ifname', 'hostIfname', 'host-ifname', 'mtu', 'hairpin']);

/** Parse one JSON line of `veth -` (same fields as the flags; host-ifname or hostIfname). */
export function parseSpecLine(line: string, n: number): AttachSpec {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new UsageError(`stdin line ${n}: not JSON: ${line.slice(0, 60)}`, 'one object per line, e.g. {"netns":"ns1","bridge":"mydocker","ip":"auto"}');
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`stdin line ${n}: expected a JSON object`);
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new UsageError(`stdin line ${n}: unknown field '${k}'`);
  if (o['host-ifname'] !== undefined) o.hostIfname = o['host-ifname'];
  return o as unknown as AttachSpec;
}

