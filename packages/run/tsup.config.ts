import { defineConfig } from 'tsup';
import { binConfig, commonWithoutCli } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS } from './scripts/runtime-builtins';

// Two bundles, each with its startup snapshot, as ns-clone: cli.cjs is the
// fast path (no yargs, no execa), wiring.cjs the yargs CLI for help,
// --version, the subcommands and anything the small parser declines. The
// bin stub picks the blob by the first word; cli.cjs hands what it
// declines to wiring.cjs in-process. cli.blob keeps the code cache of only
// the builtins it can compile (scripts/runtime-builtins.ts).
//
// The libraries run composes import common's index: commonWithoutCli (tsup.base.ts) keeps
// yargs out of the fast path.
export default defineConfig({
  ...binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true, cliRuntimeBuiltins: CLI_RUNTIME_BUILTINS }),
  esbuildPlugins: [commonWithoutCli],
});
