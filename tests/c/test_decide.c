/* SPDX-License-Identifier: MIT */
/*
 * test_decide.c — rollout_decide and rollout_explain.
 *
 * Expected buckets come from tests/vectors/bucketing.json (computed by the
 * independent Python generator), never from the code under test:
 *   salt ledger-v2-2026-02 (the seed plan):  A 6148, Z 34165, a 86480,
 *   user-10 10249, user-2 43474, org_42 12652, initech 95820
 */
#include "support.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H 3600
#define D 86400

static rollout_context ctx_ids(const char *org, const char *user, const char *session)
{
    rollout_context c;
    memset(&c, 0, sizeof c);
    c.org = org;
    c.org_len = org ? strlen(org) : 0;
    c.user = user;
    c.user_len = user ? strlen(user) : 0;
    c.session = session;
    c.session_len = session ? strlen(session) : 0;
    return c;
}

static const rollout_attr staff_email[] = {{"email", 5, "dev@example.com", 15}};

static rollout_decision decide(const rollout_plan *p, const rollout_state *s, int64_t now,
                               const rollout_context *c)
{
    rollout_decision d;
    memset(&d, 0x5a, sizeof d);
    int rc = rollout_decide(p, s, now, c, &d);
    cr_assert_eq(rc, ROLLOUT_OK, "decide: %s", rollout_code_name(rc));
    return d;
}

static void expect_explain(const rollout_plan *p, const rollout_decision *d,
                           const rollout_context *c, const char *want)
{
    char buf[512];
    size_t n = rollout_explain(p, d, c, buf, sizeof buf);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(n, strlen(want));
}

static int gate_of(const rollout_plan *p, const char *name)
{
    for (int i = 0; i < rollout_plan_gate_count(p); i++)
        if (strcmp(rollout_plan_gate_name(p, i), name) == 0)
            return i;
    cr_assert_fail("no gate %s", name);
    return -1;
}

/* The seed rollout started on time, with every gate given GO (approved, PASS)
 * when it fell due, up to `until`. */
static rollout_state seed_state(const rollout_plan *p, int64_t until)
{
    static const struct { const char *gate; int64_t at; } gates[] = {
        {"canary-go", 2 * H}, {"pilot-go", 24 * H}, {"ga-day2-go", 3 * D},
        {"ga-day3-go", 4 * D}, {"ga-day4-go", 5 * D}};
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1}, t0);
    for (size_t i = 0; i < RP_COUNT(gates) && t0 + gates[i].at <= until; i++)
        t_go(p, &s, gate_of(p, gates[i].gate), t0 + gates[i].at);
    return s;
}

/* ---- names and arguments ------------------------------------------------- */

Test(decide, reason_names)
{
    static const char *const want[] = {"IN_ROLLOUT",  "OUT_OF_ROLLOUT", "NO_COHORT",
                                       "PHASE_NOT_STARTED", "MISSING_UNIT", "NOT_STARTED",
                                       "ROLLED_BACK", "HALTED",         "MATCH_ERROR"};
    for (int i = 0; i < (int)RP_COUNT(want); i++)
        cr_assert_str_eq(rollout_reason_name(i), want[i]);
    cr_assert_eq(ROLLOUT_REASON_MATCH_ERROR, 8);
    cr_assert_str_eq(rollout_reason_name(-1), "?");
    cr_assert_str_eq(rollout_reason_name(9), "?");
}

Test(decide, arguments)
{
    rollout_plan *p = t_seed();
    rollout_context c = ctx_ids("org_42", NULL, NULL);
    cr_assert_eq(rollout_decide(p, NULL, 0, &c, NULL), ROLLOUT_ERR_ARG);
    rollout_decision d;
    memset(&d, 0x5a, sizeof d);
    cr_assert_eq(rollout_decide(NULL, NULL, 0, &c, &d), ROLLOUT_ERR_ARG);
    cr_assert_eq(d.variant, ROLLOUT_STABLE, "even an error answers STABLE");

    /* a state of another plan, or not a state at all */
    rollout_state s;
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    s.plan_fingerprint ^= 1;
    memset(&d, 0x5a, sizeof d);
    cr_assert_eq(rollout_decide(p, &s, rollout_plan_start(p), &c, &d), ROLLOUT_ERR_STATE_PLAN);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    s.format = 99;
    cr_assert_eq(rollout_decide(p, &s, rollout_plan_start(p), &c, &d), ROLLOUT_ERR_STATE);
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    s.status = ROLLOUT_STATUS_COUNT;
    cr_assert_eq(rollout_decide(p, &s, rollout_plan_start(p), &c, &d), ROLLOUT_ERR_STATE);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);

    /* a NULL context is an empty request: it falls to "everyone", which
     * buckets by org, which it lacks */
    d = decide(p, NULL, rollout_plan_start(p) + H, NULL);
    cr_assert_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED);
    rollout_state late = seed_state(p, rollout_plan_start(p) + 2 * D);
    d = decide(p, &late, rollout_plan_start(p) + 2 * D + H, NULL);
    cr_assert_eq(d.reason, ROLLOUT_REASON_MISSING_UNIT);
    cr_assert_eq(d.unit, ROLLOUT_UNIT_ORG);
    rollout_plan_unref(p);
}

/* ---- the seed plan, step by step ------------------------------------------- */

Test(decide, not_started)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_context c = ctx_ids("acme-corp", "A", "s");
    c.attrs = staff_email;
    c.n_attrs = 1;
    rollout_decision d = decide(p, NULL, t0 - 1, &c);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.reason, ROLLOUT_REASON_NOT_STARTED);
    cr_assert_eq(d.cohort, -1);
    cr_assert_eq(d.phase, -1);
    expect_explain(p, &d, &c,
                   "the rollout has not started; every request gets the stable version");

    rollout_state s;
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    d = decide(p, &s, t0 + 5 * H, &c);
    cr_assert_eq(d.reason, ROLLOUT_REASON_NOT_STARTED, "a state never started");

    /* started late: before the actual start it had not started */
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1}, t0 + D);
    d = decide(p, &s, t0 + D - 1, &c);
    cr_assert_eq(d.reason, ROLLOUT_REASON_NOT_STARTED);
    d = decide(p, &s, t0 + D, &c);
    cr_assert_eq(d.reason, ROLLOUT_REASON_IN_ROLLOUT);
    rollout_plan_unref(p);
}

Test(decide, canary)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_context c = ctx_ids("acme-corp", "A", "a");
    c.attrs = staff_email;
    c.n_attrs = 1;
    rollout_decision d = decide(p, NULL, t0 + H, &c);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    cr_assert_eq(d.reason, ROLLOUT_REASON_IN_ROLLOUT);
    cr_assert_eq(d.cohort, 0);
    cr_assert_str_eq(d.cohort_name, "internal");
    cr_assert_eq(d.phase, 0);
    cr_assert_str_eq(d.phase_name, "canary");
    cr_assert_eq(d.step, 0);
    cr_assert_eq(d.unit, ROLLOUT_UNIT_SESSION);
    cr_assert_eq(d.bucket, 86480);
    cr_assert_eq(d.weight, 100000);
    expect_explain(p, &d, &c,
                   "session a is in cohort internal; bucket 86 480 < weight 100 000 at step 1 "
                   "of phase canary");

    /* staff without a session id: the step buckets by session */
    c.session = NULL;
    c.session_len = 0;
    d = decide(p, NULL, t0 + H, &c);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.reason, ROLLOUT_REASON_MISSING_UNIT);
    cr_assert_eq(d.unit, ROLLOUT_UNIT_SESSION);
    cr_assert_eq(d.weight, 100000);
    cr_assert_str_eq(d.phase_name, "canary");
    expect_explain(p, &d, &c,
                   "the request is in cohort internal, which buckets by session at step 1 of "
                   "phase canary, but it has no session id; stable version");
    rollout_plan_unref(p);
}

Test(decide, pilot_steps)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_context a = ctx_ids("acme-corp", "A", NULL);      /* bucket 6148 */
    rollout_context z = ctx_ids("globex", "Z", NULL);         /* 34165 */
    rollout_context u10 = ctx_ids("acme-corp", "user-10", NULL); /* 10249 */

    /* before the pilot phase: the cohort matches, its phase has not begun */
    rollout_state s = seed_state(p, t0 + 3 * H);
    rollout_decision d = decide(p, &s, t0 + 3 * H, &a);
    cr_assert_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED);
    cr_assert_str_eq(d.cohort_name, "pilot");
    cr_assert_str_eq(d.phase_name, "pilot");
    cr_assert_eq(d.weight, 0);
    expect_explain(p, &d, &a,
                   "the request is in cohort pilot, whose phase pilot has not begun; weight 0, "
                   "stable version");
    /* without the canary gate's GO the pilot never starts */
    d = decide(p, NULL, t0 + 5 * H, &a);
    cr_assert_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED);

    s = seed_state(p, t0 + 5 * H);
    d = decide(p, &s, t0 + 5 * H, &a);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    cr_assert_eq(d.unit, ROLLOUT_UNIT_USER);
    cr_assert_eq(d.bucket, 6148);
    cr_assert_eq(d.weight, 10000);
    cr_assert_eq(d.step, 0);
    expect_explain(p, &d, &a,
                   "user A is in cohort pilot; bucket 6 148 < weight 10 000 at step 1 of "
                   "phase pilot");
    d = decide(p, &s, t0 + 5 * H, &u10);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.reason, ROLLOUT_REASON_OUT_OF_ROLLOUT);
    cr_assert_eq(d.bucket, 10249);
    expect_explain(p, &d, &u10,
                   "user user-10 is in cohort pilot; bucket 10 249 >= weight 10 000 at step 1 "
                   "of phase pilot");

    d = decide(p, &s, t0 + 7 * H, &u10);
    cr_assert_eq(d.variant, ROLLOUT_NEW, "25 %% from hour 6");
    cr_assert_eq(d.step, 1);
    d = decide(p, &s, t0 + 7 * H, &z);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    d = decide(p, &s, t0 + 13 * H, &z);
    cr_assert_eq(d.variant, ROLLOUT_NEW, "50 %% from hour 12");
    cr_assert_eq(d.weight, 50000);
    cr_assert_eq(d.step, 2);
    rollout_plan_unref(p);
}

Test(decide, general_availability_by_org)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_context o42 = ctx_ids("org_42", "Z", "s1");   /* org bucket 12652 */
    rollout_context ini = ctx_ids("initech", "A", "s2");  /* org bucket 95820 */
    rollout_state s = seed_state(p, t0 + 6 * D);

    rollout_decision d = decide(p, &s, t0 + 2 * D - 1, &o42);
    cr_assert_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED);
    cr_assert_str_eq(d.phase_name, "ga");

    d = decide(p, &s, t0 + 2 * D, &o42);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    cr_assert_eq(d.unit, ROLLOUT_UNIT_ORG);
    cr_assert_eq(d.bucket, 12652, "the org's bucket, not the user's");
    cr_assert_str_eq(d.cohort_name, "everyone");
    expect_explain(p, &d, &o42,
                   "org org_42 is in cohort everyone; bucket 12 652 < weight 25 000 at step 1 "
                   "of phase ga");
    d = decide(p, &s, t0 + 3 * D, &ini);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.bucket, 95820);
    cr_assert_eq(d.weight, 50000);
    d = decide(p, &s, t0 + 4 * D, &ini);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    cr_assert_eq(d.weight, 100000);
    rollout_plan_unref(p);
}

/* ---- reasons that need their own plan ---------------------------------------- */

#define HEAD                               \
    "format: 1\n"                          \
    "id: t\n"                              \
    "salt: ledger-v2-2026-02\n"            \
    "start: 2026-01-01T00:00:00Z\n"        \
    "versions: {stable: a, new: b}\n"

Test(decide, no_cohort)
{
    rollout_plan *p = t_plan(HEAD "cohorts:\n  - {id: c, match: {org_in: [acme]}}\n"
                                  "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                                  "phases:\n  - id: p\n    cohort: c\n"
                                  "    steps: [{at: 0h, weight: 100%, unit: org}]\n");
    rollout_context c = ctx_ids("globex", "u", "s");
    rollout_decision d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.reason, ROLLOUT_REASON_NO_COHORT);
    cr_assert_eq(d.cohort, -1);
    cr_assert_null(d.cohort_name);
    expect_explain(p, &d, &c, "no cohort matches the request; it stays on the stable version");
    c = ctx_ids("acme", NULL, NULL);
    d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    rollout_plan_unref(p);
}

Test(decide, cohort_without_phase)
{
    rollout_plan *p = t_plan(HEAD "cohorts:\n  - {id: c, match: {org_in: [acme]}}\n"
                                  "  - {id: rest, match: {everyone: true}}\n"
                                  "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                                  "phases:\n  - id: p\n    cohort: c\n"
                                  "    steps: [{at: 0h, weight: 100%, unit: org}]\n");
    rollout_context c = ctx_ids("globex", NULL, NULL);
    rollout_decision d = decide(p, NULL, rollout_plan_start(p) + D, &c);
    cr_assert_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED);
    cr_assert_str_eq(d.cohort_name, "rest");
    cr_assert_eq(d.phase, -1);
    expect_explain(p, &d, &c,
                   "the request is in cohort rest, which no phase is active for; weight 0, "
                   "stable version");
    rollout_plan_unref(p);
}

Test(decide, match_error_serves_stable)
{
    rollout_plan *p = t_plan(HEAD "cohorts:\n"
                                  "  - {id: bots, match: {attr: ua, matches: '^(?=a)(a+)+$'}}\n"
                                  "  - {id: rest, match: {everyone: true}}\n"
                                  "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                                  "phases:\n  - id: p\n    cohort: rest\n"
                                  "    steps: [{at: 0h, weight: 100%, unit: org}]\n");
    rollout_attr ua = {"ua", 2, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", 31};
    rollout_context c = ctx_ids("org_42", NULL, NULL);
    c.attrs = &ua;
    c.n_attrs = 1;
    rollout_decision d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.variant, ROLLOUT_STABLE, "100 %% for everyone, but the request is unplaced");
    cr_assert_eq(d.reason, ROLLOUT_REASON_MATCH_ERROR);
    cr_assert_str_eq(d.cohort_name, "bots");
    expect_explain(p, &d, &c,
                   "a pattern of cohort bots hit its match limit, so the request cannot be "
                   "placed; stable version");
    ua.value_len = 4; /* "aaaa": a bot */
    d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED);
    cr_assert_str_eq(d.cohort_name, "bots");
    c.n_attrs = 0;
    d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    rollout_plan_unref(p);
}

/* ---- rollback and halt win --------------------------------------------------- */

Test(decide, rolled_back_or_halted_is_stable_for_every_context)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    static const char *const orgs[] = {"acme-corp", "globex", "org_42", "initech", NULL};
    static const char *const users[] = {"A", "Z", "user-10", NULL};
    static const char *const sessions[] = {"a", "s1", NULL};
    const rollout_attr *attr_sets[] = {NULL, staff_email};
    static const int64_t times[] = {0, H, 5 * H, 13 * H, 25 * H, 2 * D, 4 * D, 30 * D};
    static const int statuses[] = {ROLLOUT_STATUS_ROLLING_BACK, ROLLOUT_STATUS_ROLLED_BACK,
                                   ROLLOUT_STATUS_HALTED};
    rollout_state full = seed_state(p, t0 + 6 * D);
    int checked = 0, new_before = 0;
    for (size_t st = 0; st < RP_COUNT(statuses); st++) {
        rollout_state s = full;
        s.status = statuses[st];
        int want = statuses[st] == ROLLOUT_STATUS_HALTED ? ROLLOUT_REASON_HALTED
                                                         : ROLLOUT_REASON_ROLLED_BACK;
        for (size_t o = 0; o < RP_COUNT(orgs); o++)
            for (size_t u = 0; u < RP_COUNT(users); u++)
                for (size_t se = 0; se < RP_COUNT(sessions); se++)
                    for (size_t a = 0; a < RP_COUNT(attr_sets); a++)
                        for (size_t t = 0; t < RP_COUNT(times); t++) {
                            rollout_context c = ctx_ids(orgs[o], users[u], sessions[se]);
                            c.attrs = attr_sets[a];
                            c.n_attrs = attr_sets[a] ? 1 : 0;
                            rollout_decision before = decide(p, &full, t0 + times[t], &c);
                            new_before += before.variant == ROLLOUT_NEW;
                            rollout_decision d = decide(p, &s, t0 + times[t], &c);
                            cr_assert_eq(d.variant, ROLLOUT_STABLE);
                            cr_assert_eq(d.reason, want);
                            checked++;
                        }
    }
    cr_assert_gt(new_before, 0, "the same contexts do get NEW while running");
    cr_assert_eq(checked, 3 * 5 * 4 * 3 * 2 * 8);

    rollout_decision d = {.reason = ROLLOUT_REASON_ROLLED_BACK, .cohort = -1, .phase = -1,
                          .step = -1, .unit = -1};
    expect_explain(p, &d, NULL,
                   "the rollout is rolled back (or rolling back); every request gets the "
                   "stable version");
    d.reason = ROLLOUT_REASON_HALTED;
    expect_explain(p, &d, NULL,
                   "traffic to the new version is halted; every request gets the stable "
                   "version");
    rollout_plan_unref(p);
}

Test(decide, rollback_event_makes_everything_stable)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s = seed_state(p, t0 + 6 * D);
    rollout_context c = ctx_ids("org_42", "A", "a");
    cr_assert_eq(decide(p, &s, t0 + 6 * D, &c).variant, ROLLOUT_NEW);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_ROLLBACK, .gate = -1, .reason = 0},
          t0 + 6 * D);
    for (int64_t t = t0; t < t0 + 10 * D; t += H) {
        rollout_decision d = decide(p, &s, t, &c);
        cr_assert_eq(d.variant, ROLLOUT_STABLE);
        cr_assert_eq(d.reason, ROLLOUT_REASON_ROLLED_BACK);
    }
    rollout_plan_unref(p);
}

/* ---- properties -------------------------------------------------------------- */

Test(decide, raising_the_weight_only_adds_units)
{
    rollout_plan *p = t_plan(HEAD "cohorts:\n  - {id: all, match: {everyone: true}}\n"
                                  "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                                  "phases:\n  - id: p\n    cohort: all\n    steps:\n"
                                  "      - {at: 0h, weight: 0.5%, unit: user}\n"
                                  "      - {at: 1h, weight: 1%, unit: user}\n"
                                  "      - {at: 2h, weight: 10%, unit: user}\n"
                                  "      - {at: 3h, weight: 12.5%, unit: user}\n"
                                  "      - {at: 4h, weight: 50%, unit: user}\n"
                                  "      - {at: 5h, weight: 99.999%, unit: user}\n"
                                  "      - {at: 6h, weight: 100%, unit: user}\n");
    enum { N = 20000, STEPS = 7 };
    static const uint32_t weights[STEPS] = {500, 1000, 10000, 12500, 50000, 99999, 100000};
    static bool was_new[N];
    int64_t t0 = rollout_plan_start(p);
    int prev_count = 0;
    for (int st = 0; st < STEPS; st++) {
        int count = 0;
        for (int i = 0; i < N; i++) {
            char id[32];
            snprintf(id, sizeof id, "user-%d", i);
            rollout_context c = ctx_ids(NULL, id, NULL);
            rollout_decision d = decide(p, NULL, t0 + st * H + 30, &c);
            cr_assert_eq(d.weight, weights[st]);
            bool now_new = d.variant == ROLLOUT_NEW;
            cr_assert_eq(now_new, d.bucket < weights[st]);
            if (was_new[i])
                cr_assert(now_new, "user-%d left the new version at step %d", i, st);
            was_new[i] = now_new;
            count += now_new;
        }
        cr_assert_geq(count, prev_count);
        prev_count = count;
    }
    cr_assert_eq(prev_count, N, "at 100 %% everyone is in");
    rollout_plan_unref(p);
}

Test(decide, org_unit_uses_the_org_hash_of_the_id_set)
{
    /* A hashed org_in set (more than 8 ids) and a step by org: the bucket
     * decide reports must be the recipe's bucket of the org. */
    rollout_plan *p = t_plan(HEAD "cohorts:\n  - id: pilot\n    match: {org_in: "
                                  "[o1, o2, o3, o4, o5, o6, o7, o8, o9, org_42, initech]}\n"
                                  "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                                  "phases:\n  - id: p\n    cohort: pilot\n"
                                  "    steps: [{at: 0h, weight: 50%, unit: org}]\n");
    rollout_context c = ctx_ids("org_42", "A", NULL);
    rollout_decision d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.bucket, 12652);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    c = ctx_ids("initech", "A", NULL);
    d = decide(p, NULL, rollout_plan_start(p), &c);
    cr_assert_eq(d.bucket, 95820);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    rollout_plan_unref(p);
}

/* ---- explain ------------------------------------------------------------------ */

Test(decide, explain_buffer_and_ids)
{
    rollout_plan *p = t_seed();
    rollout_state s = seed_state(p, rollout_plan_start(p) + 2 * D);
    rollout_context c = ctx_ids("org\t42\x01", NULL, NULL);
    rollout_decision d = decide(p, &s, rollout_plan_start(p) + 2 * D, &c);
    /* control characters are escaped; the bucket of that odd id is not in
     * the vectors, so only the text around it is compared */
    char buf[256], want[256];
    size_t n = rollout_explain(p, &d, &c, buf, sizeof buf);
    cr_assert_eq(n, strlen(buf));
    const char *head = "org org\\x0942\\x01 is in cohort everyone; bucket ";
    cr_assert(strncmp(buf, head, strlen(head)) == 0, "%s", buf);
    cr_assert(strstr(buf, " weight 25 000 at step 1 of phase ga"), "%s", buf);

    /* snprintf semantics */
    c = ctx_ids("org_42", NULL, NULL);
    d = decide(p, &s, rollout_plan_start(p) + 2 * D, &c);
    const char *full = "org org_42 is in cohort everyone; bucket 12 652 < weight 25 000 at step "
                       "1 of phase ga";
    char small[11];
    memset(small, 'x', sizeof small);
    n = rollout_explain(p, &d, &c, small, sizeof small);
    cr_assert_eq(n, strlen(full));
    cr_assert_str_eq(small, "org org_42");
    cr_assert_eq(rollout_explain(p, &d, &c, NULL, 0), strlen(full));

    /* a long id is cut, at a UTF-8 character boundary */
    char longid[200];
    memset(longid, 'x', sizeof longid);
    memcpy(longid + 62, "\xc3\xa9", 2); /* é across the 64-byte cut */
    c.org = longid;
    c.org_len = sizeof longid;
    d.unit = ROLLOUT_UNIT_ORG;
    n = rollout_explain(p, &d, &c, buf, sizeof buf);
    snprintf(want, sizeof want, "org %.62s\xc3\xa9... is in cohort", longid);
    cr_assert(strncmp(buf, want, strlen(want)) == 0, "%s", buf);
    memcpy(longid + 63, "\xc3\xa9", 2); /* now é straddles the cut */
    rollout_explain(p, &d, &c, buf, sizeof buf);
    /* the lead byte of the first é is still at 62, alone: ill-formed, so escaped */
    snprintf(want, sizeof want, "org %.62s\\xc3... is in cohort", longid);
    cr_assert(strncmp(buf, want, strlen(want)) == 0, "%s", buf);

    /* without the context the id is left out */
    n = rollout_explain(p, &d, NULL, buf, sizeof buf);
    cr_assert_str_eq(buf, "org is in cohort everyone; bucket 12 652 < weight 25 000 at step 1 of "
                          "phase ga");
    rollout_decision junk = {.reason = 77};
    rollout_explain(p, &junk, NULL, buf, sizeof buf);
    cr_assert_str_eq(buf, "no decision");
    rollout_explain(p, NULL, NULL, buf, sizeof buf);
    cr_assert_str_eq(buf, "no decision");
    rollout_plan_unref(p);
}

/* ---- threads ------------------------------------------------------------------ */

enum { T_N = 20000, T_THREADS = 4 };

typedef struct job {
    const rollout_plan *plan;
    const rollout_state *state;
    int64_t now;
    rollout_decision *out;
} job;

static rollout_context thread_ctx(int i, char *org, char *user, char *sess, rollout_attr *attr)
{
    snprintf(org, 32, "org-%d", i % 997);
    snprintf(user, 32, "user-%d", i);
    snprintf(sess, 32, "sess-%d", i * 7);
    rollout_context c = ctx_ids(i % 5 == 0 ? "acme-corp" : org, user, sess);
    if (i % 3 == 0) {
        *attr = (rollout_attr){"email", 5, i % 2 ? "x@example.com" : "x@example.org", 13};
        c.attrs = attr;
        c.n_attrs = 1;
    }
    return c;
}

static void *run(void *arg)
{
    job *j = arg;
    for (int i = 0; i < T_N; i++) {
        char org[32], user[32], sess[32];
        rollout_attr attr;
        rollout_context c = thread_ctx(i, org, user, sess, &attr);
        if (rollout_decide(j->plan, j->state, j->now, &c, &j->out[i]) != ROLLOUT_OK)
            return (void *)1;
    }
    return NULL;
}

Test(decide, four_threads_match_one)
{
    rollout_plan *p = t_seed();
    int64_t now = rollout_plan_start(p) + 2 * D + H;
    rollout_state s = seed_state(p, now);
    rollout_decision *single = calloc(T_N, sizeof *single);
    rollout_decision *multi[T_THREADS];
    job one = {p, &s, now, single};
    cr_assert_null(run(&one));
    pthread_t th[T_THREADS];
    job jobs[T_THREADS];
    for (int k = 0; k < T_THREADS; k++) {
        multi[k] = calloc(T_N, sizeof **multi);
        jobs[k] = (job){p, &s, now, multi[k]};
        cr_assert_eq(pthread_create(&th[k], NULL, run, &jobs[k]), 0);
    }
    for (int k = 0; k < T_THREADS; k++) {
        void *rv;
        pthread_join(th[k], &rv);
        cr_assert_null(rv);
    }
    int counts[2] = {0};
    for (int i = 0; i < T_N; i++) {
        counts[single[i].variant]++;
        for (int k = 0; k < T_THREADS; k++)
            cr_assert(memcmp(&single[i], &multi[k][i], sizeof single[i]) == 0,
                      "decision %d differs in thread %d", i, k);
    }
    cr_assert(counts[0] > 0 && counts[1] > 0, "a mix of NEW and STABLE");
    for (int k = 0; k < T_THREADS; k++)
        free(multi[k]);
    free(single);
    rollout_plan_unref(p);
}
