/**
 * --dry-run: the same container as a pipeline of boxkit commands a user
 * could paste, each step's --json output feeding the next.
 */
import { shellQuote } from '@boxkit/common';
import type { ContainerSpec } from './spec.js';
import { defaultRootfsDir } from '../rootfs/default.js';
import { cgroupShell, attachShell } from './cgroup.js';
import { isTarball, unionShell } from './union.js';
import { netShell } from './network.js';
import { hostVethName } from '../state/names.js';
import { dataDir } from '@boxkit/common';

export async function pipeline(spec: ContainerSpec): Promise<string[]> {
  const name = spec.name ?? 'NAME';
  const rootfs = spec.rootfs ?? spec.image ?? defaultRootfsDir();
  const dir = dataDir('containers', name);
  const mnt = `${dir}/rootfs`;
  const lines: string[] = [];
  if (!spec.rootfs && !spec.image) lines.push('run rootfs --default');
  const tar = spec.image !== undefined && isTarball(spec.image);
  lines.push(unionShell({ lowers: [...[...spec.layers].reverse(), ...(tar ? [] : [rootfs])], tars: tar ? [rootfs] : [], upper: `${dir}/upper`, work: `${dir}/work`, mountpoint: mnt }));
  const cg = { parent: spec.cgroupParent, name, limits: spec.limits };
  lines.push(cgroupShell(cg));
  const ns = ['--uts', '--ipc', '--pid', '--mount', ...(spec.net.mode === 'host' ? [] : ['--net'])];
  lines.push(
    `PID=$(${shellQuote(['ns-clone', ...ns, '--hostname', spec.hostname ?? name, '--root', mnt, '--wait-for-setup', '--detach', '--json', '--', ...spec.command])} | jq -r .pid)`,
  );
  lines.push(attachShell(cg, '"$PID"'));
  lines.push(...netShell({ spec, hostVeth: hostVethName('0123456789ab') }, '"$PID"'));
  lines.push('ns-clone release "$PID"');
  return lines;
}
