import { describe, expect, it } from 'vitest';
import { settingDiffs } from '../src/attach.js';
import { undoBridgeOp } from '../src/bridge.js';
import { renderOp } from '../src/ops.js';
import type { AttachmentRecord } from '../src/state.js';

describe('bridge undo', () => {
  it('takes back each op planBridge makes', () => {
    const undo = (args: string[]) => renderOp(undoBridgeOp({ kind: 'ip', args }));
    expect(undo(['link', 'add', 'br0', 'type', 'bridge'])).toBe('ip link del br0');
    expect(undo(['addr', 'add', '10.1.2.1/24', 'dev', 'br0'])).toBe('ip addr del 10.1.2.1/24 dev br0');
    expect(undo(['link', 'set', 'br0', 'up'])).toBe('ip link set br0 down');
  });
});

describe('a repeated veth', () => {
  const rec: AttachmentRecord = {
    hostIfname: 'bk0123456789a', ifname: 'eth0', netns: 'c1', nsInode: 42, bridge: 'br0', ip: '10.1.2.5/24', gateway: '10.1.2.1',
    auto: true, mtu: 1400, hairpin: false, created: '2026-01-01T00:00:00Z',
  };
  const asked = (o: Record<string, unknown> = {}) => ({
    spec: { bridge: 'br0', netns: 'c1' }, ns: { netns: 'c1' }, inode: 42, ifname: 'eth0', hostIfname: rec.hostIfname,
    bridgeCidr: '10.1.2.1/24', gateway: '10.1.2.1', mtu: 1400, hairpin: false, ...o,
  }) as unknown as Parameters<typeof settingDiffs>[1];

  it('with the same settings (or --ip auto) differs in nothing', () => {
    expect(settingDiffs(rec, asked())).toEqual([]);
    expect(settingDiffs(rec, asked({ ip: '10.1.2.5/24' }))).toEqual([]);
  });
  it('names every setting that differs, an omitted one as default', () => {
    expect(settingDiffs(rec, asked({ ip: '10.1.2.6/24', mtu: undefined, gateway: undefined, hairpin: true }))).toEqual([
      'ip 10.1.2.5/24, not 10.1.2.6/24', 'gateway 10.1.2.1, not none', 'mtu 1400, not default', 'hairpin off, not on',
    ]);
    expect(settingDiffs(rec, asked({ spec: { bridge: 'br1', netns: 'c1' } }))).toEqual(['bridge br0, not br1']);
    expect(settingDiffs(rec, asked({ inode: 43, ns: { netns: 'c2' }, ifname: 'eth1' }))).toEqual(['namespace c1, not c2', 'ifname eth0, not eth1']);
  });
});