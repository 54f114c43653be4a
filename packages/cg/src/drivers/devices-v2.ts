/**
 * Device rules on cgroup v2: an eBPF program attached to the group (v2 has
 * no devices.allow/deny files). v1's files are edits to a list the kernel
 * keeps; here the list is kept beside the group, in the directory's
 * `trusted.boxkit.devices` xattr (it goes away with the group, as systemd's
 * `trusted.invocation_id` does), so the next `cg devices` edits the same
 * list, and the program is rebuilt from it and swapped in.
 */
import { BoxkitError, shellQuote, type PlanStep } from '@boxkit/common';
import { clearDeviceProgram, deviceProgramMode, getxattr, setDeviceProgram, setxattr, SysError } from '@boxkit/native';
import { withDirLockSync } from '@boxkit/common/state';
import { existsSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { applyRules, deviceProgram, formatPolicy, isOpen, OPEN_POLICY, parsePolicy, type DevicePolicy } from '../devices.js';
import type { GroupDir } from '../group.js';

export const POLICY_XATTR = 'trusted.boxkit.devices';
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** The rules boxkit gave the group (none: everything its parents allow). */
export function readPolicy(dir: string): DevicePolicy {
  return recordedPolicy(dir) ?? OPEN_POLICY;
}

/** The rules recorded on the group, or undefined when boxkit never gave it any. */
export function recordedPolicy(dir: string): DevicePolicy | undefined {
  const v = getxattr(dir, POLICY_XATTR);
  if (!v) return undefined;
  try {
    return parsePolicy(v.toString());
  } catch (e) {
    throw new BoxkitError('CG_BAD_RECORD', `${dir}: its ${POLICY_XATTR} attribute is not a device rule list: ${(e as Error).message}`, {
      hint: `remove it (setfattr -x ${POLICY_XATTR} ${shellQuote([dir])}) to start from no rules`,
      cause: e,
    });
  }
}

const HINTS: Record<string, string> = {
  EPERM: 'loading a device program needs root (CAP_SYS_ADMIN or CAP_BPF)',
  EACCES: 'loading a device program needs root (CAP_SYS_ADMIN or CAP_BPF)',
  EINVAL: 'the kernel lacks cgroup BPF (CONFIG_CGROUP_BPF)',
  ENOENT: 'the group does not exist',
};

/**
 * Refuse, before anything changes, a program the kernel would refuse or
 * that would lift a parent's rules: the nearest group above (or the group
 * itself) holding device programs must have attached them with
 * BPF_F_ALLOW_MULTI. One attached with BPF_F_ALLOW_OVERRIDE stops applying
 * below as soon as a group there has a program (v1 never lets a child
 * exceed its parent); one attached with neither allows none below (EPERM).
 */
export function checkAttachable(d: Pick<GroupDir, 'mount' | 'path'>): void {
  const hint = 'have its owner attach it with BPF_F_ALLOW_MULTI (as systemd and runc do), or choose another --parent';
  const programs = (dir: string) => {
    if (!existsSync(dir) || statfsSync(dir).type !== CGROUP2_SUPER_MAGIC) return { count: 0, mode: 'multi' as const };
    try {
      return deviceProgramMode(dir);
    } catch (e) {
      throw bpfError(dir, e);
    }
  };
  // the group's own: a program attached there without multi takes no other beside it
  const own = programs(d.path);
  if (own.count && own.mode !== 'multi') {
    throw new BoxkitError('CG_DEVICES_EXCLUSIVE', `devices: ${d.path} has a device program attached without BPF_F_ALLOW_MULTI: the kernel allows no other beside it`, { hint });
  }
  for (let dir = dirname(d.path); d.path !== d.mount && (dir === d.mount || dir.startsWith(`${d.mount}/`)); dir = dirname(dir)) {
    const { count, mode } = programs(dir);
    if (count && mode !== 'multi') {
      const why = mode === 'override'
        ? `a program on ${d.path} would replace it there: its rules would stop applying`
        : 'the kernel allows no other program below it';
      throw new BoxkitError('CG_DEVICES_EXCLUSIVE', `devices: ${dir} has a device program attached ${mode === 'override' ? 'with BPF_F_ALLOW_OVERRIDE' : 'without BPF_F_ALLOW_MULTI'}: ${why}`, { hint });
    }
    if (count) return; // attached with multi: whatever is above is already decided
    if (dir === d.mount) return;
  }
}

function bpfError(dir: string, e: unknown): BoxkitError {
  if (!(e instanceof SysError)) return e as BoxkitError;
  const hint = HINTS[e.code];
  return new BoxkitError(`CG_${e.code}`, `devices: ${e.message.replace(` ${dir}:`, ':')} on ${dir}`, hint ? { hint, cause: e } : { cause: e });
}

/** The program for `p` attached (or boxkit's detached, for no rules). */
function attachPolicy(dir: string, p: DevicePolicy): void {
  if (isOpen(p)) clearDeviceProgram(dir);
  else setDeviceProgram(dir, deviceProgram(p));
}

/** Attach the program for `p` and record `p`. */
export function setPolicy(dir: string, p: DevicePolicy, before: DevicePolicy = readPolicy(dir)): void {
  try {
    attachPolicy(dir, p);
  } catch (e) {
    throw bpfError(dir, e);
  }
  try {
    setxattr(dir, POLICY_XATTR, formatPolicy(p));
  } catch (e) {
    // the program and the record must agree: put the old program back
    try {
      attachPolicy(dir, before);
    } catch {
      // the first error is the one to report
    }
    throw new BoxkitError(`CG_${(e as SysError).code ?? 'EIO'}`, `devices: record the rules on ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The step that applies `deny` then `allow` lines (v1's order) to the
 * group's rules. `existed`: the group is there already, with rules of its
 * own to start from (a new group starts with none) and to restore on undo.
 */
export function devicesStepV2(d: Pick<GroupDir, 'mount' | 'path'>, existed: boolean, deny: readonly string[] = [], allow: readonly string[] = []): PlanStep {
  const dir = d.path;
  const planned = applyRules(existed ? readPolicy(dir) : OPEN_POLICY, deny, allow);
  if (!isOpen(planned)) checkAttachable(d);
  // applied to the list as it is then, under a flock of the group's directory: two edits at once both count
  let before: DevicePolicy | undefined;
  let wrote: string | undefined;
  const step: PlanStep = {
    shell: `# attach an eBPF device program to ${shellQuote([dir])}: ${formatPolicy(planned).replace(/\n/g, ', ')}`,
    apply: () =>
      withDirLockSync(dir, () => {
        const now = readPolicy(dir);
        const next = applyRules(now, deny, allow);
        if (!isOpen(next)) checkAttachable(d); // again: the groups above may have changed since the plan
        setPolicy(dir, next, now);
        [before, wrote] = [now, formatPolicy(next)];
      }),
  };
  // undone only while the list is still what this step wrote (a later edit is not taken back)
  if (existed) {
    step.undo = () =>
      withDirLockSync(dir, () => {
        if (before && formatPolicy(readPolicy(dir)) === wrote) setPolicy(dir, before);
      });
  }
  return step;
}
