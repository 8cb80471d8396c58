#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs every test suite: the C suites plain, under valgrind
# memcheck and under AddressSanitizer + UndefinedBehaviorSanitizer; the
# concurrency tests under ThreadSanitizer; a short run of each fuzz harness
# (docs/security.md has the longer release runs). The plain ctest run also
# holds the Lua suites (busted under LuaJIT and Lua 5.4, the JIT trace check,
# the nginx integration test); the sanitizer run repeats the Lua 5.4 specs
# against the instrumented C module.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
failed=0
# each step reports its time, so the cost of every kind of test stays visible
step_name=
step() {
  [ -n "$step_name" ] && echo "--- $step_name: $((SECONDS - step_start)) s"
  step_name=$*
  step_start=$SECONDS
  echo
  echo "=== $*"
}

step "C suites"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j"$jobs" || failed=1

# the committed compat vectors are the peer SDKs' answers: ask the SDKs again
# (npm ci of the pinned versions, offline evaluation); skipped only without node
step "Peer SDK bucketing vectors"
tests/vectors/compat/gen_compat.sh --check || failed=1

step "C suites under valgrind memcheck"
tests/scripts/valgrind_suites.sh build || failed=1

step "C suites under ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DROLLOUT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" || failed=1

step "Concurrency and the proxy demo under ThreadSanitizer"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROLLOUT_SANITIZE_THREAD=ON \
  -DROLLOUT_BUILD_LUA=OFF -DROLLOUT_BUILD_PYTHON=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target concurrency rollout-proxy-demo >/dev/null
# any report fails the run (exit 66); the demo's answers are checked with
# the plain build's CLI, which need not run under TSan
export TSAN_OPTIONS=halt_on_error=1:exitcode=66
build-tsan/tests/stress/concurrency || failed=1
bash tests/stress/check_proxy_demo.sh build-tsan/examples/c/rollout-proxy-demo build/rollout ||
  failed=1
# the store's sync thread beside the workers (a real redis-server)
bash tests/stress/check_proxy_store.sh build-tsan/examples/c/rollout-proxy-demo build/rollout ||
  failed=1
unset TSAN_OPTIONS

step "Fuzz harnesses, ${ROLLOUT_FUZZ_SECONDS:-15} s each"
tests/fuzz/run.sh "${ROLLOUT_FUZZ_SECONDS:-15}" || failed=1

step "done"
echo "test.sh: ${SECONDS} s in all"
if [ "$failed" -ne 0 ]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all suites passed"
