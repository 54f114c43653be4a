import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { addService } from '../index.js';
import { toService } from '../spec.js';
import { parseRange } from '../model.js';
import { nodeportRangeOf, type SyncArgs } from './args.js';
import { reportSync, syncOptions } from './report.js';

interface AddArgs extends SyncArgs, CommonArgs {
  name: string;
  vip: string;
  endpoint: string[];
  nodeport?: number;
  affinity?: string;
  protocol: string;
}

export async function add(a: AddArgs): Promise<number> {
  // said in the flag's terms: the service's own check would speak of a vip field and a port field add does not have
  if (!String(a.vip).includes(':')) throw new UsageError(`--vip ${String(a.vip) || "''"}: needs ADDRESS:PORT`, 'for example --vip 10.96.0.10:80');
  const svc = toService(
    {
      name: a.name,
      protocol: a.protocol,
      vip: a.vip,
      endpoints: a.endpoint.flatMap((e) => e.split(',')).filter(Boolean),
      ...(a.nodeport !== undefined ? { nodePort: a.nodeport } : {}),
      ...(a.affinity !== undefined ? { affinity: a.affinity } : {}),
    },
    parseRange(nodeportRangeOf(a)),
  );
  return reportSync(a, await addService(svc, syncOptions(a)), `add ${a.name}`);
}
