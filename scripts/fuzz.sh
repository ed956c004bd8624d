#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of fuzz/ with cargo-fuzz (libFuzzer) for a bounded time each, and fails
# when one of them finds an input that panics, hangs or runs out of memory.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--fresh] [TARGET...]
#
# --seconds: how long each target runs (default 300; FUZZ_SECONDS also sets it). --jobs: how many targets run at
# once (default: the number of cores). --fresh: start from the committed seeds alone, not from what earlier runs
# found (`make fuzz-smoke` does, so that its 20 s are spent fuzzing, not replaying a grown corpus). No TARGET: all
# of them. The stable toolchain builds them as they are, without a sanitizer (docs/SECURITY.md says why);
# FUZZ_SANITIZER=address picks AddressSanitizer, whose flag is unstable: the script then sets RUSTC_BOOTSTRAP=1.
#
# The seeds in fuzz/corpus/<target>/ are read but never written: what a run discovers goes to a scratch corpus
# under the target dir (target/fuzz/work/<target>/corpus/, which the next run starts from; fresh/ for --fresh),
# and crashing inputs to target/fuzz/work/<target>/artifacts/. Each run's executions are appended to
# target/fuzz/work/history.tsv.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-300}"
fresh=0
jobs="${FUZZ_JOBS:-$(nproc)}"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

# cargo-fuzz from crates.io, pinned, when missing.
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

sanitizer="${FUZZ_SANITIZER:-none}"
tdir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
bootstrap=""
if [ "$sanitizer" != none ]; then
  # -Zsanitizer on the stable toolchain; a target dir of its own, so that switching does not rebuild the other.
  export RUSTC_BOOTSTRAP=1
  bootstrap="RUSTC_BOOTSTRAP=1 "
  tdir="$tdir-$sanitizer"
fi
work="$tdir/work"
# Debug assertions and overflow checks stay on (cargo-fuzz's default without -O).
build_flags=(--fuzz-dir "$root/fuzz" --target-dir "$tdir" --sanitizer "$sanitizer")

if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir "$root/fuzz")
fi

mkdir -p "$work"
# The root workspace excludes fuzz/, so `cargo fmt --all` does not see it.
cargo fmt --manifest-path "$root/fuzz/Cargo.toml" -- --check
echo "building ${#targets[@]} fuzz targets"
cargo fuzz build "${build_flags[@]}" >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  echo "fuzz.sh: the build failed (log: $work/build.log)" >&2
  exit 1
}
bin_dir="$tdir/x86_64-unknown-linux-gnu/release"

run_one() {
  local t="$1" dir="$work/$1" corpus="$work/$1/corpus"
  if [ "$fresh" = 1 ]; then
    corpus="$dir/fresh"
    rm -rf "$corpus"
  fi
  mkdir -p "$corpus" "$dir/artifacts"
  rm -f "$dir/artifacts/"*
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: one using 2 GiB is a leak or a blow-up.
  "$bin_dir/$t" "$corpus" "$root/fuzz/corpus/$t" \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1
}

echo "running each target for ${seconds}s, $jobs at a time"
declare -A pid_of=()
running=()
for t in "${targets[@]}"; do
  if [ ! -x "$bin_dir/$t" ]; then
    echo "fuzz.sh: no target named $t" >&2
    exit 2
  fi
  while [ ${#running[@]} -ge "$jobs" ]; do
    wait -n || true
    still=()
    for r in "${running[@]}"; do
      kill -0 "${pid_of[$r]}" 2>/dev/null && still+=("$r")
    done
    running=("${still[@]}")
  done
  run_one "$t" &
  pid_of[$t]=$!
  running+=("$t")
done

failed=0
total=0
printf '%-20s %12s %10s %8s  %s\n' target executions "exec/s" "new" result
for t in "${targets[@]}"; do
  status=0
  wait "${pid_of[$t]}" || status=$?
  log="$work/$t/log"
  execs=$(sed -n "s/^stat::number_of_executed_units: *//p" "$log" | tail -n1)
  rate=$(sed -n "s/^stat::average_exec_per_sec: *//p" "$log" | tail -n1)
  new=$(sed -n "s/^stat::new_units_added: *//p" "$log" | tail -n1)
  result=ok
  if [ "$status" != 0 ]; then
    result="FAILED (exit $status)"
    failed=1
  fi
  printf '%-20s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${new:-?}" "$result"
  total=$((total + ${execs:-0}))
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$seconds" "${execs:-0}" "$result" >>"$work/history.tsv"
done
echo "total: $total executions, ${#targets[@]} targets x ${seconds}s"

if [ "$failed" = 1 ]; then
  for t in "${targets[@]}"; do
    for a in "$work/$t/artifacts/"*; do
      [ -e "$a" ] || continue
      echo
      echo "== $t: $a"
      grep -m1 -A12 -E "panicked|ERROR: libFuzzer|==ERROR" "$work/$t/log" || tail -n 20 "$work/$t/log"
      echo "reproduce: ${bootstrap}cargo fuzz run ${build_flags[*]} $t $a"
    done
  done
  exit 1
fi
