# SPDX-License-Identifier: MIT
"""The seed plan made runnable by `rollout operator` against the series of
prometheus_server.seed_series: shared by tests/operator and scripts/demo.py."""
import os

from prometheus_server import SEED_CRITICAL_QUERY, SEED_QUERIES, SEED_SMOKE_QUERY, SEED_WINDOW

# (gate, due offset, approvers), in order
GATES = [("canary-go", 2 * 3600, ["engineering-lead", "product-lead"]),
         ("pilot-go", 24 * 3600, ["sre-lead", "product-lead"]),
         ("ga-day2-go", 3 * 86400, ["product", "sre"]),
         ("ga-day3-go", 4 * 86400, ["product", "sre"]),
         ("ga-day4-go", 5 * 86400, ["product", "sre"])]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_plan(path, prom_url, hook_url, critical=False, hooks_log=None, inconclusive_limit=None,
               auto_go=True):
    """The seed plan with auto_go on every gate (unless auto_go=False), an
    optional inconclusive_limit on the phase gates, and an operator: section
    reading the series of prometheus_server.seed_series (critical=True: the
    ones whose critical errors rise), webhooks under hook_url (the emergency
    channel's from $ROLLOUT_TEST_EMERGENCY_URL) and, with hooks_log, hooks
    that append their action, step and version to that file."""
    seed = open(os.path.join(ROOT, "examples", "plans", "seed.yaml")).read()
    gate_extra = "\n      auto_go: true" if auto_go else ""
    if inconclusive_limit is not None:
        gate_extra += "\n      inconclusive_limit: %d" % inconclusive_limit
    seed = seed.replace("      on_no_go: rollback\n", "      on_no_go: rollback%s\n" % gate_extra)
    if auto_go:
        seed = seed.replace("on_no_go: hold}", "on_no_go: hold, auto_go: true}")
    queries = dict(SEED_QUERIES)
    if critical:
        queries["critical_errors"] = SEED_CRITICAL_QUERY
    out = [seed, "operator:", "  prometheus:"]
    if prom_url:
        out.append("    url: %s" % prom_url)
    out += ["    timeout: 2s", "    window: %s" % SEED_WINDOW, "    queries:"]
    out += ["      %s: '%s'" % (m, q) for m, q in queries.items()]
    out += ["    smoke_tests: '%s'" % SEED_SMOKE_QUERY, "  channels:",
            '    slack: {url: "%s/slack", format: slack}' % hook_url,
            "    emergency: {url_env: ROLLOUT_TEST_EMERGENCY_URL, format: json}",
            '    default: {url: "%s/default"}' % hook_url]
    if hooks_log:
        out.append("  hooks:")
        for h in ("halt_traffic", "restore_previous", "run_smoke_tests", "resume_service",
                  "open_incident"):
            out.append("    %s: 'echo %s $ROLLOUT_STEP $ROLLOUT_VERSION >> %s'" % (h, h, hooks_log))
        out.append("    timeout: 30s")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path
