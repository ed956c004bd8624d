#!/usr/bin/env bash
# The commands README.md's "## On a fresh machine" shows, checked as printed there:
#  1. `cargo run --release -- demo` is run exactly as written (bash -c, from the repo root) in a process group of
#     its own; its service URL must answer 200, its tour must finish, and on SIGINT (Ctrl-C: sent to the whole
#     group, as a terminal would) it must exit 0 leaving no process, no listening port and no socket directory.
#  2. `make test` must be a target of the Makefile (only dry-run: running it from inside `make test` would recurse).
# Usage: scripts/readme-check.sh   (also `make readme`, part of `make test`)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly SECTION='## On a fresh machine'
readonly BUILD_LIMIT=900 # seconds for the first command to print its service URL (a fresh release build included)
readonly TOUR_LIMIT=60   # seconds for the tour to finish once serving
readonly STOP_LIMIT=10   # seconds to exit after SIGINT

say() { echo "readme-check: $*"; }
die() {
    echo "readme-check: FAIL: $*" >&2
    exit 1
}

# --- the commands, from the README itself -------------------------------------------------------------------------
[[ -f README.md ]] || die "README.md not found in $(pwd)"
grep -qx "$SECTION" README.md || die "README.md has no line '$SECTION'"
mapfile -t cmds < <(awk -v section="$SECTION" '
    $0 == section { inside = 1; next }
    inside && /^#/ { exit }
    inside && /^    [^ ]/ { sub(/^    /, ""); print }
' README.md)
if ((${#cmds[@]} != 2)); then
    die "expected exactly two indented commands under '$SECTION' in README.md, found ${#cmds[@]}:$(printf '\n    %s' "${cmds[@]}")"
fi
demo_cmd=${cmds[0]}
test_cmd=${cmds[1]}
[[ $demo_cmd =~ ^cargo\ run(\ .*)?\ demo(\ .*)?$ ]] ||
    die "the first command under '$SECTION' should be a 'cargo run ... demo', found: $demo_cmd"
[[ $test_cmd == "make test" ]] ||
    die "the second command under '$SECTION' should be 'make test', found: $test_cmd"
say "README commands: '$demo_cmd', '$test_cmd'"

# --- 2. `make test` exists (checked first: it is instant) ---------------------------------------------------------
make -n test >/dev/null || die "'make test' is not a working target of the Makefile (make -n test failed)"
say "ok: the Makefile has a 'test' target"

# --- 1. the demo --------------------------------------------------------------------------------------------------
# Its service port: the one given with --listen, else the demo's default.
port=8080
if [[ $demo_cmd =~ --listen[=\ ]+[^\ ]*:([0-9]+) ]]; then
    port=${BASH_REMATCH[1]}
fi
port_listening() { [[ -n $(ss -Htln "sport = :$1") ]]; }
if port_listening "$port"; then
    die "port $port is busy, so '$demo_cmd' cannot serve on it; free it first. Listening there now:
$(ss -Htlnp "sport = :$port" 2>/dev/null || true)"
fi

log=$(mktemp "${TMPDIR:-/tmp}/readme-check.XXXXXX")
pgid=""
cleanup() {
    local status=$?
    if [[ -n $pgid ]] && group_alive; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 50); do
            group_alive || break
            sleep 0.1
        done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -s $log ]]; then
        echo "readme-check: the demo's output (last 40 lines):" >&2
        tail -n 40 "$log" | sed 's/^/    /' >&2
    fi
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Processes left in the demo's process group.
group_pids() { ps -eo pgid=,pid= | awk -v g="$pgid" '$1 == g { print $2 }'; }
group_alive() { [[ -n $(group_pids) ]]; }

start=$SECONDS
# Without job control (`set +m`, the default of a script) a background job is no group leader, so setsid makes it
# one without forking: $! is then the process group (and session) id of everything the command starts, cargo and
# the fulcrum it execs.
set +m
setsid bash -c "$demo_cmd" </dev/null >"$log" 2>&1 &
pid=$!
pgid=$pid
sleep 0.2
actual=$(ps -o pgid= -p "$pid" | tr -d ' ' || true)
if [[ -n $actual && $actual != "$pgid" ]]; then
    pgid=""
    kill -TERM "$pid" 2>/dev/null || true
    die "'$demo_cmd' did not get a process group of its own (pgid $actual)"
fi
say "started '$demo_cmd' (process group $pgid); waiting up to ${BUILD_LIMIT}s for its service URL"

url=""
next_note=$((SECONDS + 30))
while [[ -z $url ]]; do
    url=$(grep -m1 'service:' "$log" | grep -oE 'http://127\.0\.0\.1:[0-9]+/' || true)
    [[ -n $url ]] && break
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" && rc=0 || rc=$?
        die "'$demo_cmd' exited (status $rc) before printing its service URL"
    }
    ((SECONDS - start < BUILD_LIMIT)) || die "no service URL printed within ${BUILD_LIMIT}s"
    if ((SECONDS >= next_note)); then
        say "still waiting ($((SECONDS - start))s): $(tail -n 1 "$log" | cut -c1-100)"
        next_note=$((SECONDS + 30))
    fi
    sleep 0.5
done
say "service URL after $((SECONDS - start))s: $url"
url_port=${url##*:}
url_port=${url_port%/}
[[ $url_port == "$port" ]] || die "the demo serves on port $url_port instead of $port: $(grep -m1 'free port' "$log" || true)"

body=$(mktemp "${TMPDIR:-/tmp}/readme-check-body.XXXXXX")
code=$(curl -sS --max-time 10 -o "$body" -w '%{http_code}' "$url") || code="curl failed"
answer=$(head -c 200 "$body")
rm -f "$body"
[[ $code == 200 ]] || die "GET $url answered $code: $answer"
say "ok: GET $url -> 200: $answer"

tour_start=$SECONDS
until grep -q '^serving until Ctrl-C' "$log"; do
    kill -0 "$pid" 2>/dev/null || die "the demo exited during its tour"
    ((SECONDS - tour_start < TOUR_LIMIT)) || die "the tour did not finish within ${TOUR_LIMIT}s"
    sleep 0.2
done
grep -q -- '-- tour done --' "$log" || die "the tour did not finish"
grep -q 'backend2 is DOWN' "$log" || die "the tour did not show backend2 going DOWN"
say "ok: the tour ran and the demo is serving"
sock=$(sed -n 's/^runtime API socket: //p' "$log" | head -n1)

# Ctrl-C, as a terminal sends it: SIGINT to every process of the group.
kill -INT -- "-$pgid"
stop_start=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS - stop_start < STOP_LIMIT)) || die "the demo did not exit within ${STOP_LIMIT}s of SIGINT"
    sleep 0.1
done
wait "$pid" && rc=0 || rc=$?
# `cargo run` execs the program on Unix, so the status is fulcrum's own: 0 after Ctrl-C.
((rc == 0)) || die "the demo exited with status $rc after SIGINT (expected 0)"
say "ok: SIGINT -> exit status 0 after $((SECONDS - stop_start))s"
left=$(group_pids)
[[ -z $left ]] || die "processes left in group $pgid after the exit: $left"
if port_listening "$port"; then
    die "port $port still listening after the demo exited: $(ss -Htlnp "sport = :$port" 2>/dev/null || true)"
fi
if [[ -n $sock && -e $(dirname "$sock") ]]; then
    die "the demo left $(dirname "$sock") behind"
fi
pgid=""
say "ok: no process, no listening port $port, no socket directory left"
say "passed in $((SECONDS - start))s"
