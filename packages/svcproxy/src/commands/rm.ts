import type { CommonArgs } from '@boxkit/common/cli';
import { removeServices } from '../index.js';
import { checkName } from '../model.js';
import type { SyncArgs } from './args.js';
import { reportSync, syncOptions } from './report.js';

export async function rm(a: SyncArgs & CommonArgs & { names: string[] }): Promise<number> {
  const names = a.names.map(String).map(checkName);
  return reportSync(a, await removeServices(names, syncOptions(a)), `rm ${names.join(' ')}`);
}
