import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS } from './scripts/runtime-builtins';

// One bundle and its startup snapshot for every command; the blob keeps the code cache of only the
// builtins its commands can compile (scripts/runtime-builtins.ts).

export default defineConfig(binConfig({ cli: 'src/cli.ts' }, { cliRuntimeBuiltins: CLI_RUNTIME_BUILTINS }));
