import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { readStdin } from '@boxkit/common/stdin';
import { attachMany, parseSpecLine, type AttachSpec, type Attachment } from '../attach.js';

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
  return `${where} ${r.ifname} ${r.ip}${r.gateway ? ` via ${r.gateway}` : ''} <-> ${r.hostIfname} on ${r.bridge}${r.created ? '' : ' (already there)'}`;
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
    specs = readStdin().split('\n').map((l, i) => [l.trim(), i + 1] as const).filter(([l]) => l && !l.startsWith('#'))
      .map(([l, n]) => ({ ...defaults, ...parseSpecLine(l, n) }) as AttachSpec);
  } else specs = [fromFlags(a)];
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const r = await attachMany(specs, { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) });
  if (dry) dry.done(a.batch !== undefined ? { attachments: r } : { ...r[0] });
  else report(a, a.batch !== undefined ? r : r[0], () => r.map(human));
  return 0;
}
