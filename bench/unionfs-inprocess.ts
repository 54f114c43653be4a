/**
 * unionfs as `run` uses it: the library in-process, no Node start per step.
 * Mounts and unmounts the bench's 3-layer union N times and prints the
 * median milliseconds per mount+umount cycle (bundled by bench/unionfs.sh).
 */
import { mountUnion, umountUnion } from '../packages/unionfs/src/index.js';

const [work, n = '50'] = process.argv.slice(2);
const opts = { lowers: ['l1', 'l2', 'l3'].map((l) => `${work}/${l}`), upper: `${work}/up`, mountpoint: `${work}/mnt` };
const times: number[] = [];
for (let i = 0; i < Number(n) + 3; i++) {
  const t = process.hrtime.bigint();
  await mountUnion(opts);
  umountUnion(opts.mountpoint);
  if (i >= 3) times.push(Number(process.hrtime.bigint() - t) / 1e6); // 3 warm-up cycles
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ cycles: times.length, median: times[times.length >> 1], min: times[0] }));
