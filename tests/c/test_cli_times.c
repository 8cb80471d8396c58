/* SPDX-License-Identifier: MIT */
/*
 * test_cli_times.c — the rollout tool's --at and --start (docs/security.md,
 * issue 17 items 3 and 8): one parser (cli_parse_time) refuses an epoch
 * number that overflows, and every time outside 0001-01-01T00:00:00Z ..
 * 9999-12-31T23:59:59Z, with a message and exit 2, instead of clamping it
 * to INT64_MAX ("never"); `state show` of a state holding such a time is
 * refused by the decoder. The binary is ROLLOUT_CLI; tests run from the
 * source tree.
 */
#define _POSIX_C_SOURCE 200809L

#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const bad_times[] = {
    "-9223372036854775808", /* INT64_MIN: rp_format_time negated it (UBSan) */
    "9223372036854775807",  /* INT64_MAX: "never" */
    "9223372036854775808",  /* overflows: strtoll clamped it to INT64_MAX */
    "-9223372036854775809",
    "99999999999999999999999",
    "1772269200000",        /* a millisecond timestamp */
    "253402300800",         /* one second after 9999-12-31T23:59:59Z */
    "-62135596801",         /* one second before 0001-01-01T00:00:00Z */
    "9999-12-31T23:59:59-00:01",
    "0001-01-01T00:00:00+00:01",
};

static void expect_refused(run_result *r, const char *what)
{
    cr_expect_eq(r->status, 2, "%s: exit %d, stderr %s", what, r->status, r->err);
    cr_expect(strstr(r->err, "is outside the times the library accepts, 0001-01-01T00:00:00Z .. "
                             "9999-12-31T23:59:59Z"),
              "%s: %s", what, r->err);
    cr_expect(!strstr(r->err, "runtime error"), "%s: %s", what, r->err);
    cr_expect_eq(r->out_len, 0, "%s: %s", what, r->out);
}

Test(cli_times, every_time_option_refuses_out_of_range_values)
{
    for (size_t i = 0; i < RP_COUNT(bad_times); i++) {
        const char *t = bad_times[i];
        run_result r = T_RUN("schedule", "--at", t);
        expect_refused(&r, "schedule --at");
        t_run_free(&r);
        r = T_RUN("schedule", "--at", "2026-03-01T00:00:00Z", "--start", t);
        expect_refused(&r, "schedule --start");
        t_run_free(&r);
        r = T_RUN("calendar", "--start", t);
        expect_refused(&r, "calendar --start");
        t_run_free(&r);
        r = T_RUN("decide", "--org", "acme-corp", "--at", t);
        expect_refused(&r, "decide --at");
        t_run_free(&r);
        r = T_RUN("simulate", "--start", t, "--out", "/nonexistent/never-written");
        expect_refused(&r, "simulate --start");
        t_run_free(&r);
    }
}

Test(cli_times, the_ends_of_the_range_are_accepted)
{
    static const char *const ok[] = {"253402300799", "9999-12-31T23:59:59Z", "-62135596800",
                                     "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+01:00"};
    for (size_t i = 0; i < RP_COUNT(ok); i++) {
        run_result r = T_RUN("schedule", "--at", ok[i]);
        cr_expect_eq(r.status, 0, "%s: %s", ok[i], r.err);
        cr_expect(!strstr(r.err, "runtime error"), "%s", r.err);
        t_run_free(&r);
    }
}

/* A fresh directory with a state file of the seed; the path is static. */
static const char *state_file(void)
{
    static char dir[256], path[300];
    snprintf(dir, sizeof dir, "/tmp/rollout-cli-times-%ld-XXXXXX", (long)getpid());
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state", dir);
    run_result r = T_RUN("state", "init", "--state", path);
    cr_assert_eq(r.status, 0, "%s", r.err);
    t_run_free(&r);
    return path;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char *buf = calloc(1, ROLLOUT_STATE_TEXT_MAX + 2);
    cr_assert(buf);
    size_t n = fread(buf, 1, ROLLOUT_STATE_TEXT_MAX + 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(cli_times, state_apply_at_the_end_of_time_is_refused)
{
    /* `state apply start --at 9223372036854775807` emitted set_weight
     * everyone 100 % with no gate decided, and a millisecond --at locked the
     * file: every later event was "time runs backwards" */
    const char *path = state_file();
    char *before = read_text(path);
    for (size_t i = 0; i < RP_COUNT(bad_times); i++) {
        run_result r = T_RUN("state", "apply", "start", "--state", path, "--at", bad_times[i]);
        expect_refused(&r, "state apply start --at");
        cr_expect(!strstr(r.out, "set_weight"), "%s", r.out);
        t_run_free(&r);
        r = T_RUN("state", "tick", "--state", path, "--at", bad_times[i]);
        expect_refused(&r, "state tick --at");
        t_run_free(&r);
        r = T_RUN("state", "show", "--state", path, "--at", bad_times[i]);
        expect_refused(&r, "state show --at");
        t_run_free(&r);
    }
    char *after = read_text(path);
    cr_expect_str_eq(after, before, "the state file is untouched");
    free(after);
    run_result r = T_RUN("state", "apply", "start", "--state", path, "--at", "2026-02-28T09:00:00Z");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "set_weight") && !strstr(r.out, "everyone"), "%s", r.out);
    t_run_free(&r);
    free(before);
}

Test(cli_times, state_show_of_a_start_before_year_1_is_refused)
{
    /* a checksummed state whose started_at is INT64_MIN: `state show`
     * formatted it with UBSan tripping; now the decoder refuses it */
    rollout_plan *p = t_seed();
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1},
            rollout_plan_start(p));
    s.started_at = INT64_MIN;
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(&s, text, sizeof text);
    cr_assert(len > 0);
    rollout_plan_unref(p);
    const char *path = state_file();
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "%s\n", text);
    fclose(f);
    run_result r = T_RUN("state", "show", "--state", path, "--at", "2026-03-01T00:00:00Z");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.err, "not a valid rollout state: a time outside 0001-01-01T00:00:00Z .. "
                            "9999-12-31T23:59:59Z"),
              "%s", r.err);
    cr_expect(!strstr(r.err, "runtime error"), "%s", r.err);
    t_run_free(&r);
}
