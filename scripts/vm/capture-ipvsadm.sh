#!/usr/bin/env bash
# Captures real ipvsadm output into test/fixtures/ipvsadm/ (test data; see its README.md).
#   In the test VM (make vm-run CMD='bash scripts/vm/capture-ipvsadm.sh'): builds an IPVS table of UDP
#   services (IPv4 and IPv6; wrr, wlc, sh, mh; direct-routing real servers, one of weight 0), saves
#   `ipvsadm -S -n` and `ipvsadm -Ln --exact` for it and for the empty table, then clears the table.
#   On a host without IPVS (bash scripts/vm/capture-ipvsadm.sh): saves `ipvsadm -Ln`'s exit code and
#   stderr to no-ipvs.txt.
# Overwrites the files it writes; `ipvsadm -C` empties the whole table, hence VM only.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
OUT=test/fixtures/ipvsadm
mkdir -p $OUT

if [ ! -e /etc/quicsteer-vm ] && [ "${QS_VM:-}" != 1 ]; then
  set +e
  ipvsadm -Ln >/dev/null 2>$OUT/no-ipvs.stderr
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    rm -f $OUT/no-ipvs.stderr
    echo "capture-ipvsadm: this host has IPVS: no-ipvs.txt needs a host without it; the table captures need the VM (make vm-run CMD='bash $0')" >&2
    exit 1
  fi
  { echo "exit=$rc"; cat $OUT/no-ipvs.stderr; } >$OUT/no-ipvs.txt
  rm -f $OUT/no-ipvs.stderr
  echo "capture-ipvsadm: $OUT/no-ipvs.txt (ipvsadm -Ln: exit $rc, kernel $(uname -r))"
  exit 0
fi

grep -q '^ip_vs ' /proc/modules || modprobe ip_vs
trap 'ipvsadm -C' EXIT
ipvsadm -C

capture() { # capture PREFIX: both listings of the current table
  ipvsadm -S -n >$OUT/"$1"save-n.txt
  ipvsadm -Ln --exact >$OUT/"$1"list-exact.txt
}
capture empty-

# IPv4: wrr with weights 3, 1 and 0 (drained); wlc; sh with its flags; a persistent service
ipvsadm -A -u 198.51.100.10:4433 -s wrr
ipvsadm -a -u 198.51.100.10:4433 -r 192.0.2.1:4433 -g -w 3
ipvsadm -a -u 198.51.100.10:4433 -r 192.0.2.2:4433 -g -w 1
ipvsadm -a -u 198.51.100.10:4433 -r 192.0.2.3:4433 -g -w 0
ipvsadm -A -u 198.51.100.11:443 -s wlc
ipvsadm -a -u 198.51.100.11:443 -r 192.0.2.4:443 -g -w 5
ipvsadm -a -u 198.51.100.11:443 -r 192.0.2.5:443 -g -w 2
ipvsadm -A -u 198.51.100.12:443 -s sh -b sh-fallback,sh-port
ipvsadm -a -u 198.51.100.12:443 -r 192.0.2.6:443 -g -w 1
ipvsadm -a -u 198.51.100.12:443 -r 192.0.2.7:443 -g -w 1
ipvsadm -A -u 198.51.100.13:4433 -s wrr -p 300
ipvsadm -a -u 198.51.100.13:4433 -r 192.0.2.8:4433 -g -w 1
# IPv6: mh (with and without its flags) and wrr, one real server of weight 0
ipvsadm -A -u '[2001:db8::10]:4433' -s mh -b mh-fallback,mh-port
ipvsadm -a -u '[2001:db8::10]:4433' -r '[2001:db8:1::1]:4433' -g -w 2
ipvsadm -a -u '[2001:db8::10]:4433' -r '[2001:db8:1::2]:4433' -g -w 0
ipvsadm -A -u '[2001:db8::11]:443' -s mh
ipvsadm -a -u '[2001:db8::11]:443' -r '[2001:db8:1::3]:443' -g -w 1
ipvsadm -A -u '[2001:db8::12]:4433' -s wrr
ipvsadm -a -u '[2001:db8::12]:4433' -r '[2001:db8:1::4]:4433' -g -w 7
ipvsadm -a -u '[2001:db8::12]:4433' -r '[2001:db8:1::5]:4433' -g -w 3
capture ""

ipvsadm -C
[ -z "$(ipvsadm -S -n)" ] || { echo "capture-ipvsadm: ipvsadm -C left services behind" >&2; exit 1; }
echo "capture-ipvsadm: $OUT/{save-n,list-exact,empty-save-n,empty-list-exact}.txt (kernel $(uname -r), $(ipvsadm -v))"
