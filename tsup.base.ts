import type { Options } from 'tsup';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const buildSnapshot = (dir: string, eager = false, keepCache?: readonly string[]) =>
  execFileSync(
    process.execPath,
    [join(process.cwd(), '..', '..', 'scripts', 'build-snapshot.mjs'), dir, ...(eager ? ['--eager'] : []), ...(keepCache ? [`--keep-cache=${keepCache.join(',')}`] : [])],
    { stdio: 'inherit' },
  );

/**
 * dist/wiring.blob: the startup snapshot of dist/wiring.cjs (a bin's yargs
 * CLI, for help, --version and the commands its fast path leaves alone).
 * scripts/build-snapshot.mjs makes DIR/cli.blob from DIR/cli.cjs: run it on
 * a copy, given the `module` the snapshot builder does not provide
 * (wiring.cjs exports yargsMain for cli.cjs). The bin stub picks the blob
 * by the command word.
 */
function wiringSnapshot(): void {
  const dir = join('dist', 'wiring-snapshot');
  mkdirSync(dir, { recursive: true });
  const code = readFileSync(join('dist', 'wiring.cjs'), 'utf8').replace(/^#!.*\n/, '');
  writeFileSync(join(dir, 'cli.cjs'), `var module = { exports: {} };\n${code}`);
  buildSnapshot(dir);
  renameSync(join(dir, 'cli.blob'), join('dist', 'wiring.blob'));
  rmSync(dir, { recursive: true, force: true });
}

/**
 * What a fast path compiles when it hands a command to its yargs wiring in-process (a flag or a
 * `--help` it does not take itself), as NODE_DEBUG_NATIVE=CODE_CACHE lists it: kept with the
 * cliRuntimeBuiltins of every bin that has a wiring blob to hand off to.
 */
export const HANDOFF_BUILTINS = ['assert', 'internal/assert/assertion_error', 'internal/assert/calltracker', 'internal/assert/utils', 'internal/fs/sync_write_stream'];

/**
 * For a bin with a fast path: the bare '@boxkit/common' means common without
 * cli.ts (packages/common/src/hot.ts). The libraries a fast path uses import
 * common's index, whose cli.ts loads yargs: evaluated while the snapshot is
 * built, yargs would be in every start's heap (~0.9 MB of run's blob). The
 * yargs wiring imports '@boxkit/common/cli' by name.
 */
export const commonWithoutCli = {
  name: 'common-without-cli',
  setup(build: { onResolve(o: { filter: RegExp }, cb: () => { path: string }): void }) {
    build.onResolve({ filter: /^@boxkit\/common$/ }, () => ({ path: join(process.cwd(), '..', 'common', 'src', 'hot.ts') }));
  },
};

/**
 * Every bin is one bundled CommonJS file with a shebang: measured here, a
 * single CJS bundle starts faster than ESM or than loading yargs from
 * node_modules. koffi stays external (a native addon, loaded lazily).
 */
export function binConfig(
  entry: Record<string, string>,
  opts: {
    wiringBlob?: boolean;
    /**
     * The Node builtins a start from dist/cli.blob can compile (the fast path's late loads, as
     * NODE_DEBUG_NATIVE=CODE_CACHE lists them): the blob keeps their code cache and drops every
     * other's (scripts/slim-blob.mjs), HANDOFF_BUILTINS' aside. Unset: it keeps every builtin's
     * it has not loaded.
     */
    cliRuntimeBuiltins?: readonly string[];
  } = {},
): Options {
  return {
    entry,
    format: ['cjs'],
    platform: 'node',
    target: 'node20',
    outExtension: () => ({ js: '.cjs' }),
    noExternal: [/.*/],
    external: ['koffi'],
    shims: true,
    splitting: false,
    sourcemap: false,
    minify: false,
    clean: true,
    banner: { js: '#!/usr/bin/env node' },
    // a V8 startup snapshot of the bundle next to it (dist/cli.blob): see scripts/build-snapshot.mjs;
    // a bin with a wiring bundle keeps a small fast path in dist/cli.cjs, compiled whole (--eager)
    onSuccess: async () => {
      buildSnapshot('dist', opts.wiringBlob, opts.cliRuntimeBuiltins && [...opts.cliRuntimeBuiltins, ...(opts.wiringBlob ? HANDOFF_BUILTINS : [])]);
      if (opts.wiringBlob) wiringSnapshot();
    },
  };
}
