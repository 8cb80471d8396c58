#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nginx_fleet_bench.py --library LIBROLLOUT_SO --cli ROLLOUT [propagation|cpu|both]

The nginx gateway on the fleet's store (docs/fleet.md, docs/lua.md), with
examples/nginx/nginx.conf rewritten as tests/lua/nginx_fleet_test.py does
(one redis-server on 127.0.0.1, signed states). Not pass/fail: it prints
the figures docs/fleet.md and docs/performance.md record.

propagation: three gateways; --changes state changes (pause, resume, ...)
  written with `rollout state apply --store`, each after a random 0-300 ms
  pause so that the gateways' polls are anywhere in their cycle. For each
  change and gateway: the time from the CLI's launch to the first
  /_rollout/state answer (polled on a keep-alive connection, one thread per
  gateway) that shows the new revision. That includes the CLI's own run
  (process start, plan load, connect, read, compare-and-set), printed apart
  (median). Run twice: by push (subscribe), and poll only (subscribe =
  false: the gateways never SUBSCRIBE; the poll every 250 ms is all).

cpu: requests per CPU-second of one nginx (1 worker) with the store sync
  running against the same nginx without a store, wrk on loopback, rounds
  interleaved (A/B, B/A); CPU = user + system time of all the nginx
  processes (master, worker with its sync thread), from /proc. Prints each
  round, the medians with their range, and the load average.
"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lua"))
import nginx_test as nt  # noqa: E402
import nginx_fleet_test as ft  # noqa: E402
sys.path.insert(0, HERE)
import nginx_bench as nb  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


class Watcher(threading.Thread):
    """Polls one gateway's /_rollout/state; records when each revision first shows."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.seen, self.stop = port, {}, threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/_rollout/state")
                body = json.loads(conn.getresponse().read())
            except Exception:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                continue
            self.seen.setdefault(body["revision"], time.monotonic())


def propagation(args, root, subscribe):
    rdir = os.path.join(root, "redis-%s" % ("push" if subscribe else "poll"))
    os.makedirs(rdir)
    redis = ft.Redis(args.redis, nt.free_ports(1)[0], rdir)
    url = "redis://127.0.0.1:%d/0" % redis.port
    key_file = os.path.join(root, "rollout.key")
    plan = os.path.join(root, "plan.yaml")
    extra = "" if subscribe else "            subscribe = false,\n"
    gws, watchers = [], []
    try:
        redis.start()

        def cli(*a):
            subprocess.run([args.cli, "state", *a, "--store", url, "--key-file", key_file, plan],
                           check=True, capture_output=True, timeout=20)

        cli("init")
        cli("apply", "start")
        sub = os.path.join(root, "push" if subscribe else "poll")
        os.makedirs(sub)
        gws = [ft.Gateway(args, sub, n, url, key_file, extra=extra, extra_header=False)
               for n in range(3)]
        for g in gws:
            g.nginx.start(g.port)
        ft.wait_revision(gws, 1, timeout=10)
        watchers = [Watcher(g.port) for g in gws]
        for w in watchers:
            w.start()
        rnd = random.Random(15)
        lat, cli_ms = [], []
        rev = 1
        for i in range(args.changes):
            time.sleep(rnd.uniform(0, 0.3))
            t0 = time.monotonic()
            if i == args.changes - 1:
                cli("apply", "rollback", "manual")
            else:
                cli("apply", "pause" if i % 2 == 0 else "resume")
            cli_ms.append((time.monotonic() - t0) * 1000)
            rev += 1
            deadline = time.monotonic() + 5
            while any(rev not in w.seen for w in watchers):
                if time.monotonic() > deadline:
                    raise RuntimeError("revision %d did not reach every gateway in 5 s" % rev)
                time.sleep(0.001)
            lat += [(w.seen[rev] - t0) * 1000 for w in watchers]
        return lat, cli_ms
    finally:
        for w in watchers:
            w.stop.set()
        for g in gws:
            g.nginx.stop()
        redis.kill()


def nginx_pids(ng):
    return [ng.master_pid()] + list(ng.workers())


def cpu_bench(args, root):
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    launcher = ["taskset", "-c", "0"] if pin else []
    rdir = os.path.join(root, "redis-cpu")
    os.makedirs(rdir)
    redis = ft.Redis(args.redis, nt.free_ports(1)[0], rdir)
    url = "redis://127.0.0.1:%d/0" % redis.port
    key_file = os.path.join(root, "rollout.key")
    plan = os.path.join(root, "plan.yaml")
    servers = []
    try:
        redis.start()
        for a in (["init"], ["apply", "start"]):
            subprocess.run([args.cli, "state", *a, "--store", url, "--key-file", key_file, plan],
                           check=True, capture_output=True, timeout=20)
        sub = os.path.join(root, "cpu")
        os.makedirs(sub)
        store = ft.Gateway(args, sub, 0, url, key_file, workers=1, launcher=launcher,
                           extra_header=False)
        # the same plan, state and configuration, without the store
        prefix = os.path.join(sub, "nostore")
        os.makedirs(os.path.join(prefix, "logs"))
        os.chmod(prefix, 0o755)
        pfile = os.path.join(prefix, "plan.yaml")
        nt.replace_plan(pfile, ft.PLAN_A)
        port, sp, cp = nt.free_ports(3)
        conf = nt.make_config(prefix, pfile, args.library, port, sp, cp, workers=1,
                              extra_header=False)
        plain = nt.Nginx(args.nginx, prefix, conf, launcher=launcher)
        store.nginx.start(store.port)
        servers.append(store.nginx)
        plain.start(port)
        servers.append(plain)
        st = ft.wait_revision([store], 1, timeout=10)
        # the plain one decides by the plan's schedule (no event yet): the same
        # weights as the started state the store holds
        confs = {"store": "http://127.0.0.1:%d/" % store.port, "no store": "http://127.0.0.1:%d/" % port}
        ngs = {"store": store.nginx, "no store": plain}
        script = os.path.join(root, "requests.lua")
        with open(script, "w") as f:
            f.write(nb.WRK_SCRIPT)
        for u in confs.values():
            nb.wrk(u, script, 2, args.connections, pin)
        rps = {n: [] for n in confs}
        print("cpu: wrk -t1 -c%d -d%ds, %d rounds, nginx 1 worker%s; state revision %d"
              % (args.connections, args.seconds, args.rounds,
                 ", pinned (nginx cpu0, wrk cpu1)" if pin else "", st["revision"]))
        loads = []
        for r in range(args.rounds):
            order = list(confs) if r % 2 == 0 else list(reversed(list(confs)))
            row = {}
            for name in order:
                pids = nginx_pids(ngs[name])
                before = nb.cpu_seconds(pids)
                cmd = (["taskset", "-c", "1"] if pin else []) + [
                    "wrk", "-t1", "-c%d" % args.connections, "-d%ds" % args.seconds, "-s", script,
                    confs[name]]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                used = nb.cpu_seconds(pids) - before
                n = int(re.search(r"(\d+) requests in", out).group(1))
                if re.search(r"Non-2xx|Socket errors", out):
                    raise RuntimeError("wrk saw errors:\n" + out)
                row[name] = n / used
                rps[name].append(row[name])
            loads.append(os.getloadavg()[0])
            print("  round %d: store %8.0f req/cpu-s   no store %8.0f req/cpu-s   ratio %.3f   load %.2f"
                  % (r + 1, row["store"], row["no store"], row["store"] / row["no store"], loads[-1]))
        for n, v in rps.items():
            print("  %-8s median %.0f req/cpu-s (range %.0f-%.0f)" % (n, statistics.median(v),
                                                                     min(v), max(v)))
        print("  ratio of medians %.3f; load average %.2f-%.2f"
              % (statistics.median(rps["store"]) / statistics.median(rps["no store"]),
                 min(loads), max(loads)))
    finally:
        for ng in servers:
            ng.stop()
        redis.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="both", choices=("propagation", "cpu", "both"))
    ap.add_argument("--library", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--redis", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--changes", type=int, default=32,
                    help="state changes: pause/resume in turn, then a rollback (at most 32: "
                         "a plan allows 16 pauses)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    args.library = os.path.abspath(args.library)
    if not 2 <= args.changes <= 32:
        ap.error("--changes: 2 to 32")
    root = tempfile.mkdtemp(prefix="rollout-fleet-bench-")
    os.chmod(root, 0o755)
    try:
        with open(os.path.join(root, "rollout.key"), "wb") as f:
            f.write(os.urandom(32).hex().encode() + b"\n")
        nt.replace_plan(os.path.join(root, "plan.yaml"), ft.PLAN_A)
        if args.what in ("propagation", "both"):
            for subscribe in (True, False):
                lat, cli_ms = propagation(args, root, subscribe)
                print("propagation %-9s %d samples (%d changes x 3 gateways): p50 %.1f ms, "
                      "p99 %.1f ms, max %.1f ms; the CLI's own run, median %.1f ms; load %.2f"
                      % ("push:" if subscribe else "poll only:", len(lat), args.changes,
                         pct(lat, 50), pct(lat, 99), max(lat), statistics.median(cli_ms),
                         os.getloadavg()[0]))
        if args.what in ("cpu", "both"):
            cpu_bench(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
