/** unionfs ls / show: union mounts from /proc/self/mountinfo. */
import { report, table, UsageError, type CommonArgs } from '@boxkit/common';
import { findUnion, listUnions, type UnionInfo } from '../mountinfo.js';
import { realPath } from '../paths.js';

export async function runLs(a: CommonArgs): Promise<number> {
  const unions = listUnions();
  report(a, { unions }, () =>
    unions.length
      ? table([['MOUNTPOINT', 'DRIVER', 'MODE', 'UPPER', 'LOWER (topmost first)'], ...unions.map((u) => [u.mountpoint, u.driver, u.readonly ? 'ro' : 'rw', u.upper ?? '-', u.lowers.join(':')])])
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
  const mnt = realPath(a.mountpoint);
  const u = findUnion(mnt);
  if (!u) throw new UsageError(`${mnt}: not a union mount`, 'unionfs ls lists them');
  report(a, u, () => lines(u));
  return 0;
}
