/* SPDX-License-Identifier: MIT */
/*
 * operator_cfg.c — the plan's `operator:` section: where `rollout operator`
 * finds its metrics (Prometheus queries), where it delivers messages
 * (webhooks per channel) and which shell commands perform the rollback
 * steps it cannot perform itself (docs/operator.md).
 *
 * The library only parses and validates it; the tool does the I/O. It is
 * left out of the plan fingerprint: a webhook URL or a query says how the
 * rollout is watched, not what the rollout is, so editing one must not
 * force every gateway's state through a migration.
 */
#include "evaluate.h"
#include "plan.h"

#include <string.h>

#define RP_OP_MAX_QUERIES 64
#define RP_OP_MAX_CHANNELS 32
#define RP_OP_MAX_TEXT 4096

const char *rp_op_template_problem(const char *tmpl, bool test_ok)
{
    for (const char *s = strstr(tmpl, "{{"); s; s = strstr(s + 2, "{{")) {
        const char *end = strstr(s, "}}");
        if (!end)
            return "a \"{{\" is never closed by \"}}\"";
        size_t n = (size_t)(end - s - 2);
        if ((n == 7 && !memcmp(s + 2, "version", 7)) || (n == 6 && !memcmp(s + 2, "window", 6)))
            continue;
        if (n == 4 && !memcmp(s + 2, "test", 4)) {
            if (test_ok)
                continue;
            return "{{test}} is only known in the smoke_tests query";
        }
        return "unknown placeholder (write {{version}}, {{window}} or, in smoke_tests, {{test}})";
    }
    return NULL;
}

static int opt_duration(rp_ctx *c, const rp_node *map, const char *key, int64_t dflt,
                        int64_t min, int64_t *out)
{
    *out = dflt;
    const rp_node *v = rp_map_get(map, key);
    if (!v)
        return ROLLOUT_OK;
    size_t mark = rp_path_key(c, key);
    int rc = rp_duration(c, v, out);
    if (rc)
        return rc;
    if (*out < min)
        return rp_fail(c, v, ROLLOUT_ERR_RANGE, "must be at least %llds", (long long)min);
    rp_path_pop(c, mark);
    return ROLLOUT_OK;
}

static int text(rp_ctx *c, const rp_node *map, const char *key, const char **out)
{
    const rp_node *v = rp_map_get(map, key);
    if (!v)
        return ROLLOUT_OK;
    size_t mark = rp_path_key(c, key);
    int rc = rp_string(c, v, out);
    if (rc)
        return rc;
    if (v->len == 0 || v->len > RP_OP_MAX_TEXT || memchr(v->str, '\0', v->len))
        return rp_fail(c, v, ROLLOUT_ERR_VALUE, "must be 1 to %d characters, without NUL",
                       RP_OP_MAX_TEXT);
    rp_path_pop(c, mark);
    return ROLLOUT_OK;
}

static int url(rp_ctx *c, const rp_node *map, const char *key, const char **out)
{
    int rc = text(c, map, key, out);
    if (rc || !*out)
        return rc;
    if (strncmp(*out, "http://", 7) && strncmp(*out, "https://", 8)) {
        rp_path_key(c, key);
        return rp_fail(c, rp_map_get(map, key), ROLLOUT_ERR_VALUE,
                       "\"%s\" is not an http:// or https:// URL", *out);
    }
    return ROLLOUT_OK;
}

static int template(rp_ctx *c, const rp_node *map, const char *key, bool test_ok,
                    const char **out)
{
    int rc = text(c, map, key, out);
    if (rc || !*out)
        return rc;
    const char *why = rp_op_template_problem(*out, test_ok);
    if (why) {
        rp_path_key(c, key);
        return rp_fail(c, rp_map_get(map, key), ROLLOUT_ERR_VALUE, "%s", why);
    }
    return ROLLOUT_OK;
}

static bool known_metric(const rollout_plan *p, const char *name)
{
    if (rp_metric_lookup(name, strlen(name)) >= 0)
        return true;
    for (int i = 0; i < p->n_custom_metrics; i++)
        if (!strcmp(p->custom_metrics[i], name))
            return true;
    return false;
}

static int parse_prometheus(rp_ctx *c, const rp_node *n, rp_operator *op)
{
    static const char *const keys[] = {"url", "timeout", "window", "queries", "smoke_tests",
                                       NULL};
    int rc = rp_expect(c, n, RP_MAP);
    if (rc || (rc = rp_map_check(c, n, keys)))
        return rc;
    if ((rc = url(c, n, "url", &op->prom_url)) ||
        (rc = opt_duration(c, n, "timeout", 5, 1, &op->prom_timeout)) ||
        (rc = opt_duration(c, n, "window", 600, 1, &op->prom_window)) ||
        (rc = template(c, n, "smoke_tests", true, &op->smoke_query)))
        return rc;
    const rp_node *q = rp_map_get(n, "queries");
    if (!q)
        return ROLLOUT_OK;
    size_t mark = rp_path_key(c, "queries");
    if ((rc = rp_expect(c, q, RP_MAP)))
        return rc;
    if (q->n > RP_OP_MAX_QUERIES)
        return rp_fail(c, q, ROLLOUT_ERR_LIMIT, "%zu queries; the limit is %d", q->n,
                       RP_OP_MAX_QUERIES);
    op->queries = rp_alloc_array(c->arena, q->n ? q->n : 1, sizeof *op->queries);
    if (!op->queries)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < q->n; i++) {
        const rp_node *k = q->items[2 * i];
        rp_op_query *e = &op->queries[op->n_queries];
        if ((rc = rp_ident(c, k, &e->metric)))
            return rc;
        if (!known_metric(c->plan, e->metric))
            return rp_fail(c, k, ROLLOUT_ERR_REFERENCE,
                           "\"%s\" is neither a standard metric nor declared under "
                           "custom_metrics", e->metric);
        if (!strcmp(e->metric, "smoke_tests"))
            return rp_fail(c, k, ROLLOUT_ERR_VALUE,
                           "smoke tests have their own query: prometheus.smoke_tests");
        if ((rc = template(c, q, e->metric, false, &e->query)))
            return rc;
        op->n_queries++;
    }
    rp_path_pop(c, mark);
    return ROLLOUT_OK;
}

static int parse_channels(rp_ctx *c, const rp_node *n, rp_operator *op)
{
    static const char *const keys[] = {"url", "url_env", "format", NULL};
    int rc = rp_expect(c, n, RP_MAP);
    if (rc)
        return rc;
    if (n->n > RP_OP_MAX_CHANNELS)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu channels; the limit is %d", n->n,
                       RP_OP_MAX_CHANNELS);
    op->channels = rp_alloc_array(c->arena, n->n ? n->n : 1, sizeof *op->channels);
    if (!op->channels)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
        rp_op_channel *ch = &op->channels[op->n_channels];
        if ((rc = rp_ident(c, k, &ch->name)))
            return rc;
        size_t mark = rp_path_key(c, ch->name);
        if ((rc = rp_expect(c, v, RP_MAP)) || (rc = rp_map_check(c, v, keys)) ||
            (rc = url(c, v, "url", &ch->url)) || (rc = text(c, v, "url_env", &ch->url_env)))
            return rc;
        if (!ch->url == !ch->url_env)
            return rp_fail(c, v, ROLLOUT_ERR_MISSING,
                           "give the webhook as url: or as url_env: (an environment "
                           "variable holding it), one of the two");
        const rp_node *f = rp_map_get(v, "format");
        if (f) {
            size_t m2 = rp_path_key(c, "format");
            if ((rc = rp_expect(c, f, RP_SCALAR)))
                return rc;
            if (!strcmp(f->str, "slack"))
                ch->format = RP_OP_SLACK;
            else if (!strcmp(f->str, "json"))
                ch->format = RP_OP_JSON;
            else
                return rp_fail(c, f, ROLLOUT_ERR_VALUE,
                               "\"%s\" is not a webhook format (write json or slack)", f->str);
            rp_path_pop(c, m2);
        }
        rp_path_pop(c, mark);
        op->n_channels++;
    }
    return ROLLOUT_OK;
}

static const char *const hook_keys[RP_RB_COUNT] = {
    [RP_RB_HALT_TRAFFIC] = "halt_traffic",       [RP_RB_RESTORE_PREVIOUS] = "restore_previous",
    [RP_RB_RUN_SMOKE_TESTS] = "run_smoke_tests", [RP_RB_RESUME_SERVICE] = "resume_service",
    [RP_RB_OPEN_INCIDENT] = "open_incident"};

static int parse_hooks(rp_ctx *c, const rp_node *n, rp_operator *op)
{
    static const char *const keys[] = {"halt_traffic", "restore_previous", "run_smoke_tests",
                                       "resume_service", "open_incident", "timeout", NULL};
    int rc = rp_expect(c, n, RP_MAP);
    if (rc || (rc = rp_map_check(c, n, keys)))
        return rc;
    for (int a = 0; a < RP_RB_COUNT; a++)
        if (hook_keys[a] && (rc = text(c, n, hook_keys[a], &op->hooks[a])))
            return rc;
    return opt_duration(c, n, "timeout", 600, 1, &op->hook_timeout);
}

int rp_parse_operator(rp_ctx *c, const rp_node *n)
{
    static const char *const keys[] = {"prometheus", "channels", "hooks", NULL};
    rp_operator *op = &c->plan->op;
    int rc = rp_expect(c, n, RP_MAP);
    if (rc || (rc = rp_map_check(c, n, keys)))
        return rc;
    op->present = true;
    op->prom_timeout = 5;
    op->prom_window = 600;
    op->hook_timeout = 600;
    static const struct {
        const char *key;
        int (*fn)(rp_ctx *, const rp_node *, rp_operator *);
    } parts[] = {{"prometheus", parse_prometheus}, {"channels", parse_channels},
                 {"hooks", parse_hooks}};
    for (size_t i = 0; i < RP_COUNT(parts); i++) {
        const rp_node *v = rp_map_get(n, parts[i].key);
        if (!v)
            continue;
        size_t mark = rp_path_key(c, parts[i].key);
        if ((rc = parts[i].fn(c, v, op)))
            return rc;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static void kv(rp_emitter *e, const char *key, const char *value)
{
    if (!value)
        return;
    rp_emit_key(e, key);
    rp_emit_str(e, value);
}

void rp_dump_operator(rp_emitter *e, const rollout_plan *p)
{
    const rp_operator *op = &p->op;
    if (!op->present)
        return;
    rp_emit_key(e, "operator");
    rp_emit_map_begin(e);
    rp_emit_key(e, "prometheus");
    rp_emit_map_begin(e);
    kv(e, "url", op->prom_url);
    rp_emit_key(e, "timeout");
    rp_emit_duration(e, op->prom_timeout);
    rp_emit_key(e, "window");
    rp_emit_duration(e, op->prom_window);
    if (op->n_queries) {
        rp_emit_key(e, "queries");
        rp_emit_map_begin(e);
        for (int i = 0; i < op->n_queries; i++)
            kv(e, op->queries[i].metric, op->queries[i].query);
        rp_emit_map_end(e);
    }
    kv(e, "smoke_tests", op->smoke_query);
    rp_emit_map_end(e);
    if (op->n_channels) {
        rp_emit_key(e, "channels");
        rp_emit_map_begin(e);
        for (int i = 0; i < op->n_channels; i++) {
            const rp_op_channel *ch = &op->channels[i];
            rp_emit_key(e, ch->name);
            rp_emit_map_begin(e);
            kv(e, "url", ch->url);
            kv(e, "url_env", ch->url_env);
            kv(e, "format", ch->format == RP_OP_SLACK ? "slack" : "json");
            rp_emit_map_end(e);
        }
        rp_emit_map_end(e);
    }
    rp_emit_key(e, "hooks");
    rp_emit_map_begin(e);
    for (int a = 0; a < RP_RB_COUNT; a++)
        if (hook_keys[a])
            kv(e, hook_keys[a], op->hooks[a]);
    rp_emit_key(e, "timeout");
    rp_emit_duration(e, op->hook_timeout);
    rp_emit_map_end(e);
    rp_emit_map_end(e);
}
