#!/usr/bin/env bash
# Slow and hostile clients against fulcrum proxy and HAProxy with the same haproxy.cfg (issue #15): a normal wrk
# load is measured alone, then again while SLOW slowloris connections send one header byte every 2 s and STUCK
# connections ask for a 1 MiB response and never read it. Prints, per proxy: requests/s and p99 of the normal load
# with and without the attack (ratios), the proxy's RSS under attack, and how long the slow and the stuck
# connections lasted as the clients saw it (timeout http-request 5s answers the slowloris with 408), and how many
# client connections the proxy still held during and after the attack (timeout client 10s ends the stuck ones on
# the proxy's side; their clients, which never read, cannot see that close).
#
#   bench/slow-clients.sh [--slow 5000] [--stuck 1000] [--stuck-mib 1] [--duration 10] [--port BASE]
#
# --stuck-mib N: the size of the response the stuck connections ask for (1 MiB by default; with 8 the kernel's
# socket buffers cannot take it all, and what the proxy itself holds for a client that does not read shows).
#
# The proxy runs alone on CPU 0 (nbthread 1); wrk, the attackers and the origin (an HAProxy answering itself) on
# CPU 1. FULCRUM_BIN=path uses that binary instead of the release build. Not part of make test.
set -euo pipefail
SLOW=5000 STUCK=1000 STUCK_MIB=1 DURATION=10 PORT=19880
while [ $# -gt 0 ]; do
  case "$1" in
    --slow) SLOW=$2; shift 2 ;;
    --stuck) STUCK=$2; shift 2 ;;
    --stuck-mib) STUCK_MIB=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
for tool in haproxy wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [ -n "${FULCRUM_BIN:-}" ]; then FULCRUM=$FULCRUM_BIN; else
  cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum
  FULCRUM="${CARGO_TARGET_DIR:-$top/target}/release/fulcrum"
fi
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/fulcrum-slow.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi; done
  rm -rf "$work"
}
trap cleanup EXIT
ORIGIN=$PORT PROXY=$((PORT + 1))
head -c $((STUCK_MIB * 1048576)) /dev/zero | tr '\0' 'x' > "$work/1m"
cat > "$work/origin.cfg" <<CFG
global
    nbthread 1
    maxconn $((STUCK + 500))
    no strict-limits
    tune.bufsize $((STUCK_MIB * 1048576 + 1024))
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend origin
    bind 127.0.0.1:$ORIGIN
    http-request return status 200 content-type application/octet-stream file $work/1m if { path /1m }
    http-request return status 200 content-type text/plain string "hello world"
CFG
cat > "$work/proxy.cfg" <<CFG
global
    nbthread 1
    maxconn $((SLOW + STUCK + 500))
    no strict-limits
defaults
    mode http
    timeout connect 5s
    timeout http-request 5s
    timeout client 10s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$PROXY
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN
CFG
haproxy -c -q -f "$work/proxy.cfg"
"$FULCRUM" proxy -c -q -f "$work/proxy.cfg"
taskset -c 1 haproxy -f "$work/origin.cfg" -db >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

cat > "$work/attack.py" <<'PY'
# SLOW slowloris connections (one header byte every 2 s) and STUCK connections that ask for 1 MiB and never read,
# held for HOLD seconds; then reports how long each kind stayed open (median and max, seconds) and how the slow
# ones ended (408 seen, or closed without an answer).
import select, socket, sys, time
port, slow, stuck, hold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
t0 = time.time()
opened = {}
for i in range(slow):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        opened[s] = ["slow", time.time(), None, b""]
    except OSError:
        pass
for i in range(stuck):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /1m HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setblocking(False)
        opened[s] = ["stuck", time.time(), None, b""]
    except OSError:
        pass
print(f"opened {sum(1 for v in opened.values() if v[0]=='slow')} slow, {sum(1 for v in opened.values() if v[0]=='stuck')} stuck", file=sys.stderr, flush=True)
poll = select.poll()
for s, v in opened.items():
    poll.register(s, select.POLLIN | (0 if v[0] == "stuck" else 0))
by_fd = {s.fileno(): s for s in opened}
last_drip = time.time()
while time.time() - t0 < hold:
    for fd, ev in poll.poll(200):
        s = by_fd[fd]
        v = opened[s]
        if v[0] == "stuck":
            # never read the body: only notice the end (an error or the peer's close) without consuming data
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    v[2] = time.time(); poll.unregister(s)
            except BlockingIOError:
                pass
            except OSError:
                v[2] = time.time(); poll.unregister(s)
            if v[2] is None:
                # readable with data: stop watching reads until closed (poll would spin)
                poll.modify(s, select.POLLRDHUP if hasattr(select, "POLLRDHUP") else 0)
            continue
        try:
            d = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            d = b""
        if d:
            v[3] += d
        else:
            v[2] = time.time(); poll.unregister(s)
    if time.time() - last_drip >= 2:
        last_drip = time.time()
        for s, v in opened.items():
            if v[0] == "slow" and v[2] is None:
                try:
                    s.send(b"X")
                except OSError:
                    pass
def stats(kind):
    ends = sorted((v[2] or time.time()) - v[1] for v in opened.values() if v[0] == kind)
    still = sum(1 for v in opened.values() if v[0] == kind and v[2] is None)
    if not ends:
        return "none"
    return f"median {ends[len(ends)//2]:.1f}s max {ends[-1]:.1f}s still open {still}"
got408 = sum(1 for v in opened.values() if v[0] == "slow" and b" 408 " in v[3])
print(f"slow: {stats('slow')}, answered 408: {got408}; stuck: {stats('stuck')}", flush=True)
PY

# Client connections the proxy still holds open (ESTABLISHED on its port, from /proc/net/tcp): a client that never
# reads never sees the proxy's close (the FIN waits behind unread data), so the proxy's side is what tells.
established() {
  awk -v p="$(printf '%04X' "$PROXY")" 'NR > 1 { split($2, a, ":"); if (a[2] == p && $4 == "01") n++ } END { print n + 0 }' \
    /proc/net/tcp
}

wrk_run() {
  taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" --latency "http://127.0.0.1:$PROXY/" 2>&1 | awk '
    function ms(x) { if (x ~ /us$/) return x/1000; if (x ~ /ms$/) return x+0; if (x ~ /s$/) return x*1000; return x }
    /Requests\/sec/ { r = $2 } $1 == "99%" { p = ms($2) } /Socket errors|Non-2xx/ { e = 1 }
    END { printf "%s %s %s\n", r, p, (e ? "errors" : "ok") }'
}

for who in fulcrum haproxy; do
  case "$who" in
    fulcrum) taskset -c 0 "$FULCRUM" proxy -q -f "$work/proxy.cfg" >"$work/$who.log" 2>&1 & ;;
    haproxy) taskset -c 0 haproxy -f "$work/proxy.cfg" -db >"$work/$who.log" 2>&1 & ;;
  esac
  pid=$!
  pids+=($pid)
  sleep 0.5
  read -r base_rps base_p99 base_err <<<"$(wrk_run)"
  rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  taskset -c 1 python3 "$work/attack.py" "$PROXY" "$SLOW" "$STUCK" $((DURATION + 20)) >"$work/attack.$who" 2>"$work/attack.$who.err" &
  apid=$!
  pids+=($apid)
  sleep 3
  # While every attacking connection is open (before the 5 s and 10 s timeouts).
  rss1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  during=$(established)
  read -r att_rps att_p99 att_err <<<"$(wrk_run)"
  wait "$apid" || true
  after=$(established)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf "%-8s normal load alone: %s req/s p99 %s ms (%s); under attack: %s req/s p99 %s ms (%s)\n" "$who" \
    "$base_rps" "$base_p99" "$base_err" "$att_rps" "$att_p99" "$att_err"
  awk -v a="$att_rps" -v b="$base_rps" -v p="$att_p99" -v q="$base_p99" -v w="$who" \
    'BEGIN { printf "%-8s under attack / alone: req/s %.2f, p99 %.2f\n", w, (b > 0 ? a/b : 0), (q > 0 ? p/q : 0) }'
  printf "%-8s RSS %s KiB before, %s KiB 3 s into the attack (%s)\n" "$who" "$rss0" "$rss1" "$(cat "$work/attack.$who.err")"
  printf "%-8s %s\n" "$who" "$(cat "$work/attack.$who")"
  printf "%-8s client connections the proxy held: %s 3 s into the attack, %s at its end (%s s after they opened)\n" \
    "$who" "$during" "$after" $((DURATION + 20))
done
