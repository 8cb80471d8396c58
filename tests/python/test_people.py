# SPDX-License-Identifier: MIT
"""tests/vectors/people.json: overrides with a reason, retry, promote, abort
and the audit trail, event by event, as tests/c/test_people.c and
tests/lua/people_spec.lua read them. The binding adds nothing: the same
events give the same states and the same refusals."""

import json
import os
from datetime import datetime, timezone

import pytest

import rollout
from conftest import ROOT, VECTORS

with open(os.path.join(VECTORS, "people.json"), encoding="utf-8") as f:
    V = json.load(f)

PLAN = rollout.Plan.from_file(os.path.join(ROOT, V["plan"]))


def epoch(iso):
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
               .timestamp())


def apply(state, e):
    kw = {k: e[k] for k in ("gate", "role", "override", "verdict", "reason", "confirmation",
                            "why", "by", "override_verdict", "all_phases") if k in e}
    return state.apply(e["event"], epoch(e["at"]), **kw)


@pytest.mark.parametrize("case", V["cases"], ids=lambda c: c["name"])
def test_people_vectors(case):
    state = rollout.State.new(PLAN)
    events = case["events"]
    for e in events[:-1]:
        state, _ = apply(state, e)
    if "refused" in case:
        with pytest.raises(rollout.TransitionError) as info:
            apply(state, events[-1])
        assert info.value.code_name == case["refused"]["code"]
        assert str(info.value).endswith(case["refused"]["message"]), str(info.value)
        return
    state, _ = apply(state, events[-1])
    want = case["expect"]
    assert state.status == want["status"]
    assert state.attempt == want["attempt"]
    assert state.trail_total == want["trail_total"]
    got = [dict(r, at=datetime.fromtimestamp(r["at"], timezone.utc)
                .strftime("%Y-%m-%dT%H:%M:%SZ")) for r in state.trail]
    assert got == want["trail"]
    again = rollout.State.decode(PLAN, state.encode())
    assert again == state and again.trail == state.trail
    for w in want.get("weights", []):
        s = PLAN.schedule(epoch(w["at"]), state)
        for cohort, cw in s.cohorts.items():
            assert cw.weight == w[cohort], (w["at"], cohort)


def test_why_must_be_text():
    state = rollout.State.new(PLAN)
    with pytest.raises(TypeError):
        state.apply("abort", 1772269200, why=b"bytes")
    with pytest.raises(ValueError):
        state.apply("abort", 1772269200, why="a\0b")
    with pytest.raises(rollout.NotFoundError):
        state.apply("abort", 1772269200, by="nobody")


def test_previous_format_decodes():
    """A state written by the format 1 encoder ("rs1.") reads as the first
    attempt with an empty trail, and is written back as rs2."""
    old = V["previous_format"]
    state = rollout.State.decode(PLAN, old["text"])
    assert state.status == old["status"] and state.revision == old["revision"]
    assert state.attempt == 1 and state.trail == [] and state.trail_total == 0
    assert state.encode().startswith("rs2.")
