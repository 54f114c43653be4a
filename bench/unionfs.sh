#!/usr/bin/env bash
# unionfs: mount + umount of a 3-layer overlay union, `unionfs` vs mount(8)
# through the shell. Runs inside `unshare --mount` with private propagation,
# so the host's mount table never sees these mounts.
# On a busy machine, run it boosted as in ../shared/notes/anchor-runtimes.md §2:
#   setsid bash -c 'echo -19 > /proc/self/autogroup; exec nice -n -19 bench/unionfs.sh'
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "unionfs bench: needs root" >&2; exit 1; }

if [ "${1:-}" != --inside ]; then
  exec unshare --mount --propagation private -- "$0" --inside
fi

work=$(mktemp -d /tmp/boxkit-bench-unionfs.XXXXXX)
trap 'umount -l "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
for l in l1 l2 l3; do mkdir -p "$work/$l/etc" && echo "$l" > "$work/$l/etc/$l"; done
mkdir -p "$work/up" "$work/up.work" "$work/mnt"
U="$REPO/packages/unionfs/bin/unionfs.cjs"
export BOXKIT_STATE_DIR="$work/state" BOXKIT_DATA_DIR="$work/data"   # its lock file stays in $work
opts="lowerdir=$work/l1:$work/l2:$work/l3,upperdir=$work/up,workdir=$work/up.work"

{
  echo "## unionfs: mount + umount of a 3-layer union"
  echo
  machine
  echo
  echo "In a private mount namespace (\`unshare --mount\`). Each command mounts the same"
  echo "overlay (3 lowers, upper, work) on \`mnt\` and unmounts it again."
  echo
  # the prepare step (untimed) unmounts what the mount-only row left
  hyperfine_table unionfs 0 -- -w 5 -r 30 --prepare "sh -c 'umount $work/mnt 2>/dev/null; true'" \
    -n "sh -c 'mount -t overlay ... && umount'" "sh -c 'mount -t overlay overlay -o $opts $work/mnt && umount $work/mnt'" \
    -n "sh -c 'unionfs mount ... && unionfs umount'" "sh -c '$U mount -l $work/l1 -l $work/l2 -l $work/l3 -u $work/up $work/mnt && $U umount $work/mnt'" \
    -n "unionfs mount (unmounted untimed)" "$U mount -l $work/l1 -l $work/l2 -l $work/l3 -u $work/up $work/mnt" \
    -n "unionfs mount --dry-run (plan only)" "$U mount -l $work/l1 -l $work/l2 -l $work/l3 -u $work/up $work/mnt --dry-run" \
    -n "node -e 0" "node -e 0"
  # run's path: the library in-process (no Node start per step)
  npx --no-install esbuild "$BENCH_DIR/unionfs-inprocess.ts" --bundle --platform=node --format=esm --external:koffi \
    --outfile="$BENCH_DIR/out/unionfs-inprocess.mjs" --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
  inproc=$(node "$BENCH_DIR/out/unionfs-inprocess.mjs" "$work" 50)
  node -e '
    const r = JSON.parse(process.argv[1]), base = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8")).results[0].median * 1e3;
    console.log(`| \`mountUnion + umountUnion\` in-process (library, as run uses it; ${r.cycles} cycles) | ${r.median.toFixed(1)} | min ${r.min.toFixed(1)} | ${(r.median / base).toFixed(2)} |`);
  ' "$inproc" "$BENCH_DIR/out/unionfs.json"
  echo
  echo "Load average after the run: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs share the 2 vCPUs); nice $(nice); autogroup $(awk '{print $NF}' /proc/self/autogroup 2>/dev/null)."
  echo
  echo "\`unionfs\` pays one Node start per command (see the start-up table), the plan"
  echo "(the --dry-run row), and koffi's load for the mount(2)/umount(2) calls; the"
  echo "kernel's own work (mount + umount of overlay) is inside the first row. \`run\` uses the"
  echo "library in-process (last row), where a mount + umount cycle costs less than the"
  echo "shell anchor's two process starts."
  echo
  echo "Where the CLI's time goes (CPU profile of \`unionfs mount --dry-run\` from the snapshot):"
  echo "about half is yargs re-rendering the command's whole help text on every run"
  echo "(\`usage.cacheHelpMessage()\` -> cliui/string-width), a cache that boxkit's own"
  echo "\`.fail()\` handler never shows. The same snapshot with that method made a no-op:"
  echo "132.6 ± 9.8 ms -> 68.6 ± 7.6 ms for \`mount --dry-run\` (2026-11-25, boosted, load ~9;"
  echo "\`--version\` 54.4 ms, \`node -e 0\` 38.9 ms). unionfs's own code (plan + render) is < 5 ms."
} > "$RESULTS/unionfs.md"
cat "$RESULTS/unionfs.md"
