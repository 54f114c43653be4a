/**
 * Joining a running container's namespaces (nsenter): the namespace files
 * are opened here, inherited by the clone() child, and joined with setns in
 * the order that works (user first: it owns the others; mnt last: its root
 * hides the host's /proc). Joining a PID or time namespace affects only
 * children, so the child forks once more (SUPERVISE) before exec.
 */
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawn, StepError, NAMESPACES, execStep, type Step, type NamespaceKind } from '@boxkit/native';
import { BoxkitError, UsageError, EXIT } from '@boxkit/common/errors';
import { procStat } from '@boxkit/common/proc';
import { NS_ORDER } from './spec.js';
import { stepFailure, type RunningContainer } from './container.js';
import { renderStep } from './render.js';

export interface EnterOptions {
  env?: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  noNewPrivs?: boolean;
  trace?: (line: string) => void;
}

/** Is `pid` in this process's namespace of that kind? (false when it cannot be told) */
function sameNamespace(pid: number, k: NamespaceKind): boolean {
  const f = NAMESPACES[k].file;
  try {
    return readlinkSync(`/proc/${pid}/ns/${f}`) === readlinkSync(`/proc/self/ns/${f}`);
  } catch {
    return false;
  }
}

/**
 * The process whose namespace files stand for `pid`'s. A boxkit-init is not
 * dumpable (native/c/trampoline.c), so a caller without CAP_SYS_PTRACE over
 * it (rootless ns-clone, whose init is a fork of Node) cannot open its
 * /proc/PID/ns files; its command, in the same namespaces (and in the time
 * namespace the init made for its children), is dumpable: join through it.
 * Any process can name itself boxkit-init: only PID 1 of a PID namespace
 * below this one (--init implies --pid) counts, and only a child of it in
 * that namespace, started after it (its pid not reused meanwhile).
 */
export function namespaceHolder(pid: number): number {
  try {
    readlinkSync(`/proc/${pid}/ns/mnt`);
    return pid;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') return pid;
  }
  const init = procStat(pid), depth = nsPids(pid)?.length ?? 0;
  if (init?.comm !== 'boxkit-init' || depth < 2 || nsPids(pid)?.[depth - 1] !== 1) return pid;
  // the command is the init's first child: the earliest started (orphans come later)
  let best: { pid: number; start: number } | undefined;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = procStat(Number(e));
    if (!st || st.ppid !== pid || st.start < init.start || (best && st.start >= best.start)) continue;
    if (nsPids(Number(e))?.length === depth) best = { pid: Number(e), start: st.start };
  }
  // read again: the init that was asked for, not a process that took its pid during the scan
  const still = procStat(pid);
  return best && still?.start === init.start && still.comm === 'boxkit-init' ? best.pid : pid;
}

/** The pid in each PID namespace from this one down to the process's own (status's NSpid; readable for any process). */
function nsPids(pid: number): number[] | undefined {
  const line = procField(pid, 'status')?.split('\n').find((l) => l.startsWith('NSpid:'));
  return line?.slice(6).trim().split(/\s+/).map(Number);
}

function procField(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The namespaces of `pid` that differ from this process's (what `--all` joins). */
export function differentNamespaces(pid: number): NamespaceKind[] {
  return NS_ORDER.filter((k) => {
    const f = NAMESPACES[k].file;
    try {
      return readlinkSync(`/proc/${pid}/ns/${f}`) !== readlinkSync(`/proc/self/ns/${f}`);
    } catch {
      return false;
    }
  });
}

/** The child's steps, given the fds of the namespace files (in NS_ORDER). */
export function enterSteps(fds: { kind: NamespaceKind; fd: number }[], argv: string[], opts: EnterOptions): Step[] {
  const steps: Step[] = fds.map(({ kind, fd }) => ({ op: 'SETNS_FD', ints: [fd, NAMESPACES[kind].flag] }));
  const kinds = fds.map((f) => f.kind);
  if (kinds.includes('pid') || kinds.includes('time')) steps.push({ op: 'SUPERVISE', ints: [0] });
  if (opts.cwd) steps.push({ op: 'CHDIR', strs: [opts.cwd] });
  // inside a user namespace, become its root unless told otherwise (nsenter does the same)
  const gid = opts.gid ?? (kinds.includes('user') ? 0 : undefined);
  const uid = opts.uid ?? (kinds.includes('user') ? 0 : undefined);
  if (gid !== undefined || uid !== undefined) steps.push({ op: 'SETGROUPS', ints: [], optional: true });
  if (gid !== undefined) steps.push({ op: 'SETRESGID', ints: [gid] });
  if (uid !== undefined) steps.push({ op: 'SETRESUID', ints: [uid] });
  if (opts.noNewPrivs) steps.push({ op: 'NO_NEW_PRIVS' });
  steps.push({ op: 'RESET_SIGNALS' }, { op: 'STDIO_FIX' }, { op: 'CLOEXEC_FROM', ints: [3] });
  steps.push(execStep(argv, opts.env ?? (process.env as Record<string, string>)));
  return steps;
}

/** Run `argv` inside the namespaces `kinds` of process `pid`; resolves once it has been exec'd. */
export async function enterContainer(pid: number, kinds: NamespaceKind[], argv: string[], opts: EnterOptions = {}): Promise<RunningContainer> {
  if (!argv.length) throw new UsageError('no command to run');
  // setns(2) refuses to re-enter the caller's own user namespace (EINVAL); nsenter --all skips it, and so do we
  const ordered = NS_ORDER.filter((k) => kinds.includes(k) && !(k === 'user' && sameNamespace(pid, 'user')));
  if (!ordered.length) {
    throw kinds.length
      ? new UsageError(`process ${pid} is in this user namespace already: nothing to enter`, 'setns cannot re-enter it; name the other namespaces (--net, --mount ...)')
      : new UsageError(`process ${pid} shares every namespace with this one: nothing to enter`, 'name the namespaces (--net, --mount ...)');
  }
  const fds: { kind: NamespaceKind; fd: number }[] = [];
  try {
    for (const kind of ordered) {
      const path = `/proc/${pid}/ns/${NAMESPACES[kind].file}`;
      try {
        fds.push({ kind, fd: openSync(path, 'r') });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new BoxkitError(code ?? 'EOPEN', `enter ${pid}: ${code === 'ENOENT' ? 'no such process' : `cannot open ${path}: ${code}`}`, { exitCode: EXIT.CANNOT_START });
      }
    }
    const steps = enterSteps(fds, argv, opts);
    if (opts.trace) for (const s of steps) opts.trace(renderStep(s));
    const child = spawn({ flags: 0, steps: [{ op: 'WAIT_SYNC' }, ...steps], pdeathsig: 9 });
    child.release();
    try {
      child.confirmExec();
    } catch (e) {
      await child.wait();
      throw e instanceof StepError ? stepFailure(e) : e;
    }
    return {
      pid: child.pid,
      plan: { flags: 0, steps, describe: steps.map(renderStep) },
      namespaces: Object.fromEntries(ordered.map((k) => [k, `/proc/${pid}/ns/${NAMESPACES[k].file}`])),
      persisted: [],
      unpersist: () => {},
      execed: Promise.resolve(),
      wait: () => child.wait(),
      signal: (sig) => {
        try {
          process.kill(child.pid, sig);
        } catch {
          // gone
        }
      },
    };
  } finally {
    for (const { fd } of fds) closeSync(fd);
  }
}
