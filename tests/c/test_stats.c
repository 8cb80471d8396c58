/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c — lib/stats.c against tests/vectors/stats.json (reference
 * values from scipy and 60-digit mpmath, see tests/vectors/gen_stats.py),
 * plus the edge cases the vectors cannot express (infinities, degenerate
 * variances, exact tails small enough to count by hand).
 *
 * Tolerance: 1e-9 relative, as the vectors file records; values below
 * 1e-12 in magnitude are compared absolutely to 1e-15, and CDF values that
 * underflow below 1e-300 (subnormal in double) to 1e-300 absolutely.
 */
#include "stats.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VECTORS "tests/vectors/stats.json"

static rp_arena arena;
static rp_node *vectors;

static void load_vectors(void)
{
    memset(&arena, 0, sizeof arena);
    vectors = t_json(&arena, VECTORS);
}

static void free_vectors(void)
{
    rp_arena_free(&arena);
}

TestSuite(stats, .init = load_vectors, .fini = free_vectors);

static const rp_node *field(const rp_node *map, const char *key)
{
    const rp_node *v = rp_map_get(map, key);
    cr_assert(v, "vector lacks \"%s\"", key);
    return v;
}

static double num(const rp_node *map, const char *key)
{
    const rp_node *v = field(map, key);
    cr_assert_eq(v->kind, RP_SCALAR);
    return strtod(v->str, NULL);
}

static const rp_node *rows(const char *section)
{
    const rp_node *v = field(vectors, section);
    cr_assert_eq(v->kind, RP_SEQ);
    cr_assert_gt(v->n, 0);
    return v;
}

static bool close_to(double got, double want)
{
    if (got == want)
        return true;
    if (fabs(want) < 1e-12)
        return fabs(got - want) <= 1e-15;
    return fabs(got - want) <= 1e-9 * fabs(want);
}

#define EXPECT_CLOSE(got, want, ...)                                                           \
    cr_expect(close_to((got), (want)), "got %.17g, want %.17g: " __VA_ARGS__)

/* Distinct values with their counts, sorted: what rp_mann_whitney takes.
 * Built here from the vectors' plain lists rather than by the library. */
typedef struct tdist {
    double *v, *c;
    rp_dist d;
} tdist;

static int cmp_pair(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static tdist make_dist(const rp_node *list, bool pairs)
{
    size_t n = list->n;
    double *tmp = malloc(2 * n * sizeof *tmp);
    cr_assert(tmp);
    for (size_t i = 0; i < n; i++) {
        const rp_node *it = list->items[i];
        if (pairs) {
            tmp[2 * i] = strtod(it->items[0]->str, NULL);
            tmp[2 * i + 1] = strtod(it->items[1]->str, NULL);
        } else {
            tmp[2 * i] = strtod(it->str, NULL);
            tmp[2 * i + 1] = 1;
        }
    }
    qsort(tmp, n, 2 * sizeof *tmp, cmp_pair);
    tdist t = {malloc(n * sizeof(double)), malloc(n * sizeof(double)), {0}};
    cr_assert(t.v && t.c);
    size_t k = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && t.v[k - 1] == tmp[2 * i]) {
            t.c[k - 1] += tmp[2 * i + 1];
        } else {
            t.v[k] = tmp[2 * i];
            t.c[k++] = tmp[2 * i + 1];
        }
        total += tmp[2 * i + 1];
    }
    free(tmp);
    t.d = (rp_dist){t.v, t.c, k, total};
    return t;
}

static void free_dist(tdist *t)
{
    free(t->v);
    free(t->c);
}

/* ---- the vectors ------------------------------------------------------------ */

Test(stats, vectors_record_their_provenance)
{
    cr_assert_str_eq(field(vectors, "command")->str,
                     "/usr/bin/python3 tests/vectors/gen_stats.py > tests/vectors/stats.json");
    cr_assert_str_eq(field(vectors, "scipy")->str, "1.10.1");
}

Test(stats, normal_cdf_and_sf)
{
    const rp_node *r = rows("norm_cdf");
    for (size_t i = 0; i < r->n; i++) {
        double x = num(r->items[i], "x");
        double cdf = num(r->items[i], "cdf"), sf = num(r->items[i], "sf");
        if (cdf < 1e-300)
            cr_expect(fabs(rp_norm_cdf(x) - cdf) <= 1e-300, "cdf(%g)", x);
        else
            EXPECT_CLOSE(rp_norm_cdf(x), cdf, "cdf(%g)", x);
        if (sf < 1e-300)
            cr_expect(fabs(rp_norm_sf(x) - sf) <= 1e-300, "sf(%g)", x);
        else
            EXPECT_CLOSE(rp_norm_sf(x), sf, "sf(%g)", x);
    }
}

Test(stats, normal_quantile)
{
    const rp_node *r = rows("norm_ppf");
    for (size_t i = 0; i < r->n; i++) {
        double p = num(r->items[i], "p");
        EXPECT_CLOSE(rp_norm_ppf(p), num(r->items[i], "x"), "ppf(%.17g)", p);
    }
}

Test(stats, wilson_bounds)
{
    const rp_node *r = rows("wilson");
    for (size_t i = 0; i < r->n; i++) {
        const rp_node *v = r->items[i];
        double lo, hi;
        rp_wilson(num(v, "x"), num(v, "n"), num(v, "confidence"), &lo, &hi);
        EXPECT_CLOSE(lo, num(v, "lower"), "lower, x=%s n=%s", field(v, "x")->str,
                     field(v, "n")->str);
        EXPECT_CLOSE(hi, num(v, "upper"), "upper, x=%s n=%s", field(v, "x")->str,
                     field(v, "n")->str);
    }
}

Test(stats, score_test)
{
    const rp_node *r = rows("score_test");
    for (size_t i = 0; i < r->n; i++) {
        const rp_node *v = r->items[i];
        EXPECT_CLOSE(rp_score_pvalue(num(v, "x"), num(v, "n"), num(v, "p0")), num(v, "p"),
                     "x=%s n=%s p0=%s", field(v, "x")->str, field(v, "n")->str,
                     field(v, "p0")->str);
    }
}

Test(stats, two_proportion_tests)
{
    const rp_node *r = rows("two_proportion");
    for (size_t i = 0; i < r->n; i++) {
        const rp_node *v = r->items[i];
        double z;
        double p = rp_two_prop_pvalue(num(v, "x1"), num(v, "n1"), num(v, "x2"), num(v, "n2"),
                                      num(v, "ratio"), &z);
        EXPECT_CLOSE(p, num(v, "p"), "p, row %zu", i);
        EXPECT_CLOSE(z, num(v, "z"), "z, row %zu", i);
    }
}

Test(stats, mann_whitney_raw_samples)
{
    const rp_node *r = rows("mann_whitney");
    for (size_t i = 0; i < r->n; i++) {
        const rp_node *v = r->items[i];
        tdist x = make_dist(field(v, "x"), false), y = make_dist(field(v, "y"), false);
        rp_mwu w;
        cr_assert_eq(rp_mann_whitney(&x.d, &y.d, num(v, "scale"), &w), ROLLOUT_OK);
        const char *label = field(v, "label")->str;
        cr_expect_eq(w.exact, strcmp(field(v, "method")->str, "exact") == 0, "%s", label);
        EXPECT_CLOSE(w.u, num(v, "u"), "U of %s", label);
        EXPECT_CLOSE(w.p, num(v, "p"), "p of %s", label);
        free_dist(&x);
        free_dist(&y);
    }
}

Test(stats, mann_whitney_grouped_huge_counts)
{
    const rp_node *r = rows("mann_whitney_grouped");
    for (size_t i = 0; i < r->n; i++) {
        const rp_node *v = r->items[i];
        tdist x = make_dist(field(v, "x"), true), y = make_dist(field(v, "y"), true);
        rp_mwu w;
        cr_assert_eq(rp_mann_whitney(&x.d, &y.d, num(v, "scale"), &w), ROLLOUT_OK);
        const char *label = field(v, "label")->str;
        cr_expect(!w.exact && w.ties, "%s", label);
        EXPECT_CLOSE(w.u, num(v, "u"), "U of %s", label);
        EXPECT_CLOSE(w.z, num(v, "z"), "z of %s", label);
        EXPECT_CLOSE(w.p, num(v, "p"), "p of %s", label);
        free_dist(&x);
        free_dist(&y);
    }
}

Test(stats, quantiles)
{
    const rp_node *r = rows("quantile");
    for (size_t i = 0; i < r->n; i++) {
        const rp_node *v = r->items[i];
        tdist d = make_dist(field(v, "values"), false);
        double q = num(v, "q");
        EXPECT_CLOSE(rp_dist_quantile(&d.d, q), num(v, "value"), "q=%g, row %zu", q, i);
        free_dist(&d);
    }
}

/* ---- edges the vectors cannot hold ----------------------------------------- */

Test(stats, quantile_function_at_its_ends)
{
    cr_expect(isinf(rp_norm_ppf(0.0)) && rp_norm_ppf(0.0) < 0);
    cr_expect(isinf(rp_norm_ppf(1.0)) && rp_norm_ppf(1.0) > 0);
    cr_expect(isnan(rp_norm_ppf(-0.1)));
    cr_expect(isnan(rp_norm_ppf(1.5)));
    cr_expect(isnan(rp_norm_ppf(NAN)));
    cr_expect_eq(rp_norm_ppf(0.5), 0.0);
    cr_expect_eq(rp_norm_cdf(0.0), 0.5);
    cr_expect_eq(rp_norm_cdf(-INFINITY), 0.0);
    cr_expect_eq(rp_norm_sf(INFINITY), 0.0);
}

Test(stats, wilson_at_zero_all_and_even_odds)
{
    double lo, hi;
    rp_wilson(0, 1000, 0.95, &lo, &hi);
    cr_expect_eq(lo, 0.0, "no errors: the lower bound is exactly 0");
    cr_expect_gt(hi, 0.0);
    rp_wilson(1000, 1000, 0.95, &lo, &hi);
    cr_expect_leq(hi, 1.0);
    cr_expect(close_to(hi, 1.0));
    /* at 50 % confidence z = 0: both bounds collapse onto the rate */
    rp_wilson(3, 8, 0.5, &lo, &hi);
    cr_expect(close_to(lo, 0.375) && close_to(hi, 0.375), "lo %g hi %g", lo, hi);
}

Test(stats, two_proportions_without_noise)
{
    double z;
    /* nothing failed anywhere: no evidence the new version is worse */
    cr_expect_eq(rp_two_prop_pvalue(0, 500, 0, 500, 1.0, &z), 1.0);
    cr_expect_eq(z, 0.0);
    cr_expect_eq(rp_two_prop_pvalue(0, 10000, 0, 10000, 1.2, &z), 1.0);
    cr_expect_eq(z, 0.0);
    /* everything failed on both sides: equal, so no evidence either */
    cr_expect_eq(rp_two_prop_pvalue(500, 500, 500, 500, 1.0, &z), 1.0);
    /* ... but only at ratio 1: with R != 1 the restricted rates are not 0
     * or 1, the variance is positive and the score test decides.
     * 100/100 against 100/100, R = 1.1: a = 220, b = -420, c = 200,
     * sqrt(b^2 - 4ac) = 20, p2 = 400/440 = 10/11, p1 = 1;
     * var = 0 + 1.21 * (10/11)(1/11) / 100 = 0.001, z = -0.1/sqrt(0.001). */
    double p = rp_two_prop_pvalue(100, 100, 100, 100, 1.1, &z);
    cr_expect(close_to(z, -sqrt(10.0)), "z %.17g", z);
    cr_expect(close_to(p, rp_norm_sf(-sqrt(10.0))), "p %.17g", p);
    /* R = 0.9: a = 180, b = -380, c = 200, root 1, p1 = 0.9;
     * var = 0.9 * 0.1 / 100 = 0.0009, z = 0.1 / 0.03 = 10/3 */
    p = rp_two_prop_pvalue(100, 100, 100, 100, 0.9, &z);
    cr_expect(close_to(z, 10.0 / 3.0), "z %.17g", z);
    cr_expect(close_to(p, rp_norm_sf(10.0 / 3.0)), "p %.17g", p);
}

Test(stats, farrington_manning_by_hand)
{
    /* 10/10 against 0/10 with ratio 2: a = 40, b = -40, c = 10, so the
     * restricted rates are p2 = 0.5, p1 = 1; var = 0 + 4 * 0.25 / 10 = 0.1
     * and z = (1 - 0) / sqrt(0.1) = sqrt(10). */
    double z;
    double p = rp_two_prop_pvalue(10, 10, 0, 10, 2.0, &z);
    cr_expect(close_to(z, sqrt(10.0)), "z %.17g", z);
    cr_expect(close_to(p, rp_norm_sf(sqrt(10.0))));
    /* 0/10 against 10/10: restricted p2 = 0.25, p1 = 0.5, var = 0.025 +
     * 4 * 0.1875 / 10 = 0.1, z = (0 - 2) / sqrt(0.1) */
    p = rp_two_prop_pvalue(0, 10, 10, 10, 2.0, &z);
    cr_expect(close_to(z, -2.0 / sqrt(0.1)), "z %.17g", z);
}

static rp_dist plain(const double *v, size_t n)
{
    return (rp_dist){v, NULL, n, (double)n};
}

Test(stats, exact_tails_counted_by_hand)
{
    /* 3 vs 3 with every x above every y: 1 arrangement of C(6,3) = 20 */
    const double x[] = {4, 5, 6}, y[] = {1, 2, 3};
    rp_dist dx = plain(x, 3), dy = plain(y, 3);
    rp_mwu w;
    cr_assert_eq(rp_mann_whitney(&dx, &dy, 1.0, &w), ROLLOUT_OK);
    cr_expect(w.exact && !w.ties);
    cr_expect_eq(w.u, 9.0);
    cr_expect(close_to(w.p, 1.0 / 20));
    /* reversed: every arrangement has U >= 0 */
    cr_assert_eq(rp_mann_whitney(&dy, &dx, 1.0, &w), ROLLOUT_OK);
    cr_expect_eq(w.u, 0.0);
    cr_expect_eq(w.p, 1.0);
    /* 4 vs 4, U = 16: 1 / C(8,4) = 1/70; U >= 15: 2/70 */
    cr_expect(close_to(rp_mwu_exact_sf(16, 4, 4), 1.0 / 70));
    cr_expect(close_to(rp_mwu_exact_sf(15, 4, 4), 2.0 / 70));
    cr_expect_eq(rp_mwu_exact_sf(0, 4, 4), 1.0);
    cr_expect_eq(rp_mwu_exact_sf(17, 4, 4), 0.0);
    /* 1 vs 2: U in {0, 1, 2} equally likely */
    cr_expect(close_to(rp_mwu_exact_sf(2, 1, 2), 1.0 / 3));
    cr_expect(close_to(rp_mwu_exact_sf(1, 2, 1), 2.0 / 3));
}

Test(stats, scaling_the_baseline_moves_the_comparison)
{
    /* y * 2 lies above every x, so x is not greater: p = 1 exactly */
    const double x[] = {1.5, 2.5, 3.5}, y[] = {1, 2, 3};
    rp_dist dx = plain(x, 3), dy = plain(y, 3);
    rp_mwu w;
    cr_assert_eq(rp_mann_whitney(&dx, &dy, 1.0, &w), ROLLOUT_OK);
    cr_expect_eq(w.u, 6.0, "1.5>1, 2.5>1,2, 3.5>1,2,3");
    cr_assert_eq(rp_mann_whitney(&dx, &dy, 2.0, &w), ROLLOUT_OK);
    cr_expect_eq(w.u, 2.0, "y becomes 2, 4, 6: only 2.5 > 2 and 3.5 > 2");
    /* a tie created by scaling: 3 * 0.5 == 1.5 counts one half */
    cr_assert_eq(rp_mann_whitney(&dx, &dy, 0.5, &w), ROLLOUT_OK);
    cr_expect(w.ties && !w.exact);
    cr_expect_eq(w.u, 8.5);
}

Test(stats, all_tied_means_no_evidence)
{
    const double v[] = {0.2};
    const double cx[] = {1e6}, cy[] = {3e6};
    rp_dist dx = {v, cx, 1, 1e6}, dy = {v, cy, 1, 3e6};
    rp_mwu w;
    cr_assert_eq(rp_mann_whitney(&dx, &dy, 1.0, &w), ROLLOUT_OK);
    cr_expect_eq(w.p, 1.0);
    cr_expect_eq(w.z, 0.0);
    cr_expect_eq(w.u, 1.5e12, "every pair ties: U = n1*n2/2");
}

Test(stats, counts_near_the_cap_do_not_overflow)
{
    /* 2^49 requests on each side: half of the canary's moved from the
     * 0.2 s bucket to 0.4 s */
    const double h = 281474976710656.0; /* 2^48 */
    const double vx[] = {0.1, 0.4}, vy[] = {0.1, 0.2}, k[] = {h, h};
    rp_dist dx = {vx, k, 2, 2 * h}, dy = {vy, k, 2, 2 * h};
    rp_mwu w;
    cr_assert_eq(rp_mann_whitney(&dx, &dy, 1.0, &w), ROLLOUT_OK);
    cr_expect(isfinite(w.z) && w.z > 1e6, "z %g", w.z);
    cr_expect_eq(w.p, 0.0);
    /* U by hand: x=0.4 beats every y (2^48 * 2^49 pairs), x=0.1 ties
     * y=0.1 (half of 2^48 * 2^48) */
    cr_expect_eq(w.u, h * 2 * h + 0.5 * h * h);
}

Test(stats, quantile_with_an_open_top_bucket)
{
    const double v[] = {0.5, INFINITY}, c[] = {3, 1};
    rp_dist d = {v, c, 2, 4};
    cr_expect_eq(rp_dist_quantile(&d, 0.0), 0.5);
    cr_expect_eq(rp_dist_quantile(&d, 0.5), 0.5, "h = 1.5 falls between two 0.5s");
    cr_expect(isinf(rp_dist_quantile(&d, 1.0)));
}
