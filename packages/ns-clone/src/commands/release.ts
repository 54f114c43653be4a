/** `ns-clone release PID|FIFO`: let a child started with --wait-for-setup go on (or abort it). */
import { releaseSetup } from '../setup-fifo.js';
import { out } from '@boxkit/common/stdio';

export async function releaseCommand(f: { target: string | number; abort?: boolean; json?: boolean }): Promise<number> {
  const fifo = await releaseSetup(String(f.target), { abort: !!f.abort });
  if (f.json) out(JSON.stringify({ released: String(f.target), fifo, aborted: !!f.abort }));
  return 0;
}
