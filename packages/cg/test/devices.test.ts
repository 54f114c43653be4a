import { describe, expect, it } from 'vitest';
import { applyRules, deviceProgram, formatPolicy, OPEN_POLICY, parsePolicy, policyAllows, type DevicePolicy } from '../src/devices.js';

/**
 * Runs a compiled device program on one access, as the kernel would: only
 * the instructions deviceProgram emits (the kernel's own run of it is in
 * tests/cg, in the cgroup v2 VM). Catches a jump that lands one instruction
 * off, a wrong register or access mask.
 */
function runProgram(prog: Buffer, type: 'b' | 'c', major: number, minor: number, access: string): number {
  const reg = new Array<number>(11).fill(0);
  const acc = [...access].reduce((a, ch) => a | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[ch]!, 0);
  const ctx = [(acc << 16) | (type === 'b' ? 1 : 2), major, minor];
  for (let pc = 0, steps = 0; steps < 4096; steps++) {
    const code = prog.readUInt8(pc * 8), dst = prog.readUInt8(pc * 8 + 1) & 15, src = prog.readUInt8(pc * 8 + 1) >> 4;
    const off = prog.readInt16LE(pc * 8 + 2), imm = prog.readInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case 0x61: expect(src).toBe(1); reg[dst] = ctx[off / 4]!; break;
      case 0xbc: reg[dst] = reg[src]! >>> 0; break;
      case 0x54: reg[dst] = (reg[dst]! & imm) >>> 0; break;
      case 0x74: reg[dst] = reg[dst]! >>> imm; break;
      case 0xb7: reg[dst] = imm; break;
      // 64-bit jumps: the kernel sign-extends imm, so a negative one never equals a 32-bit load
      case 0x55: if (reg[dst] !== imm) pc += off; break;
      case 0x15: if (reg[dst] === imm) pc += off; break;
      case 0x95: return reg[0]!;
      default: throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc - 1}`);
    }
    expect(pc).toBeLessThan(prog.length / 8);
  }
  throw new Error('no exit');
}

const RUNC = applyRules(OPEN_POLICY, ['a'], ['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 136:* rwm', 'c 10:200 rwm']);

describe('device rules with cgroup v1 semantics', () => {
  it("runc's defaults: deny everything, then the allow list as exceptions", () => {
    expect(formatPolicy(RUNC).split('\n')).toEqual(['deny', 'c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 136:* rwm', 'c 10:200 rwm']);
    expect(policyAllows(RUNC, 'c', 1, 3, 'rw')).toBe(true);
    expect(policyAllows(RUNC, 'b', 8, 0, 'r')).toBe(false);
    expect(policyAllows(RUNC, 'b', 8, 0, 'm')).toBe(true);
    expect(policyAllows(RUNC, 'c', 136, 7, 'rw')).toBe(true);
    expect(policyAllows(RUNC, 'c', 1, 1, 'r')).toBe(false); // /dev/mem
  });

  it('an allow for the same device merges access; a deny agreeing with the default takes access away', () => {
    let p = applyRules(OPEN_POLICY, ['a'], ['c 1:5 r']);
    p = applyRules(p, [], ['c 1:5 w']);
    expect(formatPolicy(p)).toBe('deny\nc 1:5 rw');
    p = applyRules(p, ['c 1:5 r'], []);
    expect(formatPolicy(p)).toBe('deny\nc 1:5 w');
    p = applyRules(p, ['c 1:5 w'], []);
    expect(formatPolicy(p)).toBe('deny');
  });

  it('with an allow default the exceptions deny, matched partially (any asked access they name)', () => {
    const p = applyRules(OPEN_POLICY, ['c 1:5 w', 'b 8:* rwm'], []);
    expect(p.allow).toBe(true);
    expect(policyAllows(p, 'c', 1, 5, 'r')).toBe(true);
    expect(policyAllows(p, 'c', 1, 5, 'rw')).toBe(false);
    expect(policyAllows(p, 'b', 8, 16, 'm')).toBe(false);
    expect(policyAllows(p, 'b', 7, 0, 'rwm')).toBe(true);
  });

  it('`a` resets the default and every exception', () => {
    expect(applyRules(RUNC, [], ['a'])).toEqual(OPEN_POLICY);
    expect(applyRules(RUNC, [], ['a *:* rwm'])).toEqual(OPEN_POLICY);
    expect(applyRules(RUNC, ['a'], [])).toEqual({ allow: false, exceptions: [] });
  });

  it('a major above 4095 or a minor above 1048575 names no device: refused (a 64-bit compare of a wrapped number would match another)', () => {
    expect(() => applyRules(OPEN_POLICY, ['a'], ['c 4294967297:5 r'])).toThrow(/at most 4095/);
    expect(() => applyRules(OPEN_POLICY, ['c 1:2147483648 rwm'], [])).toThrow(/minor at most 1048575/);
    expect(formatPolicy(applyRules(OPEN_POLICY, ['c 4095:1048575 rwm'], []))).toBe('allow\nc 4095:1048575 rwm');
  });

  it('the recorded form reads back as the same policy', () => {
    for (const p of [RUNC, OPEN_POLICY, applyRules(OPEN_POLICY, ['c *:3 rw'], [])]) expect(parsePolicy(formatPolicy(p))).toEqual(p);
    expect(() => parsePolicy('garbage')).toThrow(/not a device policy/);
  });
});

describe('the compiled eBPF program decides as the policy does', () => {
  const policies: DevicePolicy[] = [
    RUNC,
    OPEN_POLICY,
    { allow: false, exceptions: [] },
    applyRules(OPEN_POLICY, ['c 1:5 w', 'b 8:* rwm', 'c *:7 r'], []),
    applyRules(OPEN_POLICY, ['a'], ['b 7:* rw', 'c 1:3 r', 'c *:* m']),
    applyRules(OPEN_POLICY, ['c 4095:1048575 w'], []),
  ];
  const devices: [('b' | 'c'), number, number][] = [['c', 1, 3], ['c', 1, 5], ['c', 1, 7], ['c', 136, 0], ['c', 10, 200], ['b', 8, 0], ['b', 7, 3], ['c', 254, 7], ['b', 1, 3], ['c', 4095, 1048575]];
  const accesses = ['r', 'w', 'm', 'rw', 'rwm', 'wm'];

  it('for every device and access of a sample', () => {
    for (const p of policies) {
      const prog = deviceProgram(p);
      expect(prog.length % 8).toBe(0);
      for (const [t, ma, mi] of devices) {
        for (const a of accesses) {
          expect(runProgram(prog, t, ma, mi, a), `${formatPolicy(p).replace(/\n/g, ', ')}: ${t} ${ma}:${mi} ${a}`).toBe(policyAllows(p, t, ma, mi, a) ? 1 : 0);
        }
      }
    }
  });

  it('is small: 6 loads, one block per exception, 2 for the default', () => {
    expect(deviceProgram(OPEN_POLICY).length / 8).toBe(8);
    expect(deviceProgram(RUNC).length / 8).toBeLessThan(8 + 8 * 8);
  });
});
