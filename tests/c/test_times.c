/* SPDX-License-Identifier: MIT */
/*
 * test_times.c — the library's range of times and what it refuses
 * (docs/security.md, issue 17 items 3, 8, 15 and 22):
 *
 *  - rp_format_time writes any int64_t, INT64_MIN included (UBSan found the
 *    negation of INT64_MIN);
 *  - every call that takes `now` refuses one outside ROLLOUT_TIME_MIN..MAX
 *    with ROLLOUT_ERR_ARG, so INT64_MAX ("never") is never reached: at that
 *    now a tick used to find every step behind a gate without a GO due;
 *  - plan times outside the range do not load;
 *  - rollout_schedule, rollout_calendar and rollout_calendar_render refuse
 *    another plan's state and a corrupt one as rollout_apply does;
 *  - the decoder refuses states whose times no sequence of events makes, and
 *    accepts every state the machine makes (a random walk).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "support.h"

#define H 3600
#define D 86400

static rollout_event ev(int type)
{
    return (rollout_event){.type = type, .gate = -1, .role = -1, .verdict = -1, .reason = -1,
                           .confirmation = -1};
}

/* ---- formatting -------------------------------------------------------------------- */

Test(times, format_time_writes_every_int64)
{
    static const struct {
        int64_t t;
        const char *text;
    } cases[] = {
        {INT64_MIN, "-292277022657-01-27T08:29:52Z"},
        {INT64_MIN + 1, "-292277022657-01-27T08:29:53Z"},
        {ROLLOUT_TIME_MIN - 1, "0000-12-31T23:59:59Z"},
        {ROLLOUT_TIME_MIN, "0001-01-01T00:00:00Z"},
        {-86401, "1969-12-30T23:59:59Z"},
        {-86400, "1969-12-31T00:00:00Z"},
        {-1, "1969-12-31T23:59:59Z"},
        {0, "1970-01-01T00:00:00Z"},
        {1772269200, "2026-02-28T09:00:00Z"},
        {ROLLOUT_TIME_MAX, "9999-12-31T23:59:59Z"},
        {ROLLOUT_TIME_MAX + 1, "10000-01-01T00:00:00Z"},
        {INT64_MAX, "292277026596-12-04T15:30:07Z"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        char buf[32];
        rp_format_time(cases[i].t, buf, sizeof buf);
        cr_expect_str_eq(buf, cases[i].text, "%lld", (long long)cases[i].t);
    }
    /* the range's ends are the years 1 and 9999 */
    int64_t t;
    cr_assert(rp_parse_time("0001-01-01T00:00:00Z", 20, &t));
    cr_expect_eq(t, ROLLOUT_TIME_MIN);
    cr_assert(rp_parse_time("9999-12-31T23:59:59Z", 20, &t));
    cr_expect_eq(t, ROLLOUT_TIME_MAX);
}

/* ---- now out of range ------------------------------------------------------------------ */

static const int64_t outside[] = {INT64_MIN, ROLLOUT_TIME_MIN - 1, ROLLOUT_TIME_MAX + 1,
                                  INT64_MAX - 1, INT64_MAX};

Test(times, apply_refuses_now_beyond_year_9999)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, ev(ROLLOUT_EVENT_START), t0);
    rollout_action a[ROLLOUT_MAX_ACTIONS];
    rollout_error err;
    for (size_t i = 0; i < RP_COUNT(outside); i++) {
        rollout_state next;
        memset(&next, 0x5a, sizeof next);
        rollout_state untouched = next;
        size_t n = ROLLOUT_MAX_ACTIONS;
        rollout_event tick = ev(ROLLOUT_EVENT_TICK);
        /* at INT64_MAX the steps behind the canary gate (at "never") used
         * to count as due: SET_WEIGHT everyone 100 % with no gate decided */
        cr_assert_eq(rollout_apply(p, &s, &tick, outside[i], &next, a, &n, &err),
                     ROLLOUT_ERR_ARG, "now %lld", (long long)outside[i]);
        cr_expect_eq(n, 0);
        cr_expect(memcmp(&next, &untouched, sizeof next) == 0);
        cr_expect(outside[i] <= 0 || strstr(err.message, "9999-12-31T23:59:59Z"), "%s",
                  err.message);
    }
    /* the last second of year 9999 is a time like any other: the canary
     * gate is due and nothing behind it happens */
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_event tick = ev(ROLLOUT_EVENT_TICK);
    cr_assert_eq(rollout_apply(p, &s, &tick, ROLLOUT_TIME_MAX, &s, a, &n, &err), ROLLOUT_OK,
                 "%s", err.message);
    cr_assert_eq(n, 1);
    cr_expect_eq(a[0].type, ROLLOUT_ACTION_GATE_DUE);
    cr_expect_eq(s.status, ROLLOUT_STATUS_AWAITING_GATE);
    cr_expect_eq(s.phase, 0);
    rollout_plan_unref(p);
}

Test(times, start_at_the_end_of_time_sets_no_gated_weight)
{
    /* `rollout state apply start --at 9223372036854775807` emitted
     * set_weight everyone 100 %: now it is refused, and a start at the
     * last accepted second only starts the canary */
    rollout_plan *p = t_seed();
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_action a[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_event start = ev(ROLLOUT_EVENT_START);
    cr_assert_eq(rollout_apply(p, &s, &start, INT64_MAX, &s, a, &n, NULL), ROLLOUT_ERR_ARG);
    n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(p, &s, &start, ROLLOUT_TIME_MAX, &s, a, &n, NULL), ROLLOUT_OK);
    for (size_t i = 0; i < n; i++)
        if (a[i].type == ROLLOUT_ACTION_SET_WEIGHT)
            cr_expect_str_eq(a[i].id, "internal", "only the canary's cohort moves");
    rollout_plan_unref(p);
}

Test(times, decide_and_the_batch_refuse_now_out_of_range)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, ev(ROLLOUT_EVENT_START), t0);
    rollout_context ctx = {.org = "acme-corp", .org_len = 9, .session = "s", .session_len = 1,
                           .user = "u", .user_len = 1};
    rollout_id ids[2] = {{"acme-corp", 9}, {"globex", 6}};
    for (size_t i = 0; i < RP_COUNT(outside); i++) {
        for (int with_state = 0; with_state < 2; with_state++) {
            const rollout_state *st = with_state ? &s : NULL;
            rollout_decision d;
            cr_assert_eq(rollout_decide(p, st, outside[i], &ctx, &d), ROLLOUT_ERR_ARG,
                         "now %lld", (long long)outside[i]);
            cr_expect_eq(d.variant, ROLLOUT_STABLE);
            unsigned char v[2] = {7, 7};
            cr_assert_eq(rollout_decide_ids(p, st, outside[i], &ctx, ROLLOUT_UNIT_ORG, ids, 2, v),
                         ROLLOUT_ERR_ARG);
            cr_expect(v[0] == ROLLOUT_STABLE && v[1] == ROLLOUT_STABLE);
            rollout_batch b;
            cr_assert_eq(rollout_batch_prepare(p, st, outside[i], &ctx, ROLLOUT_UNIT_ORG, &b),
                         ROLLOUT_ERR_ARG);
            cr_expect_eq(rollout_batch_variant(&b, "acme-corp", 9), ROLLOUT_STABLE);
        }
    }
    /* the ends of the range are accepted */
    rollout_decision d;
    cr_expect_eq(rollout_decide(p, &s, ROLLOUT_TIME_MAX, &ctx, &d), ROLLOUT_OK);
    cr_expect_eq(d.reason, ROLLOUT_REASON_PHASE_NOT_STARTED, "the pilot waits for its gate");
    cr_expect_eq(rollout_decide(p, NULL, ROLLOUT_TIME_MIN, &ctx, &d), ROLLOUT_OK);
    cr_expect_eq(d.reason, ROLLOUT_REASON_NOT_STARTED);
    rollout_plan_unref(p);
}

Test(times, schedule_refuses_now_out_of_range)
{
    rollout_plan *p = t_seed();
    rollout_schedule_info info;
    for (size_t i = 0; i < RP_COUNT(outside); i++) {
        cr_assert_eq(rollout_schedule(p, NULL, outside[i], &info), ROLLOUT_ERR_ARG);
        cr_expect_eq(info.next_change, ROLLOUT_CHANGE_NONE);
        cr_expect_eq(info.n_cohorts, 0);
    }
    cr_assert_eq(rollout_schedule(p, NULL, ROLLOUT_TIME_MAX, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_AWAITING_GATE);
    cr_expect_eq(info.phase, 0, "still the canary: the pilot waits for a GO, not for INT64_MAX");
    rollout_plan_unref(p);
}

Test(times, plan_times_outside_the_range_do_not_load)
{
    static const char *const starts[] = {"0001-01-01T00:00:00+01:00",
                                         "9999-12-31T23:59:59-00:01"};
    for (size_t i = 0; i < RP_COUNT(starts); i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "format: 1\nid: t\nsalt: s\nstart: \"%s\"\n"
                 "versions: {stable: a, new: b}\ncohorts: [{id: all, match: {everyone: true}}]\n"
                 "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 100%%, unit: org}]}]\n",
                 starts[i]);
        rollout_error err;
        cr_assert_eq(t_plan_error(yaml, &err), ROLLOUT_ERR_RANGE, "%s", starts[i]);
        cr_expect(strstr(err.message, "is outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"),
                  "%s", err.message);
        cr_expect_eq(err.line, 4);
    }
}

/* ---- schedule and calendar check the state ------------------------------------------- */

static rollout_plan *other_plan(void)
{
    return t_plan("format: 1\nid: other\nsalt: s\nstart: 2026-02-28T09:00:00Z\n"
                  "versions: {stable: a, new: b}\ncohorts: [{id: all, match: {everyone: true}}]\n"
                  "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 100%, unit: org}]}]\n"
                  "rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}\n");
}

/* What rollout_schedule, rollout_calendar and rollout_calendar_render give
 * for s, which must be code for all three, as rollout_apply gives it. */
static void expect_refused(const rollout_plan *p, const rollout_state *s, int code,
                           const char *what)
{
    rollout_action a[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_event tick = ev(ROLLOUT_EVENT_TICK);
    rollout_state next;
    cr_assert_eq(rollout_apply(p, s, &tick, rollout_plan_start(p) + D, &next, a, &n, NULL), code,
                 "apply: %s", what);
    rollout_schedule_info info;
    cr_expect_eq(rollout_schedule(p, s, rollout_plan_start(p) + D, &info), code, "schedule: %s",
                 what);
    static rollout_calendar_event events[ROLLOUT_MAX_CALENDAR];
    size_t count = 99;
    cr_expect_eq(rollout_calendar(p, s, events, ROLLOUT_MAX_CALENDAR, &count), code,
                 "calendar: %s", what);
    cr_expect_eq(count, 0);
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++) {
        char buf[16] = "x";
        size_t needed = 99;
        cr_expect_eq(rollout_calendar_render(p, s, f, buf, sizeof buf, &needed), code,
                     "render %d: %s", f, what);
    }
}

Test(times, schedule_and_calendar_refuse_another_plans_state)
{
    rollout_plan *p = t_seed(), *q = other_plan();
    rollout_state s;
    rollout_state_init(q, &s);
    t_apply(q, &s, ev(ROLLOUT_EVENT_START), rollout_plan_start(q));
    expect_refused(p, &s, ROLLOUT_ERR_STATE_PLAN, "another plan's state");
    rollout_decision d;
    cr_expect_eq(rollout_decide(p, &s, rollout_plan_start(p), NULL, &d), ROLLOUT_ERR_STATE_PLAN);
    rollout_plan_unref(p);
    rollout_plan_unref(q);
}

Test(times, schedule_and_calendar_refuse_a_corrupt_state)
{
    rollout_plan *p = t_seed();
    rollout_state good;
    rollout_state_init(p, &good);
    t_apply(p, &good, ev(ROLLOUT_EVENT_START), rollout_plan_start(p));

    rollout_state s;
    memset(&s, 0xA5, sizeof s); /* garbage */
    expect_refused(p, &s, ROLLOUT_ERR_STATE, "garbage");
    s = good;
    s.status = ROLLOUT_STATUS_COUNT;
    expect_refused(p, &s, ROLLOUT_ERR_STATE, "unknown status");
    s = good;
    s.phase = 7;
    expect_refused(p, &s, ROLLOUT_ERR_STATE, "a phase the plan does not have");
    s = good;
    s.n_pauses = ROLLOUT_MAX_PAUSES + 1;
    expect_refused(p, &s, ROLLOUT_ERR_STATE, "too many pauses");
    s = good;
    s.started_at = INT64_MIN;
    expect_refused(p, &s, ROLLOUT_ERR_STATE, "a start before year 1");
    s = good;
    s.gate_go_at[0] = INT64_MAX;
    expect_refused(p, &s, ROLLOUT_ERR_STATE, "a GO at the end of time");
    rollout_plan_unref(p);
}

/* ---- the decoder and the orders of time ------------------------------------------------ */

/* The seed walked to a rich state: the canary's GO, a closed pause, a second
 * pause under way. */
static rollout_state paused_twice(const rollout_plan *p, int64_t t0)
{
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, ev(ROLLOUT_EVENT_START), t0);
    t_go(p, &s, -1, t0 + 2 * H + 240);
    t_apply(p, &s, ev(ROLLOUT_EVENT_PAUSE), t0 + 5 * H);
    t_apply(p, &s, ev(ROLLOUT_EVENT_RESUME), t0 + 7 * H);
    t_apply(p, &s, ev(ROLLOUT_EVENT_PAUSE), t0 + 8 * H);
    cr_assert_eq(s.status, ROLLOUT_STATUS_PAUSED);
    cr_assert_eq(s.n_pauses, 2);
    return s;
}

static int decode_copy(const rollout_plan *p, const rollout_state *s, rollout_error *err)
{
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(s, text, sizeof text);
    cr_assert(len > 0);
    rollout_state out;
    memset(&out, 0x33, sizeof out);
    rollout_state untouched = out;
    int rc = rollout_state_decode(p, text, len, &out, err);
    if (rc)
        cr_expect(memcmp(&out, &untouched, sizeof out) == 0, "a refused state was written");
    return rc;
}

Test(times, a_state_updated_before_it_started_does_not_decode)
{
    /* the tester's state: checksummed, updated_at before started_at; its
     * next tick re-emitted the canary's start actions */
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, ev(ROLLOUT_EVENT_START), t0);
    rollout_error err;
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_OK, "%s", err.message);
    s.updated_at = t0 - 1;
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_ERR_STATE);
    cr_expect_str_eq(err.message, "not a valid rollout state: updated_at is before started_at");
    /* and INT64_MIN as the start, which `state show` formatted with UBSan
     * tripping */
    s.updated_at = t0;
    s.started_at = INT64_MIN;
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_ERR_STATE);
    cr_expect_str_eq(err.message, "not a valid rollout state: a time outside "
                                  "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z");
    rollout_plan_unref(p);
}

Test(times, impossible_time_orders_do_not_decode)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    const rollout_state base = paused_twice(p, t0);
    rollout_state rolled = base;
    rollout_event rb = ev(ROLLOUT_EVENT_ROLLBACK);
    rb.reason = ROLLOUT_ROLLBACK_MANUAL;
    t_apply(p, &rolled, rb, t0 + 9 * H);
    cr_assert_eq(rolled.status, ROLLOUT_STATUS_ROLLING_BACK);
    rollout_state fresh;
    rollout_state_init(p, &fresh);
    rollout_error err;
    cr_assert_eq(decode_copy(p, &base, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(decode_copy(p, &rolled, &err), ROLLOUT_OK, "%s", err.message);

    static const struct {
        const char *what;
        const char *why; /* the message, after "not a valid rollout state: " */
    } cases[] = {
        {"started in 1969", "a time before 1970-01-01T00:00:00Z (the state machine records none)"},
        {"updated before started", "updated_at is before started_at"},
        {"running without a start", "a rollout that is under way has no start time (started_at 0)"},
        {"not started with a start", "a rollout that has not started records a start time"},
        {"a pause before the start",
         "a pause begins before the rollout started or before the previous pause ended"},
        {"pauses overlap",
         "a pause begins before the rollout started or before the previous pause ended"},
        {"an earlier pause still open", "a pause other than the last never ended"},
        {"a pause ends before it begins", "a pause ends before it begins"},
        {"a pause after the last transition", "a pause is after updated_at"},
        {"a GO before the start",
         "a gate's GO is before the rollout started or before the previous gate's GO"},
        {"GOs out of gate order",
         "a gate's GO is before the rollout started or before the previous gate's GO"},
        {"a GO behind an open gate", "a gate has its GO while an earlier gate has none"},
        {"a GO and a NO-GO", "a gate records both its GO and a later NO-GO"},
        {"a NO-GO behind an open gate", "a NO-GO on a gate behind the first gate without a GO"},
        {"a NO-GO before the previous GO",
         "a NO-GO is before the rollout started or before the previous gate's GO"},
        {"a GO after the last transition", "a gate decision is after updated_at"},
        {"a rollback time while running",
         "rollback_started_at set on a rollout that is not rolling back"},
        {"rolling back without its time", "a rollback without rollback_started_at"},
        {"a rollback before a pause ended",
         "rollback_started_at is before a pause, a gate decision or the start, or after "
         "updated_at"},
        {"a rollback after the last transition",
         "rollback_started_at is before a pause, a gate decision or the start, or after "
         "updated_at"},
        {"no entry time for the status",
         "the current status has no entry time, or one before started_at"},
        {"an earlier status entered later", "a status entered after the current status was"},
        {"a status entered after the last transition",
         "a status entered before 1970 or after updated_at"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        rollout_state s = base;
        switch (i) {
        case 0: s.started_at = -1; break;
        case 1: s.updated_at = s.started_at - 1; break;
        case 2: s.started_at = 0; break;
        case 3: s = fresh; s.started_at = s.updated_at = t0; break;
        case 4: s.pause_from[0] = t0 - 1; break;
        case 5: s.pause_from[1] = s.pause_to[0] - 1; break;
        case 6: s.pause_to[0] = 0; break;
        case 7: s.pause_to[0] = s.pause_from[0] - 1; break;
        case 8: s.pause_from[1] = s.updated_at + 1; break;
        case 9: s.gate_go_at[0] = t0 - 1; break;
        case 10: s.gate_go_at[1] = s.gate_go_at[0] - 1; break;
        case 11: s.gate_go_at[2] = s.gate_go_at[0]; break;
        case 12: s.gate_no_go_at[0] = s.gate_go_at[0]; break;
        case 13: s.gate_no_go_at[2] = s.gate_go_at[0]; break;
        case 14: s.gate_no_go_at[1] = s.gate_go_at[0] - 1; break;
        case 15: s.gate_go_at[0] = s.updated_at + 1; break;
        case 16: s.rollback_started_at = s.updated_at; break;
        case 17: s = rolled; s.rollback_started_at = 0; break;
        case 18: s = rolled; s.rollback_started_at = s.pause_to[1] - 1; break;
        case 19: s = rolled; s.rollback_started_at = s.updated_at + 1; break;
        case 20: s.status_since[s.status] = 0; break;
        case 21: s.status_since[s.status] = t0 + 6 * H; break; /* RUNNING since 7h */
        case 22: s.status_since[ROLLOUT_STATUS_HALTED] = s.updated_at + 1; break;
        }
        char want[256];
        snprintf(want, sizeof want, "not a valid rollout state: %s", cases[i].why);
        cr_expect_eq(decode_copy(p, &s, &err), ROLLOUT_ERR_STATE, "%s", cases[i].what);
        cr_expect_str_eq(err.message, want, "%s", cases[i].what);
        /* without a plan too: the orders do not depend on it */
        cr_expect_eq(decode_copy(NULL, &s, &err), ROLLOUT_ERR_STATE, "%s", cases[i].what);
    }
    rollout_plan_unref(p);
}

Test(times, what_the_machine_can_make_still_decodes)
{
    /* edges that are possible: a pause that ends the second it begins, the
     * next one beginning the second the last ended, a GO in the second of
     * the step before its gate, a rollback in the second of a NO-GO */
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_error err;
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_OK, "%s", err.message);
    rollout_event rb = ev(ROLLOUT_EVENT_ROLLBACK);
    rb.reason = ROLLOUT_ROLLBACK_MANUAL;
    rollout_state early = s;
    t_apply(p, &early, rb, t0 - D); /* a rollback before the start */
    cr_assert_eq(early.started_at, 0);
    cr_assert_eq(decode_copy(p, &early, &err), ROLLOUT_OK, "%s", err.message);

    t_apply(p, &s, ev(ROLLOUT_EVENT_START), t0);
    t_apply(p, &s, ev(ROLLOUT_EVENT_PAUSE), t0);
    t_apply(p, &s, ev(ROLLOUT_EVENT_RESUME), t0);
    t_apply(p, &s, ev(ROLLOUT_EVENT_PAUSE), t0);
    t_apply(p, &s, ev(ROLLOUT_EVENT_RESUME), t0 + H);
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_OK, "%s", err.message);
    t_go(p, &s, -1, t0 + H);
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_OK, "%s", err.message);
    rollout_event no_go = ev(ROLLOUT_EVENT_NO_GO);
    int64_t pilot_due = t0 + 25 * H;
    t_apply(p, &s, ev(ROLLOUT_EVENT_TICK), pilot_due);
    t_apply(p, &s, no_go, pilot_due);  /* the seed rolls back on a pilot NO-GO */
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLING_BACK);
    cr_assert_eq(s.rollback_started_at, s.gate_no_go_at[1]);
    cr_assert_eq(decode_copy(p, &s, &err), ROLLOUT_OK, "%s", err.message);
    rollout_plan_unref(p);
}

/* Random events at random, non-decreasing times, on the seed and on a plan
 * whose canary gate halts: every state the machine makes decodes. */
static unsigned random_walk(const rollout_plan *p, uint64_t seed, int steps)
{
    unsigned seen = 0; /* statuses reached */
    int64_t now = rollout_plan_start(p) - D;
    int n_gates = rollout_plan_gate_count(p), n_roles = rollout_plan_role_count(p);
    rollout_state s;
    rollout_state_init(p, &s);
    static rollout_action a[ROLLOUT_MAX_ACTIONS];
    int applied = 0;
    for (int i = 0; i < steps; i++) {
        uint64_t r = t_rand(&seed);
        /* mostly ticks and gate business, so that walks reach the bake and
         * the end; now and then the rest */
        static const int types[] = {
            ROLLOUT_EVENT_TICK,    ROLLOUT_EVENT_TICK,    ROLLOUT_EVENT_TICK,
            ROLLOUT_EVENT_TICK,    ROLLOUT_EVENT_GO,      ROLLOUT_EVENT_GO,
            ROLLOUT_EVENT_GO,      ROLLOUT_EVENT_GO,      ROLLOUT_EVENT_APPROVE,
            ROLLOUT_EVENT_APPROVE, ROLLOUT_EVENT_VERDICT, ROLLOUT_EVENT_START,
            ROLLOUT_EVENT_START,   ROLLOUT_EVENT_PAUSE,   ROLLOUT_EVENT_RESUME,
            ROLLOUT_EVENT_RESUME,  ROLLOUT_EVENT_NO_GO,   ROLLOUT_EVENT_CONFIRM,
            ROLLOUT_EVENT_CONFIRM, ROLLOUT_EVENT_CONFIRM, ROLLOUT_EVENT_ESCALATE,
            ROLLOUT_EVENT_ROLLBACK};
        int type = types[r % RP_COUNT(types)];
        rollout_event e = ev(type);
        e.gate = (int)((r >> 8) % (uint64_t)(n_gates + 1)) - 1;
        e.role = (int)((r >> 16) % (uint64_t)(n_roles ? n_roles : 1));
        e.override = (r >> 24) % 4 != 0;
        e.override_verdict = 1;
        if (type == ROLLOUT_EVENT_GO) /* a role the gates' override_roles list */
            e.role = (int)((r >> 16) % 3);
        e.why = "walk";
        e.verdict = (int)((r >> 28) % 4);
        e.reason = (int)((r >> 32) % ROLLOUT_ROLLBACK_COUNT);
        e.confirmation = (int)((r >> 36) % ROLLOUT_CONFIRM_COUNT);
        static const int64_t gaps[] = {0, 0, 1, 60, H, 6 * H, D};
        now += gaps[(r >> 44) % RP_COUNT(gaps)];
        size_t n = ROLLOUT_MAX_ACTIONS;
        rollout_state next;
        if (rollout_apply(p, &s, &e, now, &next, a, &n, NULL) != ROLLOUT_OK)
            continue;
        applied++;
        rollout_error err;
        cr_assert_eq(decode_copy(p, &next, &err), ROLLOUT_OK,
                     "after %s at %lld (%s -> %s): %s", rollout_event_name(type), (long long)now,
                     rollout_status_name(s.status), rollout_status_name(next.status),
                     err.message);
        s = next;
        seen |= 1u << s.status;
        /* a rolled back walk is retried half the time */
        rollout_event retry = ev(ROLLOUT_EVENT_RETRY);
        if (s.status == ROLLOUT_STATUS_ROLLED_BACK && (r >> 50) % 2 &&
            rollout_apply(p, &s, &retry, now, &next, a, &(size_t){ROLLOUT_MAX_ACTIONS}, NULL) ==
                ROLLOUT_OK) {
            cr_assert_eq(decode_copy(p, &next, &err), ROLLOUT_OK, "after retry: %s", err.message);
            s = next;
        }
        /* start over now and then, so that every stage is visited */
        if (s.status == ROLLOUT_STATUS_ROLLED_BACK || s.status == ROLLOUT_STATUS_COMPLETED ||
            (r >> 52) % 512 == 0)
            rollout_state_init(p, &s);
    }
    cr_assert_gt(applied, steps / 10);
    return seen;
}

Test(times, every_state_of_a_random_walk_decodes)
{
    rollout_plan *p = t_seed_overridable();
    unsigned seen = 0;
    for (uint64_t seed = 1; seed <= 20; seed++)
        seen |= random_walk(p, seed * 0x9E3779B97F4A7C15ull, 2000);
    rollout_plan_unref(p);

    char *yaml = t_seed_overridable_yaml();
    char *at = strstr(yaml, "criteria: canary\n      on_no_go: rollback");
    cr_assert(at);
    memcpy(at + strlen("criteria: canary\n      on_no_go: "), "halt    ", 8);
    rollout_plan *halt = t_plan(yaml);
    free(yaml);
    for (uint64_t seed = 1; seed <= 20; seed++)
        seen |= random_walk(halt, seed * 0xD1B54A32D192ED03ull, 2000);
    rollout_plan_unref(halt);
    /* every status was reached, so every kind of record was made */
    cr_expect_eq(seen, (1u << ROLLOUT_STATUS_COUNT) - 1, "statuses reached: %#x", seen);
}
