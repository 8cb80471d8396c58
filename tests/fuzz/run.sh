#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses and runs each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]
#
# SECONDS per harness (default 15: the smoke run of scripts/test.sh); the
# harnesses are plan, metrics, state, decide and pattern (default: all five,
# one after the other). A release check runs them far longer; docs/security.md
# gives the command. Environment:
#   ROLLOUT_FUZZ_BUILD  build directory (default: build-fuzz in the tree)
#   ROLLOUT_FUZZ_JOBS   parallel fuzzing processes per harness (default 1)
#
# The corpus of each harness lives in $BUILD/corpus/HARNESS: seeded by
# gen_corpus.py, grown by every run, never committed. Prints executions per
# harness; exits 1 when a harness found a crash, a leak, a timeout (an input
# that takes longer than 10 s: a gateway must not stall either) or a broken
# invariant, naming the saved input. Such an input belongs in
# tests/fuzz/regressions/HARNESS/ together with the fix (docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-15}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(plan metrics state decide pattern)
build=${ROLLOUT_FUZZ_BUILD:-build-fuzz}
jobs=${ROLLOUT_FUZZ_JOBS:-1}

command -v clang >/dev/null || { echo "fuzz: clang is required (scripts/install-deps.sh)" >&2; exit 2; }
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROLLOUT_BUILD_FUZZ=ON \
  -DROLLOUT_BUILD_TESTS=OFF -DROLLOUT_BUILD_CLI=OFF -DROLLOUT_BUILD_LUA=OFF \
  -DROLLOUT_BUILD_PYTHON=OFF >/dev/null
targets=(fuzz_seedgen)
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
python3 tests/fuzz/gen_corpus.py "$build/tests/fuzz/fuzz_seedgen" "$build/corpus" >/dev/null

mkdir -p "$build/artifacts" "$build/logs"
# libFuzzer takes one -dict: the plan and metrics harnesses get the formats'
# keywords and the anchors/tags/control-character tokens together
cat tests/fuzz/yaml.dict tests/fuzz/anchors.dict > "$build/yaml+anchors.dict"
failed=0
printf '%-8s %12s %8s %10s %9s  %s\n' harness executions seconds "exec/s" corpus result
for h in "${harnesses[@]}"; do
  log="$build/logs/$h.log"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build/artifacts/$h-")
  case $h in
    plan|metrics) args+=(-dict="$build/yaml+anchors.dict" -max_len=65536) ;;
    decide) args+=(-dict=tests/fuzz/decide.dict) ;;
    pattern) args+=(-dict=tests/fuzz/pattern.dict -max_len=1024) ;;
  esac
  if [ "$jobs" -gt 1 ]; then args+=(-jobs="$jobs" -workers="$jobs"); fi
  start=$(date +%s)
  rc=0
  # ASan/UBSan findings abort, so libFuzzer saves the input
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$h" "${args[@]}" "$build/corpus/$h" >"$log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  # with -jobs the stats are in one fuzz-N.log per worker
  execs=$( { cat "$log"; cat fuzz-*.log 2>/dev/null || true; } |
          sed -n 's/^stat::number_of_executed_units: *//p' | awk '{s += $1} END {print s + 0}')
  rm -f fuzz-*.log
  corpus=$(find "$build/corpus/$h" -type f | wc -l)
  rate=$(( took > 0 ? execs / took : execs ))
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-8s %12s %8s %10s %9s  %s\n' "$h" "$execs" "$took" "$rate" "$corpus" "$result"
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/    /'
    echo "    full log: $log"
  fi
done
exit "$failed"
