/**
 * The built-in default root filesystem: Debian's busybox-static binary with
 * a symlink for each of its applets, plus the skeleton. It is made from the
 * host's own /bin/busybox (no network), once, under the data dir, and is
 * then shared read-only as the lower layer of every container that names no
 * --rootfs or --image.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BoxkitError } from '@boxkit/common';
import { dataDir, withLock } from '@boxkit/common';
import { shellQuote } from '@boxkit/common/exec';
import { skeletonShell, writeSkeleton } from './skeleton.js';

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox', '/sbin/busybox'];

export function defaultRootfsDir(): string {
  return dataDir('rootfs', 'default');
}

/** The host's statically linked busybox, or a clear error naming the package. */
export function findBusybox(): string {
  const bb = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!bb) {
    throw new BoxkitError('ENOBUSYBOX', 'default rootfs: busybox is not installed', {
      hint: 'apt-get install busybox-static (or pass --rootfs DIR)',
    });
  }
  return bb;
}

/** Where busybox's applets go, beside the skeleton's directories. */
const APPLET_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'var', 'run'];

/** Build the busybox tree at `dir` (replaced atomically: built beside it, then renamed). */
export function buildBusyboxRootfs(dir: string, busybox = findBusybox()): string[] {
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  writeSkeleton(tmp);
  for (const d of APPLET_DIRS) mkdirSync(join(tmp, d), { recursive: true });
  copyFileSync(busybox, join(tmp, 'bin', 'busybox'));
  chmodSync(join(tmp, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    const link = join(tmp, a);
    if (a === 'bin/busybox' || existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync('/bin/busybox', link);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  return applets;
}

/**
 * buildBusyboxRootfs as shell lines a user could paste (--dry-run): built in
 * place, and the applets' links made by busybox itself (the same links:
 * one to /bin/busybox in its own directory for each applet).
 */
export function busyboxRootfsShell(dir: string, busybox = findBusybox()): string[] {
  const at = (p: string) => shellQuote([join(dir, p)]);
  return [
    ...skeletonShell(dir),
    `mkdir -p ${APPLET_DIRS.map(at).join(' ')}`,
    shellQuote(['cp', busybox, join(dir, 'bin', 'busybox')]),
    `chmod 755 ${at('bin/busybox')}`,
    `chroot ${shellQuote([dir])} /bin/busybox --install -s`,
  ];
}

/** The default rootfs, built on first use (under a lock: concurrent first runs build it once). */
export async function ensureDefaultRootfs(rebuild = false): Promise<{ dir: string; built: boolean }> {
  const dir = defaultRootfsDir();
  if (!rebuild && existsSync(join(dir, 'bin', 'busybox'))) return { dir, built: false };
  return withLock(dataDir('rootfs', '.lock'), () => {
    if (!rebuild && existsSync(join(dir, 'bin', 'busybox'))) return { dir, built: false };
    buildBusyboxRootfs(dir);
    return { dir, built: true };
  });
}
