/** unionfs umount: not mounted is success; busy says so. */
import { report, type CommonArgs } from '@boxkit/common';
import { umountUnion } from '../umount.js';

export async function runUmount(a: CommonArgs & { mountpoint: string; lazy: boolean }): Promise<number> {
  const r = umountUnion(a.mountpoint, { lazy: a.lazy, dryRun: a.dryRun, ...(a.verbose ? { print: (l: string) => process.stderr.write(`+ ${l}\n`) } : {}) });
  if (a.dryRun) return 0;
  if (a.verbose && r.unmounted) process.stderr.write(`+ umount ${a.lazy ? '-l ' : ''}${r.mountpoint}\n`);
  report(a, r, () => (r.unmounted ? [`unmounted ${r.mountpoint}`] : []));
  return 0;
}
