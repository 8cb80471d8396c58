#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nginx_bench.py --library LIBROLLOUT_SO [--rounds N] [--seconds S]

Requests per second of examples/nginx/nginx.conf (every request decided by
librollout through the FFI, from the shared state, with its X-Rollout-Reason
label) against the same
nginx configuration routing with nginx's native split_clients for the same
20 % split, measured with wrk on loopback. Not pass/fail: it prints each
round, the medians and the ratio (target >= 0.97). docs/lua.md
records the figures.

Both configurations are the example rewritten by tests/lua/nginx_test.py's
make_config (same paths, ports, one worker); the split_clients one differs
only in the routing: no set_by_lua_block, a split_clients block on the org
header, proxy_pass to the variable it sets (and X-Rollout-Reason carries
that variable). Both run at once (the idle one
costs nothing); runs alternate A/B and B/A by round so that drift (thermal,
other load) hits both equally. With two or more CPUs, nginx is pinned to
CPU 0 and wrk to CPU 1 so they do not compete for one core.

--callgrind N counts instructions instead, which unlike timings repeat
exactly: each configuration runs as a single nginx process (master_process
off) under valgrind's callgrind; after 1 500 warm-up requests (LuaJIT
compiles its traces), the counters are zeroed, N requests of the same mix as
wrk's are sent over one keep-alive connection, and the counts are dumped.
It prints the instructions per request of each and the difference (both
proxy the request to a demo upstream in the same process, so each client
request is two for nginx); --keep leaves the callgrind files for
callgrind_annotate.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lua"))
import nginx_test  # noqa: E402  (make_config, Nginx, free_ports, PLAN_A)

WRK_SCRIPT = r"""
-- 1000 prepared requests with varying org, user and session, so the
-- rollout decision and split_clients both see many units; built once in
-- init so wrk's own cost per request is the same for both servers.
local reqs = {}
init = function(args)
  for i = 1, 1000 do
    local org = (i % 10 == 0) and "acme-corp" or ("org-" .. i)
    reqs[i] = wrk.format("GET", "/", {
      ["X-Org"] = org,
      ["X-User"] = "user-" .. (i * 7919 % 100000),
      ["Cookie"] = "session=s-" .. i,
    })
  end
end
local n = 0
request = function()
  n = n + 1
  return reqs[n % 1000 + 1]
end
"""


def split_clients_config(rollout_conf, out_path):
    """The example with routing by split_clients instead of librollout."""
    text = open(rollout_conf).read()
    start = text.index("            set_by_lua_block $rollout_upstream {\n")
    end = text.index("            }\n", start) + len("            }\n")
    text = text[:start] + text[end:]
    for old, new in [
        ("proxy_pass http://$rollout_upstream;", "proxy_pass http://$split_upstream;"),
        ("add_header X-Rollout-Reason $rollout_reason always;",
         "add_header X-Rollout-Reason $split_upstream always;"),
        ("    upstream stable {",
         "    # the same 20 % of orgs as plan A's GA step, by nginx's own hash\n"
         "    split_clients \"${http_x_org}\" $split_upstream {\n"
         "        20% canary;\n"
         "        * stable;\n"
         "    }\n\n"
         "    upstream stable {"),
    ]:
        if text.count(old) != 1:
            raise SystemExit("nginx_bench: cannot rewrite %r" % old)
        text = text.replace(old, new)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU time of these processes, in seconds."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime
    return total / TICK


def wrk(url, script, seconds, connections, pin, workers=()):
    """(requests per second, worker CPU microseconds per request). The CPU
    figure counts only what nginx's workers spent, so it holds up when other
    processes compete for the machine; throughput does not."""
    cmd = (["taskset", "-c", "1"] if pin else []) + [
        "wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "-s", script, url]
    before = cpu_seconds(workers)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(workers) - before
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errs or re.search(r"Socket errors", out):
        raise RuntimeError("wrk saw errors:\n" + out)
    return float(m.group(1)), used * 1e6 / max(int(n.group(1)), 1)


def request_mix(i):
    """The headers of the i-th request (1-based) of WRK_SCRIPT's mix."""
    i = (i - 1) % 1000 + 1
    org = "acme-corp" if i % 10 == 0 else "org-%d" % i
    return {"X-Org": org, "X-User": "user-%d" % (i * 7919 % 100000),
            "Cookie": "session=s-%d" % i}


def callgrind(nginx, prefix, conf, port, n, keep):
    """Instructions per request of one configuration under callgrind."""
    import http.client
    import socket
    text = open(conf).read()
    if text.count("master_process on;") != 1:
        raise SystemExit("nginx_bench: cannot rewrite master_process")
    with open(conf, "w") as f:
        f.write(text.replace("master_process on;", "master_process off;\ndaemon off;"))
    out = os.path.join(prefix, "callgrind.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--smc-check=all-non-file",
                             "--callgrind-out-file=" + out, nginx, "-p", prefix, "-c", conf,
                             "-e", os.path.join(prefix, "logs", "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("nginx under callgrind did not start")
                time.sleep(0.1)

        def send(k):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for i in range(1, k + 1):
                c.request("GET", "/", headers=request_mix(i))
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError("status %d" % r.status)
            c.close()

        send(1500)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True,
                       capture_output=True)
        send(n)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                       capture_output=True)
    finally:
        proc.terminate()
        proc.wait()
    dumps = sorted(f for f in os.listdir(prefix) if f.startswith("callgrind.out."))
    path = os.path.join(prefix, dumps[-1])
    ann = subprocess.run(["callgrind_annotate", path], capture_output=True, text=True,
                         check=True).stdout
    total = int(re.search(r"([\d,]+) \([ \d.]+%\)\s+PROGRAM TOTALS", ann).group(1)
                .replace(",", ""))
    if keep:
        print("  %s" % path)
    return total / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", required=True)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--callgrind", type=int, metavar="N", default=0,
                    help="count instructions per request over N requests instead of timing")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    library = os.path.abspath(args.library)

    tmp = tempfile.mkdtemp(prefix="rollout-bench-")
    os.chmod(tmp, 0o755)
    servers = []
    try:
        ports = nginx_test.free_ports(6)
        confs = {}
        for name, (port, sp, cp) in (("librollout", ports[0:3]), ("split_clients", ports[3:6])):
            prefix = os.path.join(tmp, name)
            os.makedirs(os.path.join(prefix, "logs"))
            plan = os.path.join(prefix, "plan.yaml")
            with open(plan, "w") as f:
                f.write(nginx_test.PLAN_A)
            conf = nginx_test.make_config(prefix, plan, library, port, sp, cp, workers=1,
                                          extra_header=False)
            if name == "split_clients":
                conf = split_clients_config(conf, conf)
            if args.callgrind:
                confs[name] = callgrind(args.nginx, prefix, conf, port, args.callgrind, args.keep)
                continue
            ng = nginx_test.Nginx(args.nginx, prefix, conf,
                                  launcher=["taskset", "-c", "0"] if pin else [])
            ng.start(port)
            servers.append(ng)
            confs[name] = "http://127.0.0.1:%d/" % port
        if args.callgrind:
            print("instructions per request (callgrind, %d requests): librollout %.0f, "
                  "split_clients %.0f, difference %.0f"
                  % (args.callgrind, confs["librollout"], confs["split_clients"],
                     confs["librollout"] - confs["split_clients"]))
            return
        script = os.path.join(tmp, "requests.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)

        workers = {name: list(ng.workers()) for name, ng in zip(confs, servers)}
        for url in confs.values():   # warm up: connections, LuaJIT traces
            wrk(url, script, 2, args.connections, pin)
        results = {name: [] for name in confs}
        cpu = {name: [] for name in confs}
        ratios = []
        print("wrk -t1 -c%d -d%ds, %d rounds, nginx 1 worker%s" % (
            args.connections, args.seconds, args.rounds, ", pinned (nginx cpu0, wrk cpu1)" if pin else ""))
        for r in range(args.rounds):
            order = list(confs) if r % 2 == 0 else list(reversed(list(confs)))
            row = {}
            us = {}
            for name in order:
                row[name], us[name] = wrk(confs[name], script, args.seconds, args.connections, pin,
                                          workers[name])
                results[name].append(row[name])
                cpu[name].append(us[name])
            ratios.append(row["librollout"] / row["split_clients"])
            print("  round %d: librollout %7.0f req/s %5.1f us cpu/req   split_clients %7.0f req/s "
                  "%5.1f us cpu/req   ratio %.3f"
                  % (r + 1, row["librollout"], us["librollout"], row["split_clients"],
                     us["split_clients"], ratios[-1]))
        med = {n: statistics.median(v) for n, v in results.items()}
        mcpu = {n: statistics.median(v) for n, v in cpu.items()}
        print("median throughput: librollout %.0f req/s, split_clients %.0f req/s; ratio of medians "
              "%.3f, median of per-round ratios %.3f (target >= 0.97)"
              % (med["librollout"], med["split_clients"], med["librollout"] / med["split_clients"],
                 statistics.median(ratios)))
        print("median worker CPU per request: librollout %.1f us, split_clients %.1f us; "
              "capacity ratio (split_clients cpu / librollout cpu) %.3f"
              % (mcpu["librollout"], mcpu["split_clients"],
                 mcpu["split_clients"] / mcpu["librollout"]))
    finally:
        for ng in servers:
            ng.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
