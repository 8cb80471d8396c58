/*
 * targeting.h — cohort rules: parsed once at load, matched on every decide.
 *
 * A rule is a small tree. Leaves test the request context (id lists,
 * attribute values, patterns, everyone); inner nodes combine them (not, any,
 * all). Everything lives in the plan arena except compiled patterns, which
 * the plan frees through rp_plan_keep_pattern.
 *
 * Matching is three-valued: a pattern that hits its match limit is neither
 * a match nor a non-match but UNKNOWN, and the unknown propagates (Kleene
 * logic), so `not:` over a pattern that gave up does not turn into a match.
 * A cohort whose rule is UNKNOWN stops the search: the request cannot be
 * placed, and decide serves it the stable version with MATCH_ERROR.
 */
#ifndef ROLLOUT_TARGETING_H
#define ROLLOUT_TARGETING_H

#include "bucket.h"
#include "plan.h"

typedef enum rp_rule_kind {
    RP_RULE_EVERYONE = 0,
    RP_RULE_ORG_IN,
    RP_RULE_USER_IN,
    RP_RULE_ATTR_EQUALS,
    RP_RULE_ATTR_IN,
    RP_RULE_ATTR_MATCHES,
    RP_RULE_NOT,
    RP_RULE_ANY,
    RP_RULE_ALL
} rp_rule_kind;

/* One id (or attribute value) of a list, with its hash under plan->seed. */
typedef struct rp_id {
    uint64_t hash;
    const char *s;          /* NULL marks an empty table slot */
    uint32_t len;
    uint32_t index;         /* position in the plan's list */
} rp_id;

/* A list of distinct ids. items keeps the plan's order (for dumps); table
 * is an open-addressing copy of them, at most half full, so a lookup is one
 * hash and about one probe, and the probe finds hash, length and bytes
 * without a further indirection. Short lists have no table: comparing a
 * handful of strings beats hashing the request's id. */
typedef struct rp_idset {
    rp_id *items;
    size_t n;
    rp_id *table;
    uint32_t mask;
} rp_idset;

#define RP_IDSET_LINEAR_MAX 8

typedef struct rp_pattern {
    const char *source;     /* as written, for dumps and messages */
    size_t len;
    void *code;             /* pcre2_code_8 *, owned by plan->patterns */
    void *mctx;             /* pcre2_match_context_8 *, in the plan arena */
    bool jit;               /* JIT-compiled (the common case) */
} rp_pattern;

struct rp_rule {
    int kind;               /* rp_rule_kind */
    const char *attr;       /* ATTR_*: the attribute name */
    size_t attr_len;
    const char *value;      /* ATTR_EQUALS */
    size_t value_len;
    rp_idset set;           /* ORG_IN, USER_IN, ATTR_IN */
    rp_pattern pat;         /* ATTR_MATCHES */
    struct rp_rule **kids;  /* NOT (one), ANY, ALL */
    size_t n_kids;
};

/* Limits on one pattern match; hitting one makes the rule UNKNOWN. The
 * match limit bounds backtracking (JIT and interpreter), the depth limit the
 * interpreter's nesting; the interpreter's frame memory comes from a fixed
 * stack buffer (RP_INTERP_STACK bytes), never from the heap. */
#define RP_MATCH_LIMIT 100000u
#define RP_DEPTH_LIMIT 1000u
#define RP_INTERP_STACK (64u * 1024u)

/* Hashes of the context's unit ids under plan->seed, computed at most once
 * per decision and shared by the id sets and the bucket. */
typedef struct rp_unit_hashes {
    uint64_t seed;
    uint64_t org, user;
    bool have_org, have_user;
} rp_unit_hashes;

static inline uint64_t rp_unit_hash_org(rp_unit_hashes *h, const rollout_context *ctx)
{
    if (!h->have_org) {
        h->org = rp_hash_id(h->seed, ctx->org, ctx->org_len);
        h->have_org = true;
    }
    return h->org;
}

static inline uint64_t rp_unit_hash_user(rp_unit_hashes *h, const rollout_context *ctx)
{
    if (!h->have_user) {
        h->user = rp_hash_id(h->seed, ctx->user, ctx->user_len);
        h->have_user = true;
    }
    return h->user;
}

/* The first cohort (plan order) whose rule matches ctx, or -1 when none
 * does. When a rule comes out UNKNOWN the search stops there: returns -1 and
 * sets *error_cohort to that cohort (else *error_cohort is -1). */
int rp_match_cohort_ex(const rollout_plan *p, const rollout_context *ctx, rp_unit_hashes *h,
                       int *error_cohort);

/* Looks up (s, len) with the given hash (ignored for short lists). */
bool rp_idset_has(const rp_idset *set, uint64_t hash, const char *s, size_t len);

/* Matches one subject against a compiled pattern: 1 match, 0 no match,
 * -1 a limit was hit. Allocates nothing. */
int rp_pattern_match(const rp_pattern *pat, const char *s, size_t len);

#endif /* ROLLOUT_TARGETING_H */
