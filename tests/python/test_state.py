# SPDX-License-Identifier: MIT
"""rollout.State: the seed rollout walked through the state machine by
name (events, gates, roles, verdicts, reasons, confirmations), actions as
named tuples, the text encoding, and immutability."""

import os

import pytest

import rollout
from conftest import H, METRICS, PLANS, give_go


def walk(state, event, at, **kw):
    state2, actions = state.apply(event, at=at, **kw)
    return state2, [str(a) for a in actions]


def test_enum_names_come_from_the_library():
    assert rollout.EVENTS == ("start", "approve", "go", "no_go", "pause", "resume", "verdict",
                              "rollback", "confirm", "escalate", "tick", "retry", "promote", "abort")
    assert rollout.VERDICTS == ("PASS", "FAIL", "INCONCLUSIVE", "ROLLBACK")
    assert rollout.ROLLBACK_REASONS == ("manual", "critical_bug", "data_corruption",
                                        "error_rate", "no_go", "evaluation")
    assert rollout.CONFIRMATIONS[0] == "traffic_halted"
    assert rollout.STATUSES[0] == "not_started" and len(rollout.STATUSES) == 9
    assert rollout.UNITS == ("org", "user", "session", "request")


def test_new_state(seed):
    s = rollout.State.new(seed)
    assert (s.status, s.phase, s.step, s.gate, s.revision) == (
        "not_started", None, None, "canary-go", 0)
    assert s.started_at is None and s.updated_at is None and s.last_verdict is None
    assert s.plan is seed and s.fingerprint == seed.fingerprint
    assert s.approvals == {} and s.go_at == {}
    with pytest.raises(TypeError):
        rollout.State()


def test_seed_walk_through_the_canary_gate(seed, t0):
    s0 = rollout.State.new(seed)
    s, acts = walk(s0, "start", t0)
    assert s0.status == "not_started"  # apply returns a new state
    assert (s.status, s.phase, s.step, s.revision, s.started_at) == ("running", "canary", 0, 1, t0)
    assert acts == [
        "notify id=canary-start channel=slack audience=team roles=engineering "
        "-- Slack notification to team",
        "set_weight cohort=internal weight=100 % unit=session id=internal",
    ]
    s, acts = walk(s, "tick", t0 + 2 * H)
    assert s.status == "awaiting_gate"
    assert acts == ["gate_due gate=canary-go id=canary-go roles=engineering-lead,product-lead "
                    "due=2026-02-28T11:00:00Z"]

    s, acts = walk(s, "approve", t0 + 2 * H, gate="canary-go", role="engineering-lead")
    assert acts == [] and s.approvals == {"canary-go": ("engineering-lead",)}
    with pytest.raises(rollout.TransitionError,
                       match='gate "canary-go" still needs the approval of "product-lead"'):
        s.apply("go", at=t0 + 2 * H + 60)
    s, _ = walk(s, "approve", t0 + 2 * H + 60, role="product-lead")  # gate None: the next one
    with pytest.raises(rollout.TransitionError, match="needs a PASS verdict first"):
        s.apply("go", at=t0 + 2 * H + 60)

    evaluation = seed.evaluate("canary", rollout.Metrics.from_file(
        os.path.join(METRICS, "healthy.yaml")))
    assert evaluation.passed
    s, _ = walk(s, "verdict", t0 + 2 * H + 120, verdict=evaluation)
    assert s.last_verdict == "PASS"
    s, acts = walk(s, "go", t0 + 2 * H + 120)
    assert (s.status, s.gate) == ("running", "pilot-go")
    assert s.go_at == {"canary-go": t0 + 2 * H + 120}

    s, acts = walk(s, "tick", t0 + 5 * H)
    assert (s.phase, s.step) == ("pilot", 0)
    assert acts == [
        "notify id=pilot-start channel=email+in-app-banner audience=pilot-orgs roles=product "
        "-- Email to pilot orgs + in-app banner",
        "set_weight cohort=pilot weight=10 % unit=user id=pilot",
    ]
    # a tick with nothing due is not a transition
    same, acts = walk(s, "tick", t0 + 5 * H + 60)
    assert acts == [] and same == s and same.revision == s.revision


def test_rollback_procedure(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = give_go(s, t0 + 2 * H, "canary-go")
    s, acts = walk(s, "rollback", t0 + 8 * H, reason="error_rate")
    assert (s.status, s.rollback_reason, s.rollback_started_at) == (
        "rolling_back", "error_rate", t0 + 8 * H)
    # the pilot steps at 4h and 6h fell due since the last transition, but a
    # rollback drops them: every cohort goes back to stable anyway
    assert acts == [
        "notify id=rollback channel=emergency audience=affected-users roles=product,comms "
        "-- Emergency notification to all affected users",
        "page id=page roles=product,on-call-sre -- Page on-call SRE + Product",
        "halt_traffic id=halt -- Halt traffic to new version (kill canary, revert traffic split)",
    ]
    steps = [
        ("traffic_halted", "restore_previous id=restore label=app:previous -- Restart previous "
                           "approved version from container registry"),
        ("previous_restored", "run_smoke_tests id=smoke label=app:previous -- Run smoke tests on "
                              "previous version"),
        ("smoke_passed", "resume_service id=resume -- Resume service"),
        ("service_resumed", "open_incident id=incident -- Document what went wrong; open "
                            "incident ticket"),
        ("incident_opened", "schedule_postmortem id=postmortem due=2026-03-01T17:10:00Z -- "
                            "Post-mortem within 24 hours"),
    ]
    for confirmation, action in steps:
        with pytest.raises(rollout.TransitionError):
            s.apply("confirm", at=t0 + 8 * H + 600, confirmation="postmortem_done")
        s, acts = walk(s, "confirm", t0 + 8 * H + 600, confirmation=confirmation)
        assert acts == [action]
    assert s.status == "rolled_back"
    s, acts = walk(s, "confirm", t0 + 9 * H, confirmation="POSTMORTEM_DONE")  # any case
    assert acts == [] and s.status == "rolled_back"
    with pytest.raises(rollout.TransitionError, match="already recorded"):
        s.apply("confirm", at=t0 + 9 * H, confirmation="postmortem_done")


def test_rollback_actions_exactly(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = give_go(s, t0 + 2 * H, "canary-go")
    s, actions = s.apply("rollback", at=t0 + 3 * H, reason="critical_bug")
    assert [a.type for a in actions] == ["notify", "page", "halt_traffic"]
    notify, page, halt = actions
    assert notify == rollout.Action(
        type="notify", cohort=None, weight=None, unit=None, gate=None,
        roles=("product", "comms"), due=None, id="rollback", label=None, channel="emergency",
        audience="affected-users", text="Emergency notification to all affected users")
    assert page.roles == ("product", "on-call-sre") and page.id == "page"
    assert halt.weight is None and halt.text.startswith("Halt traffic")


def test_pause_resume_and_errors(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = s.apply("pause", at=t0 + 600)
    assert s.status == "paused" and s.n_pauses == 1
    with pytest.raises(rollout.TransitionError, match="pause is not valid while the rollout is "
                                                      "paused"):
        s.apply("pause", at=t0 + 700)
    s, _ = s.apply("resume", at=t0 + 1200)
    assert s.status == "running"
    with pytest.raises(rollout.ArgumentError, match="time runs backwards"):
        s.apply("tick", at=t0)
    with pytest.raises(ValueError, match="event must be one of 'start', 'approve'"):
        s.apply("launch", at=t0 + 1300)
    with pytest.raises(rollout.NotFoundError, match='the plan has no gate "nope"'):
        s.apply("approve", at=t0 + 1300, gate="nope", role="sre")
    with pytest.raises(rollout.NotFoundError, match='the plan has no role "cto"'):
        s.apply("approve", at=t0 + 1300, gate="canary-go", role="cto")
    with pytest.raises(ValueError, match="verdict must be one of"):
        s.apply("verdict", at=t0 + 1300, verdict="MAYBE")
    with pytest.raises(ValueError, match="reason must be one of"):
        s.apply("rollback", at=t0 + 1300, reason="boredom")
    with pytest.raises(rollout.TransitionError, match="not the next gate"):
        s.apply("approve", at=t0 + 1300, gate="pilot-go", role="sre-lead")


def test_encode_decode(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = s.apply("approve", at=t0 + 2 * H, gate="canary-go", role="product-lead")
    text = s.encode()
    assert text.startswith("rs2.") and text.isascii() and "\n" not in text
    back = rollout.State.decode(seed, text)
    assert back == s and hash(back) == hash(s) and back is not s
    assert back.approvals == {"canary-go": ("product-lead",)}
    assert rollout.State.decode(seed, text.encode()) == s
    assert rollout.State.decode(rollout.Plan.seed(), text) == s  # any load of the same plan
    assert repr(s) == "<rollout.State ledger-v2 awaiting_gate phase='canary' step=0 revision=2>"


def test_decode_rejects_damage_and_other_plans(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    text = s.encode()
    for bad in (text[:-1], text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:],
                "rs9." + text[4:], "", "rs1."):
        with pytest.raises(rollout.StateError) as e:
            rollout.State.decode(seed, bad)
        assert e.value.code_name in ("ROLLOUT_ERR_STATE", "ROLLOUT_ERR_UNSUPPORTED")
    minimal = rollout.Plan.from_file(os.path.join(PLANS, "minimal.yaml"))
    with pytest.raises(rollout.StateError) as e:
        rollout.State.decode(minimal, text)
    assert e.value.code_name == "ROLLOUT_ERR_STATE_PLAN"


def test_schedule_and_calendar_follow_the_state(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0 + H)  # one hour late
    sch = seed.schedule(t0 + 2 * H, state=s)
    assert (sch.status, sch.phase, sch.step, sch.gate, sch.gate_due) == (
        "running", "canary", 0, "canary-go", t0 + 3 * H)
    assert sch.cohorts["internal"] == rollout.CohortWeight(100000, "session", "canary", 0)
    events = seed.calendar(state=s)
    assert events[0].at == t0 + H and events[0].kind == "step"
    assert events == seed.calendar(start=t0 + H)
    with pytest.raises(TypeError):
        seed.calendar(start=t0, state=s)


def test_an_evaluation_verdict_rolls_back_with_its_reason(seed, t0):
    # the seed's zero-critical-errors criterion stands for the "critical bug"
    # trigger: an Evaluation passed as the verdict carries that reason along
    evaluation = seed.evaluate(
        "canary", rollout.Metrics.from_file(os.path.join(METRICS, "critical.yaml")))
    assert (evaluation.verdict, evaluation.rollback_reason) == ("ROLLBACK", "critical_bug")
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = s.apply("verdict", at=t0 + H, verdict=evaluation)
    assert (s.status, s.rollback_reason) == ("rolling_back", "critical_bug")
    # a bare verdict name has no criterion behind it
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = s.apply("verdict", at=t0 + H, verdict="ROLLBACK")
    assert (s.status, s.rollback_reason) == ("rolling_back", "evaluation")
