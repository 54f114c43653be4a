/**
 * Plan, then apply. A plan is a list of steps; each knows the shell line
 * that does the same thing (for --dry-run and -v), how to apply itself and,
 * when it creates something, how to undo it. One loop applies them and, on
 * failure, undoes what this run made, in reverse order.
 */
import { out, trace } from './stdio.js';

export interface PlanStep {
  /** The equivalent shell command, or a `# comment` for what has none. */
  shell: string;
  apply(): void | Promise<void>;
  /** Undo what apply() made; called only for steps that completed. */
  undo?(): void | Promise<void>;
}

export interface ApplyOptions {
  dryRun?: boolean;
  verbose?: boolean;
  /** Where dry-run and verbose lines go (default: stdout for dry-run, stderr for -v). */
  print?: (line: string) => void;
}

/** Render a plan as the lines a user could paste into a shell. */
export function renderPlan(steps: readonly PlanStep[]): string[] {
  return steps.map((s) => s.shell);
}

export async function applyPlan(steps: readonly PlanStep[], opts: ApplyOptions = {}): Promise<void> {
  if (opts.dryRun) {
    const print = opts.print ?? out;
    for (const s of steps) print(s.shell);
    return;
  }
  const show = opts.verbose ? (opts.print ?? trace) : undefined;
  const done: PlanStep[] = [];
  try {
    for (const s of steps) {
      show?.(s.shell);
      await s.apply();
      done.push(s);
    }
  } catch (e) {
    await undoAll(done);
    throw e;
  }
}

/** Undo completed steps in reverse order; an undo that fails does not stop the others. */
export async function undoAll(done: readonly PlanStep[]): Promise<void> {
  for (const s of [...done].reverse()) {
    try {
      await s.undo?.();
    } catch {
      // best effort: the original error is what the user needs to see
    }
  }
}

/** A stack of undo actions for code that acquires resources step by step. */
export class Cleanup {
  private readonly stack: (() => void | Promise<void>)[] = [];
  push(fn: () => void | Promise<void>): void {
    this.stack.push(fn);
  }
  /** Forget everything: the resources now outlive this run. */
  commit(): void {
    this.stack.length = 0;
  }
  async run(): Promise<void> {
    while (this.stack.length) {
      const fn = this.stack.pop()!;
      try {
        await fn();
      } catch {
        // keep undoing the rest
      }
    }
  }
}
