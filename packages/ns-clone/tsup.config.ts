import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS } from './scripts/runtime-builtins';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path (no
// yargs), wiring.cjs the yargs CLI for help, --version, the subcommands and
// anything the small parser declines. The bin stub picks the blob by the
// first word; cli.cjs hands what it declines to wiring.cjs in-process.
export default defineConfig(binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true, cliRuntimeBuiltins: CLI_RUNTIME_BUILTINS }));
