/** Joining: --netns (a namespace made by `ip netns add`), `enter PID`, and the setup handshake. */
import { describe, expect, it } from 'vitest';
import { readlinkSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { createHost, destroyHost, inHost, pin, skipReason, testName } from '../harness/index.js';
import { alive, binPath, killAndWait, ns, sleep, tmp, until } from './helpers.js';

describe.skipIf(skipReason)(`ns-clone joining${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('--netns joins a namespace made by ip netns add', async () => {
    const host = createHost(testName('nsjoin'));
    try {
      const expected = inHost(host, 'readlink', ['/proc/self/ns/net']).trim();
      const r = await ns(['--netns', host, '--uts', '--', 'readlink', '/proc/self/ns/net']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe(expected);
      expect(expected).not.toBe(readlinkSync('/proc/self/ns/net'));
      const byPath = await ns(['--netns', `/var/run/netns/${host}`, '--', 'readlink', '/proc/self/ns/net']);
      expect(byPath.stdout).toBe(expected);
    } finally {
      destroyHost(host);
    }
  });

  it('enter joins a running container\'s namespaces', async () => {
    const d = await ns(['--detach', '--json', '--hostname', 'entered', '--pid', '--mount', '--net', '--ipc', '--', 'sleep', '60']);
    expect(d.exitCode, d.stderr).toBe(0);
    const doc = JSON.parse(d.stdout) as { pid: number; namespaces: Record<string, string> };
    const pinned = pin(doc.pid);
    try {
      expect(doc.namespaces.net).toBe(`/proc/${doc.pid}/ns/net`);
      expect(Object.keys(doc.namespaces).sort()).toEqual(['ipc', 'mnt', 'net', 'pid', 'uts']);
      const r = await ns(['enter', String(doc.pid), '--all', '--', 'sh', '-c', 'hostname; readlink /proc/self/ns/net; ps -e -o pid=,comm= | head -1']);
      expect(r.exitCode, r.stderr).toBe(0);
      const [hostname, netns, first] = r.stdout.split('\n');
      expect(hostname).toBe('entered');
      expect(netns).toBe(readlinkSync(`/proc/${doc.pid}/ns/net`));
      expect(first!.trim()).toBe('1 sleep'); // the container's PID 1, seen through its /proc
      const one = await ns(['enter', String(doc.pid), '--uts', '--', 'hostname']);
      expect(one.stdout).toBe('entered');
      const piped = await ns(['enter', '-', '--uts', '--', 'hostname'], { input: `${doc.pid}\n` });
      expect(piped.stdout, piped.stderr).toBe('entered');
      const exit = await ns(['enter', String(doc.pid), '--net', '--', 'sh', '-c', 'exit 7']);
      expect(exit.exitCode).toBe(7);
    } finally {
      await killAndWait(pinned);
    }
    // gone: said as such (it read as "shares every namespace with this one")
    const gone = await ns(['enter', String(doc.pid), '--all', '--', 'true']);
    expect(gone.exitCode).toBe(125); // a tool that runs a command: its own failure
    expect(gone.stderr.split('\n')[0]).toBe(`ns-clone: no process ${doc.pid}`);
  });

  it('enter joins a container with its own user namespace, as its root', async () => {
    const d = await ns(['--detach', '--json', '--map-users', '0:200000:1000', '--map-groups', '0:200000:1000', '--hostname', 'userns', '--pid', '--mount', '--', 'sleep', '60']);
    expect(d.exitCode, d.stderr).toBe(0);
    const { pid } = JSON.parse(d.stdout) as { pid: number };
    const pinned = pin(pid);
    try {
      const r = await ns(['enter', String(pid), '--all', '--', 'sh', '-c', 'id -u; hostname; cat /proc/self/uid_map']);
      expect(r.exitCode, r.stderr).toBe(0);
      const [uid, host, map] = r.stdout.split('\n');
      expect([uid, host]).toEqual(['0', 'userns']);
      expect(map!.trim().split(/\s+/)).toEqual(['0', '200000', '1000']);
    } finally {
      await killAndWait(pinned);
    }
  });

  it('--wait-for-setup holds CMD until released', async () => {
    const marker = join(tmp('setup'), 'ran');
    const d = await ns(['--detach', '--json', '--wait-for-setup', '--pid', '--', 'sh', '-c', `touch ${marker}; sleep 30`]);
    expect(d.exitCode, d.stderr).toBe(0);
    const doc = JSON.parse(d.stdout) as { pid: number; setupFifo: string };
    const pinned = pin(doc.pid);
    try {
      expect(existsSync(doc.setupFifo)).toBe(true);
      await sleep(300);
      expect(existsSync(marker)).toBe(false);
      expect(alive(doc.pid)).toBe(true);
      // a dry run says what a release or an abort would write, and changes nothing (it released the child)
      const dry = await ns(['release', String(doc.pid), '--dry-run']);
      expect(dry.exitCode, dry.stderr).toBe(0);
      const record = join(process.env.BOXKIT_STATE_DIR!, 'ns-clone', `${doc.pid}.fifo-path`);
      expect(dry.stdout.split('\n')).toEqual([`echo > ${doc.setupFifo}`, `rm -f ${doc.setupFifo} ${record}`]);
      const dryAbort = await ns(['release', String(doc.pid), '--abort', '--dry-run', '--json']);
      // (an abort also takes back the directories this start made for the fifo, if it made the state dir)
      const dryDoc = JSON.parse(dryAbort.stdout) as { commands: string[] };
      const rmdirs = dryDoc.commands.filter((l) => l.startsWith('rmdir --ignore-fail-on-non-empty '));
      for (const l of rmdirs) for (const dir of l.split(' ').slice(2)) expect(`${record}/`.startsWith(`${dir}/`), dir).toBe(true);
      expect(dryDoc).toEqual({ dryRun: true, released: String(doc.pid), fifo: doc.setupFifo, aborted: true, commands: [`: > ${doc.setupFifo}`, `rm -f ${doc.setupFifo} ${record}`, ...rmdirs] });
      await sleep(300);
      expect(existsSync(marker)).toBe(false);
      expect(existsSync(doc.setupFifo)).toBe(true);
      expect(existsSync(record)).toBe(true);
      // the pid from stdin, as the other tools take pids (`echo $pid | ns-clone release -`)
      const r = await ns(['release', '-', '-v'], { input: `${doc.pid}\n` });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toBe(`+ echo > ${doc.setupFifo}\n+ rm -f ${doc.setupFifo} ${record}`);
      // an empty TARGET is no `-`
      expect((await ns(['release', ''], { input: `${doc.pid}\n` })).exitCode).toBe(2);
      await until(() => existsSync(marker), 20_000, 'the released command to run');
      expect(existsSync(doc.setupFifo)).toBe(false);
      expect(readFileSync(`/proc/${doc.pid}/cmdline`, 'utf8')).toContain('sleep');
    } finally {
      await killAndWait(pinned);
    }
  });

  it('release of a held child that was killed says it is gone at once and removes its fifo and record', async () => {
    const d = await ns(['--detach', '--json', '--wait-for-setup', '--uts', '--', 'true']);
    const doc = JSON.parse(d.stdout) as { pid: number; setupFifo: string };
    await killAndWait(pin(doc.pid));
    const record = join(process.env.BOXKIT_STATE_DIR!, 'ns-clone', `${doc.pid}.fifo-path`);
    const t0 = Date.now();
    const r = await ns(['release', String(doc.pid)]);
    expect(Date.now() - t0).toBeLessThan(4000); // (it waited 5 s for a reader before)
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`ns-clone: process ${doc.pid} is gone: nothing to release (its fifo and record are removed)`);
    expect([existsSync(doc.setupFifo), existsSync(record)]).toEqual([false, false]);
  });

  it('release --abort PID run twice (a teardown\'s trap, then its explicit call, under set -e): the second says the start is already gone and exits 0 (it said "not waiting", 2), as an abort of a child killed while held does; a live process that is no waiting start is still refused (2)', async () => {
    const state = join(tmp('abort-twice'), 'state');
    const env = { BOXKIT_STATE_DIR: state };
    const records = join(state, 'ns-clone');
    const marker = join(tmp('abort-twice-cmd'), 'ran');
    const d = await ns(['--detach', '--json', '--wait-for-setup', '--uts', '--', 'touch', marker], { env });
    expect(d.exitCode, d.stderr).toBe(0);
    const { pid } = JSON.parse(d.stdout) as { pid: number };
    const first = await ns(['release', String(pid), '--abort'], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    // the abort returns once its child has ended
    expect(alive(pid)).toBe(false);
    const gone = `ns-clone: process ${pid} is already gone: nothing to abort`;
    for (const extra of [[], ['--dry-run'], ['--json']]) {
      const again = await ns(['release', String(pid), '--abort', ...extra], { env });
      expect(again.exitCode, `${extra.join(' ')}: ${again.stderr}`).toBe(0);
      expect(again.stderr).toBe(gone);
      if (extra[0] === '--json') expect(JSON.parse(again.stdout)).toEqual({ released: String(pid), aborted: true, gone: true });
    }
    // a plain release of it stays an error: nothing can be released
    expect((await ns(['release', String(pid)], { env })).exitCode).toBe(2);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);

    // killed while held: its record says it is gone; the abort takes back its fifo and record and succeeds
    const k = await ns(['--detach', '--json', '--wait-for-setup', '--uts', '--', 'true'], { env });
    const killed = JSON.parse(k.stdout) as { pid: number; setupFifo: string };
    await killAndWait(pin(killed.pid));
    const abortKilled = await ns(['release', String(killed.pid), '--abort'], { env });
    expect(abortKilled.exitCode, abortKilled.stderr).toBe(0);
    expect(abortKilled.stderr).toBe(`ns-clone: process ${killed.pid} is already gone: nothing to abort (its fifo and record are removed)`);
    expect(existsSync(killed.setupFifo)).toBe(false);
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);

    // alive and no waiting start (this test's own process; a child released and running): refused, 2
    const self = await ns(['release', String(process.pid), '--abort'], { env });
    expect(self.exitCode).toBe(2);
    expect(self.stderr.split('\n')[0]).toBe(`ns-clone: process ${process.pid} is not waiting for setup (no record in ${records})`);
    const h = await ns(['--detach', '--wait-for-setup', '--uts', '--', 'sleep', '30'], { env });
    const running = Number(h.stdout);
    const pinned = pin(running);
    try {
      expect((await ns(['release', String(running)], { env })).exitCode).toBe(0);
      await until(() => readFileSync(`/proc/${running}/cmdline`, 'utf8').startsWith('sleep'), 5000, 'sleep to run');
      const late = await ns(['release', String(running), '--abort'], { env });
      expect(late.exitCode).toBe(2);
      expect(late.stderr.split('\n')[0]).toBe(`ns-clone: process ${running} is not waiting for setup (no record in ${records})`);
      expect(alive(running)).toBe(true);
    } finally {
      await killAndWait(pinned);
    }
  });

  it("release --abort FIFO (the --json setupFifo) run twice: the second says the fifo is already gone and exits 0 (it said 'no such fifo', 2), as by pid; a plain release of it stays an error (2)", async () => {
    const state = join(tmp('abort-fifo-twice'), 'state');
    const env = { BOXKIT_STATE_DIR: state };
    const marker = join(tmp('abort-fifo-twice-cmd'), 'ran');
    const d = await ns(['--detach', '--json', '--wait-for-setup', '--uts', '--', 'touch', marker], { env });
    expect(d.exitCode, d.stderr).toBe(0);
    const { pid, setupFifo } = JSON.parse(d.stdout) as { pid: number; setupFifo: string };
    const first = await ns(['release', setupFifo, '--abort'], { env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    await until(() => !alive(pid), 5000, 'the aborted child to end');
    const gone = `ns-clone: ${setupFifo} is already gone: nothing to abort`;
    for (const extra of [[], ['--dry-run'], ['--json']]) {
      const again = await ns(['release', setupFifo, '--abort', ...extra], { env });
      expect(again.exitCode, `${extra.join(' ')}: ${again.stderr}`).toBe(0);
      expect(again.stderr).toBe(gone);
      if (extra[0] === '--json') expect(JSON.parse(again.stdout)).toEqual({ released: setupFifo, fifo: setupFifo, aborted: true, gone: true });
    }
    const plain = await ns(['release', setupFifo], { env });
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr.split('\n')[0]).toBe(`ns-clone: ${setupFifo}: no such fifo (already released?)`);
    expect(existsSync(marker)).toBe(false);
  });

  it('release --abort makes the held child exit without running CMD', async () => {
    const marker = join(tmp('abort'), 'ran');
    const d = await ns(['--detach', '--json', '--wait-for-setup', '--uts', '--', 'touch', marker]);
    const doc = JSON.parse(d.stdout) as { pid: number; setupFifo: string };
    const r = await ns(['release', '--abort', doc.setupFifo]);
    expect(r.exitCode, r.stderr).toBe(0);
    await until(() => !alive(doc.pid), 20_000, 'the aborted child to exit');
    expect(existsSync(marker)).toBe(false);
  });

  it('--setup-fifo elsewhere (a relative path, a state dir not made yet): the pid is recorded, release finds it from another directory', async () => {
    const state = join(tmp('fresh-state'), 'state');
    const cwd = tmp('fifo-cwd');
    const marker = join(cwd, 'ran');
    const env = { BOXKIT_STATE_DIR: state };
    const d = await ns(['--detach', '--json', '--wait-for-setup', '--setup-fifo', 'my.fifo', '--uts', '--', 'touch', marker], { env, cwd });
    expect(d.exitCode, d.stderr).toBe(0);
    const doc = JSON.parse(d.stdout) as { pid: number; setupFifo: string };
    const pinned = pin(doc.pid);
    try {
      expect(doc.setupFifo).toBe(join(cwd, 'my.fifo'));
      const r = await ns(['release', String(doc.pid)], { env, cwd: '/' });
      expect(r.exitCode, r.stderr).toBe(0);
      await until(() => existsSync(marker), 20_000, 'the released command to run');
      expect(readdirSync(join(state, 'ns-clone'))).toEqual([]);
    } finally {
      await killAndWait(pinned);
    }
  });

  it('--wait-for-setup without --detach: a container stopped before its release leaves no fifo or record behind', async () => {
    const state = join(tmp('stop-state'), 'state');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: state };
    delete env.NODE_EXTRA_CA_CERTS;
    const proc = execa(binPath('ns-clone'), ['--wait-for-setup', '--uts', '--', 'true'], { reject: false, env });
    const dir = join(state, 'ns-clone');
    await until(() => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.fifo-path')), 10_000, 'the setup fifo');
    proc.kill('SIGTERM');
    const r = await proc;
    expect(r.exitCode).toBe(143);
    // the state dir this run made goes with them: its command never ran (a failed start's undo)
    expect(existsSync(state)).toBe(false);
  });

  it('--wait-for-setup --pid: a stop signal before the release ends the held child at once (as PID 1 it ignores SIGTERM), not after --stop-timeout', async () => {
    const state = join(tmp('stop-pid-state'), 'state');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: state };
    delete env.NODE_EXTRA_CA_CERTS;
    const proc = execa(binPath('ns-clone'), ['--wait-for-setup', '--pid', '--stop-timeout', '30', '--', 'true'], { reject: false, env });
    const dir = join(state, 'ns-clone');
    await until(() => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.fifo-path')), 10_000, 'the setup fifo');
    const t0 = Date.now();
    proc.kill('SIGTERM');
    const r = await proc;
    expect(r.exitCode).toBe(137);
    expect(Date.now() - t0).toBeLessThan(20_000); // not the 30 s stop timeout
    expect(String(r.stderr)).not.toMatch(/sending SIGKILL/);
    // the state dir this run made goes with them: its command never ran (a failed start's undo)
    expect(existsSync(state)).toBe(false);
  });
});
