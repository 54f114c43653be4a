/**
 * Started in a directory someone removed (a shell left in a deleted build
 * dir): ip, unshare and docker work there with absolute paths; so must every
 * bin. A relative path cannot be resolved there, and says why.
 */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { binPath, skipReason, testName } from '../harness/index.js';

/** Run a bin from a directory that a shell removes just before it starts the bin there. */
function inRemovedDir(tool: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync('/tmp/bk-gone.');
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.NODE_EXTRA_CA_CERTS;
  return execa('sh', ['-c', 'cd "$1" && rmdir "$1" && shift && exec "$@"', 'sh', dir, binPath(tool), ...args], { reject: false, env, cwd: '/' });
}

describe.skipIf(skipReason)(`every bin in a removed directory${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  // for each: a command that reads the kernel or the state, or makes nothing that outlives it
  const ARGS: Record<string, string[]> = {
    'ns-clone': ['--uts', '--hostname', 'gone', '--', 'hostname'],
    cg: ['create', testName('gone'), '--parent', 'self', '--dry-run'],
    unionfs: ['ls'],
    netsetup: ['ls'],
    svcproxy: ['ls'],
    run: ['ps', '-a'],
  };
  for (const [tool, args] of Object.entries(ARGS)) {
    it(`${tool} ${args[0]} works (it failed at start: 'no such file or directory, uv_cwd')`, async () => {
      const r = await inRemovedDir(tool, args);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      if (tool === 'ns-clone') expect(r.stdout).toBe('gone');
    });
  }

  it('run --rm and run -d work; a relative --rootfs says the directory is gone (125)', async () => {
    expect((await inRemovedDir('run', ['--rm', '--cgroup-parent', 'self', '--', 'echo', 'in'])).stdout).toBe('in');
    const d = await inRemovedDir('run', ['-d', '--rm', '--cgroup-parent', 'self', '--', 'true']);
    expect(d.exitCode, String(d.stderr)).toBe(0);
    expect(d.stdout).toMatch(/^[0-9a-f]{12}$/);
    for (const detach of [[], ['-d']]) {
      const rel = await inRemovedDir('run', ['--rm', ...detach, '--cgroup-parent', 'self', '--rootfs', './rootfs', '--', 'true']);
      expect(rel.exitCode).toBe(125);
      expect(String(rel.stderr).split('\n').filter((l) => !l.includes('getcwd'))).toEqual([
        'run: the current directory no longer exists',
        'hint: cd to a directory that exists, or give absolute paths',
      ]);
    }
  });
});
