import { describe, expect, it, onTestFinished } from 'vitest';
import { buildSync } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Node marks fds 0-2 close-on-exec and non-blocking and ignores SIGPIPE; a
// bare execve would start the new program with no stdio. execveReplace
// undoes that: the replaced program must see its stdio and default signals.
describe('execveReplace', () => {
  it('replaces the process with stdio open, blocking, signals default and no extra fds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-execve-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, `
      import { execveReplace } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'libc.ts'))};
      process.stdout.write('before ' + process.pid + '\\n');
      void execveReplace('/bin/sh', ['sh', '-c', 'echo after $$; grep SigIgn /proc/self/status; ls /proc/self/fd | tr "\\\\n" " "'], { PATH: '/usr/bin:/bin' });
    `);
    const out = join(dir, 'entry.cjs');
    buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', outfile: out, external: ['koffi'], logLevel: 'error',
      define: { 'import.meta.url': JSON.stringify(`file://${out}`) } });
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: join(import.meta.dirname, "..", "..", "node_modules") };
    delete env.NODE_EXTRA_CA_CERTS;
    const text = execFileSync(process.execPath, [out], { encoding: 'utf8', env, stdio: ['pipe', 'pipe', 'pipe'] });
    const before = text.match(/^before (\d+)$/m)?.[1];
    const after = text.match(/^after (\d+)$/m)?.[1];
    expect(before).toBeTruthy();
    expect(after).toBe(before); // same process, replaced in place
    expect(text).toMatch(/^SigIgn:\s+0+$/m);
    // ls itself opens one directory fd (3); nothing else leaks through
    expect(text.trim().split('\n').at(-1)!.trim().split(/\s+/).sort()).toEqual(['0', '1', '2', '3']);
  });
});
