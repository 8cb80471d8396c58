# SPDX-License-Identifier: MIT
# Sourced by check_proxy_demo.sh and check_proxy_migrate.sh, with their
# arguments (DEMO ROLLOUT_CLI) and, set before, `name` (for messages) and
# `mix` (the requests: proxy_common.py). Sets demo, cli, tmp (removed on
# exit, the proxy killed if still running) and AT.
set -euo pipefail
demo=$1
cli=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

AT=2026-03-03T10:00:00Z   # the seed in GA (day 3), given the GOs of in_ga
# `rollout state` reports each transition on stderr: keep it for failures only
st() { "$cli" state "$@" >/dev/null 2>"$tmp/st.err" || { cat "$tmp/st.err" >&2; exit 1; }; }
seed_plan() {  # NAME ID [SALT]: the seed plan with another id (and salt)
  local salt=()
  [ $# -lt 3 ] || salt=(-e "s/^salt: .*/salt: $3/")
  sed -e "s/^id: .*/id: $2/" "${salt[@]}" examples/plans/seed.yaml >"$tmp/$1.yaml"
}
in_ga() {  # STATE PLAN: a new state, started and through its GOs
  st init --state "$1" "$2"
  st apply start --state "$1" "$2" --at 2026-02-28T09:00:00Z
  gate_go canary-go engineering-lead product-lead "$1" "$2" 2026-02-28T11:00:00Z
  gate_go pilot-go sre-lead product-lead "$1" "$2" 2026-03-01T09:00:00Z
}
gate_go() {  # GATE ROLE ROLE STATE PLAN TIME: both approvers, a PASS, then GO
  st apply approve "$1" "$2" --state "$4" "$5" --at "$6"
  st apply approve "$1" "$3" --state "$4" "$5" --at "$6"
  st apply verdict pass --state "$4" "$5" --at "$6"
  st apply go "$1" --state "$4" "$5" --at "$6"
}
# A file is replaced by rename, as `rollout state` and deploy tools do, so
# the demo never reads half a file.
put() { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
requests() { python3 "$here/proxy_common.py" requests "$mix" "$1" "$2"; }  # FROM COUNT
lines() { [ -f "$tmp/out" ] && wc -l <"$tmp/out" || echo 0; }
wait_for() {  # COMMAND...: up to 20 s
  for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
  echo "$name: timed out waiting for: $*" >&2
  cat "$tmp/err" >&2
  exit 1
}
has_lines() { [ "$(lines)" -ge "$1" ]; }
logged() { [ "$(grep -c -- "$1" "$tmp/err" || true)" -ge "$2" ]; }
# The demo on $tmp/plan.yaml and $tmp/state, reading requests written to fd 3
start_demo() {
  mkfifo "$tmp/in"
  "$demo" --plan "$tmp/plan.yaml" --state "$tmp/state" --workers 4 --at "$AT" \
    <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  exec 3>"$tmp/in"
}
stop_demo() {  # end of input: the demo answers what is left and exits 0
  exec 3>&-
  wait "$pid"
  pid=
}
# The Python program on stdin, with proxy_common importable and
# argv[1:] = CLI TMP AT MIX
check_answers() { PYTHONPATH="$here" python3 - "$cli" "$tmp" "$AT" "$mix"; }
