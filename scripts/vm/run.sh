#!/usr/bin/env bash
# Boots the test VM (build/vm, see scripts/vm/build.sh) under qemu/TCG, runs one command in it from
# the project directory as root, streams the console to stdout and exits with the command's code.
#   scripts/vm/run.sh 'node scripts/run-tests.mjs test/vm'
# Exits 124 when VM_TIMEOUT passed, 125 when the VM ended without reporting an exit code (boot
# failure, kernel panic, qemu error), else the command's own code.
# Env: VM_TIMEOUT seconds (default 2400), VM_MEM MiB (2048), VM_SMP (2), CI (passed into the VM),
#      VM_ENV="NAME ..." more variables to pass in, VM_LOG file for a copy of the console (default
#      build/vm/last-run.log), V=1 shows the kernel's messages and the qemu command, VM_CPU qemu's
#      -cpu (max), VM_APPEND more kernel parameters, VM_NM=0 node_modules over 9p instead of from
#      build/vm/node_modules.ext4, QEMU the qemu binary.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
. scripts/vm/lib.sh
proj=$PWD
OUT=$proj/build/vm

cmd=${1:-}
[ $# -le 1 ] || { echo "vm-run: give the command as one string: $0 'cmd args'" >&2; exit 2; }
[ -n "$cmd" ] || { echo "vm-run: no command (make vm-run CMD='...')" >&2; exit 2; }
for f in vmlinuz initrd.img kernel-release; do
  [ -f "$OUT/$f" ] || { echo "vm-run: $OUT/$f missing: make vm-image" >&2; exit 2; }
done
QEMU=${QEMU:-qemu-system-x86_64}
BIOS=/usr/share/qemu/qboot.rom
command -v "$QEMU" >/dev/null || { echo "vm-run: $QEMU not found (apt install qemu-system-x86)" >&2; exit 2; }
[ -f $BIOS ] || { echo "vm-run: $BIOS not found (qemu-system-data)" >&2; exit 2; }

timeout_s=${VM_TIMEOUT:-2400}
b64() { printf '%s' "$1" | base64 -w0; }

# What the command's environment gets from here: CI (so skipped tests fail in CI there too) and VM_ENV.
envs=""
for name in CI ${VM_ENV:-}; do
  if [ -n "${!name+x}" ]; then envs+="$name=${!name}"$'\n'; fi
done
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')

# node_modules from its ext4 image when that is current (see build.sh), else over 9p with the rest
disk=() nm=
if [ "${VM_NM:-1}" = 1 ] && [ -f "$OUT/node_modules.ext4" ] && [ -f "$OUT/node_modules.stamp" ] &&
  [ "$({ cat "$OUT/kernel.stamp"; nm_fingerprint; } | sha256sum | cut -d' ' -f1)" = "$(cat "$OUT/node_modules.stamp")" ]; then
  disk=(-drive "file=${OUT//,/,,}/node_modules.ext4,if=none,id=nm,format=raw,readonly=on"
    -device virtio-blk-pci,drive=nm,serial=qs-node-modules)
  nm=" qs.nm=1"
elif [ "${VM_NM:-1}" = 1 ] && [ -d node_modules ]; then
  echo "vm-run: build/vm/node_modules.ext4 is not current (make vm-image): node_modules over 9p, slower" >&2
fi

# cryptomgr.notests: the crypto self-tests cost ~0.3 s of boot under TCG; V=1 shows the kernel's log
append="console=ttyS0 panic=-1 oops=panic cryptomgr.notests"
[ "${V:-}" = 1 ] || append+=" quiet"
append+=" ${VM_APPEND:-}"
append+=" qs.dir=$(b64 "$proj") qs.cmd=$(b64 "$cmd") qs.env=$(b64 "$envs") qs.nonce=$nonce$nm"
# x86's kernel command line holds 2048 bytes
[ ${#append} -lt 2000 ] || { echo "vm-run: command too long for the kernel command line (${#append} bytes)" >&2; exit 2; }

qemu=("$QEMU" -machine q35,accel=tcg -cpu "${VM_CPU:-max}" -smp "${VM_SMP:-2}" -m "${VM_MEM:-2048}"
  -bios $BIOS -display none -no-reboot -nodefaults -serial stdio
  -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" -append "$append"
  -device virtio-rng-pci "${disk[@]}")
# 9p shares: the host's /usr and /etc read-only, the kernel's module tree, the project read-write
share() { qemu+=(-virtfs "local,path=${1//,/,,},mount_tag=$2,security_model=none,multidevs=remap${3:+,$3}"); }
share /usr qsusr readonly=on
share /etc qsetc readonly=on
share "$OUT/kmod" qskmod readonly=on
share "$proj" qsproj
if [ "${V:-}" = 1 ]; then printf 'vm-run:'; printf ' %q' "${qemu[@]}"; echo; fi

# this run's console (concurrent runs don't share it); build/vm/last-run.log is the latest one
log=$OUT/run-$nonce.log
trap 'if [ -f "$log" ]; then cp -f "$log" "${VM_LOG:-$OUT/last-run.log}" 2>/dev/null; rm -f "$log"; fi' EXIT
start=$(date +%s.%N)
set +e
# The serial console is a tty: drop its carriage returns (sed -u: line by line, as it comes).
# --foreground keeps qemu in our process group: Ctrl-C reaches it.
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 | sed -u 's/\r$//' | tee "$log"
status=("${PIPESTATUS[@]}")
set -e
# end the console's last line, whatever ended the VM
[ -z "$(tail -c1 "$log")" ] || echo
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

if [ "${status[0]}" = 124 ] || [ "${status[0]}" = 137 ]; then
  echo "vm-run: TIMEOUT after ${timeout_s} s (VM_TIMEOUT): the VM was killed" >&2
  exit 124
fi
# not anchored at the line's start: the command's output may not end with a newline
rc=$(sed -n "s/.*QS-VM-EXIT=\([0-9]\{1,3\}\) $nonce\$/\1/p" "$log" | tail -n1)
if [ -z "$rc" ]; then
  echo "vm-run: the VM ended without reporting an exit code after $secs s (qemu exit ${status[0]}): boot failure or kernel panic? console: ${VM_LOG:-$OUT/last-run.log}" >&2
  exit 125
fi
echo "vm-run: exit $rc after $secs s" >&2
exit "$rc"
