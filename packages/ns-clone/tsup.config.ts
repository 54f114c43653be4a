import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';

// Two bundles: cli.cjs is the fast path (no yargs; made into the startup
// snapshot), wiring.cjs the yargs CLI it hands over to for help, subcommands
// and anything its small parser declines.
export default defineConfig(binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }));
