/**
 * --dry-run: the same container as a pipeline of boxkit commands a user
 * could paste, each step's --json output feeding the next (tests/run
 * runs it). Differences from `run` itself: the cgroup namespace, the
 * masked paths and the capabilities are ns-clone's defaults (it keeps
 * root's; run drops all but docker's 14), no device rules, no cgroupfs
 * at /sys/fs/cgroup, no /etc/resolv.conf, no --volume binds, the container
 * starts detached (its output and status are not relayed: wait for $PID),
 * nothing records it, and taking it apart is left to the user.
 */
import { dataDir, shellQuote } from '@boxkit/common';
import type { ContainerSpec } from './spec.js';
import { defaultRootfsDir } from '../rootfs/default.js';
import { cgroupShell, attachShell } from './cgroup.js';
import { isTarball, unionShell } from './union.js';
import { netDryRun } from './network.js';
import { defaultName, hostVethName, newId } from '../state/names.js';
import { resolveUser } from './user.js';
import { volumeString } from './volumes.js';
import { warn } from '@boxkit/common/output';
import { containerEnv, MOUNT_POINTS } from './spec.js';
import { lexists } from '@boxkit/common/dirs';
import { join } from 'node:path';

export async function pipeline(spec: ContainerSpec): Promise<string[]> {
  const id = newId();
  const name = spec.name ?? defaultName(id);
  const rootfs = spec.rootfs ?? spec.image ?? defaultRootfsDir();
  const dir = dataDir('containers', id);
  const mnt = `${dir}/rootfs`;
  const lines: string[] = [];
  // ns-clone has no bind mounts: say so rather than print a different container as the same
  if (spec.volumes.length) warn('run', `warning: the pipeline leaves out --volume (${spec.volumes.map(volumeString).join(', ')}): ns-clone makes no bind mounts`);
  // and no terminal or stdin: its ns-clone runs detached (--wait-for-setup --detach)
  const io = [...(spec.interactive ? ['-i'] : []), ...(spec.tty ? ['-t'] : [])];
  if (io.length) warn('run', `warning: the pipeline leaves out ${io.join(' ')}: its container runs detached (ns-clone --detach), with no terminal and no stdin`);
  if (!spec.rootfs && !spec.image) lines.push('run rootfs --default');
  const tar = spec.image !== undefined && isTarball(spec.image);
  lines.push(unionShell({ lowers: [...[...spec.layers].reverse(), ...(tar ? [] : [rootfs])], tars: tar ? [rootfs] : [], upper: `${dir}/upper`, work: `${dir}/work`, mountpoint: mnt, volatile: spec.autoRemove }));
  // the mount points run makes in the container's layer when no layer has them (a rootfs of one static binary)
  const missing = spec.rootfs || (spec.image && !tar) ? MOUNT_POINTS.filter((d) => ![...spec.layers, rootfs].some((l) => lexists(join(l, d)))) : [];
  if (missing.length) lines.push(shellQuote(['mkdir', ...missing.map((d) => `${mnt}/${d}`)]));
  const cg = { parent: spec.cgroupParent, name: id, limits: spec.limits };
  lines.push(cgroupShell(cg));
  const ids = spec.user && !tar ? resolveUser(rootfs, spec.user) : undefined;
  const flags = [
    '--uts', '--ipc', '--pid', '--mount', ...(spec.net.mode === 'host' ? [] : ['--net']),
    '--hostname', spec.hostname ?? name, '--root', mnt,
    ...(spec.readOnly ? ['--readonly-root'] : []), ...(spec.init ? ['--init'] : []),
    ...(ids ? ['--uid', String(ids.uid), '--gid', String(ids.gid)] : []),
    ...(spec.workdir !== '/' ? ['--wd', spec.workdir] : []),
    // the container's environment only, as run gives it (PATH, HOSTNAME, HOME, then --env): not the caller's
    '--env-clear', ...Object.entries(containerEnv(spec, spec.hostname ?? name, ids?.home)).flatMap(([k, v]) => ['--setenv', `${k}=${v}`]),
    ...(spec.privileged ? [] : ['--no-new-privs']),
    '--wait-for-setup', '--detach', '--json',
  ];
  lines.push(`PID=$(${shellQuote(['ns-clone', ...flags, '--', ...spec.command])} | jq -r .pid)`);
  lines.push(attachShell(cg, '"$PID"'));
  // run raises a new namespace's lo (as docker's --network none); with a bridge netsetup veth does
  if (spec.net.mode === 'none') lines.push('nsenter --target "$PID" --net ip link set lo up');
  lines.push(...(await netDryRun({ spec, hostVeth: hostVethName(id) }, '"$PID"')));
  lines.push('ns-clone release "$PID"');
  return lines;
}
