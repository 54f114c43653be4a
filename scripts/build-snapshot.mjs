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
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { slimBlobFile } from './slim-blob.mjs';

const dist = process.argv[2];
const eager = process.argv.slice(3).includes('--eager');
// --keep-cache=A,B: the builtins a start from this blob can compile (measured per bundle); the code cache
// of every other builtin is dropped too (slim-blob.mjs). Without it every builtin not loaded keeps its own.
const keepArg = process.argv.slice(3).find((a) => a.startsWith('--keep-cache='));
const keepCache = keepArg === undefined ? undefined : keepArg.slice('--keep-cache='.length).split(',').filter(Boolean);
if (!dist) {
  console.error('usage: build-snapshot.mjs DIST_DIR [--eager] [--keep-cache=BUILTIN,...]');
  process.exit(2);
}
const src = join(dist, 'cli.cjs');
const snapSrc = join(dist, 'cli.snapshot.cjs');
const blob = join(dist, 'cli.blob');

/**
 * Flags for every start from a blob (and so for its build: V8 checks them).
 *
 * --no-rehash-snapshot: by default V8 gives each new isolate a fresh random
 * hash seed, derives rapidhash secrets from it (a prime search, new in Node
 * 20.20's V8) and rehashes every table in the snapshot. perf here: 13-17% of
 * a `node -e 0`, ~5 ms of every start. Without it the isolate keeps the
 * seed of the blob, which is the seed baked into this Node build's own
 * snapshot: the same for every process and every install of this build.
 * That gives up hash-flooding resistance (a crafted input colliding in V8's
 * hash tables), which protects servers from untrusted input. These tools
 * run as root on root's input: flags, root's config files and the kernel's
 * state. The fallback without a blob keeps Node's default.
 */
const SNAPSHOT_FLAGS = ['--no-rehash-snapshot'];

/**
 * glibc malloc tunables for every start from a blob (the stub's sh line sets
 * GLIBC_TUNABLES to this when the caller has not set it). Node reads the blob
 * into a malloc'd buffer and copies V8's part out again (~2-3.5 MB each, one
 * page fault per 4 KB touched); a start took ~3,250 page faults where
 * `node -e 0` takes ~1,870, at ~2 us each here. With transparent huge pages
 * for malloc's heap (hugetlb=1: madvise, which THP's default "madvise" mode
 * honours) grown 16 MB at a time (top_pad, so whole 2 MB pages fit in it):
 * ~1,740 faults and ~1.6 ms (8%) less per start, interleaved A/B, 120 rounds.
 * A glibc without these tunables ignores them; THP "never" makes hugetlb=1 a
 * no-op. A start from the blob removes the variable again (UNTUNE below), so
 * no program a tool starts (a container's command, ip, iptables) inherits it
 * (a caller's own value that happens to equal this one goes too). The cost:
 * a process that stays (a foreground ns-clone or run, while its container
 * runs) holds ~4 MB more (RSS 46 vs 42 MB: whole 2 MB pages).
 */
const MALLOC_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216';
const TUNE = `GLIBC_TUNABLES=\${GLIBC_TUNABLES-${MALLOC_TUNABLES}} `;
// prepended to the snapshot's source: runs when the blob is deserialized, before the bundle's main. The
// value is kept under a registered symbol for the one start a tool makes of its own blob (run's keeper).
const UNTUNE =
  "require('node:v8').startupSnapshot.addDeserializeCallback(() => {\n" +
  `  if (process.env.GLIBC_TUNABLES !== ${JSON.stringify(MALLOC_TUNABLES)}) return;\n` +
  "  delete process.env.GLIBC_TUNABLES;\n" +
  `  globalThis[Symbol.for('boxkit.mallocTunables')] = ${JSON.stringify(MALLOC_TUNABLES)};\n` +
  '});\n';

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
// --eager (for a small fast-path bundle): compile the bundle with V8's lazy
// compilation off (then on again), so all its functions get their bytecode
// now, kept in the blob, instead of being parsed and compiled at their first
// call on every start. --log-function-events on `netsetup veth`: 406 -> 165
// compilations per start (the rest is Node's own), the blob +237 KB. Not for
// a yargs bundle: most of yargs never runs and the blob grew by 1.5 MB. The
// flag is back on before the blob is written, so the blob's V8 flags
// (checked at load) are the usual ones.
const eagerLoader = (src) =>
  "const v8 = require('node:v8');\nconst vm = require('node:vm');\n" +
  "v8.setFlagsFromString('--no-lazy');\n" +
  `const main = vm.compileFunction(${JSON.stringify(src)}, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: __filename });\n` +
  "v8.setFlagsFromString('--lazy');\n" +
  'const mod = { exports: {} };\nmain.call(mod.exports, mod.exports, require, mod, __filename, __dirname);\n';
// then Node's own fs and Buffer functions that starts use (scripts/warm-node.cjs)
const { warmNode } = createRequire(import.meta.url)('./warm-node.cjs');
writeFileSync(snapSrc, `${UNTUNE}${eager ? eagerLoader(code) : code}\n;(${warmNode})(require);\n`);
rmSync(blob, { force: true });
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const { flags, stubs } = nodeFlags(dist);
// BOXKIT_SNAPSHOT_DEBUG_FLAGS: extra V8 flags for profiling a start (--perf-basic-prof,
// --interpreted-frames-native-stack, --log-function-events ...): the blob then loads
// only with them, so the stubs are left alone: run `node FLAGS... --snapshot-blob`
const debugFlags = (process.env.BOXKIT_SNAPSHOT_DEBUG_FLAGS ?? '').split(/\s+/).filter(Boolean);
// stdout a pipe too, whatever this build's is: a bundle that touches process.stdout while the snapshot is
// built gets the stream for that kind of fd into the blob (a file or /dev/null: fs's SyncWriteStream, loaded)
const built = execFileSync(process.execPath, [...flags, ...SNAPSHOT_FLAGS, ...debugFlags, '--snapshot-blob', blob, '--build-snapshot', snapSrc], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env,
});
if (built.length) process.stdout.write(built);
rmSync(snapSrc, { force: true });
if (debugFlags.length) console.log(`build-snapshot: ${blob} loads only as: node ${[...flags, ...SNAPSHOT_FLAGS, ...debugFlags].join(' ')} --snapshot-blob ${blob} -- ARGS`);
else for (const stub of stubs) writeStubFlags(stub, flags);
// the code cache of the builtins the snapshot holds loaded is never read, but every start copies it (slim-blob.mjs)
slimBlobFile(blob, [...flags, ...SNAPSHOT_FLAGS, ...debugFlags], keepCache);
console.log(`snapshot: ${blob} (${segmenters} segmenters, ${requires} requires made lazy${eager ? ', compiled eagerly' : ''}${flags.length ? `; node ${flags.join(' ')}` : ''})`);

/**
 * Per-package Node flags: `"boxkit": {"nodeFlags": [...]}` in the package.json
 * above DIST (e.g. a bigger young generation for a bin that allocates a lot).
 * V8 refuses a snapshot loaded with other V8 flags than it was built with
 * ("built with a different version of V8 or with different V8
 * configurations"), so the flags go to the --build-snapshot node here and
 * into the sh line of the package's bin stubs (with SNAPSHOT_FLAGS, which
 * every stub gets).
 */
function nodeFlags(dir) {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      const json = JSON.parse(readFileSync(pkg, 'utf8'));
      const flags = json.boxkit?.nodeFlags;
      const bins = typeof json.bin === 'string' ? [json.bin] : Object.values(json.bin ?? {});
      const stubs = bins.map((b) => join(d, b));
      if (flags === undefined) return { flags: [], stubs };
      if (!Array.isArray(flags) || !flags.every((f) => typeof f === 'string' && /^--[\w-]+(=[\w.-]+)?$/.test(f))) {
        throw new Error(`build-snapshot: ${pkg}: boxkit.nodeFlags must be a list of plain --flag[=value] strings`);
      }
      return { flags, stubs };
    }
    if (dirname(d) === d) return { flags: [], stubs: [] };
  }
}

/**
 * The stub's sh line runs `node [FLAGS] --snapshot-blob "$b"` and `node [FLAGS] "$p"`: make FLAGS
 * the package's flags, plus SNAPSHOT_FLAGS (and the malloc tunables, TUNE) for the blob.
 */
function writeStubFlags(stub, pkgFlags) {
  const text = readFileSync(stub, 'utf8');
  const lines = text.split('\n');
  const sh = lines.findIndex((l) => l.startsWith('true //;'));
  if (sh < 0) throw new Error(`build-snapshot: ${stub}: no sh line (true //; ...) to put the node flags in`);
  const put = (re, flags, env = '') => {
    const before = lines[sh];
    lines[sh] = lines[sh].replace(re, (_m, tail) => `${env}exec node ${flags.map((f) => `${f} `).join('')}${tail}`);
    if (lines[sh] === before && !before.match(re)) throw new Error(`build-snapshot: ${stub}: no ${re} in its sh line`);
  };
  put(/(?:GLIBC_TUNABLES=\S+ )?exec node (?:--[\w-]+(?:=[\w.-]+)? )*(--snapshot-blob )/, [...pkgFlags, ...SNAPSHOT_FLAGS], TUNE);
  put(/exec node (?:--[\w-]+(?:=[\w.-]+)? )*("\$p")/, pkgFlags);
  const out = lines.join('\n');
  if (out !== text) {
    writeFileSync(stub, out);
    console.log(`build-snapshot: ${stub}: node flags ${[...pkgFlags, ...SNAPSHOT_FLAGS].join(' ')}`);
  }
}
