import { defineConfig } from 'tsup';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binConfig } from '../../tsup.base';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// `veth` and `down` (no yargs: a smaller snapshot starts faster), wiring.cjs
// the yargs CLI for help, the other commands and anything the small parser
// declines. The bin stub picks the blob by the command word.
const base = binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' });
const cliSnapshot = base.onSuccess as () => Promise<void>;

/**
 * scripts/build-snapshot.mjs makes DIR/cli.blob from DIR/cli.cjs: run it on
 * a copy of wiring.cjs, given the `module` the snapshot builder does not
 * provide (wiring.cjs exports yargsMain for cli.cjs).
 */
function wiringSnapshot(): void {
  const dir = join('dist', 'wiring-snapshot');
  mkdirSync(dir, { recursive: true });
  const code = readFileSync(join('dist', 'wiring.cjs'), 'utf8').replace(/^#!.*\n/, '');
  writeFileSync(join(dir, 'cli.cjs'), `var module = { exports: {} };\n${code}`);
  execFileSync(process.execPath, [join(process.cwd(), '..', '..', 'scripts', 'build-snapshot.mjs'), dir], { stdio: 'inherit' });
  renameSync(join(dir, 'cli.blob'), join('dist', 'wiring.blob'));
  rmSync(dir, { recursive: true, force: true });
}

export default defineConfig({
  ...base,
  onSuccess: async () => {
    await cliSnapshot();
    wiringSnapshot();
  },
});
