/* validate.c — facts derived from the whole plan once it is parsed. Checks
 * between neighbours (step order, gate times, references) happen where the
 * parser meets them, so the error points at the offending line. */
#include "plan.h"

int rp_validate_plan(rp_ctx *c, rollout_plan *p);

_Static_assert(ROLLOUT_MAX_STEPS <= 255, "cohort_first_step and step_entry are uint8_t");

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
    return ROLLOUT_OK;
}
