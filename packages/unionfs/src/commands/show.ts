/**
 * unionfs ls / show: union mounts from /proc/self/mountinfo. ls lists hidden
 * unions too (mode "rw,hidden"; hiddenBy in --json): they still hold their
 * layers, though no path reaches them.
 */
import { report, table, UsageError, type CommonArgs } from '@boxkit/common';
import { findUnion, hiddenUnionsAt, listUnions, type UnionInfo } from '../mountinfo.js';
import { lstatOrUndefined, realPath, refuseEmpty } from '../paths.js';

export async function runLs(a: CommonArgs): Promise<number> {
  const unions = listUnions();
  report(a, { unions }, () =>
    unions.length
      ? table([['MOUNTPOINT', 'DRIVER', 'MODE', 'UPPER', 'LOWER (topmost first)'], ...unions.map((u) => [u.mountpoint, u.driver, `${u.readonly ? 'ro' : 'rw'}${u.hiddenBy !== undefined ? ',hidden' : ''}`, u.upper ?? '-', u.lowers.join(':')])])
      : [],
  );
  return 0;
}

function lines(u: UnionInfo): string[] {
  return [
    `mountpoint: ${u.mountpoint}`,
    `driver:     ${u.driver}${u.readonly ? ' (read-only)' : ''}`,
    `upper:      ${u.upper ?? '-'}`,
    `work:       ${u.work ?? '-'}`,
    ...u.lowers.map((l, i) => `${i === 0 ? 'lower:      ' : '            '}${l}`),
  ];
}

export async function runShow(a: CommonArgs & { mountpoint: string }): Promise<number> {
  refuseEmpty('MOUNTPOINT', a.mountpoint, 'a union mount point');
  const mnt = realPath(a.mountpoint);
  const u = findUnion(mnt);
  if (!u) {
    // "not a union mount" of a path that is not there would send the user looking at the wrong thing
    if (!lstatOrUndefined(mnt)) throw new UsageError(`${mnt}: no such file or directory`, 'give a union mount point: unionfs ls lists them');
    const hidden = hiddenUnionsAt(mnt)[0];
    throw new UsageError(`${mnt}: not a union mount`, hidden ? `the union mounted there is hidden by the mount at ${hidden.hiddenBy}: unionfs ls lists it` : 'unionfs ls lists them');
  }
  report(a, u, () => lines(u));
  return 0;
}
