/* SPDX-License-Identifier: MIT */
/*
 * test_plan_roles.c — the role accessors the bindings use to name approvers
 * and to turn role bits (actions, calendar owners, gate approvals) into ids.
 * The indices must be the ones rollout_apply understands, so the test checks
 * them against the state machine as well as against the seed's order.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <string.h>

Test(roles, seed_order_and_bounds)
{
    rollout_plan *p = t_seed();
    static const char *const want[] = {"engineering-lead", "product-lead", "sre-lead",
                                       "engineering",      "product",      "sre",
                                       "on-call-sre",      "support",      "comms"};
    cr_assert_eq(rollout_plan_role_count(p), 9);
    for (int i = 0; i < 9; i++)
        cr_expect_str_eq(rollout_plan_role_name(p, i), want[i], "role %d", i);
    cr_expect_null(rollout_plan_role_name(p, 9));
    cr_expect_null(rollout_plan_role_name(p, -1));
    rollout_plan_unref(p);
}

Test(roles, null_plan)
{
    cr_expect_eq(rollout_plan_role_count(NULL), 0);
    cr_expect_null(rollout_plan_role_name(NULL, 0));
}

Test(roles, plan_without_roles)
{
    rollout_plan *p = t_plan("format: 1\nid: r\nsalt: s\nstart: 2026-01-01T00:00:00Z\n"
                             "versions: {stable: a, new: b}\n"
                             "cohorts: [{id: all, match: {everyone: true}}]\n"
                             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                             "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 5%, unit: user}]}]\n");
    cr_expect_eq(rollout_plan_role_count(p), 0);
    cr_expect_null(rollout_plan_role_name(p, 0));
    rollout_plan_unref(p);
}

/* The index of a name is the index APPROVE takes, and bit i of a GATE_DUE
 * action's roles is role i: the canary gate's approvers come back as the
 * two roles the seed lists for it. */
Test(roles, indices_match_the_state_machine)
{
    rollout_plan *p = t_seed();
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1, .role = -1};
    rollout_action acts[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    int64_t t0 = rollout_plan_start(p);
    cr_assert_eq(rollout_apply(p, &s, &start, t0, &s, acts, &n, NULL), ROLLOUT_OK);
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1, .role = -1};
    n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(p, &s, &tick, t0 + 2 * 3600, &s, acts, &n, NULL), ROLLOUT_OK);
    const rollout_action *due = NULL;
    for (size_t i = 0; i < n; i++)
        if (acts[i].type == ROLLOUT_ACTION_GATE_DUE)
            due = &acts[i];
    cr_assert_not_null(due, "the canary gate falls due at T+2h");
    int named = 0;
    for (int r = 0; r < rollout_plan_role_count(p); r++) {
        if (!(due->roles & (1u << r)))
            continue;
        const char *name = rollout_plan_role_name(p, r);
        cr_expect(strcmp(name, "engineering-lead") == 0 || strcmp(name, "product-lead") == 0,
                  "unexpected approver %s", name);
        named++;
        rollout_event approve = {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = r};
        size_t m = ROLLOUT_MAX_ACTIONS;
        cr_expect_eq(rollout_apply(p, &s, &approve, t0 + 2 * 3600, &s, acts, &m, NULL),
                     ROLLOUT_OK, "approve by %s", name);
    }
    cr_expect_eq(named, 2);
    cr_expect_eq(s.gate_approvals[0], due->roles);
    rollout_plan_unref(p);
}
