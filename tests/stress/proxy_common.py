# SPDX-License-Identifier: MIT
"""What the proxy example's checks (check_proxy_*.sh) share: the requests they
send, the answers the proxy writes, and every answer recomputed with
`rollout decide` for the plan and state it names.

    python3 proxy_common.py requests MIX FROM COUNT   (request lines, for bash)
"""
import json
import subprocess
import sys


def request(i, mix):
    """Request i as (org, user, session, attrs); None is an absent id.
    Mix 10: pilot orgs, staff by email and by role, GA orgs, absent ids.
    Mix 4: pilot orgs, staff by email, GA orgs."""
    k = i % mix
    if k == 0:
        return ("acme-corp", f"u{i}", f"s{i}", [])
    if k == 1:
        return (None, None, f"s{i}", [("email", f"user{i}@example.com")])
    if mix == 4:
        return (f"org-{i * 7919}", f"u{i}", f"s{i}", [])
    if k == 2:
        return (f"org-{i}", f"u{i}", f"s{i}", [("role", "staff")])
    if k == 3:
        return (None, f"u{i}", None, [])
    return (f"org-{i * 7919}", f"u{i}", f"s{i}", [("country", "de")])


def request_line(i, mix):
    """Request i as the proxy reads it: ORG USER SESSION [K=V...], - for absent."""
    org, user, session, attrs = request(i, mix)
    return " ".join([org or "-", user or "-", session or "-"] + [f"{k}={v}" for k, v in attrs])


def read_answers(path, total, fail):
    """seq -> (variant, label, reason, plan id, state revision); every one of
    the `total` requests must be answered exactly once, else fail(message)."""
    answers = {}
    with open(path) as f:
        for line in f:
            seq, variant, label, reason, plan, state = line.split()
            seq = int(seq)
            if seq in answers:
                fail(f"request {seq} answered twice")
            answers[seq] = (variant, label, reason, plan.split("=")[1], state.split("=")[1])
    if sorted(answers) != list(range(1, total + 1)):
        fail(f"{len(answers)} answers for {total} requests")
    return answers


def revision(cli, state_file, plan_file):
    """The revision of a state file, as `rollout state show` reads it."""
    out = subprocess.run([cli, "state", "show", "--state", state_file, plan_file, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return str(json.loads(out)["revision"])


def mismatches(cli, at, answers, mix, given, fail):
    """Each answer recomputed with `rollout decide`; given(seq, plan, revision)
    returns the plan file and the state arguments (["--state-file", F] or
    ["--state", LINE]) that answer was made with. A message per answer that
    differs; fail(message) if the CLI does."""
    out = []
    for seq, (variant, label, reason, plan, rev) in sorted(answers.items()):
        plan_file, state = given(seq, plan, rev)
        org, user, session, attrs = request(seq - 1, mix)
        cmd = [cli, "decide", plan_file, "--at", at, *state, "--json"]
        for flag, value in (("--org", org), ("--user", user), ("--session", session)):
            if value is not None:
                cmd += [flag, value]
        for k, v in attrs:
            cmd += ["--attr", f"{k}={v}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr}")
        want = json.loads(r.stdout)
        if (variant.lower(), label, reason) != (want["variant"], want["version"], want["reason"]):
            out.append(f"request {seq} ({plan} state revision {rev}): proxy {variant} {label} "
                       f"{reason}, rollout decide {want['variant']} {want['version']} "
                       f"{want['reason']}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "requests":
        sys.exit(__doc__)
    mix, start, count = (int(a) for a in sys.argv[2:])
    for i in range(start, start + count):
        print(request_line(i, mix))
