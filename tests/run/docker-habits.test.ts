/**
 * run used the way a docker user uses docker: each case is a habit that
 * went wrong here (a name that stayed taken, a port, a pid of a stopped
 * container...), checked against the real kernel.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { assertSandboxNetwork, binPath, bk, poll, running, skipReason, tcpAsk, waitUntil } from '../harness/index.js';
import { BASE, containerEnded, name, overlayMounts, run } from './helpers.js';
import { resolvConf } from '../../packages/run/src/container/dns.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skipReason)(`run: docker habits${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    const ns = await import('@boxkit/netsetup');
    await ns.removeNat('10.88.0.0/16').catch(() => {});
    await ns.removeBridge('boxkit0').catch(() => {});
  });

  it('--read-only with a --workdir the image lacks: the directory is made before the root goes read-only (as docker)', async () => {
    const r = await run(['--rm', ...BASE, '--read-only', '-w', '/made/here', '--', 'sh', '-c', 'pwd; touch /x 2>/dev/null || echo read-only']);
    expect(r.out.split('\n')).toEqual(['/made/here', 'read-only']);
  });

  it("--net none (the default) brings the container's lo up, as docker's none: 127.0.0.1 answers inside", async () => {
    // IFF_UP|IFF_LOOPBACK; the kernel makes a new namespace's lo down (0x8)
    const r = await run(['--rm', ...BASE, '--', 'sh', '-c', 'cat /sys/class/net/lo/flags; ping -c1 -W2 127.0.0.1 >/dev/null && echo reached']);
    expect(r.out.split('\n')).toEqual(['0x9', 'reached']);
  });

  it("/etc/resolv.conf is the host's (as docker's): without the host's loopback nameservers in a namespace of its own, as it is with --net host", async () => {
    const host = readFileSync('/etc/resolv.conf', 'utf8');
    const own = (await run(['--rm', ...BASE, '--', 'cat', '/etc/resolv.conf'])).out;
    expect(own.trim()).toBe(resolvConf(host, true, existsSync('/run/systemd/resolve/resolv.conf') ? readFileSync('/run/systemd/resolve/resolv.conf', 'utf8') : undefined).trim());
    expect(own).toMatch(/^nameserver /m);
    expect(own).not.toMatch(/^nameserver 127\./m);
    expect((await run(['--rm', ...BASE, '--net', 'host', '--', 'cat', '/etc/resolv.conf'])).out.trim()).toBe(host.trim());
  });

  it("--ip takes a bare address with the bridge's prefix (as docker); an address outside the bridge's subnet is refused and nothing is left", async () => {
    assertSandboxNetwork();
    const n = name('bareip');
    try {
      await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '--ip', '10.88.0.77', '--', 'sleep', '600']);
      expect((await run(['exec', n, '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).out).toMatch(/ 10\.88\.0\.77\/16 /);
    } finally {
      await run(['rm', '-f', n], null);
    }
    const links = () => readFileSync('/proc/net/dev', 'utf8').split('\n').length;
    const before = links();
    const r = await run(['--rm', ...BASE, '--net', 'bridge', '--ip', '10.66.0.5/24', '--', 'true'], 125);
    expect(r.err).toMatch(/10\.66\.0\.5\/24/);
    expect(links()).toBe(before);
    expect((await run(['ps', '-a', '-q'])).out.split('\n').filter((x) => x.includes('bareip'))).toEqual([]);
    expect((await run(['--rm', ...BASE, '--net', 'bridge', '--ip', '10.88.0.300', '--', 'true'], 125)).err).toMatch(/^run: invalid address '10\.88\.0\.300'/);
  });

  it("--volume HOST:CONTAINER[:ro] binds a host path as docker -v: writes reach the host, :ro refuses them, a symlink in the image stays inside, exec sees it, nothing is left", async () => {
    const host = mkdtempSync('/tmp/bk-vol-');
    const layer = mkdtempSync('/tmp/bk-vol-layer-');
    try {
      writeFileSync(`${host}/in`, 'from the host\n');
      writeFileSync(`${host}/conf`, 'conf\n');
      // an image whose /data is a symlink to /etc: the bind lands on the container's /etc, not the host's
      symlinkSync('/etc', `${layer}/data`);
      const hostEtc = readFileSync('/etc/hostname', 'utf8');
      const r = await run(['--rm', ...BASE, '--layer', layer, '--volume', `${host}:/data`, '--volume', `${host}/conf:/app/app.conf:ro`, '--volume', `${host}:/ro:ro`, '-w', '/data/sub',
        '--', 'sh', '-c', 'cat /data/in; echo made > /data/out; cat /app/app.conf; echo x > /ro/y 2>/dev/null || echo ro-refused; echo x > /app/app.conf 2>/dev/null || echo file-ro; pwd']);
      // (the workdir is made in the volume, reached through the image's /data -> /etc)
      expect(r.out.split('\n')).toEqual(['from the host', 'conf', 'ro-refused', 'file-ro', '/etc/sub']);
      expect(existsSync(`${host}/sub`)).toBe(true);
      expect(readFileSync(`${host}/out`, 'utf8')).toBe('made\n');
      expect(existsSync(`${host}/y`)).toBe(false);
      // the host's /etc untouched (the symlink was followed inside the container)
      expect(readFileSync('/etc/hostname', 'utf8')).toBe(hostEtc);
      expect(existsSync('/etc/in')).toBe(false);
      // exec joins the mount namespace: it sees the volume; inspect lists it
      const n = name('vol');
      await run(['-d', '--name', n, ...BASE, '--volume', `${host}:/data:ro`, '--', 'sleep', '600']);
      try {
        expect((await run(['exec', n, 'cat', '/data/in'])).out).toBe('from the host');
        expect(JSON.parse((await run(['inspect', n])).out)[0].volumes).toEqual([`${host}:/data:ro`]);
      } finally {
        await run(['rm', '-f', n]);
      }
      // refused before anything is made: a host path that is not there, a relative one
      const before = overlayMounts().length;
      expect((await run(['--rm', ...BASE, '--volume', '/no/such/dir:/data', '--', 'true'], 125)).err).toMatch(/^run: --volume \/no\/such\/dir:\/data: no such file or directory/);
      expect((await run(['--rm', ...BASE, '--volume', 'rel:/data', '--', 'true'], 125)).err).toMatch(/absolute/);
      expect(overlayMounts()).toHaveLength(before);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(host);
    } finally {
      rmSync(host, { recursive: true, force: true });
      rmSync(layer, { recursive: true, force: true });
    }
  });

  it("--volume :ro holds for the whole tree and keeps the source's nosuid/noexec; a target an image's symlink leads to /, /dev or /sys is refused", async () => {
    const host = mkdtempSync('/tmp/bk-volro-');
    const layer = mkdtempSync('/tmp/bk-volro-layer-');
    try {
      // a mount nested in the shared directory, noexec as the host made it
      mkdirSync(`${host}/sub`);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'noexec,nosuid,size=8m', 'bk-volro', `${host}/sub`]);
      execFileSync('cp', ['/bin/busybox', `${host}/sub/bb`]);
      const r = await run(['--rm', ...BASE, '--volume', `${host}:/data:ro`, '--', 'sh', '-c',
        'echo x > /data/top 2>/dev/null || echo top-ro; echo x > /data/sub/w 2>/dev/null || echo nested-ro; /data/sub/bb true 2>/dev/null || echo noexec']);
      expect(r.out.split('\n')).toEqual(['top-ro', 'nested-ro', 'noexec']);
      expect(existsSync(`${host}/sub/w`)).toBe(false);
      // an image whose /data leads to /, /dev or /sys: refused (over / it was what run exec landed in)
      for (const to of ['/', '/dev', '/sys', '/proc/sys']) {
        rmSync(`${layer}/data`, { force: true });
        symlinkSync(to, `${layer}/data`);
        const bad = await run(['--rm', ...BASE, '--layer', layer, '--volume', `${host}:/data:ro`, '--', 'true'], 125);
        expect(bad.err, to).toMatch(/operation not permitted/);
      }
    } finally {
      spawnSync('umount', [`${host}/sub`]);
      rmSync(host, { recursive: true, force: true });
      rmSync(layer, { recursive: true, force: true });
    }
  });

  it('one name in two stores (two BOXKIT_STATE_DIRs) makes two cgroups: rm -f in one store leaves the other\'s container running', async () => {
    const n = name('twin');
    const other = mkdtempSync('/tmp/bk-store-');
    const envB = { BOXKIT_STATE_DIR: `${other}/state`, BOXKIT_DATA_DIR: `${other}/data` };
    const rootfs = ['--rootfs', `${process.env.BOXKIT_DATA_DIR}/rootfs/default`];
    try {
      await run(['-d', '--name', n, ...BASE, ...rootfs, '--', 'sleep', '600']);
      // (--privileged: no device rules, which made the second start fail on the first's group)
      const b = await bk('run', ['-d', '--name', n, ...BASE, ...rootfs, '--privileged', '--', 'sleep', '600'], { env: envB });
      expect(b.exitCode, String(b.stderr)).toBe(0);
      const pidA = JSON.parse((await run(['inspect', n])).out)[0].pid as number;
      const pidB = JSON.parse(String((await bk('run', ['inspect', n], { env: envB })).stdout))[0].pid as number;
      const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter((l) => /:pids:/.test(l));
      expect(cgroupOf(pidA)).not.toEqual(cgroupOf(pidB));
      expect((await bk('run', ['rm', '-f', n], { env: envB })).exitCode).toBe(0);
      await wait(200);
      expect(running(pidA), "the other store's container").toBe(true);
    } finally {
      await run(['rm', '-f', n], null);
      await bk('run', ['rm', '-f', n], { env: envB });
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('the name of a -d --rm container that has exited is free again, without a ps or gc in between', async () => {
    const n = name('rmname');
    try {
      // (waiting for its PID 1 to end reads /proc only: no ps or gc)
      await run(['-d', '--rm', '--name', n, ...BASE, '--', 'true']);
      await containerEnded(n);
      await run(['-d', '--rm', '--name', n, ...BASE, '--', 'true']);
      await containerEnded(n);
      await run(['--rm', '--name', n, ...BASE, '--', 'true']);
      expect((await run(['ps', '-a', '-q'])).out).not.toContain(n);
    } finally {
      await run(['gc'], null);
    }
  });

  it('-p PORT alone publishes a free host port of the ephemeral range (as docker), shown by ps and inspect; rm frees it', async () => {
    assertSandboxNetwork();
    const [lo, hi] = execFileSync('cat', ['/proc/sys/net/ipv4/ip_local_port_range'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
    const n1 = name('anyport1');
    const n2 = name('anyport2');
    try {
      for (const n of [n1, n2]) {
        await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '-p', '12345', '--', 'nc', '-ll', '-p', '12345', '-e', 'echo', n]);
      }
      const pubs: number[] = [];
      for (const n of [n1, n2]) {
        const rec = JSON.parse((await run(['inspect', n])).out)[0];
        expect(rec.net.publish).toHaveLength(1);
        const p = rec.net.publish[0];
        expect(p.containerPort).toBe(12345);
        expect(p.hostPort).toBeGreaterThanOrEqual(lo!);
        expect(p.hostPort).toBeLessThanOrEqual(hi!);
        pubs.push(p.hostPort as number);
        const ps = JSON.parse((await run(['ps', '--json'])).out).find((r: { name: string }) => r.name === n);
        expect(ps.ports).toEqual([`${p.hostPort}->12345/tcp`]);
        expect((await run(['ps'])).out).toMatch(new RegExp(`^${n}\\s.*\\s${p.hostPort}->12345/tcp\\s`, 'm'));
      }
      // two containers, two host ports; the host's own 12345 is left alone
      expect(pubs[0]).not.toBe(pubs[1]);
      // nc listens a moment after run -d returned
      expect(await poll(() => tcpAsk(undefined, '10.88.0.1', pubs[0]!), (a) => !a.startsWith('ERROR'))).toBe(n1);
      expect(await poll(() => tcpAsk(undefined, '10.88.0.1', pubs[1]!), (a) => !a.startsWith('ERROR'))).toBe(n2);
      expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).not.toMatch(/^-A BOXKIT-DNAT .*--dport 12345 /m);
      await run(['rm', '-f', n1, n2]);
      const nat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
      for (const p of pubs) expect(nat).not.toContain(`--dport ${p} `);
    } finally {
      await run(['rm', '-f', n1, n2], null);
    }
  });

  it('a stopped or exited container gives its address and published port back at once (as docker), not at rm', async () => {
    assertSandboxNetwork();
    const { list } = await import('@boxkit/netsetup');
    const [a, b, c] = [name('relA'), name('relB'), name('relC')];
    try {
      await run(['-d', '--name', a, ...BASE, '--net', 'bridge', '-p', '18090:80', '--', 'sleep', '600']);
      const ipA = JSON.parse((await run(['inspect', a])).out)[0].net.ip as string;
      await run(['stop', '--time', '0', a]);
      const stopped = JSON.parse((await run(['ps', '-a', '--json'])).out).find((r: { name: string }) => r.name === a);
      expect(stopped).toMatchObject({ status: 'exited', ip: null, ports: [] });
      expect((await list()).attachments.map((x) => x.ip)).not.toContain(ipA);
      // the same host port for a new container, while the stopped one is still there
      await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '-p', '18090:80', '--', 'sleep', '600']);
      // a foreground container that ended (not --rm) too
      await run(['--name', c, ...BASE, '--net', 'bridge', '-p', '18091:80', '--', 'true']);
      expect(JSON.parse((await run(['inspect', c])).out)[0].net).toEqual({ mode: 'bridge', bridge: 'boxkit0' });
      await run(['rm', '-f', b]);
      await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '-p', '18091:80', '--', 'sleep', '600']);
      await run(['rm', a, c]);
      expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).toMatch(/^-A BOXKIT-DNAT .*--dport 18091 /m);
    } finally {
      await run(['rm', '-f', a, b, c], null);
    }
    expect((await list()).attachments).toEqual([]);
  });

  it('inspect of an ended container gives no pid (as ps, and docker inspect\'s State.Pid 0), a running one its PID 1', async () => {
    const n = name('inspid');
    try {
      await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
      const live = JSON.parse((await run(['inspect', n])).out)[0];
      expect(live.pid).toBeGreaterThan(1);
      expect(readFileSync(`/proc/${live.pid}/cmdline`, 'utf8')).toContain('sleep');
      await run(['stop', '--time', '0', n]);
      expect(JSON.parse((await run(['inspect', n])).out)[0]).toMatchObject({ status: 'exited', pid: null });
    } finally {
      await run(['rm', '-f', n], null);
    }
  });

  it('stop, rm and inspect of several names: one that fails is reported and the others are still done (as docker), exit 1', async () => {
    const [a, b] = [name('multiA'), name('multiB')];
    try {
      await run(['-d', '--name', a, ...BASE, '--', 'sleep', '600']);
      await run(['-d', '--name', b, ...BASE, '--', 'sleep', '600']);
      const stop = await run(['stop', '--time', '0', 'nosuch-ctr', a], 1);
      expect(stop.err).toMatch(/^run: no such container: nosuch-ctr$/m);
      expect(stop.out).toBe(a);
      const insp = await run(['inspect', a, 'nosuch-ctr'], 1);
      expect(JSON.parse(insp.out).map((r: { name: string; status: string }) => [r.name, r.status])).toEqual([[a, 'exited']]);
      // b is running (no -f): refused, and a is removed all the same
      const rm = await run(['rm', b, a], 1);
      expect(rm.err).toMatch(new RegExp(`^run: ${b}: container is running$`, 'm'));
      expect((await run(['ps', '-a', '-q'])).out.split('\n')).toEqual([b]);
    } finally {
      await run(['rm', '-f', a, b], null);
    }
  });

  it('--user with an id out of docker\'s range (0-2147483647) is refused, for run and exec: 4294967295 ran as root, larger ids wrapped', async () => {
    for (const u of ['4294967295', '99999999999', '0:4294967295', '2147483648']) {
      const r = await run(['--rm', ...BASE, '-u', u, '--', 'id'], 125);
      expect(r.out).toBe('');
      expect(r.err).toMatch(new RegExp(`^run: --user ${u}: (uid|gid) \\d+ is out of range$`, 'm'));
    }
    expect((await run(['--rm', ...BASE, '-u', '2147483647:2147483647', '--', 'sh', '-c', 'id -u; id -g'])).out).toBe('2147483647\n2147483647');
    // an id the image's passwd does not name: group 0, as docker
    expect((await run(['--rm', ...BASE, '-u', '1000', '--', 'sh', '-c', 'id -u; id -g'])).out).toBe('1000\n0');
    const n = name('uidrange');
    try {
      await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
      expect((await run(['exec', '-u', '4294967295', n, '--', 'id', '-u'], 125)).out).toBe('');
    } finally {
      await run(['rm', '-f', n], null);
    }
  });

  it('a -d container that exited on its own gives its published port and address back to the next run that asks, and to ps', async () => {
    assertSandboxNetwork();
    const [a, b] = [name('selfexitA'), name('selfexitB')];
    try {
      await run(['-d', '--name', a, ...BASE, '--net', 'bridge', '-p', '18092:80', '--', 'sh', '-c', 'exit 1']);
      await containerEnded(a);
      // nobody waited for a: the port is taken back for b, as docker's daemon would have at a's exit
      await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '-p', '18092:80', '--', 'sleep', '600']);
      const rows = JSON.parse((await run(['ps', '-a', '--json'])).out) as { name: string; status: string; ip: string | null; ports: string[] }[];
      expect(rows.find((r) => r.name === a)).toMatchObject({ status: 'exited', ip: null, ports: [] });
      expect(rows.find((r) => r.name === b)).toMatchObject({ status: 'running', ports: ['18092->80/tcp'] });
      await run(['rm', '-f', b]);
      // and ps alone settles one that exited
      await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '--', 'true']);
      await containerEnded(b);
      expect(JSON.parse((await run(['ps', '-a', '--json'])).out).find((r: { name: string }) => r.name === b)).toMatchObject({ status: 'exited', ip: null });
      const { list } = await import('@boxkit/netsetup');
      expect((await list()).attachments).toEqual([]);
    } finally {
      await run(['rm', '-f', a, b], null);
    }
  });

  it('a --rm container whose run was killed gives its published port back to the next run that asks (it is removed, as gc would)', async () => {
    assertSandboxNetwork();
    const [a, b] = [name('killedrm'), name('killedrmB')];
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    try {
      const fg = spawn(process.execPath, [binPath('run'), '--rm', '--name', a, ...BASE, '--net', 'bridge', '-p', '18094:80', '--', 'sleep', '600'], { env, stdio: 'ignore' });
      const gone = new Promise((r) => fg.once('exit', r));
      const recFile = `${process.env.BOXKIT_STATE_DIR}/run/containers/${a}.json`;
      await waitUntil(`${a} to run`, () => existsSync(recFile) && JSON.parse(readFileSync(recFile, 'utf8')).status === 'running', 30_000);
      fg.kill('SIGKILL');
      await gone;
      await containerEnded(a);
      await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '-p', '18094:80', '--', 'sleep', '600']);
      expect((await run(['ps', '-a', '-q'])).out).toBe(b);
    } finally {
      await run(['rm', '-f', a, b], null);
    }
  });

  it('rm -f that stops the container and then fails (netsetup\'s state damaged) says it stopped it; once repaired, rm -f finishes', async () => {
    assertSandboxNetwork();
    const n = name('halfrm');
    const state = `${process.env.BOXKIT_STATE_DIR}/netsetup/state.json`;
    try {
      await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '-p', '18095:80', '--', 'sleep', '600']);
      const pid = JSON.parse(readFileSync(`${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`, 'utf8')).pid as number;
      const good = readFileSync(state);
      writeFileSync(state, 'junk');
      try {
        const r = await run(['rm', '-f', n], 1);
        expect(r.err.split('\n')[0]).toMatch(new RegExp(`^run: ${n}: stopped, but not removed: .*state\\.json: not valid JSON`));
        expect(running(pid)).toBe(false);
        expect((await run(['ps', '-a', '-q'])).out).toBe(n);
      } finally {
        writeFileSync(state, good);
      }
      await run(['rm', '-f', n]);
      expect((await run(['ps', '-a', '-q'])).out).toBe('');
    } finally {
      await run(['rm', '-f', n], null);
    }
  });

  it('a host port another running container publishes is refused naming that container (as docker), nothing made', async () => {
    assertSandboxNetwork();
    const [a, b] = [name('holdA'), name('holdB')];
    try {
      await run(['-d', '--name', a, ...BASE, '--net', 'bridge', '-p', '18093:80', '--', 'sleep', '600']);
      const r = await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '-p', '18093:80', '--', 'sleep', '600'], 125);
      expect(r.err).toBe(`run: host port 18093/tcp is already published by container ${a}\nhint: publish another host port (-p OTHER:80, or -p 80 for any free one), or run rm -f ${a}`);
      expect((await run(['ps', '-a', '-q'])).out).toBe(a);
    } finally {
      await run(['rm', '-f', a, b], null);
    }
  });

  it('rm (without -f) of a container a live run is still creating is refused, and that run goes on', async () => {
    assertSandboxNetwork();
    const n = name('creating');
    // netsetup's state lock, held here, stops the run at its -p publish: its container stays 'creating'
    const lock = `${process.env.BOXKIT_STATE_DIR}/netsetup/lock`;
    mkdirSync(dirname(lock), { recursive: true });
    const { flock, LOCK } = await import('@boxkit/native');
    let fd: number | undefined = openSync(lock, 'a', 0o600);
    flock(fd, LOCK.EX, lock);
    const unlock = () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    };
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    try {
      const end = Date.now() + 30_000; // a loaded machine takes seconds to reach the publish step
      const starting = spawn(process.execPath, [binPath('run'), '-d', '--name', n, ...BASE, '--net', 'bridge', '-p', '18094:80', '--', 'sleep', '600'], { env, stdio: 'ignore' });
      const started = new Promise<number | null>((r) => starting.on('exit', (c) => r(c)));
      let status = '';
      while (status !== 'creating' && Date.now() < end) {
        await wait(50);
        status = JSON.parse((await run(['ps', '-a', '--json'])).out).find((r: { name: string }) => r.name === n)?.status ?? '';
      }
      expect(status).toBe('creating');
      const r = await run(['rm', n], 1);
      // by run -d's keeper, which makes the container and stays its parent (keeper.ts)
      const by = /by run pid (\d+)\)/.exec(r.err)?.[1];
      expect(r.err).toMatch(new RegExp(`^run: ${n}: container is being created \\(by run pid ${by}\\)$`, 'm'));
      expect(readFileSync(`/proc/${by}/cmdline`, 'utf8')).toContain('run keeper');
      unlock();
      expect(await started).toBe(0);
      expect(JSON.parse((await run(['inspect', n])).out)[0].status).toBe('running');
    } finally {
      unlock();
      await run(['rm', '-f', n], null);
    }
  });

  it("a container's record (its --env secrets), upper, logs and root are root's only: another host user reads none of them", async () => {
    // state and data where other users may walk (the test root is 0700)
    const top = mkdtempSync('/tmp/bk-perm.');
    chmodSync(top, 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: `${top}/state`, BOXKIT_DATA_DIR: `${top}/data` };
    delete env.NODE_EXTRA_CA_CERTS;
    const n = name('perm');
    const asNobody = (file: string) =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', file], { encoding: 'utf8' });
    try {
      const r = await bk('run', ['-d', '--name', n, ...BASE, '-e', 'SECRET=hunter2', '--', 'sh', '-c', 'echo hunter2 > /tmp/note; echo out hunter2; exec sleep 600'], { env });
      expect(r.exitCode).toBe(0);
      const rec = JSON.parse(String((await bk('run', ['inspect', n], { env })).stdout))[0];
      expect(rec.process.env).toEqual({ SECRET: 'hunter2' });
      const files = [`${top}/state/run/containers/${n}.json`, `${rec.upper}/tmp/note`, rec.logs.stdout, `${rec.mountpoint}/tmp/note`];
      // the container writes them a moment after run -d returned
      const written = (f: string) => existsSync(f) && readFileSync(f, 'utf8').includes('hunter2');
      await waitUntil('the container to write its note and its log line', () => files.every(written));
      for (const f of files) {
        expect(readFileSync(f, 'utf8')).toContain('hunter2');
        const c = asNobody(f);
        expect(c.status, f).not.toBe(0);
        expect(c.stdout).toBe('');
        expect(c.stderr).toMatch(/Permission denied/);
      }
    } finally {
      await bk('run', ['rm', '-f', n], { env });
      rmSync(top, { recursive: true, force: true });
    }
  });

  it('exec into a container whose PID 1 has not yet pivoted into its root is refused: it would run in the host\'s root', async () => {
    // the record as a run writes it just before it lets PID 1 go (pid known, still in the host's mounts),
    // held in that state: a process of this host stands for PID 1
    const n = name('starting');
    const pid1 = spawn('sleep', ['600'], { stdio: 'ignore' });
    const file = `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`;
    try {
      const stat = readFileSync(`/proc/${pid1.pid}/stat`, 'utf8');
      const pidStart = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      const dir = `${process.env.BOXKIT_DATA_DIR}/containers/000000000000`;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({
        id: '000000000000', name: n, status: 'running', created: new Date().toISOString(), creatorPid: process.pid,
        pid: pid1.pid, pidStart, command: ['sleep', '600'], rootfs: '/', layers: [], mountpoint: `${dir}/rootfs`, upper: `${dir}/upper`, work: `${dir}/work`,
        hostname: n, net: { mode: 'none' }, detach: true, autoRemove: false,
      }));
      const r = await run(['exec', n, '--', 'cat', '/etc/hostname'], 125);
      expect(r.out).toBe('');
      expect(r.err).toMatch(new RegExp(`^run: ${n}: container is still starting$`, 'm'));
    } finally {
      pid1.kill('SIGKILL');
      rmSync(file, { force: true });
    }
  });

  it('-p IP:HOSTPORT:PORT and -p IP::PORT publish on that host address only (as docker), shown by ps', async () => {
    assertSandboxNetwork();
    const n = name('hostip');
    try {
      await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '-p', '127.0.0.1:18096:12345', '-p', '127.0.0.1::12345', '--', 'nc', '-ll', '-p', '12345', '-e', 'echo', 'local']);
      const pubs = JSON.parse((await run(['inspect', n])).out)[0].net.publish as { hostPort: number; hostIp?: string }[];
      expect(pubs.map((p) => p.hostIp)).toEqual(['127.0.0.1', '127.0.0.1']);
      expect(pubs[0]!.hostPort).toBe(18096);
      const any = pubs[1]!.hostPort;
      expect(any).toBeGreaterThan(1024);
      const row = JSON.parse((await run(['ps', '--json'])).out).find((r: { name: string }) => r.name === n);
      expect(row.ports).toEqual(['127.0.0.1:18096->12345/tcp', `127.0.0.1:${any}->12345/tcp`]);
      for (const port of [18096, any]) {
        // nc listens a moment after run -d returned
        expect(await poll(() => tcpAsk(undefined, '127.0.0.1', port), (a) => !a.startsWith('ERROR'))).toBe('local');
        // the bridge's address is another address of this host: not published there
        expect(tcpAsk(undefined, '10.88.0.1', port, 1)).toMatch(/^ERROR|TIMEOUT/);
      }
    } finally {
      await run(['rm', '-f', n], null);
    }
  });

  it('an --ip held by a -d container that exited on its own is given back; one a running container holds is refused naming it', async () => {
    assertSandboxNetwork();
    const [a, b, c] = [name('ipA'), name('ipB'), name('ipC')];
    try {
      await run(['-d', '--name', a, ...BASE, '--net', 'bridge', '--ip', '10.88.0.77/16', '--', 'sh', '-c', 'exit 1']);
      await containerEnded(a);
      await run(['-d', '--name', b, ...BASE, '--net', 'bridge', '--ip', '10.88.0.77/16', '--', 'sleep', '600']);
      expect(JSON.parse((await run(['inspect', b])).out)[0].net.ip).toBe('10.88.0.77/16');
      const r = await run(['-d', '--name', c, ...BASE, '--net', 'bridge', '--ip', '10.88.0.77/16', '--', 'sleep', '600'], 125);
      expect(r.err).toMatch(new RegExp(`^run: address 10\\.88\\.0\\.77 is already in use by container ${b}$`, 'm'));
      expect((await run(['ps', '-a', '-q'])).out.split('\n').sort()).toEqual([a, b].sort());
    } finally {
      await run(['rm', '-f', a, b, c], null);
    }
  });
});
