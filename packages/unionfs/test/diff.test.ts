/** diff against aufs-form uppers (and overlay ones without devices): plain files, no root, no mount needed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffLayers, lowerLookup } from '../src/diff.js';
import { detectDriver } from '../src/whiteout.js';

let root = '';
const mk = (p: string, content?: string) => {
  const abs = join(root, p);
  if (content === undefined) mkdirSync(abs, { recursive: true });
  else {
    mkdirSync(join(abs, '..'), { recursive: true });
    writeFileSync(abs, content);
  }
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'unionfs-diff-'));
  mk('image/etc/hosts', 'h');
  mk('image/etc/passwd', 'p');
  mk('image/old/a', 'a');
  mk('image/old/sub/b', 'b');
  mk('image/keep/x', 'x');
  mk('top/etc/motd', 'm');
  mk('top/.wh.keep'); // a dir named .wh.keep would be odd; make it a file below
  rmSync(join(root, 'top/.wh.keep'), { recursive: true });
  mk('top/.wh.keep', '');
  // the upper (aufs form)
  mk('tmp/etc/hosts', 'changed');
  mk('tmp/etc/.wh.passwd', '');
  mk('tmp/etc/new', 'n');
  mk('tmp/old/.wh..wh..opq', '');
  mk('tmp/old/c', 'c');
  mk('tmp/.wh..wh.plnk/123', '');
  mk('tmp/fresh/deep/f', 'f');
  mk('tmp/.wh.never-existed', '');
  for (const d of ['tmp/etc', 'image/etc', 'top/etc']) utimesSync(join(root, d), 1000, 1000);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('lowerLookup', () => {
  it('follows the stack topmost first and stops at whiteouts', () => {
    const lowers = [join(root, 'top'), join(root, 'image')];
    expect(lowerLookup(lowers, 'etc/motd', 'aufs')).toBeTruthy();
    expect(lowerLookup(lowers, 'etc/hosts', 'aufs')).toBeTruthy();
    expect(lowerLookup(lowers, 'keep', 'aufs')).toBeUndefined();
    expect(lowerLookup(lowers, 'keep/x', 'aufs')).toBeUndefined();
    expect(lowerLookup(lowers, 'nothing', 'aufs')).toBeUndefined();
  });
});

describe('diffLayers (aufs whiteouts)', () => {
  it('reports exactly A/C/D', () => {
    const changes = diffLayers(join(root, 'tmp'), [join(root, 'top'), join(root, 'image')], 'aufs');
    expect(changes.map((c) => `${c.kind} ${c.path}`)).toEqual([
      'C /etc',
      'D /etc/passwd',
      'A /etc/new',
      'C /etc/hosts',
      'A /fresh',
      'A /fresh/deep',
      'A /fresh/deep/f',
      'C /old',
      'D /old/a',
      'A /old/c',
      'D /old/sub',
    ].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)));
  });

  it('without lowers, everything is added and whiteouts hide nothing', () => {
    const changes = diffLayers(join(root, 'tmp'), [], 'aufs');
    expect(changes.every((c) => c.kind === 'A')).toBe(true);
    expect(changes.map((c) => c.path)).toContain('/etc/hosts');
  });
});

describe('diffLayers (overlay: .wh. names are content)', () => {
  it('a regular .wh.X in an overlay upper or lower is a file like any other, not a deletion of X', () => {
    const lowers = [join(root, 'top'), join(root, 'image')];
    // top/.wh.keep is a file in an overlay lower: image/keep shows through
    expect(lowerLookup(lowers, 'keep/x', 'overlay')).toBeTruthy();
    expect(lowerLookup(lowers, '.wh.keep', 'overlay')).toBeTruthy();
    const changes = diffLayers(join(root, 'tmp'), lowers, 'overlay').map((c) => `${c.kind} ${c.path}`);
    expect(changes).toContain('A /etc/.wh.passwd');
    expect(changes).toContain('A /old/.wh..wh..opq');
    expect(changes).toContain('A /.wh..wh.plnk/123');
    expect(changes.filter((c) => c.startsWith('D '))).toEqual([]);
  });

  it('an upper no mount names is aufs\'s when aufs marked it, else overlay\'s', () => {
    mk('marked/.wh..wh.aufs', '');
    mk('plain/.wh.x', '');
    expect(detectDriver(join(root, 'marked'))).toBe('aufs');
    expect(detectDriver(join(root, 'plain'))).toBe('overlay');
    expect(detectDriver(join(root, 'tmp'))).toBe('aufs'); // .wh..wh.plnk
  });
});
