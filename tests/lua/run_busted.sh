#!/bin/sh
# SPDX-License-Identifier: MIT
# run_busted.sh INTERPRETER BINDING MODULE_DIR LIBRARY HARNESS LAYOUT
#
# Runs every tests/lua/*_spec.lua with busted under INTERPRETER (luajit,
# lua5.4 or lua5.3) against one binding: "ffi" (bindings/lua/resty/rollout.lua loading
# LIBRARY, i.e. librollout.so.0) or "c" (the rollout.so C module built into
# MODULE_DIR for that interpreter's C API). HARNESS and LAYOUT are the C
# helpers of parity_spec.lua and layout_spec.lua. Debian's busted is a Lua
# script, so running it with a given interpreter is how the Lua version is
# chosen. Runs from the source tree: the specs read tests/vectors/ and
# examples/ by relative path, as the C tests do.
set -eu
[ $# -eq 6 ] || { echo "usage: run_busted.sh INTERPRETER BINDING MODULE_DIR LIBRARY HARNESS LAYOUT" >&2; exit 2; }
interp=$1 binding=$2 moddir=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
busted=$(command -v busted) || { echo "run_busted: busted not found (apt install lua-busted)" >&2; exit 1; }
export ROLLOUT_LUA_BINDING="$binding" ROLLOUT_LIBRARY="$4" ROLLOUT_HARNESS="$5" ROLLOUT_LAYOUT="$6"
# LUA_PATH is read by LuaJIT and, without a LUA_PATH_5_x, by Lua 5.4 and 5.3; ";;"
# keeps the default path, where busted's own modules are.
export LUA_PATH="$src/bindings/lua/?.lua;$src/tests/lua/?.lua;;"
export LUA_CPATH="$moddir/?.so;;"
unset LUA_PATH_5_4 LUA_CPATH_5_4 LUA_PATH_5_3 LUA_CPATH_5_3
cd "$src"
exec "$interp" "$busted" --output=TAP --pattern=_spec tests/lua
