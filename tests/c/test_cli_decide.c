/* SPDX-License-Identifier: MIT */
/*
 * test_cli_decide.c — `rollout bucket` and `rollout decide` as a script sees
 * them: output text, JSON, exit codes. Buckets are the frozen vectors'
 * (salt ledger-v2-2026-02: acme-corp 82372, globex 47558, a 86480, A 6148).
 */
#define _POSIX_C_SOURCE 200809L /* popen */

#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs the tool with args (a shell fragment); returns its exit status and
 * its stdout (stderr is folded in only when `with_stderr`). */
static int run(const char *args, bool with_stderr, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s %s", ROLLOUT_CLI, args, with_stderr ? "2>&1" : "2>/dev/null");
    FILE *f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int status = pclose(f);
    cr_assert(WIFEXITED(status), "%s did not exit", cmd);
    return WEXITSTATUS(status);
}

Test(cli_bucket, salt_and_ids)
{
    char out[4096];
    cr_assert_eq(run("bucket --salt ledger-v2-2026-02 acme-corp globex -- a", false, out,
                     sizeof out),
                 0);
    cr_assert_str_eq(out, "82372 acme-corp\n47558 globex\n86480 a\n");
    /* the seed plan's salt is the default */
    cr_assert_eq(run("bucket --weight 50% A acme-corp", false, out, sizeof out), 0);
    cr_assert_str_eq(out, "6148 in  A\n82372 out acme-corp\n");
    cr_assert_eq(run("bucket --json --weight 50% globex", false, out, sizeof out), 0);
    cr_assert_str_eq(out, "[{\"id\": \"globex\", \"bucket\": 47558, \"in\": true}]\n");
    cr_assert_eq(run("bucket --salt ledger-v2-2026-02 -- -x", false, out, sizeof out), 0);
}

Test(cli_bucket, errors)
{
    char out[4096];
    cr_assert_eq(run("bucket --salt s ''", true, out, sizeof out), 1);
    cr_assert(strstr(out, "an empty id has no bucket"), "%s", out);
    cr_assert_eq(run("bucket --salt s", true, out, sizeof out), 2);
    cr_assert_eq(run("bucket --salt s --plan x.yaml a", true, out, sizeof out), 2);
    cr_assert_eq(run("bucket --weight lots a", true, out, sizeof out), 2);
    cr_assert_eq(run("bucket --frobnicate a", true, out, sizeof out), 2);
    cr_assert_eq(run("bucket --help", false, out, sizeof out), 0);
    cr_assert(strstr(out, "usage: rollout bucket"), "%s", out);
}

Test(cli_decide, canary)
{
    char out[4096];
    cr_assert_eq(run("decide --at 2026-02-28T10:00:00Z --org acme-corp --session a "
                     "--attr email=dev@example.com",
                     false, out, sizeof out),
                 0);
    cr_assert_str_eq(out, "NEW app:candidate (IN_ROLLOUT)\n"
                          "session a is in cohort internal; bucket 86 480 < weight 100 000 at "
                          "step 1 of phase canary\n");
    /* the same moment as epoch seconds, and --attr=... */
    cr_assert_eq(run("decide examples/plans/seed.yaml --at 1772272800 --org acme-corp "
                     "--session=a --attr=email=dev@example.com",
                     false, out, sizeof out),
                 0);
    cr_assert(strncmp(out, "NEW app:candidate (IN_ROLLOUT)\n", 31) == 0, "%s", out);
}

Test(cli_decide, json)
{
    char out[4096];
    cr_assert_eq(run("decide --at 2026-02-28T10:00:00Z --org globex --user A --json", false,
                     out, sizeof out),
                 0);
    cr_assert_str_eq(out, "{\"at\": \"2026-02-28T10:00:00Z\", \"variant\": \"stable\", "
                          "\"version\": \"app:previous\", \"reason\": \"PHASE_NOT_STARTED\", "
                          "\"cohort\": \"pilot\", \"phase\": \"pilot\", \"step\": null, "
                          "\"unit\": null, \"bucket\": null, \"weight\": 0, \"percent\": 0, "
                          "\"explanation\": "
                          "\"the request is in cohort pilot, whose phase pilot has not begun; "
                          "weight 0, stable version\", \"cause\": \"it begins after gate "
                          "canary-go, due 2026-02-28T11:00:00Z\"}\n");
    cr_assert_eq(run("decide --at 2026-02-28T10:00:00Z --session a --attr role=staff --json",
                     false, out, sizeof out),
                 0);
    cr_assert(strstr(out, "\"variant\": \"new\""), "%s", out);
    cr_assert(strstr(out, "\"step\": 0, \"unit\": \"session\", \"bucket\": 86480, "
                          "\"weight\": 100000"),
              "%s", out);
}

Test(cli_decide, usage_and_invalid_input)
{
    char out[4096];
    cr_assert_eq(run("decide --at yesterday --org a", true, out, sizeof out), 2);
    cr_assert_eq(run("decide --attr novalue", true, out, sizeof out), 2);
    cr_assert(strstr(out, "--attr takes KEY=VALUE"), "%s", out);
    cr_assert_eq(run("decide --state a --state-file b", true, out, sizeof out), 2);
    cr_assert_eq(run("decide --bogus", true, out, sizeof out), 2);
    cr_assert_eq(run("decide --state rs1.AAAA --org a", true, out, sizeof out), 1);
    cr_assert(strstr(out, "invalid state"), "%s", out);
    /* a plan that cannot be read is an I/O error, as for validate */
    cr_assert_eq(run("decide tests/plans/does-not-exist.yaml --org a", true, out, sizeof out),
                 2);
    cr_assert_eq(run("decide --help", false, out, sizeof out), 0);
    cr_assert(strstr(out, "usage: rollout decide"), "%s", out);
}
