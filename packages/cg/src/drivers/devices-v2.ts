/**
 * Device rules on cgroup v2: an eBPF program attached to the group (v2 has
 * no devices.allow/deny files). v1's files are edits to a list the kernel
 * keeps; here the list is kept beside the group, in the directory's
 * `trusted.boxkit.devices` xattr (it goes away with the group, as systemd's
 * `trusted.invocation_id` does), so the next `cg devices` edits the same
 * list, and the program is rebuilt from it and swapped in.
 */
import { BoxkitError, shellQuote, type PlanStep } from '@boxkit/common';
import { clearDeviceProgram, getxattr, setDeviceProgram, setxattr, SysError } from '@boxkit/native';
import { applyRules, deviceProgram, formatPolicy, isOpen, OPEN_POLICY, parsePolicy, type DevicePolicy } from '../devices.js';

export const POLICY_XATTR = 'trusted.boxkit.devices';

/** The rules boxkit gave the group (none: everything its parents allow). */
export function readPolicy(dir: string): DevicePolicy {
  const v = getxattr(dir, POLICY_XATTR);
  return v ? parsePolicy(v.toString()) : OPEN_POLICY;
}

const HINTS: Record<string, string> = {
  EPERM: 'loading a device program needs root (CAP_SYS_ADMIN or CAP_BPF)',
  EACCES: 'loading a device program needs root (CAP_SYS_ADMIN or CAP_BPF)',
  EINVAL: 'the kernel lacks cgroup BPF (CONFIG_CGROUP_BPF), or a program attached to this group without BPF_F_ALLOW_MULTI excludes others',
  ENOENT: 'the group does not exist',
};

function bpfError(dir: string, e: unknown): BoxkitError {
  if (!(e instanceof SysError)) return e as BoxkitError;
  const hint = HINTS[e.code];
  return new BoxkitError(`CG_${e.code}`, `devices: ${e.message.replace(` ${dir}:`, ':')} on ${dir}`, hint ? { hint, cause: e } : { cause: e });
}

/** Attach the program for `p` (or detach boxkit's, for no rules) and record `p`. */
export function setPolicy(dir: string, p: DevicePolicy, before: DevicePolicy = readPolicy(dir)): void {
  try {
    if (isOpen(p)) clearDeviceProgram(dir);
    else setDeviceProgram(dir, deviceProgram(p));
  } catch (e) {
    throw bpfError(dir, e);
  }
  try {
    setxattr(dir, POLICY_XATTR, formatPolicy(p));
  } catch (e) {
    // the program and the record must agree: put the old program back
    try {
      if (isOpen(before)) clearDeviceProgram(dir);
      else setDeviceProgram(dir, deviceProgram(before));
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
export function devicesStepV2(dir: string, existed: boolean, deny: readonly string[] = [], allow: readonly string[] = []): PlanStep {
  const before = existed ? readPolicy(dir) : OPEN_POLICY;
  const after = applyRules(before, deny, allow);
  const step: PlanStep = {
    shell: `# attach an eBPF device program to ${shellQuote([dir])}: ${formatPolicy(after).replace(/\n/g, ', ')}`,
    apply: () => setPolicy(dir, after, before),
  };
  if (existed) step.undo = () => setPolicy(dir, before, after);
  return step;
}
