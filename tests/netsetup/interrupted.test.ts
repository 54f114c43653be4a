/**
 * `veth -` interrupted by a signal, whose clean-up cannot delete a link: the
 * last line names what was kept (count and names, hint: the `down` that
 * removes it) and the exit is still 128+N. It said "nothing was made".
 *
 * A link the kernel refuses to delete, for real: a namespace's loopback
 * device (no rtnl dellink: EOPNOTSUPP, for `ip link del NAME` and `ip link
 * del group N` alike), renamed to the host ifname netsetup uses. So netsetup
 * runs inside a simulated node (`ip netns exec NODE`), whose lo the test
 * may take down and rename; netsetup stops itself at a step
 * (BOXKIT_NETSETUP_CRASH_AT with the signal SIGSTOP), the test changes the
 * node's links, then sends SIGINT and SIGCONT.
 *
 * And a batch whose link add fails on a link another program made under its
 * host ifname while netsetup was stopped: the undo deletes only the links the
 * batch made (it deleted that link too, or named it as kept when it could not).
 *
 * And a batch that fails once its links are made (the record's completion
 * refused: its state dir, a tmpfs of its own, filled meanwhile), whose undo
 * cannot delete a link: kept with its pending record and lease, and named.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { waitUntil } from '../harness/wait.js';
import { netSnapshot, nsIn, sh, shortName, stored, type BinResult } from './helpers.js';

describe.skipIf(skipReason)(`netsetup veth - interrupted, its clean-up refused${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const node = testName('vi-node');
  const c = [1, 2].map((i) => testName(`vi-c${i}`));
  const h = [1, 2].map((i) => shortName(`nvi${i}`));
  const br = shortName('nvib');
  const state = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'netsetup-interrupted');
  let before: ReturnType<typeof netSnapshot>;
  const ok = (r: BinResult) => expect(r.exitCode, r.stderr).toBe(0);
  const inNode = (...args: string[]) => sh('ip', ['-n', node, ...args]);
  const nodeLinks = () => inNode('-o', 'link', 'show').split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);

  /** `veth -` of `lines` in the node, stopped at `mark`; `meanwhile` runs then, and the process gets SIGINT (unless `sigint` is false) and SIGCONT. */
  async function interrupted(lines: object[], mark: string, meanwhile: () => void, sigint = true, stateDir = state): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), BOXKIT_STATE_DIR: stateDir, BOXKIT_NETSETUP_CRASH_AT: mark, BOXKIT_NETSETUP_CRASH_SIGNAL: 'SIGSTOP' };
    delete env.NODE_EXTRA_CA_CERTS;
    // (ip netns exec and the bin's sh stub exec: the pid is netsetup's own)
    const p = spawn('ip', ['netns', 'exec', node, binPath('netsetup'), 'veth', '-'], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    const ended = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    p.stdin.end(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const stopped = () => {
      try {
        return readFileSync(`/proc/${p.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] === 'T';
      } catch {
        return false;
      }
    };
    await waitUntil(`netsetup stopped at '${mark}' (${stderr})`, stopped);
    meanwhile();
    if (sigint) p.kill('SIGINT'); // (ChildProcess.kill: nothing is sent once its exit was seen and its pid may be another's)
    p.kill('SIGCONT');
    return { status: await ended, stdout, stderr };
  }

  /** The node's lo, renamed `name` (down: a link is renamed down), or back. */
  const loAs = (name: string) => {
    inNode('link', 'set', 'lo', 'down');
    inNode('link', 'set', 'lo', 'name', name);
  };
  const loBack = (name: string) => {
    if (!nodeLinks().includes(name) || nodeLinks().includes('lo')) return;
    inNode('link', 'set', name, 'name', 'lo');
    inNode('link', 'set', 'lo', 'up');
  };

  beforeAll(async () => {
    before = netSnapshot();
    mkdirSync(state, { recursive: true });
    for (const n of [node, ...c]) createHost(n);
    ok(await nsIn(node, state, ['bridge', br, '10.77.140.1/24']));
  });
  afterAll(async () => {
    for (const x of h) loBack(x);
    await nsIn(node, state, ['down', ...h.flatMap((x) => ['--host-ifname', x])]);
    for (const n of [...c, node]) destroyHost(n);
  });

  /** A veth named `name` in the node, made as another program would (not by netsetup); its ifindex. */
  const foreign = (name: string) => {
    inNode('link', 'add', name, 'type', 'veth', 'peer', 'name', shortName('nvip'));
    return inNode('-o', 'link', 'show', name).split(':')[0]!;
  };

  for (const sigint of [true, false]) {
    it(`a batch whose link add fails on a link another program made under its name meanwhile deletes only the links it made, and names none as kept${sigint ? ', interrupted: 130' : ': 1'} (it deleted the other's link too, or named it as kept)`, async () => {
      // stopped before its links are made; meanwhile the second line's host ifname is taken by a veth netsetup did not make:
      // that line's link add fails; the undo deletes the first line's veth, and leaves the other's as it is
      let index = '';
      const r = await interrupted(c.map((netns, i) => ({ netns, bridge: br, hostIfname: h[i] })), 'leased', () => (index = foreign(h[1]!)), sigint);
      try {
        expect(r.stdout).toBe('');
        if (sigint) expect([r.status, r.stderr]).toEqual([130, 'netsetup: veth interrupted (SIGINT): nothing was made\n']);
        else {
          expect(r.status, r.stderr).toBe(1);
          const lines = r.stderr.split('\n').filter(Boolean);
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(new RegExp(`^netsetup: ip link add ${h[1]} .*(File exists|EEXIST)`, 'i'));
        }
        // the other's link is there, the same link; ours is gone, and so are its records and leases
        expect(inNode('-o', 'link', 'show', h[1]!).split(':')[0]).toBe(index);
        expect(nodeLinks()).not.toContain(h[0]);
        expect(stored(state)).toEqual({ attachments: [], leases: [] });
      } finally {
        if (nodeLinks().includes(h[1]!)) inNode('link', 'del', h[1]!);
      }
    });
  }

  it('a batch made whole whose clean-up (down) cannot remove it names what it kept and why, and ends 130 (it ended 1 with down\'s line alone)', async () => {
    // stopped once its links are made: meanwhile its veth is renamed away and lo takes its name, so the clean-up's
    // link del is refused (EOPNOTSUPP)
    const away = shortName('nvix');
    const r = await interrupted([{ netns: c[0], bridge: br, hostIfname: h[0] }], 'made', () => {
      inNode('link', 'set', h[0]!, 'down');
      inNode('link', 'set', h[0]!, 'name', away);
      loAs(h[0]!);
    });
    try {
      expect(r.status, r.stderr).toBe(130);
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^netsetup: veth interrupted \\(SIGINT\\): the attachment it made could not be removed and was kept: ${h[0]} \\(down ${h[0]}: not removed: .*(not supported|EOPNOTSUPP).*\\)$`, 'i'));
      expect(lines[1]).toBe(`hint: netsetup down --host-ifname ${h[0]}`);
      // kept whole: its record (with its address) and lease, and the link of that name
      expect(stored(state)).toEqual({ attachments: [`${h[0]}.json`], leases: ['10.77.140.2'] });
      expect(JSON.parse(readFileSync(join(state, 'netsetup', 'attachments', `${h[0]}.json`), 'utf8')).ip).toBe('10.77.140.2/24');
    } finally {
      loBack(h[0]!);
      if (nodeLinks().includes(away)) inNode('link', 'set', away, 'name', h[0]!);
    }
    ok(await nsIn(node, state, ['down', '--host-ifname', h[0]!]));
    expect(nodeLinks()).not.toContain(h[0]);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('a batch made whole whose clean-up (down) fails names as kept only the links still there (it named one gone with its namespace too)', async () => {
    // stopped once both links are made: meanwhile the first line's namespace is deleted (its veth pair goes with it),
    // and the second line's veth is renamed away with lo taking its name, so the clean-up's link del is refused
    const away = shortName('nvix');
    const r = await interrupted(c.map((netns, i) => ({ netns, bridge: br, hostIfname: h[i] })), 'made', () => {
      destroyHost(c[0]!);
      // (the kernel destroys the namespace, and the pair, asynchronously)
      for (let i = 0; i < 250 && nodeLinks().includes(h[0]!); i++) sh('sleep', ['0.02']);
      inNode('link', 'set', h[1]!, 'down');
      inNode('link', 'set', h[1]!, 'name', away);
      loAs(h[1]!);
    });
    try {
      expect(r.status, r.stderr).toBe(130);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^netsetup: veth interrupted \\(SIGINT\\): the attachment it made could not be removed and was kept: ${h[1]} \\(down `));
      expect(lines[1]).toBe(`hint: netsetup down --host-ifname ${h[1]}`);
      expect(nodeLinks()).not.toContain(h[0]);
    } finally {
      loBack(h[1]!);
      if (nodeLinks().includes(away)) inNode('link', 'set', away, 'name', h[1]!);
      createHost(c[0]!);
    }
    ok(await nsIn(node, state, ['down', '--host-ifname', h[0]!, '--host-ifname', h[1]!]));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  for (const sigint of [true, false]) {
    it(`a batch that fails once its links are made (its state's file system full), whose undo cannot delete a link, keeps it with its record and lease and names it${sigint ? ', interrupted: 130' : ': 1'}`, async () => {
      // The record's completion is what fails: the state dir is a small tmpfs of its own, filled while netsetup is
      // stopped once its links are made (a full /run). Meanwhile its veth is renamed away and lo takes its name, so
      // the undo's link del is refused (EOPNOTSUPP): a veth netsetup made cannot be made undeletable for real
      const st = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', `netsetup-undo-kept-${sigint}`);
      const br2 = shortName('nvik');
      const away = shortName('nvix');
      const fill = join(st, 'fill');
      mkdirSync(st, { recursive: true });
      sh('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', st]);
      try {
        ok(await nsIn(node, st, ['bridge', br2, '10.77.141.1/24']));
        const r = await interrupted([{ netns: c[0], bridge: br2, hostIfname: h[0] }], 'made', () => {
          inNode('link', 'set', h[0]!, 'down');
          inNode('link', 'set', h[0]!, 'name', away);
          loAs(h[0]!);
          try {
            writeFileSync(fill, Buffer.alloc(1024 * 1024));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          }
        }, sigint, st);
        try {
          expect(r.stdout).toBe('');
          const lines = r.stderr.split('\n').filter(Boolean);
          expect(lines).toHaveLength(2);
          if (sigint) {
            expect(r.status, r.stderr).toBe(130);
            expect(lines[0]).toBe(`netsetup: veth interrupted (SIGINT): 1 link could not be deleted and was kept, with its record and lease: ${h[0]}`);
          } else {
            expect(r.status, r.stderr).toBe(1);
            // (and the file it could not write, named: Node's 'no space left on device, write' names none)
            expect(lines[0]).toBe(`netsetup: cannot write ${join(st, 'netsetup', 'attachments', `${h[0]}.json`)}: no space left on device (and ${h[0]} could not be deleted)`);
          }
          expect(lines[1]).toBe(`hint: netsetup down --host-ifname ${h[0]}`);
          // kept: the link of that name, its pending record (no address in it yet) and its lease
          expect(nodeLinks()).toContain(h[0]);
          // (and nothing else: the write that failed left its temp file, until a later down swept it)
          expect(stored(st)).toEqual({ attachments: [`${h[0]}.json`], leases: ['10.77.141.2'] });
          expect(JSON.parse(readFileSync(join(st, 'netsetup', 'attachments', `${h[0]}.json`), 'utf8')).ip).toBe('');
        } finally {
          rmSync(fill, { force: true });
          loBack(h[0]!);
          if (nodeLinks().includes(away)) inNode('link', 'set', away, 'name', h[0]!);
        }
        // the down the hint names removes all of it (the veth given its name back)
        ok(await nsIn(node, st, ['down', '--host-ifname', h[0]!]));
        expect(nodeLinks()).not.toContain(h[0]);
        expect(nodeLinks()).not.toContain(away);
        expect(stored(st)).toEqual({ attachments: [], leases: [] });
        ok(await nsIn(node, st, ['bridge', 'rm', br2]));
      } finally {
        // (whatever a failed expectation left: gone is fine)
        try {
          await nsIn(node, st, ['down', '--host-ifname', h[0]!]);
          await nsIn(node, st, ['bridge', 'rm', br2]);
        } finally {
          sh('umount', [st]);
        }
      }
    });
  }

  it('leaves nothing on the sandbox host', async () => {
    ok(await nsIn(node, state, ['bridge', 'rm', br]));
    const after = netSnapshot();
    expect(after.links).toEqual(before.links);
    expect(after.rules).toEqual(before.rules);
  });
});
