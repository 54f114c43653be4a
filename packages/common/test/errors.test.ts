import { describe, expect, it } from 'vitest';
import { after, BoxkitError, EXIT, UsageError } from '../src/errors.js';

describe('after: a failure said after what was done already', () => {
  it('keeps one line, the code, the hint and the exit code', () => {
    const e = after('web: stopped, but not removed', new BoxkitError('EBADSTATE', 'state.json: not valid JSON\nmore', { hint: 'repair it' }));
    expect([e.code, e.message, e.hint, e.exitCode]).toEqual(['EBADSTATE', 'web: stopped, but not removed: state.json: not valid JSON', 'repair it', EXIT.SYSTEM]);
    expect(after('x', new UsageError('bad')).exitCode).toBe(EXIT.USAGE);
  });

  it('takes the given hint when the error has none, and a system error as Node words it', () => {
    const sys = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT' });
    const e = after('web: not removed', sys, 'run rm -f web again');
    expect([e.code, e.message, e.hint]).toEqual(['ENOENT', "web: not removed: no such file or directory, open '/x'", 'run rm -f web again']);
  });
});
