#!/usr/bin/env bash
# Runs every benchmark (as root; network ones inside the sandbox host) and writes bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")"
here=$PWD
./startup.sh
for t in ns-clone cg unionfs netsetup run; do
  [ -x "$here/$t.sh" ] && "$here/$t.sh"
done
# svcproxy's bench changes iptables and expects to be started inside the sandbox host
../tests/harness/sandbox.sh "$here/svcproxy.sh"
./report.sh
