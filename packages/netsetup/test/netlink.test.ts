/**
 * The `ip` argv of a plan, translated into netlink requests: checked against
 * a recording stand-in for the socket (the requests themselves are checked
 * against the kernel in tests/native/netlink.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { attachOps } from '../src/attach.js';
import { linkDelOps } from '../src/detach.js';
import { Attrs, ifinfomsg } from '@boxkit/native';
import { linkNames, sysfsLinkGroups } from '../src/kernel.js';
import { applyNetlink, foldVethSetup, groupsOf, translate } from '../src/netlink.js';
import { renderOp, type Op } from '../src/ops.js';

/** Run a translated request against a fake socket; returns the calls it made. */
function calls(args: string[]): unknown[][] {
  const req = translate(args);
  if (!req) throw new Error(`no netlink form for: ip ${args.join(' ')}`);
  const log: unknown[][] = [];
  const nl = new Proxy({}, {
    get: (_t, name: string) => (...a: unknown[]) => {
      log.push([name, ...(name === 'linkIndex' ? a : a.slice(0, -1))]); // every request but a lookup ends with its label
      return name === 'linkIndex' ? 7 : undefined;
    },
  });
  const session = { nsFd: (path: string) => (log.push(['nsFd', path]), 42) };
  req(session as never, { nl, indexes: new Map() } as never, 'what');
  return log;
}

describe('netlink translation of the ip commands netsetup plans', () => {
  afterEach(() => {
    delete process.env.BOXKIT_NETLINK;
  });

  it('sends one request per attach command, the peer born in the target namespace', () => {
    const plan = attachOps({
      spec: { bridge: 'br0' }, ns: { netns: 'ns1' }, inode: 1, ifname: 'eth0', hostIfname: 'bk1', bridgeCidr: '10.1.0.1/24',
      ip: '10.1.0.2/24', gateway: '10.1.0.1', mtu: 1400, hairpin: true,
    } as Parameters<typeof attachOps>[0]);
    expect([...plan.host, ...plan.inside].map((op) => calls((op as Extract<Op, { kind: 'ip' }>).args))).toEqual([
      [['nsFd', '/run/netns/ns1'], ['addVeth', { name: 'bk1', peer: 'eth0', mtu: 1400, peerNetnsFd: 42 }]],
      [['linkIndex', 'br0'], ['setLink', { name: 'bk1', master: 7 }]],
      [['setHairpin', 'bk1', true]],
      [['setLink', { name: 'bk1', up: true }]],
      [['setLink', { name: 'lo', up: true }]],
      [['linkIndex', 'eth0'], ['addAddr4', 7, '10.1.0.2', 24]],
      [['setLink', { name: 'eth0', up: true }]],
      [['linkIndex', 'eth0'], ['addRoute4', { gateway: '10.1.0.1', oif: 7 }]],
    ]);
  });

  it("folds a new veth's master and up into its creation (one request), the hairpin setting after it", () => {
    const plan = attachOps({
      spec: { bridge: 'br0' }, ns: { netns: 'ns1' }, inode: 1, ifname: 'eth0', hostIfname: 'bk1', bridgeCidr: '10.1.0.1/24',
      ip: '10.1.0.2/24', gateway: '10.1.0.1', mtu: 1400, hairpin: true,
    } as Parameters<typeof attachOps>[0]);
    const folded = foldVethSetup(plan.host as Extract<Op, { kind: 'ip' }>[]);
    expect(folded.map((f) => f.args.join(' '))).toEqual([
      'link add bk1 mtu 1400 master br0 up type veth peer name eth0 mtu 1400 netns ns1',
      'link set bk1 type bridge_slave hairpin on',
    ]);
    expect(calls([...folded[0]!.args])).toEqual([
      ['nsFd', '/run/netns/ns1'], ['linkIndex', 'br0'], ['addVeth', { name: 'bk1', peer: 'eth0', mtu: 1400, peerNetnsFd: 42, master: 7, up: true }],
    ]);
    // the container side and anything else is left as it is
    expect(foldVethSetup(plan.inside as Extract<Op, { kind: 'ip' }>[]).map((f) => f.args)).toEqual(plan.inside.map((o) => (o as Extract<Op, { kind: 'ip' }>).args));
  });

  it('targets a namespace given by PID through /proc', () => {
    expect(calls(['link', 'add', 'bk2', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', '4242'])[0]).toEqual(['nsFd', '/proc/4242/ns/net']);
  });

  it('deletes one link by name, many through a link group', () => {
    expect(calls((linkDelOps(['bk1'])[0] as Extract<Op, { kind: 'ip' }>).args)).toEqual([['delLink', 'bk1']]);
    const ops = linkDelOps(['bk1', 'bk2']) as Extract<Op, { kind: 'ip' }>[];
    const group = Number(ops.at(-1)!.args.at(-1));
    expect(ops.map((o) => calls(o.args))).toEqual([[['setLink', { name: 'bk1', group }]], [['setLink', { name: 'bk2', group }]], [['delGroup', group]]]);
  });

  it('reads each link\'s group from a link dump', () => {
    const link = (name: string, group?: number) => {
      const a = new Attrs().str(3, name).u32(4, 1500);
      return ifinfomsg({ index: 2 }, group === undefined ? a : a.u32(27, group));
    };
    expect(groupsOf([link('lo', 0), link('bk1', 0x62000abc), link('nogroup')])).toEqual(new Map([['lo', 0], ['bk1', 0x62000abc]]));
  });

  it('reads link groups from sysfs only when it lists this namespace\'s links', () => {
    const here = linkNames();
    const g = sysfsLinkGroups(['lo', 'no-such-link'], here);
    // (a test run under a bare `nsenter -n`, its sysfs another namespace's, gets undefined as netsetup would)
    if (g) expect([...g.keys()]).toEqual(['lo']);
    expect(sysfsLinkGroups(['lo'], new Set([...here, 'bk-not-in-sysfs']))).toBeUndefined();
  });

  it('makes a bridge', () => {
    expect(calls(['link', 'add', 'br0', 'type', 'bridge'])).toEqual([['addLink', { name: 'br0', kind: 'bridge' }]]);
  });

  it.each([
    ['route', 'replace', '10.1.0.0/24', 'via', '10.0.0.2'],
    ['route', 'add', '10.1.0.0/24', 'via', '10.0.0.2', 'dev', 'eth0'],
    ['link', 'set', 'x', 'netns', 'ns1'],
    ['link', 'add', 'x', 'type', 'vxlan', 'id', '1'],
    ['link', 'add', 'x', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'y', 'mtu', '1500'],
    ['addr', 'add', '10.1.0.2/24', 'dev', 'eth0', 'brd', '+'],
    ['addr', 'add', 'nonsense', 'dev', 'eth0'],
  ])('leaves forms it does not know to ip: %s', (...args) => {
    expect(translate(args)).toBeUndefined();
  });

  it('does nothing and says so when any op of a stage has no netlink form, or netlink is off', () => {
    const unknown: Extract<Op, { kind: 'ip' }>[] = [{ kind: 'ip', args: ['link', 'del', 'x'] }, { kind: 'ip', args: ['route', 'replace', '10.1.0.0/24', 'via', '10.0.0.2'] }];
    expect(applyNetlink(unknown, renderOp)).toBe(false);
    process.env.BOXKIT_NETLINK = '0';
    expect(applyNetlink([unknown[0]!], renderOp)).toBe(false);
  });
});
