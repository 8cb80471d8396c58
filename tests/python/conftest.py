# SPDX-License-Identifier: MIT
"""Shared fixtures for the Python binding's tests.

The suite runs against whichever `rollout` is importable: the CMake build
(ctest sets PYTHONPATH=build/python) or a pip-installed package. Paths are
relative to the repository, found from this file, so pytest may be started
from anywhere.

Environment (all optional; ctest sets them):
  ROLLOUT_EXPECT_BUILD   the directory the imported module must come from
  ROLLOUT_DECIDE_BATCH   the C harness for the parity test (tests/python/decide_batch.c)
  ROLLOUT_CLI            the rollout tool (default: build/rollout when present)
  ROLLOUT_SEED_C         the seed_plan.c the CMake build generated
"""

import datetime as dt
import os
import shutil
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

try:
    import rollout
except ImportError:  # not installed and no PYTHONPATH: the default CMake build dir
    sys.path.insert(0, os.path.join(ROOT, "build", "python"))
    import rollout

VECTORS = os.path.join(ROOT, "tests", "vectors")
PLANS = os.path.join(ROOT, "examples", "plans")
METRICS = os.path.join(ROOT, "examples", "metrics")
INVALID = os.path.join(ROOT, "tests", "plans", "invalid")

UTC = dt.timezone.utc
H = 3600
D = 86400


def pytest_report_header(config):
    return f"rollout {rollout.__version__} from {os.path.dirname(rollout.__file__)}"


def pytest_configure(config):
    want = os.environ.get("ROLLOUT_EXPECT_BUILD")
    if want:
        got = os.path.realpath(rollout.__file__)
        if not got.startswith(os.path.realpath(want) + os.sep):
            raise pytest.UsageError(f"testing {got}, not the module built in {want}")


def tool(env_name, *candidates):
    """An executable from the environment, else from the CMake build the
    module was imported from (BUILD/python/rollout: the same build, so the
    same library and seed), else from the repository's build/, or None."""
    path = os.environ.get(env_name)
    if path:
        return path
    module_build = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(rollout.__file__))))
    for base in (module_build, os.path.join(ROOT, "build")):
        for c in candidates:
            full = os.path.join(base, c)
            if os.access(full, os.X_OK):
                return full
    return None


@pytest.fixture(scope="session")
def seed():
    return rollout.Plan.seed()


@pytest.fixture(scope="session")
def t0(seed):
    """The seed plan's start: 2026-02-28T09:00:00Z."""
    assert seed.start == 1772269200
    return seed.start


def at(*args):
    """An aware UTC datetime."""
    return dt.datetime(*args, tzinfo=UTC)


def give_go(target, at, gate=None, plan=None):
    """Gives gate (None: the next) its GO at `at` the regular way: every role
    that may approve it approves, a PASS verdict, then GO. target is a State
    or a Store (whose apply takes the same arguments); returns the GO's
    (state, actions)."""
    store = target if isinstance(target, rollout.Store) else None
    state = None if store else target

    def apply(*args, **kw):
        nonlocal state
        result = (store or state).apply(*args, **kw)
        state = result[0]
        return result

    for role in (plan or target.plan).roles:
        try:
            apply("approve", at=at, gate=gate, role=role)
        except rollout.TransitionError:
            pass  # not an approver of this gate
    apply("verdict", at=at, verdict="pass")
    return apply("go", at=at, gate=gate)


def seed_state(plan, until, gates=(("canary-go", 2 * H), ("pilot-go", 24 * H),
                                   ("ga-day2-go", 3 * D), ("ga-day3-go", 4 * D),
                                   ("ga-day4-go", 5 * D))):
    """The seed rollout started on time with every gate given GO (approved,
    PASS) when it fell due, up to `until` (as tests/c/test_decide.c builds it)."""
    s, _ = rollout.State.new(plan).apply("start", at=plan.start)
    for gate, offset in gates:
        if plan.start + offset > until:
            break
        s, _ = give_go(s, plan.start + offset, gate)
    return s


def find_cli():
    return tool("ROLLOUT_CLI", "rollout")


def have_valgrind():
    return shutil.which("valgrind") is not None
