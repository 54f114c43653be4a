/**
 * A bin's start from its blob runs with glibc malloc tunables (the stub's sh
 * line: huge pages for malloc's heap, grown 16 MB at a time; why in
 * scripts/build-snapshot.mjs), and nothing the tool starts inherits them: the
 * deserialized main removes the variable. A caller's own GLIBC_TUNABLES, even
 * an empty one, is left as it is, for the tool and for what it starts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { binPath, bk, running, skipReason } from '../harness/index.js';

const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
// huge pages for what asks for them only (the default): under 'always' Node's heap gets them without asking
const thpOff = !existsSync(THP) || !/\[madvise\]/.test(readFileSync(THP, 'utf8'));
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const e = { ...process.env, ...extra };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
};
const withoutTunables = (): NodeJS.ProcessEnv => {
  const e = env();
  delete e.GLIBC_TUNABLES;
  return e;
};
const SHOW = 'echo "[${GLIBC_TUNABLES-unset}]"';

/** Huge pages in the anonymous memory of the tool's own process (the stub execs node: same pid), while its child sleeps. */
async function hugeKbWhileRunning(e: NodeJS.ProcessEnv): Promise<{ kb: number; out: string; code: number | null }> {
  const child = spawn(binPath('ns-clone'), ['--uts', '--', 'sh', '-c', `${SHOW}; read -r _`], { env: e, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = new Promise<number | null>((done) => child.on('close', done));
  try {
    // the command's line is out once the node process has done its start and the child runs
    for (let i = 0; i < 200 && !out.includes(']'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(out, 'the command did not start').toMatch(/\]/);
    expect(running(child.pid!)).toBe(true);
    const rollup = readFileSync(`/proc/${child.pid}/smaps_rollup`, 'utf8');
    const kb = Number(/^AnonHugePages:\s+(\d+) kB/m.exec(rollup)?.[1] ?? NaN);
    child.stdin.end("\n"); // the command's read returns: so does the tool
    return { kb, out, code: await code };
  } finally {
    child.stdin.destroy();
  }
}

describe.skipIf(skipReason)(`malloc tunables of a start from a blob${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('a command started by a tool (cli.blob: ns-clone, cg exec; wiring.blob: ns-clone enter) does not inherit them', async () => {
    const group = `bk-tun-${process.pid}`;
    try {
      const nsClone = await bk('ns-clone', ['--uts', '--', 'sh', '-c', SHOW], { env: withoutTunables(), extendEnv: false });
      expect(nsClone.exitCode, String(nsClone.stderr)).toBe(0);
      expect(nsClone.stdout).toBe('[unset]');
      const cg = await bk('cg', ['exec', group, '--parent', 'self', '--', 'sh', '-c', SHOW], { env: withoutTunables(), extendEnv: false });
      expect(cg.exitCode, String(cg.stderr)).toBe(0);
      expect(cg.stdout).toBe('[unset]');
      const enter = await bk('ns-clone', ['enter', String(process.pid), '--uts', '--', 'sh', '-c', SHOW], { env: withoutTunables(), extendEnv: false });
      expect(enter.exitCode, String(enter.stderr)).toBe(0);
      expect(enter.stdout).toBe('[unset]');
    } finally {
      await bk('cg', ['rm', group, '--parent', 'self']);
    }
  });

  it("a caller's own GLIBC_TUNABLES (or an empty one) reaches the command unchanged", async () => {
    for (const mine of ['glibc.malloc.check=0', '']) {
      const r = await bk('ns-clone', ['--uts', '--', 'sh', '-c', SHOW], { env: env({ GLIBC_TUNABLES: mine }), extendEnv: false });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(r.stdout).toBe(`[${mine}]`);
    }
  });

  it.skipIf(thpOff)(`the tool's own process gets huge pages for malloc's heap, and none when the caller sets GLIBC_TUNABLES empty${thpOff ? ' (skipped: transparent huge pages not in madvise mode)' : ''}`, async () => {
    const tuned = await hugeKbWhileRunning(withoutTunables());
    expect(tuned.out.trim()).toBe('[unset]');
    expect(tuned.code).toBe(0);
    expect(tuned.kb).toBeGreaterThan(0);
    const plain = await hugeKbWhileRunning(env({ GLIBC_TUNABLES: '' }));
    expect(plain.out.trim()).toBe('[]');
    expect(plain.code).toBe(0);
    expect(plain.kb).toBe(0);
  });
});
