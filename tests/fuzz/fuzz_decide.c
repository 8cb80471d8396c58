/* SPDX-License-Identifier: MIT */
/*
 * fuzz_decide.c — arbitrary request contexts into rollout_decide and
 * rollout_explain, against the seed plan and a plan made of every rule kind.
 *
 * Input layout (every part optional; a short input just ends the context):
 *   byte 0    low 4 bits: which time (fz_time); high 4 bits: which state
 *   byte 1    bit 0: the rules plan instead of the seed; bit 1: attrs NULL
 *             with a non-zero n_attrs; bits 2-4: explain buffer size
 *   fields    org, user, session, request, then attribute key/value pairs,
 *             each as: a length byte L and L bytes; L = 255 means absent
 *             (NULL pointer), L = 254 means a 2-byte little-endian length
 *             follows (ids up to 64 KiB)
 * Every field is copied into its own exactly sized allocation, so a read
 * past an id's end is an ASan report.
 *
 * Checked: decide answers OK (ROLLOUT_ERR_ARG and STABLE for a time outside
 * ROLLOUT_TIME_MIN..MAX); NEW exactly when IN_ROLLOUT, and then
 * bucket < weight; the same context gives the same decision twice; indices
 * are in range; explain reports one length whatever the buffer, always
 * NUL-terminates, and a short buffer holds a prefix of the full text;
 * rollout_decide_ids and a prepared rollout_batch, with the context as their
 * base and one id, give the same variant for every unit; and literal
 * patterns, which are compared as bytes, and patterns run as DFAs decide as
 * the same patterns do when PCRE2 runs them (each behind an empty lookahead
 * "(?=)", which neither takes), unless PCRE2 gives up on the value.
 */
#include "fuzz_common.h"

enum { MAX_ATTRS = 4096 };

/* Every rule kind, a pattern that backtracks catastrophically without
 * limits (the lookahead keeps it with PCRE2) and one that would but runs as
 * an automaton, id lists long enough to be hashed, and steps by user,
 * session and request. A rule repeated by alias and written out again, and
 * the first cohort's pattern again in another: shared rules and patterns. */
static const char rules_yaml[] =
    "format: 1\n"
    "id: rules\n"
    "salt: fuzz-rules\n"
    "start: 2026-02-28T09:00:00Z\n"
    "versions: {stable: a, new: b}\n"
    "cohorts:\n"
    "  - id: redos\n"
    "    match: {attr: q, matches: '^(?=a)(a|aa)+$'}\n"
    "  - id: nested\n"
    "    match:\n"
    "      all:\n"
    "        - not: {attr: x-block, equals: ''}\n"
    "        - any:\n"
    "            - {attr: plan, in: [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, 'é']}\n"
    "            - &ua {attr: ua, matches: '^(\\w+\\s?)*$'}\n"
    "            - {user_in: [u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, u10]}\n"
    "            - *ua\n"
    "            - {attr: ua, matches: '^(\\w+\\s?)*$'}\n"
    "            - {attr: q, matches: '^(?=a)(a|aa)+$'}\n"
    "  - id: staff\n"
    "    match: {attr: email, matches: '@(example|exämple)\\.com$'}\n"
    "  - id: orgs\n"
    "    match: {org_in: [o0, o1, o2]}\n"
    "  - id: rest\n"
    "    match: {everyone: true}\n"
    "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
    "  - id: p-redos\n"
    "    cohort: redos\n"
    "    steps: [{at: 0, weight: 50%, unit: request}]\n"
    "  - id: p-nested\n"
    "    cohort: nested\n"
    "    steps: [{at: 0, weight: 12.345%, unit: session}, {at: 1h, weight: 60%, unit: session}]\n"
    "  - id: p-staff\n"
    "    cohort: staff\n"
    "    steps: [{at: 1h, weight: 100%, unit: user}]\n"
    "  - id: p-orgs\n"
    "    cohort: orgs\n"
    "    steps: [{at: 2h, weight: 0.001%, unit: org}, {at: 1d, weight: 99.999%, unit: org}]\n"
    "  - id: p-rest\n"
    "    cohort: rest\n"
    "    steps: [{at: 1d, weight: 25%, unit: user}, {at: 2d, weight: 100%, unit: request}]\n";

static rollout_plan *rules_plan(void)
{
    static rollout_plan *p;
    if (!p) {
        rollout_error err;
        if (rollout_plan_load_buffer(rules_yaml, sizeof rules_yaml - 1, "rules.yaml", &p,
                                     &err) != ROLLOUT_OK) {
            fprintf(stderr, "fuzz: the rules plan does not load: %s\n", err.message);
            abort();
        }
    }
    return p;
}

/* Literal patterns and patterns run as DFAs (docs/targeting.md), one cohort
 * each; literal_plan(1) has the same patterns behind "(?=)", which always
 * holds, so PCRE2 runs them. */
static const char *const literal_patterns[][2] = {
    {"^ops-", "^(?=)ops-"},
    {"@corp\\.com$", "(?=)@corp\\.com$"},
    {"bot", "(?=)bot"},
    {"^exact\\z", "^(?=)exact\\z"},
    {"x\\Z", "(?=)x\\Z"},
    {"^a\\$b$", "^(?=)a\\$b$"},
    {"@(corp|example)\\.com$", "(?=)@(corp|example)\\.com$"},
    {"^(?:ops|)-", "^(?=)(?:ops|)-"},
    {"@[a-z]+\\.com$", "(?=)@[a-z]+\\.com$"},
    {"^[a-z0-9._-]+@(corp|example)\\.com\\z", "^(?=)[a-z0-9._-]+@(corp|example)\\.com\\z"},
    {"bot\\d*|o\\w{1,3}-", "(?=)bot\\d*|o\\w{1,3}-"},
};
enum { N_LITERALS = sizeof literal_patterns / sizeof literal_patterns[0] };

static rollout_plan *literal_plan(int which)
{
    static rollout_plan *plans[2];
    if (!plans[which]) {
        char yaml[4096];
        size_t n = (size_t)snprintf(yaml, sizeof yaml,
                                    "format: 1\nid: lit\nsalt: fuzz-lit\n"
                                    "start: 2026-02-28T09:00:00Z\n"
                                    "versions: {stable: a, new: b}\ncohorts:\n");
        static const char *const attr_of[] = {"email", "email", "ua",    "q",     "q",  "ua",
                                              "email", "q",     "email", "email", "ua"};
        _Static_assert(sizeof attr_of / sizeof attr_of[0] == N_LITERALS, "one attribute each");
        for (int i = 0; i < N_LITERALS; i++)
            n += (size_t)snprintf(yaml + n, sizeof yaml - n,
                                  "  - {id: c%d, match: {attr: %s, matches: '%s'}}\n", i,
                                  attr_of[i], literal_patterns[i][which]);
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                                                         "phases:\n");
        for (int i = 0; i < N_LITERALS; i++)
            n += (size_t)snprintf(yaml + n, sizeof yaml - n,
                                  "  - {id: p%d, cohort: c%d, steps: [{at: 0, weight: %d%%, "
                                  "unit: request}]}\n",
                                  i, i, 10 + 8 * i);
        rollout_error err;
        if (rollout_plan_load_buffer(yaml, n, "lit.yaml", &plans[which], &err) != ROLLOUT_OK) {
            fprintf(stderr, "fuzz: the literal plan does not load: %s\n", err.message);
            abort();
        }
    }
    return plans[which];
}

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

/* Next field: 1 with (*s, *len) set (s NULL when absent), 0 at the end. */
static int next_field(reader *r, char **s, size_t *len)
{
    if (r->n == 0)
        return 0;
    unsigned l = r->p[0];
    r->p++;
    r->n--;
    if (l == 255) {
        *s = NULL;
        *len = 0;
        return 1;
    }
    if (l == 254) {
        if (r->n < 2)
            return 0;
        l = r->p[0] | (unsigned)r->p[1] << 8;
        r->p += 2;
        r->n -= 2;
    }
    if (l > r->n)
        l = (unsigned)r->n;
    *s = fz_dup(r->p, l);
    *len = l;
    r->p += l;
    r->n -= l;
    return 1;
}

static void check_decision(const rollout_plan *p, const rollout_decision *d)
{
    FZ_CHECK(d->variant == ROLLOUT_STABLE || d->variant == ROLLOUT_NEW, "variant %d",
             d->variant);
    FZ_CHECK((d->variant == ROLLOUT_NEW) == (d->reason == ROLLOUT_REASON_IN_ROLLOUT),
             "variant %d with reason %s", d->variant, rollout_reason_name(d->reason));
    if (d->reason == ROLLOUT_REASON_IN_ROLLOUT || d->reason == ROLLOUT_REASON_OUT_OF_ROLLOUT) {
        FZ_CHECK((d->bucket < d->weight) == (d->reason == ROLLOUT_REASON_IN_ROLLOUT),
                 "bucket %u weight %u reason %s", d->bucket, d->weight,
                 rollout_reason_name(d->reason));
        FZ_CHECK(d->bucket < ROLLOUT_BUCKETS && d->weight <= ROLLOUT_WEIGHT_MAX,
                 "bucket %u weight %u", d->bucket, d->weight);
        FZ_CHECK(d->unit >= ROLLOUT_UNIT_ORG && d->unit <= ROLLOUT_UNIT_REQUEST, "unit %d",
                 d->unit);
    }
    FZ_CHECK(d->cohort >= -1 && d->cohort < rollout_plan_cohort_count(p), "cohort %d",
             d->cohort);
    FZ_CHECK(d->phase >= -1 && d->phase < rollout_plan_phase_count(p), "phase %d", d->phase);
    if (d->cohort >= 0)
        FZ_CHECK(d->cohort_name == rollout_plan_cohort_name(p, d->cohort), "cohort name");
    if (d->phase >= 0)
        FZ_CHECK(d->phase_name == rollout_plan_phase_name(p, d->phase), "phase name");
}

static void check_explain(const rollout_plan *p, const rollout_decision *d,
                          const rollout_context *ctx, unsigned cap_sel)
{
    char full[1024];
    size_t len = rollout_explain(p, d, ctx, full, sizeof full);
    FZ_CHECK(len > 0 && len < sizeof full, "explain length %zu", len);
    FZ_CHECK(strlen(full) == len, "explain text holds a NUL or is unterminated");
    FZ_CHECK(rollout_explain(p, d, ctx, NULL, 0) == len, "length differs without a buffer");
    static const size_t caps[8] = {1, 2, 7, 16, 33, 64, 100, 200};
    size_t cap = caps[cap_sel & 7];
    /* exactly cap bytes on the heap: one byte more written is an ASan report */
    char *small = malloc(cap);
    FZ_CHECK(small != NULL, "out of memory");
    FZ_CHECK(rollout_explain(p, d, ctx, small, cap) == len, "length depends on the buffer");
    size_t kept = len < cap ? len : cap - 1;
    FZ_CHECK(small[kept] == '\0' && memcmp(small, full, kept) == 0,
             "a short buffer does not hold a prefix");
    free(small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned sel = data[0], flags = data[1];
    const rollout_plan *plan;
    const rollout_state *state;
    rollout_state own;
    if (flags & 1) {
        plan = rules_plan();
        state = NULL;
        if (sel >> 4 & 1) {   /* a started state of the rules plan */
            rollout_state_init(plan, &own);
            fz_apply(plan, &own, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1},
                     rollout_plan_start(plan) + 600);
            state = &own;
        }
    } else {
        plan = fz_seed_plan();
        state = fz_state((int)(sel >> 4) % FZ_N_STATES);
    }
    int64_t now = fz_time(plan, sel & 15);

    reader r = {data + 2, size - 2};
    char *ids[4] = {NULL, NULL, NULL, NULL};
    size_t lens[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        if (!next_field(&r, &ids[i], &lens[i]))
            break;
    rollout_attr *attrs = calloc(MAX_ATTRS, sizeof *attrs);
    FZ_CHECK(attrs != NULL, "out of memory");
    size_t n_attrs = 0;
    while (n_attrs < MAX_ATTRS) {
        char *k, *v;
        size_t kl, vl;
        if (!next_field(&r, &k, &kl))
            break;
        if (!next_field(&r, &v, &vl)) {
            v = NULL;
            vl = 0;
        }
        attrs[n_attrs++] = (rollout_attr){k, kl, v, vl};
    }

    rollout_context ctx = {ids[0], lens[0], ids[1], lens[1], ids[2], lens[2], ids[3], lens[3],
                           attrs, n_attrs};
    if (flags & 2) {  /* a count without an array: documented as "no attributes" */
        ctx.attrs = NULL;
        ctx.n_attrs = n_attrs ? n_attrs : SIZE_MAX;
    }

    /* a time outside the years 1 to 9999 is refused by every call, with the
     * STABLE answer */
    const int want = now >= ROLLOUT_TIME_MIN && now <= ROLLOUT_TIME_MAX ? ROLLOUT_OK
                                                                          : ROLLOUT_ERR_ARG;
    rollout_decision d1, d2;
    int rc = rollout_decide(plan, state, now, &ctx, &d1);
    FZ_CHECK(rc == want, "decide: %s", rollout_code_name(rc));
    FZ_CHECK(rc == ROLLOUT_OK || d1.variant == ROLLOUT_STABLE, "refused but NEW");
    check_decision(plan, &d1);
    rc = rollout_decide(plan, state, now, &ctx, &d2);
    FZ_CHECK(rc == want && memcmp(&d1, &d2, sizeof d1) == 0, "decide is not repeatable");
    check_explain(plan, &d1, &ctx, flags >> 2);
    /* a context without anything must give an answer too */
    rollout_decision d3;
    FZ_CHECK(rollout_decide(plan, state, now, NULL, &d3) == want, "NULL context");
    check_decision(plan, &d3);

    /* the batch call, with this context as its base, for each unit */
    for (int unit = ROLLOUT_UNIT_ORG; unit <= ROLLOUT_UNIT_REQUEST; unit++) {
        rollout_id one = {ids[unit], lens[unit]};
        unsigned char v = 0xAA;
        rc = rollout_decide_ids(plan, state, now, &ctx, unit, &one, 1, &v);
        FZ_CHECK(rc == want && v == d1.variant, "decide_ids unit %d: rc %s, %d vs %d",
                 unit, rollout_code_name(rc), v, d1.variant);
        rollout_batch batch;
        rc = rollout_batch_prepare(plan, state, now, &ctx, unit, &batch);
        int bv = rollout_batch_variant(&batch, one.s, one.len);
        FZ_CHECK(rc == want && bv == (int)d1.variant,
                 "batch unit %d: rc %s, %d vs %d", unit, rollout_code_name(rc), bv, d1.variant);
    }

    /* Literal patterns answer as PCRE2 does. The values are copied with
     * zeroed room after them: PCRE2's JIT reads a little past a subject's
     * end for these patterns (whole words, within the page), which
     * valgrind reports for the exactly sized copies above. */
    rollout_attr *padded = calloc(n_attrs ? n_attrs : 1, sizeof *padded);
    FZ_CHECK(padded != NULL, "out of memory");
    for (size_t i = 0; i < n_attrs; i++) {
        padded[i] = attrs[i];
        if (attrs[i].value) {
            char *v = calloc(1, attrs[i].value_len + 64);
            FZ_CHECK(v != NULL, "out of memory");
            memcpy(v, attrs[i].value, attrs[i].value_len);
            padded[i].value = v;
        }
    }
    rollout_context lctx = ctx;
    if (lctx.attrs)
        lctx.attrs = padded;
    rollout_decision dl, dp;
    int64_t lnow = rollout_plan_start(literal_plan(0)) + (int64_t)(sel & 15);
    FZ_CHECK(rollout_decide(literal_plan(0), NULL, lnow, &lctx, &dl) == ROLLOUT_OK, "literal");
    FZ_CHECK(rollout_decide(literal_plan(1), NULL, lnow, &lctx, &dp) == ROLLOUT_OK, "pcre2");
    for (size_t i = 0; i < n_attrs; i++)
        free((void *)padded[i].value);
    free(padded);
    FZ_CHECK(dp.reason == ROLLOUT_REASON_MATCH_ERROR ||
                 (dl.variant == dp.variant && dl.reason == dp.reason && dl.cohort == dp.cohort &&
                  dl.bucket == dp.bucket),
             "literal pattern: cohort %d %s, PCRE2: cohort %d %s", dl.cohort,
             rollout_reason_name(dl.reason), dp.cohort, rollout_reason_name(dp.reason));

    for (size_t i = 0; i < n_attrs; i++) {
        free((void *)attrs[i].key);
        free((void *)attrs[i].value);
    }
    free(attrs);
    for (int i = 0; i < 4; i++)
        free(ids[i]);
    return 0;
}
