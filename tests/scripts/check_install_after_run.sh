#!/bin/sh
# SPDX-License-Identifier: MIT
# check_install_after_run.sh SOURCE_DIR [RUN_SH]
# `cmake --install` after the main job: configures a fresh build tree the way
# scripts/run.sh does, builds only the targets run.sh builds (read from its
# `cmake --build ... --target ...` line), then installs into a temporary
# prefix and checks that the tool, both libraries, the header, the package
# files and the Lua 5.4 module are there. A partial build that install cannot
# copy fails here.
set -eu
src=${1:?usage: check_install_after_run.sh SOURCE_DIR [RUN_SH]}
run_sh=${2:-$src/scripts/run.sh}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_install_after_run: $*" >&2; exit 1; }

targets=$(sed -n 's/^cmake --build build .*--target \([^>]*\)>.*/\1/p' "$run_sh")
[ -n "$targets" ] || fail "no 'cmake --build build ... --target' line in $run_sh"
echo "run.sh builds: $targets"

cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log" >&2; fail "configure failed"; }
# shellcheck disable=SC2086
cmake --build "$tmp/build" -j2 --target $targets > "$tmp/build.log" 2>&1 ||
    { tail -30 "$tmp/build.log" >&2; fail "building run.sh's targets failed"; }
cmake --install "$tmp/build" --prefix "$tmp/prefix" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install after run.sh's build failed"; }

p=$tmp/prefix
[ -x "$p/bin/rollout" ] || fail "bin/rollout not installed"
"$p/bin/rollout" validate > /dev/null || fail "the installed rollout does not run"
[ -f "$p/include/rollout.h" ] || fail "rollout.h not installed"
lib=$(dirname "$(find "$p" -name librollout.so.0 | head -n 1)")
[ -n "$lib" ] && [ -f "$lib/librollout.a" ] || fail "librollout.so.0 / librollout.a not installed"
[ -f "$lib/pkgconfig/rollout.pc" ] || fail "rollout.pc not installed"
[ -f "$lib/cmake/rollout/rolloutConfig.cmake" ] || fail "rolloutConfig.cmake not installed"
if grep -q '^  install(TARGETS rollout_lua54' "$src/bindings/lua/CMakeLists.txt" &&
   pkg-config --exists lua5.4; then
    [ -f "$lib/lua/5.4/rollout.so" ] || fail "the Lua 5.4 module is not installed"
fi
if grep -q '^  install(TARGETS rollout_lua53' "$src/bindings/lua/CMakeLists.txt" &&
   pkg-config --exists lua5.3; then
    [ -f "$lib/lua/5.3/rollout.so" ] || fail "the Lua 5.3 module (HAProxy's) is not installed"
fi
echo "check_install_after_run: ok"
