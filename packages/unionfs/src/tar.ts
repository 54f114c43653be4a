/**
 * A small tar writer: POSIX ustar headers, with a PAX extended header
 * ('x') in front of an entry when ustar cannot hold it (long names or link
 * targets, big sizes or ids, xattrs as SCHILY.xattr.*, as GNU tar and Go's
 * archive/tar write them, which umoci and skopeo read). It hashes what it
 * writes, so the layer's diff_id comes for free.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { BoxkitError } from '@boxkit/common';

export type TarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';
const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export interface TarEntry {
  /** relative path; directories get a trailing '/' */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** seconds since the epoch */
  mtime: number;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer>;
}

const BLOCK = 512;

/** One PAX record: "<len> <key>=<value>\n", where len counts the whole record. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Fit a number in an octal field of `width` bytes (digits + NUL), or say it does not fit. */
function octal(n: number, width: number): string | undefined {
  if (n < 0 || !Number.isInteger(n)) return undefined;
  const s = n.toString(8);
  return s.length <= width - 1 ? s.padStart(width - 1, '0') : undefined;
}

/** ustar's name/prefix split: prefix (<=155) '/' name (<=100), at a slash. */
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i), rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest) return { name: rest, prefix };
  }
  return undefined;
}

function header(fields: { name: string; prefix: string; mode: string; uid: string; gid: string; size: string; mtime: string; type: string; linkname: string; devmajor: string; devminor: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  const put = (s: string, off: number, len: number) => Buffer.from(s).copy(b, off, 0, len);
  put(fields.name, 0, 100);
  put(fields.mode, 100, 8);
  put(fields.uid, 108, 8);
  put(fields.gid, 116, 8);
  put(fields.size, 124, 12);
  put(fields.mtime, 136, 12);
  b.fill(' ', 148, 156);
  put(fields.type, 156, 1);
  put(fields.linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put(fields.devmajor, 329, 8);
  put(fields.devminor, 337, 8);
  put(fields.prefix, 345, 155);
  let sum = 0;
  for (const byte of b) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return b;
}

export class TarWriter {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  entries = 0;
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'w', 0o644);
  }

  private write(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.hash.update(buf);
    this.bytes += buf.length;
  }

  private pad(size: number): void {
    const rest = size % BLOCK;
    if (rest) this.write(Buffer.alloc(BLOCK - rest));
  }

  /** Add an entry; a regular file's content is copied from `source`. */
  add(e: TarEntry, source?: string): void {
    for (const _ of this.adding(e, source));
  }

  /** add() a step at a time: each MiB of content copied is one (a caller can breathe between them: stop.ts). */
  *adding(e: TarEntry, source?: string): Generator<void> {
    const size = e.type === 'file' ? (e.size ?? 0) : 0;
    const pax: Buffer[] = [];
    const split = splitName(e.name);
    if (!split) pax.push(paxRecord('path', e.name));
    const linkname = e.linkname ?? '';
    if (Buffer.byteLength(linkname) > 100) pax.push(paxRecord('linkpath', linkname));
    const num = (key: string, n: number, width: number) => {
      const o = octal(n, width);
      if (o === undefined) pax.push(paxRecord(key, String(n)));
      return o ?? '0'.repeat(width - 1);
    };
    const sizeField = num('size', size, 12);
    const uid = num('uid', e.uid, 8), gid = num('gid', e.gid, 8), mtime = num('mtime', e.mtime, 12);
    for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push(paxRecord(`SCHILY.xattr.${k}`, v));
    if (pax.length) {
      const body = Buffer.concat(pax);
      const base = (split?.name ?? e.name.replace(/\/$/, '').split('/').pop() ?? 'entry').slice(0, 80);
      this.write(header({ name: `PaxHeaders/${base}`, prefix: '', mode: '0000644', uid: '0000000', gid: '0000000', size: octal(body.length, 12)!, mtime, type: 'x', linkname: '', devmajor: '', devminor: '' }));
      this.write(body);
      this.pad(body.length);
    }
    const n = split ?? { name: e.name.slice(0, 100), prefix: '' };
    this.write(header({
      name: n.name, prefix: n.prefix, mode: octal(e.mode & 0o7777, 8)!, uid, gid, size: sizeField, mtime,
      type: TYPEFLAG[e.type], linkname: linkname.slice(0, 100),
      devmajor: e.type === 'char' || e.type === 'block' ? (octal(e.devmajor ?? 0, 8) ?? '') : '',
      devminor: e.type === 'char' || e.type === 'block' ? (octal(e.devminor ?? 0, 8) ?? '') : '',
    }));
    if (size && source) yield* this.copy(source, size);
    this.entries++;
  }

  private *copy(source: string, size: number): Generator<void> {
    const fd = openSync(source, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      let left = size;
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n === 0) throw new BoxkitError('ECHANGED', `${source}: the file shrank while it was read`, { hint: 'commit again once nothing writes to the union' });
        this.write(buf.subarray(0, n));
        left -= n;
        yield;
      }
    } finally {
      closeSync(fd);
    }
    this.pad(size);
  }

  /** Two zero blocks end the archive. Returns the sha256 of everything written. */
  finish(): string {
    this.write(Buffer.alloc(BLOCK * 2));
    closeSync(this.fd);
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** Close without the end marker (the caller removes the file). */
  abort(): void {
    closeSync(this.fd);
  }
}
