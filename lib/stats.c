/* SPDX-License-Identifier: MIT */
/*
 * stats.c — normal distribution, Wilson score bounds, two-proportion tests
 * and the Mann-Whitney U test, written so that tiny and huge counts keep
 * full double precision: every formula is arranged to avoid subtracting
 * nearly equal numbers (see docs/evaluation.md for the algebra).
 */
#include "stats.h"

#include "rollout.h"

#include <math.h>
#include <stdlib.h>

/* Not every libc exposes M_SQRT1_2 under strict C11. */
#define RP_SQRT1_2 0.70710678118654752440084436210484903928

double rp_norm_cdf(double x)
{
    /* erfc keeps full relative precision in the lower tail where
     * 1 - erf(...) would round to 0 below about x = -8. */
    return 0.5 * erfc(-x * RP_SQRT1_2);
}

double rp_norm_sf(double x)
{
    return 0.5 * erfc(x * RP_SQRT1_2);
}

/* Wichura's AS241 (PPND16), accurate to about 1e-16 relative. */
double rp_norm_ppf(double p)
{
    if (isnan(p) || p < 0.0 || p > 1.0)
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;

    double q = p - 0.5;
    if (fabs(q) <= 0.425) {
        double r = 0.180625 - q * q;
        return q *
               (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
                     6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r +
                   1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
                 1.3314166789178437745e+2) * r + 3.3871328727963666080e+0) /
               (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
                     3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
                   5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
                 4.2313330701600911252e+1) * r + 1.0);
    }

    /* The tail branch works on the smaller of p and 1 - p; for p > 0.5 the
     * subtraction is exact (Sterbenz) so no precision is lost here. */
    double r = q < 0 ? p : 1.0 - p;
    r = sqrt(-log(r));
    double val;
    if (r <= 5.0) {
        r -= 1.6;
        val = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
                    2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r +
                  3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r +
                4.63033784615654529590e+0) * r + 1.42343711074968357734e+0) /
              (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
                    1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
                  6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r +
                2.05319162663775882187e+0) * r + 1.0);
    } else {
        r -= 5.0;
        val = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
                    1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
                  2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r +
                5.46378491116411436990e+0) * r + 6.65790464350110377720e+0) /
              (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
                    1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
                  1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
                5.99832206555887937690e-1) * r + 1.0);
    }
    return q < 0 ? -val : val;
}

void rp_wilson(double x, double n, double c, double *lower, double *upper)
{
    double z = rp_norm_ppf(c);
    double ph = x / n;
    double qh = (n - x) / n;  /* exact counts, so no 1 - ph rounding */
    double z2n = z * z / n;
    double center = ph + z2n / 2.0;
    double half = z * sqrt(ph * qh / n + z2n / (4.0 * n));
    double denom = 1.0 + z2n;
    /* (center - half) / denom == ph^2 / (center + half): the textbook form
     * cancels catastrophically for a tiny rate over a huge n. */
    double lo = center + half > 0 ? ph * ph / (center + half) : 0.0;
    double hi = (center + half) / denom;
    if (hi > 1.0)
        hi = 1.0;
    if (lower)
        *lower = lo;
    if (upper)
        *upper = hi;
}

double rp_score_pvalue(double x, double n, double p0)
{
    /* x/n - p0 through fma so that a rate just above p0 keeps its digits */
    double diff = fma(-n, p0, x) / n;
    double se = sqrt(p0 * (1.0 - p0) / n);
    return rp_norm_sf(diff / se);
}

double rp_two_prop_pvalue(double x1, double n1, double x2, double n2, double ratio,
                          double *z)
{
    double p1 = x1 / n1, p2 = x2 / n2;
    double diff;
    double var;
    if (ratio == 1.0) {
        /* (x1*n2 - x2*n1) / (n1*n2) with error-free products: two nearly
         * equal rates over 1e9 requests keep their difference exactly. */
        double a = x1 * n2, b = x2 * n1;
        double ae = fma(x1, n2, -a), be = fma(x2, n1, -b);
        diff = ((a - b) + (ae - be)) / (n1 * n2);
    } else {
        diff = fma(-ratio, p2, p1);
    }
    if (ratio == 1.0) {
        double n = n1 + n2;
        double pp = (x1 + x2) / n;
        double qq = (n - x1 - x2) / n;
        var = pp * qq * (1.0 / n1 + 1.0 / n2);
    } else {
        /* Farrington-Manning: the variance under H0 uses the maximum-
         * likelihood rates restricted to p1 = ratio * p2, the smaller root
         * of a p^2 + b p + c = 0. (At ratio 1 this root is the pooled rate,
         * so both branches are one score test.) Written as 2c / (-b + sqrt)
         * because the textbook (-b - sqrt) / 2a cancels for rare errors. */
        double a = (n1 + n2) * ratio;
        double b = -(n1 * ratio + x1 + n2 + x2 * ratio);
        double c = x1 + x2;
        double disc = b * b - 4.0 * a * c;
        double q = -b + sqrt(disc > 0 ? disc : 0);
        double r2 = q > 0 ? 2.0 * c / q : 0.0;
        double r1 = ratio * r2;
        var = r1 * (1.0 - r1) / n1 + ratio * ratio * r2 * (1.0 - r2) / n2;
    }
    if (!(var > 0)) {
        /* Both rates at 0 or 1: no noise, so the difference itself decides. */
        if (z)
            *z = diff > 0 ? INFINITY : diff < 0 ? -INFINITY : 0.0;
        return diff > 0 ? 0.0 : 1.0;
    }
    double zz = diff / sqrt(var);
    if (z)
        *z = zz;
    return rp_norm_sf(zz);
}

/* ---- Mann-Whitney U ------------------------------------------------------ */

/* Error-free transformations (Knuth's TwoSum, fma-based TwoProduct): the
 * centered rank sum is a difference of huge, nearly equal terms when
 * counts reach 1e12, and compensated summation keeps it exact. */
static void two_sum(double a, double b, double *s, double *e)
{
    double ss = a + b;
    double bb = ss - a;
    *s = ss;
    *e = (a - (ss - bb)) + (b - bb);
}

typedef struct dot2 {
    double s, e;
} dot2;

static void dot2_add(dot2 *d, double a, double b)
{
    double p = a * b;
    double pe = fma(a, b, -p);
    double s, se;
    two_sum(d->s, p, &s, &se);
    d->s = s;
    d->e += se + pe;
}

static double count_at(const rp_dist *d, size_t i)
{
    return d->c ? d->c[i] : 1.0;
}

int rp_mann_whitney(const rp_dist *x, const rp_dist *y, double y_scale, rp_mwu *out)
{
    double n1 = x->total, n2 = y->total, n = n1 + n2;
    size_t i = 0, j = 0;
    double cum = 0;       /* observations ranked so far */
    dot2 d2 = {0, 0};     /* 2 * (U - n1*n2/2), exactly */
    double q = 0;         /* N^3 - sum t^3 over tie groups, built from positive terms */
    bool ties = false;

    while (i < x->n || j < y->n) {
        double cx = 0, cy = 0;
        if (j >= y->n || (i < x->n && x->v[i] < y->v[j] * y_scale)) {
            cx = count_at(x, i++);
        } else if (i >= x->n || y->v[j] * y_scale < x->v[i]) {
            cy = count_at(y, j++);
        } else {
            cx = count_at(x, i++);
            cy = count_at(y, j++);
        }
        double t = cx + cy;
        if (t > 1)
            ties = true;
        /* The group's mean rank minus the overall mean (N+1)/2, doubled so
         * it is an integer: 2*cum + t - N, exact below 2^53. */
        if (cx > 0)
            dot2_add(&d2, cx, 2.0 * cum + t - n);
        /* (S + t)^3 - (sum t^3 + t^3) = Q + 3 S t (S + t): adding a group
         * keeps Q a sum of non-negative terms, so "all tied" gives exactly
         * zero variance instead of rounding noise. */
        q += 3.0 * cum * t * (cum + t);
        cum += t;
    }

    double dev = (d2.s + d2.e) / 2.0; /* U - n1*n2/2 */
    out->u = dev + n1 * n2 / 2.0;
    out->ties = ties;
    out->exact = false;
    out->z = NAN;

    if (!ties && n1 * n2 <= RP_MWU_EXACT_MAX) {
        double p = rp_mwu_exact_sf(out->u, (size_t)n1, (size_t)n2);
        if (isnan(p))
            return ROLLOUT_ERR_NOMEM;
        out->p = p;
        out->exact = true;
        return ROLLOUT_OK;
    }

    double var = n1 * n2 / 12.0 * (q / (n * (n - 1.0)));
    if (!(var > 0)) {
        /* Every observation equal: no evidence either way. */
        out->z = 0.0;
        out->p = 1.0;
        return ROLLOUT_OK;
    }
    out->z = (dev - 0.5) / sqrt(var);
    out->p = rp_norm_sf(out->z);
    return ROLLOUT_OK;
}

double rp_mwu_exact_sf(double u, size_t n1, size_t n2)
{
    size_t a = n1 > n2 ? n1 : n2; /* outer loop: the larger sample */
    size_t b = n1 > n2 ? n2 : n1; /* kept per row: memory ~ a*b*b/2 */
    double total = (double)a * (double)b;
    if (u <= 0)
        return 1.0;
    if (u > total)
        return 0.0;
    if (b == 0)
        return 0.0;

    /* Row i holds, for every j <= b, the null distribution of U for
     * samples of sizes (i, j): probabilities of u = 0..i*j, at offset
     * i*j*(j-1)/2 + j. P_{i,j}(u) = i/(i+j) P_{i-1,j}(u-j) + j/(i+j) P_{i,j-1}(u):
     * the largest observation is an x (beating all j y's) or a y. Only
     * probabilities are summed, so nothing cancels or overflows. */
    size_t row = a * b * (b + 1) / 2 + b + 1;
    double *prev = malloc(row * sizeof *prev);
    double *cur = malloc(row * sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return NAN;
    }
    for (size_t j = 0; j <= b; j++)
        prev[j] = 1.0; /* i = 0: U is 0 with certainty */
    for (size_t i = 1; i <= a; i++) {
        for (size_t j = 0; j <= b; j++) {
            double *f = cur + i * j * (j ? j - 1 : 0) / 2 + j;
            size_t len = i * j + 1;
            if (j == 0) {
                f[0] = 1.0;
                continue;
            }
            const double *g = prev + (i - 1) * j * (j - 1) / 2 + j; /* (i-1, j) */
            const double *h = cur + i * (j - 1) * (j >= 2 ? j - 2 : 0) / 2 + (j - 1); /* (i, j-1) */
            size_t glen = (i - 1) * j + 1, hlen = i * (j - 1) + 1;
            double wa = (double)i / (double)(i + j), wb = (double)j / (double)(i + j);
            for (size_t k = 0; k < len; k++) {
                double s = 0;
                if (k >= j && k - j < glen)
                    s += wa * g[k - j];
                if (k < hlen)
                    s += wb * h[k];
                f[k] = s;
            }
        }
        double *t = prev;
        prev = cur;
        cur = t;
    }
    const double *dist = prev + a * b * (b - 1) / 2 + b;
    size_t from = (size_t)ceil(u);
    double p = 0;
    /* smallest terms first */
    for (size_t k = a * b + 1; k-- > from;)
        p += dist[k];
    free(prev);
    free(cur);
    return p > 1.0 ? 1.0 : p;
}

/* The k-th (0-based) order statistic of d. */
static double order_stat(const rp_dist *d, double k)
{
    double cum = 0;
    for (size_t i = 0; i < d->n; i++) {
        cum += count_at(d, i);
        if (k < cum)
            return d->v[i];
    }
    return d->v[d->n - 1];
}

double rp_dist_quantile(const rp_dist *d, double q)
{
    double h = (d->total - 1.0) * q;
    double lo = floor(h);
    double frac = h - lo;
    double a = order_stat(d, lo);
    if (frac == 0)
        return a;
    double b = order_stat(d, lo + 1.0);
    if (a == b)
        return a; /* also keeps inf - inf out of the interpolation */
    return a + frac * (b - a);
}
