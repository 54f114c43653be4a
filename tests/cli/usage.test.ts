import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath, bk } from '../harness/bins.js';
import { testName } from '../harness/env.js';

const TOOLS = ['ns-clone', 'cg', 'unionfs', 'netsetup', 'svcproxy', 'run'];

// what a script relies on: a typo in a command word is an error, not a silent success
describe('every bin: usage errors', () => {
  for (const tool of TOOLS) {
    it(`${tool}: an unknown command or option is a usage error (2; 125 for the tools that run a command), one line and a hint`, async () => {
      const word = tool === 'ns-clone' || tool === 'run' ? ['--bogus-flag'] : ['no-such-command'];
      const r = await bk(tool, word);
      expect(r.exitCode, String(r.stderr)).toBe(tool === 'ns-clone' || tool === 'run' ? 125 : 2);
      const lines = String(r.stderr).split('\n').filter(Boolean);
      expect(lines[0]).toMatch(new RegExp(`^${tool}: (Unknown command|unknown option)`, 'i'));
      expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
      expect(r.stdout).toBe('');
    });
  }
});

// `tool ... | head -1`: the reader goes away; the tool ends quietly, as ls does (Node ignores
// SIGPIPE, so a write gets EPIPE). `| true` has exited long before a Node start writes anything.
describe('every bin: a reader that goes away', () => {
  // dry runs: they print and change nothing
  const ARGS: Record<string, string[]> = {
    'ns-clone': ['--dry-run', '--uts', '--', 'true'],
    run: ['--dry-run', '--', 'true'],
    cg: ['create', 'bk-epipe-test', '--dry-run'],
    netsetup: ['bridge', 'bkepipe0', '10.99.0.1/24', '--dry-run'],
  };
  const args = (tool: string): string[] => ARGS[tool] ?? ['--help'];
  for (const tool of TOOLS) {
    it(`${tool}: output into a pipe whose reader has exited: status 0, nothing on stderr`, async () => {
      const r = await execa('bash', ['-c', '"$0" "$@" | true; echo "status=${PIPESTATUS[0]}"', binPath(tool), ...args(tool)], {
        reject: false, env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined },
      });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('status=0');
    });
  }
});

// what a user reads after a typo or a wrong choice: one line `<tool>: <what>: <why>`, at most a hint
describe('every bin: usage errors stay one line', () => {
  const TYPO: Record<string, [string, string]> = { cg: ['creat', 'create'], unionfs: ['mout', 'mount'], netsetup: ['brige', 'bridge'] };
  for (const [tool, [typo, meant]] of Object.entries(TYPO)) {
    it(`${tool} ${typo}: names the unknown command, the near one goes in the hint (exit 2)`, async () => {
      const r = await bk(tool, [typo, 'x']);
      expect(r.exitCode, String(r.stderr)).toBe(2);
      const lines = String(r.stderr).split('\n').filter(Boolean);
      expect(lines[0]).toBe(`${tool}: Unknown command: ${typo}`);
      expect(lines.slice(1)).toEqual([`hint: did you mean '${tool} ${meant}'? see '${tool} --help'`]);
      expect(r.stdout).toBe('');
    });
  }

  it.each([['netsetup', ['ls', 'extra']], ['svcproxy', ['ls', 'a', 'b']], ['run', ['ps', 'extra']]] as const)('%s %s: a word after a command that takes none is an unexpected argument, not an unknown command (exit 2)', async (tool, args) => {
    const r = await bk(tool, [...args], { env: { ...process.env, BOXKIT_STATE_DIR: '/nonexistent/boxkit-usage' } });
    expect(r.exitCode, String(r.stderr)).toBe(2);
    expect(String(r.stderr).split('\n').filter(Boolean)).toEqual([`${tool}: unexpected argument${args.length > 2 ? 's' : ''}: ${args.slice(1).join(' ')}`, `hint: see '${tool} ${args[0]} --help'`]);
    expect(r.stdout).toBe('');
  });

  it.each([['run', ['--cpus', '', '--cgroup-parent', 'self', '--', 'true'], '--cpus', 125], ['netsetup', ['veth', '--netns', 'x', '--bridge', 'b', '--mtu', ''], '--mtu', 2]] as const)('%s: an empty number (%s) is not a number, not 0', async (tool, args, flag, code) => {
    const r = await bk(tool, [...args], { env: { ...process.env, BOXKIT_STATE_DIR: '/nonexistent/boxkit-usage' } });
    expect([r.exitCode, String(r.stderr).split('\n').filter(Boolean)]).toEqual([code, [`${tool}: invalid ${flag} '': not a number`, `hint: see '${tool} --help'`]]);
  });

  it('of a number given twice only the last counts, empty or not (yargs path, as the fast path)', async () => {
    const env = { env: { ...process.env, BOXKIT_STATE_DIR: '/nonexistent/boxkit-usage' } };
    const ok = await bk('netsetup', ['veth', '--netns', 'bk-nosuch', '--bridge', 'b', '--mtu', '', '--mtu', '1400', '--hairpin=false'], env);
    expect(String(ok.stderr).split('\n')[0]).toBe("netsetup: unknown network namespace 'bk-nosuch'");
    const bad = await bk('netsetup', ['veth', '--netns', 'bk-nosuch', '--bridge', 'b', '--mtu', '1400', '--mtu', '', '--hairpin=false'], env);
    expect([bad.exitCode, String(bad.stderr).split('\n')[0]]).toEqual([2, "netsetup: invalid --mtu '': not a number"]);
  });

  it('a value outside the choices (netsetup netns frob) is one line naming the argument, the value and the choices', async () => {
    const r = await bk('netsetup', ['netns', 'frob', 'x']);
    expect(r.exitCode, String(r.stderr)).toBe(2);
    const lines = String(r.stderr).split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^netsetup: invalid value for action: "frob" \(choose "add", "rm"/);
    expect(lines[1]).toMatch(/^hint: /);
    expect(r.stdout).toBe('');
  });

  it('an option the command does not take is named as typed (was: "Unknown argument: nodeportRange"), and a bare --parent is not the default parent', async () => {
    const r = await bk('svcproxy', ['flush', '--nodeport-range', '1-2', '--dry-run']);
    expect(r.exitCode, String(r.stderr)).toBe(2);
    expect(String(r.stderr).split('\n').filter(Boolean)).toEqual(['svcproxy: unknown option: --nodeport-range', "hint: see 'svcproxy --help'"]);
    const two = await bk('cg', ['ls', '--frob-it=1', '--no-such']);
    expect(String(two.stderr).split('\n')[0]).toBe('cg: unknown options: --frob-it, --no-such');
    const bare = await bk('cg', ['create', 'x', '--dry-run', '--parent']);
    expect(bare.exitCode).toBe(2);
    expect(bare.stdout).toBe('');
  });
});

// a state file someone edited by hand, or one cut short by a full disk: the error says which file
describe('a state file that is not JSON', () => {
  it('netsetup ls names the file (exit 1, one line and a hint); run ps warns naming it and lists the rest (one record is one container)', async () => {
    const state = mkdtempSync(join(tmpdir(), 'bk-badstate-'));
    try {
      mkdirSync(join(state, 'run', 'containers'), { recursive: true });
      const record = join(state, 'run', 'containers', 'x.json');
      writeFileSync(record, '{"name":"x');
      mkdirSync(join(state, 'netsetup'), { recursive: true });
      const file = join(state, 'netsetup', 'state.json');
      writeFileSync(file, '{"version":1,"brid');
      const r = await bk('netsetup', ['ls'], { env: { BOXKIT_STATE_DIR: state } });
      expect(r.exitCode, String(r.stderr)).toBe(1);
      const lines = String(r.stderr).split('\n').filter(Boolean);
      expect(lines[0]).toMatch(new RegExp(`^netsetup: ${file.replace(/[.]/g, '\\.')}: not valid JSON \\(`));
      expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
      expect(lines.length).toBeLessThanOrEqual(2);
      expect(r.stdout).toBe('');
      const ps = await bk('run', ['ps', '-a'], { env: { BOXKIT_STATE_DIR: state } });
      expect(ps.exitCode, String(ps.stderr)).toBe(0);
      expect(String(ps.stderr).split('\n').filter(Boolean)).toEqual([expect.stringMatching(new RegExp(`^run: warning: ${record.replace(/[.]/g, '\\.')}: not valid JSON \\(.*\\): skipped \\(run rm -f x forgets it`))]);
      expect(String(ps.stdout).split('\n')[0]).toMatch(/^NAME\s+ID/);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

// `-` reads stdin to its end: a pipe left non-blocking by whoever shared it (a Node parent
// does that to its own stdin) says EAGAIN until the writer has written, which is not the end
describe('reading targets from a non-blocking stdin', () => {
  it('netsetup down - waits for input that comes late (was: taken as empty, "nothing to remove", exit 2)', async () => {
    const state = mkdtempSync(join(tmpdir(), 'bk-stdin-'));
    try {
      const nonblock = 'my $f = fcntl(STDIN, F_GETFL, 0); fcntl(STDIN, F_SETFL, $f | O_NONBLOCK) or die; exec @ARGV';
      // 2 s: netsetup must be reading before the input comes (after 0.3 s a loaded machine may not have started it yet: the test then proves nothing)
      const r = await execa('bash', ['-c', '(sleep 2; echo "$1") | perl -MFcntl -e "$0" "${@:2}"', nonblock, testName('late-ns'), binPath('netsetup'), 'down', '-', '--dry-run'], {
        reject: false, env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined, BOXKIT_STATE_DIR: state },
      });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

// users copy examples from --help: each is one whole line (a comment saying what it does, then the
// command), never a command wrapped onto a second line, in every tool's and subcommand's help
describe('every bin: --help examples are whole lines', () => {
  const examples = (help: string): string[] => {
    const at = help.indexOf('\nExamples:\n');
    return at < 0 ? [] : help.slice(at + '\nExamples:\n'.length).split('\n').filter((l) => l.trim());
  };
  // the words of the 'Commands:' lines (`  run exec <name> [cmd..]  ...`), not of their wrapped descriptions
  // (run's 'built-in busybox one' is no command: `run busybox --help` would start a container)
  const subcommands = (tool: string, help: string): string[] => {
    const m = /\nCommands:\n([\s\S]*?)\n\n/.exec(help);
    const line = new RegExp(`^ {2}${tool} ([a-z][a-z-]*)(?= |$)`);
    return m ? m[1]!.split('\n').map((l) => line.exec(l)?.[1]).filter((w): w is string => w !== undefined) : [];
  };
  for (const tool of TOOLS) {
    it(`${tool}: each example is a '# what' line followed by one command line`, async () => {
      const top = String((await bk(tool, ['--help'])).stdout);
      const pages = [top, ...(await Promise.all(subcommands(tool, top).map(async (c) => String((await bk(tool, [c, '--help'])).stdout))))];
      const lines = pages.flatMap(examples);
      expect(lines.length).toBeGreaterThan(0);
      for (let i = 0; i < lines.length; i += 2) {
        expect(lines[i], lines.slice(i, i + 3).join('\n')).toMatch(/^ {2}# /);
        expect(lines[i + 1], lines.slice(i, i + 3).join('\n')).toMatch(/^ {2}[^ #]/);
      }
    });
  }
});
