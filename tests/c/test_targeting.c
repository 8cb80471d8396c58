/* SPDX-License-Identifier: MIT */
/*
 * test_targeting.c — cohort rules: every rule type, first-match order,
 * negation, missing attributes, the three-valued handling of a pattern that
 * hits its match limit, the dump round trip, and every error of
 * rp_parse_rule with its exact code, position and message.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "bucket.h"
#include "support.h"
#include "targeting.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Six lines of plan before the cohorts, so a cohort's first line is line 7. */
#define PLAN_HEAD                       \
    "format: 1\n"                       \
    "id: t\n"                           \
    "salt: targeting-test\n"            \
    "start: 2026-01-01T00:00:00Z\n"     \
    "versions: {stable: a, new: b}\n"   \
    "cohorts:\n"

#define PLAN_TAIL                                      \
    "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n" \
    "phases:\n"                                        \
    "  - id: p\n"                                      \
    "    cohort: c0\n"                                 \
    "    steps:\n"                                     \
    "      - {at: 0h, weight: 50%, unit: user}\n"

static char *plan_text(const char *cohorts)
{
    size_t n = strlen(PLAN_HEAD) + strlen(cohorts) + strlen(PLAN_TAIL) + 1;
    char *s = malloc(n);
    cr_assert(s);
    snprintf(s, n, "%s%s%s", PLAN_HEAD, cohorts, PLAN_TAIL);
    return s;
}

static rollout_plan *plan_of(const char *cohorts)
{
    char *s = plan_text(cohorts);
    rollout_plan *p = t_plan(s);
    free(s);
    return p;
}

/* One cohort "c0" with the given rule (YAML flow or block after "match:"). */
static rollout_plan *rule_plan(const char *rule)
{
    char buf[16384];
    snprintf(buf, sizeof buf, "  - id: c0\n    match: %s\n", rule);
    return plan_of(buf);
}

/* A context built from "key=value" attributes and optional org/user. */
typedef struct tctx {
    rollout_context ctx;
    rollout_attr attrs[8];
} tctx;

static tctx ctx_of(const char *org, const char *user, const char *const *kv)
{
    tctx t;
    memset(&t, 0, sizeof t);
    if (org) {
        t.ctx.org = org;
        t.ctx.org_len = strlen(org);
    }
    if (user) {
        t.ctx.user = user;
        t.ctx.user_len = strlen(user);
    }
    for (size_t i = 0; kv && kv[i]; i++) {
        const char *eq = strchr(kv[i], '=');
        cr_assert(eq && i < 8);
        t.attrs[i] = (rollout_attr){kv[i], (size_t)(eq - kv[i]), eq + 1, strlen(eq + 1)};
        t.ctx.n_attrs = i + 1;
    }
    return t;
}

/* rp_match_cohort as decide calls it: with the org hash precomputed. */
static int match(const rollout_plan *p, const tctx *t, bool *err)
{
    /* tctx values are copied around; point attrs at this copy's array */
    rollout_context c = t->ctx;
    c.attrs = t->attrs;
    uint64_t org_hash = c.org && c.org_len ? rp_hash_id(p->seed, c.org, c.org_len) : 0;
    bool e = false;
    int i = rp_match_cohort(p, &c, org_hash, &e);
    if (err)
        *err = e;
    else
        cr_assert(!e, "unexpected match error");
    return i;
}

static bool matches(const rollout_plan *p, const char *org, const char *user,
                    const char *const *kv)
{
    tctx t = ctx_of(org, user, kv);
    return match(p, &t, NULL) == 0;
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- rule types ----------------------------------------------------------- */

Test(targeting, everyone)
{
    rollout_plan *p = rule_plan("{everyone: true}");
    cr_assert(matches(p, NULL, NULL, NULL));
    cr_assert(matches(p, "acme", "bob", KV("country=DE")));
    /* a NULL context is an empty one */
    bool e = true;
    cr_assert_eq(rp_match_cohort(p, NULL, 0, &e), 0);
    cr_assert(!e);
    rollout_plan_unref(p);
}

static void check_org_list(const char *rule)
{
    rollout_plan *p = rule_plan(rule);
    cr_assert(matches(p, "acme-corp", NULL, NULL));
    cr_assert(matches(p, "globex", "anyone", NULL));
    cr_assert(!matches(p, "acme", NULL, NULL), "a prefix is not a member");
    cr_assert(!matches(p, "acme-corp2", NULL, NULL), "an extension is not a member");
    cr_assert(!matches(p, "ACME-CORP", NULL, NULL), "ids are case-sensitive");
    cr_assert(!matches(p, NULL, NULL, NULL), "no org, no match");
    cr_assert(!matches(p, NULL, "acme-corp", NULL), "a user id is not an org id");
    /* ids are (pointer, length), not NUL-terminated */
    tctx t = ctx_of(NULL, NULL, NULL);
    t.ctx.org = "acme-corp|junk";
    t.ctx.org_len = 9;
    cr_assert_eq(match(p, &t, NULL), 0);
    t.ctx.org_len = 0; /* length 0 means absent even with a pointer */
    cr_assert_eq(match(p, &t, NULL), -1);
    t.ctx.org = NULL;
    t.ctx.org_len = 9; /* and so does a NULL pointer */
    cr_assert_eq(match(p, &t, NULL), -1);
    rollout_plan_unref(p);
}

Test(targeting, org_in_short_list)
{
    check_org_list("{org_in: [acme-corp, globex]}");
}

Test(targeting, org_in_hashed_list)
{
    /* more than RP_IDSET_LINEAR_MAX ids: the hash-set path */
    char rule[8192] = "{org_in: [acme-corp";
    for (int i = 0; i < 500; i++)
        snprintf(rule + strlen(rule), sizeof rule - strlen(rule), ", o%d", i);
    cr_assert_lt(strlen(rule), sizeof rule - 20);
    strcat(rule, ", globex]}");
    check_org_list(rule);
    rollout_plan *p = rule_plan(rule);
    const struct rp_rule *r = p->cohorts[0].match;
    cr_assert_eq(r->kind, RP_RULE_ORG_IN);
    cr_assert_not_null(r->set.table, "a 502-id list must be hashed");
    cr_assert(matches(p, "o0", NULL, NULL));
    cr_assert(matches(p, "o499", NULL, NULL));
    cr_assert(!matches(p, "o500", NULL, NULL));
    rollout_plan_unref(p);
}

Test(targeting, user_in)
{
    static const char *const rules[] = {
        "{user_in: [alice, \"007\", bob]}",
        "{user_in: [alice, \"007\", bob, u1, u2, u3, u4, u5, u6, u7, u8]}",
    };
    for (size_t i = 0; i < 2; i++) {
        rollout_plan *p = rule_plan(rules[i]);
        cr_assert(matches(p, NULL, "alice", NULL));
        cr_assert(matches(p, "acme", "bob", NULL));
        /* quoted "007" stays the text 007, not the number 7 */
        cr_assert(matches(p, NULL, "007", NULL));
        cr_assert(!matches(p, NULL, "7", NULL));
        cr_assert(!matches(p, NULL, "carol", NULL));
        cr_assert(!matches(p, "alice", NULL, NULL), "an org id is not a user id");
        cr_assert(!matches(p, NULL, NULL, NULL));
        rollout_plan_unref(p);
    }
}

Test(targeting, plain_number_like_ids_are_text)
{
    rollout_plan *p = rule_plan("{org_in: [007, 1e3, -1, true, null]}");
    cr_assert(matches(p, "007", NULL, NULL));
    cr_assert(matches(p, "1e3", NULL, NULL));
    cr_assert(matches(p, "-1", NULL, NULL));
    cr_assert(matches(p, "true", NULL, NULL));
    cr_assert(matches(p, "null", NULL, NULL));
    cr_assert(!matches(p, "7", NULL, NULL));
    cr_assert(!matches(p, "1000", NULL, NULL));
    rollout_plan_unref(p);
}

Test(targeting, attr_equals)
{
    rollout_plan *p = rule_plan("{attr: plan_tier, equals: enterprise}");
    cr_assert(matches(p, NULL, NULL, KV("plan_tier=enterprise")));
    cr_assert(matches(p, NULL, NULL, KV("country=DE", "plan_tier=enterprise")));
    cr_assert(!matches(p, NULL, NULL, KV("plan_tier=Enterprise")));
    cr_assert(!matches(p, NULL, NULL, KV("plan_tier=enterprise2")));
    cr_assert(!matches(p, NULL, NULL, KV("plan_tier=")));
    cr_assert(!matches(p, NULL, NULL, KV("plan_tie=enterprise")), "key is matched exactly");
    cr_assert(!matches(p, NULL, NULL, KV("country=DE")), "missing attribute");
    cr_assert(!matches(p, NULL, NULL, NULL), "no attributes at all");
    /* a count without an array is no attributes, not a crash */
    rollout_context bare;
    memset(&bare, 0, sizeof bare);
    bare.n_attrs = 3;
    bool err = true;
    cr_assert_eq(rp_match_cohort(p, &bare, 0, &err), -1);
    cr_assert(!err);
    /* the first attribute with the key decides */
    cr_assert(matches(p, NULL, NULL, KV("plan_tier=enterprise", "plan_tier=free")));
    cr_assert(!matches(p, NULL, NULL, KV("plan_tier=free", "plan_tier=enterprise")));
    /* a NULL value is an absent attribute, not an empty one */
    tctx t = ctx_of(NULL, NULL, KV("plan_tier=enterprise"));
    t.attrs[0].value = NULL;
    t.attrs[0].value_len = 10;
    cr_assert_eq(match(p, &t, NULL), -1);
    rollout_plan_unref(p);

    p = rule_plan("{attr: beta, equals: \"\"}");
    cr_assert(matches(p, NULL, NULL, KV("beta=")), "present and empty");
    cr_assert(!matches(p, NULL, NULL, KV("beta=1")));
    cr_assert(!matches(p, NULL, NULL, NULL), "absent is not empty");
    rollout_plan_unref(p);
}

Test(targeting, attr_in)
{
    static const char *const rules[] = {
        "{attr: country, in: [DE, AT, CH]}",
        "{attr: country, in: [DE, AT, CH, FR, IT, ES, PT, NL, BE, LU, DK]}",
    };
    for (size_t i = 0; i < 2; i++) {
        rollout_plan *p = rule_plan(rules[i]);
        cr_assert(matches(p, NULL, NULL, KV("country=DE")));
        cr_assert(matches(p, NULL, NULL, KV("country=CH")));
        cr_assert(!matches(p, NULL, NULL, KV("country=US")));
        cr_assert(!matches(p, NULL, NULL, KV("country=de")));
        cr_assert(!matches(p, NULL, NULL, KV("country=")));
        cr_assert(!matches(p, NULL, NULL, KV("region=DE")));
        rollout_plan_unref(p);
    }
}

Test(targeting, attr_matches)
{
    rollout_plan *p = rule_plan("{attr: email, matches: '@example\\.com$'}");
    cr_assert(matches(p, NULL, NULL, KV("email=alice@example.com")));
    cr_assert(!matches(p, NULL, NULL, KV("email=alice@example.com.evil.org")));
    cr_assert(!matches(p, NULL, NULL, KV("email=alice@exampleXcom")), "the dot is escaped");
    cr_assert(!matches(p, NULL, NULL, KV("mail=alice@example.com")));
    cr_assert(!matches(p, NULL, NULL, NULL));
    /* a value that is not UTF-8 is matched as it is, not rejected */
    tctx t = ctx_of(NULL, NULL, KV("email=x"));
    t.attrs[0].value = "\xff\xfe@example.com";
    t.attrs[0].value_len = 14;
    cr_assert_eq(match(p, &t, NULL), 0);
    t.attrs[0].value = "\xff\xfe@example.org";
    cr_assert_eq(match(p, &t, NULL), -1);
    /* values are (pointer, length) */
    t.attrs[0].value = "bob@example.com.trailing";
    t.attrs[0].value_len = 15;
    cr_assert_eq(match(p, &t, NULL), 0);
    rollout_plan_unref(p);

    /* Unicode in the pattern and the subject */
    p = rule_plan("{attr: city, matches: '^Z.rich$'}");
    cr_assert(matches(p, NULL, NULL, KV("city=Z\xc3\xbcrich")), ". is one UTF-8 character");
    cr_assert(!matches(p, NULL, NULL, KV("city=Zuerich")));
    rollout_plan_unref(p);

    /* an empty value is still a subject */
    p = rule_plan("{attr: ua, matches: '^$'}");
    cr_assert(matches(p, NULL, NULL, KV("ua=")));
    cr_assert(!matches(p, NULL, NULL, NULL));
    rollout_plan_unref(p);
}

Test(targeting, not_any_all)
{
    rollout_plan *p = rule_plan("{not: {org_in: [acme]}}");
    cr_assert(!matches(p, "acme", NULL, NULL));
    cr_assert(matches(p, "globex", NULL, NULL));
    cr_assert(matches(p, NULL, NULL, NULL), "not over an absent org matches");
    rollout_plan_unref(p);

    p = rule_plan("{not: {attr: country, equals: DE}}");
    cr_assert(!matches(p, NULL, NULL, KV("country=DE")));
    cr_assert(matches(p, NULL, NULL, KV("country=FR")));
    cr_assert(matches(p, NULL, NULL, NULL), "a missing attribute is not DE");
    rollout_plan_unref(p);

    p = rule_plan("{any: [{org_in: [acme]}, {attr: role, in: [staff]}]}");
    cr_assert(matches(p, "acme", NULL, NULL));
    cr_assert(matches(p, "globex", NULL, KV("role=staff")));
    cr_assert(!matches(p, "globex", NULL, KV("role=guest")));
    cr_assert(!matches(p, NULL, NULL, NULL));
    rollout_plan_unref(p);

    p = rule_plan("{all: [{org_in: [acme]}, {not: {attr: country, in: [US, CA]}}]}");
    cr_assert(matches(p, "acme", NULL, KV("country=DE")));
    cr_assert(matches(p, "acme", NULL, NULL));
    cr_assert(!matches(p, "acme", NULL, KV("country=US")));
    cr_assert(!matches(p, "globex", NULL, KV("country=DE")));
    rollout_plan_unref(p);

    p = rule_plan("{not: {not: {user_in: [bob]}}}");
    cr_assert(matches(p, NULL, "bob", NULL));
    cr_assert(!matches(p, NULL, "alice", NULL));
    rollout_plan_unref(p);
}

Test(targeting, first_match_in_plan_order)
{
    rollout_plan *p = plan_of("  - id: c0\n    match: {org_in: [acme]}\n"
                              "  - id: c1\n    match: {attr: role, equals: staff}\n"
                              "  - id: c2\n    match: {everyone: true}\n");
    tctx t = ctx_of("acme", NULL, KV("role=staff"));
    cr_assert_eq(match(p, &t, NULL), 0, "acme staff: the org cohort comes first");
    t = ctx_of("globex", NULL, KV("role=staff"));
    cr_assert_eq(match(p, &t, NULL), 1);
    t = ctx_of("globex", NULL, NULL);
    cr_assert_eq(match(p, &t, NULL), 2);
    rollout_plan_unref(p);

    p = plan_of("  - id: c0\n    match: {everyone: true}\n"
                "  - id: c1\n    match: {org_in: [acme]}\n");
    t = ctx_of("acme", NULL, NULL);
    cr_assert_eq(match(p, &t, NULL), 0, "everyone first shadows the rest");
    rollout_plan_unref(p);

    p = plan_of("  - id: c0\n    match: {org_in: [acme]}\n");
    t = ctx_of("globex", NULL, NULL);
    cr_assert_eq(match(p, &t, NULL), -1, "no cohort");
    rollout_plan_unref(p);
}

Test(targeting, seed_plan_cohorts)
{
    rollout_plan *p = t_seed();
    tctx t = ctx_of("acme-corp", "u1", KV("email=dev@example.com"));
    cr_assert_eq(match(p, &t, NULL), 0, "staff email: internal, even in a pilot org");
    t = ctx_of("acme-corp", "u1", KV("role=superuser"));
    cr_assert_eq(match(p, &t, NULL), 0);
    t = ctx_of("acme-corp", "u1", KV("email=dev@acme.com"));
    cr_assert_eq(match(p, &t, NULL), 1, "pilot org");
    t = ctx_of("globex", NULL, NULL);
    cr_assert_eq(match(p, &t, NULL), 1);
    t = ctx_of("initech", "u1", KV("role=admin"));
    cr_assert_eq(match(p, &t, NULL), 2, "everyone else");
    rollout_plan_unref(p);
}

/* ---- match limits ---------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 28 a's and a '!': ^(?=a)(a+)+$ would try 2^28 ways to split them (the
 * lookahead keeps the pattern with PCRE2: ^(a+)+$ alone is an automaton,
 * which never backtracks). */
#define EVIL "ua=aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"

static void check_limit(rollout_plan *p)
{
    tctx t = ctx_of(NULL, NULL, KV(EVIL));
    bool err = false;
    double t0 = now_ms();
    int i = match(p, &t, &err);
    double ms = now_ms() - t0;
    cr_assert_eq(i, -1);
    cr_assert(err, "the match limit must be reported");
    cr_assert_lt(ms, 250.0, "a catastrophic pattern took %.1f ms", ms);
    /* a short subject matches normally */
    t = ctx_of(NULL, NULL, KV("ua=aaaa"));
    cr_assert_eq(match(p, &t, &err), 0);
    cr_assert(!err);
    t = ctx_of(NULL, NULL, KV("ua=aab"));
    cr_assert_eq(match(p, &t, &err), -1);
    cr_assert(!err);
}

Test(targeting, match_limit_jit)
{
    rollout_plan *p = rule_plan("{attr: ua, matches: '^(?=a)(a+)+$'}");
    cr_assert(p->cohorts[0].match->pat.jit, "this platform has a PCRE2 JIT");
    check_limit(p);
    rollout_plan_unref(p);
}

Test(targeting, match_limit_interpreter)
{
    /* The interpreter runs where JIT is unavailable; force it. */
    rollout_plan *p = rule_plan("{attr: ua, matches: '^(?=a)(a+)+$'}");
    p->cohorts[0].match->pat.jit = false;
    check_limit(p);
    /* and ordinary patterns still work there */
    rollout_plan_unref(p);
    p = rule_plan("{attr: email, matches: '@example\\.com$'}");
    p->cohorts[0].match->pat.jit = false;
    p->cohorts[0].match->pat.lit = NULL; /* literal: PCRE2 would not run */
    cr_assert(matches(p, NULL, NULL, KV("email=alice@example.com")));
    cr_assert(!matches(p, NULL, NULL, KV("email=alice@example.org")));
    rollout_plan_unref(p);
}

/* ---- literal patterns ----------------------------------------------------- */

static uint64_t lit_rng = 0x2545F4914F6CDD1Du;

static unsigned lit_rand(unsigned n)
{
    return (unsigned)(t_rand(&lit_rng) % n);
}

/* Which patterns take the literal path, and the text they stand for. */
Test(targeting, literal_patterns_are_recognized)
{
    static const struct {
        const char *pattern, *lit; /* lit NULL: PCRE2 runs */
        bool start;
        int end;
    } cases[] = {
        {"@example\\.com$", "@example.com", false, RP_LIT_END_NL},
        {"^staff-", "staff-", true, RP_LIT_ANYWHERE},
        {"Firefox/", "Firefox/", false, RP_LIT_ANYWHERE},
        {"^exact\\z", "exact", true, RP_LIT_END},
        {"^a b#c\\Z", "a b#c", true, RP_LIT_END_NL},
        {"\\$5\\.00\\^", "$5.00^", false, RP_LIT_ANYWHERE},
        {"^$", "", true, RP_LIT_END_NL},
        {"^", "", true, RP_LIT_ANYWHERE},
        {"a\\\\b", "a\\b", false, RP_LIT_ANYWHERE},
        {"a.b", NULL, false, 0},          /* any character */
        {"ab?", NULL, false, 0},
        {"a|b", NULL, false, 0},
        {"(ab)", NULL, false, 0},
        {"[ab]", NULL, false, 0},
        {"a{2}", NULL, false, 0},
        {"a\\d", NULL, false, 0},         /* a letter escape is a class */
        {"a\\z$", NULL, false, 0},        /* \z not at the end */
        {"a$b", NULL, false, 0},
        {"a^", NULL, false, 0},
        {"caf\xc3\xa9", NULL, false, 0},  /* not ASCII */
        {"(?i)abc", NULL, false, 0},      /* an option */
        {"\\Qa.b\\E", NULL, false, 0},
        {"(?:)a", NULL, false, 0},        /* a group of one alternative */
        {"(a|b)+", NULL, false, 0},       /* a group with a quantifier */
        {"(a|b)?", NULL, false, 0},
        {"(a|b)(c|d)", NULL, false, 0},   /* two groups */
        {"(a|(b|c))", NULL, false, 0},    /* nested */
        {"(?i:a|b)", NULL, false, 0},     /* with an option */
        {"(?=a|b)", NULL, false, 0},      /* a lookahead */
        {"(a.|b)", NULL, false, 0},       /* an alternative that is not text */
        {"(a|b$)", NULL, false, 0},       /* an anchor inside */
        {"(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q)", NULL, false, 0}, /* 17 alternatives */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rule[128];
        snprintf(rule, sizeof rule, "{attr: a, matches: '%s'}", cases[i].pattern);
        rollout_plan *p = rule_plan(rule);
        const rp_pattern *pat = &p->cohorts[0].match->pat;
        if (!cases[i].lit) {
            cr_assert_null(pat->lit, "%s taken as literal", cases[i].pattern);
        } else {
            cr_assert_not_null(pat->lit, "%s not taken as literal", cases[i].pattern);
            cr_assert_eq(pat->lit_len, strlen(cases[i].lit), "%s", cases[i].pattern);
            cr_assert_eq(memcmp(pat->lit, cases[i].lit, pat->lit_len), 0, "%s", cases[i].pattern);
            cr_assert_eq(pat->lit_start, cases[i].start, "%s", cases[i].pattern);
            cr_assert_eq(pat->lit_end, cases[i].end, "%s", cases[i].pattern);
            cr_assert_eq(pat->n_more, 0, "%s", cases[i].pattern);
        }
        rollout_plan_unref(p);
    }
}

/* A group of alternatives around literal text: one literal per alternative,
 * the anchors kept for each. */
Test(targeting, literal_alternatives_are_recognized)
{
    static const struct {
        const char *pattern;
        const char *lits[4]; /* NULL-terminated */
        bool start;
        int end;
    } cases[] = {
        {"@(example|corp)\\.com$", {"@example.com", "@corp.com"}, false, RP_LIT_END_NL},
        {"^(?:ops|sre)-", {"ops-", "sre-"}, true, RP_LIT_ANYWHERE},
        {"(Firefox|Chrome)/", {"Firefox/", "Chrome/"}, false, RP_LIT_ANYWHERE},
        {"^(a|)\\z", {"a", ""}, true, RP_LIT_END},
        {"x(\\||\\))y\\Z", {"x|y", "x)y"}, false, RP_LIT_END_NL},
        {"(a|b|c)", {"a", "b", "c"}, false, RP_LIT_ANYWHERE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rule[128];
        snprintf(rule, sizeof rule, "{attr: a, matches: '%s'}", cases[i].pattern);
        rollout_plan *p = rule_plan(rule);
        const rp_pattern *pat = &p->cohorts[0].match->pat;
        cr_assert_not_null(pat->lit, "%s not taken as literal", cases[i].pattern);
        cr_assert_eq(pat->lit_start, cases[i].start, "%s", cases[i].pattern);
        cr_assert_eq(pat->lit_end, cases[i].end, "%s", cases[i].pattern);
        size_t n = 0;
        while (n < 4 && cases[i].lits[n])
            n++;
        cr_assert_eq(pat->n_more + 1, n, "%s: %u alternatives", cases[i].pattern, pat->n_more + 1);
        for (size_t k = 0; k < n; k++) {
            const char *got = k ? pat->more[k - 1].s : pat->lit;
            uint32_t len = k ? pat->more[k - 1].len : pat->lit_len;
            cr_assert_eq(len, strlen(cases[i].lits[k]), "%s #%zu", cases[i].pattern, k);
            cr_assert_eq(memcmp(got, cases[i].lits[k], len), 0, "%s #%zu", cases[i].pattern, k);
        }
        rollout_plan_unref(p);
    }
}

/* The literal path answers what PCRE2 answers: generated literal patterns
 * (anchored or not, escapes, the empty text, half of them with a group of
 * alternatives, captured or not) against generated values made
 * of the same characters, newlines, carriage returns and bytes that are not
 * UTF-8 (a lone continuation byte, a cut two-byte sequence). */
Test(targeting, literal_patterns_match_as_pcre2_does)
{
    static const char *const atoms[] = {"a", "b", "@", "\\.", "\\$", " ", "#", "-", "\\\\"};
    static const char *const atom_text[] = {"a", "b", "@", ".", "$", " ", "#", "-", "\\"};
    static const char *const ends[] = {"", "$", "\\z", "\\Z"};
    static const char *const bits[] = {"a", "b", "@", ".", "$", " ", "\n", "\r", "\xff", "\xc3",
                                       "\xc3\xa9", "\\", "\n\n"};
    int compared = 0, literal_hits = 0;
    for (int round = 0; round < 300; round++) {
        char pattern[96] = "", yaml_pat[192] = "";
        bool start = lit_rand(2);
        if (start)
            strcat(pattern, "^");
        /* prefix, then a group of 2 or 3 alternatives (every other pattern),
         * then suffix: up to two atoms each */
        unsigned n_alts = lit_rand(2) ? 2 + lit_rand(2) : 0;
        char pre[16] = "", post[16] = "", alt[3][16] = {"", "", ""};
        for (unsigned k = lit_rand(3); k > 0; k--) {
            unsigned a = lit_rand(sizeof atoms / sizeof atoms[0]);
            strcat(pattern, atoms[a]);
            strcat(pre, atom_text[a]);
        }
        if (n_alts) {
            strcat(pattern, lit_rand(2) ? "(" : "(?:");
            for (unsigned g = 0; g < n_alts; g++) {
                if (g)
                    strcat(pattern, "|");
                for (unsigned k = lit_rand(3); k > 0; k--) {
                    unsigned a = lit_rand(sizeof atoms / sizeof atoms[0]);
                    strcat(pattern, atoms[a]);
                    strcat(alt[g], atom_text[a]);
                }
            }
            strcat(pattern, ")");
        }
        for (unsigned k = lit_rand(3); k > 0; k--) {
            unsigned a = lit_rand(sizeof atoms / sizeof atoms[0]);
            strcat(pattern, atoms[a]);
            strcat(post, atom_text[a]);
        }
        strcat(pattern, ends[lit_rand(4)]);
        /* the text each alternative spells */
        char texts[3][48];
        for (unsigned g = 0; g < (n_alts ? n_alts : 1); g++)
            snprintf(texts[g], sizeof texts[g], "%s%s%s", pre, alt[g], post);
        /* single-quoted YAML: only ' needs doubling, and no atom has one */
        snprintf(yaml_pat, sizeof yaml_pat, "{attr: a, matches: '%s'}", pattern);
        rollout_plan *p = rule_plan(yaml_pat);
        rp_pattern *pat = &p->cohorts[0].match->pat;
        cr_assert_not_null(pat->lit, "%s should be literal", pattern);
        cr_assert_eq(pat->n_more + 1, n_alts ? n_alts : 1, "%s", pattern);
        for (int v = 0; v < 400; v++) {
            /* zeroed: PCRE2's JIT may read past the subject's end (within
             * the buffer), which valgrind reports if those bytes were never
             * written */
            char value[64] = {0};
            size_t len = 0;
            /* half the values are built around the literal text, so matches
             * are common, not luck */
            if (lit_rand(2)) {
                const char *text = texts[lit_rand(n_alts ? n_alts : 1)];
                size_t tl = strlen(text);
                for (unsigned k = lit_rand(3); k > 0; k--) {
                    const char *b = bits[lit_rand(sizeof bits / sizeof bits[0])];
                    memcpy(value + len, b, strlen(b));
                    len += strlen(b);
                }
                memcpy(value + len, text, tl);
                len += tl;
            }
            for (unsigned k = lit_rand(4); k > 0; k--) {
                const char *b = bits[lit_rand(sizeof bits / sizeof bits[0])];
                memcpy(value + len, b, strlen(b));
                len += strlen(b);
            }
            int fast = rp_pattern_match(pat, value, len);
            const char *lit = pat->lit;
            pat->lit = NULL;
            int slow = rp_pattern_match(pat, value, len);
            pat->lit = lit;
            cr_assert_eq(fast, slow, "pattern %s, value \"%.*s\" (%zu bytes): literal %d, PCRE2 %d",
                         pattern, (int)len, value, len, fast, slow);
            compared++;
            literal_hits += fast == 1;
        }
        rollout_plan_unref(p);
    }
    /* both answers are well represented */
    cr_assert_gt(literal_hits, compared / 10, "%d matches of %d", literal_hits, compared);
    cr_assert_lt(literal_hits, compared - compared / 10, "%d matches of %d", literal_hits, compared);
}

/* ---- the match data pool ---------------------------------------------------- */

/* Every slot busy: the match falls back to a match data on its own stack
 * and gives the same answers, including the limit. */
Test(targeting, pool_exhausted_falls_back)
{
    rollout_plan *p = rule_plan("{attr: ua, matches: '^(?=a)(a+)+$'}");
    const rp_pattern *pat = &p->cohorts[0].match->pat;
    cr_assert(pat->jit && pat->pool, "a JIT pattern has the plan's pool");
    cr_assert_eq(pat->pool, p->md_pool);
    for (unsigned i = 0; i < RP_MD_SLOTS; i++)
        cr_assert_not(atomic_flag_test_and_set(&p->md_pool->slot[i].busy), "slot %u left busy", i);
    check_limit(p);
    for (unsigned i = 0; i < RP_MD_SLOTS; i++)
        atomic_flag_clear(&p->md_pool->slot[i].busy);
    check_limit(p);
    rollout_plan_unref(p);
}

/* Plans without a JIT pattern have no pool. */
Test(targeting, no_pool_without_patterns)
{
    rollout_plan *p = rule_plan("{org_in: [a, b]}");
    cr_assert_null(p->md_pool);
    rollout_plan_unref(p);
}

#define POOL_THREADS 16
#define POOL_ROUNDS 20000

typedef struct pool_job {
    const rp_pattern *pat;
    int seed;
    long wrong;
} pool_job;

/* Subjects whose answer is known: even k matches, odd k does not (fast: ^
 * fails at the leading b); every 997th is the catastrophic one and must hit
 * the limit (-1). */
static void *pool_worker(void *arg)
{
    pool_job *job = arg;
    char buf[64];
    for (int i = 0; i < POOL_ROUNDS; i++) {
        int k = job->seed + i;
        int want;
        size_t n;
        if (k % 997 == 0) {
            n = (size_t)snprintf(buf, sizeof buf, "%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!");
            want = -1;
        } else {
            n = (size_t)snprintf(buf, sizeof buf, "%s%.*s", k % 2 ? "b" : "", 1 + k % 20,
                                 "aaaaaaaaaaaaaaaaaaaa");
            want = k % 2 ? 0 : 1;
        }
        if (rp_pattern_match(job->pat, buf, n) != want)
            job->wrong++;
    }
    return NULL;
}

/* More threads than cores, all on one pattern, some hitting the limit:
 * slots are claimed and handed back under contention (with the stack
 * fallback when probes find them busy), and every answer stays right. Run
 * under ThreadSanitizer as well as plain. */
static void hammer(const rp_pattern *pat)
{
    pthread_t th[POOL_THREADS];
    pool_job jobs[POOL_THREADS];
    for (int t = 0; t < POOL_THREADS; t++) {
        jobs[t] = (pool_job){pat, t * 7919, 0};
        cr_assert_eq(pthread_create(&th[t], NULL, pool_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < POOL_THREADS; t++) {
        cr_assert_eq(pthread_join(th[t], NULL), 0);
        cr_expect_eq(jobs[t].wrong, 0, "thread %d: %ld wrong answers", t, jobs[t].wrong);
    }
}

Test(targeting, pool_many_threads, .timeout = 120)
{
    rollout_plan *p = rule_plan("{attr: ua, matches: '^(?=a)(a+)+$'}");
    rp_md_pool *pool = p->md_pool;
    hammer(&p->cohorts[0].match->pat);
    /* Then with all but every 16th slot taken: the threads now fight over
     * four slots, and most probes find them busy and fall back. */
    for (unsigned i = 0; i < RP_MD_SLOTS; i++)
        if (i % 16)
            cr_assert_not(atomic_flag_test_and_set(&pool->slot[i].busy));
    hammer(&p->cohorts[0].match->pat);
    /* every slot the threads used is free again */
    for (unsigned i = 0; i < RP_MD_SLOTS; i++) {
        bool was = atomic_flag_test_and_set(&pool->slot[i].busy);
        cr_assert_eq(was, i % 16 != 0, "slot %u", i);
        atomic_flag_clear(&pool->slot[i].busy);
    }
    rollout_plan_unref(p);
}

Test(targeting, match_error_is_unknown_not_false)
{
    /* not(unknown) is unknown: an attacker cannot escape a cohort by making
     * its negated pattern give up */
    rollout_plan *p = plan_of("  - id: c0\n    match: {not: {attr: ua, matches: '^(?=a)(a+)+$'}}\n"
                              "  - id: c1\n    match: {everyone: true}\n");
    tctx t = ctx_of(NULL, NULL, KV(EVIL));
    bool err = false;
    cr_assert_eq(match(p, &t, &err), -1, "the search stops at the unknown cohort");
    cr_assert(err);
    rp_unit_hashes h = {.seed = p->seed};
    int error_cohort = 99;
    t.ctx.attrs = t.attrs;
    cr_assert_eq(rp_match_cohort_ex(p, &t.ctx, &h, &error_cohort), -1);
    cr_assert_eq(error_cohort, 0);
    rollout_plan_unref(p);

    /* any(unknown, true) is true; all(unknown, false) is false */
    p = plan_of("  - id: c0\n    match: {any: [{attr: ua, matches: '^(?=a)(a+)+$'}, {org_in: [acme]}]}\n"
                "  - id: c1\n    match: {all: [{attr: ua, matches: '^(?=a)(a+)+$'}, {org_in: [x]}]}\n"
                "  - id: c2\n    match: {everyone: true}\n");
    t = ctx_of("acme", NULL, KV(EVIL));
    cr_assert_eq(match(p, &t, &err), 0);
    cr_assert(!err, "a definite answer does not report the limit");
    t = ctx_of("globex", NULL, KV(EVIL));
    /* c0 is any(unknown, false): unknown */
    cr_assert_eq(match(p, &t, &err), -1);
    cr_assert(err);
    rollout_plan_unref(p);

    p = plan_of("  - id: c0\n    match: {all: [{attr: ua, matches: '^(?=a)(a+)+$'}, {org_in: [x]}]}\n"
                "  - id: c1\n    match: {everyone: true}\n");
    t = ctx_of("globex", NULL, KV(EVIL));
    cr_assert_eq(match(p, &t, &err), 1, "all(unknown, false) is false: on to the next");
    cr_assert(!err);
    rollout_plan_unref(p);
}

/* ---- dump round trip --------------------------------------------------------- */

Test(targeting, dump_round_trip)
{
    rollout_plan *p = plan_of(
        "  - id: c0\n"
        "    match:\n"
        "      any:\n"
        "        - {org_in: [acme, \"007\"]}\n"
        "        - {user_in: [alice]}\n"
        "        - {attr: email, matches: '@example\\.com$'}\n"
        "        - {all: [{attr: country, in: [DE, AT]}, {not: {attr: tier, equals: free}}]}\n"
        "  - id: c1\n"
        "    match: {everyone: true}\n");
    size_t need = 0;
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &need), ROLLOUT_ERR_BUFFER);
    char *yaml = malloc(need + 1);
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, yaml, need + 1, NULL), ROLLOUT_OK);
    cr_assert(strstr(yaml, "org_in"), "%s", yaml);
    cr_assert(strstr(yaml, "@example\\.com$"), "%s", yaml);
    rollout_plan *q = t_plan(yaml);
    cr_assert_eq(rollout_plan_fingerprint(p), rollout_plan_fingerprint(q));
    const tctx cases[] = {
        ctx_of("acme", NULL, NULL),
        ctx_of("007", NULL, NULL),
        ctx_of(NULL, "alice", NULL),
        ctx_of(NULL, NULL, KV("email=x@example.com")),
        ctx_of(NULL, NULL, KV("country=AT")),
        ctx_of(NULL, NULL, KV("country=AT", "tier=free")),
        ctx_of("globex", "bob", KV("country=US")),
    };
    const int want[] = {0, 0, 0, 0, 0, 1, 1};
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        tctx t = cases[i];
        cr_assert_eq(match(p, &t, NULL), want[i], "case %zu before the dump", i);
        cr_assert_eq(match(q, &t, NULL), want[i], "case %zu after the dump", i);
    }
    free(yaml);
    rollout_plan_unref(q);
    rollout_plan_unref(p);
}

/* ---- parse errors ---------------------------------------------------------- */

static void expect_error(const char *cohorts, int code, int line, int col, const char *field,
                         const char *text)
{
    char *s = plan_text(cohorts);
    rollout_error err;
    memset(&err, 0, sizeof err);
    int rc = t_plan_error(s, &err);
    free(s);
    cr_assert_eq(rc, code, "code %s, want %s: %s", rollout_code_name(rc),
                 rollout_code_name(code), err.message);
    cr_assert_eq(err.code, code);
    cr_assert_eq(err.line, line, "line %d, want %d: %s", err.line, line, err.message);
    cr_assert_eq(err.column, col, "column %d, want %d: %s", err.column, col, err.message);
    cr_assert_str_eq(err.field, field);
    char want[1024];
    snprintf(want, sizeof want, "test.yaml:%d:%d: %s: %s", line, col, field, text);
    cr_assert_str_eq(err.message, want);
}

#define ONE(rule) "  - id: c0\n    match: " rule "\n"

Test(targeting_errors, unknown_key)
{
    expect_error(ONE("{attr: email, equalz: x}"), ROLLOUT_ERR_UNKNOWN_KEY, 8, 26,
                 "cohorts[0].match.equalz",
                 "unknown key \"equalz\" (expected one of: everyone, org_in, user_in, attr, "
                 "equals, in, matches, not, any, all, orgs_file, users_file)");
}

Test(targeting_errors, not_a_mapping)
{
    expect_error(ONE("everyone"), ROLLOUT_ERR_TYPE, 8, 12, "cohorts[0].match",
                 "expected a mapping, got a scalar");
    expect_error(ONE("[{everyone: true}]"), ROLLOUT_ERR_TYPE, 8, 12, "cohorts[0].match",
                 "expected a mapping, got a list");
}

Test(targeting_errors, no_rule)
{
    expect_error(ONE("{}"), ROLLOUT_ERR_MISSING, 8, 12, "cohorts[0].match",
                 "a rule needs one of everyone, org_in, user_in, attr, not, any, all");
}

Test(targeting_errors, two_rules_in_one_mapping)
{
    expect_error(ONE("{user_in: [a], org_in: [b]}"), ROLLOUT_ERR_VALUE, 8, 27,
                 "cohorts[0].match.org_in",
                 "a rule has exactly one of everyone, org_in, user_in, attr, not, any, all; "
                 "this one also has \"user_in\" (combine rules with any: or all:)");
}

Test(targeting_errors, attr_tests)
{
    expect_error(ONE("{attr: a, equals: x, in: [y]}"), ROLLOUT_ERR_VALUE, 8, 33,
                 "cohorts[0].match.in",
                 "attr: takes one of equals, in, matches; this one also has \"equals\"");
    expect_error(ONE("{attr: a}"), ROLLOUT_ERR_MISSING, 8, 12, "cohorts[0].match",
                 "attr: needs one of equals, in, matches");
    expect_error(ONE("{equals: x}"), ROLLOUT_ERR_MISSING, 8, 13, "cohorts[0].match.equals",
                 "\"equals\" needs \"attr: NAME\" beside it");
    expect_error(ONE("{org_in: [a], matches: x}"), ROLLOUT_ERR_VALUE, 8, 26,
                 "cohorts[0].match.matches", "\"matches\" goes only with attr:, not with org_in:");
    expect_error(ONE("{attr: \"\", equals: x}"), ROLLOUT_ERR_VALUE, 8, 19,
                 "cohorts[0].match.attr", "the attribute name is empty");
    expect_error(ONE("{attr: a, equals: [x]}"), ROLLOUT_ERR_TYPE, 8, 30,
                 "cohorts[0].match.equals", "expected a value, got a list");
}

Test(targeting_errors, everyone_false)
{
    expect_error(ONE("{everyone: false}"), ROLLOUT_ERR_VALUE, 8, 23, "cohorts[0].match.everyone",
                 "everyone: false would match nobody; write everyone: true or remove the "
                 "cohort");
}

Test(targeting_errors, lists)
{
    expect_error(ONE("{org_in: []}"), ROLLOUT_ERR_VALUE, 8, 21, "cohorts[0].match.org_in",
                 "the list is empty, so it matches nothing; list at least one id");
    expect_error(ONE("{attr: c, in: []}"), ROLLOUT_ERR_VALUE, 8, 26, "cohorts[0].match.in",
                 "the list is empty, so it matches nothing; list at least one value");
    expect_error(ONE("{user_in: bob}"), ROLLOUT_ERR_TYPE, 8, 22, "cohorts[0].match.user_in",
                 "expected a list, got a scalar");
    expect_error(ONE("{org_in: [a, [b]]}"), ROLLOUT_ERR_TYPE, 8, 25,
                 "cohorts[0].match.org_in[1]", "expected a value, got a list");
    expect_error(ONE("{org_in: [a, \"\"]}"), ROLLOUT_ERR_VALUE, 8, 25,
                 "cohorts[0].match.org_in[1]",
                 "an empty id never matches (a request without the id is \"absent\", not \"\")");
}

Test(targeting_errors, duplicates)
{
    expect_error("  - id: c0\n"
                 "    match:\n"
                 "      org_in:\n"
                 "        - acme\n"
                 "        - globex\n"
                 "        - acme\n",
                 ROLLOUT_ERR_DUPLICATE, 12, 11, "cohorts[0].match.org_in[2]",
                 "id \"acme\" is listed twice (first at line 10)");
    /* the hashed path finds them too */
    expect_error(ONE("{user_in: [u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, u3]}"),
                 ROLLOUT_ERR_DUPLICATE, 8, 63, "cohorts[0].match.user_in[10]",
                 "id \"u3\" is listed twice (first at line 8)");
    expect_error(ONE("{attr: c, in: [DE, AT, DE]}"), ROLLOUT_ERR_DUPLICATE, 8, 35,
                 "cohorts[0].match.in[2]", "value \"DE\" is listed twice (first at line 8)");
}

Test(targeting_errors, bad_patterns)
{
    /* The column points inside the scalar, at PCRE2's error offset. The
     * texts after "invalid pattern:" are PCRE2's own (10.42). */
    expect_error(ONE("{attr: ua, matches: a(b}"), ROLLOUT_ERR_PATTERN, 8, 35,
                 "cohorts[0].match.matches",
                 "invalid pattern: missing closing parenthesis (at offset 3)");
    expect_error(ONE("{attr: ua, matches: 'a(b'}"), ROLLOUT_ERR_PATTERN, 8, 36,
                 "cohorts[0].match.matches",
                 "invalid pattern: missing closing parenthesis (at offset 3)");
    expect_error("  - id: c0\n"
                 "    match:\n"
                 "      attr: ua\n"
                 "      matches: \"x[z-a]\"\n",
                 ROLLOUT_ERR_PATTERN, 10, 21, "cohorts[0].match.matches",
                 "invalid pattern: range out of order in character class (at offset 4)");
    /* Columns count characters, PCRE2's offset bytes: the é before the
     * error is one column (two bytes). The `*` is at line 10, column 22. */
    expect_error("  - id: c0\n"
                 "    match:\n"
                 "      attr: ua\n"
                 "      matches: 'caf\xc3\xa9+*x'\n",
                 ROLLOUT_ERR_PATTERN, 10, 22, "cohorts[0].match.matches",
                 "invalid pattern: quantifier does not follow a repeatable item (at offset 6)");
    expect_error(ONE("{attr: ua, matches: caf\xc3\xa9+*x}"), ROLLOUT_ERR_PATTERN, 8, 37,
                 "cohorts[0].match.matches",
                 "invalid pattern: quantifier does not follow a repeatable item (at offset 6)");
    /* a character outside the BMP is one column too; the error is at the
     * end of the pattern, after x */
    expect_error(ONE("{attr: ua, matches: '\xf0\x9f\x98\x80\xc3\xa9(x'}"), ROLLOUT_ERR_PATTERN,
                 8, 37, "cohorts[0].match.matches",
                 "invalid pattern: missing closing parenthesis (at offset 8)");
    /* A double-quoted scalar with an escape before the error: the column
     * counts the decoded characters, so it stands left of the `*` (column
     * 43) by the escape's extra length, 5 (docs/plan-format.md); the offset
     * in the message is exact. */
    expect_error(ONE("{attr: ua, matches: \"caf\\u00e9+*x\"}"), ROLLOUT_ERR_PATTERN, 8, 38,
                 "cohorts[0].match.matches",
                 "invalid pattern: quantifier does not follow a repeatable item (at offset 6)");
    /* \C is refused: it could split a UTF-8 character */
    expect_error(ONE("{attr: ua, matches: 'a\\C'}"), ROLLOUT_ERR_PATTERN, 8, 36,
                 "cohorts[0].match.matches",
                 "invalid pattern: using \\C is disabled by the application (at offset 3)");
}

Test(targeting_errors, nested_rules)
{
    expect_error(ONE("{not: [a]}"), ROLLOUT_ERR_TYPE, 8, 18, "cohorts[0].match.not",
                 "expected a mapping, got a list");
    expect_error(ONE("{any: []}"), ROLLOUT_ERR_VALUE, 8, 18, "cohorts[0].match.any",
                 "any: needs at least one rule");
    expect_error(ONE("{all: {everyone: true}}"), ROLLOUT_ERR_TYPE, 8, 18, "cohorts[0].match.all",
                 "expected a list, got a mapping");
    expect_error("  - id: c0\n"
                 "    match:\n"
                 "      any:\n"
                 "        - org_in: [a]\n"
                 "        - all:\n"
                 "            - everyone: true\n"
                 "            - {attr: ua, matches: '(('}\n",
                 ROLLOUT_ERR_PATTERN, 13, 38, "cohorts[0].match.any[1].all[1].matches",
                 "invalid pattern: missing closing parenthesis (at offset 2)");
}

Test(targeting_errors, keys_and_scalars)
{
    expect_error(ONE("{org_in: [a], org_in: [b]}"), ROLLOUT_ERR_DUPLICATE, 8, 26,
                 "cohorts[0].match.org_in", "key \"org_in\" appears twice (first at line 8, column 13)");
    expect_error(ONE("{[a]: b}"), ROLLOUT_ERR_TYPE, 8, 13, "cohorts[0].match",
                 "mapping keys must be plain names");
    expect_error(ONE("{everyone: maybe}"), ROLLOUT_ERR_VALUE, 8, 23, "cohorts[0].match.everyone",
                 "\"maybe\" is not a boolean (write true or false)");
    expect_error(ONE("{everyone: [true]}"), ROLLOUT_ERR_TYPE, 8, 23, "cohorts[0].match.everyone",
                 "expected a value, got a list");
    expect_error(ONE("{org_in: {a: 1}}"), ROLLOUT_ERR_TYPE, 8, 21, "cohorts[0].match.org_in",
                 "expected a list, got a mapping");
    expect_error(ONE("{org_in: [\"a\\0b\"]}"), ROLLOUT_ERR_VALUE, 8, 22,
                 "cohorts[0].match.org_in[0]", "text must not contain NUL characters");
    expect_error(ONE("{attr: [x], equals: y}"), ROLLOUT_ERR_TYPE, 8, 19, "cohorts[0].match.attr",
                 "expected a value, got a list");
    expect_error(ONE("{attr: ua, matches: [x]}"), ROLLOUT_ERR_TYPE, 8, 32,
                 "cohorts[0].match.matches", "expected a value, got a list");
}

/* ROLLOUT_MAX_IDS counts the ids of all lists of the plan together. */
static char *big_list_plan(size_t first, size_t second)
{
    size_t cap = (first + second) * 12 + 4096;
    char *s = malloc(cap);
    cr_assert(s);
    size_t off = (size_t)snprintf(s, cap, "%s  - id: c0\n    match: {org_in: [", PLAN_HEAD);
    for (size_t i = 0; i < first; i++)
        off += (size_t)snprintf(s + off, cap - off, "%so%zu", i ? "," : "", i);
    off += (size_t)snprintf(s + off, cap - off, "]}\n  - id: c1\n    match: {user_in: [");
    for (size_t i = 0; i < second; i++)
        off += (size_t)snprintf(s + off, cap - off, "%su%zu", i ? "," : "", i);
    snprintf(s + off, cap - off, "]}\n%s", PLAN_TAIL);
    return s;
}

Test(targeting_errors, id_limit, .timeout = 60)
{
    char *s = big_list_plan(100000, ROLLOUT_MAX_IDS - 100000);
    rollout_plan *p = t_plan(s);
    cr_assert_eq(p->n_ids, ROLLOUT_MAX_IDS, "exactly at the limit loads");
    tctx t = ctx_of("o99999", NULL, NULL);
    cr_assert_eq(match(p, &t, NULL), 0);
    t = ctx_of(NULL, "u99999", NULL);
    cr_assert_eq(match(p, &t, NULL), 1);
    rollout_plan_unref(p);
    free(s);

    s = big_list_plan(100000, ROLLOUT_MAX_IDS - 100000 + 1);
    rollout_error err;
    cr_assert_eq(t_plan_error(s, &err), ROLLOUT_ERR_LIMIT);
    cr_assert_eq(err.line, 10);
    cr_assert_str_eq(err.field, "cohorts[1].match.user_in");
    cr_assert(strstr(err.message, "100001 more ids make 200001 in the plan's cohort lists; "
                                  "the limit is 200000"),
              "%s", err.message);
    free(s);
}

/* ---- what the rules read ------------------------------------------------------ */

static void expect_attrs(const rollout_plan *p, const char *const *want, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *key = rollout_plan_rule_attr(p, i, &len);
        cr_assert_not_null(key, "attribute %d missing", i);
        cr_expect(len == strlen(want[i]) && !memcmp(key, want[i], len), "attribute %d: %.*s", i,
                  (int)len, key);
    }
    cr_expect_null(rollout_plan_rule_attr(p, n, NULL), "more than %d attributes", n);
    cr_expect_null(rollout_plan_rule_attr(p, -1, NULL));
}

Test(targeting, what_the_rules_read)
{
    /* the seed: the pilot's org list, and the internal cohort's two keys */
    rollout_plan *p = t_seed();
    cr_expect_eq(rollout_plan_rule_units(p), 1u << ROLLOUT_UNIT_ORG);
    expect_attrs(p, (const char *const[]){"email", "role"}, 2);
    rollout_plan_unref(p);

    /* every kind, nested, each key once in plan order, not only the first
     * cohort's; user lists under not */
    p = plan_of("  - id: c0\n    match: {all: [{attr: tier, equals: gold}, "
                "{not: {user_in: [u1]}}]}\n"
                "  - id: b\n    match: {any: [{attr: ua, matches: 'bot'}, {attr: tier, in: [x]},"
                " {attr: country, equals: fr}]}\n"
                "  - id: c\n    match: {everyone: true}\n");
    cr_expect_eq(rollout_plan_rule_units(p), 1u << ROLLOUT_UNIT_USER);
    expect_attrs(p, (const char *const[]){"tier", "ua", "country"}, 3);
    rollout_plan_unref(p);

    /* nothing read at all */
    p = rule_plan("{everyone: true}");
    cr_expect_eq(rollout_plan_rule_units(p), 0);
    expect_attrs(p, NULL, 0);
    rollout_plan_unref(p);

    /* more keys than the first growth of the list; both id lists */
    char rule[1024] = "{any: [{org_in: [o]}, {user_in: [u]}";
    for (int i = 0; i < 20; i++)
        snprintf(rule + strlen(rule), sizeof rule - strlen(rule), ", {attr: k%02d, equals: v}", i);
    strcat(rule, "]}");
    p = rule_plan(rule);
    cr_expect_eq(rollout_plan_rule_units(p), 1u << ROLLOUT_UNIT_ORG | 1u << ROLLOUT_UNIT_USER);
    const char *keys[20];
    char names[20][4];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "k%02d", i);
        keys[i] = names[i];
    }
    expect_attrs(p, keys, 20);
    rollout_plan_unref(p);

    cr_expect_eq(rollout_plan_rule_units(NULL), 0);
    cr_expect_null(rollout_plan_rule_attr(NULL, 0, NULL));
}
