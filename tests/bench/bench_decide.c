/* SPDX-License-Identifier: MIT */
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
 *   groups  the same with '@(?:[a-z]+\.)+com$', a quantified group, which
 *           runs as a DFA too
 *   pcre2   the same with '\bexample\.com$', which PCRE2's JIT runs (a word
 *           boundary is outside the DFA's subset)
 *   seed    rollout_decide on the seed plan at GA, all gates passed: three
 *           cohorts tried, an eight-step schedule walked (for context)
 *   pilot   the same for a pilot org (acme-corp, globex) with the id as its
 *           user: the internal cohort's rules run first (no email or role:
 *           both miss), then the org is looked up on the pilot list and the
 *           user bucketed, two ids hashed
 *   batch   rollout_decide_ids on the id-list plan, all 4096 ids per call:
 *           per id (for context; the state and schedule are worked out once)
 *   bseed   the same on the seed plan at GA: none of the ids is on the
 *           pilot list, so each is one hash and one length check against it
 *   prep    rollout_batch_variant per id on the id-list plan, the batch
 *           prepared once per pass over the ids (for context)
 *   pseed   the same on the seed plan at GA (what Python's decide_many runs)
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
 * targets. --bytes 17 uses 17-byte ids, --bytes 36 (or --uuid) 36-byte
 * UUIDs, instead of 8-byte ones. Figures
 * (RelWithDebInfo, GCC 12, x86-64), instructions per operation:
 *            raw idlist regex alts dfa groups pcre2 seed batch bseed prep pseed
 *   8 bytes   45   211   237  311 380   380   582  433   87    57  112    66
 *   36 bytes  74   285   271  345 428   428   639  467  157    90  194   123
 * (docs/performance.md has the current figures, with the pilot case and
 * 17-byte ids.) Timed, each case is measured in CPU time of this thread
 * (CLOCK_THREAD_CPUTIME_ID; --wall for the wall clock), which a busy
 * machine disturbs far less than the wall clock: a preempted thread's CPU
 * clock stops. The load average is printed before and after the runs, so a
 * figure always comes with how busy the machine was.
 */
#define _DEFAULT_SOURCE /* clock_gettime, getloadavg */

#include "rollout.h"
#include "bucket.h" /* xxhash.h, inlined */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N_IDS = 4096, N_ORGS = 1000 };

static char ids[N_IDS][48];
static size_t id_len[N_IDS];
static rollout_context ctx_org[N_IDS], ctx_email[N_IDS], ctx_pilot[N_IDS];
static rollout_attr email[N_IDS];
static char email_text[N_IDS][64];
static volatile uint64_t sink;

static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void print_load(const char *when)
{
    double la[3];
    if (getloadavg(la, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f\n", when, la[0], la[1], la[2]);
    else
        printf("load average %s: unknown\n", when);
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

/* One function per case, each only a call of case_decide, so that
 * callgrind's inclusive cost of case_NAME is that case's alone. */
#define DECIDE_CASE(name, contexts)                                                          \
    NOINLINE static void case_##name(const rollout_plan *p, int64_t now, int reps)          \
    {                                                                                      \
        case_decide(p, now, contexts, reps);                                               \
    }
DECIDE_CASE(idlist, ctx_org)
DECIDE_CASE(regex, ctx_email)
DECIDE_CASE(alts, ctx_email)
DECIDE_CASE(dfa, ctx_email)
DECIDE_CASE(groups, ctx_email)
DECIDE_CASE(pcre2, ctx_email)

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

/* A batch prepared once per pass (as a gateway would once a second), then
 * asked id by id: what a caller that meets its ids one at a time pays. */
static void prepared(const rollout_plan *p, const rollout_state *s, int64_t now, int reps)
{
    uint64_t acc = 0;
    for (int r = 0; r < reps; r++) {
        rollout_batch b;
        rollout_batch_prepare(p, s, now, NULL, ROLLOUT_UNIT_ORG, &b);
        for (int i = 0; i < N_IDS; i++)
            acc += (uint64_t)rollout_batch_variant(&b, ids[i], id_len[i]);
    }
    sink += acc;
}

NOINLINE static void case_prep(const rollout_plan *p, int64_t now, int reps)
{
    prepared(p, NULL, now, reps);
}

NOINLINE static void case_pseed(const rollout_plan *p, const rollout_state *s, int64_t now,
                                int reps)
{
    prepared(p, s, now, reps);
}

static void seed_decide(const rollout_plan *p, const rollout_state *s, int64_t now,
                        const rollout_context *ctx, int reps)
{
    uint64_t acc = 0;
    rollout_decision d;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < N_IDS; i++) {
            rollout_decide(p, s, now, &ctx[i], &d);
            acc += d.variant;
        }
    sink += acc;
}

NOINLINE static void case_seed(const rollout_plan *p, const rollout_state *s, int64_t now,
                               int reps)
{
    seed_decide(p, s, now, ctx_org, reps);
}

NOINLINE static void case_pilot(const rollout_plan *p, const rollout_state *s, int64_t now,
                                int reps)
{
    seed_decide(p, s, now, ctx_pilot, reps);
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
    /* each gate the regular way: whoever of the roles approves it, a PASS, a GO */
    for (int g = 0; !rc && g < rollout_plan_gate_count(p) && g < 5; g++) {
        for (int r = 0; r < rollout_plan_role_count(p); r++) {
            ev = (rollout_event){.type = ROLLOUT_EVENT_APPROVE, .gate = g, .role = r};
            n = ROLLOUT_MAX_ACTIONS;
            rollout_apply(p, &s, &ev, t0 + due[g], &s, actions, &n, NULL); /* non-approvers: refused */
        }
        ev = (rollout_event){.type = ROLLOUT_EVENT_VERDICT, .verdict = ROLLOUT_VERDICT_PASS};
        n = ROLLOUT_MAX_ACTIONS;
        rc = rollout_apply(p, &s, &ev, t0 + due[g], &s, actions, &n, &err);
        ev = (rollout_event){.type = ROLLOUT_EVENT_GO, .gate = g};
        n = ROLLOUT_MAX_ACTIONS;
        if (!rc)
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

/* Org number i as an id of `bytes` bytes: "org-0042" (8), "org-0000000000042"
 * (17), or a UUID-shaped 36-byte id (what many services use for orgs),
 * derived from i so runs are repeatable. */
static size_t org_id(char *buf, size_t cap, int i, int bytes)
{
    if (bytes != 36)
        return (size_t)snprintf(buf, cap, "org-%0*d", bytes - 4, i);
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

/* One cohort matching attribute email against pattern, bucketing by user. */
static rollout_plan *pattern_plan(const char *pattern)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "format: 1\nid: bench\nsalt: bench-salt\nstart: 2026-01-01T00:00:00Z\n"
             "versions: {stable: a, new: b}\n"
             "cohorts:\n  - id: staff\n    match: {attr: email, matches: '%s'}\n"
             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
             "phases:\n  - id: p\n    cohort: staff\n"
             "    steps: [{at: 0h, weight: 50%%, unit: user}]\n",
             pattern);
    return load(yaml);
}

/* Whether the plan places ctx in its first cohort and buckets it by unit:
 * a case that measured anything else would measure the wrong thing. */
static bool buckets(const rollout_plan *p, int64_t now, const rollout_context *ctx, int unit,
                    const char *name)
{
    rollout_decision d;
    rollout_decide(p, NULL, now, ctx, &d);
    if (d.cohort == 0 && d.unit == unit &&
        (d.reason == ROLLOUT_REASON_IN_ROLLOUT || d.reason == ROLLOUT_REASON_OUT_OF_ROLLOUT))
        return true;
    fprintf(stderr, "bench: the %s case does not bucket (%s)\n", name,
            rollout_reason_name(d.reason));
    return false;
}

int main(int argc, char **argv)
{
    int runs = 21, reps = 50, uuid = 8;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--uuid"))
            uuid = 36;
        else if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
            uuid = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--wall"))
            bench_clock = CLOCK_MONOTONIC;
        else {
            printf("usage: bench_decide [--runs N] [--reps N] [--bytes 8..40] [--uuid] [--wall]\n"
                   "Times raw XXH3 bucketing against rollout_decide (id-list and regex\n"
                   "cohorts) over %d ids; each run loops --reps times over them. Ids are\n"
                   "org-NNNN (8 bytes), org- and --bytes - 4 digits, or with --uuid\n"
                   "(--bytes 36) UUIDs. CPU time of the thread, or --wall clock time.\n",
                   N_IDS);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (runs < 1 || runs > 1001 || reps < 1 || uuid < 8 || uuid > 40)
        return 2;
    print_load("before");

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
             "]}\n"
             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
             "phases:\n  - id: p\n    cohort: orgs\n"
             "    steps: [{at: 0h, weight: 50%%, unit: org}]\n");
    rollout_plan *idlist = load(yaml);
    free(yaml);
    rollout_plan *regex = pattern_plan("@example\\.com$");
    rollout_plan *alts = pattern_plan("@(corp|example)\\.com$");
    rollout_plan *dfa = pattern_plan("@[a-z]+\\.com$");
    rollout_plan *groups = pattern_plan("@(?:[a-z]+\\.)+com$");
    rollout_plan *pcre2 = pattern_plan("\\bexample\\.com$");
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
        /* a pilot org, the id as its user (the pilot buckets by user) */
        memset(&ctx_pilot[i], 0, sizeof ctx_pilot[i]);
        ctx_pilot[i].org = i % 2 ? "globex" : "acme-corp";
        ctx_pilot[i].org_len = strlen(ctx_pilot[i].org);
        ctx_pilot[i].user = ids[i];
        ctx_pilot[i].user_len = id_len[i];
    }
    for (int i = 0; i < N_IDS; i++)
        batch_ids[i] = (rollout_id){ids[i], id_len[i]};
    uint64_t seed = rp_hash_seed("bench-salt", 10);

    /* sanity: the cases do what they claim */
    if (!buckets(idlist, now, &ctx_org[1], ROLLOUT_UNIT_ORG, "id-list") ||
        !buckets(regex, now, &ctx_email[1], ROLLOUT_UNIT_USER, "literal") ||
        !buckets(alts, now, &ctx_email[1], ROLLOUT_UNIT_USER, "alternatives") ||
        !buckets(dfa, now, &ctx_email[1], ROLLOUT_UNIT_USER, "DFA") ||
        !buckets(groups, now, &ctx_email[1], ROLLOUT_UNIT_USER, "group") ||
        !buckets(pcre2, now, &ctx_email[1], ROLLOUT_UNIT_USER, "PCRE2"))
        return 1;
    rollout_decision pd;
    rollout_decide(seed_plan, &seed_s, seed_now, &ctx_pilot[1], &pd);
    if (pd.cohort != 1 || pd.unit != ROLLOUT_UNIT_USER) {
        fprintf(stderr, "bench: the pilot case is not the pilot cohort by user\n");
        return 1;
    }

    /* the cases in the order they run and print; RAW is the reference */
    enum { RAW, IDLIST, REGEX, ALTS, DFA, GROUPS, PCRE2, SEED, PILOT, BATCH, BSEED, PREP, PSEED,
           N_CASES };
    static const char *const label[N_CASES] = {
        "raw XXH3 bucket         ", "decide, id-list cohort  ", "decide, regex (literal) ",
        "decide, regex (alts)    ", "decide, regex (DFA)     ", "decide, regex (groups)  ",
        "decide, regex (PCRE2)   ",
        "decide, seed plan at GA ", "decide, seed, pilot org ", "decide_ids, id-list, /id", "decide_ids, seed, /id   ",
        "batch_variant, id-list  ", "batch_variant, seed     ",
    };
    static const char *const target[N_CASES] = {
        [IDLIST] = " (target <= 3x)", [REGEX] = " (target <= 10x)", [ALTS] = " (target <= 10x)",
        [DFA] = " (target <= 10x)", [GROUPS] = " (target <= 10x)", [PCRE2] = " (target <= 10x)",
        [PILOT] = " (id lists: <= 3x)",
    };
    double *t[N_CASES];
    for (int c = 0; c < N_CASES; c++)
        t[c] = calloc((size_t)runs, sizeof *t[c]);
    double ops = (double)N_IDS * reps;
    /* a warm-up, then rounds in which every case takes its turn, so
     * frequency changes and noise hit them all alike */
    for (int r = -1; r < runs; r++) {
        int n = r < 0 ? 1 : reps;
        for (int c = 0; c < N_CASES; c++) {
            double t0 = now_ns();
            switch (c) {
            case RAW: case_raw(seed, n); break;
            case IDLIST: case_idlist(idlist, now, n); break;
            case REGEX: case_regex(regex, now, n); break;
            case ALTS: case_alts(alts, now, n); break;
            case DFA: case_dfa(dfa, now, n); break;
            case GROUPS: case_groups(groups, now, n); break;
            case PCRE2: case_pcre2(pcre2, now, n); break;
            case SEED: case_seed(seed_plan, &seed_s, seed_now, n); break;
            case PILOT: case_pilot(seed_plan, &seed_s, seed_now, n); break;
            case BATCH: case_batch(idlist, now, n); break;
            case BSEED: case_bseed(seed_plan, &seed_s, seed_now, n); break;
            case PREP: case_prep(idlist, now, n); break;
            case PSEED: case_pseed(seed_plan, &seed_s, seed_now, n); break;
            }
            if (r >= 0)
                t[c][r] = (now_ns() - t0) / ops;
        }
    }
    int m = runs / 2;
    for (int c = 0; c < N_CASES; c++)
        qsort(t[c], (size_t)runs, sizeof *t[c], cmp_double);
    printf("ids %d (%zu bytes each), ops per run %.0f, runs %d, %s\n", N_IDS, id_len[0], ops,
           runs, bench_clock == CLOCK_MONOTONIC ? "wall clock" : "thread CPU time");
    printf("                              median      min   median/raw  min/raw\n");
    for (int c = 0; c < N_CASES; c++) {
        printf("  %s %7.2f ns %6.2f ns", label[c], t[c][m], t[c][0]);
        if (c != RAW)
            printf("   %5.2fx     %5.2fx%s", t[c][m] / t[RAW][m], t[c][0] / t[RAW][0],
                   target[c] ? target[c] : "");
        printf("\n");
    }
    print_load("after");
    for (int c = 0; c < N_CASES; c++)
        free(t[c]);
    rollout_plan_unref(seed_plan);
    rollout_plan_unref(idlist);
    rollout_plan_unref(regex);
    rollout_plan_unref(alts);
    rollout_plan_unref(dfa);
    rollout_plan_unref(groups);
    rollout_plan_unref(pcre2);
    return 0;
}
