import { describe, expect, it } from 'vitest';
import { render } from '../src/rules.js';
import { diff } from '../src/diff.js';
import { staleUdp } from '../src/sync.js';
import { Names } from '../src/names.js';
import type { Service } from '../src/model.js';

const ep = (ip: string, port = 5354) => ({ ip, port });
const a: Service = { name: 'ns/a', protocol: 'udp', vip: '10.96.5.54', port: 54, nodePort: 30054, endpoints: [ep('10.88.7.2'), ep('10.88.7.3')] };
const b: Service = { name: 'b', protocol: 'udp', vip: '10.96.6.55', port: 55, endpoints: [ep('10.88.7.2')] };
const t: Service = { name: 't', protocol: 'tcp', vip: '10.96.5.56', port: 54, endpoints: [ep('10.88.7.2')] };
const names = new Names('BKSVC');
/** what a sync from `before` to `after` deletes, the kernel holding exactly `before` */
const stale = (before: Service[], after: Service[]) => {
  const kernel = render(names, before);
  return staleUdp(kernel, diff(render(names, after), kernel), names);
};

describe('the UDP flows a sync ends (conntrack -D)', () => {
  it("an endpoint removed from one service: that service's VIP:port and NodePort with the endpoint, not the other service that keeps it", () => {
    expect(stale([a, b, t], [{ ...a, endpoints: [ep('10.88.7.3')] }, b, t])).toEqual([{ endpoint: '10.88.7.2:5354', vip: '10.96.5.54:54', nodePort: 30054 }]);
  });

  it('a service removed: each of its endpoints; with affinity; a TCP service is not UDP', () => {
    const aff = { ...b, affinitySeconds: 60 };
    expect(stale([a, aff, t], [t])).toEqual([
      { endpoint: '10.88.7.2:5354', vip: '10.96.5.54:54', nodePort: 30054 },
      { endpoint: '10.88.7.3:5354', vip: '10.96.5.54:54', nodePort: 30054 },
      { endpoint: '10.88.7.2:5354', vip: '10.96.6.55:55' },
    ]);
    expect(stale([a, t], [a])).toEqual([]);
  });

  it('a VIP moved with an endpoint removed: the flows to the old VIP', () => {
    expect(stale([b], [{ ...b, vip: '10.96.6.99', endpoints: [ep('10.88.7.9')] }])).toEqual([{ endpoint: '10.88.7.2:5354', vip: '10.96.6.55:55' }]);
  });
});
