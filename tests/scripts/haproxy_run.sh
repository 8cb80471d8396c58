#!/bin/sh
# SPDX-License-Identifier: MIT
# examples/haproxy/run.sh as the docs use it: start, one request, a rollback
# (the next request is STABLE within 1 s), stop, from the checkout, in a
# temporary prefix on free ports; each step bounded.
set -eu
build=$1
haproxy=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=$(mktemp -d /tmp/rollout-haproxy-run-XXXXXX)
port=$(python3 "$root/tests/scripts/consecutive_ports.py" 3)
export ROLLOUT_HAPROXY_PREFIX="$prefix" ROLLOUT_HAPROXY_PORT="$port" ROLLOUT_BUILD_DIR="$build" ROLLOUT_HAPROXY_BIN="$haproxy"
# the demo plan: a pilot org at 100 % by org, so the check request is on the canary
cat > "$prefix/demo-plan.yaml" <<'PLAN'
format: 1
id: haproxy-demo
salt: haproxy-demo
start: 2000-01-01T00:00:00Z
versions: {stable: "app:v1", new: "app:v2"}
cohorts:
  - id: pilot
    match: {org_in: [acme-corp]}
phases:
  - id: pilot
    cohort: pilot
    steps: [{at: 0, weight: 100%, unit: org}]
bake: {duration: 36500d}
rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}
PLAN
export ROLLOUT_PLAN="$prefix/demo-plan.yaml"
run() { timeout 120 "$root/examples/haproxy/run.sh" "$@"; }
cleanup() { run stop >/dev/null 2>&1 || true; rm -rf "$prefix"; }
trap cleanup EXIT
run start
out=$(run check)
echo "$out"
case $out in
  *"HTTP/1.1 200"*"x-rollout-reason: IN_ROLLOUT cohort=pilot phase=pilot step=1 unit=org"*canary*) ;;
  *) echo "haproxy_run: not decided onto the canary"; exit 1 ;;
esac
# the configuration it ran has this checkout's paths, none of the placeholders
grep -q "$root/examples/haproxy/rollout.lua" "$prefix/haproxy.cfg"
! grep -q -e /opt/librollout -e /etc/haproxy/rollout -e /var/lib/haproxy "$prefix/haproxy.cfg"
run rollback
sleep 1
out=$(run check)
echo "$out"
case $out in
  *"HTTP/1.1 200"*"x-rollout-reason: ROLLED_BACK"*stable*) ;;
  *) echo "haproxy_run: the rollback did not reach the gateway within 1 s"; exit 1 ;;
esac
run stop
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "still listening"; exit 1; fi
echo "haproxy_run: ok"
