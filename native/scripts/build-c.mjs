#!/usr/bin/env node
// Compiles native/c/trampoline.c into dist/libboxkit.so with the system C compiler.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'c', 'trampoline.c');
const out = join(root, 'dist', 'libboxkit.so');
const cc = process.env.CC || 'cc';

if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).error) {
  console.error(`native: no C compiler: '${cc}' was not found`);
  console.error('hint: apt-get install -y gcc libc6-dev (or set CC)');
  process.exit(1);
}
try {
  if (statSync(out).mtimeMs > statSync(src).mtimeMs) process.exit(0);
} catch {}
mkdirSync(dirname(out), { recursive: true });
execFileSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src], { stdio: 'inherit' });
console.log(`native: built ${out}`);
