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
