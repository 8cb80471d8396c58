/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c — the metrics snapshot: setters that refuse impossible
 * values, the read side criteria use, and the YAML/JSON loader with every
 * error path (code, line, column, field and the exact message).
 *
 * Expected messages are written out by hand: they are what a person fixing
 * an exporter should read.
 */
#include "evaluate.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rollout_metrics *fresh(void)
{
    rollout_metrics *m = NULL;
    cr_assert_eq(rollout_metrics_create(&m), ROLLOUT_OK);
    cr_assert(m);
    return m;
}

static double get(const rollout_metrics *m, int variant, const char *name)
{
    double v = NAN;
    int rc = rollout_metrics_get(m, variant, name, &v);
    cr_assert_eq(rc, ROLLOUT_OK, "%s not readable (%s)", name, rollout_code_name(rc));
    return v;
}

#define EXPECT_API_ERROR(call, want_code, want_field, want_message)                            \
    do {                                                                                       \
        rollout_error e_;                                                                      \
        memset(&e_, 0x55, sizeof e_);                                                          \
        int rc_ = (call);                                                                      \
        cr_expect_eq(rc_, (want_code), "code %s", rollout_code_name(rc_));                     \
        cr_expect_eq(e_.code, (want_code));                                                    \
        cr_expect_str_eq(e_.field, (want_field));                                              \
        cr_expect_str_eq(e_.message, (want_message));                                          \
        cr_expect_eq(e_.line, 0);                                                              \
    } while (0)

/* ---- setters ------------------------------------------------------------------ */

Test(metrics, standard_metrics_round_trip)
{
    rollout_metrics *m = fresh();
    rollout_error err;
    cr_assert_eq(rollout_metrics_set_requests(m, ROLLOUT_NEW, 120000, 84, &err), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency(m, ROLLOUT_NEW, 0.18, 1.4, 2.1, &err), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "critical_errors", 0, &err), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "availability", 0.9995, &err), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "issue_resolution_time", 2400, &err),
                 ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_STABLE, "support_tickets", 4, &err),
                 ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "usage_kpi_ratio", 0.99, &err),
                 ROLLOUT_OK);
    cr_expect_eq(get(m, ROLLOUT_NEW, "requests"), 120000);
    cr_expect_eq(get(m, ROLLOUT_NEW, "errors"), 84);
    cr_expect_eq(get(m, ROLLOUT_NEW, "error_rate"), 84.0 / 120000.0);
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p95"), 1.4);
    cr_expect_eq(get(m, ROLLOUT_NEW, "critical_errors"), 0);
    cr_expect_eq(get(m, ROLLOUT_NEW, "availability"), 0.9995);
    cr_expect_eq(get(m, ROLLOUT_NEW, "issue_resolution_time"), 2400);
    cr_expect_eq(get(m, ROLLOUT_STABLE, "support_tickets"), 4);
    cr_expect_eq(get(m, ROLLOUT_NEW, "usage_kpi_ratio"), 0.99);
    /* what was not set is not invented */
    double v;
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_STABLE, "requests", &v), ROLLOUT_ERR_NOT_FOUND);
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "support_tickets", &v),
                 ROLLOUT_ERR_NOT_FOUND);
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_STABLE, "usage_kpi_ratio", &v),
                 ROLLOUT_ERR_NOT_FOUND);
    rollout_metrics_free(m);
}

Test(metrics, setting_again_replaces)
{
    rollout_metrics *m = fresh();
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "support_tickets", 4, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "support_tickets", 7, NULL), ROLLOUT_OK);
    cr_expect_eq(get(m, ROLLOUT_NEW, "support_tickets"), 7);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "kpi", 1, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "kpi", -2.5, NULL), ROLLOUT_OK);
    cr_expect_eq(get(m, ROLLOUT_NEW, "kpi"), -2.5, "custom metrics may be negative");
    rollout_metrics_free(m);
}

Test(metrics, error_rate_from_counts_wins_over_a_reported_rate)
{
    rollout_metrics *m = fresh();
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "error_rate", 0.5, NULL), ROLLOUT_OK);
    cr_expect_eq(get(m, ROLLOUT_NEW, "error_rate"), 0.5, "alone, the reported rate is used");
    cr_assert_eq(rollout_metrics_set_requests(m, ROLLOUT_NEW, 1000, 5, NULL), ROLLOUT_OK);
    cr_expect_eq(get(m, ROLLOUT_NEW, "error_rate"), 0.005);
    rollout_metrics_free(m);
}

Test(metrics, zero_requests_give_no_error_rate)
{
    rollout_metrics *m = fresh();
    cr_assert_eq(rollout_metrics_set_requests(m, ROLLOUT_NEW, 0, 0, NULL), ROLLOUT_OK);
    double v;
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "error_rate", &v), ROLLOUT_ERR_NOT_FOUND);
    rollout_metrics_free(m);
}

Test(metrics, percentiles_come_from_samples_when_not_set)
{
    rollout_metrics *m = fresh();
    /* 0.1 .. 1.0 in a scrambled order; linear interpolation between order
     * statistics: p50 at position 4.5 -> 0.55, p95 at 8.55 -> 0.955,
     * p99 at 8.91 -> 0.991 */
    const double s[] = {0.7, 0.1, 1.0, 0.4, 0.2, 0.9, 0.3, 0.6, 0.5, 0.8};
    cr_assert_eq(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, s, 10, NULL), ROLLOUT_OK);
    cr_expect(fabs(get(m, ROLLOUT_NEW, "latency_p50") - 0.55) < 1e-12);
    cr_expect(fabs(get(m, ROLLOUT_NEW, "latency_p95") - 0.955) < 1e-12);
    cr_expect(fabs(get(m, ROLLOUT_NEW, "latency_p99") - 0.991) < 1e-12);
    /* a percentile set directly is what the exporter measured: it wins */
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p95", 2.0, NULL), ROLLOUT_OK);
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p95"), 2.0);
    rp_dist d;
    cr_assert(rp_metrics_dist(m, ROLLOUT_NEW, &d));
    cr_expect_eq(d.n, 10);
    cr_expect_eq(d.total, 10);
    cr_expect_eq(d.v[0], 0.1);
    cr_expect_eq(d.v[9], 1.0);
    cr_expect(!rp_metrics_dist(m, ROLLOUT_STABLE, &d));
    rollout_metrics_free(m);
}

Test(metrics, samples_are_copied_sorted_and_merged)
{
    rollout_metrics *m = fresh();
    double s[] = {0.3, 0.1, 0.3, 0.2, 0.1, 0.3};
    cr_assert_eq(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, s, 6, NULL), ROLLOUT_OK);
    s[0] = 99; /* the snapshot must not see the caller's later writes */
    rp_dist d;
    cr_assert(rp_metrics_dist(m, ROLLOUT_NEW, &d));
    cr_assert_eq(d.n, 3);
    cr_expect(d.v[0] == 0.1 && d.v[1] == 0.2 && d.v[2] == 0.3);
    cr_expect(d.c[0] == 2 && d.c[1] == 1 && d.c[2] == 3);
    cr_expect_eq(d.total, 6);
    rollout_metrics_free(m);
}

Test(metrics, histogram)
{
    rollout_metrics *m = fresh();
    const double le[] = {0.1, 0.25, 0.5, INFINITY};
    const uint64_t n[] = {50, 0, 30, 20};
    cr_assert_eq(rollout_metrics_set_latency_histogram(m, ROLLOUT_STABLE, le, n, 4, NULL),
                 ROLLOUT_OK);
    rp_dist d;
    cr_assert(rp_metrics_dist(m, ROLLOUT_STABLE, &d));
    cr_expect_eq(d.n, 3, "the empty bucket is dropped");
    cr_expect_eq(d.total, 100);
    /* p50 at position 49.5: between the 50th (0.1) and 51st (0.5) request */
    cr_expect(fabs(get(m, ROLLOUT_STABLE, "latency_p50") - 0.3) < 1e-12);
    cr_expect(isinf(get(m, ROLLOUT_STABLE, "latency_p99")), "p99 lies in the open bucket");
    rollout_metrics_free(m);
}

Test(metrics, smoke_results)
{
    rollout_metrics *m = fresh();
    cr_assert_eq(rollout_metrics_set_smoke(m, ROLLOUT_NEW, "login-logout", 1, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_smoke(m, ROLLOUT_NEW, "trial-balance", 1, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_smoke(m, ROLLOUT_NEW, "trial-balance", 0, NULL), ROLLOUT_OK);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "login-logout"), 1);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "trial-balance"), 0, "the rerun replaced it");
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "help-panel"), -1);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_STABLE, "login-logout"), -1);
    rollout_metrics_free(m);
}

Test(metrics, impossible_values_are_refused_with_the_field)
{
    rollout_metrics *m = fresh();
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "requests", NAN, &e_),
                     ROLLOUT_ERR_METRICS, "new.requests",
                     "new.requests: nan is NaN; metrics must be finite numbers");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p95", INFINITY, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_p95",
                     "new.latency_p95: inf is infinite; metrics must be finite numbers");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_STABLE, "support_tickets", -1, &e_),
                     ROLLOUT_ERR_METRICS, "baseline.support_tickets",
                     "baseline.support_tickets: -1 is negative; counts start at 0");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p50", -0.2, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_p50",
                     "new.latency_p50: -0.2 is negative; rates and times start at 0");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "critical_errors", 2.5, &e_),
                     ROLLOUT_ERR_METRICS, "new.critical_errors",
                     "new.critical_errors: 2.5 is not a whole number; counts are whole");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "requests", 1e16, &e_),
                     ROLLOUT_ERR_METRICS, "new.requests",
                     "new.requests: 1e+16 is more than 2^53");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "availability", 1.5, &e_),
                     ROLLOUT_ERR_METRICS, "new.availability",
                     "new.availability: 1.5 is more than 100%");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "kpi", -NAN, &e_), ROLLOUT_ERR_METRICS,
                     "new.kpi", "new.kpi: -nan is NaN; metrics must be finite numbers");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "kpi", -INFINITY, &e_),
                     ROLLOUT_ERR_METRICS, "new.kpi",
                     "new.kpi: -inf is infinite; metrics must be finite numbers");
    /* nothing of the above was stored */
    double v;
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "requests", &v), ROLLOUT_ERR_NOT_FOUND);
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "kpi", &v), ROLLOUT_ERR_NOT_FOUND);
    rollout_metrics_free(m);
}

Test(metrics, a_refused_value_leaves_the_old_one)
{
    rollout_metrics *m = fresh();
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "critical_errors", 3, NULL), ROLLOUT_OK);
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, "critical_errors", NAN, NULL),
                 ROLLOUT_ERR_METRICS);
    cr_expect_eq(get(m, ROLLOUT_NEW, "critical_errors"), 3);
    rollout_metrics_free(m);
}

Test(metrics, errors_never_exceed_requests_in_either_order)
{
    rollout_metrics *m = fresh();
    EXPECT_API_ERROR(rollout_metrics_set_requests(m, ROLLOUT_NEW, 10, 12, &e_),
                     ROLLOUT_ERR_METRICS, "new.requests",
                     "new.requests: errors 12 is more than requests 10");
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "requests", 10, NULL), ROLLOUT_OK);
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "errors", 12, &e_), ROLLOUT_ERR_METRICS,
                     "new.errors", "new.errors: errors 12 is more than requests 10");
    rollout_metrics *m2 = fresh();
    cr_assert_eq(rollout_metrics_set(m2, ROLLOUT_STABLE, "errors", 12, NULL), ROLLOUT_OK);
    EXPECT_API_ERROR(rollout_metrics_set(m2, ROLLOUT_STABLE, "requests", 10, &e_),
                     ROLLOUT_ERR_METRICS, "baseline.requests",
                     "baseline.requests: requests 10 is fewer than errors 12");
    cr_expect_eq(rollout_metrics_set(m2, ROLLOUT_STABLE, "requests", 12, NULL), ROLLOUT_OK,
                 "equal is fine: every request failed");
    rollout_metrics_free(m);
    rollout_metrics_free(m2);
}

Test(metrics, percentiles_never_decrease)
{
    rollout_metrics *m = fresh();
    EXPECT_API_ERROR(rollout_metrics_set_latency(m, ROLLOUT_NEW, 0.2, 0.1, 0.3, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_p95",
                     "new.latency_p95: latency_p95 0.1s is below latency_p50 0.2s; percentiles "
                     "cannot decrease");
    cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p95", 1.5, NULL), ROLLOUT_OK);
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p99", 1.2, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_p99",
                     "new.latency_p99: latency_p99 1.2s is below latency_p95 1.5s; percentiles "
                     "cannot decrease");
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p50", 1.6, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_p50",
                     "new.latency_p50: latency_p50 1.6s is above latency_p95 1.5s; percentiles "
                     "cannot decrease");
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, "latency_p50", 1.5, NULL), ROLLOUT_OK);
    rollout_metrics_free(m);
}

Test(metrics, bad_samples_and_histograms)
{
    rollout_metrics *m = fresh();
    const double s[] = {0.1, 0.2, NAN};
    EXPECT_API_ERROR(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, s, 3, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_samples[2]",
                     "new.latency_samples[2]: nan is NaN; metrics must be finite numbers");
    const double neg[] = {0.1, -0.001};
    EXPECT_API_ERROR(rollout_metrics_set_latency_samples(m, ROLLOUT_STABLE, neg, 2, &e_),
                     ROLLOUT_ERR_METRICS, "baseline.latency_samples[1]",
                     "baseline.latency_samples[1]: -0.001 is negative; rates and times start "
                     "at 0");
    EXPECT_API_ERROR(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, s, 0, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_samples",
                     "new.latency_samples: no samples");
    const double le[] = {0.1, 0.1, 0.5}, le_inf[] = {0.1, INFINITY, 0.5};
    const uint64_t n[] = {1, 2, 3}, zero[] = {0, 0, 0};
    EXPECT_API_ERROR(rollout_metrics_set_latency_histogram(m, ROLLOUT_NEW, le, n, 3, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_histogram[1]",
                     "new.latency_histogram[1]: bound 0.1 is not above the previous bound 0.1; "
                     "buckets go up");
    EXPECT_API_ERROR(rollout_metrics_set_latency_histogram(m, ROLLOUT_NEW, le_inf, n, 3, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_histogram[1]",
                     "new.latency_histogram[1]: bound inf is infinite; metrics must be finite "
                     "numbers");
    const double ok[] = {0.1, 0.2, 0.5};
    EXPECT_API_ERROR(rollout_metrics_set_latency_histogram(m, ROLLOUT_NEW, ok, zero, 3, &e_),
                     ROLLOUT_ERR_METRICS, "new.latency_histogram",
                     "new.latency_histogram: the histogram holds no requests");
    rp_dist d;
    cr_expect(!rp_metrics_dist(m, ROLLOUT_NEW, &d), "nothing half-installed");
    cr_expect(!rp_metrics_dist(m, ROLLOUT_STABLE, &d));
    rollout_metrics_free(m);
}

Test(metrics, misuse_is_an_argument_error)
{
    rollout_metrics *m = fresh();
    rollout_error err;
    cr_expect_eq(rollout_metrics_set(NULL, ROLLOUT_NEW, "requests", 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set(m, 7, "requests", 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message,
                     "needs a snapshot and a variant (ROLLOUT_NEW or ROLLOUT_STABLE)");
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, "bad name", 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message,
                     "\"bad name\" is not a metric name (1-64 of A-Z a-z 0-9 - _ .)");
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, "", 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, NULL, 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_smoke(m, ROLLOUT_NEW, "a/b", 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message,
                     "\"a/b\" is not a smoke-test id (1-64 of A-Z a-z 0-9 - _ .)");
    cr_expect_eq(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, NULL, 3, &err),
                 ROLLOUT_ERR_ARG);
    double v;
    cr_expect_eq(rollout_metrics_get(m, 2, "requests", &v), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_get(NULL, ROLLOUT_NEW, "requests", &v), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_create(NULL), ROLLOUT_ERR_ARG);
    rollout_metrics_free(NULL);
    rollout_metrics_free(m);
}

Test(metrics, custom_metrics_are_capped)
{
    rollout_metrics *m = fresh();
    char name[16];
    for (int i = 0; i < ROLLOUT_MAX_CUSTOM_METRICS; i++) {
        snprintf(name, sizeof name, "m%d", i);
        cr_assert_eq(rollout_metrics_set(m, ROLLOUT_NEW, name, i, NULL), ROLLOUT_OK);
    }
    EXPECT_API_ERROR(rollout_metrics_set(m, ROLLOUT_NEW, "one-more", 1, &e_), ROLLOUT_ERR_LIMIT,
                     "new.one-more", "new.one-more: more than 256 custom metrics");
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, "m7", 70, NULL), ROLLOUT_OK,
                 "replacing an existing one is still fine");
    cr_expect_eq(get(m, ROLLOUT_NEW, "m7"), 70);
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_STABLE, "one-more", 1, NULL), ROLLOUT_OK,
                 "the cap is per version");
    rollout_metrics_free(m);
}

/* ---- the loader ----------------------------------------------------------------- */

Test(metrics_load, every_example_loads)
{
    static const char *const files[] = {
        "examples/metrics/healthy.yaml",       "examples/metrics/slightly-worse.yaml",
        "examples/metrics/clearly-worse.yaml", "examples/metrics/critical.yaml",
        "examples/metrics/no-data.yaml",       "examples/metrics/post-rollout.json"};
    for (size_t i = 0; i < RP_COUNT(files); i++) {
        rollout_metrics *m = NULL;
        rollout_error err;
        int rc = rollout_metrics_load_file(files[i], &m, &err);
        cr_expect_eq(rc, ROLLOUT_OK, "%s: %s", files[i], err.message);
        rollout_metrics_free(m);
    }
}

Test(metrics_load, healthy_reads_as_written)
{
    rollout_metrics *m = NULL;
    rollout_error err;
    cr_assert_eq(rollout_metrics_load_file("examples/metrics/healthy.yaml", &m, &err),
                 ROLLOUT_OK, "%s", err.message);
    cr_expect_eq(get(m, ROLLOUT_NEW, "requests"), 120000);
    cr_expect_eq(get(m, ROLLOUT_NEW, "errors"), 84);
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p50"), 0.18, "180ms");
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p95"), 1.4);
    cr_expect_eq(get(m, ROLLOUT_NEW, "issue_resolution_time"), 2400, "40m");
    cr_expect_eq(get(m, ROLLOUT_NEW, "availability"), 99.95 / 100);
    cr_expect_eq(get(m, ROLLOUT_NEW, "data_integrity_issues"), 0);
    cr_expect_eq(get(m, ROLLOUT_NEW, "usage_kpi_ratio"), 0.99);
    cr_expect_eq(get(m, ROLLOUT_STABLE, "requests"), 500000);
    cr_expect_eq(get(m, ROLLOUT_STABLE, "latency_p99"), 2.0);
    cr_expect_eq(get(m, ROLLOUT_STABLE, "usage_kpi_ratio"), 1.0);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "error-handling"), 1);
    rollout_metrics_free(m);
}

Test(metrics_load, json_with_samples)
{
    rollout_metrics *m = NULL;
    rollout_error err;
    cr_assert_eq(rollout_metrics_load_file("examples/metrics/post-rollout.json", &m, &err),
                 ROLLOUT_OK, "%s", err.message);
    cr_expect_eq(get(m, ROLLOUT_NEW, "availability"), 99.95 / 100);
    rp_dist d;
    cr_assert(rp_metrics_dist(m, ROLLOUT_NEW, &d));
    cr_expect_eq(d.total, 20);
    cr_expect_eq(d.v[0], 0.176);
    cr_expect_eq(d.v[d.n - 1], 1.9);
    cr_assert(rp_metrics_dist(m, ROLLOUT_STABLE, &d));
    cr_expect_eq(d.total, 20);
    rollout_metrics_free(m);
}

Test(metrics_load, value_spellings)
{
    static const char yaml[] =
        "new:\n"
        "  requests: 1.2e5\n"
        "  errors: '84'\n"
        "  latency_p50: 250us\n"
        "  latency_p95: 0.75\n"
        "  latency_p99: 1500ms\n"
        "  issue_resolution_time: 1h30m\n"
        "  availability: 0.999\n"
        "  smoke_tests: {a: true, b: false, c: passed, d: failed, e: fail}\n"
        "  custom: {kpi: 98%, delta: -3.5}\n"
        "baseline:\n"
        "  issue_resolution_time: 1.5h\n"
        "  latency_histogram:\n"
        "    - {le: 100ms, count: 5}\n"
        "    - {le: +Inf, count: 1}\n";
    rollout_metrics *m = NULL;
    rollout_error err;
    cr_assert_eq(rollout_metrics_load_buffer(yaml, strlen(yaml), "m.yaml", &m, &err),
                 ROLLOUT_OK, "%s", err.message);
    cr_expect_eq(get(m, ROLLOUT_NEW, "requests"), 120000);
    cr_expect_eq(get(m, ROLLOUT_NEW, "errors"), 84);
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p50"), 250 * 1e-6);
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p95"), 0.75, "a bare number is seconds");
    cr_expect_eq(get(m, ROLLOUT_NEW, "latency_p99"), 1.5);
    cr_expect_eq(get(m, ROLLOUT_NEW, "issue_resolution_time"), 5400);
    cr_expect_eq(get(m, ROLLOUT_STABLE, "issue_resolution_time"), 5400);
    cr_expect_eq(get(m, ROLLOUT_NEW, "availability"), 0.999);
    cr_expect_eq(get(m, ROLLOUT_NEW, "kpi"), 0.98);
    cr_expect_eq(get(m, ROLLOUT_NEW, "delta"), -3.5);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "a"), 1);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "b"), 0);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "c"), 1);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "d"), 0);
    cr_expect_eq(rp_metrics_smoke(m, ROLLOUT_NEW, "e"), 0);
    rp_dist d;
    cr_assert(rp_metrics_dist(m, ROLLOUT_STABLE, &d));
    cr_expect_eq(d.total, 6);
    cr_expect(isinf(d.v[1]));
    rollout_metrics_free(m);
}

typedef struct load_case {
    const char *yaml;
    int code;
    int line, col;
    const char *message;  /* complete, including "m.yaml:line:col: " */
} load_case;

static const load_case load_cases[] = {
    /* values: NaN, infinity, negative, fractional, too big, not a value */
    {"new:\n  requests: -5\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"-5\" is negative; counts start at 0"},
    {"new:\n  requests: 12.5\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"12.5\" is not a whole number; counts are whole"},
    {"new:\n  requests: 1e16\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"1e16\" is more than 2^53"},
    /* counts are read exactly from the text, not after rounding to a double */
    {"new:\n  requests: 9007199254740993\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"9007199254740993\" is more than 2^53"},
    {"new:\n  requests: 4503599627370496.5\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"4503599627370496.5\" is not a whole number; counts are "
     "whole"},
    {"new:\n  critical_errors: 1e-400\n", ROLLOUT_ERR_METRICS, 2, 20,
     "m.yaml:2:20: new.critical_errors: \"1e-400\" is not a whole number; counts are whole"},
    {"new:\n  critical_errors: 0.99999999999999999\n", ROLLOUT_ERR_METRICS, 2, 20,
     "m.yaml:2:20: new.critical_errors: \"0.99999999999999999\" is not a whole number; counts "
     "are whole"},
    {"new:\n  latency_histogram:\n    - {le: 1s, count: 1.0000000000000001}\n",
     ROLLOUT_ERR_METRICS, 3, 23,
     "m.yaml:3:23: new.latency_histogram[0].count: \"1.0000000000000001\" is not a whole "
     "number; counts are whole"},
    {"new:\n  requests: -1e-400\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"-1e-400\" is negative; counts start at 0"},
    {"new:\n  requests: 1e400\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"1e400\" is more than 2^53"},
    {"new:\n  requests: lots\n", ROLLOUT_ERR_METRICS, 2, 13,
     "m.yaml:2:13: new.requests: \"lots\" is not a whole number"},
    {"new:\n  latency_p95: fast\n", ROLLOUT_ERR_METRICS, 2, 16,
     "m.yaml:2:16: new.latency_p95: \"fast\" is not a latency (write 1.2s, 850ms or a number "
     "of seconds)"},
    {"new:\n  latency_p95: -2s\n", ROLLOUT_ERR_METRICS, 2, 16,
     "m.yaml:2:16: new.latency_p95: \"-2s\" is negative; rates and times start at 0"},
    {"new:\n  error_rate: 150%\n", ROLLOUT_ERR_METRICS, 2, 15,
     "m.yaml:2:15: new.error_rate: \"150%\" is more than 100%"},
    {"new:\n  availability: 99.9\n", ROLLOUT_ERR_METRICS, 2, 17,
     "m.yaml:2:17: new.availability: \"99.9\" is more than 100%"},
    {"new:\n  availability: 0.5 %\n", ROLLOUT_ERR_METRICS, 2, 17,
     "m.yaml:2:17: new.availability: \"0.5 %\" is not a rate (write 0.5% or 0.005)"},
    {"new:\n  issue_resolution_time: soon\n", ROLLOUT_ERR_METRICS, 2, 26,
     "m.yaml:2:26: new.issue_resolution_time: \"soon\" is not a duration (write 45m, 1h or a "
     "number of seconds)"},
    {"new:\n  custom: {kpi: high}\n", ROLLOUT_ERR_METRICS, 2, 17,
     "m.yaml:2:17: new.custom.kpi: \"high\" is not a number (write 0.98 or 98%)"},
    /* consistency */
    {"new:\n  requests: 10\n  errors: 12\n", ROLLOUT_ERR_METRICS, 3, 11,
     "m.yaml:3:11: new.errors: errors 12 is more than requests 10"},
    {"baseline:\n  errors: 12\n  requests: 10\nnew: {}\n", ROLLOUT_ERR_METRICS, 3, 13,
     "m.yaml:3:13: baseline.requests: requests 10 is fewer than errors 12"},
    {"new:\n  latency_p50: 2s\n  latency_p95: 1s\n", ROLLOUT_ERR_METRICS, 3, 16,
     "m.yaml:3:16: new.latency_p95: latency_p95 1s is below latency_p50 2s; percentiles "
     "cannot decrease"},
    /* samples and histograms */
    {"new:\n  latency_samples: [0.1, -1ms]\n", ROLLOUT_ERR_METRICS, 2, 26,
     "m.yaml:2:26: new.latency_samples[1]: \"-1ms\" is negative; rates and times start at 0"},
    {"new:\n  latency_samples: []\n", ROLLOUT_ERR_METRICS, 2, 20,
     "m.yaml:2:20: new.latency_samples: the list holds no samples"},
    {"new:\n  latency_samples: 0.2\n", ROLLOUT_ERR_TYPE, 2, 20,
     "m.yaml:2:20: new.latency_samples: expected a list, got a scalar"},
    {"new:\n  latency_samples: [0.1]\n  latency_histogram: [{le: 1s, count: 1}]\n",
     ROLLOUT_ERR_METRICS, 3, 22,
     "m.yaml:3:22: new.latency_histogram: give latency_samples or latency_histogram, not both"},
    {"new:\n  latency_histogram:\n    - {le: 100ms}\n", ROLLOUT_ERR_MISSING, 3, 7,
     "m.yaml:3:7: new.latency_histogram[0]: missing required key \"count\""},
    {"new:\n  latency_histogram:\n    - {le: 100ms, count: 5, sum: 3}\n",
     ROLLOUT_ERR_UNKNOWN_KEY, 3, 29,
     "m.yaml:3:29: new.latency_histogram[0].sum: unknown key \"sum\" (expected one of: le, "
     "count)"},
    {"new:\n  latency_histogram:\n    - {le: 200ms, count: 5}\n    - {le: 100ms, count: 5}\n",
     ROLLOUT_ERR_METRICS, 4, 7,
     "m.yaml:4:7: new.latency_histogram[1]: bucket bound 0.1 is not above the previous bound "
     "0.2; buckets go up"},
    {"new:\n  latency_histogram:\n    - {le: +Inf, count: 5}\n    - {le: 1s, count: 5}\n",
     ROLLOUT_ERR_METRICS, 3, 12,
     "m.yaml:3:12: new.latency_histogram[0].le: \"+Inf\" is infinite; metrics must be finite "
     "numbers"},
    {"new:\n  latency_histogram:\n    - {le: 1s, count: 1.5}\n", ROLLOUT_ERR_METRICS, 3, 23,
     "m.yaml:3:23: new.latency_histogram[0].count: \"1.5\" is not a whole number; counts are "
     "whole"},
    {"new:\n  latency_histogram:\n    - {le: 1s, count: 0}\n", ROLLOUT_ERR_METRICS, 3, 5,
     "m.yaml:3:5: new.latency_histogram: the histogram holds no requests"},
    /* smoke tests and custom metrics */
    {"new:\n  smoke_tests:\n    login: maybe\n", ROLLOUT_ERR_METRICS, 3, 12,
     "m.yaml:3:12: new.smoke_tests.login: \"maybe\" is not a smoke-test result (write pass or "
     "fail)"},
    {"new:\n  smoke_tests:\n    \"log in\": pass\n", ROLLOUT_ERR_METRICS, 3, 5,
     "m.yaml:3:5: new.smoke_tests.log in: \"log in\" is not a valid smoke-test id (1-64 of A-Z "
     "a-z 0-9 - _ .)"},
    {"new:\n  smoke_tests: [login]\n", ROLLOUT_ERR_TYPE, 2, 16,
     "m.yaml:2:16: new.smoke_tests: expected a mapping, got a list"},
    {"new:\n  custom:\n    critical_errors: 0\n", ROLLOUT_ERR_METRICS, 3, 5,
     "m.yaml:3:5: new.custom.critical_errors: \"critical_errors\" is a standard metric; write "
     "it outside custom:"},
    {"new:\n  custom:\n    kpi: 1\n    kpi: 2\n", ROLLOUT_ERR_DUPLICATE, 4, 5,
     "m.yaml:4:5: new.custom.kpi: key \"kpi\" appears twice (first at line 3, column 5)"},
    /* structure */
    {"new:\n  reqests: 5\n", ROLLOUT_ERR_UNKNOWN_KEY, 2, 3,
     "m.yaml:2:3: new.reqests: unknown key \"reqests\" (expected one of: requests, errors, "
     "error_rate, latency_p50, latency_p95, latency_p99, critical_errors, "
     "unhandled_exceptions, support_tickets, availability, issue_resolution_time, "
     "throughput, latency_samples, latency_histogram, smoke_tests, custom)"},
    {"neww: {}\n", ROLLOUT_ERR_UNKNOWN_KEY, 1, 1,
     "m.yaml:1:1: neww: unknown key \"neww\" (expected one of: format, new, baseline)"},
    {"baseline:\n  requests: 5\n", ROLLOUT_ERR_MISSING, 1, 1,
     "m.yaml:1:1: missing required key \"new\""},
    {"format: 2\nnew: {}\n", ROLLOUT_ERR_UNSUPPORTED, 1, 9,
     "m.yaml:1:9: format: metrics format 2 is not supported (this library reads format 1)"},
    {"- 1\n", ROLLOUT_ERR_TYPE, 1, 1, "m.yaml:1:1: expected a mapping, got a list"},
    {"new: [1]\n", ROLLOUT_ERR_TYPE, 1, 6, "m.yaml:1:6: new: expected a mapping, got a list"},
    {"new:\n  requests: {a: 1}\n", ROLLOUT_ERR_TYPE, 2, 13,
     "m.yaml:2:13: new.requests: expected a value, got a mapping"},
    {"new:\n  requests: 5\n  requests: 6\n", ROLLOUT_ERR_DUPLICATE, 3, 3,
     "m.yaml:3:3: new.requests: key \"requests\" appears twice (first at line 2, column 3)"},
    {"", ROLLOUT_ERR_EMPTY, 0, 0,
     "m.yaml: the metrics file is empty (it needs at least \"new:\")"},
};

Test(metrics_load, exact_counts)
{
    static const struct { const char *text; double want; } ok[] = {
        {"9007199254740992", 9007199254740992.0}, {"1.2e5", 120000}, {"12.50e1", 125},
        {"0.000", 0}, {"0e999999999", 0}, {"-0", 0}, {"+7", 7}, {"900719925474099.2e1",
        9007199254740992.0}, {"00012", 12}, {"1200e-2", 12}};
    for (size_t i = 0; i < RP_COUNT(ok); i++) {
        char yaml[96];
        snprintf(yaml, sizeof yaml, "new:\n  requests: %s\n", ok[i].text);
        rollout_metrics *m;
        rollout_error err;
        cr_assert_eq(rollout_metrics_load_buffer(yaml, strlen(yaml), "m.yaml", &m, &err),
                     ROLLOUT_OK, "%s: %s", ok[i].text, err.message);
        double v = -1;
        cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "requests", &v), ROLLOUT_OK);
        cr_expect_eq(v, ok[i].want, "%s read as %.17g", ok[i].text, v);
        rollout_metrics_free(m);
    }
}

/* NaN and infinities are what exporters write for "no data": the metric is
 * unusable (criteria reading it are INCONCLUSIVE, see test_evaluate), the
 * file is not refused. */
Test(metrics_load, nan_and_infinity_mark_the_metric_not_the_file)
{
    static const struct { const char *yaml, *name, *why; } cases[] = {
        {"new:\n  latency_p95: .nan\n", "latency_p95", "new.latency_p95 is NaN at m.yaml:2:16"},
        {"new:\n  latency_p95: -.inf\n", "latency_p95",
         "new.latency_p95 is infinite at m.yaml:2:16"},
        {"{\"new\": {\"requests\": NaN, \"errors\": 3}}", "error_rate",
         "new.requests is NaN at m.yaml:1:22"},
        {"{\"new\": {\"errors\": \"Infinity\"}}", "error_rate",
         "new.errors is infinite at m.yaml:1:20"},
        {"new:\n  custom: {kpi: .NaN}\n", "kpi", "new.kpi is NaN at m.yaml:2:17"},
        {"new:\n  latency_samples: [0.1, 0.2, .nan]\n", "latency_p50",
         "new.latency_samples is NaN at m.yaml:2:31"},
        {"new:\n  latency_histogram:\n    - {le: .nan, count: 1}\n", "latency_p99",
         "new.latency_histogram is NaN at m.yaml:3:12"},
        {"new:\n  latency_histogram:\n    - {le: 1s, count: .nan}\n", "latency_p99",
         "new.latency_histogram is NaN at m.yaml:3:23"},
        {"new:\n  requests: 10\n  latency_p95: 1e308h\n", "latency_p95",
         "new.latency_p95 is infinite at m.yaml:3:16"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        rollout_metrics *m = NULL;
        rollout_error err;
        int rc = rollout_metrics_load_buffer(cases[i].yaml, strlen(cases[i].yaml), "m.yaml", &m,
                                             &err);
        cr_assert_eq(rc, ROLLOUT_OK, "case %zu: %s", i, err.message);
        double v;
        cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, cases[i].name, &v),
                     ROLLOUT_ERR_NOT_FOUND, "case %zu", i);
        char why[160] = "";
        const char *n = cases[i].name;
        cr_expect(rp_metrics_bad(m, ROLLOUT_NEW, rp_metric_lookup(n, strlen(n)), n, why,
                                 sizeof why), "case %zu", i);
        cr_expect_str_eq(why, cases[i].why, "case %zu", i);
        rollout_metrics_free(m);
    }
}

Test(metrics_load, every_error_path)
{
    for (size_t i = 0; i < RP_COUNT(load_cases); i++) {
        const load_case *t = &load_cases[i];
        rollout_metrics *m = (rollout_metrics *)1;
        rollout_error err;
        memset(&err, 0, sizeof err);
        int rc = rollout_metrics_load_buffer(t->yaml, strlen(t->yaml), "m.yaml", &m, &err);
        cr_expect_eq(rc, t->code, "case %zu: got %s (%s)", i, rollout_code_name(rc),
                     err.message);
        cr_expect_eq(err.code, t->code, "case %zu", i);
        cr_expect_null(m, "case %zu: a failed load leaves *out NULL", i);
        cr_expect_eq(err.line, t->line, "case %zu: line %d", i, err.line);
        cr_expect_eq(err.column, t->col, "case %zu: column %d", i, err.column);
        cr_expect_str_eq(err.message, t->message, "case %zu", i);
        cr_expect_str_eq(err.file, "m.yaml", "case %zu", i);
    }
}

Test(metrics_load, empty_values_and_syntax)
{
    rollout_metrics *m;
    rollout_error err;
    static const char empty_value[] = "new:\n  requests:\n";
    cr_expect_eq(rollout_metrics_load_buffer(empty_value, strlen(empty_value), "m.yaml", &m, &err),
                 ROLLOUT_ERR_TYPE);
    cr_expect_eq(err.line, 2);
    cr_expect_str_eq(err.field, "new.requests");
    static const char bad_yaml[] = "new: {requests: 5\n";
    cr_expect_eq(rollout_metrics_load_buffer(bad_yaml, strlen(bad_yaml), "m.yaml", &m, &err),
                 ROLLOUT_ERR_SYNTAX);
    cr_expect_gt(err.line, 0);
    static const char latin1[] = "new:\n  custom:\n    caf\xe9: 1\n";
    cr_expect_eq(rollout_metrics_load_buffer(latin1, strlen(latin1), "m.yaml", &m, &err),
                 ROLLOUT_ERR_ENCODING);
    cr_expect_eq(err.line, 3);
    cr_expect_null(m);
}

Test(metrics_load, io_and_size_limits)
{
    rollout_metrics *m = (rollout_metrics *)1;
    rollout_error err;
    cr_expect_eq(rollout_metrics_load_file("tests/no-such-metrics.yaml", &m, &err),
                 ROLLOUT_ERR_IO);
    cr_expect_null(m);
    cr_expect_str_eq(err.message,
                     "tests/no-such-metrics.yaml: cannot open: No such file or directory");
    size_t big = ROLLOUT_MAX_METRICS_BYTES + 1;
    char *buf = malloc(big);
    cr_assert(buf);
    memset(buf, ' ', big);
    cr_expect_eq(rollout_metrics_load_buffer(buf, big, "big.yaml", &m, &err), ROLLOUT_ERR_LIMIT);
    cr_expect_str_eq(err.message, "big.yaml: the metrics file is 4194305 bytes; the limit is "
                                  "4194304");
    free(buf);
    cr_expect_eq(rollout_metrics_load_buffer(NULL, 3, NULL, &m, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_load_buffer("new: {}", 7, NULL, NULL, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_load_file(NULL, &m, &err), ROLLOUT_ERR_ARG);
}

Test(metrics_load, buffer_name_defaults)
{
    rollout_metrics *m;
    rollout_error err;
    cr_expect_eq(rollout_metrics_load_buffer("neww: 1", 7, NULL, &m, &err),
                 ROLLOUT_ERR_UNKNOWN_KEY);
    cr_expect_str_eq(err.file, "<buffer>");
    /* not NUL-terminated: only len bytes are read */
    static const char text[] = "new: {requests: 5}garbage";
    cr_assert_eq(rollout_metrics_load_buffer(text, 18, NULL, &m, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_expect_eq(get(m, ROLLOUT_NEW, "requests"), 5);
    rollout_metrics_free(m);
}

/* The YAML reader's rules hold for snapshots as for plans: one key per
 * mapping, no tags that change the value, control characters placed, a cap
 * on anchors. (A unit that scales a number out of the doubles makes that
 * metric bad, not the file: nan_and_infinity_mark_the_metric_not_the_file.) */
static void expect_metrics_error(const char *yaml, size_t len, int code, int line, int col,
                                 const char *message)
{
    rollout_metrics *m = (rollout_metrics *)1;
    rollout_error err;
    memset(&err, 0, sizeof err);
    int rc = rollout_metrics_load_buffer(yaml, len, "m.yaml", &m, &err);
    cr_expect_eq(rc, code, "got %s (%s)", rollout_code_name(rc), err.message);
    cr_expect_null(m);
    cr_expect_eq(err.line, line, "line %d (%s)", err.line, err.message);
    cr_expect_eq(err.column, col, "column %d (%s)", err.column, err.message);
    cr_expect_str_eq(err.message, message);
}

Test(metrics_load, the_yaml_readers_rules_apply)
{
    const char *dup = "new: {requests: 5}\nbaseline: {requests: 5}\nnew: {requests: 9}\n";
    expect_metrics_error(dup, strlen(dup), ROLLOUT_ERR_DUPLICATE, 3, 1,
                         "m.yaml:3:1: new: key \"new\" appears twice (first at line 1, column 1)");
    const char *tag = "new:\n  requests: !!float 5\n";
    expect_metrics_error(tag, strlen(tag), ROLLOUT_ERR_TYPE, 2, 13,
                         "m.yaml:2:13: new.requests: YAML tag !!float is not allowed on a scalar "
                         "(plans and metrics take no tags but !!str, !!seq and !!map on their "
                         "own kind)");
    const char *ctl = "new:\n  requests: 5\x08\n";
    expect_metrics_error(ctl, strlen(ctl), ROLLOUT_ERR_ENCODING, 2, 14,
                         "m.yaml:2:14: control character U+0008 is not allowed in YAML text "
                         "(write it as an escape inside double quotes)");
}

static char *samples_with_anchors(int n, size_t *len)
{
    size_t cap = 64 + (size_t)n * 24;
    char *s = malloc(cap);
    cr_assert(s);
    size_t off = (size_t)snprintf(s, cap, "new:\n  requests: 10\n  latency_samples: [");
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s&a%d %d", i ? ", " : "", i, i % 100);
    off += (size_t)snprintf(s + off, cap - off, "]\n  custom: {x: *a%d}\n", n - 1);
    cr_assert_lt(off, cap);
    *len = off;
    return s;
}

Test(metrics_load, anchors_are_capped)
{
    size_t len;
    char *yaml = samples_with_anchors(ROLLOUT_MAX_ANCHORS, &len);
    rollout_metrics *m = NULL;
    rollout_error err;
    cr_expect_eq(rollout_metrics_load_buffer(yaml, len, "m.yaml", &m, &err), ROLLOUT_OK, "%s",
                 err.message);
    rollout_metrics_free(m);
    free(yaml);
    yaml = samples_with_anchors(ROLLOUT_MAX_ANCHORS + 1, &len);
    m = (rollout_metrics *)1;
    cr_expect_eq(rollout_metrics_load_buffer(yaml, len, "m.yaml", &m, &err), ROLLOUT_ERR_LIMIT);
    cr_expect_null(m);
    cr_expect_eq(err.line, 3);
    cr_expect(strstr(err.message, "more than 50000 anchors (&name) in the file") != NULL, "%s",
              err.message);
    free(yaml);
}
