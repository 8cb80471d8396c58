/* SPDX-License-Identifier: MIT */
/*
 * bench_compat.c — rollout_decide in each bucket function against the same
 * plan under XXH3 (docs/performance.md, "Compatibility bucket functions").
 *
 * One plan (one cohort, everyone; one step at 25 % by user), loaded once per
 * mode with only its `bucketing:` section changed, decided for 4096 user
 * ids: "user-NNNNNN" (11 bytes) or, with --uuid, 36-byte UUIDs. Each mode is
 * timed (CPU time of this thread, median and minimum of --runs passes of
 * --reps rounds) and printed with its ratio to xxh3. Each mode is also its
 * own function, case_MODE, so that under callgrind
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out bench_compat --runs 1 --reps 10
 *   callgrind_annotate --inclusive=yes cg.out | grep case_
 * gives its instructions; divide by (reps + 1) * 4096 decisions (the +1 is
 * the warm-up round).
 */
#define _DEFAULT_SOURCE /* clock_gettime */

#include "rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N_IDS = 4096 };

static char ids[N_IDS][48];
static rollout_context ctx[N_IDS];
static volatile uint64_t sink;

#if defined(__GNUC__) && !defined(__clang__)
#  define NOINLINE __attribute__((noipa))
#else
#  define NOINLINE __attribute__((noinline))
#endif

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void decide_all(const rollout_plan *p, int64_t now, int reps)
{
    uint64_t acc = 0;
    rollout_decision d;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N_IDS; i++) {
            rollout_decide(p, NULL, now, &ctx[i], &d);
            acc += d.variant;
        }
    sink += acc;
}

#define CASE(name)                                                                         \
    NOINLINE static void case_##name(const rollout_plan *p, int64_t now, int reps)        \
    {                                                                                      \
        decide_all(p, now, reps);                                                          \
    }
CASE(xxh3)
CASE(nginx_split_clients)
CASE(unleash)
CASE(growthbook_v1)
CASE(growthbook_v2)
CASE(launchdarkly)
CASE(flagd)

static const struct {
    const char *name, *section;
    void (*run)(const rollout_plan *, int64_t, int);
} modes[] = {
    {"xxh3", "", case_xxh3},
    {"nginx_split_clients", "bucketing: {hash: nginx_split_clients, key: \"{id}AAA\"}\n",
     case_nginx_split_clients},
    {"unleash", "bucketing: {hash: unleash, key: checkout-v2}\n", case_unleash},
    {"growthbook_v1", "bucketing: {hash: growthbook_v1, key: checkout-v2}\n", case_growthbook_v1},
    {"growthbook_v2", "bucketing: {hash: growthbook_v2, key: checkout-v2}\n", case_growthbook_v2},
    {"launchdarkly", "bucketing: {hash: launchdarkly, key: checkout-v2.7c3f1a9e}\n",
     case_launchdarkly},
    {"flagd", "bucketing: {hash: flagd, key: checkout-v2}\n", case_flagd},
};

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int runs = 15, reps = 50;
    int uuid = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--uuid"))
            uuid = 1;
        else {
            fprintf(stderr, "usage: bench_compat [--runs N] [--reps N] [--uuid]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 1000 || reps < 1) {
        fprintf(stderr, "bench_compat: --runs 1..1000, --reps >= 1\n");
        return 2;
    }
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N_IDS; i++) {
        if (uuid) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t y = x * 0x9e3779b97f4a7c15ull;
            snprintf(ids[i], sizeof ids[i], "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(x >> 32),
                     (unsigned)(x & 0xffff), (unsigned)(y >> 52), (unsigned)(y >> 40 & 0xfff),
                     (unsigned long long)(y & 0xffffffffffffull));
        } else {
            snprintf(ids[i], sizeof ids[i], "user-%06d", i * 7919 % 1000000);
        }
        ctx[i] = (rollout_context){.user = ids[i], .user_len = strlen(ids[i])};
    }
    static const char base[] =
        "format: 1\nid: bench\nsalt: s1\nstart: 2026-01-01T00:00:00Z\n%s"
        "versions: {stable: a, new: b}\ncohorts: [{id: all, match: {everyone: true}}]\n"
        "rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}\n"
        "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 25%%, unit: user}]}]\n";
    int64_t now = 1767312000; /* 2026-01-02 */
    printf("rollout_decide, one cohort, 25 %% by user, %s ids; ns per decision\n",
           uuid ? "36-byte UUID" : "11-byte");
    printf("%-20s %8s %8s %8s\n", "mode", "median", "min", "x xxh3");
    double base_med = 0;
    double *t = calloc((size_t)runs, sizeof *t);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char text[1024];
        snprintf(text, sizeof text, base, modes[m].section);
        rollout_plan *p;
        rollout_error err;
        if (rollout_plan_load_buffer(text, strlen(text), "bench", &p, &err)) {
            fprintf(stderr, "bench_compat: %s\n", err.message);
            return 1;
        }
        modes[m].run(p, now, 1); /* warm-up */
        for (int r = 0; r < runs; r++) {
            double t0 = now_ns();
            modes[m].run(p, now, reps);
            t[r] = (now_ns() - t0) / ((double)reps * N_IDS);
        }
        qsort(t, (size_t)runs, sizeof *t, cmp);
        double med = t[runs / 2];
        if (m == 0)
            base_med = med;
        printf("%-20s %8.1f %8.1f %8.2f\n", modes[m].name, med, t[0], med / base_med);
        rollout_plan_unref(p);
    }
    free(t);
    return 0;
}
