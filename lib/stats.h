/* SPDX-License-Identifier: MIT */
/*
 * stats.h — the statistics behind evaluation (stats.c), in plain C with no
 * dependency beyond libm. Formulas and their sources are in
 * docs/evaluation.md; tests/vectors/stats.json holds independent reference
 * values computed with scipy and mpmath.
 */
#ifndef ROLLOUT_STATS_H
#define ROLLOUT_STATS_H

#include <stdbool.h>
#include <stddef.h>

/* Standard normal CDF, survival function (1 - CDF, computed without the
 * cancellation) and quantile. Full double precision in both tails. The
 * quantile returns -inf at 0, +inf at 1 and NaN outside [0, 1]. */
double rp_norm_cdf(double x);
double rp_norm_sf(double x);
double rp_norm_ppf(double p);

/* One-sided Wilson score bounds for x successes in n trials at confidence
 * c (0.5 <= c < 1): lower is the bound "p >= lower with confidence c",
 * upper "p <= upper". n must be > 0 and 0 <= x <= n. */
void rp_wilson(double x, double n, double c, double *lower, double *upper);

/* p-value of the one-sided score test of H1 "p > p0" for x in n: the test
 * whose inversion is the Wilson bound, so p < 1 - c exactly when
 * lower > p0. p0 must be in (0, 1); n > 0. */
double rp_score_pvalue(double x, double n, double p0);

/* One-sided two-proportion score test of H1 "p1 > ratio * p2" (ratio > 0):
 * z = (p1 - ratio*p2) / sd, with sd from the rates that maximize the
 * likelihood under p1 = ratio * p2 (Farrington-Manning); at ratio == 1 that
 * is the classical pooled z-test. When the variance is zero the difference
 * decides: p = 0 when p1 > ratio * p2, else 1. *z (if not NULL) receives
 * the statistic (+-inf in the degenerate case). n1, n2 > 0. */
double rp_two_prop_pvalue(double x1, double n1, double x2, double n2, double ratio,
                          double *z);

/* A distribution of observations: strictly increasing values v with counts
 * c (each >= 1; c NULL means every count is 1). total is the sum of counts,
 * at most RP_DIST_MAX_TOTAL so rank arithmetic stays exact. */
typedef struct rp_dist {
    const double *v;
    const double *c;
    size_t n;
    double total;
} rp_dist;

#define RP_DIST_MAX_TOTAL 1125899906842624.0 /* 2^50 */
/* Exact Mann-Whitney p-values only up to this n1 * n2; beyond it the
 * normal approximation is accurate and the exact recursion too slow. */
#define RP_MWU_EXACT_MAX 2500.0

typedef struct rp_mwu {
    double u;        /* U of x: pairs with x > y, ties counting one half */
    double z;        /* standardized statistic (NaN when exact) */
    double p;        /* one-sided p-value of H1 "x stochastically greater" */
    bool exact;      /* p from the exact null distribution */
    bool ties;       /* some values tie (within or across samples) */
} rp_mwu;

/* One-sided Mann-Whitney U test of x against y with every y value
 * multiplied by y_scale (> 0): H1 "x is stochastically greater than
 * y_scale * y". Exact (no ties, n1 * n2 <= RP_MWU_EXACT_MAX) or the normal
 * approximation with tie correction and continuity correction. Both
 * samples must be non-empty. Returns ROLLOUT_OK, or ROLLOUT_ERR_NOMEM when
 * the exact recursion cannot get its scratch memory. */
int rp_mann_whitney(const rp_dist *x, const rp_dist *y, double y_scale, rp_mwu *out);

/* Exact upper tail P(U >= u) of the Mann-Whitney U statistic under H0 for
 * samples of sizes n1 and n2 without ties. Returns NaN when out of memory. */
double rp_mwu_exact_sf(double u, size_t n1, size_t n2);

/* The q-quantile (0 <= q <= 1) of d with linear interpolation between
 * order statistics (numpy's default, "type 7"). d must be non-empty. */
double rp_dist_quantile(const rp_dist *d, double q);

#endif /* ROLLOUT_STATS_H */
