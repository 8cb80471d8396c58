/* SPDX-License-Identifier: MIT */
/*
 * test_attr_presence.c — an absent attribute against one sent as the empty
 * string, through rollout_decide, rollout_decide_ids and a prepared
 * rollout_batch, for every kind of attribute rule (tests/vectors/
 * attr_presence.json, which the Python and Lua tests read too).
 *
 * docs/targeting.md, "Attributes": a NULL value is absent whatever its
 * length, so (NULL, 0) must not match `equals: ""`, `in: ["", ...]` or a
 * pattern that matches the empty string; a non-NULL value of length 0 is
 * the empty string and matches all three.
 */
#include "support.h"
#include "targeting.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VECTORS "tests/vectors/attr_presence.json"

static const rp_node *field(const rp_node *map, const char *key)
{
    const rp_node *v = rp_map_get(map, key);
    cr_assert(v, "vector without \"%s\" (line %d)", key, map->line);
    return v;
}

static int is_null(const rp_node *n)
{
    return n->kind == RP_SCALAR && n->plain && strcmp(n->str, "null") == 0;
}

/* The cohort's index by name, -1 for none. */
static int cohort_index(const rollout_plan *p, const rp_node *name)
{
    if (is_null(name))
        return -1;
    for (int i = 0; i < rollout_plan_cohort_count(p); i++)
        if (strcmp(rollout_plan_cohort_name(p, i), name->str) == 0)
            return i;
    cr_assert_fail("no cohort named %s in the vector plan", name->str);
    return -1;
}

/* One request of the vector, decided the three ways, each of which must
 * name (or, for the batch paths, route as) cohort want. */
static void expect_decisions(const rollout_plan *p, int64_t now, const rollout_context *c,
                             int want, const char *what)
{
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, now, c, &d), ROLLOUT_OK, "%s", what);
    cr_assert_eq(d.cohort, want, "%s: decide chose cohort %d, want %d", what, d.cohort, want);
    unsigned char variant = want >= 0 ? ROLLOUT_NEW : ROLLOUT_STABLE;
    cr_assert_eq(d.variant, variant, "%s: decide", what);

    /* the user is the varying id: base is the request without it */
    rollout_context base = *c;
    base.user = NULL;
    base.user_len = 0;
    rollout_id id = {c->user, c->user_len};
    unsigned char got = 0xAA;
    cr_assert_eq(rollout_decide_ids(p, NULL, now, &base, ROLLOUT_UNIT_USER, &id, 1, &got),
                 ROLLOUT_OK, "%s", what);
    cr_assert_eq(got, variant, "%s: decide_ids gave %d", what, got);
    rollout_batch b;
    cr_assert_eq(rollout_batch_prepare(p, NULL, now, &base, ROLLOUT_UNIT_USER, &b), ROLLOUT_OK);
    cr_assert_eq(rollout_batch_variant(&b, c->user, c->user_len), variant,
                 "%s: batch_variant", what);
    /* the attributes known per batch, the org varying (batch rules evaluated once) */
    cr_assert_eq(rollout_decide_ids(p, NULL, now, c, ROLLOUT_UNIT_ORG,
                                    &(rollout_id){"o", 1}, 1, &got), ROLLOUT_OK);
    cr_assert_eq(got, variant, "%s: decide_ids by org gave %d", what, got);
}

Test(attr_presence, vectors_decide_decide_ids_and_batch)
{
    rp_arena arena = {0};
    const rp_node *root = t_json(&arena, VECTORS);
    rollout_plan *p = t_plan(field(root, "plan")->str);
    int64_t now = strtoll(field(root, "now")->str, NULL, 10);
    const rp_node *user = field(root, "user");
    const rp_node *cases = field(root, "cases");
    cr_assert_eq(cases->kind, RP_SEQ);
    cr_assert_geq(cases->n, 20);

    /* each pattern takes the path its cohort is named after */
    for (int i = 0; i < p->n_cohorts; i++) {
        const char *name = rollout_plan_cohort_name(p, i);
        const rp_pattern *pat = &p->cohorts[i].match->pat;
        if (strcmp(name, "literal") == 0)
            cr_assert(pat->lit, "^$ is compared as bytes");
        if (strcmp(name, "automaton") == 0)
            cr_assert(!pat->lit && pat->dfa, "^a*$ runs as an automaton");
        if (strcmp(name, "pcre2") == 0)
            cr_assert(!pat->lit && !pat->dfa, "^(?=)$ is left to PCRE2");
    }

    size_t absent_cases = 0, empty_cases = 0;
    for (size_t i = 0; i < cases->n; i++) {
        const rp_node *c = cases->items[i];
        const rp_node *key = field(c, "attr"), *value = field(c, "value");
        int want = cohort_index(p, field(c, "cohort"));
        rollout_context ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.user = user->str;
        ctx.user_len = user->len;
        rollout_attr attrs[2];
        char what[128];
        if (!is_null(value)) {
            attrs[0] = (rollout_attr){key->str, key->len, value->str, value->len};
            ctx.attrs = attrs;
            ctx.n_attrs = 1;
            snprintf(what, sizeof what, "case %zu: %s=\"%s\"", i, key->str, value->str);
            expect_decisions(p, now, &ctx, want, what);
            empty_cases += value->len == 0;
            if (value->len == 0) {
                /* any non-NULL pointer is the empty string, not only "" */
                attrs[0].value = key->str;
                snprintf(what, sizeof what, "case %zu: %s=(non-NULL, 0)", i, key->str);
                expect_decisions(p, now, &ctx, want, what);
            }
            continue;
        }
        cr_assert_eq(want, -1, "case %zu: an absent attribute names no cohort here", i);
        absent_cases++;
        /* left out, a NULL value of length 0, a NULL value with a length:
         * the same absent attribute */
        snprintf(what, sizeof what, "case %zu: %s left out", i, key->str);
        expect_decisions(p, now, &ctx, want, what);
        static const size_t lens[] = {0, 5};
        for (int k = 0; k < 2; k++) {
            attrs[0] = (rollout_attr){key->str, key->len, NULL, lens[k]};
            ctx.attrs = attrs;
            ctx.n_attrs = 1;
            snprintf(what, sizeof what, "case %zu: %s=(NULL, %zu)", i, key->str, lens[k]);
            expect_decisions(p, now, &ctx, want, what);
        }
        /* the first attribute with the key decides: an absent one before
         * an empty one leaves the request without it */
        attrs[1] = (rollout_attr){key->str, key->len, "", 0};
        ctx.n_attrs = 2;
        attrs[0].value_len = 0;
        snprintf(what, sizeof what, "case %zu: %s=(NULL, 0) then \"\"", i, key->str);
        expect_decisions(p, now, &ctx, want, what);
    }
    cr_assert_geq(absent_cases, 7);
    cr_assert_geq(empty_cases, 7);
    rollout_plan_unref(p);
    rp_arena_free(&arena);
}
