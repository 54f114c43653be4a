/**
 * stdout is data, stderr is diagnostics. Human output is short lines;
 * --json is one JSON document with stable field names.
 */
import { err, out } from './stdio.js';
export interface OutputFlags {
  json?: boolean;
  dryRun?: boolean;
  verbose?: boolean;
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

export function printLines(lines: readonly string[]): void {
  if (lines.length) out(lines.join('\n'));
}

/** Print either the JSON document or the human lines. */
export function report(flags: OutputFlags, value: unknown, human: () => readonly string[]): void {
  if (flags.json) printJson(value);
  else printLines(human());
}

/** A warning or note on stderr, prefixed with the tool's name. */
export function warn(tool: string, message: string): void {
  err(`${tool}: ${message}`);
}

/** Format a table of rows (first row is the header) with aligned columns. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Where a dry run's shell lines go, and how the run ends. */
export interface DryRunOutput {
  print(line: string): void;
  /** With --json: print the one document, the command's own fields in `data`. */
  done(data?: Record<string, unknown>): void;
}

/**
 * A dry run's output. Alone, --dry-run prints the plan's shell lines as they
 * come; with --json they are gathered and go out as one JSON document, the
 * shape svcproxy's dry runs have: the fields the command's --json reports,
 * with `dryRun: true` and the lines as `commands`
 * (`{"dryRun": true, ..., "commands": ["ip link add ...", ...]}`).
 */
export function dryRunOutput(flags: OutputFlags): DryRunOutput {
  if (!flags.json) return { print: out, done: () => {} };
  const commands: string[] = [];
  return { print: (line) => void commands.push(line), done: (data = {}) => printJson({ dryRun: true, ...data, commands }) };
}
