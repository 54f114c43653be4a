/**
 * After the start: wait for a foreground container while forwarding the
 * signals the user sends, stop one (SIGTERM, then SIGKILL after a timeout,
 * as docker stop does), and record how it ended.
 */
import { kill } from '@boxkit/native';
import { shellStatus, type Child } from '@boxkit/native';
import type { ContainerRecord } from '../state/record.js';
import { isAlive, load, locked, save } from '../state/store.js';
import { teardown } from './teardown.js';
import { mark } from '../phases.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** The forwarded signals, caught from before the container starts. */
export interface CaughtSignals {
  /** Forward to `pid` from now on, the signals that came before it first. */
  attach(pid: number): void;
  /** Stop catching (the container has ended, or never started). */
  release(): void;
}

/**
 * Catch the signals run forwards from before the container is started: the
 * container can print and run while run still finishes its set-up, and a
 * SIGTERM then must reach the container, not kill run half-way and leave
 * the container behind. Signals that come before attach() are passed on
 * at attach().
 */
export function catchSignals(stopTimeout: number): CaughtSignals {
  let target: number | undefined;
  const pending: NodeJS.Signals[] = [];
  let escalate: NodeJS.Timeout | undefined;
  const forward = (sig: NodeJS.Signals) => {
    if (target === undefined) {
      pending.push(sig);
      return;
    }
    const pid = target;
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
    // PID 1 ignores signals it has no handler for: escalate like `docker stop`
    if ((sig === 'SIGTERM' || sig === 'SIGINT') && !escalate) {
      escalate = setTimeout(() => {
        try {
          kill(pid, 9);
        } catch {
          // gone
        }
      }, stopTimeout * 1000);
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  return {
    attach(pid) {
      target = pid;
      for (const sig of pending.splice(0)) forward(sig);
    },
    release() {
      for (const s of FORWARDED) process.off(s, forward);
      if (escalate) clearTimeout(escalate);
    },
  };
}

/** Wait for a foreground container; its exit status is ours. */
export async function waitForeground(rec: ContainerRecord, child: Child, stopTimeout: number, caught = catchSignals(stopTimeout)): Promise<number> {
  caught.attach(child.pid);
  const status = await child.wait();
  mark('exited');
  caught.release();
  const code = shellStatus(status);
  await finish(rec, code);
  return code;
}

/** Record the end of a container, or remove it all with --rm. */
export async function finish(rec: ContainerRecord, exitCode: number | undefined): Promise<void> {
  if (rec.autoRemove) {
    await teardown(rec);
    return;
  }
  await locked(() => {
    // removed meanwhile (run rm -f from elsewhere): nothing to record
    const cur = load(rec.name);
    if (!cur || cur.id !== rec.id) return;
    cur.status = 'exited';
    cur.finished = new Date().toISOString();
    if (exitCode !== undefined) cur.exitCode = exitCode;
    save(cur);
  });
}

/** docker stop: SIGTERM to PID 1, SIGKILL after `timeout` seconds. Returns whether it had to kill. */
export async function stopContainer(rec: ContainerRecord, timeout: number, signal = 15): Promise<boolean> {
  if (!isAlive(rec)) return false;
  try {
    kill(rec.pid!, signal);
  } catch {
    return false;
  }
  const end = Date.now() + timeout * 1000;
  while (Date.now() < end) {
    if (!isAlive(rec)) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    kill(rec.pid!, 9);
  } catch {
    // gone meanwhile
  }
  while (isAlive(rec)) await new Promise((r) => setTimeout(r, 10));
  return true;
}
