#!/usr/bin/env bash
# Sets everything up on a fresh machine (as root): Debian packages, npm
# packages, the build (bins and the C trampoline).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2046
  apt-get install -y -qq --no-install-recommends $(grep -v '^#' scripts/apt-packages.txt) >/dev/null
fi
npm ci --no-audit --no-fund
npm run build
