#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_state_cli.sh ROLLOUT — `rollout state` end to end on the seed plan:
# init -> start -> tick -> approve -> verdict -> go -> rollback -> confirms,
# checking the state file after every step, and that every refused event
# (exit 1) or usage error (exit 2) leaves the file byte-identical.
set -u
R=${1:?usage: check_state_cli.sh path/to/rollout}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
S=$dir/rollout.state
T=2026-02-28T
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# run EXPECTED_EXIT ARGS...: runs rollout state ARGS, output in $out
run() {
    local want=$1; shift
    out=$("$R" state "$@" --state "$S" 2>"$dir/err"); local rc=$?
    [ "$rc" = "$want" ] || fail "rollout state $* exited $rc, wanted $want: $(cat "$dir/err")"
}

# check_file STATUS REVISION: the file is one rs2 line and shows as expected
check_file() {
    [ "$(wc -l < "$S")" = 1 ] || fail "state file is not one line"
    grep -Eq '^rs2\.[A-Za-z0-9_-]+$' "$S" || fail "state file is not rs2 text: $(cat "$S")"
    local json
    json=$("$R" state show --state "$S" --json --at ${T}12:00:00Z) || fail "show failed"
    case $json in *"\"status\": \"$1\""*) ;; *) fail "status is not $1: $json" ;; esac
    case $json in *"\"revision\": $2,"*) ;; *) fail "revision is not $2: $json" ;; esac
    ls -A "$dir" | grep -q '^\.rollout\.state\.' && fail "a temporary file was left behind"
    return 0
}

# expect_line TEXT: the last output contains this line
expect_line() {
    printf '%s\n' "$out" | grep -qxF -- "$1" || fail "no line \"$1\" in: $out"
}

# unchanged EXIT ARGS...: the command fails with EXIT and leaves the file as it was
unchanged() {
    local want=$1; shift
    cp "$S" "$dir/before"
    run "$want" "$@"
    cmp -s "$S" "$dir/before" || fail "rollout state $* changed the file"
    [ -z "$out" ] || fail "rollout state $* printed actions: $out"
}

run 0 --help
case $out in *"usage: rollout state"*) ;; *) fail "--help" ;; esac

run 0 init
check_file not_started 0
unchanged 1 init                                   # exists
unchanged 1 apply go --at ${T}09:00:00Z            # not started
unchanged 1 apply confirm traffic_halted --at ${T}09:00:00Z

run 0 apply start --at ${T}09:00:00Z
expect_line "notify canary-start via slack to team (owners engineering): Slack notification to team"
expect_line "set_weight internal 100% by session"
check_file running 1
unchanged 1 apply start --at ${T}09:30:00Z         # already started
unchanged 1 apply tick --at ${T}08:00:00Z          # time runs backwards

run 0 tick --at ${T}11:00:00Z
expect_line "gate_due canary-go due ${T}11:00:00Z, approvers engineering-lead,product-lead"
check_file awaiting_gate 2
run 0 tick --at ${T}11:00:30Z                      # nothing due: file untouched
[ -z "$out" ] || fail "an idle tick printed $out"
check_file awaiting_gate 2

run 0 apply approve canary-go engineering-lead --at ${T}11:01:00Z
check_file awaiting_gate 3
unchanged 1 apply approve canary-go engineering-lead --at ${T}11:02:00Z   # twice
unchanged 1 apply approve canary-go sre-lead --at ${T}11:02:00Z          # not an approver
unchanged 1 apply approve no-such-gate product-lead --at ${T}11:02:00Z
unchanged 1 apply approve canary-go no-such-role --at ${T}11:02:00Z
unchanged 1 apply go --at ${T}11:02:00Z            # product-lead missing
run 0 apply approve canary-go product-lead --at ${T}11:03:00Z
check_file awaiting_gate 4
unchanged 1 apply go canary-go --at ${T}11:04:00Z  # no PASS verdict yet
run 0 apply verdict pass --at ${T}11:05:00Z
check_file awaiting_gate 5
run 0 apply go --at ${T}11:06:00Z
check_file running 6

run 0 tick --at ${T}13:06:00Z
expect_line "notify pilot-start via email+in-app-banner to pilot-orgs (owners product): Email to pilot orgs + in-app banner"
expect_line "set_weight pilot 10% by user"
check_file running 7

# usage errors: exit 2, file untouched
unchanged 2 apply
unchanged 2 apply frobnicate
unchanged 2 apply verdict maybe
unchanged 2 apply rollback because
unchanged 2 apply confirm done
unchanged 2 apply pause --bogus
unchanged 2 bogus
out=$("$R" state apply pause 2>/dev/null); [ $? = 2 ] || fail "no --state: not a usage error"

run 0 apply rollback critical_bug --at ${T}14:00:00Z
[ "$(printf '%s\n' "$out" | cut -d' ' -f1 | tr '\n' ' ')" = "notify page halt_traffic " ] ||
    fail "rollback actions: $out"
expect_line "page product,on-call-sre (page): Page on-call SRE + Product"
check_file rolling_back 8
unchanged 1 apply rollback manual --at ${T}14:01:00Z
unchanged 1 apply confirm previous_restored --at ${T}14:01:00Z    # out of order
unchanged 1 apply confirm postmortem_done --at ${T}14:01:00Z      # not rolled back yet

run 0 apply confirm traffic_halted --at ${T}14:05:00Z
expect_line "restore_previous app:previous (restore): Restart previous approved version from container registry"
check_file rolling_back 9
run 0 apply confirm previous-restored --at ${T}14:10:00Z
expect_line "run_smoke_tests app:previous (smoke): Run smoke tests on previous version"
check_file rolling_back 10
run 0 apply confirm smoke_passed --at ${T}14:15:00Z
expect_line "resume_service (resume): Resume service"
check_file rolling_back 11
run 0 apply confirm service_resumed --at ${T}14:20:00Z --json
case $out in *'"type": "open_incident"'*) ;; *) fail "json confirm: $out" ;; esac
check_file rolling_back 12
run 0 apply confirm incident_opened --at ${T}14:25:00Z
expect_line "schedule_postmortem due 2026-03-01T14:25:00Z (postmortem): Post-mortem within 24 hours"
check_file rolled_back 13
unchanged 1 apply resume --at ${T}15:00:00Z
run 0 apply confirm postmortem_done --at 2026-03-01T10:00:00Z
check_file rolled_back 14

# a corrupt file is refused, and left as it is
cp "$S" "$dir/good"
sed 's/rs2\.A/rs2.B/' "$dir/good" > "$S"
unchanged 1 show
unchanged 1 apply escalate
cp "$dir/good" "$S"
out=$("$R" state show --state "$S" ./tests/no-such-plan.yaml 2>/dev/null); [ $? = 2 ] ||
    fail "a plan that cannot be read is not an I/O error (exit 2)"
run 0 init --force
check_file not_started 0

# the plan is --plan FILE, or the positional after all of the event's
# arguments; nothing is guessed from its name
cp examples/plans/seed.yaml "$dir/myplan"
run 0 show --plan "$dir/myplan"
run 0 show "$dir/myplan"
run 0 apply start --at ${T}09:00:00Z "$dir/myplan"
run 0 apply approve canary-go engineering-lead --at ${T}11:00:00Z --plan "$dir/myplan"
unchanged 2 apply go examples/plans/seed.yaml --at ${T}11:00:00Z
grep -qF -- "write the plan as --plan examples/plans/seed.yaml (or after the GATE)" "$dir/err" ||
    fail "go PLAN does not say to write --plan: $(cat "$dir/err")"
unchanged 2 apply examples/plans/seed.yaml escalate --at ${T}11:00:00Z
grep -qF -- "write the plan as --plan examples/plans/seed.yaml" "$dir/err" ||
    fail "PLAN EVENT does not say to write --plan: $(cat "$dir/err")"
unchanged 2 apply escalate "$dir/myplan" --plan "$dir/myplan" --at ${T}11:00:00Z
grep -qF -- "the plan is given twice" "$dir/err" || fail "two plans: $(cat "$dir/err")"
run 0 init --force

# STATE.outbox (the operator's journal, docs/operator.md) stays true under a
# plan without an operator: section too: a record of a transition that never
# happened (revision above the state's) is dropped by the next transition,
# before that transition's revision could make it look owed
j=$dir/journal.state
"$R" state init --state "$j" >/dev/null 2>&1 || fail "init (journal)"
"$R" state apply start --state "$j" --at ${T}09:00:00Z >/dev/null 2>&1 || fail "start (journal)"
printf 'O 2 ledger-v2/2/0/email {"void":true}\n' > "$j.outbox"
"$R" state apply pause --state "$j" --at ${T}10:00:00Z >/dev/null 2>&1 ||
    fail "a transition to revision 2 (journal)"
grep -q void "$j.outbox" && fail "a void journal record survived the transition to its revision"
"$R" state init --force --state "$j" >/dev/null 2>&1 || fail "init --force (journal)"
[ -e "$j.outbox" ] && fail "init --force left the earlier rollout's journal"

if [ "$fails" != 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "check_state_cli: all checks passed"
