import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bk } from '../harness/bins.js';

// every case is refused before anything is made: dry runs, or commands that never get as far
const dir = mkdtempSync(join(tmpdir(), 'bk-flags-'));
const env = { BOXKIT_STATE_DIR: join(dir, 'state'), BOXKIT_DATA_DIR: join(dir, 'data') };
beforeAll(() => writeFileSync(join(dir, 'empty.json'), '[]'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// a usage error: 2, or 125 from a tool that runs a command (as docker and env do)
const NO_COMMAND = new Set(['stop', 'logs', 'rm', 'ps', 'ls', 'inspect', 'gc', 'rootfs', 'release']);
const usageCode = (tool: string, args: string[]) =>
  ((tool === 'ns-clone' || tool === 'run') && !NO_COMMAND.has(args[0]!)) || args[0] === 'exec' ? 125 : 2;

async function refused(tool: string, args: string[], line: string): Promise<void> {
  const r = await bk(tool, args, { env });
  const lines = String(r.stderr).split('\n').filter(Boolean);
  expect(lines[0], `${tool} ${args.join(' ')}`).toBe(`${tool}: ${line}`);
  expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
  expect(r.exitCode, String(r.stderr)).toBe(usageCode(tool, args));
  expect(r.stdout).toBe('');
}

describe('a flag that takes a value, given none, is a usage error naming the flag (was: its default, quietly)', () => {
  const f = () => join(dir, 'empty.json');
  const CASES: [string, () => string[], string][] = [
    ['svcproxy', () => ['apply', f(), '--prefix', '--dry-run'], '--prefix'],
    ['svcproxy', () => ['apply', f(), '--dry-run', '--prefix'], '--prefix'],
    ['svcproxy', () => ['apply', f(), '--dry-run', '--backend'], '--backend'],
    ['svcproxy', () => ['add', 'web', '--vip', '10.96.0.1:80', '--endpoint', '--dry-run'], '--endpoint'],
    ['netsetup', () => ['veth', '--netns', 'x', '--bridge', 'br0', '--dry-run', '--ip'], '--ip'],
    ['netsetup', () => ['veth', '--netns', '--bridge', 'br0', '--dry-run'], '--netns'],
    ['netsetup', () => ['nat', '10.99.0.0/24', '--dry-run', '--out-if'], '--out-if'],
    ['cg', () => ['create', 'x', '--parent', 'self', '--cpus', '--dry-run'], '--cpus'],
    ['cg', () => ['exec', 'x', '--parent', 'self', '--memory', '--', 'true'], '--memory'],
    ['unionfs', () => ['mount', '-l', '/usr', '--dry-run', join(dir, 'm'), '--driver'], '--driver'],
    ['unionfs', () => ['mount', '--dry-run', join(dir, 'm'), '-l'], '-l'],
    // the fast parsers agree with yargs: the flag after it is not its value
    ['ns-clone', () => ['--hostname', '--pid', '--dry-run', '--', 'true'], '--hostname'],
    ['ns-clone', () => ['--dry-run', '--hostname'], '--hostname'],
    ['run', () => ['--dry-run', '--cgroup-parent', 'self', '--name', '--rm', '--', 'true'], '--name'],
    ['run', () => ['--dry-run', '--cgroup-parent', 'self', '-e', '--', 'true'], '-e'],
    ['run', () => ['--dry-run', '--cgroup-parent', '--', 'true'], '--cgroup-parent'],
  ];
  for (const [tool, args, flag] of CASES) {
    it(`${tool} ${args().join(' ').replaceAll(dir, '$DIR')}`, () => refused(tool, args(), `${flag} needs a value`));
  }
});

describe('a number flag that is not a number names what was typed (was: NaN)', () => {
  const CASES: [string, string[], string][] = [
    ['ns-clone', ['--stop-timeout', 'abc', '--', 'true'], "invalid --stop-timeout 'abc'"],
    ['ns-clone', ['--uid', 'abc', '--dry-run', '--', 'true'], "invalid --uid 'abc'"],
    ['ns-clone', ['--map-user=x1', '--dry-run', '--', 'true'], "invalid --map-user 'x1'"],
    ['ns-clone', ['enter', '1', '--stop-timeout', 'x', '--', 'true'], "invalid --stop-timeout 'x'"],
    ['run', ['--dry-run', '--cpus', 'half', '--', 'true'], "invalid --cpus 'half'"],
    ['run', ['stop', '--time', 'soon', 'x'], "invalid --time 'soon'"],
    ['netsetup', ['veth', '--netns', 'x', '--bridge', 'br0', '--mtu', 'abc', '--dry-run'], "invalid --mtu 'abc'"],
    ['netsetup', ['veth', '--pid', 'abc', '--bridge', 'br0', '--dry-run'], "invalid --pid 'abc'"],
    ['netsetup', ['down', '--pid', '1', '--pid', 'x', '--dry-run'], "invalid --pid 'x'"],
    ['svcproxy', ['add', 'web', '--vip', '10.96.0.1:80', '--nodeport', 'abc', '--dry-run'], "invalid --nodeport 'abc'"],
    ['cg', ['stats', 'x', '--parent', 'self', '--interval', 'abc'], "invalid --interval 'abc'"],
  ];
  for (const [tool, args, line] of CASES) {
    it(`${tool} ${args.join(' ')}`, () => refused(tool, args, `${line}: not a number`));
  }
});

describe('a wait in seconds is not negative and fits a timer (was: run stop --time -1 taken, 1e10 fired at once)', () => {
  const CASES: [string, string[], string][] = [
    ['run', ['stop', '--time', '-1', 'x'], "invalid --time '-1'"],
    ['run', ['--dry-run', '--cgroup-parent', 'self', '--stop-timeout', '-5', '--', 'true'], "invalid --stop-timeout '-5'"],
    ['run', ['--dry-run', '--cgroup-parent', 'self', '--stop-timeout', '1e10', '--', 'true'], "invalid --stop-timeout '10000000000'"],
    ['ns-clone', ['--dry-run', '--stop-timeout', '3000000', '--', 'true'], "invalid --stop-timeout '3000000'"],
  ];
  for (const [tool, args, line] of CASES) {
    it(`${tool} ${args.join(' ')}`, () => refused(tool, args, line));
  }
});

describe('run reads --pids as cg does (was: 0 refused as out of 1 to 4194304, with no reason)', () => {
  it('run --pids 0', () => refused('run', ['--dry-run', '--cgroup-parent', 'self', '--pids', '0', '--', 'true'],
    "invalid --pids '0': the kernel takes 0 literally (no process may fork), not as no limit"));
  it('run --pids -1 is no limit, as in cg and docker', async () => {
    const r = await bk('run', ['--dry-run', '--cgroup-parent', 'self', '--pids', '-1', '--', 'true'], { env });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).not.toMatch(/--pids/);
  });
});

describe('an unknown option is named before positionals are counted (was: "Not enough non-option arguments")', () => {
  const CASES: [string, string[], string][] = [
    ['unionfs', ['mount', '--bogus', './m'], '--bogus'],
    ['unionfs', ['umount', '--bogus', './m'], '--bogus'],
    ['cg', ['create', '--bogus', 'x'], '--bogus'],
    ['netsetup', ['bridge', '--bogus', 'br0'], '--bogus'],
    ['svcproxy', ['apply', '--bogus', 'f.json'], '--bogus'],
    ['svcproxy', ['rm', '--no-such', 'web'], '--no-such'],
    ['ns-clone', ['enter', '--bogus', '1'], '--bogus'],
    ['run', ['logs', '--bogus', 'x'], '--bogus'],
    ['run', ['--dry-run', '--bogus', 'sh'], '--bogus'],
  ];
  for (const [tool, args, flag] of CASES) {
    it(`${tool} ${args.join(' ')}`, () => refused(tool, args, `unknown option: ${flag}`));
  }
});

describe('flags that take a value still work in every form', () => {
  it('--flag VALUE, --flag=VALUE, a negative number and - as values', async () => {
    const a = await bk('ns-clone', ['--dry-run', '--uts', '--hostname', 'h1', '--stop-timeout=3', '--', 'true'], { env });
    expect(a.exitCode, String(a.stderr)).toBe(0);
    const b = await bk('run', ['--dry-run', '--cgroup-parent', 'self', '-e', 'A=1', '-p8080:80', '--net', 'bridge', '--', 'true'], { env });
    expect(b.exitCode, String(b.stderr)).toBe(0);
    const c = await bk('svcproxy', ['apply', '--prefix=BKT', '--dry-run', '-'], { env, input: '[]' });
    expect(c.exitCode, String(c.stderr)).toBe(0);
  });
});
