# SPDX-License-Identifier: MIT
"""Times at the edges (docs/security.md, issue 17 items 8 and 21): every `at=`
outside the library's range, 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z,
is a ValueError (rollout.ArgumentError) before the library sees it; action
and calendar times format whatever 64-bit value they hold; code_name does
not truncate its argument to a C int."""

import datetime as dt

import pytest

import rollout
from conftest import H

TIME_MIN = -62135596800  # ROLLOUT_TIME_MIN
TIME_MAX = 253402300799  # ROLLOUT_TIME_MAX
INT64_MAX = 2**63 - 1


def test_code_name_does_not_truncate_to_an_int():
    assert rollout.code_name(1) == "ROLLOUT_ERR_NOMEM"
    # 2**32 + 1 has the low bits of 1: it is no code at all
    for code in (2**32 + 1, -(2**32) + 1, 2**31, -(2**31) - 1, 2**63, 2**80, -(2**80)):
        assert rollout.code_name(code) == "ROLLOUT_ERR_?", code
    with pytest.raises(TypeError):
        rollout.code_name("1")


def action(due):
    return rollout.Action(type="schedule_postmortem", cohort=None, weight=None, unit=None,
                          gate=None, roles=(), due=due, id="pm", label=None, channel=None,
                          audience=None, text=None)


def test_str_of_an_action_formats_any_due():
    assert str(action(INT64_MAX)) == "schedule_postmortem id=pm due=never"
    assert str(action(-(2**63))) == "schedule_postmortem id=pm due=-292277022657-01-27T08:29:52Z"
    assert str(action(TIME_MAX + 1)) == "schedule_postmortem id=pm due=10000-01-01T00:00:00Z"
    assert str(action(TIME_MIN)) == "schedule_postmortem id=pm due=0001-01-01T00:00:00Z"
    assert str(action(-1)) == "schedule_postmortem id=pm due=1969-12-31T23:59:59Z"
    assert str(action(1772269200)) == "schedule_postmortem id=pm due=2026-02-28T09:00:00Z"


def test_from_epoch_outside_the_years_of_a_datetime_is_a_value_error():
    assert rollout.from_epoch(TIME_MAX) == dt.datetime(9999, 12, 31, 23, 59, 59,
                                                       tzinfo=dt.timezone.utc)
    assert rollout.from_epoch(TIME_MIN) == dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
    for t in (INT64_MAX, TIME_MAX + 1, TIME_MIN - 1, -(2**63)):
        with pytest.raises(ValueError, match="outside the years 1 to 9999"):
            rollout.from_epoch(t)


OUT_OF_RANGE = [INT64_MAX, 2**64, 2**200, -(2**63), TIME_MAX + 1, TIME_MIN - 1,
                1772269200 * 1000,  # a millisecond timestamp
                dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(-dt.timedelta(hours=2))),
                dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))]


@pytest.mark.parametrize("at", OUT_OF_RANGE, ids=repr)
def test_apply_refuses_a_time_outside_the_range(seed, t0, at):
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    # at INT64_MAX ("never") the tick used to find every gated step due and
    # set everyone's weight to 100 % with no gate decided
    with pytest.raises(ValueError, match=r"at is outside the times the library accepts, "
                                         r"0001-01-01T00:00:00Z \.\. 9999-12-31T23:59:59Z"):
        s.apply("tick", at=at)
    with pytest.raises(rollout.ArgumentError) as info:
        rollout.State.new(seed).apply("start", at=at)
    assert info.value.code_name == "ROLLOUT_ERR_ARG"


@pytest.mark.parametrize("at", OUT_OF_RANGE, ids=repr)
def test_decide_and_schedule_refuse_a_time_outside_the_range(seed, at):
    with pytest.raises(ValueError, match="outside the times the library accepts"):
        seed.decide(org="acme-corp", at=at)
    with pytest.raises(ValueError, match="outside the times the library accepts"):
        seed.decide_many(orgs=["acme-corp", "globex"], at=at)
    with pytest.raises(ValueError, match="outside the times the library accepts"):
        seed.schedule(at=at)


def test_the_edges_of_the_range_are_accepted(seed, t0):
    # the last second of year 9999 is a time like any other: the pilot
    # waits behind the canary gate, which has no GO
    d = seed.decide(org="acme-corp", at=TIME_MAX)
    assert (d.variant, d.reason, d.cohort) == ("stable", "PHASE_NOT_STARTED", "pilot")
    assert seed.decide(org="acme-corp", at=TIME_MIN).reason == "NOT_STARTED"
    assert seed.schedule(at=TIME_MAX).status == "awaiting_gate"
    s, _ = rollout.State.new(seed).apply("start", at=t0)
    s, acts = s.apply("tick", at=TIME_MAX)
    # the canary gate is due and has no GO: nothing behind it happens
    assert s.status == "awaiting_gate"
    assert [str(a) for a in acts] == [
        "gate_due gate=canary-go id=canary-go roles=engineering-lead,product-lead "
        "due=2026-02-28T11:00:00Z"]
    assert t0 + 2 * H == 1772276400
