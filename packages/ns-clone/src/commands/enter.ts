/** `ns-clone enter PID [--all|--net|...] -- CMD`: run CMD in a running process's namespaces (nsenter). */
import { readlinkSync } from 'node:fs';
import { validatePid } from '@boxkit/common/validate';
import { UsageError } from '@boxkit/common/errors';
import type { NamespaceKind } from '@boxkit/native';
import { NS_FLAGS, NS_ORDER } from '../spec.js';
import { enterContainer, differentNamespaces, namespaceHolder } from '../enter.js';
import { superviseContainer } from '../supervise.js';
import { err, trace } from '@boxkit/common/stdio';
import { dryRunOutput } from '@boxkit/common/output';
import { shellQuote } from '@boxkit/common/exec';
import { stdinTarget } from './release.js';

export interface EnterFlags {
  target?: string | number;
  all?: boolean;
  wd?: string;
  uid?: number;
  gid?: number;
  setenv?: (string | number)[];
  envClear?: boolean;
  noNewPrivs?: boolean;
  newPrivs?: boolean;
  stopTimeout?: number;
  dryRun?: boolean;
  json?: boolean;
  verbose?: boolean;
  '--'?: (string | number)[];
  [ns: string]: unknown;
}

export async function enterCommand(f: EnterFlags): Promise<number> {
  // (yargs said 'Not enough non-option arguments: got 0, need at least 1'; nsenter's --net=FILE is what users try)
  if (f.target === undefined) throw new UsageError('enter: no PID given (the process whose namespaces to join)', 'ns-clone enter PID [--net ...] -- CMD; to run in a namespace bound to a file (ip netns, --net=PATH): ns-clone --netns PATH -- CMD');
  const pid = namespaceHolder(validatePid(stdinTarget(f.target)));
  // a gone (or exited, not yet reaped) process has no namespace files: --all would read that as "shares every namespace"
  const readable = nsReadable(pid);
  if (readable === 'gone') throw new UsageError(`no process ${pid}`, 'pass the PID of a running process');
  const chosen = Object.entries(NS_FLAGS).filter(([flag]) => f[flag]).map(([, k]) => k);
  // namespaces that cannot be read are not "the same as ours": try them all, and the open says why not
  const all = readable === 'denied' ? [...NS_ORDER] : differentNamespaces(pid);
  let kinds: NamespaceKind[] = f.all ? all : NS_ORDER.filter((k) => chosen.includes(k));
  if (f.all) kinds = [...new Set([...kinds, ...chosen])];
  if (!kinds.length && !f.all) throw new UsageError('no namespace to enter', 'add --all, or --net, --mount, --pid ...');
  const env: Record<string, string> = f.envClear ? {} : Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  for (const item of f.setenv ?? []) {
    const s = String(item), eq = s.indexOf('=');
    if (eq < 1) throw new UsageError(`invalid --setenv '${s}'`, 'use NAME=VALUE');
    env[s.slice(0, eq)] = s.slice(eq + 1);
  }
  if (f.wd === '') throw new UsageError('--wd is empty', 'give a directory');
  const argv = (f['--'] ?? []).map(String);
  const cmd = argv.length ? argv : [process.env.SHELL || '/bin/sh'];
  const opts = {
    env,
    ...(f.wd !== undefined ? { cwd: f.wd } : {}),
    ...(f.uid !== undefined ? { uid: f.uid } : {}),
    ...(f.gid !== undefined ? { gid: f.gid } : {}),
    ...(f.noNewPrivs || f.newPrivs === false ? { noNewPrivs: true } : {}),
    ...(f.verbose ? { trace } : {}),
  };
  if (f.dryRun) {
    const d = dryRunOutput(f);
    d.print(nsenterLine(pid, kinds, cmd, f, env));
    d.done({ pid });
    return 0;
  }
  const c = await enterContainer(pid, kinds, cmd, opts);
  return superviseContainer(c, { stopTimeoutS: f.stopTimeout ?? 10 });
}

/** Can `pid`'s namespace files be read? denied: it exists (another user's, or not dumpable): let the join say why. */
function nsReadable(pid: number): 'yes' | 'denied' | 'gone' {
  try {
    readlinkSync(`/proc/${pid}/ns/mnt`);
    return 'yes';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EACCES' ? 'denied' : 'gone';
  }
}

/**
 * The enter as one nsenter line to paste: every word quoted, with what the
 * flags change (--wd, --setgid/--setuid, setpriv --no-new-privs, env): it
 * printed the namespaces and the command's words unquoted only, so `sh -c
 * 'echo x'` pasted ran `sh -c echo x`, in the caller's directory. --wd is
 * --wdns when a mount namespace is entered (nsenter's --wd opens DIR before
 * setns, in ours; the enter changes directory after it), and setpriv and env
 * come before nsenter (the flag and the environment are inherited), so a root
 * without them still runs the line.
 */
function nsenterLine(pid: number, kinds: NamespaceKind[], cmd: string[], f: EnterFlags, env: Record<string, string>): string {
  const set = Object.entries(env).filter(([k, v]) => f.envClear || process.env[k] !== v).map(([k, v]) => `${k}=${v}`);
  return shellQuote([
    ...(f.noNewPrivs || f.newPrivs === false ? ['setpriv', '--no-new-privs'] : []),
    ...(f.envClear ? ['env', '-i', ...set] : set.length ? ['env', ...set] : []),
    'nsenter', '--target', String(pid), ...kinds.map((k) => `--${k === 'mnt' ? 'mount' : k}`),
    ...(f.wd !== undefined ? [kinds.includes('mnt') ? `--wdns=${f.wd}` : `--wd=${f.wd}`] : []),
    ...(f.gid !== undefined ? ['--setgid', String(f.gid)] : []),
    ...(f.uid !== undefined ? ['--setuid', String(f.uid)] : []),
    '--',
    ...cmd,
  ]);
}
