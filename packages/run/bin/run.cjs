#!/bin/sh
true //; p=$0; [ -L "$p" ] && p=$(readlink -f "$p"); case $p in /*) ;; *) p=./$p ;; esac; d="${p%/bin/*}/dist"; case ${1:-} in rootfs|ps|ls|exec|logs|stop|rm|inspect|gc|help|--help|-h|--version) b=$d/wiring.blob ;; *) b=$d/cli.blob ;; esac; [ -f "$b" ] && [ "${BOXKIT_NO_SNAPSHOT:-}" != 1 ] && GLIBC_TUNABLES=${GLIBC_TUNABLES-glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216} exec node --no-rehash-snapshot --snapshot-blob "$b" -- "$@"; exec node "$p" "$@"
// Committed so npm links the bin on a fresh install, before dist/ exists.
// Run as a program, the line above (sh) starts the bin from a V8 startup
// snapshot: dist/wiring.blob (the yargs CLI) for the subcommands, help and
// --version, dist/cli.blob (the fast path) for everything else (see
// scripts/build-snapshot.mjs); run by node, this file loads the bundle.
require('../dist/cli.cjs');
