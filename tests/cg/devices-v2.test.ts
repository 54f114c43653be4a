/**
 * cg's cgroup v2 device rules next to programs others attached above: the
 * kernel drops a parent's program attached with BPF_F_ALLOW_OVERRIDE as
 * soon as a group below has one, and refuses any below one attached with
 * neither flag. cg must refuse both before making anything, and with a
 * parent's multi program both must apply. Run on this host's cgroup2 mount
 * (beside its v1 devices hierarchy: the kernel asks both) and in the v2 VM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { DEVICE_PROGRAM_NAME, devicePrograms, setDeviceProgram, type AttachMode } from '@boxkit/native';
import { createGroup, removeGroup, resolveGroup } from '../../packages/cg/src/index.js';
import { hostLayout, type Layout } from '../../packages/cg/src/layout.js';
import { applyRules, deviceProgram, OPEN_POLICY } from '../../packages/cg/src/devices.js';
import { skipReason, testName } from '../harness/index.js';

const v2 = hostLayout().hierarchies.find((h) => h.version === 2);
const skip = skipReason ?? (v2 ? undefined : 'no cgroup2 mount');
// cg with its devices on the cgroup2 mount (on a hybrid host they would be on the v1 hierarchy)
const layout: Layout | undefined = v2 && { mode: 'v2', hierarchies: [{ ...v2, controllers: ['devices'] }], byController: {} };

describe.skipIf(skip)(`cg devices on cgroup v2 under programs attached above${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const parentDir = join(v2?.mount ?? '/', v2?.self ?? '/', testName('devparent'));
  const child = `${testName('devparent')}/box`;
  const opts = () => ({ layout: layout!, parent: 'self', controllers: ['devices' as const] });

  afterEach(async () => {
    try {
      if (existsSync(join(parentDir, 'box'))) await removeGroup(resolveGroup(child, opts()));
    } finally {
      if (existsSync(parentDir)) rmdirSync(parentDir);
    }
  });

  /** The parent group with someone else's program denying /dev/zero, attached in `mode`. */
  function parentWith(mode: AttachMode): void {
    mkdirSync(parentDir);
    setDeviceProgram(parentDir, deviceProgram(applyRules(OPEN_POLICY, ['c 1:5 rwm'], [])), 'someone_else', mode);
  }

  for (const [mode, says] of [['override', /with BPF_F_ALLOW_OVERRIDE: a program on \S+ would replace it there/], ['exclusive', /without BPF_F_ALLOW_MULTI: the kernel allows no other program below it/]] as const) {
    it(`a parent's program attached ${mode === 'override' ? 'with BPF_F_ALLOW_OVERRIDE' : 'with no flag'} is refused before anything is made`, async () => {
      parentWith(mode);
      await expect(createGroup(child, { devicesDeny: ['c 1:7 rwm'] }, opts())).rejects.toThrow(says);
      expect(existsSync(join(parentDir, 'box'))).toBe(false);
      expect(devicePrograms(parentDir)).toEqual(['someone_else']);
    });
  }

  it("under a parent's multi program both apply: its rules and the group's", async () => {
    parentWith('multi');
    await createGroup(child, { devicesDeny: ['c 1:7 rwm'] }, opts());
    expect(devicePrograms(join(parentDir, 'box'))).toEqual([DEVICE_PROGRAM_NAME]);
    const script = [
      `echo $$ > ${join(parentDir, 'box', 'cgroup.procs')} || exit 9`,
      'echo x > /dev/null && echo null',
      'head -c1 /dev/zero >/dev/null 2>&1 && echo zero',
      '(exec 3>/dev/full) 2>/dev/null && echo full',
      'exit 0',
    ].join('\n');
    const r = await execa('sh', ['-c', script], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    // /dev/zero is the parent's to deny, /dev/full the group's
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['null']);
  });
});
