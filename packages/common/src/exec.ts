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
