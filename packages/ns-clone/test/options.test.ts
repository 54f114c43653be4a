import { describe, expect, it } from 'vitest';
import { fastParse, normalizeArgv, RUN_OPTIONS } from '../src/options.js';
import { requestFromFlags } from '../src/args.js';

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
    expect(a).toMatchObject({ uts: true, mapRootUser: true, mapUsers: ['1:100000:10', '11:200000:5'], stopTimeout: 3, noNewPrivs: true, '--': ['bash'] });
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

describe("unshare's short flags", () => {
  const ns = (argv: string[]) => [...requestFromFlags(fastParse(normalizeArgv(argv))!, '/bin/sh').spec.namespaces].sort();

  it('-m -u -i -n -p -U -C -T are the namespaces, as unshare names them', () => {
    expect(ns(['-m', '--', 'true'])).toEqual(['mnt']);
    expect(ns(['-u', '-i', '--', 'true'])).toEqual(['ipc', 'uts']);
    expect(ns(['-n', '-p', 'true'])).toEqual(['net', 'pid']);
    expect(ns(['-U', '-C', '-T', '--', 'true'])).toEqual(['cgroup', 'time', 'user']);
    expect(fastParse(normalizeArgv(['-p', '--', 'true']))).toMatchObject({ pid: true, '--': ['true'] });
  });

  it('-f/--fork is accepted and changes nothing: CMD is always the child', () => {
    const forked = requestFromFlags(fastParse(normalizeArgv(['--pid', '--fork', '--', 'true']))!, '/bin/sh');
    const plain = requestFromFlags(fastParse(normalizeArgv(['--pid', '--', 'true']))!, '/bin/sh');
    expect(forked).toEqual(plain);
    expect(fastParse(normalizeArgv(['-f', '-p', 'true']))).toMatchObject({ fork: true, pid: true });
  });

  it('grouped as getopt reads them: -fp, -Urm, -upw DIR, -wDIR', () => {
    expect(normalizeArgv(['-fp', 'sh', '-c', 'x'])).toEqual(['-f', '-p', '--', 'sh', '-c', 'x']);
    expect(normalizeArgv(['-Urm', '--', 'id'])).toEqual(['-U', '-r', '-m', '--', 'id']);
    expect(fastParse(normalizeArgv(['-upw', '/tmp', 'pwd']))).toMatchObject({ uts: true, pid: true, wd: '/tmp', '--': ['pwd'] });
    expect(fastParse(normalizeArgv(['-mwDIR', 'pwd']))).toMatchObject({ mount: true, wd: 'DIR', '--': ['pwd'] });
    // a letter that is not ours: left whole, the fast path declines and yargs names it
    expect(normalizeArgv(['-pZ', 'true'])).toEqual(['-pZ', '--', 'true']);
    expect(fastParse(normalizeArgv(['-pZ', 'true']))).toBeUndefined();
  });

  it('-R/--root and -w/--wd take their values', () => {
    expect(fastParse(normalizeArgv(['-R', '/srv/rootfs', '-w', '/', 'sh']))).toMatchObject({ root: '/srv/rootfs', wd: '/', '--': ['sh'] });
    expect(ns(['-R', '/srv/rootfs', 'sh'])).toEqual(['mnt']);
  });

  it('--mount-proc implies --mount, as with unshare (unshare -fp --mount-proc)', () => {
    const r = requestFromFlags(fastParse(normalizeArgv(['-fp', '--mount-proc', 'ps']))!, '/bin/sh');
    expect([...r.spec.namespaces].sort()).toEqual(['mnt', 'pid']);
    expect(r.spec.mountProc).toBe(true);
  });

  it('every alias is one letter and names one option', () => {
    const letters = Object.values(RUN_OPTIONS).flatMap((o) => (o.alias ? [o.alias] : []));
    expect(new Set(letters).size).toBe(letters.length);
    expect(letters.every((l) => /^[A-Za-z]$/.test(l))).toBe(true);
  });
});

describe('no namespace flag', () => {
  it('runs CMD with no new namespace, as unshare does (was exit 125)', () => {
    const r = requestFromFlags(fastParse(normalizeArgv(['--', 'true']))!, '/bin/sh');
    expect(r.spec.namespaces).toEqual([]);
    expect(r.spec.argv).toEqual(['true']);
    expect(r.spec.join).toBeUndefined();
  });
});

describe('--no-new-privs', () => {
  it('is an option of its own in the table (help shows it as users type it), and sets noNewPrivs', () => {
    expect(RUN_OPTIONS['no-new-privs']).toMatchObject({ type: 'boolean' });
    expect(RUN_OPTIONS['new-privs']).toBeUndefined();
    expect(requestFromFlags(fastParse(normalizeArgv(['--no-new-privs', 'true']))!, '/bin/sh').spec.noNewPrivs).toBe(true);
    expect(requestFromFlags(fastParse(normalizeArgv(['true']))!, '/bin/sh').spec.noNewPrivs).toBeUndefined();
    // what yargs hands over for the same flag
    expect(requestFromFlags({ newPrivs: false, '--': ['true'] }, '/bin/sh').spec.noNewPrivs).toBe(true);
  });
});
