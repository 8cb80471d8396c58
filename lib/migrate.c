/* SPDX-License-Identifier: MIT */
/*
 * migrate.c — carrying a state over to an edited plan of the same rollout.
 *
 * A state records positions (phase, step, gate, role, procedure step) as
 * indices into the plan it was written for. An edited plan may insert,
 * remove or reorder any of them, so every index is mapped by id (steps by
 * their position within their phase, as they have no id). Whatever cannot
 * be mapped without changing what the state means is refused with the name
 * of the missing piece: the caller keeps the old plan and state, which is
 * always safe. Above all, a rolled back, rolling back, halted or paused
 * state stays so: the status is copied, never recomputed.
 *
 * docs/state-machine.md ("Plan edits") lists the rules; tests/c/test_migrate.c
 * checks each.
 */
#include "plan.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* rollback_done bits beyond the procedure's own steps (machine.c) */
#define RB_FLAGS ((1u << 31) | (1u << 30))

const char *rp_state_check(const rollout_plan *plan, const rollout_state *s);

/* Index of the element of base[0..n) whose id (a const char * at offset
 * off of each stride-byte element) is key, or -1. base may be NULL when n
 * is 0. */
static int find_id(const char *key, const void *base, size_t off, int n, size_t stride)
{
    for (int i = 0; i < n; i++) {
        const char *id;
        memcpy(&id, (const char *)base + (size_t)i * stride + off, sizeof id);
        if (strcmp(key, id) == 0)
            return i;
    }
    return -1;
}

#define FIND(arr, n, key) \
    find_id((key), (arr), offsetof(__typeof__(*(arr)), id), (n), sizeof *(arr))

static int refuse(rollout_error *err, int code, const char *fmt, const char *a, const char *b)
{
    return rp_error_set(err, code, NULL, 0, 0, NULL, fmt, a, b);
}

/* New role bits for old role bits, or -1 (and the missing role in *missing). */
static int64_t map_roles(const rollout_plan *o, const rollout_plan *n, uint32_t bits,
                         const char **missing)
{
    uint32_t out = 0;
    for (int r = 0; r < o->n_roles; r++) {
        if (!(bits & (1u << r)))
            continue;
        int nr = FIND(n->roles, n->n_roles, o->roles[r].id);
        if (nr < 0) {
            *missing = o->roles[r].id;
            return -1;
        }
        out |= 1u << nr;
    }
    return out;
}

static bool gate_has_data(const rollout_state *s, int g)
{
    return s->gate_go_at[g] || s->gate_no_go_at[g] || s->gate_approvals[g] ||
           s->gate_override_role[g] != -1;
}

/* cur: the global index in n of the state's current step, -1 none. */
static int migrate_gates(const rollout_plan *o, const rollout_state *s, const rollout_plan *n,
                         int cur, rollout_state *t, rollout_error *err)
{
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++) {
        t->gate_go_at[g] = t->gate_no_go_at[g] = 0;
        t->gate_approvals[g] = 0;
        t->gate_override_role[g] = -1;
    }
    if (s->gate >= 0 && s->status != ROLLOUT_STATUS_NOT_STARTED &&
        FIND(n->gates, n->n_gates, o->gates[s->gate].id) < 0)
        return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                      "gate \"%s\" (the gate the rollout waits for) is not in the new plan%s",
                      o->gates[s->gate].id, "");
    for (int g = 0; g < o->n_gates; g++) {
        if (!gate_has_data(s, g))
            continue;
        const char *id = o->gates[g].id;
        int ng = FIND(n->gates, n->n_gates, id);
        if (ng < 0)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND, "gate \"%s\" %s is not in the new plan", id,
                          s->gate_go_at[g]          ? "(it has its GO)"
                          : s->gate_no_go_at[g]     ? "(it has a NO-GO)"
                                                    : "(it has approvals)");
        const char *role = NULL;
        int64_t bits = map_roles(o, n, s->gate_approvals[g], &role);
        if (bits < 0)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "role \"%s\" approved gate \"%s\" and is not in the new plan", role, id);
        int over = -1;
        if (s->gate_override_role[g] >= 0) {
            role = o->roles[s->gate_override_role[g]].id;
            over = FIND(n->roles, n->n_roles, role);
            if (over < 0)
                return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                              "role \"%s\" overrode gate \"%s\" and is not in the new plan", role,
                              id);
        }
        t->gate_go_at[ng] = s->gate_go_at[g];
        t->gate_no_go_at[ng] = s->gate_no_go_at[g];
        t->gate_approvals[ng] = (uint32_t)bits;
        t->gate_override_role[ng] = over;
    }
    /* Gates are decided in plan order: the gates with a GO must still come
     * first, or a gate new (or moved) in front of them would hold back
     * steps that have already happened. */
    int open = -1;
    for (int g = 0; g < n->n_gates; g++) {
        if (!t->gate_go_at[g]) {
            if (open < 0)
                open = g;
        } else if (open >= 0) {
            return refuse(err, ROLLOUT_ERR_TRANSITION,
                          "gate \"%s\" has no GO and comes before gate \"%s\", which has its GO",
                          n->gates[open].id, n->gates[g].id);
        }
    }
    /* nor may a gate without a GO hold back a step the rollout has passed */
    if (open >= 0 && cur >= 0 && n->gates[open].step < cur)
        return refuse(err, ROLLOUT_ERR_TRANSITION,
                      "gate \"%s\" has no GO and would hold back steps of phase \"%s\" that have "
                      "already happened",
                      n->gates[open].id, n->phases[n->steps[cur].phase].id);
    if (open >= 0 && (s->status == ROLLOUT_STATUS_BAKING || s->status == ROLLOUT_STATUS_COMPLETED ||
                      (s->status == ROLLOUT_STATUS_PAUSED &&
                       s->paused_from == ROLLOUT_STATUS_BAKING)))
        return refuse(err, ROLLOUT_ERR_TRANSITION,
                      "every gate had its GO (the rollout is %s) and the new plan adds gate \"%s\"",
                      rollout_status_name(s->status), n->gates[open].id);
    t->gate = open;
    return ROLLOUT_OK;
}

static int migrate_procedure(const rollout_plan *o, const rollout_state *s,
                             const rollout_plan *n, rollout_state *t, rollout_error *err)
{
    const rp_rollback *orb = &o->rollback, *nrb = &n->rollback;
    uint32_t done = s->rollback_done & RB_FLAGS;
    bool under_way = s->status == ROLLOUT_STATUS_ROLLING_BACK;
    for (size_t k = 0; k < orb->n_steps && k < 30; k++) {
        if (!(s->rollback_done & (1u << k)))
            continue;
        int nk = FIND(nrb->steps, (int)nrb->n_steps, orb->steps[k].id);
        if (nk >= 0)
            done |= 1u << nk;
        else if (under_way)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "rollback step \"%s\" is confirmed and is not in the new procedure%s",
                          orb->steps[k].id, "");
        /* once rolled back the procedure is history: a step renamed since
         * changes nothing */
    }
    if (under_way) {
        /* the step the caller was told to do and has not confirmed yet must
         * stay the one the procedure waits for, with the same action */
        size_t k = 0;
        while (k < orb->n_steps && (s->rollback_done & (1u << k)))
            k++;
        if (k < orb->n_steps) {
            const rp_rollback_step *w = &orb->steps[k];
            int nk = FIND(nrb->steps, (int)nrb->n_steps, w->id);
            if (nk < 0)
                return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                              "rollback step \"%s\" (the step the rollback waits for) is not in "
                              "the new procedure%s",
                              w->id, "");
            if (nrb->steps[nk].action != w->action)
                return refuse(err, ROLLOUT_ERR_TRANSITION,
                              "rollback step \"%s\" (the step the rollback waits for) changed "
                              "its action to %s",
                              w->id, rp_rollback_action_name(nrb->steps[nk].action));
            for (int j = 0; j < nk; j++)
                if (!(done & (1u << j)))
                    return refuse(err, ROLLOUT_ERR_TRANSITION,
                                  "rollback step \"%s\" is not confirmed and comes before \"%s\", "
                                  "the step the rollback waits for",
                                  nrb->steps[j].id, w->id);
        }
    }
    t->rollback_done = done;
    return ROLLOUT_OK;
}

/* The new plan's global index of old step i (by phase id and position), or
 * -1 with *missing naming its phase. */
static int map_step(const rollout_plan *o, const rollout_plan *n, int i, const char **missing)
{
    const rp_step *st = &o->steps[i];
    int np = FIND(n->phases, n->n_phases, o->phases[st->phase].id);
    *missing = o->phases[st->phase].id;
    if (np < 0 || st->index >= n->phases[np].n_steps)
        return -1;
    return n->phases[np].first_step + st->index;
}

/* Attempts, promotes and the trail, by id like the rest. */
static int migrate_history(const rollout_plan *o, const rollout_state *s, const rollout_plan *n,
                           rollout_state *t, rollout_error *err)
{
    const char *missing;
    if (s->attempt_step >= 0) {
        /* the retried phase starts where it did: its first step */
        int np = FIND(n->phases, n->n_phases, o->phases[o->steps[s->attempt_step].phase].id);
        if (np < 0)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "phase \"%s\" (the phase the current attempt restarted) is not in the "
                          "new plan%s",
                          o->phases[o->steps[s->attempt_step].phase].id, "");
        t->attempt_step = n->phases[np].first_step;
        t->attempt_gate = n->n_gates;
        for (int g = 0; g < n->n_gates; g++)
            if (n->gates[g].step >= t->attempt_step) {
                t->attempt_gate = g;
                break;
            }
    }
    for (int k = 0; k < s->n_promotes; k++) {
        int to = map_step(o, n, s->promote_to[k], &missing);
        if (to < 0)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "a promote reached a step of phase \"%s\" that is not in the new "
                          "plan%s",
                          missing, "");
        t->promote_to[k] = to;
    }
    for (int k = 0; k < ROLLOUT_TRAIL_MAX; k++) {
        rollout_trail_record *r = &t->trail[k];
        if ((uint32_t)k >= s->trail_total)
            break;
        if (r->role >= 0) {
            const char *id = o->roles[r->role].id;
            if ((r->role = FIND(n->roles, n->n_roles, id)) < 0)
                return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                              "role \"%s\" is named in the audit trail (%s) and is not in the "
                              "new plan",
                              id, rollout_trail_kind_name(r->kind));
        }
        if (r->gate >= 0) {
            const char *id = o->gates[r->gate].id;
            if ((r->gate = FIND(n->gates, n->n_gates, id)) < 0)
                return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                              "gate \"%s\" is named in the audit trail (%s) and is not in the "
                              "new plan",
                              id, rollout_trail_kind_name(r->kind));
        }
        /* a promote's record names the step it reached */
        if (r->kind == ROLLOUT_TRAIL_PROMOTE && r->detail >= 0 && r->detail < o->n_steps &&
            (r->detail = map_step(o, n, r->detail, &missing)) < 0)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "a promote in the audit trail reached a step of phase \"%s\" that is "
                          "not in the new plan%s",
                          missing, "");
        if (r->kind == ROLLOUT_TRAIL_RETRY && r->detail >= 0 && r->detail < o->n_phases) {
            const char *id = o->phases[r->detail].id;
            if ((r->detail = FIND(n->phases, n->n_phases, id)) < 0)
                return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                              "phase \"%s\" is named in the audit trail (retry) and is not in "
                              "the new plan%s",
                              id, "");
        }
    }
    return ROLLOUT_OK;
}

int rollout_state_migrate(const rollout_plan *old_plan, const rollout_state *state,
                          const rollout_plan *new_plan, rollout_state *out, rollout_error *err)
{
    if (!old_plan || !state || !new_plan || !out)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "old_plan, state, new_plan and out are required");
    const char *why = rp_state_check(NULL, state);
    if (why)
        return rp_error_set(err, ROLLOUT_ERR_STATE, NULL, 0, 0, NULL,
                            "the state was not made by rollout_state_init: %s", why);
    if (state->plan_fingerprint != old_plan->fingerprint)
        return rp_error_set(err, ROLLOUT_ERR_STATE_PLAN, NULL, 0, 0, NULL,
                            "the state does not belong to the old plan (fingerprint %016llx, "
                            "plan %016llx)",
                            (unsigned long long)state->plan_fingerprint,
                            (unsigned long long)old_plan->fingerprint);
    if ((why = rp_state_check(old_plan, state)))
        return rp_error_set(err, ROLLOUT_ERR_STATE, NULL, 0, 0, NULL,
                            "the state does not fit the old plan: %s", why);
    if (strcmp(old_plan->id, new_plan->id) != 0)
        return refuse(err, ROLLOUT_ERR_STATE_PLAN,
                      "the new plan is rollout \"%s\", the state belongs to rollout \"%s\"",
                      new_plan->id, old_plan->id);
    /* Reloading the same plan is not a transition: nothing to write, so a
     * fleet reloading in turn does not churn revisions. */
    if (new_plan->fingerprint == old_plan->fingerprint) {
        if (out != state)
            *out = *state;
        return ROLLOUT_OK;
    }

    rollout_state t = *state;
    int cur = -1;
    if (state->phase >= 0) {
        const rp_phase *op = &old_plan->phases[state->phase];
        int np = FIND(new_plan->phases, new_plan->n_phases, op->id);
        if (np < 0)
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "phase \"%s\" (the current phase) is not in the new plan%s", op->id, "");
        if (state->step >= new_plan->phases[np].n_steps) {
            char step[16];
            snprintf(step, sizeof step, "%d", state->step + 1);
            return refuse(err, ROLLOUT_ERR_NOT_FOUND,
                          "step %s of phase \"%s\" (the current step) is not in the new plan",
                          step, op->id);
        }
        t.phase = np;
        cur = new_plan->phases[np].first_step + state->step;
    }
    int rc = migrate_gates(old_plan, state, new_plan, cur, &t, err);
    if (rc)
        return rc;
    if ((rc = migrate_procedure(old_plan, state, new_plan, &t, err)))
        return rc;
    if ((rc = migrate_history(old_plan, state, new_plan, &t, err)))
        return rc;
    t.plan_fingerprint = new_plan->fingerprint;
    t.revision = state->revision + 1;
    if ((why = rp_state_check(new_plan, &t)))
        return rp_error_set(err, ROLLOUT_ERR_STATE, NULL, 0, 0, NULL,
                            "the migrated state does not fit the new plan: %s", why);
    *out = t;
    return ROLLOUT_OK;
}
