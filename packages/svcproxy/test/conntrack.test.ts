import { describe, expect, it } from 'vitest';
import { render } from '../src/rules.js';
import { diff } from '../src/diff.js';
import { localAddresses, staleUdp, staleUdpAddresses } from '../src/udp-flows.js';
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

describe('the UDP VIP:ports and NodePorts a sync takes away', () => {
  const gone = (before: Service[], after: Service[]) => {
    const kernel = render(names, before);
    const g = staleUdpAddresses(kernel, diff(render(names, after), kernel), names);
    return { vips: g.vips.map((x) => [x.key, [...x.endpoints].sort()]), nodePorts: g.nodePorts.map((x) => [x.key, [...x.endpoints].sort()]) };
  };

  it('each with the endpoints its service DNATed to (the flows to delete are those, not every flow to the port)', () => {
    expect(gone([a, b, t], [{ ...a, nodePort: 30055 }, b, t])).toEqual({ vips: [], nodePorts: [[30054, ['10.88.7.2:5354', '10.88.7.3:5354']]] });
    expect(gone([a, b, t], [t])).toEqual({
      vips: [['10.96.5.54:54', ['10.88.7.2:5354', '10.88.7.3:5354']], ['10.96.6.55:55', ['10.88.7.2:5354']]],
      nodePorts: [[30054, ['10.88.7.2:5354', '10.88.7.3:5354']]],
    });
  });

  it('nothing when the kernel held none of our chains (a first apply), or only new buckets are written', () => {
    expect(gone([], [a, b, t])).toEqual({ vips: [], nodePorts: [] });
    expect(stale([], [a, b, t])).toEqual([]);
    // b's VIP moves to a /24 no service had: its old bucket is rewritten (the VIP goes), the new one takes nothing away
    expect(gone([a, b], [a, { ...b, vip: '10.96.9.55' }])).toEqual({ vips: [['10.96.6.55:55', ['10.88.7.2:5354']]], nodePorts: [] });
  });
});

describe("the node's own addresses (what --dst-type LOCAL matches), from /proc/net/fib_trie", () => {
  it('host LOCAL routes of the local table, not 127/8, not broadcast or main-table entries; once each', () => {
    const trie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.88.7.0/24 2 0 2
        |-- 10.88.7.0
           /24 link UNICAST
        |-- 10.88.7.1
           /32 host LOCAL
        |-- 10.88.7.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.88.7.1
        /32 host LOCAL
     |-- 127.0.0.0
        /8 host LOCAL
     |-- 127.0.0.1
        /32 host LOCAL
     |-- 203.0.113.1
        /32 host LOCAL
     |-- 198.18.4.0
        /24 host LOCAL
`;
    expect(localAddresses(trie)).toEqual([[(10 << 24) + (88 << 16) + (7 << 8) + 1, 32], [203 * 2 ** 24 + (113 << 8) + 1, 32], [198 * 2 ** 24 + (18 << 16) + (4 << 8), 24]]);
  });
});
