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
  for (const k of Object.keys(o)) {
    if (!KEYS.has(k)) throw new UsageError(`stdin line ${n}: unknown field '${k}'`);
    // a value of another type is refused, not read loosely: "hairpin":"false" turned hairpin on
    const want = k === 'hairpin' ? 'boolean' : k === 'pid' || k === 'mtu' ? 'number' : 'string';
    if (typeof o[k] !== want) {
      throw new UsageError(`stdin line ${n}: '${k}' must be a ${want === 'boolean' ? 'boolean (true or false)' : want}, not ${JSON.stringify(o[k])}`, 'one object per line, e.g. {"netns":"ns1","bridge":"mydocker","mtu":1400,"hairpin":true}');
    }
  }
  if (o['host-ifname'] !== undefined) o.hostIfname = o['host-ifname'];
  return o as unknown as AttachSpec;
}

