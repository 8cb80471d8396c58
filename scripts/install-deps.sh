#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what librollout needs to build and test on Debian (bookworm).
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libyaml-dev libxxhash-dev libpcre2-dev libcriterion-dev
  # clang + compiler-rt: libFuzzer and the sanitizers; llvm: llvm-symbolizer,
  # so fuzzer and sanitizer reports name functions and lines
  clang lld libclang-rt-14-dev valgrind llvm
  # tzdata: plans name IANA zones for change windows (docs/scheduling.md)
  tzdata
  python3 python3-dev python3-pytest python3-setuptools python3-pip python3-wheel python3-mypy
  luajit2 libluajit2-5.1-dev lua5.4 liblua5.4-dev lua-busted
  # HAProxy (Debian 12: 2.6, linked with Lua 5.3): examples/haproxy, its test and benchmark
  haproxy liblua5.3-dev lua5.3
  nginx libnginx-mod-http-lua wrk curl
  # the lua module loads resty.core at startup (and it needs lrucache); listed
  # so that examples/nginx and tests/lua/nginx_test.py never meet a bare module
  lua-resty-core lua-resty-lrucache
  # the store component (store/): hiredis and libcrypto (the core links libcrypto
  # too, for the launchdarkly bucket function's SHA-1); its tests start redis-server
  redis-server libhiredis-dev libssl-dev
  # `rollout operator` (operator/): Prometheus queries and webhooks over libcurl,
  # JSON through jansson; its tests start prometheus (and promtool backfills it)
  libcurl4-openssl-dev libjansson-dev prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
