/**
 * --dry-run: the same container as a pipeline of boxkit commands a user
 * could paste, each step's --json output feeding the next (tests/run
 * runs it). Differences from `run` itself: the cgroup namespace and the
 * masked paths are ns-clone's defaults, and nothing records the container.
 */
import { dataDir, shellQuote } from '@boxkit/common';
import type { ContainerSpec } from './spec.js';
import { defaultRootfsDir } from '../rootfs/default.js';
import { cgroupShell, attachShell } from './cgroup.js';
import { isTarball, unionShell } from './union.js';
import { netDryRun } from './network.js';
import { defaultName, hostVethName, newId } from '../state/names.js';
import { resolveUser } from './user.js';

export async function pipeline(spec: ContainerSpec): Promise<string[]> {
  const id = newId();
  const name = spec.name ?? defaultName(id);
  const rootfs = spec.rootfs ?? spec.image ?? defaultRootfsDir();
  const dir = dataDir('containers', id);
  const mnt = `${dir}/rootfs`;
  const lines: string[] = [];
  if (!spec.rootfs && !spec.image) lines.push('run rootfs --default');
  const tar = spec.image !== undefined && isTarball(spec.image);
  lines.push(unionShell({ lowers: [...[...spec.layers].reverse(), ...(tar ? [] : [rootfs])], tars: tar ? [rootfs] : [], upper: `${dir}/upper`, work: `${dir}/work`, mountpoint: mnt, volatile: spec.autoRemove }));
  const cg = { parent: spec.cgroupParent, name: id, limits: spec.limits };
  lines.push(cgroupShell(cg));
  const ids = spec.user && !tar ? resolveUser(rootfs, spec.user) : undefined;
  const flags = [
    '--uts', '--ipc', '--pid', '--mount', ...(spec.net.mode === 'host' ? [] : ['--net']),
    '--hostname', spec.hostname ?? name, '--root', mnt,
    ...(spec.readOnly ? ['--readonly-root'] : []), ...(spec.init ? ['--init'] : []),
    ...(ids ? ['--uid', String(ids.uid), '--gid', String(ids.gid)] : []),
    ...Object.entries(spec.env).flatMap(([k, v]) => ['--setenv', `${k}=${v}`]),
    '--wait-for-setup', '--detach', '--json',
  ];
  lines.push(`PID=$(${shellQuote(['ns-clone', ...flags, '--', ...spec.command])} | jq -r .pid)`);
  lines.push(attachShell(cg, '"$PID"'));
  lines.push(...(await netDryRun({ spec, hostVeth: hostVethName(id) }, '"$PID"')));
  lines.push('ns-clone release "$PID"');
  return lines;
}
