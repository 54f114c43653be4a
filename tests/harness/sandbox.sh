#!/usr/bin/env bash
# Runs a command (the integration test runner) inside a sandbox host: new
# network, mount, UTS and IPC namespaces, loopback up, a private /run/netns
# and /sys. Bridges, named netns, iptables rules and hostname changes made
# by the tests exist only here, and nothing can reach the machine's network.
set -euo pipefail

if [ "${1:-}" != --inside ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "sandbox: not root: running without a sandbox; integration tests will skip and say why" >&2
    exec "$@"
  fi
  outer=$(readlink /proc/self/ns/net)
  exec unshare --net --mount --uts --ipc --propagation private -- \
    env BOXKIT_OUTER_NETNS="$outer" "$0" --inside "$@"
fi
shift

die() { echo "sandbox: $*" >&2; exit 125; }
# Prove this is a fresh network namespace before touching anything: a
# different namespace than the one we started in, with nothing but lo.
inner=$(readlink /proc/self/ns/net)
[ -n "$inner" ] && [ -n "${BOXKIT_OUTER_NETNS:-}" ] && [ "$inner" != "$BOXKIT_OUTER_NETNS" ] \
  || die "not in a fresh network namespace ($inner vs ${BOXKIT_OUTER_NETNS:-?}); refusing"
links=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' ')
[ "$links" = "lo " ] || die "unexpected interfaces in the new namespace: $links; refusing"

ip link set lo up
hostname boxkit-sandbox
# named netns made here must not leave mount-point files in the host's /run/netns
mkdir -p /run/netns && mount -t tmpfs -o mode=755 sandbox-netns /run/netns
# a sysfs of this network namespace (as `ip netns exec` does), keeping the cgroup mounts
scratch=$(mktemp -d /tmp/boxkit-sandbox.XXXXXX)
if mount --rbind /sys/fs/cgroup "$scratch" 2>/dev/null; then
  if mount -t sysfs sandbox-sysfs /sys 2>/dev/null; then
    mount --move "$scratch" /sys/fs/cgroup
  else
    umount -l "$scratch"
  fi
fi
rmdir "$scratch"
export BOXKIT_SANDBOX=1
exec "$@"
