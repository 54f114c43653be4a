/**
 * mkdir -p whose undo takes back only what it made. mkdirSync's recursive
 * mode names only the first directory it made, and the levels below it may
 * be someone else's, made between two of its mkdir(2)s: a failed run that
 * removed them would pull them from under that other run.
 */
import { lstatSync, mkdirSync, realpathSync, rmdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * How often a level another run took back is made again: one such undo
 * needs one retry; a few more ride out several runs failing at once (the
 * race test's loop of them lost three tries in a row about once in 3000).
 */
const TRIES = 10;

/**
 * Make `dir` and its missing parents, adding each directory this call made
 * to `made` (outermost first; a level that appeared meanwhile is another's:
 * EEXIST). A level that vanished meanwhile (ENOENT: another run's undo took
 * back an empty parent it had made, between our mkdir of it or our look and
 * our mkdir below it) is made again, up to TRIES times, as createInMadeParent
 * does for the entry. A failure part-way takes back what this call made,
 * then throws. Returns `made`.
 */
export function makeDirs(dir: string, made: string[] = [], mode = 0o755): string[] {
  const start = made.length;
  try {
    for (let tries = 0; ; tries++) {
      try {
        for (const d of missingLevels(dir)) {
          try {
            mkdirSync(d, { mode });
            made.push(d);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          }
        }
        return made;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || tries === TRIES - 1) throw e;
        dropVanished(made, start);
      }
    }
  } catch (e) {
    removeMadeDirs(made.splice(start));
    throw e;
  }
}

/** `dir` and the parents of it that do not exist, outermost first. */
function missingLevels(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !lexists(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  return missing;
}

/**
 * makeDirs(dirname(path)), then `create` the entry itself: made again when
 * create fails with ENOENT, up to TRIES times, since another run's failure may
 * take back an empty parent it shares between our mkdir and our create.
 */
export function createInMadeParent(path: string, create: () => void, made: string[], mode = 0o755): void {
  const start = made.length;
  for (let tries = 0; ; tries++) {
    makeDirs(dirname(path), made, mode);
    try {
      create();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || tries === TRIES - 1) throw e;
      dropVanished(made, start);
    }
  }
}

/**
 * Forget the levels made since `made[start]` that something outside took
 * away: not ours any more (made again, they are listed again), and listed
 * twice an undo would rmdir someone else's directory of that name.
 */
function dropVanished(made: string[], start: number): void {
  for (let i = made.length - 1; i >= start; i--) if (!lexists(made[i]!)) made.splice(i, 1);
}

/** Remove what makeDirs made (innermost first), each only while empty: another run may use it now. Empties `made`. */
export function removeMadeDirs(made: string[]): void {
  for (const d of made.splice(0).reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (someone else's files are in it now), or gone
    }
  }
}

/** Is something at `p`, itself (lstat: a symlink, even a dangling one, is there; mkdir over it would fail)? */
export function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * An absolute path as the kernel names it (mountinfo, /proc/PID/cwd): the
 * realpath of its longest existing prefix, plus the rest as given, so a path
 * that does not exist yet resolves through the symlinks above it
 * (/var/run/netns/X is /run/netns/X here). `/` when nothing resolves.
 */
export function realPathOfPrefix(abs: string): string {
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : resolve(realPathOfPrefix(parent), basename(abs));
  }
}
