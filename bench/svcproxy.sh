#!/usr/bin/env bash
# svcproxy bench: `svcproxy apply` of 1k and 10k services x 5 endpoints and
# one-service updates, on iptables-nft and iptables-legacy, side by side with
# (a) a raw iptables-restore of a kube-proxy-style ruleset of the same size
# (generator shape: ../shared/notes/scale-anchors.md) and (b) a raw
# iptables-restore of exactly the text svcproxy writes (its own overhead).
#
# Run it inside the sandbox host (it changes iptables):
#   tests/harness/sandbox.sh bench/svcproxy.sh [Ns...]      default Ns: 1000 10000
#   PAIRED=12 tests/harness/sandbox.sh nice -n -19 bench/svcproxy.sh 1000
#     only svcproxy's own overhead, interleaved with the raw restore of its text (below)
# Never runs the 25-minute path (iptables-nft-restore --noflush of 60k chains):
# the raw nft anchor at 10k uses the measured workaround (a leading -Z).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BOXKIT_SANDBOX:-}" = 1 ] && [ -n "${BOXKIT_OUTER_NETNS:-}" ] && [ "$(readlink /proc/self/ns/net)" != "$BOXKIT_OUTER_NETNS" ] \
  || { echo "svcproxy bench: run me through tests/harness/sandbox.sh (I change iptables)" >&2; exit 125; }
unset NODE_EXTRA_CA_CERTS
NS=("${@:-1000 10000}"); read -r -a NS <<<"${NS[*]}"
W=$(mktemp -d /tmp/boxkit-bench-svcproxy.XXXXXX); trap 'rm -rf "$W"' EXIT
export BOXKIT_STATE_DIR=$W/state
SP=("${SVCPROXY_BIN:-packages/svcproxy/bin/svcproxy.cjs}")   # as users run it: sh stub -> node with the V8 startup snapshot (SVCPROXY_BIN: another build, for A/B)
UPD_RUNS=${UPD_RUNS:-3}

# --- generators (one Node process writes every payload) ---------------------
node - "$W" "${NS[@]}" <<'JS'
const fs = require('fs'), crypto = require('crypto');
const [dir, ...ns] = process.argv.slice(2);
const PORTS = [80, 443, 8080, 53, 9090, 6379, 5432, 3306];
const ip = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const vip = (i) => ip(((198 << 24) | (18 << 16)) + i + 1);
const ep = (i, j, gen) => { const k = ((i * 5 + j + 1) + 7919 * gen) % 65534 + 1; return `10.10.${k >> 8}.${k & 255}`; };
const b32 = (s) => { const b = crypto.createHash('sha256').update(s).digest(); let o = '', acc = 0, bits = 0; for (const x of b) { acc = (acc << 8) | x; bits += 8; while (bits >= 5 && o.length < 16) { o += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[(acc >>> (bits - 5)) & 31]; bits -= 5; } acc &= 0xff; } return o; };
const eps = (i, g) => [0, 1, 2, 3, 4].map((j) => ep(i, j, g));
// which generation service i is at: only service 42 moves between update generations
const genOf = (i, g) => (i === 42 ? g : 0);
for (const N of ns.map(Number)) {
  for (const g of [0, 1, 2, 3]) {
    const services = [];
    for (let i = 0; i < N; i++) services.push({ name: `ns${i % 100}/svc-${i}`, vip: `${vip(i)}:${PORTS[i % 8]}`, endpoints: eps(i, genOf(i, g)).map((e) => `${e}:8080`) });
    fs.writeFileSync(`${dir}/svc-${N}-g${g}.json`, JSON.stringify({ services }));
  }
  // kube-proxy-style raw anchor
  const name = (i) => `ns${i % 100}/svc-${i}:p${PORTS[i % 8]}`;
  const svcChain = (i) => `KUBE-SVC-${b32(name(i) + 'tcp')}`;
  const sepChain = (i, e) => `KUBE-SEP-${b32(name(i) + 'tcp' + e)}`;
  const entry = (i) => `-A KUBE-SERVICES -d ${vip(i)}/32 -p tcp -m comment --comment "${name(i)} cluster IP" -m tcp --dport ${PORTS[i % 8]} -j ${svcChain(i)}`;
  const svcBody = (i, g, decl, rules) => {
    const e = eps(i, g);
    decl.push(`:${svcChain(i)} - [0:0]`, ...e.map((x) => `:${sepChain(i, x)} - [0:0]`));
    e.forEach((x, j) => rules.push(`-A ${svcChain(i)} -m comment --comment "${name(i)} -> ${x}:8080"${j < 4 ? ` -m statistic --mode random --probability ${(1 / (5 - j)).toFixed(10)}` : ''} -j ${sepChain(i, x)}`));
    e.forEach((x) => rules.push(`-A ${sepChain(i, x)} -s ${x}/32 -m comment --comment "${name(i)}" -j KUBE-MARK-MASQ`, `-A ${sepChain(i, x)} -p tcp -m comment --comment "${name(i)}" -m tcp -j DNAT --to-destination ${x}:8080`));
  };
  for (const z of [false, true]) {
    const decl = [':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-MARK-MASQ - [0:0]'], rules = [];
    rules.push('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000', '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN', '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000', '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
    for (let i = 0; i < N; i++) { rules.push(entry(i)); svcBody(i, 0, decl, rules); }
    fs.writeFileSync(`${dir}/kp-full-${N}${z ? '-Z' : ''}.txt`, ['*nat', ...(z ? ['-Z'] : []), ...decl, ...rules, 'COMMIT', ''].join('\n'));
  }
  for (const g of [1, 2, 3]) {
    const decl = [':KUBE-SERVICES - [0:0]'], rules = [];
    for (let i = 0; i < N; i++) rules.push(entry(i));
    svcBody(42, g, decl, rules);
    const stale = eps(42, g - 1).map((x) => sepChain(42, x));
    fs.writeFileSync(`${dir}/kp-upd-${N}-g${g}.txt`, ['*nat', ...decl, ...stale.map((c) => `:${c} - [0:0]`), ...rules, ...stale.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n'));
  }
}
fs.writeFileSync(`${dir}/kp-hooks.txt`, ['*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-MARK-MASQ - [0:0]',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING', 'COMMIT', ''].join('\n'));
JS

# --- timing helpers ----------------------------------------------------------
# t CMD... / tin FILE CMD...: run once, print "wall cpu" in seconds (cpu = user+sys of the
# process and the children it waited for: iptables-save/-restore). On a shared, loaded
# machine cpu is the steadier figure; wall is what a user waits.
t() { /usr/bin/time -f '%e %U %S' -o "$W/time" "$@" >/dev/null 2>>"$W/stderr" || { echo "bench: failed: $*" >&2; tail -3 "$W/stderr" >&2; exit 1; }; awk '{printf "%.3f %.3f", $1, $2+$3}' "$W/time"; }
tin() { local f=$1; shift; /usr/bin/time -f '%e %U %S' -o "$W/time" "$@" <"$f" >/dev/null 2>>"$W/stderr" || { echo "bench: failed: $* < $f" >&2; tail -3 "$W/stderr" >&2; exit 1; }; awk '{printf "%.3f %.3f", $1, $2+$3}' "$W/time"; }
# median of "wall cpu" pairs (each column on its own)
median() {
  local xs; xs=$(tr ' ' '\n' | grep .)
  local mid='{a[NR]=$1} END{printf "%.3f", a[int((NR+1)/2)]}'
  echo "$(echo "$xs" | awk 'NR%2==1' | sort -n | awk "$mid") $(echo "$xs" | awk 'NR%2==0' | sort -n | awk "$mid")"
}
clear_nat() { iptables-"$1" -t nat -F; iptables-"$1" -t nat -X; iptables-"$1" -t filter -F; iptables-"$1" -t filter -X; }

# --- PAIRED=ROUNDS: svcproxy's own overhead only, interleaved ------------------
# `svcproxy apply` of N services x 5 endpoints onto an empty table against a raw
# iptables-restore --noflush of exactly the text it writes (its --dry-run), each
# run after a flush, the commands taking turns round by round (bench/lib.sh
# paired_table: on a shared host the load drifts, neighbours see the same load).
# SVCPROXY_BASE_BIN adds another build of the bin (A/B in the same rounds).
if [ -n "${PAIRED:-}" ]; then
  # shellcheck source=bench/lib.sh
  source bench/lib.sh
  for b in nft legacy; do
    for N in "${NS[@]}"; do
      flush_b() { "${SP[@]}" flush --backend "$b" >/dev/null 2>&1; }
      flush_b
      "${SP[@]}" apply --dry-run --backend "$b" "$W/svc-$N-g0.json" >"$W/sp-text.txt" 2>>"$W/stderr"
      raw() { "iptables-$b-restore" --noflush "$W/sp-text.txt"; }
      sp() { "${SP[@]}" apply --backend "$b" "$W/svc-$N-g0.json"; }
      base() { "$SVCPROXY_BASE_BIN" apply --backend "$b" "$W/svc-$N-g0.json"; }
      args=("raw restore of svcproxy's text::raw" "svcproxy apply::sp")
      [ -n "${SVCPROXY_BASE_BIN:-}" ] && args+=("svcproxy apply, $SVCPROXY_BASE_BIN::base")
      # legacy: the same build with iptables-legacy-restore as the restore, instead of its own in-process one
      spawned() { BOXKIT_LEGACY_RESTORE=spawn "${SP[@]}" apply --backend "$b" "$W/svc-$N-g0.json"; }
      [ "$b" = legacy ] && args+=("svcproxy apply, BOXKIT_LEGACY_RESTORE=spawn::spawned")
      args+=("node -e 0::node -e 0")
      echo "### $b, $N services x 5 endpoints, full apply onto an empty table ($(wc -l <"$W/sp-text.txt") lines; load $(cut -d' ' -f1-3 /proc/loadavg))"
      paired_table "$PAIRED" flush_b "${args[@]}"
      echo
      echo "Where \`svcproxy apply\` spends its time (BOXKIT_PHASES=1, ${PHASE_RUNS:-10} runs, each after a flush; ms since the process"
      echo "started): \`sync\` holds the lock; \`spawned\`: iptables-save and iptables-restore started (legacy: iptables-save, and the"
      echo "restore in svcproxy's process took the xtables lock and read nat); \`saved\`: the kernel's chains read; \`written\`: every"
      echo "chain rendered, compared and fed to the restore; \`prepared\` (legacy): both tables edited; \`restored\`: it committed."
      echo
      PHASE_RUNS=${PHASE_RUNS:-10} phases_table "svcproxy apply, $b, $N" flush_b sp
      flush_b
    done
  done
  exit 0
fi

echo "# svcproxy bench ($(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), $(iptables -V), node $(node -v))"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %6s | %-32s %15s | %s\n' backend N measurement 'wall s  cpu s' note
row() { printf '%-7s %6s | %-32s %15s | %s\n' "$@"; }

for b in nft legacy; do
  for N in "${NS[@]}"; do
    R="iptables-$b-restore"
    # raw kube-proxy-style anchor (nft at 10k: the -Z variant; the plain --noflush load takes ~25 min)
    clear_nat "$b"; $R --noflush "$W/kp-hooks.txt"
    full="$W/kp-full-$N.txt"; note="--noflush"
    if [ "$b" = nft ] && [ "$N" -gt 2000 ]; then full="$W/kp-full-$N-Z.txt"; note="--noflush with leading -Z (plain: ~1500 s, notes)"; fi
    row "$b" "$N" "raw kube-proxy full load" "$(tin "$full" $R --noflush)" "$note"
    u=""; for g in 1 2 3; do u+="$(tin "$W/kp-upd-$N-g$g.txt" $R --noflush) "; done
    row "$b" "$N" "raw kube-proxy 1-svc update" "$(echo "$u" | median)" "median of 3; rewrites the N-rule entry chain"
    clear_nat "$b"

    # svcproxy
    row "$b" "$N" "svcproxy apply (full, empty)" "$(t "${SP[@]}" apply --backend "$b" "$W/svc-$N-g0.json")" "reconcile: iptables-save + diff + restore"
    row "$b" "$N" "svcproxy apply again (no-op)" "$(t "${SP[@]}" apply --backend "$b" "$W/svc-$N-g0.json")" "reads the kernel, writes nothing"
    runs=3; [ "$N" -gt 2000 ] && runs=1   # a reconcile at 10k reads 220k lines: once is enough
    u=""; for g in $(seq 1 $runs); do u+="$(t "${SP[@]}" apply --backend "$b" "$W/svc-$N-g$g.json") "; done
    row "$b" "$N" "svcproxy apply 1-svc update" "$(echo "$u" | median)" "median of $runs; reconcile (reads iptables-save)"
    u=""; for g in 0 1 2; do u+="$(t "${SP[@]}" apply --partial --backend "$b" "$W/svc-$N-g$g.json") "; done
    row "$b" "$N" "svcproxy apply --partial update" "$(echo "$u" | median)" "median of 3; trusts stored state"
    pu=$(echo "$u" | median)
    # the same 33-line change fed to iptables-restore directly, forth and back (the kernel and the state end as they were)
    "${SP[@]}" apply --partial --dry-run --backend "$b" "$W/svc-$N-g3.json" >"$W/sp-upd.txt" 2>>"$W/stderr"
    "${SP[@]}" apply --partial --backend "$b" "$W/svc-$N-g3.json" >/dev/null 2>>"$W/stderr"
    "${SP[@]}" apply --partial --dry-run --backend "$b" "$W/svc-$N-g2.json" >"$W/sp-back.txt" 2>>"$W/stderr"
    "${SP[@]}" apply --partial --backend "$b" "$W/svc-$N-g2.json" >/dev/null 2>>"$W/stderr"
    u=""; for g in 1 2 3; do u+="$(tin "$W/sp-upd.txt" $R --noflush) "; tin "$W/sp-back.txt" $R --noflush >/dev/null; done
    ru=$(echo "$u" | median)
    row "$b" "$N" "  raw restore of that update" "$ru" "median of 3; $(wc -l <"$W/sp-upd.txt") lines (kube-proxy anchor: $(wc -l <"$W/kp-upd-$N-g1.txt") lines)"
    row "$b" "$N" "  svcproxy's own part of it" "$(awk -v a="$pu" -v b="$ru" 'BEGIN{split(a,x," ");split(b,y," ");printf "%.3f %.3f", x[1]-y[1], x[2]-y[2]}')" "--partial update - raw restore (medians)"
    row "$b" "$N" "svcproxy flush" "$(t "${SP[@]}" flush --backend "$b")" "removes every chain and hook"

    # own overhead: the same restore text svcproxy writes, loaded by iptables-restore directly
    "${SP[@]}" apply --dry-run --backend "$b" "$W/svc-$N-g0.json" >"$W/sp-text.txt"
    row "$b" "$N" "raw restore of svcproxy's text" "$(tin "$W/sp-text.txt" $R --noflush)" "$(wc -l <"$W/sp-text.txt") lines, $(head -2 "$W/sp-text.txt" | tail -1 | grep -qx -- -Z && echo 'with -Z' || echo 'plain')"
    clear_nat "$b"
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
