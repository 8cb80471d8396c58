# SPDX-License-Identifier: MIT
"""examples/python/rollout_ops.py driven as an SRE would: a state file
walked through the seed rollout's canary gate, the calendar, a rollback,
and the refusals (exit 1) and usage errors (exit 2)."""

import os
import subprocess
import sys

import rollout
from conftest import METRICS, ROOT

SCRIPT = os.path.join(ROOT, "examples", "python", "rollout_ops.py")


def ops(tmp_path, *args):
    env = dict(os.environ,
               PYTHONPATH=os.path.dirname(os.path.dirname(rollout.__file__)))
    return subprocess.run([sys.executable, SCRIPT, "--state", str(tmp_path / "state.txt"),
                           *args], capture_output=True, text=True, env=env, cwd=tmp_path)


def ok(tmp_path, *args):
    run = ops(tmp_path, *args)
    assert run.returncode == 0, run.stderr
    return run.stdout


def state(tmp_path):
    with open(tmp_path / "state.txt", encoding="ascii") as f:
        return rollout.State.decode(rollout.Plan.seed(), f.read().strip())


def test_walk_the_canary_gate_and_roll_back(tmp_path):
    out = ok(tmp_path, "init")
    assert "new state for plan ledger-v2" in out
    assert state(tmp_path).status == "not_started"
    assert oct(os.stat(tmp_path / "state.txt").st_mode & 0o777) != "0o600"

    out = ok(tmp_path, "--at", "2026-02-28T09:00:00Z", "start")
    assert out.splitlines() == [
        "start: not_started -> running (revision 1)",
        "  -> notify id=canary-start channel=slack audience=team roles=engineering "
        "-- Slack notification to team",
        "  -> set_weight cohort=internal weight=100 % unit=session id=internal",
    ]
    out = ok(tmp_path, "--at", "2026-02-28T10:00:00Z", "status")
    assert "gate      canary-go due Sat 2026-02-28 11:00 UTC" in out
    assert "  internal        100 %   canary step 1, by session" in out

    out = ok(tmp_path, "--at", "1772276400", "tick")  # 11:00 as epoch seconds
    assert "gate_due gate=canary-go" in out
    ok(tmp_path, "--at", "2026-02-28T11:05:00Z", "approve", "canary-go", "engineering-lead")

    before = (tmp_path / "state.txt").read_text()
    run = ops(tmp_path, "--at", "2026-02-28T11:05:00Z", "go")
    assert run.returncode == 1
    assert 'TransitionError: gate "canary-go" still needs the approval of "product-lead"' \
        in run.stderr
    assert (tmp_path / "state.txt").read_text() == before  # a refusal writes nothing

    ok(tmp_path, "--at", "2026-02-28T11:06:00Z", "approve", "canary-go", "product-lead")
    out = ok(tmp_path, "--at", "2026-02-28T11:10:00Z", "verdict",
             os.path.join(METRICS, "healthy.yaml"))
    assert out.startswith("canary-go: PASS (canary)\n")
    out = ok(tmp_path, "--at", "2026-02-28T11:12:00Z", "go")
    assert "go: awaiting_gate -> running" in out
    s = state(tmp_path)
    assert s.go_at == {"canary-go": 1772277120} and s.gate == "pilot-go"

    # the GO came 12 minutes after the gate was due, so the pilot's first
    # step (T+4h = 13:00) slips to 13:12
    out = ok(tmp_path, "--at", "2026-02-28T13:11:59Z", "tick")
    assert out.endswith("nothing to do\n")
    out = ok(tmp_path, "--at", "2026-02-28T13:12:00Z", "tick")
    assert "set_weight cohort=pilot weight=10 % unit=user id=pilot" in out
    cal = ok(tmp_path, "calendar")
    assert cal.startswith("Rollout calendar: ledger-v2")
    assert ok(tmp_path, "calendar", "--format", "ics").startswith("BEGIN:VCALENDAR")

    out = ok(tmp_path, "--at", "2026-02-28T15:30:00Z", "rollback", "critical_bug")
    assert "halt_traffic id=halt" in out
    out = ok(tmp_path, "--at", "2026-02-28T15:35:00Z", "confirm", "traffic_halted")
    assert "restore_previous id=restore label=app:previous" in out
    s = state(tmp_path)
    assert (s.status, s.rollback_reason) == ("rolling_back", "critical_bug")
    out = ok(tmp_path, "--at", "2026-02-28T15:40:00Z", "status")
    assert "rollback  critical_bug since Sat 2026-02-28 15:30 UTC" in out
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".rollout-state-")]


def test_usage_errors(tmp_path):
    assert ops(tmp_path, "status").returncode == 2  # no state file yet
    ok(tmp_path, "init")
    assert ops(tmp_path, "init").returncode == 2
    ok(tmp_path, "init", "--force")
    run = ops(tmp_path, "--at", "2026-02-28T09:00:00", "start")  # no offset
    assert run.returncode == 2 and "no UTC offset" in run.stderr
    assert ops(tmp_path, "rollback", "boredom").returncode == 2  # argparse
    other = os.path.join(ROOT, "examples", "plans", "minimal.yaml")
    run = ops(tmp_path, "--plan", other, "status")
    assert run.returncode == 1 and "StateError" in run.stderr
