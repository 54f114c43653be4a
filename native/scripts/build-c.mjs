#!/usr/bin/env node
// Compiles native/c/trampoline.c twice with the system C compiler:
// dist/libboxkit.so (bk_spawn, bk_reap: loaded by koffi) and dist/bk-stage
// (the program the spawned child execs to run its steps; static when the
// C library allows it, so its start maps nothing but itself).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'c', 'trampoline.c');
const lib = join(root, 'dist', 'libboxkit.so');
const stage = join(root, 'dist', 'bk-stage');
const cc = process.env.CC || 'cc';
const flags = ['-O2', '-Wall', '-Wextra', '-Werror'];

if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).error) {
  console.error(`native: no C compiler: '${cc}' was not found`);
  console.error('hint: apt-get install -y gcc libc6-dev (or set CC)');
  process.exit(1);
}
const fresh = (out) => {
  try {
    return statSync(out).mtimeMs > statSync(src).mtimeMs && statSync(out).mtimeMs > statSync(fileURLToPath(import.meta.url)).mtimeMs;
  } catch {
    return false;
  }
};
mkdirSync(dirname(lib), { recursive: true });
if (!fresh(lib)) {
  // -z now: every symbol bound at load, none lazily in the vfork child
  execFileSync(cc, ['-shared', '-fPIC', '-Wl,-z,now', ...flags, '-o', lib, src], { stdio: 'inherit' });
  console.log(`native: built ${lib}`);
}
if (!fresh(stage)) {
  const args = [...flags, '-DBK_STAGE', '-o', stage, src];
  if (spawnSync(cc, ['-static', ...args], { stdio: 'ignore' }).status !== 0) {
    console.log('native: no static C library (libc6-dev): bk-stage is linked dynamically');
    execFileSync(cc, args, { stdio: 'inherit' });
  }
  console.log(`native: built ${stage}`);
}
