# SPDX-License-Identifier: MIT
"""A Prometheus of a test's own, loaded with known series.

Series are backfilled with `promtool tsdb create-blocks-from openmetrics`
into the server's data directory before it starts, so a query at a plan
time (`/api/v1/query?...&time=T`) answers the same on every run. The server
listens on 127.0.0.1 at an ephemeral port, scrapes nothing and is killed by
the test; a missing prometheus is an error, never a skip
(scripts/install-deps.sh installs it).

seed_series() writes the series the seed plan's criteria read (the query
templates are SEED_QUERIES) for both versions: healthy, and a second copy
of the critical errors that rise from a given time (SEED_CRITICAL_QUERY).
"""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEED_START = 1772269200  # 2026-02-28T09:00:00Z, the seed plan's start

# metric -> PromQL, as the plan's operator.prometheus.queries writes them;
# gauges through max_over_time so that samples further apart than
# Prometheus's five-minute lookback are still seen
SEED_QUERIES = {
    "requests": 'sum(increase(app_requests_total{version="{{version}}"}[{{window}}]))',
    "errors": 'sum(increase(app_errors_total{version="{{version}}"}[{{window}}]))',
    "latency_p95": 'max(max_over_time(app_latency_p95_seconds{version="{{version}}"}[{{window}}]))',
    "critical_errors": 'sum(increase(app_critical_errors_total{version="{{version}}",'
                       'scenario="healthy"}[{{window}}]))',
    "unhandled_exceptions":
        'sum(increase(app_unhandled_exceptions_total{version="{{version}}"}[{{window}}]))',
    "issue_resolution_time":
        'max(max_over_time(app_issue_resolution_seconds{version="{{version}}"}[{{window}}]))',
    "support_tickets": 'sum(increase(app_support_tickets_total{version="{{version}}"}[{{window}}]))',
    "availability": 'min(min_over_time(app_availability_ratio{version="{{version}}"}[{{window}}]))',
    "throughput": 'sum(avg_over_time(app_throughput_rps{version="{{version}}"}[{{window}}]))',
    "data_integrity_issues":
        'max(max_over_time(app_data_integrity_issues{version="{{version}}"}[{{window}}]))',
    "financial_inconsistencies":
        'max(max_over_time(app_financial_inconsistencies{version="{{version}}"}[{{window}}]))',
    "usage_kpi_ratio": 'min(min_over_time(app_usage_kpi_ratio{version="{{version}}"}[{{window}}]))',
}
# the same critical errors, of the series that turns bad at critical_from
SEED_CRITICAL_QUERY = SEED_QUERIES["critical_errors"].replace("healthy", "critical")
SEED_SMOKE_QUERY = 'min(min_over_time(smoke_test_passed{version="{{version}}",test="{{test}}"}[{{window}}]))'
SEED_SMOKE_TESTS = ["login-logout", "journal-entry", "trial-balance", "user-create-delete",
                    "user-profile", "help-panel", "error-handling"]
SEED_VERSIONS = ["app:candidate", "app:previous"]
SEED_WINDOW = "30m"  # the plan's operator.prometheus.window for these series


def seed_series(path, start=SEED_START - 3600, end=SEED_START + 12 * 86400 + 7200, step=600,
                critical_from=None):
    """Writes an OpenMetrics file of the seed's series from start to end
    (epoch seconds), one sample every step: 100 requests a second with 0.1 %
    errors, p95 0.8 s, no critical error, every smoke test passing, on both
    versions. Critical errors are written twice, as scenario="healthy"
    (none) and scenario="critical": none either, but with critical_from, the
    new version's rise by one a sample from then on (SEED_CRITICAL_QUERY)."""
    counters = {"app_requests": 100.0, "app_errors": 0.1, "app_unhandled_exceptions": 0.0,
                "app_support_tickets": 0.001}
    gauges = {"app_latency_p95_seconds": 0.8, "app_issue_resolution_seconds": 600,
              "app_availability_ratio": 0.9995, "app_throughput_rps": 100,
              "app_data_integrity_issues": 0, "app_financial_inconsistencies": 0,
              "app_usage_kpi_ratio": 1.0}
    times = range(start, end + 1, step)
    with open(path, "w") as f:
        for name, per_second in counters.items():
            f.write("# TYPE %s counter\n" % name)
            for v in SEED_VERSIONS:
                for t in times:
                    f.write('%s_total{version="%s"} %g %d\n'
                            % (name, v, per_second * (t - start), t))
        f.write("# TYPE app_critical_errors counter\n")
        for scenario in ("healthy", "critical"):
            for v in SEED_VERSIONS:
                for t in times:
                    n = 0
                    if (scenario == "critical" and critical_from is not None
                            and v == SEED_VERSIONS[0] and t >= critical_from):
                        n = (t - critical_from) // step + 1
                    f.write('app_critical_errors_total{version="%s",scenario="%s"} %d %d\n'
                            % (v, scenario, n, t))
        for name, value in gauges.items():
            f.write("# TYPE %s gauge\n" % name)
            for v in SEED_VERSIONS:
                for t in times:
                    f.write('%s{version="%s"} %g %d\n' % (name, v, value, t))
        f.write("# TYPE smoke_test_passed gauge\n")
        for v in SEED_VERSIONS:
            for test in SEED_SMOKE_TESTS:
                for t in times:
                    f.write('smoke_test_passed{version="%s",test="%s"} 1 %d\n' % (v, test, t))
        f.write("# EOF\n")


class PrometheusServer:
    """backfill(openmetrics_file) before start(); query(q, at) for checks."""

    def __init__(self, directory, exe=None, promtool=None, port=None):
        self.dir = str(directory)
        self.exe = exe or shutil.which("prometheus")
        self.promtool = promtool or shutil.which("promtool")
        if not self.exe or not self.promtool:
            raise RuntimeError("prometheus is not installed (scripts/install-deps.sh installs it)")
        self.port = port or free_port()
        self.data = os.path.join(self.dir, "data")
        self.proc = None
        os.makedirs(self.data, exist_ok=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def backfill(self, openmetrics):
        subprocess.run([self.promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
                        openmetrics, self.data], check=True, stdout=subprocess.DEVNULL)

    def start(self, timeout=30):
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global: {}\nscrape_configs: []\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [self.exe, "--config.file", config, "--storage.tsdb.path", self.data,
             "--storage.tsdb.retention.time=100y", "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("prometheus did not start on port %d (log: %s/prometheus.log)"
                           % (self.port, self.dir))

    def query(self, q, at):
        url = "%s/api/v1/query?%s" % (self.url, urllib.parse.urlencode({"query": q, "time": at}))
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
