/**
 * The skeleton every root filesystem gets: the directories the container
 * setup mounts onto (/proc, /sys, /dev, /tmp) and a minimal /etc/passwd and
 * /etc/group so `id`, `ls -l` and --user resolve names.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { lexists } from '@boxkit/common/dirs';
import { fileInside, mkdirInside } from './beneath.js';
import { join } from 'node:path';
import { shellQuote } from '@boxkit/common/exec';

/** Only what the container setup needs: executables' own directories come with them. */
export const SKELETON_DIRS = ['etc', 'proc', 'sys', 'dev', 'tmp', 'root'];

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** Directory modes other than 0755, and the files written unless there. */
const MODES: Record<string, number> = { tmp: 0o1777, root: 0o700 };
const FILES: Record<string, string> = { 'etc/passwd': PASSWD, 'etc/group': GROUP, 'etc/hostname': 'boxkit\n' };

/** Create the skeleton in `dir`; existing files are kept. */
export function writeSkeleton(dir: string): void {
  // (an existing rootfs's symlinks may lead out of it: `root -> /` took a chmod 700 to the host's /)
  mkdirSync(dir, { recursive: true });
  for (const d of SKELETON_DIRS) mkdirInside(dir, join(dir, d), 0o755);
  for (const [d, mode] of Object.entries(MODES)) chmodSync(join(dir, d), mode);
  for (const [f, text] of Object.entries(FILES)) {
    if (lexists(join(dir, f))) continue;
    fileInside(dir, join(dir, f));
    writeFileSync(join(dir, f), text);
  }
}

/** writeSkeleton as shell lines a user could paste (--dry-run). */
export function skeletonShell(dir: string): string[] {
  const at = (p: string) => shellQuote([join(dir, p)]);
  return [
    `mkdir -p ${SKELETON_DIRS.map(at).join(' ')}`,
    ...Object.entries(MODES).map(([d, mode]) => `chmod ${mode.toString(8)} ${at(d)}`),
    ...Object.entries(FILES).map(([f, text]) => `[ -e ${at(f)} ] || printf '%s\\n' ${shellQuote(text.trimEnd().split('\n'))} > ${at(f)}`),
  ];
}
