#!/usr/bin/env bash
# L4 director benchmark: connections/s and packets/s through fulcrum's nftables director (NAT, direct
# routing) and its XDP plane (direct routing) against plain routed forwarding, in the same namespaces and topology.
#
#   bench/lvs-vs-routing.sh [--runs N] [--duration SECS] [--threads N] [--smoke]   (MODES="routed xdp" for some)
#
# Topology (network namespaces fulcrum-<pid>-bench-{c,d,r1,r2}, addresses from 198.18.0.0/15):
#   client c (198.18.0.2) -- veth -- director d (198.18.0.1 | br0 198.18.1.1) -- bridge -- r1 198.18.1.2, r2 198.18.1.3
# Modes (TCP port 8080, 8081, 8082 respectively; UDP 5353), each measured with the same client and servers (examples/lvs-load.rs: TCP connect / read / close
# loops for connections per second, UDP 64-byte request/reply with a window in flight for packets per second):
#   routed: the client addresses the real servers (alternating); the director only routes.
#   nat:    ipvsadm -A -t VIP:8081 -s rr, two -m servers; the client addresses the VIP (198.19.0.100).
#   dr:     the same with -g (VIP:8082): ingress forwarding on the director; the real servers hold the VIP on lo.
#           Replies are routed back by the director (same return path as "routed", no NAT). The
#           servers' UDP sockets are bound to their own address and to the VIP so that replies leave
#           from the address the client sent to.
#   xdp:    the same direct routing (VIP:8083) through the XDP plane (FULCRUM_L4_PLANE=xdp, the program on d0 in
#           generic mode, veth having no driver; maps pinned on a bpf file system mounted for the run). Skipped,
#           saying why, when `ipvsadm --plane` does not show the service on xdp. Generic XDP on veth runs after
#           the skb is built and redirects into the bridge through the stack, so this mode checks that the plane
#           forwards; it says nothing about native XDP on a NIC (the issue's per-core target), not measured here.
# The director's conntrack TIME_WAIT timeout is lowered to 5 s in every mode so the table never fills.
# Not part of `make test`: it takes about a minute and its numbers only mean something on a quiet machine.
set -euo pipefail

RUNS=3
DURATION=5
THREADS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --smoke) RUNS=1; DURATION=1; THREADS=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for tool in ip nft conntrack awk; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

top=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$top/target}
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum-lvs --example lvs-load
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum --bin fulcrum
LOAD="$CARGO_TARGET_DIR/release/examples/lvs-load"
FULCRUM="$CARGO_TARGET_DIR/release/fulcrum"

P="fulcrum-$$-bench"
C=$P-c D=$P-d R1=$P-r1 R2=$P-r2
VIP=198.19.0.100
pids=()
BPF=""
cleanup() {
  if [ -n "$BPF" ]; then umount "$BPF" 2>/dev/null || true; rmdir "$BPF" 2>/dev/null || true; fi
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  for ns in $C $D $R1 $R2; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

for ns in $C $D $R1 $R2; do ip netns add "$ns"; done
ip link add c0 netns $C type veth peer d0 netns $D
ip -n $C addr add 198.18.0.2/24 dev c0; ip -n $C link set c0 up; ip -n $C link set lo up
ip -n $C route add default via 198.18.0.1
ip netns exec $C sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
ip -n $D addr add 198.18.0.1/24 dev d0; ip -n $D link set d0 up; ip -n $D link set lo up
ip -n $D link add br0 type bridge; ip -n $D addr add 198.18.1.1/24 dev br0; ip -n $D link set br0 up
ip netns exec $D sysctl -qw net.ipv4.ip_forward=1
i=0
for ns in $R1 $R2; do
  ip link add eth0 netns "$ns" type veth peer p$i netns $D
  ip -n $D link set p$i master br0; ip -n $D link set p$i up
  ip -n "$ns" addr add 198.18.1.$((i + 2))/24 dev eth0; ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
  ip -n "$ns" route add default via 198.18.1.1
  ip -n "$ns" addr add $VIP/32 dev lo
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 net.ipv4.tcp_tw_reuse=1
  ip netns exec "$ns" "$LOAD" serve r$((i + 1)) 8080,8081,8082,8083 5353 2 198.18.1.$((i + 2)) $VIP & pids+=($!)
  i=$((i + 1))
done
sleep 0.5

# The nat and dr modes run on the nftables plane (XDP is the default plane where it loads); xdp_ipvsadm asks for XDP.
ipvsadm() { FULCRUM_L4_PLANE=${FULCRUM_L4_PLANE:-nftables} ip netns exec $D "$FULCRUM" ipvsadm "$@"; }
xdp_ipvsadm() {
  FULCRUM_L4_PLANE=xdp FULCRUM_XDP_PIN_DIR=$BPF/lvs FULCRUM_LVS_DR_DEVICES=d0 ipvsadm "$@"
}
# Conntrack is global per namespace once any rule uses it; keep TIME_WAIT short in every mode.
tw() { ip netns exec $D sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=5 2>/dev/null || true; }

setup_mode() {
  ipvsadm -C
  ip netns exec $D conntrack -F >/dev/null 2>&1 || true
  case $1 in
    routed) ;;
    nat|dr|xdp)
      local f=-m p cmd=ipvsadm; [ "$1" != nat ] && f=-g
      if [ "$1" = xdp ]; then
        BPF=$(mktemp -d "/tmp/$P-bpf.XXXX"); mount -t bpf bpf "$BPF"; cmd=xdp_ipvsadm
      fi
      p=$(port "$1")
      $cmd -A -t $VIP:$p -s rr
      $cmd -a -t $VIP:$p -r 198.18.1.2:$p $f
      $cmd -a -t $VIP:$p -r 198.18.1.3:$p $f
      $cmd -A -u $VIP:5353 -s rr
      $cmd -a -u $VIP:5353 -r 198.18.1.2:5353 $f
      $cmd -a -u $VIP:5353 -r 198.18.1.3:5353 $f
      if [ "$1" = xdp ]; then
        local plane; plane=$(xdp_ipvsadm --plane)
        if ! echo "$plane" | grep -q "^xdp       TCP $VIP:$p"; then
          echo "xdp mode skipped: $(echo "$plane" | head -1)" >&2; return 1
        fi
      fi ;;
  esac
  tw
}

# One TCP port per mode: the real servers' TIME_WAIT sockets of one mode would otherwise meet the
# same client ports with timestamps from another mode (the client's timestamp offset depends on the
# destination address) and drop their SYNs (PAWS).
port() { case $1 in routed) echo 8080 ;; nat) echo 8081 ;; dr) echo 8082 ;; xdp) echo 8083 ;; esac; }

targets() {
  local port=$2
  if [ "$1" = routed ]; then echo "198.18.1.2:$port 198.18.1.3:$port"; else echo "$VIP:$port"; fi
}

# Busy CPU time of the whole machine in clock ticks (user, nice, system, irq, softirq, steal): the client,
# the director and the servers share the two CPUs, so packets per busy CPU-second is the figure that compares.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)

measure() { # mode kind -> number
  local mode=$1 kind=$2 out b0 b1 n
  if [ "$kind" = cps ]; then
    # shellcheck disable=SC2046
    out=$(ip netns exec $C "$LOAD" cps "$DURATION" "$THREADS" $(targets "$mode" "$(port "$mode")"))
    echo "  $mode: $out" >&2
    echo "$out" | sed -n 's/^cps=\([0-9]*\).*/\1/p'
  else
    # shellcheck disable=SC2046
    b0=$(busy)
    out=$(ip netns exec $C "$LOAD" pps "$DURATION" "$THREADS" 32 $(targets "$mode" 5353))
    b1=$(busy)
    n=$(echo "$out" | sed -n 's/.* pps=\([0-9]*\).*/\1/p')
    # packets per busy CPU-second, from the rate and the run's length
    echo "$n $b0 $b1" | awk -v d="$DURATION" -v hz="$HZ" '{c = ($3 - $2) / hz; printf "%d:%d\n", $1, (c > 0 ? $1 * d / c : 0)}'
  fi
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The XDP program's own time per packet, from the kernel's BPF run-time statistics (bpftool prog show).
prog_stats() { # -> "run_time_ns run_cnt" of the program on d0
  local id
  id=$(ip netns exec $D ip -j link show d0 | grep -o "\"prog\":{\"id\":[0-9]*" | grep -o "[0-9]*$" | head -1)
  [ -n "$id" ] && command -v bpftool >/dev/null || { echo "no program id on d0" >&2; echo "0 0"; return; }
  bpftool prog show id "$id" | sed -n 's/.* run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2/p'
}

declare -A res
modes=()
for mode in ${MODES:-routed nat dr xdp}; do
  setup_mode $mode || continue
  modes+=("$mode")
  measure $mode cps >/dev/null # warm-up (ARP, conntrack, caches)
  vals=""
  for _ in $(seq "$RUNS"); do vals="$vals $(measure $mode cps)"; done
  res[$mode.cps]=$(echo "$vals" | median)
  echo "$mode cps runs:$vals -> median ${res[$mode.cps]}" >&2
  vals="" per=""
  for _ in $(seq "$RUNS"); do
    v=$(measure $mode pps); vals="$vals ${v%%:*}"; per="$per ${v##*:}"
  done
  res[$mode.pps]=$(echo "$vals" | median)
  res[$mode.ppc]=$(echo "$per" | median)
  echo "$mode pps runs:$vals -> median ${res[$mode.pps]}; per busy CPU-second:$per -> ${res[$mode.ppc]}" >&2
  if [ "$mode" = xdp ]; then
    # one more packet run with the kernel's BPF statistics on (they cost the program two clock reads), not counted above
    sysctl -qw kernel.bpf_stats_enabled=1; s0=$(prog_stats)
    measure $mode pps >/dev/null
    s1=$(prog_stats); sysctl -qw kernel.bpf_stats_enabled=0
    echo "${s0:-0 0} ${s1:-0 0}" | awk '{n = $4 - $2; if (n > 0) printf "xdp program: %d runs, %.0f ns each (kernel BPF statistics)\n", n, ($3 - $1) / n}' >&2
  fi
done
ipvsadm -C
FULCRUM_L4_PLANE=xdp FULCRUM_XDP_PIN_DIR=${BPF:-/nonexistent}/lvs ipvsadm -C 2>/dev/null || true

printf '%-8s %12s %12s %14s %10s %10s %10s\n' mode conn/s pkt/s "pkt/cpu-s" "cps/routed" "pps/routed" "ppc/routed"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }
for mode in "${modes[@]}"; do
  printf '%-8s %12s %12s %14s %10s %10s %10s\n' $mode "${res[$mode.cps]}" "${res[$mode.pps]}" "${res[$mode.ppc]}" \
    "$(ratio "${res[$mode.cps]}" "${res[routed.cps]:-0}")" "$(ratio "${res[$mode.pps]}" "${res[routed.pps]:-0}")" \
    "$(ratio "${res[$mode.ppc]}" "${res[routed.ppc]:-0}")"
done
