/** `run rootfs DIR --from-host EXE...` and `run rootfs --default`. */
import { report, UsageError } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';

export async function rootfs(a: { dir?: string; fromHost?: string[]; default: boolean; json: boolean; dryRun: boolean }): Promise<number> {
  if (a.default) {
    if (a.dir || a.fromHost?.length) throw new UsageError('rootfs: --default takes no DIR or --from-host');
    const { defaultRootfsDir, ensureDefaultRootfs, findBusybox } = await import('../rootfs/default.js');
    if (a.dryRun) {
      const d = defaultRootfsDir();
      const o = dryRunOutput(a);
      o.print(`mkdir -p ${d}/bin ${d}/etc ${d}/proc ${d}/sys ${d}/dev ${d}/tmp`);
      o.print(`cp ${findBusybox()} ${d}/bin/busybox`);
      o.print(`chroot ${d} /bin/busybox --install -s`);
      o.print(`echo 'root:x:0:0:root:/root:/bin/sh' > ${d}/etc/passwd; echo 'root:x:0:' > ${d}/etc/group`);
      o.done({ dir: d });
      return 0;
    }
    const r = await ensureDefaultRootfs(true);
    report(a, { dir: r.dir, built: r.built }, () => [r.dir]);
    return 0;
  }
  if (!a.dir) throw new UsageError('rootfs: DIR is required', 'run rootfs ./rootfs --from-host /bin/bash');
  if (!a.fromHost?.length) throw new UsageError('rootfs: nothing to put in', 'name host executables with --from-host /bin/bash /bin/ls');
  const { closure, rootfsFromHost } = await import('../rootfs/from-host.js');
  if (a.dryRun) {
    const { shellQuote } = await import('@boxkit/common');
    const o = dryRunOutput(a);
    o.print(`mkdir -p ${shellQuote([a.dir])}/etc ${shellQuote([a.dir])}/proc ${shellQuote([a.dir])}/sys ${shellQuote([a.dir])}/dev ${shellQuote([a.dir])}/tmp`);
    for (const exe of a.fromHost) {
      for (const f of await closure(exe)) o.print(shellQuote(['cp', '--parents', '-a', f, a.dir]));
    }
    o.done({ dir: a.dir, executables: a.fromHost });
    return 0;
  }
  const r = await rootfsFromHost(a.dir, a.fromHost);
  report(a, r, () => [`${r.dir}: ${r.executables.join(' ')} (+${r.files.length - r.executables.length} libraries and links)`]);
  return 0;
}
