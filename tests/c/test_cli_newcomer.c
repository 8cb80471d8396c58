/* SPDX-License-Identifier: MIT */
/*
 * test_cli_newcomer.c — the rollout tool on a newcomer's first questions:
 * decide explains a phase that has not begun by its gate and can project
 * every GO (--projected), simulate builds its samples from the plan's own
 * cohorts, one offset notation across simulate, schedule and calendar,
 * validate's warnings, and weights as percent beside the exact units in JSON.
 * The binary is ROLLOUT_CLI; tests run from the source tree.
 */
#define _POSIX_C_SOURCE 200809L

#include "support.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define OWN "tests/plans/own-cohorts.yaml"

static void has(const char *text, const char *want)
{
    cr_assert(strstr(text, want), "no \"%s\" in:\n%s", want, text);
}

static void lacks(const char *text, const char *unwanted)
{
    cr_assert(!strstr(text, unwanted), "\"%s\" in:\n%s", unwanted, text);
}

/* ---- decide and schedule without a state ---------------------------------------- */

Test(decide, a_phase_not_begun_names_the_gate_it_waits_for)
{
    run_result r = T_RUN("decide", "--at", "2026-03-20T00:00:00Z", "--org", "foo");
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "PHASE_NOT_STARTED");
    has(r.out, "waiting for gate canary-go: no GO recorded");
    has(r.out, "--projected");
    t_run_free(&r);
}

Test(decide, projected_agrees_with_the_calendar)
{
    /* the calendar has ga at 100 % from 2026-03-04 on */
    run_result c = T_RUN("calendar");
    cr_assert_eq(c.status, 0);
    has(c.out, "100%");
    t_run_free(&c);
    run_result r = T_RUN("decide", "--at", "2026-03-20T00:00:00Z", "--org", "foo", "--projected");
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "NEW app:candidate (IN_ROLLOUT)");
    has(r.out, "of phase ga");
    t_run_free(&r);
    /* one hour in, the first gate is not due yet: nothing to project */
    r = T_RUN("decide", "--at", "2026-02-28T10:00:00Z", "--org", "foo", "--projected");
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "PHASE_NOT_STARTED");
    has(r.out, "it begins after gate canary-go, due 2026-02-28T11:00:00Z");
    t_run_free(&r);
}

Test(schedule, projected_is_the_flag_and_assume_go_still_works)
{
    run_result a = T_RUN("schedule", "--at", "2026-03-20T00:00:00Z", "--projected");
    run_result b = T_RUN("schedule", "--at", "2026-03-20T00:00:00Z", "--assume-go");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_str_eq(a.out, b.out);
    has(a.out, "status   completed");
    t_run_free(&a);
    t_run_free(&b);
}

/* ---- weights in JSON: the exact units and percent -------------------------------- */

Test(json, weights_carry_percent_beside_the_units)
{
    run_result r = T_RUN("decide", "--at", "2026-02-28T15:30:00Z", "--org", "acme-corp",
                         "--user", "u-42", "--projected", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "\"weight\": 25000, \"percent\": 25,");
    t_run_free(&r);
    r = T_RUN("schedule", "--at", "2026-02-28T15:30:00Z", "--projected", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "\"weight_units\": 25000, \"percent\": 25,");
    has(r.out, "\"weight_units\": 50000, \"percent\": 50}");
    t_run_free(&r);
}

/* ---- simulate on a plan of one's own ------------------------------------------- */

Test(simulate, samples_come_from_the_plans_own_cohorts)
{
    run_result r = T_RUN("simulate", OWN, "--out", "/tmp/rollout-test-newcomer");
    cr_assert_eq(r.status, 0, "%s", r.err);
    lacks(r.out, "staff session");
    lacks(r.out, "acme-corp");
    lacks(r.out, "pilot-org");
    has(r.out, "testers    country from its list (2)");
    has(r.out, "partners   orgs from its list (3)");
    has(r.out, "nightly    none: its rules need a pattern match");
    /* 100 % of the testers, half the partners' users, nobody else yet */
    has(r.out, "decisions:  testers 100.0%, partners 50.4%, nightly -, rest 0.0%");
    t_run_free(&r);
}

Test(simulate, a_gate_without_criteria_is_not_said_to_pass_them)
{
    run_result r = T_RUN("simulate", OWN, "--out", "/tmp/rollout-test-newcomer");
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "gate partners-go: approvals, no criteria to judge, GO");
    lacks(r.out, "criteria PASS");
    t_run_free(&r);
    r = T_RUN("simulate", "--out", "/tmp/rollout-test-newcomer");
    has(r.out, "gate canary-go: approvals, criteria PASS, GO");
    t_run_free(&r);
}

Test(simulate, the_rollback_follows_the_plans_procedure_with_no_blank_action)
{
    const char *plans[] = {OWN, "examples/plans/minimal.yaml", "examples/plans/windows.yaml",
                           "examples/plans/change-windows.yaml"};
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        run_result r = T_RUN("simulate", plans[i], "--out", "/tmp/rollout-test-newcomer");
        cr_assert_eq(r.status, 0, "%s: %s", plans[i], r.err);
        has(r.out, "confirmed: traffic_halted");
        has(r.out, "status: rolled_back");
        lacks(r.out, "halt_traffic \n");
        lacks(r.out, "halt_traffic\n");
        t_run_free(&r);
    }
}

/* ---- one notation for offsets ------------------------------------------------- */

Test(offsets, simulate_schedule_and_calendar_write_them_alike)
{
    run_result sim = T_RUN("simulate", "--out", "/tmp/rollout-test-newcomer");
    run_result cal = T_RUN("calendar");
    run_result sch = T_RUN("schedule", "--at", "2026-03-01T09:00:00Z", "--projected");
    cr_assert_eq(sim.status, 0, "%s", sim.err);
    /* a day in: hours, in all three */
    has(sim.out, "2026-03-01T09:00:00Z  T+24h  step 4 of phase pilot");
    has(cal.out, "T+24h");
    has(sch.out, "(T+24h)");
    lacks(sim.out, "T+1d ");
    /* two days and more: days */
    has(sim.out, "T+2d  step 1 of phase ga");
    has(cal.out, "T+2d");
    /* hours and minutes under two days */
    has(sim.out, "(T+5h30m)");
    t_run_free(&sim);
    t_run_free(&cal);
    t_run_free(&sch);
}

/* ---- validate's warnings ----------------------------------------------------- */

Test(validate_warnings, a_valid_plan_may_warn_on_stderr_and_exit_0)
{
    run_result r = T_RUN("validate", OWN);
    cr_assert_eq(r.status, 0, "%s", r.err);
    has(r.out, "valid plan \"reports-v2\"");
    has(r.err, OWN ": warning: gate partners-go has no criteria");
    has(r.err, OWN ": warning: no communication plan");
    lacks(r.out, "warning");
    t_run_free(&r);
    r = T_RUN("validate", "examples/plans/change-windows.yaml");
    cr_assert_eq(r.status, 0, "%s", r.err);
    t_run_free(&r);
    /* the seed has criteria on every gate and a communication plan */
    r = T_RUN("validate");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    t_run_free(&r);
}
