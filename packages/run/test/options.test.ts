import { describe, expect, it } from 'vitest';
import { execArgv, fastParse, RUN_OPTIONS } from '../src/options.js';

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
    for (const argv of [['exec', 'web', '--', 'ls'], ['exec', 'web'], ['exec', '--nope', 'web', 'ls'], ['exec', '-x', 'web', 'ls'], ['exec', '--', 'web', 'ls']]) {
      expect(execArgv(argv)).toEqual(argv);
    }
  });
});

describe('run --help', () => {
  it("describes -p in every form it takes (IP:HOSTPORT:PORT, IP::PORT, HOSTPORT:PORT, PORT)", () => {
    expect(RUN_OPTIONS.publish!.describe).toContain('[IP:][HOSTPORT:]PORT[/udp]');
  });
});
