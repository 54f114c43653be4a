/**
 * The child's steps for a root filesystem: bind it onto itself (pivot_root
 * needs a mount point), mount /proc and a minimal /dev inside, then pivot.
 * Device nodes are bind-mounted from the host, as bubblewrap does, because
 * mknod is refused inside a user namespace. run builds its containers' /dev
 * and /proc with the same steps (devSteps, procSteps).
 */
import { MS, type Step } from '@boxkit/native';

/** Device nodes bound from the host (a bind keeps the host's 0666 mode; mknod would apply the umask, and is refused in a user namespace). */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', 'fd'], ['/proc/self/fd/0', 'stdin'], ['/proc/self/fd/1', 'stdout'], ['/proc/self/fd/2', 'stderr'], ['pts/ptmx', 'ptmx'],
];

/** A mount(2) step; an optional one that fails is skipped. */
export const mountStep = (src: string, target: string, fstype: string, flags: number, data = '', optional = false): Step =>
  ({ op: 'MOUNT', ints: [flags], strs: [src, target, fstype, data], ...(optional ? { optional } : {}) });

/** Mount proc at `dir` (a fresh one shows the mounter's PID namespace); a rootfs may lack the directory. */
export function procSteps(dir: string, inRoot: boolean): Step[] {
  return [...(inRoot ? [{ op: 'MKDIR', ints: [0o555], strs: [dir] } as Step] : []), mountStep('proc', dir, 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC)];
}

/** What a container's /dev holds beyond the minimum; ns-clone and run differ here. */
export interface DevOptions {
  /** mkdir `dir` first (a rootfs may lack it) */
  makeDir?: boolean;
  /** a missing host /dev/tty (no terminal device) does not stop the container */
  ttyOptional?: boolean;
  /** devpts' gid= for new ptys (5, tty, as runc): only where the host's group is mapped, so not in a user namespace */
  ptsGid?: number;
  /** a terminal's slave, bound as /dev/console */
  console?: string;
  /** a POSIX message queue filesystem at /dev/mqueue (optional: a kernel may lack it) */
  mqueue?: boolean;
  /** /dev/core -> /proc/kcore, as docker */
  kcoreLink?: boolean;
}

/** A minimal /dev at `dir`: tmpfs with device nodes bound from the host, devpts, shm, the fd links. */
export function devSteps(dir: string, o: DevOptions = {}): Step[] {
  const steps: Step[] = [];
  if (o.makeDir) steps.push({ op: 'MKDIR', ints: [0o755], strs: [dir] });
  steps.push(mountStep('tmpfs', dir, 'tmpfs', MS.NOSUID | MS.STRICTATIME, 'mode=755,size=65536k'));
  for (const d of DEVICES) {
    steps.push({ op: 'TOUCH', ints: [0o666], strs: [`${dir}/${d}`] });
    steps.push(mountStep(`/dev/${d}`, `${dir}/${d}`, '', MS.BIND, '', d === 'tty' && !!o.ttyOptional));
  }
  if (o.console !== undefined) {
    steps.push({ op: 'TOUCH', ints: [0o620], strs: [`${dir}/console`] });
    steps.push(mountStep(o.console, `${dir}/console`, '', MS.BIND));
  }
  steps.push({ op: 'MKDIR', ints: [0o755], strs: [`${dir}/pts`] });
  const gid = o.ptsGid !== undefined ? `,gid=${o.ptsGid}` : '';
  steps.push(mountStep('devpts', `${dir}/pts`, 'devpts', MS.NOSUID | MS.NOEXEC, `newinstance,ptmxmode=0666,mode=0620${gid}`));
  steps.push({ op: 'MKDIR', ints: [0o1777], strs: [`${dir}/shm`] });
  steps.push(mountStep('shm', `${dir}/shm`, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=1777,size=65536k'));
  if (o.mqueue) {
    steps.push({ op: 'MKDIR', ints: [0o755], strs: [`${dir}/mqueue`] });
    steps.push(mountStep('mqueue', `${dir}/mqueue`, 'mqueue', MS.NOSUID | MS.NODEV | MS.NOEXEC, '', true));
  }
  const links = o.kcoreLink ? [...DEV_LINKS, ['/proc/kcore', 'core'] as [string, string]] : DEV_LINKS;
  for (const [target, name] of links) steps.push({ op: 'SYMLINK', strs: [target, `${dir}/${name}`] });
  return steps;
}

/** Bind the rootfs onto itself, optionally read-only; mounts inside it follow, then PIVOT_ROOT. */
export function rootBindSteps(root: string, readonly: boolean): Step[] {
  const steps: Step[] = [mountStep(root, root, '', MS.BIND | MS.REC)];
  if (readonly) {
    // mount points must exist before the root turns read-only
    steps.push({ op: 'MKDIR', ints: [0o555], strs: [`${root}/proc`], optional: true });
    steps.push({ op: 'MKDIR', ints: [0o755], strs: [`${root}/dev`], optional: true });
    steps.push(mountStep('', root, '', MS.BIND | MS.REMOUNT | MS.RDONLY));
  }
  return steps;
}

/** Hide paths (inside the new root) and make others read-only. */
export function maskSteps(mask: string[], readonly: string[]): Step[] {
  return [
    ...mask.map((p): Step => ({ op: 'MASK_PATH', strs: [p] })),
    ...readonly.flatMap((p): Step[] => [
      { ...mountStep(p, p, '', MS.BIND | MS.REC), optional: true },
      { ...mountStep('', p, '', MS.BIND | MS.REMOUNT | MS.RDONLY), optional: true },
    ]),
  ];
}
