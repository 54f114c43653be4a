/**
 * cg exec GROUP [limits] -- CMD: like cgexec, this process joins the group
 * (in every hierarchy) and then becomes the command with execve, so the
 * command's status, signals and stdio are its own and no supervisor stays
 * behind. The command is looked up first, so a missing one exits 127 (not
 * executable: 126) before anything changes.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { BoxkitError, EXIT, UsageError, shellQuote } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';
import { parseLimits, type LimitFlags } from '../limits.js';
import { planCreate } from '../create.js';
import { planExecAttach } from '../membership.js';
import { apply, groupFrom, groupJson, type GroupArgs } from './common.js';
import { trace } from '@boxkit/common/stdio';
import { cgLine } from '../group.js';

/** Resolve argv[0] like execvp: a path with '/', else the first executable match in PATH. */
export function resolveCommand(cmd: string, path = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): string {
  const candidates = cmd.includes('/') ? [cmd] : path.split(':').filter(Boolean).map((d) => join(d, cmd));
  let found: string | undefined;
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
    } catch {
      continue;
    }
    found ??= c;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // keep looking; report 126 if only non-executable ones exist
    }
  }
  if (found) throw new BoxkitError('ENOEXEC', `${cmd}: permission denied`, { exitCode: EXIT.NOT_EXECUTABLE });
  throw new BoxkitError('ENOENT', `${cmd}: command not found`, { exitCode: EXIT.NOT_FOUND });
}

export async function runExec(a: GroupArgs & LimitFlags): Promise<number> {
  const argv = (a['--'] ?? []).map(String);
  if (!argv.length) {
    throw new UsageError('no command given', `put the command after --: ${cgLine(['exec', a.group], a.parent)} -- CMD`);
  }
  const limits = parseLimits(a);
  const g = groupFrom(a);
  const file = resolveCommand(argv[0]!);
  const steps = [...planCreate(g, limits, { mode: 'set' }), ...planExecAttach(g)];
  if (a.dryRun) {
    // this process's own pid means nothing to the reader: show the shell's
    const d = dryRunOutput(a);
    for (const s of steps) d.print(s.shell.replace(`echo ${process.pid} >`, () => 'echo $$ >'));
    d.print(`exec ${shellQuote(argv)}`);
    d.done({ ...groupJson(g), limits });
    return 0;
  }
  // load koffi and libc before joining the group: once inside, this process
  // runs under the group's limits (a 50% quota would slow the loading down)
  const { execveReplace, getpid } = await import('@boxkit/native');
  getpid();
  await apply(a, steps);
  if (a.verbose) trace(`exec ${shellQuote(argv)}`);
  try {
    await execveReplace(file, argv, process.env);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new BoxkitError('EEXEC', `exec ${argv[0]}: ${(e as Error).message}`, { exitCode: code === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE });
  }
  return 0;
}
