#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_store_cli.sh ROLLOUT — `rollout state ... --store URL` end to end
# against a redis-server this script starts on 127.0.0.1 (ephemeral port,
# temporary directory) and stops: init, apply, show --json (revision and
# status), signatures with --key-file, and a dead store: exit 2, fast, with a
# message naming the store and nothing written. A missing redis-server fails.
set -u
R=${1:?usage: check_store_cli.sh path/to/rollout}
command -v redis-server >/dev/null || { echo "FAIL: redis-server is not installed (scripts/install-deps.sh)" >&2; exit 1; }
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly yes \
    --appendfsync always --loglevel warning >"$dir/redis.log" 2>&1 &
pid=$!
U=redis://127.0.0.1:$port
for _ in $(seq 100); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
done
redis-cli -p "$port" ping 2>/dev/null | grep -q PONG || { echo "FAIL: redis-server did not start" >&2; exit 1; }

head -c 32 /dev/urandom > "$dir/key"
T=2026-02-28T

# run EXPECTED_EXIT ARGS...: rollout state ARGS; output in $out, stderr in $err
run() {
    local want=$1; shift
    out=$("$R" state "$@" 2>"$dir/err"); local rc=$?
    err=$(cat "$dir/err")
    [ "$rc" = "$want" ] || fail "rollout state $* exited $rc, wanted $want: $err"
}
K=(--store "$U" --key-file "$dir/key")

run 2 show "${K[@]}" --json
case $err in *"no state stored"*"$U"*|*"$U"*"no state stored"*) ;; *) fail "show before init: $err" ;; esac

run 0 init "${K[@]}"
run 1 init "${K[@]}"
case $err in *"already stored"*) ;; *) fail "second init: $err" ;; esac
run 0 apply start "${K[@]}" --at ${T}09:00:00Z
run 0 apply approve canary-go engineering-lead "${K[@]}" --at ${T}10:00:00Z
run 0 show "${K[@]}" --json --at ${T}10:00:00Z
case $out in *'"status": "running"'*'"revision": 2,'*|*'"revision": 2,'*'"status": "running"'*) ;;
    *) fail "show --json: $out" ;; esac
run 0 apply rollback manual "${K[@]}" --at ${T}11:00:00Z --json
case $out in *'"status": "rolling_back"'*) ;; *) fail "rollback --json: $out" ;; esac
run 1 apply go canary-go --override sre-lead "${K[@]}" --at ${T}11:30:00Z
case $err in *"go refused"*) ;; *) fail "go after rollback: $err" ;; esac
[ "$(redis-cli -p "$port" hget 'rollout:{ledger-v2}:state' rev)" = 3 ] || fail "rev is not 3"
redis-cli -p "$port" hget 'rollout:{ledger-v2}:state' value | grep -Eq ' hmac-sha256=[0-9a-f]{64}$' \
    || fail "the stored value is not signed"

# the live view and the real calendar read the stored state too
out=$("$R" status "${K[@]}" --at ${T}11:40:00Z 2>"$dir/err") || fail "status --store: $(cat "$dir/err")"
case $out in *"status    rolling_back"*"waiting halt"*) ;; *) fail "status --store: $out" ;; esac
out=$("$R" calendar "${K[@]}" --format json 2>"$dir/err") || fail "calendar --store: $(cat "$dir/err")"
out=$("$R" schedule "${K[@]}" --at ${T}11:40:00Z 2>"$dir/err") || fail "schedule --store: $(cat "$dir/err")"
case $out in *rolling_back*) ;; *) fail "schedule --store: $out" ;; esac

# a reader without the key reads the same state; with another key it refuses
run 0 show --store "$U" --json
case $out in *'"revision": 3,'*) ;; *) fail "unkeyed show: $out" ;; esac
head -c 32 /dev/urandom > "$dir/other"
run 1 show --store "$U" --key-file "$dir/other"
case $err in *"does not match"*) ;; *) fail "another key: $err" ;; esac
# usage errors
run 2 show --store "$U" --state "$dir/f"
run 2 show --store "redis://127.0.0.1:99999"
case $err in *"port"*) ;; *) fail "bad URL: $err" ;; esac
run 2 apply pause --store "$U" --key-file "$dir/missing"

# a dead store: exit 2 within the timeout, naming the store, nothing written
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
start=$(date +%s%N)
run 2 apply pause "${K[@]}" --at ${T}12:00:00Z
took=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$took" -lt 3000 ] || fail "a dead store took ${took} ms"
case $err in *"$U"*) ;; *) fail "the message does not name the store: $err" ;; esac
# the store comes back (AOF): revision 3, the pause never happened
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly yes \
    --appendfsync always --loglevel warning >>"$dir/redis.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.05
done
run 0 show "${K[@]}" --json
case $out in *'"revision": 3,'*'"status": "rolling_back"'*|*'"status": "rolling_back"'*'"revision": 3,'*) ;;
    *) fail "after the restart: $out" ;; esac

[ "$fails" -eq 0 ] && echo "check_store_cli: ok"
exit $((fails > 0))
