import { readFileSync } from 'node:fs';

/** Read all of stdin synchronously (for `-` arguments: PIDs, JSON lines). */
export function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EAGAIN' || (e as NodeJS.ErrnoException).code === 'EOF') return '';
    throw e;
  }
}

/** Expand `-` in a list of arguments into the whitespace-separated words of stdin. */
export function expandStdinArgs(args: readonly (string | number)[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (String(a) === '-') out.push(...readStdin().split(/\s+/).filter(Boolean));
    else out.push(String(a));
  }
  return out;
}
