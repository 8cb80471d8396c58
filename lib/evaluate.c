/* SPDX-License-Identifier: MIT */
/*
 * evaluate.c — success criteria: parsing them from a plan, dumping them
 * back, and judging a metrics snapshot against them.
 *
 * The rules (docs/evaluation.md) lean one way on purpose: missing data is
 * never a PASS. A criterion without its metric, without a baseline it
 * needs, or below its min_samples is INCONCLUSIVE, so a gate backed by an
 * empty dashboard holds instead of going ahead.
 */
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- verdict names -------------------------------------------------------- */

const char *rollout_verdict_name(int verdict)
{
    static const char *const names[] = {"PASS", "FAIL", "INCONCLUSIVE", "ROLLBACK"};
    if (verdict < 0 || verdict >= (int)RP_COUNT(names))
        return "?";
    return names[verdict];
}

/* ---- parsing ---------------------------------------------------------------- */

static const char *const threshold_keys[] = {"max", "min", "must_be_zero", "max_baseline_plus",
                                             "max_baseline_times", NULL};

static const rp_node *key_node(const rp_node *map, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const rp_node *k = map->items[2 * i];
        if (k->len == n && memcmp(k->str, key, n) == 0)
            return k;
    }
    return NULL;
}

/* Fails at `key` of map with the key on the path. */
static int fail_key(rp_ctx *c, const rp_node *map, const char *key, int code, const char *fmt,
                    ...) RP_PRINTF(5, 6);
static int fail_key(rp_ctx *c, const rp_node *map, const char *key, int code, const char *fmt,
                    ...)
{
    size_t mark = rp_path_key(c, key);
    const rp_node *k = key_node(map, key);
    va_list ap;
    va_start(ap, fmt);
    rp_error_setv(c->err, code, c->file, k ? k->line : 0, k ? k->col : 0, c->path, fmt, ap);
    va_end(ap);
    rp_path_pop(c, mark);
    return code;
}

/* A percentage such as "10%": the bare number 10 would silently mean 1000 %. */
static int parse_percent(rp_ctx *c, const rp_node *n, double *out)
{
    int rc = rp_expect(c, n, RP_SCALAR);
    if (rc)
        return rc;
    if (n->len < 2 || n->str[n->len - 1] != '%')
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a percentage (write 10%%)", n->str);
    if ((rc = rp_fraction(c, n, out)))
        return rc;
    if (*out < 0)
        return rp_fail(c, n, ROLLOUT_ERR_RANGE, "%s is negative", n->str);
    return ROLLOUT_OK;
}

/* A threshold written the way its metric is measured. */
static int parse_bound(rp_ctx *c, const rp_node *n, int kind, double *out)
{
    int rc;
    switch (kind) {
    case RP_MK_LATENCY:
        return rp_latency(c, n, out);
    case RP_MK_DURATION: {
        int64_t secs;
        if ((rc = rp_duration(c, n, &secs)))
            return rc;
        *out = (double)secs;
        return ROLLOUT_OK;
    }
    case RP_MK_RATE:
        if ((rc = rp_fraction(c, n, out)))
            return rc;
        if (*out < 0 || *out > 1)
            return rp_fail(c, n, ROLLOUT_ERR_RANGE, "%s is outside 0%%..100%%", n->str);
        return ROLLOUT_OK;
    case RP_MK_COUNT:
    case RP_MK_AMOUNT:
        if ((rc = rp_number(c, n, out)))
            return rc;
        if (*out < 0)
            return rp_fail(c, n, ROLLOUT_ERR_RANGE, "%s is negative; %s start at 0", n->str,
                           kind == RP_MK_COUNT ? "counts" : "amounts");
        return ROLLOUT_OK;
    default:
        return rp_fraction(c, n, out);
    }
}

static int parse_with(rp_ctx *c, const rp_node *map, const char *key,
                      int (*fn)(rp_ctx *, const rp_node *, double *), double *out)
{
    size_t mark = rp_path_key(c, key);
    int rc = fn(c, rp_map_get(map, key), out);
    if (!rc)
        rp_path_pop(c, mark);
    return rc;
}

static int parse_smoke_list(rp_ctx *c, const rp_node *v, rp_criterion *cr)
{
    rollout_plan *p = c->plan;
    if (v->kind == RP_SCALAR && v->len == 3 && strcmp(v->str, "all") == 0) {
        if (p->n_smoke == 0)
            return rp_fail(c, v, ROLLOUT_ERR_REFERENCE,
                           "smoke_tests: all, but the plan defines no smoke_tests");
        cr->smoke_all = true;
        return ROLLOUT_OK;
    }
    if (v->kind == RP_SCALAR)
        return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                       "\"%s\" is neither \"all\" nor a list of smoke-test ids", v->str);
    if (v->kind != RP_SEQ)
        return rp_fail(c, v, ROLLOUT_ERR_TYPE,
                       "expected \"all\" or a list of smoke-test ids, got a mapping");
    if (v->n == 0)
        return rp_fail(c, v, ROLLOUT_ERR_VALUE, "the list names no smoke tests");
    cr->smoke = rp_alloc_array(c->arena, v->n, sizeof *cr->smoke);
    if (!cr->smoke)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        size_t mark = rp_path_index(c, i);
        const char *id;
        int rc = rp_ident(c, v->items[i], &id);
        if (rc)
            return rc;
        int idx = rp_smoke_index(p, id);
        if (idx < 0)
            return rp_fail(c, v->items[i], ROLLOUT_ERR_REFERENCE,
                           "smoke test \"%s\" is not defined under smoke_tests:", id);
        for (size_t j = 0; j < cr->n_smoke; j++)
            if (cr->smoke[j] == idx)
                return rp_fail(c, v->items[i], ROLLOUT_ERR_DUPLICATE,
                               "smoke test \"%s\" is listed twice", id);
        cr->smoke[cr->n_smoke++] = idx;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int parse_rollback(rp_ctx *c, const rp_node *v, rp_criterion *cr)
{
    int rc = rp_expect(c, v, RP_SCALAR);
    if (rc)
        return rc;
    if (v->plain && (strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0)) {
        cr->rollback = v->str[0] == 't';
        cr->rollback_reason = cr->rollback ? ROLLOUT_ROLLBACK_EVALUATION : -1;
        return ROLLOUT_OK;
    }
    /* Naming the seed's trigger tells the state machine why it rolls back. */
    static const int reasons[] = {ROLLOUT_ROLLBACK_CRITICAL_BUG, ROLLOUT_ROLLBACK_DATA_CORRUPTION,
                                  ROLLOUT_ROLLBACK_ERROR_RATE, ROLLOUT_ROLLBACK_EVALUATION};
    for (size_t i = 0; i < RP_COUNT(reasons); i++) {
        if (strcmp(v->str, rollout_rollback_reason_name(reasons[i])) == 0) {
            cr->rollback = true;
            cr->rollback_reason = reasons[i];
            return ROLLOUT_OK;
        }
    }
    return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                   "\"%s\" is not a rollback setting (write true, false, critical_bug, "
                   "data_corruption or error_rate)",
                   v->str);
}

/* Default min_samples of statistical comparisons (docs/evaluation.md):
 * latency samples per side for Mann-Whitney, requests per side for rates. */
#define RP_MIN_SAMPLES_MANN_WHITNEY 20
#define RP_MIN_SAMPLES_RATE 100

/* ---- verdict limits ----------------------------------------------------------- */

/* How many FAIL (or INCONCLUSIVE) verdicts in a row a gate tolerates; the
 * next one is its no-go (lib/machine.c). At most this many. */
#define RP_MAX_VERDICT_LIMIT 1000

int rp_parse_verdict_limits(rp_ctx *c, const rp_node *gate_map, rp_gate *g)
{
    static const char *const keys[] = {"failure_limit", "inconclusive_limit"};
    int *fields[] = {&g->failure_limit, &g->inconclusive_limit};
    for (int i = 0; i < 2; i++) {
        *fields[i] = -1;
        const rp_node *v = rp_map_get(gate_map, keys[i]);
        if (!v)
            continue;
        if (g->criteria < 0)
            return fail_key(c, gate_map, keys[i], ROLLOUT_ERR_UNKNOWN_KEY,
                            "%s counts evaluation verdicts; the gate names no criteria",
                            keys[i]);
        size_t mark = rp_path_key(c, keys[i]);
        uint64_t n;
        int rc = rp_uint(c, v, RP_MAX_VERDICT_LIMIT, &n);
        if (rc)
            return rc;
        rp_path_pop(c, mark);
        *fields[i] = (int)n;
    }
    return ROLLOUT_OK;
}

/* ---- metric names --------------------------------------------------------- */

#define RP_MAX_CUSTOM_DECLARED 64

int rp_parse_custom_metrics(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n > RP_MAX_CUSTOM_DECLARED)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu custom metrics; the limit is %d", n->n,
                       RP_MAX_CUSTOM_DECLARED);
    p->custom_metrics = rp_alloc_array(c->arena, n->n ? n->n : 1, sizeof *p->custom_metrics);
    if (!p->custom_metrics)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = rp_path_index(c, i);
        const char *name;
        if ((rc = rp_ident(c, n->items[i], &name)))
            return rc;
        if (rp_metric_lookup(name, strlen(name)) >= 0)
            return rp_fail(c, n->items[i], ROLLOUT_ERR_VALUE,
                           "\"%s\" is a standard metric; list only custom ones here", name);
        for (int j = 0; j < p->n_custom_metrics; j++)
            if (!strcmp(p->custom_metrics[j], name))
                return rp_fail(c, n->items[i], ROLLOUT_ERR_DUPLICATE,
                               "custom metric \"%s\" is listed twice", name);
        p->custom_metrics[p->n_custom_metrics++] = name;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

/* Splits s at '_' into at most 16 words (start, length); returns the count. */
static size_t words(const char *s, const char *w[16], size_t wl[16])
{
    size_t n = 0;
    while (*s && n < 16) {
        size_t l = strcspn(s, "_");
        w[n] = s;
        wl[n++] = l;
        s += l + (s[l] == '_');
    }
    return n;
}

/* The same letters in some order: "99p" and "p99". */
static bool anagram(const char *a, size_t la, const char *b, size_t lb)
{
    if (la != lb)
        return false;
    int count[256] = {0};
    for (size_t i = 0; i < la; i++) {
        count[(unsigned char)a[i]]++;
        count[(unsigned char)b[i]]--;
    }
    for (size_t i = 0; i < 256; i++)
        if (count[i])
            return false;
    return true;
}

/* The same words (at least two, each possibly with its letters scrambled)
 * in some order: p99_latency, latency_99p for latency_p99. */
static bool same_words(const char *a, const char *b)
{
    const char *wa[16], *wb[16];
    size_t la[16], lb[16];
    size_t na = words(a, wa, la), nb = words(b, wb, lb);
    if (na != nb || na < 2)
        return false;
    bool used[16] = {false};
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++) {
            if (!used[j] && anagram(wa[i], la[i], wb[j], lb[j]))
                found = used[j] = true;
        }
        if (!found)
            return false;
    }
    return true;
}

/* Edit distance; names with the same words in another order (or with a
 * word's letters swapped) count as 1, so p99_latency and latency_99p both
 * find latency_p99. */
static size_t name_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    if (la == lb && strcmp(a, b) && same_words(a, b))
        return 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* A criterion's metric must be a standard one or declared under
 * custom_metrics: a typo would otherwise be a custom metric no snapshot ever
 * reports, INCONCLUSIVE forever. */
static int check_metric_name(rp_ctx *c, const rp_node *n, const char *name)
{
    const rollout_plan *p = c->plan;
    if (rp_metric_lookup(name, strlen(name)) >= 0)
        return ROLLOUT_OK;
    for (int i = 0; i < p->n_custom_metrics; i++)
        if (!strcmp(p->custom_metrics[i], name))
            return ROLLOUT_OK;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (int i = 0; i < RP_M_COUNT + p->n_custom_metrics; i++) {
        const char *cand = i < RP_M_COUNT ? rp_metric_table[i].name
                                          : p->custom_metrics[i - RP_M_COUNT];
        size_t d = name_distance(name, cand);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    char hint[96] = "";
    if (best && best_d <= (strlen(name) + 2) / 3)
        snprintf(hint, sizeof hint, "did you mean %s? ", best);
    return rp_fail(c, n, ROLLOUT_ERR_REFERENCE,
                   "\"%s\" is not a known metric (%sa custom metric must be listed under "
                   "custom_metrics:)", name, hint);
}

static bool is_latency_percentile(int id)
{
    return id == RP_M_LATENCY_P50 || id == RP_M_LATENCY_P95 || id == RP_M_LATENCY_P99;
}

static int parse_metric_criterion(rp_ctx *c, const rp_node *n, rp_criterion *cr)
{
    int rc;
    const rp_node *v;
    size_t mark;

    mark = rp_path_key(c, "metric");
    if ((rc = rp_ident(c, rp_map_get(n, "metric"), &cr->metric)) ||
        (rc = check_metric_name(c, rp_map_get(n, "metric"), cr->metric)))
        return rc;
    rp_path_pop(c, mark);
    cr->metric_id = rp_metric_lookup(cr->metric, strlen(cr->metric));
    cr->kind = cr->metric_id >= 0 ? rp_metric_table[cr->metric_id].kind : RP_MK_NUMBER;

    /* exactly one threshold */
    const char *form_key = NULL;
    for (const char *const *k = threshold_keys; *k; k++) {
        if (!rp_map_get(n, *k))
            continue;
        if (form_key)
            return fail_key(c, n, *k, ROLLOUT_ERR_UNKNOWN_KEY,
                            "\"%s\" conflicts with \"%s\": a criterion has exactly one of max, "
                            "min, must_be_zero, max_baseline_plus, max_baseline_times",
                            *k, form_key);
        form_key = *k;
    }
    if (!form_key)
        return rp_fail(c, n, ROLLOUT_ERR_MISSING,
                       "criterion \"%s\" has no threshold (write one of max, min, must_be_zero, "
                       "max_baseline_plus, max_baseline_times)",
                       cr->id);

    mark = rp_path_key(c, form_key);
    v = rp_map_get(n, form_key);
    if (!strcmp(form_key, "max") || !strcmp(form_key, "min")) {
        cr->form = form_key[1] == 'a' ? RP_FORM_MAX : RP_FORM_MIN;
        rc = parse_bound(c, v, cr->kind, &cr->value);
    } else if (!strcmp(form_key, "must_be_zero")) {
        bool b;
        cr->form = RP_FORM_ZERO;
        if (!(rc = rp_bool(c, v, &b)) && !b)
            rc = rp_fail(c, v, ROLLOUT_ERR_VALUE,
                         "must_be_zero: false sets no threshold; write true or remove it");
    } else if (!strcmp(form_key, "max_baseline_plus")) {
        cr->form = RP_FORM_BASELINE_PLUS;
        rc = parse_percent(c, v, &cr->value);
    } else {
        cr->form = RP_FORM_BASELINE_TIMES;
        if (!(rc = rp_number(c, v, &cr->value)) && !(cr->value > 0))
            rc = rp_fail(c, v, ROLLOUT_ERR_RANGE, "the factor must be more than 0");
    }
    if (rc)
        return rc;
    rp_path_pop(c, mark);

    /* or_baseline / or_baseline_plus: a lenient alternative to max / min */
    bool or_base = false;
    if ((v = rp_map_get(n, "or_baseline"))) {
        mark = rp_path_key(c, "or_baseline");
        if ((rc = rp_bool(c, v, &or_base)))
            return rc;
        rp_path_pop(c, mark);
    }
    const rp_node *plus = rp_map_get(n, "or_baseline_plus");
    if (or_base && plus)
        return fail_key(c, n, "or_baseline_plus", ROLLOUT_ERR_UNKNOWN_KEY,
                        "\"or_baseline_plus\" conflicts with \"or_baseline\"; keep one");
    if ((or_base || plus) && cr->form != RP_FORM_MAX && cr->form != RP_FORM_MIN)
        return fail_key(c, n, plus ? "or_baseline_plus" : "or_baseline", ROLLOUT_ERR_UNKNOWN_KEY,
                        "\"%s\" applies only to max or min, not to %s",
                        plus ? "or_baseline_plus" : "or_baseline", form_key);
    if (plus && cr->form == RP_FORM_MIN)
        return fail_key(c, n, "or_baseline_plus", ROLLOUT_ERR_UNKNOWN_KEY,
                        "\"or_baseline_plus\" applies only to max (with min, use or_baseline)");
    if (or_base)
        cr->lenient = RP_LENIENT_BASELINE;
    if (plus) {
        cr->lenient = RP_LENIENT_BASELINE_PLUS;
        if ((rc = parse_with(c, n, "or_baseline_plus", parse_percent, &cr->lenient_plus)))
            return rc;
    }

    if ((v = rp_map_get(n, "strict"))) {
        if (cr->form == RP_FORM_ZERO)
            return fail_key(c, n, "strict", ROLLOUT_ERR_UNKNOWN_KEY,
                            "strict applies to max, min, max_baseline_plus and "
                            "max_baseline_times, not to must_be_zero");
        mark = rp_path_key(c, "strict");
        if ((rc = rp_bool(c, v, &cr->strict)))
            return rc;
        rp_path_pop(c, mark);
    }

    if ((v = rp_map_get(n, "or_sla"))) {
        if (cr->form != RP_FORM_MAX && cr->form != RP_FORM_MIN)
            return fail_key(c, n, "or_sla", ROLLOUT_ERR_UNKNOWN_KEY,
                            "\"or_sla\" applies only to max or min, not to %s", form_key);
        mark = rp_path_key(c, "or_sla");
        if ((rc = parse_bound(c, v, cr->kind, &cr->sla)))
            return rc;
        rp_path_pop(c, mark);
        cr->has_sla = true;
    }

    cr->direction = cr->form == RP_FORM_MIN ? ROLLOUT_LOWER_IS_WORSE : ROLLOUT_HIGHER_IS_WORSE;
    if ((v = rp_map_get(n, "direction"))) {
        mark = rp_path_key(c, "direction");
        if ((rc = rp_expect(c, v, RP_SCALAR)))
            return rc;
        int dir = !strcmp(v->str, "higher_is_worse")  ? ROLLOUT_HIGHER_IS_WORSE
                  : !strcmp(v->str, "lower_is_worse") ? ROLLOUT_LOWER_IS_WORSE
                                                      : -1;
        if (dir < 0)
            return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                           "\"%s\" is not a direction (write higher_is_worse or lower_is_worse)",
                           v->str);
        rp_path_pop(c, mark);
        if (cr->form != RP_FORM_BASELINE_PLUS && cr->form != RP_FORM_BASELINE_TIMES &&
            dir != cr->direction)
            return fail_key(c, n, "direction", ROLLOUT_ERR_UNKNOWN_KEY,
                            "%s already says which way is worse; direction applies to "
                            "max_baseline_plus and max_baseline_times",
                            form_key);
        cr->direction = dir;
    }

    /* per_request / floor: relative limits on counts such as support tickets,
     * whose baseline may be 0 and whose traffic share differs */
    bool relative_up = (cr->form == RP_FORM_BASELINE_PLUS || cr->form == RP_FORM_BASELINE_TIMES) &&
                       cr->direction == ROLLOUT_HIGHER_IS_WORSE;
    static const char *const count_keys[] = {"per_request", "floor"};
    for (int i = 0; i < 2; i++) {
        if (!(v = rp_map_get(n, count_keys[i])))
            continue;
        if (!relative_up)
            return fail_key(c, n, count_keys[i], ROLLOUT_ERR_UNKNOWN_KEY,
                            "%s applies to max_baseline_plus and max_baseline_times (higher is "
                            "worse)", count_keys[i]);
        mark = rp_path_key(c, count_keys[i]);
        if (i == 0) {
            if ((rc = rp_bool(c, v, &cr->per_request)))
                return rc;
            if (cr->kind != RP_MK_COUNT || cr->metric_id == RP_M_REQUESTS)
                return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                               "per_request divides a count by the requests; %s is not such "
                               "a count", cr->metric);
        } else {
            if ((rc = parse_bound(c, v, cr->kind, &cr->floor)))
                return rc;
            cr->has_floor = true;
        }
        rp_path_pop(c, mark);
    }

    if ((v = rp_map_get(n, "min_samples"))) {
        mark = rp_path_key(c, "min_samples");
        if ((rc = rp_uint(c, v, (uint64_t)1 << 53, &cr->min_samples)))
            return rc;
        rp_path_pop(c, mark);
    }

    if ((v = rp_map_get(n, "test"))) {
        mark = rp_path_key(c, "test");
        if ((rc = rp_expect(c, v, RP_SCALAR)))
            return rc;
        if (strcmp(v->str, "mann_whitney") != 0)
            return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                           "\"%s\" is not a test (the one test to name is mann_whitney; rates "
                           "are tested whenever confidence is set)",
                           v->str);
        rp_path_pop(c, mark);
        if (!is_latency_percentile(cr->metric_id))
            return fail_key(c, n, "test", ROLLOUT_ERR_UNKNOWN_KEY,
                            "test: mann_whitney compares latency samples; the metric must be "
                            "latency_p50, latency_p95 or latency_p99, not %s",
                            cr->metric);
        if (cr->form != RP_FORM_BASELINE_PLUS && cr->form != RP_FORM_BASELINE_TIMES)
            return fail_key(c, n, "test", ROLLOUT_ERR_UNKNOWN_KEY,
                            "test: mann_whitney compares against the baseline; use "
                            "max_baseline_plus or max_baseline_times instead of %s",
                            form_key);
        cr->test = RP_TEST_MANN_WHITNEY;
        cr->confidence = 0.95;
    }

    if ((v = rp_map_get(n, "confidence"))) {
        bool rate_form = cr->metric_id == RP_M_ERROR_RATE &&
                         (cr->form == RP_FORM_MAX || cr->form == RP_FORM_BASELINE_PLUS ||
                          cr->form == RP_FORM_BASELINE_TIMES);
        if (cr->test != RP_TEST_MANN_WHITNEY && !rate_form)
            return fail_key(c, n, "confidence", ROLLOUT_ERR_UNKNOWN_KEY,
                            "confidence applies to error_rate with max, max_baseline_plus or "
                            "max_baseline_times, or to latency with test: mann_whitney");
        if (cr->test == RP_TEST_NONE)
            cr->test = RP_TEST_RATE;
        mark = rp_path_key(c, "confidence");
        if ((rc = rp_fraction(c, v, &cr->confidence)))
            return rc;
        if (!(cr->confidence >= 0.5 && cr->confidence < 1.0))
            return rp_fail(c, v, ROLLOUT_ERR_RANGE,
                           "confidence %s is outside 50%%..99.99%% (write e.g. 95%%)", v->str);
        rp_path_pop(c, mark);
    }

    if (rp_map_get(n, "effect_size")) {
        if (cr->test != RP_TEST_MANN_WHITNEY)
            return fail_key(c, n, "effect_size", ROLLOUT_ERR_UNKNOWN_KEY,
                            "effect_size applies only with test: mann_whitney");
        if ((rc = parse_with(c, n, "effect_size", parse_percent, &cr->effect_size)))
            return rc;
    }
    /* A statistical comparison on a handful of samples can never reach
     * significance (2 samples against 2: the smallest exact p is 1/6), so a
     * 100x slower release would pass: every test gets a default minimum,
     * written out by rollout show. */
    if (cr->test != RP_TEST_NONE) {
        const rp_node *ms = rp_map_get(n, "min_samples");
        if (!ms)
            cr->min_samples = cr->test == RP_TEST_MANN_WHITNEY ? RP_MIN_SAMPLES_MANN_WHITNEY
                                                               : RP_MIN_SAMPLES_RATE;
        else if (cr->min_samples == 0)
            return fail_key(c, n, "min_samples", ROLLOUT_ERR_RANGE,
                            "a statistical comparison needs samples: min_samples must be at "
                            "least 1 (the default is %d)",
                            cr->test == RP_TEST_MANN_WHITNEY ? RP_MIN_SAMPLES_MANN_WHITNEY
                                                             : RP_MIN_SAMPLES_RATE);
    }
    if (cr->test == RP_TEST_MANN_WHITNEY && cr->strict)
        return fail_key(c, n, "strict", ROLLOUT_ERR_UNKNOWN_KEY,
                        "strict does not apply to test: mann_whitney (a test decides by "
                        "p < 1 - confidence)");
    if (cr->test != RP_TEST_NONE && cr->form != RP_FORM_MIN &&
        cr->direction == ROLLOUT_LOWER_IS_WORSE)
        return fail_key(c, n, "direction", ROLLOUT_ERR_UNKNOWN_KEY,
                        "direction: lower_is_worse does not apply to statistical tests (they "
                        "test for an increase)");
    return ROLLOUT_OK;
}

static int parse_criterion(rp_ctx *c, const rp_node *n, rp_criterion *cr,
                           const rp_criterion *earlier, size_t n_earlier)
{
    static const char *const keys[] = {
        "id", "description", "metric", "smoke_tests", "max", "min", "must_be_zero",
        "max_baseline_plus", "max_baseline_times", "or_baseline", "or_baseline_plus",
        "min_samples", "confidence", "test", "effect_size", "rollback", "strict", "or_sla",
        "direction", "dry_run", "per_request", "floor", NULL};
    int rc = rp_map_check(c, n, keys);
    if (rc)
        return rc;
    const rp_node *v;
    size_t mark;

    if ((rc = rp_map_require(c, n, "id", &v)))
        return rc;
    mark = rp_path_key(c, "id");
    if ((rc = rp_ident(c, v, &cr->id)))
        return rc;
    for (size_t i = 0; i < n_earlier; i++)
        if (!strcmp(earlier[i].id, cr->id))
            return rp_fail(c, v, ROLLOUT_ERR_DUPLICATE,
                           "criterion \"%s\" is defined twice in this set", cr->id);
    rp_path_pop(c, mark);

    if ((v = rp_map_get(n, "description"))) {
        mark = rp_path_key(c, "description");
        if ((rc = rp_string(c, v, &cr->description)))
            return rc;
        rp_path_pop(c, mark);
    }

    if ((v = rp_map_get(n, "dry_run"))) {
        mark = rp_path_key(c, "dry_run");
        if ((rc = rp_bool(c, v, &cr->dry_run)))
            return rc;
        rp_path_pop(c, mark);
    }

    cr->rollback_reason = -1;
    if ((v = rp_map_get(n, "rollback"))) {
        mark = rp_path_key(c, "rollback");
        if ((rc = parse_rollback(c, v, cr)))
            return rc;
        rp_path_pop(c, mark);
    }

    const rp_node *smoke = rp_map_get(n, "smoke_tests");
    const rp_node *metric = rp_map_get(n, "metric");
    if (smoke && metric)
        return fail_key(c, n, "smoke_tests", ROLLOUT_ERR_UNKNOWN_KEY,
                        "a criterion checks either a metric or smoke_tests, not both");
    if (!smoke && !metric)
        return rp_fail(c, n, ROLLOUT_ERR_MISSING,
                       "criterion \"%s\" needs \"metric\" or \"smoke_tests\"", cr->id);
    if (metric)
        return parse_metric_criterion(c, n, cr);

    cr->form = RP_FORM_SMOKE;
    cr->metric_id = -1;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->items[2 * i]->str;
        if (strcmp(k, "id") && strcmp(k, "description") && strcmp(k, "smoke_tests") &&
            strcmp(k, "rollback") && strcmp(k, "dry_run"))
            return fail_key(c, n, k, ROLLOUT_ERR_UNKNOWN_KEY,
                            "\"%s\" does not apply to a smoke_tests criterion (it takes id, "
                            "description, smoke_tests, rollback, dry_run)",
                            k);
    }
    mark = rp_path_key(c, "smoke_tests");
    if ((rc = parse_smoke_list(c, smoke, cr)))
        return rc;
    rp_path_pop(c, mark);
    return ROLLOUT_OK;
}

int rp_parse_criteria(rp_ctx *c, const rp_node *n, rp_criteria_set *out)
{
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n == 0)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "a criteria set needs at least one criterion");
    if (n->n > ROLLOUT_MAX_CRITERIA)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu criteria in one set; the limit is %d", n->n,
                       ROLLOUT_MAX_CRITERIA);
    out->items = rp_alloc_array(c->arena, n->n, sizeof *out->items);
    if (!out->items)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    out->n = 0;
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = rp_path_index(c, i);
        if ((rc = parse_criterion(c, n->items[i], &out->items[i], out->items, i)))
            return rc;
        rp_path_pop(c, mark);
        out->n++;
    }
    return ROLLOUT_OK;
}

/* ---- dumping ------------------------------------------------------------------ */

/* The shortest %g text that reads back as exactly v, without an exponent
 * for everyday magnitudes ("10", not "1e+01"). */
static void shortest(double v, char *buf, size_t cap)
{
    bool everyday = fabs(v) >= 1e-4 && fabs(v) < 1e15;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v && !(everyday && strchr(buf, 'e')))
            return;
    }
}

/* "0.5%" for 0.005, choosing the digits so that rp_fraction's text / 100
 * gives back exactly the same double. */
static void emit_percent(rp_emitter *e, double frac)
{
    char buf[48];
    double x = frac * 100.0;
    double cand[5] = {x, nextafter(x, INFINITY), nextafter(x, -INFINITY), 0, 0};
    cand[3] = nextafter(cand[1], INFINITY);
    cand[4] = nextafter(cand[2], -INFINITY);
    size_t best = 0;
    for (size_t i = 0; i < RP_COUNT(cand); i++) {
        char t[40];
        shortest(cand[i], t, sizeof t);
        if (strtod(t, NULL) / 100.0 == frac) {
            snprintf(buf, sizeof buf, "%s%%", t);
            best = 1;
            break;
        }
    }
    if (!best) {
        /* unreachable for values that came from a percentage; stay exact */
        shortest(frac, buf, sizeof buf);
        rp_emit_raw(e, buf);
        return;
    }
    rp_emit_str(e, buf);
}

static void emit_bound(rp_emitter *e, const rp_criterion *cr, double v)
{
    char buf[48];
    switch (cr->kind) {
    case RP_MK_LATENCY:
        shortest(v, buf, sizeof buf - 1);
        strcat(buf, "s");
        rp_emit_str(e, buf);
        return;
    case RP_MK_DURATION:
        rp_emit_duration(e, (int64_t)v);
        return;
    case RP_MK_RATE:
        emit_percent(e, v);
        return;
    default:
        shortest(v, buf, sizeof buf);
        rp_emit_raw(e, buf);
        return;
    }
}

static void emit_kv_str(rp_emitter *e, const char *k, const char *v)
{
    rp_emit_key(e, k);
    rp_emit_str(e, v);
}

void rp_dump_criteria(rp_emitter *e, const rollout_plan *p, const rp_criteria_set *s)
{
    char buf[48];
    rp_emit_seq_begin(e, false);
    for (size_t i = 0; i < s->n; i++) {
        const rp_criterion *cr = &s->items[i];
        rp_emit_map_begin(e);
        emit_kv_str(e, "id", cr->id);
        if (cr->description)
            emit_kv_str(e, "description", cr->description);
        if (cr->form == RP_FORM_SMOKE) {
            rp_emit_key(e, "smoke_tests");
            if (cr->smoke_all) {
                rp_emit_str(e, "all");
            } else {
                rp_emit_seq_begin(e, true);
                for (size_t j = 0; j < cr->n_smoke; j++)
                    rp_emit_str(e, p->smoke[cr->smoke[j]].id);
                rp_emit_seq_end(e);
            }
        } else {
            emit_kv_str(e, "metric", cr->metric);
            switch (cr->form) {
            case RP_FORM_MAX:
            case RP_FORM_MIN:
                rp_emit_key(e, cr->form == RP_FORM_MAX ? "max" : "min");
                emit_bound(e, cr, cr->value);
                break;
            case RP_FORM_ZERO:
                rp_emit_key(e, "must_be_zero");
                rp_emit_raw(e, "true");
                break;
            case RP_FORM_BASELINE_PLUS:
                rp_emit_key(e, "max_baseline_plus");
                emit_percent(e, cr->value);
                break;
            default:
                rp_emit_key(e, "max_baseline_times");
                shortest(cr->value, buf, sizeof buf);
                rp_emit_raw(e, buf);
                break;
            }
            if (cr->lenient == RP_LENIENT_BASELINE) {
                rp_emit_key(e, "or_baseline");
                rp_emit_raw(e, "true");
            } else if (cr->lenient == RP_LENIENT_BASELINE_PLUS) {
                rp_emit_key(e, "or_baseline_plus");
                emit_percent(e, cr->lenient_plus);
            }
            if (cr->strict) {
                rp_emit_key(e, "strict");
                rp_emit_raw(e, "true");
            }
            if (cr->has_sla) {
                rp_emit_key(e, "or_sla");
                emit_bound(e, cr, cr->sla);
            }
            if (cr->direction == ROLLOUT_LOWER_IS_WORSE && cr->form != RP_FORM_MIN)
                emit_kv_str(e, "direction", "lower_is_worse");
            if (cr->per_request) {
                rp_emit_key(e, "per_request");
                rp_emit_raw(e, "true");
            }
            if (cr->has_floor) {
                rp_emit_key(e, "floor");
                emit_bound(e, cr, cr->floor);
            }
            if (cr->min_samples) {
                rp_emit_key(e, "min_samples");
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)cr->min_samples);
                rp_emit_raw(e, buf);
            }
            if (cr->test == RP_TEST_MANN_WHITNEY)
                emit_kv_str(e, "test", "mann_whitney");
            if (cr->test != RP_TEST_NONE) {
                rp_emit_key(e, "confidence");
                emit_percent(e, cr->confidence);
            }
            if (cr->test == RP_TEST_MANN_WHITNEY && cr->effect_size > 0) {
                rp_emit_key(e, "effect_size");
                emit_percent(e, cr->effect_size);
            }
        }
        if (cr->dry_run) {
            rp_emit_key(e, "dry_run");
            rp_emit_raw(e, "true");
        }
        if (cr->rollback) {
            rp_emit_key(e, "rollback");
            if (cr->rollback_reason == ROLLOUT_ROLLBACK_EVALUATION)
                rp_emit_raw(e, "true");
            else
                rp_emit_str(e, rollout_rollback_reason_name(cr->rollback_reason));
        }
        rp_emit_map_end(e);
    }
    rp_emit_seq_end(e);
}

/* ---- evaluation ------------------------------------------------------------------ */

/* Thresholds computed from a baseline (1.9s + 10 %) land an ulp away from
 * the decimal a person reads; values within this relative distance count
 * as equal so "at the threshold" passes as the plan's words promise. */
#define RP_EQ_TOL 1e-9

static bool le_tol(double a, double b)
{
    return a <= b || a - b <= RP_EQ_TOL * fabs(b);
}

static bool ge_tol(double a, double b)
{
    return a >= b || b - a <= RP_EQ_TOL * fabs(b);
}

/* Within an upper (is_max) or lower bound; strict: true makes a value equal
 * to the bound (within RP_EQ_TOL) fail, as the seed's "< 2s" says. */
static bool within(const rp_criterion *cr, bool is_max, double v, double bound)
{
    if (cr->strict)
        return is_max ? !ge_tol(v, bound) : !le_tol(v, bound);
    return is_max ? le_tol(v, bound) : ge_tol(v, bound);
}

/* The comparison a reason prints for a pass or a failure. */
static const char *op(const rp_criterion *cr, bool is_max, bool pass)
{
    if (cr->strict)
        return is_max ? (pass ? "<" : ">=") : (pass ? ">" : "<=");
    return is_max ? (pass ? "<=" : ">") : (pass ? ">=" : "<");
}

/* The significance level 1 - C as the decimal the plan wrote: confidences
 * are read from percentages with at most a dozen digits, so rounding C to
 * 1e-12 recovers that decimal, and the division rounds the difference once
 * (1 - 0.95 in binary is 0.050000000000000044, which made an exact p of
 * 1/20 "significant" at 95 %). */
static double alpha_of(double confidence)
{
    double scaled = nearbyint(confidence * 1e12);
    return (1e12 - scaled) / 1e12;
}

/* p < alpha, the documented rule. A p-value within one part in 10^9 below
 * alpha counts as equal to it (not significant): an exact p-value such as
 * 1/20 is a sum of rounded probabilities and may land an ulp under. */
static bool significant(double p, double alpha)
{
    return p < alpha && alpha - p > RP_EQ_TOL * alpha;
}

static void say(rollout_criterion_result *r, int verdict, const char *fmt, ...) RP_PRINTF(3, 4);
static void say(rollout_criterion_result *r, int verdict, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->verdict = verdict;
}

/* Small formatting buffers, so one reason can show several values. */
typedef struct vbuf {
    char s[40];
} vbuf;

static vbuf fv(double v, int kind)
{
    vbuf b;
    rp_format_value(v, kind, b.s, sizeof b.s);
    return b;
}

/* The new version's value; a percentile in a histogram's +Inf bucket says
 * where it is. */
static vbuf fobs(double v, int kind)
{
    vbuf b = fv(v, kind);
    if (isinf(v))
        snprintf(b.s, sizeof b.s, "+Inf (beyond the last histogram bound)");
    return b;
}

static vbuf fp(double p)
{
    vbuf b;
    snprintf(b.s, sizeof b.s, "%.2g", p);
    return b;
}

/* "p=0.05", or "p<1e-300" for a p-value that underflowed (to 0 or to a
 * subnormal): "p=0" would claim certainty the test never gives. */
static vbuf fpv(double p)
{
    vbuf b;
    if (p < 1e-300)
        snprintf(b.s, sizeof b.s, "p<1e-300");
    else
        snprintf(b.s, sizeof b.s, "p=%.2g", p);
    return b;
}

static vbuf fpct(double frac)
{
    vbuf b;
    rp_format_value(frac, RP_MK_RATE, b.s, sizeof b.s);
    return b;
}

static bool is_latency(int id)
{
    return is_latency_percentile(id);
}

/* The sample size min_samples is checked against: the latency samples
 * behind a percentile when there are any, otherwise the request count. */
static bool sample_size(const rollout_metrics *m, int variant, const rp_criterion *cr, double *n,
                        const char **unit)
{
    const rp_side *s = &m->side[variant];
    if (is_latency(cr->metric_id) && s->dist_n) {
        *n = s->dist_total;
        *unit = "latency samples";
        return true;
    }
    *unit = "requests";
    if (s->have & (1u << RP_M_REQUESTS)) {
        *n = s->std[RP_M_REQUESTS];
        return true;
    }
    return false;
}

static const char *side_name(int variant)
{
    return variant == ROLLOUT_NEW ? "the new version" : "the baseline";
}

/* False (with the result made INCONCLUSIVE) when a side has fewer samples
 * than the criterion asks for. */
static bool enough(const rollout_metrics *m, int variant, const rp_criterion *cr,
                   rollout_criterion_result *r)
{
    double n;
    const char *unit;
    bool known = sample_size(m, variant, cr, &n, &unit);
    if (variant == ROLLOUT_NEW && known)
        r->samples = n;
    if (!cr->min_samples)
        return true;
    if (!known) {
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
            "min_samples %llu needs the request count of %s, which is not reported",
            (unsigned long long)cr->min_samples, side_name(variant));
        return false;
    }
    if (n < (double)cr->min_samples) {
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "only %.0f %s on %s, fewer than min_samples %llu", n,
            unit, side_name(variant), (unsigned long long)cr->min_samples);
        return false;
    }
    return true;
}

/* Appends id to a ", "-separated list; once the list is full it ends in
 * "..." rather than in half a name. */
static void list_add(char *list, size_t cap, const char *id)
{
    size_t len = strlen(list);
    if (len >= 3 && !strcmp(list + len - 3, "..."))
        return;
    size_t need = (len ? 2 : 0) + strlen(id);
    if (len + need + 5 < cap)
        snprintf(list + len, cap - len, "%s%s", len ? ", " : "", id);
    else
        snprintf(list + len, cap - len, "%s...", len ? ", " : "");
}

static void judge_smoke(const rollout_plan *p, const rollout_metrics *m, const rp_criterion *cr,
                        rollout_criterion_result *r)
{
    size_t n = cr->smoke_all ? (size_t)p->n_smoke : cr->n_smoke;
    size_t passed = 0, failed = 0, missing = 0;
    /* the reason's room after "no result for N of M smoke tests: " */
    char failed_ids[120] = "", missing_ids[120] = "";
    for (size_t i = 0; i < n; i++) {
        const char *id = p->smoke[cr->smoke_all ? (int)i : cr->smoke[i]].id;
        int res = rp_metrics_smoke(m, ROLLOUT_NEW, id);
        if (res > 0) {
            passed++;
        } else if (res == 0) {
            failed++;
            list_add(failed_ids, sizeof failed_ids, id);
        } else {
            missing++;
            list_add(missing_ids, sizeof missing_ids, id);
        }
    }
    r->observed = (double)passed;
    r->threshold = (double)n;
    r->samples = (double)(passed + failed);
    if (failed)
        say(r, ROLLOUT_VERDICT_FAIL, "%zu of %zu smoke tests failed: %s", failed, n, failed_ids);
    else if (missing)
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "no result for %zu of %zu smoke tests: %s", missing,
            n, missing_ids);
    else
        say(r, ROLLOUT_VERDICT_PASS, "all %zu smoke tests passed", n);
}

/* "max 2s", "baseline 1.9s + 10% = 2.09s", ... for reasons. */
static void describe_limit(const rp_criterion *cr, double thr, double base, bool base_used,
                           char *buf, size_t cap)
{
    int k = cr->kind;
    switch (cr->form) {
    case RP_FORM_BASELINE_PLUS:
        snprintf(buf, cap, "baseline %s %s %s = %s", fv(base, k).s,
                 cr->direction == ROLLOUT_LOWER_IS_WORSE ? "-" : "+", fpct(cr->value).s,
                 fv(thr, k).s);
        return;
    case RP_FORM_BASELINE_TIMES:
        snprintf(buf, cap, "baseline %s %s %g = %s", fv(base, k).s,
                 cr->direction == ROLLOUT_LOWER_IS_WORSE ? "/" : "x", cr->value, fv(thr, k).s);
        return;
    default:
        break;
    }
    const char *word = cr->form == RP_FORM_MIN ? "min" : "max";
    if (!base_used)
        snprintf(buf, cap, "%s %s", word, fv(cr->value, k).s);
    else if (cr->lenient == RP_LENIENT_BASELINE_PLUS)
        snprintf(buf, cap, "%s(%s, baseline %s + %s) = %s", word, fv(cr->value, k).s,
                 fv(base, k).s, fpct(cr->lenient_plus).s, fv(thr, k).s);
    else
        snprintf(buf, cap, "%s(%s, baseline %s) = %s", word, fv(cr->value, k).s, fv(base, k).s,
                 fv(thr, k).s);
}

static void judge_plain(const rollout_metrics *m, const rp_criterion *cr,
                        rollout_criterion_result *r)
{
    int k = cr->kind;
    double obs;
    if (!rp_metrics_value(m, ROLLOUT_NEW, cr->metric_id, cr->metric, &obs)) {
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "%s is not reported for the new version",
            cr->metric);
        return;
    }
    r->observed = obs;
    if (!enough(m, ROLLOUT_NEW, cr, r))
        return;

    if (cr->form == RP_FORM_ZERO) {
        r->threshold = 0;
        if (obs == 0)
            say(r, ROLLOUT_VERDICT_PASS, "%s is 0", cr->metric);
        else
            say(r, ROLLOUT_VERDICT_FAIL, "%s is %s; it must be 0", cr->metric, fobs(obs, k).s);
        return;
    }

    bool wants_base = cr->form == RP_FORM_BASELINE_PLUS || cr->form == RP_FORM_BASELINE_TIMES ||
                      cr->lenient != RP_LENIENT_NONE;
    double base = NAN;
    bool have_base = false;
    char why_no_base[200] = "";
    if (wants_base) {
        const char *needs = cr->form == RP_FORM_BASELINE_PLUS    ? "max_baseline_plus"
                            : cr->form == RP_FORM_BASELINE_TIMES ? "max_baseline_times"
                            : cr->lenient == RP_LENIENT_BASELINE ? "or_baseline"
                                                                 : "or_baseline_plus";
        if (!rp_metrics_value(m, ROLLOUT_STABLE, cr->metric_id, cr->metric, &base)) {
            snprintf(why_no_base, sizeof why_no_base,
                     "the baseline's %s is not reported (%s needs it)", cr->metric, needs);
        } else {
            rollout_criterion_result tmp = *r;
            if (enough(m, ROLLOUT_STABLE, cr, &tmp))
                have_base = true;
            else
                snprintf(why_no_base, sizeof why_no_base, "%s", tmp.reason);
            r->baseline = base;
        }
    }

    char limit[200];
    double thr;
    if (cr->form == RP_FORM_MAX || cr->form == RP_FORM_MIN) {
        bool is_max = cr->form == RP_FORM_MAX;
        thr = cr->value;
        bool base_used = false;
        if (cr->lenient != RP_LENIENT_NONE && have_base) {
            double alt = base * (1.0 + (cr->lenient == RP_LENIENT_BASELINE_PLUS
                                            ? cr->lenient_plus : 0.0));
            /* the lenient (worse) of the two bounds */
            if (is_max ? alt > thr : alt < thr) {
                thr = alt;
                base_used = true;
            }
        }
        r->threshold = thr;
        describe_limit(cr, thr, base, base_used, limit, sizeof limit);
        if (is_max && isinf(obs) && isinf(thr)) {
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "%s %s against %s: both percentiles are "
                "beyond the last histogram bound", cr->metric, fobs(obs, k).s, limit);
            return;
        }
        bool ok = within(cr, is_max, obs, thr);
        /* or_sla: "< 1% (or SLA)" passes at either bound; the SLA is inclusive */
        bool sla_ok = cr->has_sla && (is_max ? le_tol(obs, cr->sla) : ge_tol(obs, cr->sla));
        if (ok)
            say(r, ROLLOUT_VERDICT_PASS, "%s %s %s %s", cr->metric, fobs(obs, k).s,
                op(cr, is_max, true), limit);
        else if (sla_ok)
            say(r, ROLLOUT_VERDICT_PASS, "%s %s %s %s, but %s SLA %s", cr->metric,
                fobs(obs, k).s, op(cr, is_max, false), limit, is_max ? "<=" : ">=",
                fv(cr->sla, k).s);
        else if (cr->lenient != RP_LENIENT_NONE && !have_base)
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "%s %s %s %s, and %s", cr->metric,
                fobs(obs, k).s, op(cr, is_max, false), limit, why_no_base);
        else
            say(r, ROLLOUT_VERDICT_FAIL, "%s %s %s %s%s%s", cr->metric, fobs(obs, k).s,
                op(cr, is_max, false), limit, cr->has_sla ? " and SLA " : "",
                cr->has_sla ? fv(cr->sla, k).s : "");
        return;
    }

    /* max_baseline_plus / max_baseline_times */
    if (!have_base) {
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "%s", why_no_base);
        return;
    }
    if (base < 0) {
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
            "the baseline's %s is negative (%s); a relative limit needs a positive baseline",
            cr->metric, fv(base, k).s);
        return;
    }
    bool lower = cr->direction == ROLLOUT_LOWER_IS_WORSE;
    if (lower)
        /* "not more than P below the baseline" (throughput, KPIs) */
        thr = cr->form == RP_FORM_BASELINE_PLUS ? base * (1.0 - cr->value) : base / cr->value;
    else
        thr = cr->form == RP_FORM_BASELINE_PLUS ? base * (1.0 + cr->value) : base * cr->value;
    r->threshold = thr;
    if (lower) {
        describe_limit(cr, thr, base, true, limit, sizeof limit);
        if (within(cr, false, obs, thr))
            say(r, ROLLOUT_VERDICT_PASS, "%s %s %s %s", cr->metric, fobs(obs, k).s,
                op(cr, false, true), limit);
        else
            say(r, ROLLOUT_VERDICT_FAIL, "%s %s %s %s", cr->metric, fobs(obs, k).s,
                op(cr, false, false), limit);
        return;
    }
    if (cr->has_floor && le_tol(obs, cr->floor)) {
        say(r, ROLLOUT_VERDICT_PASS, "%s %s <= floor %s", cr->metric, fobs(obs, k).s,
            fv(cr->floor, k).s);
        return;
    }
    if (cr->per_request) {
        /* The new version serves a share of the traffic: scale the
         * baseline's count to the new version's requests. */
        const rp_side *sn = &m->side[ROLLOUT_NEW], *sb = &m->side[ROLLOUT_STABLE];
        uint32_t req = 1u << RP_M_REQUESTS;
        if (!(sn->have & req) || !(sb->have & req) || !(sn->std[RP_M_REQUESTS] > 0) ||
            !(sb->std[RP_M_REQUESTS] > 0)) {
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
                "per_request needs the request counts of both versions (above 0)");
            return;
        }
        double nn = sn->std[RP_M_REQUESTS], nb = sb->std[RP_M_REQUESTS];
        thr *= nn / nb;
        r->threshold = thr;
        if (base > 0 || !cr->has_floor) {
            if (base == 0 && obs > 0)
                goto zero_base;
            char rel[48];
            if (cr->form == RP_FORM_BASELINE_PLUS)
                snprintf(rel, sizeof rel, "+ %s", fpct(cr->value).s);
            else
                snprintf(rel, sizeof rel, "x %g", cr->value);
            bool ok = le_tol(obs, thr);
            say(r, ok ? ROLLOUT_VERDICT_PASS : ROLLOUT_VERDICT_FAIL,
                "%s %s %s baseline %s in %.0f requests %s, scaled to %.0f requests = %s",
                cr->metric, fobs(obs, k).s, ok ? "<=" : ">", fv(base, k).s, nb, rel, nn,
                fv(thr, RP_MK_NUMBER).s);
            return;
        }
    }
    if (base == 0 && obs > 0 && cr->has_floor) {
        /* above the floor, against a baseline without any: a real increase */
        say(r, ROLLOUT_VERDICT_FAIL, "%s %s > floor %s, against a baseline of 0", cr->metric,
            fobs(obs, k).s, fv(cr->floor, k).s);
        return;
    }
zero_base:
    if (base == 0 && obs > 0) {
        /* Any increase over zero is infinitely many percent: judging it would
         * fail every canary whose baseline happened to be quiet. */
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
            "%s %s against a baseline of 0: a relative limit cannot judge it "
            "(add an absolute max)",
            cr->metric, fobs(obs, k).s);
        return;
    }
    describe_limit(cr, thr, base, true, limit, sizeof limit);
    if (isinf(obs) && isinf(thr)) {
        /* "+Inf <= +Inf" would pass a version whose percentile is unknown */
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "%s %s against baseline %s: both percentiles are "
            "beyond the last histogram bound", cr->metric, fobs(obs, k).s, fv(base, k).s);
        return;
    }
    if (within(cr, true, obs, thr))
        say(r, ROLLOUT_VERDICT_PASS, "%s %s %s %s", cr->metric, fobs(obs, k).s,
            op(cr, true, true), limit);
    else
        say(r, ROLLOUT_VERDICT_FAIL, "%s %s %s %s", cr->metric, fobs(obs, k).s,
            op(cr, true, false), limit);
}

static bool counts(const rollout_metrics *m, int variant, double *n, double *x)
{
    const rp_side *s = &m->side[variant];
    uint32_t need = (1u << RP_M_REQUESTS) | (1u << RP_M_ERRORS);
    if ((s->have & need) != need)
        return false;
    *n = s->std[RP_M_REQUESTS];
    *x = s->std[RP_M_ERRORS];
    return true;
}

static void judge_rate(const rollout_metrics *m, const rp_criterion *cr,
                       rollout_criterion_result *r)
{
    double n, x;
    if (!counts(m, ROLLOUT_NEW, &n, &x)) {
        double rate;
        if (rp_metrics_value(m, ROLLOUT_NEW, RP_M_ERROR_RATE, "error_rate", &rate)) {
            r->observed = rate;
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
                "confidence needs the new version's request and error counts; only "
                "error_rate is reported");
        } else {
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
                "error_rate is not reported for the new version (requests and errors)");
        }
        return;
    }
    r->samples = n;
    if (n == 0) {
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "no requests on the new version");
        return;
    }
    if (!enough(m, ROLLOUT_NEW, cr, r))
        return;
    double obs = x / n, alpha = alpha_of(cr->confidence);
    int conf_pct = (int)lround(cr->confidence * 100);
    r->observed = obs;

    /* The absolute bound: three-way, so noise neither fails a good version
     * (FAIL needs the lower bound above the limit) nor passes a bad one
     * (PASS needs the upper bound at or below it). */
    int a = -1;
    double pa = NAN, lo = NAN, hi = NAN, limit = cr->value;
    if (cr->form == RP_FORM_MAX) {
        rp_wilson(x, n, cr->confidence, &lo, &hi);
        r->lower = lo;
        r->upper = hi;
        if (limit <= 0)
            a = x == 0 ? ROLLOUT_VERDICT_PASS : ROLLOUT_VERDICT_FAIL;
        else if (limit >= 1)
            a = ROLLOUT_VERDICT_PASS;
        else {
            pa = rp_score_pvalue(x, n, limit);
            a = !within(cr, true, lo, limit) ? ROLLOUT_VERDICT_FAIL
                : within(cr, true, hi, limit) ? ROLLOUT_VERDICT_PASS
                                              : ROLLOUT_VERDICT_INCONCLUSIVE;
        }
        r->threshold = limit;
        r->p_value = pa;
        if (cr->has_sla && a != ROLLOUT_VERDICT_PASS) {
            /* "< 1% (or SLA)": the SLA bound (inclusive) may still pass it */
            int s_v = lo > cr->sla ? ROLLOUT_VERDICT_FAIL
                      : hi <= cr->sla ? ROLLOUT_VERDICT_PASS : ROLLOUT_VERDICT_INCONCLUSIVE;
            if (s_v == ROLLOUT_VERDICT_PASS) {
                say(r, s_v, "error rate %s (%.0f/%.0f): %d%% upper bound %s <= SLA %s",
                    fpct(obs).s, x, n, conf_pct, fpct(hi).s, fpct(cr->sla).s);
                return;
            }
            if (s_v == ROLLOUT_VERDICT_INCONCLUSIVE)
                a = s_v;
        }
        if (cr->lenient == RP_LENIENT_NONE) {
            if (a == ROLLOUT_VERDICT_PASS)
                say(r, a, "error rate %s (%.0f/%.0f): %d%% upper bound %s %s %s", fpct(obs).s,
                    x, n, conf_pct, fpct(hi).s, op(cr, true, true), fpct(limit).s);
            else if (a == ROLLOUT_VERDICT_FAIL)
                say(r, a, "error rate %s (%.0f/%.0f): %d%% lower bound %s %s %s%s%s", fpct(obs).s,
                    x, n, conf_pct, fpct(lo).s, op(cr, true, false), fpct(limit).s,
                    cr->has_sla ? " and SLA " : "", cr->has_sla ? fpct(cr->sla).s : "");
            else
                say(r, a, "error rate %s (%.0f/%.0f): %d%% bounds %s..%s straddle %s; need more "
                    "requests", fpct(obs).s, x, n, conf_pct, fpct(lo).s, fpct(hi).s,
                    fpct(limit).s);
            return;
        }
    }

    /* Against the baseline: H1 "rate > ratio * baseline rate". */
    double ratio = cr->form == RP_FORM_BASELINE_PLUS ? 1.0 + cr->value
                   : cr->form == RP_FORM_BASELINE_TIMES ? cr->value
                   : cr->lenient == RP_LENIENT_BASELINE_PLUS ? 1.0 + cr->lenient_plus : 1.0;
    int b = ROLLOUT_VERDICT_INCONCLUSIVE;
    double pb = NAN, nb, xb, blimit = NAN;
    char bwhy[256];
    if (!counts(m, ROLLOUT_STABLE, &nb, &xb)) {
        snprintf(bwhy, sizeof bwhy, "the baseline's request and error counts are not reported");
    } else if (nb == 0) {
        snprintf(bwhy, sizeof bwhy, "the baseline has no requests");
    } else if (cr->min_samples && nb < (double)cr->min_samples) {
        snprintf(bwhy, sizeof bwhy, "only %.0f requests on the baseline, fewer than "
                 "min_samples %llu", nb, (unsigned long long)cr->min_samples);
    } else {
        r->baseline = xb / nb;
        blimit = ratio * r->baseline;
        pb = rp_two_prop_pvalue(x, n, xb, nb, ratio, NULL);
        b = significant(pb, alpha) ? ROLLOUT_VERDICT_FAIL : ROLLOUT_VERDICT_PASS;
        char lim[128];
        if (ratio == 1.0)
            snprintf(lim, sizeof lim, "baseline %s", fpct(r->baseline).s);
        else
            snprintf(lim, sizeof lim, "baseline %s x %g = %s", fpct(r->baseline).s, ratio,
                     fpct(blimit).s);
        snprintf(bwhy, sizeof bwhy, "%s %s (%s %s %s)",
                 b == ROLLOUT_VERDICT_FAIL ? "significantly above" : "not significantly above",
                 lim, fpv(pb).s, b == ROLLOUT_VERDICT_FAIL ? "<" : ">=", fp(alpha).s);
    }

    if (cr->form != RP_FORM_MAX) {
        r->threshold = blimit;
        r->p_value = pb;
        say(r, b, "error rate %s (%.0f/%.0f) %s", fpct(obs).s, x, n, bwhy);
        return;
    }

    /* "max V or baseline": the version passes if either bound clears it,
     * fails only if both reject it (an intersection-union test, whose
     * p-value is the larger of the two). */
    if (!isnan(blimit) && blimit > limit)
        r->threshold = blimit;
    if (!isnan(pb))
        r->p_value = isnan(pa) ? pb : fmax(pa, pb);
    if (a == ROLLOUT_VERDICT_PASS)
        say(r, a, "error rate %s (%.0f/%.0f): %d%% upper bound %s %s %s", fpct(obs).s, x, n,
            conf_pct, fpct(hi).s, op(cr, true, true), fpct(limit).s);
    else if (b == ROLLOUT_VERDICT_PASS)
        say(r, b, "error rate %s (%.0f/%.0f) above %s but %s", fpct(obs).s, x, n,
            fpct(limit).s, bwhy);
    else if (a == ROLLOUT_VERDICT_FAIL && b == ROLLOUT_VERDICT_FAIL)
        say(r, ROLLOUT_VERDICT_FAIL, "error rate %s (%.0f/%.0f): %d%% lower bound %s %s %s and %s",
            fpct(obs).s, x, n, conf_pct, fpct(lo).s, op(cr, true, false), fpct(limit).s, bwhy);
    else if (a == ROLLOUT_VERDICT_FAIL)
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "error rate %s (%.0f/%.0f) above %s, and %s",
            fpct(obs).s, x, n, fpct(limit).s, bwhy);
    else
        say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "error rate %s (%.0f/%.0f): %d%% bounds %s..%s "
            "straddle %s, and %s", fpct(obs).s, x, n, conf_pct, fpct(lo).s, fpct(hi).s,
            fpct(limit).s, bwhy);
}

static int judge_mann_whitney(const rollout_metrics *m, const rp_criterion *cr,
                              rollout_criterion_result *r)
{
    rp_dist dn, db;
    for (int v = ROLLOUT_NEW; v >= ROLLOUT_STABLE; v--) {
        if (!rp_metrics_dist(m, v, v == ROLLOUT_NEW ? &dn : &db)) {
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE,
                "test: mann_whitney needs latency samples or a histogram for %s", side_name(v));
            return ROLLOUT_OK;
        }
    }
    r->samples = dn.total;
    if (!enough(m, ROLLOUT_NEW, cr, r) || !enough(m, ROLLOUT_STABLE, cr, r))
        return ROLLOUT_OK;

    double ratio = cr->form == RP_FORM_BASELINE_PLUS ? 1.0 + cr->value : cr->value;
    rp_mwu w;
    int rc = rp_mann_whitney(&dn, &db, ratio, &w);
    if (rc)
        return rc;
    double q = rp_metric_table[cr->metric_id].quantile;
    double obs = rp_dist_quantile(&dn, q), base = rp_dist_quantile(&db, q);
    double thr = base * ratio * (1.0 + cr->effect_size);
    double alpha = alpha_of(cr->confidence);
    bool sig = significant(w.p, alpha);
    r->observed = obs;
    r->baseline = base;
    r->threshold = thr;
    r->p_value = w.p;
    const char *name = cr->metric + strlen("latency_");
    if (sig && isinf(obs))
        /* beyond the last bound: above any threshold, however computed */
        say(r, ROLLOUT_VERDICT_FAIL,
            "%s %s vs baseline %s: slower (Mann-Whitney %s < %s)", name,
            fobs(obs, RP_MK_LATENCY).s, fv(base, RP_MK_LATENCY).s, fpv(w.p).s, fp(alpha).s);
    else if (sig && !le_tol(obs, thr))
        say(r, ROLLOUT_VERDICT_FAIL,
            "%s %s vs baseline %s: slower (Mann-Whitney %s < %s) and above %s "
            "(effect size %s)", name, fv(obs, RP_MK_LATENCY).s, fv(base, RP_MK_LATENCY).s,
            fpv(w.p).s, fp(alpha).s, fv(thr, RP_MK_LATENCY).s, fpct(cr->effect_size).s);
    else if (!sig)
        say(r, ROLLOUT_VERDICT_PASS,
            "%s %s vs baseline %s: not significantly slower (Mann-Whitney %s >= %s)", name,
            fv(obs, RP_MK_LATENCY).s, fv(base, RP_MK_LATENCY).s, fpv(w.p).s, fp(alpha).s);
    else
        say(r, ROLLOUT_VERDICT_PASS,
            "%s %s vs baseline %s: slower (Mann-Whitney %s) but within %s (effect size %s)",
            name, fv(obs, RP_MK_LATENCY).s, fv(base, RP_MK_LATENCY).s, fpv(w.p).s,
            fv(thr, RP_MK_LATENCY).s, fpct(cr->effect_size).s);
    return ROLLOUT_OK;
}

/* True (with why) when a value this criterion reads was NaN or infinite
 * in the snapshot file: the criterion cannot be judged, the others can. */
static bool reads_bad_value(const rollout_metrics *m, const rp_criterion *cr, char *why,
                            size_t cap)
{
    if (rp_metrics_bad(m, ROLLOUT_NEW, cr->metric_id, cr->metric, why, cap))
        return true;
    bool counts_read = cr->test == RP_TEST_RATE ||
                       (cr->min_samples && !(is_latency(cr->metric_id) &&
                                             m->side[ROLLOUT_NEW].dist_n));
    bool uses_base = cr->form == RP_FORM_BASELINE_PLUS || cr->form == RP_FORM_BASELINE_TIMES ||
                     (cr->test == RP_TEST_RATE && cr->form != RP_FORM_MAX);
    for (int v = ROLLOUT_NEW; v >= ROLLOUT_STABLE; v--) {
        if (v == ROLLOUT_STABLE && !uses_base && cr->test != RP_TEST_MANN_WHITNEY)
            break;
        if (v == ROLLOUT_STABLE &&
            rp_metrics_bad(m, v, cr->metric_id, cr->metric, why, cap))
            return true;
        if (counts_read && (rp_metrics_bad(m, v, RP_M_REQUESTS, "requests", why, cap) ||
                            (cr->test == RP_TEST_RATE &&
                             rp_metrics_bad(m, v, RP_M_ERRORS, "errors", why, cap))))
            return true;
        if (cr->test == RP_TEST_MANN_WHITNEY && rp_metrics_dist_bad(m, v, why, cap))
            return true;
    }
    return false;
}

int rp_evaluate_set(const rollout_plan *plan, int set, const rollout_metrics *metrics,
                    rollout_evaluation *out, rollout_error *err)
{
    const rp_criteria_set *s = &plan->criteria[set];
    memset(out, 0, sizeof *out);
    out->criteria = s->id;
    out->rollback_index = -1;
    out->rollback_reason = -1;
    out->verdict = ROLLOUT_VERDICT_INCONCLUSIVE;
    for (size_t i = 0; i < s->n; i++) {
        const rp_criterion *cr = &s->items[i];
        rollout_criterion_result *r = &out->results[i];
        r->id = cr->id;
        r->metric = cr->form == RP_FORM_SMOKE ? "smoke_tests" : cr->metric;
        r->verdict = ROLLOUT_VERDICT_INCONCLUSIVE;
        r->rollback = cr->rollback;
        r->rollback_reason = cr->rollback_reason;
        r->observed = r->threshold = r->baseline = r->p_value = NAN;
        r->lower = r->upper = r->samples = NAN;
        r->dry_run = cr->dry_run;
        r->direction = cr->direction;
        r->sla = cr->has_sla ? cr->sla : NAN;
        int rc = ROLLOUT_OK;
        char why[140];
        if (cr->form != RP_FORM_SMOKE && reads_bad_value(metrics, cr, why, sizeof why))
            say(r, ROLLOUT_VERDICT_INCONCLUSIVE, "%s; this criterion cannot be judged", why);
        else if (cr->form == RP_FORM_SMOKE)
            judge_smoke(plan, metrics, cr, r);
        else if (cr->test == RP_TEST_RATE)
            judge_rate(metrics, cr, r);
        else if (cr->test == RP_TEST_MANN_WHITNEY)
            rc = judge_mann_whitney(metrics, cr, r);
        else
            judge_plain(metrics, cr, r);
        if (rc) {
            out->n_results = 0;
            return rp_error_set(err, rc, NULL, 0, 0, NULL,
                                "out of memory evaluating criterion \"%s\"", cr->id);
        }
        out->n_results++;
        if (cr->dry_run)
            continue; /* Argo's dryRun: evaluated and reported, never decides */
        if (r->verdict == ROLLOUT_VERDICT_PASS)
            out->n_pass++;
        else if (r->verdict == ROLLOUT_VERDICT_FAIL)
            out->n_fail++;
        else
            out->n_inconclusive++;
        if (r->verdict == ROLLOUT_VERDICT_FAIL && cr->rollback && out->rollback_index < 0) {
            out->rollback_index = (int)i;
            out->rollback_reason = cr->rollback_reason;
        }
    }
    out->verdict = out->rollback_index >= 0 ? ROLLOUT_VERDICT_ROLLBACK
                   : out->n_fail ? ROLLOUT_VERDICT_FAIL
                   : out->n_inconclusive ? ROLLOUT_VERDICT_INCONCLUSIVE
                   : ROLLOUT_VERDICT_PASS;
    return ROLLOUT_OK;
}

static int resolve(const rollout_plan *p, int target, const char *name, int *set,
                   rollout_error *err)
{
    switch (target) {
    case ROLLOUT_EVAL_PHASE: {
        int ph = rollout_plan_phase_index(p, name);
        if (ph < 0)
            return rp_error_set(err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                                "no phase named \"%s\"", name);
        *set = -1;
        for (int g = 0; g < p->n_gates; g++) {
            const rp_gate *gate = &p->gates[g];
            if (gate->phase != ph || gate->criteria < 0)
                continue;
            if (*set >= 0 && *set != gate->criteria)
                return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                                    "phase \"%s\" has gates with different criteria sets "
                                    "(%s, %s); evaluate by gate",
                                    name, p->criteria[*set].id, p->criteria[gate->criteria].id);
            *set = gate->criteria;
        }
        if (*set < 0)
            return rp_error_set(err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                                "phase \"%s\" has no gate with criteria", name);
        return ROLLOUT_OK;
    }
    case ROLLOUT_EVAL_GATE:
        for (int g = 0; g < p->n_gates; g++) {
            if (strcmp(p->gates[g].id, name) != 0)
                continue;
            if ((*set = p->gates[g].criteria) < 0)
                return rp_error_set(err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                                    "gate \"%s\" names no criteria", name);
            return ROLLOUT_OK;
        }
        return rp_error_set(err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                            "no gate named \"%s\"", name);
    case ROLLOUT_EVAL_CRITERIA:
        if ((*set = rp_criteria_index(p, name)) < 0)
            return rp_error_set(err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                                "no criteria set named \"%s\"", name);
        return ROLLOUT_OK;
    case ROLLOUT_EVAL_BAKE:
        if ((*set = p->bake.criteria) < 0)
            return rp_error_set(err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                                "the plan has no bake criteria");
        return ROLLOUT_OK;
    default:
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "target %d is not a rollout_eval_target", target);
    }
}

int rollout_evaluate(const rollout_plan *plan, int target, const char *name,
                     const rollout_metrics *metrics, rollout_evaluation *out,
                     rollout_error *err)
{
    if (out) {
        /* A caller that ignores the return code must not read a PASS. */
        memset(out, 0, sizeof *out);
        out->verdict = ROLLOUT_VERDICT_INCONCLUSIVE;
        out->rollback_index = out->rollback_reason = -1;
    }
    if (!plan || !metrics || !out || (!name && target != ROLLOUT_EVAL_BAKE))
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "rollout_evaluate needs a plan, a name, metrics and a result");
    int set = -1;
    int rc = resolve(plan, target, name, &set, err);
    if (rc)
        return rc;
    return rp_evaluate_set(plan, set, metrics, out, err);
}
