/**
 * The container as the user asked for it: flags parsed and checked into
 * plain data before anything is touched (bad input exits 2, changes nothing).
 */
import { UsageError, validateIfName } from '@boxkit/common';
import { parseMemoryLimit } from '@boxkit/cg';

export type NetMode = { mode: 'none' } | { mode: 'host' } | { mode: 'bridge'; bridge: string };

export interface Publish {
  /** 0: any free host port, picked at start (docker's `-p PORT`) */
  hostPort: number;
  /** only traffic to this host address (docker's `-p IP:HOSTPORT:PORT`); absent: every address */
  hostIp?: string;
  containerPort: number;
  proto: 'tcp' | 'udp';
}

export interface Limits {
  cpuQuota?: number;
  cpuPeriod?: number;
  /** bytes, or 'max' (no limit) as cg takes it */
  memory?: number | 'max';
  pids?: number;
}

import type { Volume } from './volumes.js';

export interface ContainerSpec {
  name?: string;
  rootfs?: string;
  image?: string;
  layers: string[];
  /** --volume: host paths bound into the container */
  volumes: Volume[];
  hostname?: string;
  net: NetMode;
  ip?: string; // CIDR or 'auto'
  publish: Publish[];
  /**
   * Every publish's host address was found to be this host's (toSpec, with the start's other
   * checks): setupNetwork does not ask again. Absent (a spec made by hand): netsetup asks.
   */
  hostIpsChecked?: boolean;
  limits: Limits;
  env: Record<string, string>;
  workdir: string;
  user?: string;
  readOnly: boolean;
  cgroupParent: string;
  detach: boolean;
  autoRemove: boolean;
  /** -i: the container reads this process's stdin (else /dev/null, as docker run) */
  interactive: boolean;
  tty: boolean;
  init: boolean;
  privileged: boolean;
  stopTimeout: number;
  command: string[];
}

/** Where the container's own /proc, /dev and /sys are mounted, from the host's side: made in its layer when the image lacks them. */
export const MOUNT_POINTS = ['proc', 'dev', 'sys'];

export const DEFAULT_BRIDGE = 'boxkit0';

/**
 * --memory: `32M`, `1g`, `512k`, `1048576` -> bytes; `max` or -1 -> no limit.
 * cg's reading, so both tools refuse the same values with the same words:
 * 0 (docker's "no limit", the kernel's literal 0) and less than a page.
 */
export function parseSize(s: string): number | 'max' {
  return parseMemoryLimit('memory limit', s);
}

export function parsePublish(s: string): Publish {
  // docker's forms: PORT, HOSTPORT:PORT, IP:HOSTPORT:PORT, IP::PORT (any free port on IP), each with /tcp or /udp
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):(\d*):|(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(s);
  const port = (v: string) => {
    const n = Number(v);
    if (!(n >= 1 && n <= 65535)) throw new UsageError(`invalid port '${v}' in --publish ${s}`);
    return n;
  };
  const usage = 'use [IP:][HOSTPORT:]PORT[/tcp|udp], e.g. 8080:80, 127.0.0.1:8080:80, or PORT for any free host port';
  if (!m) throw new UsageError(`invalid --publish '${s}'`, usage);
  if (m[1]?.split('.').some((o) => Number(o) > 255)) throw new UsageError(`invalid host address '${m[1]}' in --publish ${s}`, usage);
  const containerPort = port(m[4]!);
  const hostPort = m[2] || m[3];
  // `-p 80` alone (or IP::80): as docker, a free host port from the ephemeral range, not the host's own port 80
  // (written one way: 127.0.0.01 is 127.0.0.1, for the same-port check and netsetup's rules alike)
  const ip = m[1]?.split('.').map(Number).join('.');
  const hostIp = ip && ip !== '0.0.0.0' ? { hostIp: ip } : {};
  return { hostPort: hostPort ? port(hostPort) : 0, containerPort, proto: (m[5] as 'tcp' | 'udp') ?? 'tcp', ...hostIp };
}

export function parseNet(s: string): NetMode {
  if (s === 'none' || s === 'host') return { mode: s };
  const m = /^bridge(?::(.+))?$/.exec(s);
  if (!m) throw new UsageError(`invalid --net '${s}'`, 'use none, host, bridge or bridge:NAME');
  return { mode: 'bridge', bridge: validateIfName(m[1] ?? DEFAULT_BRIDGE) };
}

export function parseEnv(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of list) {
    const i = e.indexOf('=');
    if (i <= 0) {
      // docker's `-e NAME` passes the caller's value through
      if (i < 0 && /^\w+$/.test(e) && process.env[e] !== undefined) env[e] = process.env[e]!;
      else if (i < 0 && /^\w+$/.test(e)) continue;
      else throw new UsageError(`invalid --env '${e}'`, 'use NAME=VALUE');
    } else env[e.slice(0, i)] = e.slice(i + 1);
  }
  return env;
}

export function parseCidr(s: string): { addr: string; prefix: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32 || Number(m[5]) < 1) {
    throw new UsageError(`invalid address '${s}'`, 'use an IPv4 CIDR such as 10.10.15.2/24, or auto');
  }
  return { addr: m.slice(1, 5).join('.'), prefix: Number(m[5]) };
}

export function checkHostname(h: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9-.]{0,62})$/.test(h)) throw new UsageError(`invalid hostname '${h}'`);
  return h;
}

/** The environment a container starts with (docker's defaults, then --env). */
export function containerEnv(spec: Pick<ContainerSpec, 'env' | 'tty'>, hostname: string, home = '/root'): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOSTNAME: hostname,
    HOME: home,
    ...(spec.tty ? { TERM: process.env.TERM ?? 'xterm' } : {}),
    ...spec.env,
  };
}
