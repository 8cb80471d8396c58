#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""haproxy_test.py --haproxy HAPROXY --module-dir DIR --cli ROLLOUT --library LIBROLLOUT_SO

Runs examples/haproxy/haproxy.cfg and rollout.lua in a real HAProxy
(Debian's, Lua 5.3, with the C module built for Lua 5.3 in DIR) on
loopback, master-worker with a master CLI socket, 2 threads, in a temporary
directory, with the demo backends served by this process, and checks the
points tests/lua/nginx_test.py checks of the nginx gateway:

1. every response came from exactly the backend the library decides for that
   request's org (header or cookie) / user / session / e-mail, with exactly
   the library's label in X-Rollout-Reason (expected answers from the
   library through tests/lua/expect.lua), from both threads: with no state
   file (the plan's schedule) and with a started one;
2. a rollback applied to the state file with `rollout state apply` turns
   every answer STABLE (ROLLED_BACK), and it reaches every request within
   1 s: measured over 5 rollbacks under concurrent load as the time from the
   start of `rollout state apply` to the last request sent that still got a
   non-STABLE answer; a state file that does not decode turns every answer
   STABLE with a STATE_UNREADABLE label (logged), until it is good again;
3. a reload (master CLI `reload`) with an edited plan (higher weights) under
   concurrent load fails no request, and the rollback holds: every answer,
   during and after, is the library's for the edited plan and the state
   `rollout state migrate` makes of the file's; once the file itself is
   migrated, the answers stay, and the gateway's plan copy is the edited plan;
4. a reload with a plan that does not load (a syntax error) and one with an
   edit the state cannot be carried to (the current phase renamed) both fail
   (`show proc` counts a failed reload; the master's log says why, with
   the plan's line and column), and the old worker keeps serving the same
   answers;
5. with the state file removed, the answers go back to the plan's schedule,
   and a reload to the first plan under load gives each request exactly one
   of the two plans' answers and then the first plan's;
6. with the internal cohort made `email equals ""` (reloaded), an empty
   X-Email header is in it and a missing one is not.

The configuration is the example's with the lines naming paths and ports
rewritten (each must match exactly once) plus an X-Worker header (the
thread). HAProxy is stopped on every exit path; the run is bounded by an alarm.
"""
import argparse
import http.server
import os
import shutil
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLE = os.path.join(SRC, "examples", "haproxy", "haproxy.cfg")
sys.path.insert(0, HERE)
import nginx_test as nt  # noqa: E402  (contexts, expected answers, request, check_all, plans)
sys.path.insert(0, os.path.join(SRC, "tests", "scripts"))
from redis_server import RedisServer  # noqa: E402


T0 = time.monotonic()


def log(*a):
    print("haproxy_test: [%5.1f s]" % (time.monotonic() - T0), *a, flush=True)


def make_config(prefix, module_dir, plan_file, state_file, port, stable_port, canary_port,
                threads=2, worker_header=True):
    """The example configuration with its paths and ports pointed at this run."""
    text = open(EXAMPLE).read()
    subs = [
        ("lua-prepend-path /opt/librollout/build/lua53/?.so cpath",
         "lua-prepend-path %s/?.so cpath" % module_dir),
        ("lua-load-per-thread /opt/librollout/examples/haproxy/rollout.lua",
         "lua-load-per-thread %s/examples/haproxy/rollout.lua" % SRC),
        ("setenv ROLLOUT_PLAN /etc/haproxy/rollout/plan.yaml", "setenv ROLLOUT_PLAN %s" % plan_file),
        ("setenv ROLLOUT_STATE /var/lib/haproxy/rollout.state",
         "setenv ROLLOUT_STATE %s" % state_file),
        ("bind 127.0.0.1:8080\n", "bind 127.0.0.1:%d\n" % port),
        ("server app-v1 127.0.0.1:8081\n", "server app-v1 127.0.0.1:%d\n" % stable_port),
        ("server app-v2 127.0.0.1:8082\n", "server app-v2 127.0.0.1:%d\n" % canary_port),
        ("nbthread 2\n", "nbthread %d\n" % threads),
    ]
    if worker_header:
        subs.append(("http-response set-header X-Rollout-Reason %[var(txn.rollout_reason)]\n",
                     "http-response set-header X-Rollout-Reason %[var(txn.rollout_reason)]\n"
                     "    http-response set-header X-Worker %[thread]\n"))
    return nt.write_rewritten(text, subs, os.path.join(prefix, "haproxy.cfg"), "haproxy_test")


class Backend(http.server.BaseHTTPRequestHandler):
    """A demo backend: answers its body ("stable\\n" or "canary\\n")."""
    protocol_version = "HTTP/1.1"
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # an old worker closing its idle server connections resets them


def start_backend(port, body):
    handler = type("B", (Backend,), {"body": body.encode()})
    srv = Server(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class HAProxy:
    """haproxy -W (master-worker) in the foreground of a child process."""

    def __init__(self, binary, prefix, conf, launcher=()):
        self.binary, self.prefix, self.conf = binary, prefix, conf
        self.launcher = list(launcher)
        self.sock = os.path.join(prefix, "master.sock")
        self.log_path = os.path.join(prefix, "haproxy.log")
        self.proc = None

    def start(self, port):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.launcher + [self.binary, "-W", "-S", self.sock, "-f",
                                                      self.conf], stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        nt.wait_serving(port, self.workers, "haproxy",
                        lambda: self.proc.poll() is not None and self.log())

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cli(self, command):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)  # else the master waits for more commands
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except OSError:  # the master re-executes itself on reload
                    break
                if not chunk:
                    break
                out += chunk
            return out.decode(errors="replace")
        finally:
            s.close()

    def proc_table(self):
        """(current worker pids, old worker pids, failed reloads) from `show proc`."""
        out = self.cli("show proc")
        workers, old, failed, section = set(), set(), None, None
        for line in out.splitlines():
            if line.startswith("#"):
                section = line
                continue
            parts = line.split()
            if len(parts) < 2:
                continue
            if parts[1] == "master" and "failed:" in line:
                failed = int(line.split("failed:")[1].split("]")[0])
            elif parts[1] == "worker":
                (old if section and "old" in section else workers).add(int(parts[0]))
        return workers, old, failed

    def workers(self):
        try:
            return self.proc_table()[0]
        except OSError:
            return set()

    def reload_and_wait(self, timeout=30):
        """Reloads through the master CLI and returns once the new worker
        serves and the old ones are gone; returns the old pids."""
        before, _, _ = self.proc_table()
        self.cli("reload")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                now, old, _ = self.proc_table()
            except OSError:
                now, old = set(), set()
            if now and not (now & before) and not old:
                return before
            time.sleep(0.05)
        raise AssertionError("the reload did not replace the workers: %s" % self.cli("show proc"))

    def reload_refused(self, timeout=30):
        """Reloads and returns once the master counts a failed reload; the
        workers must be the same as before."""
        before, _, failed = self.proc_table()
        self.cli("reload")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                now, _, f = self.proc_table()
            except OSError:
                f = failed
            if f is not None and f > failed:
                assert now == before, "a refused reload must keep the old worker (%s, %s)" % (
                    before, now)
                return
            time.sleep(0.05)
        raise AssertionError("no failed reload counted: %s" % self.cli("show proc"))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log_file.close()


def state_cli(cli, *args):
    res = subprocess.run([cli, "state", *args], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise AssertionError("rollout state %s: exit %d: %s" % (args, res.returncode, res.stderr))
    return res.stdout


def started_state(cli, state_file, plan_file):
    """A state file started at the plan's start (2000-01-01): the answers
    are the plan's schedule."""
    state_cli(cli, "init", "--force", "--state", state_file, "--plan", plan_file)
    state_cli(cli, "apply", "start", "--state", state_file, "--plan", plan_file,
              "--at", "2000-01-01T00:00:00Z")
    with open(state_file) as f:
        return f.read().strip()


def wait_for(port, contexts, want, what, timeout=5):
    """Until every context gets its wanted answer (the task has read the file)."""
    deadline = time.time() + timeout
    while True:
        try:
            return nt.check_all(port, contexts, want, what)
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def measure_rollback(cli, port, state_file, plan_file, contexts, want_sched, apply=None):
    """Applies a rollback under load (4 threads sending the contexts the
    schedule sends to the canary) and returns the propagation in seconds: from
    the start of `rollout state apply` (its run included: the file is replaced
    somewhere in it) to the send time of the last request answered non-STABLE.
    apply() rolls back some other way (the store)."""
    canary = [c for c, w in zip(contexts, want_sched) if w[0] == "new"]
    assert canary
    stop = threading.Event()
    last_new = [0.0]
    errors, sent = [], [0]
    lock = threading.Lock()

    def sender(k):
        i = k
        while not stop.is_set():
            c = canary[i % len(canary)]
            t = time.monotonic()
            try:
                status, body, reason, _ = nt.request(port, c)
            except Exception as e:
                errors.append("%r: %s" % (c, e))
                continue
            with lock:
                sent[0] += 1
                if status != 200:
                    errors.append("%r: HTTP %d" % (c, status))
                elif body != nt.UPSTREAM_BODY["stable"] or reason != "ROLLED_BACK":
                    last_new[0] = max(last_new[0], t)
            i += 4

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.4)
        t0 = time.monotonic()
        if apply:
            apply()
        else:
            state_cli(cli, "apply", "rollback", "manual", "--state", state_file, "--plan",
                      plan_file)
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, "requests failed: %s" % errors[:5]
    assert last_new[0] > 0, "no canary answer before the rollback: nothing was measured"
    return max(0.0, last_new[0] - t0), sent[0]


def check_during(during, wants, what):
    """Each answer sent during a reload is exactly one of wants' answers."""
    counts = [0] * len(wants)
    for j, (status, body, reason, _) in during:
        for k, want in enumerate(wants):
            if (status, body, reason) == (200, nt.UPSTREAM_BODY[want[j][0]], want[j][1]):
                counts[k] += 1
                break
        else:
            raise AssertionError("%s: answer %r to context %d is none of the expected" % (
                what, (status, body, reason), j))
    log("%s: %d requests, none failed, answers per plan %s" % (what, len(during), counts))
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--module-dir", required=True, help="the directory of the Lua 5.3 rollout.so")
    ap.add_argument("--cli", required=True, help="the rollout tool")
    ap.add_argument("--library", required=True, help="librollout.so.0 (for expect.lua)")
    ap.add_argument("--luajit", default=shutil.which("luajit") or "luajit")
    ap.add_argument("--contexts", type=int, default=600)
    ap.add_argument("--rollbacks", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    library, cli = os.path.abspath(args.library), os.path.abspath(args.cli)
    module_dir = os.path.abspath(args.module_dir)

    signal.signal(signal.SIGALRM,
                  lambda *_: (_ for _ in ()).throw(TimeoutError("haproxy_test: timed out")))
    signal.alarm(150)

    prefix = tempfile.mkdtemp(prefix="rollout-haproxy-")
    plan_file = os.path.join(prefix, "plan.yaml")
    state_file = os.path.join(prefix, "rollout.state")
    plan_b_file = os.path.join(prefix, "plan-b.yaml")
    with open(plan_file, "w") as f:
        f.write(nt.PLAN_A)
    with open(plan_b_file, "w") as f:
        f.write(nt.PLAN_B)
    port, stable_port, canary_port = nt.free_ports(3)
    backends = [start_backend(stable_port, nt.UPSTREAM_BODY["stable"]),
                start_backend(canary_port, nt.UPSTREAM_BODY["new"])]
    conf = make_config(prefix, module_dir, plan_file, state_file, port, stable_port, canary_port)
    hap = HAProxy(args.haproxy, prefix, conf)
    ok = False
    try:
        # settings and plans that cannot be used refuse the configuration
        for env, value, why in (("ROLLOUT_POLL_MS", "0", "ROLLOUT_POLL_MS must be"),
                                ("ROLLOUT_PLAN", os.path.join(prefix, "missing.yaml"),
                                 "cannot read the plan")):
            bad = conf + "." + env
            with open(conf) as f:
                text = f.read()
            line = next(l for l in text.splitlines() if l.strip().startswith("setenv " + env))
            with open(bad, "w") as f:
                f.write(text.replace(line, "    setenv %s %s" % (env, value)))
            res = subprocess.run([args.haproxy, "-c", "-f", bad], capture_output=True, text=True,
                                 timeout=30)
            assert res.returncode != 0 and why in res.stdout + res.stderr, (env, res)
        res = subprocess.run([args.haproxy, "-c", "-f", conf], capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, res
        assert not os.path.exists(state_file + ".plan"), "a configuration check wrote a file"
        hap.start(port)
        log("haproxy up on 127.0.0.1:%d (%s), worker %s" % (port, prefix, sorted(hap.workers())))
        contexts = nt.make_contexts(args.contexts, 20260228)

        # 1. no state file: the plan's schedule; then a started state: the same
        want_a = nt.expected(args.luajit, library, plan_file, None, contexts)
        assert any(v == "new" for v, *_ in want_a) and any(v == "stable" for v, *_ in want_a)
        seen = nt.check_all(port, contexts, want_a, "plan A, no state file")
        assert len(seen) == 2, "both threads must answer; saw %s" % seen
        # a header value with a comma is one id, as nginx's $http_x_* reads
        # it (HAProxy's req.hdr would take the part after the last comma)
        commas = []
        for i in range(12):
            commas.append({"org": "org-%d, acme-corp" % i, "org_in_cookie": False,
                           "user": "user-%d,user-%d" % (i, i + 1), "session": "s-c%d" % i,
                           "email": "dev%d@example.com, x@other.test" % i})
            commas.append({"org": None, "org_in_cookie": False, "user": "u,%d" % i,
                           "session": "s-d%d" % i, "email": "a@other.test,dev%d@example.com" % i})
        nt.check_all(port, commas, nt.expected(args.luajit, library, plan_file, None, commas),
                     "header values with commas")

        # 2. rollbacks through the state file, timed under load
        times, total = [], 0
        for r in range(args.rollbacks):
            started = started_state(cli, state_file, plan_file)
            want_s = nt.expected(args.luajit, library, plan_file, started, contexts)
            assert want_s == want_a
            wait_for(port, contexts, want_s, "plan A, started state (round %d)" % (r + 1))
            dt, n = measure_rollback(cli, port, state_file, plan_file, contexts, want_a)
            times.append(dt)
            total += n
            assert dt < 1.0, "round %d: a rollback took %.3f s to reach every request" % (r + 1, dt)
        log("rollback propagation over %d rollbacks (%d requests under load): median %.0f ms, "
            "max %.0f ms (limit 1 s; the task re-reads the file every 100 ms)"
            % (len(times), total, statistics.median(times) * 1000, max(times) * 1000))
        # 2b. the fleet's store: `rollout state follow` keeps the file equal
        # to it, so a rollback applied to the store reaches every request
        # within the same second; a store that goes away leaves the file
        rdir = os.path.join(prefix, "redis")
        os.makedirs(rdir)
        redis = RedisServer(rdir).start()
        key_file = os.path.join(prefix, "store.key")
        with open(key_file, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        on_store = ("--store", redis.url, "--key-file", key_file, "--plan", plan_file)
        follower = None
        try:
            state_cli(cli, "init", *on_store)
            state_cli(cli, "apply", "start", *on_store, "--at", "2000-01-01T00:00:00Z")
            # the file holds another history (the rounds above): the follower
            # would refuse to move it backwards, so the machine starts afresh
            os.unlink(state_file)
            follower = subprocess.Popen([cli, "state", "follow", "--to", state_file, *on_store],
                                        stderr=subprocess.PIPE, text=True)
            wait_for(port, contexts, want_a, "plan A, started state from the store")
            dt, n = measure_rollback(cli, port, state_file, plan_file, contexts, want_a,
                                     apply=lambda: state_cli(cli, "apply", "rollback", "manual",
                                                             *on_store))
            log("rollback through the store and `rollout state follow`: %.0f ms" % (dt * 1000))
            assert dt < 1.0, "a rollback in the store took %.3f s to reach every request" % dt
            redis.kill()
            time.sleep(1.5)
            assert follower.poll() is None, "the follower exited when the store went away"
            with open(state_file) as f:
                from_store = f.read().strip()
            assert nt.expected(args.luajit, library, plan_file, from_store, contexts)[0][0] \
                == "stable"
            follower.send_signal(signal.SIGTERM)
            _, err = follower.communicate(timeout=10)
            assert follower.returncode == 0, err
            assert "kept" in err, err   # the outage was reported, the file kept
        finally:
            if follower and follower.poll() is None:
                follower.kill()
            redis.kill()

        with open(state_file) as f:
            rolled_back = f.read().strip()
        want_rb = nt.expected(args.luajit, library, plan_file, rolled_back, contexts)
        assert all(v == "stable" for v, *_ in want_rb)
        seen = nt.check_all(port, contexts, want_rb, "after rollback")
        assert len(seen) == 2, "both threads must answer; saw %s" % seen

        # a state file that does not decode: everything STABLE, labelled with
        # why, until it is good again (the rolled-back state, put back)
        nt.replace_plan(state_file, "rs1.not-a-state\n")
        why = "STATE_UNREADABLE: not a valid rollout state"
        deadline = time.time() + 5
        while True:
            got = nt.request(port, contexts[0])[:3]
            if got[0] == 200 and got[2].startswith(why):
                break
            assert time.time() < deadline, got
            time.sleep(0.05)
        # that thread's task read the file; the other thread's within 100 ms
        wait_for(port, contexts, [("stable", got[2], "")] * len(contexts), "state file garbled")
        assert "unreadable, routing everything to stable" in hap.log()
        nt.replace_plan(state_file, rolled_back + "\n")
        wait_for(port, contexts, want_rb, "state file restored")

        # 3. an edited plan reloaded under load: the rollback holds
        migrated_file = os.path.join(prefix, "migrated.state")
        shutil.copy(state_file, migrated_file)
        state_cli(cli, "migrate", "--from", plan_file, "--state", migrated_file, plan_b_file)
        with open(migrated_file) as f:
            migrated = f.read().strip()
        want_b = nt.expected(args.luajit, library, plan_b_file, None, contexts)
        want_b_rb = nt.expected(args.luajit, library, plan_b_file, migrated, contexts)
        assert all(v == "stable" for v, *_ in want_b_rb)
        internal = [j for j, c in enumerate(contexts)
                    if c["email"] and c["email"].endswith("@example.com") and c["session"]]
        assert internal and all(want_b[j][0] == "new" for j in internal)
        nt.replace_plan(plan_file, nt.PLAN_B)
        during, _ = nt.reload_under_traffic(hap, port, contexts)
        check_during(during, [want_b_rb, want_rb], "reload to plan B after the rollback")
        # reload_and_wait returned once the old worker was gone: the new one answers
        nt.check_all(port, contexts, want_b_rb, "plan B after reload, still rolled back")
        # the operator migrates the file itself: same answers, and the copy
        # of the serving plan follows
        with open(state_file + ".plan") as f:
            assert f.read() == nt.PLAN_A, "the copy must stay plan A while the file holds A's state"
        state_cli(cli, "migrate", "--from", state_file + ".plan", "--state", state_file, plan_file)
        with open(state_file) as f:
            assert f.read().strip() == migrated
        deadline = time.time() + 5
        while open(state_file + ".plan").read() != nt.PLAN_B:
            assert time.time() < deadline, "the plan copy did not become plan B"
            time.sleep(0.05)
        nt.check_all(port, contexts, want_b_rb, "plan B, file migrated")

        # 4. a plan that does not load, and an edit the state cannot be
        # carried to: both reloads fail, the old worker keeps serving
        workers_b = hap.workers()
        nt.replace_plan(plan_file, nt.PLAN_B.replace("cohorts:\n", "cohorts: [\n", 1))
        hap.reload_refused()
        assert "plan.yaml:" in hap.log(), hap.log()[-2000:]
        nt.check_all(port, contexts, want_b_rb, "after a plan that does not load")
        nt.replace_plan(plan_file, nt.PLAN_B.replace("  - id: ga\n", "  - id: general\n"))
        hap.reload_refused()
        why = 'phase "ga" (the current phase) is not in the new plan'
        assert why in hap.log(), hap.log()[-2000:]
        assert hap.workers() == workers_b
        nt.check_all(port, contexts, want_b_rb, "after an edit that cannot be carried")
        log("refused reloads (a syntax error, the current phase renamed) keep the old worker")

        # 5. the state file removed: plan B's schedule; then plan A reloaded
        os.remove(state_file)
        nt.replace_plan(plan_file, nt.PLAN_B)
        wait_for(port, contexts, want_b, "plan B, state file removed")
        nt.replace_plan(plan_file, nt.PLAN_A)
        during, _ = nt.reload_under_traffic(hap, port, contexts)
        counts = check_during(during, [want_a, want_b], "reload to plan A, no state")
        assert counts[0] > 0, "no request reached the new plan during the reload"
        nt.check_all(port, contexts, want_a, "plan A after reload")

        # 6. an empty header against no header
        nt.replace_plan(plan_file, nt.PLAN_C)
        hap.reload_and_wait()
        internal_label = "IN_ROLLOUT cohort=internal phase=canary step=1 unit=session"
        for i in range(8):
            ctx = {"org": "org-%d" % i, "org_in_cookie": False, "user": "user-%d" % i,
                   "session": "s-empty-%d" % i, "email": ""}
            got = nt.request(port, ctx)[:3]
            assert got == (200, nt.UPSTREAM_BODY["new"], internal_label), ("empty X-Email", got)
            ctx["email"] = None
            got = nt.request(port, ctx)[:3]
            assert got[0] == 200 and " cohort=internal " not in got[2], ("no X-Email", got)
        log("plan C: an empty X-Email header is the empty string, none is absent")
        ok = True
    finally:
        hap.stop()
        for b in backends:
            b.shutdown()
        if not ok:
            sys.stderr.write("---- haproxy log (last lines) ----\n")
            try:
                sys.stderr.write("".join(hap.log().splitlines(True)[-40:]))
            except OSError:
                pass
        if not args.keep:
            shutil.rmtree(prefix, ignore_errors=True)
        signal.alarm(0)
    log("passed")


if __name__ == "__main__":
    main()
