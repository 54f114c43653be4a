/**
 * Crash consistency: a `netsetup veth` or `netsetup publish` killed with
 * SIGKILL at any point of its work leaves nothing that `netsetup down`
 * cannot find and remove (link, lease, attachment record, nat rule, publish
 * entry), and the address is free again afterwards. Kills land at the
 * named steps (BOXKIT_NETSETUP_CRASH_AT) and at increasing delays; what an
 * older netsetup left (a lease before its record) is reclaimed too.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, bk, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { dropEmptyTables, netSnapshot, ns, sh, shortName, stored, useStateDir } from './helpers.js';

/** Start netsetup ARGS (env added), kill it with SIGKILL after `delayMs` (unless it ended); resolves with how it ended. */
function killedAfter(args: string[], delayMs: number | undefined, env: Record<string, string> = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const e: Record<string, string> = { ...(process.env as Record<string, string>), ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  const p = spawn(binPath('netsetup'), args, { env: e, stdio: 'ignore' });
  const t = delayMs === undefined ? undefined : setTimeout(() => p.kill('SIGKILL'), delayMs);
  return new Promise((resolve) => p.on('exit', (code, signal) => {
    if (t) clearTimeout(t);
    resolve({ code, signal });
  }));
}

/** A pid that was just in use and is not now (a child that has exited). */
async function deadPid(): Promise<number> {
  const r = spawn('true');
  await new Promise((resolve) => r.on('exit', resolve));
  return r.pid!;
}

describe.skipIf(skipReason)(`netsetup crash consistency${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nkb');
  const br2 = shortName('nkt');
  const host = shortName('nkc');
  const c = testName('crash-c');
  let state = '';
  let before: ReturnType<typeof netSnapshot>;

  const publishRules = () => sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.includes('boxkit publish'));
  const publishEntries = () => {
    try {
      return Object.keys(JSON.parse(readFileSync(join(state, 'netsetup', 'state.json'), 'utf8')).publish ?? {});
    } catch {
      return [];
    }
  };
  /** down by host ifname succeeds and nothing of the attachment is left */
  const downLeavesNothing = async (what: string) => {
    const d = await ns(['down', '--host-ifname', host]);
    expect(d.exitCode, `${what}: ${d.stderr}`).toBe(0);
    expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth']), what).not.toContain(host);
    expect(stored(state), what).toEqual({ attachments: [], leases: [] });
    expect(publishRules(), what).toEqual([]);
    expect(publishEntries(), what).toEqual([]);
    expect(sh('ip', ['-n', c, '-o', 'addr', 'show', 'scope', 'global']), what).toBe('');
  };
  /** a new attach gets the subnet's first address, then is removed */
  const firstAddressFree = async (what: string) => {
    const r = await ns(['veth', '--netns', c, '--bridge', br, '--host-ifname', host, '--json']);
    expect(r.exitCode, `${what}: ${r.stderr}`).toBe(0);
    expect(JSON.parse(r.stdout).ip, what).toBe('10.77.40.2/24');
    await downLeavesNothing(`${what}, then down`);
  };

  beforeAll(async () => {
    state = useStateDir('crash');
    before = netSnapshot();
    createHost(c);
    expect((await ns(['bridge', br, '10.77.40.1/24'])).exitCode).toBe(0);
    expect((await ns(['bridge', br2, '10.77.41.1/30'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    await ns(['down', '--host-ifname', host]);
    await ns(['down', '--netns', c]);
    await ns(['bridge', 'rm', br]);
    await ns(['bridge', 'rm', br2]);
    destroyHost(c);
    dropEmptyTables(before);
  });

  for (const ip of ['auto', '10.77.40.9/24']) {
    for (const mark of ['claimed', 'lease-aside', 'leased', 'made']) {
      it(`veth --ip ${ip} killed at '${mark}': down removes all of it`, async () => {
        const k = await killedAfter(['veth', '--netns', c, '--bridge', br, '--ip', ip, '--host-ifname', host], undefined, { BOXKIT_NETSETUP_CRASH_AT: mark });
        expect(k.signal).toBe('SIGKILL');
        expect(stored(state).attachments).toEqual([`${host}.json`]);
        await downLeavesNothing(mark);
        await firstAddressFree(mark);
      });
    }
  }

  it("veth repeated after a kill at 'made' remakes the attachment (not 'already there' with half of it)", async () => {
    const k = await killedAfter(['veth', '--netns', c, '--bridge', br, '--host-ifname', host], undefined, { BOXKIT_NETSETUP_CRASH_AT: 'made' });
    expect(k.signal).toBe('SIGKILL');
    const r = await ns(['veth', '--netns', c, '--bridge', br, '--host-ifname', host, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ip: '10.77.40.2/24', created: true });
    expect(sh('ip', ['-n', c, '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).toContain('10.77.40.2/24');
    expect(stored(state).leases).toEqual(['10.77.40.2']);
    await downLeavesNothing('after the repeat');
  });

  for (const [mark, sig] of [['claimed', 'SIGINT'], ['leased', 'SIGTERM'], ['made', 'SIGINT'], ['made', 'SIGHUP']] as const) {
    it(`veth - given ${sig} at '${mark}' removes what it made and ends ${sig} (it died there, leaving a pending record, its lease and links for down)`, () => {
      const e: Record<string, string> = { ...(process.env as Record<string, string>), BOXKIT_NETSETUP_CRASH_AT: mark, BOXKIT_NETSETUP_CRASH_SIGNAL: sig };
      delete e.NODE_EXTRA_CA_CERTS;
      const r = spawnSync(binPath('netsetup'), ['veth', '-'], { env: e, input: `${JSON.stringify({ netns: c, bridge: br, hostIfname: host })}\n`, encoding: 'utf8' });
      expect([r.status, r.signal, r.stdout, r.stderr]).toEqual([{ SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }[sig], null, '',
        `netsetup: veth interrupted (${sig}): the attachment it made was removed\n`]);
      expect(stored(state)).toEqual({ attachments: [], leases: [] });
      expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).not.toContain(host);
      expect(sh('ip', ['-n', c, '-o', 'addr', 'show', 'scope', 'global'])).toBe('');
    });
  }

  it('veth killed at 20 increasing delays: down removes all of it each time', async () => {
    const t0 = performance.now();
    expect((await ns(['veth', '--netns', c, '--bridge', br, '--host-ifname', host])).exitCode).toBe(0);
    const full = performance.now() - t0;
    await downLeavesNothing('a whole veth');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const delay = (full * 1.2 * i) / 20;
      const k = await killedAfter(['veth', '--netns', c, '--bridge', br, '--host-ifname', host, '--hairpin'], delay);
      const what = `killed after ${delay.toFixed(1)} ms (${k.signal ?? `exit ${k.code}`})`;
      const st = stored(state);
      seen.add(`${st.attachments.length}/${st.leases.length}/${sh('ip', ['-o', 'link']).includes(host)}`);
      await downLeavesNothing(what);
    }
    await firstAddressFree('after the kills');
    // at least an untouched run and a whole attachment were among the outcomes
    expect(seen.size, [...seen].join(' ')).toBeGreaterThan(1);
  });

  for (const mark of ['publish-recorded', 'published']) {
    it(`publish killed at '${mark}': down of the container removes its rules and entry`, async () => {
      expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.5/24', '--host-ifname', host])).exitCode).toBe(0);
      const k = await killedAfter(['publish', '18080:10.77.40.5:80'], undefined, { BOXKIT_NETSETUP_CRASH_AT: mark });
      expect(k.signal).toBe('SIGKILL');
      expect(publishEntries()).toEqual(['18080/tcp']);
      await downLeavesNothing(mark);
      // the host port is free: another container may publish it
      expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.6/24', '--host-ifname', host])).exitCode).toBe(0);
      const p = await ns(['publish', '18080:10.77.40.6:80']);
      expect(p.exitCode, p.stderr).toBe(0);
      await downLeavesNothing(`${mark}, republished`);
    });
  }

  it('publish killed at 12 increasing delays: down of the container removes its rules and entry', async () => {
    expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.5/24', '--host-ifname', host])).exitCode).toBe(0);
    const t0 = performance.now();
    expect((await ns(['publish', '18081:10.77.40.5:80/udp'])).exitCode).toBe(0);
    const full = performance.now() - t0;
    expect((await ns(['publish', 'rm', '18081:10.77.40.5:80/udp'])).exitCode).toBe(0);
    for (let i = 0; i < 12; i++) {
      const delay = (full * 1.2 * i) / 12;
      await killedAfter(['publish', '18081:10.77.40.5:80/udp'], delay);
      await downLeavesNothing(`publish killed after ${delay.toFixed(1)} ms`);
      expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.5/24', '--host-ifname', host])).exitCode).toBe(0);
    }
    await downLeavesNothing('the end');
  });

  it("down killed at 'lease-freed' (a record left without its lease): ls says stale, the next down removes it", async () => {
    for (const target of [['--host-ifname', host], ['--netns', c]]) {
      expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.5/24', '--host-ifname', host])).exitCode).toBe(0);
      expect((await ns(['publish', '18082:10.77.40.5:80'])).exitCode).toBe(0);
      const k = await killedAfter(['down', '--host-ifname', host], undefined, { BOXKIT_NETSETUP_CRASH_AT: 'lease-freed' });
      expect(k.signal).toBe('SIGKILL');
      // the links and the published port went before the forget
      expect(stored(state)).toEqual({ attachments: [`${host}.json`], leases: [] });
      expect(publishRules()).toEqual([]);
      const l = JSON.parse((await ns(['ls', '--json'])).stdout);
      expect(l.attachments).toMatchObject([{ hostIfname: host, ip: '10.77.40.5/24', present: false, leased: false }]);
      expect((await ns(['ls'])).stdout).toMatch(new RegExp(`^${host} .* 10\\.77\\.40\\.5/24 .* stale$`, 'm'));
      const d = await ns(['down', ...target]);
      expect(d.exitCode, d.stderr).toBe(0);
      await downLeavesNothing(`down ${target.join(' ')} after the kill`);
    }
  });

  it("a record a killed down left without its lease, whose address another container holds now: down and a repeated veth leave that container alone", async () => {
    const c2 = testName('crash-c2');
    createHost(c2);
    try {
      for (const then of ['down', 'veth']) {
        expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.6/24', '--host-ifname', host])).exitCode).toBe(0);
        expect((await killedAfter(['down', '--netns', c], undefined, { BOXKIT_NETSETUP_CRASH_AT: 'lease-freed' })).signal).toBe('SIGKILL');
        // the address is free: another container is given it and publishes a port to it
        expect((await ns(['veth', '--netns', c2, '--bridge', br, '--ip', '10.77.40.6/24'])).exitCode).toBe(0);
        expect((await ns(['publish', '18083:10.77.40.6:80'])).exitCode).toBe(0);
        const theirs = { rules: publishRules(), leases: stored(state).leases, entries: publishEntries() };
        expect(theirs.rules.filter((r) => r.includes('boxkit publish 18083:10.77.40.6:80/tcp'))).toHaveLength(3);
        const l = JSON.parse((await ns(['ls', '--json'])).stdout) as { attachments: { hostIfname: string; leased: boolean }[] };
        expect(l.attachments.map((a) => [a.hostIfname === host, a.leased]).sort()).toEqual([[false, true], [true, false]]);
        if (then === 'down') {
          const d = await ns(['down', '--netns', c]);
          expect(d.exitCode, d.stderr).toBe(0);
        } else {
          // the same namespace again (the same host ifname): the stale record goes, a free address is taken
          const r = await ns(['veth', '--netns', c, '--bridge', br, '--host-ifname', host, '--json']);
          expect(r.exitCode, r.stderr).toBe(0);
          expect(JSON.parse(r.stdout).ip).toBe('10.77.40.2/24');
          expect(sh('ip', ['-n', c, '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).toContain('10.77.40.2/24');
          expect((await ns(['down', '--netns', c])).exitCode).toBe(0);
        }
        expect(stored(state).attachments, then).toHaveLength(1);
        expect(readFileSync(join(state, 'netsetup', 'leases', '10.77.40.6'), 'utf8'), then).not.toContain(host);
        expect({ rules: publishRules(), leases: stored(state).leases, entries: publishEntries() }, then).toEqual(theirs);
        expect(sh('ip', ['-n', c2, '-o', '-4', 'addr', 'show', 'dev', 'eth0']), then).toContain('10.77.40.6/24');
        expect((await ns(['down', '--netns', c2])).exitCode).toBe(0);
        await downLeavesNothing(`${then}, the end`);
      }
    } finally {
      await ns(['down', '--netns', c2]);
      destroyHost(c2);
    }
  });

  it('publish rules an older netsetup left with no entry: the first down after the upgrade removes them, and no listed one', async () => {
    const c2 = testName('crash-c3');
    createHost(c2);
    try {
      expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.5/24', '--host-ifname', host])).exitCode).toBe(0);
      expect((await ns(['veth', '--netns', c2, '--bridge', br, '--ip', '10.77.40.7/24'])).exitCode).toBe(0);
      expect((await ns(['publish', '18084:10.77.40.7:80'])).exitCode).toBe(0);
      const listed = publishRules();
      // an older netsetup added the rules before the entry and was killed between the two: to c's
      // address (its down never looked: the state lists no port to it), and to an address nobody holds
      const unlisted = ['18085:10.77.40.5:80/tcp', '18086:10.77.40.9:80/tcp'].map((m) => {
        const [port, ip] = m.split(':');
        return `-A BOXKIT-DNAT -p tcp -m tcp --dport ${port} -m comment --comment "boxkit publish ${m}" -j DNAT --to-destination ${ip}:80\n`
          + `-A BOXKIT-PUB-MASQ -s 10.77.40.0/24 -d ${ip}/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -m comment --comment "boxkit publish ${m}: hairpin" -j MASQUERADE\n`;
      }).join('');
      execFileSync('iptables-restore', ['--noflush'], { input: `*nat\n${unlisted}COMMIT\n` });
      const file = join(state, 'netsetup', 'state.json');
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), version: 1 }));
      expect(publishRules()).toHaveLength(listed.length + 4);
      const d = await ns(['down', '--netns', c]);
      expect(d.exitCode, d.stderr).toBe(0);
      expect(publishRules(), 'the listed port of the other container stays').toEqual(listed);
      expect(publishEntries()).toEqual(['18084/tcp']);
      expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(2);
      expect((await ns(['down', '--netns', c2])).exitCode).toBe(0);
      await downLeavesNothing('the end');
    } finally {
      await ns(['down', '--netns', c2]);
      destroyHost(c2);
    }
  });

  it('the first down after an upgrade with an unreadable nat table removes the attachment and warns; the next one sweeps; --dry-run shows the sweep', async () => {
    expect((await ns(['veth', '--netns', c, '--bridge', br, '--ip', '10.77.40.5/24', '--host-ifname', host])).exitCode).toBe(0);
    const m = '18087:10.77.40.9:80/tcp'; // what an older netsetup left: a rule with no entry, to an address nobody holds
    execFileSync('iptables-restore', ['--noflush'], {
      input: `*nat\n:BOXKIT-DNAT - [0:0]\n-A BOXKIT-DNAT -p tcp -m tcp --dport 18087 -m comment --comment "boxkit publish ${m}" -j DNAT --to-destination 10.77.40.9:80\nCOMMIT\n`,
    });
    const file = join(state, 'netsetup', 'state.json');
    const version = () => JSON.parse(readFileSync(file, 'utf8')).version;
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), version: 1 }));
    const left = publishRules();
    expect(left).toHaveLength(1);
    // the dry run shows the sweep's deletions (the rule, then the hooks and chains nothing else uses) and changes nothing
    const snap = netSnapshot();
    const dry = await ns(['down', '--dry-run', '--host-ifname', host]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^ip link del nkc\S+$/m);
    expect(dry.stdout).toMatch(new RegExp(`^iptables -t nat -D BOXKIT-DNAT .*${m.replace(/\./g, '\\.')}.*$`, 'm'));
    expect(dry.stdout).toMatch(/^iptables -t nat -X BOXKIT-DNAT$/m);
    expect(netSnapshot()).toEqual(snap);
    expect(version()).toBe(1);
    // an iptables-save that fails: down still removes the whole attachment, warns in one line, keeps version 1
    const shim = mkdtempSync(join(tmpdir(), 'bk-shim-'));
    try {
      writeFileSync(join(shim, 'iptables-save'), '#!/bin/sh\necho "iptables-save: cannot read the table" >&2\nexit 1\n');
      chmodSync(join(shim, 'iptables-save'), 0o755);
      const env: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${shim}:${process.env.PATH}` };
      delete env.NODE_EXTRA_CA_CERTS;
      const d = await bk('netsetup', ['down', '--host-ifname', host], { env, extendEnv: false });
      expect(d.exitCode, String(d.stderr)).toBe(0);
      expect(String(d.stderr)).toMatch(/^netsetup: warning: publish rules an older netsetup may have left were not swept \(.*\); the next down tries again$/);
      expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).not.toContain(host);
      expect(stored(state)).toEqual({ attachments: [], leases: [] });
      expect(sh('ip', ['-n', c, '-o', 'addr', 'show', 'scope', 'global'])).toBe('');
      expect(version()).toBe(1);
      expect(publishRules()).toEqual(left);
    } finally {
      rmSync(shim, { recursive: true, force: true });
    }
    // with the real iptables-save the next down (of anything, even what is gone) sweeps and writes version 2
    await downLeavesNothing('the sweep');
    expect(version()).toBe(2);
  });

  it("a lease an older netsetup left without its record (killed between the two) is freed by down, and by a full subnet", async () => {
    const leases = join(state, 'netsetup', 'leases');
    sh('mkdir', ['-p', leases]);
    writeFileSync(join(leases, '10.77.40.2'), `${host} ${await deadPid()}\n`);
    await downLeavesNothing('down of its host ifname');
    await firstAddressFree('after down');
    // nobody names it: a /30 has one address, and a full subnet takes back leases whose holders are gone
    writeFileSync(join(leases, '10.77.41.2'), `bk0dead0dead0 ${await deadPid()}\n`);
    // a holder that is alive keeps its lease
    writeFileSync(join(leases, '10.77.40.3'), `bk0live0live0 ${process.pid}\n`);
    const r = await ns(['veth', '--netns', c, '--bridge', br2, '--host-ifname', host, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ip).toBe('10.77.41.2/30');
    expect(stored(state).leases).toEqual(['10.77.40.3', '10.77.41.2']);
    expect((await ns(['down', '--host-ifname', host])).exitCode).toBe(0);
    expect((await ns(['down', '--host-ifname', 'bk0live0live0'])).exitCode).toBe(0);
    expect(stored(state).leases).toEqual(['10.77.40.3']);
    sh('rm', [join(leases, '10.77.40.3')]);
  });
});
