/* SPDX-License-Identifier: MIT */
/* validate.c — facts derived from the whole plan once it is parsed. Checks
 * between neighbours (step order, gate times, references) happen where the
 * parser meets them, so the error points at the offending line. */
#include "plan.h"
#include "targeting.h"

#include <string.h>

int rp_validate_plan(rp_ctx *c, rollout_plan *p);

_Static_assert(ROLLOUT_MAX_STEPS <= 255, "cohort_first_step and step_entry are uint8_t");

/* Adds the attribute keys rule r reads that p->rule_attrs lacks. */
static int collect_attrs(rp_ctx *c, rollout_plan *p, const struct rp_rule *r, int *cap)
{
    if (r->kind == RP_RULE_NOT || r->kind == RP_RULE_ANY || r->kind == RP_RULE_ALL) {
        for (size_t i = 0; i < r->n_kids; i++) {
            int rc = collect_attrs(c, p, r->kids[i], cap);
            if (rc)
                return rc;
        }
        return ROLLOUT_OK;
    }
    if (r->kind != RP_RULE_ATTR_EQUALS && r->kind != RP_RULE_ATTR_IN &&
        r->kind != RP_RULE_ATTR_MATCHES)
        return ROLLOUT_OK;
    for (int i = 0; i < p->n_rule_attrs; i++)
        if (p->rule_attrs[i]->attr_len == r->attr_len &&
            !memcmp(p->rule_attrs[i]->attr, r->attr, r->attr_len))
            return ROLLOUT_OK;
    if (p->n_rule_attrs == *cap) {
        int grown = *cap ? 2 * *cap : 8;
        const struct rp_rule **a = rp_alloc_array(c->arena, (size_t)grown, sizeof *a);
        if (!a)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        if (p->n_rule_attrs)
            memcpy(a, p->rule_attrs, (size_t)p->n_rule_attrs * sizeof *a);
        p->rule_attrs = a;
        *cap = grown;
    }
    p->rule_attrs[p->n_rule_attrs++] = r;
    return ROLLOUT_OK;
}

int rp_validate_plan(rp_ctx *c, rollout_plan *p)
{
    for (int i = 0; i < ROLLOUT_MAX_COHORTS; i++)
        p->cohort_last_phase[i] = -1;
    for (int i = 0; i < p->n_phases; i++)
        p->cohort_last_phase[p->phases[i].cohort] = i;
    int gates = 0;
    for (int i = 0; i < p->n_steps; i++) {
        p->steps[i].gates_before = gates;
        gates += p->steps[i].gate >= 0;
    }
    /* Each cohort's steps, latest first: decide looks for the latest step
     * that has happened, which in a running rollout is usually near the
     * front, and never has to skip another cohort's phases. */
    int n = 0;
    for (int co = 0; co < p->n_cohorts; co++) {
        p->cohort_first_step[co] = (uint8_t)n;
        for (int i = p->n_steps - 1; i >= 0; i--) {
            const rp_step *st = &p->steps[i];
            if (p->phases[st->phase].cohort != co)
                continue;
            p->step_entry[i] = (uint8_t)n;
            p->cohort_steps[n++] = (rp_cohort_step){
                .at = st->at,
                .gates_before = st->gates_before,
                .decision = {
                    .variant = ROLLOUT_STABLE,
                    .reason = ROLLOUT_REASON_OUT_OF_ROLLOUT,
                    .cohort = co,
                    .phase = st->phase,
                    .step = st->index,
                    .unit = st->unit,
                    .weight = st->weight,
                    .cohort_name = p->cohorts[co].id,
                    .phase_name = p->phases[st->phase].id,
                },
            };
        }
        p->cohort_n_steps[co] = (uint8_t)(n - p->cohort_first_step[co]);
    }
    int cap = 0;
    for (int co = 0; co < p->n_cohorts; co++) {
        p->rule_units |= rp_rule_units(p->cohorts[co].match);
        int rc = collect_attrs(c, p, p->cohorts[co].match, &cap);
        if (rc)
            return rc;
    }
    return ROLLOUT_OK;
}
