/**
 * Where cg's integration tests make their groups. On the host (cgroup v1 or
 * hybrid) that is `--parent self`: under the test worker's own cgroup in
 * each hierarchy, and only processes the tests spawn ever move (into groups
 * nested under the cgroup they started in).
 *
 * Inside the cgroup v2 VM (BOXKIT_CG_V2_VM=1, tests/vm/run-v2.sh) the worker
 * first moves itself out of the root into a non-root leaf,
 * /<run>/runner, as on a systemd host; groups are then made beside it under
 * /<run> (`--parent <run>`), and `--parent self` must fail clearly because of
 * the no-internal-processes rule.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bk, inV2Vm, testName } from '../harness/index.js';
import { resolveGroup, groupStats, type Group, type GroupStats } from '../../packages/cg/src/index.js';

export const inVm = inV2Vm;
const V2 = '/sys/fs/cgroup';
const runDir = testName('v2');

/** The --parent the tests pass. */
export let parent = 'self';

/** In the VM: move this worker into <run>/runner (a leaf), once. */
export function enterLeaf(): void {
  if (!inVm) return;
  mkdirSync(join(V2, runDir, 'runner'), { recursive: true });
  writeFileSync(join(V2, runDir, 'runner', 'cgroup.procs'), String(process.pid));
  parent = runDir;
}

/** In the VM: back to the root and remove the leaf (the VM is thrown away anyway). */
export function leaveLeaf(): void {
  if (!inVm) return;
  writeFileSync(join(V2, 'cgroup.procs'), String(process.pid));
  rmdirSync(join(V2, runDir, 'runner'));
  rmdirSync(join(V2, runDir));
}

export interface CgResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
/** Run the built cg; never rejects. */
export async function cg(args: string[], input?: string): Promise<CgResult> {
  const r = await bk('cg', args, input !== undefined ? { input } : {});
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
/** Add `--parent` before any `--` (after it, it would be part of the command). */
export const withParent = (args: string[]) => {
  const i = args.indexOf('--');
  return i < 0 ? [...args, '--parent', parent] : [...args.slice(0, i), '--parent', parent, ...args.slice(i)];
};

export function group(name: string): Group {
  return resolveGroup(name, { parent });
}
export function stats(g: Group): GroupStats {
  return groupStats(g);
}

/** The cgroup paths of a process, one per hierarchy line of /proc/PID/cgroup. */
export function procCgroup(pid: number): string {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until test() is true, or fail after ms. Long by default: in the v2 VM
 * (emulated, on a loaded host) a `cg` start took 10 s and a loop's first
 * 20 ms of CPU did not come within 10 s (the freeze test failed so).
 */
export async function until(what: string, test: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
