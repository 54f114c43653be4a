/**
 * A file system call that failed on one of the user's paths, said as every
 * boxkit error is: one line naming that path (the one the user gave, not a
 * temporary sibling) and why, and a hint saying what to do. Node's own text
 * ("ENOSPC: no space left on device, write") names neither.
 */
import { statSync } from 'node:fs';
import { BoxkitError } from '@boxkit/common';

/** strerror's words (Node's own message wraps them in the code and the syscall) */
const REASON: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  ELOOP: 'too many levels of symbolic links',
  EOPNOTSUPP: 'operation not supported',
  ENOTSUP: 'operation not supported',
};

/** Node's "CODE: text, syscall 'path'" and native's "syscall path: text (CODE)", without all but the text. */
function reason(e: Error, code: string): string {
  const m = e.message;
  return REASON[code] ?? /^[A-Z0-9]+: (.*?), \w+(?: '.*')?$/.exec(m)?.[1] ?? /: ([^:]*) \([A-Z0-9]+\)$/.exec(m)?.[1] ?? m;
}

/** What to do about a failure, by errno code; `default` for the others. */
export type Hints = Partial<Record<string, string>> & { default?: string };

/** The errno code of a Node or native (SysError) file system error, or undefined for anything else. */
export function fsCode(e: unknown): string | undefined {
  if (e instanceof BoxkitError) return undefined;
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** The path a Node or native file system error names, if any. */
export function fsPath(e: unknown): string | undefined {
  const p = (e as { path?: unknown } | undefined)?.path;
  return typeof p === 'string' ? p : undefined;
}

/**
 * `e` as `WHAT: reason` (`what`: the path, or an action and the path) with
 * the hint for its code, exit 1 (the system refused). Anything that is not
 * a file system error (a BoxkitError already, a bug) is returned as it is.
 */
export function fsError(e: unknown, what: string, hints: Hints = {}): unknown {
  const code = fsCode(e);
  if (code === undefined) return e;
  const hint = hints[code] ?? hints.default;
  return new BoxkitError(code, `${what}: ${reason(e as Error, code)}`, { cause: e, ...(hint ? { hint } : {}) });
}

/** Hints for a path the tool writes (the commit's OUT, the extraction's DIR). */
export function writeHints(where: string, elsewhere: string): Hints {
  const full = `free space on the file system of ${where}, or ${elsewhere}`;
  return {
    ENOSPC: full, EDQUOT: full, EFBIG: full,
    EROFS: `${elsewhere}: ${where} is on a read-only file system`,
    EACCES: `${elsewhere}, one this user can write to (or run as root)`,
    EPERM: `${elsewhere}, one this user can write to (or run as root)`,
  };
}

/** Hints for a layer `cmd` reads (an upper, a lower) that failed to read. */
export function readHints(cmd: string): Hints {
  const perm = `${cmd} reads every file of the layers, and their xattrs: run it as root`;
  const changed = `the layer changed while it was read: run ${cmd} again once nothing writes to the union`;
  return { EACCES: perm, EPERM: perm, ENOENT: changed, ENOTDIR: changed };
}

/**
 * Why `what` `p` cannot be looked at, when that is not because it is missing
 * (EACCES on a directory above it, ELOOP, EIO): a check that took any failed
 * stat for "no such directory" sent the user looking for the wrong fault.
 * Called only once that check failed, so the hot path pays nothing.
 */
export function unreachable(p: string, what = '', hint?: string): unknown {
  try {
    statSync(p);
    return undefined;
  } catch (e) {
    const code = fsCode(e);
    if (code === undefined || code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    const perm = hint ?? `this user cannot reach ${p}: give a path it can read (or run as root)`;
    return fsError(e, `${what ? `${what} ` : ''}${p}`, { EACCES: perm, EPERM: perm, ELOOP: 'a symlink on the way leads back to itself: give the path it should lead to' });
  }
}
