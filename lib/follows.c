/* SPDX-License-Identifier: MIT */
/* follows.c — whether one state can have come from another through the
 * state machine (rollout_state_follows). A store reader uses it to tell the
 * next state of the history it follows from a state of another history that
 * reached the same or a higher revision (a store restored from a backup and
 * written on since). It reads only what no event and no plan migration
 * undoes, so it holds for every sequence lib/machine.c and lib/migrate.c
 * can produce. */
#include "internal.h"

#include <string.h>

int rollout_state_follows(const rollout_state *prev, const rollout_state *next)
{
    if (!prev || !next)
        return 0;
    if (next->revision < prev->revision)
        return 0;
    if (next->revision == prev->revision) {
        /* no transition: the same state (a migration to a plan with the
         * same fingerprint keeps the revision and copies the state) */
        char a[ROLLOUT_STATE_TEXT_MAX], b[ROLLOUT_STATE_TEXT_MAX];
        size_t na = rollout_state_encode(prev, a, sizeof a);
        size_t nb = rollout_state_encode(next, b, sizeof b);
        return na && na == nb && memcmp(a, b, na) == 0;
    }
    /* A migration rebinds the fingerprint and moves gates to the new plan's
     * indices (matched by id); everything else below survives it. */
    int same_plan = prev->plan_fingerprint == next->plan_fingerprint;
    if (next->updated_at < prev->updated_at)
        return 0;
    /* a retry of a rollout rolled back before it started is its start */
    if (prev->status != ROLLOUT_STATUS_NOT_STARTED && next->started_at != prev->started_at &&
        !(prev->started_at == 0 && next->attempt > prev->attempt))
        return 0;
    if (prev->status != ROLLOUT_STATUS_NOT_STARTED && next->status == ROLLOUT_STATUS_NOT_STARTED)
        return 0;
    /* Attempts only go up; the trail is only appended to. */
    if (next->attempt < prev->attempt || next->trail_total < prev->trail_total ||
        next->n_promotes < prev->n_promotes)
        return 0;
    int retried = next->attempt > prev->attempt;
    if (!retried && (next->attempt_at != prev->attempt_at ||
                     (same_plan && (next->attempt_step != prev->attempt_step ||
                                    next->attempt_gate != prev->attempt_gate))))
        return 0;
    if (retried && next->attempt_at < prev->updated_at)
        return 0;
    for (int k = 0; k < prev->n_promotes && k < ROLLOUT_MAX_PROMOTES; k++)
        if (next->promote_at[k] != prev->promote_at[k] ||
            (same_plan && next->promote_to[k] != prev->promote_to[k]))
            return 0;
    /* the records both rings still hold are the same records; across a
     * migration the role and gate indices may differ */
    uint32_t from = next->trail_total > ROLLOUT_TRAIL_MAX ? next->trail_total - ROLLOUT_TRAIL_MAX
                                                          : 0;
    for (uint32_t k = from; k < prev->trail_total; k++) {
        if (prev->trail_total - k > ROLLOUT_TRAIL_MAX)
            continue;
        const rollout_trail_record *a = &prev->trail[k % ROLLOUT_TRAIL_MAX];
        const rollout_trail_record *b = &next->trail[k % ROLLOUT_TRAIL_MAX];
        if (a->at != b->at || a->kind != b->kind || a->attempt != b->attempt ||
            a->flags != b->flags || strcmp(a->reason, b->reason) != 0 ||
            (same_plan && (a->role != b->role || a->gate != b->gate || a->detail != b->detail)))
            return 0;
    }
    /* No event leaves a rollback but a retry once it completed, and a
     * rollback starts once per attempt. */
    if (prev->rollback_started_at && retried) {
        if (prev->status != ROLLOUT_STATUS_ROLLED_BACK &&
            prev->status != ROLLOUT_STATUS_ROLLING_BACK)
            return 0;
    } else if (prev->rollback_started_at) {
        if (next->rollback_started_at != prev->rollback_started_at ||
            next->rollback_reason != prev->rollback_reason)
            return 0;
        if (next->status != ROLLOUT_STATUS_ROLLING_BACK &&
            next->status != ROLLOUT_STATUS_ROLLED_BACK)
            return 0;
        if (prev->status == ROLLOUT_STATUS_ROLLED_BACK &&
            next->status != ROLLOUT_STATUS_ROLLED_BACK)
            return 0;
        /* confirmed procedure steps stay confirmed (migrate keeps their
         * bits only when the step order is unchanged) */
        if (same_plan && (prev->rollback_done & ~next->rollback_done))
            return 0;
    }
    if (prev->status == ROLLOUT_STATUS_COMPLETED && next->status != ROLLOUT_STATUS_COMPLETED)
        return 0;
    /* Pauses are only appended; an open one may only be closed. */
    if (next->n_pauses < prev->n_pauses)
        return 0;
    for (int i = 0; i < prev->n_pauses && i < ROLLOUT_MAX_PAUSES; i++) {
        if (next->pause_from[i] != prev->pause_from[i])
            return 0;
        if (prev->pause_to[i] && next->pause_to[i] != prev->pause_to[i])
            return 0;
    }
    /* A GO is given once and kept; a NO-GO is kept until a later NO-GO or
     * a GO of the same gate replaces it. */
    int prev_go = 0, next_go = 0;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++) {
        prev_go += prev->gate_go_at[g] != 0;
        next_go += next->gate_go_at[g] != 0;
        if (!same_plan)
            continue;
        /* a retry decides the gates of the phase it restarts again */
        if (retried && g >= next->attempt_gate)
            continue;
        if (prev->gate_go_at[g] && next->gate_go_at[g] != prev->gate_go_at[g])
            return 0;
        if (prev->gate_no_go_at[g] && next->gate_no_go_at[g] < prev->gate_no_go_at[g] &&
            next->gate_go_at[g] < prev->gate_no_go_at[g])
            return 0;
    }
    /* across a migration, every GO is carried to some gate of the new plan */
    if (next_go < prev_go && !retried)
        return 0;
    if (!same_plan && !retried) {
        for (int g = 0; g < ROLLOUT_MAX_GATES; g++) {
            if (!prev->gate_go_at[g])
                continue;
            int kept = 0;
            for (int h = 0; h < ROLLOUT_MAX_GATES && !kept; h++)
                kept = next->gate_go_at[h] == prev->gate_go_at[g];
            if (!kept)
                return 0;
        }
    }
    return 1;
}
