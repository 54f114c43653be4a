import { err } from './stdio.js';

/**
 * Errors every tool reports the same way: one line `<tool>: <what>: <why>`,
 * an optional `hint:` line, and an exit code callers can trust.
 */
export const EXIT = {
  OK: 0,
  /** the system refused */
  SYSTEM: 1,
  /** bad usage or bad input */
  USAGE: 2,
  /** the tool failed before the command started (docker/env convention) */
  CANNOT_START: 125,
  NOT_EXECUTABLE: 126,
  NOT_FOUND: 127,
} as const;

export interface BoxkitErrorOptions {
  hint?: string;
  exitCode?: number;
  cause?: unknown;
}

export class BoxkitError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint?: string;
  constructor(code: string, message: string, opts: BoxkitErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'BoxkitError';
    this.code = code;
    this.exitCode = opts.exitCode ?? EXIT.SYSTEM;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}

/** Bad usage or input: exit 2, raised before anything changes. */
export class UsageError extends BoxkitError {
  constructor(message: string, hint?: string) {
    super('EUSAGE', message, hint !== undefined ? { hint, exitCode: EXIT.USAGE } : { exitCode: EXIT.USAGE });
    this.name = 'UsageError';
  }
}

/** The one-line form of any error, for stderr. */
export function describeError(e: unknown): { message: string; hint?: string; exitCode: number } {
  if (e instanceof BoxkitError) return { message: e.message, ...(e.hint ? { hint: e.hint } : {}), exitCode: e.exitCode };
  if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string') {
    const err = e as NodeJS.ErrnoException;
    // a relative path was given (or looked for) in a directory someone removed
    if (err.syscall === 'uv_cwd') return { message: 'the current directory no longer exists', hint: 'cd to a directory that exists, or give absolute paths', exitCode: EXIT.SYSTEM };
    const hint = err.code === 'EPERM' || err.code === 'EACCES' ? 'this needs root (or CAP_SYS_ADMIN/CAP_NET_ADMIN)' : undefined;
    return { message: err.message.replace(/^(\w+): /, ''), ...(hint ? { hint } : {}), exitCode: EXIT.SYSTEM };
  }
  return { message: e instanceof Error ? e.message : String(e), exitCode: EXIT.SYSTEM };
}

/**
 * `e` said after what was done already (`web: stopped, not removed`), still
 * one line, its code, hint and exit code kept: for a command that failed
 * after an effect that cannot be undone, so the user knows where it stands.
 */
export function after(done: string, e: unknown, hint?: string): BoxkitError {
  const d = describeError(e);
  const h = d.hint ?? hint;
  return new BoxkitError(errorCode(e), `${done}: ${d.message.split('\n')[0]}`, { cause: e, exitCode: d.exitCode, ...(h ? { hint: h } : {}) });
}

/** The code of any error, for one that says it again with more: a BoxkitError's, Node's (ENOSPC ...), or EFAILED. */
export function errorCode(e: unknown): string {
  return e instanceof BoxkitError ? e.code : ((e as NodeJS.ErrnoException)?.code ?? 'EFAILED');
}

/**
 * Report a command's failure the way every boxkit tool does: one line
 * (`TOOL: message`), a hint line when there is one, the stack with
 * BOXKIT_DEBUG=1, each through `write` (a line without its newline).
 * Returns the exit code; a tool that runs a user's command (`runsCommand`)
 * ends its own failures with 125, as docker and env do.
 */
export function reportFailure(tool: string, e: unknown, write: (line: string) => void, runsCommand = false): number {
  const d = describeError(e);
  write(`${tool}: ${d.message}`);
  if (d.hint) write(`hint: ${d.hint}`);
  if (process.env.BOXKIT_DEBUG === '1' && e instanceof Error) write(`${e.stack}`);
  return runsCommand && (d.exitCode === EXIT.SYSTEM || d.exitCode === EXIT.USAGE) ? EXIT.CANNOT_START : d.exitCode;
}

/** reportFailure's usual `write`: a line on stderr. */
export const toStderr = err;
