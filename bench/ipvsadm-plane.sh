#!/usr/bin/env bash
# Times `fulcrum ipvsadm --plane` in a namespace of its own (fulcrum-plt-<pid>-d, a veth to fulcrum-plt-<pid>-r and
# a bpf file system mounted for the run under /tmp), with nothing pinned and then with the XDP program
# pinned (after a store put a direct-routed service on it). Root needed; nothing leaves the two namespaces.
#
#   bench/ipvsadm-plane.sh [FULCRUM_BINARY [REPS]]      (defaults: target/debug/fulcrum, 3)
set -euo pipefail
BIN=$(readlink -f "${1:-${CARGO_TARGET_DIR:-target}/debug/fulcrum}"); REPS=${2:-3}
P=fulcrum-plt-$$; D=$P-d; R=$P-r; BPF=/tmp/$P-bpf
cleanup() { umount "$BPF" 2>/dev/null || true; rm -rf "$BPF"; ip netns del "$D" 2>/dev/null || true; ip netns del "$R" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$D"; ip netns add "$R"
ip link add d0 netns "$D" type veth peer r0 netns "$R"
ip -n "$D" addr add 198.18.1.1/24 dev d0; ip -n "$D" link set d0 up; ip -n "$D" link set lo up
ip -n "$R" addr add 198.18.1.2/24 dev r0; ip -n "$R" link set r0 up
mkdir -p "$BPF"; mount -t bpf bpf "$BPF"
run() { ip netns exec "$D" env FULCRUM_L4_PLANE=xdp FULCRUM_XDP_PIN_DIR="$BPF/lvs" FULCRUM_LVS_DR_DEVICES=d0 "$BIN" ipvsadm "$@"; }
t() { local s e; s=$(date +%s%N); run --plane > /tmp/$P.out; e=$(date +%s%N); echo "$(( (e - s) / 1000000 ))"; }
echo -n "nothing pinned (ms):"; for i in $(seq "$REPS"); do echo -n " $(t)"; done; echo
head -1 /tmp/$P.out
run -A -t 198.18.0.10:80 -s rr
run -a -t 198.18.0.10:80 -r 198.18.1.2 -g
ls "$BPF/lvs" >/dev/null
echo -n "program pinned (ms):"; for i in $(seq "$REPS"); do echo -n " $(t)"; done; echo
cat /tmp/$P.out; rm -f /tmp/$P.out
run -C
