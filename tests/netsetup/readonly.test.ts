/**
 * What a user expects of commands that only look, and of a `down` that
 * cannot finish: `ls` and every --dry-run leave the state dir byte for byte
 * as it was, leases an older netsetup wrote (leases/<network>_<prefix>/<ip>)
 * included, which they count as taken all the same; and a `down` whose nat
 * table cannot be read or changed, or whose links cannot be deleted, exits 1
 * in one line with every attachment whole (link, lease, record, published
 * rules and entries), so that a plain `down` afterwards removes it all.
 * A repeated `veth` over a stale attachment fails the same way, and a
 * `veth` that fails part-way and cannot delete its link keeps what finds
 * it (its pending record and lease) for `down`. The failures are real
 * tools replaced on PATH for that one call (the kernel and every other
 * command are the real ones).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bk, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { dropEmptyTables, expectNothingLeft, netSnapshot, ns, sh, shortName, stored, useStateDir, type BinResult } from './helpers.js';

/** Every path under `dir` (directories marked) with each file's content: equal before and after means nothing was written. */
function tree(dir: string): [string, string][] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => {
      const path = join(e.parentPath ?? e.path, e.name);
      return [path.slice(dir.length + 1), e.isDirectory() ? '<dir>' : readFileSync(path, 'utf8')] as [string, string];
    })
    .sort(([a], [b]) => a.localeCompare(b));
}

describe.skipIf(skipReason)(`netsetup read-only commands, and a down that cannot finish${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nqb');
  const [ha, hb] = [shortName('nqa'), shortName('nqc')];
  const [a, b] = ['ro-a', 'ro-b'].map((h) => testName(h)) as [string, string];
  let state = '';
  let shims = '';
  let before: ReturnType<typeof netSnapshot>;
  const ok = (r: BinResult, what = '') => expect(r.exitCode, `${what} ${r.stderr}`).toBe(0);
  const publishRules = () => sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.includes('boxkit publish'));
  const publishEntries = () => Object.keys(JSON.parse(readFileSync(join(state, 'netsetup', 'state.json'), 'utf8')).publish ?? {}).sort();
  const addrIn = (h: string) => sh('ip', ['-n', h, '-o', '-4', 'addr', 'show', 'scope', 'global']).split('\n').filter(Boolean).map((l) => l.split(/\s+/)[3]);
  /** a directory holding an executable `name` that fails as the real tool would when it cannot do its job */
  const failing = (name: string, line: string): string => {
    const dir = join(shims, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), `#!/bin/sh\necho "${line}" >&2\nexit 1\n`);
    chmodSync(join(dir, name), 0o755);
    return dir;
  };
  /** netsetup ARGS with `dir` first in PATH (and `env` added), for this one call */
  const withPath = async (dir: string, args: string[], input?: string, env: Record<string, string> = {}): Promise<BinResult> => {
    const e: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${dir}:${process.env.PATH}`, ...env };
    delete e.NODE_EXTRA_CA_CERTS;
    const r = await bk('netsetup', args, { env: e, extendEnv: false, ...(input !== undefined ? { input } : {}) });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };

  beforeAll(async () => {
    state = useStateDir('readonly');
    shims = mkdtempSync(join(tmpdir(), 'bk-ro-shim-'));
    before = netSnapshot();
    createHost(a);
    createHost(b);
    ok(await ns(['bridge', br, '10.77.150.1/24']));
  });
  afterAll(async () => {
    await ns(['down', '--netns', a, '--netns', b]);
    await ns(['bridge', 'rm', br]);
    destroyHost(a);
    destroyHost(b);
    dropEmptyTables(before);
    rmSync(shims, { recursive: true, force: true });
  });

  it('ls, ls --json and every --dry-run write nothing with an old-layout lease in place and count it as taken; a real veth moves it', async () => {
    const va = await ns(['veth', '--netns', a, '--bridge', br, '--host-ifname', ha, '--json']);
    ok(va);
    expect(JSON.parse(va.stdout).ip).toBe('10.77.150.2/24');
    ok(await ns(['publish', '18190:10.77.150.2:80']));
    // what a netsetup before leases/<ip> wrote for this address
    const leases = join(state, 'netsetup', 'leases');
    mkdirSync(join(leases, '10.77.150.0_24'));
    renameSync(join(leases, '10.77.150.2'), join(leases, '10.77.150.0_24', '10.77.150.2'));
    // the lock files too: a look that took a lock would make them again
    for (const f of ['store.lock', 'lock']) rmSync(join(state, 'netsetup', f), { force: true });
    const files = tree(state);
    expect(files.map(([p]) => p)).toContain('netsetup/leases/10.77.150.0_24/10.77.150.2');
    const kernel = netSnapshot();

    const ls = await ns(['ls']);
    ok(ls, 'ls');
    expect(ls.stdout).toMatch(new RegExp(`^${ha} .* 10\\.77\\.150\\.2/24 .* up$`, 'm'));
    const lsj = await ns(['ls', '--json']);
    ok(lsj, 'ls --json');
    expect(JSON.parse(lsj.stdout).attachments).toMatchObject([{ hostIfname: ha, ip: '10.77.150.2/24', present: true, leased: true }]);

    // the old lease is taken: --ip auto offers the next address, the address itself is refused
    const dv = await ns(['veth', '--netns', b, '--bridge', br, '--ip', 'auto', '--dry-run']);
    ok(dv, 'veth --dry-run');
    expect(dv.stdout).toMatch(/ addr add 10\.77\.150\.3\/24 dev eth0$/m);
    const dvj = await ns(['veth', '--netns', b, '--bridge', br, '--dry-run', '--json']);
    ok(dvj, 'veth --dry-run --json');
    expect(JSON.parse(dvj.stdout)).toMatchObject({ ip: '10.77.150.3/24' });
    const taken = await ns(['veth', '--netns', b, '--bridge', br, '--ip', '10.77.150.2/24', '--dry-run']);
    expect(taken.exitCode).toBe(2);
    expect(taken.stderr).toMatch(new RegExp(`^netsetup: address 10\\.77\\.150\\.2 is already in use by ${ha}$`, 'm'));

    // a port to the old-leased address is one to a whole attachment: no warning that a real run would refuse
    const dp = await ns(['publish', '18191:10.77.150.2:81', '--dry-run']);
    ok(dp, 'publish --dry-run');
    expect(dp.stderr).toBe('');
    expect(dp.stdout).toMatch(/^iptables -t nat -A BOXKIT-DNAT .*--to-destination 10\.77\.150\.2:81$/m);
    ok(await ns(['publish', 'rm', '18190:10.77.150.2:80', '--dry-run']), 'publish rm --dry-run');

    // down's dry run removes the container's published port: the address is its own
    for (const args of [['down', '--netns', a, '--dry-run'], ['down', '-', '--dry-run'], ['down', '--host-ifname', ha, '--dry-run', '--json']]) {
      const d = await ns(args, args.includes('-') ? `${a}\n${b}\n` : undefined);
      ok(d, args.join(' '));
      expect(d.stdout, args.join(' ')).toMatch(new RegExp(`ip link del ${ha}\\b`));
      expect(d.stdout, args.join(' ')).toMatch(/iptables -t nat -D BOXKIT-DNAT .*18190:10\.77\.150\.2:80/);
    }
    ok(await ns(['nat', '10.77.150.0/24', '--dry-run']), 'nat --dry-run');
    ok(await ns(['bridge', shortName('nqx'), '10.77.151.1/24', '--dry-run']), 'bridge --dry-run');

    expect(tree(state)).toEqual(files);
    expect(netSnapshot()).toEqual(kernel);

    // a real veth moves the old lease to leases/<ip> and takes the next address
    const vb = await ns(['veth', '--netns', b, '--bridge', br, '--host-ifname', hb, '--json']);
    ok(vb, 'veth');
    expect(JSON.parse(vb.stdout).ip).toBe('10.77.150.3/24');
    expect(readdirSync(leases).sort()).toEqual(['10.77.150.2', '10.77.150.3']);
    expect(readFileSync(join(leases, '10.77.150.2'), 'utf8')).toMatch(new RegExp(`^${ha} \\d+\\n$`));
    ok(await ns(['down', '--netns', a, '--netns', b]));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
    expect(publishRules()).toEqual([]);
  });

  it('a down whose nat table cannot be read or changed, or whose links cannot be deleted, exits 1 in one line and leaves every attachment whole', async () => {
    ok(await ns(['veth', '--netns', a, '--bridge', br, '--host-ifname', ha, '--ip', '10.77.150.2/24']));
    ok(await ns(['veth', '--netns', b, '--bridge', br, '--host-ifname', hb, '--ip', '10.77.150.3/24']));
    ok(await ns(['publish', '18192:10.77.150.2:80']));
    ok(await ns(['publish', '18193:10.77.150.3:80/udp']));
    const rules = publishRules();
    expect(rules.length).toBeGreaterThanOrEqual(6);
    // another runtime's DNAT of the same port, added after ours (docker, CNI portmap): ours must stay ahead of it
    const other = (op: string, chain: string) => ['-t', 'nat', op, chain, '-p', 'tcp', '--dport', '18192', '-m', 'comment', '--comment', 'other-runtime', '-j', 'DNAT', '--to-destination', '10.77.151.9:80'];
    for (const c of ['PREROUTING', 'OUTPUT']) sh('iptables', other('-A', c));
    const files = tree(state);
    const kernel = netSnapshot();
    const inside = [addrIn(a), addrIn(b)];
    expect(inside).toEqual([['10.77.150.2/24'], ['10.77.150.3/24']]);

    const save = failing('iptables-save', 'iptables-save: cannot read the nat table');
    const restore = failing('iptables-restore', 'iptables-restore: line 2 failed');
    // the links go through `ip` (not netlink) with BOXKIT_NETLINK=0: a failing one fails their deletion, after the rules went
    const ip = failing('ip', 'RTNETLINK answers: Operation not permitted');
    const cases: [string, string, string[], string | undefined, Record<string, string>, RegExp][] = [
      ['iptables-save', save, ['down', '--netns', a], undefined, {}, new RegExp(`^netsetup: down ${ha}: not removed: iptables-save -t nat: iptables-save: cannot read the nat table$`)],
      ['iptables-restore', restore, ['down', '--host-ifname', ha], undefined, {}, new RegExp(`^netsetup: down ${ha}: not removed: iptables-restore -w 10 --noflush: iptables-restore: line 2 failed$`)],
      ['iptables-save, batch', save, ['down', '-'], `${a}\n${b}\n`, {}, new RegExp(`^netsetup: down 2 attachments \\(${ha}, ${hb}\\): not removed: iptables-save -t nat: .*$`)],
      ['iptables-restore, batch', restore, ['down', '--netns', a, '--netns', b], undefined, {}, /^netsetup: down 2 attachments .*: not removed: iptables-restore -w 10 --noflush: .*$/],
      ['ip link del', ip, ['down', '--netns', a], undefined, { BOXKIT_NETLINK: '0' }, new RegExp(`^netsetup: down ${ha}: not removed: ip -batch -: RTNETLINK answers: Operation not permitted$`)],
      ['ip link del, batch', ip, ['down', '-'], `${a}\n${b}\n`, { BOXKIT_NETLINK: '0' }, /^netsetup: down 2 attachments .*: not removed: ip -batch -: RTNETLINK answers: Operation not permitted$/],
    ];
    for (const [what, dir, args, input, env, line] of cases) {
      const r = await withPath(dir, args, input, env);
      expect(r.exitCode, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr.split('\n').filter(Boolean), what).toHaveLength(1);
      expect(r.stderr.trim(), what).toMatch(line);
      expect(r.stdout, what).toBe('');
      // link, lease, record, published rules and entries: all there, the files byte for byte, every
      // rule in its place (those a failed link deletion put back are inserted where they were)
      expect(netSnapshot(), what).toEqual(kernel);
      expect(tree(state), what).toEqual(files);
      expect(publishRules(), what).toEqual(rules);
      expect(publishEntries(), what).toEqual(['18192/tcp', '18193/udp']);
      expect([addrIn(a), addrIn(b)], what).toEqual(inside);
    }

    // the links cannot be deleted and the rules, removed first, cannot be put back (the second
    // iptables-restore fails): exit 1 in one line that says so; the entries stay for the next down
    const second = join(shims, 'restore-second');
    mkdirSync(second, { recursive: true });
    writeFileSync(join(second, 'iptables-restore'), `#!/bin/sh
[ -e "${second}/once" ] && { echo "iptables-restore: xtables lock held" >&2; exit 4; }
: > "${second}/once"
PATH=${process.env.PATH} exec iptables-restore "$@"
`);
    chmodSync(join(second, 'iptables-restore'), 0o755);
    const ipAndRestore = join(shims, 'ip-and-restore');
    mkdirSync(ipAndRestore, { recursive: true });
    for (const [dir, name] of [[ip, 'ip'], [second, 'iptables-restore']] as const) writeFileSync(join(ipAndRestore, name), readFileSync(join(dir, name)), { mode: 0o755 });
    const r = await withPath(ipAndRestore, ['down', '--netns', a], undefined, { BOXKIT_NETLINK: '0' });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^netsetup: down ${ha}: not removed: ip -batch -: RTNETLINK answers: Operation not permitted; and its published ports' rules, removed first, could not be put back \\(iptables-restore -w 10 --noflush: iptables-restore: xtables lock held\\): down again to finish$`));
    expect(publishRules().filter((l) => l.includes('10.77.150.2'))).toEqual([]);
    expect(publishEntries()).toEqual(['18192/tcp', '18193/udp']);
    expect(addrIn(a)).toEqual(['10.77.150.2/24']);
    for (const c of ['PREROUTING', 'OUTPUT']) sh('iptables', other('-D', c));

    // the real tools: down removes it all
    const d = await ns(['down', '-'], `${a}\n${b}\n`);
    ok(d, 'down');
    expect(d.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
    expect(publishRules()).toEqual([]);
    expect(publishEntries()).toEqual([]);
    expect([addrIn(a), addrIn(b)]).toEqual([[], []]);
    for (const h of [ha, hb]) expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(h);
  });

  it('a repeated veth over a stale attachment whose nat table cannot be read leaves it as it was; the real one replaces it', async () => {
    ok(await ns(['veth', '--netns', a, '--bridge', br, '--host-ifname', ha, '--ip', '10.77.150.2/24']));
    ok(await ns(['publish', '18194:10.77.150.2:80']));
    sh('ip', ['link', 'del', ha]); // its container's side went with it: the record is stale
    const files = tree(state);
    const kernel = netSnapshot();
    const rules = publishRules();
    const args = ['veth', '--netns', a, '--bridge', br, '--host-ifname', ha, '--ip', '10.77.150.2/24'];
    const r = await withPath(failing('iptables-save', 'iptables-save: cannot read the nat table'), args);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr.trim()).toMatch(/^netsetup: iptables-save -t nat: iptables-save: cannot read the nat table$/);
    expect(tree(state)).toEqual(files);
    expect(netSnapshot()).toEqual(kernel);
    expect(publishRules()).toEqual(rules);
    const v = await ns([...args, '--json']);
    ok(v, 'veth');
    expect(JSON.parse(v.stdout)).toMatchObject({ ip: '10.77.150.2/24', created: true });
    expect(publishRules()).toEqual([]);
    expect(publishEntries()).toEqual([]);
    ok(await ns(['down', '--netns', a]));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('a veth that fails part-way and cannot delete its link keeps its pending record and lease, so down --netns removes all of it', async () => {
    // `ip` (BOXKIT_NETLINK=0: every ip command goes through it) refuses the container's address and the link's deletion, and does the rest
    const real = sh('bash', ['-c', 'command -v ip']).trim();
    const dir = join(shims, 'ip-refusing');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ip'), `#!/bin/bash
case "$*" in *'-batch -')
  input=$(cat)
  if grep -q '^addr add' <<<"$input"; then echo 'RTNETLINK answers: Cannot assign requested address' >&2; exit 2; fi
  if grep -q '^link del' <<<"$input"; then echo 'RTNETLINK answers: Operation not permitted' >&2; exit 2; fi
  printf '%s\\n' "$input" | exec ${real} "$@" ;;
esac
exec ${real} "$@"
`);
    chmodSync(join(dir, 'ip'), 0o755);
    const r = await withPath(dir, ['veth', '--netns', a, '--bridge', br, '--host-ifname', ha], undefined, { BOXKIT_NETLINK: '0' });
    expect(r.exitCode, r.stderr).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(new RegExp(`^netsetup: .*Cannot assign requested address.* \\(and ${ha} could not be deleted\\)$`));
    expect(lines.slice(1)).toEqual([`hint: netsetup down --host-ifname ${ha}`]);
    expect(sh('ip', ['-o', 'link', 'show'])).toContain(ha);
    const st = stored(state);
    expect(st).toEqual({ attachments: [`${ha}.json`], leases: ['10.77.150.2'] });
    expect(JSON.parse(readFileSync(join(state, 'netsetup', 'attachments', `${ha}.json`), 'utf8'))).toMatchObject({ hostIfname: ha, netns: a, ip: '' });
    expect(readFileSync(join(state, 'netsetup', 'leases', '10.77.150.2'), 'utf8')).toMatch(new RegExp(`^${ha} \\d+\\n$`));
    // the address is not given out again meanwhile
    const dv = await ns(['veth', '--netns', b, '--bridge', br, '--dry-run', '--json']);
    ok(dv);
    expect(JSON.parse(dv.stdout).ip).toBe('10.77.150.3/24');
    const d = await ns(['down', '--netns', a]);
    ok(d, 'down');
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(ha);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('leaves no links, rules, leases or records', async () => {
    ok(await ns(['bridge', 'rm', br]));
    expectNothingLeft(before, state);
  });
});
