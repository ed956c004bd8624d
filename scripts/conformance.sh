#!/usr/bin/env bash
# HAProxy's own regression suite (its reg-tests/*.vtc, run by Debian's varnishtest) against fulcrum.
#
#   scripts/conformance.sh                 every test of the suite: PASS/FAIL/SKIP per test with the first reason,
#                                          then the tally by directory (exit 0 whatever the tally)
#   scripts/conformance.sh --expect FILE   only the tests listed in FILE (one path per line, relative to the
#                                          suite's reg-tests/); exit 1 when one of them does not pass
#   scripts/conformance.sh TEST.vtc ...    just these tests (paths relative to reg-tests/, or absolute)
#
# The suite is HAProxy's (GPL) and is never copied into this repository: HAPROXY_REGTESTS names it, by default
# ../shared/haproxy-reg-tests beside the checkout (or beside the main checkout, for a git worktree). Without it the
# script says so and exits 0, except in CI
# (FULCRUM_REQUIRE_NETNS=1), where a missing suite is an error. The binary under test is the release build of
# fulcrum, run through a link named `haproxy` (fulcrum behaves as `fulcrum proxy` when called so). Set
# HAPROXY_PROGRAM to run the same tests against another program, e.g. /usr/sbin/haproxy, for comparison.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# The suite beside this checkout, or beside the repository it is a worktree of.
suite=${HAPROXY_REGTESTS:-}
if [ -z "$suite" ]; then
  suite=$top/../shared/haproxy-reg-tests
  common=$(git -C "$top" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  if [ ! -d "$suite/reg-tests" ] && [ -n "$common" ] && [ -d "$common/../../shared/haproxy-reg-tests/reg-tests" ]; then
    suite=$common/../../shared/haproxy-reg-tests
  fi
fi
jobs=${CONFORMANCE_JOBS:-2}
out="$top/target/conformance"

expect=""
tests=()
while [ $# -gt 0 ]; do
  case "$1" in
    --expect) expect=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) tests+=("$1"); shift ;;
  esac
done

if [ ! -d "$suite/reg-tests" ]; then
  if [ "${FULCRUM_REQUIRE_NETNS:-}" = 1 ]; then
    echo "conformance: HAProxy's reg-tests not found at $suite (set HAPROXY_REGTESTS)" >&2
    exit 1
  fi
  echo "conformance: skipped: HAProxy's reg-tests not found at $suite (set HAPROXY_REGTESTS to run them)"
  exit 0
fi
command -v varnishtest >/dev/null || { echo "conformance: varnishtest not found (apt-get install varnish)" >&2; exit 1; }
suite=$(cd "$suite" && pwd)

if [ -z "${HAPROXY_PROGRAM:-}" ]; then
  cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum --bin fulcrum
  mkdir -p "$out/bin"
  ln -sf "${CARGO_TARGET_DIR:-$top/target}/release/fulcrum" "$out/bin/haproxy"
  export HAPROXY_PROGRAM="$out/bin/haproxy"
fi

if [ -n "$expect" ]; then
  mapfile -t tests < <(grep -v '^\s*\(#\|$\)' "$expect")
elif [ ${#tests[@]} -eq 0 ]; then
  mapfile -t tests < <(cd "$suite/reg-tests" && find . -name '*.vtc' | sed 's|^\./||' | sort)
fi

rm -rf "$out/logs" && mkdir -p "$out/logs"
export suite out
# One test: varnishtest's log goes to logs/<dir>__<name>.log, the verdict and its first reason to stdout.
run_one() {
  local t=$1 path log code verdict reason
  case "$t" in /*) path=$t ;; *) path="$suite/reg-tests/$t" ;; esac
  t=${path#"$suite/reg-tests/"}
  log="$out/logs/${t//\//__}.log"
  set +e
  HAPROXY_TEST_TIMEOUT=${HAPROXY_TEST_TIMEOUT:-5s} timeout 60 varnishtest -t 20 -v "$path" >"$log" 2>&1
  code=$?
  set -e
  if grep -q "^#.* TEST .* passed" "$log" && [ $code = 0 ]; then
    verdict=PASS reason=""
  elif grep -q "^#.* TEST .* skipped" "$log"; then
    verdict=SKIP
    reason=$(grep -E "=== feature cmd" "$log" | tail -1 | sed 's/^.*=== //' | cut -c1-160)
    [ -n "$reason" ] || reason=$(grep -m1 -E "SKIPPING" "$log" | sed 's/^[*# ]*top *//' | cut -c1-160)
  else
    verdict=FAIL
    # The first [ALERT] the program printed (its text may come on the next output line), else the first
    # expectation that failed.
    reason=$(awk '
      # fulcrum writes an [ALERT] in several pieces; varnishtest logs each piece as a `debug|` line.
      /debug\|/ && (found || /\[ALERT\]/) {
        piece = $0; sub(/.*debug\|/, "", piece)
        text = text piece; found++
        if (found >= 6 || text ~ /: .*: /) { print text; exit }
      }
      END { if (found && found < 6 && text !~ /: .*: /) print text }' "$log" | sed 's/^.*\[ALERT\] */[ALERT] /' | cut -c1-200)
    [ -n "$reason" ] || reason=$(grep -m1 -E '^---- ' "$log" | sed 's/^---- *//' | cut -c1-200)
    [ -n "$reason" ] || reason="varnishtest exited with $code"
  fi
  printf '%s %s%s\n' "$verdict" "$t" "${reason:+: $reason}"
}
export -f run_one

results=$(printf '%s\n' "${tests[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} | sort -k2)
echo "$results"
echo
echo "$results" | awk '
  { split($2, p, "/"); d = p[1]; n[d]++; tot++; if ($1 == "PASS") { ok[d]++; pass++ } if ($1 == "SKIP") { sk[d]++; skip++ } }
  END {
    printf "%-18s %5s %5s %5s\n", "directory", "pass", "skip", "total"
    for (d in n) printf "%-18s %5d %5d %5d\n", d, ok[d], sk[d], n[d] | "sort"
    close("sort")
    printf "%-18s %5d %5d %5d\n", "all", pass, skip, tot
  }'
echo "logs: $out/logs/"
if [ -n "$expect" ]; then
  bad=$(echo "$results" | grep -v '^PASS' || true)
  if [ -n "$bad" ]; then
    echo
    echo "conformance: tests listed in $expect no longer pass:" >&2
    echo "$bad" >&2
    exit 1
  fi
fi
