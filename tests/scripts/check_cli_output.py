#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_cli_output.py ROLLOUT_CLI — output hygiene of the rollout tool
(docs/security.md, "Output hygiene"), run from the source tree.

A copy of the seed plan whose every free text (description, message, channel,
audience, role name, version label, smoke-test name) holds ESC, BEL, CSI and
OSC sequences, a C1 CSI, DEL, tab, CR, newline, quotes and backslashes, and
unit ids that are not UTF-8 at all, go through every command of the tool.

  - text output: stdout and stderr are valid UTF-8 and hold no C0 control but
    the tool's own newlines, no DEL and no C1 control; plan texts show as \\xHH;
  - --json output: strict JSON (no NaN, no lone surrogates) that decodes to the
    plan's texts exactly, and to bytes.decode("utf-8", "replace") of an id
    (one U+FFFD per maximal ill-formed subpart, as WHATWG decoders do).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

CLI = sys.argv[1] if len(sys.argv) > 1 else "build/rollout"
SEED = "examples/plans/seed.yaml"
METRICS = "examples/metrics/healthy.yaml"

# the hostile text, as a YAML double-quoted scalar spells it, and as it loads
HOSTILE_YAML = r'\e[2J\e]0;owned\a\x9b31m\x7f|tab\t|cr\r|nl\n|q\"|bs\\|é🚀'
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\x7f|tab\t|cr\r|nl\n|q\"|bs\\|é🚀"

# ids from a request or the command line: any bytes at all
HOSTILE_IDS = [
    b"\xffab",
    b"\xc0\xaf",              # overlong '/'
    b"\xed\xa0\x80",          # a surrogate
    b"\xf4\x90\x80\x80",      # above U+10FFFF
    b"x\xe2\x82",             # cut short
    b"\x1b[2Jid\x07",
    b'q"b\\s\x7f\xc2\x9b',
    "é🚀".encode(),
]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def hostile_plan(path):
    """The seed plan with the hostile text in every free-text field."""
    out = []
    section = None
    for line in open(SEED, encoding="utf-8"):
        line = line.rstrip("\n")
        m = re.match(r"^(\w+):", line)
        if m:
            section = m.group(1)
        m = re.match(r"^(\s*(?:- )?(?:description|message|channel|audience|name|stable|new): )(.*)$",
                     line)
        role = section == "roles" and re.match(r"^(  [\w-]+: )(.*)$", line)
        m = m or role
        if m and not m.group(2).startswith(("{", "[")):
            value = m.group(2).strip('"')
            line = f'{m.group(1)}"{HOSTILE_YAML}{value}"'
        out.append(line)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def run(args, want=None):
    """Runs the tool; returns (exit code, stdout bytes, stderr bytes)."""
    argv = [CLI] + [a if isinstance(a, bytes) else a.encode() for a in args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if b"Sanitizer" in p.stderr:  # the ASan+UBSan build runs this too
        fail(f"{args!r}: {p.stderr[:600]!r}")
    if want is not None and p.returncode != want:
        fail(f"{args!r} exited {p.returncode}, wanted {want}: {p.stderr[:300]!r}")
    return p.returncode, p.stdout, p.stderr


C0_BUT_NL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]")


def clean_text(what, data):
    """Valid UTF-8 with no control character but newline."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"{what}: not UTF-8 ({e}): {data[:200]!r}")
        return ""
    m = C0_BUT_NL.search(s)
    if m:
        fail(f"{what}: raw control character {m.group()!r} at {m.start()}: "
             f"{s[max(0, m.start() - 40):m.start() + 40]!r}")
    return s


def text_cmd(args, want=0, expect=()):
    """A text command: clean stdout and stderr, each expected piece shown."""
    _, out, err = run(args, want)
    o = clean_text(f"{args!r} stdout", out)
    e = clean_text(f"{args!r} stderr", err)
    for piece in expect:
        if piece not in o + e:
            fail(f"{args!r}: {piece!r} not in the output: {(o + e)[:400]!r}")
    return o, e


def reject_constant(name):
    raise ValueError(f"not JSON: {name}")


def no_surrogates(what, v):
    if isinstance(v, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            fail(f"{what}: lone surrogate in {v!r}")
    elif isinstance(v, list):
        for x in v:
            no_surrogates(what, x)
    elif isinstance(v, dict):
        for k, x in v.items():
            no_surrogates(what, k)
            no_surrogates(what, x)


def json_cmd(args, want=0):
    """A --json command: strict JSON on stdout (and clean stderr)."""
    _, out, err = run(args, want)
    clean_text(f"{args!r} stderr", err)
    clean_text(f"{args!r} stdout", out)  # JSON escapes every control character too
    try:
        doc = json.loads(out.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        fail(f"{args!r}: not strict JSON ({e}): {out[:300]!r}")
        return None
    no_surrogates(repr(args), doc)
    return doc


def strings(v):
    """Every string in a JSON document."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from strings(x)


def has_hostile(what, doc):
    if doc is not None and not any(HOSTILE in s for s in strings(doc)):
        fail(f"{what}: the plan's text does not come back exactly from the JSON")


def main():
    tmp = tempfile.mkdtemp()
    plan = os.path.join(tmp, "hostile.yaml")
    hostile_plan(plan)
    esc = "\\x1b[2J\\x1b]0;owned\\x07\\xc2\\x9b31m\\x7f|tab\\x09|cr\\x0d|nl\\x0a|"
    at = "2026-02-28T12:00:00Z"
    ids = HOSTILE_IDS  # bytes go to argv as they are

    # plan texts in text output
    text_cmd(["validate", plan])
    text_cmd(["show", plan])
    text_cmd(["simulate", plan, "--out", os.path.join(tmp, "sim")], expect=[esc])
    text_cmd(["schedule", plan, "--at", at])
    text_cmd(["calendar", plan], expect=[esc])
    o, _ = text_cmd(["decide", plan, "--at", at, "--org", "acme-corp", "--user", "u1"])
    if not o.startswith("NEW app:prev") and not o.startswith("STABLE app:prev") and \
            "\\x1b[2J" not in o.split("\n")[0]:
        fail(f"decide: the version label is not shown escaped: {o[:200]!r}")
    text_cmd(["evaluate", plan, "--gate", "canary-go", METRICS], expect=["verdict: PASS"])

    st = os.path.join(tmp, "state")
    text_cmd(["state", "init", "--state", st, plan])
    text_cmd(["state", "apply", "start", "--state", st, plan, "--at", "2026-02-28T09:00:00Z"],
             expect=[esc])
    text_cmd(["state", "tick", "--state", st, plan, "--at", "2026-02-28T11:00:00Z"])
    text_cmd(["state", "show", "--state", st, plan, "--at", at])
    o, _ = text_cmd(["state", "apply", "rollback", "critical_bug", "--state", st, plan,
                     "--at", "2026-02-28T11:30:00Z"], expect=[esc])
    # one action a line: a newline in a text cannot forge another action
    if o.count("\n") != len([ln for ln in o.split("\n") if ln]):
        fail(f"state apply: actions are not one a line: {o!r}")

    # ids and arguments that are not UTF-8, in text and in error messages
    text_cmd(["bucket", "--"] + ids, expect=["\\xff", "\\xc0\\xaf", "\\x1b[2Jid\\x07"])
    staff = ["--at", at, "--attr", "email=a@example.com", "--session"]
    text_cmd(["decide", plan] + staff + [ids[0] + ids[5]], expect=["\\xffab\\x1b[2Jid\\x07"])
    text_cmd(["bucket", "--weight", "\x1b[2J", "x"], want=2, expect=["\\x1b[2J"])
    text_cmd(["decide", "--bogus\x1b[2J"], want=2, expect=["\\x1b[2J"])
    text_cmd(["no-such\x1b]0;x\x07"], want=2, expect=["\\x1b]0;x\\x07"])
    text_cmd(["decide", "--at", "\x1b[2J"], want=2, expect=["\\x1b[2J"])
    text_cmd(["evaluate", plan, "--gate", "no\x1b[2J", METRICS], want=1, expect=["\\x1b[2J"])
    text_cmd(["state", "apply", "approve", "gate\x1b[2J", "sre", "--state", st, plan],
             want=1, expect=["\\x1b[2J"])
    text_cmd(["state", "apply", "verdict", b"\x9b\xff", "--state", st, plan], want=2,
             expect=["\\x9b\\xff"])
    nowhere = os.path.join(tmp, "no\x1b[2Jdir", "state")
    text_cmd(["state", "show", "--state", nowhere, plan], want=2, expect=["no\\x1b[2Jdir"])
    text_cmd(["state", "init", "--state", nowhere, plan], want=2, expect=["no\\x1b[2Jdir"])
    text_cmd(["decide", plan, "--state-file", nowhere], want=2, expect=["no\\x1b[2Jdir"])
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(open(plan, encoding="utf-8").read() + f'"{HOSTILE_YAML}": 1\n')
    text_cmd(["validate", bad], want=1, expect=["\\x1b[2J"])

    # --json: strict, and the texts come back exactly
    doc = json_cmd(["bucket", "--json", "--"] + ids)
    if doc is not None:
        got = [d["id"] for d in doc]
        want = [i.decode("utf-8", "replace") for i in HOSTILE_IDS]
        if got != want:
            fail(f"bucket --json ids: {got!r}, wanted {want!r}")
    doc = json_cmd(["decide", plan, "--json"] + staff + [ids[0]])
    if doc is not None and "\\xffab" not in doc["explanation"]:
        fail(f"decide --json: explanation {doc['explanation']!r}")
    doc = json_cmd(["decide", plan, "--json", "--at", at, "--org", "acme-corp", "--user", "u"])
    if doc is not None and doc["version"] not in (HOSTILE + "app:previous",
                                                  HOSTILE + "app:candidate"):
        fail(f"decide --json: version {doc['version']!r}")
    doc = json_cmd(["show", "--json", plan])
    if doc is not None and doc["description"] != HOSTILE + "Rollout Plan — Canary to Full Production":
        fail(f"show --json: description {doc['description']!r}")
    has_hostile("calendar --format json", json_cmd(["calendar", plan, "--format", "json"]))
    json_cmd(["schedule", plan, "--at", at, "--json"])
    json_cmd(["evaluate", plan, "--gate", "canary-go", METRICS, "--json"])
    json_cmd(["state", "show", "--state", st, plan, "--at", at, "--json"])
    st2 = os.path.join(tmp, "state2")
    json_cmd(["state", "init", "--state", st2, plan, "--json"])
    has_hostile("state apply --json",
                json_cmd(["state", "apply", "start", "--state", st2, plan, "--json",
                          "--at", "2026-02-28T09:00:00Z"]))
    has_hostile("state apply rollback --json",
                json_cmd(["state", "apply", "rollback", "manual", "--state", st2, plan, "--json",
                          "--at", "2026-02-28T09:30:00Z"]))
    cal = os.path.join(tmp, "sim", "calendar.json")
    if os.path.exists(cal):
        with open(cal, "rb") as f:
            has_hostile("simulate's calendar.json",
                        json.loads(f.read().decode("utf-8"), parse_constant=reject_constant))
    else:
        fail("simulate wrote no calendar.json")

    if failures:
        print(f"check_cli_output: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("check_cli_output: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
