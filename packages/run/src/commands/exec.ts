/** `run exec NAME -- CMD`: run a command inside a running container. */
import { BoxkitError, UsageError } from '@boxkit/common';
import { shellStatus } from '@boxkit/native';
import { containerEnv, parseEnv } from '../container/spec.js';
import { execInContainer } from '../container/exec.js';
import { isAlive } from '../state/store.js';
import { mustFind } from './lookup.js';

export async function exec(a: { name: string; cmd?: string[]; '--'?: (string | number)[]; env?: string[]; workdir: string; privileged: boolean; detach: boolean }): Promise<number> {
  const argv = [...(a.cmd ?? []), ...(a['--'] ?? [])].map(String);
  if (!argv.length) throw new UsageError('exec: no command given', `run exec NAME -- sh`);
  const rec = mustFind(a.name);
  if (!isAlive(rec)) throw new BoxkitError('ESRCH', `${rec.name}: container is not running`, { hint: `run ps -a` });
  const env = containerEnv({ env: parseEnv(a.env ?? []), tty: false }, rec.hostname);
  const child = await execInContainer(rec, argv, { env, workdir: a.workdir, privileged: a.privileged, detach: a.detach });
  if (a.detach) {
    child.close();
    return 0;
  }
  const forward = (sig: NodeJS.Signals) => {
    try {
      process.kill(child.pid, sig);
    } catch {
      // gone
    }
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  for (const s of sigs) process.on(s, forward);
  const st = await child.wait();
  for (const s of sigs) process.off(s, forward);
  return shellStatus(st);
}
