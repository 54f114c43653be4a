/**
 * netsetup's entry. `veth` and `down` with ordinary flags (what a runtime
 * calls per container) are parsed by the small table-driven parser in
 * fast.ts and run here; help, the other commands and anything unusual go to
 * the yargs CLI (wiring.ts, a bundle of its own: dist/wiring.cjs). This file
 * is what the startup snapshot holds, so it stays small: a snapshot with
 * yargs in it took longer to deserialize on every start.
 */
import { binEntry, fastOr } from '@boxkit/common/entry';
import { preresolveKoffi } from '@boxkit/native';
import { fastParse, runFast } from './fast.js';
import { warm } from './warm.js';

binEntry(
  __filename,
  fastOr(fastParse, runFast),
  () => {
    warm();
    preresolveKoffi(); // veth/down make netlink requests: find koffi's binary now, not on every start
  },
);
