import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { binPath, skipReason } from '../harness/index.js';
import { BASE, onTerminal } from './helpers.js';

const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
};

describe.skipIf(skipReason)(`run -it: a pseudo-terminal${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('stdin is a terminal inside, Ctrl-C interrupts the foreground command, the shell\'s exit status comes back', async () => {
    const p = spawn(process.execPath, [binPath('run'), '--rm', '-it', ...BASE, '--', 'sh'], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    // (a loaded machine can take seconds to start the container: up to 30 s)
    const until = async (s: string) => {
      for (let i = 0; i < 1200 && !out.includes(s); i++) await new Promise((r) => setTimeout(r, 25));
    };
    p.stdin.write('[ -t 0 ] && echo IS""ATTY\n');
    await until('ISATTY');
    // the foreground command says when it runs (the quotes keep the terminal's echo of the line from
    // matching): a Ctrl-C that comes before the sleep is the terminal's foreground job (after a fixed
    // 500 ms wait on a loaded machine) reaches the shell only, and the sleep runs its whole 100 s
    // (the Ctrl-C sent at once: 101 s, near the 120 s test timeout)
    p.stdin.write("sh -c 'echo SLEEP\"\"ING; exec sleep 100'\n");
    await until('SLEEPING');
    p.stdin.write('\x03'); // Ctrl-C: SIGINT to the foreground sleep through the line discipline
    p.stdin.write('echo AFTER""SLEEP $?\n');
    await until('AFTERSLEEP');
    p.stdin.write('exit 5\n');
    const code = await new Promise((r) => p.once('exit', r));
    expect(out).toContain('ISATTY');
    expect(out).toMatch(/AFTERSLEEP 130/);
    expect(code).toBe(5);
  });

  it("relays lines as docker run -it does: \\r\\n once (this terminal's output processing off while relaying, back after)", async () => {
    // (run's exit status printed too: were 'two' ever missing, 137 says the shell was killed, 0 that its output was lost)
    const out = await onTerminal(`${process.execPath} ${binPath('run')} --rm -it ${BASE.join(' ')} -- sh -c 'echo one; echo two'; echo "run=$?"; stty -a | grep -o -- '-\\?opost' | head -1`);
    expect(out).toMatch(/one\r\ntwo\r\n/);
    expect(out).toMatch(/\brun=0\b/);
    expect(out).not.toMatch(/\r\r\n/);
    // the terminal's own setting is back once run has ended
    expect(out).toMatch(/\bopost\b/);
    expect(out).not.toMatch(/-opost/);
  });

  it('passes the window size on', async () => {
    expect(await onTerminal(`stty rows 30 cols 100; ${process.execPath} ${binPath('run')} --rm -it ${BASE.join(' ')} -- stty size`)).toContain('30 100');
  });
});
