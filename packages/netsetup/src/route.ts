/**
 * `netsetup route add|rm CIDR via GW [--dev IF]`: host-gw routes between
 * nodes, the article's `route add -net 10.10.14.0/24 gw 192.168.122.197`.
 * add uses `ip route replace` (idempotent) and turns on ip_forward, as a
 * node forwarding for its containers needs; rm succeeds when it is gone.
 */
import { runLite as run } from '@boxkit/common/exec';
import { validateIfName } from '@boxkit/common/validate';
import { netString, parseCidr, parseIp } from './cidr.js';
import { ipForwardOn } from './nat.js';
import { execute, type ExecOptions, type Op } from './ops.js';

export interface RouteSpec {
  cidr: string;
  via: string;
  dev?: string;
}

function normalise(r: RouteSpec): RouteSpec {
  return { cidr: netString(parseCidr(r.cidr, 'destination')), via: parseIp(r.via, 'gateway'), ...(r.dev !== undefined ? { dev: validateIfName(r.dev) } : {}) };
}

const dev = (r: RouteSpec) => (r.dev ? ['dev', r.dev] : []);

export async function addRoute(spec: RouteSpec, opts: ExecOptions = {}): Promise<RouteSpec> {
  const r = normalise(spec);
  // a node routing for its containers must forward (the article's sysctl -w net.ipv4.ip_forward=1)
  const fwd: Op[] = ipForwardOn() ? [] : [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }];
  await execute([...fwd, { kind: 'ip', args: ['route', 'replace', r.cidr, 'via', r.via, ...dev(r)] }], opts);
  return r;
}

export async function removeRoute(spec: RouteSpec, opts: ExecOptions = {}): Promise<RouteSpec & { removed: boolean }> {
  const r = normalise(spec);
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'exact', r.cidr, 'via', r.via, ...dev(r)]);
  const ops: Op[] = stdout.trim() ? [{ kind: 'ip', args: ['route', 'del', r.cidr, 'via', r.via, ...dev(r)] }] : [];
  await execute(ops, opts);
  return { ...r, removed: ops.length > 0 };
}
