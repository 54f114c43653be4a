import { describe, expect, it } from 'vitest';
import { execArgv, fastParse } from '../src/fast.js';
import { resolveGroup } from '../src/group.js';

describe('cg exec without -- (as cgexec and ns-clone take it)', () => {
  it('the first word after the group that is not a flag or a flag value starts the command', () => {
    expect(execArgv(['exec', 'g', '--parent', 'self', 'sh', '-c', 'echo x'])).toEqual(['exec', 'g', '--parent', 'self', '--', 'sh', '-c', 'echo x']);
    expect(execArgv(['exec', '--parent', 'self', 'g', 'sh', '-c', 'x'])).toEqual(['exec', '--parent', 'self', 'g', '--', 'sh', '-c', 'x']);
    expect(execArgv(['exec', 'g', '-m', '64M', '--cpus=0.5', '--dry-run', 'ls', '-l'])).toEqual(['exec', 'g', '-m', '64M', '--cpus=0.5', '--dry-run', '--', 'ls', '-l']);
    expect(execArgv(['-v', 'exec', 'g', 'true'])).toEqual(['-v', 'exec', 'g', '--', 'true']);
  });

  it('leaves alone what already has --, has no command, or is another command', () => {
    for (const argv of [['exec', 'g', '--', 'sh', '-c', 'x'], ['exec', 'g', '--parent', 'self'], ['create', 'g', 'extra'], ['rm', 'exec', 'x']]) {
      expect(execArgv(argv)).toEqual(argv);
    }
  });

  it('the fast parser then takes it as it takes the -- form', () => {
    expect(fastParse(execArgv(['exec', 'g', '--parent', 'self', '--pids', '5', 'sh', '-c', 'x']))).toEqual(
      fastParse(['exec', 'g', '--parent', 'self', '--pids', '5', '--', 'sh', '-c', 'x']),
    );
    expect(fastParse(execArgv(['exec', 'g', 'sh', '-c', 'x']))).toMatchObject({ group: 'g', '--': ['sh', '-c', 'x'] });
  });
});

describe('group names', () => {
  it("a bad one's hint allows nesting with '/' and refuses '..' (it said no '/')", () => {
    for (const bad of ['x/../y', '..', 'a b', '']) {
      try {
        resolveGroup(bad, { parent: 'self' });
        expect.unreachable();
      } catch (e) {
        expect((e as { hint?: string }).hint).toBe("use a name of 1-64 letters, digits, '_', '.', '-', starting with a letter or digit, or names nested with '/' (x/y); no '..'");
        expect((e as { exitCode: number }).exitCode).toBe(2);
      }
    }
  });
});
