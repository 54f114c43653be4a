/** `run stop NAME... [--time S]`: SIGTERM to PID 1, SIGKILL after S seconds. */
import { finish, stopContainer } from '../container/lifecycle.js';
import { isAlive } from '../state/store.js';
import { mustFind } from './lookup.js';

export async function stop(a: { names: string[]; time: number; dryRun?: boolean }): Promise<number> {
  for (const n of a.names) {
    const rec = mustFind(n);
    if (a.dryRun) {
      if (isAlive(rec)) process.stdout.write(`kill -TERM ${rec.pid}\nsleep ${a.time}; kill -0 ${rec.pid} 2>/dev/null && kill -KILL ${rec.pid}\n`);
      continue;
    }
    const wasRunning = isAlive(rec);
    const killed = await stopContainer(rec, a.time);
    // a detached container has no one waiting for it: record the end here
    if (rec.detach && (wasRunning || rec.status === 'running')) await finish({ ...rec, autoRemove: rec.autoRemove }, killed ? 137 : undefined);
    process.stdout.write(`${rec.name}\n`);
  }
  return 0;
}
