import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { contains, hosts, overlaps, parseCidr, parseHostCidr } from '../src/cidr.js';
import { attachOps, deriveHostIfname, parseSpecLine } from '../src/attach.js';
import { isTempGroup, linkDelOps, restoreOps, tempGroup } from '../src/detach.js';
import { parseSave, words } from '../src/iptables.js';
import { renderOp, renderOps } from '../src/ops.js';
import { parsePublish, planRemoveTo, publishString } from '../src/publish.js';
import { renderAttach, renderPublish, renderRoute } from '../src/render.js';
import { allocate, checkFree, leaseExplicit, peek } from '../src/ipam.js';
import { releaseLease } from '../src/store.js';
import type { NetState } from '../src/state.js';

describe('cidr', () => {
  it('parses and normalises', () => {
    expect(parseCidr('10.10.15.1/24')).toEqual({ ip: '10.10.15.1', prefix: 24, network: '10.10.15.0' });
    expect(contains(parseCidr('10.10.15.0/24'), '10.10.15.254')).toBe(true);
    expect(contains(parseCidr('10.10.15.0/24'), '10.10.16.1')).toBe(false);
    expect([...hosts(parseCidr('10.0.0.0/30'))]).toEqual(['10.0.0.1', '10.0.0.2']);
  });
  it('refuses a network or broadcast address as an interface address (exit 2), not on /31 or /32', () => {
    expect(() => parseHostCidr('10.10.15.0/24')).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/network address of 10\.10\.15\.0\/24/) }));
    expect(() => parseHostCidr('10.10.15.255/24')).toThrow(/broadcast address/);
    expect(() => parseHostCidr('10.10.15.127/25')).toThrow(/broadcast address/);
    expect(() => parseHostCidr('10.10.15.128/25')).toThrow(/network address/);
    expect(parseHostCidr('10.10.15.129/25').ip).toBe('10.10.15.129');
    for (const s of ['10.10.15.0/31', '10.10.15.1/31', '10.10.15.0/32', '10.10.15.255/32']) expect(parseHostCidr(s).ip).toBe(s.split('/')[0]);
  });
  it.each(['0.0.0.0/32', '0.1.2.3/24', '127.0.0.2/8', '224.0.0.1/24', '239.1.1.1/32', '240.0.0.1/24', '255.255.255.255/32'])('refuses %s as an interface address (exit 2)', (s) => {
    expect(() => parseHostCidr(s)).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/this network|loopback|multicast/) }));
  });
  it('tells overlapping networks', () => {
    const o = (a: string, b: string) => overlaps(parseCidr(a), parseCidr(b));
    expect(o('10.10.15.1/24', '10.10.15.129/25')).toBe(true);
    expect(o('10.10.15.129/25', '10.10.0.1/16')).toBe(true);
    expect(o('10.10.15.1/24', '10.10.15.254/24')).toBe(true);
    expect(o('10.10.15.1/24', '10.10.16.1/24')).toBe(false);
    expect(o('10.10.15.1/25', '10.10.15.129/25')).toBe(false);
  });
  it.each(['10.10.15.1', '10.10.15.256/24', '10.10.15.1/33', 'x/24', '10.10.15.1/24/1', '010.1.1.1/8'])('rejects %s with exit 2', (s) => {
    expect(() => parseCidr(s)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('ipam (lease files in a temporary state dir)', () => {
  const state: NetState = { version: 1, nat: {}, publish: {}, localnet: {}, routes: {}, bridges: { br: { name: 'br', cidr: '10.77.1.1/24' } } };
  beforeEach(() => {
    process.env.BOXKIT_STATE_DIR = mkdtempSync(join(tmpdir(), 'netsetup-ipam-'));
  });
  afterEach(() => {
    rmSync(process.env.BOXKIT_STATE_DIR!, { recursive: true, force: true });
  });
  it('skips the gateway and leased addresses, and reuses freed ones', () => {
    expect(allocate(state, '10.77.1.1/24', 'a')).toBe('10.77.1.2/24');
    leaseExplicit(state, '10.77.1.3/24', 'b');
    expect(allocate(state, '10.77.1.1/24', 'c')).toBe('10.77.1.4/24');
    releaseLease('10.77.1.2');
    expect(peek(state, '10.77.1.1/24')).toBe('10.77.1.2/24');
    expect(allocate(state, '10.77.1.1/24', 'd')).toBe('10.77.1.2/24');
  });
  it('refuses an explicit address held by another or owned by a bridge', () => {
    leaseExplicit(state, '10.77.1.9/24', 'bk1 100');
    expect(() => leaseExplicit(state, '10.77.1.9/24', 'bk2 200')).toThrow(/already in use by bk1$/);
    expect(() => leaseExplicit(state, '10.77.1.1/24', 'bk2 200')).toThrow(expect.objectContaining({ exitCode: 2 }));
    expect(() => checkFree(state, '10.77.1.9/24')).toThrow(/in use/);
  });
  it('leases an address once whatever prefix it is written with', () => {
    leaseExplicit(state, '10.77.1.9/25', 'bk1 100');
    expect(() => leaseExplicit(state, '10.77.1.9/24', 'bk2 200')).toThrow(/already in use by bk1$/);
    expect(() => checkFree(state, '10.77.1.9/26')).toThrow(/in use/);
    leaseExplicit(state, '10.77.1.2/26', 'bk3 300');
    expect(allocate(state, '10.77.1.1/24', 'bk4 400')).toBe('10.77.1.3/24');
  });
  it('fails when the subnet is full', () => {
    expect(allocate(state, '10.77.1.1/30', 'a')).toBe('10.77.1.2/30');
    expect(() => allocate(state, '10.77.1.1/30', 'b')).toThrow(/no free address/);
  });
});

describe('attach plan', () => {
  it('creates the peer inside the namespace and renders article-style lines', () => {
    const o = attachOps({
      spec: { netns: 'ns1', bridge: 'mydocker' }, ns: { netns: 'ns1' }, inode: 1, ifname: 'eth0', hostIfname: 'machine1',
      bridgeCidr: '10.10.15.1/24', ip: '10.10.15.2/24', gateway: '10.10.15.1', hairpin: true,
    });
    expect(renderOps([...o.host, ...o.inside])).toEqual([
      'ip link add machine1 type veth peer name eth0 netns ns1',
      'ip link set machine1 master mydocker',
      'ip link set machine1 type bridge_slave hairpin on',
      'ip link set machine1 up',
      'ip netns exec ns1 ip link set lo up',
      'ip netns exec ns1 ip addr add 10.10.15.2/24 dev eth0',
      'ip netns exec ns1 ip link set eth0 up',
      'ip netns exec ns1 ip route add default via 10.10.15.1 dev eth0',
    ]);
  });
  it('renders pid targets with nsenter', () => {
    expect(renderOp({ kind: 'ip', ns: { pid: 42 }, args: ['addr', 'add', '10.0.0.2/24', 'dev', 'eth0'] })).toBe('nsenter -t 42 -n ip addr add 10.0.0.2/24 dev eth0');
  });
  it('derives short, distinct, stable host names', () => {
    const a = deriveHostIfname(4026532001, 'eth0');
    expect(a).toMatch(/^bk[0-9a-f]{11}$/);
    expect(deriveHostIfname(4026532001, 'eth0')).toBe(a);
    expect(deriveHostIfname(4026532002, 'eth0')).not.toBe(a);
    expect(deriveHostIfname(4026532001, 'eth1')).not.toBe(a);
  });
  it('parses JSON lines with the flag names', () => {
    expect(parseSpecLine('{"netns":"c1","bridge":"br","host-ifname":"x"}', 1)).toMatchObject({ netns: 'c1', bridge: 'br', hostIfname: 'x' });
    expect(() => parseSpecLine('{"netns":"c1","colour":"red"}', 3)).toThrow(/line 3: unknown field 'colour'/);
    expect(() => parseSpecLine('nope', 2)).toThrow(expect.objectContaining({ exitCode: 2 }));
    // typed: a string is not read as a boolean or a number
    expect(() => parseSpecLine('{"netns":"c1","hairpin":"false"}', 4)).toThrow(/^stdin line 4: 'hairpin' must be a boolean \(true or false\), not "false"$/);
    expect(() => parseSpecLine('{"netns":"c1","mtu":"1400"}', 5)).toThrow(/^stdin line 5: 'mtu' must be a number, not "1400"$/);
    expect(() => parseSpecLine('{"netns":"c1","hostIfname":"a","host-ifname":"b"}', 6)).toThrow(/^stdin line 6: 'hostIfname' and 'host-ifname' are two names of one field$/);
    expect(parseSpecLine('{"netns":"c1","host-ifname":"x"}', 1)).toEqual({ netns: 'c1', hostIfname: 'x' });
    expect(() => parseSpecLine('{"pid":"42"}', 6)).toThrow(/'pid' must be a number/);
    expect(() => parseSpecLine('{"netns":7}', 7)).toThrow(/'netns' must be a string, not 7/);
    expect(parseSpecLine('{"pid":42,"bridge":"br","mtu":1400,"hairpin":false}', 1)).toEqual({ pid: 42, bridge: 'br', mtu: 1400, hairpin: false });
  });
  it('deletes many links through one link group, never group 0', () => {
    expect(renderOps(linkDelOps(['a']))).toEqual(['ip link del a']);
    const ops = renderOps(linkDelOps(['a', 'b']));
    const g = /group (\d+)$/.exec(ops[2]!)![1];
    expect(Number(g)).toBeGreaterThan(0);
    expect(ops).toEqual([`ip link set dev a group ${g}`, `ip link set dev b group ${g}`, `ip link del group ${g}`]);
    expect(isTempGroup(Number(g))).toBe(true);
    expect(renderOps(linkDelOps(['a', 'b'], 0x62000005))).toEqual(['ip link set dev a group 1644167173', 'ip link set dev b group 1644167173', 'ip link del group 1644167173']);
  });
  it('takes a temporary group no link is in', () => {
    expect([0, 7, 0x62000000, 0x62ffffff].map(isTempGroup)).toEqual([false, false, false, false]);
    expect([0x62000001, 0x62fffffe].map(isTempGroup)).toEqual([true, true]);
    const r = vi.spyOn(Math, 'random').mockReturnValueOnce(0).mockReturnValueOnce(0).mockReturnValueOnce(0.5);
    try {
      expect(tempGroup([0x62000001])).toBe(0x62000001 + Math.floor(0.5 * 0xfffffe));
      expect(r).toHaveBeenCalledTimes(3);
    } finally {
      r.mockRestore();
    }
    for (const x of [0, 0.9999999999]) {
      const one = vi.spyOn(Math, 'random').mockReturnValueOnce(x);
      expect(isTempGroup(tempGroup())).toBe(true);
      one.mockRestore();
    }
  });
});

describe('iptables', () => {
  it('splits save lines keeping quoted comments', () => {
    expect(words('-A X -m comment --comment "boxkit nat 10.0.0.0/8: inside" -j RETURN')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'boxkit nat 10.0.0.0/8: inside', '-j', 'RETURN']);
    const t = parseSave('*nat\n:POSTROUTING ACCEPT [0:0]\n:BOXKIT-X - [0:0]\n-A POSTROUTING -m comment --comment "boxkit a" -j BOXKIT-X\nCOMMIT\n');
    expect([...t.chains]).toEqual(['POSTROUTING', 'BOXKIT-X']);
    expect(t.rules[0]).toMatchObject({ chain: 'POSTROUTING', comment: 'boxkit a' });
  });
  it('renders negation bare, as the article does', () => {
    expect(renderOp({ kind: 'ipt', table: 'nat', args: ['-A', 'C', '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE'] })).toBe('iptables -t nat -A C ! -d 224.0.0.0/4 -j MASQUERADE');
  });
});

describe('publish spec', () => {
  it('parses like docker -p', () => {
    expect(parsePublish('8080:10.10.15.2:80')).toEqual({ hostPort: 8080, containerIp: '10.10.15.2', containerPort: 80, proto: 'tcp' });
    expect(publishString(parsePublish('53:10.10.15.2:53/udp', '203.0.113.1'))).toBe('203.0.113.1:53:10.10.15.2:53/udp');
  });
  it.each(['0:10.0.0.1:80', '65536:10.0.0.1:80', '80:10.0.0.1:0', '80:10.0.0:80', '80:10.0.0.1:80/sctp', '80'])('rejects %s', (s) => {
    expect(() => parsePublish(s)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('render netsetup commands', () => {
  it('gives the CLI line for a library call', () => {
    expect(renderAttach({ pid: 42, bridge: 'mydocker' })).toBe('netsetup veth --pid 42 --bridge mydocker --ip auto');
    expect(renderPublish(parsePublish('8080:10.0.0.2:80', '203.0.113.1'), true)).toBe('netsetup publish rm 8080:10.0.0.2:80/tcp --host-ip 203.0.113.1');
    expect(renderRoute({ cidr: '10.10.14.0/24', via: '198.18.0.2' })).toBe('netsetup route add 10.10.14.0/24 via 198.18.0.2');
  });
});

describe('restoreOps (down putting back the port rules it removed when the link deletion failed)', () => {
  const saved = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':BOXKIT-DNAT - [0:0]',
    '-A PREROUTING -p tcp --dport 9 -m comment --comment other-before -j DNAT --to-destination 10.1.1.1:9',
    '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "boxkit publish hook" -j BOXKIT-DNAT',
    '-A PREROUTING -p tcp --dport 8080 -m comment --comment other-after -j DNAT --to-destination 10.1.1.2:80',
    '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "boxkit publish hook" -j BOXKIT-DNAT',
    '-A BOXKIT-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "boxkit publish 8080:10.77.1.2:80/tcp" -j DNAT --to-destination 10.77.1.2:80',
    '-A BOXKIT-DNAT -p tcp -m tcp --dport 8081 -m comment --comment "boxkit publish 8081:10.77.1.2:81/tcp" -j DNAT --to-destination 10.77.1.2:81',
    'COMMIT',
  ].join('\n');

  it('puts every rule back where it was, its chain first: the hook ahead of the rule another runtime added after it', () => {
    const t = parseSave(saved);
    const ops = planRemoveTo(t, new Set(['10.77.1.2']));
    const back = renderOps(restoreOps(ops, t));
    expect(back[0]).toBe('iptables -t nat -N BOXKIT-DNAT');
    expect(back.slice(1).map((l) => l.split(' ').slice(3, 6).join(' '))).toEqual([
      '-I PREROUTING 2', '-I OUTPUT 1', '-I BOXKIT-DNAT 1', '-I BOXKIT-DNAT 2',
    ]);
    // 'end' (a place is gone): the same rules appended, in their order
    expect(renderOps(restoreOps(ops, t, 'end')).slice(1).map((l) => l.split(' ').slice(3, 5).join(' '))).toEqual([
      '-A PREROUTING', '-A OUTPUT', '-A BOXKIT-DNAT', '-A BOXKIT-DNAT',
    ]);
  });
});
