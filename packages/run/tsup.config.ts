import { defineConfig } from 'tsup';
import { binConfig, commonWithoutCli } from '../../tsup.base';

// Two bundles, each with its startup snapshot, as ns-clone: cli.cjs is the
// fast path (no yargs, no execa), wiring.cjs the yargs CLI for help,
// --version, the subcommands and anything the small parser declines. The
// bin stub picks the blob by the first word; cli.cjs hands what it
// declines to wiring.cjs in-process.
//
// The libraries run composes import common's index: commonWithoutCli (tsup.base.ts) keeps
// yargs out of the fast path.
export default defineConfig({ ...binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true }), esbuildPlugins: [commonWithoutCli] });
