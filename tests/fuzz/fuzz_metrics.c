/* SPDX-License-Identifier: MIT */
/*
 * fuzz_metrics.c — YAML/JSON bytes into the metrics loader.
 *
 * Every input must load or fail cleanly. A snapshot that loads is evaluated
 * against every phase, gate and the bake of the seed plan (the statistics
 * then see hostile counts, rates, samples and histograms), and each result
 * is checked for internal consistency.
 */
#include "fuzz_common.h"

#include <math.h>
#include <string.h>

static void check_evaluation(const rollout_evaluation *ev)
{
    FZ_CHECK(ev->verdict >= ROLLOUT_VERDICT_PASS && ev->verdict <= ROLLOUT_VERDICT_ROLLBACK,
             "verdict %d", ev->verdict);
    FZ_CHECK(ev->n_results >= 0 && ev->n_results <= ROLLOUT_MAX_CRITERIA, "n_results %d",
             ev->n_results);
    FZ_CHECK(ev->n_pass + ev->n_fail + ev->n_inconclusive == ev->n_results,
             "%d + %d + %d != %d", ev->n_pass, ev->n_fail, ev->n_inconclusive, ev->n_results);
    for (int i = 0; i < ev->n_results; i++) {
        const rollout_criterion_result *r = &ev->results[i];
        FZ_CHECK(r->verdict >= ROLLOUT_VERDICT_PASS && r->verdict <= ROLLOUT_VERDICT_INCONCLUSIVE,
                 "result %d verdict %d", i, r->verdict);
        FZ_CHECK(memchr(r->reason, '\0', sizeof r->reason) != NULL, "unterminated reason");
        /* a p-value, when there is one, is a probability */
        FZ_CHECK(isnan(r->p_value) || (r->p_value >= 0 && r->p_value <= 1), "p %g", r->p_value);
    }
    if (ev->n_fail == 0)
        FZ_CHECK(ev->verdict != ROLLOUT_VERDICT_FAIL && ev->verdict != ROLLOUT_VERDICT_ROLLBACK,
                 "FAIL without a failed criterion");
}

static void evaluate(const rollout_plan *p, int target, const char *name,
                     const rollout_metrics *m)
{
    rollout_evaluation ev;
    rollout_error err;
    int rc = rollout_evaluate(p, target, name, m, &ev, &err);
    FZ_CHECK(rc == ROLLOUT_OK || rc == ROLLOUT_ERR_ARG || rc == ROLLOUT_ERR_NOT_FOUND,
             "evaluate %s: %s", name ? name : "bake", rollout_code_name(rc));
    if (rc == ROLLOUT_OK)
        check_evaluation(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const rollout_plan *plan = fz_seed_plan();
    char *text = fz_dup(data, size);
    rollout_metrics *m = (rollout_metrics *)1;
    rollout_error err;
    memset(&err, 0, sizeof err);
    int rc = rollout_metrics_load_buffer(text, size, "fuzz.yaml", &m, &err);
    free(text);
    if (rc != ROLLOUT_OK) {
        FZ_CHECK(m == NULL, "a failed load left *out set");
        FZ_CHECK(err.code == rc, "err.code %d, returned %d", err.code, rc);
        FZ_CHECK(rc != ROLLOUT_ERR_NOMEM, "NOMEM without an allocation failing: %s",
                 err.message);
        return 0;
    }
    static const char *const names[] = {
        "requests", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99",
        "critical_errors", "unhandled_exceptions", "support_tickets", "availability",
        "issue_resolution_time", "data_integrity_issues"};
    for (int v = ROLLOUT_STABLE; v <= ROLLOUT_NEW; v++)
        for (size_t i = 0; i < FZ_COUNT(names); i++) {
            double value;
            rc = rollout_metrics_get(m, v, names[i], &value);
            FZ_CHECK(rc == ROLLOUT_OK || rc == ROLLOUT_ERR_NOT_FOUND, "get %s", names[i]);
            /* a percentile in a histogram's +Inf bucket is +Inf (docs/evaluation.md) */
            FZ_CHECK(rc != ROLLOUT_OK || isfinite(value) ||
                         (value > 0 && !strncmp(names[i], "latency_p", 9)),
                     "%s is %g", names[i], value);
        }
    for (int i = 0; i < rollout_plan_phase_count(plan); i++)
        evaluate(plan, ROLLOUT_EVAL_PHASE, rollout_plan_phase_name(plan, i), m);
    for (int i = 0; i < rollout_plan_gate_count(plan); i++)
        evaluate(plan, ROLLOUT_EVAL_GATE, rollout_plan_gate_name(plan, i), m);
    evaluate(plan, ROLLOUT_EVAL_BAKE, NULL, m);
    rollout_metrics_free(m);
    return 0;
}
