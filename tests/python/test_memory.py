# SPDX-License-Identifier: MIT
"""Reference counting and leaks.

A leak of one small object per decide is 50+ MB over a million calls, so
bounds of a few MB on the process's resident size separate "leaks" from
"allocator noise" without being flaky. tracemalloc watches the Python
allocator (Decision objects, temporary bytes), getrefcount every argument
a call could forget to release, on success and on every error path.
"""

import datetime as dt
import gc
import os
import sys
import tracemalloc

import pytest

import rollout
from conftest import D, H, METRICS, PLANS, seed_state

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def grow(fn, n):
    fn(n // 5)  # warm up: caches, free lists, the allocator's arenas
    gc.collect()
    before = rss_bytes()
    fn(n)
    gc.collect()
    return rss_bytes() - before


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_a_million_decides_do_not_grow_the_process(seed):
    state = seed_state(seed, seed.start + 6 * D)
    when = dt.datetime(2026, 3, 3, 12, tzinfo=dt.timezone.utc)
    attrs = {"email": "dev@example.com", "country": "DE"}
    orgs = [f"org-{i}" for i in range(1000)] + ["acme-corp", "globex", "café-☕"]

    def run(n):
        decide = seed.decide
        k = len(orgs)
        for i in range(n):
            org = orgs[i % k]
            d = decide(org=org, user=org, session=b"s", attrs=attrs, at=when, state=state)
            if i % 1000 == 0:
                d.explain()
                d.as_dict()
                repr(d)

    assert grow(run, 1_000_000) < 4 << 20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_other_calls_do_not_grow_the_process(seed, t0):
    metrics = rollout.Metrics.from_file(os.path.join(METRICS, "healthy.yaml"))
    orgs = [f"org-{i}" for i in range(2000)]
    text = rollout.State.new(seed).apply("start", at=t0)[0].encode()
    seed_yaml = rollout.Plan.seed_yaml()

    def run(n):
        for i in range(n // 100):
            s = rollout.State.decode(seed, text)
            for role in ("engineering-lead", "product-lead"):
                s, actions = s.apply("approve", at=t0 + 2 * H, gate="canary-go", role=role)
            s, actions = s.apply("verdict", at=t0 + 2 * H, verdict="pass")
            s, actions = s.apply("go", at=t0 + 2 * H, gate="canary-go", by="engineering-lead",
                                 why="memory check")
            s.encode()
            seed.schedule(t0 + 5 * H, state=s)
            seed.calendar(state=s)
            seed.evaluate("pilot", metrics)
            seed.decide_many(orgs, at=t0 + 3 * D, state=s)
            rollout.Plan.from_string(seed_yaml)
            rollout.Metrics.from_dict({"new": {"requests": 10, "errors": 1}})
            if i % 10 == 0:
                seed.calendar_render("svg", state=s)

    assert grow(run, 100_000) < 4 << 20


def test_tracemalloc_sees_no_growth(seed, t0):
    tracemalloc.start()
    try:
        def run(n):
            for i in range(n):
                seed.decide(org="acme-corp", user=str(i % 100), at=t0 + 13 * H).explain()

        run(20_000)
        gc.collect()
        before = tracemalloc.take_snapshot()
        run(200_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    diff = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert diff < 64 << 10, [str(s) for s in after.compare_to(before, "lineno")[:5]]


def refcounts(objs):
    return [sys.getrefcount(o) for o in objs]


def test_arguments_are_released_on_success(seed, t0):
    org, user, attrs = "org-" + "x" * 20, "user-" + "y" * 20, {"email": "a@example.com"}
    state = seed_state(seed, t0 + 2 * D)
    when = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    objs = [seed, org, user, attrs, state, when]
    base = refcounts(objs)
    keep = [seed.decide(org=org, user=user, attrs=attrs, at=when, state=state)
            for _ in range(1000)]
    assert refcounts(objs)[0] > base[0]  # each decision holds its plan
    del keep
    gc.collect()
    assert refcounts(objs) == base
    for _ in range(1000):
        seed.decide_many([org, user], attrs=attrs, at=when, state=state)
        state.apply("tick", at=t0 + 2 * D + 60)
        seed.schedule(when, state=state)
    assert refcounts(objs) == base


def test_arguments_are_released_on_errors(seed, t0):
    org, attrs = "org-" + "z" * 20, {"email": "a@example.com", "k": 7}
    good_attrs = {"email": "a@example.com"}
    other = rollout.State.new(rollout.Plan.from_file(os.path.join(PLANS, "minimal.yaml")))
    naive = dt.datetime(2026, 3, 1)
    state = rollout.State.new(seed)
    objs = [seed, org, attrs, good_attrs, other, naive, state]
    base = refcounts(objs)
    calls = [
        lambda: seed.decide(org=org, attrs=attrs, at=t0),             # attr value type
        lambda: seed.decide(org=org, attrs=good_attrs, at=naive),     # naive time
        lambda: seed.decide(org=org, attrs=good_attrs, state=other),  # other plan's state
        lambda: seed.decide(org=org, user=3, attrs=good_attrs),       # id type
        lambda: seed.decide(org=org, bogus=1),                        # keyword
        lambda: seed.decide_many([org, 5], attrs=good_attrs, at=t0),
        lambda: seed.decide_many([org], attrs=attrs, at=t0),
        lambda: state.apply("go", at=t0),                             # transition
        lambda: state.apply("approve", at=t0, gate="nope", role="sre"),
        lambda: state.apply("launch", at=t0),
        lambda: rollout.State.decode(seed, "rs1.AAAA"),
        lambda: rollout.Plan.from_string("format: 1\nid: [x\n"),
        lambda: rollout.Metrics().set("errors", -1),
        lambda: seed.evaluate("nope", rollout.Metrics()),
        lambda: rollout.bucket("s", ""),
    ]
    for _ in range(300):
        for call in calls:
            with pytest.raises((rollout.Error, TypeError, ValueError)):
                call()
    gc.collect()
    assert refcounts(objs) == base


class Str(str):
    pass


def test_decide_many_drops_the_references_it_holds(seed, t0):
    """Whatever decide_many takes from the ids (a UTF-8 copy of a str on
    3.8/3.9, a temporary for a subclass), it gives back: the items'
    reference counts are unchanged after success, and after an item near
    the start or far into the list is refused."""
    s = seed_state(seed, t0 + 6 * D)
    ids = [f"org-{i}-é" if i % 3 else f"org-{i}" for i in range(70_000)]
    ids[5], ids[6], ids[7], ids[66_000] = b"org_42", Str("naïve"), None, "x" * 5000
    watched = [o for o in ids[:20] + ids[65_530:65_540] + ids[66_000:66_010] if o is not None]
    base = refcounts(watched)
    small = ids[:1000]
    for form in (ids, tuple(ids), small, tuple(small)):
        mask = seed.decide_many(form, at=t0 + 2 * D, state=s)
        assert len(mask) == len(form)
    del form, small
    assert refcounts(watched) == base
    for bad_at in (3000, 66_005):
        bad = list(ids)
        bad[bad_at] = 7
        with pytest.raises(TypeError, match=rf"orgs\[{bad_at}\] must be"):
            seed.decide_many(bad, at=t0 + 2 * D, state=s)
        del bad
        assert refcounts(watched) == base
