/* SPDX-License-Identifier: MIT */
/*
 * test_evaluate.c — success criteria: every form at, just below and just
 * above its threshold; baselines (missing, zero); min_samples; the
 * statistical forms at the exact counts where their verdict flips; verdict
 * combination; rollout_evaluate's targets; the seed's criteria on the
 * snapshots under examples/metrics/; every parse error with its position.
 *
 * Expected values are worked out by hand or, for the statistics, by
 * tests/vectors/eval_boundaries.py (scipy and mpmath, not this library);
 * the comments quote the numbers that script prints.
 */
#include "evaluate.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixtures ----------------------------------------------------------------- */

/* A one-phase plan whose gate uses criteria set "set"; the criteria text is
 * appended at line 21 (SET_LINE + 1). */
#define SET_LINE 20
static const char plan_head[] =
    "format: 1\n"
    "id: mini\n"
    "salt: mini-salt\n"
    "start: 2026-03-02T09:00:00Z\n"
    "versions: {stable: v1, new: v2}\n"
    "roles: {sre: SRE}\n"
    "cohorts:\n"
    "  - {id: everyone, match: {everyone: true}}\n"
    "smoke_tests:\n"
    "  [{id: login, name: Login}, {id: report, name: Report}]\n"
    "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
    "custom_metrics: [kpi, delta, data_integrity_issues, usage_kpi_ratio]\n"
    "phases:\n"
    "  - id: only\n"
    "    cohort: everyone\n"
    "    steps:\n"
    "      - {at: 0, weight: 100%, unit: org}\n"
    "    gate: {id: only-go, at: 1h, approvers: [sre], criteria: set}\n"
    "criteria:\n"
    "  set:";

static char *plan_text(const char *criteria)
{
    size_t n = strlen(plan_head) + strlen(criteria) + 2;
    char *s = malloc(n);
    cr_assert(s);
    snprintf(s, n, "%s%s", plan_head, criteria);
    return s;
}

static rollout_plan *plan_with(const char *criteria)
{
    char *s = plan_text(criteria);
    rollout_plan *p = t_plan(s);
    free(s);
    return p;
}

static rollout_metrics *snap(void)
{
    rollout_metrics *m = NULL;
    cr_assert_eq(rollout_metrics_create(&m), ROLLOUT_OK);
    return m;
}

static void set(rollout_metrics *m, int variant, const char *name, double v)
{
    rollout_error err;
    cr_assert_eq(rollout_metrics_set(m, variant, name, v, &err), ROLLOUT_OK, "%s", err.message);
}

static void counts(rollout_metrics *m, int variant, uint64_t requests, uint64_t errors)
{
    rollout_error err;
    cr_assert_eq(rollout_metrics_set_requests(m, variant, requests, errors, &err), ROLLOUT_OK,
                 "%s", err.message);
}

static rollout_evaluation ev;

/* Evaluates set "set" of the plan; returns the first result. */
static const rollout_criterion_result *eval_set(const rollout_plan *p, const rollout_metrics *m)
{
    rollout_error err;
    int rc = rollout_evaluate(p, ROLLOUT_EVAL_CRITERIA, "set", m, &ev, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s", err.message);
    return &ev.results[0];
}

/* Builds the plan, evaluates, checks the first result's verdict and, when
 * given, its reason; frees the plan (result strings stay in ev.results'
 * reason buffers). */
static void expect(const char *criteria, const rollout_metrics *m, int verdict,
                   const char *reason)
{
    rollout_plan *p = plan_with(criteria);
    const rollout_criterion_result *r = eval_set(p, m);
    cr_expect_eq(r->verdict, verdict, "verdict %s, want %s: %s", rollout_verdict_name(r->verdict),
                 rollout_verdict_name(verdict), r->reason);
    if (reason)
        cr_expect_str_eq(r->reason, reason);
    rollout_plan_unref(p);
}

#define PASS ROLLOUT_VERDICT_PASS
#define FAIL ROLLOUT_VERDICT_FAIL
#define INCONCLUSIVE ROLLOUT_VERDICT_INCONCLUSIVE
#define ROLLBACK ROLLOUT_VERDICT_ROLLBACK
#define NEW ROLLOUT_NEW
#define BASE ROLLOUT_STABLE

static bool rel_close(double got, double want, double tol)
{
    return fabs(got - want) <= tol * fabs(want);
}

/* ---- absolute bounds ---------------------------------------------------------- */

static const char max_latency[] = "\n    - {id: c, metric: latency_p95, max: 2s}\n";

Test(forms, max_latency_at_below_above)
{
    rollout_metrics *m = snap();
    set(m, NEW, "latency_p95", 2.0);
    expect(max_latency, m, PASS, "latency_p95 2s <= max 2s");
    cr_expect_eq(ev.results[0].observed, 2.0);
    cr_expect_eq(ev.results[0].threshold, 2.0);
    cr_expect(isnan(ev.results[0].baseline) && isnan(ev.results[0].p_value));
    set(m, NEW, "latency_p95", 1.999);
    expect(max_latency, m, PASS, "latency_p95 1.999s <= max 2s");
    set(m, NEW, "latency_p95", 2.001);
    expect(max_latency, m, FAIL, "latency_p95 2.001s > max 2s");
    rollout_metrics_free(m);
}

Test(forms, max_latency_in_milliseconds)
{
    rollout_metrics *m = snap();
    set(m, NEW, "latency_p95", 0.8505);
    expect("\n    - {id: c, metric: latency_p95, max: 850ms}\n", m, FAIL,
           "latency_p95 850.5ms > max 850ms");
    set(m, NEW, "latency_p95", 0.85);
    expect("\n    - {id: c, metric: latency_p95, max: 850ms}\n", m, PASS,
           "latency_p95 850ms <= max 850ms");
    rollout_metrics_free(m);
}

Test(forms, min_rate_at_below_above)
{
    static const char c[] = "\n    - {id: c, metric: availability, min: 99.9%}\n";
    rollout_metrics *m = snap();
    /* 99.9 / 100 and the literal 0.999 differ in the last bit: at the
     * threshold must still pass */
    set(m, NEW, "availability", 0.999);
    expect(c, m, PASS, "availability 99.9% >= min 99.9%");
    set(m, NEW, "availability", 0.9991);
    expect(c, m, PASS, "availability 99.91% >= min 99.9%");
    set(m, NEW, "availability", 0.9989);
    expect(c, m, FAIL, "availability 99.89% < min 99.9%");
    rollout_metrics_free(m);
}

Test(forms, must_be_zero)
{
    static const char c[] =
        "\n    - {id: c, metric: critical_errors, must_be_zero: true}\n";
    rollout_metrics *m = snap();
    set(m, NEW, "critical_errors", 0);
    expect(c, m, PASS, "critical_errors is 0");
    set(m, NEW, "critical_errors", 1);
    expect(c, m, FAIL, "critical_errors is 1; it must be 0");
    cr_expect_eq(ev.results[0].threshold, 0);
    rollout_metrics_free(m);
}

Test(forms, max_count_and_duration)
{
    static const char tickets[] = "\n    - {id: c, metric: support_tickets, max: 10}\n";
    static const char resolve[] = "\n    - {id: c, metric: issue_resolution_time, max: 1h}\n";
    rollout_metrics *m = snap();
    set(m, NEW, "support_tickets", 10);
    expect(tickets, m, PASS, "support_tickets 10 <= max 10");
    set(m, NEW, "support_tickets", 9);
    expect(tickets, m, PASS, "support_tickets 9 <= max 10");
    set(m, NEW, "support_tickets", 11);
    expect(tickets, m, FAIL, "support_tickets 11 > max 10");
    set(m, NEW, "issue_resolution_time", 3600);
    expect(resolve, m, PASS, "issue_resolution_time 1h <= max 1h");
    set(m, NEW, "issue_resolution_time", 3599);
    expect(resolve, m, PASS, "issue_resolution_time 59m59s <= max 1h");
    set(m, NEW, "issue_resolution_time", 3601);
    expect(resolve, m, FAIL, "issue_resolution_time 1h1s > max 1h");
    rollout_metrics_free(m);
}

Test(forms, custom_metric_min)
{
    static const char c[] = "\n    - {id: c, metric: usage_kpi_ratio, min: 0.95}\n";
    rollout_metrics *m = snap();
    set(m, NEW, "usage_kpi_ratio", 0.95);
    expect(c, m, PASS, "usage_kpi_ratio 0.95 >= min 0.95");
    set(m, NEW, "usage_kpi_ratio", 0.951);
    expect(c, m, PASS, NULL);
    set(m, NEW, "usage_kpi_ratio", 0.949);
    expect(c, m, FAIL, "usage_kpi_ratio 0.949 < min 0.95");
    rollout_metrics_free(m);
}

Test(forms, error_rate_plain_max)
{
    static const char c[] = "\n    - {id: c, metric: error_rate, max: 1%}\n";
    rollout_metrics *m = snap();
    counts(m, NEW, 1000, 10);
    expect(c, m, PASS, "error_rate 1% <= max 1%");
    counts(m, NEW, 1000, 9);
    expect(c, m, PASS, "error_rate 0.9% <= max 1%");
    counts(m, NEW, 1000, 11);
    expect(c, m, FAIL, "error_rate 1.1% > max 1%");
    rollout_metrics_free(m);
}

Test(forms, missing_metric_is_inconclusive)
{
    rollout_metrics *m = snap();
    set(m, NEW, "latency_p99", 3.0);
    set(m, BASE, "latency_p95", 1.0);
    expect(max_latency, m, INCONCLUSIVE, "latency_p95 is not reported for the new version");
    cr_expect(isnan(ev.results[0].observed));
    expect("\n    - {id: c, metric: data_integrity_issues, must_be_zero: true}\n", m,
           INCONCLUSIVE, "data_integrity_issues is not reported for the new version");
    rollout_metrics_free(m);
}

Test(forms, percentile_from_samples_when_not_reported)
{
    rollout_metrics *m = snap();
    /* 1.0 .. 2.0 s in 0.1 s steps: p95 at position 9.5 -> 1.95 s */
    double s[11];
    for (int i = 0; i <= 10; i++)
        s[i] = 1.0 + i / 10.0;
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, s, 11, NULL), ROLLOUT_OK);
    expect(max_latency, m, PASS, "latency_p95 1.95s <= max 2s");
    rollout_metrics_free(m);
}

/* ---- baselines ------------------------------------------------------------------ */

static const char plus10[] = "\n    - {id: c, metric: latency_p95, max_baseline_plus: 10%}\n";

Test(baselines, max_baseline_plus_at_below_above)
{
    rollout_metrics *m = snap();
    set(m, BASE, "latency_p95", 2.0);
    set(m, NEW, "latency_p95", 2.2);
    expect(plus10, m, PASS, "latency_p95 2.2s <= baseline 2s + 10% = 2.2s");
    cr_expect_eq(ev.results[0].baseline, 2.0);
    cr_expect(rel_close(ev.results[0].threshold, 2.2, 1e-15));
    set(m, NEW, "latency_p95", 2.19);
    expect(plus10, m, PASS, NULL);
    set(m, NEW, "latency_p95", 2.21);
    expect(plus10, m, FAIL, "latency_p95 2.21s > baseline 2s + 10% = 2.2s");
    /* 0.7 * 1.1 lands an ulp away from the decimal 0.77 */
    set(m, BASE, "latency_p95", 0.7);
    set(m, NEW, "latency_p95", 0.77);
    expect(plus10, m, PASS, "latency_p95 770ms <= baseline 700ms + 10% = 770ms");
    rollout_metrics_free(m);
}

static const char times12[] =
    "\n    - {id: c, metric: support_tickets, max_baseline_times: 1.2}\n";

Test(baselines, max_baseline_times_at_below_above)
{
    rollout_metrics *m = snap();
    set(m, BASE, "support_tickets", 10);
    set(m, NEW, "support_tickets", 12);
    expect(times12, m, PASS, "support_tickets 12 <= baseline 10 x 1.2 = 12");
    set(m, NEW, "support_tickets", 11);
    expect(times12, m, PASS, NULL);
    set(m, NEW, "support_tickets", 13);
    expect(times12, m, FAIL, "support_tickets 13 > baseline 10 x 1.2 = 12");
    rollout_metrics_free(m);
}

Test(baselines, zero_baseline)
{
    rollout_metrics *m = snap();
    set(m, BASE, "support_tickets", 0);
    set(m, NEW, "support_tickets", 0);
    expect(times12, m, PASS, "support_tickets 0 <= baseline 0 x 1.2 = 0");
    set(m, NEW, "support_tickets", 1);
    expect(times12, m, INCONCLUSIVE,
           "support_tickets 1 against a baseline of 0: a relative limit cannot judge it (add an "
           "absolute max)");
    cr_expect_eq(ev.results[0].baseline, 0);
    /* with an absolute floor the zero baseline is no problem */
    static const char floor[] =
        "\n    - {id: c, metric: support_tickets, max: 5, or_baseline_plus: 20%}\n";
    expect(floor, m, PASS, "support_tickets 1 <= max 5");
    set(m, NEW, "support_tickets", 6);
    expect(floor, m, FAIL, "support_tickets 6 > max 5");
    rollout_metrics_free(m);
}

Test(baselines, missing_baseline)
{
    rollout_metrics *m = snap();
    set(m, NEW, "support_tickets", 3);
    expect(times12, m, INCONCLUSIVE,
           "the baseline's support_tickets is not reported (max_baseline_times needs it)");
    set(m, NEW, "latency_p95", 1.0);
    expect(plus10, m, INCONCLUSIVE,
           "the baseline's latency_p95 is not reported (max_baseline_plus needs it)");
    rollout_metrics_free(m);
}

Test(baselines, negative_custom_baseline)
{
    rollout_metrics *m = snap();
    set(m, BASE, "delta", -2);
    set(m, NEW, "delta", -1);
    expect("\n    - {id: c, metric: delta, max_baseline_times: 2}\n", m, INCONCLUSIVE,
           "the baseline's delta is negative (-2); a relative limit needs a positive baseline");
    rollout_metrics_free(m);
}

static const char or_base[] =
    "\n    - {id: c, metric: error_rate, max: 0.5%, or_baseline: true}\n";

Test(baselines, or_baseline_takes_the_lenient_bound)
{
    rollout_metrics *m = snap();
    counts(m, BASE, 1000, 8);
    counts(m, NEW, 1000, 8);
    expect(or_base, m, PASS, "error_rate 0.8% <= max(0.5%, baseline 0.8%) = 0.8%");
    cr_expect_eq(ev.results[0].threshold, 0.008);
    counts(m, NEW, 1000, 7);
    expect(or_base, m, PASS, NULL);
    counts(m, NEW, 1000, 9);
    expect(or_base, m, FAIL, "error_rate 0.9% > max(0.5%, baseline 0.8%) = 0.8%");
    /* a baseline better than the absolute bound does not tighten it */
    counts(m, BASE, 1000, 3);
    counts(m, NEW, 1000, 5);
    expect(or_base, m, PASS, "error_rate 0.5% <= max 0.5%");
    counts(m, NEW, 1000, 6);
    expect(or_base, m, FAIL, "error_rate 0.6% > max 0.5%");
    rollout_metrics_free(m);
}

Test(baselines, or_baseline_without_a_baseline)
{
    rollout_metrics *m = snap();
    counts(m, NEW, 1000, 4);
    expect(or_base, m, PASS, "error_rate 0.4% <= max 0.5%");
    counts(m, NEW, 1000, 6);
    expect(or_base, m, INCONCLUSIVE,
           "error_rate 0.6% > max 0.5%, and the baseline's error_rate is not reported "
           "(or_baseline needs it)");
    rollout_metrics_free(m);
}

Test(baselines, or_baseline_plus)
{
    static const char c[] =
        "\n    - {id: c, metric: latency_p95, max: 2s, or_baseline_plus: 10%}\n";
    rollout_metrics *m = snap();
    set(m, BASE, "latency_p95", 1.9);
    set(m, NEW, "latency_p95", 2.09);
    expect(c, m, PASS, "latency_p95 2.09s <= max(2s, baseline 1.9s + 10%) = 2.09s");
    set(m, NEW, "latency_p95", 2.1);
    expect(c, m, FAIL, "latency_p95 2.1s > max(2s, baseline 1.9s + 10%) = 2.09s");
    set(m, BASE, "latency_p95", 1.5);
    set(m, NEW, "latency_p95", 2.0);
    expect(c, m, PASS, "latency_p95 2s <= max 2s");
    set(m, NEW, "latency_p95", 2.01);
    expect(c, m, FAIL, "latency_p95 2.01s > max 2s");
    rollout_metrics_free(m);
}

Test(baselines, min_or_baseline)
{
    static const char c[] =
        "\n    - {id: c, metric: usage_kpi_ratio, min: 0.95, or_baseline: true}\n";
    rollout_metrics *m = snap();
    set(m, BASE, "usage_kpi_ratio", 0.9);
    set(m, NEW, "usage_kpi_ratio", 0.9);
    expect(c, m, PASS, "usage_kpi_ratio 0.9 >= min(0.95, baseline 0.9) = 0.9");
    set(m, NEW, "usage_kpi_ratio", 0.89);
    expect(c, m, FAIL, "usage_kpi_ratio 0.89 < min(0.95, baseline 0.9) = 0.9");
    set(m, BASE, "usage_kpi_ratio", 0.97);
    set(m, NEW, "usage_kpi_ratio", 0.94);
    expect(c, m, FAIL, "usage_kpi_ratio 0.94 < min 0.95");
    rollout_metrics_free(m);
}

/* ---- min_samples ------------------------------------------------------------------- */

Test(samples, below_at_and_unknown)
{
    static const char c[] =
        "\n    - {id: c, metric: support_tickets, max: 10, min_samples: 1000}\n";
    rollout_metrics *m = snap();
    set(m, NEW, "support_tickets", 50);
    expect(c, m, INCONCLUSIVE,
           "min_samples 1000 needs the request count of the new version, which is not "
           "reported");
    counts(m, NEW, 999, 0);
    expect(c, m, INCONCLUSIVE,
           "only 999 requests on the new version, fewer than min_samples 1000");
    cr_expect_eq(ev.results[0].samples, 999);
    counts(m, NEW, 1000, 0);
    expect(c, m, FAIL, "support_tickets 50 > max 10");
    set(m, NEW, "support_tickets", 5);
    expect(c, m, PASS, NULL);
    cr_expect_eq(ev.results[0].samples, 1000);
    rollout_metrics_free(m);
}

Test(samples, the_baseline_needs_them_too)
{
    static const char c[] = "\n    - {id: c, metric: support_tickets, max_baseline_times: 1.2,"
                            " min_samples: 1000}\n";
    rollout_metrics *m = snap();
    counts(m, NEW, 5000, 0);
    counts(m, BASE, 500, 0);
    set(m, NEW, "support_tickets", 3);
    set(m, BASE, "support_tickets", 3);
    expect(c, m, INCONCLUSIVE, "only 500 requests on the baseline, fewer than min_samples 1000");
    counts(m, BASE, 1000, 0);
    expect(c, m, PASS, "support_tickets 3 <= baseline 3 x 1.2 = 3.6");
    rollout_metrics_free(m);
}

Test(samples, latency_counts_samples_when_it_has_them)
{
    static const char c[] =
        "\n    - {id: c, metric: latency_p95, max: 2s, min_samples: 20}\n";
    rollout_metrics *m = snap();
    double s[19];
    for (int i = 0; i < 19; i++)
        s[i] = 0.1;
    counts(m, NEW, 100000, 0);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, s, 19, NULL), ROLLOUT_OK);
    expect(c, m, INCONCLUSIVE,
           "only 19 latency samples on the new version, fewer than min_samples 20");
    rollout_metrics_free(m);
}

/* ---- smoke tests -------------------------------------------------------------------- */

Test(smoke, all_and_lists)
{
    static const char all[] = "\n    - {id: c, smoke_tests: all}\n";
    static const char one[] = "\n    - {id: c, smoke_tests: [login]}\n";
    rollout_metrics *m = snap();
    expect(all, m, INCONCLUSIVE, "no result for 2 of 2 smoke tests: login, report");
    cr_assert_eq(rollout_metrics_set_smoke(m, NEW, "login", 1, NULL), ROLLOUT_OK);
    expect(all, m, INCONCLUSIVE, "no result for 1 of 2 smoke tests: report");
    expect(one, m, PASS, "all 1 smoke tests passed");
    cr_assert_eq(rollout_metrics_set_smoke(m, NEW, "report", 1, NULL), ROLLOUT_OK);
    expect(all, m, PASS, "all 2 smoke tests passed");
    cr_expect_eq(ev.results[0].observed, 2);
    cr_expect_eq(ev.results[0].threshold, 2);
    cr_expect_str_eq(ev.results[0].metric, "smoke_tests");
    cr_assert_eq(rollout_metrics_set_smoke(m, NEW, "report", 0, NULL), ROLLOUT_OK);
    expect(all, m, FAIL, "1 of 2 smoke tests failed: report");
    cr_expect_eq(ev.results[0].observed, 1);
    expect(one, m, PASS, NULL);
    /* results of the baseline or of unknown tests do not count */
    rollout_metrics *m2 = snap();
    cr_assert_eq(rollout_metrics_set_smoke(m2, BASE, "login", 1, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_smoke(m2, NEW, "checkout", 1, NULL), ROLLOUT_OK);
    expect(one, m2, INCONCLUSIVE, "no result for 1 of 1 smoke tests: login");
    rollout_metrics_free(m);
    rollout_metrics_free(m2);
}

Test(smoke, a_failure_outranks_a_missing_result)
{
    rollout_metrics *m = snap();
    cr_assert_eq(rollout_metrics_set_smoke(m, NEW, "login", 0, NULL), ROLLOUT_OK);
    expect("\n    - {id: c, smoke_tests: all}\n", m, FAIL, "1 of 2 smoke tests failed: login");
    rollout_metrics_free(m);
}

/* ---- error rate with confidence -------------------------------------------------------- */

static const char wilson_max[] =
    "\n    - {id: c, metric: error_rate, max: 0.5%, confidence: 95%}\n";

Test(confidence, wilson_three_way_boundaries)
{
    /* eval_boundaries.py, n = 10000, limit 0.5 %: the upper bound is at or
     * below the limit up to x = 38 (0.00495497), the lower bound above it
     * from x = 62 (0.00503571). */
    rollout_metrics *m = snap();
    counts(m, NEW, 10000, 38);
    expect(wilson_max, m, PASS, "error rate 0.38% (38/10000): 95% upper bound 0.4955% <= 0.5%");
    cr_expect(rel_close(ev.results[0].upper, 0.00495496529267853, 1e-9));
    cr_expect(rel_close(ev.results[0].lower, 0.002913460216018102, 1e-9));
    cr_expect_eq(ev.results[0].samples, 10000);
    counts(m, NEW, 10000, 39);
    expect(wilson_max, m, INCONCLUSIVE,
           "error rate 0.39% (39/10000): 95% bounds 0.3%..0.5068% straddle 0.5%; need more "
           "requests");
    counts(m, NEW, 10000, 50);
    expect(wilson_max, m, INCONCLUSIVE, NULL);
    cr_expect(rel_close(ev.results[0].lower, 0.003966168243677004, 1e-9));
    cr_expect(rel_close(ev.results[0].upper, 0.006301608110222297, 1e-9));
    counts(m, NEW, 10000, 61);
    expect(wilson_max, m, INCONCLUSIVE, NULL);
    counts(m, NEW, 10000, 62);
    expect(wilson_max, m, FAIL, "error rate 0.62% (62/10000): 95% lower bound 0.5036% > 0.5%");
    cr_expect(rel_close(ev.results[0].lower, 0.0050357095378163255, 1e-9));
    cr_expect_lt(ev.results[0].p_value, 0.05, "the score test agrees with the bound");
    rollout_metrics_free(m);
}

Test(confidence, counts_are_required)
{
    rollout_metrics *m = snap();
    set(m, NEW, "error_rate", 0.001);
    expect(wilson_max, m, INCONCLUSIVE,
           "confidence needs the new version's request and error counts; only error_rate is "
           "reported");
    rollout_metrics *m2 = snap();
    expect(wilson_max, m2, INCONCLUSIVE,
           "error_rate is not reported for the new version (requests and errors)");
    counts(m2, NEW, 0, 0);
    expect(wilson_max, m2, INCONCLUSIVE, "no requests on the new version");
    rollout_metrics_free(m);
    rollout_metrics_free(m2);
}

static const char pilot_rate[] = "\n    - {id: c, metric: error_rate, max: 0.5%, or_baseline: "
                                 "true, min_samples: 1000, confidence: 95%}\n";

Test(confidence, or_baseline_two_proportion_boundary)
{
    /* baseline 50/10000 (0.5 %): the pooled z-test first rejects at
     * x = 68 (p 0.04826197149377901); x = 67 gives p 0.05748203777638443.
     * From x = 62 the Wilson lower bound is already above 0.5 %, so the
     * verdict flips exactly where the baseline test does. */
    rollout_metrics *m = snap();
    counts(m, BASE, 10000, 50);
    counts(m, NEW, 10000, 67);
    expect(pilot_rate, m, PASS,
           "error rate 0.67% (67/10000) above 0.5% but not significantly above baseline 0.5% "
           "(p=0.057 >= 0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.05748203777638443, 1e-9));
    counts(m, NEW, 10000, 68);
    expect(pilot_rate, m, FAIL,
           "error rate 0.68% (68/10000): 95% lower bound 0.5575% > 0.5% and significantly "
           "above baseline 0.5% (p=0.048 < 0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.04826197149377901, 1e-9),
              "the larger of the two p-values");
    cr_expect_eq(ev.results[0].baseline, 0.005);
    cr_expect_eq(ev.results[0].threshold, 0.005);
    rollout_metrics_free(m);
}

Test(confidence, or_baseline_without_baseline)
{
    rollout_metrics *m = snap();
    counts(m, NEW, 10000, 30);
    expect(pilot_rate, m, PASS, NULL);
    counts(m, NEW, 10000, 50);
    expect(pilot_rate, m, INCONCLUSIVE,
           "error rate 0.5% (50/10000): 95% bounds 0.3966%..0.6302% straddle 0.5%, and the "
           "baseline's request and error counts are not reported");
    counts(m, NEW, 10000, 70);
    expect(pilot_rate, m, INCONCLUSIVE,
           "error rate 0.7% (70/10000) above 0.5%, and the baseline's request and error counts "
           "are not reported");
    counts(m, BASE, 999, 1);
    expect(pilot_rate, m, INCONCLUSIVE,
           "error rate 0.7% (70/10000) above 0.5%, and only 999 requests on the baseline, "
           "fewer than min_samples 1000");
    counts(m, NEW, 999, 0);
    expect(pilot_rate, m, INCONCLUSIVE,
           "only 999 requests on the new version, fewer than min_samples 1000");
    rollout_metrics_free(m);
}

Test(confidence, relative_to_the_baseline)
{
    /* Farrington-Manning against baseline 50/10000 x 1.1: x = 74 gives
     * p 0.05135385960752903, x = 75 p 0.043548876354779505; against
     * 60/10000 x 1.2: x = 94 p 0.05213583834698418, x = 95 p 0.04523916221365461 */
    static const char plus[] = "\n    - {id: c, metric: error_rate, max_baseline_plus: 10%, "
                               "confidence: 95%}\n";
    static const char times[] = "\n    - {id: c, metric: error_rate, max_baseline_times: 1.2, "
                                "confidence: 95%}\n";
    rollout_metrics *m = snap();
    counts(m, BASE, 10000, 50);
    counts(m, NEW, 10000, 74);
    expect(plus, m, PASS,
           "error rate 0.74% (74/10000) not significantly above baseline 0.5% x 1.1 = 0.55% "
           "(p=0.051 >= 0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.05135385960752903, 1e-9));
    cr_expect(rel_close(ev.results[0].threshold, 0.0055, 1e-12));
    counts(m, NEW, 10000, 75);
    expect(plus, m, FAIL,
           "error rate 0.75% (75/10000) significantly above baseline 0.5% x 1.1 = 0.55% "
           "(p=0.044 < 0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.043548876354779505, 1e-9));
    counts(m, BASE, 10000, 60);
    counts(m, NEW, 10000, 94);
    expect(times, m, PASS, NULL);
    cr_expect(rel_close(ev.results[0].p_value, 0.05213583834698418, 1e-9));
    counts(m, NEW, 10000, 95);
    expect(times, m, FAIL, NULL);
    cr_expect(rel_close(ev.results[0].p_value, 0.04523916221365461, 1e-9));
    /* a zero baseline is no special case for the score test: 3 vs 0 errors
     * in 10000 each gives p 0.04931177055673176 */
    counts(m, BASE, 10000, 0);
    counts(m, NEW, 10000, 3);
    expect(plus, m, FAIL, NULL);
    cr_expect(rel_close(ev.results[0].p_value, 0.04931177055673176, 1e-9));
    counts(m, NEW, 10000, 0);
    expect(plus, m, PASS, NULL);
    cr_expect_eq(ev.results[0].p_value, 1.0);
    rollout_metrics_free(m);
}

/* ---- Mann-Whitney ---------------------------------------------------------------------- */

static const char degradation[] =
    "\n    - {id: c, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, "
    "effect_size: 5%, confidence: 95%}\n";

/* The baseline of examples/metrics/post-rollout.json. */
static const double base20[] = {0.185, 0.198, 0.191, 0.236, 0.190, 0.179, 0.305,
                                0.208, 0.197, 0.218, 0.184, 0.195, 0.255, 0.183,
                                0.211, 0.228, 0.180, 0.193, 1.850, 0.200};

static rollout_metrics *scaled(double factor)
{
    rollout_metrics *m = snap();
    double x[20];
    for (int i = 0; i < 20; i++)
        x[i] = base20[i] * factor;
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, x, 20, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, BASE, base20, 20, NULL), ROLLOUT_OK);
    return m;
}

Test(mann_whitney, clearly_slower_fails)
{
    /* scipy exact: U 354, p 4.088176937236277e-06; p95 0.49692500000000145
     * vs 0.3822500000000011 * 1.05 */
    rollout_metrics *m = scaled(1.3);
    expect(degradation, m, FAIL,
           "p95 496.9ms vs baseline 382.3ms: slower (Mann-Whitney p=4.1e-06 < 0.05) and above "
           "401.4ms (effect size 5%)");
    cr_expect(rel_close(ev.results[0].p_value, 4.088176937236277e-06, 1e-9));
    cr_expect(rel_close(ev.results[0].observed, 0.49692500000000145, 1e-12));
    cr_expect(rel_close(ev.results[0].baseline, 0.3822500000000011, 1e-12));
    cr_expect(rel_close(ev.results[0].threshold, 0.3822500000000011 * 1.05, 1e-12));
    rollout_metrics_free(m);
}

Test(mann_whitney, slightly_slower_is_not_significant)
{
    /* scipy exact: p 0.17732610171793806 */
    rollout_metrics *m = scaled(1.03);
    expect(degradation, m, PASS,
           "p95 393.7ms vs baseline 382.3ms: not significantly slower (Mann-Whitney p=0.18 >= "
           "0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.17732610171793806, 1e-9));
    rollout_metrics_free(m);
    m = scaled(0.9);
    expect(degradation, m, PASS, NULL);
    cr_expect(rel_close(ev.results[0].p_value, 0.9971911165387001, 1e-9));
    rollout_metrics_free(m);
}

static rollout_metrics *ramp(double factor)
{
    /* 5000 evenly spread samples, 0.2 s .. 1.1998 s */
    rollout_metrics *m = snap();
    double *x = malloc(5000 * sizeof *x), *y = malloc(5000 * sizeof *y);
    cr_assert(x && y);
    for (int i = 0; i < 5000; i++) {
        y[i] = 0.2 + 0.0002 * i;
        x[i] = y[i] * factor;
    }
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, x, 5000, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, BASE, y, 5000, NULL), ROLLOUT_OK);
    free(x);
    free(y);
    return m;
}

Test(mann_whitney, significant_but_within_the_effect_size)
{
    /* scipy asymptotic: p 0.00020958028171062128; p95 1.1843043 vs
     * 1.14981 * 1.05 = 1.2073 */
    rollout_metrics *m = ramp(1.03);
    expect(degradation, m, PASS,
           "p95 1.184s vs baseline 1.15s: slower (Mann-Whitney p=0.00021) but within 1.207s "
           "(effect size 5%)");
    cr_expect(rel_close(ev.results[0].p_value, 0.00020958028171062128, 1e-9));
    rollout_metrics_free(m);
    /* p 1.638069514614889e-19, p95 1.2417948 > 1.2073 */
    m = ramp(1.08);
    expect(degradation, m, FAIL, NULL);
    cr_expect(rel_close(ev.results[0].p_value, 1.638069514614889e-19, 1e-9));
    rollout_metrics_free(m);
}

Test(mann_whitney, exact_p_equal_to_alpha_is_not_significant)
{
    /* 3 samples against 3, every new one slower: the exact p is
     * P(U >= 9) = 1/C(6,3) = 1/20, exactly 1 - 95 %. The rule is p < 1 - C,
     * so this is not significant (1 - 0.95 is 0.050000000000000044 in
     * binary floating point, which made it look significant). */
    rollout_metrics *m = snap();
    static const double x[] = {10, 11, 12}, y[] = {1, 2, 3};
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, x, 3, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, BASE, y, 3, NULL), ROLLOUT_OK);
    expect("\n    - {id: c, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, "
           "min_samples: 3}\n",
           m, PASS, "p95 11.9s vs baseline 2.9s: not significantly slower (Mann-Whitney p=0.05 "
                    ">= 0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.05, 1e-12));
    /* at 94 % the same p is significant */
    expect("\n    - {id: c, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, "
           "min_samples: 3, confidence: 94%}\n",
           m, FAIL, NULL);
    rollout_metrics_free(m);
}

Test(mann_whitney, needs_samples_on_both_sides)
{
    rollout_metrics *m = snap();
    set(m, NEW, "latency_p95", 1.0);
    set(m, BASE, "latency_p95", 1.0);
    expect(degradation, m, INCONCLUSIVE,
           "test: mann_whitney needs latency samples or a histogram for the new version");
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, base20, 20, NULL), ROLLOUT_OK);
    expect(degradation, m, INCONCLUSIVE,
           "test: mann_whitney needs latency samples or a histogram for the baseline");
    rollout_metrics_free(m);
    m = scaled(1.3);
    expect("\n    - {id: c, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, "
           "min_samples: 21}\n",
           m, INCONCLUSIVE,
           "only 20 latency samples on the new version, fewer than min_samples 21");
    rollout_metrics_free(m);
}

/* Half the new version's requests beyond the histogram's last finite bound:
 * its p95 is +Inf, which is above any threshold, never "inf <= inf", and is
 * printed as +Inf, never "infs". */
Test(mann_whitney, percentile_beyond_the_last_bound)
{
    rollout_metrics *m = snap();
    const double le[] = {0.1, 1.0, INFINITY};
    const uint64_t base[] = {900, 40, 60}, canary[] = {400, 100, 500};
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, BASE, le, base, 3, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, NEW, le, canary, 3, NULL), ROLLOUT_OK);
    expect(degradation, m, FAIL, NULL);
    cr_expect(strstr(ev.results[0].reason, "+Inf"), "%s", ev.results[0].reason);
    cr_expect(!strstr(ev.results[0].reason, "inf"), "%s", ev.results[0].reason);
    cr_expect(isinf(ev.results[0].observed));
    expect(max_latency, m, FAIL, "latency_p95 +Inf (beyond the last histogram bound) > max 2s");
    /* relative to a baseline whose p95 is beyond the last bound too: unknown */
    expect(plus10, m, INCONCLUSIVE,
           "latency_p95 +Inf (beyond the last histogram bound) against baseline +Inf: both "
           "percentiles are beyond the last histogram bound");
    /* a new version inside the bounds against such a baseline passes */
    const uint64_t fast[] = {1000, 0, 0};
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, NEW, le, fast, 3, NULL), ROLLOUT_OK);
    expect(plus10, m, PASS, NULL);
    rollout_metrics_free(m);
}

Test(mann_whitney, histograms_with_huge_counts)
{
    /* 1e9 requests per side; the canary moved 2e8 of them from the 0.25 s
     * bucket to 1 s: p95 lands in the 1 s bucket against 0.5 s */
    rollout_metrics *m = snap();
    const double le[] = {0.1, 0.25, 0.5, 1.0};
    const uint64_t base[] = {400000000, 400000000, 190000000, 10000000};
    const uint64_t slow[] = {400000000, 200000000, 190000000, 210000000};
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, NEW, le, slow, 4, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, BASE, le, base, 4, NULL), ROLLOUT_OK);
    expect(degradation, m, FAIL, NULL);
    cr_expect_eq(ev.results[0].p_value, 0.0);
    cr_expect_eq(ev.results[0].observed, 1.0);
    cr_expect_eq(ev.results[0].baseline, 0.5);
    cr_expect_eq(ev.results[0].samples, 1e9);
    /* identical histograms: no evidence */
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, NEW, le, base, 4, NULL), ROLLOUT_OK);
    expect(degradation, m, PASS, NULL);
    cr_expect(ev.results[0].p_value > 0.5);
    rollout_metrics_free(m);
}

/* ---- verdicts ----------------------------------------------------------------------- */

static const char mixed[] =
    "\n    - {id: crit, metric: critical_errors, must_be_zero: true, rollback: true}"
    "\n    - {id: corrupt, metric: data_integrity_issues, must_be_zero: true, rollback: "
    "data_corruption}"
    "\n    - {id: lat, metric: latency_p95, max: 2s}"
    "\n    - {id: smoke, smoke_tests: all}\n";

static void healthy_mixed(rollout_metrics *m)
{
    set(m, NEW, "critical_errors", 0);
    set(m, NEW, "data_integrity_issues", 0);
    set(m, NEW, "latency_p95", 1.0);
    cr_assert_eq(rollout_metrics_set_smoke(m, NEW, "login", 1, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_smoke(m, NEW, "report", 1, NULL), ROLLOUT_OK);
}

Test(verdicts, combination_rules)
{
    rollout_plan *p = plan_with(mixed);
    rollout_metrics *m = snap();
    healthy_mixed(m);
    eval_set(p, m);
    cr_expect_eq(ev.verdict, PASS);
    cr_expect_eq(ev.n_results, 4);
    cr_expect_eq(ev.n_pass, 4);
    cr_expect_eq(ev.rollback_index, -1);
    cr_expect_eq(ev.rollback_reason, -1);
    cr_expect_str_eq(ev.criteria, "set");
    cr_expect_str_eq(ev.results[2].id, "lat");

    /* one inconclusive: hold */
    set(m, NEW, "latency_p95", 1.0);
    rollout_metrics *m2 = snap();
    set(m2, NEW, "critical_errors", 0);
    set(m2, NEW, "data_integrity_issues", 0);
    set(m2, NEW, "latency_p95", 1.0);
    cr_assert_eq(rollout_metrics_set_smoke(m2, NEW, "login", 1, NULL), ROLLOUT_OK);
    eval_set(p, m2);
    cr_expect_eq(ev.verdict, INCONCLUSIVE);
    cr_expect_eq(ev.n_inconclusive, 1);

    /* a failure outranks inconclusive */
    set(m2, NEW, "latency_p95", 3.0);
    eval_set(p, m2);
    cr_expect_eq(ev.verdict, FAIL);
    cr_expect_eq(ev.n_fail, 1);
    cr_expect_eq(ev.n_inconclusive, 1);
    cr_expect_eq(ev.rollback_index, -1);

    /* a failed rollback criterion outranks everything */
    set(m2, NEW, "data_integrity_issues", 2);
    eval_set(p, m2);
    cr_expect_eq(ev.verdict, ROLLBACK);
    cr_expect_eq(ev.rollback_index, 1);
    cr_expect_eq(ev.rollback_reason, ROLLOUT_ROLLBACK_DATA_CORRUPTION);
    cr_expect_eq(ev.results[1].verdict, FAIL, "per criterion it is a FAIL");
    cr_expect_eq(ev.results[1].rollback, 1);
    set(m2, NEW, "critical_errors", 1);
    eval_set(p, m2);
    cr_expect_eq(ev.rollback_index, 0, "the first one in plan order");
    cr_expect_eq(ev.rollback_reason, ROLLOUT_ROLLBACK_EVALUATION);
    cr_expect_eq(ev.n_fail, 3);
    rollout_metrics_free(m);
    rollout_metrics_free(m2);
    rollout_plan_unref(p);
}

Test(verdicts, an_inconclusive_rollback_criterion_does_not_roll_back)
{
    rollout_plan *p = plan_with(mixed);
    rollout_metrics *m = snap();
    healthy_mixed(m);
    rollout_metrics *m2 = snap();
    set(m2, NEW, "latency_p95", 1.0);
    eval_set(p, m2);
    cr_expect_eq(ev.verdict, INCONCLUSIVE);
    cr_expect_eq(ev.rollback_index, -1);
    rollout_metrics_free(m);
    rollout_metrics_free(m2);
    rollout_plan_unref(p);
}

Test(verdicts, names)
{
    cr_expect_str_eq(rollout_verdict_name(ROLLOUT_VERDICT_PASS), "PASS");
    cr_expect_str_eq(rollout_verdict_name(ROLLOUT_VERDICT_FAIL), "FAIL");
    cr_expect_str_eq(rollout_verdict_name(ROLLOUT_VERDICT_INCONCLUSIVE), "INCONCLUSIVE");
    cr_expect_str_eq(rollout_verdict_name(ROLLOUT_VERDICT_ROLLBACK), "ROLLBACK");
    cr_expect_str_eq(rollout_verdict_name(4), "?");
    cr_expect_str_eq(rollout_verdict_name(-1), "?");
}

/* ---- strictness, SLA, direction, dry runs ---------------------------------------------- */

Test(forms, strict_max_and_min)
{
    rollout_metrics *m = snap();
    set(m, NEW, "latency_p95", 2.0);
    expect(max_latency, m, PASS, "latency_p95 2s <= max 2s");
    static const char strict_max[] = "\n    - {id: c, metric: latency_p95, max: 2s, strict: true}\n";
    expect(strict_max, m, FAIL, "latency_p95 2s >= max 2s");
    set(m, NEW, "latency_p95", 1.999);
    expect(strict_max, m, PASS, "latency_p95 1.999s < max 2s");
    /* within one part in 10^9 counts as equal, so as a failure */
    set(m, NEW, "latency_p95", 2.0 * (1 - 1e-12));
    expect(strict_max, m, FAIL, NULL);
    set(m, NEW, "kpi", 0.95);
    static const char strict_min[] = "\n    - {id: c, metric: kpi, min: 0.95, strict: true}\n";
    expect(strict_min, m, FAIL, "kpi 0.95 <= min 0.95");
    set(m, NEW, "kpi", 0.96);
    expect(strict_min, m, PASS, "kpi 0.96 > min 0.95");
    rollout_metrics_free(m);
}

Test(forms, or_sla_passes_at_either_bound)
{
    static const char sla[] =
        "\n    - {id: c, metric: error_rate, max: 1%, strict: true, or_sla: 2%}\n";
    rollout_metrics *m = snap();
    set(m, NEW, "error_rate", 0.005);
    expect(sla, m, PASS, "error_rate 0.5% < max 1%");
    cr_expect(rel_close(ev.results[0].sla, 0.02, 1e-15));
    set(m, NEW, "error_rate", 0.015);
    expect(sla, m, PASS, "error_rate 1.5% >= max 1%, but <= SLA 2%");
    set(m, NEW, "error_rate", 0.02);
    expect(sla, m, PASS, NULL);
    set(m, NEW, "error_rate", 0.025);
    expect(sla, m, FAIL, "error_rate 2.5% >= max 1% and SLA 2%");
    rollout_metrics_free(m);
    /* with confidence: PASS when the upper bound clears either */
    m = snap();
    counts(m, NEW, 100000, 1500); /* 1.5 %: clearly above 1 %, clearly below 2 % */
    expect("\n    - {id: c, metric: error_rate, max: 1%, strict: true, or_sla: 2%, "
           "confidence: 95%}\n", m, PASS, NULL);
    cr_expect(strstr(ev.results[0].reason, "<= SLA 2%"), "%s", ev.results[0].reason);
    counts(m, NEW, 100000, 3000);
    expect("\n    - {id: c, metric: error_rate, max: 1%, or_sla: 2%, confidence: 95%}\n", m,
           FAIL, NULL);
    rollout_metrics_free(m);
    /* without it the plain bound decides */
    m = snap();
    set(m, NEW, "error_rate", 0.015);
    expect("\n    - {id: c, metric: error_rate, max: 1%}\n", m, FAIL, NULL);
    cr_expect(isnan(ev.results[0].sla));
    rollout_metrics_free(m);
}

Test(baselines, lower_is_worse)
{
    static const char thr[] = "\n    - {id: c, metric: throughput, max_baseline_plus: 10%, "
                              "direction: lower_is_worse}\n";
    rollout_metrics *m = snap();
    set(m, BASE, "throughput", 1000);
    set(m, NEW, "throughput", 900);
    expect(thr, m, PASS, "throughput 900 >= baseline 1000 - 10% = 900");
    cr_expect_eq(ev.results[0].direction, ROLLOUT_LOWER_IS_WORSE);
    set(m, NEW, "throughput", 899);
    expect(thr, m, FAIL, "throughput 899 < baseline 1000 - 10% = 900");
    set(m, NEW, "throughput", 5000); /* more is never worse */
    expect(thr, m, PASS, NULL);
    set(m, NEW, "throughput", 600);
    expect("\n    - {id: c, metric: throughput, max_baseline_times: 1.5, "
           "direction: lower_is_worse}\n", m, FAIL,
           "throughput 600 < baseline 1000 / 1.5 = 666.667");
    expect(thr, m, FAIL, NULL);
    /* the default direction of a relative form is unchanged */
    expect("\n    - {id: c, metric: throughput, max_baseline_plus: 10%}\n", m, PASS, NULL);
    cr_expect_eq(ev.results[0].direction, ROLLOUT_HIGHER_IS_WORSE);
    rollout_metrics_free(m);
}

/* Support tickets: a zero baseline needs an absolute floor, and a version
 * serving a quarter of the traffic gets a quarter of the tickets. */
Test(baselines, ticket_counts_per_request_with_a_floor)
{
    static const char tickets[] = "\n    - {id: c, metric: support_tickets, max_baseline_times: "
                                  "1.2, per_request: true, floor: 5}\n";
    rollout_metrics *m = snap();
    counts(m, NEW, 25000, 0);
    counts(m, BASE, 75000, 0);
    /* twice the baseline's per-request rate at a 25 % share: 2 x 30/75000
     * x 25000 = 20 tickets, above 30/75000 x 1.2 x 25000 = 12 */
    set(m, BASE, "support_tickets", 30);
    set(m, NEW, "support_tickets", 20);
    expect(tickets, m, FAIL,
           "support_tickets 20 > baseline 30 in 75000 requests x 1.2, scaled to 25000 "
           "requests = 12");
    cr_expect(rel_close(ev.results[0].threshold, 12, 1e-12));
    /* the same count without per_request passed: 20 <= 30 x 1.2 */
    expect("\n    - {id: c, metric: support_tickets, max_baseline_times: 1.2}\n", m, PASS,
           NULL);
    set(m, NEW, "support_tickets", 12);
    expect(tickets, m, PASS, NULL);
    /* 4 -> 5 tickets is within the floor: no failure on noise */
    set(m, BASE, "support_tickets", 4);
    set(m, NEW, "support_tickets", 5);
    expect(tickets, m, PASS, "support_tickets 5 <= floor 5");
    /* a zero baseline: the floor decides instead of holding for ever */
    set(m, BASE, "support_tickets", 0);
    set(m, NEW, "support_tickets", 3);
    expect(tickets, m, PASS, NULL);
    set(m, NEW, "support_tickets", 6);
    expect(tickets, m, FAIL, "support_tickets 6 > floor 5, against a baseline of 0");
    expect("\n    - {id: c, metric: support_tickets, max_baseline_times: 1.2}\n", m,
           INCONCLUSIVE, NULL);
    rollout_metrics_free(m);
    /* per_request needs both request counts */
    m = snap();
    set(m, BASE, "support_tickets", 30);
    set(m, NEW, "support_tickets", 20);
    expect(tickets, m, INCONCLUSIVE,
           "per_request needs the request counts of both versions (above 0)");
    rollout_metrics_free(m);
}

Test(verdicts, dry_run_is_reported_but_never_decides)
{
    static const char two[] =
        "\n    - {id: real, metric: latency_p95, max: 2s}"
        "\n    - {id: trial, metric: critical_errors, must_be_zero: true, rollback: true, "
        "dry_run: true}\n";
    rollout_metrics *m = snap();
    set(m, NEW, "latency_p95", 1.0);
    set(m, NEW, "critical_errors", 3);
    rollout_plan *p = plan_with(two);
    eval_set(p, m);
    cr_expect_eq(ev.verdict, PASS);
    cr_expect_eq(ev.n_results, 2);
    cr_expect_eq(ev.results[1].verdict, FAIL);
    cr_expect(ev.results[1].dry_run);
    cr_expect(!ev.results[0].dry_run);
    cr_expect_eq(ev.n_pass, 1);
    cr_expect_eq(ev.n_fail, 0);
    cr_expect_eq(ev.rollback_index, -1);
    /* nor does an INCONCLUSIVE dry run hold the gate */
    rollout_metrics_free(m);
    m = snap();
    set(m, NEW, "latency_p95", 1.0);
    eval_set(p, m);
    cr_expect_eq(ev.results[1].verdict, INCONCLUSIVE);
    cr_expect_eq(ev.verdict, PASS);
    rollout_plan_unref(p);
    rollout_metrics_free(m);
}

/* ---- the seed plan on realistic snapshots ------------------------------------------- */

static rollout_metrics *load(const char *path)
{
    rollout_metrics *m = NULL;
    rollout_error err;
    cr_assert_eq(rollout_metrics_load_file(path, &m, &err), ROLLOUT_OK, "%s", err.message);
    return m;
}

static void seed_eval(rollout_plan *seed, int target, const char *name, const rollout_metrics *m)
{
    rollout_error err;
    cr_assert_eq(rollout_evaluate(seed, target, name, m, &ev, &err), ROLLOUT_OK, "%s",
                 err.message);
}

Test(seed, healthy_passes_every_gate)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/healthy.yaml");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "canary", m);
    cr_expect_eq(ev.verdict, PASS, "canary");
    cr_expect_eq(ev.n_results, 6);
    /* baseline 1.35 s + 10 % = 1.485 s is stricter than 2 s, so 2 s holds */
    cr_expect_str_eq(ev.results[2].reason, "latency_p95 1.4s < max 2s");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "pilot", m);
    cr_expect_eq(ev.verdict, PASS, "pilot");
    /* eval_boundaries.py: 84/120000 has 95 % bounds 0.0585 % .. 0.0837 % */
    cr_expect_str_eq(ev.results[0].reason,
                     "error rate 0.07% (84/120000): 95% upper bound 0.08373% < 0.5%");
    cr_expect(rel_close(ev.results[0].upper, 0.0008373429650027587, 1e-9));
    cr_expect_str_eq(ev.results[2].reason, "issue_resolution_time 40m < max 1h");
    seed_eval(seed, ROLLOUT_EVAL_GATE, "ga-day3-go", m);
    cr_expect_eq(ev.verdict, PASS, "ga: %s / %s / %s", ev.results[0].reason,
                 ev.results[1].reason, ev.results[2].reason);
    cr_expect_str_eq(ev.results[1].reason,
                     "latency_p95 1.4s <= baseline 1.35s + 10% = 1.485s");
    cr_expect_str_eq(ev.results[2].reason, "support_tickets 3 <= floor 5");
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(seed, slightly_worse_but_not_significant_passes)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/slightly-worse.yaml");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "canary", m);
    cr_expect_eq(ev.verdict, PASS);
    cr_expect_str_eq(ev.results[2].reason,
                     "latency_p95 2.1s < max(2s, baseline 1.95s + 10%) = 2.145s");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "pilot", m);
    cr_expect_eq(ev.verdict, PASS);
    /* eval_boundaries.py: 11/2000 vs 2250/500000, pooled p = 0.2525311695907046;
     * against 0.5 % alone the score test gives 0.3756137153536739, and the
     * "either" test reports the larger */
    cr_expect_str_eq(ev.results[0].reason,
                     "error rate 0.55% (11/2000) above 0.5% but not significantly above "
                     "baseline 0.45% (p=0.25 >= 0.05)");
    cr_expect(rel_close(ev.results[0].p_value, 0.3756137153536739, 1e-9));
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(seed, ga_error_rate_slightly_over_is_a_hold)
{
    /* 1.1 % on 12000 requests against "< 1 % (or SLA 2 %)": the 95 % bounds
     * 0.954 % .. 1.268 % (eval_boundaries.py) straddle 1 % but are within
     * the SLA, so the GA gate passes */
    rollout_plan *seed = t_seed();
    rollout_metrics *m = snap();
    counts(m, NEW, 12000, 132);
    seed_eval(seed, ROLLOUT_EVAL_CRITERIA, "ga", m);
    cr_expect_eq(ev.results[0].verdict, PASS, "%s", ev.results[0].reason);
    cr_expect(rel_close(ev.results[0].lower, 0.009540386085476204, 1e-9));
    cr_expect(rel_close(ev.results[0].upper, 0.012680066002473948, 1e-9));
    cr_expect_str_eq(ev.results[0].reason,
                     "error rate 1.1% (132/12000): 95% upper bound 1.268% <= SLA 2%");
    /* 2.1 %: above 1 % with confidence, but straddling the SLA: hold */
    counts(m, NEW, 12000, 252);
    seed_eval(seed, ROLLOUT_EVAL_CRITERIA, "ga", m);
    cr_expect_eq(ev.results[0].verdict, INCONCLUSIVE, "%s", ev.results[0].reason);
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(seed, clearly_worse_fails)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/clearly-worse.yaml");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "canary", m);
    cr_expect_eq(ev.verdict, FAIL);
    cr_expect_eq(ev.n_fail, 1);
    cr_expect_str_eq(ev.results[2].id, "latency-p95");
    cr_expect_eq(ev.results[2].verdict, FAIL);
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "pilot", m);
    cr_expect_eq(ev.verdict, FAIL);
    cr_expect_eq(ev.n_fail, 2);
    cr_expect_eq(ev.results[0].verdict, FAIL, "%s", ev.results[0].reason);
    /* the pooled z is about 28: p underflows to 0, and the reason says how
     * small it is instead of "p=0" */
    cr_expect_str_eq(ev.results[0].reason,
                     "error rate 2% (1000/50000): 95% lower bound 1.9% >= 0.5% and significantly "
                     "above baseline 0.45% (p<1e-300 < 0.05)");
    cr_expect(rel_close(ev.results[0].lower, 0.01899583095561279, 1e-9));
    cr_expect_eq(ev.results[1].verdict, FAIL);
    cr_expect_str_eq(ev.results[1].reason, "latency_p95 3.4s >= max 3s");
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(seed, critical_error_rolls_back)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/critical.yaml");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "canary", m);
    cr_expect_eq(ev.verdict, ROLLBACK);
    cr_expect_eq(ev.rollback_index, 0);
    cr_expect_str_eq(ev.results[0].id, "zero-critical-errors");
    cr_expect_str_eq(ev.results[0].reason, "critical_errors is 2; it must be 0");
    cr_expect_str_eq(ev.results[1].reason, "1 of 7 smoke tests failed: trial-balance");
    cr_expect_eq(ev.n_fail, 4, "critical errors, smoke tests, unhandled exceptions, data integrity");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "pilot", m);
    cr_expect_eq(ev.verdict, ROLLBACK);
    cr_expect_eq(ev.rollback_index, 3);
    cr_expect_str_eq(ev.results[3].id, "data-integrity");
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

/* The seed's "Quick Rollback (any phase)": a critical bug or data corruption
 * rolls back at every gate and in the 7-day check, not only in the canary
 * and the pilot. */
Test(seed, quick_rollback_in_every_phase)
{
    static const struct { int target; const char *name; } where[] = {
        {ROLLOUT_EVAL_GATE, "canary-go"},  {ROLLOUT_EVAL_GATE, "pilot-go"},
        {ROLLOUT_EVAL_GATE, "ga-day2-go"}, {ROLLOUT_EVAL_GATE, "ga-day3-go"},
        {ROLLOUT_EVAL_GATE, "ga-day4-go"}, {ROLLOUT_EVAL_BAKE, NULL}};
    static const struct { const char *metric; int reason; } triggers[] = {
        {"critical_errors", ROLLOUT_ROLLBACK_CRITICAL_BUG},
        {"data_integrity_issues", ROLLOUT_ROLLBACK_DATA_CORRUPTION}};
    rollout_plan *seed = t_seed();
    for (size_t t = 0; t < sizeof triggers / sizeof triggers[0]; t++) {
        for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
            rollout_metrics *m = load("examples/metrics/healthy.yaml");
            set(m, NEW, triggers[t].metric, triggers[t].metric[0] == 'c' ? 2 : 1);
            seed_eval(seed, where[w].target, where[w].name, m);
            cr_expect_eq(ev.verdict, ROLLBACK, "%s at %s: %s", triggers[t].metric,
                         where[w].name ? where[w].name : "bake",
                         rollout_verdict_name(ev.verdict));
            cr_expect_eq(ev.rollback_reason, triggers[t].reason, "%s at %s", triggers[t].metric,
                         where[w].name ? where[w].name : "bake");
            rollout_metrics_free(m);
        }
    }
    /* critical.yaml (2 critical errors, 1 data-integrity issue) everywhere */
    rollout_metrics *m = load("examples/metrics/critical.yaml");
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        seed_eval(seed, where[w].target, where[w].name, m);
        cr_expect_eq(ev.verdict, ROLLBACK, "critical.yaml at %s",
                     where[w].name ? where[w].name : "bake");
    }
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

/* One NaN refused the whole snapshot, hiding 5 critical errors and a 40 %
 * error rate. Now the NaN makes only the KPI criterion INCONCLUSIVE. */
Test(seed, a_nan_value_hides_nothing_else)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/nan-kpi.yaml");
    seed_eval(seed, ROLLOUT_EVAL_CRITERIA, "ga", m);
    cr_expect_eq(ev.verdict, ROLLBACK);
    cr_expect_str_eq(ev.results[3].id, "usage-kpis");
    cr_expect_eq(ev.results[3].verdict, INCONCLUSIVE);
    cr_expect_str_eq(ev.results[3].reason,
                     "new.usage_kpi_ratio is NaN at examples/metrics/nan-kpi.yaml:28:22; this "
                     "criterion cannot be judged");
    cr_expect_str_eq(ev.results[ev.rollback_index].id, "zero-critical-errors");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "canary", m);
    cr_expect_eq(ev.verdict, ROLLBACK);
    cr_expect_eq(ev.n_inconclusive, 0);
    rollout_metrics_free(m);

    /* a NaN in a value the rollback criterion reads: that one cannot fire */
    static const char nan_errors[] = "new:\n  requests: 1000\n  errors: .nan\n";
    rollout_error err;
    cr_assert_eq(rollout_metrics_load_buffer(nan_errors, strlen(nan_errors), "m.yaml", &m, &err),
                 ROLLOUT_OK, "%s", err.message);
    seed_eval(seed, ROLLOUT_EVAL_CRITERIA, "pilot", m);
    cr_expect_eq(ev.verdict, INCONCLUSIVE);
    cr_expect_str_eq(ev.results[0].reason,
                     "new.errors is NaN at m.yaml:3:11; this criterion cannot be judged");
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

/* The seed's "<" bounds are strict: "Latency p95 < 3s" at exactly 3 s is
 * a no-go; GA's throughput may not drop more than 10 % below the baseline;
 * GA's error rate passes at 1 % < rate <= SLA 2 %. */
Test(seed, strict_bounds_throughput_and_sla)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/healthy.yaml");
    set(m, NEW, "latency_p99", 3.5);
    set(m, NEW, "latency_p95", 3.0);
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "pilot", m);
    cr_expect_str_eq(ev.results[1].id, "latency-p95");
    cr_expect_str_eq(ev.results[1].reason, "latency_p95 3s >= max 3s");
    rollout_metrics_free(m);

    m = load("examples/metrics/healthy.yaml");
    seed_eval(seed, ROLLOUT_EVAL_GATE, "ga-day2-go", m);
    cr_expect_eq(ev.verdict, PASS);
    int t = -1;
    for (int i = 0; i < ev.n_results; i++)
        if (!strcmp(ev.results[i].id, "throughput-stable"))
            t = i;
    cr_assert_geq(t, 0);
    cr_expect_eq(ev.results[t].direction, ROLLOUT_LOWER_IS_WORSE);
    set(m, NEW, "throughput", 300);
    seed_eval(seed, ROLLOUT_EVAL_GATE, "ga-day2-go", m);
    cr_expect_eq(ev.verdict, FAIL);
    cr_expect_eq(ev.results[t].verdict, FAIL, "%s", ev.results[t].reason);
    rollout_metrics_free(m);

    m = load("examples/metrics/healthy.yaml");
    counts(m, NEW, 120000, 1800); /* 1.5 %: above 1 %, within the SLA */
    seed_eval(seed, ROLLOUT_EVAL_GATE, "ga-day2-go", m);
    cr_expect_eq(ev.results[0].verdict, PASS, "%s", ev.results[0].reason);
    cr_expect(strstr(ev.results[0].reason, "SLA 2%"), "%s", ev.results[0].reason);
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(seed, no_data_holds)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/no-data.yaml");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "canary", m);
    cr_expect_eq(ev.verdict, INCONCLUSIVE);
    cr_expect_eq(ev.n_fail, 0);
    cr_expect_str_eq(ev.results[1].reason, "no result for 7 of 7 smoke tests: login-logout, "
                                           "journal-entry, trial-balance, user-create-delete, "
                                           "user-profile, help-panel, error-handling");
    seed_eval(seed, ROLLOUT_EVAL_PHASE, "pilot", m);
    cr_expect_eq(ev.verdict, INCONCLUSIVE);
    cr_expect_str_eq(ev.results[0].reason,
                     "only 40 requests on the new version, fewer than min_samples 1000");
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(seed, bake_with_samples)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/post-rollout.json");
    seed_eval(seed, ROLLOUT_EVAL_BAKE, NULL, m);
    cr_expect_str_eq(ev.criteria, "post-rollout");
    cr_expect_eq(ev.verdict, PASS, "%s", ev.results[5].reason);
    /* scipy asymptotic (the samples tie at 0.195): p 0.4569163682389365;
     * numpy p95 0.3895 vs 0.38225 */
    cr_expect_str_eq(ev.results[5].id, "no-degradation");
    cr_expect(rel_close(ev.results[5].p_value, 0.4569163682389365, 1e-9));
    cr_expect(rel_close(ev.results[5].observed, 0.3895000000000011, 1e-12));
    cr_expect_str_eq(ev.results[2].reason, "latency_p95 389.5ms < max 3s");
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

/* ---- rollout_evaluate's targets and misuse ------------------------------------------ */

Test(api, targets)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m = load("examples/metrics/healthy.yaml");
    rollout_error err;
    cr_assert_eq(rollout_evaluate(seed, ROLLOUT_EVAL_GATE, "pilot-go", m, &ev, &err), ROLLOUT_OK);
    cr_expect_str_eq(ev.criteria, "pilot");
    cr_assert_eq(rollout_evaluate(seed, ROLLOUT_EVAL_PHASE, "ga", m, &ev, &err), ROLLOUT_OK,
                 "three gates, one set: %s", err.message);
    cr_expect_str_eq(ev.criteria, "ga");
    cr_assert_eq(rollout_evaluate(seed, ROLLOUT_EVAL_CRITERIA, "post-rollout", m, &ev, &err),
                 ROLLOUT_OK);
    cr_expect_eq(ev.n_results, 8);

    cr_expect_eq(rollout_evaluate(seed, ROLLOUT_EVAL_PHASE, "beta", m, &ev, &err),
                 ROLLOUT_ERR_NOT_FOUND);
    cr_expect_str_eq(err.message, "no phase named \"beta\"");
    cr_expect_eq(ev.verdict, INCONCLUSIVE, "never a PASS on error");
    cr_expect_eq(ev.n_results, 0);
    cr_expect_eq(rollout_evaluate(seed, ROLLOUT_EVAL_GATE, "canary", m, &ev, &err),
                 ROLLOUT_ERR_NOT_FOUND);
    cr_expect_str_eq(err.message, "no gate named \"canary\"");
    cr_expect_eq(rollout_evaluate(seed, ROLLOUT_EVAL_CRITERIA, "canary-go", m, &ev, &err),
                 ROLLOUT_ERR_NOT_FOUND);
    cr_expect_str_eq(err.message, "no criteria set named \"canary-go\"");
    cr_expect_eq(rollout_evaluate(seed, 9, "canary", m, &ev, &err), ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message, "target 9 is not a rollout_eval_target");
    cr_expect_eq(rollout_evaluate(seed, ROLLOUT_EVAL_PHASE, NULL, m, &ev, &err),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_evaluate(NULL, ROLLOUT_EVAL_BAKE, NULL, m, &ev, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_evaluate(seed, ROLLOUT_EVAL_BAKE, NULL, NULL, &ev, &err),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_evaluate(seed, ROLLOUT_EVAL_BAKE, NULL, m, NULL, &err), ROLLOUT_ERR_ARG);
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

Test(api, phases_without_or_with_several_criteria_sets)
{
    static const char plan[] =
        "format: 1\nid: two\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
        "versions: {stable: v1, new: v2}\nroles: {sre: SRE}\n"
        "cohorts:\n  - {id: everyone, match: {everyone: true}}\n"
        "criteria:\n"
        "  a:\n    - {id: x, metric: critical_errors, must_be_zero: true}\n"
        "  b:\n    - {id: y, metric: critical_errors, max: 1}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
        "  - id: mixed\n    cohort: everyone\n    steps:\n"
        "      - {at: 0, weight: 10%, unit: org, gate: {id: g1, at: 1h, approvers: [sre], "
        "criteria: a}}\n"
        "      - {at: 2h, weight: 50%, unit: org, gate: {id: g2, at: 3h, approvers: [sre], "
        "criteria: b}}\n"
        "  - id: plain\n    cohort: everyone\n    steps:\n"
        "      - {at: 4h, weight: 100%, unit: org}\n";
    rollout_plan *p = t_plan(plan);
    rollout_metrics *m = snap();
    rollout_error err;
    cr_expect_eq(rollout_evaluate(p, ROLLOUT_EVAL_PHASE, "mixed", m, &ev, &err), ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message,
                     "phase \"mixed\" has gates with different criteria sets (a, b); evaluate "
                     "by gate");
    cr_expect_eq(rollout_evaluate(p, ROLLOUT_EVAL_GATE, "g2", m, &ev, &err), ROLLOUT_OK);
    cr_expect_str_eq(ev.criteria, "b");
    cr_expect_eq(rollout_evaluate(p, ROLLOUT_EVAL_PHASE, "plain", m, &ev, &err),
                 ROLLOUT_ERR_NOT_FOUND);
    cr_expect_str_eq(err.message, "phase \"plain\" has no gate with criteria");
    cr_expect_eq(rollout_evaluate(p, ROLLOUT_EVAL_BAKE, NULL, m, &ev, &err),
                 ROLLOUT_ERR_NOT_FOUND);
    cr_expect_str_eq(err.message, "the plan has no bake criteria");
    rollout_metrics_free(m);
    rollout_plan_unref(p);
}

/* ---- parsing --------------------------------------------------------------------------- */

Test(parse, every_form_reads_as_written)
{
    static const char c[] =
        "\n    - {id: a, metric: latency_p95, max: 1500ms, or_baseline_plus: 12.5%}"
        "\n    - {id: b, metric: availability, min: 99.9%, or_baseline: true}"
        "\n    - {id: c, metric: issue_resolution_time, max: 1h30m, min_samples: 7}"
        "\n    - {id: d, metric: error_rate, max_baseline_plus: 10%, confidence: 99%}"
        "\n    - {id: e, metric: support_tickets, max_baseline_times: 1.5, rollback: true}"
        "\n    - {id: f, metric: latency_p99, max_baseline_times: 1.1, test: mann_whitney}"
        "\n    - {id: g, smoke_tests: [report, login], rollback: critical_bug,"
        " description: Smoke}"
        "\n    - {id: h, metric: kpi, min: 95%}\n";
    rollout_plan *p = plan_with(c);
    const rp_criteria_set *s = &p->criteria[0];
    cr_assert_eq(s->n, 8);
    const rp_criterion *k = s->items;
    cr_expect(k[0].form == RP_FORM_MAX && k[0].value == 1.5 &&
              k[0].lenient == RP_LENIENT_BASELINE_PLUS && k[0].lenient_plus == 0.125);
    cr_expect_eq(k[0].metric_id, RP_M_LATENCY_P95);
    cr_expect(k[1].form == RP_FORM_MIN && k[1].value == 99.9 / 100 &&
              k[1].lenient == RP_LENIENT_BASELINE);
    cr_expect(k[2].value == 5400 && k[2].min_samples == 7 && k[2].kind == RP_MK_DURATION);
    cr_expect(k[3].form == RP_FORM_BASELINE_PLUS && k[3].value == 0.1 &&
              k[3].test == RP_TEST_RATE && k[3].confidence == 0.99);
    cr_expect(k[4].form == RP_FORM_BASELINE_TIMES && k[4].value == 1.5 && k[4].rollback &&
              k[4].rollback_reason == ROLLOUT_ROLLBACK_EVALUATION);
    cr_expect(k[5].test == RP_TEST_MANN_WHITNEY && k[5].confidence == 0.95 &&
              k[5].effect_size == 0, "mann_whitney defaults to 95 %% and no effect size");
    cr_expect(k[6].form == RP_FORM_SMOKE && !k[6].smoke_all && k[6].n_smoke == 2);
    cr_expect(k[6].smoke[0] == 1 && k[6].smoke[1] == 0, "plan order: login 0, report 1");
    cr_expect_eq(k[6].rollback_reason, ROLLOUT_ROLLBACK_CRITICAL_BUG);
    cr_expect_str_eq(k[6].description, "Smoke");
    cr_expect(k[7].metric_id == -1 && k[7].kind == RP_MK_NUMBER && k[7].value == 0.95);
    cr_expect_null(k[0].description);
    rollout_plan_unref(p);
}

Test(parse, dump_loads_back_to_the_same_criteria)
{
    rollout_plan *seed = t_seed();
    for (int fmt = ROLLOUT_FORMAT_YAML; fmt <= ROLLOUT_FORMAT_JSON; fmt++) {
        size_t need = 0;
        cr_assert_eq(rollout_plan_dump(seed, fmt, NULL, 0, &need), ROLLOUT_ERR_BUFFER);
        char *buf = malloc(need + 1);
        cr_assert(buf);
        cr_assert_eq(rollout_plan_dump(seed, fmt, buf, need + 1, NULL), ROLLOUT_OK);
        rollout_plan *again = t_plan(buf);
        cr_assert_eq(again->n_criteria, seed->n_criteria);
        for (int i = 0; i < seed->n_criteria; i++) {
            const rp_criteria_set *a = &seed->criteria[i], *b = &again->criteria[i];
            cr_assert_str_eq(a->id, b->id);
            cr_assert_eq(a->n, b->n);
            for (size_t j = 0; j < a->n; j++) {
                const rp_criterion *x = &a->items[j], *y = &b->items[j];
                cr_expect_str_eq(x->id, y->id);
                cr_expect_eq(x->form, y->form, "%s", x->id);
                cr_expect_eq(x->value, y->value, "%s", x->id);
                cr_expect_eq(x->lenient, y->lenient, "%s", x->id);
                cr_expect_eq(x->lenient_plus, y->lenient_plus, "%s", x->id);
                cr_expect_eq(x->min_samples, y->min_samples, "%s", x->id);
                cr_expect_eq(x->test, y->test, "%s", x->id);
                cr_expect_eq(x->confidence, y->confidence, "%s", x->id);
                cr_expect_eq(x->effect_size, y->effect_size, "%s", x->id);
                cr_expect_eq(x->rollback, y->rollback, "%s", x->id);
                cr_expect_eq(x->smoke_all, y->smoke_all, "%s", x->id);
            }
        }
        rollout_plan_unref(again);
        free(buf);
    }
    rollout_plan_unref(seed);
}

typedef struct parse_case {
    const char *criteria;  /* appended after "  set:" (line 20) */
    int code;
    int line, col;
    const char *message;   /* without the "test.yaml:L:C: " prefix */
} parse_case;

static const parse_case parse_cases[] = {
    {" []\n", ROLLOUT_ERR_VALUE, 20, 8, "criteria.set: a criteria set needs at least one criterion"},
    {" {a: 1}\n", ROLLOUT_ERR_TYPE, 20, 8, "criteria.set: expected a list, got a mapping"},
    {"\n    - just-a-name\n", ROLLOUT_ERR_TYPE, 21, 7,
     "criteria.set[0]: expected a mapping, got a scalar"},
    {"\n    - {metric: latency_p95, max: 2s}\n", ROLLOUT_ERR_MISSING, 21, 7,
     "criteria.set[0]: missing required key \"id\""},
    {"\n    - {id: x y, metric: latency_p95, max: 2s}\n", ROLLOUT_ERR_VALUE, 21, 12,
     "criteria.set[0].id: \"x y\" is not a valid id (1-64 of A-Z a-z 0-9 - _ .)"},
    {"\n    - {id: a, metric: latency_p95, max: 2s}\n    - {id: a, metric: latency_p99, max: 3s}\n",
     ROLLOUT_ERR_DUPLICATE, 22, 12,
     "criteria.set[1].id: criterion \"a\" is defined twice in this set"},
    {"\n    - {id: a, metric: latency_p95, maximum: 2s}\n", ROLLOUT_ERR_UNKNOWN_KEY, 21, 36,
     "criteria.set[0].maximum: unknown key \"maximum\" (expected one of: id, description, "
     "metric, smoke_tests, max, min, must_be_zero, max_baseline_plus, max_baseline_times, "
     "or_baseline, or_baseline_plus, min_samples, confidence, test, effect_size, rollback, "
     "strict, or_sla, direction, dry_run, per_request, floor)"},
    {"\n    - {id: a, description: nothing}\n", ROLLOUT_ERR_MISSING, 21, 7,
     "criteria.set[0]: criterion \"a\" needs \"metric\" or \"smoke_tests\""},
    {"\n    - {id: a, metric: critical_errors, smoke_tests: all}\n", ROLLOUT_ERR_UNKNOWN_KEY, 21,
     40, "criteria.set[0].smoke_tests: a criterion checks either a metric or smoke_tests, not "
         "both"},
    {"\n    - {id: a, metric: \"latency p95\", max: 2s}\n", ROLLOUT_ERR_VALUE, 21, 23,
     "criteria.set[0].metric: \"latency p95\" is not a valid id (1-64 of A-Z a-z 0-9 - _ .)"},
    {"\n    - {id: a, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, min_samples: 0}\n", ROLLOUT_ERR_RANGE, 21, 79,
     "criteria.set[0].min_samples: a statistical comparison needs samples: min_samples must "
     "be at least 1 (the default is 20)"},
    /* metric names: standard or declared, with the nearest name suggested */
    {"\n    - {id: a, metric: latency_99p, max: 800ms}\n", ROLLOUT_ERR_REFERENCE, 21, 23,
     "criteria.set[0].metric: \"latency_99p\" is not a known metric (did you mean latency_p99? a custom metric must be "
     "listed under custom_metrics:)"},
    {"\n    - {id: a, metric: p99_latency, max: 800ms}\n", ROLLOUT_ERR_REFERENCE, 21, 23,
     "criteria.set[0].metric: \"p99_latency\" is not a known metric (did you mean latency_p99? a custom metric must be "
     "listed under custom_metrics:)"},
    {"\n    - {id: a, metric: kpii, min: 1}\n", ROLLOUT_ERR_REFERENCE, 21, 23,
     "criteria.set[0].metric: \"kpii\" is not a known metric (did you mean kpi? a custom metric must be "
     "listed under custom_metrics:)"},
    {"\n    - {id: a, metric: revenue, min: 1}\n", ROLLOUT_ERR_REFERENCE, 21, 23,
     "criteria.set[0].metric: \"revenue\" is not a known metric (a custom metric must be "
     "listed under custom_metrics:)"},
    {"\n    - {id: a, metric: latency_p95}\n", ROLLOUT_ERR_MISSING, 21, 7,
     "criteria.set[0]: criterion \"a\" has no threshold (write one of max, min, must_be_zero, "
     "max_baseline_plus, max_baseline_times)"},
    {"\n    - {id: a, metric: kpi, min: 1, max: 2}\n", ROLLOUT_ERR_UNKNOWN_KEY, 21, 28,
     "criteria.set[0].min: \"min\" conflicts with \"max\": a criterion has exactly one of max, "
     "min, must_be_zero, max_baseline_plus, max_baseline_times"},
    {"\n    - {id: a, metric: latency_p95, max: 2}\n", ROLLOUT_ERR_VALUE, 21, 41,
     "criteria.set[0].max: \"2\" is not a latency (write 2s, 1500ms)"},
    {"\n    - {id: a, metric: error_rate, max: 150%}\n", ROLLOUT_ERR_RANGE, 21, 40,
     "criteria.set[0].max: 150% is outside 0%..100%"},
    {"\n    - {id: a, metric: error_rate, max: lots}\n", ROLLOUT_ERR_VALUE, 21, 40,
     "criteria.set[0].max: \"lots\" is not a rate (write 0.5% or 0.005)"},
    {"\n    - {id: a, metric: support_tickets, max: -1}\n", ROLLOUT_ERR_RANGE, 21, 45,
     "criteria.set[0].max: -1 is negative; counts start at 0"},
    {"\n    - {id: a, metric: issue_resolution_time, max: 1 hour}\n", ROLLOUT_ERR_VALUE, 21, 51,
     "criteria.set[0].max: \"1 hour\" is not a duration (write 90m, 4h, 2d)"},
    {"\n    - {id: a, metric: kpi, min: high}\n", ROLLOUT_ERR_VALUE, 21, 33,
     "criteria.set[0].min: \"high\" is not a rate (write 0.5% or 0.005)"},
    {"\n    - {id: a, metric: critical_errors, must_be_zero: false}\n", ROLLOUT_ERR_VALUE, 21,
     54, "criteria.set[0].must_be_zero: must_be_zero: false sets no threshold; write true or "
         "remove it"},
    {"\n    - {id: a, metric: critical_errors, must_be_zero: yes}\n", ROLLOUT_ERR_VALUE, 21, 54,
     "criteria.set[0].must_be_zero: \"yes\" is not a boolean (write true or false)"},
    {"\n    - {id: a, metric: latency_p95, max_baseline_plus: 10}\n", ROLLOUT_ERR_VALUE, 21, 55,
     "criteria.set[0].max_baseline_plus: \"10\" is not a percentage (write 10%)"},
    {"\n    - {id: a, metric: latency_p95, max_baseline_plus: -5%}\n", ROLLOUT_ERR_RANGE, 21, 55,
     "criteria.set[0].max_baseline_plus: -5% is negative"},
    {"\n    - {id: a, metric: support_tickets, max_baseline_times: 0}\n", ROLLOUT_ERR_RANGE, 21,
     60, "criteria.set[0].max_baseline_times: the factor must be more than 0"},
    {"\n    - {id: a, metric: latency_p95, max: 2s, or_baseline: true, or_baseline_plus: 5%}\n",
     ROLLOUT_ERR_UNKNOWN_KEY, 21, 64,
     "criteria.set[0].or_baseline_plus: \"or_baseline_plus\" conflicts with \"or_baseline\"; keep "
     "one"},
    {"\n    - {id: a, metric: critical_errors, must_be_zero: true, or_baseline: true}\n",
     ROLLOUT_ERR_UNKNOWN_KEY, 21, 60,
     "criteria.set[0].or_baseline: \"or_baseline\" applies only to max or min, not to "
     "must_be_zero"},
    {"\n    - {id: a, metric: kpi, min: 0.9, or_baseline_plus: 5%}\n", ROLLOUT_ERR_UNKNOWN_KEY, 21,
     38, "criteria.set[0].or_baseline_plus: \"or_baseline_plus\" applies only to max (with min, "
         "use or_baseline)"},
    {"\n    - {id: a, metric: latency_p95, max: 2s, or_baseline: maybe}\n", ROLLOUT_ERR_VALUE, 21,
     58, "criteria.set[0].or_baseline: \"maybe\" is not a boolean (write true or false)"},
    {"\n    - {id: a, metric: latency_p95, max: 2s, min_samples: -3}\n", ROLLOUT_ERR_VALUE, 21,
     58, "criteria.set[0].min_samples: \"-3\" is not a whole number"},
    {"\n    - {id: a, metric: latency_p95, max_baseline_plus: 5%, test: t_test}\n",
     ROLLOUT_ERR_VALUE, 21, 65,
     "criteria.set[0].test: \"t_test\" is not a test (the one test to name is mann_whitney; "
     "rates are tested whenever confidence is set)"},
    {"\n    - {id: a, metric: error_rate, max_baseline_plus: 5%, test: mann_whitney}\n",
     ROLLOUT_ERR_UNKNOWN_KEY, 21, 58,
     "criteria.set[0].test: test: mann_whitney compares latency samples; the metric must be "
     "latency_p50, latency_p95 or latency_p99, not error_rate"},
    {"\n    - {id: a, metric: latency_p95, max: 2s, test: mann_whitney}\n",
     ROLLOUT_ERR_UNKNOWN_KEY, 21, 45,
     "criteria.set[0].test: test: mann_whitney compares against the baseline; use "
     "max_baseline_plus or max_baseline_times instead of max"},
    {"\n    - {id: a, metric: latency_p95, max: 2s, confidence: 95%}\n", ROLLOUT_ERR_UNKNOWN_KEY,
     21, 45,
     "criteria.set[0].confidence: confidence applies to error_rate with max, max_baseline_plus "
     "or max_baseline_times, or to latency with test: mann_whitney"},
    {"\n    - {id: a, metric: error_rate, min: 0.1%, confidence: 95%}\n",
     ROLLOUT_ERR_UNKNOWN_KEY, 21, 46,
     "criteria.set[0].confidence: confidence applies to error_rate with max, max_baseline_plus "
     "or max_baseline_times, or to latency with test: mann_whitney"},
    {"\n    - {id: a, metric: error_rate, max: 1%, confidence: 40%}\n", ROLLOUT_ERR_RANGE, 21,
     56, "criteria.set[0].confidence: confidence 40% is outside 50%..99.99% (write e.g. 95%)"},
    {"\n    - {id: a, metric: error_rate, max: 1%, confidence: 100%}\n", ROLLOUT_ERR_RANGE, 21,
     56, "criteria.set[0].confidence: confidence 100% is outside 50%..99.99% (write e.g. 95%)"},
    {"\n    - {id: a, metric: latency_p95, max: 2s, effect_size: 5%}\n", ROLLOUT_ERR_UNKNOWN_KEY,
     21, 45, "criteria.set[0].effect_size: effect_size applies only with test: mann_whitney"},
    {"\n    - {id: a, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, "
     "effect_size: 5}\n",
     ROLLOUT_ERR_VALUE, 21, 92,
     "criteria.set[0].effect_size: \"5\" is not a percentage (write 10%)"},
    {"\n    - {id: a, smoke_tests: some}\n", ROLLOUT_ERR_VALUE, 21, 28,
     "criteria.set[0].smoke_tests: \"some\" is neither \"all\" nor a list of smoke-test ids"},
    {"\n    - {id: a, smoke_tests: {login: 1}}\n", ROLLOUT_ERR_TYPE, 21, 28,
     "criteria.set[0].smoke_tests: expected \"all\" or a list of smoke-test ids, got a mapping"},
    {"\n    - {id: a, smoke_tests: []}\n", ROLLOUT_ERR_VALUE, 21, 28,
     "criteria.set[0].smoke_tests: the list names no smoke tests"},
    {"\n    - {id: a, smoke_tests: [login, nope]}\n", ROLLOUT_ERR_REFERENCE, 21, 36,
     "criteria.set[0].smoke_tests[1]: smoke test \"nope\" is not defined under smoke_tests:"},
    {"\n    - {id: a, smoke_tests: [login, login]}\n", ROLLOUT_ERR_DUPLICATE, 21, 36,
     "criteria.set[0].smoke_tests[1]: smoke test \"login\" is listed twice"},
    {"\n    - {id: a, smoke_tests: all, max: 2}\n", ROLLOUT_ERR_UNKNOWN_KEY, 21, 33,
     "criteria.set[0].max: \"max\" does not apply to a smoke_tests criterion (it takes id, "
     "description, smoke_tests, rollback, dry_run)"},
    {"\n    - {id: a, smoke_tests: all, rollback: maybe}\n", ROLLOUT_ERR_VALUE, 21, 43,
     "criteria.set[0].rollback: \"maybe\" is not a rollback setting (write true, false, "
     "critical_bug, data_corruption or error_rate)"},
};

Test(parse, every_error_path)
{
    for (size_t i = 0; i < RP_COUNT(parse_cases); i++) {
        const parse_case *t = &parse_cases[i];
        char *text = plan_text(t->criteria);
        rollout_error err;
        memset(&err, 0, sizeof err);
        int rc = t_plan_error(text, &err);
        free(text);
        char want[600];
        snprintf(want, sizeof want, "test.yaml:%d:%d: %s", t->line, t->col, t->message);
        cr_expect_eq(rc, t->code, "case %zu: %s (%s)", i, rollout_code_name(rc), err.message);
        cr_expect_eq(err.line, t->line, "case %zu: line %d", i, err.line);
        cr_expect_eq(err.column, t->col, "case %zu: column %d", i, err.column);
        cr_expect_str_eq(err.message, want, "case %zu: %s", i, err.message);
    }
}

/* Statistical comparisons get a default min_samples, which rollout show
 * prints: 2 samples against 2 can never FAIL a Mann-Whitney test. */
Test(parse, statistical_tests_have_a_default_min_samples)
{
    rollout_plan *p = plan_with(
        "\n    - {id: a, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney}"
        "\n    - {id: b, metric: error_rate, max: 1%, confidence: 95%}"
        "\n    - {id: c, metric: latency_p95, max_baseline_plus: 0%, test: mann_whitney, "
        "min_samples: 5}"
        "\n    - {id: d, metric: latency_p95, max: 2s}\n");
    const rp_criteria_set *set = &p->criteria[0];
    cr_expect_eq(set->items[0].min_samples, 20);
    cr_expect_eq(set->items[1].min_samples, 100);
    cr_expect_eq(set->items[2].min_samples, 5);
    cr_expect_eq(set->items[3].min_samples, 0);
    size_t need = 0;
    rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &need);
    char *buf = malloc(need + 1);
    cr_assert(buf);
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, buf, need + 1, NULL), ROLLOUT_OK);
    cr_expect(strstr(buf, "min_samples: 20"), "%s", buf);
    cr_expect(strstr(buf, "min_samples: 100"), "%s", buf);
    rollout_plan *again = t_plan(buf);
    cr_expect_eq(again->fingerprint, p->fingerprint);
    rollout_plan_unref(again);
    free(buf);
    /* two samples against two, 100x slower: INCONCLUSIVE, not PASS */
    rollout_metrics *m = snap();
    static const double x[] = {1.0, 1.02}, y[] = {0.010, 0.0102};
    cr_assert_eq(rollout_metrics_set_latency_samples(m, NEW, x, 2, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, BASE, y, 2, NULL), ROLLOUT_OK);
    eval_set(p, m);
    cr_expect_eq(ev.results[0].verdict, INCONCLUSIVE, "%s", ev.results[0].reason);
    cr_expect_str_eq(ev.results[0].reason,
                     "only 2 latency samples on the new version, fewer than min_samples 20");
    rollout_metrics_free(m);
    rollout_plan_unref(p);
}

Test(parse, custom_metrics_declaration)
{
    static const struct { const char *decl, *message; int code; } bad[] = {
        {"custom_metrics: [kpi, critical_errors]\n",
         "test.yaml:12:23: custom_metrics[1]: \"critical_errors\" is a standard metric; list "
         "only custom ones here", ROLLOUT_ERR_VALUE},
        {"custom_metrics: [kpi, kpi]\n",
         "test.yaml:12:23: custom_metrics[1]: custom metric \"kpi\" is listed twice",
         ROLLOUT_ERR_DUPLICATE},
        {"custom_metrics: kpi\n",
         "test.yaml:12:17: custom_metrics: expected a list, got a scalar", ROLLOUT_ERR_TYPE},
    };
    static const char decl[] = "custom_metrics: [kpi, delta, data_integrity_issues, "
                               "usage_kpi_ratio]\n";
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        char *text = plan_text("\n    - {id: a, metric: kpi, min: 1}\n");
        char *at = strstr(text, decl);
        cr_assert(at);
        size_t n = strlen(text) + strlen(bad[i].decl) + 1;
        char *edited = malloc(n);
        cr_assert(edited);
        snprintf(edited, n, "%.*s%s%s", (int)(at - text), text, bad[i].decl, at + strlen(decl));
        rollout_error err;
        cr_expect_eq(t_plan_error(edited, &err), bad[i].code, "case %zu: %s", i, err.message);
        cr_expect_str_eq(err.message, bad[i].message, "case %zu", i);
        free(edited);
        free(text);
    }
}

Test(parse, too_many_criteria)
{
    char crit[33 * 64] = "";
    for (int i = 0; i < 33; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n    - {id: c%d, metric: critical_errors, max: 1}", i);
        strcat(crit, line);
    }
    strcat(crit, "\n");
    char *text = plan_text(crit);
    rollout_error err;
    cr_expect_eq(t_plan_error(text, &err), ROLLOUT_ERR_LIMIT);
    cr_expect_str_eq(err.message,
                     "test.yaml:21:5: criteria.set: 33 criteria in one set; the limit is 32");
    free(text);
    /* 32 is fine */
    char *end = strrchr(crit, '\n');
    *end = '\0';
    end = strrchr(crit, '\n');
    *end = '\0';
    strcat(crit, "\n");
    rollout_plan *p = plan_with(crit);
    cr_expect_eq(p->criteria[0].n, 32);
    rollout_plan_unref(p);
}

Test(parse, smoke_all_needs_smoke_tests)
{
    static const char plan[] =
        "format: 1\nid: x\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
        "versions: {stable: v1, new: v2}\nroles: {sre: SRE}\n"
        "cohorts:\n  - {id: everyone, match: {everyone: true}}\n"
        "phases:\n  - id: p\n    cohort: everyone\n    steps:\n"
        "      - {at: 0, weight: 100%, unit: org}\n"
        "criteria:\n  s:\n    - {id: a, smoke_tests: all}\n";
    rollout_error err;
    cr_expect_eq(t_plan_error(plan, &err), ROLLOUT_ERR_REFERENCE);
    cr_expect_str_eq(err.message, "test.yaml:16:28: criteria.s[0].smoke_tests: smoke_tests: "
                                  "all, but the plan defines no smoke_tests");
}

Test(smoke, long_lists_end_in_an_ellipsis)
{
    /* 8 tests of 24 characters do not fit in one reason line: the list
     * stops at a whole name and says so */
    static const char plan[] =
        "format: 1\nid: x\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
        "versions: {stable: v1, new: v2}\nroles: {sre: SRE}\n"
        "cohorts:\n  - {id: everyone, match: {everyone: true}}\n"
        "smoke_tests:\n"
        "  - {id: smoke-test-number-one-aa, name: a}\n"
        "  - {id: smoke-test-number-two-bb, name: b}\n"
        "  - {id: smoke-test-number-three-c, name: c}\n"
        "  - {id: smoke-test-number-four-dd, name: d}\n"
        "  - {id: smoke-test-number-five-ee, name: e}\n"
        "  - {id: smoke-test-number-six-fff, name: f}\n"
        "  - {id: smoke-test-number-seven-g, name: g}\n"
        "  - {id: smoke-test-number-eight-h, name: h}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
        "phases:\n  - id: p\n    cohort: everyone\n    steps:\n"
        "      - {at: 0, weight: 100%, unit: org}\n"
        "criteria:\n  set:\n    - {id: a, smoke_tests: all}\n";
    rollout_plan *p = t_plan(plan);
    rollout_metrics *m = snap();
    eval_set(p, m);
    cr_expect_str_eq(ev.results[0].reason,
                     "no result for 8 of 8 smoke tests: smoke-test-number-one-aa, "
                     "smoke-test-number-two-bb, smoke-test-number-three-c, "
                     "smoke-test-number-four-dd, ...");
    rollout_metrics_free(m);
    rollout_plan_unref(p);
}
