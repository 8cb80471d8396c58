# SPDX-License-Identifier: MIT
"""Error mapping: every exception class, its attributes and the C message.

tests/plans/invalid/*.yaml are read exactly as tests/c/test_plan.c reads
them: the first line is "# expect: CODE LINE:COL FIELD: TEXT" (FIELD "-"
when there is none) and the message must be "FILE:LINE:COL: FIELD: TEXT".
"""

import os
import re
import subprocess

import pytest

import rollout
from conftest import INVALID, METRICS, PLANS, find_cli

CLASSES = [rollout.PlanError, rollout.StateError, rollout.TransitionError,
           rollout.MetricsError, rollout.ArgumentError, rollout.NotFoundError]


def test_hierarchy():
    for cls in CLASSES:
        assert issubclass(cls, rollout.Error) and cls.__module__ == "rollout"
    assert issubclass(rollout.Error, Exception)
    assert issubclass(rollout.ArgumentError, ValueError)
    assert issubclass(rollout.NotFoundError, LookupError)
    assert len(set(CLASSES)) == len(CLASSES)


def parse_expect(path):
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8")
    m = re.match(r"# expect: (\S+) (\d+):(\d+) (.*)\n", first)
    assert m, f"{path}: the first line must be an expect line"
    code, line, col, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    if rest.startswith("- "):
        field, text = "", rest[2:]
    else:
        field, text = rest.split(": ", 1)
    return code, line, col, field, text


def expected_message(name, line, col, field, text):
    pos = f"{line}:{col}:" if line > 0 else ""
    return f"{name}:{pos} {field}: {text}" if field else f"{name}:{pos} {text}"


def invalid_plans():
    names = sorted(n for n in os.listdir(INVALID) if n.endswith(".yaml"))
    assert len(names) >= 35
    return names


@pytest.mark.parametrize("name", invalid_plans())
def test_invalid_plan(name):
    path = os.path.join(INVALID, name)
    code, line, col, field, text = parse_expect(path)
    with pytest.raises(rollout.PlanError) as e:
        rollout.Plan.from_file(path)
    err = e.value
    assert err.code_name == code and rollout.code_name(err.code) == code
    assert (err.line, err.column) == ((line, col) if line > 0 else (None, None))
    assert err.field == (field or None)
    assert err.path == path
    assert err.message == str(err) == expected_message(path, line, col, field, text)
    # the same bytes through the buffer entry point, under another name
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(rollout.PlanError) as e:
        rollout.Plan.from_string(data, name)
    assert e.value.message == expected_message(name, line, col, field, text)
    assert e.value.path == name


def test_plan_error_text_is_what_the_cli_prints():
    cli = find_cli()
    if not cli:
        pytest.skip("no rollout tool (set ROLLOUT_CLI)")
    path = os.path.join(INVALID, "bad-unit.yaml")
    run = subprocess.run([cli, "validate", path], capture_output=True, text=True)
    assert run.returncode != 0
    with pytest.raises(rollout.PlanError) as e:
        rollout.Plan.from_file(path)
    assert e.value.message in run.stderr


def test_missing_plan_file(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(rollout.PlanError) as e:
        rollout.Plan.from_file(missing)
    assert e.value.code_name == "ROLLOUT_ERR_IO" and e.value.path == missing
    assert e.value.line is None and missing in str(e.value)


def test_plan_syntax_error_in_a_string():
    with pytest.raises(rollout.PlanError) as e:
        rollout.Plan.from_string("format: 1\nid: [unclosed\n")
    assert e.value.code_name == "ROLLOUT_ERR_SYNTAX"
    assert e.value.path == "<buffer>" and e.value.line >= 2
    with pytest.raises(rollout.PlanError) as e:
        rollout.Plan.from_string("")
    assert e.value.code_name == "ROLLOUT_ERR_EMPTY"
    with pytest.raises(TypeError):
        rollout.Plan.from_string(42)


def test_state_errors(seed):
    with pytest.raises(rollout.StateError) as e:
        rollout.State.decode(seed, "rs1.AAAA")
    assert e.value.code_name == "ROLLOUT_ERR_STATE" and e.value.message
    other = rollout.Plan.from_file(os.path.join(PLANS, "minimal.yaml"))
    s = rollout.State.new(other)
    with pytest.raises(rollout.StateError) as e:
        seed.schedule(0, state=s)
    assert e.value.code_name == "ROLLOUT_ERR_STATE_PLAN"
    with pytest.raises(rollout.StateError):
        seed.calendar(state=s)


def test_transition_error(seed):
    s = rollout.State.new(seed)
    with pytest.raises(rollout.TransitionError) as e:
        s.apply("go", at=seed.start)
    err = e.value
    assert err.code_name == "ROLLOUT_ERR_TRANSITION" and err.code == 21
    assert err.message == str(err) and "not_started" in err.message
    assert err.line is None and err.path is None and err.field is None


def test_metrics_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("new:\n  requests: 100\n  errors: 200\n")
    with pytest.raises(rollout.MetricsError) as e:
        rollout.Metrics.from_file(str(bad))
    err = e.value
    assert err.code_name == "ROLLOUT_ERR_METRICS"
    assert err.path == str(bad) and err.line is not None and err.field
    assert err.message.startswith(f"{bad}:{err.line}:{err.column}: {err.field}: ")

    with pytest.raises(rollout.MetricsError) as e:  # not YAML at all: still a metrics error
        rollout.Metrics.from_string("new: [", "m.yaml")
    assert e.value.code_name == "ROLLOUT_ERR_SYNTAX" and e.value.path == "m.yaml"
    with pytest.raises(rollout.MetricsError):
        rollout.Metrics.from_file(str(tmp_path / "missing.yaml"))

    m = rollout.Metrics()
    for call in (lambda: m.set("latency_p95", float("nan")),
                 lambda: m.set("errors", -1),
                 lambda: m.set("availability", 1.5),
                 lambda: m.set_requests(10, 20),
                 lambda: m.set_requests(-1, 0),
                 lambda: m.set_latency(2.0, 1.0, 3.0),
                 lambda: m.set_latency_histogram([0.1, 0.2], [1, -1]),
                 lambda: rollout.Metrics.from_dict({"new": {"requests": 2.5}})):
        with pytest.raises(rollout.MetricsError):
            call()
    assert m.get("errors") is None  # refused values leave the snapshot unchanged
    with pytest.raises(rollout.ArgumentError):
        m.set("bad name!", 1)


def test_argument_and_not_found_errors(seed):
    with pytest.raises(rollout.ArgumentError) as e:
        rollout.bucket("salt", "")
    assert str(e.value) == "an empty id has no bucket"
    with pytest.raises(rollout.NotFoundError) as e:
        seed.evaluate("production", rollout.Metrics())
    assert e.value.code_name == "ROLLOUT_ERR_NOT_FOUND"
    with pytest.raises(LookupError):
        rollout.State.new(seed).apply("approve", at=seed.start, gate="x")


def test_errors_can_be_raised_and_caught_from_python():
    err = rollout.PlanError("made up")
    assert err.line is None and err.code is None and str(err) == "made up"
    with pytest.raises(rollout.Error):
        raise err


def test_metrics_dict_with_nan_names_the_problem(seed):
    # a NaN value makes the criteria that read it INCONCLUSIVE, naming where
    # it was; the snapshot itself loads (docs/evaluation.md)
    m = rollout.Metrics.from_dict({"new": {"latency_p95": float("nan")}})
    e = seed.evaluate("pilot", m)
    r = next(r for r in e.results if r.id == "latency-p95")
    assert r.verdict == "INCONCLUSIVE"
    assert "<dict>" in r.reason and "NaN" in r.reason
    with pytest.raises(rollout.MetricsError, match="<dict>"):
        rollout.Metrics.from_dict({"new": {"requests": -1}})
    assert os.path.isdir(METRICS)
