#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The proxy example on the fleet's store: its sync thread against a real
# redis-server (127.0.0.1, an ephemeral port, a temporary directory, AOF on;
# stopped afterwards; a missing redis-server fails the check).
#
#   check_proxy_store.sh DEMO ROLLOUT_CLI      (from the source tree)
#
# The seed plan (renamed) in its pilot phase, states signed with a key, the
# proxy started with --store and --key-file, requests fed in batches:
#   1. the state read from the store at start answers the first batch;
#   2. a rollback applied with the CLI on the store reaches the proxy's
#      answers (every request after it STABLE);
#   3. Redis killed: the proxy logs the outage and the age of its state, and
#      answers exactly as before; Redis restarted (AOF) and a confirmation
#      applied with the CLI: the proxy resyncs;
#   4. bad values written straight into Redis (unsigned, forged, another
#      plan's, a replayed older one): each is refused and logged, the last
#      good state answers; the good value is put back;
#   5. SIGHUP with an edited plan: the proxy migrates the stored state
#      (rollout_state_migrate, then a compare-and-set), and the rollback
#      holds under the edited plan; the CLI reads the migrated state with it.
#   6. a proxy started with nothing stored and reloaded with an edited plan
#      migrates the state written later for the plan before the edit.
# Then a proxy with no state and no store (nothing listening) answers
# STABLE for everyone. Every answer is recomputed with `rollout decide` for
# the plan and the stored state (by revision) it names.
set -euo pipefail
demo=$1
cli=$2
here=$(cd "$(dirname "$0")" && pwd)
exec env PYTHONPATH="$here:$here/../scripts" python3 - "$demo" "$cli" <<'PY'
import hashlib, hmac, json, os, shutil, signal, subprocess, sys, tempfile, time
from proxy_common import mismatches, read_answers, request_line
from redis_server import RedisServer, free_port

demo, cli = sys.argv[1:3]
tmp = tempfile.mkdtemp(prefix="rollout-proxy-store-")
AT = "2026-03-03T10:00:00Z"
KEY = b"proxy-demo-key-0123456789abcdef!"
procs = []


def fail(msg):
    print(f"check_proxy_store: {msg}", file=sys.stderr)
    for name in ("err", "err2"):
        p = os.path.join(tmp, name)
        if os.path.exists(p):
            print(f"--- {name}:\n" + open(p).read()[-4000:], file=sys.stderr)
    sys.exit(1)


redis_exe = shutil.which("redis-server")
if not redis_exe:
    fail("redis-server is not installed (scripts/install-deps.sh installs it)")
rdir = os.path.join(tmp, "redis")
os.mkdir(rdir)
redis = RedisServer(rdir, exe=redis_exe, aof=True)
port = redis.port
url = redis.url
cmd = redis.cmd


def start_redis():
    try:
        redis.start()
    except RuntimeError as e:
        fail(str(e))


def kill_redis():
    redis.kill()


def run(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        fail(f"{' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


with open("examples/plans/seed.yaml", encoding="utf-8") as f:
    seed = f.read()
import re
plan_a = re.sub(r"(?m)^id: .*", "id: demo-store", seed, count=1)
old_step = "{at: 12h, weight: 50%, unit: user}"
assert old_step in plan_a
plan_a1 = plan_a.replace(old_step, "{at: 12h, weight: 40%, unit: user}")
plan_other = plan_a.replace(old_step, "{at: 12h, weight: 30%, unit: user}")
for name, text in (("a", plan_a), ("a1", plan_a1), ("other", plan_other)):
    with open(os.path.join(tmp, f"{name}.yaml"), "w", encoding="utf-8") as f:
        f.write(text)
plan_file = os.path.join(tmp, "plan.yaml")
shutil.copy(os.path.join(tmp, "a.yaml"), plan_file)
key_file = os.path.join(tmp, "rollout.key")
with open(key_file, "wb") as f:
    f.write(KEY + b"\n")
HASH = "rollout:{demo-store}:state"


def st(*args, plan="a"):
    return run(cli, "state", *args, "--store", url, "--key-file", key_file,
               os.path.join(tmp, f"{plan}.yaml"))


def stored():
    rev, value = cmd("HMGET", HASH, "rev", "value")
    return int(rev), value


def state_line(value):
    return value.split(" ")[0]


def sign(rev, line, key=KEY):
    mac = hmac.new(key, f"{HASH}\n{rev}\n{line}".encode(), hashlib.sha256).hexdigest()
    return f"{line} hmac-sha256={mac}"


try:
    start_redis()
    st("init")
    st("apply", "start", "--at", "2026-02-28T09:00:00Z")
    for gate, roles, at in (("canary-go", ("engineering-lead", "product-lead"),
                             "2026-02-28T11:00:00Z"),
                            ("pilot-go", ("sre-lead", "product-lead"), "2026-03-01T09:00:00Z")):
        for role in roles:
            st("apply", "approve", gate, role, "--at", at)
        st("apply", "verdict", "pass", "--at", at)
        st("apply", "go", gate, "--at", at)
    # revision -> (plan file, state line): what each answer is checked against
    configs = {}

    def remember(plan="a"):
        rev, value = stored()
        configs[rev] = (plan, state_line(value))
        return rev, value

    running_rev, running_value = remember()

    err = open(os.path.join(tmp, "err"), "w")
    out = open(os.path.join(tmp, "out"), "w")
    proxy = subprocess.Popen([demo, "--plan", plan_file, "--store", url, "--key-file", key_file,
                              "--workers", "4", "--at", AT],
                             stdin=subprocess.PIPE, stdout=out, stderr=err, text=True)
    procs.append(proxy)
    sent = 0

    def feed(n):
        global sent
        for i in range(sent, sent + n):
            proxy.stdin.write(request_line(i, 4) + "\n")
        proxy.stdin.flush()
        sent += n
        wait_for(lambda: sum(1 for _ in open(os.path.join(tmp, "out"))) >= sent,
                 f"{sent} answers")

    def log():
        return open(os.path.join(tmp, "err")).read()

    def wait_for(cond, what, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        fail(f"timed out waiting for {what}")

    def logged(text, times=1):
        return log().count(text) >= times

    marks = {}  # name -> the first request sequence number after it

    # 1. the stored state at start
    wait_for(lambda: logged("started"), "the start")
    feed(100)
    # 2. a rollback with the CLI on the store
    st("apply", "escalate", "--at", "2026-03-02T08:00:00Z")
    remember()
    st("apply", "rollback", "manual", "--at", "2026-03-02T09:00:00Z")
    rb_rev, rb_value = remember()
    wait_for(lambda: logged(f"state synced: plan demo-store, state revision {rb_rev} "
                            "(rolling_back)"), "the rollback to reach the proxy")
    marks["rollback"] = sent + 1
    feed(100)
    # 3. outage: kill Redis, answers unchanged, then restart and resync
    kill_redis()
    wait_for(lambda: logged("store unreachable"), "the outage to be logged")
    feed(100)
    wait_for(lambda: logged("s since the last sync", 2), "a second staleness report")
    if run(cli, "state", "apply", "pause", "--store", url, "--key-file", key_file,
           os.path.join(tmp, "a.yaml"), check=False).returncode != 2:
        fail("a write to the dead store did not exit 2")
    start_redis()
    if stored()[0] != rb_rev:
        fail("Redis came back without the rollback (AOF)")
    st("apply", "confirm", "traffic_halted", "--at", "2026-03-02T09:05:00Z")
    conf_rev, conf_value = remember()
    wait_for(lambda: logged(f"state revision {conf_rev} "), "the resync after the outage")
    feed(100)
    # 4. bad values written straight into Redis
    local = os.path.join(tmp, "local-state")
    with open(local, "w") as f:
        f.write(state_line(conf_value) + "\n")
    run(cli, "state", "apply", "confirm", "previous_restored", "--state", local,
        os.path.join(tmp, "a.yaml"), "--at", "2026-03-02T09:10:00Z")
    next_line = open(local).read().strip()
    other_state = os.path.join(tmp, "other-state")
    with open(other_state, "w") as f:
        f.write(state_line(conf_value) + "\n")
    run(cli, "state", "migrate", "--from", os.path.join(tmp, "a.yaml"), "--state", other_state,
        os.path.join(tmp, "other.yaml"))
    other_line = open(other_state).read().strip()
    bad = [
        ("unsigned", conf_rev + 1, next_line),
        ("forged", conf_rev + 1, sign(conf_rev + 1, next_line, key=b"x" * 32)),
        ("another plan's", conf_rev + 1, sign(conf_rev + 1, other_line)),
        ("replayed", running_rev, running_value),
    ]
    for n, (what, rev, value) in enumerate(bad, 1):
        cmd("HSET", HASH, "rev", rev, "value", value)
        wait_for(lambda: logged("store state refused", n), f"the {what} value to be refused")
        feed(50)
    marks["bad"] = sent
    cmd("HSET", HASH, "rev", conf_rev, "value", conf_value)
    # 5. SIGHUP with an edited plan: the store's state is migrated
    shutil.copy(os.path.join(tmp, "a1.yaml"), plan_file + ".tmp")
    os.replace(plan_file + ".tmp", plan_file)
    proxy.send_signal(signal.SIGHUP)
    wait_for(lambda: logged("store state carried over to the edited plan: rolling_back"),
             "the store's state to be migrated")
    mig_rev, mig_value = remember("a1")
    if mig_rev != conf_rev + 1:
        fail(f"migrated revision {mig_rev}, want {conf_rev + 1}")
    shown = json.loads(run(cli, "state", "show", "--store", url, "--key-file", key_file,
                           os.path.join(tmp, "a1.yaml"), "--json").stdout)
    if shown["revision"] != mig_rev or shown["status"] != "rolling_back":
        fail(f"the CLI with the edited plan reads {shown}")
    wait_for(lambda: logged(f"state revision {mig_rev} "), "the migrated state in force")
    marks["edit"] = sent + 1
    feed(100)
    proxy.stdin.close()
    if proxy.wait(timeout=30) != 0:
        fail(f"the proxy exited {proxy.returncode}")
    err.close()
    out.close()

    # every answer against `rollout decide` for the plan and state it names
    answers = read_answers(os.path.join(tmp, "out"), sent, fail)
    used = {}
    for seq, (variant, label, reason, plan, revision) in sorted(answers.items()):
        rev = int(revision)
        if rev not in configs or plan != "demo-store":
            fail(f"request {seq} used an unknown plan/state {plan} {revision}")
        if seq >= marks["rollback"] and variant != "STABLE":
            fail(f"request {seq} is {variant} after the rollback")
        if seq >= marks["edit"] and rev != mig_rev:
            fail(f"request {seq} after the edit used revision {rev}")
        if marks["rollback"] <= seq <= marks["bad"] and rev not in (rb_rev, conf_rev):
            fail(f"request {seq} used revision {rev} during the outage or the bad values")
        used[rev] = used.get(rev, 0) + 1

    def given(seq, plan, revision):
        plan_name, line = configs[int(revision)]
        return os.path.join(tmp, f"{plan_name}.yaml"), ["--state", line]

    differ = mismatches(cli, AT, answers, 4, given, fail)
    if differ:
        fail(differ[0])
    if set(used) != {running_rev, rb_rev, conf_rev, mig_rev}:
        fail(f"revisions used: {used}")
    print(f"check_proxy_store: {sent} answers checked against rollout decide "
          f"(revision: requests {dict(sorted(used.items()))})")

    # 6. a plan edited before the proxy ever read a stored state: the state
    # that arrives later, written for the plan before the edit, is migrated
    late_a = re.sub(r"(?m)^id: .*", "id: demo-late", seed, count=1)
    late_a1 = late_a.replace(old_step, "{at: 12h, weight: 40%, unit: user}")
    for name, text in (("late_a", late_a), ("late_a1", late_a1)):
        with open(os.path.join(tmp, f"{name}.yaml"), "w", encoding="utf-8") as f:
            f.write(text)
    late_plan = os.path.join(tmp, "late-plan.yaml")
    shutil.copy(os.path.join(tmp, "late_a.yaml"), late_plan)
    err2 = open(os.path.join(tmp, "err2"), "w")
    late = subprocess.Popen([demo, "--plan", late_plan, "--store", url, "--key-file", key_file,
                             "--workers", "2", "--at", AT],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err2,
                            text=True)
    procs.append(late)

    def log2():
        return open(os.path.join(tmp, "err2")).read()

    wait_for(lambda: "STABLE for everyone until a state is stored" in log2(),
             "the late proxy to start with nothing stored")
    shutil.copy(os.path.join(tmp, "late_a1.yaml"), late_plan + ".tmp")
    os.replace(late_plan + ".tmp", late_plan)
    late.send_signal(signal.SIGHUP)
    wait_for(lambda: "plan reloaded" in log2(), "the late proxy's reload")
    # the old plan's rolled-back state, stored in one write as a gateway
    # that never reloaded would have left it
    late_state = os.path.join(tmp, "late-state")
    for args in (("init",), ("apply", "start", "--at", "2026-02-28T09:00:00Z"),
                 ("apply", "rollback", "manual", "--at", "2026-03-01T09:00:00Z")):
        run(cli, "state", *args, "--state", late_state, os.path.join(tmp, "late_a.yaml"))
    late_line = open(late_state).read().strip()
    late_hash = "rollout:{demo-late}:state"
    mac = hmac.new(KEY, f"{late_hash}\n2\n{late_line}".encode(), hashlib.sha256).hexdigest()
    cmd("HSET", late_hash, "rev", 2, "value", f"{late_line} hmac-sha256={mac}")
    wait_for(lambda: "store state carried over to the edited plan: rolling_back" in log2(),
             "the late proxy to migrate the state written for the plan before its edit")
    shown = json.loads(run(cli, "state", "show", "--store", url, "--key-file", key_file,
                           os.path.join(tmp, "late_a1.yaml"), "--json").stdout)
    if shown["revision"] != 3 or shown["status"] != "rolling_back":
        fail(f"the CLI with the late proxy's edited plan reads {shown}")
    late.stdin.close()
    if late.wait(timeout=30) != 0:
        fail(f"the late proxy exited {late.returncode}")
    err2.close()
    print("check_proxy_store: a plan edited before the first read: the later state migrated")

    # no state and no store: STABLE for everyone
    dead = f"redis://127.0.0.1:{free_port()}"
    r = subprocess.run([demo, "--plan", os.path.join(tmp, "a.yaml"), "--store", dead,
                        "--workers", "2", "--at", AT],
                       input="".join(f"org-{i} u{i} s{i}\n- - s{i} email=a{i}@example.com\n"
                                     for i in range(50)),
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or "store unreachable at start" not in r.stderr:
        fail(f"the proxy without a store: exit {r.returncode}: {r.stderr}")
    lines = r.stdout.splitlines()
    if len(lines) != 100 or any(l.split()[1] != "STABLE" or "state=0" not in l for l in lines):
        fail("a proxy with no state and no store did not answer STABLE for everyone:\n"
             + "\n".join(lines[:5]))
    print("check_proxy_store: no state, no store: 100 requests STABLE")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    kill_redis()
    shutil.rmtree(tmp, ignore_errors=True)
print("check_proxy_store: ok")
PY
