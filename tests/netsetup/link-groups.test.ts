/**
 * `down` of many attachments deletes their host links through a temporary
 * link group (`ip link set dev X group G` each, then `ip link del group G`).
 * When that delete fails, the links left are back in the groups they had,
 * not in G (where a later `ip link del group G` by anyone would take them);
 * links a killed `down` left in its group are still deleted by the next one.
 * netsetup runs inside a node namespace made here (its own state dir), whose
 * loopback can be renamed: the kernel refuses `ip link del group G` as a
 * whole (EOPNOTSUPP) when a member, like lo, cannot be deleted; or through
 * `ip` (BOXKIT_NETLINK=0) made to refuse it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { nsIn, sh, stored, type BinResult } from './helpers.js';

/** The link group of each link in namespace `node` (`ip -d link`'s "group": "default" is 0). */
function groups(node: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of JSON.parse(sh('ip', ['-n', node, '-j', '-d', 'link', 'show'])) as { ifname: string; group?: string | number }[]) {
    out[l.ifname] = l.group === undefined || l.group === 'default' ? 0 : Number(l.group);
  }
  return out;
}

describe.skipIf(skipReason)(`netsetup down's link groups${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const node = testName('lg-node');
  const c = [1, 2, 3].map((i) => testName(`lg-c${i}`));
  const h = ['lgh1', 'lgh2', 'lgh3'];
  const state = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'netsetup-link-groups');
  /** a group a `down` killed between moving its links and deleting the group leaves them in */
  const leftover = 0x62000abc;
  const ok = (r: BinResult) => expect(r.exitCode, r.stderr).toBe(0);
  const run = (args: string[]) => nsIn(node, state, args);
  const attachAll = async () => {
    for (let i = 0; i < c.length; i++) ok(await run(['veth', '--netns', c[i]!, '--bridge', 'lgbr', '--host-ifname', h[i]!]));
  };
  const downArgs = c.flatMap((n) => ['--netns', n]);

  beforeAll(async () => {
    mkdirSync(state, { recursive: true });
    for (const n of [node, ...c]) createHost(n);
    ok(await run(['bridge', 'lgbr', '10.77.96.1/24']));
  });
  afterAll(() => {
    for (const n of [...c, node]) destroyHost(n);
  });

  /** netsetup ARGS inside the node by `nsenter --net` alone: /sys stays the sandbox host's sysfs, another namespace's */
  const runNsenter = async (args: string[]): Promise<BinResult> => {
    const e: Record<string, string> = { ...(process.env as Record<string, string>), BOXKIT_STATE_DIR: state };
    delete e.NODE_EXTRA_CA_CERTS;
    const r = await execa('nsenter', [`--net=/run/netns/${node}`, process.execPath, binPath('netsetup'), ...args], { reject: false, env: e, extendEnv: false });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };

  it.each([
    ['ip netns exec (its sysfs is the node\'s)', false],
    ['nsenter --net (the sysfs on /sys is the sandbox host\'s, with a link of the same name in another group)', true],
  ])('a group delete refused as a whole leaves the links in the groups they had, reports one line, and the next down removes them: %s', async (_how, bare) => {
    const down = bare ? runNsenter : run;
    await attachAll();
    if (bare) sh('ip', ['link', 'add', h[0]!, 'group', '9', 'type', 'veth', 'peer', 'name', `${h[0]}p`]); // (in the sandbox host: what a read of the wrong sysfs would put back)
    sh('ip', ['-n', node, 'link', 'set', 'dev', h[0]!, 'group', '7']); // an operator's group
    sh('ip', ['-n', node, 'link', 'set', 'dev', h[2]!, 'group', String(leftover)]); // a killed down's
    // h[1]'s name now on a link that has no dellink: the whole `link del group` is refused
    sh('ip', ['-n', node, 'link', 'del', h[1]!]);
    sh('ip', ['-n', node, 'link', 'set', 'lo', 'down']);
    sh('ip', ['-n', node, 'link', 'set', 'lo', 'name', h[1]!]);

    try {
      const r = await down(['down', ...downArgs]);
      expect(r.exitCode).not.toBe(0);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines[0], r.stderr).toMatch(/^netsetup: down 3 attachments \(.+\): not removed: .*not supported/i);
      expect(lines.filter((l) => !l.startsWith('hint: ')), r.stderr).toHaveLength(1);
      // every link is there, in its own group (the leftover one in the default), none in a temporary one
      const g = groups(node);
      expect({ [h[0]!]: g[h[0]!], [h[1]!]: g[h[1]!], [h[2]!]: g[h[2]!] }).toEqual({ [h[0]!]: 7, [h[1]!]: 0, [h[2]!]: 0 });
      expect(Object.values(g).filter((x) => x >= 0x62000001 && x <= 0x62fffffe)).toEqual([]);
      expect(stored(state).attachments).toHaveLength(3);
    } finally {
      sh('ip', ['-n', node, 'link', 'set', h[1]!, 'name', 'lo']);
      sh('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
      if (bare) sh('ip', ['link', 'del', h[0]!]);
    }
    ok(await run(['down', ...downArgs]));
    expect(Object.keys(groups(node)).filter((l) => h.includes(l))).toEqual([]);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('a repeated veth through nsenter --net (the sysfs on /sys another namespace\'s, with a link of its name on no bridge) asks the kernel whether its host end is still on its bridge', async () => {
    ok(await run(['veth', '--netns', c[0]!, '--bridge', 'lgbr', '--host-ifname', h[0]!]));
    sh('ip', ['link', 'add', h[0]!, 'type', 'veth', 'peer', 'name', `${h[0]}p`]); // (in the sandbox host: what a read of the wrong sysfs would see)
    try {
      const same = await runNsenter(['veth', '--netns', c[0]!, '--bridge', 'lgbr', '--host-ifname', h[0]!]);
      ok(same);
      expect(same.stdout.trim()).toMatch(/ on lgbr \(already there\)$/);
      sh('ip', ['-n', node, 'link', 'del', 'lgbr']);
      ok(await run(['bridge', 'lgbr', '10.77.96.1/24']));
      const back = await runNsenter(['veth', '--netns', c[0]!, '--bridge', 'lgbr', '--host-ifname', h[0]!]);
      ok(back);
      expect(back.stdout.trim()).toMatch(/ on lgbr \(put back on its bridge\)$/);
      expect(sh('ip', ['-n', node, '-o', 'link', 'show', h[0]!])).toContain('master lgbr');
    } finally {
      sh('ip', ['link', 'del', h[0]!]);
      ok(await run(['down', '--netns', c[0]!]));
    }
  });

  it('through ip: a refused group delete puts the links back; one that cannot be put back is named on the same line', async () => {
    // the real ip, but a batch's `link del group N` is refused (and, with FAIL_REGROUP, putting a link back in group 0)
    const real = execFileSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).trim();
    const shims = join(state, 'shims');
    mkdirSync(shims, { recursive: true });
    writeFileSync(join(shims, 'ip'), `#!/bin/sh
[ "$1" = -batch ] || exec ${real} "$@"
lines=$(cat)
ok=$(printf '%s\\n' "$lines" | grep -v -e '^link del group ' \${FAIL_REGROUP:+-e ' group 0$'})
if [ -n "$ok" ]; then printf '%s\\n' "$ok" | ${real} -batch - || exit 1; fi
[ "$ok" = "$lines" ] && exit 0
echo "RTNETLINK answers: Operation not supported" >&2
exit 1
`);
    chmodSync(join(shims, 'ip'), 0o755);
    const viaIp = async (args: string[], env: Record<string, string> = {}): Promise<BinResult> => {
      const e: Record<string, string> = { ...(process.env as Record<string, string>), BOXKIT_STATE_DIR: state, BOXKIT_NETLINK: '0', PATH: `${shims}:${process.env.PATH}`, ...env };
      delete e.NODE_EXTRA_CA_CERTS;
      const r = await execa(real, ['netns', 'exec', node, process.execPath, binPath('netsetup'), ...args], { reject: false, env: e, extendEnv: false });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    };
    const ours = () => Object.fromEntries(h.map((l) => [l, groups(node)[l]]));

    await attachAll();
    sh('ip', ['-n', node, 'link', 'set', 'dev', h[0]!, 'group', '7']);
    sh('ip', ['-n', node, 'link', 'set', 'dev', h[2]!, 'group', String(leftover)]);
    const r = await viaIp(['down', ...downArgs]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr.trim()).toMatch(/^netsetup: down 3 attachments \(.+\): not removed: ip -batch -: RTNETLINK answers: Operation not supported$/);
    expect(ours()).toEqual({ [h[0]!]: 7, [h[1]!]: 0, [h[2]!]: 0 });

    const stuck = await viaIp(['down', ...downArgs], { FAIL_REGROUP: '1' });
    expect(stuck.exitCode, stuck.stderr).toBe(1);
    const g = ours()[h[1]!]!;
    expect(g >= 0x62000001 && g <= 0x62fffffe, String(g)).toBe(true);
    expect(ours()).toEqual({ [h[0]!]: 7, [h[1]!]: g, [h[2]!]: g });
    expect(stuck.stderr.trim()).toBe(`netsetup: down 3 attachments (${h.join(', ')}): not removed: ip -batch -: RTNETLINK answers: Operation not supported; and ${h[1]} (group ${g}), ${h[2]} (group ${g}) could not be put back in their link groups`);
    expect(stored(state).attachments).toHaveLength(3);

    ok(await run(['down', ...downArgs]));
    expect(Object.keys(groups(node)).filter((l) => h.includes(l))).toEqual([]);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('links a killed down left in its temporary group: a dry run prints another group, a later down deletes them, one alone by name', async () => {
    await attachAll();
    for (const l of h) sh('ip', ['-n', node, 'link', 'set', 'dev', l, 'group', String(leftover)]);

    const dry = await run(['down', ...downArgs, '--dry-run']);
    ok(dry);
    const m = /^ip link del group (\d+)$/m.exec(dry.stdout);
    expect(m, dry.stdout).not.toBeNull();
    const g = Number(m![1]);
    expect(g).not.toBe(leftover);
    expect(g >= 0x62000001 && g <= 0x62fffffe).toBe(true);
    expect(dry.stdout.split('\n').filter((l) => l.startsWith('ip link '))).toEqual([...h.map((l) => `ip link set dev ${l} group ${g}`), `ip link del group ${g}`]);
    expect(Object.fromEntries(h.map((l) => [l, groups(node)[l]]))).toEqual(Object.fromEntries(h.map((l) => [l, leftover])));
    const one = await run(['down', '--netns', c[0]!, '--dry-run']);
    ok(one);
    expect(one.stdout.split('\n').filter((l) => l.startsWith('ip link '))).toEqual([`ip link del ${h[0]}`]);
    expect(one.stdout).not.toContain('group');

    ok(await run(['down', '--netns', c[0]!]));
    expect(groups(node)[h[0]!]).toBeUndefined();
    expect(groups(node)[h[1]!]).toBe(leftover);
    ok(await run(['down', '--netns', c[1]!, '--netns', c[2]!]));
    expect(Object.keys(groups(node)).filter((l) => h.includes(l))).toEqual([]);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });
});
