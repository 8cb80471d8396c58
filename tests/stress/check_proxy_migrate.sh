#!/usr/bin/env bash
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
set -euo pipefail
demo=$1
cli=$2
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

AT=2026-03-03T10:00:00Z
st() { "$cli" state "$@" >/dev/null 2>"$tmp/st.err" || { cat "$tmp/st.err" >&2; exit 1; }; }
sed -e "s/^id: .*/id: demo-a/" examples/plans/seed.yaml >"$tmp/a.yaml"
sed -e 's/{at: 12h, weight: 50%, unit: user}/{at: 12h, weight: 40%, unit: user}/' \
  "$tmp/a.yaml" >"$tmp/a1.yaml"
sed -e 's/id: canary-go/id: canary-gate/' "$tmp/a1.yaml" >"$tmp/a2.yaml"
! cmp -s "$tmp/a.yaml" "$tmp/a1.yaml" && ! cmp -s "$tmp/a1.yaml" "$tmp/a2.yaml"
s="$tmp/state-a"
st init --state "$s" "$tmp/a.yaml"
st apply start --state "$s" "$tmp/a.yaml" --at 2026-02-28T09:00:00Z
st apply go canary-go --override engineering-lead --state "$s" "$tmp/a.yaml" \
  --at 2026-02-28T11:00:00Z
st apply go pilot-go --override sre-lead --state "$s" "$tmp/a.yaml" --at 2026-03-01T09:00:00Z
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

put() { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
put "$tmp/a.yaml" "$tmp/plan.yaml"
put "$tmp/state-a" "$tmp/state"

requests() {  # FROM COUNT: pilot orgs, staff, GA orgs
  python3 - "$1" "$2" <<'PY'
import sys
start, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(start, start + count):
    k = i % 4
    if k == 0:
        print(f"acme-corp u{i} s{i}")
    elif k == 1:
        print(f"- - s{i} email=user{i}@example.com")
    else:
        print(f"org-{i * 7919} u{i} s{i}")
PY
}
lines() { [ -f "$tmp/out" ] && wc -l <"$tmp/out" || echo 0; }
wait_for() {
  for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
  echo "check_proxy_migrate: timed out waiting for: $*" >&2
  cat "$tmp/err" >&2
  exit 1
}
has_lines() { [ "$(lines)" -ge "$1" ]; }
logged() { [ "$(grep -c -- "$1" "$tmp/err" || true)" -ge "$2" ]; }

mkfifo "$tmp/in"
"$demo" --plan "$tmp/plan.yaml" --state "$tmp/state" --workers 4 --at "$AT" \
  <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"

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
exec 3>&-
wait "$pid"
pid=
grep -q "carried over to the edited plan" "$tmp/err"
[ "$(grep -c "carried over" "$tmp/err")" = 2 ] || {
  echo "check_proxy_migrate: the migrated file was carried over again" >&2; cat "$tmp/err" >&2; exit 1; }

python3 - "$cli" "$tmp" "$AT" <<'PY'
import collections, json, subprocess, sys
cli, tmp, at = sys.argv[1:4]

def rev(state, plan):
    out = subprocess.run([cli, "state", "show", "--state", f"{tmp}/{state}", f"{tmp}/{plan}.yaml",
                          "--json"], check=True, capture_output=True, text=True).stdout
    return str(json.loads(out)["revision"])

configs = {rev("state-a", "a"): ("a", "state-a"),
           rev("state-a-m", "a1"): ("a1", "state-a-m"),
           rev("state-a-rb-m", "a1"): ("a1", "state-a-rb-m")}
assert len(configs) == 3, configs
used, bad = collections.Counter(), 0
answers = {}
for line in open(f"{tmp}/out"):
    seq, variant, label, reason, plan, state = line.split()
    answers[int(seq)] = (variant, label, reason, plan.split("=")[1], state.split("=")[1])
if sorted(answers) != list(range(1, 901)):
    sys.exit(f"check_proxy_migrate: {len(answers)} answers for 900 requests")

def request(i):
    k = i % 4
    if k == 0: return ("acme-corp", f"u{i}", f"s{i}", [])
    if k == 1: return (None, None, f"s{i}", [("email", f"user{i}@example.com")])
    return (f"org-{i * 7919}", f"u{i}", f"s{i}", [])

rolled_back = rev("state-a-rb-m", "a1")
for seq, (variant, label, reason, plan, revision) in sorted(answers.items()):
    if revision not in configs or plan != "demo-a":
        sys.exit(f"check_proxy_migrate: request {seq} used an unknown plan/state {plan} {revision}")
    used[revision] += 1
    if seq > 400 and revision != rolled_back:
        sys.exit(f"check_proxy_migrate: request {seq} after the rollback used revision {revision}")
    if revision == rolled_back and variant != "STABLE":
        sys.exit(f"check_proxy_migrate: request {seq} is {variant} after the rollback")
    plan_file, state_file = configs[revision]
    org, user, session, attrs = request(seq - 1)
    cmd = [cli, "decide", f"{tmp}/{plan_file}.yaml", "--at", at, "--state-file",
           f"{tmp}/{state_file}", "--json"]
    for flag, value in (("--org", org), ("--user", user), ("--session", session)):
        if value is not None:
            cmd += [flag, value]
    for k, v in attrs:
        cmd += ["--attr", f"{k}={v}"]
    want = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if (variant.lower(), label, reason) != (want["variant"], want["version"], want["reason"]):
        bad += 1
        if bad <= 5:
            print(f"request {seq} with {plan_file}/{state_file}: demo {variant} {label} {reason}, "
                  f"rollout decide {want['variant']} {want['version']} {want['reason']}")
summary = ", ".join(f"{configs[r][0]} {configs[r][1]} rev {r}: {n}" for r, n in sorted(used.items()))
print(f"check_proxy_migrate: 900 answers checked against rollout decide ({summary}); {bad} differ")
if bad or len(used) != 3:
    sys.exit(1)
PY
echo "check_proxy_migrate: ok"
