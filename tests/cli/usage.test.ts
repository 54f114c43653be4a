import { describe, expect, it } from 'vitest';
import { bk } from '../harness/bins.js';

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
