/**
 * Drops from a startup snapshot blob (dist/cli.blob, dist/wiring.blob: see
 * build-snapshot.mjs, which calls this on every blob it makes) the code
 * cache of the Node builtins the snapshot already holds loaded.
 *
 * `node --build-snapshot` appends to the V8 heap a code cache of every Node
 * builtin (324 modules, 2.67 MB of netsetup's 4.86 MB cli.blob), and every
 * start reads the whole file, copies each entry into a buffer of its own and
 * keeps it to the end: page faults on the way in, pages to free on the way
 * out. An entry is only read when a builtin is compiled in this process; the
 * ~107 the snapshot has loaded (fs, path, util ...) are in its heap already
 * and are never compiled again, so their ~1.6 MB is dead weight. The entries
 * of the builtins it has not loaded (child_process, which a spawn compiles,
 * ...) stay, so nothing that compiles at run time loses its cache. Node's own
 * `withoutCodeCache` snapshot option drops all of it but also the bytecode of
 * the bundle's functions (FunctionCodeHandling::kClear), which made
 * `netsetup veth` slower, not faster. Measured on netsetup: cli.blob 4.86 ->
 * 3.28 MB, 4678 -> 3897 page faults per `netsetup veth`, 30.2 -> 26.6 ms
 * interleaved.
 *
 * The layout read here is Node 20's SnapshotData::ToBlob (node_snapshotable.cc):
 * magic, metadata, the V8 startup data, the isolate's and the environment's
 * serialize info (whose realm lists its loaded builtins), then the code
 * cache vector, last. Every field is parsed and the vector must end at the
 * end of the file; anything else leaves the blob as it is, with a warning.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

const MAGIC = 0x0143da19;

/**
 * Parse a Node 20 snapshot blob; throws naming the field when the layout is not that one.
 * @returns {{ nodeVersion: string, loaded: string[], codeCacheAt: number, entries: { id: string, start: number, end: number }[] }}
 *   loaded: the builtins the snapshot's main realm has loaded; codeCacheAt: where the code cache
 *   vector (its count) starts; entries: builtin id and byte range [start, end) of each entry
 */
export function parseBlob(b) {
  let o = 0;
  const need = (n, what) => {
    if (n < 0 || o + n > b.length) throw new Error(`snapshot blob: ${what} runs past the end (at ${o}, ${n} bytes)`);
  };
  const u8 = (what) => (need(1, what), b.readUInt8(o++));
  const u32 = (what) => (need(4, what), (o += 4), b.readUInt32LE(o - 4));
  const size = (what) => {
    need(8, what);
    const v = b.readBigUInt64LE(o);
    o += 8;
    if (v > BigInt(b.length)) throw new Error(`snapshot blob: ${what} ${v} is larger than the blob`);
    return Number(v);
  };
  const str = (what) => {
    const n = size(`${what} length`);
    need(n, what);
    o += n;
    return b.toString('latin1', o - n, o);
  };
  const vec = (what, item) => Array.from({ length: size(`${what} count`) }, item);
  const propInfo = () => [str('prop name'), u32('prop id'), size('prop index')];

  if (u32('magic') !== MAGIC) throw new Error('snapshot blob: not a Node snapshot (magic)');
  u8('type');
  const nodeVersion = str('node version');
  str('arch');
  str('platform');
  u32('v8 cache version tag');
  u32('flags');
  need(4, 'v8 startup data size');
  const v8Size = b.readInt32LE(o);
  o += 4;
  need(v8Size, 'v8 startup data');
  o += v8Size;
  // IsolateDataSerializeInfo
  vec('primitive values', () => size('primitive value'));
  vec('template values', propInfo);
  // EnvSerializeInfo: async hooks (3 aliased buffers, the resources index, native resources),
  // tick, immediate, timeout, performance (3), exit, stream base, abort toggle
  for (let i = 0; i < 4; i++) size('async hooks field');
  vec('native execution async resources', () => size('resource'));
  for (let i = 0; i < 9; i++) size('env field');
  // the principal realm
  const loaded = vec('builtins', () => str('builtin id'));
  vec('persistent values', propInfo);
  vec('native objects', propInfo);
  size('context index');
  const codeCacheAt = o;
  const entries = vec('code cache', () => {
    const start = o;
    const id = str('code cache id');
    const n = size('code cache length');
    need(n, 'code cache data');
    o += n;
    return { id, start, end: o };
  });
  if (o !== b.length) throw new Error(`snapshot blob: ${b.length - o} bytes after the code cache`);
  if (!loaded.length || loaded.some((id) => !/^[\w/.-]+$/.test(id))) throw new Error('snapshot blob: the loaded builtins do not read as builtin ids');
  return { nodeVersion, loaded, codeCacheAt, entries };
}

/**
 * The blob without the code cache of the builtins it holds loaded, and with
 * `keep` (the builtins a start from it can compile, measured), without any
 * other entry either.
 */
export function slimBlob(b, layout = parseBlob(b), keep = undefined) {
  const loaded = new Set(layout.loaded);
  const kept = layout.entries.filter((e) => !loaded.has(e.id) && (!keep || keep.includes(e.id)));
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(kept.length));
  return Buffer.concat([b.subarray(0, layout.codeCacheAt), count, ...kept.map((e) => b.subarray(e.start, e.end))]);
}

/**
 * Slim the blob at `path` in place, checked first: the slim blob must start
 * and answer `--version` as the original does (with `nodeFlags`, the flags
 * it is started with). A layout this does not know, or a slim blob that
 * fails the check, leaves the blob whole, with a warning: it works, only
 * slower to start. Only a blob that fails the check itself is an error.
 */
export function slimBlobFile(path, nodeFlags, keep = undefined) {
  const b = readFileSync(path);
  const whole = (why) => console.warn(`slim-blob: ${path} left whole: ${why}`);
  let layout;
  try {
    layout = parseBlob(b);
    if (layout.nodeVersion !== process.versions.node) throw new Error(`built by node ${layout.nodeVersion}, this is ${process.versions.node}`);
  } catch (e) {
    whole(e.message);
    return;
  }
  if (keep) {
    // a name already loaded can never be compiled from this blob, one that is no builtin (a typo, or renamed in a Node
    // upgrade) keeps nothing: either is a list to fix, not a reason to fail the build
    const loaded = new Set(layout.loaded), known = new Set(layout.entries.map((e) => e.id));
    const odd = keep.filter((id) => loaded.has(id) || !known.has(id));
    if (odd.length) console.warn(`slim-blob: ${path}: kept names it holds loaded or does not know: ${odd.join(', ')}`);
  }
  const slim = slimBlob(b, layout, keep);
  if (slim.length === b.length) return;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const version = (blob) => execFileSync(process.execPath, [...nodeFlags, '--snapshot-blob', blob, '--', '--version'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const firstLine = (e) => String(e.stderr || e.message).trim().split('\n')[0];
  let want;
  try {
    want = version(path);
  } catch (e) {
    // broken as built: removed, so the bin stub falls back to the bundle rather than failing every start
    rmSync(path, { force: true });
    throw new Error(`slim-blob: ${path} does not start (removed): ${firstLine(e)}`);
  }
  const tmp = `${path}.slim`;
  writeFileSync(tmp, slim);
  let got;
  try {
    got = version(tmp);
  } catch (e) {
    got = `(failed: ${firstLine(e)})`;
  }
  if (got !== want) {
    rmSync(tmp, { force: true });
    whole(`the slim blob answers --version with ${JSON.stringify(got.trim())}, not ${JSON.stringify(want.trim())}`);
    return;
  }
  renameSync(tmp, path);
  const loaded = new Set(layout.loaded);
  const dropped = layout.entries.filter((e) => loaded.has(e.id)).length;
  const also = keep ? `; of the rest only ${keep.join(', ')} kept` : '';
  console.log(`slim-blob: ${path}: ${b.length} -> ${slim.length} bytes (the code cache of its ${dropped} loaded builtins dropped${also})`);
}

/** The node flags the bin stub `stub` starts a blob with (its sh line, as build-snapshot.mjs writes it). */
export function stubBlobFlags(stub) {
  const m = /exec node ((?:--[\w-]+(?:=[\w.-]+)? )*)--snapshot-blob /.exec(readFileSync(stub, 'utf8'));
  if (!m) throw new Error(`slim-blob: ${stub}: no 'exec node ... --snapshot-blob' in its sh line`);
  return m[1].trim().split(/\s+/).filter(Boolean);
}
