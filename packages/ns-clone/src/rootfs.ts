/**
 * The child's steps for a root filesystem: bind it onto itself (pivot_root
 * needs a mount point), mount /proc and a minimal /dev inside, then pivot.
 * Device nodes are bind-mounted from the host, as bubblewrap does, because
 * mknod is refused inside a user namespace.
 */
import { MS, type Step } from '@boxkit/native';

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', 'fd'], ['/proc/self/fd/0', 'stdin'], ['/proc/self/fd/1', 'stdout'], ['/proc/self/fd/2', 'stderr'], ['pts/ptmx', 'ptmx'],
];

const mount = (src: string, target: string, fstype: string, flags: number, data = '', optional = false): Step =>
  ({ op: 'MOUNT', ints: [flags], strs: [src, target, fstype, data], ...(optional ? { optional } : {}) });

/** Mount proc at `dir` (a fresh one shows the mounter's PID namespace); a rootfs may lack the directory. */
export function procSteps(dir: string, inRoot: boolean): Step[] {
  return [...(inRoot ? [{ op: 'MKDIR', ints: [0o555], strs: [dir] } as Step] : []), mount('proc', dir, 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC)];
}

/** A minimal /dev at `dir` (tmpfs with bound device nodes, devpts, shm). */
export function devSteps(dir: string, inUserNs: boolean): Step[] {
  const steps: Step[] = [
    { op: 'MKDIR', ints: [0o755], strs: [dir] },
    mount('tmpfs', dir, 'tmpfs', MS.NOSUID | MS.STRICTATIME, 'mode=755,size=65536k'),
  ];
  for (const d of DEVICES) {
    steps.push({ op: 'TOUCH', ints: [0o666], strs: [`${dir}/${d}`] });
    // a missing host node (no /dev/tty without a terminal device) should not stop the container
    steps.push(mount(`/dev/${d}`, `${dir}/${d}`, '', MS.BIND, '', d === 'tty'));
  }
  steps.push({ op: 'MKDIR', ints: [0o755], strs: [`${dir}/pts`] });
  // gid=5 (tty) exists only when the host's group 5 is mapped: not in a user namespace
  steps.push(mount('devpts', `${dir}/pts`, 'devpts', MS.NOSUID | MS.NOEXEC, `newinstance,ptmxmode=0666,mode=0620${inUserNs ? '' : ',gid=5'}`));
  steps.push({ op: 'MKDIR', ints: [0o1777], strs: [`${dir}/shm`] });
  steps.push(mount('shm', `${dir}/shm`, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=65536k'));
  for (const [target, name] of DEV_LINKS) steps.push({ op: 'SYMLINK', strs: [target, `${dir}/${name}`] });
  return steps;
}

/** Bind the rootfs onto itself, optionally read-only; mounts inside it follow, then PIVOT_ROOT. */
export function rootBindSteps(root: string, readonly: boolean): Step[] {
  const steps: Step[] = [mount(root, root, '', MS.BIND | MS.REC)];
  if (readonly) {
    // mount points must exist before the root turns read-only
    steps.push({ op: 'MKDIR', ints: [0o555], strs: [`${root}/proc`], optional: true });
    steps.push({ op: 'MKDIR', ints: [0o755], strs: [`${root}/dev`], optional: true });
    steps.push(mount('', root, '', MS.BIND | MS.REMOUNT | MS.RDONLY));
  }
  return steps;
}

/** Hide paths (inside the new root) and make others read-only. */
export function maskSteps(mask: string[], readonly: string[]): Step[] {
  return [
    ...mask.map((p): Step => ({ op: 'MASK_PATH', strs: [p] })),
    ...readonly.flatMap((p): Step[] => [
      { ...mount(p, p, '', MS.BIND | MS.REC), optional: true },
      { ...mount('', p, '', MS.BIND | MS.REMOUNT | MS.RDONLY), optional: true },
    ]),
  ];
}
