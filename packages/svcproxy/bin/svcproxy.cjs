#!/bin/sh
true //; p=$0; [ -L "$p" ] && p=$(readlink -f "$p"); case $p in /*) ;; *) p=./$p ;; esac; d="${p%/bin/*}/dist"; case ${1:-} in apply|add|rm|flush|ls) b=$d/cli.blob ;; *) b=$d/wiring.blob ;; esac; [ -f "$b" ] && [ "${BOXKIT_NO_SNAPSHOT:-}" != 1 ] && GLIBC_TUNABLES=${GLIBC_TUNABLES-glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216} exec node --min-semi-space-size=32 --max-semi-space-size=32 --interrupt-budget=540672 --no-rehash-snapshot --snapshot-blob "$b" -- "$@"; exec node --min-semi-space-size=32 --max-semi-space-size=32 --interrupt-budget=540672 "$p" "$@"
// Committed so npm links the bin on a fresh install, before dist/ exists.
// Run as a program, the line above (sh) starts the bin from a V8 startup
// snapshot (~35 ms less per start, see scripts/build-snapshot.mjs): apply,
// add, rm, flush and ls from dist/cli.blob (the small fast path), anything
// else from dist/wiring.blob (the yargs CLI); run by node, this file loads
// the bundle.
require('../dist/cli.cjs');
