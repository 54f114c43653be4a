/**
 * The one way tools run external programs: execa with argument arrays,
 * never a shell string. A failure becomes a BoxkitError that keeps the
 * program's own first error line and the command as a user could paste it.
 */
import { BoxkitError } from './errors.js';

export interface RunOptions {
  input?: string;
  /** exit codes that are not failures */
  okCodes?: number[];
  env?: Record<string, string>;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

type Execa = typeof import('execa').execa;
let execaFn: Execa | undefined;

async function execa(): Promise<Execa> {
  return (execaFn ??= (await import('execa')).execa);
}

export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const x = await execa();
  const r = await x(file, [...args], {
    reject: false,
    stripFinalNewline: true,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    ...(opts.env ? { env: opts.env } : {}),
  });
  const exitCode = typeof r.exitCode === 'number' ? r.exitCode : -1;
  if (exitCode !== 0 && !(opts.okCodes ?? []).includes(exitCode)) {
    const cmd = shellQuote([file, ...args]);
    const why = firstLine(String(r.stderr ?? '')) || firstLine(String(r.stdout ?? '')) || (r.failed && 'code' in r ? String((r as { code?: string }).code) : `exit ${exitCode}`);
    const missing = (r as { code?: string }).code === 'ENOENT';
    const shown = cmd.length > 120 ? `${file} ${args[0] ?? ''}` : cmd;
    throw new BoxkitError('EEXEC', `${shown}: ${why}`, missing ? { hint: `'${file}' is not installed` } : {});
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode };
}

function firstLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
}

/** Quote argv for a POSIX shell, so dry-run lines can be pasted. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * run() without execa, for a tool's hot path: the same contract (argument
 * array, never a shell; same options, result and one-line errors) on
 * node:child_process directly. Loading execa costs ~25-100 ms here, more
 * than the `ip` calls of a whole `netsetup veth`.
 */
export async function runLite(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  // not import(): a dynamic import of a built-in fails in a bin started from its V8 snapshot
  const { spawn } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      const cmd = shellQuote([file, ...args]);
      reject(new BoxkitError('EEXEC', `${cmd.length > 120 ? `${file} ${args[0] ?? ''}` : cmd}: ${e.code ?? e.message}`, e.code === 'ENOENT' ? { hint: `'${file}' is not installed` } : {}));
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // the program may exit before reading it all: its status says why
      child.stdin!.end(opts.input);
    }
    child.on('close', (code) => {
      const exitCode = typeof code === 'number' ? code : -1;
      stdout = stdout.replace(/\n$/, '');
      stderr = stderr.replace(/\n$/, '');
      if (exitCode !== 0 && !(opts.okCodes ?? []).includes(exitCode)) {
        const cmd = shellQuote([file, ...args]);
        const why = firstLine(stderr) || firstLine(stdout) || `exit ${exitCode}`;
        reject(new BoxkitError('EEXEC', `${cmd.length > 120 ? `${file} ${args[0] ?? ''}` : cmd}: ${why}`));
        return;
      }
      resolve({ stdout, stderr, exitCode });
    });
  });
}
