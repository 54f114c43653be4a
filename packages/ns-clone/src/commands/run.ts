/** The default command: create namespaces and run CMD in them. */
import { rmSync } from 'node:fs';
import { describeError } from '@boxkit/common/errors';
import { requestFromFlags, type RunFlags } from '../args.js';
import { planContainer } from '../plan.js';
import { startContainer } from '../container.js';
import { checkSpec } from '../check.js';
import { superviseContainer } from '../supervise.js';
import { catchSignals } from '@boxkit/common/signals';
import { removeMadeDirs } from '@boxkit/common/dirs';
import { fifoUnread, forgetFifo, makeSetupFifo, recordFifo, sweepRecords, type MadeFifo } from '../setup-fifo.js';
import type { Persisted } from '../persist.js';
import { out, err, trace } from '@boxkit/common/stdio';
import { dryRunOutput } from '@boxkit/common/output';


export async function runCommand(f: RunFlags): Promise<number> {
  const req = requestFromFlags(f);
  if (f.dryRun) {
    if (req.waitForSetup) req.spec.waitFifo = f.setupFifo ?? '$STATE/ns-clone/setup-XXXX.fifo';
    const d = dryRunOutput(f);
    for (const l of planContainer(req.spec).describe) d.print(l);
    d.done();
    return 0;
  }
  // bad input must fail before anything is made, the setup fifo included
  checkSpec(req.spec, req.defaultShell);
  let fifo: string | undefined;
  let madeFifo: MadeFifo | undefined;
  // the directories made for the fifo and its record (mkdir -p): a run that fails takes them back
  const made: string[] = [];
  if (req.waitForSetup) {
    madeFifo = makeSetupFifo(f.setupFifo, made);
    req.spec.waitFifo = fifo = madeFifo.fifo;
  } else if (req.spec.persist?.length) {
    // (makeSetupFifo sweeps too) a PATH a killed detached start left bound is taken back, not refused
    sweepRecords();
  }
  const supervision = { stopTimeoutS: req.stopTimeoutS, onEscalate: () => err(`ns-clone: pid ${c?.pid} still running ${req.stopTimeoutS}s after the stop signal: sending SIGKILL`) };
  // caught from before the start: the container may run, and be signalled, before startContainer returns
  const caught = req.detach ? undefined : catchSignals(supervision);
  let c: Awaited<ReturnType<typeof startContainer>> | undefined;
  // (the pid whose record was written before a bind: a start that fails removes that record too)
  let recorded: number | undefined;
  try {
    c = await startContainer(req.spec, {
      detach: req.detach,
      // the record notes each namespace before it is bound at its PATH: this start killed (-9) right after the
      // mount, or later while its child is held, leaves a record that `release --abort` (or the next start's
      // sweep) takes it back by (a foreground start, its owner, does that itself while it lives)
      ...(madeFifo ? {
        beforeBind: (pid: number, persisted: readonly Persisted[]) => {
          recordFifo(pid, madeFifo!, made, { persisted, owner: !req.detach });
          recorded = pid;
        },
        // with nothing bound, the record is written before the child is let go to wait on its fifo: a start
        // killed before it leaves a child that ends with it (held on its sync pipe) and a fifo no record
        // names (the next sweep's, its maker gone); killed after, a record the next sweep takes back once
        // the child is gone. A foreground start notes itself as its owner: while it lives, no sweep touches it
        beforeRelease: (pid: number) => {
          if (recorded !== undefined) return;
          recordFifo(pid, madeFifo!, made, { persisted: [], owner: !req.detach });
          recorded = pid;
        },
      } : {}),
      defaultShell: req.defaultShell,
      noConfirm: fifo !== undefined,
      ...(f.verbose ? { trace } : {}),
    });
  } catch (e) {
    caught?.release();
    if (recorded !== undefined) forgetFifo(recorded, fifo!);
    else if (fifo) rmSync(fifo, { force: true });
    removeMadeDirs(made);
    throw e;
  }
  if (req.detach) {
    const doc = { pid: c.pid, namespaces: c.namespaces, persisted: c.persisted, ...(fifo ? { setupFifo: fifo } : {}) };
    if (f.json) out(JSON.stringify(doc, null, 2));
    else out(String(c.pid));
    return 0;
  }
  let failure: number | undefined;
  if (fifo) {
    err(`ns-clone: pid ${c.pid} waits for setup: release it with 'ns-clone release ${c.pid}' (or: echo > ${fifo})`);
    // the child reports a failed step after the release: say which, as without the fifo
    c.execed.catch((e: unknown) => {
      const d = describeError(e);
      err(`ns-clone: ${d.message}`);
      failure = d.exitCode;
    });
  }
  // held for its setup as PID 1 of its own PID namespace, the child has run nothing of CMD yet and ignores
  // SIGTERM and SIGINT: a stop signal ends it at once, not after the stop timeout
  let execed = false;
  c.execed.then(() => (execed = true), () => {});
  const held = fifo !== undefined && req.spec.namespaces.includes('pid');
  const target = {
    wait: () => c!.wait(),
    signal: (sig: NodeJS.Signals) => c!.signal(held && !execed && (sig === 'SIGTERM' || sig === 'SIGINT') ? 'SIGKILL' : sig),
  };
  const status = await superviseContainer(target, supervision, caught);
  await c.execed.catch(() => {});
  // a command that never ran (aborted, stopped while held, or it could not start) is a failed run: the
  // namespaces it persisted and the directories made for the fifo go too, as when a start fails before.
  // (The exec pipe's EOF comes at exec and at death alike: a child killed while held, by the SIGTERM or
  // SIGINT ns-clone passed on, looked exec'd and its --net=PATH stayed bound. Its fifo still there, unread,
  // says its command never ran.)
  const failed = !execed || failure !== undefined || (madeFifo !== undefined && fifoUnread(madeFifo));
  if (failed) c.unpersist();
  // a child stopped (or aborted with `: > FIFO`) before its release never removed them
  if (fifo) forgetFifo(c.pid, fifo);
  if (failed) removeMadeDirs(made);
  return failure ?? status;
}
