# SPDX-License-Identifier: MIT
"""The compatibility bucket functions against the peer SDKs' own answers
(tests/vectors/compat/vectors.json, as tests/c/test_bucket_compat.c reads
it): through rollout.bucket_with for every id, and through a plan in each
mode (Plan.decide and Plan.decide_many) at 25 %."""

import json
import os

import pytest

import rollout
from conftest import VECTORS

with open(os.path.join(VECTORS, "compat", "vectors.json"), encoding="utf-8") as f:
    COMPAT = json.load(f)

WEIGHTS = COMPAT["weights"]
IDS = [bytes.fromhex(i["hex"]) if isinstance(i, dict) else i.encode() for i in COMPAT["ids"]]
MODES = {m["hash"]: m for m in COMPAT["modes"]}


def first_in(bucket):
    return next((k for k, w in enumerate(WEIGHTS) if bucket < w), len(WEIGHTS))


def test_the_file_covers_what_it_should():
    assert len(IDS) >= 10000
    assert set(MODES) == {"unleash", "growthbook_v1", "growthbook_v2", "launchdarkly", "flagd"}
    assert WEIGHTS[0] == 0 and WEIGHTS[-1] == 100000
    assert sum(1 for w in WEIGHTS if 24990 <= w <= 25010) == 21


@pytest.mark.parametrize("hash", sorted(MODES))
def test_every_peer_answer(hash):
    mode = MODES[hash]
    mismatches = []
    for i, (uid, want) in enumerate(zip(IDS, mode["first_in"])):
        if not uid:
            assert want == len(WEIGHTS)  # no peer puts the empty id in
            with pytest.raises(rollout.ArgumentError):
                rollout.bucket_with(hash, mode["key"], uid)
            continue
        b = rollout.bucket_with(hash, mode["key"], uid)
        if first_in(b) != want:
            mismatches.append((i, uid[:40], b, want))
    assert not mismatches[:5], "%d ids differ from %s %s" % (
        len(mismatches), mode["peer"], mode["version"])


PLAN = """format: 1
id: compat
salt: s1
start: 2026-01-01T00:00:00Z
bucketing: {hash: %s, key: "%s"}
versions: {stable: a, new: b}
cohorts: [{id: all, match: {everyone: true}}]
rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}
phases: [{id: p, cohort: all, steps: [{at: 0, weight: 25%%, unit: user}]}]
"""


@pytest.mark.parametrize("hash", sorted(MODES))
def test_decide_in_each_mode(hash):
    mode = MODES[hash]
    plan = rollout.Plan.from_string(PLAN % (hash, mode["key"]))
    assert plan.hash == hash
    k = WEIGHTS.index(25000)
    at = 1767312000  # 2026-01-02
    ids = [u for u in IDS[:3000] if u]
    want = [mode["first_in"][IDS.index(u)] <= k for u in ids[:300]]
    got = [plan.decide(user=u, at=at).new for u in ids[:300]]
    assert got == want
    many = plan.decide_many(users=ids, at=at)
    assert list(many) == [int(mode["first_in"][i] <= k) for i in range(3000) if IDS[i]]


def test_default_is_xxh3():
    assert rollout.Plan.seed().hash == "xxh3"
    assert rollout.bucket_with("xxh3", "ledger-v2-2026-02", "acme-corp") == 82372
    with pytest.raises(rollout.ArgumentError):
        rollout.bucket_with("murmur", "k", "a")
