/**
 * Reading the kernel's current network state (links, addresses, named
 * namespaces) through `ip -j`, so plans only contain what is missing.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '@boxkit/common/errors';
import { runLite as run } from '@boxkit/common/exec';
import { validateIfName, validateName, validatePid } from '@boxkit/common/validate';
import type { NsRef } from './ops.js';

export const NETNS_DIR = '/run/netns';
const SYS_NET = '/sys/class/net';

export interface LinkInfo {
  ifname: string;
  kind?: string;
  master?: string;
  up: boolean;
  mtu: number;
}

interface IpLink {
  ifname: string;
  master?: string;
  flags?: string[];
  mtu: number;
  linkinfo?: { info_kind?: string };
}

/** All links of the current namespace, by name. */
export async function listLinks(): Promise<Map<string, LinkInfo>> {
  const { stdout } = await run('ip', ['-d', '-j', 'link', 'show']);
  const out = new Map<string, LinkInfo>();
  for (const l of JSON.parse(stdout || '[]') as IpLink[]) {
    out.set(l.ifname, {
      ifname: l.ifname,
      ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
      ...(l.master ? { master: l.master } : {}),
      up: (l.flags ?? []).includes('UP'),
      mtu: l.mtu,
    });
  }
  return out;
}

/**
 * Names of the links in this process's network namespace, from
 * /proc/self/net/dev: a file read instead of an `ip` process on the hot path
 * (and unlike /sys/class/net, it follows the namespace of the reader, not of
 * whoever mounted sysfs).
 */
export function linkNames(): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i > 0) out.add(line.slice(0, i).trim());
  }
  return out;
}

/**
 * The link group (`ip -d link`'s "group", 0 "default") of each of `names`
 * that exists, from /sys/class/net/NAME/netdev_group: ~15 us a link here,
 * where an RTM_GETLINK for it costs ~0.3 ms (a whole down of 100 links
 * ~50 ms). Undefined when the sysfs on /sys is not this namespace's (it
 * shows the one of whoever mounted it: after a bare `nsenter -n`, the
 * host's): its links are not the ones `here` (linkNames()) lists.
 */
export function sysfsLinkGroups(names: readonly string[], here: ReadonlySet<string>): Map<string, number> | undefined {
  if (!sysfsIsHere(here)) return undefined;
  const out = new Map<string, number>();
  for (const n of names) {
    try {
      out.set(n, Number(readFileSync(`${SYS_NET}/${n}/netdev_group`, 'utf8')));
    } catch {
      // gone meanwhile: no group to keep
    }
  }
  return out;
}

/** Whether the sysfs on /sys shows this namespace's links (`here`: linkNames()), not those of whoever mounted it. */
export function sysfsIsHere(here: ReadonlySet<string>): boolean {
  let listed: string[];
  try {
    listed = readdirSync(SYS_NET).filter((n) => n !== 'bonding_masters'); // (the bonding driver's control file)
  } catch {
    return false;
  }
  return listed.length === here.size && listed.every((n) => here.has(n));
}

/**
 * The bridge (master) `name` is a port of, from the link /sys/class/net/NAME/master:
 * a readlink, where `ip -d -j link show` (listLinks) is a process (~5 ms, more with
 * many links). Undefined when it has none (or is gone). Only when sysfsIsHere: the
 * sysfs on /sys may be another namespace's (sysfsLinkGroups says why).
 */
export function sysfsMaster(name: string): string | undefined {
  try {
    return basename(readlinkSync(`${SYS_NET}/${name}/master`));
  } catch {
    return undefined;
  }
}

/** IPv4 addresses (with prefix) of one link, or undefined when the link is missing. */
export async function linkAddrs(ifname: string): Promise<string[] | undefined> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname], { okCodes: [1] });
  if (r.exitCode !== 0) return undefined;
  const parsed = JSON.parse(r.stdout || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  return (parsed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

export function netnsPath(ns: NsRef): string {
  return 'netns' in ns ? `${NETNS_DIR}/${ns.netns}` : `/proc/${ns.pid}/ns/net`;
}

let ownNetns: { dev: number; ino: number } | undefined;
/** netsetup's own network namespace file: its device is nsfs's, its inode the host's namespace (as far as a container is concerned) */
const own = () => (ownNetns ??= statSync('/proc/self/ns/net'));

/** The nsfs inode of netsetup's own network namespace. */
export function ownNetnsInode(): number {
  return own().ino;
}

/**
 * The nsfs inode of a namespace, or a usage error when it does not exist.
 * A file in /run/netns that is not a mounted namespace (left over) counts
 * as unknown: its device is not nsfs.
 */
export function nsInode(ns: NsRef): number {
  const path = netnsPath(ns);
  let st;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  if (!st || st.dev !== own().dev) {
    const what = 'netns' in ns ? `unknown network namespace '${ns.netns}'` : `no process ${ns.pid}`;
    throw new UsageError(what, 'netns' in ns ? `create it first: netsetup netns add ${ns.netns}` : 'pass the PID of a running process');
  }
  return st.ino;
}

/**
 * The name of a link netsetup creates: an interface name without '%'. The
 * kernel reads a name with '%' as a template (`ip link add bk%d` makes
 * bk0), so the link would not carry the name netsetup records and looks
 * up: the next command fails half-way or `down` cannot find it.
 */
export function newIfName(name: string): string {
  validateIfName(name);
  if (name.includes('%')) throw new UsageError(`invalid interface name '${name}'`, "no '%' (the kernel would choose the name: eth%d becomes eth0)");
  return name;
}

/** Validate a --netns/--pid pair (exactly one) into an NsRef. */
export function nsRef(netns?: string, pid?: number | string): NsRef {
  if (netns !== undefined && pid !== undefined) throw new UsageError('give --netns or --pid, not both');
  if (netns !== undefined) return { netns: validateName('netns', String(netns)) };
  if (pid !== undefined) return { pid: validatePid(pid) };
  throw new UsageError('a target is required: --netns NAME or --pid PID');
}

export function namedNetns(): string[] {
  return existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).sort() : [];
}

export function nsLabel(ns: NsRef): string {
  return 'netns' in ns ? ns.netns : `pid ${ns.pid}`;
}
