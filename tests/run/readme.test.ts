import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSandboxNetwork, skipReason, testName } from '../harness/index.js';
import { toolsBinDir } from './helpers.js';

/** The ```sh block after <!-- pipeline --> in packages/run/README.md, verbatim. */
function readmePipeline(): string {
  const md = readFileSync(join(import.meta.dirname, '..', '..', 'packages', 'run', 'README.md'), 'utf8');
  const at = md.indexOf('<!-- pipeline -->');
  const m = /```sh\n([\s\S]*?)```/.exec(md.slice(at));
  if (at < 0 || !m) throw new Error('README: no pipeline block');
  return m[1]!;
}

describe.skipIf(skipReason)(`run: the README's composition pipeline${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('runs as written: hostname, PID 1, address and route from the tools composed by hand', () => {
    assertSandboxNetwork();
    const bin = toolsBinDir();
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, C: testName('readme') };
    delete env.NODE_EXTRA_CA_CERTS;
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', readmePipeline()], { env, encoding: 'utf8' });
    const report = out.slice(out.indexOf(`${env.C}\n1\n`));
    expect(report).toMatch(new RegExp(`^${env.C}\\n1\\n`));
    expect(report).toMatch(/eth0\s+inet 10\.10\.15\.2\/24/);
    expect(report).toContain('default via 10.10.15.1 dev eth0');
  });
});
