#!/usr/bin/env bash
# Runs every benchmark (as root; network ones inside the sandbox host) and writes bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
./startup.sh
for t in ns-clone cg unionfs netsetup svcproxy run; do
  [ -x "./$t.sh" ] && "./$t.sh"
done
./report.sh
