import { describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { binPath, bk, isPinned, running, signalGroupOf, signalPinned, skipReason, unreaped, waitUntil, type Pinned } from '../harness/index.js';
import { BASE, name, pid1Of, run } from './helpers.js';
import { buildBusyboxRootfs } from '../../packages/run/src/rootfs/default.js';

function walk(dir: string, root = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const st = lstatSync(p);
    if (st.isDirectory()) walk(p, root, out);
    else out.push(relative(root, p));
  }
  return out;
}

/** Every entry under `dir` with its type and mode, and a link's target: what two builds must agree on. */
function tree(dir: string): string[] {
  const entries: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      const st = lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isDirectory() ? 'dir' : `file ${st.size}`;
      entries.push(`${relative(dir, p)} ${(st.mode & 0o7777).toString(8)} ${what}`);
      if (st.isDirectory()) visit(p);
    }
  };
  visit(dir);
  return entries;
}

/** Run with a data and state dir of its own (no other test's rebuild or containers touch its default rootfs), and the replaced default trees there. */
function ownStore(prefix: string) {
  const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, prefix));
  const env = { ...process.env, BOXKIT_DATA_DIR: join(own, 'data'), BOXKIT_STATE_DIR: join(own, 'state') };
  const trees = join(own, 'data', 'rootfs');
  return {
    own,
    env,
    r: (args: string[]) => bk('run', args, { env }),
    trees,
    replaced: () => readdirSync(trees).filter((e) => e.startsWith('default.replaced-')),
  };
}

/** Run a dry run's lines in sh, as a user pasting them would. */
function paste(lines: string): void {
  execFileSync('sh', ['-ec', lines], { stdio: ['ignore', 'ignore', 'inherit'] });
}

describe.skipIf(skipReason)(`run: root filesystems${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("rootfs into a host system directory (/srv, /etc) is refused before anything is written, as / was", async () => {
    // a tmpfs over /srv in the sandbox's own mount namespace: a build that went through writes there, not on the host
    // (before: root's 0755 /etc passed, and the build made /etc/etc, /etc/root, a 1777 /etc/tmp and /etc/bin -> usr/bin)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'bk-test-srv', '/srv']);
    try {
      writeFileSync('/srv/marker', 'x');
      const r = await run(['rootfs', '/srv', '--from-host', '/bin/true'], 2);
      expect(r.err).toMatch(/^run: rootfs: refusing to write into the host's \/srv\nhint: /);
      expect(readdirSync('/srv')).toEqual(['marker']);
      // the same through a symlink, and for /etc (dry runs only: the check comes first in both)
      const link = join(process.env.BOXKIT_TEST_ROOT!, 'srv-link');
      symlinkSync('/srv', link);
      expect((await run(['rootfs', link, '--from-host', '/bin/true'], 2)).err).toMatch(/refusing to write into the host's \/srv/);
      expect(readdirSync('/srv')).toEqual(['marker']);
      expect((await run(['rootfs', '/etc', '--from-host', '/bin/true', '--dry-run'], 2)).err).toMatch(/refusing to write into the host's \/etc/);
      // below /usr, /etc... too (only their top-level names were refused), and /var/lib itself; a new dir under /srv is fine
      for (const [dir, named] of [['/usr/local', '/usr/local (under /usr)'], ['/etc/ssh', '/etc/ssh (under /etc)'], ['/usr/lib', '/usr/lib (under /usr)'], ['/var/lib', '/var/lib']] as const) {
        expect((await run(['rootfs', dir, '--from-host', '/bin/true', '--dry-run'], 2)).err.split('\n')[0]).toBe(`run: rootfs: refusing to write into the host's ${named}`);
      }
      expect((await run(['rootfs', '/srv/own-rootfs', '--from-host', '/bin/true', '--dry-run'])).out).toMatch(/^mkdir -p \/srv\/own-rootfs/m);
      // a new DIR below a symlink to /etc is in /etc (the path did not resolve, and was checked as given)
      const etcLink = join(process.env.BOXKIT_TEST_ROOT!, 'etc-link');
      symlinkSync('/etc', etcLink);
      expect((await run(['rootfs', join(etcLink, 'newdir'), '--from-host', '/bin/true', '--dry-run'], 2)).err.split('\n')[0]).toBe("run: rootfs: refusing to write into the host's /etc/newdir (under /etc)");
    } finally {
      execFileSync('umount', ['/srv']);
    }
  });

  it('rootfs --dry-run prints what the build does: pasted, its lines make the same tree (--from-host and --default)', async () => {
    const root = join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-dry');
    const [pasted, built] = [join(root, 'pasted'), join(root, 'built')];
    paste((await run(['rootfs', pasted, '--from-host', '/bin/bash', '--dry-run'])).out);
    await run(['rootfs', built, '--from-host', '/bin/bash']);
    expect(tree(pasted)).toEqual(tree(built));
    expect(tree(built)).toEqual(expect.arrayContaining(['tmp 1777 dir', 'root 700 dir']));
    // the default one, under two data dirs
    const def = (data: string) => join(data, 'rootfs', 'default');
    const [dataA, dataB] = [join(root, 'data-a'), join(root, 'data-b')];
    const dry = await bk('run', ['rootfs', '--default', '--dry-run'], { env: { BOXKIT_DATA_DIR: dataA } });
    expect(dry.exitCode, String(dry.stderr)).toBe(0);
    expect(existsSync(dataA)).toBe(false);
    paste(String(dry.stdout));
    const real = await bk('run', ['rootfs', '--default'], { env: { BOXKIT_DATA_DIR: dataB } });
    expect(real.exitCode, String(real.stderr)).toBe(0);
    expect(tree(def(dataA))).toEqual(tree(def(dataB)));
    expect(tree(def(dataB))).toEqual(expect.arrayContaining(['etc/passwd 644 file 82', 'bin/sh 777 -> /bin/busybox']));
  });

  it('rootfs --default rebuilt while a container runs on it: the container keeps its root (its / was emptied), and the tree it replaced goes once no union uses it (gc, or the next build), with what a killed build left', async () => {
    const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-rebuild-'));
    // a data dir of its own: another test's rebuild or containers do not touch this one's default rootfs
    const env = { BOXKIT_DATA_DIR: join(own, 'data'), BOXKIT_STATE_DIR: join(own, 'state') };
    const r = (args: string[]) => bk('run', args, { env: { ...process.env, ...env } });
    const c = name('rebuilt');
    const started = await r(['-d', '--name', c, ...BASE, '--', 'sleep', '600']);
    expect(started.exitCode, String(started.stderr)).toBe(0);
    try {
      const before = await r(['exec', c, 'ls', '/bin']);
      expect(String(before.stdout)).toMatch(/^busybox$/m);
      const rebuilt = await r(['rootfs', '--default', '--json']);
      expect(rebuilt.exitCode, String(rebuilt.stderr)).toBe(0);
      expect(JSON.parse(String(rebuilt.stdout)).built).toBe(true);
      const after = await r(['exec', c, 'ls', '/bin']);
      expect(String(after.stdout)).toBe(String(before.stdout));
      expect(readdirSync(join(env.BOXKIT_DATA_DIR, 'rootfs')).filter((e) => e.startsWith('default.replaced-'))).toHaveLength(1);
    } finally {
      await r(['rm', '-f', c]);
    }
    // nothing mounts it now: the removal of its last container took it (see below); gc removes one
    // left all the same (as by a teardown killed before it), and what a build killed half-way left
    const trees = join(env.BOXKIT_DATA_DIR, 'rootfs');
    expect(readdirSync(trees).filter((e) => e.startsWith('default.replaced-'))).toEqual([]);
    const kept = 'default.replaced-4242-1';
    mkdirSync(join(trees, kept, 'bin'), { recursive: true });
    mkdirSync(join(trees, 'default.4242.tmp', 'bin'), { recursive: true });
    const gc = await r(['gc', '--json']);
    expect(gc.exitCode, String(gc.stderr)).toBe(0);
    // (under a key of their own, as the human lines name them: `layers` is for image layers)
    const doc = JSON.parse(String(gc.stdout));
    expect((doc.rootfs as string[]).sort()).toEqual([join(trees, 'default.4242.tmp'), join(trees, kept!)]);
    expect(doc.layers).toEqual([]);
    expect(readdirSync(trees).filter((e) => e !== '.lock')).toEqual(['default']);
    // and so does the next build
    mkdirSync(join(trees, 'default.4243.tmp'));
    expect((await r(['rootfs', '--default'])).exitCode).toBe(0);
    expect(readdirSync(trees).filter((e) => e !== '.lock')).toEqual(['default']);
  });

  it('the tree rootfs --default replaced goes with the teardown of its last container (rm -f, a -d --rm one ending), no gc or build needed; kept while another runs on it', async () => {
    const { own, r, trees, replaced } = ownStore('rootfs-lastuser-');
    const [a, b] = [name('last-a'), name('last-b')];
    for (const c of [a, b]) expect((await r(['-d', '--name', c, ...BASE, '--', 'sleep', '600'])).exitCode).toBe(0);
    try {
      expect((await r(['rootfs', '--default'])).exitCode).toBe(0);
      expect(replaced()).toHaveLength(1);
      // b still runs on it (its / is the replaced tree): kept
      expect((await r(['rm', '-f', a])).exitCode).toBe(0);
      expect(replaced()).toHaveLength(1);
      expect(String((await r(['exec', b, 'ls', '/bin/busybox'])).stdout).trim()).toBe('/bin/busybox');
      // its last user gone: removed with it (it stayed until run gc or the next build)
      expect((await r(['rm', '-f', b])).exitCode).toBe(0);
      expect(readdirSync(trees).filter((e) => e !== '.lock')).toEqual(['default']);
      // a -d --rm container ending on its own: its keeper's teardown takes it
      const c = name('last-rm');
      expect((await r(['-d', '--rm', '--name', c, ...BASE, '--', 'sleep', '1'])).exitCode).toBe(0);
      expect((await r(['rootfs', '--default'])).exitCode).toBe(0);
      expect(replaced()).toHaveLength(1);
      await waitUntil(`${c}'s removal to take the replaced tree`, () => !existsSync(join(own, 'state', 'run', 'containers', `${c}.json`)) && replaced().length === 0, 30_000);
    } finally {
      await r(['rm', '-f', a, b]);
    }
  });

  it('gc that removes the last container of a replaced default rootfs tree (its --rm run killed) reports that tree under rootfs, and --dry-run lists it', async () => {
    const { own, env, r, trees, replaced } = ownStore('rootfs-gc-last-');
    const c = name('gc-last');
    const recPath = join(own, 'state', 'run', 'containers', `${c}.json`);
    const p = spawn(process.execPath, [binPath('run'), '--rm', '--name', c, ...BASE, '--', 'sleep', '600'], { env, stdio: 'ignore' });
    const ended = new Promise((res) => p.once('exit', res));
    let pid1: Pinned | undefined;
    try {
      await waitUntil(`${c} to run`, () => existsSync(recPath) && JSON.parse(readFileSync(recPath, 'utf8')).status === 'running');
      pid1 = pid1Of(JSON.parse(readFileSync(recPath, 'utf8')));
      expect((await r(['rootfs', '--default'])).exitCode).toBe(0);
      expect(replaced()).toHaveLength(1);
      const tree = join(trees, replaced()[0]!);
      // its run killed (that process only): the container ends with it (pdeathsig), its record and union stay for gc
      p.kill('SIGKILL');
      await ended;
      await waitUntil(`${c}'s PID 1 to end`, () => !isPinned(pid1!) || !running(pid1!.pid));
      const dry = await r(['gc', '--dry-run', '--json']);
      expect(dry.exitCode, String(dry.stderr)).toBe(0);
      const doc = JSON.parse(String(dry.stdout));
      expect(doc).toMatchObject({ removed: [c], rootfs: [tree] });
      expect(doc.commands).toContain(`rm -rf ${tree}`);
      expect(replaced()).toHaveLength(1);
      // (before: gc's teardown of the container removed it, and gc said rootfs: [] and no line)
      const gc = await r(['gc', '--json']);
      expect(gc.exitCode, String(gc.stderr)).toBe(0);
      expect(JSON.parse(String(gc.stdout))).toMatchObject({ removed: [c], rootfs: [tree] });
      expect(readdirSync(trees).filter((e) => e !== '.lock')).toEqual(['default']);
    } finally {
      if (unreaped(p)) p.kill('SIGKILL');
      if (pid1) signalPinned(pid1);
      await r(['rm', '-f', c]);
    }
  });

  it("buildBusyboxRootfs(DIR) called on its own (a library call) outside the data dir takes no lock beside DIR (another user's DIR/../.lock in a shared sticky dir, held, hung it) and sweeps only the DIR.PID.tmp trees whose builder is gone", async () => {
    const top = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'bb-nolock-'));
    chmodSync(top, 0o1777);
    const dir = join(top, 'r');
    // someone else holds top/.lock (as another user could in /tmp), for longer than a build takes
    const holder = spawn('flock', [join(top, '.lock'), 'sh', '-c', 'echo held; sleep 20'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    // another build of DIR under way (its tree as DIR.PID.tmp, its builder alive), and one a killed build left
    const other = spawn('sh', ['-c', 'mkdir -p "$0.$$.tmp/bin" && echo made && read -r _; test -d "$0.$$.tmp/bin" && echo intact', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const dead = spawnSync('true').pid!;
    mkdirSync(`${dir}.${dead}.tmp/bin`, { recursive: true });
    try {
      const said = (p: typeof holder, what: string) => new Promise<void>((res) => {
        let out = '';
        p.stdout!.on('data', (b: Buffer) => {
          out += String(b);
          if (out.includes(what)) res();
        });
      });
      let otherOut = '';
      other.stdout!.on('data', (b: Buffer) => (otherOut += String(b)));
      const otherEnded = new Promise<number | null>((res) => other.on('close', res));
      await Promise.all([said(holder, 'held'), waitUntil('the other build to make its tree', () => otherOut.includes('made'))]);
      const t0 = Date.now();
      buildBusyboxRootfs(dir);
      // (before: it waited for the holder, 20 s)
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(existsSync(join(dir, 'bin', 'busybox'))).toBe(true);
      other.stdin!.end();
      expect(await otherEnded).toBe(0);
      expect(otherOut).toBe('made\nintact\n');
      const otherTree = `${basename(dir)}.${other.pid}.tmp`;
      expect(readdirSync(top).sort()).toEqual(['.lock', 'r', otherTree].sort());
      // its builder gone now: the next build sweeps it as a killed build's
      buildBusyboxRootfs(dir);
      expect(readdirSync(top).sort()).toEqual(['.lock', 'r']);
      // and makes no .lock of its own beside DIR
      const top2 = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'bb-nolock-'));
      buildBusyboxRootfs(join(top2, 'r'));
      expect(readdirSync(top2)).toEqual(['r']);
    } finally {
      signalGroupOf(holder);
      if (unreaped(other)) other.kill('SIGKILL');
    }
  });

  it("rootfs --default keeps the tree it replaced while a container's union it cannot parse or see uses it: a data dir with ':' in its path, a container started in another mount namespace (their / was emptied)", async () => {
    for (const [what, data, wrap] of [
      ['colon', 'da:ta', []],
      ['other mount namespace', 'data', ['unshare', '--mount', '--propagation', 'private', '--']],
    ] as const) {
      const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-unseen-'));
      const env = { ...process.env, BOXKIT_DATA_DIR: join(own, data), BOXKIT_STATE_DIR: join(own, 'state') };
      const r = (args: string[]) => bk('run', args, { env });
      const c = name('unseen');
      // the union is mounted where `run -d` runs: there only, for the second
      execFileSync(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), binPath('run'), '-d', '--name', c, ...BASE, '--', 'sleep', '600'], { env, stdio: 'ignore' });
      try {
        const before = await r(['exec', c, 'ls', '/bin']);
        expect(String(before.stdout), what).toMatch(/^busybox$/m);
        const rebuilt = await r(['rootfs', '--default']);
        expect(rebuilt.exitCode, String(rebuilt.stderr)).toBe(0);
        const after = await r(['exec', c, 'ls', '/bin']);
        expect(String(after.stdout), what).toBe(String(before.stdout));
      } finally {
        await r(['rm', '-f', c]);
      }
      // no container now: the next build removes it
      expect((await r(['rootfs', '--default'])).exitCode).toBe(0);
      expect(readdirSync(join(own, data, 'rootfs')).filter((e) => e !== '.lock'), what).toEqual(['default']);
    }
  });

  it("a damaged record keeps the tree rootfs --default replaced: a default --rm run's end swept it from under that container (its union in another mount namespace, out of sight)", async () => {
    const { own, env, r, trees, replaced } = ownStore('rootfs-damaged-');
    const c = name('dmg-user');
    const recPath = join(own, 'state', 'run', 'containers', `${c}.json`);
    execFileSync('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, binPath('run'), '-d', '--name', c, ...BASE, '--', 'sleep', '600'], { env, stdio: 'ignore' });
    const text = readFileSync(recPath, 'utf8');
    const pid1 = pid1Of(JSON.parse(text));
    try {
      expect((await r(['rootfs', '--default'])).exitCode).toBe(0);
      expect(replaced()).toHaveLength(1);
      writeFileSync(recPath, 'junk\n');
      const rm = await r(['--rm', ...BASE, '--', 'true']);
      expect(rm.exitCode, String(rm.stderr)).toBe(0);
      // (before: removed at that end, and the container's / was empty)
      expect(replaced()).toHaveLength(1);
      expect(isPinned(pid1)).toBe(true);
      expect(existsSync(`/proc/${pid1.pid}/root/bin/busybox`)).toBe(true);
    } finally {
      writeFileSync(recPath, text);
      expect((await r(['rm', '-f', c])).exitCode).toBe(0);
      signalPinned(pid1);
    }
    // its record whole again and the container gone: the tree went with it
    expect(readdirSync(trees).filter((e) => e !== '.lock')).toEqual(['default']);
  });

  it('rootfs --from-host removes what a copy killed half-way left (DEST.PID.tmp, its PID gone) and keeps a live copy\'s', async () => {
    const dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'killed-copy-'));
    await run(['rootfs', dir, '--from-host', '/bin/true']);
    const dest = join(dir, realpathSync('/bin/true'));
    expect(existsSync(dest)).toBe(true);
    const gone = spawnSync('true').pid!; // ended and reaped
    writeFileSync(`${dest}.${gone}.tmp`, 'half');
    writeFileSync(`${dest}.${process.pid}.tmp`, 'under way');
    await run(['rootfs', dir, '--from-host', '/bin/true']);
    expect(readdirSync(dirname(dest)).filter((e) => e.startsWith(`${basename(dest)}.`)).sort()).toEqual([`${basename(dest)}.${process.pid}.tmp`]);
  });

  it('rootfs --from-host /bin/bash holds bash, its libraries and the loader, and nothing else of the host', async () => {
    const dir = join(process.env.BOXKIT_TEST_ROOT!, 'bash-rootfs');
    await run(['rootfs', dir, '--from-host', '/bin/bash']);
    const files = walk(dir).sort();
    // the skeleton, plus what ldd lists for bash (bookworm: libtinfo, libc, ld-linux) reached through /bin, /lib, /lib64
    const host = files.filter((f) => !f.startsWith('etc/'));
    expect(files).toEqual(expect.arrayContaining(['etc/passwd', 'etc/group']));
    expect(host.some((f) => /(^|\/)bash$/.test(f))).toBe(true);
    expect(host.some((f) => /libc\.so\.6$/.test(f))).toBe(true);
    expect(host.some((f) => /libtinfo\.so/.test(f))).toBe(true);
    expect(host.some((f) => /ld-linux-x86-64\.so\.2$/.test(f))).toBe(true);
    for (const f of host) expect(f).toMatch(/(^|\/)(bash|libc\.so\.6|libtinfo\.so\.6[.\d]*|ld-linux-x86-64\.so\.2|bin|lib|lib64)$/);
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['dev', 'proc', 'sys', 'tmp']));

    const r = await run(['--rm', ...BASE, '--rootfs', dir, '--', '/bin/bash', '-c', 'echo ok']);
    expect(r.out.trim()).toBe('ok');
  });

  it('rootfs into an existing non-empty DIR that holds no root filesystem (a system dir such as /var/lib/dpkg) is refused before anything is written; a new, empty or built one is taken, and re-run adds to it', async () => {
    // (a stand-in under the test's own directory: before, such a DIR got etc/, bin -> usr/bin, root/ and a 1777 tmp/)
    const top = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-foreign-'));
    const foreign = join(top, 'dpkg');
    mkdirSync(join(foreign, 'info'), { recursive: true, mode: 0o755 });
    writeFileSync(join(foreign, 'status'), 'Package: x\n');
    for (const extra of [[], ['--dry-run']]) {
      const r = await run(['rootfs', foreign, '--from-host', '/bin/true', ...extra], 2);
      expect(r.err.split('\n')[0]).toBe(`run: rootfs: ${foreign} is not empty and holds no root filesystem (no etc, proc, sys, dev)`);
      expect(r.err).toMatch(/\nhint: build into a new or empty directory/);
    }
    expect(readdirSync(foreign).sort()).toEqual(['info', 'status']);
    expect((await run(['rootfs', join(foreign, 'status'), '--from-host', '/bin/true'], 2)).err.split('\n')[0]).toBe(`run: rootfs: ${join(foreign, 'status')} is not a directory`);
    // an empty DIR is built in, and a built one takes more programs
    const empty = join(top, 'empty');
    mkdirSync(empty);
    await run(['rootfs', empty, '--from-host', '/bin/true']);
    await run(['rootfs', empty, '--from-host', '/bin/bash']);
    const both = await run(['--rm', ...BASE, '--rootfs', empty, '--', '/bin/bash', '-c', '/bin/true && echo ok']);
    expect(both.out.trim()).toBe('ok');
    // a fresh file system's mount point (mkfs left lost+found alone in it) is empty too: it was refused
    const fresh = join(top, 'fresh');
    mkdirSync(join(fresh, 'lost+found'), { recursive: true, mode: 0o700 });
    await run(['rootfs', fresh, '--from-host', '/bin/true']);
    expect(readdirSync(fresh)).toEqual(expect.arrayContaining(['etc', 'proc', 'sys', 'dev', 'lost+found']));
  });

  it('a rootfs without /proc, /dev, /sys (one static binary, as docker\'s FROM scratch) runs: the mount points are made in the container\'s layer, the rootfs is unchanged', async () => {
    const dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'scratch-'));
    execFileSync('cp', ['/bin/busybox', join(dir, 'busybox')]);
    // (before: 125, "container setup (mount .../rootfs/proc): no such file or directory")
    const r = await run(['--rm', ...BASE, '--rootfs', dir, '--', '/busybox', 'sh', '-c', '/busybox ls /; /busybox cat /proc/1/comm']);
    expect(r.out.split('\n')).toEqual(['busybox', 'dev', 'proc', 'sys', 'busybox']);
    expect(readdirSync(dir)).toEqual(['busybox']);
  });

  it('rootfs --from-host adds programs to a FROM-scratch rootfs (bin/busybox alone, no etc/) a container has run from, --rm included; one no container ran from, or made again at its path, is still refused', async () => {
    const top = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'scratch-add-'));
    const dir = join(top, 'scratch');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    execFileSync('cp', ['/bin/busybox', join(dir, 'bin', 'busybox')]);
    const said = `run: rootfs: ${dir} is not empty and holds no root filesystem (no etc, proc, sys, dev)`;
    expect((await run(['rootfs', dir, '--from-host', '/bin/bash'], 2)).err.split('\n')[0]).toBe(said);
    expect(readdirSync(dir)).toEqual(['bin']);
    // a container runs from it: from then on it is a root filesystem to add to (it was refused all the same)
    expect((await run(['--rm', ...BASE, '--rootfs', dir, '--', '/bin/busybox', 'true'])).code).toBe(0);
    expect(readdirSync(dir)).toEqual(['bin']);
    await run(['rootfs', dir, '--from-host', '/bin/bash']);
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['bin', 'dev', 'etc', 'proc', 'sys']));
    // (at its real place: its bin/ is a directory here, not the host's link to usr/bin)
    const r = await run(['--rm', ...BASE, '--rootfs', dir, '--', realpathSync('/bin/bash'), '-c', 'echo ok; /bin/busybox cat /etc/passwd | /bin/busybox head -1']);
    expect(r.out.trim()).toBe('ok\nroot:x:0:0:root:/root:/bin/sh');
    // a dir made again at that path is another one: refused until a container runs from it
    const again = join(top, 'again');
    mkdirSync(join(again, 'bin'), { recursive: true });
    execFileSync('cp', ['/bin/busybox', join(again, 'bin', 'busybox')]);
    expect((await run(['--rm', ...BASE, '--rootfs', again, '--', '/bin/busybox', 'true'])).code).toBe(0);
    execFileSync('rm', ['-rf', again]);
    mkdirSync(join(again, 'info'), { recursive: true });
    writeFileSync(join(again, 'status'), 'Package: x\n');
    expect((await run(['rootfs', again, '--from-host', '/bin/true'], 2)).err.split('\n')[0]).toBe(`run: rootfs: ${again} is not empty and holds no root filesystem (no etc, proc, sys, dev)`);
    expect(readdirSync(again).sort()).toEqual(['info', 'status']);
  });

  it('a start that fails (its command not found in a dir that holds no root filesystem, a project dir named by mistake) does not make that dir one rootfs --from-host adds to', async () => {
    const project = join(mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'ran-failed-')), 'project');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'README'), 'x\n');
    const nf = await run(['--rm', ...BASE, '--rootfs', project, '--', '/bin/true'], 127);
    expect(nf.err).toMatch(/^run: \/bin\/true: /);
    // (before: noted at the mount, so this wrote etc/, a 1777 tmp/, usr/... into the project)
    const r = await run(['rootfs', project, '--from-host', '/bin/true'], 2);
    expect(r.err.split('\n')[0]).toBe(`run: rootfs: ${project} is not empty and holds no root filesystem (no etc, proc, sys, dev)`);
    expect(readdirSync(project).sort()).toEqual(['README', 'src']);
  });

  it('gc drops the ran-from note of a FROM-scratch dir that is gone, made again at its path, or moved away (--dry-run lists them), and keeps the note of one still there', async () => {
    const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'ran-from-gc-'));
    const env = { ...process.env, BOXKIT_DATA_DIR: join(own, 'data'), BOXKIT_STATE_DIR: join(own, 'state') };
    const r = async (args: string[]) => {
      const p = await bk('run', args, { env });
      expect(p.exitCode, `run ${args.join(' ')}: ${String(p.stderr)}`).toBe(0);
      return String(p.stdout);
    };
    const [kept, gone, again, moved] = ['kept', 'gone', 'again', 'moved'].map((n) => join(own, n)) as [string, string, string, string];
    const scratch = (dir: string) => {
      mkdirSync(join(dir, 'bin'), { recursive: true });
      execFileSync('cp', ['/bin/busybox', join(dir, 'bin', 'busybox')]);
    };
    for (const dir of [kept, gone, again, moved]) {
      scratch(dir);
      await r(['--rm', ...BASE, '--rootfs', dir, '--', '/bin/busybox', 'true']);
    }
    const notesDir = join(own, 'data', 'rootfs', 'ran-from');
    const notes = () => Object.fromEntries(readdirSync(notesDir).map((n) => [readFileSync(join(notesDir, n), 'utf8').trim(), join(notesDir, n)]));
    const before = notes();
    expect(Object.keys(before).sort()).toEqual([again, gone, kept, moved]);
    execFileSync('rm', ['-rf', gone, again]);
    scratch(again);
    execFileSync('mv', [moved, `${moved}-elsewhere`]);
    const stale = [before[again], before[gone], before[moved]].sort();
    // --dry-run lists them and removes nothing
    const dry = JSON.parse(await r(['gc', '--dry-run', '--json']));
    expect([...dry.ranFrom].sort()).toEqual(stale);
    expect(dry.commands).toEqual(expect.arrayContaining(stale.map((n) => `rm -f ${n}`)));
    expect(readdirSync(notesDir)).toHaveLength(4);
    // gc removes them, one line each naming the dir and why
    const lines = (await r(['gc'])).split('\n').filter(Boolean).sort();
    expect(lines).toEqual([
      `removed ran-from note ${before[again]} (${again}: now another directory)`,
      `removed ran-from note ${before[gone]} (${gone}: gone)`,
      `removed ran-from note ${before[moved]} (${moved}: gone)`,
    ].sort());
    expect(notes()).toEqual({ [kept]: before[kept] });
    expect(JSON.parse(await r(['gc', '--json'])).ranFrom).toEqual([]);
    // the one still there is still a root filesystem to add to; the one made again is not
    await r(['rootfs', kept, '--from-host', '/bin/true']);
    expect((await bk('run', ['rootfs', again, '--from-host', '/bin/true'], { env })).exitCode).toBe(2);
  });

  it('rootfs --from-host re-run on a rootfs a container runs on replaces its files without harming the container (copied in place, mapped libraries were truncated: SIGBUS, 135)', async () => {
    const dir = join(mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-rerun-')), 'r');
    await run(['rootfs', dir, '--from-host', '/bin/bash']);
    const c = name('rerun');
    // a loop that keeps forking bash: the children touch the pages of bash and libc the copy truncated
    await run(['-d', '--name', c, ...BASE, '--rootfs', dir, '--', '/bin/bash', '-c', 'while :; do x=$(printf %s hi); done']);
    try {
      await run(['rootfs', dir, '--from-host', '/bin/bash']);
      await new Promise((r) => setTimeout(r, 500));
      const [rec] = JSON.parse((await run(['inspect', c])).out) as { status: string; exitCode?: number }[];
      expect(rec).toMatchObject({ status: 'running' });
      expect(readdirSync(join(dir, 'bin')).filter((e) => e.endsWith('.tmp'))).toEqual([]);
    } finally {
      await run(['rm', '-f', c]);
    }
  });

  it('rootfs into an existing DIR whose symlinks lead outside it is refused, and nothing outside is written or chmod-ed', async () => {
    const top = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-out-'));
    const [outside, victim] = [join(top, 'outside'), join(top, 'victim')];
    mkdirSync(outside);
    mkdirSync(victim, { mode: 0o755 });
    // a library dir that is a symlink out of the root (the copy followed it), and a skeleton dir that is one (chmod 700 followed it)
    const libs = join(top, 'libs');
    mkdirSync(join(libs, 'usr'), { recursive: true });
    symlinkSync(outside, join(libs, 'usr', 'lib'));
    const skel = join(top, 'skel');
    mkdirSync(skel);
    symlinkSync(victim, join(skel, 'root'));
    // both a root filesystem already (a non-empty DIR without etc/ proc/ sys/ dev/ is refused before this check)
    for (const dir of [libs, skel]) for (const d of ['etc', 'proc', 'sys', 'dev']) mkdirSync(join(dir, d));
    for (const [dir, via] of [[libs, join(libs, 'usr', 'lib')], [skel, join(skel, 'root')]] as const) {
      const r = await run(['rootfs', dir, '--from-host', '/bin/true'], 1);
      expect(r.err.split('\n')[0]).toMatch(new RegExp(`^run: \\S+: ${via} leads outside ${dir} \\(to `));
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(lstatSync(victim).mode & 0o7777).toBe(0o755);
  });

  it('rootfs --from-host of a library reached through an absolute symlink of the host: the link is made in DIR and the library copied to its real place there, nothing outside', async () => {
    const top = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'rootfs-abs-'));
    const libdir = execFileSync('sh', ['-c', 'dirname "$(readlink -f "$(ldd /bin/true | sed -n "s/.*=> \\(\\/[^ ]*libc\\.so[^ ]*\\).*/\\1/p")")"'], { encoding: 'utf8' }).trim();
    const abs = join(top, 'abs');
    symlinkSync(libdir, abs);
    const dir = join(top, 'r');
    const r = await bk('run', ['rootfs', dir, '--from-host', '/bin/true'], { env: { LD_LIBRARY_PATH: abs } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readlinkSync(join(dir, abs))).toBe(libdir);
    expect(lstatSync(join(dir, libdir, 'libc.so.6')).isFile()).toBe(true);
    const ok = await run(['--rm', ...BASE, '--rootfs', dir, '--', '/bin/true']);
    expect(ok.code).toBe(0);
  });

  it('the default rootfs: own hostname, the command is PID 1, the busybox listing; the host is unchanged', async () => {
    const before = hostname();
    const r = await run(['--rm', ...BASE, '--hostname', 'boxkit-c1', '--', 'sh', '-c', 'hostname; echo $$; ls /']);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('boxkit-c1');
    expect(lines[1]).toBe('1');
    expect(lines.slice(2)).toEqual(expect.arrayContaining(['bin', 'dev', 'etc', 'proc', 'sys', 'tmp']));
    expect(hostname()).toBe(before);
  });

  it('--image TAR, --layer DIR and --read-only: the union is made of them, writes land in the upper dir or fail', async () => {
    const root = process.env.BOXKIT_TEST_ROOT!;
    const def = JSON.parse((await run(['rootfs', '--default', '--json'])).out).dir as string;
    const tar = join(root, 'image.tar');
    execFileSync('tar', ['-C', def, '-cf', tar, '.']);
    const layer = join(root, 'layer');
    mkdirSync(join(layer, 'etc'), { recursive: true });
    writeFileSync(join(layer, 'etc', 'motd'), 'from the layer\n');
    const r = await run(['--rm', ...BASE, '--image', tar, '--layer', layer, '--', 'sh', '-c', 'cat /etc/motd; ls /bin/busybox; echo x > /new && echo wrote']);
    expect(r.out).toBe('from the layer\n/bin/busybox\nwrote');
    const ro = await run(['--rm', ...BASE, '--read-only', '--', 'sh', '-c', 'echo x > /new'], null);
    expect(ro.code).not.toBe(0);
    expect(ro.err).toMatch(/Read-only file system/);
  });

  it('exit statuses: the command\'s own, 127 not found, 126 not executable', async () => {
    expect((await run(['--rm', ...BASE, '--', 'sh', '-c', 'exit 7'], 7)).code).toBe(7);
    const nf = await run(['--rm', ...BASE, '--', 'no-such-command'], 127);
    expect(nf.err).toMatch(/^run: no-such-command: /);
    await run(['--rm', ...BASE, '--', '/etc/passwd'], 126);
  });

  it('security defaults: masked /proc/timer_list, read-only /proc/sys, reduced capabilities, no_new_privs; --privileged lifts them', async () => {
    const probe = 'wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname && echo rw || echo ro; grep -E "CapEff|NoNewPrivs" /proc/self/status';
    const r = await run(['--rm', ...BASE, '--', 'sh', '-c', probe]);
    expect(r.out).toMatch(/^0\n/);
    expect(r.out).toContain('ro');
    expect(r.out).toMatch(/CapEff:\s+00000000a80425fb/);
    expect(r.out).toMatch(/NoNewPrivs:\s+1/);
    const p = await run(['--rm', ...BASE, '--privileged', '--', 'sh', '-c', 'wc -c < /proc/timer_list; grep -E "CapEff|NoNewPrivs" /proc/self/status']);
    expect(Number(p.out.split('\n')[0])).toBeGreaterThan(0);
    expect(p.out).not.toMatch(/CapEff:\s+00000000a80425fb/);
    expect(p.out).toMatch(/NoNewPrivs:\s+0/);
  });
});
