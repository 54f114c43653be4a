/**
 * Checks on the host before anything is created, so bad input fails with a
 * one-line error and leaves nothing behind: the root is a directory holding
 * the command, joined namespace files are namespace files.
 */
import { statSync, statfsSync, existsSync, accessSync, constants, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '@boxkit/common/errors';
import { symlinkedMountPoint } from '@boxkit/common/validate';
import type { ContainerSpec } from './spec.js';

const NSFS_MAGIC = 0x6e736673;
const PROC_MAGIC = 0x9fa0;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Is `path` a namespace file (/proc/PID/ns/X, or one bind-mounted elsewhere)? */
export function isNamespaceFile(path: string): boolean {
  try {
    const t = statfsSync(path).type;
    return t === NSFS_MAGIC || (t === PROC_MAGIC && /\/ns\/\w+$/.test(path));
  } catch {
    return false;
  }
}

/** Find argv[0] as execvp would, under `root` (present as a file or link; exec reports the rest). */
export function findCommand(root: string, file: string, env: Record<string, string>): string | undefined {
  const candidates = file.includes('/') ? [file] : (env.PATH ?? DEFAULT_PATH).split(':').map((d) => join(d || '.', file));
  return candidates.find((c) => {
    try {
      lstatSync(join(root, c));
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Check a spec against the host. A CMD missing from the root is left to
 * exec (127, as docker reports it); only the default shell is checked
 * here (`defaultShell`), since the user never named it.
 */
export function checkSpec(spec: ContainerSpec, defaultShell = false): void {
  if (!spec.argv.length || !spec.argv[0]) throw new UsageError('no command to run');
  if (spec.root) {
    let st;
    try {
      st = statSync(spec.root);
    } catch {
      throw new UsageError(`root ${spec.root}: no such directory`);
    }
    if (!st.isDirectory()) throw new UsageError(`root ${spec.root}: not a directory`);
    try {
      accessSync(spec.root, constants.X_OK);
    } catch {
      throw new UsageError(`root ${spec.root}: permission denied`);
    }
    const mounted = [...(spec.mountProc ? ['proc'] : []), ...((spec.dev ?? true) ? ['dev'] : [])];
    const link = symlinkedMountPoint(spec.root, mounted);
    if (link) {
      throw new UsageError(`root ${spec.root}: /${link.name} is a symlink (to ${link.target}): the container would get no /${link.name}`,
        `make /${link.name} a directory in the root filesystem`);
    }
    if (defaultShell && !findCommand(spec.root, spec.argv[0], spec.env)) {
      throw new UsageError(`root ${spec.root}: no shell (${spec.argv[0]}) in it`, 'give the command to run after --, e.g. -- /bin/busybox sh');
    }
  }
  for (const j of spec.join ?? []) {
    if (!existsSync(j.path)) throw new UsageError(`${j.kind} namespace ${j.path}: no such file`, j.kind === 'net' ? `list named ones with 'ip netns list'` : undefined);
    if (!isNamespaceFile(j.path)) throw new UsageError(`${j.kind} namespace ${j.path}: not a namespace file`);
  }
  for (const p of spec.persist ?? []) {
    if (!spec.namespaces.includes(p.kind)) throw new UsageError(`cannot persist the ${p.kind} namespace: it is not created (add --${p.kind === 'mnt' ? 'mount' : p.kind})`);
  }
  if (spec.namespaces.includes('user')) {
    // setresuid to an id the maps leave out fails inside with a bare EINVAL: say which id and map
    for (const [flag, id, map, more] of [['--uid', spec.uid, spec.uidMap, '--map-users'], ['--gid', spec.gid, spec.gidMap, '--map-groups']] as const) {
      if (id === undefined || map?.some((r) => id >= r.inner && id < r.inner + r.count)) continue;
      const kind = flag.slice(2);
      throw new UsageError(
        `${flag} ${id} is not mapped in the new user namespace (${map ? `${kind} map: ${map.map((r) => `${r.inner} ${r.outer} ${r.count}`).join(', ')}` : `no ${kind} map`})`,
        `map it with ${more} ${id}:OUTER:1 (or --map-root-user and ${flag} 0)`,
      );
    }
  }
  if (spec.join?.length && spec.namespaces.includes('user')) {
    throw new UsageError('joining a namespace (--netns) cannot be combined with --user', 'a new user namespace has no privilege over the host\'s namespaces');
  }
}
