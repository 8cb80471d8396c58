#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_status.sh ROLLOUT — `rollout status` against golden outputs
# (tests/golden/status/*.txt) for the situations people ask about, each a
# state built with `rollout state` at fixed times on the seed plan; and
# `rollout calendar --state` after a late GO (the slipped calendar, its ICS
# UIDs kept and SEQUENCE raised). UPDATE=1 rewrites the golden files.
set -u
R=${1:?usage: check_status.sh path/to/rollout}
G=tests/golden/status
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
T=2026-02-28T
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# on STATE ARGS...: rollout state apply ARGS on STATE, which must succeed
on() {
    local s=$1; shift
    "$R" state apply "$@" --state "$dir/$s" >/dev/null 2>"$dir/err" ||
        fail "rollout state apply $* on $s: $(cat "$dir/err")"
}

# golden NAME STATE AT: rollout status at AT equals tests/golden/status/NAME.txt
golden() {
    local name=$1 s=$2 at=$3
    "$R" status --state "$dir/$s" --at "$at" > "$dir/$name.txt" 2>"$dir/err" ||
        fail "rollout status ($name): $(cat "$dir/err")"
    if [ "${UPDATE:-0}" = 1 ]; then
        cp "$dir/$name.txt" "$G/$name.txt"
    elif ! diff -u "$G/$name.txt" "$dir/$name.txt" >&2; then
        fail "rollout status ($name) differs from $G/$name.txt"
    fi
    local wide
    wide=$(awk 'length($0) > 80' "$dir/$name.txt" | head -1)
    [ -z "$wide" ] || fail "$name: a line wider than 80 columns: $wide"
    "$R" status --state "$dir/$s" --at "$at" --json | python3 -c 'import json,sys; json.load(sys.stdin)' ||
        fail "rollout status --json ($name) is not JSON"
}

"$R" state init --state "$dir/a" >/dev/null || fail "init"
golden not-started a ${T}08:00:00Z

on a start --at ${T}09:00:00Z
on a approve canary-go engineering-lead --at ${T}11:02:00Z
on a approve canary-go product-lead --at ${T}11:03:00Z
on a verdict pass --at ${T}11:04:00Z
on a go --by engineering-lead --at ${T}11:05:00Z
golden running-mid-step a ${T}15:30:00Z

cp "$dir/a" "$dir/b"
on b tick --at 2026-03-01T09:30:00Z
on b approve pilot-go sre-lead --at 2026-03-01T09:40:00Z
golden awaiting-gate-one-approval b 2026-03-01T10:00:00Z

cp "$dir/a" "$dir/c"
on c pause --by sre-lead --reason "error spike under review" --at ${T}16:00:00Z
golden paused c ${T}17:00:00Z

"$R" state init --state "$dir/d" >/dev/null
on d start --at ${T}09:00:00Z
on d approve canary-go engineering-lead --at ${T}13:50:00Z
on d approve canary-go product-lead --at ${T}13:55:00Z
on d verdict pass --at ${T}13:58:00Z
on d go --at ${T}14:00:00Z
golden slipped-late-go d ${T}14:30:00Z

cp "$dir/a" "$dir/e"
on e rollback critical_bug --by on-call-sre --reason "ledger totals drift" --at ${T}16:00:00Z
on e confirm traffic_halted --at ${T}16:05:00Z
golden rolling-back-past-deadline e ${T}17:00:00Z

on e confirm previous_restored --at ${T}17:05:00Z
on e confirm smoke_passed --at ${T}17:10:00Z
on e confirm service_resumed --at ${T}17:15:00Z
on e confirm incident_opened --at ${T}17:20:00Z
"$R" retry --state "$dir/e" --by sre-lead --reason "fix deployed" --at ${T}18:00:00Z >/dev/null 2>&1 ||
    fail "rollout retry"
golden rolled-back-then-retried e ${T}18:30:00Z

# the slipped calendar: canary-go's GO came 3 h late (d), so pilot 10 % is at 16:00
cal=$("$R" calendar --state "$dir/d") || fail "rollout calendar --state"
grep -Eq '^Sat 2026-02-28 16:00 .* pilot +traffic step 1/4.* 10% ' <<<"$cal" ||
    fail "calendar --state does not show pilot 10% at 16:00: $cal"
"$R" calendar --format ics > "$dir/plain.ics" || fail "calendar --format ics"
"$R" calendar --state "$dir/d" --format ics > "$dir/late.ics" || fail "calendar --state --format ics"
[ "$(grep '^UID:' "$dir/plain.ics")" = "$(grep '^UID:' "$dir/late.ics")" ] ||
    fail "the ICS UIDs changed with the slip"
# the pilot's first step moved: its SEQUENCE rose; the canary's start did not move
seq_of() { tr -d '\r' < "$1" | awk -v uid="$2" '$0 == uid {f=1} f && /^SEQUENCE:/ {print substr($0, 10); exit}'; }
[ "$(seq_of "$dir/plain.ics" 'UID:ledger-v2-step-1@librollout')" = 0 ] || fail "plain SEQUENCE"
[ "$(seq_of "$dir/late.ics" 'UID:ledger-v2-step-1@librollout')" -gt 0 ] ||
    fail "the moved pilot step kept its SEQUENCE"
[ "$(seq_of "$dir/late.ics" 'UID:ledger-v2-step-0@librollout')" = 0 ] ||
    fail "the canary step, not moved, got a new SEQUENCE"
sch=$("$R" schedule --state "$dir/d" --at ${T}16:30:00Z) || fail "rollout schedule --state"
grep -q 'pilot' <<<"$sch" || fail "schedule --state: $sch"

# a gate with five approvers and four override roles still fits 80 columns:
# the lists wrap instead of running off the terminal (--watch)
sed -e 's/approvers: \[engineering-lead, product-lead\]/approvers: [engineering-lead, product-lead, sre-lead, engineering, support]\n      override_roles: [sre-lead, on-call-sre, engineering-lead, product-lead]/' \
    examples/plans/seed.yaml > "$dir/wide.yaml"
"$R" state init "$dir/wide.yaml" --state "$dir/w" >/dev/null || fail "init (wide)"
"$R" state apply start "$dir/wide.yaml" --state "$dir/w" --at ${T}09:00:00Z >/dev/null || fail "start (wide)"
"$R" status "$dir/wide.yaml" --state "$dir/w" --at ${T}11:30:00Z > "$dir/wide.txt" || fail "status (wide)"
wide=$(awk 'length($0) > 80' "$dir/wide.txt" | head -1)
[ -z "$wide" ] || fail "wide plan: a line wider than 80 columns: $wide"
for r in engineering-lead product-lead sre-lead engineering support; do
    grep -q "$r (waiting)" "$dir/wide.txt" || fail "wide plan: approver $r is not listed"
done
grep -q "on-call-sre" "$dir/wide.txt" || fail "wide plan: override role on-call-sre is not listed"

# --watch redraws when the state changes, and a state that cannot be read
# for a while (a file being replaced, a store down) is reported and waited
# out, not the end of the watch
"$R" state init --state "$dir/live" >/dev/null || fail "init (watch)"
"$R" status --state "$dir/live" --watch --at ${T}08:00:00Z > "$dir/watch.out" 2> "$dir/watch.err" &
watch_pid=$!
sleep 1.5
on live start --at ${T}09:00:00Z
sleep 1.5
mv "$dir/live" "$dir/live.away"
sleep 2.5
kill -0 $watch_pid 2>/dev/null || fail "--watch ended when the state could not be read"
mv "$dir/live.away" "$dir/live"
on live pause --at ${T}09:30:00Z
sleep 1.5
kill $watch_pid 2>/dev/null
wait $watch_pid 2>/dev/null
draws=$(grep -c 'rollout   ledger-v2 at' "$dir/watch.out")
[ "$draws" -ge 3 ] || fail "--watch drew $draws times for three states (not started, running, paused)"
grep -q '^status    paused' "$dir/watch.out" || fail "--watch never showed the paused state"
grep -q 'live' "$dir/watch.err" || fail "--watch did not report the unreadable state: $(cat "$dir/watch.err")"

[ "$fails" = 0 ] && echo "check_status: all checks passed"
exit $((fails > 0))
