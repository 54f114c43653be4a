import { describe, expect, it } from 'vitest';
import { leaked, snapshot } from './leaks.js';
import { createHost, destroyHost } from './netns.js';
import { skipReason, testName } from './env.js';

describe.skipIf(skipReason)(`leak check${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('reports a netns that a test leaves behind, and nothing once it is gone', () => {
    const opts = { testRoot: process.env.BOXKIT_TEST_ROOT!, runId: process.env.BOXKIT_TEST_RUN_ID! };
    const before = snapshot(opts);
    const name = testName('leak');
    createHost(name);
    try {
      expect(leaked(before, snapshot(opts))).toContain(`netns: ${name}`);
    } finally {
      destroyHost(name);
    }
    expect(leaked(before, snapshot(opts))).toEqual([]);
  });
});
