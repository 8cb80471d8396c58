#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plan edits in the proxy example: a rollback is never undone by SIGHUP.
#
#   check_proxy_migrate.sh DEMO ROLLOUT_CLI      (from the source tree)
#
# The seed plan A in GA, then mid-stream:
#   1. A' (A with the pilot's 50 % step at 40 %) is written and SIGHUP sent:
#      the state file, written for A, is carried over to A' (revision + 1);
#   2. an operator rolls back with `rollout state` and plan A, the file still
#      being A's: the proxy carries that state over too, and every request
#      after it is STABLE;
#   3. A'' (A' with canary-go renamed: the state cannot be carried) is
#      written and SIGHUP sent: logged with the reason, A' and its rolled
#      back state stay;
#   4. the file is migrated with `rollout state migrate`: the proxy reads
#      it for A' directly, with the very state it had carried over itself.
# Every answer is recomputed with `rollout decide` for the plan and state it
# names; each configuration must have served some requests.
name=check_proxy_migrate mix=4
. "$(dirname "$0")/proxy_common.sh"

seed_plan a demo-a
sed -e 's/{at: 12h, weight: 50%, unit: user}/{at: 12h, weight: 40%, unit: user}/' \
  "$tmp/a.yaml" >"$tmp/a1.yaml"
sed -e 's/id: canary-go/id: canary-gate/' "$tmp/a1.yaml" >"$tmp/a2.yaml"
! cmp -s "$tmp/a.yaml" "$tmp/a1.yaml" && ! cmp -s "$tmp/a1.yaml" "$tmp/a2.yaml"
s="$tmp/state-a"
in_ga "$s" "$tmp/a.yaml"
# the rolled back state, two events later (so that its revision differs from
# the carried-over running one)
cp "$s" "$tmp/state-a-rb"
st apply escalate --state "$tmp/state-a-rb" "$tmp/a.yaml" --at 2026-03-02T08:00:00Z
st apply rollback manual --state "$tmp/state-a-rb" "$tmp/a.yaml" --at 2026-03-02T09:00:00Z
# what the proxy must come to, made with the CLI
for v in state-a state-a-rb; do
  cp "$tmp/$v" "$tmp/$v-m"
  "$cli" state migrate --from "$tmp/a.yaml" --state "$tmp/$v-m" "$tmp/a1.yaml" >/dev/null
done

put "$tmp/a.yaml" "$tmp/plan.yaml"
put "$tmp/state-a" "$tmp/state"
start_demo

requests 0 200 >&3
wait_for has_lines 200
# 1. the edit: the state is carried over
put "$tmp/a1.yaml" "$tmp/plan.yaml"
kill -HUP "$pid"
wait_for logged "plan reloaded" 1
logged "carried over to the edited plan: running" 1
requests 200 200 >&3
wait_for has_lines 400
# 2. a rollback written for A, after the edit
put "$tmp/state-a-rb" "$tmp/state"
wait_for logged "carried over to the edited plan: rolling_back" 1
wait_for logged "state reloaded" 1
requests 400 200 >&3
wait_for has_lines 600
# 3. an edit the state cannot be carried to
put "$tmp/a2.yaml" "$tmp/plan.yaml"
kill -HUP "$pid"
wait_for logged "reload failed" 1
logged 'gate "canary-go" (it has its GO) is not in the new plan' 1 || {
  cat "$tmp/err" >&2; exit 1; }
requests 600 200 >&3
wait_for has_lines 800
# 4. the file migrated by the operator: read for A' as it is
put "$tmp/a1.yaml" "$tmp/plan.yaml"
cp "$tmp/state" "$tmp/state-new"
"$cli" state migrate --from "$tmp/a.yaml" --state "$tmp/state-new" "$tmp/a1.yaml" >/dev/null
put "$tmp/state-new" "$tmp/state"
wait_for logged "state reloaded" 2
requests 800 100 >&3
stop_demo
grep -q "carried over to the edited plan" "$tmp/err"
[ "$(grep -c "carried over" "$tmp/err")" = 2 ] || {
  echo "check_proxy_migrate: the migrated file was carried over again" >&2; cat "$tmp/err" >&2; exit 1; }

check_answers <<'PY'
import collections, sys
from proxy_common import mismatches, read_answers, revision
cli, tmp, at, mix = sys.argv[1:5]
fail = lambda message: sys.exit(f"check_proxy_migrate: {message}")

def rev(state, plan):
    return revision(cli, f"{tmp}/{state}", f"{tmp}/{plan}.yaml")

configs = {rev("state-a", "a"): ("a", "state-a"),
           rev("state-a-m", "a1"): ("a1", "state-a-m"),
           rev("state-a-rb-m", "a1"): ("a1", "state-a-rb-m")}
assert len(configs) == 3, configs
answers = read_answers(f"{tmp}/out", 900, fail)
used = collections.Counter()
rolled_back = rev("state-a-rb-m", "a1")
for seq, (variant, _, _, plan, r) in sorted(answers.items()):
    if r not in configs or plan != "demo-a":
        fail(f"request {seq} used an unknown plan/state {plan} {r}")
    used[r] += 1
    if seq > 400 and r != rolled_back:
        fail(f"request {seq} after the rollback used revision {r}")
    if r == rolled_back and variant != "STABLE":
        fail(f"request {seq} is {variant} after the rollback")

def given(seq, plan, r):
    plan_file, state_file = configs[r]
    return f"{tmp}/{plan_file}.yaml", ["--state-file", f"{tmp}/{state_file}"]

bad = mismatches(cli, at, answers, int(mix), given, fail)
for m in bad[:5]:
    print(m)
summary = ", ".join(f"{configs[r][0]} {configs[r][1]} rev {r}: {n}" for r, n in sorted(used.items()))
print(f"check_proxy_migrate: 900 answers checked against rollout decide ({summary}); "
      f"{len(bad)} differ")
if bad or len(used) != 3:
    sys.exit(1)
PY
echo "check_proxy_migrate: ok"
