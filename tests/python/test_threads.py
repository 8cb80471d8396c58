# SPDX-License-Identifier: MIT
"""Threads: one shared plan decided from many threads gives exactly the
single-threaded answers, for decide and decide_many (GIL held: an id
costs less than a release), evaluate (GIL released while the C runs) and
plan loading (GIL released)."""

import os
import random
import threading

import rollout
from conftest import D, H, METRICS, seed_state

N_THREADS = 8


def run_threads(target, n=N_THREADS):
    results = [None] * n
    errors = []
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def contexts(seed, n=20_000):
    rng = random.Random(5)
    states = [None, seed_state(seed, seed.start + 6 * D), seed_state(seed, seed.start + 13 * H)]
    out = []
    for _ in range(n):
        out.append(dict(org=rng.choice(["acme-corp", "globex", f"org-{rng.randrange(10**6)}"]),
                        user=f"u{rng.randrange(10**6)}", session=f"s{rng.randrange(100)}",
                        attrs={"email": "dev@example.com"} if rng.random() < 0.2 else None,
                        at=seed.start + rng.randrange(-H, 8 * D), state=rng.choice(states)))
    return out


def test_decide_from_many_threads(seed):
    ctxs = contexts(seed)
    want = [seed.decide(**c) for c in ctxs]
    results = run_threads(lambda i: [seed.decide(**c) for c in ctxs])
    for got in results:
        assert got == want
    assert any(d.new for d in want) and not all(d.new for d in want)


def test_decide_many_from_many_threads(seed):
    orgs = [f"org-{i}" for i in range(200_000)]
    state = seed_state(seed, seed.start + 6 * D)
    times = [seed.start + 2 * D, seed.start + 3 * D, seed.start + 4 * D]
    want = [seed.decide_many(orgs, at=t, state=state) for t in times]
    results = run_threads(lambda i: seed.decide_many(orgs, at=times[i % 3], state=state))
    for i, got in enumerate(results):
        assert got == want[i % 3]
    assert 0.2 < sum(want[0]) / len(orgs) < 0.3  # 25 % of the orgs on day 2


def test_evaluate_and_load_from_many_threads(seed):
    m = rollout.Metrics.from_file(os.path.join(METRICS, "post-rollout.json"))
    want = seed.evaluate(bake=True, metrics=m)
    yaml = rollout.Plan.seed_yaml()

    def work(i):
        plan = rollout.Plan.from_string(yaml)
        return plan.fingerprint, [seed.evaluate(bake=True, metrics=m) for _ in range(50)]

    for fingerprint, evaluations in run_threads(work):
        assert fingerprint == seed.fingerprint
        assert all(e == want for e in evaluations)


def test_states_are_shared_safely(seed):
    s = seed_state(seed, seed.start + 3 * H)

    def work(i):
        out = []
        for k in range(200):
            nxt, actions = s.apply("tick", at=seed.start + 5 * H + k)
            out.append((nxt.encode(), [str(a) for a in actions]))
        return out

    results = run_threads(work)
    assert all(r == results[0] for r in results)
    assert s.phase == "canary"  # apply never changes the state it is called on
