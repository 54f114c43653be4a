/**
 * The time `d` as Date#toISOString writes it (2026-11-27T01:09:53.120Z),
 * from the UTC getters: toISOString has V8 find the host's time zone first
 * (/etc/localtime and each link on its way read, ICU's zone loaded: ~0.16 ms
 * of every `netsetup veth` and `run` start), which a UTC stamp never needs.
 */
export function isoTime(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}
