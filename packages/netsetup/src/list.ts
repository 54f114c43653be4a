/**
 * `netsetup ls`: what netsetup made (bridges, attachments, NAT networks,
 * published ports) checked against the kernel, plus the nat rules that
 * carry a boxkit comment.
 */
import { listLinks } from './kernel.js';
import { filter, nat, readTable, type NatTable } from './iptables.js';
import { warn } from '@boxkit/common/output';
import { describeError } from '@boxkit/common/errors';
import { renderOp } from './ops.js';
import { readState, type AttachmentRecord, type BridgeRecord, type NatRecord, type PublishRecord, type RouteRecord } from './state.js';
import { runLite as run } from '@boxkit/common/exec';
import { namedNetns } from './kernel.js';
import { holdsLease, readAttachments } from './store.js';

export interface Listing {
  bridges: (BridgeRecord & { present: boolean })[];
  /**
   * present: its host link exists; leased: it holds its address's lease (false for a pending
   * record, and for one a `down` killed part-way left: its address may be another's by now)
   */
  attachments: (AttachmentRecord & { present: boolean; leased: boolean })[];
  nat: NatRecord[];
  publish: PublishRecord[];
  /** host-gw routes netsetup added; present: the kernel has it (main table, same gateway) */
  routes: (RouteRecord & { present: boolean })[];
  netns: string[];
  /** `iptables -t nat -A ...` (and `-t filter`: the route_localnet guard) lines carrying a boxkit comment */
  rules: string[];
}

export async function list(): Promise<Listing> {
  const s = readState();
  const links = await listLinks();
  const [t, f] = await readRules();
  const ours = (x: NatTable) => x.rules.filter((r) => r.comment?.startsWith('boxkit ') || r.spec.some((w) => w.startsWith('BOXKIT-')));
  return {
    bridges: Object.values(s.bridges).map((b) => ({ ...b, present: links.has(b.name) })),
    attachments: readAttachments().map((a) => ({ ...a, present: links.has(a.hostIfname), leased: holdsLease(a) })),
    nat: Object.values(s.nat),
    publish: Object.values(s.publish),
    routes: await withPresence(Object.values(s.routes)),
    netns: namedNetns(),
    rules: [...ours(t).map((r) => renderOp(nat('-A', ...r.spec))), ...ours(f).map((r) => renderOp(filter('-A', ...r.spec)))],
  };
}

/** The nat and filter tables, or none with a one-line warning (not root: iptables-save refuses): ls still lists the rest. */
async function readRules(): Promise<[NatTable, NatTable]> {
  try {
    return [await readTable('nat'), await readTable('filter')];
  } catch (e) {
    warn('netsetup', `warning: cannot read iptables (${describeError(e).message.split('\n')[0]}): no rules listed`);
    const none = (): NatTable => ({ chains: new Set(), rules: [] });
    return [none(), none()];
  }
}

/** Each recorded route with whether the kernel still has it (one `ip route` read, only when there are routes). */
async function withPresence(routes: RouteRecord[]): Promise<(RouteRecord & { present: boolean })[]> {
  if (!routes.length) return [];
  const { stdout } = await run('ip', ['-4', '-j', 'route', 'show']);
  const kernel = JSON.parse(stdout || '[]') as { dst: string; gateway?: string; dev?: string }[];
  return routes.map((r) => ({ ...r, present: kernel.some((k) => k.dst === r.cidr && k.gateway === r.via && (!r.dev || k.dev === r.dev)) }));
}
