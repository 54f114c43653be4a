/**
 * Integration run set-up: temporary state and data directories, a run id,
 * and the leak check around the whole run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leaked, snapshot, type Snapshot } from './leaks.js';
import { skipReason } from './env.js';

let before: Snapshot | undefined;
let root = '';

export function setup(): void {
  process.env.BOXKIT_TEST_RUN_ID ??= `${process.pid}`;
  root = mkdtempSync(join(tmpdir(), 'boxkit-it-'));
  process.env.BOXKIT_TEST_ROOT = root;
  process.env.BOXKIT_STATE_DIR = join(root, 'state');
  process.env.BOXKIT_DATA_DIR = join(root, 'data');
  if (skipReason) {
    process.stderr.write(`integration tests skipped: ${skipReason}\n`);
    return;
  }
  before = snapshot({ testRoot: root, runId: process.env.BOXKIT_TEST_RUN_ID });
}

export async function teardown(): Promise<void> {
  if (!before) return;
  const runId = process.env.BOXKIT_TEST_RUN_ID!;
  // give killed processes a moment to be reaped before looking (and a detached container's keeper
  // to record its end and exit): up to 7 s, as a loaded machine needs more than the 2 s it was
  // (not more: vitest's close gives up after its teardownTimeout, 10 s, and exits without the check)
  let left: string[] = [];
  const end = Date.now() + 7000;
  for (;;) {
    left = leaked(before, snapshot({ testRoot: root, runId }));
    if (!left.length || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (left.length) {
    // vitest does not fail a run for a teardown error: say it in the exit code too
    process.exitCode = 1;
    if (process.env.BOXKIT_LEAK_REPORT) writeFileSync(process.env.BOXKIT_LEAK_REPORT, left.join('\n') + '\n');
    throw new Error(`leak check failed: the tests left ${left.length} thing(s) behind:\n  ${left.join('\n  ')}`);
  }
  rmSync(root, { recursive: true, force: true });
}
