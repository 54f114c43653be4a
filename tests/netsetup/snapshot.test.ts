/**
 * netsetup's startup snapshots (dist/cli.blob for veth/down, dist/wiring.blob
 * for the rest) carry no code cache for the Node builtins their process never
 * compiles (scripts/slim-blob.mjs, packages/netsetup/scripts/runtime-builtins.ts): each start reads, copies
 * and frees every entry. What they do compile at run time keeps its cache.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bk, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { CLI_RUNTIME_BUILTINS } from '../../packages/netsetup/scripts/runtime-builtins.js';
import { HANDOFF_BUILTINS } from '../../tsup.base.js';
import { parseBlob } from '../harness/blob.js';
import { ns, shortName, useStateDir } from './helpers.js';

const dist = join(import.meta.dirname, '..', '..', 'packages', 'netsetup', 'dist');
const blob = (name: string) => parseBlob(readFileSync(join(dist, name)));
// execa adds the rest of the environment
const debug = (more: Record<string, string> = {}) => ({ env: { NODE_DEBUG_NATIVE: 'CODE_CACHE', ...more } });

describe.skipIf(skipReason)(`netsetup startup snapshots${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nss');
  const host = testName('snap');

  beforeAll(async () => {
    useStateDir('snapshot');
    createHost(host);
    expect((await ns(['bridge', br, '10.77.90.1/24'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    await ns(['down', '--netns', host]);
    await ns(['bridge', 'rm', br]);
    destroyHost(host);
  });

  it('cli.blob keeps the code cache of the builtins a fallback compiles, and no other', () => {
    const b = blob('cli.blob');
    expect(b.loaded).toContain('fs');
    expect(b.entries.map((e) => e.id).sort()).toEqual([...CLI_RUNTIME_BUILTINS, ...HANDOFF_BUILTINS].filter((id) => !b.loaded.includes(id)).sort());
  });

  it('wiring.blob keeps the code cache of every builtin it has not loaded, and none of those it has', () => {
    const b = blob('wiring.blob');
    const loaded = new Set(b.loaded);
    expect(b.entries.filter((e) => loaded.has(e.id)).map((e) => e.id)).toEqual([]);
    expect(b.entries.map((e) => e.id)).toEqual(expect.arrayContaining(['child_process', 'tty', 'crypto']));
  });

  it('a veth reads only the code cache kept; through `ip` (BOXKIT_NETLINK=0) every builtin it compiles finds its own', async () => {
    const kept = blob('cli.blob').entries.length;
    const fast = await bk('netsetup', ['veth', '--netns', host, '--bridge', br], debug());
    expect(fast.exitCode, String(fast.stderr)).toBe(0);
    expect(String(fast.stderr)).toContain(`snapshot contains ${kept} code cache`); // 324, all of Node 20's builtins, before
    expect(String(fast.stderr)).not.toMatch(/Compiling/);
    expect((await ns(['down', '--netns', host])).exitCode).toBe(0);

    const viaIp = await bk('netsetup', ['veth', '--netns', host, '--bridge', br], debug({ BOXKIT_NETLINK: '0' }));
    expect(viaIp.exitCode, String(viaIp.stderr)).toBe(0);
    expect(String(viaIp.stderr)).toMatch(/Compiling child_process with code cache/);
    expect(String(viaIp.stderr)).not.toMatch(/without code cache/);
    expect(String(viaIp.stdout)).toMatch(/10\.77\.90\.\d+\/24/);
  });

  it('a repeated veth spawns no process (its bridge port read in sysfs: `ip -d -j link show` compiled child_process and cost ~5 ms)', async () => {
    expect((await bk('netsetup', ['veth', '--netns', host, '--bridge', br])).exitCode).toBe(0);
    const again = await bk('netsetup', ['veth', '--netns', host, '--bridge', br], debug());
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect(String(again.stdout)).toMatch(/ \(already there\)$/m);
    expect(String(again.stderr)).not.toMatch(/Compiling/);
    expect((await ns(['down', '--netns', host])).exitCode).toBe(0);
  });

  it('a batch (`veth -`, which loads node:os for its signal handling) compiles no builtin without its cache', async () => {
    const batch = await bk('netsetup', ['veth', '-', '--bridge', br], { ...debug(), input: `${JSON.stringify({ netns: host })}\n` });
    expect(batch.exitCode, String(batch.stderr)).toBe(0);
    expect(String(batch.stderr)).toMatch(/Compiling os with code cache/);
    expect(String(batch.stderr)).not.toMatch(/without code cache/);
    expect(String(batch.stdout)).toMatch(/10\.77\.90\.\d+\/24/);
    expect((await ns(['down', '--netns', host])).exitCode).toBe(0);
  });

  it('`ls` (wiring.blob) compiles child_process from its cache', async () => {
    const ls = await bk('netsetup', ['ls'], debug());
    expect(ls.exitCode, String(ls.stderr)).toBe(0);
    expect(String(ls.stderr)).toMatch(/Compiling child_process with code cache/);
    expect(String(ls.stderr)).not.toMatch(/without code cache/);
  });
});
