#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""haproxy_bench.py --module-dir DIR [--haproxy HAPROXY] [--rounds N] [--seconds S]

Requests per second and CPU per request of examples/haproxy/haproxy.cfg
(every request decided by librollout through the Lua 5.3 C module, with its
X-Rollout-Reason label) against the same configuration routing with a plain
`use_backend canary if { req.hdr(x-org) -m str acme-corp }`, the cheapest
routing HAProxy has, measured with wrk on loopback. Not pass/fail: it prints
each round, the medians with their range, the load average, and the ratio
of requests per CPU second (the goal is >= 0.95). docs/performance.md
records the figures.

Both gateways are the example rewritten by tests/lua/haproxy_test.py's
make_config (one thread, no state file: the plan's schedule); the plain one
differs only in the routing lines: no Lua converter, no label, the
plain rule in their place. Both proxy to the same demo backends, a
third HAProxy answering with `http-request return`, so each gateway does the
work of a proxy and the CPU counted is the gateway's alone: user + system
time of its worker process, from /proc, over each run. Both run at once (the
idle one costs nothing but its 100 ms state-file task); runs alternate A/B
and B/A by round so that drift hits both equally. With two or more CPUs the
gateways are pinned to CPU 0, wrk and the backends to CPU 1.

--breakdown adds two configurations between the two, to say where the
difference goes: "ids_only" fetches the ids into txn.rollout_in as the
example does (set-var-fmt) but routes like the plain one, and "lua_constant"
also calls a Lua converter that returns a constant label (what HAProxy's Lua
costs a request before any decision).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lua"))
sys.path.insert(0, HERE)
import haproxy_test  # noqa: E402  (make_config, HAProxy)
import nginx_bench  # noqa: E402  (wrk, WRK_SCRIPT: the request mix)
import nginx_test  # noqa: E402  (free_ports, PLAN_A)

PLAIN = "    use_backend canary if { req.hdr(x-org) -m str acme-corp }\n"

BACKENDS = """global
    log stderr format short local0 warning
defaults
    mode http
    timeout client 30s
frontend stable
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain string "stable\\n"
frontend canary
    bind 127.0.0.1:%d
    http-request return status 200 content-type text/plain string "canary\\n"
"""


def plain_config(conf):
    """The example with a plain use_backend on a header instead of librollout:
    every rule that reads or writes a txn.rollout variable (the ids, the two
    converters, the use_backend, the label header) goes."""
    lines = open(conf).read().splitlines(True)
    kept = [l for l in lines if "txn.rollout" not in l]
    assert len(lines) - len(kept) == 5, "the example's routing rules changed"
    i = kept.index("    default_backend stable\n")
    kept.insert(i, PLAIN)
    with open(conf, "w") as f:
        f.write("".join(kept))


CONSTANT_LUA = 'core.register_converters("rollout", function(s) return "NO_COHORT" end)\n'


def ids_only_config(conf, lua_file=None):
    """The example without the decision (lua_file None: no Lua at all), or
    with lua_file's converter in place of rollout.lua's."""
    text = open(conf).read()
    lines = text.splitlines(True)
    if lua_file is None:
        kept = [l for l in lines if "lua" not in l or l.lstrip().startswith("#")]
    else:
        kept = [l.replace(l.split()[-1], lua_file) if l.lstrip().startswith("lua-load") else l
                for l in lines]
    kept = [l for l in kept if "use_backend canary if { var(txn.rollout)" not in l
            and "X-Rollout-Reason" not in l]
    kept.insert(kept.index("    default_backend stable\n"), PLAIN)
    with open(conf, "w") as f:
        f.write("".join(kept))


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def spread(values, fmt):
    return ("%s (%s..%s)" % (fmt, fmt, fmt)) % (statistics.median(values), min(values), max(values))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module-dir", required=True, help="the directory of the Lua 5.3 rollout.so")
    ap.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--breakdown", action="store_true",
                    help="also run ids_only and lua_constant (see above)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    module_dir = os.path.abspath(args.module_dir)

    tmp = tempfile.mkdtemp(prefix="rollout-haproxy-bench-")
    servers = []
    try:
        names = ["librollout", "use_backend"]
        if args.breakdown:
            names[1:1] = ["lua_constant", "ids_only"]
        ports = nginx_test.free_ports(len(names) + 2)
        sp, cp = ports[-2], ports[-1]
        constant_lua = os.path.join(tmp, "constant.lua")
        with open(constant_lua, "w") as f:
            f.write(CONSTANT_LUA)
        bconf = os.path.join(tmp, "backends.cfg")
        with open(bconf, "w") as f:
            f.write(BACKENDS % (sp, cp))
        backends = subprocess.Popen((["taskset", "-c", "1"] if pin else []) +
                                    [args.haproxy, "-f", bconf])
        urls, workers = {}, {}
        for name, port in zip(names, ports):
            prefix = os.path.join(tmp, name)
            os.makedirs(prefix)
            plan = os.path.join(prefix, "plan.yaml")
            with open(plan, "w") as f:
                f.write(nginx_test.PLAN_A)
            conf = haproxy_test.make_config(prefix, module_dir, plan,
                                            os.path.join(prefix, "rollout.state"), port, sp, cp,
                                            threads=1, worker_header=False)
            if name == "use_backend":
                plain_config(conf)
            elif name == "ids_only":
                ids_only_config(conf)
            elif name == "lua_constant":
                ids_only_config(conf, constant_lua)
            hap = haproxy_test.HAProxy(args.haproxy, prefix, conf,
                                       launcher=["taskset", "-c", "0"] if pin else [])
            hap.start(port)
            servers.append(hap)
            urls[name] = "http://127.0.0.1:%d/" % port
            workers[name] = sorted(hap.workers())
        script = os.path.join(tmp, "requests.lua")
        with open(script, "w") as f:
            f.write(nginx_bench.WRK_SCRIPT)

        for url in urls.values():   # warm up: connections, pools
            nginx_bench.wrk(url, script, 2, args.connections, pin)
        rps = {n: [] for n in urls}
        cpu = {n: [] for n in urls}
        ratios, loads = [], []
        print("wrk -t1 -c%d -d%ds, %d rounds, HAProxy 2.6 1 thread%s" % (
            args.connections, args.seconds, args.rounds,
            ", pinned (gateways cpu0, wrk and backends cpu1)" if pin else ""))
        for r in range(args.rounds):
            order = list(urls) if r % 2 == 0 else list(reversed(list(urls)))
            row, us = {}, {}
            for name in order:
                row[name], us[name] = nginx_bench.wrk(urls[name], script, args.seconds,
                                                      args.connections, pin, workers[name])
                rps[name].append(row[name])
                cpu[name].append(us[name])
            # requests per CPU second: librollout's over the plain routing's
            ratios.append(us["use_backend"] / us["librollout"])
            loads.append(loadavg())
            print("  round %d: librollout %7.0f req/s %5.1f us cpu/req   use_backend %7.0f req/s "
                  "%5.1f us cpu/req   ratio per CPU %.3f   load %.2f"
                  % (r + 1, row["librollout"], us["librollout"], row["use_backend"],
                     us["use_backend"], ratios[-1], loads[-1]))
        for name in urls:
            print("%-11s throughput %s req/s, CPU per request %s us" % (
                name, spread(rps[name], "%.0f"), spread(cpu[name], "%.1f")))
        mr = {n: statistics.median(v) for n, v in rps.items()}
        mc = {n: statistics.median(v) for n, v in cpu.items()}
        print("ratio of median throughput %.3f; requests per CPU second: ratio of medians %.3f, "
              "per-round ratios %s; load average %s (goal >= 0.95 per CPU)"
              % (mr["librollout"] / mr["use_backend"], mc["use_backend"] / mc["librollout"],
                 spread(ratios, "%.3f"), spread(loads, "%.2f")))
    finally:
        for hap in servers:
            hap.stop()
        if "backends" in locals():
            backends.terminate()
            backends.wait(10)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
