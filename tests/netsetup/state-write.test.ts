/**
 * Writes refused by the state dir's file system (read-only: a /run
 * remounted ro) name the file they could not write and leave the old
 * content: common's atomicWrite (which netsetup's attachment records use),
 * whose removal of its file aside on a read-only file system failed too
 * (unlink(2) is refused there before the name is looked up: EROFS) and
 * threw that error instead, naming only the file aside.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atomicWrite } from '../../packages/common/src/state.js';
import { readAttachment, writeAttachment } from '../../packages/netsetup/src/store.js';
import type { AttachmentRecord } from '../../packages/netsetup/src/state.js';
import { skipReason } from '../harness/index.js';

describe.skipIf(skipReason)(`state writes on a read-only file system${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let dir: string;
  let saved: string | undefined;
  beforeEach(() => {
    dir = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', `state-write-${process.pid}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    saved = process.env.BOXKIT_STATE_DIR;
    process.env.BOXKIT_STATE_DIR = dir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
    else process.env.BOXKIT_STATE_DIR = saved;
    execFileSync('umount', [dir]);
  });
  const readOnly = (ro: boolean) => execFileSync('mount', ['-o', `remount,${ro ? 'ro' : 'rw'}`, dir]);

  it("atomicWrite makes a missing directory; refused (read-only), it names the file it could not write (it threw unlink's EROFS on the file aside) and leaves the old content", () => {
    const path = join(dir, 'a', 'b', 'f.json');
    atomicWrite(path, 'old\n');
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    readOnly(true);
    try {
      expect(() => atomicWrite(path, 'new\n')).toThrow(`cannot write ${path}: read-only file system`);
    } finally {
      readOnly(false);
    }
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['f.json']);
  });

  it("netsetup's attachment record rewritten on a read-only state dir: the error names the record, which is left as it was", () => {
    const rec = { hostIfname: 'bkw0', netns: 'n', bridge: 'b', ip: '' } as unknown as AttachmentRecord;
    writeAttachment(rec);
    readOnly(true);
    const record = join(dir, 'netsetup', 'attachments', 'bkw0.json');
    try {
      expect(() => writeAttachment({ ...rec, ip: '10.77.142.2/24' } as AttachmentRecord)).toThrow(`cannot write ${record}: read-only file system`);
    } finally {
      readOnly(false);
    }
    expect(readAttachment('bkw0')).toEqual(rec);
    expect(readdirSync(join(dir, 'netsetup', 'attachments'))).toEqual(['bkw0.json']);
  });
});
