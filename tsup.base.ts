import type { Options } from 'tsup';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Every bin is one bundled CommonJS file with a shebang: measured here, a
 * single CJS bundle starts faster than ESM or than loading yargs from
 * node_modules. koffi stays external (a native addon, loaded lazily).
 */
export function binConfig(entry: Record<string, string>): Options {
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
    // a V8 startup snapshot of the bundle next to it (dist/cli.blob): see scripts/build-snapshot.mjs
    onSuccess: async () => {
      execFileSync(process.execPath, [join(process.cwd(), '..', '..', 'scripts', 'build-snapshot.mjs'), 'dist'], { stdio: 'inherit' });
    },
  };
}
