/**
 * rtnetlink from TypeScript (native/src/netlink.ts) against the real kernel,
 * in the sandbox host: every request's effect is read back with `ip -j`, and
 * refusals come back as SysErrors with errno names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, readlinkSync, statSync } from 'node:fs';
import { inNetns, openRtnl, SysError, withRtnl, type Rtnl } from '@boxkit/native';
import { assertSandboxNetwork, createHost, destroyHost, links, runId, sh, skipReason } from '../harness/index.js';

const tag = runId.slice(-5);
const br = `nlbr${tag}`;
const host = `nlns${tag}`;
const veth = `nlv${tag}`;

function ipJson<T>(args: string[], ns?: string): T {
  return JSON.parse(sh('ip', [...(ns ? ['-n', ns] : []), '-j', ...args]) || '[]') as T;
}

type Link = { ifname: string; ifindex: number; mtu: number; flags: string[]; master?: string; group?: string; link_netnsid?: number };

describe.skipIf(skipReason)(`rtnetlink (root${skipReason ? `: skipped, ${skipReason}` : ''})`, () => {
  let nl: Rtnl;
  let nsFd: number;

  beforeAll(() => {
    assertSandboxNetwork();
    createHost(host);
    nsFd = openSync(`/run/netns/${host}`, 'r');
    nl = openRtnl();
  });

  afterAll(() => {
    nl?.close();
    if (nsFd !== undefined) closeSync(nsFd);
    for (const l of [veth, br]) if (links().includes(l)) sh('ip', ['link', 'del', l]);
    destroyHost(host);
  });

  it('makes a bridge, up, and finds its index', () => {
    nl.addLink({ name: br, kind: 'bridge' }, `ip link add ${br} type bridge`);
    nl.setLink({ name: br, up: true }, `ip link set ${br} up`);
    const [l] = ipJson<Link[]>(['link', 'show', br]);
    expect(l!.flags).toContain('UP');
    expect(nl.linkIndex(br)).toBe(l!.ifindex);
  });

  it('makes a veth pair whose peer is born inside another namespace, enslaved, with an MTU', () => {
    nl.addVeth({ name: veth, peer: 'eth0', peerNetnsFd: nsFd, mtu: 1400, master: nl.linkIndex(br), up: true }, `ip link add ${veth} ...`);
    const [h] = ipJson<Link[]>(['-d', 'link', 'show', veth]);
    expect(h).toMatchObject({ ifname: veth, mtu: 1400, master: br });
    expect(h!.flags).toContain('UP');
    const [p] = ipJson<Link[]>(['link', 'show', 'eth0'], host);
    expect(p).toMatchObject({ ifname: 'eth0', mtu: 1400 });
    expect(links()).not.toContain('eth0');
  });

  it('sets hairpin mode on the bridge port', () => {
    nl.setHairpin(veth, true, 'hairpin on');
    const [h] = ipJson<{ linkinfo: { info_slave_data: { hairpin: boolean } } }[]>(['-d', 'link', 'show', veth]);
    expect(h!.linkinfo.info_slave_data.hairpin).toBe(true);
  });

  it('configures the container side through a socket made inside its namespace, leaving this thread where it was', () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    const inside = openRtnl({ netnsFd: nsFd });
    try {
      expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);
      const idx = inside.linkIndex('eth0');
      inside.addAddr4(idx, '10.123.0.2', 24, 'addr');
      inside.setLink({ index: idx, up: true }, 'up');
      inside.addRoute4({ gateway: '10.123.0.1', oif: idx }, 'route');
    } finally {
      inside.close();
    }
    const addrs = ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(['-4', 'addr', 'show', 'eth0'], host);
    expect(addrs[0]!.addr_info).toEqual([expect.objectContaining({ local: '10.123.0.2', prefixlen: 24 })]);
    expect(ipJson<{ dst: string; gateway: string; dev: string }[]>(['route', 'show', 'default'], host)).toEqual([expect.objectContaining({ dst: 'default', gateway: '10.123.0.1', dev: 'eth0' })]);
  });

  it('reports refusals as SysErrors named by the request, with the kernel\'s reason when it gives one', () => {
    const dup = (() => {
      try {
        nl.addLink({ name: br, kind: 'bridge' }, `ip link add ${br} type bridge`);
      } catch (e) {
        return e;
      }
    })();
    expect(dup).toBeInstanceOf(SysError);
    expect(dup).toMatchObject({ code: 'EEXIST', errno: 17, syscall: `ip link add ${br} type bridge` });
    expect(() => nl.linkIndex('nosuchlink0')).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    const unreachable = withRtnl((inside) => {
      try {
        inside.addRoute4({ dst: '10.99.0.0', dstLen: 16, gateway: '10.200.0.1', oif: inside.linkIndex('eth0') }, 'ip route add 10.99.0.0/16 via 10.200.0.1');
      } catch (e) {
        return e as SysError;
      }
    }, { netnsFd: nsFd });
    expect(unreachable?.errno).toBe(101);
    expect(unreachable?.message).toMatch(/^ip route add 10\.99\.0\.0\/16 via 10\.200\.0\.1: network is unreachable/);
  });

  it('inNetns runs a function in the namespace and switches back, also when it throws', () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    const inner = inNetns(nsFd, () => readlinkSync('/proc/thread-self/ns/net'));
    expect(inner).not.toBe(before);
    expect(inner).toBe(`net:[${statSync(`/run/netns/${host}`).ino}]`);
    expect(() => inNetns(nsFd, () => { throw new Error('boom'); })).toThrow('boom');
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);
  });

  it('deletes links by group in one request', () => {
    const group = 0x62000000 + (process.pid % 0xffff);
    const extra = `nlw${tag}`;
    nl.addVeth({ name: extra, peer: `${extra}p` }, 'add');
    for (const l of [veth, extra]) nl.setLink({ name: l, group }, `group ${l}`);
    nl.delGroup(group, `ip link del group ${group}`);
    expect(links().filter((l) => l === veth || l === extra || l === `${extra}p`)).toEqual([]);
    expect(ipJson<Link[]>(['link', 'show'], host).map((l) => l.ifname)).toEqual(['lo']);
  });
});
