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
 * state's verdict (a reason), or -1 to go on. A state that is not this
 * plan's sets *rc (else left ROLLOUT_OK) and answers NO_COHORT. */
static inline int state_check(const rollout_plan *plan, const rollout_state *s, int64_t now,
                              int *rc)
{
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
    unit_id(ctx, unit, &id, &len);
    if (!id || !len)
        return false;
    *hash = rp_hash_id(h->seed, id, len);
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

    uint64_t hash;
    if (!unit_hash(&h, ctx, st->decision.unit, &hash))
        return stable_in_cohort(plan, out, ROLLOUT_REASON_MISSING_UNIT, ci, st);
    uint32_t bucket = rp_bucket_from_hash(hash);
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

/* What an id of a batch gets once its cohort is known: a variant that does
 * not depend on the id (fixed >= 0), or its bucket against weight. */
typedef struct batch_answer {
    int fixed;
    uint32_t weight;
} batch_answer;

static RP_INLINE unsigned char batch_variant(batch_answer a, uint64_t hash, bool has_id)
{
    if (a.fixed >= 0)
        return (unsigned char)a.fixed;
    return has_id ? rp_bucket_from_hash(hash) < a.weight : ROLLOUT_STABLE; /* MISSING_UNIT */
}

/* decide_listed with one list before the fallback, the usual plan (pilot
 * orgs, then everyone): the list's fields and both answers stay in
 * registers. Expanded twice, for a hashed and a short list, so neither
 * loop asks which it is per id. */
static RP_INLINE void decide_one_list(uint64_t seed, rp_idset set, bool hashed,
                                      batch_answer hit, batch_answer miss,
                                      const rollout_id *ids, size_t n, unsigned char *variants)
{
    if (!hashed)
        set.table = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = ids[i].s;
        size_t len = s ? ids[i].len : 0;
        uint64_t hash = len ? rp_hash_id(seed, s, len) : 0;
        bool listed = len && rp_idset_probe(&set, hash, s, len);
        variants[i] = batch_variant(listed ? hit : miss, hash, len != 0);
    }
}

/* rollout_decide_ids when every cohort tried per id is a plain id list of
 * the varying unit: the whole rule is the probe. An id no list holds gets
 * answer[unlisted]. */
static void decide_listed(uint64_t seed, const rp_idset *const *sets, const int *per_id,
                          int n_sets, const batch_answer *answer, int unlisted,
                          const rollout_id *ids, size_t n, unsigned char *variants)
{
    if (n_sets == 1) {
        if (sets[0]->table)
            decide_one_list(seed, *sets[0], true, answer[per_id[0]], answer[unlisted], ids, n,
                            variants);
        else
            decide_one_list(seed, *sets[0], false, answer[per_id[0]], answer[unlisted], ids, n,
                            variants);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = ids[i].s;
        size_t len = s ? ids[i].len : 0;
        int ci = unlisted;
        uint64_t hash = 0;
        if (len) {
            hash = rp_hash_id(seed, s, len);
            for (int k = 0; k < n_sets; k++)
                if (rp_idset_probe(sets[k], hash, s, len)) {
                    ci = per_id[k];
                    break;
                }
        }
        variants[i] = batch_variant(answer[ci], hash, len != 0);
    }
}

/* Each request of a batch differs from the others in one id, so everything
 * that does not read that id is worked out once: the state, every cohort's
 * step at `now`, the rules that only read attributes (or other ids), and the
 * whole answer of a cohort that buckets by another unit. What is left per
 * id is what rollout_decide does for a request whose other parts were
 * already known: the id lists before the first cohort that matches
 * regardless of the id, one hash, one comparison. */
RP_FLATTEN int rollout_decide_ids(const rollout_plan *plan, const rollout_state *state, int64_t now,
                       const rollout_context *base, int unit, const rollout_id *ids, size_t n,
                       unsigned char *variants)
{
    if (n && !variants)
        return ROLLOUT_ERR_ARG;
    if (n)
        memset(variants, ROLLOUT_STABLE, n);
    if (!plan || (n && !ids) || unit < ROLLOUT_UNIT_ORG || unit > ROLLOUT_UNIT_REQUEST)
        return ROLLOUT_ERR_ARG;
    /* The state's checks and verdict, once: every id would get them. */
    int rc = ROLLOUT_OK;
    if (state_check(plan, state, now, &rc) >= 0)
        return rc;
    static const rollout_context none;
    rollout_context ctx = base ? *base : none;
    const char **idp;
    size_t *lenp;
    unit_field(&ctx, unit, &idp, &lenp);

    /* Cohorts in plan order: those whose rule reads the id are tried per
     * id; the first that does not decides every id that reaches it. */
    int per_id[ROLLOUT_MAX_COHORTS], n_per_id = 0;
    int last = -1;             /* the cohort after the per-id ones, or -1 */
    int last_t = RP_T_NO;      /* its rule's value: YES, or UNKNOWN */
    for (int i = 0; i < plan->n_cohorts; i++) {
        const struct rp_rule *r = plan->cohorts[i].match;
        if (rp_rule_units(r) >> unit & 1) {
            per_id[n_per_id++] = i;
            continue;
        }
        rp_unit_hashes h = {.seed = plan->seed};
        int t = rp_eval_rule(r, &ctx, &h);
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
    batch_answer answer[ROLLOUT_MAX_COHORTS + 1];
    answer[ROLLOUT_MAX_COHORTS] = (batch_answer){ROLLOUT_STABLE, 0};
    for (int k = 0; k <= n_per_id; k++) {
        int ci = k < n_per_id ? per_id[k] : last;
        if (ci < 0 || (k == n_per_id && last_t != RP_T_YES))
            continue;
        const rp_cohort_step *st = rp_schedule_step(plan, state, now, ci);
        answer[ci] = (batch_answer){ROLLOUT_STABLE, 0};
        if (!st)
            continue;
        if (st->decision.unit == unit) {
            answer[ci] = (batch_answer){-1, st->decision.weight};
            continue;
        }
        rp_unit_hashes h = {.seed = plan->seed};
        uint64_t hash;
        if (unit_hash(&h, &ctx, st->decision.unit, &hash))
            answer[ci].fixed = rp_bucket_from_hash(hash) < st->decision.weight;
    }
    /* what an id the per-id cohorts do not take gets */
    int unlisted = last >= 0 && last_t == RP_T_YES ? last : ROLLOUT_MAX_COHORTS;

    /* The usual batch: the cohorts tried per id are all plain lists of that
     * unit's ids (org_in for orgs), so an id is one hash, a probe per list
     * and a comparison, with no context to fill. */
    const rp_idset *sets[ROLLOUT_MAX_COHORTS];
    int list_kind = unit == ROLLOUT_UNIT_ORG ? RP_RULE_ORG_IN : RP_RULE_USER_IN;
    int k_plain = 0;
    while (k_plain < n_per_id && plan->cohorts[per_id[k_plain]].match->kind == list_kind) {
        sets[k_plain] = &plan->cohorts[per_id[k_plain]].match->set;
        k_plain++;
    }
    if (k_plain == n_per_id) {
        decide_listed(plan->seed, sets, per_id, n_per_id, answer, unlisted, ids, n, variants);
        return ROLLOUT_OK;
    }

    for (size_t i = 0; i < n; i++) {
        *idp = ids[i].s;
        *lenp = ids[i].s ? ids[i].len : 0;
        rp_unit_hashes h = {.seed = plan->seed};
        int ci = unlisted;
        for (int k = 0; k < n_per_id; k++) {
            int t = rp_eval_rule(plan->cohorts[per_id[k]].match, &ctx, &h);
            if (t == RP_T_NO)
                continue;
            ci = t == RP_T_YES ? per_id[k] : ROLLOUT_MAX_COHORTS;
            break;
        }
        uint64_t hash = 0;
        bool has_id = answer[ci].fixed < 0 && unit_hash(&h, &ctx, unit, &hash);
        variants[i] = batch_variant(answer[ci], hash, has_id);
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

/* A unit id as it came in a request: arbitrary bytes, so control
 * characters are escaped and a very long id is cut at a UTF-8 boundary. */
static void put_id(text *t, const char *s, size_t n)
{
    enum { MAX = 64 };
    size_t shown = n;
    if (shown > MAX) {
        shown = MAX;
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    }
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            puts_(t, esc);
        } else {
            put(t, (const char *)&s[i], 1);
        }
    }
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
    (void)plan;
    if (cap)
        buf[t.len < cap ? t.len : cap - 1] = '\0';
    return t.len;
}
