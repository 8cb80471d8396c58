# SPDX-License-Identifier: MIT
"""rollout.Store against a real redis-server: every operation, every error,
bad values written straight into Redis, concurrent operators in several
processes, plan edits, and rollout_ops.py --store end to end.

Each test that needs Redis starts its own server (fixture `redis`) on
127.0.0.1, on an ephemeral port, with its data in a temporary directory, and
stops it afterwards. A missing redis-server FAILS the suite: nothing here is
skipped. Values are read and written by hand with a few lines of RESP, so
the suite needs no Redis client library.
"""

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

import rollout
from conftest import H, PLANS, ROOT, give_go

SCRIPT = os.path.join(ROOT, "examples", "python", "rollout_ops.py")
KEY = b"0123456789abcdef0123456789abcdef"


# ---- a throw-away redis-server (tests/scripts/redis_server.py) ---------------------------

sys.path.insert(0, os.path.join(ROOT, "tests", "scripts"))
from redis_server import RedisServer, free_port  # noqa: E402


@pytest.fixture
def redis(tmp_path):
    d = tmp_path / "redis"
    d.mkdir()
    r = RedisServer(d)
    r.start()
    yield r
    r.kill()


@pytest.fixture
def key_file(tmp_path):
    p = tmp_path / "rollout.key"
    p.write_bytes(KEY + b"\n")
    return str(p)


@pytest.fixture(scope="module")
def plan():
    return rollout.Plan.seed()


def edited_plan(tmp_path, old="{at: 12h, weight: 50%, unit: user}",
                new="{at: 12h, weight: 40%, unit: user}"):
    with open(os.path.join(PLANS, "seed.yaml"), encoding="utf-8") as f:
        text = f.read()
    assert old in text
    p = tmp_path / "edited.yaml"
    p.write_text(text.replace(old, new), encoding="utf-8")
    return rollout.Plan.from_file(str(p))


def hash_name(plan):
    return f"rollout:{{{plan.id}}}:state"


def signed(plan, state, key=KEY, rev=None):
    rev = state.revision if rev is None else rev
    line = state.encode()
    mac = hmac.new(key, f"{hash_name(plan)}\n{rev}\n{line}".encode(), hashlib.sha256)
    return f"{line} hmac-sha256={mac.hexdigest()}"


def write_raw(redis, plan, rev, value):
    redis.cmd("HSET", hash_name(plan), "rev", rev, "value", value)


def started(store, plan):
    store.init(plan)
    state, _ = store.apply("start", at=plan.start)
    return state


# ---- operations ------------------------------------------------------------------------


def test_init_load_apply_put_watch(redis, key_file, plan):
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as store:
        assert store.name == redis.url + "/0" and not store.closed and store.plan is plan
        fresh = store.init()
        assert isinstance(fresh, rollout.State) and fresh.revision == 0
        assert store.load() == fresh

        state, actions = store.apply("start", at=plan.start)
        assert isinstance(state, rollout.State) and isinstance(actions[0], rollout.Action)
        assert (state.status, state.revision) == ("running", 1)
        # the same transition as the pure state machine, and stored signed
        want, want_actions = fresh.apply("start", at=plan.start)
        assert state == want and actions == want_actions
        rev, value = redis.cmd("HMGET", hash_name(plan), "rev", "value")
        assert rev == "1" and value == signed(plan, state)

        state, _ = store.apply("approve", at=plan.start + 2 * H, gate="canary-go",
                               role="engineering-lead")
        assert state.revision == 2 and state.approvals == {"canary-go": ("engineering-lead",)}

        # put: the raw compare-and-set
        nxt, _ = state.apply("pause", at=plan.start + 3 * H)
        store.put(nxt, 2)
        assert store.load().status == "paused"

        # watch: nothing newer, then another writer's change
        assert store.watch(3, timeout=0.1) is None
        assert store.watch(2, timeout=0.1) == nxt
        with rollout.Store(redis.url, key_file=key_file, plan=plan) as other:
            other.apply("resume", at=plan.start + 4 * H)
        seen = store.watch(3, timeout=2)
        assert seen is not None and seen.revision == 4 and seen.status != "paused"
    assert store.closed and store.name is None
    with pytest.raises(ValueError, match="closed"):
        store.load()
    store.close()  # twice is fine


def test_plan_per_call_and_no_plan(redis, plan):
    store = rollout.Store(redis.url)
    with pytest.raises(TypeError, match="no plan"):
        store.load()
    with pytest.raises(TypeError, match="no plan"):
        store.init()
    store.init(plan)
    state, _ = store.apply("start", at=plan.start, plan=plan)
    assert store.load(plan) == state
    assert store.watch(0, 0.5, plan=plan) == state
    assert repr(store).startswith("<rollout.Store redis://127.0.0.1:")
    store.close()
    assert repr(store) == "<rollout.Store closed>"


def test_apply_takes_an_evaluation_as_state_apply_does(redis, plan):
    with rollout.Store(redis.url, plan=plan) as store:
        started(store, plan)
        ev = plan.evaluate(gate="canary-go", metrics={
            "new": {"requests": 1000, "errors": 500}, "baseline": {"requests": 1000,
                                                                   "errors": 1}})
        state, _ = store.apply("verdict", at=plan.start + 2 * H, verdict=ev)
        assert state.last_verdict == ev.verdict


def test_unsigned_store_without_a_key(redis, plan):
    with rollout.Store(redis.url, plan=plan) as store:
        state = started(store, plan)
        assert redis.cmd("HGET", hash_name(plan), "value") == state.encode()


# ---- errors ----------------------------------------------------------------------------


def test_a_restored_backup_is_refused_by_a_holder(redis, key_file, plan):
    """A store restored from an older backup and written on by a fresh
    handle: a script that holds the rollback refuses to read or apply on it,
    and writes nothing, until the last good value is written back."""
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as store:
        started(store, plan)
        store.apply("pause", at=plan.start + H)
        store.apply("resume", at=plan.start + 2 * H)
        r3 = redis.cmd("HGET", hash_name(plan), "value")
        held, _ = store.apply("rollback", at=plan.start + 3 * H, reason="manual")
        good = redis.cmd("HGET", hash_name(plan), "value")
    write_raw(redis, plan, 3, r3)
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as fresh:
        forked, _ = fresh.apply("pause", at=plan.start + 4 * H)
        assert forked.revision == 4 and forked.status == "paused"
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as ops:
        ops.hold(held)
        with pytest.raises(rollout.ReplayError, match="does not follow"):
            ops.apply("resume", at=plan.start + 5 * H)
        with pytest.raises(rollout.ReplayError):
            ops.load()
        assert redis.cmd("HGET", hash_name(plan), "rev") == "4"
        write_raw(redis, plan, 4, good)
        assert ops.load() == held
    with rollout.Store(redis.url, key_file=key_file) as other:
        with pytest.raises(TypeError):
            other.hold("not a state")


def test_bad_urls_are_argument_errors():
    for url, part in (("http://x", "scheme"), ("redis://h:70000", "port"),
                      ("redis://h:6379/x", "")):
        with pytest.raises(rollout.ArgumentError) as e:
            rollout.Store(url)
        assert e.value.code_name == "ROLLOUT_ERR_VALUE" and url in str(e.value)
        assert part in str(e.value)
    with pytest.raises(rollout.ArgumentError) as e:
        rollout.Store("redis://ops:hunter2@h:70000")
    assert "hunter2" not in str(e.value) and "redis://ops:***@h:70000" in str(e.value)
    with pytest.raises(TypeError):
        rollout.Store(b"redis://h")
    with pytest.raises(rollout.ArgumentError):
        rollout.Store("redis://h", timeout_ms=0)


def test_bad_key_files(tmp_path):
    short = tmp_path / "short.key"
    short.write_bytes(b"too short\n")
    with pytest.raises(rollout.ArgumentError, match="16"):
        rollout.Store("redis://127.0.0.1:1", key_file=str(short))
    with pytest.raises(rollout.StoreError) as e:
        rollout.Store("redis://127.0.0.1:1", key_file=str(tmp_path / "missing.key"))
    assert e.value.code_name == "ROLLOUT_ERR_IO" and "missing.key" in str(e.value)
    with pytest.raises(rollout.ArgumentError, match="key"):
        rollout.Store("redis://127.0.0.1:1", require_signature=True)


def test_a_dead_store_fails_fast_naming_it():
    port = free_port()  # nothing listens there
    t = time.monotonic()
    with pytest.raises(rollout.StoreError) as e:
        rollout.Store(f"redis://127.0.0.1:{port}", timeout_ms=300)
    assert time.monotonic() - t < 1
    assert f"127.0.0.1:{port}" in str(e.value) and e.value.code_name == "ROLLOUT_ERR_STORE"
    assert not isinstance(e.value, rollout.StoreTimeoutError)


def test_a_silent_store_times_out():
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t = time.monotonic()
        with pytest.raises(rollout.StoreTimeoutError) as e:
            rollout.Store(f"redis://127.0.0.1:{port}", timeout_ms=300)
        assert time.monotonic() - t < 2
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, rollout.StoreError)
    assert f"127.0.0.1:{port}" in str(e.value)


def test_outage_after_open_keeps_nothing_half_written(redis, plan):
    store = rollout.Store(redis.url, plan=plan, timeout_ms=300)
    state = started(store, plan)
    redis.kill()
    t = time.monotonic()
    with pytest.raises(rollout.StoreError) as e:
        store.apply("pause", at=plan.start + H)
    assert time.monotonic() - t < 2 and str(redis.port) in str(e.value)
    with pytest.raises(rollout.StoreError):
        store.watch(state.revision, 0.2)
    store.close()


def test_conflicts_not_found_and_refused_events(redis, plan):
    with rollout.Store(redis.url, plan=plan) as store:
        with pytest.raises(rollout.NotFoundError):
            store.load()
        with pytest.raises(rollout.NotFoundError):
            store.apply("start", at=plan.start)
        state = started(store, plan)
        with pytest.raises(rollout.ConflictError):
            store.init()  # never replaces a state
        nxt, _ = state.apply("pause", at=plan.start + H)
        with pytest.raises(rollout.ConflictError):
            store.put(nxt, 0)  # the stored revision is 1
        with pytest.raises(rollout.ArgumentError):
            store.put(state, 1)  # not above
        with pytest.raises(rollout.TransitionError):
            store.apply("resume", at=plan.start + H)  # not paused
        with pytest.raises(rollout.NotFoundError):
            store.apply("go", at=plan.start + H, gate="no-such-gate")
        with pytest.raises(ValueError):
            store.apply("no-such-event")
        with pytest.raises(TypeError):
            store.put("rs1.x", 1)
        assert store.load() == state  # nothing written by any of them


def test_one_thread_at_a_time_and_the_gil_is_released(redis, plan):
    store = rollout.Store(redis.url, plan=plan)
    started(store, plan)
    ticks = []
    errors = []

    def waiter():
        try:
            store.watch(1, timeout=3.0)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    end = time.monotonic() + 0.6
    while time.monotonic() < end:  # runs while the other thread waits in C
        ticks.append(plan.decide(org="acme-corp").variant)
    with pytest.raises(RuntimeError, match="one Store per thread"):
        store.load()
    t.join()
    assert not errors and len(ticks) > 1000
    store.close()


# ---- bad values written straight into Redis ---------------------------------------------


def test_bad_values_are_refused_and_the_last_good_state_kept(redis, key_file, plan, tmp_path):
    writer = rollout.Store(redis.url, key_file=key_file, plan=plan)
    good = started(writer, plan)
    good, _ = writer.apply("pause", at=plan.start + H)          # revision 2
    reader = rollout.Store(redis.url, key_file=key_file, plan=plan, poll_interval_ms=50)
    held = reader.watch(0, 1)
    assert held == good

    paused_more, _ = good.apply("resume", at=plan.start + 2 * H)  # revision 3
    other_plan = edited_plan(tmp_path)
    other = good.migrate(other_plan)                             # revision 3, another plan
    old, _ = rollout.State.new(plan).apply("start", at=plan.start)  # revision 1
    bad_values = [
        ("unsigned", 3, paused_more.encode(), rollout.SignatureError),
        ("forged", 3, signed(plan, paused_more, key=b"x" * 32), rollout.SignatureError),
        ("another plan's", 3, signed(plan, other), rollout.StateError),
        ("replayed", 1, signed(plan, old), rollout.ReplayError),
    ]
    for what, rev, value, exc in bad_values:
        write_raw(redis, plan, rev, value)
        # a reader that loads refuses it
        with pytest.raises(exc) as e:
            reader.load()
        assert isinstance(e.value, rollout.StateError), what
        # a watcher reports it (at most once) and keeps the state it held
        got = []
        for _ in range(3):
            try:
                got.append(reader.watch(held.revision, 0.2))
            except rollout.Error as err:
                got.append(err)
        assert all(g is None or isinstance(g, exc) for g in got), (what, got)
        assert sum(isinstance(g, exc) for g in got) <= 1, (what, got)
        # an operator's write refuses to build on it: nothing written
        with pytest.raises(exc):
            writer.apply("escalate", at=plan.start + 3 * H)
        assert redis.cmd("HGET", hash_name(plan), "value") == value, what

    # the good value put back: the watcher moves on from its last good state
    write_raw(redis, plan, 3, signed(plan, paused_more))
    assert reader.watch(held.revision, 2) == paused_more
    reader.close()
    writer.close()


def test_a_reader_without_the_key_reads_unsigned_and_signed(redis, key_file, plan):
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as signer:
        state = started(signer, plan)
    with rollout.Store(redis.url, plan=plan) as reader:
        assert reader.load() == state


# ---- concurrent operators --------------------------------------------------------------

OPERATOR = r"""
import sys
import rollout
url, key_file, n, who = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan = rollout.Plan.seed()
accepted = 0
with rollout.Store(url, key_file=key_file, plan=plan) as store:
    for i in range(n):
        event = ("pause", "resume", "escalate")[(i + who) % 3]
        kw = {}
        if who == 0 and i == n // 2:
            event, kw = "rollback", {"reason": "critical_bug"}
        try:
            before = store.load().revision
            state, _ = store.apply(event, at=plan.start + 3600, **kw)
        except rollout.TransitionError:
            continue
        accepted += 1
print(accepted)
"""


def test_concurrent_operators_lose_no_transition(redis, key_file, plan):
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as store:
        started(store, plan)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(rollout.__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", OPERATOR, redis.url, key_file, "40",
                               str(who)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for who in range(6)]
    accepted = 0
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        accepted += int(out)
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as store:
        final = store.load()
        assert final.revision == 1 + accepted  # every accepted event is in the history
        assert final.status in ("rolling_back", "rolled_back")  # and the rollback holds
        assert accepted >= 2
        with pytest.raises(rollout.TransitionError):
            store.apply("resume", at=plan.start + 2 * H)


# ---- plan edits ------------------------------------------------------------------------


def test_an_edited_plan_keeps_the_rollback(redis, key_file, plan, tmp_path):
    with rollout.Store(redis.url, key_file=key_file, plan=plan) as store:
        started(store, plan)
        store.apply("rollback", at=plan.start + H, reason="critical_bug")
    edited = edited_plan(tmp_path)
    assert edited.id == plan.id and edited.fingerprint != plan.fingerprint

    # a reader with the edited plan refuses the state until it is migrated
    with rollout.Store(redis.url, key_file=key_file, plan=edited) as fresh:
        with pytest.raises(rollout.StateError):
            fresh.load()

    # the operator migrates: read with the old plan, carry over, compare-and-set
    with rollout.Store(redis.url, key_file=key_file) as store:
        state = store.load(plan)
        moved = state.migrate(edited)
        assert moved.revision == state.revision + 1 and moved.status == "rolling_back"
        store.put(moved, state.revision)
        with pytest.raises(rollout.ConflictError):
            store.put(moved, state.revision)  # once

    with rollout.Store(redis.url, key_file=key_file, plan=edited) as fresh:
        seen = fresh.load()
        assert seen == moved and seen.status == "rolling_back"
        assert seen.rollback_reason == "critical_bug"
        for ctx in ({"org": "acme-corp"}, {"attrs": {"email": "ana@example.com"}}):
            assert edited.decide(at=plan.start + 2 * H, state=seen, **ctx).variant == "stable"
        # a reader still on the old plan now refuses the new one, keeping its own
        with rollout.Store(redis.url, key_file=key_file, plan=plan) as old_reader:
            with pytest.raises(rollout.StateError):
                old_reader.load()


def test_an_incompatible_edit_is_refused_and_the_store_untouched(redis, plan, tmp_path):
    with rollout.Store(redis.url, plan=plan) as store:
        started(store, plan)
        state, _ = give_go(store, plan.start + 2 * H, "canary-go", plan=plan)
        renamed = edited_plan(tmp_path, "id: canary-go", "id: canary-gate")
        with pytest.raises(rollout.NotFoundError, match="canary-go"):
            state.migrate(renamed)
        assert store.load() == state


# ---- rollout_ops.py --store -------------------------------------------------------------


def ops(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(rollout.__file__)))
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)


def test_rollout_ops_on_a_store(redis, key_file, plan, tmp_path):
    s = ["--store", redis.url, "--key-file", key_file]
    run = ops(*s, "init", cwd=tmp_path)
    assert run.returncode == 0 and f"{redis.url}/0: new state for plan ledger-v2" in run.stdout
    run = ops(*s, "init", cwd=tmp_path)
    assert run.returncode == 1 and "already holds a state" in run.stderr
    run = ops(*s, "--at", "2026-02-28T09:00:00Z", "start", cwd=tmp_path)
    assert run.returncode == 0 and "start: running (revision 1" in run.stdout, run.stderr
    run = ops(*s, "--at", "2026-02-28T11:00:00Z", "approve", "canary-go", "engineering-lead",
              cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    run = ops(*s, "--at", "2026-02-28T11:00:00Z", "status", cwd=tmp_path)
    assert run.returncode == 0 and "revision 2" in run.stdout
    assert "approved by engineering-lead" in run.stdout
    run = ops(*s, "--at", "2026-02-28T12:00:00Z", "rollback", "critical_bug", cwd=tmp_path)
    assert run.returncode == 0 and "rolling_back (revision 3" in run.stdout
    run = ops(*s, "--at", "2026-02-28T12:00:00Z", "resume", cwd=tmp_path)
    assert run.returncode == 1 and "TransitionError" in run.stderr

    with rollout.Store(redis.url, key_file=key_file, plan=plan) as store:
        state = store.load()
        assert (state.status, state.revision) == ("rolling_back", 3)
        # what the script wrote is signed: an unsigned copy is refused by it
        write_raw(redis, plan, 3, state.encode())
    run = ops(*s, "status", cwd=tmp_path)
    assert run.returncode == 1 and "SignatureError" in run.stderr

    # usage errors (2): a bad URL, --key-file without --store, both --state and --store
    assert ops("--store", "http://x", "status", cwd=tmp_path).returncode == 2
    assert ops("--state", "f", "--key-file", key_file, "status", cwd=tmp_path).returncode == 2
    assert ops("--state", "f", "--store", redis.url, "status", cwd=tmp_path).returncode == 2

    # a dead store: exit 2, fast, naming it
    redis.kill()
    t = time.monotonic()
    run = ops(*s, "--at", "2026-02-28T12:00:00Z", "pause", cwd=tmp_path)
    assert run.returncode == 2 and f"127.0.0.1:{redis.port}" in run.stderr
    assert time.monotonic() - t < 10
