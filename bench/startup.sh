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
  cat <<'TXT'

What was done to cut start-up (each step measured on this machine):

| variant of the same `cg --version` | cost over `node -e 0` |
|---|---:|
| ESM, yargs loaded from node_modules (../shared/notes/toolchain-probe.md) | ≈ +170 ms |
| one bundled CJS file (tsup, `noExternal`), koffi and command modules loaded lazily | ≈ +50 ms |
| the same bundle as a V8 startup snapshot (`dist/cli.blob`, started by the bin stub) | ≈ +14 ms |
| the blob started with `--no-rehash-snapshot` (no new hash seed, prime search and rehash per start) | ≈ 5 ms less (perf: 13-17% of a Node start) |
| the blob without the code cache of the Node builtins it holds loaded (`scripts/slim-blob.mjs`; run and netsetup keep only what their fast path can compile) | ≈ 3-4 ms less (run --rm 40.6 -> 37.3 ms, netsetup veth 30.2 -> 26.6 ms, interleaved) |
| the stub sets glibc malloc tunables (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216`, unless the caller set it; the blob takes it out of the environment before any code of the tool runs): huge pages for malloc's heap, where Node reads the blob and copies V8's part out, 4 KB page fault by page fault before (scripts/build-snapshot.mjs) | ≈ 1.5-3 ms less (netsetup veth page faults 3,250 -> 1,740; interleaved A/B, 100-120 rounds: netsetup --version 29.2 -> 26.0 ms, ns-clone --version 32.5 -> 30.3 ms, a failing netsetup veth 19.9 -> 18.3 ms); ~4 MB more RSS in a process that stays (a foreground run or ns-clone) |

Also: yargs no longer renders each command's whole help text on every run
(it did so to print it after a failure, which boxkit never does: ~40-60 ms
per command run); koffi's platform binary is loaded directly (its loader
probes the node binary's ELF headers on every start); ns-clone, netsetup and
run parse their hot-path flags with a table-driven parser built from the
same option table as their yargs wiring, which is loaded only for help,
subcommands and anything unusual; their small bundles are compiled whole
into the blob, with the Node fs and Buffer functions a start uses. Output
goes straight to fds 1 and 2 (no process.stdout stream). V8's per-isolate
hash seed (a prime search for the rapidhash secrets, then a rehash of the
snapshot's tables: 13-17% of a `node -e 0` here) is skipped with
--no-rehash-snapshot: the seed baked into the blob is kept (the trade-off is
in scripts/build-snapshot.mjs). `node --build-snapshot` appends a code
cache of all 324 Node builtins (~2.7 MB), which every start read, copied and
freed; a builtin the snapshot holds loaded is never compiled again, so the
build drops those entries (`scripts/slim-blob.mjs`, checked: the slim blob
must answer `--version` as the whole one), and run's and netsetup's fast-path
blobs keep only the few a start can compile (their
`scripts/runtime-builtins.ts`). What remains over `node -e 0`: `sh` running
the stub (~1 ms), reading and copying the blob (2.2-4.3 MB) and the work
itself. koffi (~1-2 ms) is loaded only by commands that make a system
call, execa only by commands that run a program.
TXT
} > "$RESULTS/startup.md"
cat "$RESULTS/startup.md"
