#!/usr/bin/env bash
# Runs every benchmark (as root; network ones inside the sandbox host) and writes bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
./startup.sh
for t in ns-clone cg unionfs netsetup run; do
  [ -x "./$t.sh" ] && "./$t.sh"
done
# svcproxy's bench changes iptables and expects to be started inside the sandbox host
../tests/harness/sandbox.sh ./svcproxy.sh
./report.sh
