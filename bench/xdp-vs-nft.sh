#!/usr/bin/env bash
# Packets per director CPU-second: fulcrum's XDP plane against its nftables plane, direct routing, with the
# director's receive work on a CPU of its own (issue 28's per-core target).
#
#   bench/xdp-vs-nft.sh [--runs N] [--count FRAMES] [--smoke]   (MODES="routed nft-dr xdp-dr" for some;
#                                                               XDP_BENCH_DEBUG=1 prints the director device's
#                                                               XDP counters after each mode)
#
# Topology (namespaces fulcrum-<pid>-xb-{g,d,s}, addresses from fd00::/8):
#   generator g (fg<pid>, fd00::2) -- veth -- director d (fd<pid> | fe<pid>) -- veth -- sink s (fs<pid>, fd00:1::2)
# The director serves UDP [fd00:2::100]:5353 by direct routing (`-g`) or NAT (`-m`), scheduler rr, with the
# sink as its real server; the sink drops what it receives (XDP_DROP). The generator (examples/xdp-flood.rs) sends 80-byte frames out of
# its veth as XDP frames, the way a NIC driver hands them over: the director's device receives them in its NAPI
# poll without a socket buffer, so each plane does there what it would do behind a NIC with native XDP:
#   nft-dr, nft-nat: the frame becomes a socket buffer (GRO on the device turns veth's NAPI on); the nftables
#        plane's ingress hook forwards it by direct routing, or conntrack and DNAT then IPv6 forwarding for NAT;
#   xdp-dr, xdp-nat: the XDP program, attached in native mode (FULCRUM_XDP_MODE=native), rewrites the MAC (and for
#        NAT the destination and checksum) and redirects the frame to the other veth, no socket buffer at all.
# The director's receive runs as threaded NAPI (`/sys/class/net/DEV/threaded`): its kernel thread is pinned to
# CPU 0 at a real-time priority, and CPU 0 runs nothing else of the benchmark; the generator and the sink's NAPI
# thread share CPU 1. The sink drops with XDP_DROP at a real-time priority, so that it takes every frame the
# director forwards and still leaves most of CPU 1 to the generator: a sink that fell behind would drop at its
# ring, which costs the director less than a delivery and flatters the faster plane (a sink taking frames through
# its IPv6 stack kept up with 28% of XDP direct routing's frames: 4.7x; the same at a real-time priority kept up
# but starved the generator, so that the director's thread idled between small batches).
# `routed`: no service, the director's IPv6 stack routes the VIP to the sink (a baseline).
# Two loads: `same`, one flow (every packet after the first is an established flow) and `new`, a new source
# address per packet (every packet is a new flow: scheduling, a flow-table insert, evictions once it is full).
# Figures: packets the director received per second, the busy share of its NAPI thread (its run time from
# /proc/PID/schedstat, so that anything else the machine runs does not count), and their quotient, packets per
# director CPU-second; the sink's count shows they were forwarded (the sink shares CPU 1 with the generator
# and may fall behind; what it misses the director has still done). Medians of RUNS runs per mode
# and load, modes in ABBA order. Root, ethtool and a kernel with native XDP on veth needed; not part of
# `make test` (it takes about a minute and its numbers only mean something on a quiet machine).
set -euo pipefail

RUNS=3
COUNT=20000000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --smoke) RUNS=1; COUNT=2000000; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, BPF)" >&2; exit 1; }
for tool in ip ethtool taskset chrt awk; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "needs two CPUs" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$top/target}
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum-lvs --example xdp-flood
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum --bin fulcrum
FLOOD="$CARGO_TARGET_DIR/release/examples/xdp-flood"
FULCRUM="$CARGO_TARGET_DIR/release/fulcrum"

P="fulcrum-$$-xb"
G=$P-g D=$P-d S=$P-s
GD=fg$$ DD=fd$$ ED=fe$$ SD=fs$$
VIP=fd00:2::100
BPF=""
sink_pid=""
cleanup() {
  if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
  if [ -n "$BPF" ]; then
    FULCRUM_L4_PLANE=xdp FULCRUM_XDP_PIN_DIR=$BPF/lvs ip netns exec $D "$FULCRUM" ipvsadm -C 2>/dev/null || true
    umount "$BPF" 2>/dev/null || true; rmdir "$BPF" 2>/dev/null || true
  fi
  for ns in $G $D $S; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

for ns in $G $D $S; do ip netns add "$ns"; done
ip link add $GD netns $G type veth peer $DD netns $D
ip link add $ED netns $D type veth peer $SD netns $S
for x in "$G $GD" "$D $DD" "$D $ED" "$S $SD"; do
  set -- $x
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$1" link set "$2" up
done
ip -n $G addr add fd00::2/64 dev $GD nodad
ip -n $D addr add fd00::1/64 dev $DD nodad
ip -n $D addr add fd00:1::1/64 dev $ED nodad
ip -n $S addr add fd00:1::2/64 dev $SD nodad
ip -n $D neigh replace fd00:1::2 lladdr "$(ip netns exec $S cat /sys/class/net/$SD/address)" dev $ED nud permanent
ip netns exec $D sysctl -qw net.ipv6.conf.all.forwarding=1
# The sink drops every frame with an XDP program (XDP_DROP, native mode), at the least cost to its CPU.
ip netns exec $S "$FLOOD" drop $SD 3600 & sink_pid=$!
for _ in $(seq 50); do ip -n $S link show $SD | grep -q "xdp" && break; sleep 0.1; done
ip -n $S link show $SD | grep -q "xdp" || { echo "the sink's XDP_DROP program did not attach" >&2; exit 1; }
DMAC=$(ip netns exec $D cat /sys/class/net/$DD/address)
BPF=$(mktemp -d "/tmp/$P-bpf.XXXX")
mount -t bpf bpf "$BPF"

ipvsadm() {
  FULCRUM_XDP_PIN_DIR=$BPF/lvs FULCRUM_XDP_MODE=native FULCRUM_LVS_DR_DEVICES=$DD \
    ip netns exec $D "$FULCRUM" ipvsadm "$@"
}

# Threaded NAPI for DEV in NS, its thread pinned to CPU (with `fifo`, also given a real-time priority, so that
# whatever else runs on that CPU does not take turns with it).
napi_on() {
  local ns=$1 dev=$2 cpu=$3 fifo=${4:-} pid
  ip netns exec "$ns" sh -c "echo 1 > /sys/class/net/$dev/threaded"
  for pid in $(ps -eo pid=,comm= | awk -v d="napi/$dev-" 'index($2, d) == 1 {print $1}'); do
    taskset -pc "$cpu" "$pid" >/dev/null
    if [ -n "$fifo" ]; then chrt -f -p 10 "$pid"; fi
  done
}

# Sets mode $1 up: routed, or PLANE-METHOD with PLANE nft or xdp and METHOD dr (-g) or nat (-m).
# Returns 1 (saying why) when the XDP plane does not serve the service.
setup_mode() {
  FULCRUM_L4_PLANE=xdp ipvsadm -C
  FULCRUM_L4_PLANE=nftables ipvsadm -C
  ip netns exec $D conntrack -F >/dev/null 2>&1 || true
  ip -n $D -6 route del $VIP/128 2>/dev/null || true
  local plane=${1%-*} method=${1#*-}
  if [ "$plane" = xdp ]; then
    ip netns exec $D ethtool -K $DD gro off >/dev/null
  else
    ip netns exec $D ethtool -K $DD gro on >/dev/null
  fi
  if [ "$1" = routed ]; then
    ip -n $D -6 route add $VIP/128 via fd00:1::2 dev $ED
  else
    local env=nftables f=-g; [ "$plane" = xdp ] && env=xdp; [ "$method" = nat ] && f=-m
    FULCRUM_L4_PLANE=$env ipvsadm -A -u "[$VIP]:5353" -s rr
    FULCRUM_L4_PLANE=$env ipvsadm -a -u "[$VIP]:5353" -r "[fd00:1::2]:5353" $f
    if [ "$plane" = xdp ]; then
      if ! FULCRUM_L4_PLANE=xdp ipvsadm --plane | grep -q "^xdp       UDP \[$VIP\]:5353"; then
        echo "$1 skipped: $(FULCRUM_L4_PLANE=xdp ipvsadm --plane | grep "$VIP" | head -1)" >&2
        return 1
      fi
      ip -n $D link show $DD | grep -q "xdp " || { echo "program not attached in native mode" >&2; exit 1; }
    fi
  fi
  if [ "$plane" != xdp ] && ip -n $D link show $DD | grep -q "xdp"; then
    echo "an XDP program is still attached to $DD outside the xdp plane" >&2; exit 1
  fi
  napi_on $D $DD 0 fifo
  napi_on $S $SD 1 fifo
}

stat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
# Frames the sink's XDP program saw.
sink_frames() { ip netns exec $S ethtool -S $SD | awk '/rx_queue_[0-9]+_xdp_packets:/ {n += $2} END {print n + 0}'; }
# Nanoseconds the director's NAPI thread(s) ran.
napi_ns() {
  local pid sum=0
  for pid in $(ps -eo pid=,comm= | awk -v d="napi/$DD-" 'index($2, d) == 1 {print $1}'); do
    sum=$((sum + $(cut -d' ' -f1 "/proc/$pid/schedstat")))
  done
  echo $sum
}

# One run: prints "director_pps napi_busy pkts_per_cpu_s sink_pps".
run() {
  local load=$1 r0 k0 b0 t0 r1 k1 b1 t1
  r0=$(stat $D $DD rx_packets); k0=$(sink_frames); b0=$(napi_ns); t0=$(date +%s%N)
  ip netns exec $G taskset -c 1 timeout 60 "$FLOOD" $GD "$DMAC" fd00::2 $VIP 5353 "$COUNT" "$load" >/dev/null
  sleep 0.2
  r1=$(stat $D $DD rx_packets); k1=$(sink_frames); b1=$(napi_ns); t1=$(date +%s%N)
  awk -v r=$((r1 - r0)) -v k=$((k1 - k0)) -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {
    s = t / 1e9; busy = b / 1e9; if (busy <= 0) busy = 1e-9
    printf "%.0f %.2f %.0f %.0f\n", r / s, busy / s, r / busy, k / s }'
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A out
MODES=${MODES:-routed nft-dr xdp-dr nft-nat xdp-nat}
read -r -a modes <<<"$MODES"
order=("${modes[@]}")
for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[i]}"); done
for load in same new; do
  for mode in "${order[@]}"; do
    setup_mode "$mode" || continue
    for _ in $(seq "$RUNS"); do out[$load-$mode]+="$(run "$load")"$'\n'; done
    if [ -n "${XDP_BENCH_DEBUG:-}" ]; then ip netns exec $D ethtool -S $DD | grep -v ": 0$" >&2; fi
  done
done

col() { printf '%s' "${out[$1]:-}" | awk -v c="$2" 'NF {print $c}' | median; }
printf '%-5s %-8s %13s %10s %15s %11s\n' load mode director_pps napi_busy pkts_per_cpu_s sink_pps
for load in same new; do
  for mode in "${modes[@]}"; do
    [ -n "${out[$load-$mode]:-}" ] || continue
    printf '%-5s %-8s %13s %10s %15s %11s\n' "$load" "$mode" "$(col "$load-$mode" 1)" \
      "$(col "$load-$mode" 2)" "$(col "$load-$mode" 3)" "$(col "$load-$mode" 4)"
  done
  for method in dr nat; do
    awk -v a="$(col "$load-xdp-$method" 3)" -v b="$(col "$load-nft-$method" 3)" -v l="$load" -v m=$method \
      'BEGIN { if (a > 0 && b > 0) printf "%s, %s: xdp / nft packets per director CPU-second = %.2f\n", l, m, a / b }'
  done
done
