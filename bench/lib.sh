# Shared by the bench scripts: a clean environment and a markdown table from hyperfine.
# shellcheck shell=bash
unset NODE_EXTRA_CA_CERTS   # adds ~55 ms to every Node start in this sandbox
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RESULTS="$BENCH_DIR/results"
mkdir -p "$RESULTS" "$BENCH_DIR/out"

machine() {
  echo "Machine: $(nproc) vCPU, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), node $(node --version), $(date -u +%Y-%m-%d)"
}

# hyperfine_table NAME BASELINE_INDEX -- hyperfine args...: runs hyperfine, prints a
# markdown table of median/mean and the ratio of each median to the baseline's.
hyperfine_table() {
  local name=$1 base=$2; shift 3
  local json="$BENCH_DIR/out/$name.json"
  hyperfine -N --export-json "$json" "$@" >&2
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
    const base = r[Number(process.argv[2])].median;
    console.log("| command | median (ms) | mean ± σ (ms) | × " + JSON.stringify(r[Number(process.argv[2])].command).slice(1, -1) + " |");
    console.log("|---|---:|---:|---:|");
    for (const x of r) console.log(`| \`${x.command.replace(/\|/g, "\\|")}\` | ${(x.median * 1e3).toFixed(1)} | ${(x.mean * 1e3).toFixed(1)} ± ${(x.stddev * 1e3).toFixed(1)} | ${(x.median / base).toFixed(2)} |`);
  ' "$json" "$base"
}

# in_sandbox NAME "$@": a bench that changes namespaces or the network re-execs
# itself inside the sandbox host (tests/harness/sandbox.sh), and once there
# proves it is in a fresh network namespace before it touches anything.
in_sandbox() {
  local name=$1; shift
  if [ "${BOXKIT_SANDBOX:-}" != 1 ]; then exec "$REPO/tests/harness/sandbox.sh" "$0" "$@"; fi
  [ -n "${BOXKIT_OUTER_NETNS:-}" ] && [ "$(readlink /proc/self/ns/net)" != "$BOXKIT_OUTER_NETNS" ] \
    || { echo "$name bench: not in a fresh network namespace; refusing" >&2; exit 125; }
}

# paired_table ROUNDS PREPARE [LABEL::]CMD...: the commands interleaved (each round runs
# every CMD once, each after PREPARE, in an order rotated by one per round), wall time from bash's clock, then a
# markdown table: medians, and the median over rounds of each command's time
# divided by CMD1's in the same round. On a shared host whose load drifts
# over a run, neighbouring runs see the same load; hyperfine's back-to-back
# blocks of one command do not.
paired_table() {
  local rounds=$1 prep=$2; shift 2
  local out; out=$(mktemp)
  for r in $(seq 1 "$rounds"); do
    # each round starts one command later, so no command always runs first (after the
    # prepare step) or right after the same neighbour
    for k in $(seq 0 $(($# - 1))); do
      local i=$(( (k + r) % $# ))
      local c=$(( i + 1 ))
      local cmd=${!c}
      cmd=${cmd#*::}
      $prep >/dev/null 2>&1
      local t0=${EPOCHREALTIME/[.,]/}
      $cmd >/dev/null 2>&1 || { echo "paired_table: failed: $cmd" >&2; rm -f "$out"; return 1; }
      echo "$r $i $(( ${EPOCHREALTIME/[.,]/} - t0 ))" >>"$out"
    done
  done
  node -e '
    const fs = require("fs");
    const cmds = process.argv.slice(2).map((a) => a.split("::")[0]);
    const byCmd = cmds.map(() => []), byRound = new Map();
    for (const l of fs.readFileSync(process.argv[1], "utf8").trim().split("\n")) {
      const [r, i, us] = l.split(" ").map(Number);
      byCmd[i].push(us / 1000);
      if (!byRound.has(r)) byRound.set(r, []);
      byRound.get(r)[i] = us / 1000;
    }
    const med = (a) => { const s = [...a].sort((x, y) => x - y), h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
    console.log(`| command (interleaved, ${byRound.size} rounds) | median (ms) | median of per-round ratios to the first |`);
    console.log("|---|---:|---:|");
    cmds.forEach((c, i) => console.log(`| \`${c.replace(/\|/g, "\\|")}\` | ${med(byCmd[i]).toFixed(1)} | ${med([...byRound.values()].map((t) => t[i] / t[0])).toFixed(2)} |`));
  ' "$out" "$@"
  rm -f "$out"
}

# phases_table TITLE PREPARE CMD: run PREPARE then CMD (BOXKIT_PHASES=1) $PHASE_RUNS
# times (default 30); a markdown table of the median time each phase ends at and takes
# (the marks a tool prints on stderr: packages/common/src/phases.ts)
phases_table() {
  local title=$1 prepare=$2 cmd=$3 out
  out="$BENCH_DIR/out/phases-$$.txt"
  : > "$out"
  for _ in $(seq "${PHASE_RUNS:-30}"); do
    $prepare >/dev/null 2>&1 || true
    BOXKIT_PHASES=1 $cmd 2>&1 >/dev/null | grep '^phases: ' >> "$out" || true
  done
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean)
      .map((l) => l.slice(8).split(" ").map((x) => x.split("=")).map(([k, v]) => [k, +v]));
    // the phases most runs marked; a run that stopped early, or marked a phase twice (a retry), is left out, and said
    const keys = (l) => l.map(([k]) => k).join();
    const counts = new Map();
    for (const l of lines) if (new Set(l.map(([k]) => k)).size === l.length) counts.set(keys(l), (counts.get(keys(l)) ?? 0) + 1);
    const common = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
    const names = common ? common.split(",") : [];
    const rows = lines.filter((l) => keys(l) === common).map((l) => Object.fromEntries(l));
    const med = (a) => { a = [...a].sort((x, y) => x - y); return a[Math.floor(a.length / 2)]; };
    if (rows.length < lines.length) console.log(`(${lines.length - rows.length} of ${lines.length} runs marked other phases: left out)\n`);
    console.log(`| ${process.argv[2]} | ends at (ms) | takes (ms) |`);
    console.log("|---|---:|---:|");
    names.forEach((n, i) => console.log(`| ${n} | ${med(rows.map((r) => r[n])).toFixed(1)} | ${med(rows.map((r) => r[n] - (i ? r[names[i - 1]] : 0))).toFixed(1)} |`));
  ' "$out" "$title"
  rm -f "$out"
}
