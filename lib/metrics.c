/* SPDX-License-Identifier: MIT */
/*
 * metrics.c — the metrics snapshot: setters that refuse impossible values,
 * the YAML/JSON loader, and the read side that criteria use.
 *
 * A snapshot is refused rather than half-believed: NaN, infinities,
 * negative counts, errors above requests or percentiles out of order are
 * errors with the field's name (and file position), never silently clamped,
 * because a gate that reads a broken exporter's output as "0 errors" would
 * pass a bad release.
 */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_MAX_COUNT 9007199254740992.0 /* 2^53: counts stay exact in a double */

const rp_metric_info rp_metric_table[RP_M_COUNT] = {
    [RP_M_REQUESTS] = {"requests", RP_MK_COUNT, 0},
    [RP_M_ERRORS] = {"errors", RP_MK_COUNT, 0},
    [RP_M_ERROR_RATE] = {"error_rate", RP_MK_RATE, 0},
    [RP_M_LATENCY_P50] = {"latency_p50", RP_MK_LATENCY, 0.5},
    [RP_M_LATENCY_P95] = {"latency_p95", RP_MK_LATENCY, 0.95},
    [RP_M_LATENCY_P99] = {"latency_p99", RP_MK_LATENCY, 0.99},
    [RP_M_CRITICAL_ERRORS] = {"critical_errors", RP_MK_COUNT, 0},
    [RP_M_UNHANDLED_EXCEPTIONS] = {"unhandled_exceptions", RP_MK_COUNT, 0},
    [RP_M_SUPPORT_TICKETS] = {"support_tickets", RP_MK_COUNT, 0},
    [RP_M_AVAILABILITY] = {"availability", RP_MK_RATE, 0},
    [RP_M_ISSUE_RESOLUTION_TIME] = {"issue_resolution_time", RP_MK_DURATION, 0},
    [RP_M_THROUGHPUT] = {"throughput", RP_MK_AMOUNT, 0},
};

int rp_metric_lookup(const char *name, size_t len)
{
    for (int i = 0; i < RP_M_COUNT; i++)
        if (strlen(rp_metric_table[i].name) == len && !memcmp(rp_metric_table[i].name, name, len))
            return i;
    return -1;
}

static bool valid_name(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* ---- the value grammar ------------------------------------------------------ */

static int check_value(double v, int kind)
{
    if (isnan(v))
        return RP_VALUE_NAN;
    if (isinf(v))
        return RP_VALUE_INFINITE;
    if (kind == RP_MK_NUMBER)
        return RP_VALUE_OK;
    if (v < 0)
        return RP_VALUE_NEGATIVE;
    if (kind == RP_MK_COUNT && v != floor(v))
        return RP_VALUE_FRACTIONAL;
    if (kind == RP_MK_COUNT && v > RP_MAX_COUNT)
        return RP_VALUE_TOO_BIG;
    if (kind == RP_MK_RATE && v > 1.0)
        return RP_VALUE_TOO_BIG;
    return RP_VALUE_OK;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
    size_t n = strlen(b);
    if (alen != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = a[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != b[i])
            return false;
    }
    return true;
}

/* Length of the decimal number at the start of s (sign, digits, fraction,
 * exponent), or 0 when there is none. No hex, no words. */
static size_t number_prefix(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1, ed = 0;
        if (j < len && (s[j] == '+' || s[j] == '-'))
            j++;
        while (j < len && s[j] >= '0' && s[j] <= '9')
            j++, ed++;
        if (ed)
            i = j;
    }
    return i;
}

/* Judges the decimal text of a count exactly (t is a number_prefix, NUL
 * terminated): strtod would round 2^53 + 1 to 2^53, 1e-400 to 0 and
 * 0.99999999999999999 to 1 before any check could see them. */
static int count_exact(const char *t, double *out)
{
    bool neg = false;
    if (*t == '+' || *t == '-')
        neg = *t++ == '-';
    char dig[64];
    size_t nd = 0;
    long exp10 = 0;
    bool frac = false;
    for (; (*t >= '0' && *t <= '9') || *t == '.'; t++) {
        if (*t == '.') {
            frac = true;
            continue;
        }
        if ((nd || *t != '0') && nd < sizeof dig) /* the text is shorter than dig */
            dig[nd++] = *t;
        if (frac)
            exp10--;
    }
    if (*t == 'e' || *t == 'E') {
        t++;
        bool eneg = *t == '-';
        if (*t == '+' || *t == '-')
            t++;
        long e = 0;
        for (; *t >= '0' && *t <= '9'; t++)
            if (e < 100000)
                e = e * 10 + (*t - '0');
        exp10 += eneg ? -e : e;
    }
    while (nd && dig[nd - 1] == '0') {
        nd--;
        exp10++;
    }
    if (nd == 0) {
        *out = 0;
        return RP_VALUE_OK;
    }
    if (neg)
        return RP_VALUE_NEGATIVE;
    if (exp10 < 0)
        return RP_VALUE_FRACTIONAL;
    if ((long)nd + exp10 > 16)
        return RP_VALUE_TOO_BIG;
    uint64_t v = 0;
    for (size_t i = 0; i < nd; i++)
        v = v * 10 + (uint64_t)(dig[i] - '0');
    for (long i = 0; i < exp10; i++)
        v *= 10;
    if (v > (uint64_t)1 << 53)
        return RP_VALUE_TOO_BIG;
    *out = (double)v;
    return RP_VALUE_OK;
}

int rp_parse_value(const char *s, size_t len, int kind, double *out)
{
    /* Name NaN and infinity in every spelling YAML and JSON exporters use,
     * so the error says what is wrong instead of "not a number". */
    size_t k = 0;
    if (k < len && (s[k] == '+' || s[k] == '-'))
        k++;
    if (k < len && s[k] == '.')
        k++;
    if (ieq(s + k, len - k, "nan"))
        return RP_VALUE_NAN;
    if (ieq(s + k, len - k, "inf") || ieq(s + k, len - k, "infinity"))
        return RP_VALUE_INFINITE;

    size_t n = number_prefix(s, len);
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) {
        int64_t secs;
        if (kind == RP_MK_DURATION && rp_parse_duration(s, len, &secs)) {
            *out = (double)secs;
            return RP_VALUE_OK;
        }
        return RP_VALUE_SYNTAX;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    const char *unit = s + n;
    size_t ulen = len - n;

    static const struct { const char *unit; double scale; } times[] = {
        {"", 1.0}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1.0},
        {"m", 60.0}, {"h", 3600.0}, {"d", 86400.0}};
    bool ok = false;
    switch (kind) {
    case RP_MK_COUNT:
    case RP_MK_AMOUNT:
        ok = ulen == 0;
        break;
    case RP_MK_RATE:
    case RP_MK_NUMBER:
        if (ulen == 1 && unit[0] == '%') {
            v /= 100.0;
            ok = true;
        } else {
            ok = ulen == 0;
        }
        break;
    default: /* latency, duration: seconds or a unit */
        for (size_t i = 0; i < RP_COUNT(times) && !ok; i++) {
            if (strlen(times[i].unit) == ulen && !memcmp(unit, times[i].unit, ulen)) {
                v *= times[i].scale;
                ok = true;
            }
        }
        if (!ok && kind == RP_MK_DURATION) {
            int64_t secs;
            if (rp_parse_duration(s, len, &secs)) {
                *out = (double)secs;
                return RP_VALUE_OK;
            }
        }
        break;
    }
    if (!ok)
        return RP_VALUE_SYNTAX;
    if (kind == RP_MK_COUNT)
        return count_exact(tmp, out); /* 1e400 is a count too big, not an infinity */
    int st = check_value(v, kind);
    if (st == RP_VALUE_OK)
        *out = v;
    return st;
}

const char *rp_value_problem(int status, int kind)
{
    switch (status) {
    case RP_VALUE_NAN:
        return "is NaN; metrics must be finite numbers";
    case RP_VALUE_INFINITE:
        return "is infinite; metrics must be finite numbers";
    case RP_VALUE_NEGATIVE:
        return kind == RP_MK_COUNT    ? "is negative; counts start at 0"
               : kind == RP_MK_AMOUNT ? "is negative; throughput starts at 0"
                                      : "is negative; rates and times start at 0";
    case RP_VALUE_FRACTIONAL:
        return "is not a whole number; counts are whole";
    case RP_VALUE_TOO_BIG:
        return kind == RP_MK_RATE ? "is more than 100%" : "is more than 2^53";
    default:
        break;
    }
    switch (kind) {
    case RP_MK_COUNT:
        return "is not a whole number";
    case RP_MK_RATE:
        return "is not a rate (write 0.5% or 0.005)";
    case RP_MK_LATENCY:
        return "is not a latency (write 1.2s, 850ms or a number of seconds)";
    case RP_MK_DURATION:
        return "is not a duration (write 45m, 1h or a number of seconds)";
    case RP_MK_AMOUNT:
        return "is not a number (write e.g. 850 or 12.5)";
    default:
        return "is not a number (write 0.98 or 98%)";
    }
}

void rp_format_value(double v, int kind, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "n/a");
        return;
    }
    if (isinf(v)) {
        /* a percentile in a histogram's +Inf bucket; never "infs" */
        snprintf(buf, cap, "%sInf", v < 0 ? "-" : "+");
        return;
    }
    switch (kind) {
    case RP_MK_RATE: {
        double pct = v * 100.0;
        /* 99.95 % must not print as 100 %: add digits until it differs. */
        for (int prec = 4; prec <= 12; prec++) {
            snprintf(buf, cap, "%.*g%%", prec, pct);
            if (pct == 100.0 || strtod(buf, NULL) != 100.0)
                break;
        }
        return;
    }
    case RP_MK_LATENCY:
        if (v != 0 && v < 1.0)
            snprintf(buf, cap, "%.4gms", v * 1000.0);
        else
            snprintf(buf, cap, "%.4gs", v);
        return;
    case RP_MK_DURATION:
        if (v == floor(v) && v < 1e12)
            rp_format_duration((int64_t)v, buf, cap);
        else
            snprintf(buf, cap, "%.4gs", v);
        return;
    case RP_MK_COUNT:
        if (v == floor(v) && fabs(v) < 1e15)
            snprintf(buf, cap, "%.0f", v);
        else
            snprintf(buf, cap, "%.6g", v);
        return;
    default:
        snprintf(buf, cap, "%.6g", v);
        return;
    }
}

/* ---- the snapshot -------------------------------------------------------------- */

int rollout_metrics_create(rollout_metrics **out)
{
    if (!out)
        return ROLLOUT_ERR_ARG;
    *out = calloc(1, sizeof **out);
    return *out ? ROLLOUT_OK : ROLLOUT_ERR_NOMEM;
}

static void side_free(rp_side *s)
{
    free(s->dist_v);
    free(s->dist_c);
    for (size_t i = 0; i < s->n_custom; i++)
        free(s->custom[i].name);
    free(s->custom);
    for (size_t i = 0; i < s->n_smoke; i++)
        free(s->smoke[i].name);
    free(s->smoke);
}

void rollout_metrics_free(rollout_metrics *m)
{
    if (!m)
        return;
    side_free(&m->side[0]);
    side_free(&m->side[1]);
    free(m);
}

static const char *variant_key(int variant)
{
    return variant == ROLLOUT_NEW ? "new" : "baseline";
}

/* The field an API call's error names, "new.errors"; the loader reports
 * file positions through rp_ctx instead. */
typedef struct origin {
    char field[96];
} origin;

static void api_origin(origin *o, int variant, const char *name)
{
    snprintf(o->field, sizeof o->field, "%s.%s", variant_key(variant), name);
}

static int api_fail(rollout_error *err, origin *o, int code, const char *fmt, ...)
    RP_PRINTF(4, 5);
static int api_fail(rollout_error *err, origin *o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rp_error_setv(err, code, NULL, 0, 0, o->field, fmt, ap);
    va_end(ap);
    return code;
}

/* Validates and stores one standard metric; the cross-checks (errors <=
 * requests, percentiles non-decreasing) run against what the side holds. */
static int side_set_std(rp_side *s, int id, double v, char *why, size_t cap)
{
    int kind = rp_metric_table[id].kind;
    int st = check_value(v, kind);
    if (st) {
        snprintf(why, cap, "%g %s", v, rp_value_problem(st, kind));
        return ROLLOUT_ERR_METRICS;
    }
    bool has_req = s->have & (1u << RP_M_REQUESTS), has_err = s->have & (1u << RP_M_ERRORS);
    if (id == RP_M_ERRORS && has_req && v > s->std[RP_M_REQUESTS]) {
        snprintf(why, cap, "errors %.0f is more than requests %.0f", v, s->std[RP_M_REQUESTS]);
        return ROLLOUT_ERR_METRICS;
    }
    if (id == RP_M_REQUESTS && has_err && v < s->std[RP_M_ERRORS]) {
        snprintf(why, cap, "requests %.0f is fewer than errors %.0f", v, s->std[RP_M_ERRORS]);
        return ROLLOUT_ERR_METRICS;
    }
    static const int pct[] = {RP_M_LATENCY_P50, RP_M_LATENCY_P95, RP_M_LATENCY_P99};
    for (int i = 0; i < 3; i++) {
        if (pct[i] != id)
            continue;
        for (int j = 0; j < 3; j++) {
            if (j == i || !(s->have & (1u << pct[j])))
                continue;
            double o = s->std[pct[j]];
            if ((j < i && v < o) || (j > i && v > o)) {
                snprintf(why, cap, "%s %gs is %s %s %gs; percentiles cannot decrease",
                         rp_metric_table[id].name, v, j < i ? "below" : "above",
                         rp_metric_table[pct[j]].name, o);
                return ROLLOUT_ERR_METRICS;
            }
        }
    }
    s->std[id] = v;
    s->have |= 1u << id;
    s->bad &= ~(1u << id); /* a value set later replaces a bad one */
    return ROLLOUT_OK;
}

static int side_set_custom(rp_side *s, const char *name, size_t len, double v, char *why,
                           size_t cap)
{
    int st = check_value(v, RP_MK_NUMBER);
    if (st) {
        snprintf(why, cap, "%g %s", v, rp_value_problem(st, RP_MK_NUMBER));
        return ROLLOUT_ERR_METRICS;
    }
    for (size_t i = 0; i < s->n_custom; i++) {
        if (strlen(s->custom[i].name) == len && !memcmp(s->custom[i].name, name, len)) {
            s->custom[i].value = v;
            s->custom[i].bad = (rp_bad_value){0};
            return ROLLOUT_OK;
        }
    }
    if (s->n_custom >= ROLLOUT_MAX_CUSTOM_METRICS) {
        snprintf(why, cap, "more than %d custom metrics", ROLLOUT_MAX_CUSTOM_METRICS);
        return ROLLOUT_ERR_LIMIT;
    }
    rp_named_value *grown = realloc(s->custom, (s->n_custom + 1) * sizeof *grown);
    if (!grown)
        return ROLLOUT_ERR_NOMEM;
    s->custom = grown;
    char *copy = malloc(len + 1);
    if (!copy)
        return ROLLOUT_ERR_NOMEM;
    memcpy(copy, name, len);
    copy[len] = '\0';
    s->custom[s->n_custom].name = copy;
    s->custom[s->n_custom].value = v;
    s->custom[s->n_custom].bad = (rp_bad_value){0};
    s->n_custom++;
    return ROLLOUT_OK;
}

static int side_set_smoke(rp_side *s, const char *name, size_t len, bool passed, char *why,
                          size_t cap)
{
    for (size_t i = 0; i < s->n_smoke; i++) {
        if (strlen(s->smoke[i].name) == len && !memcmp(s->smoke[i].name, name, len)) {
            s->smoke[i].passed = passed;
            return ROLLOUT_OK;
        }
    }
    if (s->n_smoke >= ROLLOUT_MAX_SMOKE_RESULTS) {
        snprintf(why, cap, "more than %d smoke-test results", ROLLOUT_MAX_SMOKE_RESULTS);
        return ROLLOUT_ERR_LIMIT;
    }
    rp_smoke_result *grown = realloc(s->smoke, (s->n_smoke + 1) * sizeof *grown);
    if (!grown)
        return ROLLOUT_ERR_NOMEM;
    s->smoke = grown;
    char *copy = malloc(len + 1);
    if (!copy)
        return ROLLOUT_ERR_NOMEM;
    memcpy(copy, name, len);
    copy[len] = '\0';
    s->smoke[s->n_smoke].name = copy;
    s->smoke[s->n_smoke].passed = passed;
    s->n_smoke++;
    return ROLLOUT_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Takes ownership of v (n values, any order) and c (counts, or NULL for
 * ones): sorts, merges equal values and installs them as the side's
 * distribution, replacing the old one. */
static int side_set_dist(rp_side *s, double *v, double *c, size_t n)
{
    if (!c) {
        qsort(v, n, sizeof *v, cmp_double);
        c = malloc(n * sizeof *c);
        if (!c) {
            free(v);
            return ROLLOUT_ERR_NOMEM;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (k && v[k - 1] == v[i]) {
                c[k - 1] += 1.0;
            } else {
                v[k] = v[i];
                c[k++] = 1.0;
            }
        }
        n = k;
    }
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += c[i];
    free(s->dist_v);
    free(s->dist_c);
    s->bad_dist = (rp_bad_value){0};
    s->dist_v = v;
    s->dist_c = c;
    s->dist_n = n;
    s->dist_total = total;
    return ROLLOUT_OK;
}

#define CHECK_HANDLE(m, variant, err)                                                          \
    do {                                                                                       \
        if (!(m) || ((variant) != ROLLOUT_NEW && (variant) != ROLLOUT_STABLE))                 \
            return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,                        \
                                "needs a snapshot and a variant (ROLLOUT_NEW or "              \
                                "ROLLOUT_STABLE)");                                            \
    } while (0)

int rollout_metrics_set(rollout_metrics *m, int variant, const char *name, double value,
                        rollout_error *err)
{
    CHECK_HANDLE(m, variant, err);
    if (!name || !valid_name(name, strlen(name)))
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "\"%s\" is not a metric name (1-64 of A-Z a-z 0-9 - _ .)",
                            name ? name : "(null)");
    origin o;
    api_origin(&o, variant, name);
    char why[160];
    int id = rp_metric_lookup(name, strlen(name));
    rp_side *s = &m->side[variant];
    int rc = id >= 0 ? side_set_std(s, id, value, why, sizeof why)
                     : side_set_custom(s, name, strlen(name), value, why, sizeof why);
    if (rc == ROLLOUT_ERR_NOMEM)
        return api_fail(err, &o, rc, "out of memory");
    if (rc)
        return api_fail(err, &o, rc, "%s", why);
    return ROLLOUT_OK;
}

int rollout_metrics_set_requests(rollout_metrics *m, int variant, uint64_t requests,
                                 uint64_t errors, rollout_error *err)
{
    CHECK_HANDLE(m, variant, err);
    origin o;
    api_origin(&o, variant, "requests");
    if ((double)requests > RP_MAX_COUNT || (double)errors > RP_MAX_COUNT)
        return api_fail(err, &o, ROLLOUT_ERR_METRICS, "counts above 2^53 are not supported");
    if (errors > requests)
        return api_fail(err, &o, ROLLOUT_ERR_METRICS, "errors %llu is more than requests %llu",
                        (unsigned long long)errors, (unsigned long long)requests);
    rp_side *s = &m->side[variant];
    s->std[RP_M_REQUESTS] = (double)requests;
    s->std[RP_M_ERRORS] = (double)errors;
    s->have |= (1u << RP_M_REQUESTS) | (1u << RP_M_ERRORS);
    s->bad &= ~((1u << RP_M_REQUESTS) | (1u << RP_M_ERRORS));
    return ROLLOUT_OK;
}

int rollout_metrics_set_latency(rollout_metrics *m, int variant, double p50, double p95,
                                double p99, rollout_error *err)
{
    CHECK_HANDLE(m, variant, err);
    const double v[3] = {p50, p95, p99};
    static const int ids[3] = {RP_M_LATENCY_P50, RP_M_LATENCY_P95, RP_M_LATENCY_P99};
    origin o;
    for (int i = 0; i < 3; i++) {
        int st = check_value(v[i], RP_MK_LATENCY);
        api_origin(&o, variant, rp_metric_table[ids[i]].name);
        if (st)
            return api_fail(err, &o, ROLLOUT_ERR_METRICS, "%g %s", v[i],
                            rp_value_problem(st, RP_MK_LATENCY));
        if (i && v[i] < v[i - 1])
            return api_fail(err, &o, ROLLOUT_ERR_METRICS,
                            "%s %gs is below %s %gs; percentiles cannot decrease",
                            rp_metric_table[ids[i]].name, v[i], rp_metric_table[ids[i - 1]].name,
                            v[i - 1]);
    }
    rp_side *s = &m->side[variant];
    for (int i = 0; i < 3; i++) {
        s->std[ids[i]] = v[i];
        s->have |= 1u << ids[i];
        s->bad &= ~(1u << ids[i]);
    }
    return ROLLOUT_OK;
}

int rollout_metrics_set_latency_samples(rollout_metrics *m, int variant, const double *seconds,
                                        size_t n, rollout_error *err)
{
    CHECK_HANDLE(m, variant, err);
    origin o;
    api_origin(&o, variant, "latency_samples");
    if (!seconds && n)
        return api_fail(err, &o, ROLLOUT_ERR_ARG, "samples is NULL");
    if (n == 0)
        return api_fail(err, &o, ROLLOUT_ERR_METRICS, "no samples");
    if (n > ROLLOUT_MAX_SAMPLES)
        return api_fail(err, &o, ROLLOUT_ERR_LIMIT, "%zu samples; the limit is %u", n,
                        ROLLOUT_MAX_SAMPLES);
    for (size_t i = 0; i < n; i++) {
        int st = check_value(seconds[i], RP_MK_LATENCY);
        if (st) {
            snprintf(o.field, sizeof o.field, "%s.latency_samples[%zu]", variant_key(variant), i);
            return api_fail(err, &o, ROLLOUT_ERR_METRICS, "%g %s", seconds[i],
                            rp_value_problem(st, RP_MK_LATENCY));
        }
    }
    double *v = malloc(n * sizeof *v);
    if (!v)
        return api_fail(err, &o, ROLLOUT_ERR_NOMEM, "out of memory");
    memcpy(v, seconds, n * sizeof *v);
    int rc = side_set_dist(&m->side[variant], v, NULL, n);
    return rc ? api_fail(err, &o, rc, "out of memory") : ROLLOUT_OK;
}

/* Shared by the API and the loader: bounds strictly increasing, finite but
 * for a last +inf bucket, counts whole. Empty buckets are dropped. */
static int check_histogram(const double *le, const double *counts, size_t n, size_t *bad,
                           char *why, size_t cap)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        *bad = i;
        int st = isinf(le[i]) && le[i] > 0 && i == n - 1 ? RP_VALUE_OK
                                                         : check_value(le[i], RP_MK_LATENCY);
        if (st) {
            snprintf(why, cap, "bound %g %s", le[i], rp_value_problem(st, RP_MK_LATENCY));
            return ROLLOUT_ERR_METRICS;
        }
        if (i && !(le[i] > le[i - 1])) {
            snprintf(why, cap, "bound %g is not above the previous bound %g; buckets go up",
                     le[i], le[i - 1]);
            return ROLLOUT_ERR_METRICS;
        }
        if ((st = check_value(counts[i], RP_MK_COUNT))) {
            snprintf(why, cap, "count %g %s", counts[i], rp_value_problem(st, RP_MK_COUNT));
            return ROLLOUT_ERR_METRICS;
        }
        total += counts[i];
    }
    if (total > RP_DIST_MAX_TOTAL) {
        snprintf(why, cap, "the histogram holds more than 2^50 requests");
        return ROLLOUT_ERR_METRICS;
    }
    if (total == 0) {
        *bad = n;
        snprintf(why, cap, "the histogram holds no requests");
        return ROLLOUT_ERR_METRICS;
    }
    return ROLLOUT_OK;
}

static int install_histogram(rp_side *s, const double *le, const double *counts, size_t n)
{
    double *v = malloc(n * sizeof *v), *c = malloc(n * sizeof *c);
    if (!v || !c) {
        free(v);
        free(c);
        return ROLLOUT_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] > 0) {
            v[k] = le[i];
            c[k++] = counts[i];
        }
    }
    return side_set_dist(s, v, c, k);
}

int rollout_metrics_set_latency_histogram(rollout_metrics *m, int variant,
                                          const double *upper_bounds, const uint64_t *counts,
                                          size_t n, rollout_error *err)
{
    CHECK_HANDLE(m, variant, err);
    origin o;
    api_origin(&o, variant, "latency_histogram");
    if ((!upper_bounds || !counts) && n)
        return api_fail(err, &o, ROLLOUT_ERR_ARG, "upper_bounds or counts is NULL");
    if (n == 0)
        return api_fail(err, &o, ROLLOUT_ERR_METRICS, "no buckets");
    if (n > ROLLOUT_MAX_SAMPLES)
        return api_fail(err, &o, ROLLOUT_ERR_LIMIT, "%zu buckets; the limit is %u", n,
                        ROLLOUT_MAX_SAMPLES);
    double *c = malloc(n * sizeof *c);
    if (!c)
        return api_fail(err, &o, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        c[i] = (double)counts[i];
    char why[160];
    size_t bad;
    int rc = check_histogram(upper_bounds, c, n, &bad, why, sizeof why);
    if (!rc)
        rc = install_histogram(&m->side[variant], upper_bounds, c, n);
    free(c);
    if (rc == ROLLOUT_ERR_NOMEM)
        return api_fail(err, &o, rc, "out of memory");
    if (rc) {
        if (bad < n)
            snprintf(o.field, sizeof o.field, "%s.latency_histogram[%zu]", variant_key(variant),
                     bad);
        return api_fail(err, &o, rc, "%s", why);
    }
    return ROLLOUT_OK;
}

int rollout_metrics_set_smoke(rollout_metrics *m, int variant, const char *test, int passed,
                              rollout_error *err)
{
    CHECK_HANDLE(m, variant, err);
    if (!test || !valid_name(test, strlen(test)))
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "\"%s\" is not a smoke-test id (1-64 of A-Z a-z 0-9 - _ .)",
                            test ? test : "(null)");
    char why[160];
    int rc = side_set_smoke(&m->side[variant], test, strlen(test), passed != 0, why, sizeof why);
    if (rc) {
        origin o;
        api_origin(&o, variant, "smoke_tests");
        return api_fail(err, &o, rc, "%s", rc == ROLLOUT_ERR_NOMEM ? "out of memory" : why);
    }
    return ROLLOUT_OK;
}

/* ---- the read side ------------------------------------------------------------ */

bool rp_metrics_dist(const rollout_metrics *m, int variant, rp_dist *out)
{
    const rp_side *s = &m->side[variant];
    if (!s->dist_n)
        return false;
    out->v = s->dist_v;
    out->c = s->dist_c;
    out->n = s->dist_n;
    out->total = s->dist_total;
    return true;
}

bool rp_metrics_value(const rollout_metrics *m, int variant, int metric_id, const char *name,
                      double *out)
{
    const rp_side *s = &m->side[variant];
    if (metric_id < 0) {
        for (size_t i = 0; i < s->n_custom; i++) {
            if (!strcmp(s->custom[i].name, name)) {
                *out = s->custom[i].value;
                return !s->custom[i].bad.status;
            }
        }
        return false;
    }
    if (metric_id == RP_M_ERROR_RATE) {
        /* counts win over a reported rate: they are what the tests use */
        uint32_t need = (1u << RP_M_REQUESTS) | (1u << RP_M_ERRORS);
        if ((s->have & need) == need && s->std[RP_M_REQUESTS] > 0) {
            *out = s->std[RP_M_ERRORS] / s->std[RP_M_REQUESTS];
            return true;
        }
    }
    if (s->have & (1u << metric_id)) {
        *out = s->std[metric_id];
        return true;
    }
    double q = rp_metric_table[metric_id].quantile;
    if (q > 0 && s->dist_n) {
        rp_dist d;
        rp_metrics_dist(m, variant, &d);
        *out = rp_dist_quantile(&d, q);
        return true;
    }
    return false;
}

static bool say_bad(const rollout_metrics *m, int variant, const char *what,
                    const rp_bad_value *b, char *why, size_t cap)
{
    snprintf(why, cap, "%s.%s is %s at %.60s:%d:%d", variant_key(variant), what,
             b->status == RP_VALUE_NAN ? "NaN" : "infinite", m->file[0] ? m->file : "<buffer>",
             b->line, b->col);
    return true;
}

bool rp_metrics_dist_bad(const rollout_metrics *m, int variant, char *why, size_t cap)
{
    const rp_side *s = &m->side[variant];
    if (!s->bad_dist.status)
        return false;
    return say_bad(m, variant, s->bad_dist_key, &s->bad_dist, why, cap);
}

bool rp_metrics_bad(const rollout_metrics *m, int variant, int metric_id, const char *name,
                    char *why, size_t cap)
{
    const rp_side *s = &m->side[variant];
    if (metric_id < 0) {
        for (size_t i = 0; i < s->n_custom; i++)
            if (!strcmp(s->custom[i].name, name) && s->custom[i].bad.status)
                return say_bad(m, variant, name, &s->custom[i].bad, why, cap);
        return false;
    }
    if (metric_id == RP_M_ERROR_RATE) {
        /* counts win over a reported rate, so a bad count spoils the rate */
        uint32_t need = (1u << RP_M_REQUESTS) | (1u << RP_M_ERRORS);
        if ((s->have & need) == need)
            return false;
        static const int from[] = {RP_M_REQUESTS, RP_M_ERRORS};
        for (size_t i = 0; i < RP_COUNT(from); i++)
            if (s->bad & (1u << from[i]))
                return say_bad(m, variant, rp_metric_table[from[i]].name,
                               &s->bad_std[from[i]], why, cap);
    }
    if (s->bad & (1u << metric_id))
        return say_bad(m, variant, rp_metric_table[metric_id].name, &s->bad_std[metric_id],
                       why, cap);
    if (rp_metric_table[metric_id].quantile > 0 && !(s->have & (1u << metric_id)))
        return rp_metrics_dist_bad(m, variant, why, cap);
    return false;
}

int rp_metrics_smoke(const rollout_metrics *m, int variant, const char *test)
{
    const rp_side *s = &m->side[variant];
    for (size_t i = 0; i < s->n_smoke; i++)
        if (!strcmp(s->smoke[i].name, test))
            return s->smoke[i].passed ? 1 : 0;
    return -1;
}

int rollout_metrics_get(const rollout_metrics *m, int variant, const char *name, double *value)
{
    if (!m || !name || !value || (variant != ROLLOUT_NEW && variant != ROLLOUT_STABLE))
        return ROLLOUT_ERR_ARG;
    double v;
    if (!rp_metrics_value(m, variant, rp_metric_lookup(name, strlen(name)), name, &v))
        return ROLLOUT_ERR_NOT_FOUND;
    *value = v;
    return ROLLOUT_OK;
}

/* ---- loading ----------------------------------------------------------------- */

static int node_fail(rp_ctx *c, const rp_node *n, int code, const char *why)
{
    return rp_fail(c, n, code, "%s", why);
}

/* Reads a value of kind; a NaN or an infinity is recorded in *bad (and
 * ROLLOUT_OK returned) instead of refusing the whole file: exporters write
 * them for "no data" (0/0, a rate over an empty window), and one of them
 * must not hide the metrics that can be judged. */
static int load_or_mark(rp_ctx *c, const rp_node *n, int kind, double *out, rp_bad_value *bad)
{
    int rc = rp_expect(c, n, RP_SCALAR);
    if (rc)
        return rc;
    int st = rp_parse_value(n->str, n->len, kind, out);
    if (st == RP_VALUE_NAN || st == RP_VALUE_INFINITE) {
        bad->status = st;
        bad->line = n->line;
        bad->col = n->col;
        return ROLLOUT_OK;
    }
    if (st)
        return rp_fail(c, n, ROLLOUT_ERR_METRICS, "\"%s\" %s", n->str, rp_value_problem(st, kind));
    return ROLLOUT_OK;
}

static int load_samples(rp_ctx *c, const rp_node *n, rp_side *s)
{
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n == 0)
        return rp_fail(c, n, ROLLOUT_ERR_METRICS, "the list holds no samples");
    if (n->n > ROLLOUT_MAX_SAMPLES)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu samples; the limit is %u", n->n,
                       ROLLOUT_MAX_SAMPLES);
    double *v = malloc(n->n * sizeof *v);
    if (!v)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    rp_bad_value bad = {0};
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = rp_path_index(c, i);
        rp_bad_value b = {0};
        if ((rc = load_or_mark(c, n->items[i], RP_MK_LATENCY, &v[i], &b))) {
            free(v);
            return rc;
        }
        if (b.status && !bad.status)
            bad = b;
        rp_path_pop(c, mark);
    }
    if (bad.status) {
        /* the distribution is unusable, not the snapshot */
        free(v);
        s->bad_dist = bad;
        s->bad_dist_key = "latency_samples";
        return ROLLOUT_OK;
    }
    if ((rc = side_set_dist(s, v, NULL, n->n)))
        return rp_fail(c, NULL, rc, "out of memory");
    return ROLLOUT_OK;
}

static int load_histogram(rp_ctx *c, const rp_node *n, rp_side *s)
{
    static const char *const keys[] = {"le", "count", NULL};
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n == 0)
        return rp_fail(c, n, ROLLOUT_ERR_METRICS, "the histogram has no buckets");
    if (n->n > ROLLOUT_MAX_SAMPLES)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu buckets; the limit is %u", n->n,
                       ROLLOUT_MAX_SAMPLES);
    rp_bad_value bad = {0};
    double *le = malloc(n->n * sizeof *le), *cnt = malloc(n->n * sizeof *cnt);
    if (!le || !cnt) {
        rc = rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *b = n->items[i], *v;
        size_t mark = rp_path_index(c, i);
        if ((rc = rp_map_check(c, b, keys)))
            goto done;
        if ((rc = rp_map_require(c, b, "le", &v)))
            goto done;
        size_t m2 = rp_path_key(c, "le");
        /* +Inf closes a Prometheus histogram; only the last bucket may say it */
        int st = RP_VALUE_OK;
        if ((rc = rp_expect(c, v, RP_SCALAR)))
            goto done;
        st = rp_parse_value(v->str, v->len, RP_MK_LATENCY, &le[i]);
        if (st == RP_VALUE_INFINITE && i == n->n - 1 && v->str[0] != '-')
            le[i] = INFINITY;
        else if (st == RP_VALUE_NAN) {
            bad = (rp_bad_value){st, v->line, v->col};
            rc = ROLLOUT_OK;
            goto done;
        } else if (st) {
            rc = rp_fail(c, v, ROLLOUT_ERR_METRICS, "\"%s\" %s", v->str,
                         rp_value_problem(st, RP_MK_LATENCY));
            goto done;
        }
        rp_path_pop(c, m2);
        if ((rc = rp_map_require(c, b, "count", &v)))
            goto done;
        m2 = rp_path_key(c, "count");
        if ((rc = load_or_mark(c, v, RP_MK_COUNT, &cnt[i], &bad)))
            goto done;
        if (bad.status)
            goto done;
        rp_path_pop(c, m2);
        if (i && !(le[i] > le[i - 1])) {
            rc = rp_fail(c, b, ROLLOUT_ERR_METRICS,
                         "bucket bound %g is not above the previous bound %g; buckets go up",
                         le[i], le[i - 1]);
            goto done;
        }
        rp_path_pop(c, mark);
    }
    char why[160];
    size_t bad_at;
    if ((rc = check_histogram(le, cnt, n->n, &bad_at, why, sizeof why))) {
        rc = node_fail(c, n, rc, why);
        goto done;
    }
    if ((rc = install_histogram(s, le, cnt, n->n)))
        rc = rp_fail(c, NULL, rc, "out of memory");
done:
    if (!rc && bad.status) {
        /* the distribution is unusable, not the snapshot */
        s->bad_dist = bad;
        s->bad_dist_key = "latency_histogram";
    }
    free(le);
    free(cnt);
    return rc;
}

static int load_names(rp_ctx *c, const rp_node *n, rp_side *s, bool smoke)
{
    int rc = rp_expect(c, n, RP_MAP);
    if (rc)
        return rc;
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
        if ((rc = rp_expect(c, k, RP_SCALAR)))
            return rc;
        size_t mark = rp_path_key(c, k->str);
        if (!valid_name(k->str, k->len))
            return rp_fail(c, k, ROLLOUT_ERR_METRICS,
                           "\"%s\" is not a valid %s (1-64 of A-Z a-z 0-9 - _ .)", k->str,
                           smoke ? "smoke-test id" : "metric name");
        char why[160];
        if (smoke) {
            if ((rc = rp_expect(c, v, RP_SCALAR)))
                return rc;
            bool pass = !strcmp(v->str, "pass") || !strcmp(v->str, "passed") ||
                        (v->plain && !strcmp(v->str, "true"));
            bool failed = !strcmp(v->str, "fail") || !strcmp(v->str, "failed") ||
                          (v->plain && !strcmp(v->str, "false"));
            if (!pass && !failed)
                return rp_fail(c, v, ROLLOUT_ERR_METRICS,
                               "\"%s\" is not a smoke-test result (write pass or fail)", v->str);
            rc = side_set_smoke(s, k->str, k->len, pass, why, sizeof why);
        } else {
            if (rp_metric_lookup(k->str, k->len) >= 0)
                return rp_fail(c, k, ROLLOUT_ERR_METRICS,
                               "\"%s\" is a standard metric; write it outside custom:", k->str);
            double val;
            rp_bad_value bad = {0};
            if ((rc = load_or_mark(c, v, RP_MK_NUMBER, &val, &bad)))
                return rc;
            rc = side_set_custom(s, k->str, k->len, bad.status ? 0 : val, why, sizeof why);
            if (!rc && bad.status) {
                s->custom[s->n_custom - 1].value = NAN;
                s->custom[s->n_custom - 1].bad = bad;
            }
        }
        if (rc)
            return rp_fail(c, k, rc, "%s", rc == ROLLOUT_ERR_NOMEM ? "out of memory" : why);
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int load_side(rp_ctx *c, const rp_node *n, rp_side *s)
{
    static const char *const keys[] = {
        "requests", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99",
        "critical_errors", "unhandled_exceptions", "support_tickets", "availability",
        "issue_resolution_time", "throughput", "latency_samples", "latency_histogram",
        "smoke_tests", "custom", NULL};
    int rc = rp_map_check(c, n, keys);
    if (rc)
        return rc;
    if (rp_map_get(n, "latency_samples") && rp_map_get(n, "latency_histogram")) {
        size_t mark = rp_path_key(c, "latency_histogram");
        rc = rp_fail(c, rp_map_get(n, "latency_histogram"), ROLLOUT_ERR_METRICS,
                     "give latency_samples or latency_histogram, not both");
        rp_path_pop(c, mark);
        return rc;
    }
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
        size_t mark = rp_path_key(c, k->str);
        int id = rp_metric_lookup(k->str, k->len);
        if (id >= 0) {
            double val;
            char why[160];
            rp_bad_value bad = {0};
            if ((rc = load_or_mark(c, v, rp_metric_table[id].kind, &val, &bad)))
                return rc;
            if (bad.status) {
                s->bad |= 1u << id;
                s->bad_std[id] = bad;
            } else if ((rc = side_set_std(s, id, val, why, sizeof why))) {
                return rp_fail(c, v, rc, "%s", why);
            }
        } else if (!strcmp(k->str, "latency_samples")) {
            rc = load_samples(c, v, s);
        } else if (!strcmp(k->str, "latency_histogram")) {
            rc = load_histogram(c, v, s);
        } else {
            rc = load_names(c, v, s, !strcmp(k->str, "smoke_tests"));
        }
        if (rc)
            return rc;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int load_root(rp_ctx *c, const rp_node *root, rollout_metrics *m)
{
    static const char *const keys[] = {"format", "new", "baseline", NULL};
    int rc = rp_map_check(c, root, keys);
    if (rc)
        return rc;
    const rp_node *v;
    if ((v = rp_map_get(root, "format"))) {
        uint64_t f;
        size_t mark = rp_path_key(c, "format");
        if ((rc = rp_uint(c, v, UINT32_MAX, &f)))
            return rc;
        if (f != 1)
            return rp_fail(c, v, ROLLOUT_ERR_UNSUPPORTED,
                           "metrics format %llu is not supported (this library reads format 1)",
                           (unsigned long long)f);
        rp_path_pop(c, mark);
    }
    if ((rc = rp_map_require(c, root, "new", &v)))
        return rc;
    static const struct { const char *key; int variant; } sides[] = {
        {"new", ROLLOUT_NEW}, {"baseline", ROLLOUT_STABLE}};
    for (size_t i = 0; i < RP_COUNT(sides); i++) {
        if (!(v = rp_map_get(root, sides[i].key)))
            continue;
        size_t mark = rp_path_key(c, sides[i].key);
        if ((rc = load_side(c, v, &m->side[sides[i].variant])))
            return rc;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

int rollout_metrics_load_buffer(const char *text, size_t len, const char *name,
                                rollout_metrics **out, rollout_error *err)
{
    if (!out)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "out must not be NULL");
    *out = NULL;
    if (!text && len)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "text is NULL");
    const char *file = name ? name : "<buffer>";
    if (len > ROLLOUT_MAX_METRICS_BYTES)
        return rp_error_set(err, ROLLOUT_ERR_LIMIT, file, 0, 0, NULL,
                            "the metrics file is %zu bytes; the limit is %u", len,
                            (unsigned)ROLLOUT_MAX_METRICS_BYTES);
    rollout_metrics *m;
    if (rollout_metrics_create(&m))
        return rp_error_set(err, ROLLOUT_ERR_NOMEM, file, 0, 0, NULL, "out of memory");
    rp_arena arena = {0};
    rp_node *root = NULL;
    int rc = rp_yaml_parse(&arena, text ? text : "", len, file, &root, err);
    if (!rc && !root)
        rc = rp_error_set(err, ROLLOUT_ERR_EMPTY, file, 0, 0, NULL,
                          "the metrics file is empty (it needs at least \"new:\")");
    snprintf(m->file, sizeof m->file, "%s", file);
    if (!rc) {
        rp_ctx c = {.arena = &arena, .err = err, .file = file, .plan = NULL};
        rc = load_root(&c, root, m);
    }
    rp_arena_free(&arena);
    if (rc) {
        rollout_metrics_free(m);
        return rc;
    }
    *out = m;
    return ROLLOUT_OK;
}

int rollout_metrics_load_file(const char *path, rollout_metrics **out, rollout_error *err)
{
    if (!out)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "out must not be NULL");
    *out = NULL;
    if (!path)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "path must not be NULL");
    char *buf;
    size_t len;
    int rc = rp_read_file(path, ROLLOUT_MAX_METRICS_BYTES, "metrics file", &buf, &len, err);
    if (rc)
        return rc;
    rc = rollout_metrics_load_buffer(buf, len, path, out, err);
    free(buf);
    return rc;
}
