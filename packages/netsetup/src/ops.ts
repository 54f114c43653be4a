/**
 * The plan: a list of typed operations. Each renders as the article-style
 * shell line (`ip link add ...`, `ip netns exec ns1 ip addr add ...`,
 * `iptables -t nat -A ...`, `sysctl -w ...`); execution batches them so an
 * invocation costs a handful of processes at most: `ip` commands become
 * rtnetlink requests made from this process (netlink.ts; `ip -batch -` for
 * forms it does not know), iptables lines one `iptables-restore --noflush`.
 */
import { writeFileSync } from 'node:fs';
import { runLite as run, shellQuote } from '@boxkit/common/exec';
import { applyNetlink } from './netlink.js';
import { out, trace } from '@boxkit/common/stdio';

/** A network namespace by name (/run/netns/NAME) or by a process in it. */
export type NsRef = { netns: string } | { pid: number };

export type Op =
  /** one `ip` command in the host's namespace, or in a container's */
  | { kind: 'ip'; ns?: NsRef; args: string[] }
  /** one line of `iptables-restore` input: ['-N', chain] or ['-A'|'-D'|'-I', chain, ...] */
  | { kind: 'ipt'; table: 'nat' | 'filter'; args: string[] }
  /** a sysctl in the current namespace, e.g. net.ipv4.ip_forward=1 */
  | { kind: 'sysctl'; key: string; value: string }
  /** an external program run as is (netns add/del) */
  | { kind: 'exec'; file: string; args: string[] };

export interface ExecOptions {
  dryRun?: boolean;
  verbose?: boolean;
  /** where dry-run lines go (default stdout) */
  print?: (line: string) => void;
}

/** shellQuote, but a lone `!` (iptables negation) stays bare as the article writes it. */
function quote(argv: readonly string[]): string {
  return argv.map((a) => (a === '!' ? a : shellQuote([a]))).join(' ');
}

function nsPrefix(ns: NsRef): string[] {
  return 'netns' in ns ? ['ip', 'netns', 'exec', ns.netns] : ['nsenter', '-t', String(ns.pid), '-n'];
}

/** A sysctl key's file (net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward). */
export const sysctlPath = (key: string): string => `/proc/sys/${key.replace(/\./g, '/')}`;

/** The shell line a user could paste to do what `op` does. */
export function renderOp(op: Op): string {
  switch (op.kind) {
    case 'ip':
      return quote([...(op.ns ? nsPrefix(op.ns) : []), 'ip', ...op.args]);
    case 'ipt':
      return quote(['iptables', '-t', op.table, ...op.args]);
    case 'sysctl':
      return `sysctl -w ${op.key}=${op.value}`;
    case 'exec':
      return quote([op.file, ...op.args]);
  }
}

export function renderOps(ops: readonly Op[]): string[] {
  return ops.map(renderOp);
}

/** iptables-restore reads double-quoted words, not shell quoting. */
function restoreWord(a: string): string {
  return /^[^\s"']+$/.test(a) ? a : `"${a.replace(/"/g, '\\"')}"`;
}

function nsKey(ns?: NsRef): string {
  return !ns ? '' : 'netns' in ns ? `n:${ns.netns}` : `p:${ns.pid}`;
}

type Stage = { kind: Op['kind']; ops: Op[] };

/** Consecutive ops of one kind run as one stage (container `ip` ops of all namespaces share one). */
function stages(ops: readonly Op[]): Stage[] {
  const out: Stage[] = [];
  for (const op of ops) {
    const kind = op.kind === 'ip' && op.ns ? ('ipns' as Op['kind']) : op.kind;
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind !== 'exec') last.ops.push(op);
    else out.push({ kind, ops: [op] });
  }
  return out;
}

/** Run `fns` with at most `limit` at a time (2 cores: a few processes in flight hide exec latency). */
async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const t = items[next++]!;
      try {
        await fn(t);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

async function runStage(st: Stage): Promise<void> {
  if ((st.kind as string) === 'ip' || (st.kind as string) === 'ipns') {
    if (applyNetlink(st.ops as Extract<Op, { kind: 'ip' }>[], renderOp)) return;
  }
  switch (st.kind as string) {
    case 'ip':
      await run('ip', ['-batch', '-'], { input: st.ops.map((o) => shellQuote((o as { args: string[] }).args)).join('\n') + '\n' });
      return;
    case 'ipns': {
      const groups = new Map<string, { ns: NsRef; lines: string[] }>();
      for (const o of st.ops as Extract<Op, { kind: 'ip' }>[]) {
        const k = nsKey(o.ns);
        const g = groups.get(k) ?? { ns: o.ns!, lines: [] };
        g.lines.push(shellQuote(o.args));
        groups.set(k, g);
      }
      await pool([...groups.values()], 4, async (g) => {
        const input = g.lines.join('\n') + '\n';
        if ('netns' in g.ns) await run('ip', ['-n', g.ns.netns, '-batch', '-'], { input });
        else await run('nsenter', [`--net=/proc/${g.ns.pid}/ns/net`, 'ip', '-batch', '-'], { input });
      });
      return;
    }
    case 'ipt': {
      const byTable = new Map<string, string[]>();
      for (const o of st.ops as Extract<Op, { kind: 'ipt' }>[]) {
        const lines = byTable.get(o.table) ?? [];
        lines.push(o.args[0] === '-N' ? `:${o.args[1]} - [0:0]` : o.args.map(restoreWord).join(' '));
        byTable.set(o.table, lines);
      }
      let input = '';
      for (const [t, lines] of byTable) input += `*${t}\n${lines.join('\n')}\nCOMMIT\n`;
      // -w: with the legacy backend another program (docker, kube-proxy) may hold the xtables lock for a
      // moment; without it the restore fails at once (iptables-nft takes no lock and accepts the flag)
      await run('iptables-restore', ['-w', '10', '--noflush'], { input });
      return;
    }
    case 'sysctl':
      for (const o of st.ops as Extract<Op, { kind: 'sysctl' }>[]) {
        writeFileSync(sysctlPath(o.key), `${o.value}\n`);
      }
      return;
    case 'exec':
      for (const o of st.ops as Extract<Op, { kind: 'exec' }>[]) await run(o.file, o.args);
      return;
  }
}

/** Print (dry run) or apply a plan, batching each stage into as few processes as it can. */
export async function execute(ops: readonly Op[], opts: ExecOptions = {}): Promise<void> {
  if (opts.dryRun) {
    const print = opts.print ?? out;
    for (const op of ops) print(renderOp(op));
    return;
  }
  const all = stages(ops);
  for (let k = 0; k < all.length; k++) {
    const st = all[k]!;
    if (opts.verbose) for (const op of st.ops) trace(renderOp(op));
    try {
      await runStage(st);
    } catch (e) {
      // the host links made before the failure: every one of the stages before, and of this one those
      // before the refused request (netlink says which; an `ip -batch` process names no line: unknown)
      const partial = (e as { applied?: Op[] } | null)?.applied ?? (st.ops.some(isLinkAdd) ? undefined : []);
      if (e instanceof Error) Object.assign(e, { linksAdded: partial && new Set([...all.slice(0, k).flatMap((x) => x.ops), ...partial].filter(isLinkAdd).map((o) => o.args[2]!)) });
      throw e;
    }
  }
}

/** `ip link add NAME ...` in this process's namespace. */
const isLinkAdd = (o: Op): o is Extract<Op, { kind: 'ip' }> => o.kind === 'ip' && !o.ns && o.args[0] === 'link' && o.args[1] === 'add';

/**
 * The host links (`ip link add NAME ...` in this namespace) that a failed execute() had made before
 * its error `e`, or undefined when that is not known (an `ip -batch` process refused a line, or
 * the error came from elsewhere).
 */
export function linksAdded(e: unknown): ReadonlySet<string> | undefined {
  return (e as { linksAdded?: Set<string> } | null)?.linksAdded;
}
