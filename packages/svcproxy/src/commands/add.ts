import type { CommonArgs } from '@boxkit/common/cli';
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
