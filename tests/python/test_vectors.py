# SPDX-License-Identifier: MIT
"""The shared vectors in tests/vectors/, read as the C tests read them.

bucketing.json: every case through rollout.bucket (the exact bytes of
id_hex, and the text form when the bytes are UTF-8), and every rejected
input. stats.json holds reference values for lib/stats.c, whose functions
are internal; the statistics surface in the public API as criterion results
of rollout_evaluate, so each vector is checked there: Wilson bounds
(lower/upper of an error-rate criterion), the score test (its p-value
against an absolute limit), the two-proportion test (against a baseline
times a ratio) and the Mann-Whitney test (latency samples or histograms).
"""

import json
import math
import os
from decimal import Decimal

import pytest

import rollout
from conftest import VECTORS

with open(os.path.join(VECTORS, "bucketing.json"), encoding="utf-8") as f:
    BUCKETING = json.load(f)
with open(os.path.join(VECTORS, "stats.json"), encoding="utf-8") as f:
    STATS = json.load(f)


# ---- bucketing ------------------------------------------------------------------------


def test_bucketing_vector_file_is_complete():
    assert BUCKETING["buckets"] == rollout.BUCKETS == 100000
    assert len(BUCKETING["cases"]) == 1230
    assert len({c["salt"] for c in BUCKETING["cases"]}) == 6


def test_every_bucketing_case():
    mismatches = []
    for c in BUCKETING["cases"]:
        raw = bytes.fromhex(c["id_hex"])
        got = rollout.bucket(c["salt"], raw)
        if got != c["bucket"]:
            mismatches.append((c["salt"], c["id_hex"], got, c["bucket"]))
        if c["id"] is not None:
            # str ids are hashed as their UTF-8 bytes, which id_hex is
            assert c["id"].encode("utf-8") == raw
            assert rollout.bucket(c["salt"], c["id"]) == c["bucket"]
        # bytes salts hash the same as their text
        assert rollout.bucket(c["salt"].encode("utf-8"), raw) == c["bucket"]
    assert not mismatches, mismatches[:10]


def test_rejected_bucketing_inputs():
    assert BUCKETING["rejected"]
    for r in BUCKETING["rejected"]:
        assert r["error"] == "ROLLOUT_ERR_ARG"
        for id_ in (r["id"], bytes.fromhex(r["id_hex"])):
            with pytest.raises(rollout.ArgumentError) as e:
                rollout.bucket(r["salt"], id_)
            assert e.value.code_name == "ROLLOUT_ERR_ARG"
            assert isinstance(e.value, ValueError)


def test_worked_example_of_the_recipe():
    # docs/bucketing.md, "Worked example"
    salt = "ledger-v2-2026-02"
    assert rollout.bucket(salt, "acme-corp") == 82372
    assert rollout.bucket(salt, "globex") == 47558
    assert rollout.bucket(salt, "alice@example.com") == 96115
    assert rollout.bucket(salt, "user-1") == 60324
    assert rollout.bucket(salt, "a") == 86480


def test_decide_buckets_by_the_same_recipe(seed):
    """A decision's bucket is the vector's bucket under the plan's salt."""
    salt_cases = [c for c in BUCKETING["cases"] if c["salt"] == "ledger-v2-2026-02"]
    assert salt_cases
    after_canary = seed.start + 600  # canary: internal staff, bucketed by session
    for c in salt_cases:
        raw = bytes.fromhex(c["id_hex"])
        d = seed.decide(session=raw, attrs={"role": "staff"}, at=after_canary)
        assert d.unit == "session"
        assert d.bucket == c["bucket"], c


# ---- statistics through evaluate --------------------------------------------------------

TOL = STATS["tolerance"]["relative"]


def close(got, want):
    if want == 0 or abs(want) < 1e-12:
        return abs(got - want) <= 1e-15 or (abs(want) < 1e-300 and abs(got) < 1e-300)
    return abs(got - want) <= TOL * abs(want)


def num(x):
    """A decimal literal that parses back to exactly the double x."""
    return format(Decimal(repr(float(x))), "f")


def plan_with(criterion_yaml):
    """A minimal plan whose criteria set `c` holds one criterion. Statistical
    ones get min_samples: 1, so the vectors' small samples are tested rather
    than held by the default minimum."""
    if "confidence" in criterion_yaml or "mann_whitney" in criterion_yaml:
        criterion_yaml += "\n      min_samples: 1"
    return rollout.Plan.from_string(f"""
format: 1
id: stats
salt: stats-salt
start: 2026-03-02T09:00:00Z
versions: {{stable: v1, new: v2}}
roles: {{sre: SRE}}
cohorts:
  - id: everyone
    match: {{everyone: true}}
criteria:
  c:
    - id: k
{criterion_yaml}
rollback: {{deadline: 30m, procedure: [{{id: restore, action: restore_previous}}]}}
phases:
  - id: ga
    cohort: everyone
    steps:
      - {{at: 0h, weight: 100%, unit: org}}
    gate: {{id: ga-go, at: 1h, approvers: [sre], criteria: c}}
""", "stats.yaml")


def test_wilson_bounds():
    assert len(STATS["wilson"]) >= 20
    for v in STATS["wilson"]:
        plan = plan_with(f"""      metric: error_rate
      max: 0.5
      confidence: {num(v['confidence'])}""")
        m = rollout.Metrics()
        m.set_requests(v["n"], v["x"])
        r = plan.evaluate(criteria="c", metrics=m).results[0]
        assert close(r.lower, v["lower"]), (v, r.lower)
        assert close(r.upper, v["upper"]), (v, r.upper)


def test_score_test_p_values():
    for v in STATS["score_test"]:
        plan = plan_with(f"""      metric: error_rate
      max: {num(v['p0'])}
      confidence: 95%""")
        m = rollout.Metrics()
        m.set_requests(v["n"], v["x"])
        r = plan.evaluate(criteria="c", metrics=m).results[0]
        assert r.threshold == v["p0"]
        assert close(r.p_value, v["p"]), (v, r.p_value)


def test_two_proportion_p_values():
    for v in STATS["two_proportion"]:
        plan = plan_with(f"""      metric: error_rate
      max_baseline_times: {num(v['ratio'])}
      confidence: 95%""")
        m = rollout.Metrics.from_dict({
            "new": {"requests": v["n1"], "errors": v["x1"]},
            "baseline": {"requests": v["n2"], "errors": v["x2"]},
        })
        r = plan.evaluate(criteria="c", metrics=m).results[0]
        assert close(r.p_value, v["p"]), (v, r.p_value)
        assert r.baseline == v["x2"] / v["n2"]


def test_mann_whitney_p_values():
    for v in STATS["mann_whitney"]:
        plan = plan_with(f"""      metric: latency_p95
      max_baseline_times: {num(v['scale'])}
      test: mann_whitney""")
        m = rollout.Metrics()
        m.set_latency_samples(v["x"])
        m.set_latency_samples(v["y"], variant="baseline")
        r = plan.evaluate(criteria="c", metrics=m).results[0]
        assert r.samples == len(v["x"])
        assert close(r.p_value, v["p"]), (v["label"], r.p_value, v["p"])


def test_mann_whitney_grouped_p_values():
    for v in STATS["mann_whitney_grouped"]:
        plan = plan_with(f"""      metric: latency_p95
      max_baseline_times: {num(v['scale'])}
      test: mann_whitney""")
        m = rollout.Metrics()
        m.set_latency_histogram([b for b, _ in v["x"]], [c for _, c in v["x"]])
        m.set_latency_histogram([b for b, _ in v["y"]], [c for _, c in v["y"]],
                                variant="baseline")
        r = plan.evaluate(criteria="c", metrics=m).results[0]
        assert r.samples == sum(c for _, c in v["x"])
        assert close(r.p_value, v["p"]), (v["label"], r.p_value, v["p"])
        assert not math.isnan(r.p_value)
