#!/usr/bin/env bash
# Start-up cost of each bin (--version) against bare `node -e 0`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
bins=(ns-clone cg unionfs netsetup svcproxy run)
args=()
for b in "${bins[@]}"; do args+=("packages/$b/bin/$b.cjs --version"); done
{
  echo "## Start-up: each bin's \`--version\` vs \`node -e 0\`"
  echo
  machine
  echo
  hyperfine_table startup 0 -- -w 5 -r 40 'node -e 0' "${args[@]}" 'node packages/cg/dist/cli.cjs --version'
  echo
  echo "The last row is the same bundle loaded without its startup snapshot."
} > "$RESULTS/startup.md"
cat "$RESULTS/startup.md"
