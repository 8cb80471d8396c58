# SPDX-License-Identifier: MIT
"""tests/vectors/attr_presence.json: an attribute that is absent against one
sent as the empty string, as the C tests (tests/c/test_attr_presence.c) and
the Lua specs read it. docs/targeting.md, "Attributes": attrs={"k": ""} is
the empty string, present; a missing key or attrs={"k": None} is absent.
"""

import json
import os

import pytest

import rollout
from conftest import VECTORS

with open(os.path.join(VECTORS, "attr_presence.json"), encoding="utf-8") as f:
    V = json.load(f)

PLAN = rollout.Plan.from_string(V["plan"], "attr_presence.json")


def _forms(case):
    """Every way the binding takes the case's request attributes."""
    k, v = case["attr"], case["value"]
    if v is None:
        return [{}, {k: None}, {"unrelated": ""}]
    return [{k: v}, {k.encode(): v.encode()}]


@pytest.mark.parametrize("case", V["cases"], ids=lambda c: f"{c['attr']}={c['value']!r}")
def test_attr_presence_vectors(case):
    want_new = case["cohort"] is not None
    for attrs in _forms(case):
        d = PLAN.decide(user=V["user"], attrs=attrs, at=V["now"])
        assert d.cohort == case["cohort"], attrs
        assert d.new == want_new, attrs
        # the batch entry point, the user varying
        assert PLAN.decide_many(users=[V["user"], V["user"]], attrs=attrs,
                                at=V["now"]) == bytes([want_new] * 2), attrs
