#!/bin/sh
# SPDX-License-Identifier: MIT
# check_consumer.sh BUILD_DIR CONSUMER_DIR [SANITIZE]
# Installs the build into a temporary prefix, then builds tests/consumer
# against it the two ways a downstream project would -- CMake's
# find_package(rollout) + rollout::rollout (and rollout::rollout_static), and
# `cc $(pkg-config --cflags --libs rollout)` -- and runs each program.
# SANITIZE=1 when the library was built with ASan/UBSan: the consumers then
# need the same runtime.
set -eu
build=${1:?usage: check_consumer.sh BUILD_DIR CONSUMER_DIR [SANITIZE]}
consumer=${2:?usage: check_consumer.sh BUILD_DIR CONSUMER_DIR [SANITIZE]}
sanitize=${3:-0}
case "$sanitize" in 1|ON|on|TRUE|true) san="-fsanitize=address,undefined" ;; *) san="" ;; esac
cc=${CC:-cc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() { echo "check_consumer: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }

libdir=
for d in "$prefix"/lib "$prefix"/lib64 "$prefix"/lib/*-linux-gnu; do
    [ -f "$d/pkgconfig/rollout.pc" ] && libdir=$d && break
done
[ -n "$libdir" ] || fail "no rollout.pc under $prefix"
[ -f "$prefix/include/rollout.h" ] || fail "rollout.h not installed"
[ -f "$libdir/librollout.a" ] || fail "librollout.a not installed"
[ -f "$libdir/cmake/rollout/rolloutConfig.cmake" ] || fail "rolloutConfig.cmake not installed"
soname=$(objdump -p "$libdir/librollout.so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "librollout.so.0" ] || fail "SONAME is '$soname', expected librollout.so.0"

expect_output() { # program
    out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$1") ||
        fail "$1 exited with $?"
    printf '%s\n' "$out" | grep -qx 'librollout 0\.1\.0 (header 0\.1\.0)' ||
        fail "$1 printed: $out"
    printf '%s\n' "$out" | grep -qx 'plan ledger-v2: 3 phases, first canary' ||
        fail "$1 printed: $out"
    echo "$1: ok"
}

# 1. CMake: find_package(rollout) with the prefix on CMAKE_PREFIX_PATH.
cmake -S "$consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" > "$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "configuring the consumer with find_package failed"; }
cmake --build "$tmp/cmake-build" > "$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; fail "building the consumer with find_package failed"; }
# The shared library must be the installed one, not the build tree's.
LD_LIBRARY_PATH="$libdir" ldd "$tmp/cmake-build/app" | grep -q "$libdir/librollout.so.0" ||
    fail "app does not resolve librollout from the install prefix"
expect_output "$tmp/cmake-build/app"
expect_output "$tmp/cmake-build/app_static"
if nm -D "$tmp/cmake-build/app_static" 2>/dev/null | grep -q ' U rollout_'; then
    fail "app_static still imports rollout_* symbols"
fi

# 2. pkg-config, with only the prefix's .pc file to go on.
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs rollout) ||
    fail "pkg-config --cflags --libs rollout failed"
case "$flags" in *"$prefix"*) ;; *) fail "pkg-config flags do not point into the prefix: $flags" ;; esac
# shellcheck disable=SC2086
$cc $san -o "$tmp/app-pc" "$consumer/app.c" $flags || fail "cc with pkg-config flags failed"
expect_output "$tmp/app-pc"

# Static linking through pkg-config pulls in the private dependencies.
sflags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --static --cflags --libs rollout)
# shellcheck disable=SC2086
$cc $san -o "$tmp/app-pc-static" "$consumer/app.c" -Wl,-Bstatic -lrollout -Wl,-Bdynamic \
    $(echo "$sflags" | sed 's/-lrollout//') || fail "cc --static with pkg-config flags failed"
expect_output "$tmp/app-pc-static"
echo "check_consumer: ok"
