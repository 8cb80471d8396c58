# SPDX-License-Identifier: MIT
"""Plan.decide and Plan.decide_many: the seed plan step by step, with the
expected buckets from tests/vectors/bucketing.json (salt ledger-v2-2026-02:
A 6148, Z 34165, a 86480, user-10 10249, org_42 12652, initech 95820,
acme-corp 82372, globex 47558) and the explanations tests/c/test_decide.c
expects, plus the Python side: argument types, times, immutability."""

import datetime as dt

import pytest

import rollout
from conftest import D, H, UTC, at, seed_state

STAFF = {"email": "dev@example.com"}


# ---- the seed plan ----------------------------------------------------------------------


def test_not_started(seed, t0):
    d = seed.decide(org="acme-corp", user="A", session="s", attrs=STAFF, at=t0 - 1)
    assert (d.new, d.variant, d.reason) == (False, "stable", "NOT_STARTED")
    assert d.cohort is None and d.phase is None and d.step is None and d.unit is None
    assert d.bucket is None and d.weight == 0
    assert d.explain() == "the rollout has not started; every request gets the stable version"
    s = rollout.State.new(seed)
    assert seed.decide(org="acme-corp", at=t0 + 5 * H, state=s).reason == "NOT_STARTED"


def test_canary(seed, t0):
    d = seed.decide(org="acme-corp", user="A", session="a", attrs=STAFF, at=t0 + H)
    assert d.new is True and d.variant == "new" and d.version == "app:candidate"
    assert (d.reason, d.cohort, d.phase, d.step, d.unit) == (
        "IN_ROLLOUT", "internal", "canary", 0, "session")
    assert (d.bucket, d.weight) == (86480, 100000)
    assert d.explain() == ("session a is in cohort internal; bucket 86 480 < weight 100 000 "
                           "at step 1 of phase canary")
    # staff without a session id: the step buckets by session
    d = seed.decide(org="acme-corp", user="A", attrs=STAFF, at=t0 + H)
    assert (d.variant, d.reason, d.unit, d.weight) == ("stable", "MISSING_UNIT", "session", 100000)
    assert d.version == "app:previous"
    assert d.explain() == ("the request is in cohort internal, which buckets by session at "
                           "step 1 of phase canary, but it has no session id; stable version")
    # an empty id is an absent id
    assert seed.decide(session="", attrs=STAFF, at=t0 + H).reason == "MISSING_UNIT"
    # the role attribute matches too
    assert seed.decide(session="a", attrs={"role": "superuser"}, at=t0 + H).new


def test_pilot_steps(seed, t0):
    s = seed_state(seed, t0 + 3 * H)
    d = seed.decide(org="acme-corp", user="A", state=s, at=t0 + 3 * H)
    assert (d.reason, d.cohort, d.phase, d.weight) == ("PHASE_NOT_STARTED", "pilot", "pilot", 0)
    assert d.explain() == ("the request is in cohort pilot, whose phase pilot has not begun; "
                           "weight 0, stable version")
    # without the canary gate's GO the pilot never starts
    assert seed.decide(org="acme-corp", user="A", at=t0 + 5 * H).reason == "PHASE_NOT_STARTED"

    s = seed_state(seed, t0 + 5 * H)
    d = seed.decide(org="acme-corp", user="A", state=s, at=t0 + 5 * H)
    assert (d.new, d.unit, d.bucket, d.weight, d.step) == (True, "user", 6148, 10000, 0)
    assert d.explain() == ("user A is in cohort pilot; bucket 6 148 < weight 10 000 at step 1 "
                           "of phase pilot")
    d = seed.decide(org="acme-corp", user="user-10", state=s, at=t0 + 5 * H)
    assert (d.variant, d.reason, d.bucket) == ("stable", "OUT_OF_ROLLOUT", 10249)
    assert d.explain() == ("user user-10 is in cohort pilot; bucket 10 249 >= weight 10 000 at "
                           "step 1 of phase pilot")
    d = seed.decide(org="acme-corp", user="user-10", state=s, at=t0 + 7 * H)
    assert d.new and d.step == 1  # 25 % from hour 6
    assert not seed.decide(org="globex", user="Z", state=s, at=t0 + 7 * H).new
    d = seed.decide(org="globex", user="Z", state=s, at=t0 + 13 * H)
    assert d.new and (d.weight, d.step) == (50000, 2)  # 50 % from hour 12


def test_general_availability_by_org(seed, t0):
    s = seed_state(seed, t0 + 6 * D)
    d = seed.decide(org="org_42", user="Z", session="s1", state=s, at=t0 + 2 * D - 1)
    assert (d.reason, d.phase) == ("PHASE_NOT_STARTED", "ga")
    d = seed.decide(org="org_42", user="Z", session="s1", state=s, at=t0 + 2 * D)
    assert (d.new, d.unit, d.bucket, d.cohort) == (True, "org", 12652, "everyone")
    assert d.explain() == ("org org_42 is in cohort everyone; bucket 12 652 < weight 25 000 at "
                           "step 1 of phase ga")
    d = seed.decide(org="initech", user="A", state=s, at=t0 + 3 * D)
    assert (d.new, d.bucket, d.weight) == (False, 95820, 50000)
    d = seed.decide(org="initech", user="A", state=s, at=t0 + 4 * D)
    assert (d.new, d.weight) == (True, 100000)


def test_rollback_wins(seed, t0):
    s = seed_state(seed, t0 + 6 * D)
    assert seed.decide(org="org_42", user="A", session="a", state=s, at=t0 + 6 * D).new
    rb, actions = s.apply("rollback", at=t0 + 6 * D, reason="critical_bug")
    assert actions
    for ctx in ({"org": "org_42"}, {"org": "acme-corp", "user": "A"},
                {"session": "a", "attrs": STAFF}):
        d = seed.decide(state=rb, at=t0 + 6 * D + 60, **ctx)
        assert (d.variant, d.reason) == ("stable", "ROLLED_BACK")
    assert d.explain() == ("the rollout is rolled back (or rolling back); every request gets "
                           "the stable version")


def test_no_cohort_and_match_error():
    head = ("format: 1\nid: t\nsalt: ledger-v2-2026-02\nstart: 2026-01-01T00:00:00Z\n"
            "versions: {stable: a, new: b}\n")
    p = rollout.Plan.from_string(head + "cohorts:\n  - {id: c, match: {org_in: [acme]}}\n"
                                 "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n  - id: p\n    cohort: c\n"
                                 "    steps: [{at: 0h, weight: 100%, unit: org}]\n")
    d = p.decide(org="globex", user="u", session="s", at=p.start)
    assert (d.variant, d.reason, d.cohort) == ("stable", "NO_COHORT", None)
    assert d.explain() == "no cohort matches the request; it stays on the stable version"
    assert p.decide(org="acme", at=p.start).new

    p = rollout.Plan.from_string(head + "cohorts:\n"
                                 "  - {id: bots, match: {attr: ua, matches: '^(?=a)(a+)+$'}}\n"
                                 "  - {id: rest, match: {everyone: true}}\n"
                                 "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n  - id: p\n    cohort: rest\n"
                                 "    steps: [{at: 0h, weight: 100%, unit: org}]\n")
    d = p.decide(org="org_42", attrs={"ua": "a" * 30 + "!"}, at=p.start)
    assert (d.variant, d.reason, d.cohort) == ("stable", "MATCH_ERROR", "bots")
    assert d.explain() == ("a pattern of cohort bots hit its match limit, so the request cannot "
                           "be placed; stable version")
    assert p.decide(org="org_42", attrs={"ua": "aaaa"}, at=p.start).reason == "PHASE_NOT_STARTED"
    assert p.decide(org="org_42", attrs={}, at=p.start).new
    # a None attribute value is an absent attribute
    assert p.decide(org="org_42", attrs={"ua": None}, at=p.start).new


# ---- times -------------------------------------------------------------------------------


def test_times_int_and_aware_datetimes_agree(seed, t0):
    s = seed_state(seed, t0 + 13 * H)
    want = seed.decide(org="globex", user="Z", state=s, at=t0 + 13 * H)
    assert want.new
    cet = dt.timezone(dt.timedelta(hours=1))
    for when in (at(2026, 2, 28, 22), dt.datetime(2026, 2, 28, 23, tzinfo=cet),
                 at(2026, 2, 28, 22, 0, 0, 999999)):
        assert seed.decide(org="globex", user="Z", state=s, at=when) == want
    # seconds are floored: the 50 % step is at T+12h = 21:00:00, so one
    # microsecond before it is 20:59:59, still the 25 % step
    early = dt.datetime(2026, 2, 28, 20, 59, 59, 999999, tzinfo=UTC)
    assert seed.decide(org="globex", user="Z", state=s, at=early).step == 1
    assert seed.decide(org="globex", user="Z", state=s, at=at(2026, 2, 28, 21)).step == 2


def test_naive_datetime_is_refused(seed):
    with pytest.raises(ValueError, match="naive"):
        seed.decide(org="acme-corp", at=dt.datetime(2026, 3, 1, 12))


@pytest.mark.parametrize("bad", [1772269200.0, True, "2026-03-01T00:00:00Z", dt.date(2026, 3, 1)])
def test_other_time_types_are_refused(seed, bad):
    with pytest.raises(TypeError, match="at must be an aware datetime or int epoch seconds"):
        seed.decide(org="acme-corp", at=bad)


def test_time_out_of_range(seed):
    # beyond 64 bits, or past year 9999: the same ValueError (test_times.py)
    with pytest.raises(rollout.ArgumentError, match="outside the times the library accepts"):
        seed.decide(org="acme-corp", at=2**63)


def test_at_defaults_to_now(seed):
    import time
    before = seed.decide(org="acme-corp", at=int(time.time()))
    assert seed.decide(org="acme-corp") == before  # the seed is long over by now or not begun


# ---- arguments ----------------------------------------------------------------------------


def test_bytes_ids_equal_their_utf8_text(seed, t0):
    s = seed_state(seed, t0 + 13 * H)
    for user in ("Z", "café", "ユーザー", "👩‍💻"):
        a = seed.decide(org="globex", user=user, state=s, at=t0 + 13 * H)
        b = seed.decide(org=b"globex", user=user.encode(), state=s, at=t0 + 13 * H)
        assert a == b and a.bucket == rollout.bucket("ledger-v2-2026-02", user)
    # bytes that are not UTF-8 are hashed as they are
    d = seed.decide(org="globex", user=b"\xff\xfe", state=s, at=t0 + 13 * H)
    assert d.bucket == rollout.bucket("ledger-v2-2026-02", b"\xff\xfe")
    # and explained escaped, as control characters are (rp_text_escape)
    assert "user \\xff\\xfe is in cohort pilot" in d.explain()


def test_keyword_only_and_unknown_keywords(seed):
    with pytest.raises(TypeError, match="keyword arguments only"):
        seed.decide("acme-corp")
    with pytest.raises(TypeError, match="unexpected keyword argument 'orgg'"):
        seed.decide(orgg="acme-corp")
    # keywords built at run time are not interned: still found
    key = "".join(["o", "r", "g"])
    assert seed.decide(**{key: "acme-corp"}, at=0).reason == "NOT_STARTED"


def test_keywords_from_many_call_sites(seed, t0):
    """decide remembers the keyword names of the last few call sites: more
    sites than it keeps, in every order, the same object for two keywords,
    and names built at run time all give the same answers as **kwargs."""
    s = seed_state(seed, t0 + 6 * D)
    when = t0 + 13 * H
    calls = [
        lambda o, u: seed.decide(org=o, user=u, at=when, state=s),
        lambda o, u: seed.decide(user=u, org=o, state=s, at=when),
        lambda o, u: seed.decide(at=when, state=s, user=u, org=o),
        lambda o, u: seed.decide(state=s, org=o, at=when, user=u),
        lambda o, u: seed.decide(org=o, at=when, user=u, state=s, session=None),
        lambda o, u: seed.decide(request=None, org=o, user=u, state=s, at=when, attrs=None),
        lambda o, u: seed.decide(**{"".join("org"): o, "user": u, "at": when, "state": s}),
    ]
    pairs = [("acme-corp", "A"), ("globex", "Z"), ("org_42", "user-10"), ("x", "x")]
    for _ in range(3):
        for o, u in pairs:
            want = seed.decide(**dict(org=o, user=u, at=when, state=s))
            for call in calls:
                assert call(o, u) == want
    same = "acme-corp"
    d = seed.decide(org=same, user=same, at=when, state=s)
    assert d == seed.decide(**dict(org="acme-corp", user="acme-corp", at=when, state=s))
    with pytest.raises(TypeError, match="unexpected keyword argument 'orgg'"):
        seed.decide(at=when, orgg="acme-corp")


@pytest.mark.parametrize("kw", [{"org": 42}, {"user": ["a"]}, {"attrs": [("k", "v")]},
                                {"attrs": {"k": 1}}, {"attrs": {1: "v"}}, {"state": "rs1.x"}])
def test_wrong_argument_types(seed, kw):
    with pytest.raises(TypeError):
        seed.decide(at=0, **kw)


def test_lone_surrogates_are_refused(seed):
    with pytest.raises(UnicodeEncodeError):
        seed.decide(org="\udcff", at=0)


def test_attrs_snapshot_is_used_by_explain(seed, t0):
    attrs = dict(STAFF)
    d = seed.decide(session="a", attrs=attrs, at=t0 + H)
    attrs.clear()  # the decision keeps what it was given
    assert d.new and d.explain().startswith("session a is in cohort internal")


def test_many_attributes(seed, t0):
    attrs = {f"k{i}": f"v{i}" for i in range(40)}
    attrs["email"] = "x@example.com"
    assert seed.decide(session="a", attrs=attrs, at=t0 + H).cohort == "internal"


def test_decision_is_immutable_comparable_and_hashable(seed, t0):
    d = seed.decide(org="acme-corp", session="a", attrs=STAFF, at=t0 + H)
    with pytest.raises(AttributeError):
        d.new = False
    with pytest.raises(TypeError):
        rollout.Decision()
    with pytest.raises(TypeError, match="test decision.new"):
        if d:  # would be true for every decision: refused
            pass
    e = seed.decide(org="globex", session="a", attrs={"role": "staff"}, at=t0 + 90 * 60)
    assert d == e and hash(d) == hash(e)  # same answer for the same reason
    f = seed.decide(org="globex", session="b", attrs=STAFF, at=t0 + H)
    assert d != f and len({d, e, f}) == 2
    assert d.plan is seed
    assert d.as_dict() == {"variant": "new", "version": "app:candidate", "reason": "IN_ROLLOUT",
                           "cohort": "internal", "phase": "canary", "step": 0,
                           "unit": "session", "bucket": 86480, "weight": 100000,
                           "percent": 100.0}
    assert repr(d) == ("<rollout.Decision new IN_ROLLOUT cohort='internal' phase='canary' "
                       "bucket=86480 weight=100000>")


def test_state_of_another_plan_is_refused(seed):
    other = rollout.Plan.from_file(rollout_path("examples/plans/minimal.yaml"))
    s = rollout.State.new(other)
    with pytest.raises(rollout.StateError) as e:
        seed.decide(org="acme-corp", state=s, at=0)
    assert e.value.code_name == "ROLLOUT_ERR_STATE_PLAN"


def rollout_path(rel):
    import os
    from conftest import ROOT
    return os.path.join(ROOT, rel)


# ---- decide_many --------------------------------------------------------------------------


def test_decide_many_matches_decide(seed, t0):
    s = seed_state(seed, t0 + 6 * D)
    orgs = [f"org-{i}" for i in range(5000)] + ["acme-corp", "globex", "org_42", "initech", ""]
    for when in (t0 + 2 * D, t0 + 3 * D, t0 + 4 * D):
        mask = seed.decide_many(orgs, at=when, state=s)
        assert isinstance(mask, bytes) and len(mask) == len(orgs)
        assert set(mask) <= {0, 1}
        want = bytes(seed.decide(org=o, at=when, state=s).new for o in orgs)
        assert mask == want
    # 25 % of orgs by bucket at day 2: org_42 (12652) in, initech (95820) out
    mask = seed.decide_many(orgs, at=t0 + 2 * D, state=s)
    assert mask[-3] == 1 and mask[-2] == 0 and mask[-1] == 0
    assert 0.22 < sum(mask[:5000]) / 5000 < 0.28


def test_decide_many_other_units_and_attrs(seed, t0):
    s = seed_state(seed, t0 + 13 * H)
    users = ["A", "Z", "user-10", "user-2", b"A", None]
    mask = seed.decide_many(users=users, attrs=None, at=t0 + 13 * H, state=s)
    # the pilot cohort is chosen by org: with no org these users are nobody's
    assert mask == bytes(seed.decide(user=u, at=t0 + 13 * H, state=s).new for u in users)
    assert mask == b"\x00" * 6
    sessions = ["a", "b", "c", "s1"]
    mask = seed.decide_many(sessions=sessions, attrs=STAFF, at=t0 + H)
    assert mask == b"\x01\x01\x01\x01"  # the canary is at 100 %
    assert seed.decide_many(sessions=sessions, at=t0 + H) == b"\x00" * 4  # not staff
    assert seed.decide_many(requests=iter(["r1", "r2"]), at=t0 + H) == b"\x00\x00"
    assert seed.decide_many([], at=t0) == b""
    # empty ids first, on a plan's first call (before any buffer exists):
    # absent, so stable, as decide has them
    fresh = rollout.Plan.seed()
    assert fresh.decide_many(["", b"", "acme-corp"], at=t0 + 2 * D, state=s) == bytes(
        fresh.decide(org=o, at=t0 + 2 * D, state=s).new for o in ["", "", "acme-corp"])


def test_decide_many_arguments(seed):
    with pytest.raises(TypeError, match="exactly one of"):
        seed.decide_many(at=0)
    with pytest.raises(TypeError, match="exactly one of"):
        seed.decide_many(["a"], users=["b"], at=0)
    with pytest.raises(TypeError, match="not a single id"):
        seed.decide_many("acme-corp", at=0)
    with pytest.raises(TypeError, match=r"orgs\[600\] must be str, bytes or None, not int"):
        seed.decide_many(["a"] * 600 + [7], at=0)
    with pytest.raises(TypeError):
        seed.decide_many(42, at=0)
    with pytest.raises(ValueError, match="naive"):
        seed.decide_many(["a"], at=dt.datetime(2026, 3, 1))
    with pytest.raises(rollout.StateError):
        seed.decide_many(["a"], at=0, state=rollout.State.new(
            rollout.Plan.from_file(rollout_path("examples/plans/minimal.yaml"))))


def loop_mask(plan, unit, ids, **kw):
    return bytes(plan.decide(**{unit: i}, **kw).new for i in ids)


class Str(str):
    pass


class Ids(list):
    """A list subclass is read through its own __iter__, as PySequence_Tuple does."""

    def __iter__(self):
        return iter(["acme-corp", "org_42", "initech"])


def test_decide_many_input_forms(seed, t0):
    s = seed_state(seed, t0 + 6 * D)
    when = t0 + 2 * D
    ids = ["org_42", b"org_42", Str("org_42"), "initech", None, "", b"", "café", "a\0b",
           b"\xff\xfe", "acme-corp", Str("naïve-org"), "x" * 300]
    want = loop_mask(seed, "org", ids, at=when, state=s)
    assert want[:3] == b"\x01\x01\x01" and want[4:7] == b"\x00\x00\x00"
    for form in (list, tuple, iter, lambda x: (i for i in x)):
        assert seed.decide_many(form(ids), at=when, state=s) == want
    # the list subclass's own iteration decides, not its stored items
    assert seed.decide_many(Ids(["globex"]), at=when, state=s) == loop_mask(
        seed, "org", ["acme-corp", "org_42", "initech"], at=when, state=s)
    # the type error names the first bad item, wherever it is
    with pytest.raises(TypeError, match=r"orgs\[2\] must be str, bytes or None, not bytearray"):
        seed.decide_many(("a", "b", bytearray(b"c")), at=when)
    # a str that has no UTF-8 form is refused as decide refuses it
    with pytest.raises(UnicodeEncodeError):
        seed.decide(org="\ud800", at=when)
    with pytest.raises(UnicodeEncodeError):
        seed.decide_many(["a", "\ud800"], at=when)


def test_decide_many_chunks(seed, t0):
    """Many ids, one of 3 MiB, None and bytes among them: each id still gets
    its own answer, and a bad item far into the list is reported by its
    index."""
    s = seed_state(seed, t0 + 6 * D)
    when = t0 + 2 * D
    ids = [f"org-{i}-{'p' * (i % 40)}" for i in range(140_000)]
    ids[70_001] = "z" * (3 << 20)
    ids[100_000] = None
    ids[100_001] = b"org_42"
    mask = seed.decide_many(ids, at=when, state=s)
    step = 7  # decide is slower: check a sample plus the odd ones
    sample = list(range(0, len(ids), step)) + [70_000, 70_001, 70_002, 100_000, 100_001]
    assert bytes(mask[i] for i in sample) == loop_mask(seed, "org", [ids[i] for i in sample],
                                                       at=when, state=s)
    assert seed.decide_many(tuple(ids), at=when, state=s) == mask
    assert 0.2 < sum(mask) / len(ids) < 0.3
    ids[131_072] = 7
    with pytest.raises(TypeError, match=r"orgs\[131072\] must be str, bytes or None, not int"):
        seed.decide_many(ids, at=when, state=s)


def test_decide_many_on_a_list_another_thread_changes(seed, t0):
    """decide_many reads the ids in place with the GIL held, so another
    thread that empties, refills and shrinks the list (dropping the strs it
    held) does so between calls, never under one: each answer is for the
    list as it was, and no freed memory is read."""
    import threading

    ids = [f"org-{i}" for i in range(300_000)]
    stop = threading.Event()

    def churn():
        k = 0
        while not stop.is_set():
            k += 1
            ids[:] = [f"new-{k}-{i}" for i in range(300_000)]
            del ids[150_000:]

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(40):
            mask = seed.decide_many(ids, at=t0 + 3 * D)
            # an answer for the list as it was when the call began
            assert len(mask) in (150_000, 300_000)
            assert set(mask) <= {0, 1}
    finally:
        stop.set()
        t.join()
