/**
 * A small tar reader for layer tarballs: ustar, PAX ('x' records: path,
 * linkpath, size, uid, gid, mtime, SCHILY.xattr.*) and GNU long names
 * ('L', 'K'). Entry data is read on demand from the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UsageError } from '@boxkit/common';
import { fileStamp } from './paths.js';

export interface ReadEntry {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
  /** byte offset of the data in the file */
  offset: number;
}

const BLOCK = 512;
const cstr = (b: Buffer, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString();
};
function num(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // GNU base-256 for big values
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = cstr(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(body.subarray(i, sp).toString());
    if (!len) break;
    const rec = body.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    out.set(rec.subarray(0, eq).toString(), Buffer.from(rec.subarray(eq + 1)));
    i += len;
  }
  return out;
}

/** Compressed layers (OCI's tar+gzip, tar+zstd) start with their format's magic: name it, with the tool that undoes it. */
const COMPRESSED: [number[], string, string][] = [
  [[0x1f, 0x8b], 'gzip', 'gunzip -k'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'zstd', 'zstd -d'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz', 'unxz -k'],
  [[0x42, 0x5a, 0x68], 'bzip2', 'bunzip2 -k'],
];

/** A header's checksum: its bytes summed with the checksum field as spaces (old tars summed signed bytes). */
function checksumOk(h: Buffer): boolean {
  const want = parseInt(cstr(h, 148, 8).trim(), 8);
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

export class TarReader {
  private readonly fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
  }

  /** The file as it is now (paths.ts fileStamp). */
  stamp(): string {
    return fileStamp(this.fd);
  }

  read(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, buf, got, length - got, offset + got);
      if (n === 0) throw new UsageError(`${this.path}: truncated tar archive`);
      got += n;
    }
    return buf;
  }

  *entries(): Generator<ReadEntry> {
    const fileSize = fstatSync(this.fd).size;
    let pos = 0;
    let pax = new Map<string, Buffer>();
    let longName: string | undefined, longLink: string | undefined;
    for (;;) {
      // the end without its two zero blocks (or an empty file): GNU tar and Go's archive/tar read such archives too
      if (pos === fileSize) return;
      const h = this.read(pos, Math.min(BLOCK, Math.max(fileSize - pos, 0)) || BLOCK);
      if (pos === 0) {
        const z = COMPRESSED.find(([magic]) => magic.every((b, i) => h[i] === b));
        if (z) throw new UsageError(`${this.path}: ${z[1]}-compressed, not a tar archive`, `decompress it first: ${z[2]} ${this.path}`);
      }
      if (h.length < BLOCK) throw new UsageError(`${this.path}: ${pos ? 'truncated tar archive' : 'not a tar archive (shorter than one header)'}`);
      if (h.every((x) => x === 0)) return;
      if (!checksumOk(h)) throw new UsageError(`${this.path}: not a tar archive (bad header checksum at byte ${pos})`);
      const size0 = num(h, 124, 12);
      const type = String.fromCharCode(h[156]!) || '0';
      const dataAt = pos + BLOCK;
      pos = dataAt + Math.ceil(size0 / BLOCK) * BLOCK;
      if (type === 'x') { pax = parsePax(this.read(dataAt, size0)); continue; }
      if (type === 'g') continue;
      if (type === 'L') { longName = cstr(this.read(dataAt, size0), 0, size0); continue; }
      if (type === 'K') { longLink = cstr(this.read(dataAt, size0), 0, size0); continue; }
      const magic = cstr(h, 257, 6);
      const prefix = magic.startsWith('ustar') ? cstr(h, 345, 155) : '';
      const get = (k: string) => pax.get(k)?.toString();
      const xattrs: Record<string, Buffer> = {};
      for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
      const size = get('size') !== undefined ? Number(get('size')) : size0;
      if (size !== size0) pos = dataAt + Math.ceil(size / BLOCK) * BLOCK;
      yield {
        name: get('path') ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100)),
        typeflag: type === '\0' ? '0' : type,
        mode: num(h, 100, 8),
        uid: get('uid') !== undefined ? Number(get('uid')) : num(h, 108, 8),
        gid: get('gid') !== undefined ? Number(get('gid')) : num(h, 116, 8),
        mtime: get('mtime') !== undefined ? Math.floor(Number(get('mtime'))) : num(h, 136, 12),
        size,
        linkname: get('linkpath') ?? longLink ?? cstr(h, 157, 100),
        devmajor: num(h, 329, 8),
        devminor: num(h, 337, 8),
        xattrs,
        offset: dataAt,
      };
      pax = new Map();
      longName = longLink = undefined;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
