/** extract: the parts that need no root (whiteouts and ownership are covered by tests/unionfs). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarWriter, type TarEntry } from '../src/tar.js';
import { extractLayer } from '../src/extract.js';

let root = '';
const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtime: 1_700_000_000 };
function tarOf(name: string, entries: [TarEntry, string?][]): string {
  const out = join(root, name);
  const w = new TarWriter(out);
  for (const [e, src] of entries) w.add(e, src);
  w.finish();
  return out;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'unionfs-extract-'));
  writeFileSync(join(root, 'content'), 'data');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('extractLayer', () => {
  it('extracts files, dirs, symlinks and hard links, then renames into place', async () => {
    const tar = tarOf('ok.tar', [
      [{ name: 'etc/', type: 'dir', mode: 0o750, ...me }],
      [{ name: 'etc/conf', type: 'file', mode: 0o640, size: 4, ...me }, join(root, 'content')],
      [{ name: 'etc/again', type: 'link', mode: 0o640, linkname: 'etc/conf', ...me }],
      [{ name: 'etc/link', type: 'symlink', mode: 0o777, linkname: 'conf', ...me }],
    ]);
    const dir = join(root, 'layer-ok');
    expect(await extractLayer(tar, dir)).toEqual({ dir, entries: 4, whiteouts: 0 });
    expect(readFileSync(join(dir, 'etc/again'), 'utf8')).toBe('data');
    expect(readlinkSync(join(dir, 'etc/link'))).toBe('conf');
  });

  it('refuses entries that climb out of the layer, leaving nothing behind', async () => {
    const escape = join(root, 'outside');
    mkdirSync(escape);
    const cases: [string, [TarEntry, string?][], RegExp][] = [
      ['dotdot.tar', [[{ name: '../evil', type: 'file', mode: 0o644, size: 4, ...me }, join(root, 'content')]], /escapes the layer/],
      ['symlink.tar', [
        [{ name: 'lib', type: 'symlink', mode: 0o777, linkname: escape, ...me }],
        [{ name: 'lib/evil', type: 'file', mode: 0o644, size: 4, ...me }, join(root, 'content')],
      ], /goes through the symlink 'lib'/],
    ];
    for (const [name, entries, re] of cases) {
      const dir = join(root, `layer-${name}`);
      await expect(extractLayer(tarOf(name, entries), dir)).rejects.toThrow(re);
      expect(existsSync(dir)).toBe(false);
    }
    expect(existsSync(join(escape, 'evil'))).toBe(false);
    expect(existsSync(join(root, 'evil'))).toBe(false);
  });

  it('a tarball that cannot be opened leaves nothing made (no temp dir, no parent dirs), and says which', async () => {
    await expect(extractLayer(join(root, 'missing.tar'), join(root, 'new/deep/layer'))).rejects.toThrow(`cannot read ${join(root, 'missing.tar')}: no such file or directory`);
    expect(existsSync(join(root, 'new'))).toBe(false);
  });
});
