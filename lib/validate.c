/* validate.c — facts derived from the whole plan once it is parsed. Checks
 * between neighbours (step order, gate times, references) happen where the
 * parser meets them, so the error points at the offending line. */
#include "plan.h"

int rp_validate_plan(rp_ctx *c, rollout_plan *p);

int rp_validate_plan(rp_ctx *c, rollout_plan *p)
{
    (void)c;
    for (int i = 0; i < ROLLOUT_MAX_COHORTS; i++)
        p->cohort_last_phase[i] = -1;
    for (int i = 0; i < p->n_phases; i++)
        p->cohort_last_phase[p->phases[i].cohort] = i;
    int gates = 0;
    for (int i = 0; i < p->n_steps; i++) {
        p->steps[i].gates_before = gates;
        gates += p->steps[i].gate >= 0;
    }
    return ROLLOUT_OK;
}
