/**
 * run used the way a docker user uses docker: each case is a habit that
 * went wrong here (a name that stayed taken, a port, a pid of a stopped
 * container...), checked against the real kernel.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { skipReason } from '../harness/index.js';
import { BASE, name, run } from './helpers.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skipReason)(`run: docker habits${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    const ns = await import('@boxkit/netsetup');
    await ns.removeNat('10.88.0.0/16').catch(() => {});
    await ns.removeBridge('boxkit0').catch(() => {});
  });

  it('--read-only with a --workdir the image lacks: the directory is made before the root goes read-only (as docker)', async () => {
    const r = await run(['--rm', ...BASE, '--read-only', '-w', '/made/here', '--', 'sh', '-c', 'pwd; touch /x 2>/dev/null || echo read-only']);
    expect(r.out.split('\n')).toEqual(['/made/here', 'read-only']);
  });

  it('the name of a -d --rm container that has exited is free again, without a ps or gc in between', async () => {
    const n = name('rmname');
    try {
      await run(['-d', '--rm', '--name', n, ...BASE, '--', 'true']);
      await wait(500);
      await run(['-d', '--rm', '--name', n, ...BASE, '--', 'true']);
      await wait(500);
      await run(['--rm', '--name', n, ...BASE, '--', 'true']);
      expect((await run(['ps', '-a', '-q'])).out).not.toContain(n);
    } finally {
      await run(['gc'], null);
    }
  });
});
