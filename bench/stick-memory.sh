#!/usr/bin/env bash
# Memory per stick-table entry, fulcrum beside HAProxy: the same table in both, filled with the same keys through the
# runtime API (`set table ... data.gpc0 1`, batches of 200 commands joined by `;`), and the growth of the process's
# resident memory divided by the number of keys.
#
#   bench/stick-memory.sh [--keys N] [--store LIST] [--type integer|ip|"string len 32"]
#
# Defaults: 100,000 keys, `store http_req_rate(10s),conn_cur,gpc0`, integer keys. FULCRUM_BIN=path uses that binary
# (else the release build). Memory does not depend on what else runs, so a busy machine is fine. Not part of
# `make test`.
set -euo pipefail
KEYS=100000 STORE="http_req_rate(10s),conn_cur,gpc0" TYPE=integer
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) KEYS="$2"; shift 2 ;;
    --store) STORE="$2"; shift 2 ;;
    --type) TYPE="$2"; shift 2 ;;
    *) echo "usage: $0 [--keys N] [--store LIST] [--type T]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
BIN="${FULCRUM_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release -q
  BIN=target/release/fulcrum
fi
work=$(mktemp -d /tmp/fulcrum-stickmem.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/fill.py" <<'PY'
import socket, sys, ipaddress
path, n, table, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def key(k):
    if kind == "ip": return str(ipaddress.IPv4Address(0x0a000000 + k))
    if kind.startswith("string"): return f"client-{k:08d}"
    return str(k)
for start in range(0, n, 200):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    cmds = ";".join(f"set table {table} key {key(k)} data.gpc0 1" for k in range(start, min(n, start + 200)))
    s.sendall((cmds + "\n").encode()); s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    s.close()
    if out.strip():
        sys.exit(f"unexpected answer: {out[:200]!r}")
PY

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
measure() { # name command...
  local name="$1" port="$2" sock="$work/$1.sock"
  shift 2
  sed "s#SOCK#$sock#; s#PORT#$port#" "$work/cfg.tpl" > "$work/$name.cfg"
  "$@" -f "$work/$name.cfg" >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
  sleep 0.3
  local before after
  before=$(rss "$pid")
  python3 "$work/fill.py" "$sock" "$KEYS" t "$TYPE" || { echo "$name: filling the table failed (the store list must hold gpc0)" >&2; exit 1; }
  sleep 0.3
  after=$(rss "$pid")
  echo "$name $before $after $(( (after - before) * 1024 / KEYS ))"
  kill "$pid"
}
cat > "$work/cfg.tpl" <<CFG
global
    stats socket SOCK level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend t
    stick-table type $TYPE size $(( KEYS * 2 )) store $STORE
frontend f
    bind 127.0.0.1:PORT
    http-request track-sc0 int(1) table t
    http-request return status 200
CFG
echo "stick table: type $TYPE, store $STORE, $KEYS keys"
printf '%-8s %12s %12s %16s\n' proxy "RSS before" "RSS after" "bytes per entry"
h=$(measure haproxy 29601 haproxy -db)
f=$(measure fulcrum 29602 "$BIN" proxy -q)
for l in "$h" "$f"; do
  read -r n b a per <<<"$l"
  printf '%-8s %9s kB %9s kB %16s\n' "$n" "$b" "$a" "$per"
done
hb=$(awk '{print $4}' <<<"$h"); fb=$(awk '{print $4}' <<<"$f")
awk -v f="$fb" -v h="$hb" 'BEGIN { printf "ratio fulcrum/haproxy: %.2f\n", f / h }'
