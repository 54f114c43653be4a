/**
 * `run exec`: a new process inside a running container. The trampoline
 * child joins each of PID 1's namespaces (mnt last: after it, /proc/PID
 * would name another process), having first moved itself into the
 * container's cgroup, then forks so the command lands in the container's
 * PID namespace.
 */
import { BoxkitError, shellQuote } from '@boxkit/common';
import { NAMESPACES, StepError, execStep, spawn, type Child, type Step } from '@boxkit/native';
import type { ContainerRecord } from '../state/record.js';
import type { Group } from '@boxkit/cg';
import { joinWrites } from './cgroup.js';
import { capMask, DEFAULT_CAPS } from './program.js';
import { execFailureStatus } from './create.js';

const JOIN_ORDER = ['ipc', 'uts', 'net', 'pid', 'cgroup', 'mnt'] as const;

export interface ExecOptions {
  env: Record<string, string>;
  workdir: string;
  /** ids to switch to (default root) */
  uid?: number;
  gid?: number;
  groups?: number[];
  privileged: boolean;
  detach: boolean;
  /** fds (open in this process) to become the command's 0, 1, 2; else ours are inherited */
  stdio?: [number, number, number];
  /** steps that give it a terminal (tty.ts's ttySteps): run while the host's /dev/pts is still in view */
  tty?: Step[];
  /** a pidfd of PID 1, opened while it was known to be the container's (see ALIVE below) */
  pidfd?: number;
}

export function execProgram(pid: number, argv: string[], o: ExecOptions, cgroup?: Group): Step[] {
  // As runc's init: not dumpable until the exec (which makes it dumpable again). Forked into
  // the container's PID namespace, the process is visible there before its exec while it still
  // holds the host's memory (program, environment) and descriptors; the container's root, of
  // the same uid and without CAP_SYS_PTRACE, could otherwise ptrace it or read /proc/PID/mem.
  const steps: Step[] = [{ op: 'DUMPABLE', ints: [0] }];
  // into the container's cgroup first, while the host's /sys/fs/cgroup is still in view
  steps.push(...(cgroup ? joinWrites(cgroup) : []).map((w): Step => ({ op: 'WRITE_FILE', strs: [w.file, w.value] })));
  if (o.stdio) o.stdio.forEach((fd, to) => fd !== to && steps.push({ op: 'DUP2', ints: [fd, to] }));
  // the slave's path is the host's devpts: opened before the mount namespace is joined
  if (o.tty) steps.push(...o.tty);
  steps.push({ op: 'WAIT_SYNC' });
  for (const ns of JOIN_ORDER) {
    // mnt: its root is the container's rootfs (the trampoline's pivot_root makes it the namespace's root)
    steps.push({ op: 'SETNS', ints: [NAMESPACES[ns].flag], strs: [`/proc/${pid}/ns/${NAMESPACES[ns].file}`], ...(ns === 'cgroup' ? { optional: true } : {}) });
  }
  // PID 1 still alive after every /proc/PID open: none of them reached another process that got its PID
  if (o.pidfd !== undefined) steps.push({ op: 'ALIVE', ints: [o.pidfd] });
  steps.push({ op: 'CHDIR', strs: [o.workdir] });
  if (!o.privileged) steps.push({ op: 'CAPS', ints: [capMask(DEFAULT_CAPS)] });
  // as containerProgram: the ids after the capabilities (CAPS needs them to still be root's)
  if (o.uid || o.gid || o.groups?.length) {
    steps.push({ op: 'SETGROUPS', ints: o.groups ?? [] }, { op: 'SETRESGID', ints: [o.gid ?? 0] }, { op: 'SETRESUID', ints: [o.uid ?? 0] });
  }
  // as runc: the caller's session keyring (its keys, root's on the host) is not the container's
  steps.push({ op: 'NEW_SESSION_KEYRING' });
  if (!o.privileged) steps.push({ op: 'NO_NEW_PRIVS' });
  steps.push({ op: 'RESET_SIGNALS' }, { op: 'STDIO_FIX' }, { op: 'CLOEXEC_FROM', ints: [3] });
  // fork: setns(pid) applies to children only
  steps.push({ op: 'SUPERVISE', ints: [0] });
  steps.push(execStep(argv, o.env));
  return steps;
}

export async function execInContainer(rec: ContainerRecord, argv: string[], o: ExecOptions): Promise<Child> {
  const child = spawn({ flags: 0, steps: execProgram(rec.pid!, argv, o, rec.cgroup), pdeathsig: o.detach ? 0 : 9 });
  child.release();
  try {
    child.confirmExec();
  } catch (e) {
    void child.wait();
    if (e instanceof StepError && e.stepName === 'alive' && e.code === 'ESRCH') {
      throw new BoxkitError('ESRCH', `${rec.name}: the container ended while exec was joining it`, { hint: 'run ps -a' });
    }
    if (e instanceof StepError) {
      const what = e.stepName === 'exec' ? `exec ${argv[0]}` : `exec: joining the container (${e.stepName}${e.object ? ` ${e.object}` : ''})`;
      throw new BoxkitError(e.code, `${what}: ${e.message.replace(/^[^:]*: /, '')}`, { exitCode: execFailureStatus(e) });
    }
    throw e;
  }
  return child;
}

/**
 * The exec as one shell line (--dry-run): the same joins with util-linux's
 * nsenter, inside the container's cgroup (the capability drop left out).
 * The shell moves itself into the group's directories as the real exec
 * does (`cg exec` would join every hierarchy, making the group in those the
 * container has none in, which rm then left behind). Its stdio as the real
 * exec sets it up: -t a pseudo-terminal of its own with this terminal
 * relayed to it (script(1) does that, and returns its status), -d nothing
 * and no wait, -i the caller's stdin, neither /dev/null.
 */
export function execShell(rec: ContainerRecord, argv: readonly string[], o: { env: Record<string, string>; workdir: string; uid: number; gid: number; tty: boolean; detach: boolean; interactive: boolean }): string {
  const joins = rec.cgroup ? joinWrites(rec.cgroup) : [];
  const cg = joins.length ? ['sh', '-c', `${joins.map((w) => `echo ${w.value} > ${shellQuote([w.file])}`).join('; ')}; exec "$@"`, 'sh'] : [];
  const user = o.uid || o.gid ? ['--setuid', String(o.uid), '--setgid', String(o.gid)] : [];
  const line = shellQuote([...cg, 'nsenter', '--target', String(rec.pid), '--all', `--wdns=${o.workdir}`, ...user, '--', 'env', '-i',
    ...Object.entries(o.env).map(([k, v]) => `${k}=${v}`), ...argv]);
  if (o.tty) return shellQuote(['script', '-qec', line, '/dev/null']);
  if (o.detach) return `${line} </dev/null >/dev/null 2>&1 &`;
  return o.interactive ? line : `${line} </dev/null`;
}
