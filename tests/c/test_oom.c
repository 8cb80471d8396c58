/* SPDX-License-Identifier: MIT */
/*
 * test_oom.c — every allocation failure is survived: NOMEM (or success),
 * nothing leaked, no half-built object handed out.
 *
 * This executable defines malloc, calloc, realloc and free itself, so every
 * allocation of the process comes through here, libyaml's and libpcre2's
 * included (they allocate with the C allocator); the real allocator is found
 * with dlsym(RTLD_NEXT) (under ASan it is ASan's, under valgrind valgrind's).
 * Within a measured call, on the calling thread only, the hook counts
 * allocation calls and fails the Nth; a live count (allocations minus frees
 * of this thread) must come back to where it started.
 *
 * Each operation is run with N = 1, 2, ... until a run completes without
 * reaching N, in two modes: only the Nth allocation fails (the code must
 * check every result and unwind), and every allocation from the Nth on
 * fails (the unwinding itself must not need memory). Each suite prints how
 * many failure points it exercised; the totals are in docs/security.md.
 *
 * Its own executable, like test_decide_alloc: the interposition affects
 * everything linked with it.
 */
#define _GNU_SOURCE /* RTLD_NEXT */

#include "real_alloc.h"
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- the hook ----------------------------------------------------------- */

/* volatile: malloc is a builtin the compiler would otherwise reason about
 * across the armed window */
static _Thread_local volatile int armed;
static _Thread_local volatile long calls;      /* allocation calls while armed */
static _Thread_local volatile long fail_at;    /* 1-based call to fail; 0 never */
static _Thread_local volatile int fail_after;  /* fail every call from fail_at on */
static _Thread_local volatile long failed;     /* calls failed on purpose */
static _Thread_local volatile long live;       /* allocations - frees while armed */

/* Whether this allocation call is to fail. */
static int should_fail(void)
{
    if (!armed)
        return 0;
    long n = ++calls;
    if (fail_at && (n == fail_at || (fail_after && n > fail_at))) {
        failed++;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    resolve();
    if (should_fail())
        return NULL;
    void *p = real_malloc ? real_malloc(n) : boot_alloc(n);
    if (p && armed)
        live++;
    return p;
}

void *calloc(size_t n, size_t size)
{
    resolve();
    if (should_fail())
        return NULL;
    void *p = real_calloc ? real_calloc(n, size) : boot_calloc(n, size);
    if (p && armed)
        live++;
    return p;
}

void *realloc(void *old, size_t n)
{
    resolve();
    if (should_fail())
        return NULL; /* old stays valid, as with a real failure */
    void *p = real_realloc(old, n);
    if (armed) {
        if (!old && p)
            live++;
        else if (old && !p && n == 0)
            live--;
    }
    return p;
}

void free(void *p)
{
    if (!p || is_boot(p))
        return;
    resolve();
    if (armed)
        live--;
    real_free(p);
}

/* libyaml copies strings with strdup. Under ASan, strdup is ASan's own and
 * allocates without calling malloc, so its blocks would be freed here
 * without having been counted: route it through the malloc above. */
char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- the driver --------------------------------------------------------- */

/* One run of an operation under test: returns its rollout_code, and sets
 * *built to whatever it handed out (freed by the runner). */
typedef int (*op_fn)(void *arg, void **built);
typedef void (*free_fn)(void *built);

typedef struct op_result {
    long points;     /* runs in which an allocation failed */
    long nomem;      /* ... and the operation returned NOMEM */
    long tolerated;  /* ... and the operation still succeeded (a fallback) */
    long allocations;/* allocation calls of a run without failures */
} op_result;

static op_result exercise(const char *name, op_fn op, free_fn release, void *arg)
{
    op_result res = {0, 0, 0, 0};
    for (int mode = 0; mode < 2; mode++) {
        for (long n = 1;; n++) {
            cr_assert(n < 1000000, "%s: no end in sight", name);
            void *built = (void *)1;
            calls = failed = live = 0;
            fail_at = n;
            fail_after = mode;
            armed = 1;
            int rc = op(arg, &built);
            armed = 0;
            long leaked = live;
            if (!failed) {
                /* the run got past its last allocation: done */
                cr_assert_eq(rc, ROLLOUT_OK, "%s: %s without a failed allocation", name,
                             rollout_code_name(rc));
                if (mode == 0)
                    res.allocations = calls;
                if (release && built)
                    release(built);
                break;
            }
            res.points++;
            if (rc == ROLLOUT_OK) {
                /* a failure the operation could absorb (PCRE2's JIT compiler
                 * falls back to the interpreter); what it built must work */
                res.tolerated++;
                cr_assert(built != NULL, "%s: OK without a result", name);
                if (release && built != (void *)1)
                    release(built);
                continue;
            }
            res.nomem++;
            cr_assert_eq(rc, ROLLOUT_ERR_NOMEM, "%s: allocation %ld failed (mode %d) and it "
                         "returned %s", name, n, mode, rollout_code_name(rc));
            cr_assert(built == NULL, "%s: allocation %ld failed and *out is not NULL", name, n);
            cr_assert_eq(leaked, 0, "%s: allocation %ld failed (mode %d): %ld allocations "
                         "leaked", name, n, mode, leaked);
        }
    }
    cr_assert(res.points > 0, "%s allocated nothing: the hook is not in place", name);
    printf("test_oom: %-28s %4ld allocations, %5ld failure points (%ld NOMEM, %ld absorbed)\n",
           name, res.allocations, res.points, res.nomem, res.tolerated);
    fflush(stdout);
    return res;
}

/* ---- operations --------------------------------------------------------- */

typedef struct text_arg {
    const char *text;
    size_t len;
    uint64_t fingerprint;   /* plans: what a load without failures gives */
} text_arg;

static int op_plan_buffer(void *arg, void **built)
{
    text_arg *t = arg;
    rollout_plan *p = (rollout_plan *)1;
    rollout_error err;
    int rc = rollout_plan_load_buffer(t->text, t->len, "oom.yaml", &p, &err);
    if (rc)
        cr_assert_eq(err.code, rc, "err.code disagrees");
    /* a load that absorbed a failure (PCRE2 JIT -> interpreter) must still
     * be the same plan */
    if (!rc && t->fingerprint)
        cr_assert_eq(rollout_plan_fingerprint(p), t->fingerprint, "another plan was built");
    *built = p;
    return rc;
}

static uint64_t fingerprint_of(const char *text, size_t len)
{
    rollout_plan *p = t_plan(text);
    (void)len;
    uint64_t f = rollout_plan_fingerprint(p);
    rollout_plan_unref(p);
    return f;
}

static int op_plan_file(void *arg, void **built)
{
    rollout_plan *p = (rollout_plan *)1;
    int rc = rollout_plan_load_file(arg, &p, NULL);
    *built = p;
    return rc;
}

static void free_plan(void *p)
{
    rollout_plan_unref(p);
}

static int op_metrics_buffer(void *arg, void **built)
{
    text_arg *t = arg;
    rollout_metrics *m = (rollout_metrics *)1;
    rollout_error err;
    int rc = rollout_metrics_load_buffer(t->text, t->len, "oom.yaml", &m, &err);
    *built = m;
    return rc;
}

static void free_metrics(void *m)
{
    rollout_metrics_free(m);
}

static int op_metrics_file(void *arg, void **built)
{
    rollout_metrics *m = (rollout_metrics *)1;
    int rc = rollout_metrics_load_file(arg, &m, NULL);
    *built = m;
    return rc;
}

/* A plan with something for every allocating part of the loader: patterns
 * (PCRE2 compile, JIT, match contexts), hashed id lists, criteria of every
 * form, windows, freezes, rollback and communications. */
static const char patterns_yaml[] =
    "format: 1\n"
    "id: oom\n"
    "salt: oom-salt\n"
    "start: 2026-02-28T09:00:00Z\n"
    "versions: {stable: a, new: b}\n"
    "roles: {lead: Lead, sre: SRE}\n"
    "smoke_tests: [{id: login}, {id: pay}]\n"
    "criteria:\n"
    "  gate:\n"
    "    - {id: crit, metric: critical_errors, must_be_zero: true, rollback: true}\n"
    "    - {id: smoke, smoke_tests: all}\n"
    "    - {id: err, metric: error_rate, max: 0.5%, or_baseline_plus: 10%}\n"
    "    - {id: p95, metric: latency_p95, test: mann_whitney, max_baseline_plus: 10%}\n"
    "cohorts:\n"
    "  - id: staff\n"
    "    match:\n"
    "      any:\n"
    "        - {attr: email, matches: '@(example|corp)\\.com$'}\n"
    "        - {attr: ua, matches: '^Mozilla/\\d+\\.\\d+ \\(.*\\)$'}\n"
    "        - not: {attr: region, matches: '^(eu|us)-[a-z]+-\\d$'}\n"
    "  - id: pilot\n"
    "    match: {org_in: [o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12]}\n"
    "  - id: rest\n"
    "    match: {everyone: true}\n"
    "phases:\n"
    "  - id: canary\n"
    "    cohort: staff\n"
    "    steps:\n"
    "      - {at: 0, weight: 10%, unit: user}\n"
    "      - at: 1h\n"
    "        weight: 100%\n"
    "        unit: user\n"
    "        gate: {id: g1, at: 2h, approvers: [lead], criteria: gate}\n"
    "  - id: pilot\n"
    "    cohort: pilot\n"
    "    steps: [{at: 2h, weight: 50%, unit: org}]\n"
    "  - id: ga\n"
    "    cohort: rest\n"
    "    steps: [{at: 1d, weight: 100%, unit: org}]\n"
    "bake: {duration: 1d, criteria: gate}\n"
    "rollback:\n"
    "  triggers: [manual, error_rate]\n"
    "  deadline: 1h\n"
    "  postmortem_within: 2d\n"
    "  procedure:\n"
    "    - {id: halt, action: halt_traffic, roles: [sre]}\n"
    "    - {id: restore, action: restore_previous}\n"
    "communications:\n"
    "  - {id: hello, on: {event: rollout_start}, message: Hi, channel: '#x', audience: all,\n"
    "     owners: [lead]}\n"
    "windows: [{days: [mon, tue, wed, thu, fri], from: '09:00', to: '17:00'}]\n"
    "freezes: [{from: 2026-03-10T00:00:00Z, to: 2026-03-11T00:00:00Z}]\n";


Test(oom, plan_loading)
{
    size_t len;
    char *seed = t_read_file("examples/plans/seed.yaml", &len);
    text_arg a = {seed, len, fingerprint_of(seed, len)};
    exercise("load seed plan (buffer)", op_plan_buffer, free_plan, &a);
    text_arg b = {patterns_yaml, sizeof patterns_yaml - 1,
                  fingerprint_of(patterns_yaml, sizeof patterns_yaml - 1)};
    exercise("load plan with patterns", op_plan_buffer, free_plan, &b);
    exercise("load seed plan (file)", op_plan_file, free_plan, "examples/plans/seed.yaml");
    exercise("load plan with time zones and an ids file", op_plan_file, free_plan,
             "tests/plans/zoned/plan.yaml");
    free(seed);
}

Test(oom, invalid_plans_fail_with_their_own_error_or_nomem)
{
    /* An invalid plan under memory pressure: the loader may run out before
     * it finds the mistake (NOMEM), or find it; never anything else, and
     * never a leak. exercise() wants NOMEM, so check by hand. */
    static const char *const bad[] = {
        "format: 1\nid: x\nsalt: s\nstart: 2026-02-28T09:00:00Z\nversions: {stable: a, new: b}\n"
        "cohorts: [{id: c, match: {attr: a, matches: '(unclosed'}}]\nphases: []\n",
        "a: &a [1, 2]\nb: *a\nc: [*a, *a, {d: e}]\nformat: 2\n",
        "format: 1\nid: [unclosed\n",
    };
    long points = 0;
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        int expected = -1;
        for (long n = 1;; n++) {
            rollout_plan *p = (rollout_plan *)1;
            rollout_error err;
            calls = failed = live = 0;
            fail_at = n;
            fail_after = 0;
            armed = 1;
            int rc = rollout_plan_load_buffer(bad[i], strlen(bad[i]), "bad.yaml", &p, &err);
            armed = 0;
            cr_assert_null(p);
            cr_assert_eq(live, 0, "bad plan %zu, allocation %ld: %ld leaked", i, n, (long)live);
            cr_assert_neq(rc, ROLLOUT_OK);
            if (!failed) {
                expected = rc;
                break;
            }
            points++;
            cr_assert(rc == ROLLOUT_ERR_NOMEM || rc == err.code, "bad plan %zu: %s", i,
                      rollout_code_name(rc));
        }
        cr_assert_neq(expected, ROLLOUT_ERR_NOMEM);
    }
    printf("test_oom: %-28s %5ld failure points\n", "invalid plans", points);
}

Test(oom, metrics_loading)
{
    static const char *const files[] = {"examples/metrics/healthy.yaml",
                                        "examples/metrics/clearly-worse.yaml",
                                        "examples/metrics/post-rollout.json"};
    for (size_t i = 0; i < RP_COUNT(files); i++) {
        size_t len;
        char *text = t_read_file(files[i], &len);
        text_arg a = {text, len, 0};
        char name[64];
        snprintf(name, sizeof name, "load %s", strrchr(files[i], '/') + 1);
        exercise(name, op_metrics_buffer, free_metrics, &a);
        free(text);
    }
    exercise("load healthy.yaml (file)", op_metrics_file, free_metrics,
             "examples/metrics/healthy.yaml");
    /* custom metrics, smoke results and a histogram: the realloc'd tables */
    static const char many[] =
        "new:\n"
        "  requests: 1000\n  errors: 3\n"
        "  latency_histogram: [{le: 0.1, count: 5}, {le: 0.5, count: 9}, {le: +Inf, count: 1}]\n"
        "  smoke_tests: {login: pass, pay: fail, a: pass, b: pass, c: pass}\n"
        "  custom: {x1: 1, x2: 2, x3: 3, x4: 4, x5: 5, x6: 6}\n"
        "baseline: {requests: 900, errors: 2, latency_samples: [0.1, 0.2, 0.3]}\n";
    text_arg a = {many, sizeof many - 1, 0};
    exercise("load metrics (tables)", op_metrics_buffer, free_metrics, &a);
}

typedef struct eval_arg {
    rollout_plan *plan;
    rollout_metrics *metrics;
    int target;
    const char *name;
} eval_arg;

static int op_evaluate(void *arg, void **built)
{
    eval_arg *e = arg;
    rollout_evaluation ev;
    rollout_error err;
    int rc = rollout_evaluate(e->plan, e->target, e->name, e->metrics, &ev, &err);
    *built = rc ? NULL : e; /* nothing to free; non-NULL marks success */
    return rc;
}

Test(oom, evaluate)
{
    rollout_plan *seed = t_seed();
    rollout_metrics *m;
    rollout_error err;
    /* Untied samples, few enough for exact Mann-Whitney p-values: the one
     * evaluation that needs scratch memory (the seed's bake criteria). 20 a
     * side: the test's default min_samples. */
    static const char text[] =
        "new: {requests: 5000, errors: 5, latency_p95: 1s, support_tickets: 3,\n"
        "      custom: {data_integrity_issues: 0},\n"
        "      latency_samples: [0.101, 0.132, 0.143, 0.154, 0.175, 0.186, 0.197, 0.208,\n"
        "                        0.219, 0.231, 0.242, 0.253, 0.264, 0.275, 0.286, 0.297,\n"
        "                        0.308, 0.319, 0.331, 0.342]}\n"
        "baseline: {requests: 5000, errors: 4, latency_p95: 1s, support_tickets: 3,\n"
        "      latency_samples: [0.100, 0.121, 0.122, 0.133, 0.144, 0.165, 0.166, 0.177,\n"
        "                        0.188, 0.199, 0.211, 0.222, 0.233, 0.244, 0.255, 0.266,\n"
        "                        0.277, 0.288, 0.299, 0.311]}\n";
    cr_assert_eq(rollout_metrics_load_buffer(text, sizeof text - 1, "m.yaml", &m, &err),
                 ROLLOUT_OK, "%s", err.message);
    eval_arg a = {seed, m, ROLLOUT_EVAL_BAKE, NULL};
    exercise("evaluate (Mann-Whitney)", op_evaluate, NULL, &a);
    rollout_metrics_free(m);
    rollout_plan_unref(seed);
}

typedef struct dump_arg {
    rollout_plan *plan;
    int format;
} dump_arg;

static int op_dump(void *arg, void **built)
{
    dump_arg *d = arg;
    static char buf[1 << 16];
    size_t needed;
    int rc = rollout_plan_dump(d->plan, d->format, buf, sizeof buf, &needed);
    *built = rc ? NULL : d;
    return rc;
}

typedef struct render_arg {
    rollout_plan *plan;
    int format;
} render_arg;

static int op_render(void *arg, void **built)
{
    render_arg *r = arg;
    static char buf[1 << 18];
    size_t needed;
    int rc = rollout_calendar_render(r->plan, NULL, r->format, buf, sizeof buf, &needed);
    *built = rc ? NULL : r;
    return rc;
}

Test(oom, dump_and_render)
{
    rollout_plan *seed = t_seed();
    dump_arg y = {seed, ROLLOUT_FORMAT_YAML}, j = {seed, ROLLOUT_FORMAT_JSON};
    exercise("dump YAML", op_dump, NULL, &y);
    exercise("dump JSON", op_dump, NULL, &j);
    static const char *const names[] = {"render table", "render JSON", "render ICS",
                                        "render SVG"};
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++) {
        render_arg r = {seed, f};
        exercise(names[f], op_render, NULL, &r);
    }
    rollout_plan_unref(seed);
}

static int op_metrics_setters(void *arg, void **built)
{
    (void)arg;
    rollout_metrics *m = (rollout_metrics *)1;
    int rc = rollout_metrics_create(&m);
    *built = m;
    if (rc)
        return rc;
    static const double samples[] = {0.1, 0.2, 0.15, 0.3};
    static const double le[] = {0.1, 0.5, 1.0};
    static const uint64_t counts[] = {3, 2, 1};
    if ((rc = rollout_metrics_set(m, ROLLOUT_NEW, "queue_depth", 3, NULL)) ||
        (rc = rollout_metrics_set_smoke(m, ROLLOUT_NEW, "login", 1, NULL)) ||
        (rc = rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, samples, 4, NULL)) ||
        (rc = rollout_metrics_set_latency_histogram(m, ROLLOUT_STABLE, le, counts, 3, NULL))) {
        /* a failed setter leaves the snapshot usable; the caller frees it */
        rollout_metrics_free(m);
        *built = NULL;
    }
    return rc;
}

Test(oom, metrics_setters)
{
    exercise("metrics create + setters", op_metrics_setters, free_metrics, NULL);
}

Test(oom, state_decode_and_decide_allocate_nothing)
{
    rollout_plan *seed = t_seed();
    rollout_state s;
    rollout_state_init(seed, &s);
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(seed, &s, &start, rollout_plan_start(seed), &s, actions, &n,
                               NULL), ROLLOUT_OK);
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(&s, text, sizeof text);
    cr_assert_gt(len, 0);

    rollout_state out;
    rollout_error err;
    rollout_context ctx = {.org = "acme-corp", .org_len = 9, .user = "u", .user_len = 1};
    rollout_attr attr = {"email", 5, "a@example.com", 13};
    ctx.attrs = &attr;
    ctx.n_attrs = 1;
    rollout_decision d;
    calls = failed = live = 0;
    fail_at = 1;
    fail_after = 1;   /* any allocation would fail: there must be none */
    armed = 1;
    int rc1 = rollout_state_decode(seed, text, len, &out, &err);
    int rc2 = rollout_state_decode(seed, "rs1.AAAA", 8, &out, &err); /* refused */
    int rc3 = rollout_decide(seed, &out, rollout_plan_start(seed) + 60, &ctx, &d);
    n = ROLLOUT_MAX_ACTIONS;
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1};
    int rc4 = rollout_apply(seed, &out, &tick, rollout_plan_start(seed) + 86400, &out, actions,
                            &n, &err);
    armed = 0;
    cr_assert_eq(calls, 0, "decode/decide/apply made %ld allocation calls", (long)calls);
    cr_assert_eq(rc1, ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(rc2, ROLLOUT_ERR_STATE);
    cr_assert_eq(rc3, ROLLOUT_OK);
    cr_assert_eq(rc4, ROLLOUT_OK);
    printf("test_oom: state decode, decide, apply: 0 allocations\n");
    rollout_plan_unref(seed);
}
