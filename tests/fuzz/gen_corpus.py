#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the five fuzz harnesses.

    gen_corpus.py SEEDGEN OUTDIR

OUTDIR/plan     examples/plans/*, tests/plans/invalid/*, and the YAML and JSON
                dumps of every example plan (made by SEEDGEN, the fuzz_seedgen
                program of the same build)
OUTDIR/metrics  examples/metrics/*
OUTDIR/state    encoded states of the seed plan (text and forgeable payload,
                from SEEDGEN) and tests/fuzz/seeds/state/*
OUTDIR/decide   contexts in fuzz_decide's layout: ids from
                tests/vectors/bucketing.json (among them NUL bytes and invalid
                UTF-8), the seed plan's cohorts and patterns, and
                tests/fuzz/seeds/decide/*
OUTDIR/pattern  tests/fuzz/seeds/pattern/*: a pattern, a NUL, a value

Existing files are kept (a corpus grows across runs); seeds are named by
content, so running this twice adds nothing. Generated corpora are not
committed (.gitignore: tests/fuzz/corpus-*/).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def put(directory, data, name=None):
    if name is None:
        name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def files(*parts):
    d = os.path.join(ROOT, *parts)
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, n) for n in os.listdir(d) if os.path.isfile(os.path.join(d, n)))


def field(b):
    """One fuzz_decide field: None is absent, long values use the 2-byte form."""
    if b is None:
        return b"\xff"
    if len(b) >= 254:
        return b"\xfe" + len(b).to_bytes(2, "little") + b
    return bytes([len(b)]) + b


def context(sel, flags, org=None, user=None, session=None, request=None, attrs=()):
    out = bytes([sel, flags]) + field(org) + field(user) + field(session) + field(request)
    for k, v in attrs:
        out += field(k) + field(v)
    return out


def decide_seeds(directory):
    vectors = json.load(open(os.path.join(ROOT, "tests", "vectors", "bucketing.json")))
    ids = []
    for case in vectors["cases"]:
        raw = bytes.fromhex(case["id_hex"])
        if raw not in ids:
            ids.append(raw)
    # a spread of the vector ids: short, long, NUL inside, not UTF-8
    chosen = ids[:: max(1, len(ids) // 40)]
    chosen += [i for i in ids if b"\x00" in i][:4] + [i for i in ids if len(i) > 200][:2]
    n = 0
    for raw in chosen:
        for unit in range(4):
            ctx = [None, None, None, None]
            ctx[unit] = raw
            sel = (n * 7) & 0xFF
            put(directory, context(sel, (n >> 3) & 0xFC, *ctx))
            n += 1
    # the seed plan's cohorts at each time and state
    for sel in range(0, 256, 17):
        put(directory, context(sel, 0, b"acme-corp", b"u-42", b"s-1", b"r-1",
                               [(b"email", b"ana@example.com"), (b"role", b"staff")]))
        put(directory, context(sel, 0, b"globex", b"u-7", None, b"req"))
        put(directory, context(sel, 4, b"initech", b"u-9", b"", None, [(b"role", b"superuser")]))
    # the rules plan (flags bit 0): each cohort, and a pattern that backtracks
    for sel in (0x03, 0x13, 0x06, 0x17):
        put(directory, context(sel, 1, None, None, None, b"r", [(b"q", b"a" * 40 + b"b")]))
        put(directory, context(sel, 1, b"o1", b"u3", b"s", b"r",
                               [(b"x-block", b"1"), (b"plan", b"p4")]))
        put(directory, context(sel, 1, b"o2", b"u10", b"s", b"r",
                               [(b"ua", b"Mozilla Firefox Safari " * 8 + b"!")]))
        put(directory, context(sel, 1, None, b"u", None, None,
                               [(b"email", "bob@exämple.com".encode())]))
        put(directory, context(sel, 3, b"o0", None, None, None))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_corpus.py SEEDGEN OUTDIR")
    seedgen, out = sys.argv[1], sys.argv[2]
    dirs = {h: os.path.join(out, h) for h in ("plan", "metrics", "state", "decide", "pattern")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    plans = files("examples", "plans")
    for f in plans + files("tests", "plans", "invalid"):
        shutil.copy(f, os.path.join(dirs["plan"], os.path.basename(f)))
    for f in files("examples", "metrics"):
        shutil.copy(f, os.path.join(dirs["metrics"], os.path.basename(f)))
    subprocess.run([seedgen, out] + plans, check=True)
    for h in ("state", "decide", "plan", "metrics", "pattern"):
        for f in files("tests", "fuzz", "seeds", h):
            shutil.copy(f, os.path.join(dirs[h], os.path.basename(f)))
    decide_seeds(dirs["decide"])
    for h, d in sorted(dirs.items()):
        print(f"{h}: {len(os.listdir(d))} seeds in {d}")


if __name__ == "__main__":
    main()
