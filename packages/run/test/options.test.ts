import { describe, expect, it } from 'vitest';
import { parseLimits } from '@boxkit/cg';
import { toSpec } from '../src/commands/run.js';
import { execArgv, fastParse, RUN_OPTIONS, runArgv } from '../src/options.js';

describe('run fastParse', () => {
  it('reads values in every form docker takes', () => {
    expect(fastParse(['--name', 'web', '-e', 'A=1', '-p8080:80', '--cpus=0.5', '--', 'true'])).toMatchObject({
      name: 'web', env: ['A=1'], publish: ['8080:80'], cpus: 0.5, '--': ['true'],
    });
  });
  it('declines a flag whose value is missing or is another flag (yargs then says "--name needs a value")', () => {
    expect(fastParse(['--name', '--rm', '--', 'true'])).toBeUndefined();
    expect(fastParse(['-e', '--', 'true'])).toBeUndefined();
    expect(fastParse(['--rm', '-p'])).toBeUndefined();
    expect(fastParse(['--cpus', 'half', '--', 'true'])).toBeUndefined();
  });
});

describe('run execArgv', () => {
  it("starts the command at the first word after NAME, past exec's own flags", () => {
    expect(execArgv(['exec', 'web', 'ls', '-la'])).toEqual(['exec', 'web', '--', 'ls', '-la']);
    expect(execArgv(['exec', '-u', '1', '-e', 'A=1', '-dw/tmp', '--json', 'web', 'sh', '-c', 'x', '-u', '2'])).toEqual(['exec', '-u', '1', '-e', 'A=1', '-dw/tmp', '--json', 'web', '--', 'sh', '-c', 'x', '-u', '2']);
    expect(execArgv(['exec', '--user=1', '--workdir', '/x', 'web', 'id'])).toEqual(['exec', '--user=1', '--workdir', '/x', 'web', '--', 'id']);
  });
  it('leaves what yargs should judge as typed: a -- already there, no command, an unknown flag', () => {
    for (const argv of [['exec', 'web', '--', 'ls'], ['exec', 'web'], ['exec', '--nope', 'web', 'ls'], ['exec', '-x', 'web', 'ls'], ['exec', '--']]) {
      expect(execArgv(argv)).toEqual(argv);
    }
  });
  it('takes a -- before NAME as the end of exec\'s flags (as docker): NAME is the word after it', () => {
    expect(execArgv(['exec', '-e', 'A=1', '--', 'web', 'env'])).toEqual(['exec', '-e', 'A=1', 'web', '--', 'env']);
    expect(execArgv(['exec', '--', 'web', 'ls', '--', 'x'])).toEqual(['exec', 'web', '--', 'ls', '--', 'x']);
    expect(execArgv(['exec', '--', 'web'])).toEqual(['exec', 'web']);
  });
  it('run on the yargs path: the command starts at the first word that is not an option, its flags its own', () => {
    expect(runArgv(['--rm', '--read-only=false', '-e', 'A=1', '-p', '80', 'sh', '-c', 'x'])).toEqual(['--rm', '--read-only=false', '-e', 'A=1', '-p', '80', '--', 'sh', '-c', 'x']);
    expect(runArgv(['-it', '--name=x', 'sh', '--help'])).toEqual(['-it', '--name=x', '--', 'sh', '--help']);
    for (const argv of [['--rm', '--', 'sh', '-c', 'x'], ['--help'], ['--json', '--dry-run'], ['--nope', 'sh', '-c', 'x']]) expect(runArgv(argv)).toEqual(argv);
  });
});

describe('run --help', () => {
  it("describes -p in every form it takes (IP:HOSTPORT:PORT, IP::PORT, HOSTPORT:PORT, PORT)", () => {
    expect(RUN_OPTIONS.publish!.describe).toContain('[IP:][HOSTPORT:]PORT[/udp]');
  });
});

describe('run --cpus, --cpu-quota, --cpu-period', () => {
  const spec = (...flags: string[]) => toSpec(fastParse([...flags, '--', 'true'])!);
  const why = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  it("are read by cg's converter: the quota docker makes, and cg's refusals in cg's words", () => {
    expect(spec('--cpus', '0.5').limits).toEqual({ cpuQuota: 50000, cpuPeriod: 100000 });
    expect(spec('--cpus', '1.5', '--cpu-period', '200000').limits).toEqual({ cpuQuota: 300000, cpuPeriod: 200000 });
    expect(spec('--cpu-period', '50000').limits).toEqual({ cpuPeriod: 50000 });
    for (const [flags, cg] of [
      [['--cpus', '0.001'], { cpus: 0.001 }],
      [['--cpus', '2000'], { cpus: 2000 }],
      [['--cpus', '0.5', '--cpu-quota', '50000'], { cpus: 0.5, cpuQuota: 50000 }],
      [['--cpu-quota', '500'], { cpuQuota: 500 }],
      [['--cpu-period', '500'], { cpuPeriod: 500 }],
    ] as const) {
      const ours = why(() => spec(...flags));
      expect(ours, flags.join(' ')).not.toBe('accepted');
      expect(ours, flags.join(' ')).toBe(why(() => parseLimits(cg)));
    }
  });
});
