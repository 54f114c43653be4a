/**
 * `netsetup down`: remove what `veth` made for an attachment (the veth pair,
 * the address lease, published ports to its address). Gone is fine. Many
 * host links are deleted in one request by putting them in a link group and
 * deleting the group (`ip link del group N`: 88 ms for 100 here, where
 * deleting them one by one costs ~20 ms each); when that fails, they are
 * put back in the groups they had.
 */
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { warn } from '@boxkit/common/output';
import { validateIfName, validateName, validatePid } from '@boxkit/common/validate';
import { linkNames, nsInode, sysfsLinkGroups } from './kernel.js';
import { nat, readNat, readTable, type NatTable } from './iptables.js';
import { planLocalnetOff } from './localnet.js';
import { linkGroups } from './netlink.js';
import { execute, type ExecOptions, type Op } from './ops.js';
import { planRemoveTo, planRemoveUnlisted, publishKey } from './publish.js';
import { readState, updateState, withNetState, type AttachmentRecord, type NetState } from './state.js';
import { forget, inProgress, ownsAddress, readAttachments, reclaimOrphanLeasesOf, sweepTmp, withStoreLock } from './store.js';
import { crashPoint } from './crash.js';

export interface DetachTarget {
  netns?: string;
  pid?: number;
  hostIfname?: string;
}

export interface Detached {
  hostIfname: string;
  netns?: string;
  pid?: number;
  ip?: string;
  bridge?: string;
  /** the host link existed and was deleted (false: it was already gone) */
  removed: boolean;
}

export function validateTarget(t: DetachTarget): DetachTarget {
  const n = [t.netns, t.pid, t.hostIfname].filter((x) => x !== undefined).length;
  if (n !== 1) throw new UsageError('each target needs exactly one of netns, pid, hostIfname');
  if (t.netns !== undefined) validateName('netns', t.netns);
  if (t.pid !== undefined) validatePid(t.pid);
  if (t.hostIfname !== undefined) validateIfName(t.hostIfname);
  return t;
}

function matches(a: AttachmentRecord, t: DetachTarget & { inode?: number }): boolean {
  return (t.netns !== undefined && a.netns === t.netns) || (t.pid !== undefined && a.pid === Number(t.pid)) || (t.hostIfname !== undefined && a.hostIfname === t.hostIfname)
    || (t.inode !== undefined && a.nsInode === t.inode);
}

/** The namespace's inode when it still exists: an attachment made by --pid is found by --netns too. */
function withInode(t: DetachTarget): DetachTarget & { inode?: number } {
  if (t.hostIfname !== undefined) return t;
  try {
    return { ...t, inode: nsInode(t.netns !== undefined ? { netns: t.netns } : { pid: Number(t.pid) }) };
  } catch {
    return t; // gone: its veth went with it
  }
}

/**
 * netsetup's temporary link groups: a range no one else is likely to use
 * (never group 0, which every link is in by default), so a link found in one
 * was left there by a netsetup killed between putting it in and deleting.
 */
const TEMP_GROUPS = { first: 0x62000001, count: 0xfffffe };

export function isTempGroup(group: number): boolean {
  return group >= TEMP_GROUPS.first && group < TEMP_GROUPS.first + TEMP_GROUPS.count;
}

/** A random temporary group, not one of `inUse` (the groups of the links to delete: one a killed run left some of them in). */
export function tempGroup(inUse: Iterable<number> = []): number {
  const taken = new Set(inUse);
  for (;;) {
    const g = TEMP_GROUPS.first + Math.floor(Math.random() * TEMP_GROUPS.count);
    if (!taken.has(g)) return g;
  }
}

/** Ops deleting host links: one `link del` for one, a temporary link group for many. */
export function linkDelOps(names: readonly string[], group: number = tempGroup()): Op[] {
  if (names.length === 0) return [];
  if (names.length === 1) return [{ kind: 'ip', args: ['link', 'del', names[0]!] }];
  const g = String(group);
  return [...names.map((n) => ({ kind: 'ip', args: ['link', 'set', 'dev', n, 'group', g] }) as Op), { kind: 'ip', args: ['link', 'del', 'group', g] }];
}

/** The link group of each of `names` that exists: from sysfs when it is this namespace's, else through netlink. */
function readGroups(names: readonly string[]): Map<string, number> {
  return sysfsLinkGroups(names, linkNames()) ?? linkGroups(names);
}

/** readGroups, or none when they cannot be read: the delete goes on without putting groups back (as before it could). */
function groupsIfReadable(names: readonly string[]): Map<string, number> | undefined {
  try {
    return readGroups(names);
  } catch {
    return undefined;
  }
}

/**
 * Delete the host links that still exist. A namespace being destroyed takes
 * its veth pair with it asynchronously, so a link seen a moment ago can be
 * gone by the time it is deleted ("Cannot find device"): look again, and
 * retry with what is left. Many go through a temporary link group, so their
 * own groups are read first: when it finally fails (or the kernel refuses
 * `link del group` as a whole, for a member it cannot delete), the links
 * left are put back in theirs, not left where a later `ip link del group`
 * would take them.
 */
export async function removeLinks(names: readonly string[], links: Set<string>, opts: ExecOptions = {}): Promise<void> {
  let left = names.filter((n) => links.has(n));
  // (one link alone is deleted by name, never moved)
  const groups = left.length > 1 ? groupsIfReadable(left) : undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      await execute(linkDelOps(left, tempGroup(groups?.values())), opts);
      return;
    } catch (e) {
      const now = linkNames();
      left = left.filter((n) => now.has(n));
      if (opts.dryRun) throw e;
      if (attempt < 2) continue; // (the next attempt puts the links left in a group of its own)
      // (its own failure, the groups unreadable, leaves the error as it is)
      const stuck = groups ? await regroup(left, groups, opts).catch(() => new Map<string, number>()) : new Map<string, number>();
      if (stuck.size && e instanceof Error) {
        const list = [...stuck].map(([n, g]) => `${n} (group ${g})`).join(', ');
        e.message = `${e.message.split('\n')[0]}; and ${list} could not be put back in ${stuck.size > 1 ? 'their link groups' : 'its link group'}`;
      }
      throw e;
    }
  }
}

/**
 * Put each of `names` that is not in the link group it had (`had`: read
 * before any was moved; 0 for one a killed netsetup had left in a temporary
 * group) back in it, link by link: one gone meanwhile is fine. Returns the
 * links that exist and could not be put back, with the group they are in.
 */
async function regroup(names: readonly string[], had: ReadonlyMap<string, number>, opts: ExecOptions): Promise<Map<string, number>> {
  const stuck = new Map<string, number>();
  const now = readGroups(names);
  for (const n of names) {
    const before = had.get(n) ?? 0;
    const want = isTempGroup(before) ? 0 : before;
    const cur = now.get(n);
    if (cur === undefined || cur === want) continue;
    const op: Op = { kind: 'ip', args: ['link', 'set', 'dev', n, 'group', String(want)] };
    await execute([op], { verbose: opts.verbose }).catch(() => {
      const g = readGroups([n]).get(n);
      if (g !== undefined && g !== want) stuck.set(n, g);
    });
  }
  return stuck;
}

/**
 * Remove attachments (and their leases and published ports); succeeds for
 * what is already gone. Only published ports need the state lock.
 */
export async function detachMany(targets: readonly DetachTarget[], opts: ExecOptions = {}): Promise<Detached[]> {
  targets.forEach(validateTarget);
  const found = targets.map(withInode);
  // Under the store lock: the records read are the ones whose links go and which are forgotten.
  // Unlocked, a record read stale (its link gone) could be replaced by a repeated `veth` (or one of
  // a new container given the recycled nsfs inode, so the same host name) before its link was
  // deleted by name; and one read pending could be completed meanwhile. Always, not only for a
  // pending or stale record: a whole one becomes stale once its link is deleted here, and a repeated
  // `veth` replacing it before the forget would lose its new record (removed by name); and a
  // `publish` to the address is ordered against the forget by this lock. Its cost: koffi's load
  // (~5-7 ms here) when the link is already gone, nothing measurable otherwise (netlink loads it).
  const { recs, links } = opts.dryRun ? await removeFound(found, targets, opts) : await withStoreLock(() => removeFound(found, targets, opts));
  // a host ifname with no record: a lease its netsetup took before being killed (one from before records came first)
  const orphans = targets.filter((t) => t.hostIfname && !recs.some((r) => r.hostIfname === t.hostIfname)).map((t) => t.hostIfname!);
  if (orphans.length && !opts.dryRun) {
    crashPoint('reclaim');
    await reclaimOrphanLeasesOf(linkNames(), orphans);
  }
  return [
    ...recs.map((r) => ({
      hostIfname: r.hostIfname, ...(r.netns ? { netns: r.netns } : {}), ...(r.pid ? { pid: r.pid } : {}),
      ip: r.ip, bridge: r.bridge, removed: links.has(r.hostIfname),
    })),
  ];
}

async function removeFound(found: readonly (DetachTarget & { inode?: number })[], targets: readonly DetachTarget[], opts: ExecOptions) {
  const recs = readAttachments().filter((a) => found.some((t) => matches(a, t)));
  // a pending record whose netsetup is at work: removing its lease while it goes on would leave
  // its container an address that the next `veth --ip auto` hands out again
  const busy = opts.dryRun ? undefined : recs.find((r) => !r.ip && inProgress(r));
  if (busy) {
    throw new BoxkitError('EBUSY', `${busy.hostIfname}: another netsetup (pid ${busy.owner}) is attaching ${busy.netns ?? `pid ${busy.pid}`} right now`, { hint: 'try again when it is done' });
  }
  const links = linkNames();
  // A host link named explicitly that netsetup has no record of (another tool's, made by hand, or
  // one whose record went with a state dir: /run is cleared at boot, with the links) is not
  // netsetup's to delete: refused, before anything changes, with the command that deletes any link.
  const unknown = targets.filter((t) => t.hostIfname && !recs.some((r) => r.hostIfname === t.hostIfname) && links.has(t.hostIfname)).map((t) => t.hostIfname!);
  if (unknown.length) {
    throw new BoxkitError('EPERM', `down ${unknown.join(', ')}: ${unknown.length > 1 ? 'links that netsetup has no record of' : 'a link that netsetup has no record of'} (not made by netsetup, or its state was lost)`, {
      hint: `delete it by hand if it is no longer needed: ${unknown.map((h) => `ip link del ${h}`).join('; ')}`,
    });
  }
  const names = recs.map((r) => r.hostIfname);
  // The published ports go first and the links inside that step: reading and changing the nat
  // table fail for reasons outside netsetup (iptables missing, xtables lock, a broken table), and
  // such a failure then leaves every attachment whole (link, lease, record, rules) with nothing
  // removed, not a link gone and the rest waiting for the next `down`. The crash order stays:
  // links and rules, then the lease, then the record (forget).
  let unpublished: Op[];
  try {
    unpublished = await unpublishTo(recs, opts, () => removeLinks(names, links, opts));
  } catch (e) {
    if (opts.dryRun || !(e instanceof Error)) throw e;
    const which = names.length === 1 ? names[0] : `${names.length} attachments (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`;
    // one line: what was not removed, then why (the tool's own first line); its hint (the tool is not installed) stays
    const hint = (e as BoxkitError).hint;
    const exitCode = (e as BoxkitError).exitCode;
    throw new BoxkitError((e as BoxkitError).code ?? 'EDOWN', `down ${which}: not removed: ${e.message.split('\n')[0]}`, { cause: e, ...(hint ? { hint } : {}), ...(exitCode !== undefined ? { exitCode } : {}) });
  }
  if (!opts.dryRun) {
    for (const r of recs) forget(r);
    sweepTmp();
  }
  // last, once the attachments are wholly gone: the sweep may fail (it only warns then)
  await dropUnlistedPublishRules(opts, unpublished);
  return { recs, links };
}

/**
 * Remove the published ports of the attachments `recs` (their entries, and
 * every rule whose comment names one of their addresses, entry or not),
 * running `between` (down: deleting the links) after the rules are gone
 * and before the entries are: when `between` fails, the rules are put back
 * and the entries were never dropped, so the attachments keep their ports.
 * Under the store lock, which `publish` takes too: no port is published to
 * these addresses meanwhile. Reads the nat table (an iptables-save) only when
 * the state lists a port to one of them. A pending record (its netsetup
 * killed before it had an address) has none, and a record whose address
 * another attachment holds now leaves that one's ports alone.
 */
export async function unpublishTo(recs: readonly AttachmentRecord[], opts: ExecOptions = {}, between: () => Promise<void> = async () => {}): Promise<Op[]> {
  const ips = new Set(recs.filter(ownsAddress).map((r) => r.ip.split('/')[0]!));
  const pubsOf = (s: NetState) => Object.values(s.publish).filter((p) => ips.has(p.containerIp));
  if (!ips.size || !pubsOf(readState()).length) {
    await between();
    return [];
  }
  const unpublishIn = async (s: NetState, write: boolean) => {
    const pubs = pubsOf(s);
    // by the address in the rules' comments: every rule to the container, this entry's or not
    const table = await readNat(opts.dryRun);
    const ops = planRemoveTo(table, ips);
    await execute(ops, opts);
    try {
      await between();
    } catch (e) {
      // the state is not written (updateState writes only when this returns): the entries stay, the rules come back
      // in place; when a place is gone (another runtime deleted rules ahead of ours meanwhile: index too big), appended
      const putBack = (at: 'place' | 'end') => execute(restoreOps(ops, table, at), { verbose: opts.verbose });
      const lost = write ? await putBack('place').catch(() => putBack('end')).then(() => undefined, (r: unknown) => r) : undefined;
      if (lost !== undefined && e instanceof Error) {
        // said on the same line: its ports are dead now, while the entries (kept) make the next down remove them all
        const why = (lost instanceof Error ? lost.message : String(lost)).split('\n')[0];
        e.message = `${e.message.split('\n')[0]}; and its published ports' rules, removed first, could not be put back (${why}): down again to finish`;
      }
      throw e;
    }
    for (const p of pubs) delete s.publish[publishKey(p)]; // (a dry run's state is a copy, never written)
    await giveBackLocalnet(s, opts);
    return ops;
  };
  return withNetState(opts, unpublishIn);
}

/**
 * route_localnet given back, and its guard removed, on the bridges no
 * published port needs any more (localnet.ts). After the attachments'
 * ports are gone, and no part of removing them: a failure only warns and
 * keeps the records, so the next `publish rm` or `down` tries again.
 */
async function giveBackLocalnet(s: NetState, opts: ExecOptions): Promise<void> {
  if (!Object.keys(s.localnet).length) return; // (no filter table read when netsetup never turned it on)
  const kept = { ...s.localnet };
  try {
    await execute(planLocalnetOff(s, await readTable('filter', opts.dryRun)), opts);
  } catch (e) {
    if (opts.dryRun) throw e;
    s.localnet = kept;
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    warn('netsetup', `warning: route_localnet was not given back (${why}); the next publish rm or down tries again`);
  }
}

/**
 * Ops undoing `ops` (rule deletions and chain removals made from `t`): the
 * chains again, then each rule inserted at the place it had in `t`, in
 * order, so a hook is back ahead of the rules another runtime (docker, CNI
 * portmap) added after it to PREROUTING or OUTPUT, as it was: appended, its
 * DNAT would come after theirs for the same port and lose. `end`: appended
 * all the same, in order (for when a place no longer exists).
 */
export function restoreOps(ops: readonly Op[], t: NatTable, where: 'place' | 'end' = 'place'): Op[] {
  const { deleted, dropped } = removedBy(ops);
  const chains = dropped.map((c) => nat('-N', c));
  const at = new Map<string, number>();
  const rules: Op[] = [];
  for (const r of t.rules) {
    const pos = (at.get(r.chain) ?? 0) + 1;
    at.set(r.chain, pos);
    if (deleted.has(r.spec.join('\0'))) rules.push(where === 'place' ? nat('-I', r.chain, String(pos), ...r.spec.slice(1)) : nat('-A', ...r.spec));
  }
  return [...chains, ...rules];
}

/** The table as it would be once `ops` (rule deletions, chain removals) were applied: what a dry run shows next. */
function withoutOps(t: NatTable, ops: readonly Op[]): NatTable {
  const { deleted, dropped } = removedBy(ops);
  return { chains: new Set([...t.chains].filter((c) => !dropped.includes(c))), rules: t.rules.filter((r) => !deleted.has(r.spec.join('\0'))) };
}

/** What rule deletions and chain removals take away: each rule as its spec joined by NULs, and the chains. */
function removedBy(ops: readonly Op[]): { deleted: Set<string>; dropped: string[] } {
  const deleted = new Set<string>();
  const dropped: string[] = [];
  for (const o of ops) {
    if (o.kind !== 'ipt') continue;
    if (o.args[0] === '-D') deleted.add(o.args.slice(1).join('\0'));
    else if (o.args[0] === '-X') dropped.push(o.args[1]!);
  }
  return { deleted, dropped };
}

/**
 * Once per state, at the first `down` after an upgrade: remove the publish
 * rules an older netsetup left with no entry (it added the rules before it
 * wrote the entry, and a kill between the two left rules that `down` of
 * their container never saw: it reads the nat table only when the state
 * lists a port to the address). A state of version 2 has none (publish
 * writes its entry first), so this costs a `down` one read of state.json.
 * Under the store lock (no publish is half-way) and the state lock (nor
 * one of an older netsetup, which held that lock while it published).
 * Run after the attachments are forgotten, and a failure (the nat table
 * cannot be read or changed) only warns: it is no part of removing them,
 * the state stays at version 1 and the next `down` tries again. A dry run
 * prints its deletions after `already`'s (the ports of the containers).
 */
async function dropUnlistedPublishRules(opts: ExecOptions, already: readonly Op[]): Promise<void> {
  if (readState().version >= 2) return;
  const listed = (s: NetState) => new Set(Object.values(s.publish).map((p) => p.spec));
  if (opts.dryRun) {
    await execute(planRemoveUnlisted(withoutOps(await readNat(true), already), listed(readState())), opts);
    return;
  }
  try {
    await updateState(async (s) => {
      if (s.version >= 2) return;
      await execute(planRemoveUnlisted(await readNat(), listed(s)), { verbose: opts.verbose });
      s.version = 2;
    });
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    warn('netsetup', `warning: publish rules an older netsetup may have left were not swept (${why}); the next down tries again`);
  }
}

/** Remove one attachment (see detachMany). */
export async function detach(target: DetachTarget, opts: ExecOptions = {}): Promise<Detached[]> {
  return detachMany([target], opts);
}
