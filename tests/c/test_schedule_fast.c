/* SPDX-License-Identifier: MIT */
/*
 * test_schedule_fast.c — the arithmetic fast path of rp_schedule_cohort
 * (no pauses, windows or freezes) against the general step-by-step walk
 * (rp_timeline_compute), which test_schedule.c pins at every boundary.
 */
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next_rand(void)
{
    return t_rand(&rng);
}

/* The cohort's weight as the general walk sees it: its latest step at or
 * before now. */
static bool reference(const rollout_plan *p, const rp_timeline *tl, int64_t now, int cohort,
                      rp_cohort_weight *out)
{
    int found = -1;
    for (int i = 0; i < p->n_steps; i++)
        if (p->phases[p->steps[i].phase].cohort == cohort && tl->step_at[i] <= now)
            found = i;
    if (found < 0)
        return false;
    out->weight = p->steps[found].weight;
    out->unit = p->steps[found].unit;
    out->phase = p->steps[found].phase;
    out->step = p->steps[found].index;
    return true;
}

/* Every cohort's step at now, fast path against the walk; returns how many
 * were compared. */
static int compare_at(const rollout_plan *p, const rollout_state *s, const rp_timeline *tl,
                      int64_t now, int round)
{
    for (int c = 0; c < p->n_cohorts; c++) {
        rp_cohort_weight fast = {0}, ref = {0};
        bool a = rp_schedule_cohort(p, s, now, c, &fast);
        bool b = reference(p, tl, now, c, &ref);
        cr_assert_eq(a, b, "round %d cohort %d at %lld (start %lld): fast %d, walk %d", round, c,
                     (long long)now, (long long)s->started_at, a, b);
        if (a) {
            cr_assert(fast.weight == ref.weight && fast.phase == ref.phase &&
                          fast.step == ref.step && fast.unit == ref.unit,
                      "round %d cohort %d at %lld (start %lld): fast %d.%d, walk %d.%d", round,
                      c, (long long)now, (long long)s->started_at, fast.phase, fast.step,
                      ref.phase, ref.step);
        }
    }
    return p->n_cohorts;
}

static void compare_random(const char *path, int rounds)
{
    rollout_plan *p = NULL;
    rollout_error err;
    cr_assert_eq(rollout_plan_load_file(path, &p, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(p->n_windows + p->n_freezes, 0, "%s has windows: not the fast path", path);
    int compared = 0;
    for (int r = 0; r < rounds; r++) {
        rollout_state s;
        rollout_state_init(p, &s);
        s.status = ROLLOUT_STATUS_RUNNING;
        s.started_at = p->start + (int64_t)(next_rand() % 7200) - 3600;
        /* GOs for a prefix of the gates, each early, on time or late */
        int gos = (int)(next_rand() % (unsigned)(p->n_gates + 1));
        rp_timeline tl;
        for (int g = 0; g < gos; g++) {
            rp_timeline_compute(p, &s, false, &tl);
            int64_t due = tl.gate_due[g];
            cr_assert_neq(due, RP_NEVER);
            int64_t delta = (int64_t)(next_rand() % 20000) - 5000;
            s.gate_go_at[g] = due + delta > s.started_at ? due + delta : due;
        }
        rp_timeline_compute(p, &s, false, &tl);
        int64_t span = p->steps[p->n_steps - 1].at + 10 * 86400;
        for (int k = 0; k < 8; k++) {
            int64_t now = s.started_at - 3600 + (int64_t)(next_rand() % (uint64_t)span);
            if (k == 0 && p->n_steps > 1) /* exactly at a step time */
                now = tl.step_at[next_rand() % (uint64_t)p->n_steps];
            if (now == RP_NEVER)
                continue;
            compared += compare_at(p, &s, &tl, now, r);
        }
    }
    cr_assert_gt(compared, rounds);
    rollout_plan_unref(p);
}

Test(schedule_fast, seed_matches_the_walk)
{
    compare_random("examples/plans/seed.yaml", 20000);
}

Test(schedule_fast, minimal_matches_the_walk)
{
    compare_random("examples/plans/minimal.yaml", 5000);
}

/* With no state, the plan's own start counts and no gate has a GO. */
Test(schedule_fast, null_state_stops_at_the_first_gate)
{
    rollout_plan *p = t_seed();
    rp_cohort_weight w;
    int64_t start = t_time("2026-02-28T09:00:00Z");
    cr_assert(rp_schedule_cohort(p, NULL, start, 0, &w));
    cr_expect_eq(w.weight, 100000);
    cr_expect_not(rp_schedule_cohort(p, NULL, start - 1, 0, &w));
    /* the pilot's first step (T+4h) waits for canary-go forever */
    cr_expect_not(rp_schedule_cohort(p, NULL, start + 30 * 86400, 1, &w));
    rollout_plan_unref(p);
}

/* Times at the ends of int64_t, where every sum saturates: a state started
 * near INT64_MIN or INT64_MAX (decoded or forged), GOs at extreme times,
 * `now` anywhere. The fast path's sums must stop where the walk's do. */
Test(schedule_fast, extreme_times_match_the_walk)
{
    rollout_plan *p = t_seed();
    static const int64_t edges[] = {INT64_MIN + 1, INT64_MIN / 2, -86400, 1, 86400,
                                    INT64_MAX / 2, INT64_MAX - 86400, INT64_MAX};
    enum { N_EDGES = sizeof edges / sizeof edges[0] };
    int compared = 0;
    for (int r = 0; r < 20000; r++) {
        rollout_state s;
        rollout_state_init(p, &s);
        s.status = ROLLOUT_STATUS_RUNNING;
        int64_t jitter = (int64_t)(next_rand() % 7) - 3;
        if (__builtin_add_overflow(edges[next_rand() % N_EDGES], jitter, &s.started_at))
            s.started_at = jitter > 0 ? INT64_MAX : INT64_MIN + 1;
        if (!s.started_at)
            s.started_at = 1;
        int gos = (int)(next_rand() % (unsigned)(p->n_gates + 1));
        for (int g = 0; g < gos; g++) {
            int64_t go = next_rand() % 2 ? edges[next_rand() % N_EDGES]
                                         : s.started_at / 2 + (int64_t)(next_rand() % 1000000);
            s.gate_go_at[g] = go ? go : 1;
        }
        rp_timeline tl;
        rp_timeline_compute(p, &s, false, &tl);
        for (int k = 0; k < 4; k++) {
            int64_t now, later = (int64_t)(next_rand() % (30 * 86400));
            if (k == 0)
                now = edges[next_rand() % N_EDGES];
            else if (k == 1)
                now = tl.step_at[next_rand() % (uint64_t)p->n_steps];
            else if (__builtin_add_overflow(s.started_at, later, &now))
                now = INT64_MAX;
            if (now == RP_NEVER)
                continue;
            compared += compare_at(p, &s, &tl, now, r);
        }
    }
    cr_assert_gt(compared, 20000);
    rollout_plan_unref(p);
}
