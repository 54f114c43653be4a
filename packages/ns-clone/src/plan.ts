/**
 * From a ContainerSpec to the trampoline's program: the clone flags, the
 * child's steps in the order the kernel needs them, and the same plan as
 * shell lines. Pure: no system calls, so it is unit-tested without root.
 */
import { dirname } from 'node:path';
import { shellQuote } from '@boxkit/common/exec';
import { CLONE, NAMESPACES, CAP, MS, execStep, type Step, type NamespaceKind } from '@boxkit/native';
import type { ContainerSpec, IdRange } from './spec.js';
import { NS_ORDER } from './spec.js';
import { procSteps, devSteps, rootBindSteps, maskSteps, mountStep } from './rootfs.js';
import { renderStep, flagNames } from './render.js';
import { describeMaps } from './idmap.js';

export interface ContainerPlan {
  /** clone(2) flags (the cgroup and time namespaces are unshared by the child instead, see below). */
  flags: number;
  /** The child's program. */
  steps: Step[];
  /** The plan as shell lines and comments (PID stands for the child's pid). */
  describe: string[];
}

const O_RDONLY = 0, O_WRONLY = 1;

/** Flags for clone(): every namespace to create except cgroup and time. */
export function cloneFlags(kinds: readonly NamespaceKind[]): number {
  // cgroup: unshared after release, so its root is the cgroup the caller attached the child to;
  // time: CLONE_NEWTIME overlaps clone()'s exit-signal bits, only unshare(2) takes it
  return kinds.filter((k) => k !== 'cgroup' && k !== 'time').reduce((f, k) => f | NAMESPACES[k].flag, 0);
}

const covers = (ranges: IdRange[] | undefined, side: 'inner' | 'outer', id: number) =>
  !!ranges?.some((r) => id >= r[side] && id < r[side] + r.count);

/**
 * The ids CMD runs as. In a new user namespace whose maps leave out the
 * caller's own ids, the child would run as the overflow id (65534): it
 * becomes the namespace's root instead, as runc and podman do.
 */
export function idsInside(spec: ContainerSpec, euid = process.geteuid?.() ?? 0, egid = process.getegid?.() ?? 0): { uid?: number; gid?: number } {
  const root = rootInside(spec, euid, egid);
  const uid = spec.uid ?? root.uid;
  const gid = spec.gid ?? root.gid;
  return { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) };
}

/** The namespace's root ids, where the maps leave out the caller's own (empty otherwise). */
export function rootInside(spec: ContainerSpec, euid = process.geteuid?.() ?? 0, egid = process.getegid?.() ?? 0): { uid?: number; gid?: number } {
  if (!spec.namespaces.includes('user')) return {};
  const unmapped = (ranges: IdRange[] | undefined, id: number) => !!ranges && !covers(ranges, 'outer', id) && covers(ranges, 'inner', 0);
  return { ...(unmapped(spec.uidMap, euid) ? { uid: 0 } : {}), ...(unmapped(spec.gidMap, egid) ? { gid: 0 } : {}) };
}

/** The child's program for a container. */
export function containerSteps(spec: ContainerSpec): Step[] {
  const has = (k: NamespaceKind) => spec.namespaces.includes(k);
  const userNs = has('user');
  const root = spec.root;
  const steps: Step[] = [{ op: 'WAIT_SYNC' }];
  if (spec.nullStdio) {
    steps.push({ op: 'OPEN', ints: [0, O_RDONLY], strs: ['/dev/null'] });
    for (const fd of [1, 2]) steps.push({ op: 'OPEN', ints: [fd, O_WRONLY], strs: ['/dev/null'] });
  }
  if (spec.waitFifo) {
    steps.push({ op: 'WAIT_FIFO', strs: [spec.waitFifo] }, { op: 'UNLINK', strs: [spec.waitFifo], optional: true });
  }
  for (const j of [...(spec.join ?? [])].sort((a, b) => NS_ORDER.indexOf(a.kind) - NS_ORDER.indexOf(b.kind))) {
    steps.push({ op: 'SETNS', ints: [NAMESPACES[j.kind].flag], strs: [j.path] });
  }
  // maps that leave out the caller's own ids: become the namespace's root now, as runc
  // does, or what the steps below create in filesystems mounted inside (the nodes of
  // the tmpfs /dev) would need an owner the namespace cannot map (EOVERFLOW)
  const early = rootInside(spec);
  if (early.gid !== undefined) steps.push({ op: 'SETRESGID', ints: [early.gid] });
  if (early.uid !== undefined) steps.push({ op: 'SETRESUID', ints: [early.uid] });
  if (has('cgroup')) steps.push({ op: 'UNSHARE', ints: [CLONE.NEWCGROUP] });
  if (has('time')) steps.push({ op: 'UNSHARE', ints: [CLONE.NEWTIME] });
  if (spec.hostname !== undefined) steps.push({ op: 'SETHOSTNAME', strs: [spec.hostname] });
  if (spec.domainname !== undefined) steps.push({ op: 'SETDOMAINNAME', strs: [spec.domainname] });
  if (has('mnt')) {
    // nothing mounted here may propagate back to the host
    steps.push(mountStep('', '/', '', MS.REC | MS.PRIVATE));
    if (root) steps.push(...rootBindSteps(root, !!spec.readonlyRoot));
    const base = root ?? '';
    if (spec.mountProc) steps.push(...procSteps(`${base}/proc`, !!root));
    // ptys in the tty group (5) only where the host's group 5 is mapped: not in a user namespace
    if (spec.dev ?? !!root) steps.push(...devSteps(`${base}/dev`, { makeDir: true, ttyOptional: true, ...(userNs ? {} : { ptsGid: 5 }) }));
    if (root) steps.push({ op: 'PIVOT_ROOT', strs: [root] });
    // the mount namespace's copy of / only: the host's stays writable
    else if (spec.readonlyRoot) steps.push(mountStep('', '/', '', MS.BIND | MS.REMOUNT | MS.RDONLY));
    steps.push(...maskSteps(spec.maskPaths ?? [], spec.readonlyPaths ?? []));
  }
  if (spec.foreground) steps.push({ op: 'SETPGID_FG' });
  // a fork is needed for an init at PID 1, and for the time namespace to take effect
  if (spec.init || has('time')) steps.push({ op: 'SUPERVISE', ints: [spec.init || has('pid') ? 1 : 0] });
  const cwd = spec.cwd ?? (root ? '/' : undefined);
  if (cwd) steps.push({ op: 'CHDIR', strs: [cwd] });
  const ids = idsInside(spec);
  const switching = ids.uid !== undefined || ids.gid !== undefined;
  if (spec.caps !== undefined) {
    const keep = switching ? spec.caps | (1n << BigInt(CAP.SETUID!)) | (1n << BigInt(CAP.SETGID!)) : spec.caps;
    steps.push({ op: 'CAPS', ints: [keep] });
  }
  if (switching) {
    // setgroups is refused where the map writer denied it (an unprivileged user namespace)
    steps.push({ op: 'SETGROUPS', ints: spec.groups ?? [], optional: userNs });
    if (ids.gid !== undefined) steps.push({ op: 'SETRESGID', ints: [ids.gid] });
    if (ids.uid !== undefined) steps.push({ op: 'SETRESUID', ints: [ids.uid] });
  }
  if (spec.noNewPrivs) steps.push({ op: 'NO_NEW_PRIVS' });
  steps.push({ op: 'RESET_SIGNALS' }, { op: 'STDIO_FIX' }, { op: 'CLOEXEC_FROM', ints: [3] });
  steps.push(execStep(spec.argv, spec.env));
  return steps;
}

/** The whole plan: flags, program, and its rendering. */
export function planContainer(spec: ContainerSpec): ContainerPlan {
  const flags = cloneFlags(spec.namespaces);
  const steps = containerSteps(spec);
  const euid = process.geteuid?.() ?? 0, uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
  const describe: string[] = [
    `# clone(${flagNames(flags)}) -> PID; the child runs the steps below${spec.namespaces.length || spec.join?.length ? '' : " (no new namespace: CMD runs in ns-clone's own, as with a bare unshare)"}`,
    // (as persistNamespace does: its directory made, then the file; quoted, to paste)
    ...(spec.persist ?? []).map((p) => `mkdir -p ${shellQuote([dirname(p.path)])} && touch ${shellQuote([p.path])} && mount --bind /proc/$PID/ns/${NAMESPACES[p.kind].file} ${shellQuote([p.path])}`),
  ];
  const maps = describeMaps('$PID', spec.uidMap, spec.gidMap, uid, gid, euid);
  for (const s of steps) {
    describe.push(renderStep(s));
    if (s.op === 'WAIT_SYNC' && maps.length) describe.splice(describe.length - 1, 0, '# in the parent, while the child waits:', ...maps);
  }
  return { flags, steps, describe };
}
