#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nginx_fleet_test.py --nginx NGINX --library LIBROLLOUT_SO --cli ROLLOUT

Three nginx instances (examples/nginx/nginx.conf, each with its own prefix,
ports and plan file, store = one redis-server on 127.0.0.1 with AOF in a
temporary directory, signed states) and the `rollout` CLI as the operator:

1. fleet: before any state is stored every gateway answers STABLE (not
   started); the CLI's init + start reaches all three; an approval POSTed to
   gateway 1's admin location, a pause to gateway 2's and a resume to
   gateway 3's are seen by the two others (/_rollout/state); a rollback
   applied with `rollout state apply rollback --store` makes all three
   answer STABLE. Every answer is checked against the library's decision for
   the state (tests/lua/expect.lua, as nginx_test.py does);
2. outage: Redis killed: every gateway keeps its answers, /_rollout/state
   reports the state stale with the store's error, the agent logs it; a CLI
   write exits 2 within seconds; Redis restarted on its AOF: the state is
   there, and a change made after the restart reaches every gateway; a
   gateway started during the outage (no state, no store) answers STABLE
   for everyone, then catches up;
3. bad states written straight into Redis (unsigned, forged, another plan's,
   an older revision replayed) are refused by every gateway: state and
   answers unchanged, each refusal in every error log;
4. plan edits: after the rollback, an edited plan reloaded in every gateway
   stays rolled back (the store's state migrated once, by compare-and-set);
   an incompatible edit keeps the old plan and state.
Everything is stopped on every exit path; the run is bounded by an alarm.
"""
import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nginx_test as nt  # noqa: E402

PLAN_ID = "gateway-test"
HASH = "rollout:{%s}:state" % PLAN_ID
CHANNEL = "rollout:{%s}:changes" % PLAN_ID


def fleet_plan(text):
    """nginx_plan.yaml with a role and a gate on GA, so there is something to approve."""
    text = text.replace("cohorts:\n", "roles: {sre-lead: SRE lead}\ncohorts:\n", 1)
    old = "    steps: [{at: 0, weight: 20%, unit: org}]\n"
    assert text.count(old) == 1
    return text.replace(old, "    steps:\n      - {at: 0, weight: 20%, unit: org, gate: {id: ga-go, "
                             "at: 0, approvers: [sre-lead], on_no_go: hold}}\n"
                             "      - {at: 1h, weight: 80%, unit: org}\n")


PLAN_A = fleet_plan(nt.PLAN_A)
PLAN_B = nt.ramped(PLAN_A)
PLAN_BAD = PLAN_B.replace("  - id: ga\n", "  - id: general\n")
log = nt.log


# ---- a throw-away redis-server (tests/scripts/redis_server.py) ---------------------------

sys.path.insert(0, os.path.join(nt.SRC, "tests", "scripts"))
from redis_server import RedisServer  # noqa: E402


# ---- one gateway ----------------------------------------------------------------------

class Gateway:
    def __init__(self, args, root, n, url, key_file, extra="", workers=2, launcher=(), extra_header=True,
                 plan_text=PLAN_A):
        self.prefix = os.path.join(root, "gw%d" % n)
        os.makedirs(os.path.join(self.prefix, "logs"))
        os.chmod(self.prefix, 0o755)
        self.plan = os.path.join(self.prefix, "plan.yaml")
        nt.replace_plan(self.plan, plan_text)
        self.port, sp, cp = nt.free_ports(3)
        conf = nt.make_config(self.prefix, self.plan, args.library, self.port, sp, cp,
                              workers=workers, extra_header=extra_header)
        with open(conf) as f:
            text = f.read()
        old = '            dict = "rollout",\n'
        assert text.count(old) == 1
        text = text.replace(old, old + '            store = "%s", key_file = "%s", stale_after = 1,\n'
                            % (url, key_file) + extra)
        assert text.count("# thread_pool rollout threads=1;") == 1
        text = text.replace("# thread_pool rollout threads=1;", "thread_pool rollout threads=1;")
        with open(conf, "w") as f:
            f.write(text)
        self.nginx = nt.Nginx(args.nginx, self.prefix, conf, launcher=launcher)
        self.error_log = os.path.join(self.prefix, "logs", "error.log")

    def state(self):
        status, body = nt.admin(self.port, "GET", "/_rollout/state")
        assert status == 200, (status, body)
        return body

    def log_text(self):
        with open(self.error_log, errors="replace") as f:
            return f.read()


def wait_for(what, fn, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def wait_revision(gws, rev, timeout=5.0):
    """Every gateway's /_rollout/state at revision rev: the (state, body) they agree on."""
    bodies = [wait_for("gateway %d at revision %d" % (i, rev),
                       lambda g=g: (lambda b: b if b["revision"] == rev else None)(g.state()),
                       timeout) for i, g in enumerate(gws)]
    assert len({b["state"] for b in bodies}) == 1, bodies
    return bodies[0]


def check_fleet(args, gws, contexts, plan_file, state, what):
    want = nt.expected(args.luajit, args.library, plan_file, state, contexts)
    for i, g in enumerate(gws):
        nt.check_all(g.port, contexts, want, "%s, gateway %d" % (what, i + 1))
    return want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--library", required=True)
    ap.add_argument("--cli", required=True, help="the rollout CLI")
    ap.add_argument("--redis", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--luajit", default=shutil.which("luajit") or "luajit")
    ap.add_argument("--contexts", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.library = os.path.abspath(args.library)

    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("timed out")))
    signal.alarm(170)
    root = tempfile.mkdtemp(prefix="rollout-fleet-")
    os.chmod(root, 0o755)
    rdir = os.path.join(root, "redis")
    os.makedirs(rdir)
    key = os.urandom(32).hex().encode()
    key_file = os.path.join(root, "rollout.key")
    with open(key_file, "wb") as f:
        f.write(key + b"\n")
    os.chmod(key_file, 0o644)   # read by the master, as the user the test runs as
    redis = RedisServer(rdir, exe=args.redis, port=nt.free_ports(1)[0], aof=True)
    url = "redis://127.0.0.1:%d/0" % redis.port
    plan_a = os.path.join(root, "plan-a.yaml")
    plan_b = os.path.join(root, "plan-b.yaml")
    nt.replace_plan(plan_a, PLAN_A)
    nt.replace_plan(plan_b, PLAN_B)

    def cli(*a, plan=plan_a, timeout=20):
        t0 = time.time()
        r = subprocess.run([args.cli, "state", *a, "--store", url, "--key-file", key_file, plan],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr, time.time() - t0

    def cli_ok(*a, plan=plan_a):
        rc, out, err, _ = cli(*a, plan=plan)
        assert rc == 0, (a, rc, out, err)
        return out

    gws = []
    ok = False
    try:
        redis.start()
        gws = [Gateway(args, root, n, url, key_file) for n in range(3)]
        for g in gws:
            g.nginx.start(g.port)
        log("redis on %d, gateways on %s" % (redis.port, [g.port for g in gws]))
        contexts = nt.make_contexts(args.contexts, 20260315)

        # 1. nothing stored: not started, STABLE for everyone, on every gateway
        body = wait_revision(gws, 0)
        assert body["status"] == "not_started" and body["store"]["signed"], body
        want = check_fleet(args, gws, contexts, plan_a, body["state"], "nothing stored")
        assert all(v == "stable" for v, *_ in want)

        cli_ok("init")
        cli_ok("apply", "start")
        body = wait_revision(gws, 1)
        assert body["status"] == "awaiting_gate" and not body["store"]["stale"], body
        want_started = check_fleet(args, gws, contexts, plan_a, body["state"], "started (CLI)")
        assert any(v == "new" for v, *_ in want_started)

        # approvals and events through one gateway's admin location reach the others
        for i, ev in ((0, "approve&gate=ga-go&role=sre-lead"), (1, "pause"), (2, "resume")):
            status, res = nt.admin(gws[i].port, "POST", "/_rollout/event?name=" + ev)
            assert status == 200, (ev, status, res)
            seen = wait_revision(gws, res["revision"])
            assert seen["state"] == res["state"], (seen, res)
            log("%s through gateway %d: seen by all three at revision %d"
                % (ev.split("&")[0], i + 1, res["revision"]))
        status, res = nt.admin(gws[0].port, "POST", "/_rollout/event?name=resume")
        assert status == 409 and res["code"] == "ROLLOUT_ERR_TRANSITION", (status, res)
        # a reason that is not UTF-8 is a malformed event (400), not an outage (503)
        status, res = nt.admin(gws[0].port, "POST", "/_rollout/event?name=pause&why=%FF")
        assert status == 400 and res["code"] == "ROLLOUT_ERR_ENCODING", (status, res)
        status, res = nt.admin(gws[0].port, "DELETE", "/_rollout/state")
        assert status == 409, (status, res)
        cur = gws[0].state()
        assert cur["status"] == "awaiting_gate" and cur["revision"] == 4, cur
        want_cur = check_fleet(args, gws, contexts, plan_a, cur["state"], "after admin events")

        # 2. outage: routing unchanged, staleness reported, CLI writes exit 2 fast
        redis.kill()
        for i, g in enumerate(gws):
            b = wait_for("gateway %d to report the outage" % (i + 1),
                         lambda g=g: (lambda b: b if b["store"]["stale"] and
                                      b["store"]["last_error_code"] in
                                      ("ROLLOUT_ERR_STORE", "ROLLOUT_ERR_TIMEOUT") else None)(g.state()))
            assert b["state"] == cur["state"] and b["store"]["age"] > 1, b
        for i, g in enumerate(gws):
            nt.check_all(g.port, contexts, want_cur, "store down, gateway %d" % (i + 1))
            assert "unreachable for" in g.log_text(), "gateway %d did not log the outage" % (i + 1)
        rc, out, err, took = cli("apply", "pause")
        assert rc == 2 and "127.0.0.1:%d" % redis.port in err and took < 5, (rc, out, err, took)
        status, res = nt.admin(gws[1].port, "POST", "/_rollout/event?name=pause")
        assert status == 503 and res["code"] in ("ROLLOUT_ERR_STORE", "ROLLOUT_ERR_TIMEOUT"), res
        log("store down: answers unchanged, stale reported, CLI exit 2 in %.2f s" % took)
        # a gateway that starts now has no state and no store: STABLE for everyone
        late = Gateway(args, root, 3, url, key_file)
        gws.append(late)
        late.nginx.start(late.port)
        b = wait_for("the late gateway to report the outage",
                     lambda: (lambda b: b if b["store"].get("last_error_code") else None)(late.state()))
        assert b["status"] == "not_started" and b["revision"] == 0 and b["store"]["stale"], b
        want_none = nt.expected(args.luajit, args.library, plan_a, b["state"], contexts)
        assert all(v == "stable" for v, *_ in want_none)
        nt.check_all(late.port, contexts, want_none, "started with no state and no store")
        redis.start()
        assert redis.cmd("HGET", HASH, "rev") == "4", "the AOF lost the state"
        for g in gws:
            wait_for("resync", lambda g=g: not g.state()["store"]["stale"])
        cli_ok("apply", "pause")
        wait_revision(gws, 5)
        log("the gateway started during the outage caught up with the others")
        gws.pop().nginx.stop()
        cli_ok("apply", "resume")
        cur = wait_revision(gws, 6)
        log("redis restarted (AOF): every gateway resynced and follows new changes")

        # the rollback, by the CLI on the store
        cli_ok("apply", "rollback", "manual")
        rb = wait_revision(gws, 7)
        assert rb["status"] in ("rolled_back", "rolling_back"), rb
        want_rb = check_fleet(args, gws, contexts, plan_a, rb["state"], "rolled back (CLI)")
        assert all(v == "stable" for v, *_ in want_rb)
        good_value = redis.cmd("HGET", HASH, "value")

        # 3. bad values straight into Redis, each a running state at revision 8
        side = os.path.join(root, "side.state")
        subprocess.run([args.cli, "state", "init", "--state", side, plan_a], check=True,
                       capture_output=True)
        for ev in (["start"], ["pause"], ["resume"], ["pause"], ["resume"], ["pause"],
                   ["resume"], ["pause"]):
            subprocess.run([args.cli, "state", "apply", *ev, "--state", side, plan_a],
                           check=True, capture_output=True)
        line8 = json.loads(subprocess.run([args.cli, "state", "show", "--state", side, plan_a,
                                           "--json"], check=True, capture_output=True,
                                          text=True).stdout)["state"]
        side_b = os.path.join(root, "side-b.state")
        subprocess.run([args.cli, "state", "init", "--state", side_b, plan_b], check=True,
                       capture_output=True)
        for _ in range(8):
            subprocess.run([args.cli, "state", "apply", "start" if _ == 0 else
                            ("pause" if _ % 2 else "resume"), "--state", side_b, plan_b],
                           check=True, capture_output=True)
        line8_b = json.loads(subprocess.run([args.cli, "state", "show", "--state", side_b,
                                             plan_b, "--json"], check=True, capture_output=True,
                                            text=True).stdout)["state"]

        def sign(rev, line):
            mac = hmac.new(key, ("%s\n%d\n%s" % (HASH, rev, line)).encode(), hashlib.sha256)
            return line + " hmac-sha256=" + mac.hexdigest()

        first = json.loads(subprocess.run([args.cli, "state", "show", "--store", url,
                                           "--key-file", key_file, plan_a, "--json"],
                                          capture_output=True, text=True).stdout)
        assert first["revision"] == 7
        bad = [
            ("unsigned", 8, line8, "is unsigned and this reader holds a key"),
            ("forged", 8, line8 + " hmac-sha256=" + "0" * 64, "does not match"),
            ("another plan's", 8, sign(8, line8_b), "ROLLOUT_ERR_STATE_PLAN"),
            ("replayed revision 1", 1, None, "older than revision"),
        ]
        for what, rev, value, why in bad:
            if value is None:   # the signed value of revision 1: start it again from the side
                s1 = os.path.join(root, "s1.state")
                subprocess.run([args.cli, "state", "init", "--state", s1, plan_a], check=True,
                               capture_output=True)
                subprocess.run([args.cli, "state", "apply", "start", "--state", s1, plan_a],
                               check=True, capture_output=True)
                l1 = json.loads(subprocess.run([args.cli, "state", "show", "--state", s1, plan_a,
                                                "--json"], check=True, capture_output=True,
                                               text=True).stdout)["state"]
                value = sign(1, l1)
            redis.cmd("HSET", HASH, "rev", str(rev), "value", value)
            redis.cmd("PUBLISH", CHANNEL, value)
            for i, g in enumerate(gws):
                wait_for("gateway %d to log the refusal of the %s value" % (i + 1, what),
                         lambda g=g: g.log_text().count(why) >= 1)
                b = g.state()
                assert b["state"] == rb["state"] and b["revision"] == 7, (what, b)
            log("%s value refused by all three gateways (%s)" % (what, why))
            redis.cmd("HSET", HASH, "rev", "7", "value", good_value)
        time.sleep(0.6)   # a poll round with the good value back
        check_fleet(args, gws, contexts, plan_a, rb["state"], "after the bad values")

        # 4. plan edits: plan B in every gateway, reloaded; the rollback holds
        for g in gws:
            nt.replace_plan(g.plan, PLAN_B)
            g.nginx.reload_and_wait(timeout=20)
        migrated = wait_revision(gws, 8)
        assert migrated["status"] == rb["status"] and migrated["fingerprint"] != rb["fingerprint"]
        assert redis.cmd("HGET", HASH, "rev") == "8"
        shown = json.loads(cli_ok("show", "--json", plan=plan_b))
        assert shown["revision"] == 8 and shown["status"] == rb["status"], shown
        time.sleep(0.6)
        assert all(g.state()["revision"] == 8 for g in gws)
        want_b = check_fleet(args, gws, contexts, plan_b, migrated["state"],
                             "plan B reloaded, still rolled back")
        assert all(v == "stable" for v, *_ in want_b)
        carried = sum("state carried over" in g.log_text() for g in gws)
        assert carried >= 1, "no gateway migrated the store's state"
        log("plan B in every gateway: the store's state migrated once (revision 8), "
            "rolled back everywhere")
        g = gws[0]
        nt.replace_plan(g.plan, PLAN_BAD)
        workers = set(g.nginx.workers())
        g.nginx.reload()
        wait_for("the refusal of an incompatible edit",
                 lambda: 'phase "ga" (the current phase) is not in the new plan' in g.log_text())
        time.sleep(0.5)
        assert set(g.nginx.workers()) == workers
        kept = g.state()
        assert kept["state"] == migrated["state"] and kept["fingerprint"] == migrated["fingerprint"]
        nt.check_all(g.port, contexts, want_b, "after a refused edit")
        log("an incompatible edit keeps the old plan and the state")
        ok = True
    finally:
        for g in gws:
            g.nginx.stop()
        redis.kill()
        if not ok:
            for i, g in enumerate(gws):
                try:
                    sys.stderr.write("---- gateway %d error.log ----\n" % (i + 1))
                    sys.stderr.write("".join(open(g.error_log).readlines()[-30:]))
                except OSError:
                    pass
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        signal.alarm(0)
    log("passed")


if __name__ == "__main__":
    main()
