/**
 * `netsetup nat CIDR`: the article's
 *   sysctl -w net.ipv4.ip_forward=1
 *   iptables -t nat -A POSTROUTING -s 10.10.0.0/16 -d 10.10.0.0/16 -j RETURN
 *   iptables -t nat -A POSTROUTING -s 10.10.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE
 * kept in a chain of boxkit's own per network (BOXKIT-NAT-<hash>) reached by
 * one commented POSTROUTING jump, so it can be found, repeated and removed.
 */
import { readFileSync } from 'node:fs';
import { BoxkitError } from '@boxkit/common/errors';
import { validateIfName } from '@boxkit/common/validate';
import { netString, parseCidr } from './cidr.js';
import { hashHex } from '@boxkit/common/hash';
import { deleteRules, hasComment, nat, readNat } from './iptables.js';
import { execute, type ExecOptions, type Op } from './ops.js';
import { withNetState, type NetState } from './state.js';

export interface NatResult {
  cidr: string;
  chain: string;
  outIf?: string;
  changed: boolean;
}

export function natChain(net: string): string {
  return `BOXKIT-NAT-${hashHex(net).slice(0, 8).toUpperCase()}`;
}

const jumpComment = (net: string) => `boxkit nat ${net}`;
const isNatComment = (net: string) => (c: string) => c === jumpComment(net) || c.startsWith(`${jumpComment(net)}: `);

export function ipForwardOn(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Plan: forwarding on, the chain with the two article rules, the POSTROUTING jump; only what is missing.
 * `keepOutIf`: netsetup's nat of this network that is there keeps its --out-if (or none), whatever
 * `outIf` asks (run's bridge: a nat the user made by hand is the user's choice); `outIf` is the one planned.
 */
export async function planNat(cidr: string, outIf: string | undefined, lenient = false, keepOutIf = false): Promise<{ net: string; chain: string; outIf?: string; ops: Op[] }> {
  const net = netString(parseCidr(cidr, 'network'));
  if (outIf !== undefined) validateIfName(outIf);
  const chain = natChain(net);
  const t = await readNat(lenient);
  const inChain = t.rules.filter((r) => r.chain === chain);
  // netsetup's nat of this network with another --out-if (or none): a conflict, as route and bridge refuse
  // theirs, not replaced (it was flushed and made again: traffic masqueraded a moment before stopped being)
  const there = inChain.find((r) => r.comment?.startsWith(`${jumpComment(net)}: outside`));
  const via = (c: string) => /: outside via (\S+)$/.exec(c)?.[1];
  if (there && keepOutIf) outIf = via(there.comment!);
  const inside = `${jumpComment(net)}: inside`;
  const outside = `${jumpComment(net)}: outside${outIf ? ` via ${outIf}` : ''}`;
  const ops: Op[] = [];
  if (!ipForwardOn()) ops.push({ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' });
  if (there && there.comment !== outside) {
    const out = (i: string | undefined) => (i ? `out ${i}` : 'out every interface');
    throw new BoxkitError('EEXIST', `nat ${net}: netsetup's nat masquerades ${out(via(there.comment!))}, not ${out(outIf)}`, {
      hint: `netsetup nat rm ${net} first`,
    });
  }
  const ok = inChain.length === 2 && hasComment(t, inside) && hasComment(t, outside);
  if (!ok) {
    ops.push(t.chains.has(chain) ? nat('-F', chain) : nat('-N', chain));
    ops.push(nat('-A', chain, '-d', net, '-m', 'comment', '--comment', inside, '-j', 'RETURN'));
    ops.push(nat('-A', chain, '!', '-d', '224.0.0.0/4', ...(outIf ? ['-o', outIf] : []), '-m', 'comment', '--comment', outside, '-j', 'MASQUERADE'));
  }
  if (!t.rules.some((r) => r.chain === 'POSTROUTING' && r.comment === jumpComment(net))) {
    ops.push(nat('-A', 'POSTROUTING', '-s', net, '-m', 'comment', '--comment', jumpComment(net), '-j', chain));
  }
  return { net, chain, ...(outIf ? { outIf } : {}), ops };
}

/**
 * Masquerade traffic from `cidr` to the outside (idempotent). With `keepOutIf`, netsetup's nat of
 * that network that is there keeps its --out-if (see planNat); a missing rule or jump is still made.
 */
export async function ensureNat(cidr: string, opts: ExecOptions & { outIf?: string; keepOutIf?: boolean } = {}): Promise<NatResult> {
  const natIn = async (s: NetState) => {
    const p = await planNat(cidr, opts.outIf, opts.dryRun, opts.keepOutIf);
    await execute(p.ops, opts);
    const outIf = p.outIf ? { outIf: p.outIf } : {};
    s.nat[p.net] = { cidr: p.net, chain: p.chain, ...outIf }; // (a dry run's state is a copy, never written)
    return { cidr: p.net, chain: p.chain, ...outIf, changed: p.ops.length > 0 };
  };
  return withNetState(opts, natIn);
}

/** Remove the NAT rules of `cidr`; succeeds when they are gone. ip_forward stays on (others may need it). */
export async function removeNat(cidr: string, opts: ExecOptions = {}): Promise<NatResult> {
  const removeNatIn = async (s: NetState) => {
    const net = netString(parseCidr(cidr, 'network'));
    const chain = natChain(net);
    const t = await readNat(opts.dryRun);
    const ops = deleteRules(t, isNatComment(net)).filter((o) => o.kind === 'ipt' && o.args[1] !== chain);
    if (t.chains.has(chain)) ops.push(nat('-F', chain), nat('-X', chain));
    await execute(ops, opts);
    const outIf = s.nat[net]?.outIf;
    delete s.nat[net]; // (a dry run's state is a copy, never written)
    return { cidr: net, chain, ...(outIf ? { outIf } : {}), changed: ops.length > 0 };
  };
  return withNetState(opts, removeNatIn);
}
