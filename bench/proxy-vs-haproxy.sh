#!/usr/bin/env bash
# Side-by-side benchmark: fulcrum proxy vs HAProxy with the same haproxy.cfg, the same origin, pinned the same way.
#
#   bench/proxy-vs-haproxy.sh [--runs N] [--duration SECS] [--scenarios "ka close 64k 1m tcp idle"] [--conns N]
#   (more scenarios: rules, stick (rate limiting with track-sc0 over 100,000 keys), gzip, tls-*)
#                             [--threads 1|2] [--client wrk|h2load] [--idle-conns N] [--port BASE] [--smoke]
#                             [--h2 [--streams N]]
#                             [--tls-key ec|rsa] [--tls-ver 1.3|1.2] [--tls-suites "TLS 1.3 LIST" "TLS 1.2 LIST"]
#
# Scenarios: ka (keep-alive, 11-byte body), close (Connection: close), 64k / 1m (response sizes), tcp (the same
# 1 MiB responses through a `mode tcp` proxy: MB per proxy CPU-second), idle (RSS per idle keep-alive client
# connection with --idle-conns of them open, 10,000 by default), rules (keep-alive as ka, through a typical rule set:
# 10 ACLs, 2 deny rules, 2 set-var, 3 header rewrites with `%[...]` and a custom log format sent to a UDP sink; the
# cost of the sample language, to compare with ka's ratio), gzip (a 16 KiB JSON answer compressed by the proxy:
# `compression algo gzip`, `compression type application/json`, clients sending `Accept-Encoding: gzip`; both
# proxies at their default level, 1), 64k-splice / 1m-splice (as 64k / 1m with `option splice-response` in the
# backend: both proxies move the bodies through pipes with splice(2)).
# TLS scenarios (the proxy terminates TLS with a certificate made here: ECDSA P-256 by default, RSA-2048 with
# --tls-key rsa; TLS 1.3 by default, 1.2 with --tls-ver 1.2, through `ssl-max-ver`): tls-close (a new connection and
# a full handshake per request: handshakes per proxy CPU-second), tls-ka (keep-alive requests over TLS), tls-1m
# (1 MiB responses over TLS; req/cpu-s is then MB per CPU-second as for tcp), tls-idle (RSS per idle keep-alive TLS
# connection, as idle), tls-resume (one resumed handshake per request: `openssl s_time -reuse`, a single-threaded
# client, whatever --client says; its errors column counts the connections that were not resumed, less the first).
#
# --threads 1 (default): the proxy under test runs alone on CPU 0 with one worker thread (`nbthread 1`); the load
# client (one thread) and the origin (an HAProxy that answers every request itself with `http-request return`, so
# it is never the bottleneck) share CPU 1.
# --threads 2: both proxies get `nbthread 2`; this machine has two CPUs, so the proxy, the client (two threads) and
# the origin (`nbthread 2`) all run on CPUs 0-1 and the figures are those of the whole shared machine.
# --client wrk (default) or h2load (`h2load --h1`, HTTP/1.1); the idle scenario always uses its own Python client.
# --h2: HTTP/2 from the client (implies --client h2load, without --h1): both proxies bind with `proto h2` in clear
# text and `alpn h2,http/1.1` over TLS, and h2load opens --streams concurrent streams per connection (10 by default);
# the proxies still speak HTTP/1.1 to the origin. Not for close (no `Connection: close` in HTTP/2), tcp and idle.
# Runs alternate A B B A ... and the script prints medians of requests/s, requests per proxy CPU-second
# (utime+stime from /proc), p50/p99 latency, errors, and the fulcrum/haproxy ratios.
# --smoke: one 1 s run of ka, rules, tcp, idle (200 connections) and tls-ka with 4 client connections and no
# warm-up, then checks that both proxies served requests without errors, held every idle connection and sent log
# lines in rules; exits non-zero otherwise.
# FULCRUM_BIN=path uses that fulcrum binary instead of building the release one (the smoke test passes its debug
# build). --port BASE: the origin listens on BASE, the proxies on BASE+1 (default 19080).
# Not part of `make test` (only the --smoke check is): it takes minutes and its numbers only mean something on a
# quiet machine.
set -euo pipefail

SCHEME=http
RUNS="" DURATION="" SCENARIOS="" CONNS="" IDLE_CONNS="" THREADS=1 CLIENT=wrk PORT=19080 SMOKE="" TLS_KEY=ec TLS_VER=1.3
TLS13_SUITES="" TLS12_SUITES="" H2="" STREAMS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --idle-conns) IDLE_CONNS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --h2) H2=1; CLIENT=h2load; shift ;;
    --streams) STREAMS=$2; shift 2 ;;
    --tls-key) TLS_KEY=$2; shift 2 ;;
    --tls-ver) TLS_VER=$2; shift 2 ;;
    # The same suites for both proxies (each otherwise uses its own default order).
    --tls-suites) TLS13_SUITES=$2; TLS12_SUITES=$3; shift 3 ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -n "$SMOKE" ]; then
  : "${RUNS:=1}" "${DURATION:=1}" "${SCENARIOS:=ka rules tcp idle tls-ka}" "${CONNS:=4}" "${IDLE_CONNS:=200}"
else
  : "${RUNS:=3}" "${DURATION:=10}" "${SCENARIOS:=ka close 64k 1m}" "${CONNS:=50}" "${IDLE_CONNS:=10000}"
fi
case "$THREADS" in 1 | 2) ;; *) echo "--threads must be 1 or 2" >&2; exit 2 ;; esac
case "$CLIENT" in wrk | h2load) ;; *) echo "--client must be wrk or h2load" >&2; exit 2 ;; esac
for scen in $SCENARIOS; do
  case "$scen" in ka | rules | stick | gzip | close | 64k | 1m | 64k-splice | 1m-splice | tcp | idle | tls-ka | tls-close | tls-1m | tls-idle | tls-resume) ;; *) echo "unknown scenario $scen" >&2; exit 2 ;; esac
done
case "$TLS_KEY" in ec | rsa) ;; *) echo "--tls-key must be ec or rsa" >&2; exit 2 ;; esac
case "$TLS_VER" in 1.2 | 1.3) ;; *) echo "--tls-ver must be 1.2 or 1.3" >&2; exit 2 ;; esac

top=$(cd "$(dirname "$0")/.." && pwd)
need=(haproxy "$CLIENT" taskset gawk bc curl)
case " $SCENARIOS " in *" idle "* | *" tls-idle "*) need+=(python3) ;; esac
for tool in "${need[@]}"; do
  command -v "$tool" >/dev/null && continue
  case "$tool" in
    h2load) echo "missing h2load (apt-get install -y nghttp2-client)" >&2 ;;
    *) echo "missing $tool (apt-get install haproxy wrk gawk bc curl python3 util-linux)" >&2 ;;
  esac
  exit 1
done
if [ -n "${FULCRUM_BIN:-}" ]; then
  FULCRUM=$FULCRUM_BIN
else
  cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum
  FULCRUM="${CARGO_TARGET_DIR:-$top/target}/release/fulcrum"
fi
[ -x "$FULCRUM" ] || { echo "no fulcrum binary at $FULCRUM" >&2; exit 1; }

# Every process started here inherits the highest descriptor limit allowed (the idle scenario needs it).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
case " $SCENARIOS " in
  *" idle "* | *" tls-idle "*)
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 50)) ]; then
      echo "warning: descriptor limit $(ulimit -n) is too low for $IDLE_CONNS idle connections (see ulimit -Hn)" >&2
    fi ;;
esac

if [ "$THREADS" = 1 ]; then
  PROXY_CPUS=0 LOAD_CPUS=1
else
  PROXY_CPUS="0-$(($(nproc) - 1))" LOAD_CPUS=$PROXY_CPUS
fi

work=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi; done
  # the proxy under test, when interrupted in the middle of a measurement
  if [ -s "$work/proxy.pid" ]; then kill "$(cat "$work/proxy.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

ORIGIN_PORT=$PORT
PROXY_PORT=$((PORT + 1))
# Both proxies and HAProxy's origin bind with SO_REUSEPORT: a leftover listener would silently take part of the load.
for p in $ORIGIN_PORT $PROXY_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "127.0.0.1:$p is already in use (another benchmark running?); choose other ports with --port" >&2
    exit 1
  fi
done
head -c 65536 /dev/zero | tr '\0' 'x' > "$work/64k"
head -c 1048576 /dev/zero | tr '\0' 'x' > "$work/1m"
# 16 KiB of JSON records, as an API would answer (about 3.5 KiB once compressed, by either proxy).
awk 'BEGIN { printf "["; for (i = 1; n < 16300; i++) { r = sprintf("{\"id\":%d,\"name\":\"user-%d\",\"email\":\"user%d@example.com\",\"active\":%s,\"score\":%d},", i, i, i, (i % 3 ? "true" : "false"), (i * 7919) % 1000); printf "%s", r; n += length(r) } printf "{}]" }' > "$work/16k.json"
cat > "$work/origin.cfg" <<CFG
global
    nbthread $THREADS
    # enough connections for the proxies' server side in the idle scenario (one descriptor each here)
    maxconn $((IDLE_CONNS + 10))
    no strict-limits
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
    http-request return status 200 content-type application/json file $work/16k.json if { path /json }
    http-request return status 200 content-type text/plain string "hello world" 
CFG
taskset -c "$LOAD_CPUS" haproxy -f "$work/origin.cfg" -db >"$work/origin.log" 2>&1 &
pids+=($!)
sleep 0.5
curl -fsS -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/" || { echo "the origin did not start:" >&2; cat "$work/origin.log" >&2; exit 1; }

proxy_cfg() {
  cat <<CFG
global
    nbthread $THREADS
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
# The rules scenario: what a typical production frontend evaluates per request. The log lines go to a UDP port on
# loopback that a sink drains (both proxies format and send every line).
rules_cfg() {
  proxy_cfg | sed "/^frontend fe\$/q"
  cat <<CFG
    bind 127.0.0.1:$PROXY_PORT
    log 127.0.0.1:$LOG_PORT local0
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %{+Q}r %[var(txn.host)] %[var(txn.tag)]"
    acl is_api path_beg /api
    acl is_static path_end .css .js .png .svg
    acl is_admin path_beg /admin /internal
    acl from_lan src 10.0.0.0/8 192.168.0.0/16 172.16.0.0/12
    acl local src 127.0.0.0/8
    acl has_ua hdr(user-agent) -m found
    acl safe_method method GET HEAD OPTIONS
    acl host_ok hdr(host) -m reg -i ^[a-z0-9.-]+(:[0-9]+)?\$
    acl debug_param url_param(debug) -m found
    acl bot hdr_sub(user-agent) -i bot crawler spider
    http-request deny if is_admin !from_lan
    http-request deny if debug_param || bot
    http-request set-var(txn.tag) str(api) if is_api
    http-request set-var(txn.host) req.hdr(host),lower
    http-request set-header X-Request-Host %[var(txn.host)]
    http-request set-header X-Client %[src]:%[src_port]
    http-response set-header X-Served-By %[be_name]/%[srv_name]
    use_backend be if safe_method local host_ok !is_static || has_ua
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
CFG
}
LOG_PORT=$((PORT + 2))
rules_cfg > "$work/proxy-rules.cfg"
# The stick scenario: rate limiting with a stick table at many keys. wrk comes from a few loopback addresses, so
# the key is `rand(100000)` in an integer table rather than `src`: each request tracks one of 100,000 keys (the
# table fills within the warm-up), counts in its request rate and is judged against a limit it never reaches.
stick_cfg() {
  proxy_cfg | sed "/^frontend fe\$/q"
  cat <<CFG
    bind 127.0.0.1:$PROXY_PORT
    stick-table type integer size 200k expire 60s store http_req_rate(10s),conn_cur,gpc0
    http-request track-sc0 rand(100000)
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000 }
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
CFG
}
stick_cfg > "$work/proxy-stick.cfg"
# The gzip scenario: the backend compresses JSON answers.
proxy_cfg | sed "s|^    server origin .*|    compression algo gzip\n    compression type application/json\n&|" > "$work/proxy-gzip.cfg"
# The log sink: counts the datagrams it receives into $work/log.count, once a second.
taskset -c "$LOAD_CPUS" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1.0)
n, last = 0, time.monotonic()
while True:
    try:
        s.recv(65536)
        n += 1
    except socket.timeout:
        pass
    if time.monotonic() - last >= 1.0:
        open(sys.argv[2], "w").write(f"{n}\n")
        last = time.monotonic()
' "$LOG_PORT" "$work/log.count" &
pids+=($!)
proxy_cfg | sed 's/^    mode http$/    mode tcp/' > "$work/proxy-tcp.cfg"
# The *-splice scenarios: response bodies spliced (`option splice-response`, which both proxies honour).
proxy_cfg | sed "s|^    server origin .*|    option splice-response\n&|" > "$work/proxy-splice.cfg"
# The TLS certificate both proxies serve (self-signed; the load clients do not verify it).
if [ "$TLS_KEY" = ec ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -out "$work/crt.pem" \
    -subj /CN=bench.test -days 2 2>/dev/null
else
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/crt.pem" -subj /CN=bench.test \
    -days 2 2>/dev/null
fi
cat "$work/crt.pem" "$work/key.pem" > "$work/cert.pem"
TLS_OPTS="ssl crt $work/cert.pem ssl-max-ver TLSv$TLS_VER"
[ -n "$TLS13_SUITES" ] && TLS_OPTS="$TLS_OPTS ciphersuites $TLS13_SUITES ciphers $TLS12_SUITES"
proxy_cfg | sed "s#^    bind 127.0.0.1:$PROXY_PORT\$#    bind 127.0.0.1:$PROXY_PORT $TLS_OPTS#" > "$work/proxy-tls.cfg"
# Idle scenarios: with maxconn 10010 both proxies size their descriptor limit for two per connection (20,037),
# above this machine's hard limit of 20,000, and by default (strict-limits) refuse to start; `no strict-limits`
# makes them warn and run (one descriptor per idle client connection is all the scenario needs).
proxy_cfg | sed "s/^    nbthread $THREADS\$/    nbthread $THREADS\n    maxconn $((IDLE_CONNS + 10))\n    no strict-limits/" \
  > "$work/proxy-idle.cfg"
sed "s#^    bind 127.0.0.1:$PROXY_PORT\$#    bind 127.0.0.1:$PROXY_PORT $TLS_OPTS#" "$work/proxy-idle.cfg" > "$work/proxy-tls-idle.cfg"
if [ -n "$H2" ]; then
  # HTTP/2 from the client: prior knowledge in clear text, ALPN over TLS (the tcp and idle configs stay as they are).
  for c in proxy proxy-rules proxy-stick; do
    [ -f "$work/$c.cfg" ] && sed -i "s#^    bind 127.0.0.1:$PROXY_PORT\$#    bind 127.0.0.1:$PROXY_PORT proto h2#" "$work/$c.cfg"
  done
  sed -i "s#^    bind 127.0.0.1:$PROXY_PORT \(ssl .*\)\$#    bind 127.0.0.1:$PROXY_PORT \1 alpn h2,http/1.1#" "$work/proxy-tls.cfg"
fi
for c in proxy proxy-rules proxy-tcp proxy-idle proxy-tls proxy-tls-idle; do
  haproxy -c -q -f "$work/$c.cfg"
  "$FULCRUM" proxy -c -q -f "$work/$c.cfg"
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_proxy() {
  local who=$1 cfg="$work/${2:-proxy}.cfg"
  case "$who" in
    haproxy)
      taskset -c "$PROXY_CPUS" haproxy -f "$cfg" -db >"$work/$who.log" 2>&1 &
      ;;
    fulcrum) taskset -c "$PROXY_CPUS" "$FULCRUM" proxy -q -f "$cfg" >"$work/$who.log" 2>&1 & ;;
  esac
  local pid=$!
  echo "$pid" > "$work/proxy.pid"
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null; then echo "$pid"; return; fi
    sleep 0.05
  done
  echo "$who did not start listening on 127.0.0.1:$PROXY_PORT:" >&2
  cat "$work/$who.log" >&2
  kill "$pid" 2>/dev/null || true
  return 1
}

# The proxy is not a child of this shell (start_proxy runs in a command substitution), so `wait` cannot reap it:
# poll until it is gone (or a zombie) so that the next one never shares the port with it (SO_REUSEPORT).
stop_proxy() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 200); do
    [ -e "/proc/$1" ] || return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
    sleep 0.05
  done
  kill -9 "$1" 2>/dev/null || true
}

# nearest-rank percentiles of microsecond values on stdin: prints "p50_ms p99_ms"
percentiles_us() {
  sort -n | awk '{a[NR]=$1} END {
    if (NR == 0) { print "0 0"; exit }
    i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
    printf "%.3f %.3f\n", a[i50] / 1000, a[i99] / 1000 }'
}

# One run of the load client. Prints "requests req_per_s p50_ms p99_ms errors" (all zero but errors when it fails).
# h2load: p50/p99 come from its --log-file (per-request times), errors are `failed` (which includes 4xx/5xx and
# `errored`, a subset of it) + 3xx (h2load counts them as successes) + requests that never completed.
# `Connection: close` with -D hangs at the end of the duration in h2load 1.52 (nghttp2 issue #2250, fixed upstream
# in 2024), so close mode runs a bounded -n (H2_CLOSE_N, sized from the warm-up run); h2load reconnects after each
# response there.
run_client() {
  local secs=$1 path=$2 close=$3 url="$SCHEME://127.0.0.1:$PROXY_PORT$2" hdr=()
  if [ "$close" = resume ]; then
    local out
    out=$(taskset -c "$LOAD_CPUS" timeout $((secs + 30)) openssl s_time -connect "127.0.0.1:$PROXY_PORT" -www "$path" \
      -reuse -time "$secs" 2>&1) || true
    [ -n "${BENCH_DEBUG:-}" ] && echo "$out" >&2
    echo "$out" | awk -v d="$secs" '
      /^[r*.]+$/ { r += gsub(/r/, "r") }
      /connections in .* real seconds/ { n = $1 }
      END { if (n == "") { print "0 0 0 0 1"; exit } e = n - r - 1; if (e < 0) e = 0
            printf "%d %.2f 0 0 %d\n", n, n/d, e }'
    return
  fi
  [ "$close" = 1 ] && hdr=(-H "Connection: close")
  [ "$path" = /json ] && hdr+=(-H "Accept-Encoding: gzip")
  if [ "$CLIENT" = wrk ]; then
    local out
    out=$(taskset -c "$LOAD_CPUS" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency "${hdr[@]}" "$url" 2>&1) || true
    [ -n "${BENCH_DEBUG:-}" ] && echo "$out" >&2
    echo "$out" | awk -v d="$secs" '
      function ms(x) { if (x ~ /us$/) return x/1000; if (x ~ /ms$/) return x+0; if (x ~ /s$/) return x*1000; return x }
      /requests in/ { n = $1 }
      /Socket errors|Non-2xx/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) e += $i }
      $1 == "50%" { p50 = ms($2) }
      $1 == "99%" { p99 = ms($2) }
      END { if (n == "") { print "0 0 0 0 1"; exit } printf "%d %.2f %.3f %.3f %d\n", n, n/d, p50, p99, e }'
    return
  fi
  local log="$work/h2load.log" mode=(-D "$secs") limit=$((secs * 3 + 30))
  if [ "$close" = 1 ]; then mode=(-n "$H2_CLOSE_N"); limit=$((secs * 10 + 30)); fi
  rm -f "$log"
  local out
  local proto=(--h1)
  [ -n "$H2" ] && proto=(-m "$STREAMS")
  out=$(taskset -c "$LOAD_CPUS" timeout "$limit" h2load "${proto[@]}" -t"$THREADS" -c"$CONNS" "${mode[@]}" \
    --log-file="$log" "${hdr[@]}" "$url" 2>&1) || true
  [ -n "${BENCH_DEBUG:-}" ] && echo "$out" >&2
  local lat; lat=$(awk -F'\t' '$2 != -1 {print $3}' "$log" 2>/dev/null | percentiles_us)
  echo "$out" | awk -v lat="$lat" '
    /^finished in/ { rps = $4; fin = 1 }
    /^requests:/ { for (i = 2; i < NF; i++) { v = $i + 0; k = $(i+1); sub(/,$/, "", k)
                     if (k == "total") t = v; if (k == "done") d = v; if (k == "failed") f = v } }
    /^status codes:/ { for (i = 3; i < NF; i++) if ($(i+1) ~ /^3xx/) x3 = $i + 0 }
    END { if (!fin) { print "0 0 0 0 1"; exit }
          printf "%d %.2f %s %d\n", d, rps, lat, f + x3 + (t - d) }'
}

# One measurement: prints "rps rps_per_cpu p50_ms p99_ms errors".
measure() {
  local who=$1 scenario=$2 path=/ close=0 cfg=proxy
  SCHEME=http
  case "$scenario" in
    ka) ;;
    rules) cfg=proxy-rules ;;
    stick) cfg=proxy-stick ;;
    gzip) path=/json; cfg=proxy-gzip ;;
    close) close=1 ;;
    64k) path=/64k ;;
    1m) path=/1m ;;
    64k-splice) path=/64k; cfg=proxy-splice ;;
    1m-splice) path=/1m; cfg=proxy-splice ;;
    tcp) path=/1m; cfg=proxy-tcp ;;
    tls-ka) cfg=proxy-tls; SCHEME=https ;;
    tls-close) cfg=proxy-tls; SCHEME=https; close=1 ;;
    tls-1m) path=/1m; cfg=proxy-tls; SCHEME=https ;;
    tls-resume) cfg=proxy-tls; SCHEME=https; close=resume ;;
    idle) measure_idle "$who" proxy-idle; return ;;
    tls-idle) measure_idle "$who" proxy-tls-idle; return ;;
  esac
  local pid; pid=$(start_proxy "$who" "$cfg") || { echo "0 0 0 0 1"; return; }
  if [ "$scenario" = gzip ] && ! curl -fsS -o /dev/null -D - -H "Accept-Encoding: gzip" \
      "http://127.0.0.1:$PROXY_PORT/json" | grep -qi '^content-encoding: gzip'; then
    echo "$who does not compress the gzip scenario's answers" >&2
  fi
  if [ "$CLIENT" = h2load ] && [ "$close" = 1 ]; then
    # warm-up that sizes the bounded run to about --duration seconds (at least 10 requests per connection)
    H2_CLOSE_N=$((CONNS * 200))
    local rps; rps=$(run_client 1 "$path" 1 | cut -d' ' -f2)
    H2_CLOSE_N=$(awk -v r="$rps" -v d="$DURATION" -v c="$CONNS" 'BEGIN { n = int(r * d); print (n < c * 10 ? c * 10 : n) }')
  elif [ -z "$SMOKE" ]; then
    run_client 1 "$path" "$close" >/dev/null  # warm up
  fi
  local l0; l0=$(cat "$work/log.count" 2>/dev/null || echo 0)
  local t0; t0=$(cpu_ticks "$pid")
  local res; res=$(run_client "$DURATION" "$path" "$close")
  local t1; t1=$(cpu_ticks "$pid")
  stop_proxy "$pid"
  if [ "$scenario" = rules ]; then
    # log lines the sink received during the run (UDP: the sink may drop some under load, the proxy sent them)
    sleep 1.2
    echo $(($(cat "$work/log.count" 2>/dev/null || echo 0) - l0)) >> "$work/$who.rules.logs"
  fi
  local hz; hz=$(getconf CLK_TCK)
  local cpu; cpu=$(echo "($t1 - $t0) / $hz" | bc -l)
  local total rps p50 p99 errs; read -r total rps p50 p99 errs <<<"$res"
  # tcp, tls-1m: MB moved per proxy CPU-second instead of requests (1 MiB per request).
  case "$scenario" in tcp | tls-1m) total=$(awk -v n="$total" 'BEGIN {print n * 1.048576}') ;; esac
  awk -v n="$total" -v r="$rps" -v c="$cpu" -v p50="$p50" -v p99="$p99" -v e="$errs" '
    BEGIN { printf "%.0f %.0f %.3f %.3f %d\n", r, (c > 0 ? n/c : 0), p50, p99, e }'
}

# RSS per idle keep-alive client connection: opens --idle-conns connections (10,000; the hard FD limit here is
# 20,000) that each made one request, then reads VmRSS and counts the client connections the proxy holds (its
# descriptors that are established TCP sockets on the proxy port, from /proc/PID/fd and /proc/net/tcp).
# Prints "0 KiB_per_conn 0 0 errors" so the table keeps its columns (KiB per connection in column 2); errors are
# the connections not held at the end (failed to open, closed by the proxy, or not accepted). The count held goes
# to $work/WHO.idle.held.
measure_idle() {
  local who=$1 cfg=$2 tls=0
  [ "$cfg" = proxy-tls-idle ] && tls=1
  local pid; pid=$(start_proxy "$who" "$cfg") || { echo "0 0 0 0 $IDLE_CONNS"; return; }
  local before; before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  local out
  out=$(taskset -c "$LOAD_CPUS" python3 - "$PROXY_PORT" "$pid" "$IDLE_CONNS" "$tls" <<'PY'
import os, resource, select, socket, ssl, sys, time
port, pid, want, tls = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
soft = want + 100 if hard == resource.RLIM_INFINITY else min(hard, want + 100)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
conns, failed = [], 0
deadline = time.time() + 60
for i in range(want):
    if time.time() > deadline:
        failed += want - i
        break
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls:
            s = ctx.wrap_socket(s, server_hostname="bench.test")
        s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
        if not s.recv(4096):
            raise OSError("closed before answering")
        conns.append(s)
    except OSError as e:
        failed += 1
        if failed <= 3:
            print(f"idle connection {i}: {e}", file=sys.stderr)
time.sleep(1)
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
# client side: still open (not readable: no EOF or reset from the proxy)
poll = select.poll()
for s in conns:
    poll.register(s, select.POLLIN)
by_fd = {s.fileno(): s for s in conns}
closed = 0
for fd, _ in poll.poll(0):
    if not tls:
        closed += 1
        continue
    # A TLS socket is also readable for records that carry no data (session tickets): only EOF counts.
    s = by_fd[fd]
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except (ssl.SSLWantReadError, BlockingIOError):
        pass
    except OSError:
        closed += 1
client_open = len(conns) - closed
# proxy side: its descriptors that are established sockets with local port = the proxy port
est = set()
for line in open("/proc/net/tcp").readlines()[1:]:
    f = line.split()
    if int(f[1].split(":")[1], 16) == port and f[3] == "01":
        est.add(f[9])
held = 0
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if link.startswith("socket:[") and link[8:-1] in est:
        held += 1
print(min(held, client_open), rss, want - min(held, client_open))
PY
)
  stop_proxy "$pid"
  local n rss errs; read -r n rss errs <<<"$out"
  echo "${n:-0}" >> "$work/$who.idle.held"
  awk -v b="$before" -v a="${rss:-0}" -v n="${n:-0}" -v e="${errs:-$IDLE_CONNS}" \
    'BEGIN { printf "0 %.2f 0 0 %d\n", (n > 0 ? (a - b) / n : 0), e }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf "%-6s %-8s %12s %14s %9s %9s %7s\n" scen proxy "req/s" "req/cpu-s" "p50 ms" "p99 ms" errors
if [ "$THREADS" = 1 ]; then
  echo "(threads 1: nbthread 1; the proxy alone on CPU $PROXY_CPUS, $CLIENT (1 thread, $CONNS connections) and the origin on CPU $LOAD_CPUS)"
else
  echo "(threads $THREADS: nbthread $THREADS; the proxy, $CLIENT ($THREADS threads, $CONNS connections) and the origin (nbthread $THREADS) all on CPUs $PROXY_CPUS: figures of the whole shared machine)"
fi
if [ -n "$H2" ]; then
  echo "(h2load HTTP/2, $STREAMS streams per connection: p50/p99 from per-request times (--log-file))"
elif [ "$CLIENT" = h2load ]; then
  echo "(h2load --h1: p50/p99 from per-request times (--log-file); close: a bounded -n sized from the warm-up, h2load reconnecting after each response)"
fi
echo "(tcp, tls-1m: column req/cpu-s is MB per proxy CPU-second; idle: it is KiB of RSS per idle connection, lower is better)"
case " $SCENARIOS " in *" tls-"*) echo "(tls-*: TLSv$TLS_VER, $TLS_KEY certificate; tls-close: one full handshake per request; suites: ${TLS13_SUITES:-the default order of each proxy} ${TLS12_SUITES})" ;; esac
smoke_fail=()
for scen in $SCENARIOS; do
  : > "$work/haproxy.$scen"; : > "$work/fulcrum.$scen"; : > "$work/haproxy.idle.held"; : > "$work/fulcrum.idle.held"
  for i in $(seq "$RUNS"); do
    if [ $((i % 2)) -eq 1 ]; then order="haproxy fulcrum"; else order="fulcrum haproxy"; fi
    for who in $order; do measure "$who" "$scen" >> "$work/$who.$scen"; done
  done
  for who in haproxy fulcrum; do
    f="$work/$who.$scen"
    printf "%-6s %-8s %12s %14s %9s %9s %7s\n" "$scen" "$who" \
      "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
      "$(cut -d' ' -f3 "$f" | median)" "$(cut -d' ' -f4 "$f" | median)" "$(cut -d' ' -f5 "$f" | median)"
    if [ -n "$SMOKE" ]; then
      # every run must have worked, not only the median
      while read -r rps _ _ _ errs; do
        if [ "$errs" != 0 ]; then smoke_fail+=("$scen $who: $errs errors"); fi
        if [ "$scen" != idle ] && [ "$scen" != tls-idle ] && [ "$rps" -le 0 ]; then smoke_fail+=("$scen $who: no requests served"); fi
      done < "$f"
    fi
  done
  if [ "$scen" = rules ]; then
    printf "%-6s log lines received per run (median): haproxy %s, fulcrum %s\n" "$scen" \
      "$(median < "$work/haproxy.rules.logs")" "$(median < "$work/fulcrum.rules.logs")"
    if [ -n "$SMOKE" ]; then
      for who in haproxy fulcrum; do
        if [ "$(median < "$work/$who.rules.logs")" -le 0 ]; then smoke_fail+=("rules $who: no log line received"); fi
      done
    fi
  fi
  if [ "$scen" = idle ] || [ "$scen" = tls-idle ]; then
    printf "%-6s connections held by the proxy at the end (median): haproxy %s, fulcrum %s, of %s opened\n" "$scen" \
      "$(median < "$work/haproxy.idle.held")" "$(median < "$work/fulcrum.idle.held")" "$IDLE_CONNS"
  fi
  gawk -v s="$scen" 'NR==FNR {h1[FNR]=$1; h2[FNR]=$2; h4[FNR]=$4; next} {f1[FNR]=$1; f2[FNR]=$2; f4[FNR]=$4}
    END {
      n=asort(h1); asort(f1); asort(h2); asort(f2); asort(h4); asort(f4); m=int((n+1)/2);
      if (s == "idle" || s == "tls-idle") { printf "%-6s ratio fulcrum/haproxy: RSS per idle connection %.2f\n", s, (h2[m] > 0 ? f2[m]/h2[m] : 0); exit }
      printf "%-6s ratio fulcrum/haproxy: req/s %.2f  req/cpu-s %.2f  p99 %.2f\n", s, (h1[m] > 0 ? f1[m]/h1[m] : 0), (h2[m] > 0 ? f2[m]/h2[m] : 0), (h4[m] > 0 ? f4[m]/h4[m] : 0)
    }' "$work/haproxy.$scen" "$work/fulcrum.$scen"
done
if [ -n "$SMOKE" ]; then
  if [ ${#smoke_fail[@]} -gt 0 ]; then
    printf 'smoke: FAIL: %s\n' "${smoke_fail[@]}"
    exit 1
  fi
  echo "smoke: ok (both proxies served every scenario without errors)"
fi
