#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nginx_test.py --nginx NGINX --library LIBROLLOUT_SO

Runs examples/nginx/nginx.conf in a real nginx (Debian's nginx and lua
module as installed) on loopback, with its own prefix under a temporary
directory, master + 2 workers, and checks, request by request, that:

1. every response came from exactly the upstream the library decides for
   that request's org / user / session / e-mail, with exactly the library's
   label of that decision in X-Rollout-Reason (expected answers come from
   the library, through tests/lua/expect.lua, not from approximate shares),
   and the admin location's /explain gives, for a sample of those contexts,
   exactly the library's explanation;
2. after a rollback POSTed to the admin endpoint, every following response,
   from every worker, is stable, as the library decides with the state the
   endpoint returned;
3. after that rollback, the plan file is edited (higher weights) and nginx
   reloaded (HUP) while requests keep coming: no request fails, and the
   rollback holds: the new generation carries the state over to the edited
   plan (revision + 1) and every answer, @example.com ones included, is
   stable, where the edited plan's own schedule would send some to the
   canary;
4. an edit the state cannot be carried to (the current phase renamed)
   makes the reload fail: the old workers, plan and state keep serving, and
   the error log says why;
5. once the state is deleted through the admin endpoint (an explicit
   operator action), a reload to the first plan under traffic fails no
   request, each answer during it is either plan's exact answer, and
   afterwards every answer is the first plan's schedule: no state left in
   the dict by an earlier generation comes back;
6. in the workers, LuaJIT compiled gateway.route() from its entry and no
   trace in the binding aborted on something it cannot compile (jit.v's
   log, started in init_by_lua);
7. with the internal cohort's rule made `email equals ""` (plan C, reloaded),
   a request whose X-Email header is sent empty is in that cohort and one
   without the header is not: an empty header is the empty string, a
   missing one an absent attribute (docs/targeting.md, "Attributes").

The configuration is the example's, with only the lines that name paths and
ports rewritten (each must match exactly once, so the example cannot drift
from what is tested) plus an X-Worker header to tell the workers apart and
the jit.v log.
nginx is stopped on every exit path; the whole run is bounded by an alarm.
"""
import argparse
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import json
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLE = os.path.join(SRC, "examples", "nginx", "nginx.conf")

# Plan A (tests/lua/nginx_plan.yaml) and plan B differ only in their
# weights (every step has happened since the start, so the answers do not
# depend on the clock): B ramps every cohort further, so every unit on the
# canary under A stays there under B.
with open(os.path.join(HERE, "nginx_plan.yaml")) as f:
    PLAN_A = f.read()


def ramped(plan):
    """plan with the pilot at 60 % and GA at 50 % (from 30 % and 20 %)."""
    for was, now in (("weight: 30%, unit: user", "weight: 60%, unit: user"),
                     ("weight: 20%, unit: org", "weight: 50%, unit: org")):
        assert plan.count(was) == 1, was
        plan = plan.replace(was, now)
    return plan


PLAN_B = ramped(PLAN_A)

# Plan C: plan A whose internal cohort takes the requests with an empty e-mail.
assert PLAN_A.count("match: {attr: email, matches: '@example\\.com$'}") == 1
PLAN_C = PLAN_A.replace("match: {attr: email, matches: '@example\\.com$'}",
                        "match: {attr: email, equals: \"\"}")


def log(*a):
    print("nginx_test:", *a, flush=True)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def make_config(prefix, plan_file, library, port, stable_port, canary_port, workers=2,
                extra_header=True, jit_log=None):
    """The example configuration with its paths and ports pointed at this run;
    jit_log: a file for LuaJIT's trace log (jit.v, started in init_by_lua)."""
    text = open(EXAMPLE).read()
    subs = [
        ('lua_package_path "/opt/librollout/bindings/lua/?.lua;;";',
         'lua_package_path "%s/bindings/lua/?.lua;;";' % SRC),
        # the FFI module finds librollout.so.0 through lua_package_cpath
        ('lua_package_cpath "/opt/librollout/build/?.so;;";',
         'lua_package_cpath "%s/?.so;;";' % os.path.dirname(os.path.abspath(library))),
        ('plan = "/etc/nginx/rollout/plan.yaml",', 'plan = "%s",' % plan_file),
        ("listen 127.0.0.1:8080;", "listen 127.0.0.1:%d;" % port),
        ("server 127.0.0.1:8081;", "server 127.0.0.1:%d;" % stable_port),
        ("listen 127.0.0.1:8081;", "listen 127.0.0.1:%d;" % stable_port),
        ("server 127.0.0.1:8082;", "server 127.0.0.1:%d;" % canary_port),
        ("listen 127.0.0.1:8082;", "listen 127.0.0.1:%d;" % canary_port),
        ("worker_processes 2;", "worker_processes %d;" % workers),
    ]
    if jit_log:
        subs.append(("    init_by_lua_block {\n",
                     "    init_by_lua_block {\n        require(\"jit.v\").start(\"%s\")\n" % jit_log))
    if extra_header:
        subs.append(("add_header X-Rollout-Reason $rollout_reason always;",
                     "add_header X-Rollout-Reason $rollout_reason always;\n"
                     "            add_header X-Worker $pid always;"))
    return write_rewritten(text, subs, os.path.join(prefix, "nginx.conf"), "nginx_test")


def write_rewritten(text, subs, path, who):
    """Writes text with each (old, new) of subs replaced to path; each old
    must occur exactly once, so an example cannot drift from what is tested."""
    for old, new in subs:
        n = text.count(old)
        if n != 1:
            raise SystemExit("%s: the example has %d occurrences of %r (want 1)" % (who, n, old))
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)
    return path


def wait_serving(port, workers, what, exited=lambda: None):
    """Waits up to 15 s until 127.0.0.1:port accepts and workers() is not
    empty; exited() returns a reason when the server died meanwhile."""
    deadline = time.time() + 15
    while time.time() < deadline:
        why = exited()
        if why:
            raise RuntimeError("%s exited: %s" % (what, why))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if workers():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s did not start listening on %d" % (what, port))


class Nginx:
    def __init__(self, binary, prefix, conf, launcher=()):
        # launcher: a command prefix such as taskset (the benchmark pins nginx)
        self.binary, self.prefix, self.conf, self.launcher = binary, prefix, conf, list(launcher)

    def cmd(self, *extra):
        return self.launcher + [self.binary, "-p", self.prefix, "-c", self.conf,
                "-e", os.path.join(self.prefix, "logs", "error.log"), *extra]

    def start(self, port):
        subprocess.run(self.cmd(), check=True, timeout=20)
        # the master listens before its workers exist: wait for them too
        wait_serving(port, self.workers, "nginx")

    def master_pid(self):
        try:
            with open(os.path.join(self.prefix, "logs", "nginx.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def workers(self):
        """{pid: cmdline} of the master's children."""
        master = self.master_pid()
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                if ppid != master:
                    continue
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    out[int(d)] = f.read().replace(b"\0", b" ").decode().strip()
            except (OSError, ValueError):
                continue
        return out

    def reload(self):
        subprocess.run(self.cmd("-s", "reload"), check=True, timeout=20)

    def new_generation(self, old_workers):
        """Whether the workers that answer now are all new: none of
        old_workers, none shutting down."""
        now = self.workers()
        return bool(now) and not (set(now) & set(old_workers)) and \
            not any("shutting down" in c for c in now.values())

    def reload_and_wait(self, timeout=30):
        """Reloads (HUP) and returns once the old workers are gone; returns
        their pids."""
        old_workers = set(self.workers())
        self.reload()
        deadline = time.time() + timeout
        while not self.new_generation(old_workers):
            if time.time() > deadline:
                raise AssertionError("the old workers did not exit: %s" % self.workers())
            time.sleep(0.05)
        return old_workers

    def stop(self):
        pid = self.master_pid()
        if pid is None:
            return
        try:
            subprocess.run(self.cmd("-s", "stop"), timeout=10, stderr=subprocess.DEVNULL)
        except Exception:
            pass
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def make_contexts(n, seed):
    """Request contexts: org in a header or a cookie (or none), user,
    session and e-mail present or not. ASCII ids, as headers carry them."""
    rnd = random.Random(seed)
    orgs = ["acme-corp", "globex"] * 5 + ["org-%d" % i for i in range(40)]
    out = []
    for i in range(n):
        org = rnd.choice(orgs)
        where = rnd.random()
        ctx = {
            "org": org if where < 0.9 else None,
            "org_in_cookie": 0.6 <= where < 0.9,
            "user": "user-%d" % rnd.randrange(100000) if rnd.random() < 0.85 else None,
            "session": "s-%08x" % rnd.getrandbits(32) if rnd.random() < 0.85 else None,
            "email": None,
        }
        r = rnd.random()
        if r < 0.1:
            ctx["email"] = "dev%d@example.com" % i
        elif r < 0.2:
            ctx["email"] = "someone%d@customer.test" % i
        out.append(ctx)
    return out


def hx(s):
    return "-" if s is None else s.encode().hex()


def expected(luajit, library, plan_file, state, contexts):
    """[(variant, label, explanation)] from the library, one per context."""
    lines = "".join("%s\t%s\t%s\t%s\n" % (hx(c["org"]), hx(c["user"]), hx(c["session"]),
                                            hx(c["email"])) for c in contexts)
    res = subprocess.run([luajit, os.path.join(HERE, "expect.lua"), library, plan_file,
                          state or "-", str(int(time.time()))],
                         input=lines, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("expect.lua failed: " + res.stderr)
    out = [tuple(line.split("\t", 2)) for line in res.stdout.splitlines()]
    assert len(out) == len(contexts), (len(out), len(contexts))
    return out


def request(port, ctx):
    """(status, body, reason header, worker pid); a fresh connection each
    time, so a reload can never catch a request on a reused idle one."""
    headers = {"Connection": "close"}
    cookies = []
    if ctx["org"] is not None:
        if ctx["org_in_cookie"]:
            cookies.append("org=" + ctx["org"])
        else:
            headers["X-Org"] = ctx["org"]
    if ctx["session"] is not None:
        cookies.append("session=" + ctx["session"])
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    if ctx["user"] is not None:
        headers["X-User"] = ctx["user"]
    if ctx["email"] is not None:
        headers["X-Email"] = ctx["email"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers=headers)
        r = conn.getresponse()
        body = r.read().decode()
        return r.status, body, r.getheader("X-Rollout-Reason"), r.getheader("X-Worker")
    finally:
        conn.close()


def admin(port, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, json.loads(r.read().decode())
    finally:
        conn.close()


UPSTREAM_BODY = {"new": "canary\n", "stable": "stable\n"}


def check_all(port, contexts, want, what):
    """Sends every context (4 at a time) and compares each answer exactly."""
    results = [None] * len(contexts)

    def work(k):
        for i in range(k, len(contexts), 4):
            results[i] = request(port, contexts[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = []
    pids = set()
    for i, (res, (variant, label, _)) in enumerate(zip(results, want)):
        status, body, reason, pid = res
        pids.add(pid)
        if status != 200 or body != UPSTREAM_BODY[variant] or reason != label:
            bad.append("%s #%d %r: got %s %r %r, want %r %r" % (what, i, contexts[i], status, body,
                                                              reason, UPSTREAM_BODY[variant], label))
    if bad:
        raise AssertionError("%d of %d answers differ:\n  %s" % (len(bad), len(contexts),
                                                                "\n  ".join(bad[:10])))
    log("%s: %d answers exactly as the library decides (%d canary), from workers %s"
        % (what, len(contexts), sum(1 for v, *_ in want if v == "new"), sorted(pids)))
    return pids


def check_explain(port, contexts, want, what, every=10):
    """GET /_rollout/explain for every tenth context: the decision, label and
    full explanation the library gives for it."""
    n = 0
    for i in range(0, len(contexts), every):
        c = contexts[i]
        org = c["org"]
        query = {k: v for k, v in (("org", org), ("user", c["user"]), ("session", c["session"]),
                                   ("email", c["email"])) if v is not None}
        status, body = admin(port, "GET", "/_rollout/explain?" + urllib.parse.urlencode(query))
        variant, label, text = want[i]
        got = (status, body.get("variant"), body.get("label"), body.get("explanation"),
               body.get("upstream"))
        exp = (200, variant, label, text, "canary" if variant == "new" else "stable")
        assert got == exp, "%s: explain %r: got %r, want %r" % (what, query, got, exp)
        n += 1
    log("%s: /_rollout/explain agrees with the library for %d contexts" % (what, n))


def check_jit(path):
    """The trace log the workers wrote (jit.v, started in init_by_lua; the
    reload started it afresh): no trace in the binding aborted on something
    LuaJIT cannot compile, and gateway.route() compiled from its entry, as
    tests/lua/jit_trace.lua checks outside nginx."""
    gateway = os.path.join(SRC, "bindings", "lua", "resty", "rollout", "gateway.lua")
    with open(gateway) as f:
        line = next(i for i, l in enumerate(f, 1) if l.startswith("function _M.route("))
    with open(path, errors="replace") as f:
        text = f.read()
    nyi = [l for l in text.splitlines()
           if "NYI" in l and ("rollout.lua" in l or "gateway.lua" in l)]
    assert not nyi, "NYI trace aborts in the binding:\n  " + "\n  ".join(nyi[:10])
    assert re.search(r"\[TRACE\s+\d+\s+\S*gateway\.lua:%d\s" % line, text), \
        "gateway.route (line %d) has no trace from its entry:\n%s" % (line, text[-3000:])
    log("LuaJIT in the workers: gateway.route compiled from its entry, no NYI abort in the binding")


def check_empty_header(nginx, port, plan_file):
    """Plan C (the internal cohort is `email equals ""`), reloaded: an empty
    X-Email header puts a request in it, on the canary (100 % by session);
    no header does not, and /explain reads an empty email= the same way."""
    replace_plan(plan_file, PLAN_C)
    nginx.reload_and_wait()
    internal = "IN_ROLLOUT cohort=internal phase=canary step=1 unit=session"
    for i in range(8):
        ctx = {"org": "org-%d" % i, "org_in_cookie": False, "user": "user-%d" % i,
               "session": "s-empty-%d" % i, "email": ""}
        status, body, reason, _ = request(port, ctx)
        assert (status, body, reason) == (200, UPSTREAM_BODY["new"], internal), \
            ("empty X-Email", ctx, status, body, reason)
        ctx["email"] = None
        status, body, reason, _ = request(port, ctx)
        assert status == 200 and " cohort=internal " not in reason, \
            ("no X-Email", ctx, status, body, reason)
        ctx["email"] = "x"
        status, body, reason, _ = request(port, ctx)
        assert status == 200 and " cohort=internal " not in reason, \
            ("X-Email: x", ctx, status, body, reason)
    status, body = admin(port, "GET", "/_rollout/explain?org=o&session=s&email=")
    assert status == 200 and body["label"] == internal, (status, body)
    status, body = admin(port, "GET", "/_rollout/explain?org=o&session=s")
    assert status == 200 and body["cohort"] != "internal", (status, body)
    log("plan C: an empty X-Email header is the empty string (equals: \"\"), none is absent")

def replace_plan(plan_file, text):
    """Replaces the plan file atomically: a reload never reads half a plan."""
    with open(plan_file + ".new", "w") as f:
        f.write(text)
    os.rename(plan_file + ".new", plan_file)


old_workers_of_last_reload = set()


def reload_under_traffic(nginx, port, contexts):
    """Reloads nginx while 3 threads send the contexts; returns once the old
    workers are gone, with [(context index, answer)] sent meanwhile. Fails
    when any request failed."""
    global old_workers_of_last_reload
    old_workers_of_last_reload = set(nginx.workers())
    during = []
    stop = threading.Event()
    errors = []

    def sender(k):
        i = k
        while not stop.is_set():
            j = i % len(contexts)
            try:
                during.append((j, request(port, contexts[j])))
            except Exception as e:  # a refused or reset connection is a failed request
                errors.append("%r: %s" % (contexts[j], e))
            i += 3

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        nginx.reload_and_wait()
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, "%d requests failed during the reload:\n  %s" % (len(errors),
                                                                      "\n  ".join(errors[:10]))
    return during, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--library", required=True, help="librollout.so.0 to load")
    ap.add_argument("--luajit", default=shutil.which("luajit") or "luajit")
    ap.add_argument("--contexts", type=int, default=600)
    ap.add_argument("--keep", action="store_true", help="keep the prefix directory")
    args = ap.parse_args()
    library = os.path.abspath(args.library)

    # everything below is bounded: a hung nginx must not hang ctest
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("nginx_test: timed out")))
    signal.alarm(240)

    prefix = tempfile.mkdtemp(prefix="rollout-nginx-")
    os.chmod(prefix, 0o755)  # workers run as nobody when the test runs as root
    os.makedirs(os.path.join(prefix, "logs"))
    plan_file = os.path.join(prefix, "plan.yaml")
    with open(plan_file, "w") as f:
        f.write(PLAN_A)
    port, stable_port, canary_port = free_ports(3)
    jit_log = os.path.join(prefix, "logs", "jit.log")
    conf = make_config(prefix, plan_file, library, port, stable_port, canary_port, jit_log=jit_log)
    nginx = Nginx(args.nginx, prefix, conf)
    ok = False
    try:
        nginx.start(port)
        log("nginx up on 127.0.0.1:%d (prefix %s), workers %s" % (port, prefix,
                                                                  sorted(nginx.workers())))
        contexts = make_contexts(args.contexts, 20260228)

        # 1. plan A, no event yet: the plan's own schedule
        want_a = expected(args.luajit, library, plan_file, None, contexts)
        assert any(v == "new" for v, *_ in want_a) and any(v == "stable" for v, *_ in want_a)
        check_all(port, contexts, want_a, "plan A")
        check_explain(port, contexts, want_a, "plan A")

        # the admin endpoint refuses what it must
        status, body = admin(port, "POST", "/_rollout/event?name=launch")
        assert status == 400 and body["error"] == 'unknown event "launch"', (status, body)
        status, body = admin(port, "GET", "/_rollout/event?name=rollback")
        assert status == 405, (status, body)
        status, body = admin(port, "POST", "/_rollout/explain?org=a")
        assert status == 405, (status, body)
        status, body = admin(port, "GET", "/_rollout/explain?org=a&org=b")
        assert status == 400 and body["error"] == "org: one value expected", (status, body)
        status, body = admin(port, "GET", "/_rollout/state")
        assert status == 200 and body["revision"] == 0 and "state" not in body, body
        assert body["weights"] == {"internal": 100000, "pilot": 30000, "everyone": 20000}, body

        # 2. rollback (abort, with its reason) through the admin endpoint:
        # every worker, next request; the trail keeps who said why
        status, body = admin(port, "POST", "/_rollout/event?name=abort&by=sre&why=pager")
        assert status == 400 and body["error"] == 'unknown role "sre"', (status, body)
        status, body = admin(port, "POST", "/_rollout/event?name=abort&why=pager+fired")
        assert status == 200, (status, body)
        assert body["status"] == "rolled_back" or body["status"] == "rolling_back", body
        assert [a["type"] for a in body["actions"]] == ["halt_traffic"], body["actions"]
        assert [(r["kind"], r["reason"]) for r in body["trail"]] == [
            ("start", ""), ("abort", "pager fired")], body
        state = body["state"]
        status, again = admin(port, "GET", "/_rollout/state")
        assert status == 200 and again["state"] == state and again["revision"] == body["revision"]
        status, body2 = admin(port, "POST", "/_rollout/event?name=pause")
        assert status == 409 and body2["code"] == "ROLLOUT_ERR_TRANSITION", (status, body2)
        want_rb = expected(args.luajit, library, plan_file, state, contexts)
        assert all(v == "stable" for v, *_ in want_rb)
        pids = check_all(port, contexts, want_rb, "after rollback")
        check_explain(port, contexts, want_rb, "after rollback")
        assert len(pids) >= 2, "every worker must answer; saw %s" % pids

        # 3. an edit (plan B: higher weights) reloaded under traffic after the
        # rollback: the state is carried over to plan B, and the rollback holds
        status, before = admin(port, "GET", "/_rollout/state")
        assert status == 200 and before["state"] == state, before
        plan_b_file = os.path.join(prefix, "plan-b.yaml")
        with open(plan_b_file, "w") as f:
            f.write(PLAN_B)
        want_b = expected(args.luajit, library, plan_b_file, None, contexts)
        more = sum(v == "new" for v, *_ in want_b) - sum(v == "new" for v, *_ in want_a)
        assert more > 0, "plan B must send more requests to the canary"
        internal = [j for j, c in enumerate(contexts)
                    if c["email"] and c["email"].endswith("@example.com") and c["session"]]
        assert internal and all(want_a[j][0] == "new" for j in internal)
        assert all(want_b[j][0] == "new" for j in internal), \
            "plan B's own schedule must send @example.com to the canary"
        replace_plan(plan_file, PLAN_B)
        during, errors = reload_under_traffic(nginx, port, contexts)
        status, after = admin(port, "GET", "/_rollout/state")
        assert status == 200, (status, after)
        assert after["fingerprint"] != before["fingerprint"], (before, after)
        assert (after["status"], after["revision"]) == (before["status"], before["revision"] + 1), \
            (before, after)
        migrated = after["state"]
        want_b_rb = expected(args.luajit, library, plan_b_file, migrated, contexts)
        assert all(v == "stable" for v, *_ in want_b_rb)
        old_answers = new_answers = 0
        for j, (status, body, reason, pid) in during:
            got = (status, body, reason)
            if got == (200, UPSTREAM_BODY["stable"], want_b_rb[j][1]):
                new_answers += 1
            elif got == (200, UPSTREAM_BODY["stable"], want_rb[j][1]):
                old_answers += 1
            else:
                raise AssertionError("during the reload, %r got %r: not stable" % (contexts[j], got))
        log("during the reload: %d requests, none failed, all stable" % len(during))
        pids = check_all(port, contexts, want_b_rb, "plan B after reload, still rolled back")
        assert not (pids & {str(p) for p in old_workers_of_last_reload}), "an old worker answers"
        check_explain(port, contexts, want_b_rb, "plan B after reload, still rolled back")
        log("%d @example.com requests stay stable through the edit (plan B's schedule alone "
            "would send them to the canary)" % len(internal))

        # 4. an incompatible edit: the current phase renamed. The reload fails;
        # plan B and the carried state keep serving, and the log says why.
        workers_b = set(nginx.workers())
        assert PLAN_B.count("  - id: ga\n") == 1
        replace_plan(plan_file, PLAN_B.replace("  - id: ga\n", "  - id: general\n"))
        nginx.reload()
        error_log = os.path.join(prefix, "logs", "error.log")
        why = 'phase "ga" (the current phase) is not in the new plan'
        deadline = time.time() + 15
        while time.time() < deadline:
            with open(error_log) as f:
                if why in f.read():
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the error log does not say why the edit was refused")
        time.sleep(0.5)
        assert set(nginx.workers()) == workers_b, "a refused edit must keep the old workers"
        status, kept = admin(port, "GET", "/_rollout/state")
        assert status == 200 and kept["state"] == migrated and \
            kept["fingerprint"] == after["fingerprint"], kept
        check_all(port, contexts, want_b_rb, "after a refused edit")
        log("an incompatible edit is refused: %s" % why)

        # 5. the state deleted (an explicit operator action), then plan A
        # again, reloaded under traffic: plan B's schedule, then plan A's; the
        # rolled back state plan A had in step 2 is not resurrected
        status, body = admin(port, "DELETE", "/_rollout/state")
        assert status == 200 and "state" not in body, (status, body)
        check_all(port, contexts, want_b, "plan B, state deleted")
        replace_plan(plan_file, PLAN_A)
        during, errors = reload_under_traffic(nginx, port, contexts)
        old_answers = new_answers = 0
        for j, (status, body, reason, pid) in during:
            got = (status, body, reason)
            if got == (200, UPSTREAM_BODY[want_a[j][0]], want_a[j][1]):
                new_answers += 1
            elif got == (200, UPSTREAM_BODY[want_b[j][0]], want_b[j][1]):
                old_answers += 1
            else:
                raise AssertionError("during the reload, %r got %r: neither plan's answer"
                                     % (contexts[j], got))
        assert new_answers > 0, "no request reached the new plan during the reload"
        log("during the reload: %d requests, none failed, %d old-plan and %d new-plan answers"
            % (len(during), old_answers, new_answers))
        pids = check_all(port, contexts, want_a, "plan A after reload")
        assert not (pids & {str(p) for p in old_workers_of_last_reload}), "an old worker answers"
        check_jit(jit_log)

        # 7. an empty header against no header, behind nginx
        check_empty_header(nginx, port, plan_file)
        ok = True
    finally:
        nginx.stop()
        if not ok:
            try:
                with open(os.path.join(prefix, "logs", "error.log")) as f:
                    sys.stderr.write("---- nginx error.log (last lines) ----\n")
                    sys.stderr.write("".join(f.readlines()[-40:]))
            except OSError:
                pass
        if not args.keep:
            shutil.rmtree(prefix, ignore_errors=True)
        signal.alarm(0)
    log("passed")


if __name__ == "__main__":
    main()
