/* SPDX-License-Identifier: MIT */
/*
 * plan_load.c — reading a plan: the file, the skeleton (identity, roles,
 * phases, steps, gates, rollback, communications, windows) and the plan's
 * lifetime. Cohort rules and criteria are parsed by their own concerns
 * (targeting.c, evaluate.c); cross-checks live in validate.c.
 *
 * The whole plan is built in one arena. A load either returns a complete,
 * validated plan or frees the arena and returns an error: nothing in between.
 */
#include "plan.h"
#include "targeting.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(__has_include)
#  if __has_include(<sys/random.h>)
#    include <sys/types.h>
#    include <sys/random.h>
#    define RP_HAVE_GETENTROPY 1
#  endif
#endif

int rp_validate_plan(rp_ctx *c, rollout_plan *p);   /* validate.c */
int rp_plan_fingerprint_compute(rollout_plan *p);   /* dump.c */

/* ---- small lookups ------------------------------------------------------ */

#define DEFINE_INDEX(fn, array, count)                        \
    int fn(const rollout_plan *p, const char *id)             \
    {                                                         \
        for (int i = 0; i < p->count; i++)                    \
            if (strcmp(p->array[i].id, id) == 0)              \
                return i;                                     \
        return -1;                                            \
    }
DEFINE_INDEX(rp_role_index, roles, n_roles)
DEFINE_INDEX(rp_criteria_index, criteria, n_criteria)
DEFINE_INDEX(rp_smoke_index, smoke, n_smoke)
static DEFINE_INDEX(cohort_index, cohorts, n_cohorts)
static DEFINE_INDEX(phase_index, phases, n_phases)
static DEFINE_INDEX(gate_index, gates, n_gates)

int rp_plan_keep_pattern(rollout_plan *p, void *code)
{
    if (p->n_patterns == p->cap_patterns) {
        size_t cap = p->cap_patterns ? p->cap_patterns * 2 : 8;
        void **v = rp_alloc_array(&p->arena, cap, sizeof *v);
        if (!v)
            return ROLLOUT_ERR_NOMEM;
        if (p->n_patterns)
            memcpy(v, p->patterns, p->n_patterns * sizeof *v);
        p->patterns = v;
        p->cap_patterns = cap;
    }
    p->patterns[p->n_patterns++] = code;
    return ROLLOUT_OK;
}

/* Lists: check it is a sequence within a cap; the caller walks items. */
static int seq_capped(rp_ctx *c, const rp_node *n, size_t min, size_t max, const char *what)
{
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n < min)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "needs at least %zu %s", min, what);
    if (n->n > max)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu %s; the limit is %zu", n->n, what, max);
    return ROLLOUT_OK;
}

/* A role reference list -> bit set. */
static int parse_roles_ref(rp_ctx *c, const rp_node *n, uint32_t *out)
{
    int rc = seq_capped(c, n, 1, ROLLOUT_MAX_ROLES, "roles");
    if (rc)
        return rc;
    *out = 0;
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i];
        size_t mark = rp_path_index(c, i);
        const char *id;
        if ((rc = rp_ident(c, item, &id)))
            return rc;
        int r = rp_role_index(c->plan, id);
        if (r < 0) {
            rc = rp_fail(c, item, ROLLOUT_ERR_REFERENCE,
                         "role \"%s\" is not defined under roles:", id);
            return rc;
        }
        if (*out & (1u << r))
            return rp_fail(c, item, ROLLOUT_ERR_DUPLICATE, "role \"%s\" is listed twice", id);
        *out |= 1u << r;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

/* Reads key (optional) as a string into *out, leaving *out alone if absent. */
static int opt_string(rp_ctx *c, const rp_node *map, const char *key, const char **out)
{
    const rp_node *n = rp_map_get(map, key);
    if (!n)
        return ROLLOUT_OK;
    size_t mark = rp_path_key(c, key);
    int rc = rp_string(c, n, out);
    if (!rc)
        rp_path_pop(c, mark);
    return rc;
}

static int req_ident(rp_ctx *c, const rp_node *map, const char *key, const char **out)
{
    const rp_node *n;
    int rc = rp_map_require(c, map, key, &n);
    if (rc)
        return rc;
    size_t mark = rp_path_key(c, key);
    if ((rc = rp_ident(c, n, out)))
        return rc;
    rp_path_pop(c, mark);
    return ROLLOUT_OK;
}

/* Starts item `item` of a list of records with ids: a mapping with only
 * `keys`, whose id no earlier item of the list has. The earlier ids are read
 * from the list's own array: `first_id` is the id field of its element 0,
 * `stride` the element size, `before` how many precede this one. */
static int list_item_id(rp_ctx *c, const rp_node *item, const char *const *keys,
                        const char *const *first_id, size_t stride, size_t before,
                        const char *what, const char **id)
{
    int rc = rp_map_check(c, item, keys);
    if (rc || (rc = req_ident(c, item, "id", id)))
        return rc;
    for (size_t k = 0; k < before; k++) {
        const char *other = *(const char *const *)((const char *)first_id + k * stride);
        if (strcmp(other, *id) == 0)
            return rp_fail(c, rp_map_get(item, "id"), ROLLOUT_ERR_DUPLICATE,
                           "%s \"%s\" is defined twice", what, *id);
    }
    return ROLLOUT_OK;
}

/* ---- sections ----------------------------------------------------------- */

static int parse_versions(rp_ctx *c, const rp_node *n)
{
    static const char *const keys[] = {"stable", "new", NULL};
    int rc = rp_map_check(c, n, keys);
    for (int i = 0; !rc && i < 2; i++) {
        const rp_node *v;
        if ((rc = rp_map_require(c, n, keys[i], &v)))
            break;
        size_t mark = rp_path_key(c, keys[i]);
        if ((rc = rp_string(c, v, &c->plan->labels[i])))
            break;
        rp_path_pop(c, mark);
    }
    return rc;
}

static int parse_roles(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    int rc = rp_expect(c, n, RP_MAP);
    if (rc)
        return rc;
    if (n->n > ROLLOUT_MAX_ROLES)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu roles; the limit is %d", n->n,
                       ROLLOUT_MAX_ROLES);
    p->roles = rp_alloc_array(c->arena, n->n ? n->n : 1, sizeof *p->roles);
    if (!p->roles)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
        const char *id, *name;
        if ((rc = rp_ident(c, k, &id)))
            return rc;
        size_t mark = rp_path_key(c, id);
        if ((rc = rp_string(c, v, &name)))
            return rc;
        rp_path_pop(c, mark);
        p->roles[p->n_roles].id = id;
        p->roles[p->n_roles].name = name;
        p->n_roles++;
    }
    return ROLLOUT_OK;
}

static int parse_smoke(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"id", "name", NULL};
    int rc = seq_capped(c, n, 1, 256, "smoke tests");
    if (rc)
        return rc;
    p->smoke = rp_alloc_array(c->arena, n->n, sizeof *p->smoke);
    if (!p->smoke)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *t = n->items[i];
        size_t mark = rp_path_index(c, i);
        rp_smoke_test *s = &p->smoke[i];
        if ((rc = list_item_id(c, t, keys, &p->smoke[0].id, sizeof *s, i, "smoke test", &s->id)))
            return rc;
        s->name = s->id;
        if ((rc = opt_string(c, t, "name", &s->name)))
            return rc;
        p->n_smoke++;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int parse_criteria_sets(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    int rc = rp_expect(c, n, RP_MAP);
    if (rc)
        return rc;
    if (n->n > 64)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "%zu criteria sets; the limit is 64", n->n);
    p->criteria = rp_alloc_array(c->arena, n->n ? n->n : 1, sizeof *p->criteria);
    if (!p->criteria)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *k = n->items[2 * i], *v = n->items[2 * i + 1];
        const char *id;
        if ((rc = rp_ident(c, k, &id)))
            return rc;
        size_t mark = rp_path_key(c, id);
        rp_criteria_set *set = &p->criteria[p->n_criteria];
        set->id = id;
        if ((rc = rp_parse_criteria(c, v, set)))
            return rc;
        rp_path_pop(c, mark);
        p->n_criteria++;
    }
    return ROLLOUT_OK;
}

static int parse_cohorts(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"id", "description", "match", NULL};
    int rc = seq_capped(c, n, 1, ROLLOUT_MAX_COHORTS, "cohorts");
    if (rc)
        return rc;
    p->cohorts = rp_alloc_array(c->arena, n->n, sizeof *p->cohorts);
    if (!p->cohorts)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i], *match;
        size_t mark = rp_path_index(c, i);
        rp_cohort *co = &p->cohorts[i];
        if ((rc = list_item_id(c, item, keys, &p->cohorts[0].id, sizeof *co, i, "cohort",
                               &co->id)))
            return rc;
        if ((rc = opt_string(c, item, "description", &co->description)) ||
            (rc = rp_map_require(c, item, "match", &match)))
            return rc;
        size_t m2 = rp_path_key(c, "match");
        if ((rc = rp_parse_rule(c, match, &co->match)))
            return rc;
        rp_path_pop(c, m2);
        p->n_cohorts++;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int parse_unit(rp_ctx *c, const rp_node *n, int *out)
{
    static const char *const units[] = {"org", "user", "session", "request"};
    int rc = rp_expect(c, n, RP_SCALAR);
    if (rc)
        return rc;
    for (int i = 0; i < 4; i++)
        if (strcmp(n->str, units[i]) == 0) {
            *out = i;
            return ROLLOUT_OK;
        }
    return rp_fail(c, n, ROLLOUT_ERR_VALUE,
                   "\"%s\" is not a unit (write org, user, session or request)", n->str);
}

static int parse_gate(rp_ctx *c, const rp_node *n, int phase, int step)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"id", "at", "approvers", "criteria", "on_no_go",
                                       "description", "failure_limit", "inconclusive_limit",
                                       "auto_go", "override_roles", NULL};
    static const char *const no_go[] = {"hold", "halt", "rollback"};
    const rp_node *v;
    int rc = rp_map_check(c, n, keys);
    if (rc)
        return rc;
    if (p->n_gates == ROLLOUT_MAX_GATES)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "more than %d gates", ROLLOUT_MAX_GATES);
    rp_gate *g = &p->gates[p->n_gates];
    g->phase = phase;
    g->step = step;
    g->criteria = -1;
    g->on_no_go = RP_NO_GO_ROLLBACK;
    if ((rc = req_ident(c, n, "id", &g->id)))
        return rc;
    if (gate_index(p, g->id) >= 0)
        return rp_fail(c, rp_map_get(n, "id"), ROLLOUT_ERR_DUPLICATE,
                       "gate \"%s\" is defined twice", g->id);
    if ((rc = rp_map_require(c, n, "at", &v)))
        return rc;
    size_t mark = rp_path_key(c, "at");
    if ((rc = rp_duration(c, v, &g->at)))
        return rc;
    if (g->at < p->steps[step].at) {
        char step_at[32];
        rp_format_duration(p->steps[step].at, step_at, sizeof step_at);
        return rp_fail(c, v, ROLLOUT_ERR_ORDER,
                       "%s is before the step the gate follows (at %s); a gate is decided "
                       "after its step",
                       v->str, step_at);
    }
    rp_path_pop(c, mark);
    if ((rc = rp_map_require(c, n, "approvers", &v)))
        return rc;
    mark = rp_path_key(c, "approvers");
    if ((rc = parse_roles_ref(c, v, &g->approvers)))
        return rc;
    rp_path_pop(c, mark);
    /* nobody may override a gate unless the plan says who */
    if ((v = rp_map_get(n, "override_roles"))) {
        mark = rp_path_key(c, "override_roles");
        if ((rc = parse_roles_ref(c, v, &g->override_roles)))
            return rc;
        rp_path_pop(c, mark);
    }
    if ((v = rp_map_get(n, "criteria"))) {
        const char *id;
        mark = rp_path_key(c, "criteria");
        if ((rc = rp_ident(c, v, &id)))
            return rc;
        if ((g->criteria = rp_criteria_index(p, id)) < 0)
            return rp_fail(c, v, ROLLOUT_ERR_REFERENCE,
                           "criteria set \"%s\" is not defined under criteria:", id);
        rp_path_pop(c, mark);
    }
    if ((v = rp_map_get(n, "on_no_go"))) {
        mark = rp_path_key(c, "on_no_go");
        if ((rc = rp_expect(c, v, RP_SCALAR)))
            return rc;
        g->on_no_go = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(v->str, no_go[i]) == 0)
                g->on_no_go = i;
        if (g->on_no_go < 0)
            return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                           "\"%s\" is not a no-go action (write hold, halt or rollback)", v->str);
        rp_path_pop(c, mark);
    }
    if ((rc = opt_string(c, n, "description", &g->description)))
        return rc;
    if ((rc = rp_parse_verdict_limits(c, n, g)))
        return rc;
    if ((v = rp_map_get(n, "auto_go"))) {
        mark = rp_path_key(c, "auto_go");
        if ((rc = rp_bool(c, v, &g->auto_go)))
            return rc;
        if (g->auto_go && g->criteria < 0)
            return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                           "auto_go sends GO on a PASS verdict; the gate names no criteria");
        rp_path_pop(c, mark);
    }
    p->steps[step].gate = p->n_gates++;
    return ROLLOUT_OK;
}

static int parse_step(rp_ctx *c, const rp_node *n, int phase, int index)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"at", "weight", "unit", "gate", NULL};
    const rp_node *v;
    int rc = rp_map_check(c, n, keys);
    if (rc)
        return rc;
    if (p->n_steps == ROLLOUT_MAX_STEPS)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT, "more than %d steps in the plan",
                       ROLLOUT_MAX_STEPS);
    int gi = p->n_steps;
    rp_step *s = &p->steps[gi];
    s->phase = phase;
    s->index = index;
    s->gate = -1;
    if ((rc = rp_map_require(c, n, "at", &v)))
        return rc;
    size_t mark = rp_path_key(c, "at");
    if ((rc = rp_duration(c, v, &s->at)))
        return rc;
    if (gi > 0) {
        const rp_step *prev = &p->steps[gi - 1];
        int64_t floor = prev->at;
        const char *gate = NULL;
        if (prev->gate >= 0 && p->gates[prev->gate].at > floor) {
            floor = p->gates[prev->gate].at;
            gate = p->gates[prev->gate].id;
        }
        if (s->at < floor || (index > 0 && s->at == prev->at)) {
            char at[32];
            rp_format_duration(floor, at, sizeof at);
            if (gate)
                return rp_fail(c, v, ROLLOUT_ERR_ORDER,
                               "%s is before gate \"%s\" at %s (a step waits for the gate "
                               "before it)",
                               v->str, gate, at);
            return rp_fail(c, v, ROLLOUT_ERR_ORDER,
                           "%s is %s the previous step at %s (steps must be in time order)",
                           v->str, s->at < floor ? "before" : "at the same time as", at);
        }
    }
    rp_path_pop(c, mark);
    if ((rc = rp_map_require(c, n, "weight", &v)))
        return rc;
    mark = rp_path_key(c, "weight");
    if ((rc = rp_weight(c, v, &s->weight)))
        return rc;
    if (index > 0 && s->weight < p->steps[gi - 1].weight) {
        char prev[16];
        rp_format_weight(p->steps[gi - 1].weight, prev, sizeof prev);
        return rp_fail(c, v, ROLLOUT_ERR_ORDER,
                       "weight %s is less than the previous step's %s (weights never decrease)",
                       v->str, prev);
    }
    rp_path_pop(c, mark);
    if ((rc = rp_map_require(c, n, "unit", &v)))
        return rc;
    mark = rp_path_key(c, "unit");
    if ((rc = parse_unit(c, v, &s->unit)))
        return rc;
    rp_path_pop(c, mark);
    p->n_steps++;
    if ((v = rp_map_get(n, "gate"))) {
        mark = rp_path_key(c, "gate");
        if ((rc = parse_gate(c, v, phase, gi)))
            return rc;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int parse_phases(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"id", "description", "cohort", "monitoring", "steps",
                                       "gate", NULL};
    int rc = seq_capped(c, n, 1, ROLLOUT_MAX_PHASES, "phases");
    if (rc)
        return rc;
    p->phases = rp_alloc_array(c->arena, n->n, sizeof *p->phases);
    p->steps = rp_alloc_array(c->arena, ROLLOUT_MAX_STEPS, sizeof *p->steps);
    p->gates = rp_alloc_array(c->arena, ROLLOUT_MAX_GATES, sizeof *p->gates);
    if (!p->phases || !p->steps || !p->gates)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i], *v;
        size_t mark = rp_path_index(c, i);
        rp_phase *ph = &p->phases[i];
        if ((rc = list_item_id(c, item, keys, &p->phases[0].id, sizeof *ph, i, "phase",
                               &ph->id)))
            return rc;
        p->n_phases++;
        if ((rc = opt_string(c, item, "description", &ph->description)))
            return rc;
        if ((rc = rp_map_require(c, item, "cohort", &v)))
            return rc;
        size_t m2 = rp_path_key(c, "cohort");
        const char *cid;
        if ((rc = rp_ident(c, v, &cid)))
            return rc;
        if ((ph->cohort = cohort_index(p, cid)) < 0)
            return rp_fail(c, v, ROLLOUT_ERR_REFERENCE,
                           "cohort \"%s\" is not defined under cohorts:", cid);
        rp_path_pop(c, m2);
        if ((v = rp_map_get(item, "monitoring"))) {
            m2 = rp_path_key(c, "monitoring");
            if ((rc = seq_capped(c, v, 0, 64, "monitoring items")))
                return rc;
            ph->monitoring = rp_alloc_array(c->arena, v->n ? v->n : 1, sizeof(char *));
            if (!ph->monitoring)
                return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
            for (size_t k = 0; k < v->n; k++) {
                size_t m3 = rp_path_index(c, k);
                if ((rc = rp_string(c, v->items[k], &ph->monitoring[k])))
                    return rc;
                rp_path_pop(c, m3);
            }
            ph->n_monitoring = v->n;
            rp_path_pop(c, m2);
        }
        if ((rc = rp_map_require(c, item, "steps", &v)))
            return rc;
        m2 = rp_path_key(c, "steps");
        if ((rc = seq_capped(c, v, 1, ROLLOUT_MAX_STEPS, "steps")))
            return rc;
        ph->first_step = p->n_steps;
        for (size_t k = 0; k < v->n; k++) {
            size_t m3 = rp_path_index(c, k);
            if ((rc = parse_step(c, v->items[k], (int)i, (int)k)))
                return rc;
            rp_path_pop(c, m3);
        }
        ph->n_steps = (int)v->n;
        rp_path_pop(c, m2);
        if ((v = rp_map_get(item, "gate"))) {
            int last = p->n_steps - 1;
            m2 = rp_path_key(c, "gate");
            if (p->steps[last].gate >= 0)
                return rp_fail(c, v, ROLLOUT_ERR_DUPLICATE,
                               "the phase's last step already has a gate");
            if ((rc = parse_gate(c, v, (int)i, last)))
                return rc;
            rp_path_pop(c, m2);
        }
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int parse_bake(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"duration", "criteria", "description", NULL};
    const rp_node *v;
    int rc = rp_map_check(c, n, keys);
    if (rc || (rc = rp_map_require(c, n, "duration", &v)))
        return rc;
    size_t mark = rp_path_key(c, "duration");
    if ((rc = rp_duration(c, v, &p->bake.duration)))
        return rc;
    rp_path_pop(c, mark);
    if ((v = rp_map_get(n, "criteria"))) {
        const char *id;
        mark = rp_path_key(c, "criteria");
        if ((rc = rp_ident(c, v, &id)))
            return rc;
        if ((p->bake.criteria = rp_criteria_index(p, id)) < 0)
            return rp_fail(c, v, ROLLOUT_ERR_REFERENCE,
                           "criteria set \"%s\" is not defined under criteria:", id);
        rp_path_pop(c, mark);
    }
    return opt_string(c, n, "description", &p->bake.description);
}

/* bucketing: {hash, key}: the bucket function (docs/bucketing.md). */
static int parse_bucketing(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"hash", "key", NULL};
    /* what the peer calls the key, for the error when it is missing */
    static const char *const key_names[ROLLOUT_HASH_COUNT] = {
        NULL, NULL, "the Unleash groupId (by default the toggle's name)",
        "the GrowthBook seed (by default the feature key)",
        "the GrowthBook seed (by default the feature key)",
        "\"FLAG_KEY.SALT\": the LaunchDarkly flag's key and salt", "the flagd flag key"};
    const rp_node *hv;
    int rc = rp_map_check(c, n, keys);
    if (rc || (rc = rp_map_require(c, n, "hash", &hv)))
        return rc;
    size_t mark = rp_path_key(c, "hash");
    const char *name;
    if ((rc = rp_string(c, hv, &name)))
        return rc;
    p->hash = rollout_hash_from_name(name, hv->len);
    if (p->hash < 0)
        return rp_fail(c, hv, ROLLOUT_ERR_VALUE,
                       "unknown hash \"%s\" (xxh3, nginx_split_clients, unleash, "
                       "growthbook_v1, growthbook_v2, launchdarkly or flagd)",
                       name);
    rp_path_pop(c, mark);
    const rp_node *kv = rp_map_get(n, "key");
    if (!kv) {
        if (p->hash == ROLLOUT_HASH_XXH3)
            return ROLLOUT_OK;
        if (p->hash != ROLLOUT_HASH_NGINX_SPLIT_CLIENTS)
            return rp_fail(c, n, ROLLOUT_ERR_MISSING, "hash %s needs key: %s", name,
                           key_names[p->hash]);
        p->bucket_key = "{id}"; /* the id alone: split_clients "$variable" */
        p->bucket_key_len = 4;
    } else {
        mark = rp_path_key(c, "key");
        if ((rc = rp_string(c, kv, &p->bucket_key)))
            return rc;
        p->bucket_key_len = kv->len;
        if (p->hash == ROLLOUT_HASH_XXH3)
            return rp_fail(c, kv, ROLLOUT_ERR_VALUE,
                           "hash xxh3 takes no key: it is seeded by the plan's salt");
    }
    const char *why;
    if (rp_bucketing_init(&p->bucketing, p->hash, p->bucket_key, p->bucket_key_len, &why))
        return rp_fail(c, kv ? kv : n, ROLLOUT_ERR_VALUE, "%s", why);
    if (kv)
        rp_path_pop(c, mark);
    return ROLLOUT_OK;
}

static const char *const rb_actions[RP_RB_COUNT] = {
    "page", "halt_traffic", "restore_previous", "run_smoke_tests",
    "resume_service", "open_incident", "postmortem"};

static int parse_rollback(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    rp_rollback *rb = &p->rollback;
    static const char *const keys[] = {"triggers", "deadline", "postmortem_within", "procedure",
                                       "commands", "notes", NULL};
    static const char *const step_keys[] = {"id", "action", "roles", "description", NULL};
    const rp_node *v;
    int rc = rp_map_check(c, n, keys);
    if (rc)
        return rc;
    if ((v = rp_map_get(n, "triggers"))) {
        size_t mark = rp_path_key(c, "triggers");
        if ((rc = seq_capped(c, v, 1, ROLLOUT_ROLLBACK_COUNT, "triggers")))
            return rc;
        for (size_t i = 0; i < v->n; i++) {
            const rp_node *t = v->items[i];
            size_t m2 = rp_path_index(c, i);
            if ((rc = rp_expect(c, t, RP_SCALAR)))
                return rc;
            int r = -1;
            for (int k = 0; k < ROLLOUT_ROLLBACK_COUNT && r < 0; k++)
                if (strcmp(t->str, rollout_rollback_reason_name(k)) == 0)
                    r = k;
            if (r < 0)
                return rp_fail(c, t, ROLLOUT_ERR_VALUE,
                               "\"%s\" is not a rollback trigger (write manual, critical_bug, "
                               "data_corruption, error_rate, no_go or evaluation)",
                               t->str);
            rb->triggers |= 1u << r;
            rp_path_pop(c, m2);
        }
        rp_path_pop(c, mark);
    }
    if ((rc = rp_map_require(c, n, "deadline", &v)))
        return rc;
    size_t mark = rp_path_key(c, "deadline");
    if ((rc = rp_duration(c, v, &rb->deadline)))
        return rc;
    rp_path_pop(c, mark);
    rb->postmortem_within = 24 * 3600;
    if ((v = rp_map_get(n, "postmortem_within"))) {
        mark = rp_path_key(c, "postmortem_within");
        if ((rc = rp_duration(c, v, &rb->postmortem_within)))
            return rc;
        rp_path_pop(c, mark);
    }
    if ((rc = rp_map_require(c, n, "procedure", &v)))
        return rc;
    mark = rp_path_key(c, "procedure");
    if ((rc = seq_capped(c, v, 1, 32, "procedure steps")))
        return rc;
    rb->steps = rp_alloc_array(c->arena, v->n, sizeof *rb->steps);
    if (!rb->steps)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        const rp_node *s = v->items[i], *a;
        size_t m2 = rp_path_index(c, i);
        rp_rollback_step *st = &rb->steps[i];
        if ((rc = list_item_id(c, s, step_keys, &rb->steps[0].id, sizeof *st, i,
                               "procedure step", &st->id)))
            return rc;
        if ((rc = rp_map_require(c, s, "action", &a)))
            return rc;
        size_t m3 = rp_path_key(c, "action");
        if ((rc = rp_expect(c, a, RP_SCALAR)))
            return rc;
        st->action = -1;
        for (int k = 0; k < RP_RB_COUNT; k++)
            if (strcmp(a->str, rb_actions[k]) == 0)
                st->action = k;
        if (st->action < 0)
            return rp_fail(c, a, ROLLOUT_ERR_VALUE,
                           "\"%s\" is not a rollback action (write page, halt_traffic, "
                           "restore_previous, run_smoke_tests, resume_service, open_incident "
                           "or postmortem)",
                           a->str);
        for (size_t k = 0; k < i; k++)
            if (rb->steps[k].action == st->action)
                return rp_fail(c, a, ROLLOUT_ERR_DUPLICATE,
                               "action \"%s\" appears twice in the procedure", a->str);
        rp_path_pop(c, m3);
        if ((a = rp_map_get(s, "roles"))) {
            m3 = rp_path_key(c, "roles");
            if ((rc = parse_roles_ref(c, a, &st->roles)))
                return rc;
            rp_path_pop(c, m3);
        }
        if ((rc = opt_string(c, s, "description", &st->description)))
            return rc;
        rb->n_steps++;
        rp_path_pop(c, m2);
    }
    rp_path_pop(c, mark);
    if ((rc = opt_string(c, n, "commands", &rb->commands)))
        return rc;
    return opt_string(c, n, "notes", &rb->notes);
}

static const char *const comm_events[RP_COMM_COUNT] = {
    "rollout_start", "phase_start", "step", "gate", "escalation", "rollback", "complete"};

static int parse_comm_trigger(rp_ctx *c, const rp_node *n, rp_comm *cm)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"event", "phase", "weight", "gate", NULL};
    const rp_node *v;
    int rc = rp_map_check(c, n, keys);
    if (rc || (rc = rp_map_require(c, n, "event", &v)))
        return rc;
    size_t mark = rp_path_key(c, "event");
    if ((rc = rp_expect(c, v, RP_SCALAR)))
        return rc;
    cm->event = -1;
    for (int k = 0; k < RP_COMM_COUNT; k++)
        if (strcmp(v->str, comm_events[k]) == 0)
            cm->event = k;
    if (cm->event < 0)
        return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                       "\"%s\" is not an event (write rollout_start, phase_start, step, gate, "
                       "escalation, rollback or complete)",
                       v->str);
    rp_path_pop(c, mark);
    cm->phase = cm->gate = -1;
    bool needs_phase = cm->event == RP_COMM_PHASE_START || cm->event == RP_COMM_STEP;
    const rp_node *ph = rp_map_get(n, "phase"), *w = rp_map_get(n, "weight"),
                  *g = rp_map_get(n, "gate");
    if (needs_phase && !ph)
        return rp_fail(c, n, ROLLOUT_ERR_MISSING, "missing required key \"phase\" for %s",
                       comm_events[cm->event]);
    if (cm->event == RP_COMM_STEP && !w)
        return rp_fail(c, n, ROLLOUT_ERR_MISSING, "missing required key \"weight\" for step");
    if (cm->event == RP_COMM_GATE && !g)
        return rp_fail(c, n, ROLLOUT_ERR_MISSING, "missing required key \"gate\" for gate");
    if (ph) {
        const char *id;
        mark = rp_path_key(c, "phase");
        if (!needs_phase)
            return rp_fail(c, ph, ROLLOUT_ERR_VALUE, "a %s event takes no phase",
                           comm_events[cm->event]);
        if ((rc = rp_ident(c, ph, &id)))
            return rc;
        if ((cm->phase = phase_index(p, id)) < 0)
            return rp_fail(c, ph, ROLLOUT_ERR_REFERENCE,
                           "phase \"%s\" is not defined under phases:", id);
        rp_path_pop(c, mark);
    }
    if (w) {
        mark = rp_path_key(c, "weight");
        if (cm->event != RP_COMM_STEP)
            return rp_fail(c, w, ROLLOUT_ERR_VALUE, "only a step event takes a weight");
        if ((rc = rp_weight(c, w, &cm->weight)))
            return rc;
        const rp_phase *phs = &p->phases[cm->phase];
        bool found = false;
        for (int s = 0; s < phs->n_steps && !found; s++)
            found = p->steps[phs->first_step + s].weight == cm->weight;
        if (!found)
            return rp_fail(c, w, ROLLOUT_ERR_REFERENCE, "phase \"%s\" has no step at %s",
                           phs->id, w->str);
        rp_path_pop(c, mark);
    }
    if (g) {
        const char *id;
        mark = rp_path_key(c, "gate");
        if (cm->event != RP_COMM_GATE)
            return rp_fail(c, g, ROLLOUT_ERR_VALUE, "only a gate event takes a gate");
        if ((rc = rp_ident(c, g, &id)))
            return rc;
        if ((cm->gate = gate_index(p, id)) < 0)
            return rp_fail(c, g, ROLLOUT_ERR_REFERENCE, "gate \"%s\" is not defined", id);
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

static int parse_comms(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"id", "on", "message", "channel", "audience", "owners",
                                       NULL};
    int rc = seq_capped(c, n, 1, 64, "communications");
    if (rc)
        return rc;
    p->comms = rp_alloc_array(c->arena, n->n, sizeof *p->comms);
    if (!p->comms)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i], *v;
        size_t mark = rp_path_index(c, i);
        rp_comm *cm = &p->comms[i];
        if ((rc = list_item_id(c, item, keys, &p->comms[0].id, sizeof *cm, i, "communication",
                               &cm->id)))
            return rc;
        if ((rc = rp_map_require(c, item, "on", &v)))
            return rc;
        size_t m2 = rp_path_key(c, "on");
        if ((rc = parse_comm_trigger(c, v, cm)))
            return rc;
        rp_path_pop(c, m2);
        static const char *const required[] = {"message", "channel", "audience"};
        const char **dst[] = {&cm->message, &cm->channel, &cm->audience};
        for (int k = 0; k < 3; k++) {
            if ((rc = rp_map_require(c, item, required[k], &v)))
                return rc;
            if ((rc = opt_string(c, item, required[k], dst[k])))
                return rc;
        }
        if ((rc = rp_map_require(c, item, "owners", &v)))
            return rc;
        m2 = rp_path_key(c, "owners");
        if ((rc = parse_roles_ref(c, v, &cm->owners)))
            return rc;
        rp_path_pop(c, m2);
        p->n_comms++;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

/* "09:00" -> seconds after midnight; "24:00" allowed as an end. */
static bool parse_clock(const char *s, size_t len, int32_t *out)
{
    unsigned h, m;
    if (len != 5 || s[2] != ':' || !(s[0] >= '0' && s[0] <= '9'))
        return false;
    h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
    if (s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9')
        return false;
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *out = (int32_t)(h * 3600 + m * 60);
    return true;
}

static int parse_windows(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"days", "from", "to", "utc_offset", "zone", NULL};
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    int rc = seq_capped(c, n, 1, 32, "windows");
    if (rc)
        return rc;
    p->windows = rp_alloc_array(c->arena, n->n, sizeof *p->windows);
    if (!p->windows)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i], *v;
        size_t mark = rp_path_index(c, i);
        rp_window *w = &p->windows[i];
        if ((rc = rp_map_check(c, item, keys)) || (rc = rp_map_require(c, item, "days", &v)))
            return rc;
        size_t m2 = rp_path_key(c, "days");
        if ((rc = seq_capped(c, v, 1, 7, "days")))
            return rc;
        for (size_t k = 0; k < v->n; k++) {
            const rp_node *d = v->items[k];
            size_t m3 = rp_path_index(c, k);
            if ((rc = rp_expect(c, d, RP_SCALAR)))
                return rc;
            int day = -1;
            for (int j = 0; j < 7; j++)
                if (strcmp(d->str, days[j]) == 0)
                    day = j;
            if (day < 0)
                return rp_fail(c, d, ROLLOUT_ERR_VALUE,
                               "\"%s\" is not a day (write mon, tue, wed, thu, fri, sat or sun)",
                               d->str);
            w->days |= (uint8_t)(1u << day);
            rp_path_pop(c, m3);
        }
        rp_path_pop(c, m2);
        const char *names[2] = {"from", "to"};
        int32_t *dst[2] = {&w->from, &w->to};
        for (int k = 0; k < 2; k++) {
            if ((rc = rp_map_require(c, item, names[k], &v)))
                return rc;
            m2 = rp_path_key(c, names[k]);
            if ((rc = rp_expect(c, v, RP_SCALAR)))
                return rc;
            if (!parse_clock(v->str, v->len, dst[k]))
                return rp_fail(c, v, ROLLOUT_ERR_VALUE, "\"%s\" is not a time of day (write 09:00)",
                               v->str);
            rp_path_pop(c, m2);
        }
        if (w->from >= w->to) {
            rp_path_key(c, "to");
            return rp_fail(c, rp_map_get(item, "to"), ROLLOUT_ERR_ORDER,
                           "%s is not after from: %s (a window cannot cross midnight; "
                           "split it in two)",
                           rp_map_get(item, "to")->str, rp_map_get(item, "from")->str);
        }
        if ((v = rp_map_get(item, "utc_offset"))) {
            m2 = rp_path_key(c, "utc_offset");
            if ((rc = rp_expect(c, v, RP_SCALAR)))
                return rc;
            int32_t off;
            if (v->len != 6 || (v->str[0] != '+' && v->str[0] != '-') ||
                !parse_clock(v->str + 1, 5, &off) || off > 18 * 3600)
                return rp_fail(c, v, ROLLOUT_ERR_VALUE, "\"%s\" is not a UTC offset (write +01:00)",
                               v->str);
            w->utc_offset = v->str[0] == '-' ? -off : off;
            rp_path_pop(c, m2);
        }
        if ((v = rp_map_get(item, "zone"))) {
            m2 = rp_path_key(c, "zone");
            if (rp_map_get(item, "utc_offset"))
                return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                               "give zone or utc_offset, not both (the zone knows its offsets)");
            if ((rc = rp_zone_load(c, v, &w->zone)))
                return rc;
            rp_path_pop(c, m2);
        }
        p->n_windows++;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

/* A freeze bound: an absolute time, or with a zone a local time written
 * without an offset (2026-12-20T00:00:00), read in that zone. */
static int freeze_time(rp_ctx *c, const rp_node *v, const rp_zone *zone, int64_t *out)
{
    if (!zone || v->kind != RP_SCALAR || v->len != 19)
        return rp_time(c, v, out);
    char tmp[21];
    memcpy(tmp, v->str, 19);
    memcpy(tmp + 19, "Z", 2);
    int64_t local;
    if (!rp_parse_time(tmp, 20, &local))
        return rp_time(c, v, out); /* its message */
    *out = rp_zone_utc(zone, local);
    if (!RP_TIME_OK(*out))
        return rp_fail(c, v, ROLLOUT_ERR_RANGE,
                       "\"%s\" is outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z", v->str);
    return ROLLOUT_OK;
}

static int parse_freezes(rp_ctx *c, const rp_node *n)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {"from", "to", "reason", "zone", NULL};
    int rc = seq_capped(c, n, 1, 64, "freezes");
    if (rc)
        return rc;
    p->freezes = rp_alloc_array(c->arena, n->n, sizeof *p->freezes);
    if (!p->freezes)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i], *v;
        size_t mark = rp_path_index(c, i);
        rp_freeze *f = &p->freezes[i];
        if ((rc = rp_map_check(c, item, keys)))
            return rc;
        if ((v = rp_map_get(item, "zone"))) {
            size_t m2 = rp_path_key(c, "zone");
            if ((rc = rp_zone_load(c, v, &f->zone)))
                return rc;
            rp_path_pop(c, m2);
        }
        const char *names[2] = {"from", "to"};
        int64_t *dst[2] = {&f->from, &f->to};
        for (int k = 0; k < 2; k++) {
            if ((rc = rp_map_require(c, item, names[k], &v)))
                return rc;
            size_t m2 = rp_path_key(c, names[k]);
            if ((rc = freeze_time(c, v, f->zone, dst[k])))
                return rc;
            rp_path_pop(c, m2);
        }
        if (f->from >= f->to) {
            rp_path_key(c, "to");
            return rp_fail(c, rp_map_get(item, "to"), ROLLOUT_ERR_ORDER,
                           "the freeze ends before it begins");
        }
        if ((rc = opt_string(c, item, "reason", &f->reason)))
            return rc;
        p->n_freezes++;
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

/* ---- the document ------------------------------------------------------- */

typedef int (*section_fn)(rp_ctx *, const rp_node *);

static int parse_document(rp_ctx *c, const rp_node *root)
{
    rollout_plan *p = c->plan;
    static const char *const keys[] = {
        "format", "id", "description", "salt", "bucketing", "start", "versions", "roles", "cohorts",
        "smoke_tests", "custom_metrics", "criteria", "phases", "bake", "rollback",
        "communications", "windows", "freezes", "operator", NULL};
    const rp_node *v;
    int rc = rp_map_check(c, root, keys);
    if (rc)
        return rc;

    if ((rc = rp_map_require(c, root, "format", &v)))
        return rc;
    size_t mark = rp_path_key(c, "format");
    uint64_t format;
    if ((rc = rp_uint(c, v, UINT32_MAX, &format)))
        return rc;
    if (format != 1)
        return rp_fail(c, v, ROLLOUT_ERR_UNSUPPORTED,
                       "plan format %llu is not supported (this library reads format 1)",
                       (unsigned long long)format);
    rp_path_pop(c, mark);

    if ((rc = req_ident(c, root, "id", &p->id)) ||
        (rc = opt_string(c, root, "description", &p->description)))
        return rc;
    if ((rc = rp_map_require(c, root, "salt", &v)))
        return rc;
    mark = rp_path_key(c, "salt");
    if ((rc = rp_string(c, v, &p->salt)))
        return rc;
    if (v->len == 0)
        return rp_fail(c, v, ROLLOUT_ERR_VALUE, "the salt must not be empty");
    p->salt_len = v->len;
    p->seed = XXH3_64bits(p->salt, p->salt_len);
    rp_path_pop(c, mark);
    if ((rc = rp_map_require(c, root, "start", &v)))
        return rc;
    mark = rp_path_key(c, "start");
    if ((rc = rp_time(c, v, &p->start)))
        return rc;
    rp_path_pop(c, mark);

    /* Sections in dependency order: later ones refer to earlier ones. */
    static const struct { const char *key; section_fn fn; bool required; } sections[] = {
        {"versions", parse_versions, true},       {"roles", parse_roles, false},
        {"smoke_tests", parse_smoke, false},
        {"custom_metrics", rp_parse_custom_metrics, false},
        {"criteria", parse_criteria_sets, false},
        {"cohorts", parse_cohorts, true},         {"phases", parse_phases, true},
        {"bake", parse_bake, false},              {"rollback", parse_rollback, true}, 
        {"communications", parse_comms, false},   {"windows", parse_windows, false},
        {"freezes", parse_freezes, false},        {"bucketing", parse_bucketing, false},
        {"operator", rp_parse_operator, false},
    };
    p->bake.criteria = -1;
    for (size_t i = 0; i < RP_COUNT(sections); i++) {
        v = rp_map_get(root, sections[i].key);
        if (!v) {
            /* rollback too: a file cut short usually loses it, and a plan
             * whose rollback is one lone halt must not pass for a plan */
            if (sections[i].required)
                return rp_fail(c, root, ROLLOUT_ERR_MISSING, "missing required key \"%s\"%s",
                               sections[i].key,
                               strcmp(sections[i].key, "rollback") == 0
                                   ? " (every plan states its rollback procedure)"
                                   : "");
            continue;
        }
        mark = rp_path_key(c, sections[i].key);
        if ((rc = sections[i].fn(c, v)))
            return rc;
        rp_path_pop(c, mark);
    }
    return rp_validate_plan(c, p);
}

/* The key of the plan's id tables (targeting.h, rp_idset): 64 bits from
 * the system's random source (getentropy, i.e. getrandom(2) on Linux: a
 * system call, no file opened). It decides where ids sit in memory, never
 * an answer, so every call stays a function of its arguments. Should the
 * source fail (a kernel without getrandom, a sandbox that forbids it), the
 * key is mixed from addresses this process was given (ASLR) and the plan's
 * bytes: unknown to the plan's author still, but with less entropy. */
static uint64_t draw_table_key(const rollout_plan *p, const char *yaml, size_t len)
{
    uint64_t key = 0;
#if defined(RP_HAVE_GETENTROPY)
    if (getentropy(&key, sizeof key) == 0 && key)
        return key;
#endif
    uintptr_t where[3] = {(uintptr_t)p, (uintptr_t)&key, (uintptr_t)&draw_table_key};
    return XXH3_64bits_withSeed(where, sizeof where, XXH3_64bits(yaml, len)) ^ key;
}

static void plan_free(rollout_plan *p)
{
    for (size_t i = 0; i < p->n_patterns; i++)
        pcre2_code_free(p->patterns[i]);
    if (p->release)
        p->release(p);
    rp_arena arena = p->arena;
    rp_arena_free(&arena);
}

int rollout_plan_load_buffer(const char *yaml, size_t len, const char *name, rollout_plan **out,
                             rollout_error *err)
{
    return rp_plan_load_keyed(yaml, len, name, NULL, out, err);
}

static int plan_load(const char *yaml, size_t len, const char *name, const char *base_dir,
                     const uint64_t *table_key, rollout_plan **out, rollout_error *err);

int rp_plan_load_keyed(const char *yaml, size_t len, const char *name,
                       const uint64_t *table_key, rollout_plan **out, rollout_error *err)
{
    return plan_load(yaml, len, name, NULL, table_key, out, err);
}

static int plan_load(const char *yaml, size_t len, const char *name, const char *base_dir,
                     const uint64_t *table_key, rollout_plan **out, rollout_error *err)
{
    if (!out)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "out must not be NULL");
    *out = NULL;
    if (!yaml && len)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "yaml is NULL");
    const char *file = name ? name : "<buffer>";
    if (len > ROLLOUT_MAX_PLAN_BYTES)
        return rp_error_set(err, ROLLOUT_ERR_LIMIT, file, 0, 0, NULL,
                            "the plan is %zu bytes; the limit is %u", len,
                            (unsigned)ROLLOUT_MAX_PLAN_BYTES);

    rp_arena arena = {0};
    rollout_plan *p = rp_alloc(&arena, sizeof *p);
    if (!p)
        return rp_error_set(err, ROLLOUT_ERR_NOMEM, file, 0, 0, NULL, "out of memory");
    p->name = rp_strndup(&arena, file, strlen(file));
    if (!p->name) {
        rp_arena_free(&arena);
        return rp_error_set(err, ROLLOUT_ERR_NOMEM, file, 0, 0, NULL, "out of memory");
    }
    p->arena = arena;   /* from here on the arena lives in the plan */
    p->dfa_budget = RP_DFA_PLAN_STATES;
    p->table_key = table_key ? *table_key : draw_table_key(p, yaml ? yaml : "", len);

    /* The node tree is scratch: its own arena, dropped after the build. */
    rp_arena scratch = {0};
    rp_node *root;
    int rc = rp_yaml_parse(&scratch, yaml ? yaml : "", len, p->name, &root, err);
    if (!rc && !root)
        rc = rp_error_set(err, ROLLOUT_ERR_EMPTY, p->name, 0, 0, NULL,
                          "the plan is empty (a plan starts with \"format: 1\")");
    if (!rc) {
        rp_ctx c = {.arena = &p->arena, .err = err, .file = p->name, .plan = p,
                    .scratch = &scratch, .base_dir = base_dir};
        rc = parse_document(&c, root);
        if (!rc)
            rc = rp_plan_fingerprint_compute(p);
        if (rc == ROLLOUT_ERR_NOMEM && err && err->code != ROLLOUT_ERR_NOMEM)
            rp_error_set(err, rc, p->name, 0, 0, NULL, "out of memory");
    }
    rp_arena_free(&scratch);
    if (rc) {
        plan_free(p);
        return rc;
    }
    __atomic_store_n(&p->refs, 1, __ATOMIC_RELEASE);
    *out = p;
    return ROLLOUT_OK;
}

int rollout_plan_load_file(const char *path, rollout_plan **out, rollout_error *err)
{
    if (!out)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "out must not be NULL");
    *out = NULL;
    if (!path)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "path must not be NULL");
    char *buf;
    size_t len;
    int rc = rp_read_file(path, ROLLOUT_MAX_PLAN_BYTES, "plan", &buf, &len, err);
    if (rc)
        return rc;
    /* ids files are read relative to the plan's directory */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(dlen + 1);
    if (!dir) {
        free(buf);
        return rp_error_set(err, ROLLOUT_ERR_NOMEM, path, 0, 0, NULL, "out of memory");
    }
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    rc = plan_load(buf, len, path, dir, NULL, out, err);
    free(dir);
    free(buf);
    return rc;
}

extern const char rp_seed_yaml[];
extern const size_t rp_seed_yaml_len;

const char *rollout_seed_plan(size_t *len)
{
    if (len)
        *len = rp_seed_yaml_len;
    return rp_seed_yaml;
}

rollout_plan *rollout_plan_ref(rollout_plan *plan)
{
    if (plan)
        __atomic_add_fetch(&plan->refs, 1, __ATOMIC_RELAXED);
    return plan;
}

void rollout_plan_unref(rollout_plan *plan)
{
    if (plan && __atomic_sub_fetch(&plan->refs, 1, __ATOMIC_ACQ_REL) == 0)
        plan_free(plan);
}

/* ---- read-only facts ----------------------------------------------------- */

const char *rollout_plan_id(const rollout_plan *p) { return p ? p->id : NULL; }
int64_t rollout_plan_start(const rollout_plan *p) { return p ? p->start : 0; }
uint64_t rollout_plan_fingerprint(const rollout_plan *p) { return p ? p->fingerprint : 0; }
int rollout_plan_phase_count(const rollout_plan *p) { return p ? p->n_phases : 0; }
int rollout_plan_cohort_count(const rollout_plan *p) { return p ? p->n_cohorts : 0; }
int rollout_plan_gate_count(const rollout_plan *p) { return p ? p->n_gates : 0; }

const char *rollout_plan_version_label(const rollout_plan *p, int which)
{
    return p && (which == 0 || which == 1) ? p->labels[which] : NULL;
}

const char *rollout_plan_phase_name(const rollout_plan *p, int i)
{
    return p && i >= 0 && i < p->n_phases ? p->phases[i].id : NULL;
}

int rollout_plan_phase_index(const rollout_plan *p, const char *name)
{
    return p && name ? phase_index(p, name) : -1;
}

const char *rollout_plan_cohort_name(const rollout_plan *p, int i)
{
    return p && i >= 0 && i < p->n_cohorts ? p->cohorts[i].id : NULL;
}

const char *rollout_plan_gate_name(const rollout_plan *p, int i)
{
    return p && i >= 0 && i < p->n_gates ? p->gates[i].id : NULL;
}

unsigned rollout_plan_rule_units(const rollout_plan *p) { return p ? p->rule_units : 0; }

const char *rollout_plan_rule_attr(const rollout_plan *p, int i, size_t *len)
{
    if (!p || i < 0 || i >= p->n_rule_attrs)
        return NULL;
    if (len)
        *len = p->rule_attrs[i]->attr_len;
    return p->rule_attrs[i]->attr;
}

int rollout_plan_role_count(const rollout_plan *p) { return p ? p->n_roles : 0; }

const char *rollout_plan_role_name(const rollout_plan *p, int i)
{
    return p && i >= 0 && i < p->n_roles ? p->roles[i].id : NULL;
}

static const char *const rollback_reason_names[ROLLOUT_ROLLBACK_COUNT] = {
    "manual", "critical_bug", "data_corruption", "error_rate", "no_go", "evaluation"};

const char *rollout_rollback_reason_name(int reason)
{
    if (reason < 0 || reason >= ROLLOUT_ROLLBACK_COUNT)
        return "?";
    return rollback_reason_names[reason];
}

const char *rp_rollback_action_name(int action)
{
    return action >= 0 && action < RP_RB_COUNT ? rb_actions[action] : "?";
}

const char *rp_comm_event_name(int event)
{
    return event >= 0 && event < RP_COMM_COUNT ? comm_events[event] : "?";
}

#define ROLLOUT_STR2(x) #x
#define ROLLOUT_STR(x) ROLLOUT_STR2(x)

const char *rollout_version(void)
{
    return ROLLOUT_STR(ROLLOUT_VERSION_MAJOR) "." ROLLOUT_STR(ROLLOUT_VERSION_MINOR) "."
        ROLLOUT_STR(ROLLOUT_VERSION_PATCH);
}

unsigned rollout_version_number(void)
{
    return ROLLOUT_VERSION_NUMBER;
}
