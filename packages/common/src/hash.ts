/**
 * A small deterministic hash for derived names (netsetup's host veth and
 * chain names, cg's marker of a group being made). Not for security:
 * node:crypto is not in the start-up snapshots and costs ~8-20 ms to load,
 * more than the rest of a `netsetup veth` call's own work.
 */

/** 64 bits of FNV-1a (two 32-bit lanes with different offsets) as 16 hex digits. */
export function hashHex(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
    b = (b ^ (a >>> 15)) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
