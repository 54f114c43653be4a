/**
 * Device rules as cgroup v1's devices controller keeps them, for cgroup v2,
 * which has no such files: a policy (a default, allow or deny, and a list of
 * exceptions) edited by `devices.deny`/`devices.allow` lines with v1's own
 * rules (security/device_cgroup.c), and compiled to the eBPF program that
 * v2 runs at each open and mknod of a device node (runc's devicefilter does
 * the same). Plain data in, plain data out: native/bpf.ts loads the result.
 */
import { UsageError } from '@boxkit/common';
import { parseDeviceRule } from './values.js';

/** v1's encoding, which the eBPF context uses too (BPF_DEVCG_DEV_*, BPF_DEVCG_ACC_*). */
const TYPE = { b: 1, c: 2 } as const;
const ACCESS = { m: 1, r: 2, w: 4 } as const;

export interface DeviceException {
  type: 'b' | 'c';
  /** undefined: any (`*`) */
  major?: number;
  minor?: number;
  /** bits of ACCESS */
  access: number;
}

export interface DevicePolicy {
  /** what a device no exception names gets */
  allow: boolean;
  exceptions: DeviceException[];
}

/** A group with no rules of its own: everything its parents allow (no program needed). */
export const OPEN_POLICY: DevicePolicy = { allow: true, exceptions: [] };

const num = (s: string): number | undefined => (s === '*' ? undefined : Number(s));

/** `a`, or `TYPE MAJ:MIN ACCESS` (values.ts's parseDeviceRule); undefined for `a` (all). */
export function parseException(rule: string): DeviceException | undefined {
  const [type, nums = '', access = ''] = parseDeviceRule(rule).split(' ');
  if (type === 'a') return undefined; // v1: any `a` rule is "all devices", whatever follows
  const m = /^(\d+|\*):(\d+|\*)$/.exec(nums)!;
  let bits = 0;
  for (const ch of access) bits |= ACCESS[ch as keyof typeof ACCESS];
  const e: DeviceException = { type: type as 'b' | 'c', access: bits };
  if (num(m[1]!) !== undefined) e.major = num(m[1]!);
  if (num(m[2]!) !== undefined) e.minor = num(m[2]!);
  return e;
}

export function formatException(e: DeviceException): string {
  const access = (['r', 'w', 'm'] as const).filter((k) => e.access & ACCESS[k]).join('');
  return `${e.type} ${e.major ?? '*'}:${e.minor ?? '*'} ${access}`;
}

const sameDevice = (a: DeviceException, b: DeviceException) => a.type === b.type && a.major === b.major && a.minor === b.minor;

/**
 * One line written to devices.allow (allow=true) or devices.deny, as v1
 * applies it: `a` resets the default and drops every exception; a rule
 * that agrees with the default takes its access out of a matching
 * exception; any other adds it (merging into one for the same device).
 */
export function applyRule(p: DevicePolicy, rule: string, allow: boolean): DevicePolicy {
  const ex = parseException(rule);
  if (!ex) return { allow, exceptions: [] };
  if (p.allow === allow) {
    const exceptions = p.exceptions
      .map((w) => (sameDevice(w, ex) ? { ...w, access: w.access & ~ex.access } : w))
      .filter((w) => w.access !== 0);
    return { allow: p.allow, exceptions };
  }
  const i = p.exceptions.findIndex((w) => sameDevice(w, ex));
  if (i < 0) return { allow: p.allow, exceptions: [...p.exceptions, ex] };
  const exceptions = p.exceptions.slice();
  exceptions[i] = { ...exceptions[i]!, access: exceptions[i]!.access | ex.access };
  return { allow: p.allow, exceptions };
}

/** The deny lines, then the allow lines: the order cg writes v1's two files in. */
export function applyRules(p: DevicePolicy, deny: readonly string[] = [], allow: readonly string[] = []): DevicePolicy {
  let out = p;
  for (const r of deny) out = applyRule(out, r, false);
  for (const r of allow) out = applyRule(out, r, true);
  return out;
}

/** As stored beside the group (and shown): the default, then one exception per line. */
export function formatPolicy(p: DevicePolicy): string {
  return [p.allow ? 'allow' : 'deny', ...p.exceptions.map(formatException)].join('\n');
}

export function parsePolicy(text: string): DevicePolicy {
  const [head, ...lines] = text.split('\n').filter(Boolean);
  if (head !== 'allow' && head !== 'deny') throw new UsageError(`not a device policy: ${JSON.stringify(text.slice(0, 40))}`);
  return { allow: head === 'allow', exceptions: lines.map((l) => parseException(l)!).filter(Boolean) };
}

export const isOpen = (p: DevicePolicy): boolean => p.allow && p.exceptions.length === 0;

// eBPF instruction encoding (linux/bpf.h): code, dst|src<<4, off, imm
const LDX_W = 0x61, ALU32_MOV_X = 0xbc, ALU32_AND_K = 0x54, ALU32_RSH_K = 0x74;
const MOV64_K = 0xb7, JNE_K = 0x55, JEQ_K = 0x15, EXIT = 0x95;
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;
type Insn = [code: number, dst: number, src: number, off: number, imm: number];

/**
 * The program: the context is { access_type = access<<16 | type, major,
 * minor } (struct bpf_cgroup_dev_ctx); it returns 1 to allow, 0 to deny.
 * Numbers are compared as 64-bit jumps against 32-bit loads: every
 * immediate must be below 2^31 (parseDeviceRule bounds majors and minors).
 * As v1 decides: with a deny default, a device is allowed when one
 * exception covers all the access asked for; with an allow default, it is
 * denied when one exception names any of it.
 */
export function deviceProgram(p: DevicePolicy): Buffer {
  const insns: Insn[] = [
    [LDX_W, R2, R1, 0, 0], // r2 = access_type
    [ALU32_MOV_X, R3, R2, 0, 0],
    [ALU32_AND_K, R2, 0, 0, 0xffff], // r2 = type
    [ALU32_RSH_K, R3, 0, 0, 16], // r3 = access
    [LDX_W, R4, R1, 4, 0], // r4 = major
    [LDX_W, R5, R1, 8, 0], // r5 = minor
  ];
  for (const e of p.exceptions) {
    // every test jumps past this block when the exception does not match (off is patched below)
    const block: Insn[] = [[JNE_K, R2, 0, -1, TYPE[e.type]], [ALU32_MOV_X, R1, R3, 0, 0]];
    if (p.allow) block.push([ALU32_AND_K, R1, 0, 0, e.access], [JEQ_K, R1, 0, -1, 0]);
    else block.push([ALU32_AND_K, R1, 0, 0, ~e.access], [JNE_K, R1, 0, -1, 0]); // any bit asked beyond the exception's
    if (e.major !== undefined) block.push([JNE_K, R4, 0, -1, e.major]);
    if (e.minor !== undefined) block.push([JNE_K, R5, 0, -1, e.minor]);
    block.push([MOV64_K, R0, 0, 0, p.allow ? 0 : 1], [EXIT, 0, 0, 0, 0]);
    block.forEach((ins, i) => {
      if (ins[3] === -1) ins[3] = block.length - i - 1;
    });
    insns.push(...block);
  }
  insns.push([MOV64_K, R0, 0, 0, p.allow ? 1 : 0], [EXIT, 0, 0, 0, 0]);
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, dst, src, off, imm], i) => {
    buf.writeUInt8(code, i * 8);
    buf.writeUInt8(dst | (src << 4), i * 8 + 1);
    buf.writeInt16LE(off, i * 8 + 2);
    buf.writeInt32LE(imm | 0, i * 8 + 4);
  });
  return buf;
}

/**
 * What the program decides for one access, computed from the policy the
 * way the kernel's v1 controller does: the reference the tests hold the
 * compiled program to.
 */
export function policyAllows(p: DevicePolicy, type: 'b' | 'c', major: number, minor: number, access: string): boolean {
  let bits = 0;
  for (const ch of access) bits |= ACCESS[ch as keyof typeof ACCESS];
  const hits = (e: DeviceException) => e.type === type && (e.major === undefined || e.major === major) && (e.minor === undefined || e.minor === minor);
  if (p.allow) return !p.exceptions.some((e) => hits(e) && (e.access & bits) !== 0);
  return p.exceptions.some((e) => hits(e) && (bits & ~e.access) === 0);
}
