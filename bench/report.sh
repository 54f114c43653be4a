#!/usr/bin/env bash
# Gathers bench/results/*.md into bench/RESULTS.md (startup first).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
{
  echo "# Benchmark results"
  echo
  echo "Side-by-side runs against the anchor tools, as ratios. Each section says how it was made;"
  echo "the scripts are in bench/ (\`bench/all.sh\` runs them all). NODE_EXTRA_CA_CERTS is unset."
  echo
  for f in "$RESULTS/startup.md" $(ls "$RESULTS"/*.md | grep -v '/startup.md$'); do
    [ -f "$f" ] || continue
    cat "$f"
    echo
  done
} > "$BENCH_DIR/RESULTS.md"
echo "wrote $BENCH_DIR/RESULTS.md"
