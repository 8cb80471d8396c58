/* SPDX-License-Identifier: MIT */
/*
 * concurrency.c — many threads deciding on shared plans while another
 * thread keeps reloading them.
 *
 *   concurrency [--threads N] [--decisions N] [--versions N] [--contexts N]
 *
 * K versions of the seed plan (different salts and weights, so their
 * answers differ) are loaded first and every (version, context, time)
 * answer is computed on one thread. Then N worker threads decide through a
 * rollout_slot (examples/c/plan_slot.h: snapshots with per-worker
 * references and a generation counter, as a proxy holds its plan) while a reloader thread
 * loads a fresh copy of the next version from its YAML, publishes it and
 * drops the old one, over and over. Every decision is compared with the
 * single-thread answer for the version the worker actually used (known by
 * fingerprint). Exit 0 when every decision matched, the workers saw several
 * versions and, per worker, versions only moved forward.
 *
 * The default size (8 threads x 200 000 decisions) runs in ctest, also
 * under ThreadSanitizer (ROLLOUT_SANITIZE_THREAD) and ASan. The issue's
 * full size is 8 x 10 000 000: `concurrency --decisions 10000000`
 * (docs/security.md has the timing).
 */
#define _POSIX_C_SOURCE 200809L

#include "plan_slot.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_VERSIONS = 8, N_TIMES = 7, MAX_THREADS = 64 };

typedef struct expected {
    int8_t variant, reason, cohort;
    uint32_t bucket, weight;
} expected;

static struct {
    int threads, versions, contexts;
    long decisions;
    char *yaml[MAX_VERSIONS];
    size_t yaml_len[MAX_VERSIONS];
    uint64_t fingerprint[MAX_VERSIONS];
    int64_t times[N_TIMES];
    rollout_context *ctx;
    rollout_attr *attrs;
    char *ids;
    expected *want;               /* [version][context][time] */
    rollout_slot slot;
    atomic_int workers_left;
    atomic_long swaps;
} g;

typedef struct worker {
    int index;
    long mismatches, errors, version_changes, backwards;
    long per_version[MAX_VERSIONS];
    pthread_t thread;
} worker;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Version k: the seed with its own salt, so every unit lands in another
 * bucket and the versions' answers differ. */
static void make_versions(void)
{
    size_t len;
    const char *seed = rollout_seed_plan(&len);
    for (int k = 0; k < g.versions; k++) {
        char *y = malloc(len + 64);
        if (!y)
            abort();
        const char *salt = strstr(seed, "\nsalt: ");
        const char *eol = strchr(salt + 1, '\n');
        size_t head = (size_t)(salt - seed);
        int n = snprintf(y, len + 64, "%.*s\nsalt: concurrency-v%d", (int)head, seed, k);
        memcpy(y + n, eol, len - (size_t)(eol - seed));
        g.yaml_len[k] = (size_t)n + len - (size_t)(eol - seed);
        y[g.yaml_len[k]] = '\0';
        g.yaml[k] = y;
    }
}

static rollout_plan *load_version(int k)
{
    rollout_plan *p;
    rollout_error err;
    if (rollout_plan_load_buffer(g.yaml[k], g.yaml_len[k], "version.yaml", &p, &err)) {
        fprintf(stderr, "concurrency: version %d does not load: %s\n", k, err.message);
        exit(2);
    }
    return p;
}

/* Contexts that reach every cohort and reason: staff by email or role,
 * pilot orgs, everyone else, some without the unit the step needs. */
static void make_contexts(void)
{
    static const char *const pilot[] = {"acme-corp", "globex"};
    g.ctx = calloc((size_t)g.contexts, sizeof *g.ctx);
    rollout_attr *attrs = g.attrs = calloc((size_t)g.contexts, sizeof *attrs);
    char *ids = g.ids = calloc((size_t)g.contexts, 96);
    if (!g.ctx || !attrs || !ids)
        abort();
    for (int i = 0; i < g.contexts; i++) {
        char *org = ids + 96 * i, *user = org + 32, *email = org + 64;
        snprintf(user, 32, "user-%d", i * 7919);
        rollout_context *c = &g.ctx[i];
        switch (i % 8) {
        case 0:   /* internal by email */
            snprintf(email, 32, "u%d@example.com", i);
            attrs[i] = (rollout_attr){"email", 5, email, strlen(email)};
            c->attrs = &attrs[i];
            c->n_attrs = 1;
            break;
        case 1:   /* internal by role */
            attrs[i] = (rollout_attr){"role", 4, "staff", 5};
            c->attrs = &attrs[i];
            c->n_attrs = 1;
            break;
        case 2:
        case 3:
            snprintf(org, 32, "%s", pilot[i % 2]);
            break;
        default:
            snprintf(org, 32, "org-%d", i * 104729);
            break;
        }
        if (org[0]) {
            c->org = org;
            c->org_len = strlen(org);
        }
        if (i % 5 != 4) {   /* every fifth has no user id */
            c->user = user;
            c->user_len = strlen(user);
        }
        c->session = user;  /* sessions: the canary buckets by session */
        c->session_len = strlen(user);
    }
}

static void compute_expected(void)
{
    int64_t t0;
    {
        rollout_plan *p = load_version(0);
        t0 = rollout_plan_start(p);
        rollout_plan_unref(p);
    }
    const int64_t offsets[N_TIMES] = {-60, 60, 5 * 3600, 13 * 3600, 2 * 86400 + 60,
                                      3 * 86400 + 60, 30 * 86400};
    for (int t = 0; t < N_TIMES; t++)
        g.times[t] = t0 + offsets[t];
    g.want = calloc((size_t)g.versions * (size_t)g.contexts * N_TIMES, sizeof *g.want);
    if (!g.want)
        abort();
    for (int k = 0; k < g.versions; k++) {
        rollout_plan *p = load_version(k);
        g.fingerprint[k] = rollout_plan_fingerprint(p);
        for (int j = 0; j < k; j++)
            if (g.fingerprint[j] == g.fingerprint[k]) {
                fprintf(stderr, "concurrency: versions %d and %d are the same plan\n", j, k);
                exit(2);
            }
        for (int i = 0; i < g.contexts; i++)
            for (int t = 0; t < N_TIMES; t++) {
                rollout_decision d;
                if (rollout_decide(p, NULL, g.times[t], &g.ctx[i], &d))
                    abort();
                g.want[((size_t)k * g.contexts + i) * N_TIMES + t] =
                    (expected){(int8_t)d.variant, (int8_t)d.reason, (int8_t)d.cohort, d.bucket,
                               d.weight};
            }
        rollout_plan_unref(p);
    }
}

static int version_of(const rollout_plan *p)
{
    uint64_t f = rollout_plan_fingerprint(p);
    for (int k = 0; k < g.versions; k++)
        if (g.fingerprint[k] == f)
            return k;
    return -1;
}

static void *work(void *arg)
{
    worker *w = arg;
    rollout_slot_reader r = {NULL, 0};
    int last_version = -1;
    uint64_t last_generation = 0;
    /* a per-thread walk through contexts and times (a cheap LCG) */
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(w->index + 1);
    for (long n = 0; n < g.decisions; n++) {
        const rollout_snapshot *snap = rollout_slot_get(&g.slot, &r);
        const rollout_plan *p = snap->plan;
        if (r.generation < last_generation)
            w->backwards++;
        last_generation = r.generation;
        int k = version_of(p);
        if (k < 0) {
            w->errors++;
            continue;
        }
        if (k != last_version) {
            w->version_changes++;
            last_version = k;
        }
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int i = (int)((x >> 33) % (uint64_t)g.contexts), t = (int)((x >> 20) % N_TIMES);
        rollout_decision d;
        if (rollout_decide(p, NULL, g.times[t], &g.ctx[i], &d) != ROLLOUT_OK) {
            w->errors++;
            continue;
        }
        const expected *e = &g.want[((size_t)k * g.contexts + i) * N_TIMES + t];
        if (d.variant != e->variant || d.reason != e->reason || d.cohort != e->cohort ||
            d.bucket != e->bucket || d.weight != e->weight) {
            if (w->mismatches++ < 5)
                fprintf(stderr, "worker %d: version %d context %d time %d: got %s/%s, "
                        "single-thread answer %s/%s\n", w->index, k, i, t,
                        d.variant ? "NEW" : "STABLE", rollout_reason_name(d.reason),
                        e->variant ? "NEW" : "STABLE", rollout_reason_name(e->reason));
        }
        w->per_version[k]++;
    }
    rollout_slot_reader_release(&r);
    atomic_fetch_sub(&g.workers_left, 1);
    return NULL;
}

/* Loads the next version from text and publishes it, until the workers are
 * done: each swap frees a plan some worker may still be deciding with. */
static void *reload(void *arg)
{
    (void)arg;
    int k = 0;
    while (atomic_load(&g.workers_left) > 0) {
        k = (k + 1) % g.versions;
        rollout_snapshot *snap = rollout_snapshot_new(load_version(k), NULL);
        if (!snap)
            abort();
        rollout_slot_publish(&g.slot, snap);
        atomic_fetch_add(&g.swaps, 1);
        struct timespec pause = {0, 200 * 1000};  /* 0.2 ms: thousands of swaps a run */
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    g.threads = 8;
    g.decisions = 200000;
    g.versions = 4;
    g.contexts = 4096;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            g.threads = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--decisions"))
            g.decisions = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--versions"))
            g.versions = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--contexts"))
            g.contexts = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: concurrency [--threads N] [--decisions N] [--versions N] "
                            "[--contexts N]\n");
            return 2;
        }
    }
    if (g.threads < 1 || g.threads > MAX_THREADS || g.versions < 2 ||
        g.versions > MAX_VERSIONS || g.contexts < 1 || g.decisions < 1) {
        fprintf(stderr, "concurrency: out of range arguments\n");
        return 2;
    }
    make_versions();
    make_contexts();
    compute_expected();

    rollout_snapshot *first = rollout_snapshot_new(load_version(0), NULL);
    if (!first)
        abort();
    rollout_slot_init(&g.slot, first);
    atomic_init(&g.workers_left, g.threads);
    worker *w = calloc((size_t)g.threads, sizeof *w);
    if (!w)
        abort();
    double start = now_seconds();
    pthread_t reloader;
    pthread_create(&reloader, NULL, reload, NULL);
    for (int i = 0; i < g.threads; i++) {
        w[i].index = i;
        pthread_create(&w[i].thread, NULL, work, &w[i]);
    }
    long mismatches = 0, errors = 0, changes = 0, backwards = 0, total = 0;
    long per_version[MAX_VERSIONS] = {0};
    for (int i = 0; i < g.threads; i++) {
        pthread_join(w[i].thread, NULL);
        mismatches += w[i].mismatches;
        errors += w[i].errors;
        changes += w[i].version_changes;
        backwards += w[i].backwards;
        for (int k = 0; k < g.versions; k++) {
            per_version[k] += w[i].per_version[k];
            total += w[i].per_version[k];
        }
    }
    pthread_join(reloader, NULL);
    double took = now_seconds() - start;
    rollout_slot_destroy(&g.slot);

    printf("concurrency: %d threads x %ld decisions = %ld in %.2f s (%.1f M/s), %ld plan "
           "swaps, %ld version changes seen by workers\n",
           g.threads, g.decisions, total, took, (double)total / took / 1e6,
           atomic_load(&g.swaps), changes);
    printf("concurrency: decisions per version:");
    int seen = 0;
    for (int k = 0; k < g.versions; k++) {
        printf(" %ld", per_version[k]);
        seen += per_version[k] > 0;
    }
    printf("\nconcurrency: %ld mismatches, %ld errors, %ld backward generations\n", mismatches,
           errors, backwards);

    for (int k = 0; k < g.versions; k++)
        free(g.yaml[k]);
    free(g.ctx);
    free(g.attrs);
    free(g.ids);
    free(g.want);
    int ok = mismatches == 0 && errors == 0 && backwards == 0 &&
             total == (long)g.threads * g.decisions && seen >= 2;
    if (!ok && seen < 2)
        fprintf(stderr, "concurrency: the workers saw only one plan version; nothing was "
                        "tested\n");
    free(w);
    return ok ? 0 : 1;
}
