/**
 * --KIND=PATH / --persist KIND=PATH as a user of `unshare --net=PATH` and
 * `ip netns` uses them: a failure undoes only what ns-clone made, a path
 * that already holds a namespace is named as such, and a persisted netns is
 * the one the container runs in.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHost, destroyHost, inHost, pin, signalPinned, skipReason, testName } from '../harness/index.js';
import { alive, bindCase, binPath, childrenOf, inMoveMount, mountsAt, ns, nsAtMoveMount, straceBin, tmp, until } from './helpers.js';

describe.skipIf(skipReason)(`ns-clone --persist${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('a file that was there before survives a container that fails to start (it was deleted)', async () => {
    const dir = tmp('persist-keep');
    const notes = join(dir, 'notes');
    writeFileSync(notes, 'precious\n');
    const r = await ns([`--uts=${notes}`, '--', '/nonexistent']);
    expect(r.exitCode).toBe(127);
    expect(mountsAt(notes)).toEqual([]);
    expect(readFileSync(notes, 'utf8')).toBe('precious\n');
  });

  it('with --wait-for-setup, a command that never runs (aborted, or not found) takes back the namespace it persisted, as a failed start does', async () => {
    const dir = tmp('persist-held');
    const path = join(dir, 'net');
    const { execa } = await import('execa');
    // a state dir of its own: the fifo records of other tests' held children are not this one's
    const state = join(dir, 'state');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: state };
    delete env.NODE_EXTRA_CA_CERTS;
    for (const [cmd, release, code] of [[['sleep', '5'], ['--abort'], 125], [['/nonexistent-cmd'], [], 127]] as const) {
      const p = execa(binPath('ns-clone'), [`--net=${path}`, '--wait-for-setup', '--json', '--', ...cmd], { reject: false, env });
      // its pid, once it waits (the record of its fifo names it) with PATH bound (the record is written before the bind)
      const records = join(state, 'ns-clone');
      const recorded = () => (existsSync(records) ? readdirSync(records) : []).find((f) => f.endsWith('.fifo-path'))?.split('.')[0];
      await until(() => !!recorded() && mountsAt(path).length === 1, 5000, 'the held child\'s record and bind');
      const pid = recorded();
      expect((await ns(['release', pid!, ...release], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
      expect((await p).exitCode).toBe(code);
      expect(mountsAt(path)).toEqual([]);
      expect(existsSync(path)).toBe(false);
    }
  });

  it('with --wait-for-setup, ns-clone stopped (SIGTERM, SIGINT) while its child is held takes back the namespace it persisted: the command never ran', async () => {
    const dir = tmp('persist-stopped');
    const { execa } = await import('execa');
    const state = join(dir, 'state');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: state };
    delete env.NODE_EXTRA_CA_CERTS;
    // without --pid the signal passed on kills the held child (143, 130); as PID 1 of its own it is SIGKILLed (137)
    for (const [sig, flags, code] of [['SIGTERM', [], 143], ['SIGINT', [], 130], ['SIGTERM', ['--pid'], 137]] as const) {
      const path = join(dir, `${sig}${flags.join('')}`, 'net');
      const p = execa(binPath('ns-clone'), [`--net=${path}`, ...flags, '--wait-for-setup', '--', 'sleep', '5'], { reject: false, env });
      const records = join(state, 'ns-clone');
      // (the record is written before the bind, which names it: both, for a child held with PATH bound)
      await until(() => existsSync(records) && readdirSync(records).some((f) => f.endsWith('.fifo-path')) && mountsAt(path).length === 1, 5000, 'the held child\'s record and bind');
      p.kill(sig);
      const r = await p;
      expect(r.exitCode, `${sig} ${flags.join(' ')}: ${r.stderr}`).toBe(code);
      // before: the exec pipe's EOF at the child's death read as its exec, and the bind stayed with its file
      expect(mountsAt(path)).toEqual([]);
      expect(existsSync(join(dir, `${sig}${flags.join('')}`))).toBe(false);
      expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);
    }
  });

  it('detached (-d --wait-for-setup), release --abort takes back the namespace bound at PATH and the directories made for it; the same command then starts again', async () => {
    const dir = tmp('persist-detached');
    const path = join(dir, 'a/b/net');
    // a state dir of its own: the fifo records of other tests' held children are not this one's
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    const start = () => ns(['-d', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { env });
    const first = await start();
    expect(first.exitCode, first.stderr).toBe(0);
    const pid = Number(first.stdout);
    const ino = statSync(path).ino;
    expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(`net:[${ino}]`);
    expect(mountsAt(path)).toHaveLength(1);
    const dry = await ns(['release', String(pid), '--abort', '--dry-run'], { env });
    expect(dry.stdout.split('\n')).toContain(`umount -l ${path} && rm -f ${path}`);
    const abort = await ns(['release', String(pid), '--abort'], { env });
    expect(abort.exitCode, abort.stderr).toBe(0);
    await until(() => !alive(pid), 5000, 'the aborted child to exit');
    // nobody stayed, and yet nothing is left: no mount, no file, no directory made for it, no record
    expect(mountsAt(path)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    // the identical command works again (it was refused: a namespace already bound there)
    const again = await start();
    expect(again.exitCode, again.stderr).toBe(0);
    const pid2 = Number(again.stdout);
    const pinned2 = pin(pid2); // (sleep 30 may have ended by the finally: its pid then may be another's)
    try {
      expect(mountsAt(path)).toHaveLength(1);
      // released, its command runs: the namespace stays, as --net=PATH promises
      expect((await ns(['release', String(pid2)], { env })).exitCode).toBe(0);
      await until(() => readFileSync(`/proc/${pid2}/cmdline`, 'utf8').startsWith('sleep'), 5000, 'sleep to run');
      expect(mountsAt(path)).toHaveLength(1);
      expect(readdirSync(join(dir, 'state', 'ns-clone'))).toEqual([]);
    } finally {
      signalPinned(pinned2);
      execFileSync('umount', [path]);
    }
    // aborted through its fifo's path (--json's setupFifo) rather than its pid: the same
    execFileSync('rm', [path]);
    const byFifo = await ns(['-d', '--json', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { env });
    expect(byFifo.exitCode, byFifo.stderr).toBe(0);
    const doc = JSON.parse(byFifo.stdout) as { pid: number; setupFifo: string };
    expect(mountsAt(path)).toHaveLength(1);
    expect((await ns(['release', doc.setupFifo, '--abort'], { env })).exitCode).toBe(0);
    await until(() => !alive(doc.pid), 5000, 'the aborted child to exit');
    expect(mountsAt(path)).toEqual([]);
    // the file it made goes; a/b (there before this run, left by the `rm` above) and the state dir stay
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual([]);
    expect(readdirSync(join(dir, 'state', 'ns-clone'))).toEqual([]);
  });

  it('detached and killed while held, its namespace at PATH goes at the next release of its pid; one bound there since stays', async () => {
    const dir = tmp('persist-killed');
    const path = join(dir, 'net');
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    const r = await ns(['-d', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    const pid = Number(r.stdout);
    process.kill(pid, 'SIGKILL');
    await until(() => !alive(pid), 5000, 'the held child to die');
    // a dry run shows what the release will take back (it showed nothing), and does none of it
    const dry = await ns(['release', String(pid), '--dry-run'], { env });
    expect(dry.exitCode).toBe(1);
    expect(dry.stdout.split('\n')[0]).toBe(`umount -l ${path} && rm -f ${path}`);
    expect(dry.stdout).toMatch(/^rm -f .*\/f?.*\.fifo-path$/m);
    expect(mountsAt(path)).toHaveLength(1);
    const rel = await ns(['release', String(pid)], { env });
    expect(rel.exitCode).toBe(1);
    expect(rel.stderr.split('\n')[0]).toBe(`ns-clone: process ${pid} is gone: nothing to release (its fifo and record are removed; its namespace at ${path} is unmounted)`);
    expect(mountsAt(path)).toEqual([]);
    expect(existsSync(path)).toBe(false);

    // the user unmounted it and bound another namespace there before the abort: that one is not ours
    const held = await ns(['-d', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { env });
    expect(held.exitCode, held.stderr).toBe(0);
    const other = await ns([`--uts=${join(dir, 'uts')}`, '--', 'true']);
    expect(other.exitCode, other.stderr).toBe(0);
    try {
      execFileSync('umount', [path]);
      execFileSync('mount', ['--bind', join(dir, 'uts'), path]);
      // the dry run says the same: no umount of a namespace that is not the child's (it printed one)
      const dryAbort = await ns(['release', held.stdout, '--abort', '--dry-run'], { env });
      expect(dryAbort.exitCode, dryAbort.stderr).toBe(0);
      expect(dryAbort.stdout).not.toMatch(/umount/);
      expect((await ns(['release', held.stdout, '--abort'], { env })).exitCode).toBe(0);
      expect(mountsAt(path)).toHaveLength(1);
    } finally {
      execFileSync('umount', [path]);
      execFileSync('umount', [join(dir, 'uts')]);
    }
  });

  it('a --setup-fifo path shared over time: records that earlier children released by hand (echo > FIFO) left are not taken for the child waiting there now', async () => {
    const dir = tmp('persist-shared-fifo');
    const f = join(dir, 'f');
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    const nets = [1, 2, 3].map((i) => join(dir, `ns${i}`, 'net'));
    try {
      for (const net of nets) {
        const r = await ns(['-d', '--wait-for-setup', '--setup-fifo', f, `--net=${net}`, '--', 'true'], { env });
        expect(r.exitCode, r.stderr).toBe(0);
        execFileSync('sh', ['-c', 'echo > "$0"', f]); // released by hand, as the README offers: its record stays
        await until(() => !alive(Number(r.stdout)) && !existsSync(f), 5000, 'the released child to end');
      }
      const held = await ns(['-d', '--wait-for-setup', '--setup-fifo', f, '--', 'sleep', '30'], { env });
      expect(held.exitCode, held.stderr).toBe(0);
      const pid = Number(held.stdout);
      const pinned = pin(pid);
      try {
        // a dry run names the child waiting now, and takes back nothing
        const dry = await ns(['release', f, '--dry-run'], { env });
        expect(dry.exitCode, dry.stderr).toBe(0);
        expect(dry.stdout.split('\n')).toEqual([`echo > ${f}`, `rm -f ${f} ${join(dir, 'state', 'ns-clone', `${pid}.fifo-path`)}`]);
        const rel = await ns(['release', f], { env });
        expect(rel.exitCode, rel.stderr).toBe(0);
        await until(() => alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), 5000, 'sleep to run');
        // the earlier children's namespaces stay bound (--net=PATH outlives the command), and their stale records are gone
        for (const net of nets) expect(mountsAt(net), net).toHaveLength(1);
        expect(readdirSync(join(dir, 'state', 'ns-clone'))).toEqual([]);
      } finally {
        signalPinned(pinned);
      }
    } finally {
      for (const net of nets) if (mountsAt(net).length) execFileSync('umount', [net]);
    }
  });

  it('a pid used again (a new pid namespace, ns_last_pid): release PID --abort of the child there now never takes back what an earlier child of that pid bound', async () => {
    const dir = tmp('persist-pid-reuse');
    // in a pid namespace of its own, where bash (PID 1) reaps the detached children and the next pid can be set;
    // its mount namespace is private and goes with it
    const script = String.raw`
      set -e
      ns="$0"; D="$1"; export BOXKIT_STATE_DIR="$D/state"
      L=1000
      start() { echo "$L" > /proc/sys/kernel/ns_last_pid; "$ns" -d --wait-for-setup "$@" -- sleep 30; }
      P1=$(start --setup-fifo "$D/f1" --net="$D/a/net")
      echo > "$D/f1"                       # released by hand: its command runs, its netns stays bound
      while [ -e "$D/f1" ]; do sleep 0.05; done
      kill -9 "$P1"; while [ -e "/proc/$P1" ]; do sleep 0.05; done
      for try in 1 2 3 4 5 6; do
        P2=$(start --setup-fifo "$D/f2")
        [ "$P2" = "$P1" ] && break
        "$ns" release "$P2" --abort >/dev/null 2>&1 || true
        while [ -e "/proc/$P2" ]; do sleep 0.05; done
        L=$((L + P1 - P2))
      done
      [ "$P2" = "$P1" ] || { echo "pid $P1 not used again (got $P2)"; exit 3; }
      "$ns" release "$P2" --abort
      while [ -e "/proc/$P2" ]; do sleep 0.05; done
      if grep -q " $D/a/net " /proc/self/mountinfo; then echo kept; else echo unmounted; fi
      umount "$D/a/net" 2>/dev/null || true
    `;
    const r = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '-c', script, binPath('ns-clone'), dir], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' }, timeout: 60_000 });
    expect(r.trim()).toBe('kept');
  });

  it('a held child whose fifo was chmod-ed, chown-ed or touched (to let another user release it) is still the record\'s: release PID --abort takes back its namespace', async () => {
    const dir = tmp('persist-fifo-chmod');
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    // (touch -c: a plain touch opens the fifo for writing, which the child takes for an abort by hand)
    for (const [i, change] of [['chmod', '0600'], ['chown', '65534'], ['touch', '-c']].entries()) {
      const f = join(dir, `g${i}`), path = join(dir, `a${i}`, 'net');
      const r = await ns(['-d', '--wait-for-setup', '--setup-fifo', f, `--net=${path}`, '--', 'sleep', '30'], { env });
      expect(r.exitCode, r.stderr).toBe(0);
      const pid = Number(r.stdout);
      const pinned = pin(pid);
      try {
        execFileSync(change[0]!, [...change.slice(1), f]); // a new ctime, same inode
        const rel = await ns(['release', String(pid), '--abort'], { env });
        expect(rel.exitCode, `${change[0]}: ${rel.stderr}`).toBe(0);
        await until(() => !alive(pid), 5000, 'the aborted child to end');
        expect(mountsAt(path), change[0]).toEqual([]);
        expect(existsSync(path)).toBe(false);
        expect(existsSync(f)).toBe(false);
      } finally {
        signalPinned(pinned); // (alive(pid) is true of whatever process has the pid now)
        if (mountsAt(path).length) execFileSync('umount', [path]);
      }
    }
    // no record left (the state dir made for them went too)
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('a child released by hand the moment its fifo appears (before ns-clone noted it) runs its command: the start does not kill it', async () => {
    const dir = tmp('persist-fifo-early');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: join(dir, 'state') };
    delete env.NODE_EXTRA_CA_CERTS;
    // a writer spinning on the path: its open returns as soon as the child opens its end, before the start returns
    // (the window is short: on one CPU, about every other start hit it). Bounded by time (10 s, the clock read
    // every 20000 turns, not each: a fork per turn would widen the window it aims at), and it writes only to a
    // fifo: `echo > "$f"` with none there would make a regular file, and a misleading failure
    for (let i = 0; i < 20; i++) {
      const f = join(dir, `f${i}`), out = join(dir, `out${i}`);
      const r = execFileSync('taskset', ['-c', '0', 'sh', '-c', 'f="$1"; (end=$(($(date +%s) + 10)); n=0; while [ ! -p "$f" ]; do n=$((n+1)); if [ $n -ge 20000 ]; then n=0; [ "$(date +%s)" -lt $end ] || break; fi; done; if [ -p "$f" ]; then echo > "$f"; else echo "no fifo at $f within 10 s"; fi) & w=$!; "$0" -d --wait-for-setup --setup-fifo "$f" -- sh -c "echo ran > $2"; c=$?; wait $w; echo "exit $c"', binPath('ns-clone'), f, out], { encoding: 'utf8', env, timeout: 20_000 });
      expect(r.trim().split('\n').pop(), r).toBe('exit 0');
      expect(r).not.toContain('no fifo at');
      await until(() => existsSync(out) && readFileSync(out, 'utf8') === 'ran\n', 5000, 'the command to run');
    }
  });

  it("a stale record whose take-back fails (PATH's directory immutable, chattr +i: PATH's file cannot be removed once unmounted, EPERM) is a warning at another start's sweep, not that start's failure (it failed 125); the next sweep takes the rest back", async () => {
    const { dir, path, state, records } = bindCase('persist-sweep-fails');
    const env = { BOXKIT_STATE_DIR: state };
    const held = await ns(['-d', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { env });
    expect(held.exitCode, held.stderr).toBe(0);
    const pid = Number(held.stdout);
    process.kill(pid, 'SIGKILL');
    await until(() => !alive(pid), 5000, 'the held child to die');
    execFileSync('chattr', ['+i', dir]);
    let left: { records: string[]; mounts: number; file: boolean };
    let other: Awaited<ReturnType<typeof ns>>;
    try {
      other = await ns(['-d', '--wait-for-setup', '--uts', '--', 'true'], { env });
      left = { records: readdirSync(records), mounts: mountsAt(path).length, file: existsSync(path) };
    } finally {
      execFileSync('chattr', ['-i', dir]);
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
    expect(other.exitCode, other.stderr).toBe(0);
    expect(other.stderr).toMatch(new RegExp(`^ns-clone: warning: what the start of process ${pid} left was not taken back \\(EPERM: operation not permitted, unlink .*\\); the next start tries again$`));
    // the namespace unmounted, its file and the record left for the next sweep
    expect(left).toEqual({ records: expect.arrayContaining([`${pid}.fifo-path`]), mounts: 0, file: true });
    // the next sweep, here the release of that start's child (any release sweeps too), takes the rest back
    const rel = await ns(['release', other.stdout], { env });
    expect(rel.exitCode, rel.stderr).toBe(0);
    expect(rel.stderr).toBe('');
    expect(existsSync(path)).toBe(false);
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);
  });

  it('records that children released by hand at the default fifo paths left go at the next start that makes a fifo, and at the next release of a fifo', async () => {
    const dir = tmp('persist-fifo-records');
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    const records = join(dir, 'state', 'ns-clone');
    for (let i = 0; i < 3; i++) {
      const r = await ns(['-d', '--wait-for-setup', '--json', '--', 'true'], { env });
      expect(r.exitCode, r.stderr).toBe(0);
      const { pid, setupFifo } = JSON.parse(r.stdout) as { pid: number; setupFifo: string };
      execFileSync('sh', ['-c', 'echo > "$0"', setupFifo]); // released by hand: its record stays
      await until(() => !alive(pid) && !existsSync(setupFifo), 5000, 'the released child to end');
    }
    // each start swept the one before's (its child gone, its fifo read): only the last one's is left
    expect(readdirSync(records).filter((n) => n.endsWith('.fifo-path'))).toHaveLength(1);
    const held = await ns(['-d', '--wait-for-setup', '--json', '--', 'sleep', '30'], { env });
    expect(held.exitCode, held.stderr).toBe(0);
    const { pid, setupFifo } = JSON.parse(held.stdout) as { pid: number; setupFifo: string };
    const pinned = pin(pid);
    try {
      expect(readdirSync(records).filter((n) => n.endsWith('.fifo-path'))).toEqual([`${pid}.fifo-path`]);
      // one left beside it by hand (a child gone, its fifo gone) goes at the release
      writeFileSync(join(records, '999999999.fifo-path'), JSON.stringify({ fifo: join(dir, 'gone.fifo'), dev: 1, ino: 1, start: 1 }));
      const rel = await ns(['release', setupFifo], { env });
      expect(rel.exitCode, rel.stderr).toBe(0);
      expect(readdirSync(records)).toEqual([]);
    } finally {
      signalPinned(pinned);
    }
  });

  it('a held child killed (-d --wait-for-setup, nothing bound) and a foreground --wait-for-setup start killed (-9) while its child is held leave a fifo and a record that the next start making a fifo, or any release, removes (only a release of that pid did); a child still held keeps its own', async () => {
    const { state, records, env } = bindCase('persist-sweep-unbound');
    const senv = { BOXKIT_STATE_DIR: state };
    const entries = () => (existsSync(records) ? readdirSync(records) : []).sort();
    const pids = () => entries().filter((f) => f.endsWith('.fifo-path')).map((f) => Number(f.replace('.fifo-path', '')));
    const heldDetached = async () => {
      const r = await ns(['-d', '--json', '--wait-for-setup', '--uts', '--', 'sleep', '30'], { env: senv });
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { pid: number; setupFifo: string };
    };
    const killedWhileHeld = async () => {
      const d = await heldDetached();
      process.kill(d.pid, 'SIGKILL');
      await until(() => !alive(d.pid), 5000, 'the held child to die');
      return d;
    };
    const live = await heldDetached();
    const livePinned = pin(live.pid);
    let next: ReturnType<typeof pin> | undefined;
    try {
      const mine = [`${live.pid}.fifo-path`, live.setupFifo.split('/').pop()!].sort();
      // a foreground start killed (its held child ends with it: parent-death signal), and a detached held child
      // killed, both after the last start that swept
      const { execa } = await import('execa');
      const before = pids();
      const fg = execa(binPath('ns-clone'), ['--wait-for-setup', '--uts', '--', 'sleep', '30'], { reject: false, env });
      await until(() => pids().length > before.length, 5000, 'the foreground start\'s record');
      const fgChild = pids().find((p) => !before.includes(p))!;
      const d1 = await heldDetached();
      process.kill(d1.pid, 'SIGKILL');
      fg.kill('SIGKILL');
      await fg;
      await until(() => !alive(fgChild) && !alive(d1.pid), 5000, 'the held children to end');
      expect(entries()).toHaveLength(6);
      expect(existsSync(d1.setupFifo)).toBe(true);
      // the next start that makes a fifo: both leftovers go, the held child's fifo and record stay
      const held = await heldDetached();
      next = pin(held.pid);
      expect(entries()).toEqual([...mine, `${held.pid}.fifo-path`, held.setupFifo.split('/').pop()!].sort());
      // any release sweeps as well: a held child killed after that start goes at its release
      const d2 = await killedWhileHeld();
      expect(existsSync(d2.setupFifo)).toBe(true);
      const dry = await ns(['release', String(held.pid), '--dry-run'], { env: senv });
      expect(dry.exitCode, dry.stderr).toBe(0);
      expect(existsSync(d2.setupFifo)).toBe(true);
      const rel = await ns(['release', String(held.pid)], { env: senv });
      expect(rel.exitCode, rel.stderr).toBe(0);
      expect(entries()).toEqual(mine);
      expect(alive(live.pid)).toBe(true);
    } finally {
      await ns(['release', String(live.pid), '--abort'], { env: senv });
      signalPinned(livePinned);
      if (next) signalPinned(next);
    }
    await until(() => !alive(live.pid), 5000, 'the aborted child to end');
    expect(entries()).toEqual([]);
  });

  it('killed (SIGKILL) right after binding --net=PATH (detached, held), its record already names the bind: the same start run again takes it back and binds PATH anew, and release --abort of the pid takes it back too', async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, state, records, env } = bindCase('persist-killed');
    // the bind's attach at PATH (move_mount(2)) held 2 s on its way out (done, not yet returned): the kill lands after the bind,
    // before anything that follows it
    const killedAfterBind = async () => {
      const sub = nsAtMoveMount(strace, path, 'delay_exit=2000000', ['--detach', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], env);
      await until(() => mountsAt(path).length === 1, 5000, 'the bind at PATH');
      const [start] = childrenOf(sub.pid!);
      expect(start).toBeDefined();
      process.kill(start!, 'SIGKILL');
      const r = await sub;
      expect(r.signal ?? r.exitCode, r.stderr).toBe(r.signal ? 'SIGKILL' : 137);
    };
    await killedAfterBind();
    expect(mountsAt(path)[0]).toMatch(/ - nsfs /);
    // the record was written before the bind and names it (the child's pid was never printed)
    const left = readdirSync(records).filter((f) => f.endsWith('.fifo-path'));
    expect(left).toHaveLength(1);
    const rec = JSON.parse(readFileSync(join(records, left[0]!), 'utf8')) as { persisted: { path: string; ino: number }[] };
    expect(rec.persisted.map((p) => [p.path, p.ino])).toEqual([[path, statSync(path).ino]]);
    // the same command again: it was refused ('a namespace is already bound there'); now the bind the killed
    // start left is taken back and PATH bound anew
    const again = await ns(['--detach', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { env: { BOXKIT_STATE_DIR: state } });
    expect(again.exitCode, again.stderr).toBe(0);
    const pid = Number(again.stdout);
    expect(mountsAt(path)).toHaveLength(1);
    expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
    expect(readdirSync(records)).toEqual([`${pid}.fifo-path`, expect.stringMatching(/\.fifo$/)].sort());
    expect((await ns(['release', String(pid), '--abort'], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
    await until(() => !alive(pid), 5000, 'the aborted child to exit');
    expect(mountsAt(path)).toEqual([]);
    // killed again, its record's pid is aborted by hand: already gone (nothing to abort: exit 0), its namespace unmounted
    await killedAfterBind();
    const [second] = readdirSync(records).filter((f) => f.endsWith('.fifo-path'));
    const rel = await ns(['release', second!.replace('.fifo-path', ''), '--abort'], { env: { BOXKIT_STATE_DIR: state } });
    expect(rel.exitCode, rel.stderr).toBe(0);
    expect(rel.stderr).toMatch(new RegExp(`^ns-clone: process \\d+ is already gone: nothing to abort \\(.*; its namespace at ${path} is unmounted\\)$`));
    expect(mountsAt(path)).toEqual([]);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(records)).toEqual([]);
  });

  it("killed (SIGKILL) at the entry of the bind's attach, move_mount(2) (detached, held: record written, nothing bound), the empty file and directory it made for PATH go at the next sweep (they stayed for good, and the next start took the file for the user's)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { dir, state, records, env } = bindCase('persist-killed-at-mount');
    const path = join(dir, 'sub', 'net');
    const r = await nsAtMoveMount(strace, path, 'signal=KILL', ['--detach', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], env);
    expect(r.signal ?? r.exitCode, r.stderr).toBe(r.signal ? 'SIGKILL' : 137);
    const left = readdirSync(records).filter((f) => f.endsWith('.fifo-path'));
    expect(left).toHaveLength(1);
    const child = Number(left[0]!.replace('.fifo-path', ''));
    await until(() => !alive(child), 5000, 'the held child to end with its start');
    expect(mountsAt(path)).toEqual([]);
    expect(statSync(path).size).toBe(0);
    // a dry run of the release says what goes; another start's sweep takes it back
    const dry = await ns(['release', String(child), '--abort', '--dry-run'], { env: { BOXKIT_STATE_DIR: state } });
    expect(dry.stdout.split('\n').slice(0, 2)).toEqual([`rm -f ${path}`, `rmdir --ignore-fail-on-non-empty ${join(dir, 'sub')}`]);
    const other = await ns(['-d', '--wait-for-setup', '--uts', '--', 'true'], { env: { BOXKIT_STATE_DIR: state } });
    expect(other.exitCode, other.stderr).toBe(0);
    expect((await ns(['release', other.stdout], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
    expect(existsSync(join(dir, 'sub'))).toBe(false);
    expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);
  });

  it("a take-back of a start killed at the bind's attach (move_mount(2)) leaves PATH's empty file to another start binding it at that moment (held in its move_mount(2)): that start binds it (it failed 125, its file removed under it), and the dead start's record goes at the next sweep, PATH left bound", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, state, records, env } = bindCase('persist-unbound-race');
    // A: killed at move_mount(2)'s entry (detached, held): its record names PATH, the empty file it made is there, nothing bound
    const a = await nsAtMoveMount(strace, path, 'signal=KILL', ['--detach', '--wait-for-setup', `--net=${path}`, '--', 'sleep', '60'], env);
    expect(a.signal ?? a.exitCode, a.stderr).toBe(a.signal ? 'SIGKILL' : 137);
    const [rec] = readdirSync(records).filter((f) => f.endsWith('.fifo-path'));
    expect(rec).toBeDefined();
    const aChild = Number(rec!.replace('.fifo-path', ''));
    await until(() => !alive(aChild), 5000, "A's held child to end with it");
    const file = statSync(path).ino;
    // B binds PATH (that file) with a state dir of its own, so its own sweep never sees A's record; its move_mount(2) held 3 s
    const b = nsAtMoveMount(strace, path, 'delay_enter=3000000', ['-d', `--net=${path}`, '--', 'sleep', '30'], { ...env, BOXKIT_STATE_DIR: `${state}-b` });
    let bound: ReturnType<typeof pin> | undefined;
    try {
      await until(() => inMoveMount(b.pid!), 5000, 'B inside its move_mount(2)');
      // meanwhile, a start in A's state dir sweeps A's record (a start that makes a fifo), and a release sweeps again
      const c = await ns(['-d', '--wait-for-setup', '--uts', '--', 'true'], { env: { BOXKIT_STATE_DIR: state } });
      expect(c.exitCode, c.stderr).toBe(0);
      expect(c.stderr).toBe('');
      expect((await ns(['release', c.stdout], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
      expect(inMoveMount(b.pid!), 'B still inside its move_mount(2)').toBe(true);
      expect(statSync(path).ino).toBe(file);
      const rb = await b;
      bound = rb.exitCode === 0 ? pin(Number(rb.stdout)) : undefined;
      expect(rb.exitCode, rb.stderr).toBe(0);
      expect(mountsAt(path)).toHaveLength(1);
      expect(readlinkSync(`/proc/${rb.stdout}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
      // A's record was kept while B held PATH; the next sweep removes it, and B's bind stays
      expect(readdirSync(records)).toContain(rec);
      const d = await ns(['-d', '--wait-for-setup', '--uts', '--', 'true'], { env: { BOXKIT_STATE_DIR: state } });
      expect(d.exitCode, d.stderr).toBe(0);
      expect((await ns(['release', d.stdout], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
      expect(existsSync(records) ? readdirSync(records) : []).toEqual([]);
      expect(mountsAt(path)).toHaveLength(1);
      expect(readlinkSync(`/proc/${rb.stdout}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
    } finally {
      await b.catch(() => {});
      if (bound) signalPinned(bound);
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
  });

  /** A foreground `ns-clone --wait-for-setup --net=PATH -- sleep 30` whose child is held, PATH bound and its record written. */
  async function heldInForeground(name: string) {
    const { path, state, records, env } = bindCase(name);
    const { execa } = await import('execa');
    const fg = execa(binPath('ns-clone'), ['--wait-for-setup', `--net=${path}`, '--', 'sleep', '30'], { reject: false, env });
    await until(() => existsSync(records) && readdirSync(records).some((f) => f.endsWith('.fifo-path')) && mountsAt(path).length === 1, 5000, 'the held child');
    const child = Number(readdirSync(records).find((f) => f.endsWith('.fifo-path'))!.replace('.fifo-path', ''));
    return { path, state, records, fg, child };
  }

  it('a foreground --wait-for-setup --net=PATH start killed (-9) while its child is held: the child ends with it (its command never ran), and the next start binding PATH takes the namespace back and binds its own (it was refused: already bound)', async () => {
    const { path, state, records, fg, child } = await heldInForeground('persist-fg-killed');
    fg.kill('SIGKILL');
    await fg;
    await until(() => !alive(child), 5000, 'the held child to end with its start');
    expect(mountsAt(path)).toHaveLength(1);
    const again = await ns(['-d', `--net=${path}`, '--', 'sleep', '30'], { env: { BOXKIT_STATE_DIR: state } });
    const started = again.exitCode === 0 ? pin(Number(again.stdout)) : undefined;
    try {
      expect(again.exitCode, again.stderr).toBe(0);
      expect(mountsAt(path)).toHaveLength(1);
      // the namespace bound there is the new start's (not the inode number: the kernel gives the freed one again)
      expect(readlinkSync(`/proc/${again.stdout}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
      expect(existsSync(records)).toBe(false);
    } finally {
      if (started) signalPinned(started);
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
  });

  it("a held child killed while its foreground start is stopped (SIGSTOP): another start's sweep and a release of the child leave that record to its living owner, which then finds the fifo unread and takes PATH back (a sweep that removed the fifo made it think the command ran)", async () => {
    const { path, state, records, fg, child } = await heldInForeground('persist-fg-owner');
    fg.kill('SIGSTOP');
    try {
      process.kill(child, 'SIGKILL');
      await until(() => !alive(child), 5000, 'the held child to end');
      // a start that sweeps the records (one that makes a fifo), while the owner cannot look
      const other = await ns(['-d', '--wait-for-setup', '--uts', '--', 'true'], { env: { BOXKIT_STATE_DIR: state } });
      expect(other.exitCode, other.stderr).toBe(0);
      // (released before any check: a held child must not outlive a failing test)
      expect((await ns(['release', other.stdout], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
      expect(readdirSync(records)).toContain(`${child}.fifo-path`);
      // a release of the gone child leaves it to its owner too (it removed the fifo: the same mistake)
      const rel = await ns(['release', String(child)], { env: { BOXKIT_STATE_DIR: state } });
      expect(rel.exitCode).toBe(1);
      expect(rel.stderr.split('\n')[0]).toBe(`ns-clone: process ${child} is gone: nothing to release (its ns-clone, pid ${fg.pid}, takes back what it made)`);
      expect(readdirSync(records)).toContain(`${child}.fifo-path`);
    } finally {
      fg.kill('SIGCONT');
    }
    const r = await fg;
    expect(r.exitCode, r.stderr).toBe(137);
    expect(mountsAt(path)).toEqual([]);
    expect(existsSync(path)).toBe(false);
  });

  it("a start given --setup-fifo under a default fifo's name (one an earlier start printed, its maker gone) keeps its fifo through another's sweep between its mkfifo and its record: it starts (the sweep took the fifo for a killed start's, removed it, and the start failed 125)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { records, env } = bindCase('fifo-given-default-name');
    const { spawnSync } = await import('node:child_process');
    const { execa } = await import('execa');
    const gonePid = spawnSync('true').pid!;
    // the name a start made a minute ago (its ns-clone gone since), given again
    const fifo = join(records, `setup-${gonePid}-${(Date.now() - 60_000).toString(36)}.fifo`);
    // its mkfifo (mknodat(2)) held 1.5 s on its way out: made, no record yet
    const a = execa(strace, ['-qq', '-o', '/dev/null', '-P', fifo, '-e', 'trace=mknodat', '-e', 'inject=mknodat:delay_exit=1500000',
      binPath('ns-clone'), '-d', '--wait-for-setup', '--setup-fifo', fifo, '--uts', '--', 'true'], { reject: false, env });
    let held: ReturnType<typeof pin> | undefined;
    try {
      await until(() => existsSync(fifo), 5000, 'the given fifo made');
      // any release sweeps the state dir
      expect((await ns(['release', '999999'], { env })).exitCode).toBe(2);
      expect(existsSync(fifo), 'the given fifo, after the sweep').toBe(true);
      const r = await a;
      if (r.exitCode === 0) held = pin(Number(r.stdout));
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect((await ns(['release', fifo, '--abort'], { env })).exitCode).toBe(0);
      expect(existsSync(fifo)).toBe(false);
    } finally {
      await a.catch(() => {});
      if (held) signalPinned(held, 'SIGKILL');
    }
  });

  it('two starts binding one --net=PATH at once: the first bind stays and the other start fails (125, nothing of it left), never a second namespace stacked on the first and hiding it', async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const dir = tmp('persist-race');
    const path = join(dir, 'net');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: join(dir, 'state') };
    delete env.NODE_EXTRA_CA_CERTS;
    // each bind's attach at PATH (move_mount(2)) held 0.5 s on its way in: both starts are past the check for a namespace bound there
    const start = () => nsAtMoveMount(strace, path, 'delay_enter=500000', ['-d', `--net=${path}`, '--', 'sleep', '30'], env);
    const rs = await Promise.all([start(), start()]);
    const won = rs.filter((r) => r.exitCode === 0);
    const wonPinned = won.map((r) => pin(Number(r.stdout)));
    try {
      expect(rs.map((r) => r.exitCode).sort(), rs.map((r) => r.stderr).join('\n')).toEqual([0, 125]);
      expect(rs.find((r) => r.exitCode === 125)!.stderr.split('\n')[0]).toBe(`ns-clone: persist net namespace at ${path}: a namespace is already bound there (bound by another start at the same time)`);
      expect(mountsAt(path)).toHaveLength(1);
      expect(readlinkSync(`/proc/${won[0]!.stdout}/ns/net`)).toBe(`net:[${statSync(path).ino}]`);
    } finally {
      for (const p of wonPinned) signalPinned(p);
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
  });

  it("a start that finds another's bind under its own at PATH (made while it was past its check) takes off only its own: a namespace bound over its own since stays on top (it unmounted that one, its own left on top of the first)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const { path, env } = bindCase('persist-stacked');
    // the start's bind's attach held 1.5 s on its way in (past its check: PATH's file made and locked, nothing bound)
    // and 1.5 s on its way out (attached, not yet looked at what else is bound there)
    const a = nsAtMoveMount(strace, path, 'delay_enter=1500000:delay_exit=1500000', ['-d', `--net=${path}`, '--', 'sleep', '30'], env);
    try {
      await until(() => inMoveMount(a.pid!), 5000, 'the start inside its move_mount(2)');
      // a namespace bound at PATH by hand (unshare --net=PATH, which takes no lock) before the start's attach...
      execFileSync('unshare', [`--net=${path}`, 'true']);
      await until(() => mountsAt(path).length === 2, 5000, "the start's bind attached over it");
      // ... and another over the start's, after its attach
      execFileSync('unshare', [`--net=${path}`, 'true']);
      const top = statSync(path).ino;
      const r = await a;
      expect(r.exitCode, r.stderr).toBe(125);
      expect(r.stderr.split('\n')[0]).toBe(`ns-clone: persist net namespace at ${path}: a namespace is already bound there (bound by another start at the same time)`);
      // all three stay: the start's own, under the one bound over it, cannot go without it
      expect(mountsAt(path)).toHaveLength(3);
      expect(statSync(path).ino, 'the namespace bound on top').toBe(top);
    } finally {
      await a.catch(() => {});
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
  });

  it("--dry-run's bind line, pasted into sh with PID set, binds the namespace at PATH: its directory made first, a space in PATH quoted (it printed an unquoted touch PATH with no mkdir)", async () => {
    const dir = tmp('persist-dry');
    const path = join(dir, 'a b', 'net');
    const escaped = path.replace(/ /g, '\\040'); // (mountinfo's spelling of a space)
    const dry = await ns(['--dry-run', `--net=${path}`, '--', 'true']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const line = dry.stdout.split('\n').find((l) => l.includes('mount --bind'));
    expect(line).toBeDefined();
    expect(existsSync(join(dir, 'a b'))).toBe(false);
    const holder = spawn('unshare', ['--net', 'sleep', '30'], { stdio: 'ignore' });
    try {
      const ours = readlinkSync('/proc/self/ns/net');
      await until(() => { try { return readlinkSync(`/proc/${holder.pid}/ns/net`) !== ours; } catch { return false; } }, 5000, 'the holder in its netns');
      execFileSync('sh', ['-ec', line!], { env: { ...process.env, PID: String(holder.pid) } });
      expect(mountsAt(escaped)).toHaveLength(1);
      expect(`net:[${statSync(path).ino}]`).toBe(readlinkSync(`/proc/${holder.pid}/ns/net`));
    } finally {
      holder.kill('SIGKILL');
      while (mountsAt(escaped).length) execFileSync('umount', [path]);
    }
  });

  it('a file that was there before survives a bind mount the kernel refuses (shared propagation, mount namespace)', async () => {
    const dir = tmp('persist-shared');
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    execFileSync('mount', ['--bind', shared, shared]);
    try {
      execFileSync('mount', ['--make-shared', shared]);
      const keep = join(shared, 'keep');
      writeFileSync(keep, 'kept\n');
      const r = await ns([`--mount=${keep}`, '--', 'true']);
      expect(r.exitCode).toBe(125);
      expect(r.stderr.split('\n')[0]).toMatch(/^ns-clone: persist mnt namespace at .*\/keep: /);
      expect(readFileSync(keep, 'utf8')).toBe('kept\n');
    } finally {
      execFileSync('umount', [shared]);
    }
  });

  it('the directories made for a path go again when the container fails to start', async () => {
    const dir = tmp('persist-dirs');
    const r = await ns([`--uts=${join(dir, 'a/b/uts')}`, '--', '/nonexistent']);
    expect(r.exitCode).toBe(127);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a path that already holds a namespace is refused in one line, and its namespace stays', async () => {
    const dir = tmp('persist-twice');
    const file = join(dir, 'net');
    expect((await ns([`--net=${file}`, '--', 'true'])).exitCode).toBe(0);
    try {
      const ino = statSync(file).ino;
      const again = await ns([`--net=${file}`, '--', 'true']);
      expect(again.exitCode).toBe(125);
      expect(again.stderr.split('\n')[0]).toBe(`ns-clone: persist net namespace at ${file}: a namespace is already bound there`);
      expect(again.stderr).toMatch(/hint: umount /);
      expect(mountsAt(file)).toHaveLength(1);
      expect(statSync(file).ino).toBe(ino);
    } finally {
      execFileSync('umount', [file]);
    }
  });

  it('a PATH reached through a symlink (/var/run/netns/X is /run/netns/X here) is bound, found bound and taken back under the name mountinfo gives it, and given twice through the symlink it is refused (it was bound, then undone as bound by another start: 125, its file left)', async () => {
    const dir = tmp('persist-symlink');
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    const viaLink = join(dir, 'link', 'net');
    const real = join(dir, 'real', 'net');
    const state = join(dir, 'state');
    const r = await ns([`--net=${viaLink}`, '--', 'true']);
    try {
      expect(r.exitCode, r.stderr).toBe(0);
      expect(mountsAt(real)).toHaveLength(1);
      const again = await ns([`--net=${viaLink}`, '--', 'true']);
      expect(again.exitCode).toBe(125);
      expect(again.stderr.split('\n')[0]).toBe(`ns-clone: persist net namespace at ${viaLink}: a namespace is already bound there`);
    } finally {
      while (mountsAt(real).length) execFileSync('umount', [real]);
    }
    // held and aborted: the release finds its bind through the symlink and takes it back with its file
    execFileSync('rm', ['-f', real]);
    const held = await ns(['-d', '--wait-for-setup', `--net=${viaLink}`, '--', 'sleep', '30'], { env: { BOXKIT_STATE_DIR: state } });
    expect(held.exitCode, held.stderr).toBe(0);
    const pinned = pin(Number(held.stdout));
    try {
      expect(mountsAt(real)).toHaveLength(1);
      expect((await ns(['release', held.stdout, '--abort'], { env: { BOXKIT_STATE_DIR: state } })).exitCode).toBe(0);
      await until(() => !alive(Number(held.stdout)), 5000, 'the aborted child to exit');
      expect(mountsAt(real)).toEqual([]);
      expect(existsSync(real)).toBe(false);
    } finally {
      signalPinned(pinned);
      while (mountsAt(real).length) execFileSync('umount', [real]);
    }
    const twice = await ns([`--net=${real}`, `--uts=${viaLink}`, '--', 'true']);
    expect(twice.exitCode).toBe(125);
    expect(twice.stderr.split('\n')[0]).toMatch(/the path is given twice/);
    expect(readdirSync(join(dir, 'real'))).toEqual([]);
  });

  it('--netns with --net (or --net=PATH) is refused: the new namespace would go unused; --all --netns joins without making one', async () => {
    const host = createHost(testName('persist-netns'));
    try {
      const dir = tmp('persist-netns');
      const file = join(dir, 'net');
      for (const args of [['--net', '--netns', host], [`--net=${file}`, '--netns', host], ['--persist', `net=${file}`, '--netns', host]]) {
        const r = await ns([...args, '--', 'true']);
        expect(r.exitCode, args.join(' ')).toBe(125);
        expect(r.stderr.split('\n')[0]).toBe('ns-clone: --netns joins a network namespace: --net (a new one) cannot go with it');
        expect(existsSync(file)).toBe(false);
      }
      const expected = inHost(host, 'readlink', ['/proc/self/ns/net']).trim();
      const all = await ns(['--all', '--netns', host, '--', 'readlink', '/proc/self/ns/net']);
      expect(all.exitCode, all.stderr).toBe(0);
      expect(all.stdout).toBe(expected);
      const dry = await ns(['--dry-run', '--all', '--netns', host, '--', 'true']);
      expect(dry.stdout.split('\n')[0]).not.toMatch(/CLONE_NEWNET/);
    } finally {
      destroyHost(host);
    }
  });
});
