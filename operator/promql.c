/* SPDX-License-Identifier: MIT */
/*
 * promql.c — metrics from Prometheus: the plan's query templates expanded
 * per version, one instant query per metric, and the answers turned into
 * the snapshot rollout_evaluate takes. Anything short of one finite number
 * leaves the metric out, so the criteria that read it are INCONCLUSIVE,
 * never PASS (docs/evaluation.md, "Missing data").
 */
#define _DEFAULT_SOURCE /* strdup */
#include "operator.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int op_template(const char *tmpl, const char *version, int64_t window, const char *test,
                char *out, size_t cap)
{
    char win[32];
    snprintf(win, sizeof win, "%llds", (long long)window);
    size_t o = 0;
    for (const char *s = tmpl; *s;) {
        const char *sub = NULL;
        size_t skip = 0;
        if (!strncmp(s, "{{version}}", 11))
            sub = version, skip = 11;
        else if (!strncmp(s, "{{window}}", 10))
            sub = win, skip = 10;
        else if (!strncmp(s, "{{test}}", 8) && test)
            sub = test, skip = 8;
        if (sub) {
            size_t n = strlen(sub);
            if (o + n >= cap)
                return -1;
            memcpy(out + o, sub, n);
            o += n;
            s += skip;
            continue;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = *s++;
    }
    if (o >= cap)
        return -1;
    out[o] = '\0';
    return 0;
}

int op_prom_value(const char *text, size_t len, double *value, char *why, size_t cap)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    int rc = 1;
    if (!root) {
        snprintf(why, cap, "the answer is not JSON (%s)", jerr.text);
        return 1;
    }
    const char *status = json_string_value(json_object_get(root, "status"));
    json_t *data = json_object_get(root, "data");
    json_t *result = json_object_get(data, "result");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *pair = NULL;
    if (!status || strcmp(status, "success")) {
        const char *e = json_string_value(json_object_get(root, "error"));
        snprintf(why, cap, "the query failed: %s", e ? e : "no status \"success\"");
    } else if (type && !strcmp(type, "scalar")) {
        pair = result;
    } else if (type && strcmp(type, "vector")) {
        snprintf(why, cap, "a %s answer: the query must give an instant vector or a scalar",
                 type);
    } else if (!json_is_array(result)) {
        snprintf(why, cap, "the answer has no result list");
    } else if (json_array_size(result) == 0) {
        snprintf(why, cap, "empty result: no series matched");
    } else if (json_array_size(result) > 1) {
        snprintf(why, cap, "%zu series: the query must give one (aggregate it, e.g. sum())",
                 json_array_size(result));
    } else {
        pair = json_object_get(json_array_get(result, 0), "value");
        if (!pair)
            snprintf(why, cap, "the series has no sample");
    }
    if (pair) {
        const char *v = json_string_value(json_array_get(pair, 1));
        char *end;
        double d = v ? strtod(v, &end) : NAN;
        if (!v || end == v || *end)
            snprintf(why, cap, "the sample is not a number");
        else if (!isfinite(d))
            snprintf(why, cap, "the sample is %s", v);
        else {
            *value = d;
            rc = 0;
        }
    }
    json_decref(root);
    return rc;
}

static bool is_count(const char *metric)
{
    static const char *const counts[] = {"requests", "errors", "critical_errors",
                                         "unhandled_exceptions", "support_tickets"};
    for (size_t i = 0; i < RP_COUNT(counts); i++)
        if (!strcmp(metric, counts[i]))
            return true;
    return false;
}

/* One query: 0 with *v, 1 absent; *unreachable counts fetch failures. */
static int one(int64_t at, const char *tmpl, const char *version, int64_t window,
               const char *test, op_fetch_fn fetch, void *fctx, op_note_fn note, void *nctx,
               const char *metric, double *v, int *unreachable)
{
    char q[8192], why[256];
    if (op_template(tmpl, version, window, test, q, sizeof q)) {
        note(nctx, metric, version, "the expanded query is longer than 8 KiB");
        return 1;
    }
    char *body = NULL;
    size_t len = 0;
    if (fetch(fctx, q, at, &body, &len, why, sizeof why)) {
        (*unreachable)++;
        note(nctx, metric, version, why);
        return 1;
    }
    int rc = op_prom_value(body, len, v, why, sizeof why);
    free(body);
    if (rc)
        note(nctx, metric, version, why);
    return rc;
}

int op_snapshot(const rollout_plan *plan, int64_t at, op_fetch_fn fetch, void *fctx,
                op_note_fn note, void *nctx, rollout_metrics **out, int *unreachable)
{
    const rp_operator *op = &plan->op;
    rollout_metrics *m;
    int rc = rollout_metrics_create(&m);
    if (rc)
        return rc;
    *unreachable = 0;
    static const int variants[2] = {ROLLOUT_NEW, ROLLOUT_STABLE};
    for (int vi = 0; vi < 2; vi++) {
        int variant = variants[vi];
        /* labels[1] is versions.new, labels[0] versions.stable */
        const char *version = plan->labels[variant == ROLLOUT_NEW ? 1 : 0];
        double req = 0, errs = 0;
        bool have_req = false, have_errs = false;
        for (int i = 0; i < op->n_queries; i++) {
            const rp_op_query *q = &op->queries[i];
            double v;
            if (one(at, q->query, version, op->prom_window, NULL, fetch, fctx, note, nctx,
                    q->metric, &v, unreachable))
                continue;
            if (is_count(q->metric))
                v = round(v);
            if (!strcmp(q->metric, "requests")) {
                req = v, have_req = true;
                continue;
            }
            if (!strcmp(q->metric, "errors")) {
                errs = v, have_errs = true;
                continue;
            }
            rollout_error err;
            if (rollout_metrics_set(m, variant, q->metric, v, &err))
                note(nctx, q->metric, version, err.message);
        }
        /* together, so neither is refused for want of the other */
        rollout_error err;
        if (have_req && have_errs) {
            if (req < 0 || errs < 0 ||
                rollout_metrics_set_requests(m, variant, (uint64_t)req, (uint64_t)errs, &err))
                note(nctx, "errors", version, req < 0 || errs < 0 ? "a negative count"
                                                                    : err.message);
        } else if (have_req && rollout_metrics_set(m, variant, "requests", req, &err)) {
            note(nctx, "requests", version, err.message);
        }
        if (variant != ROLLOUT_NEW || !op->smoke_query)
            continue;
        for (int t = 0; t < plan->n_smoke; t++) {
            double v;
            const char *id = plan->smoke[t].id;
            if (one(at, op->smoke_query, version, op->prom_window, id, fetch, fctx, note, nctx,
                    "smoke_tests", &v, unreachable))
                continue;
            if (v != 0 && v != 1) {
                note(nctx, "smoke_tests", version, "a smoke test's result is 1 (pass) or 0 (fail)");
                continue;
            }
            rollout_metrics_set_smoke(m, variant, id, v == 1, &err);
        }
    }
    *out = m;
    return ROLLOUT_OK;
}
