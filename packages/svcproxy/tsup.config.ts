import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// apply/add/rm/flush/ls (no yargs), wiring.cjs the yargs CLI for help,
// --version and anything the small parser declines. The bin stub picks the
// blob by the command word.
export default defineConfig(binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true }));
