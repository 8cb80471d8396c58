/* SPDX-License-Identifier: MIT */
/*
 * test_rule_cost.c — what a plan's author can make cohort rules cost
 * (docs/security.md, "Cost of cohort rules"):
 *
 *   flooding   id lists whose ids the author chose so that, under the
 *              plan's public salt, they all start their lookups in the
 *              same few slots of the table (the layout before the tables
 *              were keyed); the probes a lookup takes must stay short
 *   aliases    one pattern rule repeated by alias (or written out again)
 *              thousands of times: compiled once, evaluated once
 *   budget     many distinct patterns that each run to the match limit: a
 *              decision stops after RP_PATTERN_RUNS_MAX PCRE2 runs and
 *              answers STABLE with MATCH_ERROR
 *
 * Every assertion is on a count (probes, compiled patterns, PCRE2 runs),
 * never on a time.
 */
#include "bucket.h"
#include "support.h"
#include "targeting.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_HEAD                     \
    "format: 1\n"                     \
    "id: cost\n"                      \
    "salt: %s\n"                      \
    "start: 2026-01-01T00:00:00Z\n"   \
    "versions: {stable: a, new: b}\n" \
    "cohorts:\n"

#define PLAN_TAIL                                    \
    "phases:\n"                                      \
    "  - id: p\n"                                    \
    "    cohort: c0\n"                               \
    "    steps:\n"                                   \
    "      - {at: 0h, weight: 100%%, unit: org}\n"        \
    "rollback:\n"                                    \
    "  deadline: 30m\n"                              \
    "  procedure: [{id: halt, action: halt_traffic}]\n"

/* A growable plan text. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        cr_assert(n >= 0);
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n + 1;
        t->s = realloc(t->s, t->cap);
        cr_assert(t->s);
    }
}

static rollout_plan *load_keyed(const text *t, const uint64_t *key)
{
    rollout_plan *p = NULL;
    rollout_error err;
    int rc = rp_plan_load_keyed(t->s, t->len, "cost.yaml", key, &p, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s", err.message);
    return p;
}

/* ---- flooding ------------------------------------------------------------- */

enum { FLOOD_IDS = 4000, FLOOD_SLOTS = 32 };

/* Ids whose hashes under the salt's seed all have their low bits below
 * FLOOD_SLOTS: in a table of 2^k slots indexed by the hash's low bits (a
 * layout anyone can compute from the plan), every lookup starts in the
 * first FLOOD_SLOTS slots and the ids form one run of FLOOD_IDS slots. */
static void flooding_plan(text *t, const char *salt)
{
    uint64_t seed = rp_hash_seed(salt, strlen(salt));
    size_t cap = 16;
    while (cap < 2 * FLOOD_IDS)
        cap *= 2;
    put(t, PLAN_HEAD, salt);
    put(t, "  - id: c0\n    match: {org_in: [");
    char id[32];
    int found = 0;
    for (uint64_t k = 0; found < FLOOD_IDS; k++) {
        int n = snprintf(id, sizeof id, "f%llu", (unsigned long long)k);
        if ((rp_hash_id(seed, id, (size_t)n) & (cap - 1)) >= FLOOD_SLOTS)
            continue;
        put(t, "%s%s", found ? "," : "", id);
        found++;
    }
    put(t, "]}\n" PLAN_TAIL);
}

static const rp_idset *org_set(const rollout_plan *p)
{
    const struct rp_rule *r = p->cohorts[0].match;
    cr_assert_eq(r->kind, RP_RULE_ORG_IN);
    cr_assert_not_null(r->set.table);
    return &r->set;
}

/* Every listed id is found and a few others are not, whatever the layout. */
static void expect_lookups(const rollout_plan *p)
{
    const rp_idset *set = org_set(p);
    for (size_t i = 0; i < set->n; i++) {
        const rp_id *id = &set->items[i];
        cr_assert(rp_idset_has(set, rp_hash_id(p->seed, id->s, id->len), id->s, id->len), "%s",
                  id->s);
    }
    for (int i = 0; i < 100; i++) {
        char id[32];
        int n = snprintf(id, sizeof id, "absent-%d", i);
        cr_assert_not(rp_idset_has(set, rp_hash_id(p->seed, id, (size_t)n), id, (size_t)n));
    }
}

/* With the keys fixed, the layout is the same every run: the longest
 * lookup of the flooding ids (4 000 ids at load factor 0.49) takes 10 to
 * 25 probes under these keys. Indexed by the hash's low bits it took 3 996. */
Test(flooding, chosen_ids_do_not_cluster_under_a_fixed_key, .timeout = 60)
{
    text t = {0};
    flooding_plan(&t, "flood-salt");
    static const uint64_t keys[] = {1, 0x9E3779B97F4A7C15u, 0xdeadbeefcafef00du};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        rollout_plan *p = load_keyed(&t, &keys[k]);
        size_t worst = rp_idset_max_probe(org_set(p));
        cr_assert_leq(worst, 32, "key %zu: the longest lookup takes %zu probes", k, worst);
        expect_lookups(p);
        rollout_plan_unref(p);
    }
    free(t.s);
}

/* The loader draws a key per plan: two loads of the same text are laid
 * out apart, and either keeps the flooding ids' lookups short. */
Test(flooding, every_load_draws_its_own_key, .timeout = 60)
{
    text t = {0};
    flooding_plan(&t, "flood-salt");
    rollout_plan *a = load_keyed(&t, NULL), *b = load_keyed(&t, NULL);
    const rp_idset *sa = org_set(a), *sb = org_set(b);
    cr_assert_neq(sa->key, sb->key, "two loads drew the same key");
    cr_assert_leq(rp_idset_max_probe(sa), 64);
    cr_assert_leq(rp_idset_max_probe(sb), 64);
    expect_lookups(a);
    expect_lookups(b);
    /* decisions do not depend on the layout */
    rollout_context ctx = {.org = sa->items[7].s, .org_len = sa->items[7].len};
    rollout_decision da, db;
    cr_assert_eq(rollout_decide(a, NULL, t_time("2026-01-02T00:00:00Z"), &ctx, &da), ROLLOUT_OK);
    cr_assert_eq(rollout_decide(b, NULL, t_time("2026-01-02T00:00:00Z"), &ctx, &db), ROLLOUT_OK);
    cr_assert_eq(da.variant, ROLLOUT_NEW);
    cr_assert_eq(db.variant, ROLLOUT_NEW);
    cr_assert_eq(da.bucket, db.bucket);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
    free(t.s);
}

/* ---- aliased and repeated pattern rules ------------------------------------ */

/* Matches every value for which PCRE2 gives up: a lookahead keeps it out
 * of the automata, and `a...a!` makes (a+)+ backtrack to the match limit. */
#define BOMB "^(?=a)(a+)+$"

static rollout_context ua_ctx(rollout_attr *attr, char *value, size_t n)
{
    memset(value, 'a', n - 1);
    value[n - 1] = '!';
    *attr = (rollout_attr){.key = "ua", .key_len = 2, .value = value, .value_len = n};
    return (rollout_context){.org = "o1", .org_len = 2, .attrs = attr, .n_attrs = 1};
}

/* The rule's PCRE2 runs for ctx, and the decision. */
static int runs_of(const rollout_plan *p, const rollout_context *ctx, rollout_decision *d)
{
    rp_unit_hashes h = {.seed = p->seed};
    int err_cohort;
    int ci = rp_match_cohort_ex(p, ctx, &h, &err_cohort);
    cr_assert_eq(ci, -1);
    cr_assert_eq(err_cohort, 0, "the pattern gave up, so the cohort is unknown");
    cr_assert_eq(rollout_decide(p, NULL, t_time("2026-01-02T00:00:00Z"), ctx, d), ROLLOUT_OK);
    return (int)h.pattern_runs;
}

static void expect_match_error(const rollout_decision *d)
{
    cr_assert_eq(d->variant, ROLLOUT_STABLE);
    cr_assert_eq(d->reason, ROLLOUT_REASON_MATCH_ERROR);
    cr_assert_eq(d->cohort, 0);
}

enum { COPIES = 2000 };

Test(aliases, one_aliased_pattern_rule_is_compiled_and_run_once, .timeout = 60)
{
    text t = {0};
    put(&t, PLAN_HEAD, "alias-salt");
    put(&t, "  - id: c0\n    match:\n      any: [&p {attr: ua, matches: '" BOMB "'}");
    for (int i = 1; i < COPIES; i++)
        put(&t, ", *p");
    put(&t, "]\n" PLAN_TAIL);
    rollout_plan *p = load_keyed(&t, NULL);
    cr_assert_eq(p->n_patterns, 1, "%zu patterns compiled", p->n_patterns);
    cr_assert_eq(p->cohorts[0].match->n_kids, COPIES, "the rule keeps its %d parts as written",
                 COPIES);

    rollout_attr attr;
    char value[40];
    rollout_context ctx = ua_ctx(&attr, value, sizeof value);
    rollout_decision d;
    cr_assert_eq(runs_of(p, &ctx, &d), 1);
    expect_match_error(&d);

    /* the dump still lists every alias, and reloads to the same plan */
    size_t len = 0;
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &len), ROLLOUT_ERR_BUFFER);
    char *yaml = malloc(len + 1);
    cr_assert(yaml);
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, yaml, len + 1, NULL), ROLLOUT_OK);
    rollout_plan *q = NULL;
    cr_assert_eq(rollout_plan_load_buffer(yaml, len, "dump", &q, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_plan_fingerprint(q), rollout_plan_fingerprint(p));
    cr_assert_eq(q->n_patterns, 1);
    free(yaml);
    rollout_plan_unref(q);
    rollout_plan_unref(p);
    free(t.s);
}

/* Copies written out (no alias) are the same rule too. */
Test(aliases, repeated_pattern_rules_are_one_rule, .timeout = 60)
{
    text t = {0};
    put(&t, PLAN_HEAD, "copy-salt");
    put(&t, "  - id: c0\n    match:\n      any:\n");
    for (int i = 0; i < COPIES; i++)
        put(&t, "        - {attr: ua, matches: '" BOMB "'}\n");
    /* the same pattern on another attribute is another rule, one pattern */
    put(&t, "        - {attr: ua2, matches: '" BOMB "'}\n");
    put(&t, PLAN_TAIL);
    rollout_plan *p = load_keyed(&t, NULL);
    cr_assert_eq(p->n_patterns, 1, "%zu patterns compiled", p->n_patterns);

    rollout_attr attr;
    char value[40];
    rollout_context ctx = ua_ctx(&attr, value, sizeof value);
    rollout_decision d;
    cr_assert_eq(runs_of(p, &ctx, &d), 1);
    expect_match_error(&d);
    rollout_plan_unref(p);
    free(t.s);
}

/* An alias of a composite rule (not, all) is one rule as well. */
Test(aliases, aliased_composite_rules_are_evaluated_once, .timeout = 60)
{
    text t = {0};
    put(&t, PLAN_HEAD, "tree-salt");
    put(&t, "  - id: c0\n    match:\n      any:\n"
            "        - &q {all: [{attr: ua, matches: '" BOMB "'}, {not: {org_in: [x1]}}]}\n");
    for (int i = 1; i < COPIES; i++)
        put(&t, "        - *q\n");
    put(&t, PLAN_TAIL);
    rollout_plan *p = load_keyed(&t, NULL);
    cr_assert_eq(p->n_patterns, 1);
    cr_assert_eq(p->n_ids, 1, "an aliased list is one list");
    rollout_attr attr;
    char value[40];
    rollout_context ctx = ua_ctx(&attr, value, sizeof value);
    rollout_decision d;
    cr_assert_eq(runs_of(p, &ctx, &d), 1);
    expect_match_error(&d);
    rollout_plan_unref(p);
    free(t.s);
}

/* ---- the budget --------------------------------------------------------------- */

/* 200 distinct patterns that all give up on the value: the decision stops
 * after RP_PATTERN_RUNS_MAX runs, answers MATCH_ERROR, and a later rule
 * that would match is not reached. */
Test(budget, a_decision_runs_pcre2_a_bounded_number_of_times, .timeout = 60)
{
    text t = {0};
    put(&t, PLAN_HEAD, "budget-salt");
    put(&t, "  - id: c0\n    match:\n      any:\n");
    for (int i = 0; i < 200; i++)
        put(&t, "        - {attr: ua, matches: '" BOMB "|^z%d$'}\n", i);
    put(&t, "        - {everyone: true}\n");
    put(&t, PLAN_TAIL);
    rollout_plan *p = load_keyed(&t, NULL);
    cr_assert_eq(p->n_patterns, 200);
    rollout_attr attr;
    char value[40];
    rollout_context ctx = ua_ctx(&attr, value, sizeof value);
    rollout_decision d;
    int runs = runs_of(p, &ctx, &d);
    cr_assert_leq(runs, RP_PATTERN_RUNS_MAX + 1, "%d PCRE2 runs", runs);
    cr_assert_geq(runs, RP_PATTERN_RUNS_MAX);
    expect_match_error(&d);
    rollout_plan_unref(p);
    free(t.s);
}

/* The budget is per decision, and only PCRE2 runs count: a plan of many
 * cheap patterns (literal text, automata) and up to RP_PATTERN_RUNS_MAX
 * PCRE2 patterns decides as before. */
Test(budget, plans_within_the_budget_decide_as_before, .timeout = 60)
{
    text t = {0};
    put(&t, PLAN_HEAD, "within-salt");
    put(&t, "  - id: c0\n    match:\n      any:\n");
    for (int i = 0; i < 100; i++)
        put(&t, "        - {attr: ua, matches: '@corp%d\\.com$'}\n", i);
    for (int i = 0; i < 100; i++)
        put(&t, "        - {attr: ua, matches: '^[a-z]+%d$'}\n", i);
    for (int i = 0; i < (int)RP_PATTERN_RUNS_MAX - 1; i++)
        put(&t, "        - {attr: ua, matches: '(?i)^x%d\\b'}\n", i);
    put(&t, "        - {attr: ua, matches: '(?i)^last\\b'}\n");
    put(&t, PLAN_TAIL);
    rollout_plan *p = load_keyed(&t, NULL);
    rollout_attr attr = {.key = "ua", .key_len = 2, .value = "LAST one", .value_len = 8};
    rollout_context ctx = {.org = "o1", .org_len = 2, .attrs = &attr, .n_attrs = 1};
    for (int round = 0; round < 3; round++) {
        rp_unit_hashes h = {.seed = p->seed};
        int err_cohort;
        cr_assert_eq(rp_match_cohort_ex(p, &ctx, &h, &err_cohort), 0);
        cr_assert_eq(h.pattern_runs, (uint32_t)RP_PATTERN_RUNS_MAX);
        rollout_decision d;
        cr_assert_eq(rollout_decide(p, NULL, t_time("2026-01-02T00:00:00Z"), &ctx, &d),
                     ROLLOUT_OK);
        cr_assert_eq(d.reason, ROLLOUT_REASON_IN_ROLLOUT);
    }
    rollout_plan_unref(p);
    free(t.s);
}
