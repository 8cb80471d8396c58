#!/usr/bin/env bash
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

AT=2026-03-03T10:00:00Z   # the seed in GA (day 3), given the GOs below
# `rollout state` reports each transition on stderr: keep it for failures only
st() { "$cli" state "$@" >/dev/null 2>"$tmp/st.err" || { cat "$tmp/st.err" >&2; exit 1; }; }
for v in a b; do
  sed -e "s/^id: .*/id: demo-$v/" -e "s/^salt: .*/salt: demo-$v-salt/" \
    examples/plans/seed.yaml >"$tmp/$v.yaml"
  s="$tmp/state-$v"
  st init --state "$s" "$tmp/$v.yaml"
  st apply start --state "$s" "$tmp/$v.yaml" --at 2026-02-28T09:00:00Z
  st apply go canary-go --override engineering-lead --state "$s" "$tmp/$v.yaml" \
    --at 2026-02-28T11:00:00Z
  st apply go pilot-go --override sre-lead --state "$s" "$tmp/$v.yaml" --at 2026-03-01T09:00:00Z
done
cp "$tmp/state-a" "$tmp/state-a-rb"
st apply rollback manual --state "$tmp/state-a-rb" "$tmp/a.yaml" --at 2026-03-02T09:00:00Z

# A file is replaced by rename, as `rollout state` and deploy tools do, so
# the demo never reads half a file.
put() { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
put "$tmp/a.yaml" "$tmp/plan.yaml"
put "$tmp/state-a" "$tmp/state"

# requests: pilot orgs, staff by email and role, many GA orgs, absent ids
requests() {  # FROM COUNT
  python3 - "$1" "$2" <<'EOF'
import sys
start, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(start, start + count):
    k = i % 10
    if k == 0:
        print(f"acme-corp u{i} s{i}")
    elif k == 1:
        print(f"- - s{i} email=user{i}@example.com")
    elif k == 2:
        print(f"org-{i} u{i} s{i} role=staff")
    elif k == 3:
        print(f"- u{i} -")
    else:
        print(f"org-{i * 7919} u{i} s{i} country=de")
EOF
}
lines() { [ -f "$tmp/out" ] && wc -l <"$tmp/out" || echo 0; }
wait_for() {  # COMMAND...: up to 20 s
  for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
  echo "check_proxy_demo: timed out waiting for: $*" >&2
  cat "$tmp/err" >&2
  exit 1
}
has_lines() { [ "$(lines)" -ge "$1" ]; }
logged() { [ "$(grep -c "$1" "$tmp/err" || true)" -ge "$2" ]; }

mkfifo "$tmp/in"
"$demo" --plan "$tmp/plan.yaml" --state "$tmp/state" --workers 4 --at "$AT" \
  <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"

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
exec 3>&-
wait "$pid"
pid=

python3 - "$cli" "$tmp" "$AT" <<'EOF'
import collections, json, subprocess, sys
cli, tmp, at = sys.argv[1:4]

def rev(state, plan):
    out = subprocess.run([cli, "state", "show", "--state", f"{tmp}/{state}", f"{tmp}/{plan}.yaml",
                          "--json"], check=True, capture_output=True, text=True).stdout
    return str(json.loads(out)["revision"])

configs = {("demo-a", rev("state-a", "a")): ("a", "state-a"),
           ("demo-a", rev("state-a-rb", "a")): ("a", "state-a-rb"),
           ("demo-b", rev("state-b", "b")): ("b", "state-b")}
assert len(configs) == 3, configs

answers, used, bad = {}, collections.Counter(), 0
for line in open(f"{tmp}/out"):
    seq, variant, label, reason, plan, state = line.split()
    seq = int(seq)
    if seq in answers:
        sys.exit(f"check_proxy_demo: request {seq} answered twice")
    answers[seq] = (variant, label, reason, plan.split("=")[1], state.split("=")[1])
if sorted(answers) != list(range(1, 801)):
    sys.exit(f"check_proxy_demo: {len(answers)} answers for 800 requests")

# the requests, regenerated exactly as the script sent them
def request(i):
    k = i % 10
    if k == 0: return ("acme-corp", f"u{i}", f"s{i}", [])
    if k == 1: return (None, None, f"s{i}", [("email", f"user{i}@example.com")])
    if k == 2: return (f"org-{i}", f"u{i}", f"s{i}", [("role", "staff")])
    if k == 3: return (None, f"u{i}", None, [])
    return (f"org-{i * 7919}", f"u{i}", f"s{i}", [("country", "de")])

for seq, (variant, label, reason, plan, revision) in sorted(answers.items()):
    key = (plan, revision)
    if key not in configs:
        sys.exit(f"check_proxy_demo: request {seq} used an unknown plan/state {key}")
    used[key] += 1
    plan_file, state_file = configs[key]
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
            print(f"request {seq} with {key}: demo {variant} {label} {reason}, "
                  f"rollout decide {want['variant']} {want['version']} {want['reason']}")
summary = ", ".join(f"{p} state rev {r}: {n}" for (p, r), n in sorted(used.items()))
print(f"check_proxy_demo: 800 answers checked against rollout decide ({summary}); {bad} differ")
if bad or len(used) != 3:
    sys.exit(1)
EOF
grep -q "reload failed" "$tmp/err"
echo "check_proxy_demo: ok"
