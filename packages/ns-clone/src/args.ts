/**
 * From the default command's flags to a ContainerSpec plus how to run it.
 * All validation that needs no system call happens here, before anything
 * is created.
 */
import { isAbsolute, resolve } from 'node:path';
import { isatty } from 'node:tty'; // not process.stdin.isTTY: that builds the stdin stream (ms)
import { UsageError } from '@boxkit/common/errors';
import { realPathOfPrefix } from '@boxkit/common/dirs';
import { procStat } from '@boxkit/common/proc';
import { validateSeconds } from '@boxkit/common/validate';
import type { NamespaceKind } from '@boxkit/native';
import type { ContainerSpec, NsPath } from './spec.js';
import { NS_FLAGS, NS_ORDER } from './spec.js';
import { mapsFromFlags } from './idmap.js';

export interface RunFlags {
  mount?: boolean; uts?: boolean; ipc?: boolean; pid?: boolean; net?: boolean; user?: boolean; cgroup?: boolean; time?: boolean;
  all?: boolean;
  persist?: string[];
  netns?: string;
  hostname?: string;
  root?: string;
  mountProc?: boolean;
  readonlyRoot?: boolean;
  mapRootUser?: boolean;
  mapCurrentUser?: boolean;
  mapUser?: number;
  mapGroup?: number;
  mapUsers?: (string | number)[];
  mapGroups?: (string | number)[];
  uid?: number;
  gid?: number;
  init?: boolean;
  stopTimeout?: number;
  detach?: boolean;
  waitForSetup?: boolean;
  setupFifo?: string;
  setenv?: (string | number)[];
  envClear?: boolean;
  wd?: string;
  /** --no-new-privs as this parser reads it; yargs hands over newPrivs: false for the same flag */
  noNewPrivs?: boolean;
  newPrivs?: boolean;
  /** unshare's -f: accepted, nothing to do (CMD is always a child) */
  fork?: boolean;
  dryRun?: boolean;
  json?: boolean;
  verbose?: boolean;
  '--'?: (string | number)[];
}

export interface RunRequest {
  spec: ContainerSpec;
  /** No CMD was given: the shell is ns-clone's choice (checked to exist in the root). */
  defaultShell: boolean;
  detach: boolean;
  stopTimeoutS: number;
  waitForSetup: boolean;
}

const ALL: NamespaceKind[] = ['mnt', 'uts', 'ipc', 'pid', 'net', 'cgroup'];
// HOST_NAME_MAX: the kernel takes up to 64 bytes (sethostname(2))
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;

function id(kind: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw new UsageError(`invalid ${kind} '${v}'`);
  return v;
}

function parsePersist(items: (string | number)[]): NsPath[] {
  const out = items.map((item) => {
    const [name, ...rest] = String(item).split('=');
    const kind = NS_FLAGS[name ?? ''];
    const path = rest.join('=');
    if (!kind) throw new UsageError(`unknown namespace '${name}' in --persist ${item}`, `one of: ${Object.keys(NS_FLAGS).join(', ')}`);
    if (!path) throw new UsageError(`--${name}=PATH (--persist ${item}): the path is empty`, `give a path, or --${name} alone for a namespace that is not kept`);
    return { kind, path: resolve(path) };
  });
  // (the second bind was refused as 'already bound' after the first was made, and undone)
  const flag = (k: NamespaceKind) => (k === 'mnt' ? 'mount' : k);
  // (as the kernel names them: one file reached through a symlink is the same path)
  const real = out.map((p) => realPathOfPrefix(p.path));
  for (const [i, p] of out.entries()) {
    const first = real.indexOf(real[i]!);
    if (first < i) throw new UsageError(`--${flag(p.kind)}=${p.path}: the path is given twice (also for --${flag(out[first]!.kind)})`, 'one namespace per path');
  }
  return out;
}

/** The netns to join: a bare name is looked up in /var/run/netns, as `ip netns` names them. */
export function netnsPath(value: string): string {
  if (value.includes('/')) return resolve(value);
  if (value === '.' || value === '..' || !value) throw new UsageError(`invalid netns name '${value}'`);
  return `/var/run/netns/${value}`;
}

function parseEnv(items: (string | number)[], base: Record<string, string>): Record<string, string> {
  const env = { ...base };
  for (const item of items) {
    const s = String(item);
    const eq = s.indexOf('=');
    if (eq < 1) throw new UsageError(`invalid --setenv '${s}'`, 'use NAME=VALUE');
    env[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return env;
}

/**
 * Is stdin a terminal whose foreground process group is ours? Then the
 * container becomes the foreground group (Ctrl-C reaches it, not us); a
 * backgrounded `ns-clone ... &` must not take the terminal.
 */
function ownsTerminal(): boolean {
  if (!isatty(0)) return false;
  const st = procStat('self');
  return st !== undefined && st.pgrp === st.tpgid;
}

export function requestFromFlags(f: RunFlags, defaultShell = process.env.SHELL || '/bin/sh'): RunRequest {
  const kinds = new Set<NamespaceKind>();
  for (const [flag, kind] of Object.entries(NS_FLAGS)) if (f[flag as keyof RunFlags]) kinds.add(kind);
  if (f.all) for (const k of ALL) kinds.add(k);
  const maps = mapsFromFlags({
    mapRootUser: f.mapRootUser, mapCurrentUser: f.mapCurrentUser, mapUser: id('--map-user', f.mapUser), mapGroup: id('--map-group', f.mapGroup),
    mapUsers: f.mapUsers?.map(String), mapGroups: f.mapGroups?.map(String),
  }, process.geteuid!(), process.getegid!());
  if (maps.uidMap || maps.gidMap) kinds.add('user');
  if (f.hostname !== undefined) {
    if (!HOSTNAME.test(f.hostname)) throw new UsageError(`invalid hostname '${f.hostname}'`, 'use 1-64 letters, digits, "." and "-"');
    kinds.add('uts');
  }
  // an empty one was resolved as the current directory: --root '' pivoted into it (and made proc/ and dev/ there)
  for (const [flag, v] of [['--root', f.root], ['--setup-fifo', f.setupFifo], ['--wd', f.wd]] as const) {
    if (v === '') throw new UsageError(`${flag} is empty`, flag === '--setup-fifo' ? 'give a path for the fifo, or leave --setup-fifo out for one in the state dir' : `give ${flag === '--wd' ? 'an absolute path' : 'a directory'}`);
  }
  if (f.root !== undefined) kinds.add('mnt');
  if (f.init) kinds.add('pid');
  // as unshare's --mount-proc: a /proc of its own needs a mount namespace of its own
  if (f.mountProc) kinds.add('mnt');
  const persist = parsePersist(f.persist ?? []);
  for (const p of persist) kinds.add(p.kind);
  if (f.netns !== undefined) {
    // the child would make a network namespace, persist it, then leave it for the joined one
    if (f.net || persist.some((p) => p.kind === 'net')) throw new UsageError('--netns joins a network namespace: --net (a new one) cannot go with it');
    kinds.delete('net'); // --all --netns: the others new, the network joined
  }
  const argv = (f['--'] ?? []).map(String);
  const baseEnv = f.envClear ? {} : (Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)));
  const env = parseEnv(f.setenv ?? [], baseEnv);
  const stop = validateSeconds('--stop-timeout', f.stopTimeout ?? 10);
  if (f.wd !== undefined && !isAbsolute(f.wd)) throw new UsageError(`--wd ${f.wd}: must be an absolute path`);
  if (f.setupFifo !== undefined && !f.waitForSetup) throw new UsageError('--setup-fifo needs --wait-for-setup');
  const namespaces = NS_ORDER.filter((k) => kinds.has(k));
  const mountProc = f.mountProc ?? (kinds.has('pid') && kinds.has('mnt'));
  if (f.readonlyRoot && !kinds.has('mnt')) throw new UsageError('--readonly-root needs --mount or --root');
  const spec: ContainerSpec = {
    namespaces,
    argv: argv.length ? argv : [f.root ? '/bin/sh' : defaultShell],
    env,
    ...(f.hostname !== undefined ? { hostname: f.hostname } : {}),
    ...(f.root !== undefined ? { root: resolve(f.root) } : {}),
    ...(mountProc ? { mountProc } : {}),
    ...(f.readonlyRoot ? { readonlyRoot: true } : {}),
    ...maps,
    ...(f.netns !== undefined ? { join: [{ kind: 'net' as const, path: netnsPath(f.netns) }] } : {}),
    ...(persist.length ? { persist } : {}),
    ...(f.init ? { init: true } : {}),
    ...(f.wd !== undefined ? { cwd: f.wd } : {}),
    ...(f.uid !== undefined ? { uid: id('--uid', f.uid)! } : {}),
    ...(f.gid !== undefined ? { gid: id('--gid', f.gid)! } : {}),
    ...(f.noNewPrivs || f.newPrivs === false ? { noNewPrivs: true } : {}),
    ...(f.detach ? { nullStdio: true } : { foreground: ownsTerminal() }),
  };
  // none asked for: CMD runs in ours, as with a bare unshare
  return { spec, defaultShell: !argv.length, detach: !!f.detach, stopTimeoutS: stop, waitForSetup: !!f.waitForSetup };
}
