/* SPDX-License-Identifier: MIT */
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
#include "pattern_dfa.h"
#include "plan.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

/* For the few small functions on the decide path that the compiler would
 * otherwise leave as calls (each call costs about a tenth of a decision). */
#if defined(__GNUC__)
#  define RP_INLINE inline __attribute__((always_inline))
#else
#  define RP_INLINE inline
#endif

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
 * handful of strings beats hashing the request's id.
 *
 * An id's slot is not a function of its hash alone: the hash is public
 * (XXH3 under the plan's salt), so a plan's author could pick ids whose
 * hashes share their low bits and pile them all into one run of slots,
 * making every lookup into it walk the run. The slot is instead bits 32 and
 * up of hash * key (multiply-shift), with key an odd number the loader
 * draws for each plan: two hashes that differ anywhere in their low 32 +
 * log2(size) bits share a slot for at most about 2 / size of the keys,
 * whichever hashes were chosen, and hashes that agree in all of those bits
 * (36 to 51 of them) cost 2^36 and more hashes each to find
 * (docs/security.md). A constant shift keeps the probe 4 instructions
 * longer than the bare mask, where a shift by the table's size was 8. */
typedef struct rp_idset {
    rp_id *items;
    size_t n;
    rp_id *table;
    uint32_t mask;
    /* bit (len % 64) for the length of every id: most requests to a short
     * list (the seed's two pilot orgs) have no id of their length on it */
    uint64_t len_bits;
    uint64_t key;           /* odd; the plan's table_key */
} rp_idset;

#define RP_IDSET_LINEAR_MAX 8

typedef struct rp_md_pool rp_md_pool;

typedef struct rp_pattern {
    const char *source;     /* as written, for dumps and messages */
    size_t len;
    void *code;             /* pcre2_code_8 *, owned by plan->patterns */
    void *mctx;             /* pcre2_match_context_8 *, in the plan arena */
    rp_md_pool *pool;       /* the plan's match data pool (JIT only), or NULL */
    bool jit;               /* JIT-compiled (the common case) */
    /* A pattern that is only literal text (an email domain, a browser
     * token) is matched by comparing bytes, with PCRE2's answer and none of
     * its cost: lit is that text, or NULL for a pattern PCRE2 must run. */
    const char *lit;
    uint32_t lit_len;
    bool lit_start;         /* ^: at the start of the value */
    uint8_t lit_end;        /* RP_LIT_* */
    /* Literal text around one group of alternatives, `@(acme|globex)\.com$`,
     * is one literal per alternative: lit is the first, more the others. */
    uint32_t n_more;
    const struct rp_lit *more;
    /* A pattern in pattern_dfa.c's subset that is not literal: its DFA,
     * which runs instead of PCRE2; else NULL. */
    const struct rp_dfa *dfa;
} rp_pattern;

typedef struct rp_lit {
    const char *s;
    uint32_t len;
} rp_lit;

#define RP_LIT_MAX_ALTS 16

enum {
    RP_LIT_ANYWHERE = 0,    /* no end anchor */
    RP_LIT_END,             /* \z: at the very end */
    RP_LIT_END_NL           /* $ or \Z: at the end, or before a newline that ends it */
};

/* Match data for JIT matches, made once at load and claimed per call.
 *
 * Creating a general context and a match data on the stack costs about as
 * much as a short JIT match itself, on every request. A plan with patterns
 * therefore keeps RP_MD_SLOTS match data (one ovector pair each, in the plan
 * arena); a match claims a free slot with one atomic exchange and frees it
 * with a release store: no lock, no allocation. When the slots it tries are
 * all busy, the match falls back to a match data built on its own stack, so
 * contention costs speed, never a wrong or failed answer.
 *
 * Each slot, and each slot's match data, has a cache line of its own, and a
 * thread starts at a slot chosen from its stack address: threads on different
 * cores then claim different lines, and one thread's repeated calls keep
 * hitting the line already in its core's cache. Starting every thread at
 * slot 0 would bounce that one line between cores on every request.
 *
 * Only pcre2_jit_match uses the pool: it writes the ovector and result
 * fields of the match data and never allocates through it. The interpreter
 * (pcre2_match) may allocate its frames through the match data, so it keeps
 * the stack path, where those frames come from a stack buffer. A slot left
 * busy for good (a process forked while another of its threads held it)
 * only costs that slot. */
#define RP_MD_SLOTS 64u
#define RP_MD_PROBES 4u
#define RP_CACHE_LINE 64u

typedef struct rp_md_slot {
    alignas(RP_CACHE_LINE) atomic_flag busy;
    void *md;               /* pcre2_match_data_8 *, on a line of its own */
} rp_md_slot;

struct rp_md_pool {
    rp_md_slot slot[RP_MD_SLOTS];   /* the pool is RP_CACHE_LINE aligned */
};

struct rp_rule {
    int kind;               /* rp_rule_kind */
    const char *attr;       /* ATTR_*: the attribute name */
    size_t attr_len;
    const char *value;      /* ATTR_EQUALS */
    size_t value_len;
    rp_idset set;           /* ORG_IN, USER_IN, ATTR_IN */
    rp_pattern pat;         /* ATTR_MATCHES */
    struct rp_rule **kids;  /* NOT (one), ANY, ALL: as written (dumps) */
    size_t n_kids;
    /* What is evaluated: kids with each rule once. Rules are shared (an
     * alias, or a pattern rule written out again, is the same rule), and
     * Kleene any/all give the same answer for a rule listed twice, so
     * `any: [*p, *p, ...]` is one evaluation of p. */
    struct rp_rule **uniq;
    size_t n_uniq;
};

/* Limits on one pattern match; hitting one makes the rule UNKNOWN. The
 * match limit bounds backtracking (JIT and interpreter), the depth limit the
 * interpreter's nesting; the interpreter's frame memory comes from a fixed
 * stack buffer (RP_INTERP_STACK bytes), never from the heap. */
#define RP_MATCH_LIMIT 100000u
#define RP_DEPTH_LIMIT 1000u
#define RP_INTERP_STACK (64u * 1024u)

/* PCRE2 runs one decision may make (rp_unit_hashes.pattern_runs). Each
 * costs up to the match limit (~0.4 ms when it hits it), so this bounds a
 * decision at ~13 ms whatever the plan; one more run makes the rule, and
 * every any/all around it, UNKNOWN at once: STABLE with MATCH_ERROR.
 * Literal and automaton patterns (docs/targeting.md) are not counted: they
 * never backtrack. As many as the cohorts a plan may have, so a plan with
 * one such pattern per cohort never reaches it. */
#define RP_PATTERN_RUNS_MAX 32u

/* Hashes of the context's unit ids under plan->seed, computed at most once
 * per decision and shared by the id sets and the bucket; and the
 * decision's count of PCRE2 runs (RP_PATTERN_RUNS_MAX). */
typedef struct rp_unit_hashes {
    uint64_t seed;
    uint64_t org, user;
    bool have_org, have_user;
    /* PCRE2 runs so far; RP_PATTERN_RUNS_MAX + 1 once the budget is spent */
    uint32_t pattern_runs;
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

/* The unit ids rule r reads, as bits 1 << rollout_unit: only id lists read
 * one (org_in the org, user_in the user); session and request ids are
 * never read by a rule. */
unsigned rp_rule_units(const struct rp_rule *r);

/* Looks up (s, len) with the given hash (ignored for short lists). */
bool rp_idset_has(const rp_idset *set, uint64_t hash, const char *s, size_t len);

/* The probes a lookup of the set's worst-placed id takes (1: every id in
 * its home slot); 0 for a set without a table. For tests. */
size_t rp_idset_max_probe(const rp_idset *set);

/* Matches one subject against a compiled pattern: 1 match, 0 no match,
 * -1 a limit was hit. Allocates nothing. */
int rp_pattern_match(const rp_pattern *pat, const char *s, size_t len);

/* ---- the match path, inline ------------------------------------------------
 *
 * rollout_decide expands the cohort loop and the leaf rules in place: a
 * decision with an id-list cohort is only a few times the cost of its hash,
 * so a call or two per decision is a measurable share of it. Composite rules
 * (not, any, all) and pattern matches stay out of line. */

enum { RP_T_NO = 0, RP_T_YES = 1, RP_T_UNKNOWN = 2 };

struct rp_rule;
/* not, any, all (targeting.c). */
int rp_eval_tree(const struct rp_rule *r, const rollout_context *ctx, rp_unit_hashes *h);

/* Equality of two byte strings of length n, without a call for the short
 * ids a gateway sees most (overlapping word loads; memcpy keeps them legal
 * at any alignment and compiles to plain loads). */
static RP_INLINE bool rp_same_bytes(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a0, b0, a1, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t a0, b0, a1, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n < 4) /* first, middle and last byte: every byte of 1 to 3 */
        return n == 0 || (a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1]);
    return memcmp(a, b, n) == 0;
}

/* rp_idset_probe for a set known to be short (no table): the length
 * filter, then the ids themselves. */
static RP_INLINE bool rp_idset_probe_short(const rp_idset *set, const char *s, size_t len)
{
    if (!(set->len_bits >> (len & 63) & 1))
        return false;
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i].len == len && rp_same_bytes(set->items[i].s, s, len))
            return true;
    return false;
}

/* The slot where a lookup of hash starts (rp_idset says why keyed). The
 * table has at most 2^19 slots, so bits 32 and up hold enough of them. */
static RP_INLINE uint32_t rp_idset_home(const rp_idset *set, uint64_t hash)
{
    return (uint32_t)((hash * set->key) >> 32) & set->mask;
}

/* rp_idset_probe for a set known to have a table. The stored hash first: it
 * settles almost every probe without loading the id's bytes. An empty slot
 * has hash 0 and s NULL; an id whose hash happens to be 0 still has s set,
 * hence the s test after a hash match. */
static RP_INLINE bool rp_idset_probe_hashed(const rp_idset *set, uint64_t hash, const char *s,
                                            size_t len)
{
    const rp_id *table = set->table;
    uint32_t mask = set->mask;
    for (uint32_t i = rp_idset_home(set, hash);; i = (i + 1) & mask) {
        const rp_id *id = &table[i];
        if (id->hash == hash) {
            if (RP_LIKELY(id->len == len && id->s) && rp_same_bytes(id->s, s, len))
                return true;
        } else if (!id->s) {
            return false;
        }
    }
}

static RP_INLINE bool rp_idset_probe(const rp_idset *set, uint64_t hash, const char *s,
                                     size_t len)
{
    return set->table ? rp_idset_probe_hashed(set, hash, s, len)
                      : rp_idset_probe_short(set, s, len);
}

/* Whether the literal (not empty) occurs in s: out of line, it loops. */
bool rp_literal_search(const char *s, size_t n, const char *lit, size_t m);

/* Whether lit (m bytes) ends s (n bytes), and is all of it under ^. */
static RP_INLINE bool rp_literal_at(const char *s, size_t n, const char *lit, size_t m,
                                    bool start)
{
    return n >= m && (!start || n == m) && (m == 0 || rp_same_bytes(s + n - m, lit, m));
}

/* What PCRE2 answers for a literal pattern whose text is lit (m bytes),
 * on s (not NULL). */
static RP_INLINE int rp_literal_text(const rp_pattern *p, const char *lit, size_t m,
                                     const char *s, size_t n)
{
    if (p->lit_end == RP_LIT_ANYWHERE) {
        if (p->lit_start)
            return n >= m && (m == 0 || rp_same_bytes(s, lit, m));
        return m == 0 || rp_literal_search(s, n, lit, m);
    }
    if (rp_literal_at(s, n, lit, m, p->lit_start))
        return 1;
    return p->lit_end == RP_LIT_END_NL && n > 0 && s[n - 1] == '\n' &&
           rp_literal_at(s, n - 1, lit, m, p->lit_start);
}

/* The alternatives after the first (targeting.c: a loop, out of line). */
int rp_literal_match_more(const rp_pattern *p, const char *s, size_t n);

/* What PCRE2 answers for a literal pattern (docs/targeting.md). */
static RP_INLINE int rp_literal_match(const rp_pattern *p, const char *s, size_t n)
{
    if (!s)
        s = "";
    if (rp_literal_text(p, p->lit, p->lit_len, s, n))
        return 1;
    return p->n_more ? rp_literal_match_more(p, s, n) : 0;
}

/* The first attribute with that key. A NULL value is absent whatever its
 * length; a non-NULL one of length 0 is the empty string, present
 * (docs/targeting.md). So every caller below gets a non-NULL value. */
static RP_INLINE const rollout_attr *rp_find_attr(const rollout_context *ctx, const char *key,
                                                  size_t len)
{
    if (!ctx->attrs)
        return NULL; /* n_attrs without an array: no attributes, not a crash */
    for (size_t i = 0; i < ctx->n_attrs; i++) {
        const rollout_attr *a = &ctx->attrs[i];
        if (a->key_len == len && a->key && rp_same_bytes(a->key, key, len))
            return a->value ? a : NULL;
    }
    return NULL;
}

/* One rule. Leaves are inlined into the cohort loop, so the common one-leaf
 * cohort (an id list, an attribute test) costs no call and no recursion;
 * not/any/all go to rp_eval_tree, out of line. */
static RP_INLINE int rp_eval_rule(const struct rp_rule *r, const rollout_context *ctx,
                                  rp_unit_hashes *h)
{
    switch (r->kind) {
    case RP_RULE_EVERYONE:
        return RP_T_YES;
    case RP_RULE_ORG_IN:
        if (!ctx->org || !ctx->org_len)
            return RP_T_NO;
        return rp_idset_probe(&r->set, r->set.table ? rp_unit_hash_org(h, ctx) : 0, ctx->org,
                              ctx->org_len);
    case RP_RULE_USER_IN:
        if (!ctx->user || !ctx->user_len)
            return RP_T_NO;
        return rp_idset_probe(&r->set, r->set.table ? rp_unit_hash_user(h, ctx) : 0, ctx->user,
                              ctx->user_len);
    case RP_RULE_ATTR_EQUALS: {
        const rollout_attr *a = rp_find_attr(ctx, r->attr, r->attr_len);
        return a && a->value_len == r->value_len &&
               (r->value_len == 0 || rp_same_bytes(a->value, r->value, r->value_len));
    }
    case RP_RULE_ATTR_IN: {
        const rollout_attr *a = rp_find_attr(ctx, r->attr, r->attr_len);
        if (!a)
            return RP_T_NO;
        uint64_t hash = r->set.table ? rp_hash_id(h->seed, a->value, a->value_len) : 0;
        return rp_idset_probe(&r->set, hash, a->value, a->value_len);
    }
    case RP_RULE_ATTR_MATCHES: {
        const rollout_attr *a = rp_find_attr(ctx, r->attr, r->attr_len);
        if (!a)
            return RP_T_NO;
        if (r->pat.lit)
            return rp_literal_match(&r->pat, a->value, a->value_len);
        if (r->pat.dfa)
            return rp_dfa_match(r->pat.dfa, a->value, a->value_len);
        if (RP_UNLIKELY(h->pattern_runs >= RP_PATTERN_RUNS_MAX)) {
            h->pattern_runs = RP_PATTERN_RUNS_MAX + 1;
            return RP_T_UNKNOWN;
        }
        h->pattern_runs++;
        int m = rp_pattern_match(&r->pat, a->value, a->value_len);
        return m < 0 ? RP_T_UNKNOWN : m;
    }
    default: {
        /* Out of line. Its hashes come back through a copy, so the caller's
         * h never has its address taken and can live in registers. */
        rp_unit_hashes sub = *h;
        int t = rp_eval_tree(r, ctx, &sub);
        *h = sub;
        return t;
    }
    }
}

/* rp_match_cohort_ex without the NULL context check. */
static RP_INLINE int rp_match_first(const rollout_plan *p, const rollout_context *ctx,
                                    rp_unit_hashes *h, int *error_cohort)
{
    *error_cohort = -1;
    for (int i = 0; i < p->n_cohorts; i++) {
        int t = rp_eval_rule(p->cohorts[i].match, ctx, h);
        if (t == RP_T_YES)
            return i;
        if (RP_UNLIKELY(t == RP_T_UNKNOWN)) {
            /* A later cohort may match, but this one might have: placing
             * the request further down the list could hand it a weight the
             * plan never meant for it. */
            *error_cohort = i;
            return -1;
        }
    }
    return -1;
}

#endif /* ROLLOUT_TARGETING_H */
