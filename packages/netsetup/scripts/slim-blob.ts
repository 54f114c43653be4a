/**
 * cli.blob (`veth`, `down`) keeps the code cache of only the builtins a start
 * from it can compile. scripts/slim-blob.mjs, run by build-snapshot.mjs on
 * every blob, has dropped the entries of the builtins the snapshot holds
 * loaded (never compiled again) and kept the other ~217, for a bundle that
 * may load any of them. This bundle loads one late: runLite's
 * process.getBuiltinModule('node:child_process'), when it spawns `ip` or
 * iptables-restore. The other entries (1.06 MB) were read, copied and freed
 * by every start: dropped, `netsetup veth` took 0.95x the time (100 rounds
 * interleaved), 3.28 -> 2.21 MB.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
// @ts-expect-error plain JS without type declarations (build-snapshot.mjs runs it)
import { parseBlob as parseBlobJs } from '../../../scripts/slim-blob.mjs';

export interface BlobLayout {
  nodeVersion: string;
  /** the builtins the snapshot's main realm has loaded */
  loaded: string[];
  /** where the code cache vector (its count) starts */
  codeCacheAt: number;
  /** its entries: builtin id and byte range [start, end) in the blob */
  entries: { id: string; start: number; end: number }[];
}

/** scripts/slim-blob.mjs's parser of a Node 20 snapshot blob (throws on another layout). */
export const parseBlob = parseBlobJs as (b: Buffer) => BlobLayout;

/**
 * What a start from cli.blob compiles: child_process and what it brings, as
 * NODE_DEBUG_NATIVE=CODE_CACHE lists it for `BOXKIT_NETLINK=0 netsetup veth`
 * (tests/netsetup/snapshot.test.ts checks that they all find their cache).
 */
export const CLI_RUNTIME_BUILTINS = ['child_process', 'internal/child_process', 'dgram', 'internal/dgram', 'internal/socket_list'];

/** The blob with the code cache of the builtins in `keep` only. */
export function keepOnly(b: Buffer, keep: readonly string[], layout = parseBlob(b)): Buffer {
  const kept = layout.entries.filter((e) => keep.includes(e.id));
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(kept.length));
  return Buffer.concat([b.subarray(0, layout.codeCacheAt), count, ...kept.map((e) => b.subarray(e.start, e.end))]);
}

/**
 * keepOnly on the blob at `path`, in place, checked as scripts/slim-blob.mjs
 * checks its own: the new blob must answer `--version` as the old one does
 * (started with `nodeFlags`, the bin stub's). A layout the parser does not
 * know leaves the blob as it is, with a warning.
 */
export function keepOnlyFile(path: string, nodeFlags: readonly string[], keep: readonly string[]): void {
  const b = readFileSync(path);
  let layout: BlobLayout;
  try {
    layout = parseBlob(b);
  } catch (e) {
    console.warn(`slim-blob: ${path} left as it is: ${(e as Error).message}`);
    return;
  }
  const slim = keepOnly(b, keep, layout);
  if (slim.length === b.length) return;
  const tmp = `${path}.slim`;
  writeFileSync(tmp, slim);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const version = (blob: string) => execFileSync(process.execPath, [...nodeFlags, '--snapshot-blob', blob, '--', '--version'], { env, encoding: 'utf8' });
  try {
    if (version(tmp) !== version(path)) throw new Error('the slim blob answers --version differently');
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`slim-blob: ${path}: ${(e as Error).message}`);
  }
  renameSync(tmp, path);
  console.log(`slim-blob: ${path}: ${b.length} -> ${slim.length} bytes (the code cache of ${keep.join(', ')} kept)`);
}

/** The node flags the bin stub `stub` starts a blob with (its sh line, as build-snapshot.mjs writes it). */
export function stubBlobFlags(stub: string): string[] {
  const m = /exec node ((?:--[\w-]+(?:=[\w.-]+)? )*)--snapshot-blob /.exec(readFileSync(stub, 'utf8'));
  if (!m) throw new Error(`slim-blob: ${stub}: no 'exec node ... --snapshot-blob' in its sh line`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}
