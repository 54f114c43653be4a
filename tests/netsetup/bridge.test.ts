/**
 * One bridge, two containers (netns): they reach each other and the
 * gateway; repeats are idempotent; teardown leaves no links or leases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { netSnapshot, ns, ping, sh, shortName, stored, useStateDir } from './helpers.js';

describe.skipIf(skipReason)(`netsetup bridge + veth${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nsb');
  const c1 = testName('br-c1');
  const c2 = testName('br-c2');
  let state = '';
  let before: ReturnType<typeof netSnapshot>;

  beforeAll(() => {
    state = useStateDir('bridge');
    before = netSnapshot();
    createHost(c1);
    createHost(c2);
  });
  afterAll(async () => {
    await ns(['down', '--netns', c1, '--netns', c2]);
    await ns(['bridge', 'rm', br]);
    destroyHost(c1);
    destroyHost(c2);
  });

  it('creates the bridge with its address, idempotently', async () => {
    const dry = await ns(['bridge', br, '10.77.10.1/24', '--dry-run']);
    expect(dry.stdout.split('\n')).toEqual([`ip link add ${br} type bridge`, `ip addr add 10.77.10.1/24 dev ${br}`, `ip link set ${br} up`]);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(br);
    const r = await ns(['bridge', br, '10.77.10.1/24', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: br, cidr: '10.77.10.1/24' });
    expect(sh('ip', ['-4', '-o', 'addr', 'show', 'dev', br])).toContain('10.77.10.1/24');
    const again = await ns(['bridge', br, '10.77.10.1/24', '--json']);
    expect(again.exitCode).toBe(0);
    // changed is a boolean in every command's JSON; the commands run are listed under their own key
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: true, commands: [`ip link add ${br} type bridge`, `ip addr add 10.77.10.1/24 dev ${br}`, `ip link set ${br} up`] });
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, commands: [] });
  });

  it('connects two containers that ping each other and the gateway', async () => {
    const a = await ns(['veth', '--netns', c1, '--bridge', br, '--ip', '10.77.10.2/24', '--json']);
    expect(a.exitCode, a.stderr).toBe(0);
    const b = await ns(['veth', '--netns', c2, '--bridge', br, '--ip', 'auto', '--mtu', '1400', '--hairpin', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    const ja = JSON.parse(a.stdout);
    const jb = JSON.parse(b.stdout);
    expect(jb.ip).toBe('10.77.10.3/24');
    expect(ja.gateway).toBe('10.77.10.1');
    // the kernel side: peer renamed eth0 in the netns, host end enslaved, default route, mtu, hairpin
    expect(sh('ip', ['-n', c2, '-o', 'link', 'show', 'eth0'])).toContain('mtu 1400');
    expect(sh('ip', ['-n', c2, 'route'])).toContain('default via 10.77.10.1 dev eth0');
    expect(sh('ip', ['-d', 'link', 'show', jb.hostIfname])).toMatch(new RegExp(`master ${br}[\\s\\S]*hairpin on`));
    expect(sh('ip', ['-n', c1, '-o', 'link', 'show', 'lo'])).toContain('UP');
    expect(ping(c1, '10.77.10.3')).toBe(true);
    expect(ping(c2, '10.77.10.2')).toBe(true);
    expect(ping(c1, '10.77.10.1')).toBe(true);
    // a repeat finds the same attachment
    const again = await ns(['veth', '--netns', c1, '--bridge', br, '--ip', '10.77.10.2/24', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ hostIfname: ja.hostIfname, created: false });
  });

  it('lists what it made', async () => {
    const l = JSON.parse((await ns(['ls', '--json'])).stdout);
    expect(l.bridges).toEqual([expect.objectContaining({ name: br, present: true })]);
    expect(l.attachments.map((x: { netns: string }) => x.netns).sort()).toEqual([c1, c2].sort());
  });

  it('down removes links and leases and succeeds again', async () => {
    const d = await ns(['down', '--netns', c1, '--netns', c2, '--json']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toHaveLength(2);
    expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).toBe('');
    expect(sh('ip', ['-n', c1, '-o', 'link', 'show'])).not.toContain('eth0');
    expect(ping(c1, '10.77.10.3')).toBe(false);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
    expect((await ns(['down', '--netns', c1])).exitCode).toBe(0);
    // the lease is free again
    const a = await ns(['veth', '--netns', c2, '--bridge', br, '--json']);
    expect(JSON.parse(a.stdout).ip).toBe('10.77.10.2/24');
    expect((await ns(['down', '--netns', c2])).exitCode).toBe(0);
  });

  it('netns add/ls/rm like ip netns, rm taking the attachment with it', async () => {
    const n = testName('br-n3');
    const add = await ns(['netns', 'add', n, '--json']);
    expect(JSON.parse(add.stdout)).toEqual({ name: n, created: true, changed: true });
    expect(sh('ip', ['netns', 'list'])).toContain(n);
    expect(sh('ip', ['-n', n, '-o', 'link', 'show', 'lo'])).toContain('UP');
    expect(JSON.parse((await ns(['netns', 'add', n, '--json'])).stdout)).toMatchObject({ created: false, changed: false });
    expect(JSON.parse((await ns(['netns', 'ls', '--json'])).stdout)).toContainEqual({ name: n });
    const a = JSON.parse((await ns(['veth', '--netns', n, '--bridge', br, '--json'])).stdout);
    const rm = await ns(['netns', 'rm', n, '--json']);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(JSON.parse(rm.stdout)).toMatchObject({ name: n, removed: true, changed: true, detached: [{ hostIfname: a.hostIfname, ip: a.ip }] });
    expect(sh('ip', ['netns', 'list'])).not.toContain(n);
    // in text, the attachments it takes with it are said, one line each, before the namespace
    expect((await ns(['netns', 'add', n])).exitCode).toBe(0);
    const b = JSON.parse((await ns(['veth', '--netns', n, '--bridge', br, '--json'])).stdout);
    const rmText = await ns(['netns', 'rm', n]);
    expect(rmText.exitCode, rmText.stderr).toBe(0);
    expect(rmText.stdout.trim()).toBe(`removed attachment ${b.hostIfname} ${b.ip} (bridge ${br})\nremoved netns ${n}`);
    expect(sh('ip', ['netns', 'list'])).not.toContain(n);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(a.hostIfname);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
    const gone = await ns(['netns', 'rm', n, '--json']);
    expect(gone.exitCode).toBe(0);
    expect(JSON.parse(gone.stdout)).toMatchObject({ removed: false, changed: false, detached: [] });
  });

  it('bridge rm refuses a link that is not a bridge (it deleted a veth pair netsetup never made), dry run or not', async () => {
    const v = shortName('nsv');
    sh('ip', ['link', 'add', v, 'type', 'veth', 'peer', 'name', `${v}p`]);
    try {
      for (const extra of [[], ['--dry-run'], ['--json']]) {
        const r = await ns(['bridge', 'rm', v, ...extra]);
        expect(r.exitCode).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr.split('\n')[0]).toBe(`netsetup: bridge rm ${v}: ${v} is a veth link, not a bridge`);
        expect(sh('ip', ['-o', 'link', 'show', v])).toContain(`${v}@${v}p`);
      }
    } finally {
      sh('ip', ['link', 'del', v]);
    }
  });

  it('bridge rm deletes it and succeeds when gone', async () => {
    expect(JSON.parse((await ns(['bridge', 'rm', br, '--json'])).stdout)).toEqual({ name: br, removed: true, changed: true });
    expect(JSON.parse((await ns(['bridge', 'rm', br, '--json'])).stdout)).toEqual({ name: br, removed: false, changed: false });
    const after = netSnapshot();
    expect(after.links).toEqual(before.links);
    expect(after.rules).toEqual(before.rules);
  });
});
