/** `run exec [-it] NAME CMD...`: run a command inside a running container. */
import { closeSync, openSync, statSync } from 'node:fs';
import { BoxkitError, UsageError } from '@boxkit/common';
import { FORWARDED } from '@boxkit/common/signals';
import { dryRunOutput } from '@boxkit/common/output';
import { pidfdOpen, shellStatus, SysError } from '@boxkit/native';
import { containerEnv, parseEnv } from '../container/spec.js';
import { execInContainer, execShell } from '../container/exec.js';
import { resolveUser } from '../container/user.js';
import { isAlive } from '../state/store.js';
import { mustFind } from './lookup.js';

/** Has `pid` pivoted into a root of its own (not this process's)? */
function inOwnRoot(pid: number): boolean {
  try {
    const theirs = statSync(`/proc/${pid}/root/`);
    const ours = statSync('/');
    return theirs.dev !== ours.dev || theirs.ino !== ours.ino;
  } catch {
    return false;
  }
}

export interface ExecArgs {
  name: string;
  cmd?: string[];
  '--'?: (string | number)[];
  env?: string[];
  workdir?: string;
  user?: string;
  privileged: boolean;
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** pidfd_open(PID 1); ESRCH (it ended since) is the container not running. */
function pidfdOpenOr(pid: number, ended: () => Error): number {
  try {
    return pidfdOpen(pid);
  } catch (e) {
    if (e instanceof SysError && e.code === 'ESRCH') throw ended();
    throw e;
  }
}

export async function exec(a: ExecArgs): Promise<number> {
  const argv = [...(a.cmd ?? []), ...(a['--'] ?? [])].map(String);
  if (!argv.length) throw new UsageError('exec: no command given', `run exec NAME sh`);
  if (a.detach && a.tty) throw new UsageError('-d with -t is not supported', 'a detached command has no terminal to relay; use -d alone');
  if (a.workdir !== undefined && !a.workdir.startsWith('/')) throw new UsageError(`--workdir '${a.workdir}' must be absolute`);
  const extraEnv = parseEnv(a.env ?? []);
  const rec = mustFind(a.name);
  const notRunning = () => new BoxkitError('ESRCH', `${rec.name}: container is not running`, { hint: `run ps -a` });
  if (!isAlive(rec)) throw notRunning();
  // PID 1 is recorded just before it is let go to pivot into its root: joined before that, its
  // namespaces are still the host's mounts, and the command would run in the host's root
  if (!inOwnRoot(rec.pid!)) throw new BoxkitError('EAGAIN', `${rec.name}: container is still starting`, { hint: `try again` });
  // as docker exec: the container's own environment, user and working dir, unless given
  const p = rec.process;
  const ids = a.user !== undefined ? resolveUser(`/proc/${rec.pid}/root`, a.user) : { uid: p?.uid ?? 0, gid: p?.gid ?? 0, groups: p?.groups ?? [], home: p?.home ?? '/root' };
  const env = containerEnv({ env: { ...p?.env, ...extraEnv }, tty: a.tty }, rec.hostname, ids.home);
  const workdir = a.workdir ?? p?.workdir ?? '/';
  if (a.dryRun) {
    const d = dryRunOutput(a);
    d.print(execShell(rec, argv, { env, workdir, uid: ids.uid, gid: ids.gid, tty: a.tty, detach: a.detach, interactive: a.interactive }));
    d.done({ name: rec.name, pid: rec.pid, interactive: a.interactive, tty: a.tty, detach: a.detach });
    return 0;
  }
  // as run: without -i (or -t) the caller's stdin (a script's, a loop's) is not the command's to read;
  // -d: nothing of it either way, and its output goes nowhere, as docker exec -d (it wrote on after we exited)
  // a pidfd of PID 1, checked to be the container's (its start time) after it was opened: every
  // /proc/PID path read from here on is proved PID 1's by the pidfd still naming a live process
  const pidfd = pidfdOpenOr(rec.pid!, notRunning);
  if (!isAlive(rec)) {
    closeSync(pidfd);
    throw notRunning();
  }
  const devNull = a.detach ? openSync('/dev/null', 'r+') : a.interactive || a.tty ? undefined : openSync('/dev/null', 'r');
  // -t as run -t: a pty made here, the command's session and terminal, this terminal relayed to it
  const ttys = a.tty ? await import('../container/tty.js') : undefined;
  const tty = ttys ? (ttys.allocateTtyIn(rec.pid!) ?? ttys.allocateTty()) : undefined;
  let child;
  try {
    child = await execInContainer(rec, argv, {
      env, workdir, uid: ids.uid, gid: ids.gid, groups: ids.groups, pidfd,
      privileged: a.privileged || (p?.privileged ?? false), detach: a.detach,
      ...(devNull !== undefined ? { stdio: (a.detach ? [devNull, devNull, devNull] : [devNull, 1, 2]) as [number, number, number] } : {}),
      ...(tty ? { tty: ttys!.ttySteps(tty) } : {}),
    });
  } catch (e) {
    if (tty) closeSync(tty.master);
    throw e;
  } finally {
    if (devNull !== undefined) closeSync(devNull);
    // the child has its own: the master reads EIO (the end) only once no slave fd is open
    if (tty?.slaveFd !== undefined) closeSync(tty.slaveFd);
    closeSync(pidfd);
  }
  if (a.detach) {
    child.close();
    return 0;
  }
  if (tty) ttys!.relay(tty, child.wait());
  const forward = (sig: NodeJS.Signals) => {
    try {
      process.kill(child.pid, sig);
    } catch {
      // gone
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  const st = await child.wait();
  for (const s of FORWARDED) process.off(s, forward);
  return shellStatus(st);
}
