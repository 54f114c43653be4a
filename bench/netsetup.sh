#!/usr/bin/env bash
# netsetup bench: attach and detach of N (default 100) containers (named
# netns) to a bridge, side by side in one run:
#   - netsetup veth - / down -   (one invocation each for all N, ROUNDS rounds)
#   - netsetup veth / down       (one invocation per container)
#   - the CNI reference bridge plugin + host-local IPAM, ADD/DEL per container
#     (config as in ../shared/notes/scale-anchors.md: isGateway, ipMasq)
#   - plain `ip`, one process per command (8 per attachment; `ip link del` each)
# Changes network state, so it runs inside the sandbox host (re-execs itself
# through tests/harness/sandbox.sh). Writes bench/results/netsetup.md.
#
# `bench/netsetup.sh single`: one attach and one detach vs one CNI ADD/DEL
# (hyperfine, then interleaved rounds); writes bench/results/netsetup-single.md.
# Knobs: RUNS (hyperfine runs, 40), PAIRED (interleaved rounds), PHASE_RUNS
# (BOXKIT_PHASES runs), BEFORE=/abs/path/to/another/bin/netsetup.cjs adds an
# older build's veth/down to both tables (BEFORE_NOTE: how the table names it;
# no spaces in the path; this build's `down` must read the older build's
# state, so compare builds of the same state format).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source bench/lib.sh
in_sandbox netsetup "$@"
N=${N:-100}
ROUNDS=${ROUNDS:-3}
W=$(mktemp -d /tmp/boxkit-bench-netsetup.XXXXXX)
trap 'for i in $(seq 1 "$N"); do ip netns del "c$i" 2>/dev/null || true; done; rm -rf "$W"' EXIT
export BOXKIT_STATE_DIR=$W/state
NSB=packages/netsetup/bin/netsetup.cjs   # run as a program: starts from the V8 snapshot like a user's call
CNI=/usr/lib/cni/bridge
OUT=$RESULTS/netsetup.md

now() { echo "${EPOCHREALTIME/[.,]/}"; }            # microseconds
ms() { echo $(( ($2 - $1) / 1000 )); }
stats() { sort -n | awk '{a[NR]=$1; s+=$1} END {printf "%d %.1f %d %d\n", s, s/NR, a[int((NR+1)/2)], a[int(NR*0.9+0.5)]}'; }  # total mean median p90
check_ping() { ip netns exec c1 busybox ping -c1 -W2 "$1" >/dev/null || { echo "netsetup bench: c1 cannot reach $1 ($2)" >&2; exit 1; }; }
veths() { ip -o link show type veth | wc -l; }

# --- single: one attach and one detach, hyperfine, side by side with CNI ------
# `bench/netsetup.sh single`: each timed run starts from the other state (the
# prepare step detaches before an attach, attaches before a detach).
if [ "${1:-}" = single ]; then
  for c in c1 c2; do ip netns add $c; ip -n $c link set lo up; done
  $NSB bridge nsbr 10.20.0.1/16 >/dev/null
  cat >"$W/cni.json" <<JSON
{"cniVersion":"1.0.0","name":"anchor","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","dataDir":"$W/ipam","ranges":[[{"subnet":"10.10.0.0/16","gateway":"10.10.0.1"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
JSON
  # the plugin reads its config on stdin and its arguments from the environment: a
  # two-line sh wrapper each (netsetup's bin is an sh stub too); its own netns c2 (both add a default route)
  for c in ADD DEL; do
    printf '#!/bin/sh\nCNI_COMMAND=%s CNI_CONTAINERID=cid1 CNI_NETNS=/run/netns/c2 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni exec %s <%s >/dev/null\n' \
      "$c" "$CNI" "$W/cni.json" >"$W/cni-$c"
    chmod +x "$W/cni-$c"
  done
  printf '#!/bin/sh\n%s; exec %s\n' "$W/cni-DEL" "$W/cni-ADD" >"$W/cni-READD"; chmod +x "$W/cni-READD"   # ADD twice fails
  printf '#!/bin/sh\nexec %s "$@" >/dev/null\n' "$REPO/$NSB" >"$W/ns"; chmod +x "$W/ns"
  RUNS=${RUNS:-40}
  # BEFORE=path/to/another/netsetup.cjs adds its veth/down (an older build) to the same run
  before=()
  if [ -n "${BEFORE:-}" ]; then
    printf '#!/bin/sh\nexec %s "$@" >/dev/null\n' "$BEFORE" >"$W/nsb"; chmod +x "$W/nsb"
    before=(-n 'before: netsetup veth' --prepare "$W/nsb down --netns c1" "$BEFORE veth --netns c1 --bridge nsbr"
      -n 'before: netsetup down' --prepare "$W/nsb veth --netns c1 --bridge nsbr" "$BEFORE down --netns c1")
  fi
  {
    echo "# netsetup: one attach and one detach vs one CNI ADD/DEL"
    echo
    machine
    echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared)."
    echo
    echo "Run: \`bench/netsetup.sh single\` (inside tests/harness/sandbox.sh; hyperfine -N, $RUNS runs, warmup 5). Each timed run starts"
    echo "from the other state: the prepare step detaches before an attach and attaches before a detach. netsetup runs as"
    echo "users run it (the bin's sh stub, then its startup snapshot); the CNI plugin through a two-line sh wrapper"
    echo "(config on stdin, arguments in the environment), bridge + host-local, isGateway+ipMasq, in a netns of its own."
    [ -n "${BEFORE:-}" ] && echo "Rows 'before:' are another build of netsetup in the same run: ${BEFORE_NOTE:-$BEFORE}."
    echo
  } >"$RESULTS/netsetup-single.md"
  hyperfine_table netsetup-single 0 -- -w 5 -r "$RUNS" \
    -n 'node -e 0' --prepare true 'node -e 0' \
    -n 'netsetup --version' --prepare true "$NSB --version" \
    -n 'netsetup veth --netns c1 --bridge nsbr' --prepare "$W/ns down --netns c1" "$NSB veth --netns c1 --bridge nsbr" \
    -n 'CNI bridge ADD' --prepare "$W/cni-DEL" "$W/cni-ADD" \
    -n 'netsetup down --netns c1' --prepare "$W/ns veth --netns c1 --bridge nsbr" "$NSB down --netns c1" \
    -n 'CNI bridge DEL' --prepare "$W/cni-READD" "$W/cni-DEL" \
    "${before[@]}" \
    | tee -a "$RESULTS/netsetup-single.md"
  printf '#!/bin/sh\n%s down --netns c1 >/dev/null 2>&1; %s 2>/dev/null; true\n' "$REPO/$NSB" "$W/cni-DEL" >"$W/detach-both"; chmod +x "$W/detach-both"
  {
    echo
    echo "The same attach interleaved (\`PAIRED=${PAIRED:-100}\` rounds; each round runs CNI ADD, \`netsetup veth\`, \`node -e 0\` and"
    echo "\`netsetup veth --dry-run\` (the same start, checks and state reads, printing the plan instead of making it: what a"
    echo "call costs before its kernel work and records)"
    [ -n "${BEFORE:-}" ] && echo "(and the 'before:' build's \`netsetup veth\`)"
    echo "back to back, each after detaching both, in an order rotated by one each round, so all of them meet the same load;"
    echo "the ratio is the median of the rounds' own ratios):"
    echo
    # the before build's attachment is the same record and link: this build's down removes it
    paired_table "${PAIRED:-100}" "$W/detach-both" "CNI bridge ADD::$W/cni-ADD" "netsetup veth --netns c1 --bridge nsbr::$NSB veth --netns c1 --bridge nsbr" "node -e 0" \
      "netsetup veth --dry-run::$NSB veth --dry-run --netns c1 --bridge nsbr" \
      ${BEFORE:+"before: netsetup veth --netns c1 --bridge nsbr::$BEFORE veth --netns c1 --bridge nsbr"}
    echo
    echo "Where one \`netsetup veth\` spends its time (BOXKIT_PHASES=1, ${PHASE_RUNS:-30} runs, each after a \`down\`; ms since the"
    echo "process started): \`entry\` is Node's start from the snapshot and the parse; \`resolved\` the checks, link list and"
    echo "state; \`leased\` the record and the address; \`made\` koffi's load and the netlink requests; \`recorded\` the record."
    echo
    phases_table "netsetup veth" "$W/ns down --netns c1" "$NSB veth --netns c1 --bridge nsbr"
  } | tee -a "$RESULTS/netsetup-single.md"
  "$W/cni-DEL"; $NSB down --netns c1 >/dev/null; $NSB bridge rm nsbr >/dev/null; ip link del cni0 2>/dev/null || true
  exit 0
fi

for i in $(seq 1 "$N"); do ip netns add "c$i"; ip -n "c$i" link set lo up; done
declare -A ROW

# --- netsetup, batch -------------------------------------------------------
$NSB bridge nsbr 10.20.0.1/16 >/dev/null
for i in $(seq 1 "$N"); do echo "{\"netns\":\"c$i\",\"bridge\":\"nsbr\"}"; done >"$W/batch.jsonl"
seq 1 "$N" | sed 's/^/c/' >"$W/names"
att=(); det=()
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); $NSB veth - <"$W/batch.jsonl" >/dev/null; t1=$(now)
  [ "$r" = 1 ] && check_ping 10.20.0.3 "netsetup batch"
  [ "$(veths)" = "$N" ] || { echo "netsetup bench: expected $N veths" >&2; exit 1; }
  t2=$(now); $NSB down - <"$W/names" >/dev/null; t3=$(now)
  [ "$(veths)" = 0 ] || { echo "netsetup bench: veths left after down -" >&2; exit 1; }
  att+=("$(ms "$t0" "$t1")"); det+=("$(ms "$t2" "$t3")")
done
ROW[batch_add]="${att[*]}"; ROW[batch_del]="${det[*]}"

# --- netsetup, one call per container ---------------------------------------
: >"$W/ns_add"; : >"$W/ns_del"
for i in $(seq 1 "$N"); do t0=$(now); $NSB veth --netns "c$i" --bridge nsbr >/dev/null; t1=$(now); ms "$t0" "$t1" >>"$W/ns_add"; done
check_ping 10.20.0.3 "netsetup single"
for i in $(seq 1 "$N"); do t0=$(now); $NSB down --netns "c$i" >/dev/null; t1=$(now); ms "$t0" "$t1" >>"$W/ns_del"; done
[ "$(veths)" = 0 ] || { echo "netsetup bench: veths left after single downs" >&2; exit 1; }
$NSB bridge rm nsbr >/dev/null

# --- CNI bridge plugin + host-local ------------------------------------------
cat >"$W/cni.json" <<JSON
{"cniVersion":"1.0.0","name":"anchor","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,
 "ipam":{"type":"host-local","dataDir":"$W/ipam","ranges":[[{"subnet":"10.10.0.0/16","gateway":"10.10.0.1"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
JSON
: >"$W/cni_add"; : >"$W/cni_del"
for i in $(seq 1 "$N"); do
  t0=$(now); CNI_COMMAND=ADD CNI_CONTAINERID="cid$i" CNI_NETNS="/run/netns/c$i" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$CNI" <"$W/cni.json" >/dev/null; t1=$(now)
  ms "$t0" "$t1" >>"$W/cni_add"
done
check_ping 10.10.0.3 "cni"
for i in $(seq 1 "$N"); do
  t0=$(now); CNI_COMMAND=DEL CNI_CONTAINERID="cid$i" CNI_NETNS="/run/netns/c$i" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$CNI" <"$W/cni.json" >/dev/null; t1=$(now)
  ms "$t0" "$t1" >>"$W/cni_del"
done
ip link del cni0
printf '*nat\nCOMMIT\n*filter\nCOMMIT\n' | iptables-restore   # the plugin's leftovers (empty tables/chains) go with it

# --- plain ip, one process per command --------------------------------------
ip link add br1 type bridge; ip addr add 10.30.0.1/16 dev br1; ip link set br1 up
: >"$W/ip_add"; : >"$W/ip_del"
for i in $(seq 1 "$N"); do
  t0=$(now)
  ip link add "vh$i" type veth peer name "ve$i"
  ip link set "ve$i" netns "c$i"
  ip link set "vh$i" master br1
  ip link set "vh$i" up
  ip -n "c$i" link set "ve$i" name eth0
  ip -n "c$i" addr add "10.30.$((i / 250)).$((i % 250 + 2))/16" dev eth0
  ip -n "c$i" link set eth0 up
  ip -n "c$i" route add default via 10.30.0.1
  t1=$(now); ms "$t0" "$t1" >>"$W/ip_add"
done
check_ping 10.30.0.3 "plain ip"
for i in $(seq 1 "$N"); do t0=$(now); ip link del "vh$i"; t1=$(now); ms "$t0" "$t1" >>"$W/ip_del"; done
ip link del br1

# --- report ------------------------------------------------------------------
read -r cat cam cmed cp90 < <(stats <"$W/cni_add")
read -r cdt cdm cdmed cdp90 < <(stats <"$W/cni_del")
read -r nat nam nmed np90 < <(stats <"$W/ns_add")
read -r ndt ndm ndmed ndp90 < <(stats <"$W/ns_del")
read -r iat iam imed ip90 < <(stats <"$W/ip_add")
read -r idt idm idmed idp90 < <(stats <"$W/ip_del")
bmed() { tr ' ' '\n' <<<"$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ba=$(bmed "${ROW[batch_add]}"); bd=$(bmed "${ROW[batch_del]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
{
  echo "# netsetup: attach and detach of $N containers"
  echo
  machine
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: other engineers' tests ran at the same time)."
  echo
  echo "Run: \`bench/netsetup.sh\` (inside tests/harness/sandbox.sh; N=$N, batch rounds=$ROUNDS). Per-call figures timed in bash with \$EPOCHREALTIME."
  echo "netsetup runs as a program (\`packages/netsetup/bin/netsetup.cjs\`, V8 startup snapshot). CNI: containernetworking-plugins 1.1.1 bridge + host-local, isGateway+ipMasq (the anchors' config)."
  echo
  echo "| method ($N containers) | attach total (ms) | per attach median / p90 (ms) | detach total (ms) | per detach median / p90 (ms) |"
  echo "|---|---:|---:|---:|---:|"
  echo "| \`netsetup veth -\` / \`netsetup down -\` (one invocation each; rounds: ${ROW[batch_add]} / ${ROW[batch_del]}) | **$ba** (median of $ROUNDS) | $((ba / N)) (amortised) | **$bd** (median of $ROUNDS) | $((bd / N)) (amortised) |"
  echo "| \`netsetup veth --netns cI\` / \`netsetup down --netns cI\`, one call each | $nat | **$nmed** / $np90 | $ndt | $ndmed / $ndp90 |"
  echo "| CNI bridge ADD / DEL (anchor) | $cat | **$cmed** / $cp90 | $cdt | $cdmed / $cdp90 |"
  echo "| plain \`ip\`, 8 processes per attach / \`ip link del\` | $iat | $imed / $ip90 | $idt | $idmed / $idp90 |"
  echo
  echo "Ratios (lower is better for netsetup):"
  echo
  echo "- one \`netsetup veth\` call vs one CNI ADD (medians): $(ratio "$nmed" "$cmed")x (target <= 1)"
  echo "- one \`netsetup down\` call vs one CNI DEL (medians): $(ratio "$ndmed" "$cdmed")x"
  echo "- $N attachments, \`veth -\` batch vs $N CNI ADDs: $(ratio "$ba" "$cat")x; vs plain ip: $(ratio "$ba" "$iat")x (target: batch <= 500 ms)"
  echo "- $N detachments, \`down -\` batch vs $N CNI DELs: $(ratio "$bd" "$cdt")x; vs plain ip: $(ratio "$bd" "$idt")x (target: <= 500 ms)"
  echo
  cat <<'NOTES'
Where the time goes (measured while writing netsetup; see packages/netsetup/README.md):

- One `netsetup veth` call is one Node start from the bin's small V8
  snapshot (dist/cli.blob: the fast path only, no yargs or execa) and no
  other process: the plan's `ip` commands are sent as rtnetlink requests
  from netsetup itself (koffi; ~2 ms to load koffi, ~1 ms of kernel work
  for the veth pair with its peer born in the namespace, ~0.1-0.5 ms per
  other request; the container side through a socket opened inside its
  namespace). Before that, two `ip -batch` processes (~5-7 ms each plus
  Node's own fork to spawn them) were most of the call. Also ~3 ms of
  state files (lease and record, exclusive creates). The Node start itself
  is shorter than `node -e 0`'s: the blob starts with --no-rehash-snapshot
  (no per-start hash seed, prime search and rehash: ~5 ms), its fast path is
  compiled whole into the blob, and the one line of output goes straight to
  fd 1 (no stdout stream). A CNI ADD is a Go binary using ~20 ms of CPU; on
  a loaded machine every CPU millisecond becomes several wall milliseconds. `bench/netsetup.sh single` compares
  one call of each side by side with hyperfine.
- The batch does all attachments' requests in one process: one socket for
  the host, one per namespace (100 veths: ~0.25-0.3 s where `ip -batch`
  processes, four in flight, took ~0.6-1.1 s in the same run).
  `BOXKIT_NETLINK=0` sends them through `ip -batch -` again, to compare.
- Detaching: one request per link, or for many, each joins a random link
  group and one `ip link del group N` request deletes them together (the
  kernel unregisters them in one batch); most of a single `down` is the
  kernel unregistering the veth pair (~20-30 ms here), as for CNI DEL.
NOTES
} | tee "$OUT"
