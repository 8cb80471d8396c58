#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nginx_split_clients_test.py --nginx NGINX --cli ROLLOUT

Starts a real nginx (no Lua: split_clients is in the core build) with one
split_clients block per percentage, for three split strings built around an
X-Unit header ("${http_x_unit}", "${http_x_unit}AAA", "v2-${http_x_unit}-x"),
and asks it, for some 2 500 unit ids (ASCII, UTF-8, bytes that are not
UTF-8, long ones), which side of each split the id falls on. librollout's
nginx_split_clients mode (`rollout bucket --hash nginx_split_clients --key
TEMPLATE`) must agree on every request: in at p % exactly when nginx says so.

The percentages are the boundaries nginx can write (two decimals): 0.01 %,
steps around 25 %, 99.99 % and 100 %, where nginx still leaves out the one
hash 0xffffffff.
"""
import argparse
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nginx_test import Nginx, free_ports  # noqa: E402

# percentages in 0.01 % (nginx's own unit)
PERCENTS = [1, 100, 1000, 2499, 2500, 2501, 3333, 5000, 7500, 9999, 10000]
TEMPLATES = [("${http_x_unit}", "{id}"), ("${http_x_unit}AAA", "{id}AAA"),
             ("v2-${http_x_unit}-x", "v2-{id}-x")]


def ids():
    rnd = random.Random(19)
    out = [b"user-%d" % i for i in range(1500)]
    out += [b"org-%d" % rnd.randrange(10**9) for _ in range(300)]
    out += [("caf\u00e9-%d" % i).encode() for i in range(100)]
    out += [("\u7528\u6237-%d-\U0001f680" % i).encode() for i in range(100)]
    # bytes that are not UTF-8 (no controls: nginx refuses some in headers)
    for _ in range(300):
        n = rnd.randrange(1, 24)
        b = bytes(rnd.choice([rnd.randrange(0x21, 0x7f), rnd.randrange(0x80, 0x100)])
                  for _ in range(n))
        out.append(b)
    for n in list(range(1, 40)) + [100, 255, 256, 1000, 4000]:
        out.append(bytes(rnd.randrange(0x21, 0x7f) for _ in range(n)))
    # no id the header would change: leading or trailing blanks are trimmed
    return [i for i in out if i.strip() == i and i]


def config(prefix, port):
    blocks = []
    for t, (template, _) in enumerate(TEMPLATES):
        for p in PERCENTS:
            blocks.append('split_clients "%s" $s%d_%d {\n    %d.%02d%% in;\n    * out;\n}\n'
                          % (template, t, p, p // 100, p % 100))
    body = " ".join("$s%d_%d" % (t, p) for t in range(len(TEMPLATES)) for p in PERCENTS)
    text = """worker_processes 1;
pid logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    large_client_header_buffers 4 16k;
    %s
    server {
        listen 127.0.0.1:%d;
        location / { return 200 "%s"; }
    }
}
""" % ("\n    ".join(blocks), port, body)
    path = os.path.join(prefix, "nginx.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    signal.alarm(120)
    prefix = tempfile.mkdtemp(prefix="split-clients-")
    os.makedirs(os.path.join(prefix, "logs"))
    port = free_ports(1)[0]
    nginx = Nginx(a.nginx, prefix, config(prefix, port))
    units = ids()
    try:
        nginx.start(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers = []
        for u in units:
            conn.putrequest("GET", "/")
            conn.putheader("X-Unit", u)
            conn.endheaders()
            r = conn.getresponse()
            body = r.read().decode()
            if r.status != 200:
                raise SystemExit("nginx answered %d for %r" % (r.status, u))
            answers.append(body.split(" "))
    finally:
        nginx.stop()
        shutil.rmtree(prefix, ignore_errors=True)

    mismatches = checked = 0
    for t, (_, key) in enumerate(TEMPLATES):
        out = subprocess.run([a.cli, "bucket", "--hash", "nginx_split_clients", "--key", key,
                              "--"] + units, stdout=subprocess.PIPE, check=True).stdout
        lines = out.split(b"\n")
        if lines[0] != b"# bucketed by nginx_split_clients":
            raise SystemExit("rollout bucket does not name the mode: %r" % lines[0])
        buckets = [int(line.split(b" ", 1)[0]) for line in lines[1:] if line]
        assert len(buckets) == len(units)
        for i, u in enumerate(units):
            for k, p in enumerate(PERCENTS):
                theirs = answers[i][t * len(PERCENTS) + k] == "in"
                ours = buckets[i] < p * 10
                checked += 1
                if theirs != ours:
                    mismatches += 1
                    if mismatches <= 5:
                        print("MISMATCH %r key %s at %.2f%%: nginx %s, librollout bucket %d"
                              % (u, key, p / 100, theirs, buckets[i]))
    ins = sum(1 for row in answers for v in row if v == "in")
    print("nginx_split_clients: %d ids x %d strings x %d percentages: %d answers checked, "
          "%d in, %d mismatches" % (len(units), len(TEMPLATES), len(PERCENTS), checked, ins,
                                    mismatches))
    if mismatches or not ins:
        sys.exit(1)


if __name__ == "__main__":
    main()
