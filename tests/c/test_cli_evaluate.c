/* SPDX-License-Identifier: MIT */
/*
 * test_cli_evaluate.c — `rollout evaluate` as a gate script sees it: one
 * line per criterion, the verdict line, JSON, and the exit codes 0 PASS,
 * 3 FAIL, 4 INCONCLUSIVE, 5 ROLLBACK, 1 invalid input, 2 usage or I/O.
 */
#define _POSIX_C_SOURCE 200809L /* popen */

#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int run(const char *args, bool with_stderr, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s evaluate %s %s", ROLLOUT_CLI, args,
             with_stderr ? "2>&1" : "2>/dev/null");
    FILE *f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int status = pclose(f);
    cr_assert(WIFEXITED(status), "%s did not exit", cmd);
    return WEXITSTATUS(status);
}

#define M "examples/metrics/"

Test(cli_evaluate, healthy_canary_passes)
{
    char out[8192];
    cr_assert_eq(run("--phase canary " M "healthy.yaml", false, out, sizeof out), 0);
    cr_assert_str_eq(out,
                     "PASS          zero-critical-errors     critical_errors is 0\n"
                     "PASS          smoke-tests              all 7 smoke tests passed\n"
                     "PASS          latency-p95              latency_p95 1.4s < max 2s\n"
                     "PASS          no-unhandled-exceptions  unhandled_exceptions is 0\n"
                     "PASS          data-integrity           data_integrity_issues is 0\n"
                     "PASS          error-rate-runaway       error_rate 0.07% <= max 5%\n"
                     "verdict: PASS (criteria canary: 6 pass, 0 fail, 0 inconclusive)\n");
}

Test(cli_evaluate, exit_code_per_verdict)
{
    char out[8192];
    cr_expect_eq(run("--phase pilot " M "slightly-worse.yaml", false, out, sizeof out), 0);
    cr_expect_eq(run("--phase pilot " M "clearly-worse.yaml", false, out, sizeof out), 3);
    cr_expect(strstr(out, "FAIL          latency-p95           latency_p95 3.4s >= max 3s\n"), "%s",
              out);
    cr_expect(strstr(out, "verdict: FAIL (criteria pilot: 5 pass, 2 fail, 0 inconclusive)\n"),
              "%s", out);
    cr_expect_eq(run("--phase canary " M "no-data.yaml", false, out, sizeof out), 4);
    cr_expect(strstr(out, "verdict: INCONCLUSIVE"), "%s", out);
    cr_expect_eq(run("--phase canary " M "critical.yaml", false, out, sizeof out), 5);
    cr_expect(strstr(out, "FAIL          zero-critical-errors     critical_errors is 2; it must "
                          "be 0  [rollback]\n"),
              "%s", out);
    cr_expect(strstr(out, "verdict: ROLLBACK (criteria canary: 2 pass, 4 fail, 0 inconclusive); "
                          "rollback triggered by zero-critical-errors (critical_bug)\n"),
              "%s", out);
    /* the seed's third trigger: an uncontrollable error rate, in any phase */
    cr_expect_eq(run("--phase pilot " M "runaway.yaml", false, out, sizeof out), 5);
    cr_expect(strstr(out, "FAIL          error-rate-runaway    error_rate 9% > max 5%  [rollback]\n"),
              "%s", out);
    cr_expect(strstr(out, "rollback triggered by error-rate-runaway (error_rate)\n"), "%s", out);
}

Test(cli_evaluate, targets_and_an_explicit_plan)
{
    char out[8192];
    cr_expect_eq(run("examples/plans/seed.yaml --gate pilot-go " M "critical.yaml", false, out,
                     sizeof out),
                 5);
    cr_expect(strstr(out, "rollback triggered by data-integrity"), "%s", out);
    cr_expect_eq(run("--criteria ga " M "healthy.yaml", false, out, sizeof out), 0);
    cr_expect(strstr(out, "(criteria ga: 9 pass"), "%s", out);
    cr_expect_eq(run(M "post-rollout.json --bake", false, out, sizeof out), 0);
    cr_expect(strstr(out, "(criteria post-rollout: 8 pass"), "%s", out);
}

Test(cli_evaluate, json)
{
    char out[16384];
    cr_assert_eq(run("--phase canary --json " M "critical.yaml", false, out, sizeof out), 5);
    cr_expect(!strncmp(out, "{\"criteria\": \"canary\", \"verdict\": \"ROLLBACK\", \"pass\": 2, "
                            "\"fail\": 4, \"inconclusive\": 0, \"rollback_criterion\": "
                            "\"zero-critical-errors\", \"rollback_reason\": \"critical_bug\", "
                            "\"results\": [\n",
                       strlen("{\"criteria\": \"canary\", \"verdict\": \"ROLLBACK\", \"pass\": "
                              "2, \"fail\": 4, \"inconclusive\": 0, \"rollback_criterion\": "
                              "\"zero-critical-errors\", \"rollback_reason\": \"critical_bug\", "
                              "\"results\": [\n")),
              "%s", out);
    cr_expect(strstr(out, "{\"id\": \"zero-critical-errors\", \"metric\": \"critical_errors\", "
                          "\"verdict\": \"FAIL\", \"rollback\": true, \"observed\": 2, "
                          "\"threshold\": 0, \"baseline\": null, \"p_value\": null, \"lower\": "
                          "null, \"upper\": null, \"samples\": 8000, \"dry_run\": false, "
                          "\"direction\": \"higher_is_worse\", \"sla\": null, \"reason\": "
                          "\"critical_errors is 2; it must be 0\"}"),
              "%s", out);
    cr_expect(strstr(out, "\"id\": \"smoke-tests\", \"metric\": \"smoke_tests\", \"verdict\": "
                          "\"FAIL\", \"rollback\": false, \"observed\": 6, \"threshold\": 7"),
              "%s", out);
}

Test(cli_evaluate, invalid_input_is_1)
{
    char out[8192];
    cr_expect_eq(run("--phase beta " M "healthy.yaml", true, out, sizeof out), 1);
    cr_expect_str_eq(out, "rollout evaluate: no phase named \"beta\"\n");
    /* a broken snapshot reports where, like a plan */
    cr_expect_eq(run("--phase canary tests/plans/invalid/syntax-tab.yaml", true, out, sizeof out),
                 1);
    cr_expect_str_eq(out, "tests/plans/invalid/syntax-tab.yaml:7:1: a tab character here; YAML "
                          "indents with spaces only\n");
    cr_expect_eq(run("--phase canary examples/plans/seed.yaml", true, out, sizeof out), 1);
    cr_expect_str_eq(out, "examples/plans/seed.yaml:12:1: id: unknown key \"id\" (expected one "
                          "of: format, new, baseline)\n");
    /* and a snapshot is not a plan */
    cr_expect_eq(run(M "healthy.yaml --phase canary " M "healthy.yaml", true, out, sizeof out), 1);
    cr_expect(!strncmp(out, M "healthy.yaml:6:1: new: unknown key \"new\"", 57), "%s", out);
}

Test(cli_evaluate, usage_and_io_are_2)
{
    char out[8192];
    /* a plan that cannot be read is an I/O error, as for every command */
    cr_expect_eq(run("nope.yaml --phase canary " M "healthy.yaml", true, out, sizeof out), 2);
    cr_expect_eq(run("", true, out, sizeof out), 2);
    cr_expect(strstr(out, "say what to evaluate"), "%s", out);
    cr_expect_eq(run("--phase canary", true, out, sizeof out), 2);
    cr_expect(strstr(out, "no METRICS_FILE"), "%s", out);
    cr_expect_eq(run("--phase canary --gate pilot-go " M "healthy.yaml", true, out, sizeof out),
                 2);
    cr_expect_eq(run("--phase canary --frobnicate " M "healthy.yaml", true, out, sizeof out), 2);
    cr_expect_eq(run("--phase canary " M "missing.yaml", true, out, sizeof out), 2);
    cr_expect_str_eq(out, M "missing.yaml: cannot open: No such file or directory\n");
    /* an unreadable plan is an I/O error too; an invalid one is 1 */
    cr_expect_eq(run("nope.yaml --phase canary " M "healthy.yaml", true, out, sizeof out), 2);
    cr_expect_eq(run("--help", false, out, sizeof out), 0);
    cr_expect(strstr(out, "usage: rollout evaluate"), "%s", out);
    cr_expect(strstr(out, "Exit status: 0 PASS (go), 3 FAIL (no-go), 4 INCONCLUSIVE"), "%s", out);
}

/* Every "# expect: ARGS => VERDICT" line at the top of a snapshot under
 * examples/metrics/ is what a reader of the seed expects `rollout evaluate`
 * to answer; each is run and checked, verdict line and exit status. */
Test(cli_evaluate, example_snapshots_give_the_verdicts_their_comments_promise)
{
    static const char *const files[] = {"critical.yaml", "beyond-last-bucket.yaml",
                                        "nan-kpi.yaml", "few-samples.yaml"};
    static const struct { const char *verdict; int exit; } codes[] = {
        {"PASS", 0}, {"FAIL", 3}, {"INCONCLUSIVE", 4}, {"ROLLBACK", 5}};
    int checked = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256], line[512];
        snprintf(path, sizeof path, M "%s", files[i]);
        FILE *f = fopen(path, "r");
        cr_assert(f, "cannot open %s", path);
        int in_file = 0;
        while (fgets(line, sizeof line, f) && line[0] == '#') {
            char args[256], verdict[32];
            if (sscanf(line, "# expect: %255[^=]=> %31s", args, verdict) != 2)
                continue;
            int want = -1;
            for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++)
                if (!strcmp(codes[c].verdict, verdict))
                    want = codes[c].exit;
            cr_assert_geq(want, 0, "%s: unknown verdict %s", path, verdict);
            char cmd[600], out[8192], vline[64];
            snprintf(cmd, sizeof cmd, "%s %s", args, path);
            int got = run(cmd, false, out, sizeof out);
            snprintf(vline, sizeof vline, "verdict: %s (", verdict);
            cr_expect_eq(got, want, "%s: %s exited %d, want %d\n%s", files[i], args, got, want,
                         out);
            cr_expect(strstr(out, vline), "%s: %s\n%s", files[i], args, out);
            cr_expect(!strstr(out, "infs") && !strstr(out, "nans"), "%s", out);
            in_file++;
        }
        fclose(f);
        cr_expect_gt(in_file, 0, "%s has no \"# expect:\" line", path);
        checked += in_file;
    }
    cr_expect_geq(checked, 8);
}
