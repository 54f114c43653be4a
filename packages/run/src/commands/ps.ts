/** `run ps [-a]`: containers with name, pid, status, ip, uptime, command. */
import { out, report, table } from '@boxkit/common';
import { list, liveStatus } from '../state/store.js';
import type { ContainerRecord } from '../state/record.js';

function uptime(since: string | undefined): string {
  if (!since) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

/** docker's words for a time since (its HumanDuration): `5 seconds`, `about a minute`, `3 hours`. */
export function humanSince(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'about a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'about an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} days`;
  if (d < 90) return `${Math.floor(d / 7)} weeks`;
  if (d < 730) return `${Math.floor(d / 30)} months`;
  return `${Math.floor(d / 365)} years`;
}

/** docker ps's STATUS for an ended container: `exited (3) 5 seconds ago` (the code and time when known). */
export function exitedStatus(r: Pick<ContainerRecord, 'exitCode' | 'finished'>, now = Date.now()): string {
  const code = r.exitCode !== undefined ? ` (${r.exitCode})` : '';
  const when = r.finished ? ` ${humanSince(Math.max(0, now - Date.parse(r.finished)))} ago` : '';
  return `exited${code}${when}`;
}

/** docker ps's PORTS: `8080->80/tcp, 127.0.0.1:32768->53/udp`. */
function ports(r: ContainerRecord): string[] {
  return (r.net.publish ?? []).map((p) => `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}->${p.containerPort}/${p.proto}`);
}

export async function ps(a: { all: boolean; json: boolean; quiet: boolean }): Promise<number> {
  // a detached --rm container has nobody waiting for it: once it has exited, the
  // next look removes it (as docker's daemon would have at once)
  const { isGarbage } = await import('./gc.js');
  const { teardownIfOwn } = await import('../container/teardown.js');
  // and a kept one that ended so gives its address and ports back (see settle)
  const { settle } = await import('../container/lifecycle.js');
  for (const r of list()) {
    if (r.detach && r.autoRemove && isGarbage(r)) await teardownIfOwn(r).catch(() => {});
    else await settle(r).catch(() => false);
  }
  const rows = list()
    .map((r) => ({ ...r, status: liveStatus(r) }))
    .filter((r) => a.all || r.status === 'running');
  if (a.quiet) {
    for (const r of rows) out(r.name);
    return 0;
  }
  report(a, rows.map((r) => ({ id: r.id, name: r.name, pid: r.status === 'running' ? r.pid : null, status: r.status,
    ip: r.net.ip ?? null, ports: ports(r), started: r.started ?? null, finished: r.finished ?? null, exitCode: r.exitCode ?? null, command: r.command })), () =>
    table([
      ['NAME', 'ID', 'PID', 'STATUS', 'IP', 'PORTS', 'UPTIME', 'COMMAND'],
      ...rows.map((r) => [
        r.name, r.id, r.status === 'running' ? String(r.pid) : '-',
        r.status === 'exited' ? exitedStatus(r) : r.status,
        r.net.ip ?? '-', ports(r).join(', ') || '-', r.status === 'running' ? uptime(r.started) : '-', r.command.join(' '),
      ]),
    ]));
  return 0;
}
