/**
 * The container's side of the setup, as a trampoline program (see
 * native/c/trampoline.c): move itself into the container's cgroup, wait
 * until the parent has mounted the union and attached the network, then
 * build the filesystem view inside the union mount,
 * pivot_root into it, apply the security defaults and exec the command.
 * Defaults follow runc's default spec and docker's capability set.
 */
import { CAP, CLONE, MS, execStep, type Step } from '@boxkit/native';
// the module, not the index: the index would bring ns-clone's whole library into run's startup snapshot
import { devSteps, mountStep, procSteps } from '@boxkit/ns-clone/rootfs';
import type { CgroupMount } from './cgroup.js';
import { volumeMounts, volumeOpens, type Volume } from './volumes.js';

/** docker's default capability set; everything else is dropped from every set. */
export const DEFAULT_CAPS = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID',
  'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
];

/** runc's default masked paths: hidden behind /dev/null or an empty read-only tmpfs. */
export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
/** runc's default read-only paths. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function capMask(names: readonly string[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(CAP[n]!)), 0n);
}

export interface ProgramOptions {
  root: string;
  hostname: string;
  argv: string[];
  env: Record<string, string>;
  workdir: string;
  uid: number;
  gid: number;
  groups: number[];
  readOnly: boolean;
  privileged: boolean;
  init: boolean;
  /** fds (open in the parent) to become the container's 0, 1, 2 */
  stdio?: [number, number, number];
  /** own cgroup namespace: the container sees its cgroup as / */
  cgroupns: boolean;
  /** in a network namespace of its own (not --net host): its lo is brought up, as docker's --network none */
  netns?: boolean;
  /** its hierarchies, mounted at /sys/fs/cgroup inside its cgroup namespace (read-only unless privileged) */
  cgroupfs?: CgroupMount[];
  /** --volume bind mounts, and the first fd their trees are held on between the two steps */
  volumes?: Volume[];
  volumeFdBase?: number;
  /** steps that give the child its terminal (run before WAIT_SYNC), and the slave to show as /dev/console */
  tty?: { steps: Step[]; slave: string };
  /** writes that move the child itself into the container's cgroup (cg's selfAttachWrites), made first */
  joinCgroup?: { file: string; value: string }[];
}

/** `/a/b/c` -> `/a`, `/a/b`, `/a/b/c`: what `mkdir -p` makes, one mkdir(2) each. */
export function ancestry(dir: string): string[] {
  const parts = dir.split('/').filter((p) => p && p !== '.');
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/** runc's cgroup mount: cgroup2 on all of /sys/fs/cgroup, or a tmpfs with a directory per v1 hierarchy (and unified). */
function cgroupfsSteps(base: string, mounts: readonly CgroupMount[], privileged: boolean): Step[] {
  const flags = MS.NOSUID | MS.NODEV | MS.NOEXEC | (privileged ? 0 : MS.RDONLY);
  const whole = mounts.find((m) => m.target === '');
  if (whole) return [mountStep(whole.fstype, base, whole.fstype, flags, whole.data, true)];
  const steps: Step[] = [mountStep('tmpfs', base, 'tmpfs', MS.NOSUID | MS.NODEV | MS.NOEXEC, 'mode=755', true)];
  for (const m of mounts) {
    steps.push({ op: 'MKDIR', ints: [0o555], strs: [`${base}/${m.target}`], optional: true });
    steps.push(mountStep(m.fstype, `${base}/${m.target}`, m.fstype, flags, m.data, true));
  }
  if (!privileged) steps.push(mountStep('', base, '', MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, '', true));
  return steps;
}

export function containerProgram(o: ProgramOptions): Step[] {
  const r = (p: string) => `${o.root}${p}`;
  const steps: Step[] = [];
  // the child moves itself, while the parent mounts the union: a move of
  // the writer's own thread skips the RCU grace period of a move from outside
  for (const w of o.joinCgroup ?? []) steps.push({ op: 'WRITE_FILE', strs: [w.file, w.value] });
  if (o.stdio) o.stdio.forEach((fd, to) => fd !== to && steps.push({ op: 'DUP2', ints: [fd, to] }));
  if (o.tty) steps.push(...o.tty.steps);
  steps.push({ op: 'WAIT_SYNC' });
  // the mount namespace is made now, not at clone: a copy of the host's as it
  // is after the parent mounted the union while this child waited
  steps.push({ op: 'UNSHARE', ints: [CLONE.NEWNS] });
  // after the child joined its cgroup, so the namespace's root is the container's group
  // required when it mounts its hierarchies: outside a namespace of its own they would show the host's whole tree
  if (o.cgroupns) steps.push({ op: 'UNSHARE', ints: [CLONE.NEWCGROUP], optional: !o.cgroupfs?.length });
  steps.push(mountStep('', '/', '', MS.REC | MS.PRIVATE));
  steps.push(...procSteps(r('/proc'), false));
  // docker's extras: mqueue, /dev/core, the terminal as /dev/console; /dev/tty is required, new ptys get no gid=5 (runc's tty group)
  // devpts with gid=5 (tty), as runc's default spec: a pty made inside (script, sshd) belongs to the tty group
  steps.push(...devSteps(r('/dev'), { mqueue: true, kcoreLink: true, ptsGid: 5, ...(o.tty ? { console: o.tty.slave } : {}) }));
  const sysRo = o.privileged ? 0 : MS.RDONLY;
  steps.push(mountStep('sysfs', r('/sys'), 'sysfs', sysRo | MS.NOSUID | MS.NODEV | MS.NOEXEC, '', true));
  if (o.cgroupns && o.cgroupfs?.length) steps.push(...cgroupfsSteps(r('/sys/fs/cgroup'), o.cgroupfs, o.privileged));
  steps.push({ op: 'SETHOSTNAME', strs: [o.hostname] });
  // the kernel makes a new namespace's lo down: 127.0.0.1 unreachable (netsetup's attach raises it on a bridge)
  if (o.netns) steps.push({ op: 'LINK_UP', strs: ['lo'] });
  // the volumes' host sides, opened while the host's tree is in view
  if (o.volumes?.length) steps.push(...volumeOpens(o.volumes, o.volumeFdBase));
  steps.push({ op: 'PIVOT_ROOT', strs: [o.root] });
  if (!o.privileged) {
    for (const p of MASKED_PATHS) steps.push({ op: 'MASK_PATH', strs: [p], optional: true });
    for (const p of READONLY_PATHS) {
      steps.push(mountStep(p, p, '', MS.BIND | MS.REC, '', true));
      steps.push(mountStep('', p, '', MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, '', true));
    }
  }
  // after the masks (a volume cannot undo them), before the workdir (which may be in one)
  if (o.volumes?.length) steps.push(...volumeMounts(o.volumes, ancestry, o.volumeFdBase));
  // a --workdir the image lacks is made, parents too (mkdir -p), before the root may go read-only:
  // docker makes it in the container's layer with or without --read-only
  for (const dir of ancestry(o.workdir)) steps.push({ op: 'MKDIR', ints: [0o755], strs: [dir], optional: true });
  if (o.readOnly) steps.push(mountStep('', '/', '', MS.BIND | MS.REMOUNT | MS.RDONLY));
  steps.push({ op: 'CHDIR', strs: [o.workdir] });
  if (!o.privileged) steps.push({ op: 'CAPS', ints: [capMask(DEFAULT_CAPS)] });
  if (o.uid !== 0 || o.gid !== 0 || o.groups.length) {
    steps.push({ op: 'SETGROUPS', ints: o.groups });
    steps.push({ op: 'SETRESGID', ints: [o.gid] });
    steps.push({ op: 'SETRESUID', ints: [o.uid] });
  }
  // as runc: the caller's session keyring (its keys, root's on the host) is not the container's
  steps.push({ op: 'NEW_SESSION_KEYRING' });
  if (!o.privileged) steps.push({ op: 'NO_NEW_PRIVS' });
  steps.push({ op: 'RESET_SIGNALS' }, { op: 'STDIO_FIX' }, { op: 'CLOEXEC_FROM', ints: [3] });
  if (o.init) steps.push({ op: 'SUPERVISE', ints: [1] });
  steps.push(execStep(o.argv, o.env));
  return steps;
}
