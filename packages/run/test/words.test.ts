import { describe, expect, it } from 'vitest';
import { readWords } from '../src/words.js';

describe('run: the first word, as a docker user means it', () => {
  it('finds a subcommand typed after common flags and puts it first', () => {
    expect(readWords(['--json', 'rm', 'web'])).toEqual({ argv: ['rm', '--json', 'web'] });
    expect(readWords(['--dry-run', '-v', 'stop', 'web'])).toEqual({ argv: ['stop', '--dry-run', '-v', 'web'] });
    expect(readWords(['ps', '-a'])).toEqual({ argv: ['ps', '-a'] });
    // help of a subcommand, both ways docker users ask for it
    expect(readWords(['--help', 'ps'])).toEqual({ argv: ['ps', '--help'] });
    expect(readWords(['help', 'exec'])).toEqual({ argv: ['exec', '--help'] });
    expect(readWords(['help'])).toEqual({ argv: ['--help'] });
    expect(readWords(['help', 'kill'])).toEqual({ argv: ['--help'] });
    expect(readWords(['-v', 'help', 'exec'])).toEqual({ argv: ['exec', '--help'] });
    expect(readWords(['--dry-run', 'help'])).toEqual({ argv: ['--help'] });
  });
  it('leaves a container command as typed: after --, after a run option, or any other word', () => {
    for (const argv of [['--', 'kill', '1'], ['--rm', 'top'], ['--rm', '--', 'rm', '-f', 'x'], ['sh', '-c', 'true'], ['--json', '--', 'rm'], []]) {
      expect(readWords(argv)).toEqual({ argv });
    }
  });
  it("refuses a docker verb run does not have, pointing at -- for a program of that name", () => {
    const r = readWords(['--dry-run', 'kill', 'web']);
    expect(r).toMatchObject({ refuse: expect.stringMatching(/^'kill' is not a run command \(run has rootfs, ps, ls, exec, logs, stop, rm, inspect, gc\)$/) });
    expect((r as { hint: string }).hint).toBe('to run a program named kill in a new container: run --dry-run -- kill web');
    for (const verb of ['start', 'restart', 'pause', 'top', 'cp']) expect(readWords([verb, 'web'])).toHaveProperty('refuse');
  });
});
