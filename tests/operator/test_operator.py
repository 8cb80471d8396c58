# SPDX-License-Identifier: MIT
"""`rollout operator` end to end, against real components the tests start:
redis-server (the shared state), Prometheus backfilled with the seed's
series, and a webhook receiver. The operator runs as the tool, one pass per
`--once --at T` at plan times, so every scenario is deterministic
(docs/operator.md)."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "scripts"))

from prometheus_server import (PrometheusServer, SEED_START, seed_series)  # noqa: E402
from redis_server import RedisServer, free_port  # noqa: E402
from seed_operator_plan import GATES, write_plan  # noqa: E402
from webhook_receiver import WebhookReceiver  # noqa: E402

CLI = os.environ.get("ROLLOUT_CLI") or os.path.join(ROOT, "build", "rollout")
H = 3600
D = 86400
CRITICAL_FROM = SEED_START + 6 * H  # mid-pilot: the pilot starts at T+4h
# every (communication row, channel) a healthy rollout delivers
HEALTHY_DELIVERIES = {("canary-start", "slack"), ("pilot-start", "email"),
                      ("pilot-start", "in-app-banner"), ("pilot-100", "email"),
                      ("ga-start", "email"), ("ga-start", "marketing")}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    d = tmp_path_factory.mktemp("prometheus")
    om = str(d / "series.om")
    seed_series(om, critical_from=CRITICAL_FROM)
    p = PrometheusServer(d)
    p.backfill(om)
    os.unlink(om)
    p.start()
    yield p
    p.kill()


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path).start()
    yield r
    r.kill()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Operator:
    """Runs the tool against one plan and one state (store or file)."""

    def __init__(self, plan, store=None, state=None, env=None):
        self.plan = plan
        self.where = ["--store", store] if store else ["--state", state]
        self.env = dict(os.environ, **(env or {}))
        self.logs = []

    def cli(self, *args, check=True):
        r = subprocess.run([CLI] + list(args), capture_output=True, text=True, env=self.env,
                           timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr))
        return r

    def init(self):
        self.cli("state", "init", *self.where, self.plan)

    def run_pass(self, at, expect=(0,)):
        r = self.cli("operator", self.plan, *self.where, "--once", "--at", str(at), check=False)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        self.logs += lines
        assert r.returncode in expect, "pass at %s: exit %d\n%s%s" % (
            iso(at), r.returncode, r.stdout, r.stderr)
        return lines

    def approve(self, gate, roles, at):
        for role in roles:
            self.cli("state", "apply", "approve", gate, role, *self.where, "--at", str(at),
                     self.plan)

    def show(self):
        return json.loads(self.cli("state", "show", *self.where, "--json", self.plan).stdout)


def events(logs, event, **kw):
    return [x for x in logs if x.get("event") == event and all(x.get(k) == v for k, v in kw.items())]


def run_healthy(op, pass_fn=None):
    """Plays the whole seed rollout: a pass at each gate, the approvers, a
    pass that sends GO, the bake; pass_fn(at) runs each pass."""
    pass_fn = pass_fn or op.run_pass
    pass_fn(SEED_START)
    for gate, due, roles in GATES:
        at = SEED_START + due
        pass_fn(at)
        op.approve(gate, roles, at)
        pass_fn(at)
    pass_fn(SEED_START + 8 * D)
    pass_fn(SEED_START + 12 * D + 60)


def delivered_by_key(receiver):
    out = {}
    for r in receiver.delivered():
        key = r["headers"].get("Idempotency-Key")
        out.setdefault(key, []).append(r)
    return out


def row_and_channel(key, reqs):
    body = reqs[0]["json"]
    # the Slack body is text: "[ledger-v2] notify canary-start: ..."
    row = body.get("id") or body["text"].split()[2].rstrip(":")
    return (row, key.rsplit("/", 1)[1])


def test_healthy_run_completes(prometheus, redis, tmp_path):
    with WebhookReceiver() as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), prometheus.url, hook.url)
        op = Operator(plan, store=redis.url,
                      env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/emergency"})
        op.init()
        run_healthy(op)
        assert op.show()["status"] == "completed"
        # every GO came from PASS and every approval, sent by the operator
        gos = events(op.logs, "event", action="go")
        assert [g["detail"].split(":")[0] for g in gos] == ["gate %s" % g for g, _, _ in GATES]
        for gate, _, _ in GATES:
            waits = events(op.logs, "gate", action=gate, outcome="waiting")
            assert waits and "waiting for the approval" in waits[0]["detail"]
        verdicts = [v for v in events(op.logs, "event", action="verdict")]
        assert verdicts and all("PASS" in v["detail"] for v in verdicts), verdicts
        # every communication row exactly once, with its key in header and body
        by_key = delivered_by_key(hook)
        assert all(len(v) == 1 for v in by_key.values()), by_key
        rows = {row_and_channel(k, v) for k, v in by_key.items()}
        assert rows == HEALTHY_DELIVERIES
        for key, (req,) in by_key.items():
            assert req["json"]["idempotency_key"] == key
        slack = [r for r in hook.delivered() if r["path"] == "/slack"]
        assert len(slack) == 1 and set(slack[0]["json"]) == {"text", "idempotency_key"}
        assert redis.cmd("HLEN", "rollout:{ledger-v2}:outbox") == 0
        assert redis.cmd("SCARD", "rollout:{ledger-v2}:delivered") == len(by_key)


def test_critical_error_mid_pilot_rolls_back(prometheus, redis, tmp_path):
    hooks_log = str(tmp_path / "hooks.log")
    # the first two deliveries fail: the operator retries them
    with WebhookReceiver(fail_first=2) as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), prometheus.url, hook.url, critical=True,
                          hooks_log=hooks_log)
        op = Operator(plan, store=redis.url,
                      env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/emergency"})
        op.init()
        op.run_pass(SEED_START)
        assert events(op.logs, "delivery", outcome="retry")
        op.run_pass(SEED_START + 2 * H)
        op.approve("canary-go", GATES[0][2], SEED_START + 2 * H)
        op.run_pass(SEED_START + 2 * H)
        op.run_pass(SEED_START + 5 * H)
        assert op.show()["status"] == "running"
        assert not os.path.exists(hooks_log)
        # one pass after the critical errors start: rolled back
        logs = op.run_pass(SEED_START + 7 * H)
        assert op.show()["status"] == "rolled_back"
        assert [x["detail"] for x in events(logs, "event", action="verdict")][0].startswith(
            "background analysis: zero-critical-errors")
        with open(hooks_log) as f:
            ran = [line.split()[0] for line in f]
        assert ran == ["halt_traffic", "restore_previous", "run_smoke_tests", "resume_service",
                       "open_incident"]
        emergency = [r for r in hook.delivered() if r["path"] == "/emergency"]
        assert len(emergency) == 1
        assert emergency[0]["json"]["id"] == "rollback"
        assert emergency[0]["json"]["rollback_reason"] == "critical_bug"
        pages = [r for r in hook.delivered() if r["json"].get("action") == "page"]
        assert len(pages) == 1 and pages[0]["path"] == "/default"
        # a later pass delivers nothing again and runs no hook again
        n = len(hook.requests)
        op.run_pass(SEED_START + 8 * H)
        assert len(hook.requests) == n
        assert len(open(hooks_log).read().splitlines()) == 5
        # every delivery exactly once, the failed attempts retried under the same key
        by_key = delivered_by_key(hook)
        assert all(len(v) == 1 for v in by_key.values())
        failed = [r for r in hook.requests if r["status"] == 500]
        assert len(failed) == 2 and failed[0]["headers"]["Idempotency-Key"] in by_key
        # a gateway reading the store answers STABLE for the pilot org
        state = op.show()["state"]
        d = json.loads(op.cli("decide", plan, "--at", str(SEED_START + 8 * H), "--state", state,
                              "--org", "acme-corp", "--user", "u1", "--json").stdout)
        assert d["variant"] == "stable", d


def test_prometheus_down_at_a_gate(tmp_path):
    # nothing listens there: every query fails, so nothing can PASS
    down = "http://127.0.0.1:%d" % free_port()
    state = str(tmp_path / "state")
    with WebhookReceiver() as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), down, hook.url, inconclusive_limit=1)
        op = Operator(plan, state=state, env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/e"})
        op.init()
        op.run_pass(SEED_START, expect=(69,))
        op.approve("canary-go", GATES[0][2], SEED_START + 2 * H)
        logs = op.run_pass(SEED_START + 2 * H, expect=(69,))
        assert [v["verdict"] for v in events(logs, "event", action="verdict")] == ["INCONCLUSIVE"]
        assert events(logs, "metric", outcome="absent")
        assert events(logs, "gate", outcome="waiting")[0]["detail"] == "no PASS verdict"
        assert op.show()["status"] == "awaiting_gate"
        # the second INCONCLUSIVE in a row is past inconclusive_limit 1: the
        # gate's no-go, which for the canary is a rollback
        op.run_pass(SEED_START + 2 * H + 60, expect=(69,))
        s = op.show()
        assert s["status"] in ("rolling_back", "rolled_back")
        assert s["rollback_reason"] == "no_go"
        assert not events(op.logs, "event", action="go")
        # the file's journal delivered the emergency notification once
        assert [r["path"] for r in hook.delivered()].count("/e") == 1
        # no hooks in this plan: the rollback waits for people
        assert events(op.logs, "hook", outcome="waiting")


def test_sigkill_loses_and_duplicates_nothing(prometheus, redis, tmp_path):
    rng = random.Random(int(os.environ.get("ROLLOUT_TEST_SEED", "16")))
    kills = 0
    durations = []
    with WebhookReceiver(delay=0.05) as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), prometheus.url, hook.url)
        op = Operator(plan, store=redis.url,
                      env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/emergency"})
        op.init()

        def killed_then_whole(at):
            nonlocal kills
            p = subprocess.Popen([CLI, "operator", plan, "--store", redis.url, "--once", "--at",
                                  str(at)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 env=op.env, text=True)
            t0 = time.monotonic()
            time.sleep(rng.uniform(0.0, 0.08))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            durations.append(time.monotonic() - t0)
            out, _ = p.communicate(timeout=30)
            for line in out.splitlines():
                try:
                    op.logs.append(json.loads(line))
                except ValueError:
                    pass  # the line the kill cut short
            op.run_pass(at)

        run_healthy(op, killed_then_whole)
        assert kills >= 3, "the passes ended before they could be killed: %s" % durations
        assert op.show()["status"] == "completed"
        # every GO once: killed passes may have sent some, none twice
        gos = [g["detail"].split(":")[0] for g in events(op.logs, "event", action="go")]
        assert len(gos) == len(set(gos)) <= len(GATES)
        by_key = delivered_by_key(hook)
        # nothing lost: every row; nothing duplicated: one key per row and
        # channel, and a key seen twice only when a kill fell between the
        # webhook's answer and the operator recording it (docs/operator.md)
        rows = [row_and_channel(k, v) for k, v in by_key.items()]
        assert sorted(rows) == sorted(HEALTHY_DELIVERIES)
        dup = sum(len(v) - 1 for v in by_key.values())
        assert dup <= kills
        assert redis.cmd("HLEN", "rollout:{ledger-v2}:outbox") == 0


def test_sigterm_stops_between_passes(prometheus, redis, tmp_path):
    with WebhookReceiver() as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), prometheus.url, hook.url)
        op = Operator(plan, store=redis.url, env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url})
        op.init()
        p = subprocess.Popen([CLI, "operator", plan, "--store", redis.url, "--interval", "1s",
                              "--time-scale", "3600", "--clock-start", str(SEED_START)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=op.env)
        time.sleep(2.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        logs = [json.loads(x) for x in out.splitlines()]
        assert len(events(logs, "pass")) >= 2
        assert logs[-1]["event"] == "stop" and logs[-1]["outcome"] == "signal"
        # plan time ran at an hour a second
        assert logs[-2]["ts"] > iso(SEED_START + H)


@pytest.mark.parametrize("where", ["store", "file"])
def test_a_persons_transition_is_delivered(prometheus, redis, tmp_path, where):
    """A rollback started by hand (`rollout abort`) owes its messages as the
    operator's own transitions do: the next pass delivers them, once."""
    with WebhookReceiver() as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), prometheus.url, hook.url)
        op = Operator(plan, **({"store": redis.url} if where == "store"
                               else {"state": str(tmp_path / "state")}),
                      env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/emergency"})
        op.init()
        op.run_pass(SEED_START)
        op.cli("abort", "--reason", "ledger totals drift", "--by", "sre-lead", *op.where,
               "--at", str(SEED_START + H), plan)
        assert not [r for r in hook.delivered() if r["path"] == "/emergency"]
        op.run_pass(SEED_START + H + 60)
        op.run_pass(SEED_START + H + 120)
        emergency = [r for r in hook.delivered() if r["path"] == "/emergency"]
        assert len(emergency) == 1, emergency
        assert emergency[0]["json"]["id"] == "rollback"
        pages = [r for r in hook.delivered() if r["json"].get("action") == "page"]
        assert len(pages) == 1, pages
        by_key = delivered_by_key(hook)
        assert all(len(v) == 1 for v in by_key.values()), by_key


def aborted(op):
    """Starts the rollout (Prometheus may be down) and aborts it by hand an
    hour in."""
    op.init()
    op.run_pass(SEED_START, expect=(0, 69))
    op.cli("abort", "--reason", "ledger totals drift", "--by", "sre-lead", *op.where,
           "--at", str(SEED_START + H), op.plan)


def started_then_aborted(op):
    """aborted(), then the pass that performs the rollback: its logs."""
    aborted(op)
    return op.run_pass(SEED_START + H + 60, expect=(0, 69))


def plan_with_smoke(tmp_path, hook_url, hooks_log, command):
    """The seed plan with Prometheus down, hooks logging to hooks_log and
    command as the run_smoke_tests hook."""
    down = "http://127.0.0.1:%d" % free_port()
    plan = write_plan(str(tmp_path / "plan.yaml"), down, hook_url, hooks_log=hooks_log)
    text = open(plan).read()
    smoke = [x for x in text.splitlines() if x.startswith("    run_smoke_tests:")][0]
    with open(plan, "w") as f:
        f.write(text.replace(smoke, "    run_smoke_tests: '%s'" % command))
    return plan


def test_a_smoke_failure_marked_before_a_crash_is_still_recorded(tmp_path):
    """The operator marks a failed smoke test (so it never runs the tests
    again by itself) and then records CONFIRM smoke_failed, whose ESCALATE
    tells people. Killed between the two, the mark is on disk and the
    transition is not: the next pass must record it, not wait for a person
    nobody has told."""
    state = str(tmp_path / "state")
    journal = state + ".outbox"
    hooks_log = str(tmp_path / "hooks.log")
    with WebhookReceiver() as hook:
        # the smoke tests fail; before they do, the hook keeps the state as
        # it was before the operator's mark and CONFIRM
        plan = plan_with_smoke(tmp_path, hook.url, hooks_log,
                               "cp %s %s.before; exit 1" % (state, state))
        op = Operator(plan, state=state, env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/e"})
        logs = started_then_aborted(op)
        assert events(logs, "action", action="escalate"), "no ESCALATE for the smoke failure"
        # the disk as a SIGKILL right after the mark leaves it: the state
        # before the CONFIRM, the journal up to the mark
        os.replace(state + ".before", state)
        lines = open(journal).read().splitlines(True)
        last_mark = max(i for i, x in enumerate(lines) if x.startswith("M hold/"))
        open(journal, "w").write("".join(lines[:last_mark + 1]))
        before = op.show()["revision"]
        n = len(hook.delivered())
        logs = op.run_pass(SEED_START + H + 120, expect=(0, 69))
        assert op.show()["revision"] > before, "the smoke failure was never recorded"
        escalations = [r for r in hook.delivered()[n:] if r["json"].get("action") == "escalate"]
        assert len(escalations) == 1, escalations
        # and the smoke tests were not run again by the operator
        assert not os.path.exists(state + ".before")


def test_prometheus_behind_a_failing_proxy_is_unavailable(tmp_path):
    """Prometheus behind a reverse proxy that answers 502 (Prometheus down)
    did not answer: as with a refused connection, the pass is degraded and
    --once exits 69, so cron sees the outage; never an 'ok' pass."""
    import http.server
    import threading

    class BadGateway(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BadGateway)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        with WebhookReceiver() as hook:
            url = "http://127.0.0.1:%d" % proxy.server_address[1]
            plan = write_plan(str(tmp_path / "plan.yaml"), url, hook.url)
            op = Operator(plan, state=str(tmp_path / "state"),
                          env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/e"})
            op.init()
            op.run_pass(SEED_START, expect=(0, 69))
            logs = op.run_pass(SEED_START + 2 * H, expect=(69,))
            assert [x["outcome"] for x in events(logs, "pass")] == ["degraded"]
            absent = events(logs, "metric", outcome="absent")
            assert absent and all("502" in x["detail"] for x in absent), absent
            assert [v["verdict"] for v in events(logs, "event", action="verdict")] == \
                ["INCONCLUSIVE"]
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_hook_gets_a_long_version_whole(tmp_path):
    """ROLLOUT_VERSION is the version a hook restores: a long one (an image
    reference with its digest and build metadata) must reach it whole, never
    cut to a prefix that names another version."""
    state = str(tmp_path / "state")
    hooks_log = str(tmp_path / "hooks.log")
    stable = "registry.example.com/payments/ledger:" + "b" * 400 + "-stable"
    down = "http://127.0.0.1:%d" % free_port()
    with WebhookReceiver() as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), down, hook.url, hooks_log=hooks_log)
        text = open(plan).read()
        old = [x for x in text.splitlines() if x.strip().startswith("stable:")][0]
        text = text.replace(old, old[:old.index("stable:")] + "stable: '%s'" % stable, 1)
        open(plan, "w").write(text)
        op = Operator(plan, state=state, env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/e"})
        started_then_aborted(op)
        with open(hooks_log) as f:
            versions = [line.split()[2] for line in f]
        assert versions and all(v == stable for v in versions), versions


def test_a_critical_error_while_paused_rolls_back(prometheus, redis, tmp_path):
    """A pause freezes the schedule, not the traffic: the new version keeps
    serving at its weights, so the background analysis keeps watching and a
    critical error during the pause rolls back within one pass."""
    with WebhookReceiver() as hook:
        plan = write_plan(str(tmp_path / "plan.yaml"), prometheus.url, hook.url, critical=True)
        op = Operator(plan, store=redis.url,
                      env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/emergency"})
        op.init()
        op.run_pass(SEED_START)
        op.run_pass(SEED_START + 2 * H)
        op.approve("canary-go", GATES[0][2], SEED_START + 2 * H)
        op.run_pass(SEED_START + 2 * H)
        op.run_pass(SEED_START + 5 * H)
        op.cli("state", "apply", "pause", *op.where, "--at", str(SEED_START + 5 * H), plan)
        assert op.show()["status"] == "paused"
        logs = op.run_pass(SEED_START + 7 * H)
        assert op.show()["status"] in ("rolling_back", "rolled_back")
        assert [x["detail"] for x in events(logs, "event", action="verdict")][0].startswith(
            "background analysis: zero-critical-errors")


def test_a_stop_that_ends_the_smoke_tests_is_no_smoke_failure(tmp_path):
    """systemd stops the operator by sending SIGTERM to its whole cgroup, the
    hook in flight included. Smoke tests ended that way did not fail: the
    operator must not record smoke_failed (an escalation, and tests never run
    again by the operator) but run them again on its next pass."""
    state = str(tmp_path / "state")
    hooks_log = str(tmp_path / "hooks.log")
    pid_file = str(tmp_path / "smoke.pid")
    with WebhookReceiver() as hook:
        plan = plan_with_smoke(tmp_path, hook.url, hooks_log,
                               "echo $$ > %s.tmp && mv %s.tmp %s; sleep 30; exit 0"
                               % (pid_file, pid_file, pid_file))
        op = Operator(plan, state=state, env={"ROLLOUT_TEST_EMERGENCY_URL": hook.url + "/e"})
        aborted(op)
        p = subprocess.Popen([CLI, "operator", plan, "--state", state, "--once", "--at",
                              str(SEED_START + H + 60)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=op.env)
        deadline = time.monotonic() + 20
        while not os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        hook_pid = int(open(pid_file).read())
        # what systemd's KillMode=control-group does
        p.send_signal(signal.SIGTERM)
        os.killpg(hook_pid, signal.SIGTERM)
        out, _ = p.communicate(timeout=20)
        logs = [json.loads(x) for x in out.splitlines() if x.strip()]
        assert not events(logs, "action", action="escalate"), logs
        assert "M hold/" not in open(state + ".outbox").read()
        # the next pass runs the smoke tests again
        os.unlink(pid_file)
        text = open(plan).read().replace("sleep 30; exit 0", "exit 0")
        open(plan, "w").write(text)
        op.run_pass(SEED_START + H + 120, expect=(0, 69))
        assert os.path.exists(pid_file)
