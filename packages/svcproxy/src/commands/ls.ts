import type { CommonArgs } from '@boxkit/common/cli';
import { report, table, warn } from '@boxkit/common/output';
import { endpointsText, listServices } from '../status.js';
import type { TargetArgs } from './args.js';

export async function ls(a: TargetArgs & CommonArgs): Promise<number> {
  const r = await listServices({ prefix: a.prefix, backend: a.backend, warn: (m) => warn('svcproxy', m) });
  report(a, r, () =>
    table([
      ['NAME', 'PROTO', 'VIP', 'NODEPORT', 'AFFINITY', 'KERNEL', 'ENDPOINTS(packets)'],
      ...r.services.map((s) => [
        s.name,
        s.protocol,
        `${s.vip}:${s.port}`,
        s.nodePort ? String(s.nodePort) : '-',
        s.affinitySeconds ? `clientip:${s.affinitySeconds}` : '-',
        s.inKernel ? 'ok' : 'MISSING',
        endpointsText(s),
      ]),
    ]),
  );
  return 0;
}
