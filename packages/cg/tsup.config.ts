import { defineConfig } from 'tsup';
import { binConfig, commonWithoutCli } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS } from './scripts/runtime-builtins';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// `exec` (no yargs: a smaller snapshot starts faster), wiring.cjs the yargs
// CLI for help, the other commands and anything the small parser declines.
// The bin stub picks the blob by the command word.
export default defineConfig({ ...binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true, cliRuntimeBuiltins: CLI_RUNTIME_BUILTINS }), esbuildPlugins: [commonWithoutCli] });
