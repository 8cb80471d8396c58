#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_state_migrate.sh ROLLOUT — `rollout state migrate` on the seed plan:
# a rolled back state carried over to an edited plan stays rolled back with
# the revision + 1; a second run changes nothing; an incompatible edit and
# every usage error leave the file byte-identical.
set -u
R=${1:?usage: check_state_migrate.sh path/to/rollout}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
S=$dir/rollout.state
A=examples/plans/seed.yaml
B=$dir/edited.yaml
C=$dir/incompatible.yaml
T=2026-02-28T
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

sed 's/{at: 12h, weight: 50%, unit: user}/{at: 12h, weight: 40%, unit: user}/' $A > "$B"
sed 's/id: canary-go/id: canary-gate/' $A > "$C"
cmp -s $A "$B" && fail "the edit changed nothing"

"$R" state init --state "$S" $A >/dev/null || fail init
"$R" state apply start --state "$S" $A --at ${T}09:00:00Z >/dev/null || fail start
"$R" state apply rollback critical_bug --state "$S" $A --at ${T}10:00:00Z >/dev/null ||
    fail rollback

# migrate RC ARGS...: runs it, output in $out, stderr in $err
migrate() {
    local want=$1; shift
    out=$("$R" state migrate "$@" 2>"$dir/err"); local rc=$?
    err=$(cat "$dir/err")
    [ "$rc" = "$want" ] || fail "rollout state migrate $* exited $rc, wanted $want: $err"
}
unchanged() {
    cp "$S" "$dir/before"
    migrate "$@"
    cmp -s "$S" "$dir/before" || fail "rollout state migrate ${*:2} changed the file"
}

migrate 0 --help
case $out in *"usage: rollout state migrate"*) ;; *) fail "--help: $out" ;; esac
unchanged 2 --state "$S" "$B"                       # no --from
unchanged 2 --from $A "$B"                          # no --state
unchanged 2 --from $A --state "$S"                  # no NEW_PLAN
unchanged 2 --from $A --state "$S" "$dir/no-such-plan.yaml"
unchanged 1 --from "$B" --state "$S" "$B"           # the state is not the edit's
unchanged 1 --from $A --state "$S" "$C"             # the current gate is gone
case $err in *'gate "canary-go"'*'not in the new plan'*) ;; *) fail "refusal: $err" ;; esac

migrate 0 --from $A --state "$S" "$B" --json
case $out in *'"status": "rolling_back"'*'"revision": 3'*'"changed": true'*) ;;
    *) fail "migrate --json: $out" ;; esac
show=$("$R" state show --state "$S" "$B" --json --at 2026-03-05T12:00:00Z) || fail "show new plan"
case $show in *'"status": "rolling_back"'*'"revision": 3,'*) ;; *) fail "show: $show" ;; esac
"$R" state show --state "$S" $A >/dev/null 2>&1 && fail "the old plan still reads the state"
# it still routes everyone to stable
d=$("$R" decide "$B" --state-file "$S" --org acme-corp --user u1 --at 2026-03-05T12:00:00Z 2>&1)
case $d in *STABLE*) ;; *) fail "decide after the migration: $d" ;; esac

cp "$S" "$dir/before"
migrate 0 --from $A --state "$S" "$B"
case $out in *"already bound"*) ;; *) fail "second run: $out" ;; esac
cmp -s "$S" "$dir/before" || fail "a second run changed the file"

if [ "$fails" != 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "check_state_migrate: all checks passed"
