/* SPDX-License-Identifier: MIT */
/*
 * test_decide_ids.c — rollout_decide_ids and a prepared rollout_batch answer
 * what rollout_decide does.
 *
 * Both work things out once (state, schedule, rules that do not read the
 * varying id), so their only correct answer is the one rollout_decide gives
 * for each request on its own. Every case here is a comparison with
 * rollout_decide, over plans whose rules mix id lists (short and hashed, one
 * and several), attributes, patterns (one that gives up), not/any/all,
 * phases not yet begun and every unit, and over states from not started to
 * rolled back.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H 3600
#define D 86400

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

enum { N_IDS = 400 };
static char id_text[N_IDS][320];
static rollout_id ids[N_IDS];

/* Ids as requests bring them: listed ones, unlisted ones, absent (NULL or
 * empty), long (past XXH3's short-input paths) and non-ASCII. */
static void make_ids(int n)
{
    static const char *const listed[] = {"acme", "o1", "o3", "o7", "u1", "u2", "globex",
                                         "acme-corp"};
    for (int i = 0; i < n; i++) {
        char *t = id_text[i];
        switch (rnd() % 8) {
        case 0: snprintf(t, sizeof id_text[i], "%s", listed[rnd() % 8]); break;
        case 1: ids[i] = (rollout_id){NULL, 0}; continue;
        case 2: ids[i] = (rollout_id){t, 0}; t[0] = 'x'; continue;
        case 3: {
            size_t len = 17 + rnd() % 300;
            for (size_t k = 0; k < len; k++)
                t[k] = (char)('a' + rnd() % 26);
            t[len] = '\0';
            break;
        }
        case 4: snprintf(t, sizeof id_text[i], "\xc3\xa9quipe-%u", (unsigned)(rnd() % 1000)); break;
        default: snprintf(t, sizeof id_text[i], "id-%u", (unsigned)(rnd() % 100000)); break;
        }
        ids[i] = (rollout_id){t, strlen(t)};
    }
}

/* The batch, and a prepared batch asked id by id, against one
 * rollout_decide per request. */
static void expect_same(const rollout_plan *p, const rollout_state *s, int64_t now,
                        const rollout_context *base, int unit, int n)
{
    unsigned char got[N_IDS];
    memset(got, 0xAA, sizeof got);
    int rc = rollout_decide_ids(p, s, now, base, unit, ids, (size_t)n, got);
    rollout_batch batch;
    memset(&batch, 0xAA, sizeof batch);
    cr_assert_eq(rollout_batch_prepare(p, s, now, base, unit, &batch), rc, "unit %d", unit);
    rollout_context c;
    if (base)
        c = *base;
    else
        memset(&c, 0, sizeof c);
    const char **idp = unit == ROLLOUT_UNIT_ORG    ? &c.org
                     : unit == ROLLOUT_UNIT_USER   ? &c.user
                     : unit == ROLLOUT_UNIT_SESSION ? &c.session
                                                   : &c.request;
    size_t *lenp = unit == ROLLOUT_UNIT_ORG    ? &c.org_len
                 : unit == ROLLOUT_UNIT_USER   ? &c.user_len
                 : unit == ROLLOUT_UNIT_SESSION ? &c.session_len
                                               : &c.request_len;
    for (int i = 0; i < n; i++) {
        *idp = ids[i].s;
        *lenp = ids[i].len;
        rollout_decision d;
        int want_rc = rollout_decide(p, s, now, &c, &d);
        cr_assert_eq(rc, want_rc, "unit %d id %d: %s, decide says %s", unit, i,
                     rollout_code_name(rc), rollout_code_name(want_rc));
        cr_assert_eq(got[i], d.variant, "unit %d id %d (%.*s): batch %d, decide %d (%s)", unit,
                     i, (int)(ids[i].len > 40 ? 40 : ids[i].len), ids[i].s ? ids[i].s : "",
                     got[i], d.variant, rollout_reason_name(d.reason));
        int one = rollout_batch_variant(&batch, ids[i].s, ids[i].len);
        cr_assert_eq(one, (int)d.variant, "unit %d id %d (%.*s): prepared %d, decide %d (%s)",
                     unit, i, (int)(ids[i].len > 40 ? 40 : ids[i].len), ids[i].s ? ids[i].s : "",
                     one, d.variant, rollout_reason_name(d.reason));
    }
}

static const char mixed_yaml[] =
    "format: 1\nid: mixed\nsalt: mixed-salt\nstart: 2026-01-01T00:00:00Z\n"
    "versions: {stable: a, new: b}\n"
    "cohorts:\n"
    "  - {id: staff, match: {attr: email, matches: '^[a-z]+@example\\.com$'}}\n"
    "  - {id: pilot, match: {any: [{org_in: [acme, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10]},\n"
    "                              {user_in: [u1, u2]}]}}\n"
    "  - {id: gold, match: {all: [{not: {org_in: [o3, globex]}}, {attr: tier, in: [gold]}]}}\n"
    "  - {id: risky, match: {all: [{org_in: [globex, acme-corp]}, {attr: ua, matches: '^(?=a)(a+)+$'}]}}\n"
    "  - {id: slow, match: {attr: ua, matches: '^(?=a)(a+)+$'}}\n"
    "  - {id: later, match: {attr: tier, equals: silver}}\n"
    "  - {id: users, match: {user_in: [u1, u2, u3, acme]}}\n"
    "  - {id: rest, match: {everyone: true}}\n"
    "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
    "  - {id: a, cohort: staff, steps: [{at: 0h, weight: 60%, unit: session}]}\n"
    "  - {id: b, cohort: pilot, steps: [{at: 0h, weight: 50%, unit: org}]}\n"
    "  - {id: c, cohort: gold, steps: [{at: 0h, weight: 30%, unit: user}]}\n"
    "  - {id: r, cohort: risky, steps: [{at: 0h, weight: 80%, unit: org}]}\n"
    "  - {id: d, cohort: slow, steps: [{at: 0h, weight: 40%, unit: request}]}\n"
    "  - {id: f, cohort: users, steps: [{at: 0h, weight: 70%, unit: user}]}\n"
    "  - {id: g, cohort: rest, steps: [{at: 1h, weight: 10%, unit: org},\n"
    "                                  {at: 2h, weight: 35%, unit: session}]}\n"
    "  - {id: e, cohort: later, steps: [{at: 48h, weight: 90%, unit: org}]}\n";

/* Base contexts: each attribute present or not; the other ids present or
 * not. The ua value makes ^(?=a)(a+)+$ give up (MATCH_ERROR: the lookahead
 * keeps it with PCRE2; without it the pattern is an automaton). */
static rollout_context make_base(uint64_t bits, rollout_attr *attrs)
{
    rollout_context c;
    memset(&c, 0, sizeof c);
    size_t n = 0;
    if (bits & 1)
        attrs[n++] = (rollout_attr){"email", 5, "dev@example.com", 15};
    else if (bits & 2)
        attrs[n++] = (rollout_attr){"email", 5, "x@other.org", 11};
    if (bits & 4)
        attrs[n++] = (rollout_attr){"tier", 4, "gold", 4};
    else if (bits & 8)
        attrs[n++] = (rollout_attr){"tier", 4, "silver", 6};
    if (bits & 16)
        attrs[n++] = (rollout_attr){"ua", 2, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 37};
    c.attrs = n ? attrs : NULL;
    c.n_attrs = n;
    if (bits & 32) {
        c.org = "o1";
        c.org_len = 2;
    }
    if (bits & 64) {
        c.user = "u2";
        c.user_len = 2;
    }
    if (bits & 128) {
        c.session = "sess-9";
        c.session_len = 6;
    }
    if (bits & 256) {
        c.request = "req-1";
        c.request_len = 5;
    }
    return c;
}

Test(decide_ids, matches_decide_on_a_mixed_plan)
{
    rollout_plan *p = t_plan(mixed_yaml);
    int64_t t0 = rollout_plan_start(p);
    static const int64_t times[] = {-1, 30 * 60, H + 1, 3 * H, 3 * D};
    for (int round = 0; round < 160; round++) {
        make_ids(N_IDS);
        rollout_attr attrs[4];
        uint64_t bits = rnd();
        rollout_context base = make_base(bits, attrs);
        /* the catastrophic pattern is slow per request: fewer ids then */
        int n = bits & 16 ? 20 : N_IDS;
        int64_t now = t0 + times[round % 5];
        for (int unit = ROLLOUT_UNIT_ORG; unit <= ROLLOUT_UNIT_REQUEST; unit++)
            expect_same(p, NULL, now, round % 7 ? &base : NULL, unit, n);
    }
    rollout_plan_unref(p);
}

/* The seed plan through its life: before the start, the canary, the pilot
 * (an org list), GA with gates given late, paused, halted, rolled back. */
Test(decide_ids, matches_decide_on_the_seed_through_its_life)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    make_ids(N_IDS);
    rollout_attr attrs[4][4]; /* one array per base: each points at its own */
    rollout_context bases[4];
    for (int b = 0; b < 4; b++)
        bases[b] = make_base((uint64_t)b * 37, attrs[b]);
    rollout_attr role = {"role", 4, "staff", 5};
    rollout_context staff;
    memset(&staff, 0, sizeof staff);
    staff.attrs = &role;
    staff.n_attrs = 1;

#define ALL_UNITS(state, now)                                                               \
    do {                                                                                    \
        for (int u = ROLLOUT_UNIT_ORG; u <= ROLLOUT_UNIT_REQUEST; u++) {                    \
            expect_same(p, (state), (now), &staff, u, N_IDS);                               \
            expect_same(p, (state), (now), NULL, u, N_IDS);                                 \
            for (int b = 0; b < 4; b++)                                                     \
                expect_same(p, (state), (now), &bases[b], u, N_IDS);                        \
        }                                                                                   \
    } while (0)

    ALL_UNITS(NULL, t0 - 1);
    ALL_UNITS(NULL, t0 + H);
    ALL_UNITS(&s, t0 + H); /* not started */
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1}, t0);
    ALL_UNITS(&s, t0 + H);
    /* gates given GO late, so the later steps slip */
    static const int64_t go[] = {3 * H, 26 * H, 3 * D + 5 * H, 4 * D + 6 * H};
    for (int g = 0; g < 4; g++) {
        t_go(p, &s, g, t0 + go[g]);
        ALL_UNITS(&s, t0 + go[g] + 1);
        ALL_UNITS(&s, t0 + go[g] + 7 * H);
    }
    rollout_state paused = s;
    t_apply(p, &paused, (rollout_event){.type = ROLLOUT_EVENT_PAUSE, .gate = -1}, t0 + 5 * D);
    ALL_UNITS(&paused, t0 + 5 * D + H);
    rollout_state back = s;
    t_apply(p, &back, (rollout_event){.type = ROLLOUT_EVENT_ROLLBACK, .gate = -1,
                                    .reason = ROLLOUT_ROLLBACK_MANUAL},
          t0 + 5 * D);
    ALL_UNITS(&back, t0 + 5 * D + H);
#undef ALL_UNITS
    rollout_plan_unref(p);
}

/* Plans whose per-id cohorts are plain id lists take a shorter road
 * (decide_listed): hashed and short lists, both units, ids on and off them. */
Test(decide_ids, matches_decide_on_plain_lists)
{
    rollout_plan *p = t_plan(
        "format: 1\nid: lists\nsalt: lists-salt\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n"
        "  - {id: big, match: {org_in: [acme, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10]}}\n"
        "  - {id: small, match: {org_in: [globex, acme-corp]}}\n"
        "  - {id: people, match: {user_in: [u1, u2, o3, id-7, x1, x2, x3, x4, x5, x6, x7]}}\n"
        "  - {id: staff, match: {attr: tier, equals: staff}}\n"
        "  - {id: rest, match: {everyone: true}}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
        "  - {id: a, cohort: big, steps: [{at: 0h, weight: 50%, unit: org}]}\n"
        "  - {id: b, cohort: small, steps: [{at: 0h, weight: 70%, unit: session}]}\n"
        "  - {id: c, cohort: people, steps: [{at: 0h, weight: 30%, unit: user}]}\n"
        "  - {id: d, cohort: staff, steps: [{at: 0h, weight: 100%, unit: org}]}\n"
        "  - {id: e, cohort: rest, steps: [{at: 1h, weight: 20%, unit: org},\n"
        "                                  {at: 2h, weight: 40%, unit: user}]}\n");
    int64_t t0 = rollout_plan_start(p);
    static const int64_t times[] = {30 * 60, H + 1, 3 * H};
    for (int round = 0; round < 60; round++) {
        make_ids(N_IDS);
        /* some ids that are on the lists, as both units */
        static const char *const listed[] = {"o5", "o10", "u2", "x7", "acme-corp", "globex"};
        for (int k = 0; k < 40; k++) {
            const char *l = listed[rnd() % 6];
            ids[rnd() % N_IDS] = (rollout_id){l, strlen(l)};
        }
        rollout_attr attrs[4];
        rollout_context base = make_base(rnd(), attrs);
        rollout_attr staff = {"tier", 4, "staff", 5};
        if (round % 3 == 0) {
            base.attrs = &staff;
            base.n_attrs = 1;
        }
        for (int unit = ROLLOUT_UNIT_ORG; unit <= ROLLOUT_UNIT_REQUEST; unit++)
            expect_same(p, NULL, t0 + times[round % 3], &base, unit, N_IDS);
    }
    rollout_plan_unref(p);
}

/* A batch that could not be prepared answers STABLE for every id, as the
 * error of rollout_decide_ids leaves every variant 0. */
static void expect_batch_stable(const rollout_batch *b)
{
    for (int i = 0; i < N_IDS; i++)
        cr_assert_eq(rollout_batch_variant(b, ids[i].s, ids[i].len), ROLLOUT_STABLE,
                     "id %d is new from a batch that was not prepared", i);
}

/* Rolled back: every id is stable, though some were on the new version. A
 * batch prepared before the rollback keeps what it needs of the state, so
 * it still answers as then; one prepared after answers stable. */
Test(decide_ids, a_rollback_makes_every_id_stable)
{
    rollout_plan *p = t_plan(mixed_yaml);
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1}, t0);
    make_ids(N_IDS);
    unsigned char v[N_IDS], before[N_IDS];
    cr_assert_eq(rollout_decide_ids(p, &s, t0 + 3 * H, NULL, ROLLOUT_UNIT_SESSION, ids, N_IDS, v),
                 ROLLOUT_OK);
    int news = 0;
    for (int i = 0; i < N_IDS; i++)
        news += v[i];
    cr_assert_gt(news, N_IDS / 10, "%d new of %d before the rollback", news, N_IDS);
    memcpy(before, v, sizeof v);
    rollout_batch b;
    cr_assert_eq(rollout_batch_prepare(p, &s, t0 + 3 * H, NULL, ROLLOUT_UNIT_SESSION, &b),
                 ROLLOUT_OK);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_ROLLBACK, .gate = -1,
                                 .reason = ROLLOUT_ROLLBACK_MANUAL},
          t0 + 3 * H);
    cr_assert_eq(rollout_decide_ids(p, &s, t0 + 3 * H, NULL, ROLLOUT_UNIT_SESSION, ids, N_IDS, v),
                 ROLLOUT_OK);
    for (int i = 0; i < N_IDS; i++) {
        cr_assert_eq(v[i], ROLLOUT_STABLE, "id %d is new after the rollback", i);
        cr_assert_eq(rollout_batch_variant(&b, ids[i].s, ids[i].len), before[i],
                     "id %d: the batch prepared before the rollback changed its answer", i);
    }
    cr_assert_eq(rollout_batch_prepare(p, &s, t0 + 3 * H, NULL, ROLLOUT_UNIT_SESSION, &b),
                 ROLLOUT_OK);
    expect_batch_stable(&b);
    rollout_plan_unref(p);
}

static void expect_all_stable(const unsigned char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(v[i], ROLLOUT_STABLE, "variants[%zu] = %d after an error", i, v[i]);
}

Test(decide_ids, bad_arguments_are_errors_and_leave_every_id_stable)
{
    rollout_plan *p = t_plan(mixed_yaml);
    int64_t now = rollout_plan_start(p) + 3 * H;
    make_ids(8);
    unsigned char v[8];

    memset(v, 0xAA, sizeof v);
    cr_assert_eq(rollout_decide_ids(NULL, NULL, now, NULL, ROLLOUT_UNIT_ORG, ids, 8, v),
                 ROLLOUT_ERR_ARG);
    expect_all_stable(v, 8);
    memset(v, 0xAA, sizeof v);
    cr_assert_eq(rollout_decide_ids(p, NULL, now, NULL, ROLLOUT_UNIT_ORG, NULL, 8, v),
                 ROLLOUT_ERR_ARG);
    expect_all_stable(v, 8);
    cr_assert_eq(rollout_decide_ids(p, NULL, now, NULL, ROLLOUT_UNIT_ORG, ids, 8, NULL),
                 ROLLOUT_ERR_ARG);
    for (int unit = -1; unit <= ROLLOUT_UNIT_REQUEST + 1; unit += ROLLOUT_UNIT_REQUEST + 2) {
        memset(v, 0xAA, sizeof v);
        cr_assert_eq(rollout_decide_ids(p, NULL, now, NULL, unit, ids, 8, v), ROLLOUT_ERR_ARG,
                     "unit %d", unit);
        expect_all_stable(v, 8);
    }
    /* nothing to decide is not an error, even without arrays */
    cr_assert_eq(rollout_decide_ids(p, NULL, now, NULL, ROLLOUT_UNIT_ORG, NULL, 0, NULL),
                 ROLLOUT_OK);

    /* a state of another plan, and a damaged state: decide's errors */
    rollout_plan *seed = t_seed();
    rollout_state s;
    rollout_state_init(seed, &s);
    t_apply(seed, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1},
          rollout_plan_start(seed));
    memset(v, 0xAA, sizeof v);
    cr_assert_eq(rollout_decide_ids(p, &s, now, NULL, ROLLOUT_UNIT_ORG, ids, 8, v),
                 ROLLOUT_ERR_STATE_PLAN);
    expect_all_stable(v, 8);
    s.status = ROLLOUT_STATUS_COUNT;
    memset(v, 0xAA, sizeof v);
    cr_assert_eq(rollout_decide_ids(seed, &s, now, NULL, ROLLOUT_UNIT_ORG, ids, 8, v),
                 ROLLOUT_ERR_STATE);
    expect_all_stable(v, 8);
    rollout_plan_unref(seed);
    rollout_plan_unref(p);
}

Test(decide_ids, a_batch_that_fails_to_prepare_answers_stable)
{
    rollout_plan *p = t_plan(mixed_yaml);
    int64_t now = rollout_plan_start(p) + 3 * H;
    make_ids(N_IDS);
    rollout_batch b;
    /* the same request prepared properly puts some ids on the new version */
    cr_assert_eq(rollout_batch_prepare(p, NULL, now, NULL, ROLLOUT_UNIT_SESSION, &b), ROLLOUT_OK);
    int news = 0;
    for (int i = 0; i < N_IDS; i++)
        news += rollout_batch_variant(&b, ids[i].s, ids[i].len);
    cr_assert_gt(news, N_IDS / 10);

    cr_assert_eq(rollout_batch_prepare(p, NULL, now, NULL, ROLLOUT_UNIT_SESSION, NULL),
                 ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_batch_variant(NULL, "acme", 4), ROLLOUT_STABLE);
    cr_assert_eq(rollout_batch_prepare(NULL, NULL, now, NULL, ROLLOUT_UNIT_SESSION, &b),
                 ROLLOUT_ERR_ARG);
    expect_batch_stable(&b);
    for (int unit = -1; unit <= ROLLOUT_UNIT_REQUEST + 1; unit += ROLLOUT_UNIT_REQUEST + 2) {
        cr_assert_eq(rollout_batch_prepare(p, NULL, now, NULL, ROLLOUT_UNIT_SESSION, &b),
                     ROLLOUT_OK);
        cr_assert_eq(rollout_batch_prepare(p, NULL, now, NULL, unit, &b), ROLLOUT_ERR_ARG,
                     "unit %d", unit);
        expect_batch_stable(&b);
    }
    /* a state of another plan, and a damaged state */
    rollout_plan *seed = t_seed();
    rollout_state s;
    rollout_state_init(seed, &s);
    t_apply(seed, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1},
            rollout_plan_start(seed));
    cr_assert_eq(rollout_batch_prepare(p, &s, now, NULL, ROLLOUT_UNIT_SESSION, &b),
                 ROLLOUT_ERR_STATE_PLAN);
    expect_batch_stable(&b);
    s.status = ROLLOUT_STATUS_COUNT;
    cr_assert_eq(rollout_batch_prepare(seed, &s, now, NULL, ROLLOUT_UNIT_ORG, &b),
                 ROLLOUT_ERR_STATE);
    expect_batch_stable(&b);
    rollout_plan_unref(seed);
    rollout_plan_unref(p);
}

/* One batch, read by four threads at once, answers each as it answers one:
 * rollout_batch_variant only reads it. */
typedef struct {
    const rollout_batch *batch;
    unsigned char got[N_IDS];
} batch_reader;

static void *read_batch(void *arg)
{
    batch_reader *r = arg;
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < N_IDS; i++) {
            unsigned char v = (unsigned char)rollout_batch_variant(r->batch, ids[i].s, ids[i].len);
            if (round && v != r->got[i])
                r->got[i] = 0xEE; /* an answer that changed: reported below */
            else
                r->got[i] = v;
        }
    return NULL;
}

Test(decide_ids, threads_share_a_batch)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    make_ids(N_IDS);
    unsigned char want[N_IDS];
    cr_assert_eq(rollout_decide_ids(p, NULL, t0 + H, NULL, ROLLOUT_UNIT_ORG, ids, N_IDS, want),
                 ROLLOUT_OK);
    rollout_batch b;
    cr_assert_eq(rollout_batch_prepare(p, NULL, t0 + H, NULL, ROLLOUT_UNIT_ORG, &b), ROLLOUT_OK);
    batch_reader readers[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        readers[t].batch = &b;
        cr_assert_eq(pthread_create(&threads[t], NULL, read_batch, &readers[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        cr_assert_eq(memcmp(readers[t].got, want, N_IDS), 0, "thread %d disagrees", t);
    }
    rollout_plan_unref(p);
}
