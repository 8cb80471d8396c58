#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""scripts/demo.py --cli ROLLOUT --library LIBROLLOUT_SO [--check] [--scale N] [--keep]

The seed plan run for real, on this machine (scripts/demo.sh builds and
starts it): a redis-server holding the fleet's state, two nginx gateways
following it, Prometheus backfilled with the seed's series (healthy until a
critical error appears in GA's 50 % step), a webhook receiver standing in
for Slack, e-mail and the pager, and `rollout operator` running the plan at
one plan-hour a second (--scale 3600). The approvers are played by this
script: when a gate is due, each of its roles approves, and the operator
sends GO on the PASS (auto_go). On a terminal, `rollout status --watch`
shows the rollout; otherwise (and with --check) one line per plan-six-hours
says what both gateways answer. The critical error makes the operator roll
back within one pass, run the rollback hooks in order (they write to a
file), and every gateway answers stable.

--check runs four times faster (--scale 14400) and asserts the story: the gates GO'd
from PASS and approvals, the canary's share grew on both gateways, the
rollback started in the pass after the error, the emergency notification
was delivered once, every delivery once by its idempotency key, the hooks
ran in the procedure's order, both gateways answer stable for every
context. ctest runs it (demo_check).

Every process of the demo runs on one plan clock: --time-scale,
--clock-start and --clock-origin for the tool, `clock` in the gateways'
init (docs/operator.md, "Time").
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lua"))

import nginx_fleet_test as nfg  # noqa: E402
import nginx_test as nt  # noqa: E402
from prometheus_server import PrometheusServer, SEED_START, seed_series  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from seed_operator_plan import GATES, write_plan  # noqa: E402
from webhook_receiver import WebhookReceiver  # noqa: E402

H = 3600
D = 86400
CRITICAL_FROM = SEED_START + 3 * D + 12 * H   # GA's 50 % step (T+3d .. T+4d)
CLOCK_START = SEED_START - 30 * 60
HOOK_ORDER = ["halt_traffic", "restore_previous", "run_smoke_tests", "resume_service",
              "open_incident"]
# who asks the gateways: internal staff, the pilot orgs' users, other orgs
CONTEXTS = ([{"org": None, "org_in_cookie": False, "user": "staff-%d" % i, "session": "s-%d" % i,
              "email": "dev%d@example.com" % i} for i in range(10)]
            + [{"org": ("acme-corp", "globex")[i % 2], "org_in_cookie": False,
                "user": "pilot-user-%d" % i, "session": "p-%d" % i, "email": None}
               for i in range(40)]
            + [{"org": "org-%d" % i, "org_in_cookie": False, "user": "user-%d" % i,
                "session": "g-%d" % i, "email": None} for i in range(100)])


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Demo:
    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="rollout-demo-")
        os.chmod(self.root, 0o755)
        self.procs = []
        self.gateways = []
        self.redis = self.prom = self.hook = None
        self.events = open(os.path.join(self.root, "demo.log"), "w")

    def say(self, *a):
        line = " ".join(str(x) for x in a)
        self.events.write(line + "\n")
        self.events.flush()
        if not self.watching:
            print(line, flush=True)

    # ---- the clock every process shares ----

    def plan_now(self):
        return int(CLOCK_START + (time.time() - self.origin) * self.scale)

    def clock_args(self):
        return ["--time-scale", str(self.scale), "--clock-start", str(CLOCK_START),
                "--clock-origin", "%.3f" % self.origin]

    # ---- the tool ----

    def cli(self, *a, check=True):
        r = subprocess.run([self.args.cli, *a], capture_output=True, text=True, timeout=60,
                           env=self.env)
        if check and r.returncode != 0:
            raise RuntimeError("rollout %s: exit %d\n%s%s" % (" ".join(a), r.returncode,
                                                             r.stdout, r.stderr))
        return r

    def state(self):
        out = self.cli("state", "show", "--store", self.redis.url, "--key-file", self.key_file,
                       "--json", self.plan).stdout
        return json.loads(out)

    # ---- the components ----

    def start(self):
        a = self.args
        self.scale = a.scale
        self.watching = (not a.check and sys.stdout.isatty()) and not a.no_watch
        key = os.urandom(32).hex().encode()
        self.key_file = os.path.join(self.root, "rollout.key")
        with open(self.key_file, "wb") as f:
            f.write(key + b"\n")
        os.chmod(self.key_file, 0o644)
        rdir = os.path.join(self.root, "redis")
        os.makedirs(rdir)
        self.redis = RedisServer(rdir).start()
        pdir = os.path.join(self.root, "prometheus")
        os.makedirs(pdir)
        series = os.path.join(pdir, "series.om")
        seed_series(series, end=SEED_START + 6 * D, critical_from=CRITICAL_FROM)
        self.prom = PrometheusServer(pdir)
        self.prom.backfill(series)
        os.unlink(series)
        self.prom.start()
        self.hook = WebhookReceiver().__enter__()
        self.hooks_log = os.path.join(self.root, "hooks.log")
        self.plan = write_plan(os.path.join(self.root, "plan.yaml"), self.prom.url, self.hook.url,
                               critical=True, hooks_log=self.hooks_log)
        self.env = dict(os.environ, ROLLOUT_TEST_EMERGENCY_URL=self.hook.url + "/emergency")
        self.cli("state", "init", "--store", self.redis.url, "--key-file", self.key_file,
                 self.plan)
        self.origin = time.time() + 3.0   # the gateways start meanwhile
        for n in range(2):
            self.gateways.append(self.gateway(n))
        self.say("demo: %s (redis %s, prometheus %s, webhooks %s, gateways %s)" % (
            self.root, self.redis.url, self.prom.url, self.hook.url,
            ", ".join("127.0.0.1:%d" % g["port"] for g in self.gateways)))
        while time.time() < self.origin:
            time.sleep(0.05)
        log = open(os.path.join(self.root, "operator.log"), "w")
        interval = "1s" if self.scale <= 3600 else "%dms" % max(100, 3600 * 1000 // self.scale)
        self.operator = subprocess.Popen(
            [a.cli, "operator", self.plan, "--store", self.redis.url, "--key-file",
             self.key_file, "--interval", interval, *self.clock_args()],
            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(self.operator)
        if self.watching:
            self.watch = subprocess.Popen(
                [a.cli, "status", self.plan, "--store", self.redis.url, "--key-file",
                 self.key_file, "--watch", *self.clock_args()], env=self.env)
            self.procs.append(self.watch)

    def gateway(self, n):
        """A gateway of the fleet test, on the demo's store, plan and clock."""
        g = nfg.Gateway(self.args, self.root, n, self.redis.url, self.key_file, workers=1,
                        plan_text=open(self.plan).read(),
                        extra="            clock = {scale = %d, start = %d, origin = %.3f},\n"
                        % (self.scale, CLOCK_START, self.origin))
        g.nginx.start(g.port)
        return {"nginx": g.nginx, "port": g.port}

    def answers(self, g):
        """How many of CONTEXTS gateway g sends to the canary."""
        def one(ctx):
            status, body, _, _ = nt.request(g["port"], ctx)
            assert status == 200, (status, body)
            return body == nt.UPSTREAM_BODY["new"]
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            return sum(ex.map(one, CONTEXTS))

    # ---- the people ----

    def approve_due_gate(self, s):
        """Each approver of the gate the rollout waits on approves it."""
        if s["status"] != "awaiting_gate" or not s.get("gate"):
            return
        roles = dict((g, r) for g, _, r in GATES)[s["gate"]]
        at = self.plan_now()
        for role in roles:
            if role not in s["approvals"]:
                self.cli("state", "apply", "approve", s["gate"], role, "--store", self.redis.url,
                         "--key-file", self.key_file, "--at", str(at), self.plan)
                self.say("[%s] %s approves %s" % (iso(at), role, s["gate"]))

    # ---- the run ----

    def run(self):
        shares = []          # (plan time, status, [canary count per gateway])
        seen_deliveries = 0
        next_report = CLOCK_START
        deadline = time.time() + (6 * D) / self.scale + 60
        final = None
        while time.time() < deadline:
            s = self.state()
            if self.operator.poll() is not None and s["status"] not in ("rolled_back",
                                                                        "completed"):
                raise RuntimeError("the operator exited %d (%s/operator.log)"
                                   % (self.operator.returncode, self.root))
            self.approve_due_gate(s)
            now = self.plan_now()
            for r in self.hook.delivered()[seen_deliveries:]:
                body = r["json"] or {}
                self.say("[%s] delivered %s %s" % (iso(now), r["headers"].get("Idempotency-Key"),
                                                   body.get("text", "")))
            seen_deliveries = len(self.hook.delivered())
            if now >= next_report or s["status"] in ("rolling_back", "rolled_back"):
                counts = [self.answers(g) for g in self.gateways]
                shares.append((now, s["status"], counts))
                self.say("[%s] %-13s canary answers: %s of %d contexts" % (
                    iso(now), s["status"], " / ".join(str(c) for c in counts), len(CONTEXTS)))
                next_report = now + 6 * H
            if s["status"] in ("rolled_back", "completed"):
                final = s
                break
            time.sleep(0.1 if self.scale > 3600 else 0.25)
        return final, shares

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for g in self.gateways:
            g["nginx"].stop()
        if self.hook:
            self.hook.__exit__(None, None, None)
        if self.prom:
            self.prom.kill()
        if self.redis:
            self.redis.kill()
        self.events.close()


def check(demo, final, shares):
    assert final and final["status"] == "rolled_back", final
    logs = [json.loads(x) for x in open(os.path.join(demo.root, "operator.log"))
            if x.startswith("{")]
    gos = [x for x in logs if x.get("event") == "event" and x.get("action") == "go"]
    # (a slow machine may delay an approval, never skip one)
    assert [g["detail"].split(":")[0] for g in gos][:3] == \
        ["gate canary-go", "gate pilot-go", "gate ga-day2-go"], gos
    assert all("PASS and every approval" in g["detail"] for g in gos), gos
    # the canary's share grew on both gateways before the error (GA at 25 %
    # reaches orgs beyond the pilots)
    before = [c for t, st, c in shares if t < CRITICAL_FROM]
    assert before and min(max(c[n] for c in before) for n in (0, 1)) > 40, before
    # the first pass that can see the error rolls back: the series' first
    # bad sample is at CRITICAL_FROM itself
    seen_from = CRITICAL_FROM
    # every line carries its pass's time; a pass that ends the rollout logs
    # "stop" rather than "pass"
    passes = [x["ts"] for x in logs]
    rb = [x for x in logs if x.get("action") == "verdict" and x.get("verdict") == "ROLLBACK"]
    assert len(rb) == 1 and "zero-critical-errors" in rb[0]["detail"], rb
    assert min(p for p in passes if p >= iso(seen_from)) == rb[0]["ts"], (rb, passes)
    by_key = {}
    for r in demo.hook.delivered():
        by_key.setdefault(r["headers"].get("Idempotency-Key"), []).append(r)
    assert all(len(v) == 1 for v in by_key.values()), by_key
    emergency = [r for r in demo.hook.delivered() if r["path"] == "/emergency"]
    assert len(emergency) == 1, emergency
    ran = [line.split()[0] for line in open(demo.hooks_log)]
    assert ran == HOOK_ORDER, ran
    for g in demo.gateways:
        assert demo.answers(g) == 0, "gateway %d still sends to the canary" % g["port"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-watch", action="store_true", help="progress lines, not status --watch")
    ap.add_argument("--scale", type=int, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.cli = os.path.abspath(args.cli)
    args.library = os.path.abspath(args.library)
    args.scale = args.scale or (14400 if args.check else 3600)
    demo = Demo(args)
    ok = False
    try:
        demo.start()
        final, shares = demo.run()
        if demo.watching:
            time.sleep(2)
            demo.watch.terminate()
            print("\n--- what the demo did (its log, %s/demo.log)" % demo.root)
            demo.events.flush()
            print(open(os.path.join(demo.root, "demo.log")).read(), end="", flush=True)
        if args.check:
            check(demo, final, shares)
        demo.say("demo: %s at plan time %s" % (final["status"] if final else "unfinished",
                                             iso(demo.plan_now())))
        ok = final is not None
    finally:
        demo.stop()
        if ok and not args.keep:
            shutil.rmtree(demo.root, ignore_errors=True)
        else:
            print("demo: files kept in", demo.root)
    print("demo: ok" if ok else "demo: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
