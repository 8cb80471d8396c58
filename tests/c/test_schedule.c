/* SPDX-License-Identifier: MIT */
/*
 * test_schedule.c — rollout_schedule and rp_schedule_cohort at and around
 * every boundary of the seed plan, with states built by hand the way the
 * state machine would leave them, plus slips, pauses, change windows and
 * freezes. Every expected time is an offset worked out on paper from the
 * seed's phase sections (docs/scheduling.md has the table) or a t_time()
 * literal; nothing is derived from the functions under test.
 */
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define M 60
#define H 3600
#define D 86400
#define NV INT64_MAX
#define PCT(x) ((uint32_t)(x) * 1000u)

enum { INTERNAL = 0, PILOT = 1, EVERYONE = 2 };
enum { CANARY_GO = 0, PILOT_GO = 1, GA_DAY2 = 2, GA_DAY3 = 3, GA_DAY4 = 4 };

/* The seed's gates fall due at these offsets when every GO comes on time. */
static const int64_t seed_gate_due[5] = {2 * H, 24 * H, 72 * H, 96 * H, 120 * H};

static int64_t seed_start(void)
{
    return t_time("2026-02-28T09:00:00Z");
}

/* A state as START at `start` leaves it: running, no gate decided. */
static rollout_state running(const rollout_plan *p, int64_t start)
{
    rollout_state s;
    memset(&s, 0, sizeof s);
    s.format = ROLLOUT_STATE_FORMAT;
    s.status = ROLLOUT_STATUS_RUNNING;
    s.plan_fingerprint = rollout_plan_fingerprint(p);
    s.started_at = start;
    s.updated_at = start;
    s.phase = s.step = -1;
    s.gate = rollout_plan_gate_count(p) ? 0 : -1;
    s.last_verdict = -1;
    s.rollback_reason = -1;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        s.gate_override_role[g] = -1;
    s.attempt = 1;
    s.attempt_step = s.attempt_gate = -1;
    return s;
}

/* The seed's state at start+off when every gate got its GO the moment it fell due. */
static rollout_state seed_on_time(const rollout_plan *p, int64_t off)
{
    int64_t start = seed_start();
    rollout_state s = running(p, start);
    for (int g = 0; g < 5; g++)
        if (seed_gate_due[g] <= off)
            s.gate_go_at[g] = start + seed_gate_due[g];
    return s;
}

static void expect_weights(const rollout_plan *p, const rollout_state *s, int64_t now,
                           const rollout_schedule_info *info, const uint32_t w[3],
                           const int step[3], const char *what)
{
    static const int units[3] = {ROLLOUT_UNIT_SESSION, ROLLOUT_UNIT_USER, ROLLOUT_UNIT_ORG};
    cr_assert_eq(info->n_cohorts, 3);
    for (int c = 0; c < 3; c++) {
        cr_expect_eq(info->cohorts[c].weight, w[c], "%s: cohort %d weight %u, want %u", what, c,
                     info->cohorts[c].weight, w[c]);
        cr_expect_eq(info->cohorts[c].step, step[c], "%s: cohort %d step %d, want %d", what, c,
                     info->cohorts[c].step, step[c]);
        cr_expect_eq(info->cohorts[c].phase, step[c] < 0 ? -1 : c, "%s: cohort %d phase", what,
                     c);
        rp_cohort_weight cw = {0};
        bool on = rp_schedule_cohort(p, s, now, c, &cw);
        cr_expect_eq(on, step[c] >= 0, "%s: rp_schedule_cohort(%d) said %d", what, c, on);
        if (on && step[c] >= 0) {
            cr_expect_eq(cw.weight, w[c], "%s: rp_schedule_cohort(%d) weight %u", what, c,
                         cw.weight);
            cr_expect_eq(cw.step, step[c], "%s: rp_schedule_cohort(%d) step", what, c);
            cr_expect_eq(cw.phase, c, "%s: rp_schedule_cohort(%d) phase", what, c);
            cr_expect_eq(cw.unit, units[c], "%s: rp_schedule_cohort(%d) unit", what, c);
            cr_expect_eq(info->cohorts[c].unit, units[c], "%s: cohort %d unit", what, c);
        }
    }
}

/* ---- the seed, every GO on time ------------------------------------------ */

typedef struct row {
    int64_t off;             /* now - start */
    uint32_t w[3];           /* internal, pilot, everyone */
    int cs[3];               /* each cohort's step within its phase, -1 none */
    int phase, step, status;
    int gate;
    int64_t gate_due;        /* offset, NV none */
    int next;
    int64_t next_at;         /* offset, NV */
    int next_phase, next_step;
    uint32_t next_weight;
} row;

#define NS ROLLOUT_STATUS_NOT_STARTED
#define RUN ROLLOUT_STATUS_RUNNING
#define BAKE ROLLOUT_STATUS_BAKING
#define DONE ROLLOUT_STATUS_COMPLETED
#define C_STEP ROLLOUT_CHANGE_STEP
#define C_GATE ROLLOUT_CHANGE_GATE
#define C_DONE ROLLOUT_CHANGE_COMPLETE
#define C_NONE ROLLOUT_CHANGE_NONE

#define CANARY_ONLY {PCT(100), 0, 0}, {0, -1, -1}
#define PILOT_AT(w, i) {PCT(100), PCT(w), 0}, {0, i, -1}
#define GA_AT(w, i) {PCT(100), PCT(100), PCT(w)}, {0, 3, i}

static const row seed_rows[] = {
    /* before start: nothing, the canary is next and its gate the first ahead */
    {-1, {0, 0, 0}, {-1, -1, -1}, -1, -1, NS, CANARY_GO, 2 * H, C_STEP, 0, 0, 0, PCT(100)},
    /* canary 100 % at T+0; its go/no-go is the next change */
    {0, CANARY_ONLY, 0, 0, RUN, CANARY_GO, 2 * H, C_GATE, 2 * H, -1, -1, 0},
    {1, CANARY_ONLY, 0, 0, RUN, CANARY_GO, 2 * H, C_GATE, 2 * H, -1, -1, 0},
    {2 * H - 1, CANARY_ONLY, 0, 0, RUN, CANARY_GO, 2 * H, C_GATE, 2 * H, -1, -1, 0},
    /* GO at T+2h: the pilot's first step is 2h later, pilot-go the gate ahead */
    {2 * H, CANARY_ONLY, 0, 0, RUN, PILOT_GO, 24 * H, C_STEP, 4 * H, 1, 0, PCT(10)},
    {2 * H + 1, CANARY_ONLY, 0, 0, RUN, PILOT_GO, 24 * H, C_STEP, 4 * H, 1, 0, PCT(10)},
    {4 * H - 1, CANARY_ONLY, 0, 0, RUN, PILOT_GO, 24 * H, C_STEP, 4 * H, 1, 0, PCT(10)},
    {4 * H, PILOT_AT(10, 0), 1, 0, RUN, PILOT_GO, 24 * H, C_STEP, 6 * H, 1, 1, PCT(25)},
    {4 * H + 1, PILOT_AT(10, 0), 1, 0, RUN, PILOT_GO, 24 * H, C_STEP, 6 * H, 1, 1, PCT(25)},
    {6 * H - 1, PILOT_AT(10, 0), 1, 0, RUN, PILOT_GO, 24 * H, C_STEP, 6 * H, 1, 1, PCT(25)},
    {6 * H, PILOT_AT(25, 1), 1, 1, RUN, PILOT_GO, 24 * H, C_STEP, 12 * H, 1, 2, PCT(50)},
    {6 * H + 1, PILOT_AT(25, 1), 1, 1, RUN, PILOT_GO, 24 * H, C_STEP, 12 * H, 1, 2, PCT(50)},
    {12 * H - 1, PILOT_AT(25, 1), 1, 1, RUN, PILOT_GO, 24 * H, C_STEP, 12 * H, 1, 2, PCT(50)},
    {12 * H, PILOT_AT(50, 2), 1, 2, RUN, PILOT_GO, 24 * H, C_STEP, 24 * H, 1, 3, PCT(100)},
    {12 * H + 1, PILOT_AT(50, 2), 1, 2, RUN, PILOT_GO, 24 * H, C_STEP, 24 * H, 1, 3, PCT(100)},
    {24 * H - 1, PILOT_AT(50, 2), 1, 2, RUN, PILOT_GO, 24 * H, C_STEP, 24 * H, 1, 3, PCT(100)},
    /* pilot 100 % and its gate at T+24h; with the GO, GA 25 % is at day 2 */
    {24 * H, PILOT_AT(100, 3), 1, 3, RUN, GA_DAY2, 72 * H, C_STEP, 48 * H, 2, 0, PCT(25)},
    {24 * H + 1, PILOT_AT(100, 3), 1, 3, RUN, GA_DAY2, 72 * H, C_STEP, 48 * H, 2, 0, PCT(25)},
    {48 * H - 1, PILOT_AT(100, 3), 1, 3, RUN, GA_DAY2, 72 * H, C_STEP, 48 * H, 2, 0, PCT(25)},
    {48 * H, GA_AT(25, 0), 2, 0, RUN, GA_DAY2, 72 * H, C_GATE, 72 * H, -1, -1, 0},
    {48 * H + 1, GA_AT(25, 0), 2, 0, RUN, GA_DAY2, 72 * H, C_GATE, 72 * H, -1, -1, 0},
    {72 * H - 1, GA_AT(25, 0), 2, 0, RUN, GA_DAY2, 72 * H, C_GATE, 72 * H, -1, -1, 0},
    /* a GA gate and the next GA step share their offset: the GO releases it at once */
    {72 * H, GA_AT(50, 1), 2, 1, RUN, GA_DAY3, 96 * H, C_GATE, 96 * H, -1, -1, 0},
    {72 * H + 1, GA_AT(50, 1), 2, 1, RUN, GA_DAY3, 96 * H, C_GATE, 96 * H, -1, -1, 0},
    {96 * H - 1, GA_AT(50, 1), 2, 1, RUN, GA_DAY3, 96 * H, C_GATE, 96 * H, -1, -1, 0},
    {96 * H, GA_AT(100, 2), 2, 2, RUN, GA_DAY4, 120 * H, C_GATE, 120 * H, -1, -1, 0},
    {96 * H + 1, GA_AT(100, 2), 2, 2, RUN, GA_DAY4, 120 * H, C_GATE, 120 * H, -1, -1, 0},
    {120 * H - 1, GA_AT(100, 2), 2, 2, RUN, GA_DAY4, 120 * H, C_GATE, 120 * H, -1, -1, 0},
    /* the last GO starts the 7-day bake; completion at T+5d+7d */
    {120 * H, GA_AT(100, 2), 2, 2, BAKE, -1, NV, C_DONE, 288 * H, -1, -1, 0},
    {120 * H + 1, GA_AT(100, 2), 2, 2, BAKE, -1, NV, C_DONE, 288 * H, -1, -1, 0},
    {288 * H - 1, GA_AT(100, 2), 2, 2, BAKE, -1, NV, C_DONE, 288 * H, -1, -1, 0},
    {288 * H, GA_AT(100, 2), 2, 2, DONE, -1, NV, C_NONE, NV, -1, -1, 0},
    {288 * H + 1, GA_AT(100, 2), 2, 2, DONE, -1, NV, C_NONE, NV, -1, -1, 0},
    {400 * D, GA_AT(100, 2), 2, 2, DONE, -1, NV, C_NONE, NV, -1, -1, 0},
};

static int64_t abs_or_never(int64_t start, int64_t off)
{
    return off == NV ? NV : start + off;
}

static void check_row(const rollout_plan *p, const rollout_state *s, const row *r)
{
    int64_t start = seed_start(), now = start + r->off;
    char what[64];
    snprintf(what, sizeof what, "T%+lld", (long long)r->off);
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, s, now, &info), ROLLOUT_OK);
    expect_weights(p, s, now, &info, r->w, r->cs, what);
    cr_expect_eq(info.phase, r->phase, "%s: phase %d, want %d", what, info.phase, r->phase);
    cr_expect_eq(info.step, r->step, "%s: step %d, want %d", what, info.step, r->step);
    cr_expect_eq(info.status, r->status, "%s: status %s, want %s", what,
                 rollout_status_name(info.status), rollout_status_name(r->status));
    cr_expect_eq(info.gate, r->gate, "%s: gate %d, want %d", what, info.gate, r->gate);
    cr_expect_eq(info.gate_pending, 0, "%s: no gate is pending when GOs come on time", what);
    cr_expect_eq(info.gate_due, abs_or_never(start, r->gate_due), "%s: gate due %lld", what,
                 (long long)(info.gate_due - start));
    cr_expect_eq(info.next_change, r->next, "%s: next change %d, want %d", what,
                 info.next_change, r->next);
    cr_expect_eq(info.next_at, abs_or_never(start, r->next_at), "%s: next at T%+lld", what,
                 (long long)(info.next_at - start));
    cr_expect_eq(info.next_phase, r->next_phase, "%s: next phase", what);
    cr_expect_eq(info.next_step, r->next_step, "%s: next step", what);
    cr_expect_eq(info.next_weight, r->next_weight, "%s: next weight", what);
    cr_expect_eq(info.slip, 0, "%s: slip %lld on an on-time rollout", what, (long long)info.slip);
}

Test(schedule, seed_every_boundary_on_time)
{
    rollout_plan *p = t_seed();
    for (size_t i = 0; i < RP_COUNT(seed_rows); i++) {
        rollout_state s = seed_on_time(p, seed_rows[i].off);
        check_row(p, &s, &seed_rows[i]);
    }
    rollout_plan_unref(p);
}

Test(schedule, seed_epoch_literal)
{
    /* 2026-02-28 is day 20512 of the epoch (56 years with 14 leap days, plus
     * 31 + 27 days): the canary starts at 20512 * 86400 + 9 * 3600. */
    cr_assert_eq(seed_start(), 1772269200);
    rollout_plan *p = t_seed();
    cr_assert_eq(rollout_plan_start(p), 1772269200);
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, NULL, 1772269200 + 4 * H, &info), ROLLOUT_OK);
    /* no state: the canary gate has no GO, so the pilot waits at T+4h */
    cr_expect_eq(info.cohorts[PILOT].weight, 0);
    cr_expect_eq(info.status, ROLLOUT_STATUS_AWAITING_GATE);
    rollout_plan_unref(p);
}

Test(schedule, null_state_is_running_from_plan_start_with_no_go)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = running(p, start);
    /* until the first gate the NULL state and a fresh running state agree */
    for (size_t i = 0; i < 4; i++) {
        check_row(p, NULL, &seed_rows[i]);
        check_row(p, &s, &seed_rows[i]);
    }
    /* started_at 0 in a state means "the plan's start" too */
    s.started_at = 0;
    check_row(p, &s, &seed_rows[3]);
    rollout_plan_unref(p);
}

/* ---- gates without their GO ------------------------------------------------ */

typedef struct pending_row {
    int64_t off;
    uint32_t w[3];
    int cs[3];
    int phase, step, gate;
    int64_t due;
} pending_row;

static const pending_row pending_rows[] = {
    {2 * H, CANARY_ONLY, 0, 0, CANARY_GO, 2 * H},
    {2 * H + 1, CANARY_ONLY, 0, 0, CANARY_GO, 2 * H},
    {30 * H, CANARY_ONLY, 0, 0, CANARY_GO, 2 * H},
    {24 * H, PILOT_AT(100, 3), 1, 3, PILOT_GO, 24 * H},
    {24 * H + 1, PILOT_AT(100, 3), 1, 3, PILOT_GO, 24 * H},
    {72 * H, GA_AT(25, 0), 2, 0, GA_DAY2, 72 * H},
    {72 * H + 1, GA_AT(25, 0), 2, 0, GA_DAY2, 72 * H},
    {96 * H, GA_AT(50, 1), 2, 1, GA_DAY3, 96 * H},
    {120 * H, GA_AT(100, 2), 2, 2, GA_DAY4, 120 * H},
    {120 * H + 1, GA_AT(100, 2), 2, 2, GA_DAY4, 120 * H},
    {400 * H, GA_AT(100, 2), 2, 2, GA_DAY4, 120 * H},
};

Test(schedule, gate_waits_for_go_and_weights_stay)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    for (size_t i = 0; i < RP_COUNT(pending_rows); i++) {
        const pending_row *r = &pending_rows[i];
        rollout_state s = running(p, start);
        /* every earlier gate got its GO on time; this one has none */
        for (int g = 0; g < r->gate; g++)
            s.gate_go_at[g] = start + seed_gate_due[g];
        char what[64];
        snprintf(what, sizeof what, "pending T%+lld", (long long)r->off);
        rollout_schedule_info info;
        cr_assert_eq(rollout_schedule(p, &s, start + r->off, &info), ROLLOUT_OK);
        expect_weights(p, &s, start + r->off, &info, r->w, r->cs, what);
        cr_expect_eq(info.status, ROLLOUT_STATUS_AWAITING_GATE, "%s", what);
        cr_expect_eq(info.phase, r->phase, "%s", what);
        cr_expect_eq(info.step, r->step, "%s", what);
        cr_expect_eq(info.gate, r->gate, "%s: gate %d", what, info.gate);
        cr_expect_eq(info.gate_pending, 1, "%s", what);
        cr_expect_eq(info.gate_due, start + r->due, "%s: pending since", what);
        cr_expect_eq(info.next_change, ROLLOUT_CHANGE_WAIT, "%s", what);
        cr_expect_eq(info.next_at, NV, "%s", what);
        cr_expect_eq(info.complete_at, NV, "%s", what);
    }
    rollout_plan_unref(p);
}

/* ---- slips --------------------------------------------------------------------- */

static void expect_cohort(const rollout_plan *p, const rollout_state *s, int64_t now, int cohort,
                          uint32_t weight, const char *what)
{
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, s, now, &info), ROLLOUT_OK);
    cr_expect_eq(info.cohorts[cohort].weight, weight, "%s: cohort %d weight %u, want %u", what,
                 cohort, info.cohorts[cohort].weight, weight);
    rp_cohort_weight cw = {0};
    bool on = rp_schedule_cohort(p, s, now, cohort, &cw);
    cr_expect_eq(on ? cw.weight : 0u, weight, "%s: rp_schedule_cohort(%d) %u, want %u", what,
                 cohort, on ? cw.weight : 0u, weight);
}

Test(schedule, late_canary_go_slips_everything_after_by_the_delay)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start(), late = 30 * M;
    rollout_state s = running(p, start);
    s.gate_go_at[CANARY_GO] = start + 2 * H + late;

    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 2 * H + late, &info), ROLLOUT_OK);
    cr_expect_eq(info.next_change, ROLLOUT_CHANGE_STEP);
    cr_expect_eq(info.next_at, start + 4 * H + late);
    cr_expect_eq(info.slip, late);
    cr_expect_eq(info.gate, PILOT_GO);
    cr_expect_eq(info.gate_due, start + 24 * H + late);

    /* each pilot step: not one second early, on time plus the delay */
    static const int64_t at[] = {4 * H, 6 * H, 12 * H, 24 * H};
    static const uint32_t w[] = {PCT(10), PCT(25), PCT(50), PCT(100)};
    for (int i = 0; i < 4; i++) {
        expect_cohort(p, &s, start + at[i] + late - 1, PILOT, i ? w[i - 1] : 0, "before");
        expect_cohort(p, &s, start + at[i] + late, PILOT, w[i], "at");
        expect_cohort(p, &s, start + at[i] + late + 1, PILOT, w[i], "after");
        if (i < 3) {
            cr_assert_eq(rollout_schedule(p, &s, start + at[i] + late, &info), ROLLOUT_OK);
            cr_expect_eq(info.next_at, start + at[i + 1] + late, "step %d", i + 1);
            cr_expect_eq(info.slip, late);
        }
    }
    /* the pilot gate falls due late too, and is pending from then */
    cr_assert_eq(rollout_schedule(p, &s, start + 24 * H + late, &info), ROLLOUT_OK);
    cr_expect_eq(info.gate, PILOT_GO);
    cr_expect_eq(info.gate_pending, 1);
    cr_expect_eq(info.gate_due, start + 24 * H + late);

    /* a GO on the slipped due time keeps GA at day 2 plus the same delay */
    s.gate_go_at[PILOT_GO] = start + 24 * H + late;
    expect_cohort(p, &s, start + 48 * H + late - 1, EVERYONE, 0, "GA before");
    expect_cohort(p, &s, start + 48 * H + late, EVERYONE, PCT(25), "GA at");
    rollout_plan_unref(p);
}

Test(schedule, late_pilot_go_slips_ga)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = seed_on_time(p, 24 * H - 1);
    s.gate_go_at[PILOT_GO] = start + 30 * H; /* 6h late */
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 30 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.next_at, start + 54 * H);
    cr_expect_eq(info.slip, 6 * H);
    cr_expect_eq(info.gate, GA_DAY2);
    cr_expect_eq(info.gate_due, start + 78 * H);
    expect_cohort(p, &s, start + 54 * H - 1, EVERYONE, 0, "GA 25 before");
    expect_cohort(p, &s, start + 54 * H, EVERYONE, PCT(25), "GA 25 at");
    /* and the pilot keeps its 100 % while GA ramps */
    expect_cohort(p, &s, start + 54 * H, PILOT, PCT(100), "pilot during GA");
    rollout_plan_unref(p);
}

Test(schedule, early_go_never_compresses)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = running(p, start);
    s.gate_go_at[CANARY_GO] = start + 1 * H; /* an hour before it is due */
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 1 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.next_change, ROLLOUT_CHANGE_STEP);
    cr_expect_eq(info.next_at, start + 4 * H);
    cr_expect_eq(info.slip, 0);
    expect_cohort(p, &s, start + 4 * H - 1, PILOT, 0, "early GO, before T+4h");
    expect_cohort(p, &s, start + 4 * H, PILOT, PCT(10), "early GO, at T+4h");

    /* an early GA GO: 50 % still waits for day 3 */
    s = seed_on_time(p, 48 * H);
    s.gate_go_at[GA_DAY2] = start + 60 * H;
    expect_cohort(p, &s, start + 72 * H - 1, EVERYONE, PCT(25), "GA early GO, before day 3");
    expect_cohort(p, &s, start + 72 * H, EVERYONE, PCT(50), "GA early GO, day 3");
    rollout_plan_unref(p);
}

Test(schedule, later_start_moves_everything)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start() + 1 * D;
    rollout_state s = running(p, start);
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start - 1, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_NOT_STARTED);
    cr_expect_eq(info.next_at, start);
    cr_expect_eq(info.slip, 0, "slip counts from the actual start");
    expect_cohort(p, &s, start - 1, INTERNAL, 0, "before the actual start");
    expect_cohort(p, &s, start, INTERNAL, PCT(100), "at the actual start");
    rollout_plan_unref(p);
}

/* ---- pauses --------------------------------------------------------------------- */

Test(schedule, finished_pause_shifts_later_steps_by_its_length)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = seed_on_time(p, 2 * H);
    s.n_pauses = 1;
    s.pause_from[0] = start + 5 * H;
    s.pause_to[0] = start + 7 * H;

    /* 25 % was due at T+6h: 1h of clock ran before the pause, 1h after */
    expect_cohort(p, &s, start + 6 * H, PILOT, PCT(10), "inside the old pause");
    expect_cohort(p, &s, start + 8 * H - 1, PILOT, PCT(10), "25 % one second early");
    expect_cohort(p, &s, start + 8 * H, PILOT, PCT(25), "25 % slipped by 2h");
    expect_cohort(p, &s, start + 14 * H - 1, PILOT, PCT(25), "50 % one second early");
    expect_cohort(p, &s, start + 14 * H, PILOT, PCT(50), "50 % slipped by 2h");
    expect_cohort(p, &s, start + 26 * H, PILOT, PCT(100), "100 % slipped by 2h");
    /* what happened before the pause did not move */
    expect_cohort(p, &s, start + 4 * H, PILOT, PCT(10), "10 % before the pause");

    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 6 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_RUNNING);
    cr_expect_eq(info.next_at, start + 8 * H);
    cr_expect_eq(info.slip, 2 * H);
    cr_expect_eq(info.gate_due, start + 26 * H);
    rollout_plan_unref(p);
}

Test(schedule, pause_under_way_freezes_weights_and_clock)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = seed_on_time(p, 2 * H);
    s.status = ROLLOUT_STATUS_PAUSED;
    s.paused_from = ROLLOUT_STATUS_RUNNING;
    s.n_pauses = 1;
    s.pause_from[0] = start + 5 * H;
    static const int64_t nows[] = {5 * H, 6 * H, 24 * H, 200 * D};
    for (size_t i = 0; i < RP_COUNT(nows); i++) {
        rollout_schedule_info info;
        cr_assert_eq(rollout_schedule(p, &s, start + nows[i], &info), ROLLOUT_OK);
        cr_expect_eq(info.status, ROLLOUT_STATUS_PAUSED);
        cr_expect_eq(info.phase, 1);
        cr_expect_eq(info.step, 0);
        cr_expect_eq(info.next_change, ROLLOUT_CHANGE_WAIT);
        cr_expect_eq(info.next_at, NV);
        expect_cohort(p, &s, start + nows[i], INTERNAL, PCT(100), "paused");
        expect_cohort(p, &s, start + nows[i], PILOT, PCT(10), "paused");
        expect_cohort(p, &s, start + nows[i], EVERYONE, 0, "paused");
    }
    rollout_plan_unref(p);
}

Test(schedule, pause_before_a_gate_moves_its_due_time)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = running(p, start);
    s.n_pauses = 1;
    s.pause_from[0] = start + 1 * H;

    /* still paused: the gate's due time is unknown, so the schedule waits */
    s.status = ROLLOUT_STATUS_PAUSED;
    s.paused_from = ROLLOUT_STATUS_RUNNING;
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 3 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_PAUSED);
    cr_expect_eq(info.gate, CANARY_GO);
    cr_expect_eq(info.gate_pending, 0);
    cr_expect_eq(info.gate_due, NV);
    cr_expect_eq(info.next_change, ROLLOUT_CHANGE_WAIT);
    cr_expect_eq(info.next_at, NV);

    /* resumed at T+3h: 1h of clock was left, so the gate is due at T+4h */
    s.status = ROLLOUT_STATUS_RUNNING;
    s.pause_to[0] = start + 3 * H;
    cr_assert_eq(rollout_schedule(p, &s, start + 4 * H - 1, &info), ROLLOUT_OK);
    cr_expect_eq(info.gate_pending, 0);
    cr_expect_eq(info.next_change, ROLLOUT_CHANGE_GATE);
    cr_expect_eq(info.next_at, start + 4 * H);
    cr_assert_eq(rollout_schedule(p, &s, start + 4 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.gate_pending, 1);
    cr_expect_eq(info.gate_due, start + 4 * H);
    cr_expect_eq(info.status, ROLLOUT_STATUS_AWAITING_GATE);
    s.gate_go_at[CANARY_GO] = start + 4 * H;
    expect_cohort(p, &s, start + 6 * H - 1, PILOT, 0, "pilot after the delayed gate");
    expect_cohort(p, &s, start + 6 * H, PILOT, PCT(10), "pilot after the delayed gate");
    rollout_plan_unref(p);
}

Test(schedule, pause_recorded_at_a_step_does_not_undo_it)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    /* 25 % is due at T+6h, reached after 2h of clock from the 10 % step */
    rollout_state s = seed_on_time(p, 6 * H);
    s.status = ROLLOUT_STATUS_PAUSED;
    s.paused_from = ROLLOUT_STATUS_RUNNING;
    s.n_pauses = 1;
    s.pause_from[0] = start + 6 * H;
    expect_cohort(p, &s, start + 6 * H, PILOT, PCT(25), "pause at the 25 % step");
    expect_cohort(p, &s, start + 9 * H, PILOT, PCT(25), "later in that pause");

    /* GA 50 % follows its gate's GO with no clock in between: a pause in the
     * same second as the GO must not take it back either */
    s = seed_on_time(p, 72 * H);
    expect_cohort(p, &s, start + 72 * H, EVERYONE, PCT(50), "GA 50 % before pausing");
    s.status = ROLLOUT_STATUS_PAUSED;
    s.paused_from = ROLLOUT_STATUS_RUNNING;
    s.n_pauses = 1;
    s.pause_from[0] = start + 72 * H;
    expect_cohort(p, &s, start + 72 * H, EVERYONE, PCT(50), "GA 50 % paused at its GO");
    expect_cohort(p, &s, start + 100 * H, EVERYONE, PCT(50), "still 50 % while paused");
    rollout_plan_unref(p);
}

Test(schedule, go_inside_a_pause_takes_effect_on_resume)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = seed_on_time(p, 48 * H);
    s.n_pauses = 1;
    s.pause_from[0] = start + 71 * H;
    s.pause_to[0] = start + 75 * H;
    /* gate due T+72h moved by the pause: 1h before, 3h after -> T+76h */
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 76 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.gate, GA_DAY2);
    cr_expect_eq(info.gate_due, start + 76 * H);
    cr_expect_eq(info.gate_pending, 1);
    s.gate_go_at[GA_DAY2] = start + 80 * H;
    expect_cohort(p, &s, start + 80 * H - 1, EVERYONE, PCT(25), "before the late GO");
    expect_cohort(p, &s, start + 80 * H, EVERYONE, PCT(50), "at the late GO");
    rollout_plan_unref(p);
}

Test(schedule, bake_and_completion)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = seed_on_time(p, 120 * H);
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 121 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_BAKING);
    cr_expect_eq(info.bake_start, start + 120 * H);
    cr_expect_eq(info.complete_at, start + 288 * H);
    cr_expect_eq(info.gate, -1, "no gate is left");

    /* a 10h pause during the bake moves completion by 10h */
    s.n_pauses = 1;
    s.pause_from[0] = start + 130 * H;
    s.pause_to[0] = start + 140 * H;
    cr_assert_eq(rollout_schedule(p, &s, start + 298 * H - 1, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_BAKING);
    cr_expect_eq(info.complete_at, start + 298 * H);
    cr_assert_eq(rollout_schedule(p, &s, start + 298 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_COMPLETED);

    /* a COMPLETED state keeps the final weights, forever */
    s.status = ROLLOUT_STATUS_COMPLETED;
    cr_assert_eq(rollout_schedule(p, &s, start + 1000 * D, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_COMPLETED);
    for (int c = 0; c < 3; c++)
        expect_cohort(p, &s, start + 1000 * D, c, PCT(100), "completed");
    rollout_plan_unref(p);
}

Test(schedule, bake_paused_before_it_starts_waits)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = seed_on_time(p, 120 * H);
    s.status = ROLLOUT_STATUS_PAUSED;
    s.paused_from = ROLLOUT_STATUS_BAKING;
    s.n_pauses = 1;
    s.pause_from[0] = start + 125 * H;
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, start + 400 * H, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_PAUSED);
    cr_expect_eq(info.next_change, ROLLOUT_CHANGE_WAIT);
    cr_expect_eq(info.complete_at, NV);
    rollout_plan_unref(p);
}

/* ---- stopped rollouts -------------------------------------------------------------- */

Test(schedule, rolled_back_halted_and_not_started_give_zero_everywhere)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    static const int stopped[] = {ROLLOUT_STATUS_ROLLED_BACK, ROLLOUT_STATUS_ROLLING_BACK,
                                  ROLLOUT_STATUS_HALTED, ROLLOUT_STATUS_NOT_STARTED};
    static const int64_t nows[] = {-1, 0, 30 * H, 100 * H, 300 * H};
    for (size_t i = 0; i < RP_COUNT(stopped); i++) {
        /* every GO recorded: the schedule alone would give full traffic */
        rollout_state s = seed_on_time(p, 400 * H);
        s.status = stopped[i];
        for (size_t k = 0; k < RP_COUNT(nows); k++) {
            rollout_schedule_info info;
            cr_assert_eq(rollout_schedule(p, &s, start + nows[k], &info), ROLLOUT_OK);
            cr_expect_eq(info.status, stopped[i]);
            cr_expect_eq(info.phase, -1);
            cr_expect_eq(info.next_change, stopped[i] == ROLLOUT_STATUS_NOT_STARTED
                                               ? ROLLOUT_CHANGE_WAIT
                                               : ROLLOUT_CHANGE_NONE);
            cr_expect_eq(info.next_at, NV);
            for (int c = 0; c < 3; c++) {
                cr_expect_eq(info.cohorts[c].weight, 0u, "%s: cohort %d",
                             rollout_status_name(stopped[i]), c);
                rp_cohort_weight cw;
                cr_expect_not(rp_schedule_cohort(p, &s, start + nows[k], c, &cw), "%s: cohort %d",
                              rollout_status_name(stopped[i]), c);
            }
        }
    }
    rollout_plan_unref(p);
}

Test(schedule, bad_arguments)
{
    rollout_plan *p = t_seed();
    rollout_schedule_info info;
    cr_expect_eq(rollout_schedule(NULL, NULL, 0, &info), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_schedule(p, NULL, 0, NULL), ROLLOUT_ERR_ARG);
    rp_cohort_weight cw;
    cr_expect_not(rp_schedule_cohort(p, NULL, seed_start(), -1, &cw));
    cr_expect_not(rp_schedule_cohort(p, NULL, seed_start(), 3, &cw));
    rollout_plan_unref(p);
}

/* ---- change windows and freezes ------------------------------------------------------ */

/* Four steps of one cohort: 10 % at the start, 20 % 2h59m in, 30 % two
 * minutes later, 40 % 59 minutes after that; Mon-Fri 09:00-17:00 +01:00. */
static rollout_plan *windowed(const char *start, const char *offset, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "format: 1\n"
             "id: windowed\n"
             "salt: windowed-salt\n"
             "start: %s\n"
             "versions: {stable: app-1, new: app-2}\n"
             "cohorts:\n"
             "  - id: everyone\n"
             "    match: {everyone: true}\n"
             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
             "phases:\n"
             "  - id: ga\n"
             "    cohort: everyone\n"
             "    steps:\n"
             "      - {at: 0h, weight: 10%%, unit: org}\n"
             "      - {at: 2h59m, weight: 20%%, unit: org}\n"
             "      - {at: 3h1m, weight: 30%%, unit: org}\n"
             "      - {at: 4h, weight: 40%%, unit: org}\n"
             "windows:\n"
             "  - {days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\", "
             "utc_offset: \"%s\"}\n"
             "%s",
             start, offset, extra);
    return t_plan(yaml);
}

static uint32_t weight_at(const rollout_plan *p, const rollout_state *s, int64_t now)
{
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, s, now, &info), ROLLOUT_OK);
    rp_cohort_weight cw = {0};
    bool on = rp_schedule_cohort(p, s, now, 0, &cw);
    cr_expect_eq(on ? cw.weight : 0u, info.cohorts[0].weight, "decide and schedule disagree");
    return info.cohorts[0].weight;
}

Test(windows, friday_1659_happens_1701_moves_to_monday)
{
    /* Friday 2026-03-06 14:00 local (+01:00) */
    rollout_plan *p = windowed("2026-03-06T13:00:00Z", "+01:00", "");
    int64_t fri_1659 = t_time("2026-03-06T16:59:00+01:00");
    int64_t mon_0900 = t_time("2026-03-09T09:00:00+01:00");
    cr_expect_eq(weight_at(p, NULL, fri_1659 - 1), PCT(10));
    cr_expect_eq(weight_at(p, NULL, fri_1659), PCT(20), "16:59 is inside the window");
    /* 30 % was due at 17:01 local: not on Friday evening, not at the weekend */
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T17:01:00+01:00")), PCT(20));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-07T12:00:00+01:00")), PCT(20));
    cr_expect_eq(weight_at(p, NULL, mon_0900 - 1), PCT(20));
    cr_expect_eq(weight_at(p, NULL, mon_0900), PCT(30), "the next opening");
    /* the step after it keeps its 59 minutes from the moved step */
    cr_expect_eq(weight_at(p, NULL, mon_0900 + 59 * M - 1), PCT(30));
    cr_expect_eq(weight_at(p, NULL, mon_0900 + 59 * M), PCT(40));

    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, NULL, fri_1659, &info), ROLLOUT_OK);
    cr_expect_eq(info.next_at, mon_0900);
    /* planned 2026-03-06T16:01Z, happens 2026-03-09T08:00Z: 2d 15h 59m late */
    cr_expect_eq(info.slip, 2 * D + 15 * H + 59 * M);
    cr_expect_eq(mon_0900, 1773043200, "2026-03-09 is day 20521; 08:00Z");
    rollout_plan_unref(p);
}

Test(windows, weekend_start_and_window_edges)
{
    rollout_plan *p = windowed("2026-03-06T13:00:00Z", "+01:00", "");
    /* a state that started on Saturday 10:00 local: the canary waits for Monday */
    rollout_state s = running(p, t_time("2026-03-07T10:00:00+01:00"));
    int64_t mon_0900 = t_time("2026-03-09T09:00:00+01:00");
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, mon_0900 - 1, &info), ROLLOUT_OK);
    cr_expect_eq(info.status, ROLLOUT_STATUS_NOT_STARTED);
    cr_expect_eq(info.next_at, mon_0900);
    cr_expect_eq(weight_at(p, &s, mon_0900), PCT(10), "09:00 sharp is inside");
    cr_expect_eq(weight_at(p, &s, mon_0900 + 2 * H + 59 * M), PCT(20));
    cr_expect_eq(weight_at(p, &s, mon_0900 + 3 * H + 1 * M), PCT(30));
    cr_expect_eq(weight_at(p, &s, mon_0900 + 4 * H), PCT(40));

    /* a step due at 17:00 sharp is outside (the end is exclusive): started
     * Monday 13:59 local, 30 % is due 17:00 and moves to Tuesday 09:00 */
    s = running(p, t_time("2026-03-09T13:59:00+01:00"));
    cr_expect_eq(weight_at(p, &s, t_time("2026-03-09T17:00:00+01:00")), PCT(20));
    cr_expect_eq(weight_at(p, &s, t_time("2026-03-10T09:00:00+01:00") - 1), PCT(20));
    cr_expect_eq(weight_at(p, &s, t_time("2026-03-10T09:00:00+01:00")), PCT(30));
    rollout_plan_unref(p);
}

Test(windows, negative_offset)
{
    /* 09:00-17:00 at -05:00 is 14:00-22:00 UTC */
    rollout_plan *p = windowed("2026-03-06T18:30:00Z", "-05:00", "");
    /* 20 % due 21:29Z (16:29 local) happens; 30 % due 21:31Z happens too.
     * Started 19:00Z instead: 20 % at 21:59Z, 30 % due 22:01Z -> Monday 14:00Z */
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T21:29:00Z")), PCT(20));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T21:31:00Z")), PCT(30));
    rollout_state s = running(p, t_time("2026-03-06T19:00:00Z"));
    cr_expect_eq(weight_at(p, &s, t_time("2026-03-06T22:01:00Z")), PCT(20));
    cr_expect_eq(weight_at(p, &s, t_time("2026-03-09T14:00:00Z") - 1), PCT(20));
    cr_expect_eq(weight_at(p, &s, t_time("2026-03-09T14:00:00Z")), PCT(30));
    rollout_plan_unref(p);
}

Test(windows, freeze_range_holds_steps_and_later_ones_slip)
{
    /* freeze all of Monday until Tuesday 11:00 local */
    rollout_plan *p = windowed("2026-03-06T13:00:00Z", "+01:00",
                               "freezes:\n"
                               "  - {from: \"2026-03-09T00:00:00+01:00\", "
                               "to: \"2026-03-10T11:00:00+01:00\", reason: quarter close}\n");
    int64_t tue_1100 = t_time("2026-03-10T11:00:00+01:00");
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-09T09:00:00+01:00")), PCT(20));
    cr_expect_eq(weight_at(p, NULL, tue_1100 - 1), PCT(20));
    cr_expect_eq(weight_at(p, NULL, tue_1100), PCT(30), "the freeze's end is exclusive");
    cr_expect_eq(weight_at(p, NULL, tue_1100 + 59 * M - 1), PCT(30));
    cr_expect_eq(weight_at(p, NULL, tue_1100 + 59 * M), PCT(40));
    rollout_plan_unref(p);

    /* a freeze that ends after hours: the step waits for the next opening */
    p = windowed("2026-03-06T13:00:00Z", "+01:00",
                 "freezes:\n"
                 "  - {from: \"2026-03-09T00:00:00+01:00\", to: \"2026-03-10T17:30:00+01:00\"}\n");
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-10T17:30:00+01:00")), PCT(20));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-11T09:00:00+01:00") - 1), PCT(20));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-11T09:00:00+01:00")), PCT(30));
    rollout_plan_unref(p);
}

Test(windows, freeze_without_windows)
{
    rollout_plan *p = t_plan("format: 1\n"
                             "id: frozen\n"
                             "salt: frozen-salt\n"
                             "start: 2026-03-06T13:00:00Z\n"
                             "versions: {stable: a, new: b}\n"
                             "cohorts:\n"
                             "  - {id: everyone, match: {everyone: true}}\n"
                             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                             "phases:\n"
                             "  - id: ga\n"
                             "    cohort: everyone\n"
                             "    steps:\n"
                             "      - {at: 0h, weight: 10%, unit: org}\n"
                             "      - {at: 1h, weight: 50%, unit: org}\n"
                             "      - {at: 2h, weight: 100%, unit: org}\n"
                             "freezes:\n"
                             "  - {from: \"2026-03-06T14:00:00Z\", to: \"2026-03-06T20:00:00Z\"}\n");
    /* 50 % is due at the very start of the freeze: held to its end */
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T14:00:00Z")), PCT(10));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T20:00:00Z") - 1), PCT(10));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T20:00:00Z")), PCT(50));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T21:00:00Z") - 1), PCT(50));
    cr_expect_eq(weight_at(p, NULL, t_time("2026-03-06T21:00:00Z")), PCT(100));
    rollout_plan_unref(p);
}

Test(windows, rollback_is_never_held_by_a_window)
{
    rollout_plan *p = windowed("2026-03-06T13:00:00Z", "+01:00", "");
    int64_t saturday = t_time("2026-03-07T12:00:00+01:00");
    rollout_state s = running(p, t_time("2026-03-06T13:00:00Z"));
    cr_expect_eq(weight_at(p, &s, saturday), PCT(20));
    static const int stopped[] = {ROLLOUT_STATUS_ROLLING_BACK, ROLLOUT_STATUS_ROLLED_BACK,
                                  ROLLOUT_STATUS_HALTED};
    for (size_t i = 0; i < RP_COUNT(stopped); i++) {
        s.status = stopped[i];
        s.rollback_started_at = saturday;
        rollout_schedule_info info;
        cr_assert_eq(rollout_schedule(p, &s, saturday, &info), ROLLOUT_OK);
        cr_expect_eq(info.cohorts[0].weight, 0u, "%s at the weekend",
                     rollout_status_name(stopped[i]));
        rp_cohort_weight cw;
        cr_expect_not(rp_schedule_cohort(p, &s, saturday, 0, &cw));
    }
    rollout_plan_unref(p);
}
