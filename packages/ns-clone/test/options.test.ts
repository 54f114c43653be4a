import { describe, expect, it } from 'vitest';
import { fastParse, normalizeArgv } from '../src/options.js';

describe('normalizeArgv', () => {
  it('puts -- before the command so its flags stay its own', () => {
    expect(normalizeArgv(['--uts', 'ls', '-l'])).toEqual(['--uts', '--', 'ls', '-l']);
    expect(normalizeArgv(['--hostname', 'web', 'sh'])).toEqual(['--hostname', 'web', '--', 'sh']);
    expect(normalizeArgv(['--pid', '--', 'sh', '-c', 'x'])).toEqual(['--pid', '--', 'sh', '-c', 'x']);
  });
  it('turns --KIND=PATH into --KIND --persist KIND=PATH', () => {
    expect(normalizeArgv(['--net=/run/netns/x', 'true'])).toEqual(['--net', '--persist', 'net=/run/netns/x', '--', 'true']);
    expect(normalizeArgv(['--hostname=a'])).toEqual(['--hostname=a']);
  });
});

describe('fastParse', () => {
  it('parses the common case like yargs would (camelCase keys, defaults)', () => {
    const a = fastParse(normalizeArgv(['--uts', '-r', '--map-users', '1:100000:10', '--map-users', '11:200000:5', '--stop-timeout', '3', '--no-new-privs', 'bash']))!;
    expect(a).toMatchObject({ uts: true, mapRootUser: true, mapUsers: ['1:100000:10', '11:200000:5'], stopTimeout: 3, newPrivs: false, '--': ['bash'] });
  });
  it('declines what it is unsure about, so yargs can explain', () => {
    expect(fastParse(['--help'])).toBeUndefined();
    expect(fastParse(['--bogus'])).toBeUndefined();
    expect(fastParse(['--hostname'])).toBeUndefined();
    expect(fastParse(['--stop-timeout', 'soon', '--', 'x'])).toBeUndefined();
    expect(fastParse(['--uts=yes'])).toBeUndefined();
  });
});

describe('a flag that takes a value, followed by another flag', () => {
  it('has no value (as yargs reads it): the fast path declines, yargs says "--hostname needs a value"', () => {
    expect(normalizeArgv(['--hostname', '--pid', '--', 'true'])).toEqual(['--hostname', '--pid', '--', 'true']);
    expect(fastParse(normalizeArgv(['--hostname', '--pid', '--', 'true']))).toBeUndefined();
    expect(fastParse(normalizeArgv(['--uts', '--hostname']))).toBeUndefined();
    expect(fastParse(normalizeArgv(['--stop-timeout', 'abc', '--', 'true']))).toBeUndefined();
  });
  it("still takes '-' and a negative number as values", () => {
    expect(fastParse(normalizeArgv(['--wd', '-', '--', 'true']))).toMatchObject({ wd: '-' });
    expect(fastParse(normalizeArgv(['--map-user', '-1', '--', 'true']))).toMatchObject({ mapUser: -1 });
  });
});
