#!/usr/bin/env bash
# Builds and runs every test suite: the C suites (plain and under
# AddressSanitizer + UndefinedBehaviorSanitizer). The plain ctest run also
# holds the Lua suites (busted under LuaJIT and Lua 5.4, the JIT trace check,
# the nginx integration test); the sanitizer run repeats the Lua 5.4 specs
# against the instrumented C module.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
failed=0
step() { echo; echo "=== $*"; }

step "C suites"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build --output-on-failure -j"$jobs" || failed=1

step "C suites under ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DROLLOUT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" || failed=1

echo
if [ "$failed" -ne 0 ]; then
  echo "test.sh: FAILED"
  exit 1
fi
echo "test.sh: all suites passed"
