import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bk } from '../harness/bins.js';
import { assertSandboxNetwork, skipReason, testName } from '../harness/env.js';

// --dry-run changes nothing; with --json its output is one JSON document
// ({dryRun: true, ...the command's fields, commands: [the shell lines]}),
// not the shell lines followed (or not) by JSON
const dir = mkdtempSync(join(tmpdir(), 'bk-dryjson-'));
const env = { BOXKIT_STATE_DIR: join(dir, 'state'), BOXKIT_DATA_DIR: join(dir, 'data') };
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'm'));
writeFileSync(join(dir, 'services.json'), JSON.stringify([{ name: 'web', vip: '10.96.0.10:80', endpoints: ['10.88.0.2:8080'] }]));

const group = testName('dryjson');
const CASES: [string, string[], Record<string, unknown>][] = [
  ['run', ['--dry-run', '--cgroup-parent', 'self', '--name', 'dj', '--', 'true'], {}],
  ['ns-clone', ['--dry-run', '--uts', '--pid', '--', 'true'], {}],
  ['ns-clone', ['enter', String(process.pid), '--dry-run', '--uts', '--', 'true'], { pid: process.pid }],
  ['cg', ['create', group, '--parent', 'self', '--memory', '32M', '--dry-run'], { name: group, parent: 'self' }],
  ['cg', ['exec', group, '--parent', 'self', '--pids', '20', '--dry-run', '--', 'true'], { name: group }],
  ['unionfs', ['mount', '-l', '/usr', '-u', join(dir, 'u'), '--dry-run', join(dir, 'm')], { mountpoint: join(dir, 'm'), driver: 'overlay' }],
  ['netsetup', ['bridge', 'bkdj0', '10.99.7.1/24', '--dry-run'], { name: 'bkdj0', cidr: '10.99.7.1/24' }],
  ['netsetup', ['nat', '10.99.7.0/24', '--dry-run'], { cidr: '10.99.7.0/24' }],
  ['svcproxy', ['apply', join(dir, 'services.json'), '--prefix', 'BKDJ', '--dry-run', '--explain'], { prefix: 'BKDJ' }],
];

describe.skipIf(skipReason)('--dry-run --json: one JSON document with the plan as commands, in every bin', () => {
  for (const [tool, args, fields] of CASES) {
    it(`${tool} ${args.join(' ').replaceAll(dir, '$DIR')}`, async () => {
      // netsetup reads the network it would change: only inside the sandbox's own namespace
      if (tool === 'netsetup') assertSandboxNetwork();
      const lines = await bk(tool, args, { env });
      expect(lines.exitCode, String(lines.stderr)).toBe(0);
      const dd = args.includes('--') ? args.indexOf('--') : args.length;
      const doc = await bk(tool, [...args.slice(0, dd), '--json', ...args.slice(dd)], { env });
      expect(doc.exitCode, String(doc.stderr)).toBe(0);
      const parsed = JSON.parse(String(doc.stdout)) as Record<string, unknown>;
      expect(parsed).toMatchObject({ dryRun: true, ...fields });
      const commands = parsed.commands as string[];
      expect(commands.length).toBeGreaterThan(0);
      // the same lines --dry-run prints alone (names made fresh per run aside: run's container id)
      const norm = (l: string) => l.replace(/[0-9a-f]{12}/g, 'ID').replace(/bk-[0-9a-f]{8}/g, 'bk-ID');
      expect(commands.map(norm)).toEqual(String(lines.stdout).split('\n').filter(Boolean).map(norm));
    });
  }

  it('run --dry-run --json prints the pipeline (was: the shell lines)', async () => {
    const r = await bk('run', ['--dry-run', '--json', '--cgroup-parent', 'self', '--name', 'dj', '--', 'true'], { env });
    const doc = JSON.parse(String(r.stdout)) as { commands: string[] };
    expect(doc.commands.some((l) => l.startsWith('unionfs mount '))).toBe(true);
    // (the container's cgroup is named after its id)
    expect(doc.commands.some((l) => /^cg create [0-9a-f]{12} --parent self/.test(l))).toBe(true);
    // --net none: lo raised as run raises it
    expect(doc.commands).toContain('nsenter --target "$PID" --net ip link set lo up');
    expect(doc.commands.at(-1)).toBe('ns-clone release "$PID"');
  });
});
