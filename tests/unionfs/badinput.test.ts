import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, errorLines, files, mountsUnder, scratch, unionfs } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

/** Every path below a dir: what "nothing created" is checked against. */
function everything(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [r, ...everything(dir, r)] : [r];
  });
}

describe.skipIf(skipReason)(title('unionfs mount: bad input is exit 2, one line, nothing mounted or created'), () => {
  let d = '';
  const many: string[] = [];
  beforeAll(() => {
    d = scratch('bad');
    files(d, { 'image/x': 'x', 'image2/y': 'y', 'mnt/': null, 'afile': 'not a dir' });
    for (let i = 0; i < 40; i++) {
      const p = `layers/layer-number-${String(i).padStart(3, '0')}-${'z'.repeat(80)}`;
      mkdirSync(join(d, p), { recursive: true });
      many.push('-l', p);
    }
  });
  afterAll(() => detachAll(d));

  const cases: [string, () => string[], RegExp][] = [
    ['a missing lower dir', () => ['mount', '-l', 'nope', '-u', 'up', 'mnt'], /^unionfs: lower layer .*\/nope: no such directory$/],
    ['an upper equal to a lower', () => ['mount', '-l', 'image', '-u', 'image', 'mnt'], /^unionfs: upper .*\/image is the same as lower layer .*\/image$/],
    ['an upper inside a lower', () => ['mount', '-l', 'image', '-u', 'image/up', 'mnt'], /^unionfs: upper .*\/image\/up is inside lower layer .*\/image$/],
    ['a mount point that is a file', () => ['mount', '-l', 'image', '-u', 'up', 'afile'], /^unionfs: mount point .*\/afile: not a directory$/],
    ['too many layers for one mount option', () => ['mount', ...many, '-u', 'up', 'mnt'], /^unionfs: too many layers for one mount option: \d+ bytes > 4095 \(40 lower layers\)$/],
    ['an unknown driver', () => ['mount', '-l', 'image', '-u', 'up', '--driver', 'devicemapper', 'mnt'], /^unionfs: unknown driver 'devicemapper'$/],
    ['aufs branches in an order overlay cannot do', () => ['mount', '-o', 'br=./image=ro:./up=rw', 'mnt'], /^unionfs: the rw branch .* is not the first$/],
    ['a mount point missing from the command', () => ['mount', '-l', 'image'], /^unionfs: Not enough non-option arguments/],
  ];

  it.each(cases)('%s', async (_, args, re) => {
    const before = everything(d);
    const r = await unionfs(args(), d);
    expect(r.exitCode).toBe(2);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(re);
    expect(r.stdout).toBe('');
    expect(mountsUnder(d)).toEqual([]);
    expect(everything(d)).toEqual(before);
  });
});
