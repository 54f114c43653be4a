/**
 * What one attachment asks for: the `veth` flags, or one JSON line of
 * `veth -` with the same field names.
 */
import { UsageError } from '@boxkit/common/errors';
import { readStdin } from '@boxkit/common/stdin';

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

type FieldType = 'string' | 'number' | 'boolean';

/**
 * One JSON object line (`n`) of a batch on stdin (`veth -`, `down -`), every
 * field one of `fields`, of its type: a value of another type is refused, not
 * read loosely ("hairpin":"false" turned hairpin on, {"netns":5} failed
 * inside). `aliases` are other names of a field (host-ifname), read as it and
 * refused beside it: of two names for one field, one was silently taken.
 */
export function jsonLine(line: string, n: number, fields: Readonly<Record<string, FieldType>>, aliases: Readonly<Record<string, string>>, example: string, unknownHint?: string): Record<string, unknown> {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    throw new UsageError(`stdin line ${n}: not JSON: ${line.slice(0, 60)}`, `one object per line, e.g. ${example}`);
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`stdin line ${n}: expected a JSON object`, `one object per line, e.g. ${example}`);
  const out: Record<string, unknown> = {};
  const named: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    const field = Object.hasOwn(aliases, k) ? aliases[k]! : k;
    const want = Object.hasOwn(fields, field) ? fields[field] : undefined;
    if (!want) throw new UsageError(`stdin line ${n}: unknown field '${k}'`, unknownHint);
    if (typeof v !== want) {
      throw new UsageError(`stdin line ${n}: '${k}' must be a ${want === 'boolean' ? 'boolean (true or false)' : want}, not ${JSON.stringify(v)}`, `one object per line, e.g. ${example}`);
    }
    if (named[field] !== undefined) throw new UsageError(`stdin line ${n}: '${named[field]}' and '${k}' are two names of one field`, `give one of them`);
    named[field] = k;
    out[field] = v;
  }
  return out;
}

const FIELDS: Record<string, FieldType> = { netns: 'string', pid: 'number', bridge: 'string', ip: 'string', gateway: 'string', ifname: 'string', hostIfname: 'string', mtu: 'number', hairpin: 'boolean' };

/** Parse one JSON line of `veth -` (same fields as the flags; host-ifname or hostIfname). */
export function parseSpecLine(line: string, n: number): AttachSpec {
  return jsonLine(line, n, FIELDS, { 'host-ifname': 'hostIfname' }, '{"netns":"ns1","bridge":"mydocker","mtu":1400,"hairpin":true}') as unknown as AttachSpec;
}

/** The lines of `veth -` and `down -` input with their numbers (for errors), blank lines and # comments left out. */
export function stdinLines(): (readonly [string, number])[] {
  return readStdin().split('\n').map((l, i) => [l.trim(), i + 1] as const).filter(([l]) => l && !l.startsWith('#'));
}
