# SPDX-License-Identifier: MIT
"""A short script under valgrind: no invalid access, no use of
uninitialised memory and no definitely lost block with a frame in the
binding or the library. The interpreter's own exit-time leaks are not
ours and are ignored by looking at the frames."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

import rollout
from conftest import METRICS, ROOT, have_valgrind

SCRIPT = textwrap.dedent("""
    import rollout
    p = rollout.Plan.seed()
    t0 = p.start
    for i in range(300):
        d = p.decide(org=f"org-{i}", user="u", session=b"s",
                     attrs={"email": "a@example.com", "k": f"v{i}"}, at=t0 + 3600)
        d.explain(); d.as_dict(); repr(d)
    s, actions = rollout.State.new(p).apply("start", at=t0)
    for role in ("engineering-lead", "product-lead"):
        s, actions = s.apply("approve", at=t0 + 7200, gate="canary-go", role=role)
    s, actions = s.apply("verdict", at=t0 + 7200, verdict="pass")
    s, actions = s.apply("go", at=t0 + 7200, gate="canary-go", by="engineering-lead",
                         why="valgrind")
    s, actions = s.apply("promote", at=t0 + 6 * 3600, why="all of the pilot")
    assert s.trail and s.attempt == 1
    s = rollout.State.decode(p, s.encode())
    p.decide_many([f"o{i}" for i in range(3000)], at=t0 + 86400 * 3, state=s)
    # decide_many reads a list's ids in place, with the GIL held: another
    # thread replacing them between calls must not free what is read
    import threading
    ids, stop = [f"o{i}" for i in range(70000)], threading.Event()
    def churn(k=0):
        while not stop.is_set():
            k += 1
            ids[:] = [f"n{k}-{i}" for i in range(70000)]
            del ids[60000 + k % 2 * 10000:]
    t = threading.Thread(target=churn)
    t.start()
    for _ in range(8):
        p.decide_many(ids, at=t0 + 86400 * 3, state=s)
    stop.set()
    t.join()
    p.schedule(t0 + 5 * 3600, state=s)
    p.calendar(state=s)
    for fmt in ("table", "json", "ics", "svg"):
        p.calendar_render(fmt, state=s)
    m = rollout.Metrics.from_file(METRICS + "/post-rollout.json")
    p.evaluate(bake=True, metrics=m)
    m2 = rollout.Metrics()
    m2.set_latency_histogram([0.1, 0.5, float("inf")], [10, 5, 1])
    m2.set_latency_samples([0.2] * 50, variant="baseline")
    for bad in ("format: 1\\nid: [x\\n", "", "format: 2\\n"):
        try:
            rollout.Plan.from_string(bad)
        except rollout.PlanError:
            pass
    for call in (lambda: p.decide(org=1), lambda: s.apply("start", at=t0 + 8000),
                 lambda: rollout.State.decode(p, "rs1.x"), lambda: m2.set("errors", -1),
                 lambda: p.decide_many(["a", 2], at=t0)):
        try:
            call()
        except (rollout.Error, TypeError):
            pass
""")

OUR_SOURCES = {f for d in ("lib", os.path.join("bindings", "python", "src"))
               for f in os.listdir(os.path.join(ROOT, d)) if f.endswith(".c")}
FRAME = re.compile(r"\((?:in )?[^()]*?([\w.-]+\.c):\d+\)|_rollout[.\w]*\.so")


def ours(record):
    for m in FRAME.finditer(record):
        if m.group(1) is None or m.group(1) in OUR_SOURCES:
            return True
    return False


@pytest.mark.skipif(not have_valgrind(), reason="valgrind is not installed")
def test_under_valgrind(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(f"METRICS = {METRICS!r}\n" + SCRIPT)
    env = dict(os.environ, PYTHONMALLOC="malloc",
               PYTHONPATH=os.path.dirname(os.path.dirname(rollout.__file__)))
    run = subprocess.run(
        ["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
         "--num-callers=40", sys.executable, "-B", str(script)],
        capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = re.split(r"\n==\d+== \n", run.stderr)
    bad = [r for r in records
           if ("definitely lost" in r or "Invalid " in r or "uninitialised" in r
               or "Mismatched free" in r) and ours(r)]
    assert not bad, "\n\n".join(bad[:3])
    assert "ERROR SUMMARY" in run.stderr
