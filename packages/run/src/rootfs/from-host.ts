/**
 * A root filesystem made of host executables, as the article's section 4
 * does by hand: each executable plus its whole shared-library closure (what
 * ldd lists, the dynamic loader included) copied to the same paths, and the
 * skeleton. Nothing else of the host goes in.
 */
import { chmodSync, constants, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { BoxkitError, UsageError, run, shellQuote } from '@boxkit/common';
import { writeSkeleton } from './skeleton.js';
import { lexists, realPathOfPrefix } from '@boxkit/common/dirs';
import { sweepAsides } from '@boxkit/common/state';
import { checkOwnRoot, fileInside, mkdirInside } from './beneath.js';
import { ranFrom } from './ran-from.js';

/** Parse `ldd` output: the absolute paths of the libraries (and the loader). */
export function parseLdd(out: string): string[] {
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** The files an executable needs: itself and its libraries (empty closure for static binaries). */
export async function closure(exe: string): Promise<string[]> {
  const r = await run('ldd', [exe], { okCodes: [1] });
  // static executables: ldd says "not a dynamic executable" and exits 1
  const libs = r.exitCode === 0 ? parseLdd(r.stdout) : [];
  return [exe, ...libs];
}

/** One thing the copy does, as data: planned by planCopy, done by applyCopy, shown by copyShell. */
export type CopyStep =
  | { kind: 'symlink'; target: string; dest: string }
  | { kind: 'mkdir'; dest: string; mode: number }
  | { kind: 'copy'; from: string; dest: string; mode: number };

/**
 * The steps copying `path` into `root` at the same place. Symlinks on the
 * way are recreated (so /lib64/ld-linux-x86-64.so.2 -> ... still
 * resolves), then the real file is copied too. `seen`: paths planned already.
 */
function planCopy(root: string, path: string, seen: Set<string>, steps: CopyStep[]): void {
  if (seen.has(path)) return;
  seen.add(path);
  // recreate symlinked parent directories as they are on the host (merged /usr: /lib -> usr/lib)
  const parent = dirname(path);
  if (parent !== '/') planDirChain(root, parent, seen, steps);
  // at its real place (its parent's symlinks resolved, as the chain above recreates them):
  // never through a link made in root, whose absolute target would lead out of it
  const dest = join(root, parent === '/' ? '' : realpathSync(parent), basename(path));
  const st = lstatSync(path);
  if (st.isSymbolicLink()) {
    const target = readlinkSync(path);
    steps.push({ kind: 'symlink', target, dest });
    planCopy(root, isAbsolute(target) ? target : resolve(dirname(path), target), seen, steps);
    return;
  }
  if (st.isDirectory()) steps.push({ kind: 'mkdir', dest, mode: st.mode & 0o7777 });
  else steps.push({ kind: 'copy', from: path, dest, mode: st.mode & 0o7777 });
}

/** Each directory of `dir` in root; host symlinks among them stay symlinks. */
function planDirChain(root: string, dir: string, seen: Set<string>, steps: CopyStep[]): void {
  const parts = dir.split('/').filter(Boolean);
  let cur = '';
  for (const p of parts) {
    cur += `/${p}`;
    const st = lstatSync(cur);
    if (st.isSymbolicLink()) {
      planCopy(root, cur, seen, steps);
      // continue under the link's real location
      return planDirChain(root, realpathSync(dir), seen, steps);
    }
    if (!seen.has(cur)) {
      seen.add(cur);
      steps.push({ kind: 'mkdir', dest: join(root, cur), mode: st.mode & 0o7777 });
    }
  }
}

/** Do the steps in `root`; what exists already there is kept, and nothing is written through a symlink leading out of it. */
function applyCopy(root: string, steps: readonly CopyStep[]): void {
  for (const s of steps) {
    if (s.kind === 'mkdir') {
      if (!lexists(s.dest)) mkdirInside(root, s.dest, s.mode);
      continue;
    }
    if (s.kind === 'copy') {
      // written aside and renamed over, as install(1) does: copied in place, a library or program a
      // container of this rootfs had mapped was truncated under it (SIGBUS, 135) on a re-run
      fileInside(root, s.dest);
      // (what a copy killed half-way left beside it: DEST.PID.tmp of a writer gone since; after fileInside: no symlink out)
      sweepAsides(dirname(s.dest), [basename(s.dest)]);
      const tmp = `${s.dest}.${process.pid}.tmp`;
      try {
        copyFileSync(s.from, tmp, constants.COPYFILE_EXCL);
        chmodSync(tmp, s.mode);
        renameSync(tmp, s.dest);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
    } else if (!lexists(s.dest)) {
      mkdirInside(root, dirname(s.dest));
      symlinkSync(s.target, s.dest);
    }
  }
}

/** The steps as shell lines a user could paste (--dry-run). */
export function copyShell(steps: readonly CopyStep[]): string[] {
  const mode = (m: number) => m.toString(8).padStart(3, '0');
  return steps.map((s) => {
    if (s.kind === 'mkdir') return `[ -e ${shellQuote([s.dest])} ] || mkdir -p -m ${mode(s.mode)} ${shellQuote([s.dest])}`;
    if (s.kind === 'copy') return shellQuote(['install', '-D', '-m', mode(s.mode), s.from, s.dest]);
    return `[ -e ${shellQuote([s.dest])} ] || ln -s ${shellQuote([s.target, s.dest])}`;
  });
}

export interface FromHostResult {
  dir: string;
  executables: string[];
  files: string[];
}

/** Host directories whose whole tree is the system's (FHS): no rootfs goes in them or below them. */
const SYSTEM_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys', '/usr'];
/** Host directories a rootfs may go below, in a directory of its own, but not into. */
const SYSTEM_DIRS = new Set(['/home', '/media', '/mnt', '/opt', '/root', '/run', '/srv', '/tmp', '/var', '/var/cache', '/var/lib', '/var/log', '/var/spool', '/var/tmp']);

/**
 * Refuse a DIR that is one of the host's system directories, or inside
 * /usr, /etc, /boot... (through symlinks too): being root's and 0755, they
 * passed checkOwnRoot, and `run rootfs /etc --from-host /bin/ls` made
 * /etc/etc, /etc/root, a world-writable /etc/tmp and /etc/bin -> usr/bin in
 * the host's /etc (and /usr/local, /var/lib, /etc/ssh passed a check of the
 * top-level names alone).
 */
function refuseSystemDir(target: string): void {
  // resolved through its nearest existing ancestor: a new DIR below a symlink to /etc is in /etc
  const real = realPathOfPrefix(target);
  for (const d of new Set([target, real])) {
    const tree = SYSTEM_TREES.find((t) => d === t || d.startsWith(`${t}/`));
    if (tree || SYSTEM_DIRS.has(d)) {
      throw new UsageError(`rootfs: refusing to write into the host's ${tree && tree !== d ? `${d} (under ${tree})` : d}`, 'build into a directory of its own: run rootfs ./rootfs --from-host /bin/bash');
    }
  }
}

/** What a root filesystem holds (the directories the container setup mounts onto, and /etc): `run rootfs` makes them first. */
const ROOTFS_SHAPE = ['etc', 'proc', 'sys', 'dev'];

/**
 * DIR is new, empty (lost+found aside), or a root filesystem already (one `run rootfs` built, to
 * add programs to, or any other with etc/ proc/ sys/ dev/, or a FROM-scratch one a container has
 * run from: ran-from.ts): an existing directory of something else is refused, not filled with
 * etc/, bin/ and a world-writable tmp/ (`run rootfs /var/lib/dpkg` passed the system-directory
 * check, which refuses /var/lib itself only).
 */
function refuseForeignDir(target: string): void {
  let st;
  try {
    st = statSync(target);
  } catch {
    return; // made here (or checkOwnRoot says why not)
  }
  if (!st.isDirectory()) throw new UsageError(`rootfs: ${target} is not a directory`, 'build into a new directory: run rootfs ./rootfs --from-host /bin/bash');
  // (a fresh file system's mount point holds lost+found alone: empty, as mkfs left it)
  if (readdirSync(target).every((n) => n === 'lost+found')) return;
  const missing = ROOTFS_SHAPE.filter((d) => !lstatSync(join(target, d), { throwIfNoEntry: false })?.isDirectory());
  if (missing.length && !ranFrom(target)) {
    throw new UsageError(
      `rootfs: ${target} is not empty and holds no root filesystem (no ${missing.join(', ')})`,
      'build into a new or empty directory (run rootfs adds programs only to a root filesystem: one with etc/ proc/ sys/ dev/, as it builds, or a FROM-scratch one a container has run from)',
    );
  }
}

/** The rootfs's directory and the executables to put in, checked before anything is made. */
export function checkFromHost(dir: string, executables: readonly string[]): { target: string; exes: string[] } {
  if (!executables.length) throw new UsageError('rootfs: --from-host needs at least one executable');
  const exes = executables.map((e) => {
    if (!isAbsolute(e)) throw new UsageError(`rootfs: '${e}' is not an absolute path`, 'name host executables by path, e.g. /bin/bash');
    if (!existsSync(e) || !statSync(e).isFile()) throw new UsageError(`rootfs: ${e}: no such file`);
    return e;
  });
  const target = resolve(dir);
  if (target === '/') throw new UsageError('rootfs: refusing to write into /');
  refuseSystemDir(target);
  checkOwnRoot(target);
  refuseForeignDir(target);
  return { target, exes };
}

/** The copy steps for the executables and their libraries. */
export async function planFromHost(target: string, exes: readonly string[]): Promise<CopyStep[]> {
  const seen = new Set<string>();
  const steps: CopyStep[] = [];
  for (const exe of exes) {
    let needed: string[];
    try {
      needed = await closure(exe);
    } catch (e) {
      throw new BoxkitError('ELDD', `rootfs: ${exe}: cannot list its libraries: ${(e as Error).message}`);
    }
    for (const f of needed) planCopy(target, f, seen, steps);
  }
  return steps;
}

/** Build (or add to) a rootfs at `dir` from host executables. */
export async function rootfsFromHost(dir: string, executables: string[]): Promise<FromHostResult> {
  const { target, exes } = checkFromHost(dir, executables);
  const steps = await planFromHost(target, exes);
  mkdirSync(target, { recursive: true });
  writeSkeleton(target);
  applyCopy(target, steps);
  const copied = steps.filter((s) => s.kind !== 'mkdir').map((s) => s.dest.slice(target.length));
  return { dir: target, executables: exes, files: [...new Set(copied)].sort() };
}
