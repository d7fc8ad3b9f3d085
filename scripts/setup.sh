#!/usr/bin/env bash
# Installs everything quicsteer needs on Debian 12 and builds it: apt packages, npm ci, make, quicsteer on PATH.
# Idempotent: a second run installs nothing and rebuilds nothing. Needs root (apt, /usr/local/bin).
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

# Debian packages: build (clang/llvm, clang-19 for the kfunc AES object, libbpf-dev, libelf/zlib for the static libbpf link), run
# (iproute2, bpftool), director and tests (ipvsadm, nftables, conntrack, tcpdump; tshark decrypts
# QUIC captures), the VM harness (qemu, busybox, kmod for the guest's modprobe, xz and e2fsprogs
# for the image), and the real QUIC peers (ngtcp2 examples, GnuTLS; openssl makes their test
# certificates); the metrics tests' real Prometheus tools (prometheus
# for promtool's `check metrics` linter, python3-prometheus-client for its exposition-text parser);
# systemd (the unit's tests run a systemd of their own in namespaces, and systemd-analyze verify);
# keepalived (the tests check `quicsteer director keepalived` output with its --config-test and startup);
# Go and Debian's quic-go (0.29): the tests' quic-go peer, test/stacks/quicgo (an independent QUIC stack, built offline
# in GOPATH mode).
PACKAGES=(
  clang clang-19 llvm libbpf-dev libelf-dev zlib1g-dev linux-libc-dev pkg-config make g++ python3
  bpftool iproute2 ethtool
  ipvsadm nftables conntrack tcpdump tshark
  qemu-system-x86 busybox-static cpio kmod xz-utils e2fsprogs
  ngtcp2-server ngtcp2-client gnutls-bin openssl
  prometheus python3-prometheus-client
  systemd
  keepalived
  golang-go golang-github-lucas-clemente-quic-go-dev
)

say() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: needs root (apt-get, /usr/local/bin): run 'sudo make setup'" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node >= 18.18 with its headers (node-gyp builds against them, never downloads them).
node_ok() {
  command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>18||(a===18&&b>=18)?0:1)'
}
if ! node_ok; then missing+=(nodejs npm libnode-dev); fi

if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # prometheus is installed for promtool: the server it ships (enabled and started on :9090) was not asked for
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    say "disabling the prometheus server the package started (only promtool is needed)"
    systemctl disable --now prometheus.service >/dev/null
  fi
  # keepalived is installed for its checks: the package enables keepalived.service, which starts (and takes
  # IPVS and VRRP over) at the next boot once /etc/keepalived/keepalived.conf exists. Not asked for either.
  # Disabling works without a running systemd; it started only if a config was there already: stop it then.
  if [[ " ${missing[*]} " == *" keepalived "* ]]; then
    say "disabling keepalived.service the package enabled (only the keepalived command is needed)"
    systemctl disable --quiet $([ -d /run/systemd/system ] && echo --now) keepalived.service
  fi
else
  say "Debian packages already installed"
fi
node_ok || { echo "setup: Node.js >= 18.18 is required (found $(node --version 2>/dev/null || echo none))" >&2; exit 1; }
nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  say "installing Node headers (libnode-dev)"
  apt-get install -y -qq libnode-dev >/dev/null
fi

# npm ci only when the lockfile changed since the last install (make tracks that).
make --no-print-directory node_modules/.package-lock.json
make --no-print-directory all

ln -sfn "$PWD/scripts/quicsteer.mjs" /usr/local/bin/quicsteer
say "quicsteer is $(command -v quicsteer) -> $(readlink /usr/local/bin/quicsteer)"
say "done"
