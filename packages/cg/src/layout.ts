/**
 * Which cgroup hierarchy holds each controller, detected once from
 * /proc/self/mountinfo and the unified root's cgroup.controllers (crun and
 * runc decide the driver the same way). A host is v1 (a hierarchy per
 * controller), v2 (one unified hierarchy) or hybrid (v1 controllers beside a
 * cgroup2 mount, like this project's machines: there cgroup2 holds only what
 * no v1 hierarchy took, e.g. hugetlb).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMountinfo } from '@boxkit/common/mountinfo';

/** boxkit's names for controllers; `io` is `blkio` on v1, `freezer` is built into v2. */
export type Controller = 'cpu' | 'cpuacct' | 'cpuset' | 'memory' | 'pids' | 'io' | 'freezer' | 'devices' | 'hugetlb';
export const CONTROLLERS: readonly Controller[] = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'io', 'freezer', 'devices', 'hugetlb'];

/** v1 subsystem name for each controller. */
export const V1_NAME: Record<Controller, string> = {
  cpu: 'cpu', cpuacct: 'cpuacct', cpuset: 'cpuset', memory: 'memory', pids: 'pids',
  io: 'blkio', freezer: 'freezer', devices: 'devices', hugetlb: 'hugetlb',
};

/**
 * What provides a controller on v2: a controller enabled through
 * subtree_control, or something every cgroup has (cpu.stat, cgroup.freeze,
 * and device control, which is an eBPF program attached to the group).
 */
export const V2_PROVIDER: Record<Controller, { enable?: string; core?: true }> = {
  cpu: { enable: 'cpu' }, cpuacct: { core: true }, cpuset: { enable: 'cpuset' }, memory: { enable: 'memory' },
  pids: { enable: 'pids' }, io: { enable: 'io' }, freezer: { core: true }, hugetlb: { enable: 'hugetlb' },
  devices: { core: true },
};

export interface Hierarchy {
  version: 1 | 2;
  /** mount point, e.g. /sys/fs/cgroup/cpu or /sys/fs/cgroup */
  mount: string;
  /** the controllers this hierarchy serves for boxkit */
  controllers: Controller[];
  /** the calling process's cgroup in this hierarchy (from /proc/self/cgroup), e.g. /process_api/ab12 */
  self: string;
  /** a v1 hierarchy's mount options as mountinfo has them, but rw/ro (its controllers, name=...): what a mount of it must name */
  options?: string;
}

export interface Layout {
  mode: 'v1' | 'v2' | 'hybrid';
  hierarchies: Hierarchy[];
  /** controller -> the hierarchy that holds it (absent: the host has none) */
  byController: Partial<Record<Controller, Hierarchy>>;
}

export interface DetectOptions {
  mountinfo?: string;
  /** /proc/self/cgroup text */
  selfCgroup?: string;
  /** read a file under a cgroup mount (tests point this at a temp tree) */
  read?: (path: string) => string;
}

/** Build the layout from mountinfo text, /proc/self/cgroup text and the v2 root's cgroup.controllers. */
export function detectLayout(opts: DetectOptions = {}): Layout {
  const read = opts.read ?? ((p: string) => readFileSync(p, 'utf8'));
  const mountinfo = opts.mountinfo ?? read('/proc/self/mountinfo');
  const selfText = opts.selfCgroup ?? read('/proc/self/cgroup');
  const selfV1 = new Map<string, string>();
  let selfV2 = '/';
  for (const line of selfText.split('\n').filter(Boolean)) {
    const [id, list, ...rest] = line.split(':');
    const path = rest.join(':');
    if (id === '0' && list === '') selfV2 = path;
    else for (const c of (list ?? '').split(',')) selfV1.set(c, path);
  }
  const hierarchies: Hierarchy[] = [];
  const byController: Layout['byController'] = {};
  let v2mount: string | undefined;
  const seen = new Set<string>();
  for (const { fstype, mountpoint: mount, superOptions } of parseMountinfo(mountinfo)) {
    if (fstype === 'cgroup2') {
      v2mount ??= mount;
      continue;
    }
    if (fstype !== 'cgroup') continue;
    const opts = superOptions.split(',');
    const ctrls = CONTROLLERS.filter((c) => opts.includes(V1_NAME[c]) && !seen.has(c));
    if (!ctrls.length) continue; // named hierarchies (name=systemd) are not ours
    ctrls.forEach((c) => seen.add(c));
    const options = opts.filter((o) => o !== 'rw' && o !== 'ro').join(',');
    const h: Hierarchy = { version: 1, mount, controllers: ctrls, self: selfV1.get(V1_NAME[ctrls[0]!]) ?? '/', options };
    hierarchies.push(h);
    for (const c of ctrls) byController[c] = h;
  }
  if (v2mount !== undefined) {
    let available: string[] = [];
    try {
      available = read(join(v2mount, 'cgroup.controllers')).trim().split(/\s+/).filter(Boolean);
    } catch {
      // an unreadable unified root serves nothing
    }
    const v1Any = hierarchies.length > 0;
    const ctrls = CONTROLLERS.filter((c) => {
      if (byController[c]) return false;
      const p = V2_PROVIDER[c];
      if (p.enable) return available.includes(p.enable);
      // core files (cpu.stat, cgroup.freeze) and device programs count only on a pure
      // v2 host: on a hybrid host the v1 cpuacct/freezer/devices hierarchies act
      return p.core === true && !v1Any;
    });
    const h: Hierarchy = { version: 2, mount: v2mount, controllers: ctrls, self: selfV2 };
    hierarchies.push(h);
    for (const c of ctrls) byController[c] = h;
  }
  const v1 = hierarchies.some((h) => h.version === 1);
  const v2 = hierarchies.some((h) => h.version === 2 && h.controllers.length > 0);
  const mode = v1 && v2 ? 'hybrid' : v1 ? 'v1' : 'v2';
  return { mode, hierarchies, byController };
}

let cached: Layout | undefined;
/** The host's layout, detected once per process. */
export function hostLayout(): Layout {
  return (cached ??= detectLayout());
}
