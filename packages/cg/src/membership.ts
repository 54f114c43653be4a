/**
 * Processes in groups: attach (the article's `echo $$ >> cgroup.procs`),
 * listing, freeze/thaw, and removal that refuses to strand processes unless
 * told to kill them or move them to the parent.
 */
import { BoxkitError, UsageError, type PlanStep } from '@boxkit/common';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Group, GroupDir } from './group.js';
import { readValue, rmdirStep, writeStep, writeValue, writeValueAsync } from './steps.js';
import { FREEZER_V1 } from './drivers/v1.js';
import { FREEZER_V2 } from './drivers/v2.js';
import { cgLine } from './group.js';

/** PIDs in a group directory (cgroup.procs), empty when it is gone. */
export function procsOf(dir: string): number[] {
  return (readValue(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
}

/** Every PID in the group, over all its hierarchies. */
export function groupPids(group: Group): number[] {
  return [...new Set(group.dirs.flatMap((d) => procsOf(d.path)))].sort((a, b) => a - b);
}

/** The cgroup a process is in, per hierarchy mount (for undoing an attach). */
function currentDir(pid: number, d: GroupDir, selfText: string): string | undefined {
  for (const line of selfText.split('\n')) {
    const [id, list, ...rest] = line.split(':');
    const path = rest.join(':');
    if (d.version === 2 ? id === '0' && list === '' : id !== '0' && d.controllers.some((c) => (list ?? '').split(',').includes(c === 'io' ? 'blkio' : c))) {
      return join(d.mount, path);
    }
  }
  return undefined;
}

/** Check PIDs exist before anything changes (a missing one is bad input: exit 2). */
export function checkPids(pids: readonly number[]): void {
  for (const pid of pids) if (!existsSync(`/proc/${pid}`)) throw new UsageError(`no process with pid ${pid}`);
}

/**
 * Steps that move each PID into the group in every hierarchy; undo moves it
 * back. Their writes run on libuv's pool (writeValueAsync), so the steps can
 * also be applied all at once (see attach() in index.ts).
 */
export function planAttach(group: Group, pids: readonly number[]): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const pid of pids) {
    let before = '';
    try {
      before = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      // checked by checkPids; a process that exits meanwhile fails its write with ESRCH
    }
    for (const d of group.dirs) {
      const file = join(d.path, 'cgroup.procs');
      const step: PlanStep = { ...writeStep(file, String(pid)), apply: () => writeValueAsync(file, String(pid)) };
      const back = currentDir(pid, d, before);
      if (back && back !== d.path) step.undo = () => writeValue(join(back, 'cgroup.procs'), String(pid));
      steps.push(step);
    }
  }
  return steps;
}

/**
 * The moves for this process just before it execs a command (cg exec): on
 * v1, '0' into `tasks`, written by the main thread itself (synchronously:
 * libuv's pool threads must not write it). That moves the calling thread
 * only, and execve keeps only the calling thread (Node's other threads
 * end), so it is the whole process that runs the command. The kernel moves
 * the writer's own thread without the global threadgroup lock, whose RCU
 * grace period a cgroup.procs write (or a tid written explicitly) waits for:
 * ~8-9 ms here, 16-50 ms seen under load. v2 has cgroup.procs only.
 */
export function planExecAttach(group: Group): PlanStep[] {
  let before = '';
  try {
    before = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    // no undo then
  }
  return group.dirs.map((d) => {
    const [name, value] = d.version === 1 ? ['tasks', '0'] : ['cgroup.procs', String(process.pid)];
    const file = join(d.path, name);
    const step: PlanStep = writeStep(file, value);
    const back = currentDir(process.pid, d, before);
    if (back && back !== d.path) step.undo = () => writeValue(join(back, name), value);
    return step;
  });
}

/**
 * The writes that move the writing process itself into the group, for a
 * program that runs inside the process to be moved (run's container child,
 * before it execs). On v1, '0' into `tasks` moves the writer's own thread,
 * which the kernel does without taking the global threadgroup lock and so
 * without the RCU grace period a move through cgroup.procs waits for
 * (measured on this VM: ~0.02 ms against 8-9 ms); the writer must be
 * single-threaded for that to move the whole process. v2 has no such
 * file: '0' into cgroup.procs.
 */
export function selfAttachWrites(group: Group): { file: string; value: string }[] {
  return group.dirs.map((d) => ({ file: join(d.path, d.version === 1 ? 'tasks' : 'cgroup.procs'), value: '0' }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, test: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new BoxkitError('ETIMEDOUT', `${what}: timed out after ${ms} ms`);
    await sleep(10);
  }
}

/** The freezer's directory and its driver, or an error when the host has no freezer. */
function freezerOf(group: Group) {
  const d = group.dirs.find((x) => x.controllers.includes('freezer'));
  if (!d) throw new BoxkitError('ENOCTRL', 'freeze: no cgroup hierarchy on this host holds the freezer', { hint: 'see /proc/self/mountinfo' });
  return { dir: d.path, drv: d.version === 1 ? FREEZER_V1 : FREEZER_V2 };
}

/** Freeze (or thaw) and wait until the kernel reports the state reached. */
export function planFreeze(group: Group, frozen: boolean): PlanStep[] {
  const { dir, drv } = freezerOf(group);
  const write = writeStep(join(dir, drv.file), drv.value(frozen));
  return [
    { ...write, undo: () => writeValue(join(dir, drv.file), drv.value(!frozen)) },
    {
      shell: `# wait until ${frozen ? 'frozen' : 'thawed'} (${drv === FREEZER_V1 ? 'freezer.state' : 'cgroup.events'})`,
      apply: () => waitFor(`${frozen ? 'freeze' : 'thaw'} ${group.name}`, () => (frozen ? drv.isFrozen(dir) : drv.isThawed(dir))),
    },
  ];
}

export interface RemoveOptions {
  /** SIGKILL the processes left in the group first */
  kill?: boolean;
  /** move the processes left in the group to its parent first */
  move?: boolean;
}

/** Kill everything in the group: cgroup.kill on v2, else freeze, SIGKILL each task, thaw. */
async function killAll(group: Group): Promise<void> {
  const v2 = group.dirs.find((d) => d.version === 2 && existsSync(join(d.path, 'cgroup.kill')));
  if (v2) writeValue(join(v2.path, 'cgroup.kill'), '1');
  else {
    const fz = group.dirs.find((d) => d.controllers.includes('freezer') && existsSync(d.path));
    if (fz) for (const s of planFreeze(group, true)) await s.apply();
    for (const pid of groupPids(group)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (fz) for (const s of planFreeze(group, false)) await s.apply();
  }
  await waitFor(`kill the processes of ${group.name}`, () => groupPids(group).length === 0);
}

/** The child groups (subdirectories) of a group directory; none when it is gone. */
function subgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** The plan that removes the group from every hierarchy; removing what is gone succeeds. */
export function planRemove(group: Group, opts: RemoveOptions = {}): PlanStep[] {
  if (opts.kill && opts.move) throw new UsageError('--kill and --move cannot be used together');
  // the kernel refuses to rmdir a group with child groups (EBUSY, like one with processes)
  const children = [...new Set(group.dirs.flatMap((d) => subgroups(d.path)))].sort();
  if (children.length) {
    throw new BoxkitError('EBUSY', `group ${group.name} has child groups: ${children.slice(0, 8).join(' ')}${children.length > 8 ? ' ...' : ''}`, {
      // the command to paste: its --parent too (without it, cg rm looks under boxkit/ and finds nothing)
      hint: `remove them first: ${cgLine(['rm', `${group.name}/${children[0]}`], group.parent)}`,
    });
  }
  const steps: PlanStep[] = [];
  const pids = groupPids(group);
  if (pids.length && opts.kill) {
    steps.push({ shell: `# kill the ${pids.length} process(es) in ${group.name} (cgroup.kill or SIGKILL)`, apply: () => killAll(group) });
  } else if (pids.length && opts.move) {
    for (const d of group.dirs) for (const pid of procsOf(d.path)) steps.push(writeStep(join(dirname(d.path), 'cgroup.procs'), String(pid)));
  } else if (pids.length) {
    throw new BoxkitError('EBUSY', `group ${group.name} still has ${pids.length} process(es): ${pids.slice(0, 8).join(' ')}${pids.length > 8 ? ' ...' : ''}`, {
      hint: 'use --kill to kill them or --move to move them to the parent group',
    });
  }
  for (const d of group.dirs) if (existsSync(d.path)) steps.push(rmdirStep(d.path));
  return steps;
}
