/**
 * `netsetup bridge NAME CIDR`: the article's `brctl addbr mydocker; ip link
 * set mydocker up; ip address add 10.10.15.1/24 dev mydocker`, made
 * idempotent: only the missing parts are planned.
 */
import { BoxkitError } from '@boxkit/common/errors';
import { validateIfName } from '@boxkit/common/validate';
import { formatCidr, netString, overlaps, parseCidr, parseHostCidr } from './cidr.js';
import { linkAddrs, listLinks, newIfName } from './kernel.js';
import { execute, renderOps, type ExecOptions, type Op } from './ops.js';
import { readState, updateState, type BridgeRecord } from './state.js';
import { readAttachments } from './store.js';

export interface BridgeResult {
  name: string;
  cidr: string;
  /** whether this call changed anything */
  changed: boolean;
  /** the commands it ran (empty when everything was already there) */
  commands: string[];
}

/** Plan the steps that make bridge `name` exist with address `cidr` and be up. */
export async function planBridge(name: string, cidr: string): Promise<Op[]> {
  newIfName(name);
  const c = parseHostCidr(cidr, 'bridge address');
  const want = formatCidr(c);
  const links = await listLinks();
  const link = links.get(name);
  const ops: Op[] = [];
  if (link && link.kind !== 'bridge') {
    throw new BoxkitError('EEXIST', `bridge ${name}: a ${link.kind ?? 'non-bridge'} link of that name exists`, { hint: 'choose another name' });
  }
  const addrs = link ? ((await linkAddrs(name)) ?? []) : [];
  const bridges = readState().bridges;
  // two bridges on overlapping subnets: the host routes the overlap to one of them only
  // (a record whose link was deleted by hand does not count)
  const other = Object.values(bridges).find((b) => b.name !== name && links.has(b.name) && overlaps(parseCidr(b.cidr), c));
  if (other) {
    throw new BoxkitError('EEXIST', `bridge ${name}: ${netString(c)} overlaps bridge ${other.name} (${other.cidr})`, { hint: 'choose a subnet of its own' });
  }
  const recorded = bridges[name];
  if (recorded && recorded.cidr !== want && addrs.includes(recorded.cidr)) {
    throw new BoxkitError('EEXIST', `bridge ${name}: already has address ${recorded.cidr}, not ${want}`, { hint: `netsetup bridge rm ${name} first` });
  }
  if (!link) ops.push({ kind: 'ip', args: ['link', 'add', name, 'type', 'bridge'] });
  if (!addrs.includes(want)) ops.push({ kind: 'ip', args: ['addr', 'add', want, 'dev', name] });
  if (!link?.up) ops.push({ kind: 'ip', args: ['link', 'set', name, 'up'] });
  return ops;
}

/**
 * The op that takes back one of planBridge's ops: deleting a link this call
 * made takes its address with it; on a bridge that was there before, the
 * address it added goes and the link it brought up goes down again.
 */
export function undoBridgeOp(op: Op): Op {
  const a = op.kind === 'ip' ? op.args : [];
  if (a[0] === 'link' && a[1] === 'add') return { kind: 'ip', args: ['link', 'del', a[2]!] };
  if (a[0] === 'addr' && a[1] === 'add') return { kind: 'ip', args: ['addr', 'del', ...a.slice(2)] };
  if (a[0] === 'link' && a[1] === 'set' && a[3] === 'up') return { kind: 'ip', args: ['link', 'set', a[2]!, 'down'] };
  throw new Error(`no undo for ${renderOps([op]).join('')}`);
}

/**
 * Create (or confirm) a bridge with its gateway address, up. The ops run
 * one by one, so a failure (the kernel refusing the address, a concurrent
 * call making the link first) undoes exactly what this call did, newest
 * first: a link it made is deleted, a bridge that was there is left as it was.
 */
export async function ensureBridge(name: string, cidr: string, opts: ExecOptions = {}): Promise<BridgeResult> {
  const ops = await planBridge(name, cidr);
  const want = formatCidr(parseCidr(cidr));
  if (opts.dryRun) {
    await execute(ops, opts);
    return { name, cidr: want, changed: ops.length > 0, commands: renderOps(ops) };
  }
  const done: Op[] = [];
  try {
    for (const op of ops) {
      await execute([op], opts);
      done.push(op);
    }
    await updateState((s) => {
      s.bridges[name] = { name, cidr: want } satisfies BridgeRecord;
    });
  } catch (e) {
    // a link this call made is deleted whole: undoing its address or its state first is wasted work
    const made = done.find((op) => op.kind === 'ip' && op.args[1] === 'add' && op.args[0] === 'link');
    const undo = made ? [undoBridgeOp(made)] : done.map(undoBridgeOp).reverse();
    for (const op of undo) await execute([op], opts).catch(() => undefined);
    throw e;
  }
  return { name, cidr: want, changed: ops.length > 0, commands: renderOps(ops) };
}

/** Delete a bridge; succeeds when it is already gone. Refuses while attachments use it. */
export async function removeBridge(name: string, opts: ExecOptions = {}): Promise<{ name: string; removed: boolean; changed: boolean }> {
  validateIfName(name);
  const users = readAttachments().filter((a) => a.bridge === name);
  if (users.length) {
    throw new BoxkitError('EBUSY', `bridge ${name}: ${users.length} attachment(s) still use it`, {
      hint: `netsetup down --host-ifname ${users.map((u) => u.hostIfname).join(' --host-ifname ')}`,
    });
  }
  const link = (await listLinks()).get(name);
  // `bridge NAME CIDR` refuses a link of another kind; so does its undo: `ip link del` would delete a veth, a
  // wireguard or a vxlan link as readily (brctl delbr refuses what is not a bridge)
  if (link && link.kind !== 'bridge') {
    throw new BoxkitError('EINVAL', `bridge rm ${name}: ${name} is a ${link.kind ?? 'non-bridge'} link, not a bridge`, {
      hint: `netsetup removes only bridges; ip link del ${name} deletes any link`,
    });
  }
  const ops: Op[] = link ? [{ kind: 'ip', args: ['link', 'del', name] }] : [];
  await execute(ops, opts);
  if (!opts.dryRun) {
    await updateState((s) => {
      delete s.bridges[name];
    });
  }
  return { name, removed: !!link, changed: !!link };
}

/** The bridge's address: recorded by netsetup, else the first IPv4 address the kernel reports. */
export async function bridgeCidr(name: string): Promise<string | undefined> {
  const rec = readState().bridges[name];
  const addrs = await linkAddrs(name);
  if (addrs === undefined) return undefined;
  if (rec && addrs.includes(rec.cidr)) return rec.cidr;
  return addrs[0];
}
