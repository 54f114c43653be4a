#!/bin/bash
# Build the cgroup v2 VM assets (adapted from ../shared/vm): an uncompressed
# Debian kernel ($VMDIR/vmlinux) and an initramfs ($VMDIR/initrd.cpio.gz).
# The cache is keyed by the kernel package and a hash of guest-init.sh and of
# this script (its module list), so a fresh CI machine builds them once
# (apt-get download, ~10 s) and later runs reuse them. Prints the asset directory on stdout.
# Needs (Debian 12): apt-get install -y --no-install-recommends qemu-system-x86 busybox-static kmod xz-utils
set -euo pipefail
SCRIPTDIR=$(dirname "$(realpath "$0")")   # guest-init.sh lives next to this script
# 1. kernel: whatever linux-image-amd64 currently points to (generic flavour; -cloud lacks 9p)
pkg=${BOXKIT_VM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
[ -n "$pkg" ] || { echo "build-assets: cannot find the linux-image-amd64 package (apt-get update?)" >&2; exit 1; }
kver=${pkg#linux-image-}
key=$kver-$(cat "$SCRIPTDIR/guest-init.sh" "$0" | sha256sum | cut -c1-12)
VMDIR=${BOXKIT_VM_DIR:-${XDG_CACHE_HOME:-/var/cache}/boxkit-vm}/$key
if [ -s "$VMDIR/vmlinux" ] && [ -s "$VMDIR/initrd.cpio.gz" ]; then echo "$VMDIR"; exit 0; fi
mkdir -p "$VMDIR/build" && cd "$VMDIR/build"
ls "$pkg"_*.deb >/dev/null 2>&1 || apt-get download "$pkg" >&2
rm -rf kpkg && mkdir kpkg && dpkg-deb -x "$pkg"_*.deb kpkg
depmod -b kpkg "$kver" >&2
# 2. uncompressed ELF vmlinux from the xz bzImage -> qemu boots it via PVH, skipping BIOS+decompression
bz=kpkg/boot/vmlinuz-$kver
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -1 | cut -d: -f1)
tail -c +$((off+1)) "$bz" | xz -dc > "$VMDIR/vmlinux.new" 2>/dev/null || true   # xz complains about trailing data
head -c4 "$VMDIR/vmlinux.new" | grep -q ELF || { echo "vmlinux extraction failed" >&2; exit 1; }
mv "$VMDIR/vmlinux.new" "$VMDIR/vmlinux"
# 3. initramfs: static busybox + virtio/9p modules + /init
rm -rf initrd && mkdir -p initrd/{bin,dev,proc,sys,host,lib/modules}
cp /bin/busybox initrd/bin/
# overlay: run's containers are overlay unions (tests/run in the VM)
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk 9pnet 9pnet_virtio netfs fscache 9p overlay"
for m in $mods; do
  f=$(awk -F: -v m="/$m.ko" 'length($1)>length(m) && substr($1,length($1)-length(m)+1)==m {print $1; exit}' kpkg/lib/modules/$kver/modules.dep)
  [ -n "$f" ] || { echo "module $m not found" >&2; exit 1; }
  cp "kpkg/lib/modules/$kver/$f" initrd/lib/modules/
done
echo "$mods" > initrd/modules.order
cp "$SCRIPTDIR/guest-init.sh" initrd/init && chmod +x initrd/init
(cd initrd && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$VMDIR/initrd.cpio.gz"
rm -rf "$VMDIR/build"
echo "build-assets: built $VMDIR/vmlinux ($kver) and $VMDIR/initrd.cpio.gz" >&2
echo "$VMDIR"
