/**
 * Paths as the kernel will see them: absolute, symlinks resolved (so that
 * "inside a lower" checks cannot be fooled and mountinfo shows the same
 * strings), including paths that do not exist yet.
 */
import { fstatSync, lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UsageError } from '@boxkit/common';
import { realPathOfPrefix } from '@boxkit/common/dirs';

/**
 * An empty path ('' typed, or `--upper=`) is refused, naming where it was
 * given: it resolved as the current directory (`umount ''` unmounted it,
 * `diff ''` listed it as an upper) or was dropped (`--upper ''` made a
 * read-only union, `--work ''` the default one). yargs hands a lone `-`
 * over as '' too: typed as such, it is named as `-` (not stdin here).
 */
export function refuseEmpty(name: string, value: string | readonly string[] | undefined, needed: string, dashHint = "a file named '-' is ./-"): void {
  if (value === undefined || !(typeof value === 'string' ? [value] : value).some((v) => v === '' || v === '-')) return;
  const dash = (typeof value === 'string' ? value === '-' : value.includes('-')) || dashTyped(name, process.argv.slice(2));
  if (dash) throw new UsageError(`${name} '-': ${needed} is needed (not stdin or stdout, as tar's -f - takes it)`, dashHint);
  throw new UsageError(`${name} is empty`, `give ${needed}${needed.endsWith('directory') ? " ('.' is the current one)" : ''}`);
}

// the options' short names (cli.ts), for `-u -`
const SHORT: Record<string, string> = { '--lower': '-l', '--upper': '-u', '--work': '-w' };

/**
 * Was `-` typed for `name`? An option's own value only (`--upper -`, `-u -`, `--upper=-`): `--upper '' --work -`
 * named the empty upper '-'. An operand (MOUNTPOINT, OUTPUT): a lone `-` anywhere.
 */
function dashTyped(name: string, argv: readonly string[]): boolean {
  if (!name.startsWith('--')) return argv.includes('-');
  const flags = [name, ...(SHORT[name] ? [SHORT[name]] : [])];
  return argv.some((a, i) => a === `${name}=-` || (flags.includes(a) && argv[i + 1] === '-'));
}

/** realpath of the longest existing prefix, plus the rest (relative to `cwd`, or the current directory). */
export function realPath(p: string, cwd?: string): string {
  // the current directory only for a relative path: it may have been removed (process.cwd() throws then)
  return realPathOfPrefix(isAbsolute(p) ? resolve(p) : resolve(cwd ?? process.cwd(), p));
}

/** a is b or below it. */
export function inside(a: string, b: string): boolean {
  return a === b || a.startsWith(b.endsWith('/') ? b : `${b}/`);
}

/** The nearest path at or above `p` that exists (what a mkdir -p of `p` would build on), with its stat. */
export function existingAncestor(p: string): { path: string; st: Stats } {
  for (let a = p; ; a = dirname(a)) {
    const st = statOrUndefined(a);
    if (st) return { path: a, st };
    if (a === dirname(a)) return { path: a, st: statSync(a) };
  }
}

/**
 * Why a mkdir -p of the missing path `p` would fail, if it would: a file
 * or a dangling symlink on the way. Checked before anything is made.
 */
export function blockedPath(p: string): string | undefined {
  for (let a = p; a !== dirname(a); a = dirname(a)) {
    const st = statOrUndefined(a);
    if (st) return st.isDirectory() ? undefined : `${a} is not a directory`;
    if (lstatOrUndefined(a)?.isSymbolicLink()) return `${a} is a symlink to ${readlinkSync(a)}, which does not exist`;
  }
  return undefined;
}

// throwIfNoEntry: a missing path is the common case here (dirs a mount makes), and a thrown error costs ~20 us
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES...
  }
}

export function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * The directory `a` names is the one `b` names: the same path, or the same
 * inode. A mounted union's layers are named in mountinfo as the mount was
 * given them, so the same dir may be spelled through a bind mount or a
 * symlink (by mount(8) or another tool).
 */
export function sameDir(a: string, b: string): boolean {
  if (a === b) return true;
  const sa = idOf(a);
  if (!sa) return false;
  const sb = idOf(b);
  return !!sb && sa.dev === sb.dev && sa.ino === sb.ino;
}

function idOf(p: string): { dev: bigint; ino: bigint } | undefined {
  try {
    return statSync(p, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * What an open file is now: inode, size, mtime and ctime. Any write moves
 * ctime, which no caller can set back: a file read twice (hashed, then
 * extracted) with the same stamp both times held the same bytes.
 */
export function fileStamp(fd: number): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}
