/** `run rootfs DIR --from-host EXE...` and `run rootfs --default`. */
import { report, UsageError } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';

export async function rootfs(a: { dir?: string; fromHost?: string[]; default: boolean; json: boolean; dryRun: boolean }): Promise<number> {
  if (a.default) {
    if (a.dir || a.fromHost?.length) throw new UsageError('rootfs: --default takes no DIR or --from-host');
    const { busyboxRootfsShell, defaultRootfsDir, ensureDefaultRootfs } = await import('../rootfs/default.js');
    if (a.dryRun) {
      const d = defaultRootfsDir();
      const o = dryRunOutput(a);
      for (const l of busyboxRootfsShell(d)) o.print(l);
      o.done({ dir: d });
      return 0;
    }
    const r = await ensureDefaultRootfs(true);
    report(a, { dir: r.dir, built: r.built }, () => [r.dir]);
    return 0;
  }
  if (!a.dir) throw new UsageError('rootfs: DIR is required', 'run rootfs ./rootfs --from-host /bin/bash');
  if (!a.fromHost?.length) throw new UsageError('rootfs: nothing to put in', 'name host executables with --from-host /bin/bash /bin/ls');
  const { checkFromHost, copyShell, planFromHost, rootfsFromHost } = await import('../rootfs/from-host.js');
  if (a.dryRun) {
    const { target, exes } = checkFromHost(a.dir, a.fromHost);
    const { skeletonShell } = await import('../rootfs/skeleton.js');
    const o = dryRunOutput(a);
    for (const l of [...skeletonShell(target), ...copyShell(await planFromHost(target, exes))]) o.print(l);
    o.done({ dir: target, executables: exes });
    return 0;
  }
  const r = await rootfsFromHost(a.dir, a.fromHost);
  report(a, r, () => [`${r.dir}: ${r.executables.join(' ')} (+${r.files.length - r.executables.length} libraries and links)`]);
  return 0;
}
