/**
 * A root filesystem made of host executables, as the article's section 4
 * does by hand: each executable plus its whole shared-library closure (what
 * ldd lists, the dynamic loader included) copied to the same paths, and the
 * skeleton. Nothing else of the host goes in.
 */
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BoxkitError, UsageError, run } from '@boxkit/common';
import { writeSkeleton } from './skeleton.js';

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

/**
 * Copy `path` into `root` at the same place. Symlinks on the way are
 * recreated (so /lib64/ld-linux-x86-64.so.2 -> ... still resolves), then
 * the real file is copied too.
 */
function copyInto(root: string, path: string, copied: Set<string>): void {
  if (copied.has(path)) return;
  copied.add(path);
  // recreate symlinked parent directories as they are on the host (merged /usr: /lib -> usr/lib)
  const parent = dirname(path);
  if (parent !== '/') copyDirChain(root, parent, copied);
  const dest = join(root, path);
  const st = lstatSync(path);
  if (st.isSymbolicLink()) {
    const target = readlinkSync(path);
    if (!existsSync(dest)) {
      mkdirSync(dirname(dest), { recursive: true });
      try {
        symlinkSync(target, dest);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    copyInto(root, isAbsolute(target) ? target : resolve(dirname(path), target), copied);
    return;
  }
  if (st.isDirectory()) {
    mkdirSync(dest, { recursive: true, mode: st.mode & 0o7777 });
    return;
  }
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(path, dest);
  chmodSync(dest, st.mode & 0o7777);
}

/** Make each directory of `dir` in root; host symlinks among them stay symlinks. */
function copyDirChain(root: string, dir: string, copied: Set<string>): void {
  const parts = dir.split('/').filter(Boolean);
  let cur = '';
  for (const p of parts) {
    cur += `/${p}`;
    const st = lstatSync(cur);
    if (st.isSymbolicLink()) {
      copyInto(root, cur, copied);
      // continue under the link's real location
      return copyDirChain(root, realpathSync(dir), copied);
    }
    const dest = join(root, cur);
    if (!existsSync(dest)) mkdirSync(dest, { mode: st.mode & 0o7777 });
  }
}

export interface FromHostResult {
  dir: string;
  executables: string[];
  files: string[];
}

/** Build (or add to) a rootfs at `dir` from host executables. */
export async function rootfsFromHost(dir: string, executables: string[]): Promise<FromHostResult> {
  if (!executables.length) throw new UsageError('rootfs: --from-host needs at least one executable');
  const exes = executables.map((e) => {
    if (!isAbsolute(e)) throw new UsageError(`rootfs: '${e}' is not an absolute path`, 'name host executables by path, e.g. /bin/bash');
    if (!existsSync(e) || !statSync(e).isFile()) throw new UsageError(`rootfs: ${e}: no such file`);
    return e;
  });
  const target = resolve(dir);
  if (target === '/') throw new UsageError('rootfs: refusing to write into /');
  mkdirSync(target, { recursive: true });
  writeSkeleton(target);
  const copied = new Set<string>();
  for (const exe of exes) {
    let files: string[];
    try {
      files = await closure(exe);
    } catch (e) {
      throw new BoxkitError('ELDD', `rootfs: ${exe}: cannot list its libraries: ${(e as Error).message}`);
    }
    for (const f of files) copyInto(target, f, copied);
  }
  return { dir: target, executables: exes, files: [...copied].sort() };
}
