/* SPDX-License-Identifier: MIT */
/*
 * decide.c — does this request go to the new version?
 *
 * The order of the checks is the contract: the state first (rollback and
 * halt win over everything the schedule says), then the cohort, then the
 * cohort's weight at `now`, then the bucket of the unit the step names.
 * Every way out that is not "bucket < weight" is STABLE, so a gateway that
 * ignores the reason still does the safe thing.
 *
 * Hot path: no allocation, no lock, no I/O, no writes outside *out and the
 * stack. The unit id is hashed once: the hash that looked an org up in an
 * org_in set is the hash its bucket comes from.
 */
#include "bucket.h"
#include "plan.h"
#include "schedule_fast.h"
#include "targeting.h"

#include <stdio.h>
#include <string.h>

/* rollout_decide is compiled with every call it can expand expanded: XXH3
 * above all, whose call and the registers saved around it cost 16 of the
 * 242 instructions of an id-list decision (callgrind: 242 -> 226; seed plan
 * 437 -> 417) for some 3 KB of code. */
#if defined(__GNUC__)
#  define RP_FLATTEN __attribute__((flatten))
#else
#  define RP_FLATTEN
#endif

static const char *const reason_names[] = {
    "IN_ROLLOUT",  "OUT_OF_ROLLOUT", "NO_COHORT",   "PHASE_NOT_STARTED", "MISSING_UNIT",
    "NOT_STARTED", "ROLLED_BACK",    "HALTED",      "MATCH_ERROR",
};

const char *rollout_reason_name(int reason)
{
    if (reason < 0 || (size_t)reason >= RP_COUNT(reason_names))
        return "?";
    return reason_names[reason];
}

static const char *const unit_names[] = {"org", "user", "session", "request"};

/* The state's own verdict, before any schedule: a reason, or -1 to go on. */
static int state_reason(const rollout_plan *plan, const rollout_state *s, int64_t now)
{
    if (!s)
        return now < plan->start ? ROLLOUT_REASON_NOT_STARTED : -1;
    int status = s->status;
    /* A paused rollback is still a rollback. */
    if (status == ROLLOUT_STATUS_PAUSED && s->paused_from >= 0 &&
        s->paused_from < ROLLOUT_STATUS_COUNT)
        status = s->paused_from;
    switch (status) {
    case ROLLOUT_STATUS_ROLLING_BACK:
    case ROLLOUT_STATUS_ROLLED_BACK:
        return ROLLOUT_REASON_ROLLED_BACK;
    case ROLLOUT_STATUS_HALTED:
        return ROLLOUT_REASON_HALTED;
    case ROLLOUT_STATUS_NOT_STARTED:
        return ROLLOUT_REASON_NOT_STARTED;
    default:
        /* asked about a moment before the rollout was started */
        return s->started_at && now < s->started_at ? ROLLOUT_REASON_NOT_STARTED : -1;
    }
}

/* Everything decide answers from the state alone, before the request: the
 * state's verdict (a reason), or -1 to go on. A now outside the library's
 * range (ROLLOUT_ERR_ARG) or a state that is not this plan's sets *rc (else
 * left ROLLOUT_OK) and answers NO_COHORT. */
static inline int state_check(const rollout_plan *plan, const rollout_state *s, int64_t now,
                              int *rc)
{
    /* one compare: beyond ROLLOUT_TIME_MAX lies "never" (INT64_MAX), where
     * steps behind a gate without a GO would count as happened */
    if (RP_UNLIKELY(!RP_TIME_OK(now))) {
        *rc = ROLLOUT_ERR_ARG;
        return ROLLOUT_REASON_NO_COHORT;
    }
    if (s) {
        if (s->format != ROLLOUT_STATE_FORMAT || s->status < 0 ||
            s->status >= ROLLOUT_STATUS_COUNT)
            *rc = ROLLOUT_ERR_STATE;
        else if (s->plan_fingerprint != plan->fingerprint)
            *rc = ROLLOUT_ERR_STATE_PLAN;
        if (*rc)
            return ROLLOUT_REASON_NO_COHORT;
    }
    return state_reason(plan, s, now);
}

/* Where a unit's id lives in a context: read by decide and explain,
 * replaced per id by the batch. */
static inline void unit_field(rollout_context *ctx, int unit, const char ***id, size_t **len)
{
    switch (unit) {
    case ROLLOUT_UNIT_ORG: *id = &ctx->org; *len = &ctx->org_len; break;
    case ROLLOUT_UNIT_USER: *id = &ctx->user; *len = &ctx->user_len; break;
    case ROLLOUT_UNIT_SESSION: *id = &ctx->session; *len = &ctx->session_len; break;
    default: *id = &ctx->request; *len = &ctx->request_len; break;
    }
}

/* The id of a unit in a context (id NULL or len 0: absent). */
static inline void unit_id(const rollout_context *ctx, int unit, const char **id, size_t *len)
{
    const char **idp;
    size_t *lenp;
    unit_field((rollout_context *)ctx, unit, &idp, &lenp); /* only read here */
    *id = *idp;
    *len = *lenp;
}

/* The id of a unit in a context, or false when it is absent (NULL or
 * empty). */
static inline bool present_id(const rollout_context *ctx, int unit, const char **id,
                              size_t *len)
{
    unit_id(ctx, unit, id, len);
    return *id && *len;
}

/* The hash unit buckets by into *hash, or false when ctx has no such id. An
 * id set that already found the org or user has it hashed, and present. */
static inline bool unit_hash(const rp_unit_hashes *h, const rollout_context *ctx, int unit,
                             uint64_t *hash)
{
    if (unit == ROLLOUT_UNIT_ORG && h->have_org) {
        *hash = h->org;
        return true;
    }
    if (unit == ROLLOUT_UNIT_USER && h->have_user) {
        *hash = h->user;
        return true;
    }
    const char *id;
    size_t len;
    if (!present_id(ctx, unit, &id, &len))
        return false;
    *hash = rp_hash_id(h->seed, id, len);
    return true;
}

/* The bucket of the unit a step buckets by, under the plan's bucket
 * function, or false when ctx has no such id. */
static inline bool unit_bucket(const rollout_plan *plan, const rp_unit_hashes *h,
                               const rollout_context *ctx, int unit, uint32_t *bucket)
{
    if (RP_UNLIKELY(plan->hash != ROLLOUT_HASH_XXH3)) {
        /* a compatibility mode (bucket_compat.c) hashes the id its own way */
        const char *id;
        size_t len;
        if (!present_id(ctx, unit, &id, &len))
            return false;
        *bucket = rp_bucket_compat(&plan->bucketing, id, len);
        return true;
    }
    uint64_t hash;
    if (!unit_hash(h, ctx, unit, &hash))
        return false;
    *bucket = rp_bucket_from_hash(hash);
    return true;
}

/* STABLE with a reason and nothing placed: every way out before a cohort. */
static int stable(rollout_decision *out, int reason, int rc)
{
    *out = (rollout_decision){.variant = ROLLOUT_STABLE, .reason = reason, .cohort = -1,
                              .phase = -1, .step = -1, .unit = -1};
    return rc;
}

/* The ways out after a cohort matched that do not bucket: out of line, so
 * the common path keeps its registers. st is the cohort's current step
 * (MISSING_UNIT), or NULL. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static int stable_in_cohort(const rollout_plan *plan, rollout_decision *out, int reason,
                            int cohort, const rp_cohort_step *st)
{
    if (st) {
        *out = st->decision;
        out->reason = reason;
        return ROLLOUT_OK;
    }
    stable(out, reason, ROLLOUT_OK);
    out->cohort = cohort;
    out->cohort_name = plan->cohorts[cohort].id;
    if (reason == ROLLOUT_REASON_PHASE_NOT_STARTED) {
        /* name the cohort's first phase, so the explanation can say which
         * phase the request is waiting for */
        for (int i = 0; i < plan->n_phases; i++)
            if (plan->phases[i].cohort == cohort) {
                out->phase = i;
                out->phase_name = plan->phases[i].id;
                break;
            }
    }
    return ROLLOUT_OK;
}

RP_FLATTEN int rollout_decide(const rollout_plan *plan, const rollout_state *state,
                              int64_t now, const rollout_context *ctx, rollout_decision *out)
{
    if (!out)
        return ROLLOUT_ERR_ARG;
    /* Every way out fills *out, so even an error leaves a STABLE answer. */
    if (!plan)
        return stable(out, ROLLOUT_REASON_NO_COHORT, ROLLOUT_ERR_ARG);
    int rc = ROLLOUT_OK;
    int reason = state_check(plan, state, now, &rc);
    if (reason >= 0)
        return stable(out, reason, rc);

    static const rollout_context none;
    if (!ctx)
        ctx = &none;
    rp_unit_hashes h = {.seed = plan->seed};
    int error_cohort;
    int ci = rp_match_first(plan, ctx, &h, &error_cohort);
    if (ci < 0) {
        if (RP_UNLIKELY(error_cohort >= 0))
            return stable_in_cohort(plan, out, ROLLOUT_REASON_MATCH_ERROR, error_cohort, NULL);
        return stable(out, ROLLOUT_REASON_NO_COHORT, ROLLOUT_OK);
    }

    /* The state is running (state_reason) and ci a cohort: the schedule's
     * own checks would be repeated work. */
    const rp_cohort_step *st = RP_LIKELY(rp_schedule_is_simple(plan, state))
                                   ? rp_cohort_step_simple(plan, state, now, ci)
                                   : rp_schedule_step(plan, state, now, ci);
    if (!st)
        return stable_in_cohort(plan, out, ROLLOUT_REASON_PHASE_NOT_STARTED, ci, NULL);

    uint32_t bucket;
    if (!unit_bucket(plan, &h, ctx, st->decision.unit, &bucket))
        return stable_in_cohort(plan, out, ROLLOUT_REASON_MISSING_UNIT, ci, st);
    /* The step's decision is ready but for these three. Arithmetic, not a
     * branch: over a stream of requests bucket < weight is a coin flip the
     * branch predictor cannot learn. */
    int in = bucket < st->decision.weight;
    *out = st->decision;
    out->variant = in ? ROLLOUT_NEW : ROLLOUT_STABLE;
    out->reason = ROLLOUT_REASON_OUT_OF_ROLLOUT - in;
    out->bucket = bucket;
    return ROLLOUT_OK;
}

/* ---- many ids at once ---------------------------------------------------- */

/* What an id of a batch gets once its cohort is known, as the bound its
 * bucket must be below for NEW: 0 when the cohort answers STABLE whatever
 * the id, ALWAYS_NEW (above every bucket) when it answers NEW whatever the
 * id (it buckets by another unit), else the step's weight. An id that is
 * absent gets STABLE (MISSING_UNIT) unless the answer is ALWAYS_NEW. One
 * comparison per id, no branch on the kind of answer. */
#define ALWAYS_NEW UINT32_MAX

static RP_INLINE unsigned char batch_variant(uint32_t below, uint64_t hash, bool has_id)
{
    return has_id ? rp_bucket_from_hash(hash) < below : below == ALWAYS_NEW;
}

/* Whether an answer needs the id's bucket. */
static RP_INLINE bool batch_reads_id(uint32_t below)
{
    return below != 0 && below != ALWAYS_NEW;
}

/* How a prepared batch decides an id (rollout_batch.kind_). */
enum {
    BATCH_FIXED,  /* every id the same: hit_ */
    BATCH_SHORT,  /* one short id list, then the fallback: hit_ if listed, else miss_ */
    BATCH_HASHED, /* the same with a hashed list */
    BATCH_LISTS,  /* several id lists (per_id_), then the fallback */
    BATCH_RULES,  /* per-id cohorts with other rules: evaluated per id */
};

/* One id against the usual plan: one list of ids before the fallback (pilot
 * orgs, then everyone). `hashed` is a constant wherever this is expanded,
 * so neither form asks which list it has. */
static RP_INLINE unsigned char one_list_variant(uint64_t seed, const rp_idset *set, bool hashed,
                                                uint32_t hit, uint32_t miss, const char *s,
                                                size_t len)
{
    if (RP_UNLIKELY(!s || !len))
        return miss == ALWAYS_NEW;
    uint64_t hash = rp_hash_id(seed, s, len);
    bool listed = hashed ? rp_idset_probe_hashed(set, hash, s, len)
                         : rp_idset_probe_short(set, s, len);
    return rp_bucket_from_hash(hash) < (listed ? hit : miss);
}

/* One id against several lists of that unit's ids, tried in plan order. */
static RP_INLINE unsigned char lists_variant(const rollout_batch *b, const char *s, size_t len)
{
    const rollout_plan *plan = b->plan_;
    int ci = b->unlisted_;
    uint64_t hash = 0;
    bool has_id = s && len;
    if (has_id) {
        hash = rp_hash_id(b->seed_, s, len);
        for (int k = 0; k < b->n_per_id_; k++)
            if (rp_idset_probe(&plan->cohorts[b->per_id_[k]].match->set, hash, s, len)) {
                ci = b->per_id_[k];
                break;
            }
    }
    return batch_variant(b->answer_[ci], hash, has_id);
}

/* One id against cohorts whose rules read it in other ways (not, any, all
 * around lists): the rules are evaluated on the base with the id put in. */
static unsigned char rules_variant(const rollout_batch *b, const char *s, size_t len)
{
    const rollout_plan *plan = b->plan_;
    rollout_context ctx = b->ctx_;
    const char **idp;
    size_t *lenp;
    unit_field(&ctx, b->unit_, &idp, &lenp);
    *idp = s;
    *lenp = s ? len : 0;
    rp_unit_hashes h = {.seed = b->seed_};
    int ci = b->unlisted_;
    for (int k = 0; k < b->n_per_id_; k++) {
        int t = rp_eval_rule(plan->cohorts[b->per_id_[k]].match, &ctx, &h);
        if (t == RP_T_NO)
            continue;
        ci = t == RP_T_YES ? b->per_id_[k] : ROLLOUT_MAX_COHORTS;
        break;
    }
    uint32_t below = b->answer_[ci], bucket = 0;
    bool has_id = batch_reads_id(below) && unit_bucket(plan, &h, &ctx, b->unit_, &bucket);
    return has_id ? bucket < below : below == ALWAYS_NEW;
}

/* The batches that are not one list, out of rollout_batch_variant's way. */
#if defined(__GNUC__)
__attribute__((noinline, flatten))
#endif
static int other_variant(const rollout_batch *b, const char *id, size_t len)
{
    if (b->kind_ == BATCH_FIXED)
        return (int)b->hit_;
    return b->kind_ == BATCH_LISTS ? lists_variant(b, id, len) : rules_variant(b, id, len);
}

/* Whether a listed id is (id, len): rp_idset_probe_short past its length
 * filter, out of line and reached by a jump, so that nothing has to be kept
 * across a call. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int short_listed_variant(const rollout_batch *b, const char *id, size_t len,
                                uint32_t bucket)
{
    return bucket < (rp_idset_probe_short(b->set_, id, len) ? b->hit_ : b->miss_);
}

/* A present id against a short list: its bucket, and the list's length
 * filter before any byte is compared (a listed id may have its length). */
static RP_INLINE int short_list_answer(const rollout_batch *b, const char *id, size_t len)
{
    uint32_t bucket = rp_bucket_from_hash(rp_hash_id(b->seed_, id, len));
    const rp_idset *set = b->set_;
    if (set->len_bits >> (len & 63) & 1)
        return short_listed_variant(b, id, len, bucket);
    return bucket < b->miss_;
}

/* The lists with an id absent or longer than 16 bytes: XXH3's longer
 * forms, whose registers the 16-byte paths should not pay for; a function
 * per kind of list, for the same reason. */
#if defined(__GNUC__)
__attribute__((noinline, flatten))
#endif
static int hashed_long_variant(const rollout_batch *b, const char *id, size_t len)
{
    return one_list_variant(b->seed_, b->set_, true, b->hit_, b->miss_, id, len);
}

#if defined(__GNUC__)
__attribute__((noinline, flatten))
#endif
static int short_long_variant(const rollout_batch *b, const char *id, size_t len)
{
    if (RP_UNLIKELY(!id || !len))
        return b->miss_ == ALWAYS_NEW;
    return short_list_answer(b, id, len);
}

/* A hashed list and an id of 1 to 16 bytes: XXH3's short forms, and
 * rp_same_bytes without memcmp, so the path makes no call. */
#if defined(__GNUC__)
__attribute__((noinline, flatten))
#endif
static int hashed_list_variant(const rollout_batch *b, const char *id, size_t len)
{
    if (RP_UNLIKELY(!id || len - 1 >= 16))
        return hashed_long_variant(b, id, len);
    uint64_t hash = rp_hash_id(b->seed_, id, len);
    bool listed = rp_idset_probe_hashed(b->set_, hash, id, len);
    return rp_bucket_from_hash(hash) < (listed ? b->hit_ : b->miss_);
}

/* The short list, the usual batch (the seed plan's pilot orgs), here, an id
 * of 1 to 16 bytes without a call (XXH3's short forms). The others are a
 * jump away, so this path saves no registers. */
RP_FLATTEN int rollout_batch_variant(const rollout_batch *b, const char *id, size_t len)
{
    if (RP_UNLIKELY(!b))
        return ROLLOUT_STABLE;
    if (b->kind_ != BATCH_SHORT)
        return b->kind_ == BATCH_HASHED ? hashed_list_variant(b, id, len)
                                        : other_variant(b, id, len);
    if (RP_UNLIKELY(!id || len - 1 >= 16))
        return short_long_variant(b, id, len);
    return short_list_answer(b, id, len);
}

/* Each request of a batch differs from the others in one id, so everything
 * that does not read that id is worked out once: the state, every cohort's
 * step at `now`, the rules that only read attributes (or other ids), and the
 * whole answer of a cohort that buckets by another unit. What is left per
 * id is what rollout_decide does for a request whose other parts were
 * already known: the id lists before the first cohort that matches
 * regardless of the id, one hash, one comparison. */
int rollout_batch_prepare(const rollout_plan *plan, const rollout_state *state, int64_t now,
                          const rollout_context *base, int unit, rollout_batch *b)
{
    if (!b)
        return ROLLOUT_ERR_ARG;
    /* STABLE for every id until everything below has been worked out. */
    memset(b, 0, sizeof *b);
    b->kind_ = BATCH_FIXED;
    b->hit_ = ROLLOUT_STABLE;
    if (!plan || unit < ROLLOUT_UNIT_ORG || unit > ROLLOUT_UNIT_REQUEST)
        return ROLLOUT_ERR_ARG;
    /* The state's checks and verdict, once: every id would get them. */
    int rc = ROLLOUT_OK;
    if (state_check(plan, state, now, &rc) >= 0)
        return rc;
    static const rollout_context none;
    rollout_context ctx = base ? *base : none;

    /* Cohorts in plan order: those whose rule reads the id are tried per
     * id; the first that does not decides every id that reaches it. */
    int per_id[ROLLOUT_MAX_COHORTS], n_per_id = 0;
    int last = -1;             /* the cohort after the per-id ones, or -1 */
    int last_t = RP_T_NO;      /* its rule's value: YES, or UNKNOWN */
    /* one for all the cohorts: they share the PCRE2 budget of a decision */
    rp_unit_hashes rule_h = {.seed = plan->seed};
    for (int i = 0; i < plan->n_cohorts; i++) {
        const struct rp_rule *r = plan->cohorts[i].match;
        if (rp_rule_units(r) >> unit & 1) {
            per_id[n_per_id++] = i;
            continue;
        }
        int t = rp_eval_rule(r, &ctx, &rule_h);
        if (t != RP_T_NO) {
            last = i;
            last_t = t;
            break;
        }
    }
    /* Per cohort that can be reached, its answer: from the step at `now`,
     * the whole answer when the step buckets by another unit; at
     * ROLLOUT_MAX_COHORTS, the answer of no cohort (or of a pattern that
     * gave up). */
    uint32_t answer[ROLLOUT_MAX_COHORTS + 1];
    answer[ROLLOUT_MAX_COHORTS] = 0;
    for (int k = 0; k <= n_per_id; k++) {
        int ci = k < n_per_id ? per_id[k] : last;
        if (ci < 0 || (k == n_per_id && last_t != RP_T_YES))
            continue;
        const rp_cohort_step *st = rp_schedule_step(plan, state, now, ci);
        answer[ci] = 0;
        if (!st)
            continue;
        if (st->decision.unit == unit) {
            answer[ci] = st->decision.weight;
            continue;
        }
        rp_unit_hashes h = {.seed = plan->seed};
        uint32_t bucket;
        if (unit_bucket(plan, &h, &ctx, st->decision.unit, &bucket) &&
            bucket < st->decision.weight)
            answer[ci] = ALWAYS_NEW;
    }
    /* what an id the per-id cohorts do not take gets */
    int unlisted = last >= 0 && last_t == RP_T_YES ? last : ROLLOUT_MAX_COHORTS;

    b->plan_ = plan;
    b->seed_ = plan->seed;
    b->ctx_ = ctx;
    b->unit_ = unit;
    b->n_per_id_ = n_per_id;
    b->unlisted_ = unlisted;
    for (int k = 0; k < n_per_id; k++) {
        b->per_id_[k] = per_id[k];
        b->answer_[per_id[k]] = answer[per_id[k]];
    }
    b->answer_[unlisted] = answer[unlisted];

    /* The usual batch: the cohorts tried per id are all plain lists of that
     * unit's ids (org_in for orgs), so an id is one hash, a probe per list
     * and a comparison, with no context to fill. */
    int list_kind = unit == ROLLOUT_UNIT_ORG ? RP_RULE_ORG_IN : RP_RULE_USER_IN;
    int k_plain = 0;
    while (k_plain < n_per_id && plan->cohorts[per_id[k_plain]].match->kind == list_kind)
        k_plain++;
    if (k_plain < n_per_id) {
        b->kind_ = BATCH_RULES;
    } else if (n_per_id == 0) {
        b->kind_ = batch_reads_id(answer[unlisted]) ? BATCH_LISTS : BATCH_FIXED;
        b->hit_ = answer[unlisted] == ALWAYS_NEW;
    } else if (n_per_id == 1) {
        const rp_idset *set = &plan->cohorts[per_id[0]].match->set;
        b->kind_ = set->table ? BATCH_HASHED : BATCH_SHORT;
        b->set_ = set;
        b->hit_ = answer[per_id[0]];
        b->miss_ = answer[unlisted];
    } else {
        b->kind_ = BATCH_LISTS;
    }
    /* The list paths bucket by the XXH3 hash they probe with; under another
     * bucket function an id is decided the general way. */
    if (plan->hash != ROLLOUT_HASH_XXH3 && b->kind_ != BATCH_FIXED)
        b->kind_ = BATCH_RULES;
    return ROLLOUT_OK;
}

/* The per-id loops of rollout_decide_ids, one per kind of batch, each in a
 * function of its own where the loop has the registers to itself. */
#if defined(__GNUC__)
#  define RP_LOOP __attribute__((noinline, flatten))
#else
#  define RP_LOOP
#endif

/* One list: the list's fields and both answers copied, since a store to
 * variants could alias the batch's fields. */
static RP_INLINE void ids_one_list(const rollout_batch *b, bool hashed, const rollout_id *ids,
                                   size_t n, unsigned char *variants)
{
    uint64_t seed = b->seed_;
    rp_idset set = *(const rp_idset *)b->set_;
    uint32_t hit = b->hit_, miss = b->miss_;
    for (size_t i = 0; i < n; i++)
        variants[i] = one_list_variant(seed, &set, hashed, hit, miss, ids[i].s, ids[i].len);
}

RP_LOOP static void ids_short(const rollout_batch *b, const rollout_id *ids, size_t n,
                              unsigned char *variants)
{
    ids_one_list(b, false, ids, n, variants);
}

RP_LOOP static void ids_hashed(const rollout_batch *b, const rollout_id *ids, size_t n,
                               unsigned char *variants)
{
    ids_one_list(b, true, ids, n, variants);
}

RP_LOOP static void ids_other(const rollout_batch *b, const rollout_id *ids, size_t n,
                              unsigned char *variants)
{
    for (size_t i = 0; i < n; i++)
        variants[i] = b->kind_ == BATCH_LISTS ? lists_variant(b, ids[i].s, ids[i].len)
                                              : rules_variant(b, ids[i].s, ids[i].len);
}

int rollout_decide_ids(const rollout_plan *plan, const rollout_state *state, int64_t now,
                       const rollout_context *base, int unit, const rollout_id *ids, size_t n,
                       unsigned char *variants)
{
    if (n && !variants)
        return ROLLOUT_ERR_ARG;
    if (n)
        memset(variants, ROLLOUT_STABLE, n);
    if (n && !ids)
        return ROLLOUT_ERR_ARG;
    rollout_batch b;
    int rc = rollout_batch_prepare(plan, state, now, base, unit, &b);
    if (rc || !n)
        return rc;
    switch (b.kind_) {
    case BATCH_FIXED:
        memset(variants, (int)b.hit_, n);
        break;
    case BATCH_SHORT:
        ids_short(&b, ids, n, variants);
        break;
    case BATCH_HASHED:
        ids_hashed(&b, ids, n, variants);
        break;
    default:
        ids_other(&b, ids, n, variants);
        break;
    }
    return ROLLOUT_OK;
}

/* ---- explain ------------------------------------------------------------- */

/* snprintf-like output: counts everything, stores what fits. */
typedef struct text {
    char *buf;
    size_t cap, len;
} text;

static void put(text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, t->len++)
        if (t->len + 1 < t->cap)
            t->buf[t->len] = s[i];
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* 25000 -> "25 000": buckets and weights are read by people comparing
 * five-digit numbers, where a separator is worth more than compactness. */
static void put_grouped(text *t, uint32_t v)
{
    char digits[16];
    int n = snprintf(digits, sizeof digits, "%u", (unsigned)v);
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            put(t, " ", 1);
        put(t, &digits[i], 1);
    }
}

static void text_sink(void *t, const char *s, size_t n)
{
    put(t, s, n);
}

/* A unit id as it came in a request: arbitrary bytes, so control
 * characters and ill-formed UTF-8 are escaped (rp_text_escape, the rollout
 * tool's convention too) and a very long id is cut at a UTF-8 boundary. */
static void put_id(text *t, const char *s, size_t n)
{
    enum { MAX = 64 };
    size_t shown = n;
    if (shown > MAX) {
        shown = MAX;
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    }
    rp_text_escape(s, shown, text_sink, t);
    if (shown < n)
        puts_(t, "...");
}

static void put_unit(text *t, const rollout_decision *d, const rollout_context *ctx)
{
    const char *id = NULL;
    size_t n = 0;
    if (ctx)
        unit_id(ctx, d->unit, &id, &n); /* d->unit is a unit: explain checked */
    puts_(t, unit_names[d->unit]);
    if (id && n) {
        puts_(t, " ");
        put_id(t, id, n);
    }
}

static void put_step(text *t, const rollout_decision *d)
{
    char num[16];
    snprintf(num, sizeof num, "%d", d->step + 1);
    puts_(t, " at step ");
    puts_(t, num);
    puts_(t, " of phase ");
    puts_(t, d->phase_name ? d->phase_name : "?");
}

size_t rollout_explain(const rollout_plan *plan, const rollout_decision *d,
                       const rollout_context *ctx, char *buf, size_t cap)
{
    text t = {buf, cap, 0};
    const char *cohort = d && d->cohort_name ? d->cohort_name : "?";
    bool has_unit = d && d->unit >= 0 && d->unit < (int)RP_COUNT(unit_names);
    switch (d ? d->reason : -1) {
    case ROLLOUT_REASON_IN_ROLLOUT:
    case ROLLOUT_REASON_OUT_OF_ROLLOUT:
        if (!has_unit)
            goto unknown;
        put_unit(&t, d, ctx);
        puts_(&t, " is in cohort ");
        puts_(&t, cohort);
        puts_(&t, "; bucket ");
        put_grouped(&t, d->bucket);
        /* a compatibility mode names itself: its buckets are the peer's */
        if (plan && plan->hash != ROLLOUT_HASH_XXH3) {
            puts_(&t, " (");
            puts_(&t, rollout_hash_name(plan->hash));
            puts_(&t, ")");
        }
        puts_(&t, d->reason == ROLLOUT_REASON_IN_ROLLOUT ? " < weight " : " >= weight ");
        put_grouped(&t, d->weight);
        put_step(&t, d);
        break;
    case ROLLOUT_REASON_NO_COHORT:
        puts_(&t, "no cohort matches the request; it stays on the stable version");
        break;
    case ROLLOUT_REASON_PHASE_NOT_STARTED:
        puts_(&t, "the request is in cohort ");
        puts_(&t, cohort);
        if (d->phase_name) {
            puts_(&t, ", whose phase ");
            puts_(&t, d->phase_name);
            puts_(&t, " has not begun; weight 0, stable version");
        } else {
            puts_(&t, ", which no phase is active for; weight 0, stable version");
        }
        break;
    case ROLLOUT_REASON_MISSING_UNIT:
        if (!has_unit)
            goto unknown;
        puts_(&t, "the request is in cohort ");
        puts_(&t, cohort);
        puts_(&t, ", which buckets by ");
        puts_(&t, unit_names[d->unit]);
        put_step(&t, d);
        puts_(&t, ", but it has no ");
        puts_(&t, unit_names[d->unit]);
        puts_(&t, " id; stable version");
        break;
    case ROLLOUT_REASON_NOT_STARTED:
        puts_(&t, "the rollout has not started; every request gets the stable version");
        break;
    case ROLLOUT_REASON_ROLLED_BACK:
        puts_(&t, "the rollout is rolled back (or rolling back); every request gets the "
                  "stable version");
        break;
    case ROLLOUT_REASON_HALTED:
        puts_(&t, "traffic to the new version is halted; every request gets the stable "
                  "version");
        break;
    case ROLLOUT_REASON_MATCH_ERROR:
        puts_(&t, "a pattern of cohort ");
        puts_(&t, cohort);
        puts_(&t, " hit its match limit, so the request cannot be placed; stable version");
        break;
    default:
    unknown:
        puts_(&t, "no decision");
        break;
    }
    if (cap)
        buf[t.len < cap ? t.len : cap - 1] = '\0';
    return t.len;
}
