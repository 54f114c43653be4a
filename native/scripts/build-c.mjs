#!/usr/bin/env node
// Compiles native/c/trampoline.c twice with the system C compiler:
// dist/libboxkit.so (bk_spawn, bk_reap: loaded by koffi; with
// native/c/iptblob.c's bk_ipt_* for svcproxy) and dist/bk-stage
// (the program the spawned child execs to run its steps; static when the
// C library allows it, so its start maps nothing but itself), and
// native/c/keeper.c as dist/bk-keeper (what run -d's keeper execs into to
// wait for its container: static too, so it holds as little memory as can be).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'c', 'trampoline.c');
const iptblob = join(root, 'c', 'iptblob.c');
const lib = join(root, 'dist', 'libboxkit.so');
const stage = join(root, 'dist', 'bk-stage');
const keeperSrc = join(root, 'c', 'keeper.c');
const keeper = join(root, 'dist', 'bk-keeper');
const cc = process.env.CC || 'cc';
const flags = ['-O2', '-Wall', '-Wextra', '-Werror'];

if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).error) {
  console.error(`native: no C compiler: '${cc}' was not found`);
  console.error('hint: apt-get install -y gcc libc6-dev (or set CC)');
  process.exit(1);
}
const fresh = (out, from = src) => {
  try {
    return statSync(out).mtimeMs > statSync(from).mtimeMs && statSync(out).mtimeMs > statSync(fileURLToPath(import.meta.url)).mtimeMs;
  } catch {
    return false;
  }
};
mkdirSync(dirname(lib), { recursive: true });
if (!fresh(lib) || !fresh(lib, iptblob)) {
  // -z now: every symbol bound at load, none lazily in the vfork child
  execFileSync(cc, ['-shared', '-fPIC', '-Wl,-z,now', ...flags, '-o', lib, src, iptblob], { stdio: 'inherit' });
  console.log(`native: built ${lib}`);
}
/** A program: static when the C library allows it, else linked dynamically. */
function program(out, args) {
  if (fresh(out, args.at(-1))) return;
  args = [...flags, '-o', out, ...args];
  if (spawnSync(cc, ['-static', ...args], { stdio: 'ignore' }).status !== 0) {
    console.log(`native: no static C library (libc6-dev): ${basename(out)} is linked dynamically`);
    execFileSync(cc, args, { stdio: 'inherit' });
  }
  console.log(`native: built ${out}`);
}
program(stage, ['-DBK_STAGE', src]);
program(keeper, [keeperSrc]);
