import { defineConfig } from 'tsup';
import { join } from 'node:path';
import { binConfig } from '../../tsup.base';

// Two bundles, each with its startup snapshot, as ns-clone: cli.cjs is the
// fast path (no yargs, no execa), wiring.cjs the yargs CLI for help,
// --version, the subcommands and anything the small parser declines. The
// bin stub picks the blob by the first word; cli.cjs hands what it
// declines to wiring.cjs in-process.
//
// The libraries run composes import common's index, whose cli.ts loads
// yargs: evaluated while the snapshot is built, yargs would be in every
// start's heap (~0.9 MB of the blob). Here the bare '@boxkit/common' means
// common without cli.ts; wiring.ts imports '@boxkit/common/cli' by name.
const commonWithoutCli = {
  name: 'common-without-cli',
  setup(build: { onResolve(o: { filter: RegExp }, cb: () => { path: string }): void }) {
    build.onResolve({ filter: /^@boxkit\/common$/ }, () => ({ path: join(process.cwd(), 'src', 'common-hot.ts') }));
  },
};

export default defineConfig({ ...binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true }), esbuildPlugins: [commonWithoutCli] });
