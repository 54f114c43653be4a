import type { CommonArgs } from '@boxkit/common/cli';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { stdinLines } from '../spec.js';
import { attachMany, keptLinks, parseSpecLine, type AttachSpec, type Attachment } from '../attach.js';
import { linkNames } from '../kernel.js';

interface VethArgs extends CommonArgs {
  batch?: string;
  netns?: string;
  pid?: number;
  bridge?: string;
  ip: string;
  gateway?: string;
  ifname: string;
  hostIfname?: string;
  mtu?: number;
  hairpin: boolean;
}

function fromFlags(a: VethArgs): AttachSpec {
  if (a.pid !== undefined && !Number.isInteger(a.pid)) throw new UsageError(`invalid pid '${a.pid}'`);
  if (a.mtu !== undefined && Number.isNaN(a.mtu)) throw new UsageError('invalid mtu');
  return {
    ...(a.netns !== undefined ? { netns: a.netns } : {}), ...(a.pid !== undefined ? { pid: a.pid } : {}),
    bridge: a.bridge ?? '', ip: a.ip, ifname: a.ifname, hairpin: a.hairpin,
    ...(a.gateway !== undefined ? { gateway: a.gateway } : {}), ...(a.hostIfname !== undefined ? { hostIfname: a.hostIfname } : {}),
    ...(a.mtu !== undefined ? { mtu: a.mtu } : {}),
  };
}

function human(r: Attachment): string {
  const where = r.netns ?? `pid ${r.pid}`;
  return `${where} ${r.ifname} ${r.ip}${r.gateway ? ` via ${r.gateway}` : ''} <-> ${r.hostIfname} on ${r.bridge}${r.created ? '' : r.rejoined ? ' (put back on its bridge)' : ' (already there)'}`;
}

/** yargs turns a lone `-` positional into '': treat both as "read stdin". */
function stdinArg(v: string | undefined): string | undefined {
  return v === '' && process.argv.includes('-') ? '-' : v;
}

export async function vethCommand(a: VethArgs): Promise<number> {
  a.batch = stdinArg(a.batch);
  let specs: AttachSpec[];
  if (a.batch !== undefined) {
    if (a.batch !== '-') throw new UsageError(`unexpected argument '${a.batch}'`, 'use - to read JSON lines from stdin');
    // flags given with `-` are defaults for every line
    const defaults: Partial<AttachSpec> = { ...(a.bridge ? { bridge: a.bridge } : {}) };
    specs = stdinLines().map(([l, n]) => ({ ...defaults, ...parseSpecLine(l, n) }) as AttachSpec);
  } else specs = [fromFlags(a)];
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  // (a batch only: on a single call the handlers and the loop's turns would cost ~0.3 ms of ~20; killed, it leaves what `down` or a repeat removes)
  const r = await finishedOrUndone(a.dryRun || a.batch === undefined, () => attachMany(specs, { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) }));
  if (dry) dry.done(a.batch !== undefined ? { attachments: r } : { ...r[0] });
  else report(a, a.batch !== undefined ? r : r[0], () => r.map(human));
  return 0;
}

/**
 * What `veth -` says when a signal interrupted it, after its clean-up:
 * `removed`, the attachments it made and then removed; `kept`, the host
 * links its clean-up could not delete (kept with their records and leases,
 * which `down` removes), and `why` it could not (when the clean-up said).
 * "nothing was made" only when nothing is left.
 */
export function interruptedMessage(sig: string, o: { removed?: number; kept?: readonly string[]; why?: string } = {}): { message: string; hint?: string } {
  const kept = o.kept ?? [];
  const head = `veth interrupted (${sig}): `;
  if (kept.length) {
    const what = o.why !== undefined
      ? `${kept.length > 1 ? `the ${kept.length} attachments it made could not be removed and were kept` : 'the attachment it made could not be removed and was kept'}: ${kept.join(', ')} (${o.why})`
      : `${kept.length > 1 ? `${kept.length} links could not be deleted and were kept, with their records and leases` : '1 link could not be deleted and was kept, with its record and lease'}: ${kept.join(', ')}`;
    return { message: head + what, hint: `netsetup down --host-ifname ${kept.join(' --host-ifname ')}` };
  }
  const n = o.removed ?? 0;
  return { message: head + (n ? `the ${n > 1 ? `${n} attachments it made were` : 'attachment it made was'} removed` : 'nothing was made') };
}

/**
 * A Ctrl-C, SIGTERM or SIGHUP during `veth -` no longer kills it part-way
 * (pending records, leases, and some links in the kernel, left for `down`):
 * its handler runs at a turn of the event loop, the attachments are made
 * (the claims and netlink requests run without one), and then, interrupted,
 * the ones this call created are removed again and it ends 128+N in one
 * line, as a shell expects of a command a signal stopped. Not in `attach`:
 * `run`, which calls it in-process, has its own handlers. A flag and two
 * turns of the loop (common's lastLook says why two), not abortOnInterrupt:
 * its AbortController loads Node's event-target modules, ~0.4 ms of every veth.
 */
async function finishedOrUndone(skip: boolean | undefined, work: () => Promise<Attachment[]>): Promise<Attachment[]> {
  if (skip) return work();
  // (imported here: it loads node:os, which a single veth's snapshot start does not compile)
  const { INTERRUPTS, signalStatus } = await import('@boxkit/common/signals');
  const interrupted = (sig: NodeJS.Signals, o: Parameters<typeof interruptedMessage>[1]) => {
    const m = interruptedMessage(sig, o);
    return new BoxkitError('EINTR', m.message, { exitCode: signalStatus(sig), ...(m.hint ? { hint: m.hint } : {}) });
  };
  let sig: NodeJS.Signals | undefined;
  const on = (s: NodeJS.Signals) => {
    sig ??= s;
  };
  const settle = async () => {
    for (let turn = 0; turn < 2 && !sig; turn++) await new Promise((done) => setImmediate(done));
  };
  for (const s of INTERRUPTS) process.on(s, on);
  try {
    const r = await work().catch(async (e: unknown) => {
      // (undone by attachMany itself, but for the links it could not delete: kept, with their records and leases)
      await settle();
      if (sig) throw interrupted(sig, { kept: keptLinks(e) });
      throw e;
    });
    await settle();
    if (sig) {
      const made = r.filter((x) => x.created).map((x) => x.hostIfname);
      try {
        if (made.length) await (await import('../detach.js')).detachMany(made.map((hostIfname) => ({ hostIfname })));
      } catch (e) {
        // down leaves every attachment whole when it fails, for the next down: named, those whose links are still there
        // (a link that went meanwhile, with its namespace, or deleted before the down failed, is not kept); when none
        // is, the records are what is kept: all named, for the down that removes them
        const left = linkNames();
        const present = made.filter((h) => left.has(h));
        throw interrupted(sig, { kept: present.length ? present : made, why: (e instanceof Error ? e.message : String(e)).split('\n')[0]! });
      }
      throw interrupted(sig, { removed: made.length });
    }
    return r;
  } finally {
    for (const s of INTERRUPTS) process.off(s, on);
  }
}
