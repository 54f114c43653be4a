/** Bad input exits with a one-line error and creates nothing; rootless use as nobody. */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfs, skipReason, testName } from '../harness/index.js';
import { binPath, ns, tmp, until } from './helpers.js';

const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8');

describe.skipIf(skipReason)(`ns-clone bad input and rootless${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cases: [string, (dir: string) => string[], RegExp][] = [
    ['unknown namespace', (d) => ['--uts', `--persist`, `bogus=${d}/x`, '--', 'true'], /unknown namespace 'bogus'/],
    ['unknown flag', () => ['--bogusns', '--', 'true'], /^ns-clone: unknown option: --bogusns$/m],
    ['bad map range', () => ['--map-users', '0:100000', '--', 'true'], /invalid uid map range '0:100000'/],
    ['overlapping map ranges', () => ['--map-users', '0:100000:10', '--map-users', '5:200000:10', '--', 'true'], /overlapping uid map ranges/],
    ['--root to a dir lacking a shell, no CMD', (d) => { mkdirSync(join(d, 'empty')); return ['--root', join(d, 'empty')]; }, /no shell \(\/bin\/sh\) in it/],
    ['nonexistent --netns', () => ['--netns', 'boxkit-no-such-netns', '--', 'true'], /net namespace \/var\/run\/netns\/boxkit-no-such-netns: no such file/],
    ['non-directory --root', (d) => { writeFileSync(join(d, 'file'), ''); return ['--root', join(d, 'file'), '--', '/bin/sh']; }, /not a directory/],
    // the mounts would land where the link points (outside the root): the container had no /dev
    ['--root whose /dev is a symlink', (d) => { mkdirSync(join(d, 'rootlink')); symlinkSync('/tmp', join(d, 'rootlink', 'dev')); return ['--root', join(d, 'rootlink'), '--', '/bin/true']; },
      /^ns-clone: root \S+rootlink: \/dev is a symlink \(to \/tmp\): the container would get no \/dev$/m],
    ['--netns that is not a namespace', (d) => { writeFileSync(join(d, 'plain'), ''); return ['--netns', join(d, 'plain'), '--', 'true']; }, /not a namespace file/],
    // these failed inside the child: 'setup step 2 failed: setresuid: invalid argument (EINVAL)'
    ['--uid outside the uid map', () => ['--user', '--map-root-user', '--uid', '5', '--', 'true'], /^ns-clone: --uid 5 is not mapped in the new user namespace \(uid map: 0 \d+ 1\)$/m],
    ['--gid with --user and no gid map', () => ['--user', '--gid', '5', '--', 'true'], /^ns-clone: --gid 5 is not mapped in the new user namespace \(no gid map\)$/m],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one-line error, exit 125, nothing made`, async () => {
      const dir = tmp('bad');
      const before = mounts();
      const r = await ns(args(dir));
      expect(r.exitCode).toBe(125);
      const lines = r.stderr.split('\n');
      expect(lines[0]).toMatch(/^ns-clone: /);
      expect(lines[0]).toMatch(message);
      expect(lines.slice(1).every((l) => l.startsWith('hint: ') || l === '' || /^(Usage|see|\s)/.test(l) === false)).toBe(true);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toBe('');
      expect(mounts()).toBe(before);
      expect(readdirSync(dir).filter((f) => f !== 'empty' && f !== 'file' && f !== 'plain' && f !== 'rootlink')).toEqual([]);
    });
  }

  it("an empty value ('') or one path for two namespaces is refused naming its flag, exit 125, nothing made: --root '' pivoted into the current directory (making dev/ there), --net= ran CMD in our own netns, --setup-fifo '' held a child at a default fifo", async () => {
    const cases: [string[], string | ((dir: string) => string)][] = [
      [['--root', '', '--', 'true'], 'ns-clone: --root is empty'],
      [['-R', '', '--', 'true'], 'ns-clone: --root is empty'],
      [['--wd', '', '--', 'true'], 'ns-clone: --wd is empty'],
      [['--net=', '--', 'readlink', '/proc/self/ns/net'], 'ns-clone: --net=PATH (--persist net=): the path is empty'],
      [['--persist', 'uts=', '--', 'true'], 'ns-clone: --uts=PATH (--persist uts=): the path is empty'],
      [['-d', '--wait-for-setup', '--setup-fifo', '', '--', 'true'], 'ns-clone: --setup-fifo is empty'],
      // one path for two namespaces: refused before anything (the second bind was refused after the first was made)
      [['--net=same', '--uts=same', '--', 'true'], (d) => `ns-clone: --uts=${join(d, 'same')}: the path is given twice (also for --net)`],
    ];
    for (const [args, line] of cases) {
      const dir = tmp('empty');
      const before = mounts();
      const r = await ns(args, { cwd: dir, env: { BOXKIT_STATE_DIR: join(dir, 'state') } });
      expect(r.exitCode, args.join(' ')).toBe(125);
      expect(r.stderr.split('\n')[0], args.join(' ')).toBe(typeof line === 'string' ? line : line(dir));
      expect(r.stderr.split('\n').slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
      expect(r.stdout).toBe('');
      expect(mounts()).toBe(before);
      expect(readdirSync(dir), args.join(' ')).toEqual([]);
    }
  });

  it("enter without a PID (nsenter's --net=FILE habit) says so in one line, hinting --netns PATH (exit 125); it said 'Not enough non-option arguments'", async () => {
    for (const args of [['enter'], ['enter', '--net=/run/netns/x', '--', 'true'], ['enter', '--', 'true']]) {
      const r = await ns(args);
      expect(r.exitCode, args.join(' ')).toBe(125);
      expect(r.stderr.split('\n')).toEqual([
        'ns-clone: enter: no PID given (the process whose namespaces to join)',
        'hint: ns-clone enter PID [--net ...] -- CMD; to run in a namespace bound to a file (ip netns, --net=PATH): ns-clone --netns PATH -- CMD',
      ]);
      expect(r.stdout).toBe('');
    }
    // a PID still goes as before (here as nsenter would print it)
    const d = await ns(['enter', '1', '--dry-run', '--net', '--', 'true']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.stdout).toBe('nsenter --target 1 --net -- true');
  });

  it('rootless: as nobody, --user --map-root-user --pid --mount -- id -u prints 0', async () => {
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/nonexistent', BOXKIT_TEST_RUN_ID: process.env.BOXKIT_TEST_RUN_ID! };
    const run = (args: string[]) => execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', binPath('ns-clone'), ...args], { reject: false, env, cwd: '/' });
    const who = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'id', '-u'], { env });
    expect(who.stdout).toBe('65534');
    const r = await run(['--user', '--map-root-user', '--pid', '--mount', '--', 'id', '-u']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('0');
    const more = await run(['--map-root-user', '--pid', '--mount', '--uts', '--hostname', 'rootless', '--net', '--', 'sh', '-c', 'hostname; echo $$; cat /proc/self/uid_map; ip -o link | wc -l']);
    expect(more.exitCode, more.stderr).toBe(0);
    const [host, pid, map, nlinks] = more.stdout.split('\n');
    expect([host, pid, nlinks]).toEqual(['rootless', '1', '1']);
    expect(map!.trim().split(/\s+/)).toEqual(['0', '65534', '1']);
    // a rootfs with pivot_root, /proc and /dev, read-only, all without privileges
    const rootfs = busyboxRootfs(join(mkdtempSync(join(tmpdir(), `${testName('rootless')}-`)), 'rootfs'));
    try {
      chmodSync(join(rootfs, '..'), 0o755);
      const boxed = await run(['-r', '--root', rootfs, '--readonly-root', '--pid', '--net', '--hostname', 'rl', '--', '/bin/sh', '-c',
        'id -u; hostname; echo $$; test -c /dev/null && echo dev-ok; touch /x 2>/dev/null || echo ro-ok']);
      expect(boxed.exitCode, boxed.stderr).toBe(0);
      expect(boxed.stdout.split('\n')).toEqual(['0', 'rl', '1', 'dev-ok', 'ro-ok']);
    } finally {
      rmSync(join(rootfs, '..'), { recursive: true, force: true });
    }
    // without a user namespace the kernel refuses, and says so in one line
    const refused = await run(['--uts', '--', 'true']);
    expect(refused.exitCode).toBe(125);
    expect(refused.stderr.split('\n')[0]).toMatch(/^ns-clone: clone: .*EPERM/);
    expect(existsSync('/proc/self')).toBe(true);
  });

  it('a stage program that cannot run is named in one line (exit 125); a --user child does not need it', async () => {
    const dir = tmp('nostage');
    writeFileSync(join(dir, 'libboxkit.so'), readFileSync(join(binPath('ns-clone'), '..', '..', '..', '..', 'native', 'dist', 'libboxkit.so')));
    const env = { BOXKIT_NATIVE_LIB: join(dir, 'libboxkit.so') };
    const missing = await ns(['--uts', '--', 'true'], { env });
    expect(missing.exitCode).toBe(125);
    expect(missing.stderr.trim()).toBe(`ns-clone: execve ${dir}/bk-stage: cannot run the stage program (missing: run the build, npm run build): no such file or directory (ENOENT)`);
    writeFileSync(join(dir, 'bk-stage'), '#!/bin/sh\n', { mode: 0o644 });
    const notExecutable = await ns(['--uts', '--', 'true'], { env });
    expect(notExecutable.exitCode).toBe(125);
    expect(notExecutable.stderr.trim()).toBe(`ns-clone: execve ${dir}/bk-stage: cannot run the stage program: permission denied (EACCES)`);
    const forked = await ns(['--user', '--map-root-user', '--', 'id', '-u'], { env });
    expect(forked.stdout.trim(), forked.stderr).toBe('0');
  });

  it('--wait-for-setup: a run that fails leaves none of the directories it made for the fifo or its record (mkdir -p)', async () => {
    const dir = tmp('fifo-dirs');
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    // the fifo refused (a name longer than 255 bytes) after its parents were made
    const long = await ns(['--wait-for-setup', '--setup-fifo', join(dir, 'a', 'b', 'x'.repeat(300)), '--uts', '--', 'true'], { env });
    expect(long.exitCode).toBe(125);
    expect(long.stderr).toMatch(/^ns-clone: mkfifo .*ENAMETOOLONG/);
    expect(readdirSync(dir)).toEqual([]);
    // the start refused after the fifo was made (/proc is a mount point already), in the default place too
    for (const fifo of [['--setup-fifo', join(dir, 'c', 'd', 'f')], []]) {
      const start = await ns(['--wait-for-setup', ...fifo, '--uts', '--persist', 'uts=/proc', '--', 'true'], { env });
      expect(start.exitCode).toBe(125);
      expect(start.stderr).toMatch(/^ns-clone: persist uts namespace at \/proc: /);
      expect(readdirSync(dir)).toEqual([]);
    }
    // the command not found once released: the record's directory (state) goes as well
    const bgEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete bgEnv.NODE_EXTRA_CA_CERTS;
    const proc = execa(binPath('ns-clone'), ['--wait-for-setup', '--setup-fifo', join(dir, 'e', 'f'), '--uts', '--', 'no-such-command-boxkit'], { reject: false, env: bgEnv });
    const records = join(dir, 'state', 'ns-clone');
    // (a write before the fifo exists would make a plain file, and the held child would wait forever)
    await until(() => existsSync(records) && readdirSync(records).length > 0, 30_000, 'the held start to record itself');
    writeFileSync(join(dir, 'e', 'f'), '\n'); // a fifo: opening it for writing releases the child
    const r = await proc;
    expect(r.exitCode).toBe(127);
    expect(readdirSync(dir)).toEqual([]);
  });
});
