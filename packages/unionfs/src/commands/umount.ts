/** unionfs umount: not mounted is success; busy says so. */
import { report, type CommonArgs } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';
import { umountUnion } from '../umount.js';
import { trace } from '@boxkit/common/stdio';
import { refuseEmpty } from '../paths.js';

export async function runUmount(a: CommonArgs & { mountpoint: string; lazy: boolean }): Promise<number> {
  refuseEmpty('MOUNTPOINT', a.mountpoint, 'a union mount point');
  // a dry run prints its command; with --json it goes out with the mount point as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const print = dry ? dry.print : a.verbose ? trace : undefined;
  const r = umountUnion(a.mountpoint, { lazy: a.lazy, dryRun: a.dryRun, ...(print ? { print } : {}) });
  if (dry) {
    dry.done({ mountpoint: r.mountpoint });
    return 0;
  }
  if (a.verbose && r.unmounted) trace(`umount ${a.lazy ? '-l ' : ''}${r.mountpoint}`);
  report(a, r, () => (r.unmounted ? [`unmounted ${r.mountpoint}`] : []));
  return 0;
}
