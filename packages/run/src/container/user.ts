/**
 * --user NAME|UID[:GROUP|GID], resolved against the container's own
 * /etc/passwd and /etc/group (not the host's), as docker does.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '@boxkit/common';
import { resolveInRoot } from './inroot.js';

export interface Ids {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
}

function table(root: string, file: string): string[][] {
  // the file as the container sees it: an image's symlink never reaches the host's
  const path = resolveInRoot(root, `/etc/${file}`);
  if (!path) return [];
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

export function resolveUser(root: string, spec: string | undefined): Ids {
  if (!spec) return { uid: 0, gid: 0, groups: [], home: '/root' };
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const passwd = table(root, 'passwd');
  const groups = table(root, 'group');
  const entry = passwd.find((p) => p[0] === u || (/^\d+$/.test(u) && p[2] === u));
  let uid: number, gid: number, home = '/';
  if (entry) {
    uid = Number(entry[2]);
    gid = Number(entry[3]);
    home = entry[5] || '/';
  } else if (/^\d+$/.test(u)) {
    uid = Number(u);
    gid = uid;
  } else throw new UsageError(`--user: no user '${u}' in the container's /etc/passwd`);
  if (g !== undefined) {
    const ge = groups.find((x) => x[0] === g || (/^\d+$/.test(g) && x[2] === g));
    if (ge) gid = Number(ge[2]);
    else if (/^\d+$/.test(g)) gid = Number(g);
    else throw new UsageError(`--user: no group '${g}' in the container's /etc/group`);
  }
  const supplementary = entry
    ? groups.filter((x) => (x[3] ?? '').split(',').includes(entry[0]!)).map((x) => Number(x[2])).filter((x) => x !== gid)
    : [];
  return { uid, gid, groups: supplementary, home };
}
