#!/usr/bin/env node
/**
 * Turns a bundled bin (dist/cli.cjs) into a V8 startup snapshot
 * (dist/cli.blob). Measured here: the yargs bundle costs ~45 ms of
 * compilation and set-up on every start; deserializing a snapshot of it
 * costs ~8 ms. The bin stubs use the blob when it exists.
 *
 * Node 20 snapshots need a single CommonJS file that requires only
 * built-ins at build time, and no live native handles: yargs creates
 * Intl.Segmenter objects and calls createRequire() at load, so those are
 * made lazy here (a text patch, checked: the build fails if a pattern is
 * missing rather than producing a blob that breaks at run time).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const dist = process.argv[2];
if (!dist) {
  console.error('usage: build-snapshot.mjs DIST_DIR');
  process.exit(2);
}
const src = join(dist, 'cli.cjs');
const snapSrc = join(dist, 'cli.snapshot.cjs');
const blob = join(dist, 'cli.blob');

let code = readFileSync(src, 'utf8').replace(/^#!.*\n/, '');
let segmenters = 0;
code = code.replace(/new Intl\.Segmenter\(\)/g, () => {
  segmenters++;
  return '{ segment: (s) => (globalThis.__boxkitSegmenter ??= new Intl.Segmenter()).segment(s) }';
});
// createRequire(import.meta.url) at load time -> a require that resolves when first used;
// the snapshot's own `require` loads built-ins only, so resolve from this file at run time
let requires = 0;
code = code.replace(/\(0, [\w$]+\.createRequire\)\(importMetaUrl\)/g, () => {
  requires++;
  return '__boxkitLazyRequire()';
});
code =
  "var __boxkitLazyRequire = () => { const mk = () => require('node:module').createRequire(__filename); " +
  'return Object.assign((id) => mk()(id), { resolve: (id, o) => mk().resolve(id, o) }); };\n' +
  code;
if (segmenters === 0 && requires === 0) {
  console.error(`build-snapshot: nothing to patch in ${src}; was yargs bundled?`);
}
writeFileSync(snapSrc, code);
rmSync(blob, { force: true });
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', snapSrc], {
  stdio: ['ignore', 'inherit', 'pipe'],
  env,
});
rmSync(snapSrc, { force: true });
console.log(`snapshot: ${blob} (${segmenters} segmenters, ${requires} requires made lazy)`);
