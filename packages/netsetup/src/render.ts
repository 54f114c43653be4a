/**
 * The `netsetup ...` command lines equivalent to library calls, for `run
 * --dry-run` to print its pipeline as tool commands.
 */
import { shellQuote } from '@boxkit/common/exec';
import type { AttachSpec } from './attach.js';
import type { DetachTarget } from './detach.js';
import { publishString, type PublishSpec } from './publish.js';
import type { RouteSpec } from './route.js';

export function renderBridge(name: string, cidr: string): string {
  return shellQuote(['netsetup', 'bridge', name, cidr]);
}

export function renderAttach(s: AttachSpec): string {
  const a = ['netsetup', 'veth'];
  if (s.netns !== undefined) a.push('--netns', s.netns);
  if (s.pid !== undefined) a.push('--pid', String(s.pid));
  a.push('--bridge', s.bridge, '--ip', s.ip ?? 'auto');
  if (s.gateway) a.push('--gateway', s.gateway);
  if (s.ifname && s.ifname !== 'eth0') a.push('--ifname', s.ifname);
  if (s.hostIfname) a.push('--host-ifname', s.hostIfname);
  if (s.mtu) a.push('--mtu', String(s.mtu));
  if (s.hairpin) a.push('--hairpin');
  return shellQuote(a);
}

export function renderDetach(t: DetachTarget): string {
  const a = ['netsetup', 'down'];
  if (t.netns !== undefined) a.push('--netns', t.netns);
  if (t.pid !== undefined) a.push('--pid', String(t.pid));
  if (t.hostIfname !== undefined) a.push('--host-ifname', t.hostIfname);
  return shellQuote(a);
}

export function renderNat(cidr: string, outIf?: string): string {
  return shellQuote(['netsetup', 'nat', cidr, ...(outIf ? ['--out-if', outIf] : [])]);
}

export function renderPublish(p: PublishSpec, remove = false): string {
  const spec = publishString({ ...p, hostIp: undefined } as PublishSpec);
  return shellQuote(['netsetup', 'publish', ...(remove ? ['rm'] : []), spec, ...(p.hostIp ? ['--host-ip', p.hostIp] : [])]);
}

export function renderRoute(r: RouteSpec, remove = false): string {
  return shellQuote(['netsetup', 'route', remove ? 'rm' : 'add', r.cidr, 'via', r.via, ...(r.dev ? ['--dev', r.dev] : [])]);
}
