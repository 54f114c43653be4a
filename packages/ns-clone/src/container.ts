/**
 * Starting a container: clone the child held at its first step, write its
 * id maps, persist its namespace files, let the caller attach cgroups and
 * network by pid, release it, and learn whether it reached execve. A
 * failure on the way kills the child and undoes what this call made.
 */
import { spawn, StepError, NAMESPACES, type Child, type ExitStatus, type NamespaceKind } from '@boxkit/native';
import { BoxkitError, EXIT } from '@boxkit/common/errors';
import type { ContainerSpec } from './spec.js';
import { planContainer, type ContainerPlan } from './plan.js';
import { writeMaps } from './idmap.js';
import { checkSpec } from './check.js';
import { persistNamespace, undoPersist, type Persisted } from './persist.js';

export interface StartOptions {
  /** Called with the child's host pid after the maps are written and before it runs anything else. */
  beforeRelease?: (pid: number) => Promise<void> | void;
  /** Do not tie the child's life to this process (no parent-death signal). */
  detach?: boolean;
  /**
   * Called before each namespace is bound to its PATH, with what persisting
   * made so far and the one about to be bound (its namespace's identity
   * included): a detached start records it first, so that a kill at any
   * moment leaves a record naming the bind (`release --abort` takes it back).
   */
  beforeBind?: (pid: number, persisted: readonly Persisted[]) => void;
  /** Print each step (the plan's lines) before running, like set -x. */
  trace?: (line: string) => void;
  /** Return once the child is released, without waiting for execve (used with a setup fifo). */
  noConfirm?: boolean;
  /** argv is a default shell the user did not name: fail early when the root lacks it. */
  defaultShell?: boolean;
}

export interface RunningContainer {
  /** The command's pid on the host (with --init: the init's). */
  pid: number;
  plan: ContainerPlan;
  /** /proc/PID/ns/<file> for every namespace created. */
  namespaces: Partial<Record<NamespaceKind, string>>;
  /** Namespace files bind-mounted to outlive the process. */
  persisted: string[];
  /** Take them back (what this run made: a file the user had at PATH stays): for a command that never ran. */
  unpersist(): void;
  /** Resolves once the child is reaped. */
  wait(): Promise<ExitStatus>;
  /** Send a signal (ESRCH ignored). */
  signal(sig: NodeJS.Signals | number): void;
  /**
   * With `noConfirm`: resolves once CMD has been exec'd, rejects with the
   * mapped step failure (a BoxkitError with exit code 125/126/127).
   */
  execed: Promise<void>;
}

const EXEC_CODES: Record<string, number> = { ENOENT: EXIT.NOT_FOUND, ENOTDIR: EXIT.NOT_FOUND };

/** A failed step as a BoxkitError with the docker/env exit code (127 not found, 126 not executable, else 125). */
export function stepFailure(e: StepError): BoxkitError {
  if (e.stepName === 'exec') {
    const code = EXEC_CODES[e.code] ?? EXIT.NOT_EXECUTABLE;
    const why = code === EXIT.NOT_FOUND ? 'command not found' : e.message.replace(/^exec( \S+)?: /, '');
    return new BoxkitError(e.code, `exec ${e.object ?? ''}: ${why}`, { exitCode: code, cause: e });
  }
  return new BoxkitError(e.code, `setup step ${e.step} failed: ${e.message}`, { exitCode: EXIT.CANNOT_START, cause: e, ...(e.hint ? { hint: e.hint } : {}) });
}

export function nsPaths(pid: number, kinds: readonly NamespaceKind[]): Partial<Record<NamespaceKind, string>> {
  return Object.fromEntries(kinds.map((k) => [k, `/proc/${pid}/ns/${NAMESPACES[k].file}`]));
}

function signal(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Start the container described by `spec`; resolves once CMD has been exec'd. */
export async function startContainer(spec: ContainerSpec, opts: StartOptions = {}): Promise<RunningContainer> {
  checkSpec(spec, opts.defaultShell);
  const plan = planContainer(spec);
  if (opts.trace) for (const l of plan.describe) opts.trace(l);
  let child: Child;
  try {
    child = spawn({ flags: plan.flags, steps: plan.steps, pdeathsig: opts.detach ? 0 : 9 });
  } catch (e) {
    // the message names the call already ("clone: ...", or "execve .../bk-stage: ...")
    throw new BoxkitError('ECLONE', (e as Error).message, {
      exitCode: EXIT.CANNOT_START,
      cause: e,
      ...((e as { code?: string }).code === 'EPERM' ? { hint: 'creating these namespaces needs root, or add --user (--map-root-user)' } : {}),
    });
  }
  const persisted: string[] = [];
  const made: Persisted[] = [];
  try {
    await writeMaps(child.pid, spec.uidMap, spec.gidMap);
    for (const p of spec.persist ?? []) {
      made.push(persistNamespace(child.pid, p, opts.beforeBind && ((m) => opts.beforeBind!(child.pid, [...made, m]))));
      persisted.push(p.path);
    }
    await opts.beforeRelease?.(child.pid);
    child.release();
    if (!opts.noConfirm) child.confirmExec();
  } catch (e) {
    child.abort();
    signal(child.pid, 'SIGKILL');
    child.close();
    await child.wait();
    // only what this call made: a file the user had at PATH stays
    for (const p of made.reverse()) undoPersist(p);
    if (e instanceof StepError) throw stepFailure(e);
    if (e instanceof BoxkitError) throw new BoxkitError(e.code, e.message, { exitCode: EXIT.CANNOT_START, cause: e, ...(e.hint ? { hint: e.hint } : {}) });
    throw new BoxkitError('ESETUP', (e as Error).message, { exitCode: EXIT.CANNOT_START, cause: e });
  }
  const pid = child.pid;
  let execed = Promise.resolve();
  if (opts.noConfirm && opts.detach) child.close(); // nobody stays to listen
  else if (opts.noConfirm) {
    execed = child.confirmExecAsync().catch((e: unknown) => {
      throw e instanceof StepError ? stepFailure(e) : e;
    });
  }
  execed.catch(() => {}); // a caller that never looks must not crash the process
  return {
    execed,
    pid,
    plan,
    namespaces: nsPaths(pid, spec.namespaces),
    persisted,
    unpersist: () => {
      for (const p of made.splice(0).reverse()) undoPersist(p);
    },
    wait: () => child.wait(),
    signal: (sig) => signal(pid, sig),
  };
}
