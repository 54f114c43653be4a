import type { CommonArgs } from '@boxkit/common/cli';
import { report, table } from '@boxkit/common/output';
import { list, type Listing } from '../list.js';

/** up / gone (its link), or stale: a record that lost its lease (a `down` killed part-way; `down` removes it) */
function stateWord(x: Listing['attachments'][number]): string {
  if (x.ip && !x.leased) return 'stale';
  return x.present ? 'up' : 'gone';
}

export async function lsCommand(a: CommonArgs): Promise<number> {
  const l = await list();
  report(a, l, () => {
    const out: string[] = [];
    if (l.bridges.length) out.push(...table([['BRIDGE', 'ADDRESS', 'STATE'], ...l.bridges.map((b) => [b.name, b.cidr, b.present ? 'up' : 'missing'])]), '');
    if (l.attachments.length) {
      out.push(...table([['HOST-IF', 'NETNS/PID', 'IFNAME', 'ADDRESS', 'BRIDGE', 'STATE'],
        ...l.attachments.map((x) => [x.hostIfname, x.netns ?? `pid ${x.pid}`, x.ifname, x.ip || '(pending)', x.bridge, stateWord(x)])]), '');
    }
    for (const n of l.nat) out.push(`nat ${n.cidr} (${n.chain})${n.outIf ? ` out ${n.outIf}` : ''}`);
    for (const p of l.publish) out.push(`publish ${p.spec}`);
    for (const r of l.routes) out.push(`route ${r.cidr} via ${r.via}${r.dev ? ` dev ${r.dev}` : ''}${r.present ? '' : ' (missing)'}`);
    if (l.rules.length) out.push('', ...l.rules);
    while (out[out.length - 1] === '') out.pop();
    return out;
  });
  return 0;
}
