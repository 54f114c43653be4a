import { readdirSync, rmdirSync, unlinkSync, type Dirent } from 'node:fs';
import { join } from 'node:path';

/** Run a removal; what is already gone is fine. */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * `rm -rf PATH` for a container's data dir, on every --rm exit: one readdir
 * per directory and no lstat per entry (Node's recursive rmSync lstats each
 * entry and tries rmdir before reading a directory). Symlinks are removed,
 * never followed; what is already gone is fine.
 */
export function removeTree(path: string): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') quietly(() => unlinkSync(path));
    else if (code !== 'ENOENT') throw e;
    return;
  }
  for (const d of entries) {
    const p = join(path, d.name);
    if (d.isDirectory()) removeTree(p);
    else quietly(() => unlinkSync(p));
  }
  quietly(() => rmdirSync(path));
}
