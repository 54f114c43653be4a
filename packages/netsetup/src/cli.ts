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
  // a number flag that is not one (--mtu abc) goes to yargs, which names what was typed
  fastOr((argv) => {
    const p = fastParse(argv);
    return p && !Object.values(p.args).flat().some((v) => Number.isNaN(v)) ? p : undefined;
  }, runFast),
  () => {
    warm();
    preresolveKoffi(); // veth/down make netlink requests: find koffi's binary now, not on every start
  },
);
