/** fserror: Node's and native's fs errors as one line on the user's path; stop: breaths for stoppable work. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoxkitError, UsageError } from '@boxkit/common';
import { SysError } from '@boxkit/native';
import { fsError, unreachable, writeHints } from '../src/fserror.js';
import { breather, Stopped } from '../src/stop.js';

/** An error as Node's fs throws it. */
function nodeError(code: string, message: string, syscall: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, ${syscall}${path ? ` '${path}'` : ''}`), { code, syscall, errno: -1, ...(path ? { path } : {}) });
}

describe('fsError', () => {
  it("says Node's error on the path given, with the hint for its code, exit 1", () => {
    const e = fsError(nodeError('ENOSPC', 'no space left on device', 'write'), 'commit /x/out.tar', writeHints('/x', 'give an OUT elsewhere'));
    expect(e).toBeInstanceOf(BoxkitError);
    expect(e).toMatchObject({ message: 'commit /x/out.tar: no space left on device', hint: 'free space on the file system of /x, or give an OUT elsewhere', exitCode: 1, code: 'ENOSPC' });
  });

  it("keeps the words of a code it has no table entry for, from Node's and from native's messages", () => {
    expect(fsError(nodeError('EXDEV', 'cross-device link not permitted', 'rename', '/a'), '/a')).toMatchObject({ message: '/a: cross-device link not permitted' });
    expect(fsError(new SysError('lgetxattr', 61, '/u/f'), 'cannot read /u/f')).toMatchObject({ message: 'cannot read /u/f: no data available', code: 'ENODATA' });
    expect(fsError(new SysError('lgetxattr', 13, '/u/f'), 'cannot read /u/f', { default: 'd' })).toMatchObject({ message: 'cannot read /u/f: permission denied', hint: 'd' });
  });

  it('returns what is no file system error as it is', () => {
    const usage = new UsageError('bad');
    expect(fsError(usage, '/x')).toBe(usage);
    const bug = new TypeError('x is undefined');
    expect(fsError(bug, '/x')).toBe(bug);
  });

  it('unreachable: nothing to say for a path that is there, missing, or below a file (the caller says "no such directory")', () => {
    const d = mkdtempSync(join(tmpdir(), 'unionfs-fserror-'));
    try {
      writeFileSync(join(d, 'f'), '');
      expect(unreachable(d)).toBeUndefined();
      expect(unreachable(join(d, 'missing'))).toBeUndefined();
      // (ENOTDIR is the "no such directory" the caller says itself)
      expect(unreachable(join(d, 'f/below'))).toBeUndefined();
    } finally {
      rmSync(d, { recursive: true });
    }
  });
});

describe('breather', () => {
  it('without a signal: never due', async () => {
    const b = breather(undefined, 0);
    expect(b.due()).toBe(false);
    await b.take();
  });

  it('due after its interval; a breath throws the abort reason once aborted', async () => {
    const ac = new AbortController();
    const b = breather(ac.signal, 0);
    expect(b.due()).toBe(true);
    await b.take();
    ac.abort(new Stopped('SIGTERM'));
    await expect(b.take()).rejects.toMatchObject({ message: 'stopped by SIGTERM', exitCode: 143 });
  });

  it('a breath lets the event loop turn: an abort queued with setImmediate is seen by the same breath', async () => {
    const ac = new AbortController();
    const b = breather(ac.signal, 0);
    setImmediate(() => ac.abort(new Stopped('SIGINT')));
    await expect(b.take()).rejects.toMatchObject({ exitCode: 130 });
  });
});
