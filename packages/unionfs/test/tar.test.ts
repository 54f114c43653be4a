import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paxRecord, TarWriter } from '../src/tar.js';
import { TarReader } from '../src/tarread.js';

let root = '';
beforeAll(() => (root = mkdtempSync(join(tmpdir(), 'unionfs-tar-'))));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('PAX records', () => {
  it('count their own length, across a digit boundary', () => {
    expect(paxRecord('path', 'a').toString()).toBe('9 path=a\n');
    // 3 + " k=" + 92 + "\n" = 99 -> with 2 digits 98+2 would be 100: needs 3 digits
    for (let n = 85; n < 100; n++) {
      const r = paxRecord('k', 'v'.repeat(n));
      expect(Number(r.toString().split(' ')[0])).toBe(r.length);
    }
  });
});

describe('TarWriter', () => {
  it('writes ustar + PAX that GNU tar and our reader agree on', () => {
    const src = join(root, 'src');
    writeFileSync(src, 'hello\n');
    const longName = `${'deep/'.repeat(40)}file.txt`;
    const longLink = `/${'t'.repeat(150)}`;
    const out = join(root, 'a.tar');
    const w = new TarWriter(out);
    w.add({ name: 'etc/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 });
    w.add({ name: 'etc/hello', type: 'file', mode: 0o640, uid: 1000, gid: 100, mtime: 1_700_000_001, size: 6, xattrs: { 'user.note': Buffer.from('a=b\n\0c'), 'security.capability': Buffer.from([1, 0, 0, 2]) } }, src);
    w.add({ name: 'etc/hard', type: 'link', mode: 0o640, uid: 1000, gid: 100, mtime: 1_700_000_001, linkname: 'etc/hello' });
    w.add({ name: 'etc/sym', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1_700_000_002, linkname: longLink });
    w.add({ name: longName, type: 'file', mode: 0o600, uid: 3_000_000, gid: 0, mtime: 1_700_000_003, size: 6 }, src);
    w.add({ name: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: 0, devmajor: 1, devminor: 3 });
    w.add({ name: 'etc/.wh.gone', type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: 0, size: 0 });
    const digest = w.finish();
    const bytes = readFileSync(out);
    expect(bytes.length % 512).toBe(0);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const gnu = execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' }).trim().split('\n');
    expect(gnu).toHaveLength(7);
    expect(gnu[1]).toMatch(/^-rw-r----- 1000\/100 +6 .* etc\/hello$/);
    expect(gnu[2]).toMatch(/^hrw-r----- .* etc\/hard link to etc\/hello$/);
    expect(gnu[3]).toContain(`etc/sym -> ${longLink}`);
    expect(gnu[4]).toMatch(new RegExp(`3000000/0 +6 .* ${longName}$`));
    expect(gnu[5]).toMatch(/^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/);
    // GNU tar reads the xattrs back from SCHILY.xattr records
    const x = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', out], { encoding: 'utf8' });
    expect(x).toContain('user.note');

    const r = new TarReader(out);
    const got = [...r.entries()];
    expect(got.map((e) => e.name)).toEqual(['etc/', 'etc/hello', 'etc/hard', 'etc/sym', longName, 'dev/null', 'etc/.wh.gone']);
    expect(got[1]!.xattrs['user.note']).toEqual(Buffer.from('a=b\n\0c'));
    expect(got[1]!.xattrs['security.capability']).toEqual(Buffer.from([1, 0, 0, 2]));
    expect(r.read(got[1]!.offset, got[1]!.size).toString()).toBe('hello\n');
    expect(got[3]!.linkname).toBe(longLink);
    expect(got[4]!.uid).toBe(3_000_000);
    expect(got[5]).toMatchObject({ typeflag: '3', devmajor: 1, devminor: 3 });
    r.close();
  });
});
