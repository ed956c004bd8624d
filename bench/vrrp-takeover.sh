#!/usr/bin/env bash
# VRRP takeover time, side by side: fulcrum keepalived vs keepalived, in two network namespaces.
#
#   sudo bench/vrrp-takeover.sh [--reps N] [--pairs "f-k k-f k-k f-f"] [--kills "KILL TERM"]
#
# Two namespaces (fulcrum-bench-<pid>-a / -b) joined by a veth pair, 198.18.0.1/24 and 198.18.0.2/24, one
# VRRPv2 instance (VRID 51, advert_int 1, PASS auth, VIP 198.18.0.100): the master in a at priority 150, the
# backup in b at 100. A pair "X-Y" runs X as master and Y as backup (f = fulcrum, k = keepalived 2.2.x).
# Each repetition starts both daemons afresh, waits for the master to hold the VIP alone, waits a random
# 1.5-2.5 s (so the kill falls anywhere in the advert interval), then kills the master (SIGKILL: every process
# of namespace a, as a crash would; SIGTERM: the daemon, which sends a priority-0 advert) and measures:
#   - garp:  kill -> first gratuitous ARP for the VIP from the backup's MAC (tcpdump -tt on vb, kernel timestamps);
#   - poll:  kill -> the VIP listed by `ip -n b addr` (polled every 10 ms);
#   - adv:   (SIGKILL only) the master's last advert before the kill -> that GARP (3 x interval + skew expected,
#            3.609 s at priority 100).
# Prints medians (and min-max of garp) per pair and signal. Needs root, iproute2, tcpdump, keepalived, gawk.
# Not part of `make test`.
set -euo pipefail

REPS=5
PAIRS="f-k k-f k-k f-f"
KILLS="KILL TERM"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for tool in ip tcpdump keepalived gawk; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
target=${CARGO_TARGET_DIR:-$top/target}
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum
FULCRUM=("$target/release/fulcrum" keepalived)

NSA="fulcrum-bench-$$-a"
NSB="fulcrum-bench-$$-b"
VIP=198.18.0.100
work=$(mktemp -d /tmp/fulcrum-bench-vrrp.XXXXXX)

kill_ns() { # SIGKILL every process of namespace $1, stopped first: keepalived's VRRP child gets SIGTERM when its
  # parent dies (and would send a priority-0 advert), which a crash must not allow
  local p pids
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  for p in $pids; do kill -STOP "$p" 2>/dev/null || true; done
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
  kill_ns "$NSA"; kill_ns "$NSB"
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NSA"
ip netns add "$NSB"
ip -n "$NSA" link set lo up
ip -n "$NSB" link set lo up
ip -n "$NSA" link add va type veth peer name vb netns "$NSB"
ip -n "$NSA" addr add 198.18.0.1/24 dev va
ip -n "$NSB" addr add 198.18.0.2/24 dev vb
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up
MACB=$(ip -n "$NSB" -o link show vb | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)

conf() { # conf DEV PRIORITY
  cat <<CONF
global_defs {
    router_id $1
}
vrrp_instance VI_1 {
    state BACKUP
    interface $1
    virtual_router_id 51
    priority $2
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        $VIP/24
    }
}
CONF
}
conf va 150 > "$work/a.conf"
conf vb 100 > "$work/b.conf"

holds() { ip -n "$1" -o addr show | grep -q " $VIP/"; }
now() { date +%s.%N; }

start() { # start NS KIND CONF -> pid in $started
  local ns=$1 kind=$2 cfg=$3 tag=$1-$RANDOM
  if [ "$kind" = f ]; then
    ip netns exec "$ns" "${FULCRUM[@]}" -n -l -f "$cfg" >"$work/$tag.log" 2>&1 &
  else
    ip netns exec "$ns" keepalived -n -l -P -f "$cfg" -p "$work/$tag.k.pid" -r "$work/$tag.v.pid" \
      -c "$work/$tag.c.pid" >"$work/$tag.log" 2>&1 &
  fi
  started=$!
}

# One repetition; prints "garp poll adv" in milliseconds (or "fail").
one() { # one MASTERKIND BACKUPKIND SIGNAL
  local mk=$1 bk=$2 sig=$3 mpid t0 tpoll cap="$work/cap.txt"
  ip -n "$NSA" addr del "$VIP/24" dev va 2>/dev/null || true
  ip -n "$NSB" addr del "$VIP/24" dev vb 2>/dev/null || true
  ip netns exec "$NSB" tcpdump -i vb -n -e -tt -l --immediate-mode 'arp or ip proto 112' >"$cap" 2>"$work/tcpdump.err" &
  local tpid=$!
  for _ in $(seq 100); do grep -q listening "$work/tcpdump.err" 2>/dev/null && break; sleep 0.02; done
  start "$NSA" "$mk" "$work/a.conf"; mpid=$started
  start "$NSB" "$bk" "$work/b.conf"
  local ok=0
  for _ in $(seq 1500); do
    if holds "$NSA" && ! holds "$NSB"; then ok=1; break; fi
    sleep 0.01
  done
  if [ $ok = 0 ]; then echo fail; kill_ns "$NSA"; kill_ns "$NSB"; return; fi
  sleep "$(gawk -v r=$RANDOM 'BEGIN { printf "%.3f", 1.5 + r / 32768 }')"
  t0=$(now)
  if [ "$sig" = KILL ]; then kill_ns "$NSA"; else kill -TERM "$mpid"; fi
  tpoll=fail
  for _ in $(seq 1000); do
    if holds "$NSB"; then tpoll=$(now); break; fi
    sleep 0.01
  done
  sleep 0.3
  kill_ns "$NSA"; kill_ns "$NSB"
  wait 2>/dev/null || true
  gawk -v t0="$t0" -v tp="$tpoll" -v mac="$MACB" -v vip="$VIP" '
    / 198\.18\.0\.1 > 224\.0\.0\.18: VRRP/ && $1 < t0 { last = $1 }
    /ARP/ && $2 == mac && $0 ~ ("who-has " vip " .*tell " vip) && $1 >= t0 && !g { g = $1 }
    END {
      if (!g || tp == "fail") { print "fail"; exit }
      printf "%.0f %.0f %.0f\n", (g - t0) * 1000, (tp - t0) * 1000, last ? (g - last) * 1000 : -1
    }' "$cap"
}

median() { sort -n | gawk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.0f", m }'; }
name() { [ "$1" = f ] && echo fulcrum || echo keepalived; }

echo "VRRP takeover, $REPS repetitions each, advert_int 1, priorities 150/100 (ms; medians)" >&2
printf '| master -> backup | signal | garp (kill -> GARP) | min-max | poll (kill -> VIP) | last advert -> GARP | failed |\n'
printf '|---|---|---|---|---|---|---|\n'
for pair in $PAIRS; do
  mk=${pair%-*}; bk=${pair#*-}
  for sig in $KILLS; do
    : > "$work/res"
    fails=0
    for _ in $(seq "$REPS"); do
      r=$(one "$mk" "$bk" "$sig")
      echo "  $pair SIG$sig: $r" >&2
      if [ "$r" = fail ]; then fails=$((fails + 1)); else echo "$r" >> "$work/res"; fi
    done
    g=$(cut -d' ' -f1 "$work/res" | median)
    range=$(cut -d' ' -f1 "$work/res" | sort -n | gawk 'NR == 1 { lo = $1 } { hi = $1 } END { print (NR ? lo "-" hi : "-") }')
    p=$(cut -d' ' -f2 "$work/res" | median)
    a=-
    [ "$sig" = KILL ] && a=$(cut -d' ' -f3 "$work/res" | median)
    printf '| %s -> %s | SIG%s | %s | %s | %s | %s | %s |\n' "$(name "$mk")" "$(name "$bk")" "$sig" "$g" "$range" "$p" "$a" "$fails"
  done
done
