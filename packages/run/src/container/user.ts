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

/**
 * docker's range for ids. Above it the ids wrap when the trampoline takes them as
 * 32 bits, and 4294967295 is (uid_t)-1, which setresuid reads as 'leave unchanged':
 * --user 4294967295 ran the command as root.
 */
export const MAX_ID = 2_147_483_647;

function checkId(n: number, what: string, spec: string): number {
  if (!(Number.isSafeInteger(n) && n >= 0 && n <= MAX_ID)) throw new UsageError(`--user ${spec}: ${what} ${n} is out of range`, `uids and gids are 0 to ${MAX_ID}`);
  return n;
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
    // an id the image does not name: group 0, as docker (not a group of the same number)
    uid = Number(u);
    gid = 0;
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
  // typed or read from the image's files: either may be out of range
  return { uid: checkId(uid, 'uid', spec), gid: checkId(gid, 'gid', spec), groups: supplementary.map((x) => checkId(x, 'group', spec)), home };
}
