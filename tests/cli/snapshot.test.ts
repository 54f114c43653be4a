/**
 * Every tool's startup snapshots (dist/cli.blob, dist/wiring.blob) carry no
 * code cache for the Node builtins they hold loaded (scripts/slim-blob.mjs):
 * those are never compiled again, and every start read, copied and freed
 * their entries (~1.6 MB). A builtin a start does compile must still find its
 * cache (without it, that start compiles from source: ~1-3 ms), and run's
 * hot path compiles none at all (its cli.blob keeps only a few entries:
 * packages/run/tsup.config.ts).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, bk, skipReason, straceBin } from '../harness/index.js';
import { parseBlob } from '../harness/blob.js';
import { HANDOFF_BUILTINS } from '../../tsup.base.js';
import { CLI_RUNTIME_BUILTINS as RUN_BUILTINS } from '../../packages/run/scripts/runtime-builtins.js';
import { CLI_RUNTIME_BUILTINS as NETSETUP_BUILTINS } from '../../packages/netsetup/scripts/runtime-builtins.js';
import { CLI_RUNTIME_BUILTINS as SVCPROXY_BUILTINS } from '../../packages/svcproxy/scripts/runtime-builtins.js';
import { CLI_RUNTIME_BUILTINS as NS_CLONE_BUILTINS } from '../../packages/ns-clone/scripts/runtime-builtins.js';
import { CLI_RUNTIME_BUILTINS as CG_BUILTINS } from '../../packages/cg/scripts/runtime-builtins.js';
import { CLI_RUNTIME_BUILTINS as UNIONFS_BUILTINS } from '../../packages/unionfs/scripts/runtime-builtins.js';

const TOOLS = ['ns-clone', 'cg', 'unionfs', 'netsetup', 'svcproxy', 'run'];
const dist = (tool: string) => join(import.meta.dirname, '..', '..', 'packages', tool, 'dist');
const debug = { env: { NODE_DEBUG_NATIVE: 'CODE_CACHE' } };
const hasStrace = straceBin() !== undefined;
const compiled = (stderr: unknown) => [...String(stderr).matchAll(/Compiling (\S+) with(out)? code cache/g)].map((m) => `${m[1]}${m[2] ? ' (no cache)' : ''}`);

describe('startup snapshots', () => {
  const blobs = TOOLS.flatMap((t) => ['cli.blob', 'wiring.blob'].filter((f) => existsSync(join(dist(t), f))).map((f) => [t, f]));
  it('every tool has its blobs (built)', () => expect(blobs.length).toBeGreaterThanOrEqual(TOOLS.length));
  it.each(blobs)('%s %s holds no code cache of a builtin it has loaded', (tool, file) => {
    const b = parseBlob(readFileSync(join(dist(tool), file)));
    expect(b.loaded).toContain('fs');
    const loaded = new Set(b.loaded);
    expect(b.entries.filter((e) => loaded.has(e.id)).map((e) => e.id)).toEqual([]);
  });

  it.each([
    ['run', RUN_BUILTINS],
    ['netsetup', NETSETUP_BUILTINS],
    ['svcproxy', SVCPROXY_BUILTINS],
    ['ns-clone', NS_CLONE_BUILTINS],
    ['cg', CG_BUILTINS],
    ['unionfs', UNIONFS_BUILTINS],
  ] as const)('%s cli.blob keeps the code cache of exactly its runtime builtins and the hand-off to its wiring (if it has one), none of them loaded', (tool, list) => {
    const b = parseBlob(readFileSync(join(dist(tool), 'cli.blob')));
    const keep = [...list, ...(existsSync(join(dist(tool), 'wiring.blob')) ? HANDOFF_BUILTINS : [])];
    expect(keep.filter((id) => b.loaded.includes(id))).toEqual([]);
    expect(b.entries.map((e) => e.id).sort()).toEqual([...keep].sort());
  });

  it.each(TOOLS)('%s --version and a usage error compile no builtin without its cache', async (tool) => {
    // (a bad flag after a fast-path command word is handed from cli.blob to the yargs wiring in-process)
    const fast: Record<string, string[][]> = { run: [['--no-such-flag', '--', 'true']], netsetup: [['veth', '--no-such-flag'], ['down', '--help']] };
    for (const args of [['--version'], ['--no-such-flag'], ...(fast[tool] ?? [])]) {
      const r = await bk(tool, args, debug);
      expect(compiled(r.stderr).filter((c) => c.endsWith('(no cache)')), `${tool} ${args.join(' ')}`).toEqual([]);
    }
  });
});

describe.skipIf(skipReason)(`startup snapshots at work${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('run --rm compiles no builtin at all, and a start that fails compiles its cleanup from the cache', async () => {
    // (the first run builds the default rootfs: that is not the path measured)
    expect((await bk('run', ['--rm', '--cgroup-parent', 'self', '--', '/bin/true'])).exitCode).toBe(0);
    const ok = await bk('run', ['--rm', '--cgroup-parent', 'self', '--', '/bin/true'], debug);
    expect(ok.exitCode, String(ok.stderr)).toBe(0);
    expect(compiled(ok.stderr)).toEqual([]);
    const failed = await bk('run', ['--rm', '--cgroup-parent', 'self', '--', '/no/such/command'], debug);
    expect(failed.exitCode, String(failed.stderr)).toBe(127);
    expect(compiled(failed.stderr)).toEqual(['internal/fs/rimraf']);
  });

  it.skipIf(!hasStrace)(`run --rm reads no time zone file (its records are UTC stamps: toISOString looked the zone up, ~0.16 ms a start)${hasStrace ? '' : ' (skipped: no strace)'}`, async () => {
    const trace = join(tmpdir(), `bk-tz-${process.pid}.strace`);
    try {
      const r = await execa('strace', ['-f', '-qq', '-s', '4096', '-o', trace, '-e', 'trace=openat,readlink,newfstatat,statx,execve', binPath('run'), '--rm', '--cgroup-parent', 'self', '--', '/bin/true'], { reject: false, extendEnv: true });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const lines = readFileSync(trace, 'utf8').split('\n');
      // The zone would be read by the Node process itself: the trace must hold its start from the
      // snapshot (a marker in the container's stage, bk-stage's readlink of /proc/self/exe, was
      // missing from one CI run's trace while the run succeeded).
      const started = lines.some((l) => /execve\("[^"]*\/node", \[.*"--snapshot-blob", "[^"]*cli\.blob".*\) = 0$/.test(l));
      expect(started, `no exec of node with cli.blob in ${lines.length} lines:\n${lines.filter((l) => l.includes('execve')).join('\n')}`).toBe(true);
      expect(lines.filter((l) => /localtime|zoneinfo/.test(l))).toEqual([]);
    } finally {
      rmSync(trace, { force: true });
    }
  });

  it('svcproxy add, ls and rm (iptables-save and -restore spawned) compile no builtin without its cache', async () => {
    const p = ['--prefix', 'BKSNAP'];
    try {
      for (const args of [['add', 'web', '--vip', '10.96.77.1:80', '--endpoint', '10.77.0.2:8080', ...p], ['ls', ...p], ['rm', 'web', ...p]]) {
        const r = await bk('svcproxy', args, debug);
        expect(r.exitCode, `svcproxy ${args.join(' ')}: ${String(r.stderr)}`).toBe(0);
        expect(compiled(r.stderr).filter((c) => c.endsWith('(no cache)')), `svcproxy ${args.join(' ')}`).toEqual([]);
      }
    } finally {
      await bk('svcproxy', ['flush', ...p]);
    }
  });

  it('an ns-clone start and a cg exec (their cli.blob fast paths) compile no builtin without its cache', async () => {
    const group = `bk-snap-${process.pid}`;
    try {
      for (const [tool, args] of [
        ['ns-clone', ['--uts', '--ipc', '--pid', '--mount', '--net', '--', 'true']],
        ['cg', ['exec', group, '--parent', 'self', '--cpus', '0.5', '--pids', '20', '--', 'true']],
      ] as const) {
        const r = await bk(tool, [...args], debug);
        expect(r.exitCode, `${tool} ${args.join(' ')}: ${String(r.stderr)}`).toBe(0);
        expect(compiled(r.stderr).filter((c) => c.endsWith('(no cache)')), `${tool} ${args.join(' ')}`).toEqual([]);
      }
    } finally {
      await bk('cg', ['rm', group, '--parent', 'self']);
    }
  });
});
