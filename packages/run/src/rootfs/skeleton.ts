/**
 * The skeleton every root filesystem gets: the directories the container
 * setup mounts onto (/proc, /sys, /dev, /tmp) and a minimal /etc/passwd and
 * /etc/group so `id`, `ls -l` and --user resolve names.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Only what the container setup needs: executables' own directories come with them. */
export const SKELETON_DIRS = ['etc', 'proc', 'sys', 'dev', 'tmp', 'root'];

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** Create the skeleton in `dir`; existing files are kept. */
export function writeSkeleton(dir: string): void {
  for (const d of SKELETON_DIRS) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  chmodSync(join(dir, 'tmp'), 0o1777);
  chmodSync(join(dir, 'root'), 0o700);
  if (!existsSync(join(dir, 'etc', 'passwd'))) writeFileSync(join(dir, 'etc', 'passwd'), PASSWD);
  if (!existsSync(join(dir, 'etc', 'group'))) writeFileSync(join(dir, 'etc', 'group'), GROUP);
  if (!existsSync(join(dir, 'etc', 'hostname'))) writeFileSync(join(dir, 'etc', 'hostname'), 'boxkit\n');
}
