import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS } from './scripts/runtime-builtins';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// apply/add/rm/flush/ls (no yargs), wiring.cjs the yargs CLI for help,
// --version and anything the small parser declines. The bin stub picks the
// blob by the command word. cli.blob keeps the code cache of only the builtins it can compile
// (scripts/runtime-builtins.ts).
export default defineConfig(binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true, cliRuntimeBuiltins: CLI_RUNTIME_BUILTINS }));
