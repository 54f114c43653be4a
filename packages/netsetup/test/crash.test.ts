/**
 * The pieces `down` uses to clean up after a killed netsetup: publish rules
 * found by the container address in their comment, leases by their holder
 * line, and pending records (no address yet) freeing their lease by holder.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSave } from '../src/iptables.js';
import { commentIp, commentSpec, planRemoveTo, planRemoveUnlisted } from '../src/publish.js';
import { claimLease, forget, inProgress, parseHolder, reclaimOrphanLeases } from '../src/store.js';
import type { AttachmentRecord } from '../src/state.js';

describe('publish rules by container address', () => {
  it('reads the address from every form of a publish comment, and nothing else', () => {
    expect(commentIp('boxkit publish 8080:10.10.15.2:80/tcp')).toBe('10.10.15.2');
    expect(commentIp('boxkit publish 127.0.0.1:8080:10.10.15.2:80/udp: hairpin')).toBe('10.10.15.2');
    expect(commentIp('boxkit publish 8080:10.10.15.2:80/tcp: localhost')).toBe('10.10.15.2');
    expect(commentIp('boxkit publish hook')).toBeUndefined();
    expect(commentIp('boxkit nat 10.10.15.0/24: outside')).toBeUndefined();
  });

  it('removes the rules to the address whether or not the state lists them, and the chains when none is left', () => {
    const t = parseSave([
      ':BOXKIT-DNAT - [0:0]', ':BOXKIT-PUB-MASQ - [0:0]',
      '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "boxkit publish hook" -j BOXKIT-DNAT',
      '-A BOXKIT-DNAT -p tcp -m tcp --dport 59577 -m comment --comment "boxkit publish 59577:10.88.0.6:80/tcp" -j DNAT --to-destination 10.88.0.6:80',
      '-A BOXKIT-PUB-MASQ -s 10.88.0.0/16 -d 10.88.0.6/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -m comment --comment "boxkit publish 59577:10.88.0.6:80/tcp: hairpin" -j MASQUERADE',
      '-A BOXKIT-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "boxkit publish 8080:10.88.0.7:80/tcp" -j DNAT --to-destination 10.88.0.7:80',
    ].join('\n'));
    const one = planRemoveTo(t, new Set(['10.88.0.6'])).map((o) => (o as { args: string[] }).args.join(' '));
    expect(one).toHaveLength(2);
    expect(one.every((a) => a.startsWith('-D BOXKIT-') && a.includes('10.88.0.6'))).toBe(true);
    const both = planRemoveTo(t, new Set(['10.88.0.6', '10.88.0.7'])).map((o) => (o as { args: string[] }).args.join(' '));
    expect(both).toContain('-X BOXKIT-DNAT');
  });

  it('removes the rules whose mapping the state does not list (what an older netsetup left), keeping the listed ones', () => {
    expect(commentSpec('boxkit publish 127.0.0.1:8080:10.10.15.2:80/udp: hairpin')).toBe('127.0.0.1:8080:10.10.15.2:80/udp');
    expect(commentSpec('boxkit publish hook')).toBeUndefined();
    const t = parseSave([
      ':BOXKIT-DNAT - [0:0]', ':BOXKIT-PUB-MASQ - [0:0]',
      '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "boxkit publish hook" -j BOXKIT-DNAT',
      '-A BOXKIT-DNAT -p tcp -m tcp --dport 59577 -m comment --comment "boxkit publish 59577:10.88.0.6:80/tcp" -j DNAT --to-destination 10.88.0.6:80',
      '-A BOXKIT-PUB-MASQ -s 10.88.0.0/16 -d 10.88.0.6/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -m comment --comment "boxkit publish 59577:10.88.0.6:80/tcp: hairpin" -j MASQUERADE',
      '-A BOXKIT-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "boxkit publish 8080:10.88.0.7:80/tcp" -j DNAT --to-destination 10.88.0.7:80',
    ].join('\n'));
    const ops = planRemoveUnlisted(t, new Set(['8080:10.88.0.7:80/tcp'])).map((o) => (o as { args: string[] }).args.join(' '));
    expect(ops).toHaveLength(2);
    expect(ops.every((a) => a.startsWith('-D BOXKIT-') && a.includes('59577:10.88.0.6:80/tcp'))).toBe(true);
    expect(planRemoveUnlisted(t, new Set())).toHaveLength(3 + 2 + 1); // the rules, the hook, both chains
  });
});

describe('leases after a crash', () => {
  let dir = '';
  const leases = () => readdirSync(join(dir, 'netsetup', 'leases')).sort();
  const rec = (hostIfname: string, ip: string): AttachmentRecord => ({
    hostIfname, ifname: 'eth0', netns: 'x', nsInode: 1, bridge: 'br', ip, auto: true, hairpin: false, created: '', owner: 1,
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bk-crash-'));
    process.env.BOXKIT_STATE_DIR = dir;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses holder lines', () => {
    expect(parseHolder('bk117fe8e439 31016')).toEqual({ hostIfname: 'bk117fe8e439', pid: 31016 });
    expect(parseHolder('bk117fe8e439')).toEqual({ hostIfname: 'bk117fe8e439' });
  });

  it('a pending record frees the lease its holder took; a complete one only its own address', () => {
    claimLease('10.1.0.2', 'bkaaa 1');
    claimLease('10.1.0.3', 'bkbbb 1');
    forget(rec('bkaaa', ''));
    expect(leases()).toEqual(['10.1.0.3']);
    // the address was given to another attachment after a crash part-way through a forget
    forget(rec('bkaaa', '10.1.0.3/24'));
    expect(leases()).toEqual(['10.1.0.3']);
  });

  it('a stale record frees neither the lease nor the record a newer claim of its host name took', () => {
    const stale = rec('bkaaa', '10.1.0.2/24'); // owner 1
    claimLease('10.1.0.2', 'bkaaa 2'); // the newer claim (owner 2) was given the same address
    forget(stale);
    forget(rec('bkaaa', ''));
    expect(leases()).toEqual(['10.1.0.2']);
  });

  it('a record is in progress while its owner lives and started before it, never when the owner is this process', () => {
    const now = new Date().toISOString();
    expect(inProgress({ ...rec('bkaaa', ''), owner: process.ppid, created: now })).toBe(true);
    expect(inProgress({ ...rec('bkaaa', ''), owner: process.pid, created: now })).toBe(false);
    expect(inProgress({ ...rec('bkaaa', ''), owner: 2147483646, created: now })).toBe(false);
    // the pid is alive but was given to a process started after the record: a reused pid
    expect(inProgress({ ...rec('bkaaa', ''), owner: process.ppid, created: new Date(0).toISOString() })).toBe(false);
  });

  it('reclaims leases whose holder is dead and has no link or record, never a live holder\'s', () => {
    claimLease('10.1.0.2', 'bkdead 2147483646');
    claimLease('10.1.0.3', `bklive ${process.pid}`);
    claimLease('10.1.0.4', 'bkup 2147483646');
    expect(reclaimOrphanLeases(new Set(['bkup']))).toEqual(['10.1.0.2']);
    expect(leases()).toEqual(['10.1.0.3', '10.1.0.4']);
  });
});
