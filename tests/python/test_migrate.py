# SPDX-License-Identifier: MIT
"""State.migrate: a state carried over to an edited plan of the same rollout
(rollout_state_migrate). A rollback stays through any edit; an edit that
removes what the state records is refused with the binding's exceptions."""

import os

import pytest

import rollout
from conftest import D, H, PLANS

with open(os.path.join(PLANS, "seed.yaml"), encoding="utf-8") as f:
    SEED_TEXT = f.read()


def edited(*pairs):
    text = SEED_TEXT
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new)
    return rollout.Plan.from_string(text, "edited.yaml")


WEIGHT = ("{at: 12h, weight: 50%, unit: user}", "{at: 12h, weight: 40%, unit: user}")


def rolled_back(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = s.apply("rollback", at=t0 + H, reason="critical_bug")
    return s


def test_a_rollback_stays_through_an_edit(seed, t0):
    s = rolled_back(seed, t0)
    b = edited(WEIGHT)
    m = s.migrate(b)
    assert isinstance(m, rollout.State)
    assert m.plan is b and m.fingerprint == b.fingerprint != seed.fingerprint
    assert (m.status, m.revision, m.updated_at) == ("rolling_back", s.revision + 1, s.updated_at)
    assert m.rollback_reason == "critical_bug"
    for org in ("acme-corp", "globex", "initech"):
        for at in (t0 + 2 * H, t0 + 13 * H, t0 + 6 * D):
            d = b.decide(state=m, at=at, org=org, user="u1",
                         attrs={"email": "ann@example.com"})
            assert not d.new and d.reason == "ROLLED_BACK"
    # it round-trips under the new plan, and no longer under the old one
    assert rollout.State.decode(b, m.encode()) == m
    with pytest.raises(rollout.StateError):
        rollout.State.decode(seed, m.encode())
    # the next event applies with the new plan
    m2, _ = m.apply("confirm", at=t0 + 2 * H, confirmation="traffic_halted")
    assert m2.status == "rolling_back"


def test_carries_positions_and_approvals(seed, t0):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, _ = s.apply("approve", at=t0 + H, gate="canary-go", role="engineering-lead")
    b = edited(("roles:\n  engineering-lead:", "roles:\n  auditor: Auditor\n  engineering-lead:"))
    m = s.migrate(b)
    assert (m.phase, m.step, m.gate) == ("canary", 0, "canary-go")
    assert m.approvals == {"canary-go": ("engineering-lead",)}
    assert m.started_at == s.started_at


def test_the_same_plan_is_the_same_state(seed, t0):
    s = rolled_back(seed, t0)
    assert s.migrate(rollout.Plan.from_string(SEED_TEXT, "again.yaml")) == s


def test_refusals_raise(seed, t0):
    s = rolled_back(seed, t0)
    with pytest.raises(rollout.NotFoundError, match='gate "canary-go"'):
        s.migrate(edited(("id: canary-go", "id: canary-gate")))
    with pytest.raises(rollout.StateError, match="ledger-v3"):
        s.migrate(edited(("id: ledger-v2", "id: ledger-v3")))
    with pytest.raises(TypeError):
        s.migrate("not a plan")
    # refused: the state is as it was
    assert s.plan is seed and s.status == "rolling_back"
