# SPDX-License-Identifier: MIT
"""Plans: loading, facts, dump, schedule, calendar and evaluation, with the
expected values read off examples/plans/seed.yaml and the comments of the
example metrics snapshots."""

import json
import os
import threading

import pytest

import rollout
import datetime as dt

from conftest import D, H, METRICS, PLANS, ROOT, UTC

SEED_FILE = os.path.join(PLANS, "seed.yaml")


def test_seed_is_the_example_file(seed):
    with open(SEED_FILE, encoding="utf-8") as f:
        text = f.read()
    assert rollout.Plan.seed_yaml() == text  # embedded byte for byte
    from_file = rollout.Plan.from_file(SEED_FILE)
    assert from_file.fingerprint == seed.fingerprint
    assert from_file.dump() == seed.dump()
    assert rollout.Plan.from_string(text).fingerprint == seed.fingerprint
    assert rollout.Plan.from_string(text.encode()).fingerprint == seed.fingerprint


def test_facts(seed, t0):
    assert isinstance(seed, rollout.Plan)
    assert seed.id == "ledger-v2"
    assert seed.start == t0
    assert seed.labels == ("app:previous", "app:candidate")
    assert seed.phases == ("canary", "pilot", "ga")
    assert seed.cohorts == ("internal", "pilot", "everyone")
    assert seed.gates == ("canary-go", "pilot-go", "ga-day2-go", "ga-day3-go", "ga-day4-go")
    assert seed.roles == ("engineering-lead", "product-lead", "sre-lead", "engineering",
                          "product", "sre", "on-call-sre", "support", "comms")
    assert 0 < seed.fingerprint < 2**64
    assert repr(seed) == f"<rollout.Plan ledger-v2 fingerprint={seed.fingerprint:016x}>"
    with pytest.raises(AttributeError):
        seed.id = "other"
    with pytest.raises(TypeError, match="Plan.from_file"):
        rollout.Plan()


def test_pathlike_and_other_plans(tmp_path):
    import pathlib
    p = rollout.Plan.from_file(pathlib.Path(PLANS) / "minimal.yaml")
    assert isinstance(p, rollout.Plan)
    assert rollout.Plan.from_file(os.path.join(PLANS, "windows.yaml")).id


def test_dump_round_trips(seed):
    yaml_text, json_text = seed.dump(), seed.dump("json")
    assert rollout.Plan.from_string(yaml_text).fingerprint == seed.fingerprint
    assert rollout.Plan.from_string(json_text).fingerprint == seed.fingerprint
    assert json.loads(json_text)["id"] == "ledger-v2"
    with pytest.raises(ValueError):
        seed.dump("toml")


def test_schedule_without_state(seed, t0):
    s = seed.schedule(t0 + H)
    assert isinstance(s, rollout.Schedule)
    assert (s.at, s.status, s.phase, s.step) == (rollout.from_epoch(t0 + H), "running", "canary", 0)
    assert (s.gate, s.gate_pending, s.gate_due) == ("canary-go", False, t0 + 2 * H)
    assert (s.next_change, s.next_at) == ("gate", t0 + 2 * H)
    assert s.cohorts == {
        "internal": rollout.CohortWeight(100000, "session", "canary", 0),
        "pilot": rollout.CohortWeight(0, None, None, None),
        "everyone": rollout.CohortWeight(0, None, None, None),
    }
    # no GO ever comes without a state: past the gate the rollout waits
    late = seed.schedule(t0 + 5 * H)
    assert late.gate_pending is True and late.next_change == "wait" and late.next_at is None
    assert late.bake_start is None and late.complete_at is None
    assert seed.schedule(t0 - 1).status == "not_started"


def test_schedule_of_a_finished_rollout(seed, t0):
    from conftest import seed_state
    s = seed_state(seed, t0 + 6 * D)
    sch = seed.schedule(t0 + 5 * D + H, state=s)
    assert sch.status == "baking"
    assert sch.bake_start == t0 + 5 * D and sch.complete_at == t0 + 12 * D
    assert all(c.weight == 100000 for c in sch.cohorts.values())
    assert seed.schedule(t0 + 13 * D, state=s).status == "completed"


def test_calendar(seed, t0):
    events = seed.calendar()
    kinds = [e.kind for e in events]
    assert (kinds.count("step"), kinds.count("gate"), kinds.count("message"),
            kinds.count("bake"), kinds.count("complete")) == (8, 5, 4, 1, 1)
    assert [e.at for e in events] == sorted(e.at for e in events)
    first = events[0]
    assert first == rollout.CalendarEvent(
        at=t0, kind="step", phase="canary", step=0, gate=None, cohort="internal",
        weight=100000, projected=False, title="canary", channel=None, audience=None,
        message=None, owners=())
    assert first.when.isoformat() == "2026-02-28T09:00:00+00:00"
    steps = [(e.at - t0, e.cohort, e.weight) for e in events if e.kind == "step"]
    assert steps == [(0, "internal", 100000), (4 * H, "pilot", 10000), (6 * H, "pilot", 25000),
                     (12 * H, "pilot", 50000), (24 * H, "pilot", 100000),
                     (2 * D, "everyone", 25000), (3 * D, "everyone", 50000),
                     (4 * D, "everyone", 100000)]
    gates = [(e.at - t0, e.gate, e.owners) for e in events if e.kind == "gate"]
    assert gates[0] == (2 * H, "canary-go", ("engineering-lead", "product-lead"))
    assert gates[-1] == (5 * D, "ga-day4-go", ("product", "sre"))
    messages = [e.title for e in events if e.kind == "message"]
    assert messages == ["canary-start", "pilot-start", "pilot-100", "ga-start"]
    assert events[-1].kind == "complete" and events[-1].at == t0 + 12 * D


@pytest.mark.parametrize("fmt,head", [("table", "Rollout calendar: ledger-v2"),
                                      ("json", "["), ("ics", "BEGIN:VCALENDAR"),
                                      ("svg", "<svg")])
def test_calendar_render(seed, fmt, head):
    text = seed.calendar_render(fmt)
    assert text.lstrip().startswith(head) or head in text[:200]
    assert seed.calendar_render(fmt) == text  # no clock: byte for byte equal
    if fmt == "json":
        assert len(json.loads(text)) == len(seed.calendar())


def test_calendar_render_arguments(seed):
    assert seed.calendar_render() == seed.calendar_render("table")
    with pytest.raises(ValueError, match="'table', 'json', 'ics' or 'svg'"):
        seed.calendar_render("pdf")
    with pytest.raises(TypeError):
        seed.calendar_render("table", state="rs1.")


# ---- evaluation ------------------------------------------------------------------------------

EXPECTED = {  # from the comments at the top of each example snapshot
    "healthy": ["PASS", "PASS", "PASS"],
    "clearly-worse": ["FAIL", "FAIL", "FAIL"],
    "critical": ["ROLLBACK", "ROLLBACK", "ROLLBACK"],  # quick rollback in any phase
    "no-data": ["INCONCLUSIVE", "INCONCLUSIVE", "INCONCLUSIVE"],
    "slightly-worse": ["PASS", "PASS", "INCONCLUSIVE"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_snapshots(seed, name):
    m = rollout.Metrics.from_file(os.path.join(METRICS, f"{name}.yaml"))
    got = [seed.evaluate(phase, m).verdict for phase in seed.phases]
    assert got == EXPECTED[name]


def test_evaluation_details(seed):
    # the canary set as the plan itself lists it (the normalized dump)
    canary = json.loads(seed.dump("json"))["criteria"]["canary"]
    m = rollout.Metrics.from_file(os.path.join(METRICS, "critical.yaml"))
    e = seed.evaluate("canary", m)
    assert isinstance(e, rollout.Evaluation) and not e.passed
    assert (e.verdict, e.criteria) == ("ROLLBACK", "canary")
    assert [r.id for r in e.results] == [c["id"] for c in canary]
    assert e.n_pass + e.n_fail + e.n_inconclusive == len(e.results)
    # critical errors are zero-critical-errors' business, and it says rollback
    assert e.rollback.id == "zero-critical-errors" and e.rollback.verdict == "FAIL"
    declared = canary[e.rollback_index]["rollback"]
    assert e.rollback_reason == ("evaluation" if declared is True else declared)
    assert e.rollback.rollback and e.rollback.rollback_reason == e.rollback_reason
    for r, c in zip(e.results, canary):
        assert r.rollback == ("rollback" in c and c["rollback"] is not False)
    # the same set by gate and by criteria id
    assert seed.evaluate(gate="canary-go", metrics=m) == e
    assert seed.evaluate(criteria="canary", metrics=m) == e


def test_metrics_from_dict_means_what_the_file_means(seed):
    path = os.path.join(METRICS, "post-rollout.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    a = seed.evaluate(bake=True, metrics=rollout.Metrics.from_file(path))
    b = seed.evaluate(bake=True, metrics=rollout.Metrics.from_dict(data))
    assert a == b and a.verdict == "PASS" and a.criteria == "post-rollout"
    assert seed.evaluate(bake=True, metrics=data) == a  # a plain dict is accepted too


def test_metrics_setters_and_get():
    m = rollout.Metrics()
    assert m.get("error_rate") is None
    m.set_requests(2000, 11)
    assert m.get("requests") == 2000 and m.get("error_rate") == 11 / 2000
    m.set_requests(500000, 2250, variant="baseline")
    assert m.get("error_rate", variant="baseline") == 2250 / 500000
    m.set_latency(0.18, 1.4, 2.1)
    assert m.get("latency_p95") == 1.4
    m.set("critical_errors", 0)
    m.set("usage_kpi_ratio", 0.99)
    m.set_smoke("login-logout", True)
    m.set_latency_samples([0.1, 0.2, 0.3], variant="stable")
    assert m.get("latency_p50", variant="baseline") is not None
    with pytest.raises(ValueError, match="variant must be 'new' or 'baseline'"):
        m.set("errors", 1, variant="old")
    with pytest.raises(TypeError):
        rollout.Metrics(new={})


def test_evaluate_arguments(seed):
    m = rollout.Metrics()
    with pytest.raises(TypeError, match="exactly one of"):
        seed.evaluate(metrics=m)
    with pytest.raises(TypeError, match="exactly one of"):
        seed.evaluate("canary", m, gate="canary-go")
    with pytest.raises(TypeError, match="needs metrics"):
        seed.evaluate("canary")
    with pytest.raises(rollout.NotFoundError):
        seed.evaluate("production", m)


def test_evaluate_blocks_setters_while_running(seed):
    # a long exact Mann-Whitney keeps the snapshot busy with the GIL released
    m = rollout.Metrics.from_file(os.path.join(METRICS, "healthy.yaml"))
    m.set_latency_samples([0.1 + (i % 97) / 1000 for i in range(3000)])
    m.set_latency_samples([0.1 + (i % 89) / 1000 for i in range(3000)], variant="baseline")
    refused = []

    def setter():
        for _ in range(2000):
            try:
                m.set("support_tickets", 3)
            except RuntimeError:
                refused.append(1)

    t = threading.Thread(target=setter)
    t.start()
    for _ in range(20):
        seed.evaluate(bake=True, metrics=m)
    t.join()
    # whether or not the threads met, the snapshot is intact and still usable
    assert seed.evaluate(bake=True, metrics=m).criteria == "post-rollout"
    assert m.get("support_tickets") == 3


def test_repository_layout_is_what_setup_py_expects():
    assert os.path.isfile(os.path.join(ROOT, "include", "rollout.h"))
    assert os.path.isfile(os.path.join(ROOT, "bindings", "python", "setup.py"))


def test_evaluation_results_carry_dry_run_direction_and_sla(seed):
    m = rollout.Metrics.from_file(os.path.join(METRICS, "healthy.yaml"))
    e = seed.evaluate(gate="ga-day2-go", metrics=m)
    by_id = {r.id: r for r in e.results}
    assert by_id["error-rate"].sla == pytest.approx(0.02, rel=1e-15)
    assert by_id["throughput-stable"].direction == "lower_is_worse"
    assert by_id["usage-kpis"].direction == "lower_is_worse"  # min
    assert by_id["latency-stable"].direction == "higher_is_worse"
    assert by_id["latency-stable"].sla is None
    assert not any(r.dry_run for r in e.results)


def test_weights_come_with_percent_and_schedule_at_is_a_datetime(seed, t0):
    """Every weight stays the exact integer (units of 0.001 %) and has its
    percent beside it; Schedule.at is a datetime, as the time passed in."""
    at = dt.datetime(2026, 2, 28, 15, 30, tzinfo=UTC)
    s = seed.schedule(at, state=None)
    assert isinstance(s.at, dt.datetime) and s.at == at
    assert s.cohorts["internal"].weight == 100000 and s.cohorts["internal"].percent == 100.0
    state, actions = rollout.State.new(seed).apply("start", at=t0)
    sw = [a for a in actions if a.type == "set_weight"][0]
    assert (sw.weight, sw.percent) == (100000, 100.0)
    assert [a.percent for a in actions if a.type != "set_weight"] == [None] * (len(actions) - 1)
    d = seed.decide(org="globex", session="a", attrs={"role": "staff"}, at=t0 + H, state=state)
    assert (d.weight, d.percent) == (100000, 100.0)
    ev = [e for e in seed.calendar() if e.kind == "step"][1]
    assert ev.percent == ev.weight / 1000 == 10.0
    assert s.next_percent == s.next_weight / 1000
