#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drives examples/c/rollout-proxy-demo as a proxy's traffic would, and checks
# every answer against `rollout decide` for the plan and state in force.
#
#   check_proxy_demo.sh DEMO ROLLOUT_CLI      (from the source tree)
#
# Two versions of the seed plan (A and B: other ids and salts, so units land
# in other buckets) and three states: A running in GA, A rolled back, B
# running in GA. Requests stream in through a FIFO while, mid-stream:
#   1. the state file is replaced (A rolled back): picked up by mtime/size;
#   2. plan B and its state are written and SIGHUP is sent, without waiting
#      for the requests in flight (each answer names the plan and state it
#      used, so the check does not depend on timing);
#   3. an invalid plan is written and SIGHUP sent: logged, B stays.
# Every output line is then recomputed with the CLI; all must agree, every
# request must be answered once, and each of the three configurations must
# have served some requests.
name=check_proxy_demo mix=10
. "$(dirname "$0")/proxy_common.sh"

for v in a b; do
  seed_plan $v demo-$v demo-$v-salt
  in_ga "$tmp/state-$v" "$tmp/$v.yaml"
done
cp "$tmp/state-a" "$tmp/state-a-rb"
st apply rollback manual --state "$tmp/state-a-rb" "$tmp/a.yaml" --at 2026-03-02T09:00:00Z

put "$tmp/a.yaml" "$tmp/plan.yaml"
put "$tmp/state-a" "$tmp/state"
start_demo

requests 0 200 >&3
wait_for has_lines 200
# 1. a new state for the same plan: re-read because the file changed
put "$tmp/state-a-rb" "$tmp/state"
wait_for logged "state reloaded" 1
requests 200 100 >&3
# 2. plan B mid-stream: its state first (not usable with A: logged, A
#    stays), then the plan and SIGHUP while requests are still arriving
requests 300 100 >&3
put "$tmp/state-b" "$tmp/state"
put "$tmp/b.yaml" "$tmp/plan.yaml"
kill -HUP "$pid"
requests 400 100 >&3
wait_for logged "plan reloaded" 1
requests 500 200 >&3
wait_for has_lines 700
# 3. a plan that does not load: B stays in force
printf 'format: 1\nid: broken\n' >"$tmp/broken.yaml"
put "$tmp/broken.yaml" "$tmp/plan.yaml"
kill -HUP "$pid"
wait_for logged "reload failed" 1
requests 700 100 >&3
stop_demo

check_answers <<'EOF'
import collections, sys
from proxy_common import mismatches, read_answers, revision
cli, tmp, at, mix = sys.argv[1:5]
fail = lambda message: sys.exit(f"check_proxy_demo: {message}")

def rev(state, plan):
    return revision(cli, f"{tmp}/{state}", f"{tmp}/{plan}.yaml")

configs = {("demo-a", rev("state-a", "a")): ("a", "state-a"),
           ("demo-a", rev("state-a-rb", "a")): ("a", "state-a-rb"),
           ("demo-b", rev("state-b", "b")): ("b", "state-b")}
assert len(configs) == 3, configs

answers = read_answers(f"{tmp}/out", 800, fail)
used = collections.Counter()
for seq, (_, _, _, plan, r) in sorted(answers.items()):
    key = (plan, r)
    if key not in configs:
        fail(f"request {seq} used an unknown plan/state {key}")
    used[key] += 1

def given(seq, plan, r):
    plan_file, state_file = configs[(plan, r)]
    return f"{tmp}/{plan_file}.yaml", ["--state-file", f"{tmp}/{state_file}"]

bad = mismatches(cli, at, answers, int(mix), given, fail)
for m in bad[:5]:
    print(m)
summary = ", ".join(f"{p} state rev {r}: {n}" for (p, r), n in sorted(used.items()))
print(f"check_proxy_demo: 800 answers checked against rollout decide ({summary}); "
      f"{len(bad)} differ")
if bad or len(used) != 3:
    sys.exit(1)
EOF
grep -q "reload failed" "$tmp/err"
echo "check_proxy_demo: ok"
