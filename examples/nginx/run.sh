#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/nginx/run.sh — runs examples/nginx/nginx.conf from this checkout,
# with nothing installed and nothing to edit:
#
#   examples/nginx/run.sh start    # build librollout.so.0, start nginx on 127.0.0.1:8080
#   examples/nginx/run.sh check    # one request through it, decided by the plan
#   examples/nginx/run.sh stop
#
# start builds what nginx needs (librollout.so.0, in build/; resty.rollout and
# resty.rollout.gateway are the Lua files in bindings/lua), writes the example
# configuration into a prefix directory with its paths filled in (this
# checkout's bindings/lua and build/, a copy of the plan) and starts nginx
# there; nothing goes to /etc or /opt. Settings, from the environment:
#   ROLLOUT_NGINX_PREFIX  the prefix (default /tmp/rollout-nginx-$UID)
#   ROLLOUT_NGINX_PORT    the gateway's port (default 8080; the two demo
#                         upstreams take the next two)
#   ROLLOUT_PLAN          the plan (default examples/plans/seed.yaml)
#   ROLLOUT_BUILD_DIR     the CMake build directory (default build)
#   ROLLOUT_NGINX_BIN     the nginx binary (default: nginx on PATH, or /usr/sbin/nginx)
# Needs Debian's nginx and libnginx-mod-http-lua (scripts/install-deps.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=${ROLLOUT_NGINX_PREFIX:-/tmp/rollout-nginx-$(id -u)}
port=${ROLLOUT_NGINX_PORT:-8080}
plan=${ROLLOUT_PLAN:-$root/examples/plans/seed.yaml}
build=${ROLLOUT_BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
nginx=${ROLLOUT_NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

die() { echo "run.sh: $*" >&2; exit 1; }

nginx_cmd() { "$nginx" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" "$@"; }

running() {
  [ -f "$prefix/logs/nginx.pid" ] && kill -0 "$(cat "$prefix/logs/nginx.pid")" 2>/dev/null
}

# up to 15 s for the port to answer (or, with "down", to stop answering)
wait_port() {
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      [ "$1" = up ] && return 0
    else
      [ "$1" = down ] && return 0
    fi
    sleep 0.1
  done
  return 1
}

start() {
  [ -x "$nginx" ] || die "no nginx at $nginx (scripts/install-deps.sh installs it)"
  running && die "already running in $prefix (run.sh stop first)"
  [ -f "$plan" ] || die "no plan at $plan"
  case $plan in /*) ;; *) plan=$PWD/$plan ;; esac

  # librollout.so.0: what resty.rollout loads through the FFI
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" -j"$(nproc)" --target rollout >/dev/null
  [ -e "$build/librollout.so.0" ] || die "the build made no $build/librollout.so.0"

  mkdir -p "$prefix/logs"
  # workers run as nobody when nginx starts as root: they read the prefix
  chmod 755 "$prefix"
  cp "$plan" "$prefix/plan.yaml"
  local conf=$prefix/nginx.conf
  sed -e "s|/opt/librollout/bindings/lua/|$root/bindings/lua/|" \
      -e "s|/opt/librollout/build/|$build/|" \
      -e "s|/etc/nginx/rollout/|$prefix/|g" \
      -e "s|127.0.0.1:8080;|127.0.0.1:$port;|" \
      -e "s|127.0.0.1:8081;|127.0.0.1:$((port + 1));|" \
      -e "s|127.0.0.1:8082;|127.0.0.1:$((port + 2));|" \
      "$root/examples/nginx/nginx.conf" >"$conf"
  if grep -q -e /opt/librollout -e /etc/nginx/rollout "$conf"; then
    die "nginx.conf has a path run.sh does not know how to fill in"
  fi
  nginx_cmd -t -q || die "nginx refused $conf (see above)"
  nginx_cmd
  wait_port up || die "nginx did not answer on 127.0.0.1:$port (see $prefix/logs/error.log)"
  echo "nginx is running on http://127.0.0.1:$port/ (prefix $prefix, plan $prefix/plan.yaml)"
  echo "  curl -si -H 'X-Org: acme-corp' -H 'X-User: user-1' http://127.0.0.1:$port/"
  echo "  curl -s 'http://127.0.0.1:$port/_rollout/explain?org=acme-corp&user=user-1'"
  echo "  $0 stop"
}

check() {
  running || die "not running (run.sh start first)"
  local out
  out=$(curl -sS -i --max-time 5 -H 'X-Org: acme-corp' -H 'X-User: user-1' \
        "http://127.0.0.1:$port/") || die "no answer on 127.0.0.1:$port"
  echo "$out" | sed -n '1p;/^[Xx]-[Rr]ollout/p'
  echo "$out" | head -1 | grep -q ' 200' || die "the request did not succeed"
  echo "$out" | grep -qi '^x-rollout-reason:' || die "no X-Rollout-Reason: was it decided?"
}

stop() {
  if ! running; then
    echo "not running"
    return 0
  fi
  local pid
  pid=$(cat "$prefix/logs/nginx.pid")
  nginx_cmd -s quit
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  wait_port down || die "nginx still answers on 127.0.0.1:$port"
  echo "stopped"
}

case ${1:-} in
  start) start ;;
  check) check ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|check|stop|restart" >&2; exit 2 ;;
esac
