/**
 * Facts about where the integration tests run, and the guards every test
 * that touches the network or cgroups goes through.
 */
import { readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const isRoot = process.getuid?.() === 0;
export const inSandbox = process.env.BOXKIT_SANDBOX === '1';
/** In the cgroup v2 VM (tests/vm/run-v2.sh): a pure v2 kernel, with no network devices or bridge modules. */
export const inV2Vm = process.env.BOXKIT_CG_V2_VM === '1';

/** Why root integration tests cannot run here, or undefined when they can. */
export const skipReason: string | undefined = !isRoot
  ? 'needs root (run the tests as root: npm test)'
  : !inSandbox
    ? 'needs the sandbox host (run through tests/harness/sandbox.sh: npm run test:integration)'
    : undefined;

/** strace's path, or undefined where it is not installed (the tests that need it skip, saying so). */
export function straceBin(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A per-run id, so names made by concurrent runs never collide. */
export const runId: string = process.env.BOXKIT_TEST_RUN_ID ?? String(process.pid);

/** A unique name for something a test makes: boxkit-test-<run>-<what>. */
export function testName(what: string): string {
  return `boxkit-test-${runId}-${what}`;
}

/**
 * Refuse to touch the network unless this process is in a fresh network
 * namespace: different from the one the sandbox started from (recorded by
 * sandbox.sh before unsharing). /proc/1 is unreadable here, so comparing
 * with PID 1 would prove nothing.
 */
export function assertSandboxNetwork(): void {
  const outer = process.env.BOXKIT_OUTER_NETNS;
  const inner = readlinkSync('/proc/self/ns/net');
  if (!outer || !inner || outer === inner) {
    throw new Error(`refusing to touch the network: not in the sandbox's network namespace (${inner} vs ${outer ?? 'unknown'})`);
  }
}

/** Interfaces in the current network namespace. */
export function links(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1]!.split('@')[0]!);
}
