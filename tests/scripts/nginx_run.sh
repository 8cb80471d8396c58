#!/bin/sh
# SPDX-License-Identifier: MIT
# examples/nginx/run.sh as the docs use it: start, one request, stop, from
# the checkout, in a temporary prefix on a free port; each step bounded.
set -eu
build=$1
nginx=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=$(mktemp -d /tmp/rollout-nginx-run-XXXXXX)
port=$(python3 "$root/tests/scripts/consecutive_ports.py" 3)
export ROLLOUT_NGINX_PREFIX="$prefix" ROLLOUT_NGINX_PORT="$port" ROLLOUT_BUILD_DIR="$build" ROLLOUT_NGINX_BIN="$nginx"
run() { timeout 120 "$root/examples/nginx/run.sh" "$@"; }
cleanup() { run stop >/dev/null 2>&1 || true; rm -rf "$prefix"; }
trap cleanup EXIT
run start
out=$(run check)
echo "$out"
case $out in
  *"HTTP/1.1 200"*"X-Rollout-Reason: "*) ;;
  *) echo "nginx_run: no decided 200"; exit 1 ;;
esac
# the configuration it ran has this checkout's paths, none of the placeholders
grep -q "$root/bindings/lua/" "$prefix/nginx.conf"
! grep -q -e /opt/librollout -e /etc/nginx/rollout "$prefix/nginx.conf"
run stop
# stopped: the port is free again
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "still listening"; exit 1; fi
echo "nginx_run: ok"
