import type { CommonArgs } from '@boxkit/common/cli';
import { flushServices } from '../index.js';
import type { TargetArgs } from './args.js';
import { reportSync, syncOptions } from './report.js';

export async function flush(a: TargetArgs & CommonArgs & { explain: boolean }): Promise<number> {
  return reportSync(a, await flushServices(syncOptions(a)), 'flush');
}
