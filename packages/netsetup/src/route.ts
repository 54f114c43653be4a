/**
 * `netsetup route add|rm CIDR via GW [--dev IF]`: host-gw routes between
 * nodes, the article's `route add -net 10.10.14.0/24 gw 192.168.122.197`.
 * add turns on ip_forward, as a node forwarding for its containers needs,
 * and adds the route (`ip route add`, never `replace`: a route to CIDR that
 * netsetup did not make is another program's, and is refused rather than
 * silently taken over, which `route rm` would then delete). The routes it
 * made are recorded in the state; add is idempotent for its own identical
 * route, and rm deletes only a route of its own; rm succeeds when it is gone.
 */
import { BoxkitError } from '@boxkit/common/errors';
import { runLite as run } from '@boxkit/common/exec';
import { validateIfName } from '@boxkit/common/validate';
import { netString, parseCidr, parseIp } from './cidr.js';
import { ipForwardOn } from './nat.js';
import { execute, type ExecOptions, type Op } from './ops.js';
import { intentFirst, withNetState, type Intent, type NetState } from './state.js';

export interface RouteSpec {
  cidr: string;
  via: string;
  dev?: string;
}

function normalise(r: RouteSpec): RouteSpec {
  return { cidr: netString(parseCidr(r.cidr, 'destination')), via: parseIp(r.via, 'gateway'), ...(r.dev !== undefined ? { dev: validateIfName(r.dev) } : {}) };
}

const dev = (r: RouteSpec) => (r.dev ? ['dev', r.dev] : []);

/** `ip route add|del ...` run as itself (not in an `ip -batch -`), so that a refusal names the command. */
const ipRoute = (verb: 'add' | 'del', r: RouteSpec): Op => ({ kind: 'exec', file: 'ip', args: ['route', verb, r.cidr, 'via', r.via, ...dev(r)] });

/** A route of the main table to exactly `cidr`, as `ip -j` reports it. */
interface KernelRoute {
  gateway?: string;
  dev?: string;
}

async function routesTo(cidr: string): Promise<KernelRoute[]> {
  const { stdout } = await run('ip', ['-4', '-j', 'route', 'show', 'exact', cidr]);
  return JSON.parse(stdout || '[]') as KernelRoute[];
}

const describe = (k: KernelRoute) => [k.gateway ? `via ${k.gateway}` : '', k.dev ? `dev ${k.dev}` : ''].filter(Boolean).join(' ');

/** Is kernel route `k` the one netsetup recorded (`own`)? Not when another program replaced it since. */
const isOwn = (k: KernelRoute, own: RouteSpec | undefined) => !!own && k.gateway === own.via && (!own.dev || k.dev === own.dev);

export async function addRoute(spec: RouteSpec, opts: ExecOptions = {}): Promise<RouteSpec & { changed: boolean }> {
  const r = normalise(spec);
  const addRouteIn = async (s: NetState, write: boolean) => {
    const there = await routesTo(r.cidr);
    const own = s.routes[r.cidr];
    if (there.length) {
      const k = there[0]!;
      if (there.length > 1 || !isOwn(k, own)) {
        throw new BoxkitError('EEXIST', `route ${r.cidr} exists (${describe(k)}) and was not made by netsetup`, {
          hint: `leave it, or remove it first: ip route del ${r.cidr}${k.gateway ? ` via ${k.gateway}` : ''}`,
        });
      }
      if (k.gateway !== r.via || (r.dev !== undefined && k.dev !== r.dev)) {
        throw new BoxkitError('EEXIST', `route ${r.cidr}: netsetup's route is ${describe(k)}, not via ${r.via}${r.dev ? ` dev ${r.dev}` : ''}`, {
          hint: `netsetup route rm ${r.cidr} via ${own!.via} first`,
        });
      }
      return { ...r, changed: false };
    }
    // a node routing for its containers must forward (the article's sysctl -w net.ipv4.ip_forward=1)
    const ops: Op[] = [...(ipForwardOn() ? [] : [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' } as Op]),
      ipRoute('add', r)];
    // intent first: a netsetup killed after the add leaves a route its record names (rm finds it)
    const entry: Intent = {
      record: () => {
        s.routes[r.cidr] = r;
      },
      undo: () => {
        delete s.routes[r.cidr];
      },
    };
    await intentFirst(s, write ? entry : undefined, () => execute(ops, opts));
    return { ...r, changed: true };
  };
  return withNetState(opts, addRouteIn);
}

export async function removeRoute(spec: RouteSpec, opts: ExecOptions = {}): Promise<RouteSpec & { removed: boolean; changed: boolean }> {
  const r = normalise(spec);
  const removeRouteIn = async (s: NetState) => {
    const all = await routesTo(r.cidr);
    const there = all.filter((k) => k.gateway === r.via && (!r.dev || k.dev === r.dev));
    const own = s.routes[r.cidr];
    const ours = !!own && own.via === r.via;
    // netsetup's route to the CIDR is via another gateway: not gone, so not "already gone" (as add refuses it)
    const other = !there.length && all.find((k) => isOwn(k, own));
    if (other) {
      throw new BoxkitError('EEXIST', `route ${r.cidr}: netsetup's route is ${describe(other)}, not via ${r.via}${r.dev ? ` dev ${r.dev}` : ''}`, {
        hint: `netsetup route rm ${r.cidr} via ${own!.via}`,
      });
    }
    if (there.length && !there.some((k) => isOwn(k, own))) {
      throw new BoxkitError('EPERM', `route ${r.cidr} via ${r.via} was not made by netsetup`, {
        hint: `remove it by hand if it is no longer needed: ip route del ${r.cidr} via ${r.via}`,
      });
    }
    const ops: Op[] = there.length ? [ipRoute('del', r)] : [];
    await execute(ops, opts);
    if (ours) delete s.routes[r.cidr]; // (a dry run's state is a copy, never written)
    return { ...r, removed: ops.length > 0, changed: ops.length > 0 };
  };
  return withNetState(opts, removeRouteIn);
}
