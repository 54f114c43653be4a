import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { assertSandboxNetwork, binPath, skipReason } from '../harness/index.js';
import { BASE, containerEnded, dataDirOf, name, overlayMounts, run } from './helpers.js';

const stateFile = (n: string) => `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`;

describe.skipIf(skipReason)(`run: lifecycle${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    const ns = await import('@boxkit/netsetup');
    await ns.removeNat('10.88.0.0/16').catch(() => {});
    await ns.removeBridge('boxkit0').catch(() => {});
  });

  it('-d, then ps, exec, logs, stop, rm; nothing of the container remains', async () => {
    assertSandboxNetwork();
    const n = name('life');
    const id = (await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '--', 'sh', '-c', 'echo hello; echo oops >&2; exec sleep 600'])).out.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    const ps = (await run(['ps'])).out;
    expect(ps).toMatch(new RegExp(`${n}\\s+${id}\\s+\\d+\\s+running\\s+10\\.88\\.`));
    expect((await run(['exec', n, '--', 'hostname'])).out.trim()).toBe(n);
    // the exec'd shell is in the container's PID namespace: PID 1 is the sleep
    expect((await run(['exec', n, '--', 'cat', '/proc/1/cmdline'])).out).toContain('sleep');
    const logs = await run(['logs', n]);
    expect(logs.out).toBe('hello');
    expect(logs.err).toBe('oops');
    const insp = JSON.parse((await run(['inspect', n])).out)[0];
    expect(insp.status).toBe('running');
    const t0 = Date.now();
    // --json for scripts: sleep ignores SIGTERM as PID 1, so the second second ends in SIGKILL
    expect(JSON.parse((await run(['stop', '--json', '--time', '1', n])).out)).toEqual({ stopped: [{ name: n, killed: true }] });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await run(['ps', '-a'])).out).toMatch(new RegExp(`${n}.*exited`));
    expect(JSON.parse((await run(['rm', '--json', n])).out)).toEqual({ removed: [n] });
    expect((await run(['ps', '-a'])).out).not.toContain(n);
    expect(existsSync(stateFile(n))).toBe(false);
    expect(dataDirOf(id)).toBe(false);
    expect(overlayMounts().filter((l) => l.includes(id))).toEqual([]);
    // no attachment (veth, address lease) left in netsetup's view
    const { list } = await import('@boxkit/netsetup');
    expect((await list()).attachments).toEqual([]);
    // removing what is gone succeeds
    await run(['rm', '-f', n]);
  });

  it("exec runs as the container's processes do: its --user, --env and --workdir (as docker exec); -u, -e and -w override", async () => {
    const n = name('execcfg');
    await run(['-d', '--name', n, ...BASE, '-u', 'nobody', '-e', 'GREETING=hi', '-w', '/tmp', '--', 'sleep', '600']);
    try {
      const probe = ['sh', '-c', 'id -u; echo "$GREETING"; pwd; echo "$HOME"'];
      expect((await run(['exec', n, '--', ...probe])).out.split('\n')).toEqual(['65534', 'hi', '/tmp', '/nonexistent']);
      expect((await run(['exec', '-u', 'root', '-e', 'GREETING=bye', '-w', '/', n, '--', ...probe])).out.split('\n')).toEqual(['0', 'bye', '/', '/root']);
    } finally {
      await run(['rm', '-f', n]);
    }
  });

  it('stop, rm and exec with --dry-run print the commands and change nothing', async () => {
    const n = name('dry');
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    try {
      const rec = JSON.parse((await run(['inspect', n])).out)[0];
      const stop = (await run(['stop', '--dry-run', '--time', '0', n])).out;
      expect(stop).toContain(`kill -TERM ${rec.pid}`);
      const rm = (await run(['rm', '-f', '--dry-run', n])).out;
      expect(rm).toContain(`kill -KILL ${rec.pid}`);
      expect(rm).toContain(`unionfs umount ${rec.mountpoint}`);
      // (the container's cgroup is named after its id)
      expect(rm).toMatch(new RegExp(`^cg rm ${rec.id} --parent self$`, 'm'));
      const ex = (await run(['exec', '--dry-run', n, '--', 'touch', '/made'])).out;
      expect(ex).toContain(`nsenter --target ${rec.pid}`);
      expect(ex).toMatch(/ touch \/made <\/dev\/null$/);
      // nothing happened: still running, nothing made
      expect(JSON.parse((await run(['inspect', n])).out)[0].status).toBe('running');
      await run(['exec', n, '--', 'sh', '-c', 'test ! -e /made']);
    } finally {
      await run(['rm', '-f', n]);
    }
  });

  it("--rm mounts the container's root volatile (its upper is deleted at exit: no sync); a kept container's root is not", async () => {
    // the root's overlay options as the container sees them: `volatile`, or `fsync=volatile` on newer kernels
    const rootOptions = (mountinfo: string) =>
      mountinfo.split('\n').filter((l) => l.split(' ')[4] === '/' && l.includes(' - overlay ')).pop()?.split(' - ')[1]?.split(' ')[2]?.split(',') ?? [];
    const volatile = (opts: string[]) => opts.some((o) => o === 'volatile' || o === 'fsync=volatile');

    const rm = rootOptions((await run(['--rm', ...BASE, '--', 'cat', '/proc/self/mountinfo'])).out);
    expect(rm.find((o) => o.startsWith('upperdir='))).toBeDefined();
    expect(volatile(rm)).toBe(true);

    const n = name('kept');
    const kept = rootOptions((await run(['--name', n, ...BASE, '--', 'cat', '/proc/self/mountinfo'])).out);
    expect(kept.find((o) => o.startsWith('upperdir='))).toBeDefined();
    expect(volatile(kept)).toBe(false);
    await run(['rm', n]);
    expect((await run(['ps', '-a'])).out).not.toContain(n);
  });

  it('logs -f follows a detached container until it exits', async () => {
    const n = name('follow');
    // 2 s between the lines: run -d may return a second after the container started on a loaded machine
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'echo one; sleep 2; echo two']);
    const t0 = Date.now();
    const r = await run(['logs', '-f', n]);
    expect(r.out).toBe('one\ntwo');
    expect(Date.now() - t0).toBeGreaterThan(500);
    await run(['rm', n]);
  });

  it('-d --rm: once the container has exited, the next run ps removes it', async () => {
    const n = name('drm-ps');
    const id = (await run(['-d', '--rm', '--name', n, ...BASE, '--', 'true'])).out.trim();
    await containerEnded(n);
    expect((await run(['ps', '-a', '-q'])).out).not.toContain(n);
    expect(dataDirOf(id)).toBe(false);
  });

  it('kill -9 of run in the middle of setup, then run gc, leaves nothing', async () => {
    const n = name('crash');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const p = spawn(process.execPath, [binPath('run'), '--rm', '--name', n, ...BASE, '--net', 'bridge', '--', 'sleep', '600'], { env, stdio: 'ignore' });
    // kill it as soon as its record says it is being made
    const end = Date.now() + 10_000;
    let seen = '';
    while (Date.now() < end) {
      try {
        seen = JSON.parse(readFileSync(stateFile(n), 'utf8')).status;
        if (seen) break;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    expect(seen).not.toBe('');
    // the creator's pid reused by a live process (this test's own) is not the creator: gc still cleans up
    const crashed = JSON.parse(readFileSync(stateFile(n), 'utf8'));
    expect(crashed.creatorStart).toEqual(expect.any(Number));
    writeFileSync(stateFile(n), JSON.stringify({ ...crashed, creatorPid: process.pid }));
    const gc = await run(['gc', '--json']);
    const rec = JSON.parse(gc.out);
    expect(rec.removed).toContain(n);
    expect(existsSync(stateFile(n))).toBe(false);
    const left = JSON.parse((await run(['ps', '-a', '--json'])).out).map((r: { id: string }) => r.id);
    // (killed before it made any data dir, when this test runs alone)
    const dirs = existsSync(`${process.env.BOXKIT_DATA_DIR}/containers`) ? readdirSync(`${process.env.BOXKIT_DATA_DIR}/containers`) : [];
    expect(dirs.filter((d) => !left.includes(d))).toEqual([]);
    expect(overlayMounts().filter((l) => l.includes(process.env.BOXKIT_DATA_DIR!))).toEqual([]);
  });

  it('kill -9 of run --net bridge -p at each step of its network setup, then run gc: no link, lease, record, rule or entry is left', async () => {
    const nsState = `${process.env.BOXKIT_STATE_DIR}/netsetup`;
    const files = (d: string) => (existsSync(`${nsState}/${d}`) ? readdirSync(`${nsState}/${d}`) : []);
    const entries = () => (existsSync(`${nsState}/state.json`) ? Object.keys(JSON.parse(readFileSync(`${nsState}/state.json`, 'utf8')).publish ?? {}) : []);
    const rules = () => execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('boxkit publish'));
    const veths = () => execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' });
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    // netsetup's steps (BOXKIT_NETSETUP_CRASH_AT): record claimed, address leased, links made, publish entry written, rules made
    for (const mark of ['claimed', 'leased', 'made', 'publish-recorded', 'published']) {
      const n = name(`crash-${mark}`);
      const p = spawn(process.execPath, [binPath('run'), '--rm', '--name', n, ...BASE, '--net', 'bridge', '-p', '80', '--', 'sleep', '600'], {
        env: { ...env, BOXKIT_NETSETUP_CRASH_AT: mark }, stdio: 'ignore',
      });
      const [, signal] = await new Promise<[number | null, string | null]>((r) => p.once('exit', (c, s) => r([c, s])));
      expect(signal, mark).toBe('SIGKILL');
      expect(files('attachments'), mark).toHaveLength(1);
      const gc = await run(['gc', '--json']);
      expect(JSON.parse(gc.out).removed, mark).toContain(n);
      expect(files('attachments'), mark).toEqual([]);
      expect(files('leases'), mark).toEqual([]);
      expect(entries(), mark).toEqual([]);
      expect(rules(), mark).toEqual([]);
      expect(veths(), mark).toBe('');
    }
    // the address is free again: the next container gets the subnet's first one
    const n = name('after-crash');
    await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '--', 'sleep', '600']);
    const ps = JSON.parse((await run(['ps', '--json'])).out) as { name: string; ip: string }[];
    expect(ps.find((c) => c.name === n)?.ip).toMatch(/^10\.88\.0\.2(\/16)?$/);
    await run(['rm', '-f', n]);
    expect(files('leases')).toEqual([]);
  });

  // the issue's sizes (about a minute here); BOXKIT_RUN_SEQ/CONC scale them for quick local runs
  const SEQ = Number(process.env.BOXKIT_RUN_SEQ ?? 200);
  const CONC = Number(process.env.BOXKIT_RUN_CONC ?? 20);
  it(`${SEQ} sequential --rm runs and ${CONC} concurrent -d + rm: no leak, distinct addresses`, async () => {
    for (let i = 0; i < SEQ; i++) await run(['--rm', ...BASE, '--net', 'bridge', '--', 'true']);
    const names = Array.from({ length: CONC }, (_, i) => name(`conc${i}`));
    await Promise.all(names.map((n) => run(['-d', '--name', n, ...BASE, '--net', 'bridge', '--', 'sleep', '600'])));
    const ps = JSON.parse((await run(['ps', '--json'])).out) as { name: string; ip: string }[];
    const ips = ps.filter((p) => names.includes(p.name)).map((p) => p.ip);
    expect(ips).toHaveLength(CONC);
    expect(new Set(ips).size).toBe(CONC);
    await Promise.all(names.map((n) => run(['rm', '-f', n])));
    expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
    expect(readdirSync(`${process.env.BOXKIT_DATA_DIR}/containers`)).toEqual([]);
  }, 60_000 + SEQ * 2_000 + CONC * 3_000);
});
