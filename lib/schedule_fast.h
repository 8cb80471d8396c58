/* SPDX-License-Identifier: MIT */
/*
 * schedule_fast.h — the schedule's arithmetic fast path, inline.
 *
 * rp_schedule_cohort (schedule.c) uses it when there are no pauses, windows
 * or freezes, and rollout_decide expands it in place: for an id-list cohort
 * a call here would be a tenth of the whole decision. The general walk, for
 * everything else, stays in schedule.c.
 */
#ifndef ROLLOUT_SCHEDULE_FAST_H
#define ROLLOUT_SCHEDULE_FAST_H

#include "plan.h"

/* Whether rp_cohort_step_simple gives the schedule's answer. */
static inline bool rp_schedule_is_simple(const rollout_plan *p, const rollout_state *s)
{
    return !p->n_windows && !p->n_freezes &&
           (!s || (s->n_pauses == 0 && s->n_promotes == 0 && !s->attempt_at));
}

/* a + b, stopping at INT64_MAX or INT64_MIN as the general walk's sat_add
 * does: a state's times are any int64_t (a far-future or forged started_at
 * overflowed here; found by fuzz_state, UBSan). */
static inline int64_t rp_fast_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Without pauses, windows or freezes the clock is plain arithmetic: step i
 * happens at start + at_i + the slip of the gates before it (each late GO's
 * lateness), once each of them has its GO. That is the walk of schedule.c's step_time with every
 * advance() and allowed_at() an identity, computed once per gate instead of
 * once per step. It reads the cohort's own steps, latest first
 * (plan->cohort_steps), and only the gates those steps wait behind. Returns
 * the cohort's current step, or NULL when none has happened. The cohort must
 * be valid and the state running (rp_schedule_cohort checks). */
static inline const rp_cohort_step *rp_cohort_step_simple(const rollout_plan *p,
                                                          const rollout_state *s, int64_t now,
                                                          int cohort)
{
    const rp_cohort_step *st = &p->cohort_steps[p->cohort_first_step[cohort]];
    const rp_cohort_step *end = st + p->cohort_n_steps[cohort];
    if (st == end)
        return NULL;
    int64_t start = s && s->started_at ? s->started_at : p->start;
    /* The latest step waits behind the most gates; no step needs more. */
    int need = st->gates_before;
    if (need == 0 || !s) {
        /* No gate to pass, or no state to record a GO: nothing has slipped,
         * and a step behind a gate has not happened. The common case of a
         * first phase, and of every decision without a state. */
        for (; st < end; st++)
            if (st->gates_before == 0 && rp_fast_add(start, st->at) <= now)
                return st;
        return NULL;
    }
    /* Offsets count from start until a gate gets its GO late; from then on
     * they count from that GO less the gate's own offset, as if the
     * rollout had started that much later. Kept as that origin, not as a
     * slip added to start: a slip can exceed what an int64_t holds when
     * the start is near INT64_MIN (a decoded or forged state) while the
     * times it leads to do not. */
    int64_t origin_after[ROLLOUT_MAX_GATES + 1]; /* once the first k gates passed */
    int64_t origin = start;
    int passed = 0;
    origin_after[0] = start;
    while (passed < need) {
        int64_t at = p->gates[passed].at;
        int64_t due = rp_fast_add(origin, at);
        int64_t go = s->gate_go_at[passed];
        /* a gate not yet due holds back every later step past now, GO or not */
        if (!go || due > now)
            break;
        /* go > due = origin + at (due did not saturate, or go could not
         * exceed it) and at >= 0, so go - at cannot overflow */
        if (go > due)
            origin = go - at;
        origin_after[++passed] = origin;
    }
    for (; st < end; st++)
        if (st->gates_before <= passed && rp_fast_add(origin_after[st->gates_before], st->at) <= now)
            return st;
    return NULL;
}

#endif /* ROLLOUT_SCHEDULE_FAST_H */
