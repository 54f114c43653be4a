/**
 * The pure part of `veth` and `down`, run once while the startup snapshot
 * is built: V8 keeps what it compiled then, so a start does not compile
 * these functions again. No file, process or kernel is touched.
 */
import { Attrs, ifinfomsg } from '@boxkit/native';
import { attachOps, deriveHostIfname } from './attach.js';
import { contains, formatCidr, parseCidr, parseIp } from './cidr.js';
import { linkDelOps } from './detach.js';
import { fastParse } from './fast.js';
import { groupsOf, translate } from './netlink.js';
import { renderOp } from './ops.js';

export function warm(): void {
  fastParse(['veth', '--netns', 'n', '--bridge', 'b', '--ip', '10.0.0.2/24', '--mtu', '1400']);
  fastParse(['down', '--netns', 'n', '--pid', '1']);
  const ip = formatCidr(parseCidr('10.0.0.2/24'));
  contains(parseCidr(ip), parseIp('10.0.0.1'));
  const hostIfname = deriveHostIfname(1, 'eth0');
  const plan = attachOps({
    spec: { bridge: 'b' }, ns: { netns: 'n' }, inode: 1, ifname: 'eth0', hostIfname, bridgeCidr: '10.0.0.1/24', ip, gateway: '10.0.0.1', mtu: 1400, hairpin: true,
  } as Parameters<typeof attachOps>[0]);
  for (const op of [...plan.host, ...plan.inside, ...linkDelOps([hostIfname]), ...linkDelOps([hostIfname, 'x'])]) {
    renderOp(op);
    if (op.kind === 'ip') translate(op.args);
  }
  ifinfomsg({ flags: 1, change: 1 }, new Attrs().str(3, 'x').u32(4, 1500).nest(18, (a) => a.str(1, 'veth')).ip4(1, '10.0.0.1'));
  groupsOf([ifinfomsg({}, new Attrs().str(3, 'x').u32(27, 0))]); // a batch down's read of the link groups
}
