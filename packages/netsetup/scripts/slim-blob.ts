/**
 * Drops from a startup snapshot blob (dist/cli.blob, dist/wiring.blob: see
 * scripts/build-snapshot.mjs) the code cache of the Node builtins its
 * process never compiles.
 *
 * `node --build-snapshot` appends to the V8 heap a code cache of every Node
 * builtin (324 modules, 2.67 MB of netsetup's 4.86 MB cli.blob), and every
 * start reads the whole file, copies each entry into a buffer of its own and
 * keeps it to the end: page faults on the way in, pages to free on the way
 * out. An entry is only read when a builtin is compiled in this process. The
 * 107 the snapshot has loaded (fs, path, util ...) are in its heap already and
 * are never compiled again: their entries (1.58 MB) always go. Of the others,
 * a blob keeps the entries of the builtins its bundle loads at run time (for
 * cli.blob, what child_process brings when a fallback spawns `ip`: 32 KB), or,
 * without such a list (the yargs CLI, which may load more), all of them.
 * Node's own `withoutCodeCache` snapshot option drops all of it but also the
 * bytecode of the bundle's functions (FunctionCodeHandling::kClear), which
 * made `netsetup veth` slower, not faster.
 *
 * The layout read here is Node 20's SnapshotData::ToBlob (node_snapshotable.cc):
 * magic, metadata, the V8 startup data, the isolate's and the environment's
 * serialize info (whose realm lists its loaded builtins), then the code
 * cache vector, last. Every field is parsed and the vector must end at the
 * end of the file; anything else leaves the blob as it is.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

const MAGIC = 0x0143da19;

/**
 * The builtins a start from cli.blob compiles: what process.getBuiltinModule('node:child_process')
 * loads when runLite spawns `ip` or iptables-restore (a fallback, a bridge netsetup did not
 * make, published ports), as NODE_DEBUG_NATIVE=CODE_CACHE lists it for `BOXKIT_NETLINK=0
 * netsetup veth` (tests/netsetup/snapshot.test.ts checks that they all find their cache).
 */
export const CLI_RUNTIME_BUILTINS = ['child_process', 'internal/child_process', 'dgram', 'internal/dgram', 'internal/socket_list'];

export interface BlobLayout {
  nodeVersion: string;
  /** the builtins the snapshot's main realm has loaded */
  loaded: string[];
  /** where the code cache vector (its count) starts */
  codeCacheAt: number;
  /** its entries: builtin id and byte range [start, end) in the blob */
  entries: { id: string; start: number; end: number }[];
}

/** Parse a Node 20 snapshot blob; throws naming the field when the layout is not that one. */
export function parseBlob(b: Buffer): BlobLayout {
  let o = 0;
  const need = (n: number, what: string) => {
    if (n < 0 || o + n > b.length) throw new Error(`snapshot blob: ${what} runs past the end (at ${o}, ${n} bytes)`);
  };
  const u8 = (what: string) => (need(1, what), b.readUInt8(o++));
  const u32 = (what: string) => (need(4, what), (o += 4), b.readUInt32LE(o - 4));
  const size = (what: string) => {
    need(8, what);
    const v = b.readBigUInt64LE(o);
    o += 8;
    if (v > BigInt(b.length)) throw new Error(`snapshot blob: ${what} ${v} is larger than the blob`);
    return Number(v);
  };
  const str = (what: string) => {
    const n = size(`${what} length`);
    need(n, what);
    o += n;
    return b.toString('latin1', o - n, o);
  };
  const vec = <T>(what: string, item: () => T): T[] => Array.from({ length: size(`${what} count`) }, item);
  const propInfo = () => [str('prop name'), u32('prop id'), size('prop index')] as const;

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
 * The blob without the code cache of the builtins it holds loaded, and, when
 * `keep` is given, of every builtin not in it.
 */
export function slimBlob(b: Buffer, layout = parseBlob(b), keep?: readonly string[]): Buffer {
  const loaded = new Set(layout.loaded);
  const kept = layout.entries.filter((e) => !loaded.has(e.id) && (!keep || keep.includes(e.id)));
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(kept.length));
  return Buffer.concat([b.subarray(0, layout.codeCacheAt), count, ...kept.map((e) => b.subarray(e.start, e.end))]);
}

/**
 * Slim the blob at `path` in place (`keep`: see slimBlob), checked first:
 * the slim blob must start and answer `--version` as the original does (with
 * `nodeFlags`, the flags its bin stub starts it with). A layout this does not know leaves the blob
 * whole, with a warning: it works, only slower to start.
 */
export function slimBlobFile(path: string, nodeFlags: readonly string[], keep?: readonly string[]): void {
  const b = readFileSync(path);
  let layout: BlobLayout;
  try {
    layout = parseBlob(b);
    if (layout.nodeVersion !== process.versions.node) throw new Error(`built by node ${layout.nodeVersion}, this is ${process.versions.node}`);
  } catch (e) {
    console.warn(`slim-blob: ${path} left whole: ${(e as Error).message}`);
    return;
  }
  const slim = slimBlob(b, layout, keep);
  const tmp = `${path}.slim`;
  writeFileSync(tmp, slim);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const version = (blob: string) => execFileSync(process.execPath, [...nodeFlags, '--snapshot-blob', blob, '--', '--version'], { env, encoding: 'utf8' });
  try {
    const want = version(path);
    if (version(tmp) !== want) throw new Error('the slim blob answers --version differently');
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`slim-blob: ${path}: ${(e as Error).message}`);
  }
  renameSync(tmp, path);
  const kept = parseBlob(slim).entries.length;
  console.log(`slim-blob: ${path}: ${b.length} -> ${slim.length} bytes (the code cache of ${kept} of ${layout.entries.length} builtins kept)`);
}

/** The node flags the bin stub `stub` starts a blob with (its sh line, as build-snapshot.mjs writes it). */
export function stubBlobFlags(stub: string): string[] {
  const m = /exec node ((?:--[\w-]+(?:=[\w.-]+)? )*)--snapshot-blob /.exec(readFileSync(stub, 'utf8'));
  if (!m) throw new Error(`slim-blob: ${stub}: no 'exec node ... --snapshot-blob' in its sh line`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}
