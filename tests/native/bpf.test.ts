/**
 * The bpf(2) device-program calls (native/src/bpf.ts) on this host's own
 * kernel: a group made under the test worker's cgroup in the cgroup2
 * hierarchy (on a hybrid host that hierarchy sits beside the v1 devices one;
 * the kernel asks both), a shell that moves itself in, and what it may then
 * open. cg's use of them on a pure cgroup v2 kernel runs in the VM
 * (tests/cg, tests/vm/run-v2.sh).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { clearDeviceProgram, DEVICE_PROGRAM_NAME, devicePrograms, loadDeviceProgram, setDeviceProgram, SysError } from '@boxkit/native';
import { hostLayout } from '../../packages/cg/src/layout.js';
import { applyRules, deviceProgram, OPEN_POLICY } from '../../packages/cg/src/devices.js';
import { skipReason, testName } from '../harness/index.js';

const v2 = hostLayout().hierarchies.find((h) => h.version === 2);
const skip = skipReason ?? (v2 ? undefined : 'no cgroup2 mount');

describe.skipIf(skip)(`eBPF cgroup device programs${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dir = join(v2?.mount ?? '/', v2?.self ?? '/', testName('bpf'));
  afterAll(() => {
    if (existsSync(dir)) rmdirSync(dir);
  });

  /** What a shell that moved itself into the group could do. */
  async function probe(): Promise<string[]> {
    const script = [
      `echo $$ > ${join(dir, 'cgroup.procs')} || exit 9`,
      'echo x > /dev/null && echo null-write',
      'head -c1 /dev/zero >/dev/null 2>&1 && echo zero-read',
      'echo x 2>/dev/null > /dev/zero && echo zero-write',
      'exit 0',
    ].join('\n');
    const r = await execa('sh', ['-c', script], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean);
  }

  it('attach, replace in place, detach: the kernel enforces each program at once', async () => {
    mkdirSync(dir);
    expect(devicePrograms(dir)).toEqual([]);
    expect(await probe()).toEqual(['null-write', 'zero-read', 'zero-write']);

    const onlyNull = applyRules(OPEN_POLICY, ['a'], ['c 1:3 rwm']);
    expect(setDeviceProgram(dir, deviceProgram(onlyNull))).toBe(0);
    expect(devicePrograms(dir)).toEqual([DEVICE_PROGRAM_NAME]);
    expect(await probe()).toEqual(['null-write']);

    expect(setDeviceProgram(dir, deviceProgram(applyRules(onlyNull, [], ['c 1:5 r'])))).toBe(1);
    expect(devicePrograms(dir)).toEqual([DEVICE_PROGRAM_NAME]);
    expect(await probe()).toEqual(['null-write', 'zero-read']);

    expect(clearDeviceProgram(dir)).toBe(1);
    expect(devicePrograms(dir)).toEqual([]);
    expect(await probe()).toEqual(['null-write', 'zero-read', 'zero-write']);
  });

  it("another owner's program is left alone (only boxkit's name is replaced or cleared)", () => {
    const other = applyRules(OPEN_POLICY, ['c 1:7 rwm'], []);
    expect(setDeviceProgram(dir, deviceProgram(other), 'other_owner')).toBe(0);
    try {
      setDeviceProgram(dir, deviceProgram(OPEN_POLICY));
      expect(devicePrograms(dir).sort()).toEqual([DEVICE_PROGRAM_NAME, 'other_owner']);
      expect(clearDeviceProgram(dir)).toBe(1);
      expect(devicePrograms(dir)).toEqual(['other_owner']);
    } finally {
      clearDeviceProgram(dir, 'other_owner');
    }
    expect(devicePrograms(dir)).toEqual([]);
  });

  it('a long rule list loads (the verifier log is asked for only to explain a refusal: a full log fails a valid load)', () => {
    const rules = Array.from({ length: 300 }, (_, i) => `c 1${i % 10}:${i} rw`);
    const fd = loadDeviceProgram(deviceProgram(applyRules(OPEN_POLICY, ['a'], rules)));
    expect(fd).toBeGreaterThan(2);
    closeSync(fd);
  });

  it('a program the verifier refuses is an error naming why (EACCES, the reason from its log)', () => {
    const exitOnly = Buffer.from([0x95, 0, 0, 0, 0, 0, 0, 0]); // exit without setting r0
    let err: unknown;
    try {
      loadDeviceProgram(exitOnly);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysError);
    expect((err as SysError).code).toBe('EACCES');
    expect((err as SysError).message).toBe('bpf(PROG_LOAD): R0 !read_ok (EACCES)');
  });
});
