/**
 * BOXKIT_PHASES=1: one line on stderr at the end with the time (ms since
 * the process started, performance.now()) at which each phase ended. How
 * the time of `run --rm -- /bin/true`, one `netsetup veth` and one
 * `svcproxy apply` is accounted for (bench/lib.sh phases_table). Off, a
 * mark costs one comparison.
 */
const marks: [string, number][] = [];
let on: boolean | undefined;

export function mark(name: string): void {
  on ??= process.env.BOXKIT_PHASES === '1';
  if (!on) return;
  marks.push([name, performance.now()]);
}

/** Print the marks (with BOXKIT_PHASES=1), once, right before the process ends. */
export function printPhases(): void {
  if (!marks.length) return;
  process.stderr.write(`phases: ${marks.map(([n, t]) => `${n}=${t.toFixed(1)}`).join(' ')}\n`);
  marks.length = 0;
}

