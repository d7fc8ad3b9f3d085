#!/usr/bin/env bash
# Builds the test VM's boot files into build/vm (make vm-image), or does nothing when they are current.
#   vmlinuz      Debian's kernel (the package linux-image-amd64 currently depends on), decompressed to
#                its ELF vmlinux: qemu boots it through its PVH entry, which saves the ~4 s the kernel's
#                own XZ decompression takes under TCG
#   kmod/lib/modules/<release>/   its whole module tree with modules.dep (depmod); the guest sees it
#                at /usr/lib/modules/<release>, layered over the host's /usr, so modprobe works as on Debian
#   initrd.img   busybox-static, scripts/vm/init, the virtio/9p/overlay/ext4 modules stage 1 needs to
#                mount the host's /usr and /etc and the project over 9p (an uncompressed cpio, ~3 MB)
#   node_modules.ext4   a read-only copy of the checkout's node_modules (without .cache) that the guest
#                mounts over the 9p one: under TCG every open() over 9p costs ~2.5 ms, and ava opens
#                hundreds of files in each process; rebuilt (~1 s) whenever node_modules changes
# Everything else the guest runs (bash, node, ip, ipvsadm, bpftool, nft, ...) is the host's own /usr.
# Stamps, each a sha256: kernel.stamp of this script + lib.sh + the kernel package's name=version
# (re-download only when either changes), initrd.stamp of that + scripts/vm/init + busybox,
# node_modules.stamp of kernel.stamp + node_modules' fingerprint (lib.sh).
# Needs root (mknod in the cpio, apt-get download), apt, dpkg-deb, kmod (depmod, modprobe), cpio, xz,
# mke2fs (e2fsprogs).
# Env: QS_VM_KERNEL=<package> boots that kernel package instead of linux-image-amd64's dependency.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
. scripts/vm/lib.sh

OUT=build/vm
SELF=scripts/vm/build.sh
INIT=scripts/vm/init
BUSYBOX=/bin/busybox
# What stage 1 of the init loads before it can mount anything (modprobe adds their dependencies).
BOOT_MODULES=(virtio_pci 9pnet_virtio 9p overlay virtio_rng virtio_blk ext4)

say() { printf '  %-8s %s\n' "$1" "$2"; }
die() { echo "vm-image: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "building needs root (apt-get download, mknod in the initramfs): sudo make vm-image"; }

for tool in apt-cache apt-get dpkg-deb depmod modprobe cpio xz sha256sum mke2fs; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs what the VM needs)"
done
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found: apt install busybox-static"

# The kernel package and version: linux-image-amd64's current dependency, which it pins with "(= version)"
# (e.g. linux-image-6.1.0-56-amd64 6.1.192-2). One apt-cache call: each costs ~1 s.
resolve() {
  local pkg=${QS_VM_KERNEL:-linux-image-amd64}
  { apt-cache show --no-all-versions "$pkg" 2>/dev/null || true; } | awk -v pkg="$pkg" -v fixed="${QS_VM_KERNEL:+1}" '
    fixed && $1 == "Version:" && !n++ { print pkg, $2 }
    !fixed && $1 == "Depends:" && !n++ {
      for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-/) { v = $(i + 1) == "(=" ? $(i + 2) : ""; sub(/[),].*/, "", v); print $i, v; exit }
    }'
}
read -r kpkg kver < <(resolve) || true
if [ -n "${kpkg:-}" ] && [ -z "${kver:-}" ]; then # an unpinned dependency: ask for that package's version
  read -r kpkg kver < <(QS_VM_KERNEL=$kpkg resolve) || true
fi
if [ -z "${kver:-}" ]; then
  say APT "update (apt knows no ${QS_VM_KERNEL:-linux-image-amd64})"
  apt-get update -qq
  read -r kpkg kver < <(resolve) || true
  [ -n "${kver:-}" ] || die "cannot resolve the kernel package (apt-cache show ${QS_VM_KERNEL:-linux-image-amd64})"
fi

sha() { sha256sum | cut -d' ' -f1; }
khash=$({ cat $SELF scripts/vm/lib.sh; echo "$kpkg=$kver"; } | sha)
ihash=$({ echo "$khash"; cat $INIT $BUSYBOX; } | sha)
current() { [ -f "$OUT/$1" ] && [ "$(cat "$OUT/$1")" = "$2" ]; }

if ! current kernel.stamp "$khash" || [ ! -f $OUT/vmlinuz ] || [ ! -d $OUT/kmod/lib/modules ]; then
  need_root
  say VM-KERN "$OUT ($kpkg $kver)"
  rm -rf $OUT
  mkdir -p $OUT/tmp
  tmp=$OUT/tmp
  # apt's sandbox user can't write under build/: download as root
  (cd $tmp && apt-get download -qq -o APT::Sandbox::User=root "$kpkg=$kver") || die "apt-get download $kpkg=$kver failed"
  deb=$(ls $tmp/*.deb)
  mkdir -p $tmp/x
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C $tmp/x --wildcards './boot/vmlinuz-*' './lib/modules/*'
  kdir=$(ls -d $tmp/x/lib/modules/*/)
  kdir=${kdir%/}
  release=$(basename "$kdir")
  mkdir -p $OUT/kmod/lib/modules
  mv "$kdir" $OUT/kmod/lib/modules/
  depmod -b $OUT/kmod "$release"
  # bzImage -> vmlinux: the payload is the XZ stream after the real-mode setup code
  bz=$tmp/x/boot/vmlinuz-$release
  off=$(LC_ALL=C grep -abo -m1 $'\xfd7zXZ' "$bz" | head -n1 | cut -d: -f1 || true)
  [ -z "$off" ] || tail -c +$((off + 1)) "$bz" | xz -dcq >$tmp/vmlinux 2>/dev/null || true
  if [ -s $tmp/vmlinux ] && [ "$(head -c4 $tmp/vmlinux | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
    mv $tmp/vmlinux $OUT/vmlinuz
  else
    say VM-KERN "no XZ payload in $(basename "$bz"): booting it compressed (~4 s slower)"
    mv "$bz" $OUT/vmlinuz
  fi
  rm -rf $tmp
  echo "$release" >$OUT/kernel-release
  echo "$kpkg=$kver" >$OUT/kernel-package
  echo "$khash" >$OUT/kernel.stamp
fi
release=$(cat $OUT/kernel-release)

if ! current initrd.stamp "$ihash" || [ ! -f $OUT/initrd.img ]; then
  need_root
  say VM-INIT "$OUT/initrd.img"
  root=$OUT/initramfs
  rm -rf $root
  mkdir -p $root/bin $root/dev $root/modules
  cp $INIT $root/init
  chmod 0755 $root/init
  cp $BUSYBOX $root/bin/busybox
  # init's stdio before it mounts devtmpfs
  mknod -m 0600 $root/dev/console c 5 1
  mknod -m 0666 $root/dev/null c 1 3
  for m in "${BOOT_MODULES[@]}"; do
    modprobe -d $OUT/kmod -S "$release" --show-depends "$m" || die "module $m not in $(cat $OUT/kernel-package)"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >$root/modules/paths
  while read -r ko; do
    b=$(basename "$ko")
    case "$ko" in
      *.ko) cp "$ko" $root/modules/ ;;
      *.ko.xz) xz -dc "$ko" >$root/modules/"${b%.xz}" ;;
      *.ko.zst) zstd -qdc "$ko" >$root/modules/"${b%.zst}" ;;
      *) die "unexpected module file $ko" ;;
    esac
    echo "${b%.ko*}.ko" >>$root/modules/order
  done <$root/modules/paths
  rm $root/modules/paths
  (cd $root && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >$OUT/initrd.img.tmp
  mv $OUT/initrd.img.tmp $OUT/initrd.img
  rm -rf $root
  echo "$ihash" >$OUT/initrd.stamp
fi

# node_modules as an ext4 image (no journal; the guest mounts it read-only under a tmpfs overlay)
if [ -d node_modules ]; then
  nhash=$({ echo "$khash"; nm_fingerprint; } | sha)
  if ! current node_modules.stamp "$nhash" || [ ! -f $OUT/node_modules.ext4 ]; then
    say VM-NM "$OUT/node_modules.ext4"
    stage=$OUT/node_modules.stage
    rm -rf $stage $OUT/node_modules.ext4
    cp -al node_modules $stage   # hard links: instant, and mke2fs only reads them
    rm -rf $stage/.cache
    entries=$(find $stage | wc -l)
    kb=$(du -sk $stage | cut -f1)
    rm -f $OUT/node_modules.ext4.tmp
    truncate -s $((kb * 5 / 4 + 8192))K $OUT/node_modules.ext4.tmp
    mke2fs -q -F -t ext4 -O ^has_journal -m 0 -N $((entries + 1024)) -L qs-node-modules -d $stage \
      $OUT/node_modules.ext4.tmp
    mv $OUT/node_modules.ext4.tmp $OUT/node_modules.ext4
    rm -rf $stage
    echo "$nhash" >$OUT/node_modules.stamp
  fi
fi
