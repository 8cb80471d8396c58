#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/haproxy/run.sh — runs examples/haproxy/haproxy.cfg from this
# checkout, with nothing installed and nothing to edit:
#
#   examples/haproxy/run.sh start    # build the Lua 5.3 module, start HAProxy on 127.0.0.1:8080
#   examples/haproxy/run.sh check    # one request through it, decided by the plan
#   examples/haproxy/run.sh rollback # `rollout state apply rollback` on its state file
#   examples/haproxy/run.sh reload   # re-read the configuration and the plan (SIGUSR2)
#   examples/haproxy/run.sh stop
#
# start builds the C module for Lua 5.3 (build/lua53/rollout.so) and the
# rollout tool, writes the example configuration into a prefix directory with
# its paths filled in (this checkout's module and rollout.lua, a copy of the
# plan, a state file there) and starts HAProxy in master-worker mode, plus
# a second HAProxy serving the demo backends: "stable\n" and "canary\n" on the
# next two ports. Nothing goes to /etc or /var. Settings, from the environment:
#   ROLLOUT_HAPROXY_PREFIX  the prefix (default /tmp/rollout-haproxy-$UID)
#   ROLLOUT_HAPROXY_PORT    the gateway's port (default 8080; the demo
#                           backends take the next two)
#   ROLLOUT_PLAN            the plan (default examples/plans/seed.yaml)
#   ROLLOUT_BUILD_DIR       the CMake build directory (default build)
#   ROLLOUT_HAPROXY_BIN     the haproxy binary (default: haproxy on PATH, or /usr/sbin/haproxy)
# Needs Debian's haproxy and liblua5.3-dev (scripts/install-deps.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=${ROLLOUT_HAPROXY_PREFIX:-/tmp/rollout-haproxy-$(id -u)}
port=${ROLLOUT_HAPROXY_PORT:-8080}
plan=${ROLLOUT_PLAN:-$root/examples/plans/seed.yaml}
build=${ROLLOUT_BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
haproxy=${ROLLOUT_HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}

die() { echo "run.sh: $*" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running() { alive "$prefix/haproxy.pid"; }

# up to 15 s for the port to answer (or, with "down", to stop answering)
wait_port() {
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
      [ "$1" = up ] && return 0
    else
      [ "$1" = down ] && return 0
    fi
    sleep 0.1
  done
  return 1
}

start() {
  [ -x "$haproxy" ] || die "no haproxy at $haproxy (scripts/install-deps.sh installs it)"
  running && die "already running in $prefix (run.sh stop first)"
  [ -f "$plan" ] || die "no plan at $plan"
  case $plan in /*) ;; *) plan=$PWD/$plan ;; esac

  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" -j"$(nproc)" --target rollout_lua53 rollout_cli >/dev/null ||
    die "building the Lua 5.3 module failed (is liblua5.3-dev installed?)"
  [ -e "$build/lua53/rollout.so" ] || die "the build made no $build/lua53/rollout.so"

  mkdir -p "$prefix"
  cp "$plan" "$prefix/plan.yaml"
  local conf=$prefix/haproxy.cfg
  sed -e "s|/opt/librollout/build/|$build/|" \
      -e "s|/opt/librollout/examples/|$root/examples/|" \
      -e "s|/etc/haproxy/rollout/plan.yaml|$prefix/plan.yaml|" \
      -e "s|/var/lib/haproxy/rollout.state|$prefix/rollout.state|" \
      -e "s|127.0.0.1:8080$|127.0.0.1:$port|" \
      -e "s|127.0.0.1:8081$|127.0.0.1:$((port + 1))|" \
      -e "s|127.0.0.1:8082$|127.0.0.1:$((port + 2))|" \
      "$root/examples/haproxy/haproxy.cfg" >"$conf"
  if grep -q -e /opt/librollout -e /etc/haproxy/rollout -e /var/lib/haproxy "$conf"; then
    die "haproxy.cfg has a path run.sh does not know how to fill in"
  fi
  # the demo backends: app:v1 and app:v2, each answering its name
  cat >"$prefix/demo.cfg" <<EOF
global
    log stderr format short local0 warning
defaults
    mode http
    timeout client 30s
frontend stable
    bind 127.0.0.1:$((port + 1))
    http-request return status 200 content-type text/plain string "stable\n"
frontend canary
    bind 127.0.0.1:$((port + 2))
    http-request return status 200 content-type text/plain string "canary\n"
EOF
  "$haproxy" -c -q -f "$conf" || die "haproxy refused $conf (see above)"
  "$haproxy" -D -p "$prefix/demo.pid" -f "$prefix/demo.cfg"
  "$haproxy" -D -W -S "$prefix/master.sock" -p "$prefix/haproxy.pid" -f "$conf" \
    2>>"$prefix/haproxy.log"
  wait_port up "$port" || die "haproxy did not answer on 127.0.0.1:$port (see $prefix/haproxy.log)"
  echo "haproxy is running on http://127.0.0.1:$port/ (prefix $prefix, plan $prefix/plan.yaml)"
  echo "  curl -si -H 'X-Org: acme-corp' -H 'X-User: user-1' http://127.0.0.1:$port/"
  echo "  $0 rollback    # or: $build/rollout state ... --state $prefix/rollout.state --plan $prefix/plan.yaml"
  echo "  $0 stop"
}

check() {
  running || die "not running (run.sh start first)"
  local out
  out=$(curl -sS -i --max-time 5 -H 'X-Org: acme-corp' -H 'X-User: user-1' \
        "http://127.0.0.1:$port/") || die "no answer on 127.0.0.1:$port"
  echo "$out" | sed -n '1p;/^[Xx]-[Rr]ollout/p;$p'
  echo "$out" | head -1 | grep -q ' 200' || die "the request did not succeed"
  echo "$out" | grep -qi '^x-rollout-reason:' || die "no X-Rollout-Reason: was it decided?"
}

# A state file starts as the plan's schedule implies (started at the plan's
# start), as the gateway decides when there is none; then the rollback.
rollback() {
  running || die "not running (run.sh start first)"
  local cli=$build/rollout st=$prefix/rollout.state p=$prefix/plan.yaml
  if [ ! -f "$st" ]; then
    local at
    at=$("$cli" show "$p" --json | grep -o '"start": "[^"]*"' | head -1 | cut -d'"' -f4)
    "$cli" state init --state "$st" --plan "$p" >/dev/null
    "$cli" state apply start --state "$st" --plan "$p" --at "$at" >/dev/null
  fi
  "$cli" state apply rollback manual --state "$st" --plan "$p"
}

reload() {
  running || die "not running (run.sh start first)"
  kill -USR2 "$(cat "$prefix/haproxy.pid")"
  echo "reload signalled (a configuration or plan that fails leaves the old workers serving; see $prefix/haproxy.log)"
}

stop() {
  local f pid
  for f in haproxy demo; do
    alive "$prefix/$f.pid" || continue
    pid=$(cat "$prefix/$f.pid")
    kill -USR1 "$pid" 2>/dev/null || true   # soft stop: finish the requests in flight
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done
  wait_port down "$port" || die "haproxy still answers on 127.0.0.1:$port"
  echo "stopped"
}

case ${1:-} in
  start) start ;;
  check) check ;;
  rollback) rollback ;;
  reload) reload ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|check|rollback|reload|stop|restart" >&2; exit 2 ;;
esac
