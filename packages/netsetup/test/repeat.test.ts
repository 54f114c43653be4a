import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { settingDiffs } from '../src/attach.js';
import { undoBridgeOp } from '../src/bridge.js';
import { allocate, checkFree, leaseExplicit } from '../src/ipam.js';
import { renderOp } from '../src/ops.js';
import type { AttachmentRecord, NetState } from '../src/state.js';
import { leaseHolder, releaseLease } from '../src/store.js';

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

describe('leases of the layout before leases/<ip>', () => {
  const state: NetState = { version: 1, nat: {}, publish: {}, localnet: {}, routes: {}, bridges: { br: { name: 'br', cidr: '10.77.1.1/24' } } };
  let dir = '';
  const old = (ip: string, holder: string) => {
    const d = join(dir, 'netsetup', 'leases', '10.77.1.0_24');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, ip), `${holder}\n`);
  };
  const leases = () => readdirSync(join(dir, 'netsetup', 'leases')).sort();
  beforeEach(() => {
    dir = process.env.BOXKIT_STATE_DIR = mkdtempSync(join(tmpdir(), 'netsetup-oldlease-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('count for --ip auto and explicit addresses, moved to leases/<ip>', () => {
    old('10.77.1.2', 'bkold 1');
    old('10.77.1.4', 'bkold2 1');
    expect(allocate(state, '10.77.1.1/24', 'new')).toBe('10.77.1.3/24');
    expect(leases()).toEqual(['10.77.1.2', '10.77.1.3', '10.77.1.4']);
    expect(leaseHolder('10.77.1.2')).toBe('bkold 1');
    expect(() => leaseExplicit(state, '10.77.1.4/24', 'x')).toThrow(/already in use by bkold2/);
    expect(() => checkFree(state, '10.77.1.2/24')).toThrow(/already in use by bkold/);
  });
  it('are freed by a release made before anything else', () => {
    old('10.77.1.2', 'bkold 1');
    releaseLease('10.77.1.2');
    expect(leases()).toEqual([]);
    expect(existsSync(join(dir, 'netsetup', 'leases', '10.77.1.0_24'))).toBe(false);
  });
});
