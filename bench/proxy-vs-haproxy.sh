#!/usr/bin/env bash
# Side-by-side benchmark: fulcrum proxy vs HAProxy with the same haproxy.cfg, the same origin, pinned the same way.
#
#   bench/proxy-vs-haproxy.sh [--runs N] [--duration SECS] [--scenarios "ka close 64k 1m tcp idle"]
#
# Scenarios: ka (keep-alive, 11-byte body), close (Connection: close), 64k / 1m (response sizes), tcp (the same
# 1 MiB responses through a `mode tcp` proxy: MB per proxy CPU-second), idle (RSS per idle keep-alive client
# connection with 8,000 of them open).
#
# The proxy under test runs alone on CPU 0 with one worker thread; wrk and the origin (an HAProxy instance that
# answers every request itself with `http-request return`, so it is never the bottleneck) share CPU 1.
# Runs alternate A B B A ... and the script prints medians of requests/s, requests per proxy CPU-second
# (utime+stime from /proc), p50/p99 latency, errors, and the fulcrum/haproxy ratios.
# Not part of `make test`: it takes minutes and its numbers only mean something on a quiet machine.
set -euo pipefail

RUNS=3
DURATION=10
SCENARIOS="ka close 64k 1m"
CONNS=50
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
for tool in haproxy wrk taskset gawk bc; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install haproxy wrk gawk bc)" >&2; exit 1; }
done
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum
FULCRUM="$top/target/release/fulcrum"

work=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ORIGIN_PORT=19080
PROXY_PORT=19081
head -c 65536 /dev/zero | tr '\0' 'x' > "$work/64k"
head -c 1048576 /dev/zero | tr '\0' 'x' > "$work/1m"
cat > "$work/origin.cfg" <<CFG
global
    nbthread 1
    # large enough for the 1 MiB answer of http-request return
    tune.bufsize 1049600
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend origin
    bind 127.0.0.1:$ORIGIN_PORT
    http-request return status 200 content-type application/octet-stream file $work/64k if { path /64k }
    http-request return status 200 content-type application/octet-stream file $work/1m if { path /1m }
    http-request return status 200 content-type text/plain string "hello world" 
CFG
taskset -c 1 haproxy -f "$work/origin.cfg" -db >"$work/origin.log" 2>&1 &
pids+=($!)
sleep 0.5
curl -fsS -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/" || { echo "the origin did not start:" >&2; cat "$work/origin.log" >&2; exit 1; }

proxy_cfg() {
  cat <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$PROXY_PORT
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
CFG
}
proxy_cfg > "$work/proxy.cfg"
proxy_cfg | sed 's/^    mode http$/    mode tcp/' > "$work/proxy-tcp.cfg"
proxy_cfg | sed 's/^    nbthread 1$/    nbthread 1\n    maxconn 9000/' > "$work/proxy-idle.cfg"
for c in proxy proxy-tcp proxy-idle; do
  haproxy -c -q -f "$work/$c.cfg"
  "$FULCRUM" proxy -c -q -f "$work/$c.cfg"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_proxy() {
  local cfg="$work/${2:-proxy}.cfg"
  case "$1" in
    haproxy) taskset -c 0 haproxy -f "$cfg" -db >/dev/null 2>&1 & ;;
    fulcrum) taskset -c 0 "$FULCRUM" proxy -q -f "$cfg" >/dev/null 2>&1 & ;;
  esac
  local pid=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT) 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "$pid"
}

# One measurement: prints "rps rps_per_cpu p50_ms p99_ms errors".
measure() {
  local who=$1 scenario=$2 path=/ hdr=() cfg=proxy
  case "$scenario" in
    ka) ;;
    close) hdr=(-H "Connection: close") ;;
    64k) path=/64k ;;
    1m) path=/1m ;;
    tcp) path=/1m; cfg=proxy-tcp ;;
    idle) measure_idle "$who"; return ;;
  esac
  local pid; pid=$(start_proxy "$who" "$cfg")
  # warm up
  taskset -c 1 wrk -t1 -c"$CONNS" -d1s "${hdr[@]}" "http://127.0.0.1:$PROXY_PORT$path" >/dev/null 2>&1 || true
  local t0; t0=$(cpu_ticks "$pid")
  local out; out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${hdr[@]}" "http://127.0.0.1:$PROXY_PORT$path" 2>&1)
  local t1; t1=$(cpu_ticks "$pid")
  [ -n "${BENCH_DEBUG:-}" ] && echo "$out" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local hz; hz=$(getconf CLK_TCK)
  local total; total=$(echo "$out" | awk '/requests in/ {print $1}')
  if [ "$scenario" = tcp ]; then
    # MB moved per proxy CPU-second instead of requests (1 MiB per request).
    total=$(echo "$out" | awk '/requests in/ {print $1 * 1.048576}')
  fi
  local errs; errs=$(echo "$out" | awk '/Socket errors|Non-2xx/ {for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+,?$/) s+=$i} END {print s+0}')
  local p50; p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  local p99; p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  local cpu; cpu=$(echo "($t1 - $t0) / $hz" | bc -l)
  awk -v n="$total" -v d="$DURATION" -v c="$cpu" -v p50="$p50" -v p99="$p99" -v e="$errs" '
    function ms(x) { if (x ~ /us$/) return x/1000; if (x ~ /ms$/) return x+0; if (x ~ /s$/) return x*1000; return x }
    BEGIN { printf "%.0f %.0f %.3f %.3f %d\n", n/d, (c > 0 ? n/c : 0), ms(p50), ms(p99), e }'
}

# RSS per idle keep-alive client connection: opens 8,000 connections (the hard FD limit here is 20,000 and
# HAProxy needs two descriptors per connection) that each made one request, then reads
# VmRSS; prints "0 KiB_per_conn 0 0 errors" so the table keeps its columns (KiB per connection in column 2).
measure_idle() {
  local who=$1
  local pid; pid=$(start_proxy "$who" proxy-idle)
  local before; before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  local out
  out=$(python3 - "$PROXY_PORT" "$pid" <<'PY'
import resource, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (19000, 19000))
conns, errors = [], 0
deadline = time.time() + 60
for i in range(8000):
    if time.time() > deadline:
        break
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
        s.recv(4096)
        conns.append(s)
    except OSError:
        errors += 1
time.sleep(1)
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(len(conns), rss, errors)
PY
)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local n rss errs; read -r n rss errs <<<"$out"
  awk -v b="$before" -v a="$rss" -v n="$n" -v e="$errs" 'BEGIN { printf "0 %.2f 0 0 %d\n", (n > 0 ? (a - b) / n : 0), e }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf "%-6s %-8s %12s %14s %9s %9s %7s\n" scen proxy "req/s" "req/cpu-s" "p50 ms" "p99 ms" errors
ulimit -n 65536 2>/dev/null || true
echo "(tcp: column req/cpu-s is MB per proxy CPU-second; idle: it is KiB of RSS per idle connection, lower is better)"
for scen in $SCENARIOS; do
  : > "$work/haproxy.$scen"; : > "$work/fulcrum.$scen"
  for i in $(seq "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then order="haproxy fulcrum"; else order="fulcrum haproxy"; fi
    for who in $order; do measure "$who" "$scen" >> "$work/$who.$scen"; done
  done
  for who in haproxy fulcrum; do
    f="$work/$who.$scen"
    printf "%-6s %-8s %12s %14s %9s %9s %7s\n" "$scen" "$who" \
      "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
      "$(cut -d' ' -f3 "$f" | median)" "$(cut -d' ' -f4 "$f" | median)" "$(cut -d' ' -f5 "$f" | median)"
  done
  gawk -v s="$scen" 'NR==FNR {h1[FNR]=$1; h2[FNR]=$2; h4[FNR]=$4; next} {f1[FNR]=$1; f2[FNR]=$2; f4[FNR]=$4}
    END {
      n=asort(h1); asort(f1); asort(h2); asort(f2); asort(h4); asort(f4); m=int((n+1)/2);
      if (s == "idle") { printf "%-6s ratio fulcrum/haproxy: RSS per idle connection %.2f\n", s, (h2[m] > 0 ? f2[m]/h2[m] : 0); exit }
      printf "%-6s ratio fulcrum/haproxy: req/s %.2f  req/cpu-s %.2f  p99 %.2f\n", s, f1[m]/h1[m], f2[m]/h2[m], (h4[m] > 0 ? f4[m]/h4[m] : 0)
    }' "$work/haproxy.$scen" "$work/fulcrum.$scen"
done
