import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { binPath, bk } from '../harness/bins.js';

const TOOLS = ['ns-clone', 'cg', 'unionfs', 'netsetup', 'svcproxy', 'run'];

// what a script relies on: a typo in a command word is an error, not a silent success
describe('every bin: usage errors', () => {
  for (const tool of TOOLS) {
    it(`${tool}: an unknown command or option is a usage error (2; 125 for the tools that run a command), one line and a hint`, async () => {
      const word = tool === 'ns-clone' || tool === 'run' ? ['--bogus-flag'] : ['no-such-command'];
      const r = await bk(tool, word);
      expect(r.exitCode, r.stderr).toBe(tool === 'ns-clone' || tool === 'run' ? 125 : 2);
      const lines = String(r.stderr).split('\n').filter(Boolean);
      expect(lines[0]).toMatch(new RegExp(`^${tool}: (Unknown command|Unknown argument|unknown option)`, 'i'));
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
