import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertSandboxNetwork, skipReason, testName } from '../harness/index.js';
import { BASE, run, toolsBinDir } from './helpers.js';

describe.skipIf(skipReason)(`run --dry-run: the pipeline of boxkit commands${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('says what its pipeline leaves out (--volume, -i, -t), on stderr, and still prints it', async () => {
    const r = await run(['--dry-run', ...BASE, '-it', '--volume', '/tmp:/mnt', '--', 'sh']);
    expect(r.err.trim().split('\n')).toEqual([
      "run: warning: the pipeline leaves out --volume (/tmp:/mnt): ns-clone makes no bind mounts",
      'run: warning: the pipeline leaves out -i -t: its container runs detached (ns-clone --detach), with no terminal and no stdin',
    ]);
    expect(r.out).toMatch(/^ns-clone release "\$PID"$/m);
  });

  it('prints commands that, pasted into a shell, build the same container', async () => {
    assertSandboxNetwork();
    const bin = toolsBinDir();
    const name = testName('dry');
    const report = 'sleep 0.2; { hostname; echo $$; ip -4 -o addr show eth0; ip route; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; pwd; echo "X=$X HOME=$HOME host=${BOXKIT_STATE_DIR:-none}"; grep NoNewPrivs /proc/self/status; } > /tmp/report';
    const lines = (await run(['--dry-run', '--name', name, ...BASE, '--net', 'bridge', '--ip', 'auto', '--pids', '20', '-w', '/tmp', '-e', 'X=1', '--', 'sh', '-c', report])).out;
    // nothing was made by the dry run itself
    expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
    const upper = /--upper (\S+)/.exec(lines)![1]!;
    const mnt = /unionfs mount .* (\S+)$/m.exec(lines)![1]!;
    const script = `${lines}
while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
cat ${upper}/tmp/report
netsetup down --pid "$PID" >/dev/null; cg rm ${/^cg create (\S+)/m.exec(lines)![1]} --parent self >/dev/null; unionfs umount ${mnt} >/dev/null
netsetup nat rm 10.88.0.0/16 >/dev/null; netsetup bridge rm boxkit0 >/dev/null`;
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.NODE_EXTRA_CA_CERTS;
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { env, encoding: 'utf8' });
    const rep = out.slice(out.indexOf(`${name}\n1\n`));
    expect(rep).toMatch(new RegExp(`^${name}\\n1\\n`));
    expect(rep).toMatch(/eth0\s+inet 10\.88\.0\.\d+\/16/);
    expect(rep).toContain('default via 10.88.0.1 dev eth0');
    // run's environment (not the caller's), -w and no_new_privs, as the real run
    expect(rep).toMatch(/\n\/tmp\nX=1 HOME=\/root host=none\nNoNewPrivs:\s+1\n/);
  });

  it('a rootfs without /proc, /dev, /sys (one static binary): the pipeline makes them in the union as run does, and pasted it runs (ns-clone failed to mount /proc)', async () => {
    const bin = toolsBinDir();
    const dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'dry-scratch-'));
    execFileSync('cp', ['/bin/busybox', join(dir, 'busybox')]);
    const lines = (await run(['--dry-run', ...BASE, '--rootfs', dir, '--', '/busybox', 'sh', '-c', '/busybox ls / > /ls'])).out;
    const upper = /--upper (\S+)/.exec(lines)![1]!;
    const mnt = /unionfs mount .* (\S+)$/m.exec(lines)![1]!;
    expect(lines).toContain(`\nmkdir ${mnt}/proc ${mnt}/dev ${mnt}/sys\n`);
    const script = `${lines}
while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
cat ${upper}/ls
cg rm ${/^cg create (\S+)/m.exec(lines)![1]} --parent self >/dev/null; unionfs umount ${mnt} >/dev/null`;
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.NODE_EXTRA_CA_CERTS;
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { env, encoding: 'utf8' });
    expect(out.trim().split('\n').slice(-5)).toEqual(['busybox', 'dev', 'ls', 'proc', 'sys']);
    expect(readdirSync(dir)).toEqual(['busybox']);
    // a rootfs that has them (the default one) gets no such line
    expect((await run(['--dry-run', ...BASE, '--', 'true'])).out).not.toMatch(/^mkdir /m);
  });

  it('uses a bridge that exists as the real run does: boxkit0 with another subnet gets no second address, and what the run refuses it refuses', async () => {
    assertSandboxNetwork();
    const bin = toolsBinDir();
    const name = testName('dry-br');
    const ip = (args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
    const addrs = () => ip(['-4', '-o', 'addr', 'show', 'dev', 'boxkit0']).split('\n').filter(Boolean).map((l) => l.split(/\s+/)[3]);
    // boxkit0 made by hand on a /24, not run's default 10.88.0.1/16
    ip(['link', 'add', 'boxkit0', 'type', 'bridge']);
    try {
      ip(['addr', 'add', '10.88.0.1/24', 'dev', 'boxkit0']);
      ip(['link', 'set', 'boxkit0', 'up']);
      const report = 'sleep 0.2; ip -4 -o addr show eth0 > /tmp/report';
      const lines = (await run(['--dry-run', '--name', name, ...BASE, '--net', 'bridge', '--', 'sh', '-c', report])).out;
      // the real run leaves an existing bridge (and its NAT) as the user made them
      expect(lines).not.toMatch(/^netsetup (bridge|nat) /m);
      expect(lines).toMatch(/^IP=\$\(netsetup veth --pid "\$PID" --bridge boxkit0 /m);
      const upper = /--upper (\S+)/.exec(lines)![1]!;
      const mnt = /unionfs mount .* (\S+)$/m.exec(lines)![1]!;
      const script = `${lines}
while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
cat ${upper}/tmp/report
netsetup down --pid "$PID" >/dev/null; cg rm ${/^cg create (\S+)/m.exec(lines)![1]} --parent self >/dev/null; unionfs umount ${mnt} >/dev/null`;
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
      delete env.NODE_EXTRA_CA_CERTS;
      const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { env, encoding: 'utf8' });
      expect(out).toMatch(/eth0\s+inet 10\.88\.0\.\d+\/24/);
      expect(addrs()).toEqual(['10.88.0.1/24']);

      // refused by the real run, refused by the dry run, with the same words: a bridge without an
      // IPv4 address, and a named bridge that is missing when no --ip says which subnet to give it
      ip(['addr', 'flush', 'dev', 'boxkit0']);
      for (const net of [['--net', 'bridge'], ['--net', 'bridge:nosuchbr0']]) {
        const real = await run([...BASE, ...net, '--', 'true'], null);
        expect(real.code, real.err).not.toBe(0);
        const dry = await run(['--dry-run', ...BASE, ...net, '--', 'true'], null);
        expect({ code: dry.code, err: dry.err, out: dry.out }).toEqual({ code: real.code, err: real.err, out: '' });
      }
      expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
    } finally {
      ip(['link', 'del', 'boxkit0']);
    }
  });
});
