/* SPDX-License-Identifier: MIT */
/*
 * test_decide_alloc.c — the hot path allocates nothing.
 *
 * This executable defines malloc, calloc, realloc and free itself, so every
 * allocation in the process, including libpcre2's, comes through here; the
 * real allocator is found with dlsym(RTLD_NEXT) (under ASan that is ASan's).
 * Counting is switched on per thread around the measured calls only, so
 * Criterion's own allocations do not count. It lives in its own executable
 * because the interposition affects every test linked with it.
 */
#define _GNU_SOURCE /* RTLD_NEXT */

#include "real_alloc.h"
#include "support.h"
#include "targeting.h"

#include <criterion/criterion.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

/* volatile: the compiler knows malloc as a builtin that cannot see these,
 * and would otherwise drop "counting = 1" around a malloc call */
static _Thread_local volatile int counting;
static _Thread_local volatile long allocations;

void *malloc(size_t n)
{
    resolve();
    if (counting)
        allocations++;
    return real_malloc ? real_malloc(n) : boot_alloc(n);
}

void *calloc(size_t n, size_t size)
{
    resolve();
    if (counting)
        allocations++;
    return real_calloc ? real_calloc(n, size) : boot_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (counting)
        allocations++;
    return real_realloc(p, n);
}

void free(void *p)
{
    if (is_boot(p))
        return;
    resolve();
    if (p)
        real_free(p);
}

Test(alloc, the_counter_counts)
{
    counting = 1;
    void *volatile p = malloc(16);
    counting = 0;
    free(p);
    cr_assert_eq(allocations, 1, "the interposed malloc is not in use");
    /* allocations inside shared libraries come here too */
    int code;
    PCRE2_SIZE off;
    counting = 1;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR) "a+b", 3, 0, &code, &off, NULL);
    counting = 0;
    cr_assert_not_null(re);
    pcre2_code_free(re);
    cr_assert_gt(allocations, 1, "libpcre2's malloc calls are not seen");
}

#define D 86400

static rollout_context ctx_for(int i, char *org, char *user, char *sess, rollout_attr *attr)
{
    snprintf(org, 32, "org-%d", i % 1013);
    snprintf(user, 32, "user-%d", i);
    snprintf(sess, 32, "s-%x", i * 2654435761u);
    rollout_context c;
    memset(&c, 0, sizeof c);
    c.org = i % 7 == 0 ? "acme-corp" : org;
    c.org_len = strlen(c.org);
    c.user = user;
    c.user_len = strlen(user);
    if (i % 11) {
        c.session = sess;
        c.session_len = strlen(sess);
    }
    if (i % 3 == 0) {
        /* staff emails match the internal cohort's pattern, others do not */
        *attr = (rollout_attr){"email", 5, i % 2 ? "dev@example.com" : "dev@example.org", 15};
        c.attrs = attr;
        c.n_attrs = 1;
    }
    return c;
}

static long count_decisions(const rollout_plan *p, const rollout_state *s, int64_t now, int n,
                            int *new_count)
{
    char org[32], user[32], sess[32];
    rollout_attr attr;
    rollout_decision d;
    /* warm up: lazy symbol binding and first-use paths are not the steady state */
    for (int i = 0; i < 100; i++) {
        rollout_context c = ctx_for(i, org, user, sess, &attr);
        rollout_decide(p, s, now, &c, &d);
    }
    long before = allocations;
    int news = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        rollout_context c = ctx_for(i, org, user, sess, &attr);
        counting = 1;
        int rc = rollout_decide(p, s, now, &c, &d);
        counting = 0;
        errors += rc != ROLLOUT_OK;
        news += d.variant == ROLLOUT_NEW;
    }
    cr_assert_eq(errors, 0);
    *new_count = news;
    return allocations - before;
}

Test(alloc, decide_allocates_nothing)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    /* no state: the canary is running, patterns are matched for everyone */
    int news;
    long n = count_decisions(p, NULL, t0 + 3600, 100000, &news);
    cr_assert_eq(n, 0, "%ld allocations in 100 000 decisions", n);
    cr_assert_gt(news, 0);

    /* a hashed org list and a regex, both evaluated on every call */
    static const char yaml[] =
        "format: 1\nid: t\nsalt: s\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n"
        "  - {id: staff, match: {attr: email, matches: '^[a-z]+@example\\.com$'}}\n"
        "  - {id: pilot, match: {org_in: [acme-corp, o1, o2, o3, o4, o5, o6, o7, o8, o9]}}\n"
        "  - {id: rest, match: {not: {attr: email, matches: 'bot'}}}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
        "  - {id: a, cohort: staff, steps: [{at: 0h, weight: 100%, unit: session}]}\n"
        "  - {id: b, cohort: pilot, steps: [{at: 0h, weight: 50%, unit: org}]}\n"
        "  - {id: c, cohort: rest, steps: [{at: 0h, weight: 25%, unit: user}]}\n";
    rollout_plan *q = t_plan(yaml);
    n = count_decisions(q, NULL, rollout_plan_start(q) + D, 100000, &news);
    cr_assert_eq(n, 0, "%ld allocations in 100 000 decisions", n);
    cr_assert_gt(news, 0);

    /* and on the interpreter path, whose frames come from a stack buffer */
    q->cohorts[0].match->pat.jit = false;
    q->cohorts[2].match->kids[0]->pat.jit = false;
    q->cohorts[2].match->kids[0]->pat.lit = NULL; /* 'bot' is literal text: make PCRE2 run */
    n = count_decisions(q, NULL, rollout_plan_start(q) + D, 20000, &news);
    cr_assert_eq(n, 0, "%ld allocations on the interpreter path", n);
    rollout_plan_unref(q);
    rollout_plan_unref(p);
}

/* Every bucket function a plan can name (docs/bucketing.md, "Compatibility
 * modes"), SHA-1 from libcrypto included: the peer's string is hashed in
 * place, never assembled in a buffer of the heap. */
Test(alloc, every_bucket_function_allocates_nothing)
{
    static const struct { const char *hash, *key; } modes[] = {
        {"xxh3", NULL},
        {"nginx_split_clients", "{id}AAA"},
        {"unleash", "checkout-v2"},
        {"growthbook_v1", "checkout-v2"},
        {"growthbook_v2", "checkout-v2"},
        {"launchdarkly", "checkout-v2.7c3f1a9e"},
        {"flagd", "checkout-v2"},
    };
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char yaml[1024], bucketing[128] = "";
        if (modes[m].key)
            snprintf(bucketing, sizeof bucketing, "bucketing: {hash: %s, key: \"%s\"}\n",
                     modes[m].hash, modes[m].key);
        snprintf(yaml, sizeof yaml,
                 "format: 1\nid: t\nsalt: s\n%sstart: 2026-01-01T00:00:00Z\n"
                 "versions: {stable: a, new: b}\n"
                 "cohorts: [{id: all, match: {everyone: true}}]\n"
                 "rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}\n"
                 "phases:\n"
                 "  - {id: ga, cohort: all, steps: [{at: 0h, weight: 25%%, unit: user}]}\n",
                 bucketing);
        rollout_plan *q = t_plan(yaml);
        int news;
        long n = count_decisions(q, NULL, rollout_plan_start(q) + D, 20000, &news);
        cr_assert_eq(n, 0, "%s: %ld allocations in 20 000 decisions", modes[m].hash, n);
        cr_assert(news > 2000 && news < 8000, "%s: %d of 20 000 users at 25 %%", modes[m].hash,
                  news);
        rollout_plan_unref(q);
    }
}

/* The batch entry points too: rollout_decide_ids, and a prepared batch over
 * the seed plan at GA with a state. */
Test(alloc, decide_ids_allocates_nothing)
{
    rollout_plan *p = t_seed();
    enum { N = 20000 };
    static char text[N][16];
    static rollout_id ids[N];
    static unsigned char variants[N];
    for (int i = 0; i < N; i++) {
        ids[i].len = (size_t)snprintf(text[i], sizeof text[i], "org-%d", i);
        ids[i].s = text[i];
    }
    rollout_context base;
    memset(&base, 0, sizeof base);
    /* no state: the canary; every id reaches the pattern of the staff cohort */
    rollout_attr email = {"email", 5, "dev@example.com", 15};
    base.attrs = &email;
    base.n_attrs = 1;
    int64_t now = rollout_plan_start(p) + 3600;
    cr_assert_eq(rollout_decide_ids(p, NULL, now, &base, ROLLOUT_UNIT_SESSION, ids, 100, variants),
                 ROLLOUT_OK);
    long before = allocations;
    counting = 1;
    int rc = rollout_decide_ids(p, NULL, now, &base, ROLLOUT_UNIT_SESSION, ids, N, variants);
    counting = 0;
    cr_assert_eq(rc, ROLLOUT_OK);
    cr_assert_eq(allocations - before, 0, "%ld allocations in a batch of %d",
                 allocations - before, N);
    int news = 0;
    for (int i = 0; i < N; i++)
        news += variants[i];
    cr_assert_gt(news, 0);

    /* a prepared batch, asked id by id: by session as above, and by org for
     * a context with nothing else, at GA with a state (the pilot list, then
     * everyone) */
    rollout_state s;
    rollout_state_init(p, &s);
    int64_t t0 = rollout_plan_start(p);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START, .gate = -1}, t0);
    for (int g = 0; g < 4; g++)
        t_go(p, &s, g, t0 + (g + 1) * D);
    for (int round = 0; round < 2; round++) {
        int unit = round ? ROLLOUT_UNIT_ORG : ROLLOUT_UNIT_SESSION;
        const rollout_state *st = round ? &s : NULL;
        int64_t at = round ? t0 + 6 * D : now;
        rollout_batch batch;
        before = allocations;
        counting = 1;
        rc = rollout_batch_prepare(p, st, at, round ? NULL : &base, unit, &batch);
        news = 0;
        for (int i = 0; i < N; i++)
            news += rollout_batch_variant(&batch, ids[i].s, ids[i].len);
        counting = 0;
        cr_assert_eq(rc, ROLLOUT_OK);
        cr_assert_eq(allocations - before, 0, "%ld allocations in a prepared batch of %d",
                     allocations - before, N);
        cr_assert_gt(news, 0, "unit %d", unit);
    }
    rollout_plan_unref(p);
}

/* With every slot of the match data pool taken, JIT matches build their
 * match data on the stack: still nothing from the heap. */
Test(alloc, an_exhausted_pool_allocates_nothing)
{
    rollout_plan *p = t_seed();
    cr_assert_not_null(p->md_pool);
    for (unsigned i = 0; i < RP_MD_SLOTS; i++)
        cr_assert_not(atomic_flag_test_and_set(&p->md_pool->slot[i].busy));
    int news;
    long n = count_decisions(p, NULL, rollout_plan_start(p) + 3600, 20000, &news);
    cr_assert_eq(n, 0, "%ld allocations with the pool exhausted", n);
    cr_assert_gt(news, 0);
    for (unsigned i = 0; i < RP_MD_SLOTS; i++)
        atomic_flag_clear(&p->md_pool->slot[i].busy);
    rollout_plan_unref(p);
}

Test(alloc, a_catastrophic_pattern_allocates_nothing)
{
    static const char yaml[] =
        "format: 1\nid: t\nsalt: s\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n"
        "  - {id: c, match: {attr: ua, matches: '^(?=a)(a+)+$'}}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
        "  - {id: a, cohort: c, steps: [{at: 0h, weight: 100%, unit: user}]}\n";
    rollout_plan *p = t_plan(yaml);
    rollout_attr ua = {"ua", 2, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", 33};
    rollout_context c;
    memset(&c, 0, sizeof c);
    c.attrs = &ua;
    c.n_attrs = 1;
    for (int jit = 1; jit >= 0; jit--) {
        p->cohorts[0].match->pat.jit = jit;
        rollout_decision d;
        long before = allocations;
        counting = 1;
        int rc = rollout_decide(p, NULL, rollout_plan_start(p), &c, &d);
        counting = 0;
        cr_assert_eq(rc, ROLLOUT_OK);
        cr_assert_eq(d.reason, ROLLOUT_REASON_MATCH_ERROR, "jit=%d", jit);
        cr_assert_eq(allocations - before, 0, "jit=%d", jit);
    }
    rollout_plan_unref(p);
}
