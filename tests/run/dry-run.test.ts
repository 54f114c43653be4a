import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { assertSandboxNetwork, skipReason, testName } from '../harness/index.js';
import { BASE, run, toolsBinDir } from './helpers.js';

describe.skipIf(skipReason)(`run --dry-run: the pipeline of boxkit commands${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('prints commands that, pasted into a shell, build the same container', async () => {
    assertSandboxNetwork();
    const bin = toolsBinDir();
    const name = testName('dry');
    const report = 'sleep 0.2; { hostname; echo $$; ip -4 -o addr show eth0; ip route; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; } > /tmp/report';
    const lines = (await run(['--dry-run', '--name', name, ...BASE, '--net', 'bridge', '--ip', 'auto', '--pids', '20', '--', 'sh', '-c', report])).out;
    // nothing was made by the dry run itself
    expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
    const upper = /--upper (\S+)/.exec(lines)![1]!;
    const mnt = /unionfs mount .* (\S+)$/m.exec(lines)![1]!;
    const script = `${lines}
while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
cat ${upper}/tmp/report
netsetup down --pid "$PID" >/dev/null; cg rm ${name} --parent self >/dev/null; unionfs umount ${mnt} >/dev/null
netsetup nat rm 10.88.0.0/16 >/dev/null; netsetup bridge rm boxkit0 >/dev/null`;
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.NODE_EXTRA_CA_CERTS;
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { env, encoding: 'utf8' });
    const rep = out.slice(out.indexOf(`${name}\n1\n`));
    expect(rep).toMatch(new RegExp(`^${name}\\n1\\n`));
    expect(rep).toMatch(/eth0\s+inet 10\.88\.0\.\d+\/16/);
    expect(rep).toContain('default via 10.88.0.1 dev eth0');
  });
});
