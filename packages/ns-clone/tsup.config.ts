import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';

// One bundle, made into the startup snapshot: the fast path parses ordinary
// flags without yargs; the yargs CLI (wiring.ts) in the same snapshot is set
// up only for help, subcommands and anything the small parser declines.
export default defineConfig(binConfig({ cli: 'src/cli.ts' }));
