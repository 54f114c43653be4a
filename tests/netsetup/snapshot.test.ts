/**
 * netsetup's startup snapshots (dist/cli.blob for veth/down, dist/wiring.blob
 * for the rest) carry no code cache for the Node builtins they hold loaded
 * (packages/netsetup/scripts/slim-blob.ts): each start reads, copies and
 * frees every entry, and those are never used. The builtins they have not
 * loaded keep theirs, and a start that compiles one uses it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bk, skipReason } from '../harness/index.js';
import { parseBlob } from '../../packages/netsetup/scripts/slim-blob.js';
import { useStateDir } from './helpers.js';

const dist = join(import.meta.dirname, '..', '..', 'packages', 'netsetup', 'dist');

describe.skipIf(skipReason)(`netsetup startup snapshots${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  useStateDir('snapshot');

  it.each(['cli.blob', 'wiring.blob'])('%s holds no code cache for a builtin it has loaded, and keeps the others', (name) => {
    const blob = parseBlob(readFileSync(join(dist, name)));
    const loaded = new Set(blob.loaded);
    expect(loaded.has('fs')).toBe(true);
    expect(blob.entries.filter((e) => loaded.has(e.id)).map((e) => e.id)).toEqual([]);
    // what a fallback to `ip` or iptables-restore compiles at run time
    expect(blob.entries.map((e) => e.id)).toContain('child_process');
  });

  it('a start reads only the code cache kept, and a builtin compiled at run time still finds its own', async () => {
    const kept = parseBlob(readFileSync(join(dist, 'cli.blob'))).entries.length;
    const env = { NODE_DEBUG_NATIVE: 'CODE_CACHE' }; // (execa adds the rest of the environment)
    const down = await bk('netsetup', ['down', '--netns', 'boxkit-test-no-such-ns'], { env });
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(String(down.stderr)).toContain(`snapshot contains ${kept} code cache`);
    expect(kept).toBeLessThan(300); // all 324 of Node 20's builtins before
    // `ls` (wiring.blob) runs `ip`: child_process is compiled then, from its cache
    const ls = await bk('netsetup', ['ls'], { env });
    expect(ls.exitCode, String(ls.stderr)).toBe(0);
    expect(String(ls.stderr)).toMatch(/Compiling child_process with code cache/);
  });
});
