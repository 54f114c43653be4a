/**
 * cg's entry. `cg exec` with ordinary flags (what a script runs per
 * command, as with cgexec) is parsed by the small table-driven parser in
 * fast.ts and run here; help, the other commands and anything unusual go
 * to the yargs CLI (wiring.ts, a bundle of its own: dist/wiring.cjs). This
 * file is what dist/cli.blob holds, so it stays small.
 */
import { binEntry, fastOr } from '@boxkit/common/entry';
import { preresolveKoffi } from '@boxkit/native';
import { execArgv, fastParse, runFast } from './fast.js';
import { parseLimits } from './limits.js';

// `cg exec G sh -c x` (no `--`) reaches either parser with the `--` put in
const route = fastOr(fastParse, runFast);

binEntry(
  __filename,
  (argv) => route(execArgv(argv)),
  () => {
    // the pure part of a start, so the blob holds it run once (nothing of the machine is read)
    parseLimits(fastParse(['exec', 'g', '--cpus', '0.5', '--memory', '64M', '--pids', '20', '--', 'true']) as never);
    preresolveKoffi(); // exec loads koffi for execve: find its binary now, not on every start
  },
);
