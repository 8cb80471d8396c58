/*
 * bench_decide.c — what a decision costs next to the hash it is built on.
 *
 * Loops over the same ids, each repeated and timed; medians (and minima,
 * steadier on a busy machine) are reported:
 *   raw     XXH3-64 of the id + multiply-shift: the floor for any decision
 *   idlist  rollout_decide, cohort = org_in list (hash set), unit org
 *   regex   rollout_decide, cohort = attr email matches '@example\.com$', unit
 *           user: literal text, so compared as bytes (docs/targeting.md)
 *   alts    the same with '@(corp|example)\.com$': literal alternatives,
 *           compared as bytes too (the value matches the second)
 *   dfa     the same with '@[a-z]+\.com$', which runs as a DFA
 *           (docs/targeting.md)
 *   pcre2   the same with '@(?:[a-z]+\.)+com$', which PCRE2's JIT runs (a
 *           quantified group is outside the DFA's subset)
 *   seed    rollout_decide on the seed plan at GA, all gates passed: three
 *           cohorts tried, an eight-step schedule walked (for context)
 *   batch   rollout_decide_ids on the id-list plan, all 4096 ids per call:
 *           per id (for context; the state and schedule are worked out once)
 *   bseed   the same on the seed plan at GA (what Python's decide_many runs):
 *           none of the ids is on the pilot list, so each is one hash and
 *           one length check against that list
 * Targets (issue 3): idlist <= 3x raw, regex <= 10x raw (every pattern case).
 *
 * Timings on a shared machine are noisy; instruction counts are not. Run
 * under callgrind; each case is its own function, so inclusive costs
 * separate them:
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out bench_decide --runs 1
 *   callgrind_annotate --inclusive=yes cg.out | grep case_
 * and divide each by the operations of the run plus the warm-up: with
 * --runs 1, "ops per run" + 4096 (208 896 at the default --reps 50). The
 * ratios of those counts to case_raw's are the figures to compare with the
 * targets. --uuid uses 36-byte ids instead of 8-byte ones. Figures
 * (RelWithDebInfo, GCC 12, x86-64), instructions per operation:
 *             raw  idlist  regex  alts  dfa  pcre2  seed  batch  bseed
 *   8 bytes    45     208    237   311  391    648   424     90     62
 *   36 bytes   74     280    271   345  439    699   458    153     95
 * By the clock the ratios differ (docs/performance.md): id-list 4.4x and
 * 2.75x, the automaton 9.5x and 5.1x, PCRE2 13x and 6.8x.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "rollout.h"
#include "bucket.h" /* xxhash.h, inlined */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N_IDS = 4096, N_ORGS = 1000 };

static char ids[N_IDS][48];
static size_t id_len[N_IDS];
static rollout_context ctx_org[N_IDS], ctx_email[N_IDS];
static rollout_attr email[N_IDS];
static char email_text[N_IDS][64];
static volatile uint64_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* noipa, not just noinline: case_regex and case_pcre2 have the same body,
 * and GCC would otherwise fold them into one function, mixing their costs
 * under one name in callgrind's output. */
#if defined(__GNUC__) && !defined(__clang__)
#  define NOINLINE __attribute__((noipa))
#elif defined(__GNUC__)
#  define NOINLINE __attribute__((noinline))
#else
#  define NOINLINE
#endif

NOINLINE static void case_raw(uint64_t seed, int reps)
{
    uint64_t acc = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N_IDS; i++)
            acc += rp_bucket_from_hash(XXH3_64bits_withSeed(ids[i], id_len[i], seed)) < 50000;
    sink += acc;
}

NOINLINE static void case_decide(const rollout_plan *p, int64_t now, const rollout_context *ctx,
                                 int reps)
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

NOINLINE static void case_idlist(const rollout_plan *p, int64_t now, int reps)
{
    case_decide(p, now, ctx_org, reps);
}

NOINLINE static void case_regex(const rollout_plan *p, int64_t now, int reps)
{
    case_decide(p, now, ctx_email, reps);
}

NOINLINE static void case_pcre2(const rollout_plan *p, int64_t now, int reps)
{
    case_decide(p, now, ctx_email, reps);
}

NOINLINE static void case_alts(const rollout_plan *p, int64_t now, int reps)
{
    case_decide(p, now, ctx_email, reps);
}

NOINLINE static void case_dfa(const rollout_plan *p, int64_t now, int reps)
{
    case_decide(p, now, ctx_email, reps);
}

static rollout_id batch_ids[N_IDS];

static void batch(const rollout_plan *p, const rollout_state *s, int64_t now, int reps)
{
    static unsigned char variants[N_IDS];
    uint64_t acc = 0;
    for (int r = 0; r < reps; r++) {
        rollout_decide_ids(p, s, now, NULL, ROLLOUT_UNIT_ORG, batch_ids, N_IDS, variants);
        acc += variants[r % N_IDS];
    }
    sink += acc;
}

NOINLINE static void case_batch(const rollout_plan *p, int64_t now, int reps)
{
    batch(p, NULL, now, reps);
}

NOINLINE static void case_bseed(const rollout_plan *p, const rollout_state *s, int64_t now,
                                int reps)
{
    batch(p, s, now, reps);
}

NOINLINE static void case_seed(const rollout_plan *p, const rollout_state *s, int64_t now,
                               int reps)
{
    uint64_t acc = 0;
    rollout_decision d;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N_IDS; i++) {
            rollout_decide(p, s, now, &ctx_org[i], &d);
            acc += d.variant;
        }
    sink += acc;
}

/* The seed plan started on time with every gate given GO when due. */
static rollout_state seed_state(const rollout_plan *p)
{
    rollout_state s;
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    rollout_error err;
    int64_t t0 = rollout_plan_start(p);
    static const int64_t due[] = {2 * 3600, 24 * 3600, 3 * 86400, 4 * 86400, 5 * 86400};
    rollout_state_init(p, &s);
    rollout_event ev = {.type = ROLLOUT_EVENT_START, .gate = -1};
    size_t n = ROLLOUT_MAX_ACTIONS;
    int rc = rollout_apply(p, &s, &ev, t0, &s, actions, &n, &err);
    for (int g = 0; !rc && g < rollout_plan_gate_count(p) && g < 5; g++) {
        ev = (rollout_event){.type = ROLLOUT_EVENT_GO, .gate = g, .role = 0, .override = 1};
        n = ROLLOUT_MAX_ACTIONS;
        rc = rollout_apply(p, &s, &ev, t0 + due[g], &s, actions, &n, &err);
    }
    if (rc) {
        fprintf(stderr, "bench: seed state: %s\n", err.message);
        exit(2);
    }
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Org number i as an id: "org-0042", or a UUID-shaped 36-byte id (what
 * many services use for orgs), derived from i so runs are repeatable. */
static size_t org_id(char *buf, size_t cap, int i, int uuid)
{
    if (!uuid)
        return (size_t)snprintf(buf, cap, "org-%04d", i);
    uint64_t a = (uint64_t)i * 0x9E3779B97F4A7C15u, b = a ^ (a >> 29) ^ 0xD6E8FEB86659FD93u;
    return (size_t)snprintf(buf, cap, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32),
                            (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
                            (unsigned)(b >> 52), (unsigned long long)(b & 0xffffffffffffu));
}

static rollout_plan *load(const char *yaml)
{
    rollout_plan *p = NULL;
    rollout_error err;
    if (rollout_plan_load_buffer(yaml, strlen(yaml), "bench", &p, &err)) {
        fprintf(stderr, "bench: %s\n", err.message);
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    int runs = 21, reps = 50, uuid = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--uuid"))
            uuid = 1;
        else {
            printf("usage: bench_decide [--runs N] [--reps N] [--uuid]\n"
                   "Times raw XXH3 bucketing against rollout_decide (id-list and regex\n"
                   "cohorts) over %d ids; each run loops --reps times over them. Ids are\n"
                   "org-NNNN (8 bytes), or with --uuid 36-byte UUIDs.\n",
                   N_IDS);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (runs < 1 || runs > 1001 || reps < 1)
        return 2;

    /* The org list: N_ORGS ids; requests come from orgs on it, so every
     * lookup is a hit followed by a bucket (the expensive path). */
    size_t cap = N_ORGS * 48 + 2048;
    char *yaml = malloc(cap);
    size_t off = (size_t)snprintf(yaml, cap,
                                  "format: 1\nid: bench\nsalt: bench-salt\n"
                                  "start: 2026-01-01T00:00:00Z\nversions: {stable: a, new: b}\n"
                                  "cohorts:\n  - id: orgs\n    match: {org_in: [");
    for (int i = 0; i < N_ORGS; i++) {
        off += (size_t)snprintf(yaml + off, cap - off, "%s", i ? ", " : "");
        off += org_id(yaml + off, cap - off, i, uuid);
    }
    snprintf(yaml + off, cap - off,
             "]}\nphases:\n  - id: p\n    cohort: orgs\n"
             "    steps: [{at: 0h, weight: 50%%, unit: org}]\n");
    rollout_plan *idlist = load(yaml);
    free(yaml);
    rollout_plan *regex = load(
        "format: 1\nid: bench\nsalt: bench-salt\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n  - id: staff\n    match: {attr: email, matches: '@example\\.com$'}\n"
        "phases:\n  - id: p\n    cohort: staff\n"
        "    steps: [{at: 0h, weight: 50%, unit: user}]\n");
    rollout_plan *pcre2 = load(
        "format: 1\nid: bench\nsalt: bench-salt\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n  - id: staff\n    match: {attr: email, matches: '@(?:[a-z]+\\.)+com$'}\n"
        "phases:\n  - id: p\n    cohort: staff\n"
        "    steps: [{at: 0h, weight: 50%, unit: user}]\n");
    rollout_plan *dfa = load(
        "format: 1\nid: bench\nsalt: bench-salt\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n  - id: staff\n    match: {attr: email, matches: '@[a-z]+\\.com$'}\n"
        "phases:\n  - id: p\n    cohort: staff\n"
        "    steps: [{at: 0h, weight: 50%, unit: user}]\n");
    rollout_plan *alts = load(
        "format: 1\nid: bench\nsalt: bench-salt\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "cohorts:\n  - id: staff\n    match: {attr: email, matches: '@(corp|example)\\.com$'}\n"
        "phases:\n  - id: p\n    cohort: staff\n"
        "    steps: [{at: 0h, weight: 50%, unit: user}]\n");
    int64_t now = rollout_plan_start(idlist) + 3600;
    size_t seed_len;
    const char *seed_yaml = rollout_seed_plan(&seed_len);
    rollout_plan *seed_plan = NULL;
    rollout_error err;
    if (rollout_plan_load_buffer(seed_yaml, seed_len, "<seed>", &seed_plan, &err)) {
        fprintf(stderr, "bench: %s\n", err.message);
        return 2;
    }
    rollout_state seed_s = seed_state(seed_plan);
    int64_t seed_now = rollout_plan_start(seed_plan) + 2 * 86400 + 3600;

    for (int i = 0; i < N_IDS; i++) {
        /* org ids for the id-list case: the same bytes the raw case hashes */
        id_len[i] = org_id(ids[i], sizeof ids[i], i % N_ORGS, uuid);
        memset(&ctx_org[i], 0, sizeof ctx_org[i]);
        ctx_org[i].org = ids[i];
        ctx_org[i].org_len = id_len[i];
        /* the regex case buckets the same strings as user ids */
        snprintf(email_text[i], sizeof email_text[i], "%.*s@example.com", (int)id_len[i], ids[i]);
        email[i] = (rollout_attr){"email", 5, email_text[i], strlen(email_text[i])};
        memset(&ctx_email[i], 0, sizeof ctx_email[i]);
        ctx_email[i].user = ids[i];
        ctx_email[i].user_len = id_len[i];
        ctx_email[i].attrs = &email[i];
        ctx_email[i].n_attrs = 1;
    }
    for (int i = 0; i < N_IDS; i++)
        batch_ids[i] = (rollout_id){ids[i], id_len[i]};
    uint64_t seed = rp_hash_seed("bench-salt", 10);

    /* sanity: the cases do what they claim */
    rollout_decision d;
    rollout_decide(idlist, NULL, now, &ctx_org[1], &d);
    if (d.cohort != 0 || d.unit != ROLLOUT_UNIT_ORG ||
        (d.reason != ROLLOUT_REASON_IN_ROLLOUT && d.reason != ROLLOUT_REASON_OUT_OF_ROLLOUT))
        return fprintf(stderr, "bench: id-list case does not bucket (%s)\n",
                       rollout_reason_name(d.reason)), 1;
    rollout_decide(regex, NULL, now, &ctx_email[1], &d);
    if (d.cohort != 0 || d.unit != ROLLOUT_UNIT_USER)
        return fprintf(stderr, "bench: regex case does not bucket (%s)\n",
                       rollout_reason_name(d.reason)), 1;
    rollout_decide(pcre2, NULL, now, &ctx_email[1], &d);
    if (d.cohort != 0 || d.unit != ROLLOUT_UNIT_USER)
        return fprintf(stderr, "bench: pcre2 case does not bucket (%s)\n",
                       rollout_reason_name(d.reason)), 1;
    rollout_decide(dfa, NULL, now, &ctx_email[1], &d);
    if (d.cohort != 0 || d.unit != ROLLOUT_UNIT_USER)
        return fprintf(stderr, "bench: DFA case does not bucket (%s)\n",
                       rollout_reason_name(d.reason)), 1;
    rollout_decide(alts, NULL, now, &ctx_email[1], &d);
    if (d.cohort != 0 || d.unit != ROLLOUT_UNIT_USER)
        return fprintf(stderr, "bench: alternatives case does not bucket (%s)\n",
                       rollout_reason_name(d.reason)), 1;

    double *t_raw = calloc((size_t)runs, sizeof *t_raw);
    double *t_idl = calloc((size_t)runs, sizeof *t_idl);
    double *t_rx = calloc((size_t)runs, sizeof *t_rx);
    double *t_seed = calloc((size_t)runs, sizeof *t_seed);
    double *t_pcre = calloc((size_t)runs, sizeof *t_pcre);
    double *t_batch = calloc((size_t)runs, sizeof *t_batch);
    double *t_bseed = calloc((size_t)runs, sizeof *t_bseed);
    double *t_alts = calloc((size_t)runs, sizeof *t_alts);
    double *t_dfa = calloc((size_t)runs, sizeof *t_dfa);
    double ops = (double)N_IDS * reps;
    /* interleaved, so frequency changes and noise hit all three alike */
    case_raw(seed, 1);
    case_idlist(idlist, now, 1);
    case_regex(regex, now, 1);
    case_seed(seed_plan, &seed_s, seed_now, 1);
    case_pcre2(pcre2, now, 1);
    case_batch(idlist, now, 1);
    case_bseed(seed_plan, &seed_s, seed_now, 1);
    case_alts(alts, now, 1);
    case_dfa(dfa, now, 1);
    for (int r = 0; r < runs; r++) {
        double t0 = now_ns();
        case_raw(seed, reps);
        double t1 = now_ns();
        case_idlist(idlist, now, reps);
        double t2 = now_ns();
        case_regex(regex, now, reps);
        double t3 = now_ns();
        case_seed(seed_plan, &seed_s, seed_now, reps);
        double t4 = now_ns();
        case_pcre2(pcre2, now, reps);
        double t5 = now_ns();
        case_batch(idlist, now, reps);
        double t6 = now_ns();
        case_bseed(seed_plan, &seed_s, seed_now, reps);
        double t7 = now_ns();
        t_bseed[r] = (t7 - t6) / ops;
        case_alts(alts, now, reps);
        double t8 = now_ns();
        t_alts[r] = (t8 - t7) / ops;
        case_dfa(dfa, now, reps);
        t_dfa[r] = (now_ns() - t8) / ops;
        t_raw[r] = (t1 - t0) / ops;
        t_idl[r] = (t2 - t1) / ops;
        t_rx[r] = (t3 - t2) / ops;
        t_seed[r] = (t4 - t3) / ops;
        t_pcre[r] = (t5 - t4) / ops;
        t_batch[r] = (t6 - t5) / ops;
    }
    qsort(t_raw, (size_t)runs, sizeof *t_raw, cmp_double);
    qsort(t_idl, (size_t)runs, sizeof *t_idl, cmp_double);
    qsort(t_rx, (size_t)runs, sizeof *t_rx, cmp_double);
    qsort(t_seed, (size_t)runs, sizeof *t_seed, cmp_double);
    qsort(t_pcre, (size_t)runs, sizeof *t_pcre, cmp_double);
    qsort(t_batch, (size_t)runs, sizeof *t_batch, cmp_double);
    qsort(t_bseed, (size_t)runs, sizeof *t_bseed, cmp_double);
    qsort(t_alts, (size_t)runs, sizeof *t_alts, cmp_double);
    qsort(t_dfa, (size_t)runs, sizeof *t_dfa, cmp_double);
    int m = runs / 2;
    printf("ids %d (%zu bytes each), ops per run %.0f, runs %d\n", N_IDS, id_len[0], ops, runs);
    printf("                              median      min   median/raw\n");
    printf("  raw XXH3 bucket          %7.2f ns %6.2f ns\n", t_raw[m], t_raw[0]);
    printf("  decide, id-list cohort   %7.2f ns %6.2f ns   %5.2fx (target <= 3x)\n", t_idl[m],
           t_idl[0], t_idl[m] / t_raw[m]);
    printf("  decide, regex (literal)  %7.2f ns %6.2f ns   %5.2fx (target <= 10x)\n", t_rx[m],
           t_rx[0], t_rx[m] / t_raw[m]);
    printf("  decide, regex (alts)     %7.2f ns %6.2f ns   %5.2fx (target <= 10x)\n", t_alts[m],
           t_alts[0], t_alts[m] / t_raw[m]);
    printf("  decide, regex (DFA)      %7.2f ns %6.2f ns   %5.2fx (target <= 10x)\n", t_dfa[m],
           t_dfa[0], t_dfa[m] / t_raw[m]);
    printf("  decide, regex (PCRE2)    %7.2f ns %6.2f ns   %5.2fx (target <= 10x)\n", t_pcre[m],
           t_pcre[0], t_pcre[m] / t_raw[m]);
    printf("  decide, seed plan at GA  %7.2f ns %6.2f ns   %5.2fx\n", t_seed[m], t_seed[0],
           t_seed[m] / t_raw[m]);
    printf("  decide_ids, id-list, /id %7.2f ns %6.2f ns   %5.2fx\n", t_batch[m], t_batch[0],
           t_batch[m] / t_raw[m]);
    printf("  decide_ids, seed, /id    %7.2f ns %6.2f ns   %5.2fx\n", t_bseed[m], t_bseed[0],
           t_bseed[m] / t_raw[m]);
    free(t_raw);
    free(t_idl);
    free(t_rx);
    free(t_seed);
    free(t_pcre);
    free(t_batch);
    free(t_bseed);
    free(t_alts);
    free(t_dfa);
    rollout_plan_unref(seed_plan);
    rollout_plan_unref(idlist);
    rollout_plan_unref(regex);
    rollout_plan_unref(pcre2);
    rollout_plan_unref(alts);
    rollout_plan_unref(dfa);
    return 0;
}
