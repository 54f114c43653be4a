/** `run ps [-a]`: containers with name, pid, status, ip, uptime, command. */
import { report, table } from '@boxkit/common';
import { list, liveStatus } from '../state/store.js';
import type { ContainerRecord } from '../state/record.js';

function uptime(since: string | undefined): string {
  if (!since) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

/** docker ps's PORTS: `8080->80/tcp, 127.0.0.1:32768->53/udp`. */
function ports(r: ContainerRecord): string[] {
  return (r.net.publish ?? []).map((p) => `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}->${p.containerPort}/${p.proto}`);
}

export async function ps(a: { all: boolean; json: boolean; quiet: boolean }): Promise<number> {
  // a detached --rm container has nobody waiting for it: once it has exited, the
  // next look removes it (as docker's daemon would have at once)
  const { isGarbage } = await import('./gc.js');
  const { teardown } = await import('../container/teardown.js');
  // and a kept one that ended so gives its address and ports back (see settle)
  const { settle } = await import('../container/lifecycle.js');
  for (const r of list()) {
    if (r.detach && r.autoRemove && isGarbage(r)) await teardown(r).catch(() => {});
    else await settle(r).catch(() => false);
  }
  const rows = list()
    .map((r) => ({ ...r, status: liveStatus(r) }))
    .filter((r) => a.all || r.status === 'running');
  if (a.quiet) {
    for (const r of rows) process.stdout.write(`${r.name}\n`);
    return 0;
  }
  report(a, rows.map((r) => ({ id: r.id, name: r.name, pid: r.status === 'running' ? r.pid : null, status: r.status,
    ip: r.net.ip ?? null, ports: ports(r), started: r.started ?? null, exitCode: r.exitCode ?? null, command: r.command })), () =>
    table([
      ['NAME', 'ID', 'PID', 'STATUS', 'IP', 'PORTS', 'UPTIME', 'COMMAND'],
      ...rows.map((r) => [
        r.name, r.id, r.status === 'running' ? String(r.pid) : '-',
        r.status === 'exited' && r.exitCode !== undefined ? `exited (${r.exitCode})` : r.status,
        r.net.ip ?? '-', ports(r).join(', ') || '-', r.status === 'running' ? uptime(r.started) : '-', r.command.join(' '),
      ]),
    ]));
  return 0;
}
