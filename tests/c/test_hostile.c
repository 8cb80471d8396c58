/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c — what a malicious plan, metrics file, request context or
 * state string can and cannot do. docs/security.md is the catalog; each of
 * its rows names the test that proves it, here or in another suite.
 *
 * The tests that could stall measure their time as well as checking the
 * answer: a gateway must neither crash nor stall on these inputs. (No
 * Criterion .timeout: with --jobs 2, two timed tests running at once make
 * Criterion 2.4's runner leak 48 bytes, which LeakSanitizer reports.)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A growable text for generated plans and metrics. */
typedef struct gen {
    char *s;
    size_t len, cap;
} gen;

static void put(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(gen *g, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(g->s ? g->s + g->len : NULL, g->s ? g->cap - g->len : 0, fmt, ap);
        va_end(ap);
        cr_assert_geq(n, 0);
        if (g->s && g->len + (size_t)n < g->cap) {
            g->len += (size_t)n;
            return;
        }
        g->cap = (g->cap + (size_t)n + 1) * 2;
        g->s = realloc(g->s, g->cap);
        cr_assert(g->s);
    }
}

static const char head[] =
    "format: 1\nid: hostile\nsalt: s\nstart: 2026-02-28T09:00:00Z\n"
    "versions: {stable: a, new: b}\n";

static int load(const char *yaml, size_t len, rollout_plan **p, rollout_error *err)
{
    *p = (rollout_plan *)1;
    int rc = rollout_plan_load_buffer(yaml, len, "hostile.yaml", p, err);
    if (rc)
        cr_assert_null(*p, "a failed load must leave *out NULL");
    return rc;
}

/* ---- size and count caps ------------------------------------------------ */

Test(caps, every_count_cap_is_a_limit_error)
{
    struct {
        const char *what;
        int n;
        const char *field;   /* where the error must point */
    } cases[] = {{"cohorts", ROLLOUT_MAX_COHORTS + 1, "cohorts"},
                 {"phases", ROLLOUT_MAX_PHASES + 1, "phases"},
                 {"steps", ROLLOUT_MAX_STEPS + 1, "phases[0].steps"},
                 {"roles", ROLLOUT_MAX_ROLES + 1, "roles"},
                 {"criteria", ROLLOUT_MAX_CRITERIA + 1, "criteria.big"},
                 {"gates", ROLLOUT_MAX_GATES + 1, "phases[0].steps[32].gate"},
                 {"sets", 65, "criteria"},
                 {"smoke", 257, "smoke_tests"},
                 {"windows", 33, "windows"},
                 {"freezes", 65, "freezes"}};
    for (size_t c = 0; c < RP_COUNT(cases); c++) {
        gen g = {0};
        put(&g, "%s", head);
        const char *what = cases[c].what;
        int n = cases[c].n;
        put(&g, "roles:\n");
        for (int i = 0; i < (!strcmp(what, "roles") ? n : 1); i++)
            put(&g, "  r%d: Role %d\n", i, i);
        if (!strcmp(what, "criteria")) {
            put(&g, "criteria:\n  big:\n");
            for (int i = 0; i < n; i++)
                put(&g, "    - {id: c%d, metric: critical_errors, must_be_zero: true}\n", i);
        }
        if (!strcmp(what, "sets")) {
            put(&g, "criteria:\n");
            for (int i = 0; i < n; i++)
                put(&g, "  s%d: [{id: c, metric: critical_errors, must_be_zero: true}]\n", i);
        }
        if (!strcmp(what, "smoke")) {
            put(&g, "smoke_tests:\n");
            for (int i = 0; i < n; i++)
                put(&g, "  - {id: t%d}\n", i);
        }
        if (!strcmp(what, "windows")) {
            put(&g, "windows:\n");
            for (int i = 0; i < n; i++)
                put(&g, "  - {days: [mon], from: '09:00', to: '10:00'}\n");
        }
        if (!strcmp(what, "freezes")) {
            put(&g, "freezes:\n");
            for (int i = 0; i < n; i++)
                put(&g, "  - {from: 2026-03-%02dT00:00:00Z, to: 2026-03-%02dT01:00:00Z}\n",
                    i % 28 + 1, i % 28 + 1);
        }
        put(&g, "cohorts:\n");
        for (int i = 0; i < (!strcmp(what, "cohorts") ? n : 1); i++)
            put(&g, "  - {id: c%d, match: {everyone: true}}\n", i);
        put(&g, "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                "phases:\n");
        int phases = !strcmp(what, "phases") ? n : 1;
        int steps = !strcmp(what, "steps") || !strcmp(what, "gates") ? n : 1;
        bool gates = !strcmp(what, "gates");
        for (int i = 0; i < phases; i++) {
            put(&g, "  - id: p%d\n    cohort: c0\n    steps:\n", i);
            for (int k = 0; k < steps; k++) {
                put(&g, "      - {at: %dh, weight: %d%%, unit: org", i * 100 + 2 * k,
                    k > 99 ? 100 : k);
                if (gates)
                    put(&g, ", gate: {id: g%d, at: %dh, approvers: [r0]}", k, 2 * k + 1);
                put(&g, "}\n");
            }
        }
        rollout_plan *p;
        rollout_error err;
        int rc = load(g.s, g.len, &p, &err);
        cr_expect_eq(rc, ROLLOUT_ERR_LIMIT, "%s %d: %s (%s)", what, n, rollout_code_name(rc),
                     err.message);
        cr_expect_str_eq(err.field, cases[c].field, "%s: %s", what, err.message);
        free(g.s);
    }
}

Test(caps, oversized_context_fields_are_just_bytes)
{
    /* The library caps plans, not requests: a 16 MiB org id is hashed like
     * any other (the gateway caps header sizes). */
    rollout_plan *p = t_seed();
    size_t n = 16u << 20;
    char *id = malloc(n);
    cr_assert(id);
    memset(id, 'x', n);
    rollout_context ctx = {.org = id, .org_len = n, .user = id, .user_len = n,
                           .session = id, .session_len = n};
    rollout_decision d;
    for (int64_t dt = 0; dt < 6 * 86400; dt += 86400)
        cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p) + dt, &ctx, &d), ROLLOUT_OK);
    char text[256];
    size_t len = rollout_explain(p, &d, &ctx, text, sizeof text);
    cr_assert_lt(len, sizeof text, "explain cuts long ids: %zu", len);
    free(id);
    rollout_plan_unref(p);
}

/* ---- alias bombs and nesting -------------------------------------------- */

Test(yaml, metrics_alias_bomb_is_rejected_quickly)
{
    gen g = {0};
    put(&g, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 9; i++)
        put(&g, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
            i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    put(&g, "new: {requests: 1}\n");
    rollout_metrics *m = (rollout_metrics *)1;
    rollout_error err;
    double t0 = now_seconds();
    int rc = rollout_metrics_load_buffer(g.s, g.len, "bomb.yaml", &m, &err);
    double dt = now_seconds() - t0;
    cr_expect_eq(rc, ROLLOUT_ERR_LIMIT, "%s", err.message);
    cr_expect_null(m);
    cr_expect_lt(dt, 2.0, "took %.3f s", dt);
    free(g.s);
}

Test(yaml, aliases_resolve_in_constant_probes_whatever_the_number_of_anchors)
{
    /* The file: 40 000 anchors, then an alias to each (plans and
     * metrics share the reader). A scan of the anchors made ~8e8 name
     * comparisons (15 s); the table looks at a couple of slots per lookup.
     * Counted, not timed: the bound is on the work, not on the machine. */
    enum { N = 40000 };
    gen g = {0};
    put(&g, "a: [");
    for (int i = 0; i < N; i++)
        put(&g, "%s&a%d x%d", i ? ", " : "", i, i);
    put(&g, "]\nb: [");
    for (int i = 0; i < N; i++)
        put(&g, "%s*a%d", i ? ", " : "", i);
    put(&g, "]\n");
    rp_arena arena = {0};
    rp_node *root = NULL;
    rollout_error err;
    size_t probes = 0;
    cr_assert_eq(rp_yaml_parse_counted(&arena, g.s, g.len, "a.yaml", &root, &err, &probes),
                 ROLLOUT_OK, "%s", err.message);
    const rp_node *b = rp_map_get(root, "b");
    cr_assert(b && b->n == N);
    cr_expect_str_eq(b->items[N - 1]->str, "x39999");
    /* 2N lookups and N re-inserts while growing; at most half full, linear
     * probing averages under 2.5 slots per lookup */
    cr_expect_lt(probes, (size_t)(8 * N), "%zu slots looked at for %d anchors + aliases",
                 probes, N);
    rp_arena_free(&arena);
    free(g.s);
}

Test(yaml, a_million_open_brackets_stop_at_the_depth_cap)
{
    /* libyaml parses without recursion; the tree builder stops at depth 64
     * long before anything recursive walks the tree */
    size_t n = 1000000;
    char *text = malloc(n + 16);
    cr_assert(text);
    memcpy(text, "format: ", 8);
    memset(text + 8, '[', n);
    rollout_plan *p;
    rollout_error err;
    double t0 = now_seconds();
    int rc = load(text, n + 8, &p, &err);
    cr_expect_eq(rc, ROLLOUT_ERR_LIMIT, "%s", err.message);
    cr_expect_lt(now_seconds() - t0, 5.0);
    rollout_metrics *m;
    cr_expect_eq(rollout_metrics_load_buffer(text, n + 8, "deep.yaml", &m, &err),
                 ROLLOUT_ERR_LIMIT, "%s", err.message);
    free(text);
}

Test(yaml, rules_nested_to_the_depth_cap_load_decide_and_dump)
{
    /* not: {not: {...}} as deep as the YAML cap allows: the rule
     * evaluator recurses once per level, so its depth is bounded by the cap */
    int depth = 0;
    rollout_plan *p = NULL;
    rollout_error err;
    for (int levels = 70; levels > 0 && !p; levels -= 2) {
        gen g = {0};
        put(&g, "%scohorts:\n  - id: deep\n    match: ", head);
        for (int i = 0; i < levels; i++)
            put(&g, "{not: ");
        put(&g, "{org_in: [evil]}");
        for (int i = 0; i < levels; i++)
            put(&g, "}");
        put(&g, "\n"
                "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                "phases:\n  - {id: p, cohort: deep, steps: [{at: 0, weight: 100%%, "
                "unit: org}]}\n");
        int rc = load(g.s, g.len, &p, &err);
        if (rc)
            cr_assert_eq(rc, ROLLOUT_ERR_LIMIT, "%d levels: %s", levels, err.message);
        else
            depth = levels;
        free(g.s);
    }
    cr_assert(p, "no depth loads");
    cr_assert_gt(depth, 50, "only %d levels load", depth);
    /* an even number of nots: the rule is org_in [evil] */
    rollout_context evil = {.org = "evil", .org_len = 4}, good = {.org = "good", .org_len = 4};
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p), &evil, &d), ROLLOUT_OK);
    cr_assert_eq(d.cohort, depth % 2 ? -1 : 0);
    cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p), &good, &d), ROLLOUT_OK);
    cr_assert_eq(d.cohort, depth % 2 ? 0 : -1);
    /* the dumps of the deepest plan load back as the same plan */
    for (int f = ROLLOUT_FORMAT_YAML; f <= ROLLOUT_FORMAT_JSON; f++) {
        size_t need;
        rollout_plan_dump(p, f, NULL, 0, &need);
        char *buf = malloc(need + 1);
        cr_assert_eq(rollout_plan_dump(p, f, buf, need + 1, NULL), ROLLOUT_OK);
        rollout_plan *q;
        cr_assert_eq(load(buf, need, &q, &err), ROLLOUT_OK, "%s", err.message);
        cr_assert_eq(rollout_plan_fingerprint(q), rollout_plan_fingerprint(p));
        rollout_plan_unref(q);
        free(buf);
    }
    rollout_plan_unref(p);
}

/* ---- patterns ------------------------------------------------------------ */

static rollout_plan *pattern_plan(const char *pattern)
{
    gen g = {0};
    put(&g, "%scohorts:\n  - {id: c, match: {attr: v, matches: '%s'}}\n  - {id: rest, match: "
            "{everyone: true}}\n"
            "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
            "phases:\n  - {id: p, cohort: c, steps: [{at: 0, weight: 100%%, "
            "unit: request}]}\n", head, pattern);
    rollout_plan *p = t_plan(g.s);
    free(g.s);
    return p;
}

/* Decides with attribute v = value; returns the reason, checks the time. */
static int decide_value(rollout_plan *p, const char *value, size_t len, double max_seconds)
{
    rollout_attr a = {"v", 1, value, len};
    rollout_context ctx = {.request = "r", .request_len = 1, .attrs = &a, .n_attrs = 1};
    rollout_decision d;
    double t0 = now_seconds();
    cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p) + 60, &ctx, &d), ROLLOUT_OK);
    double dt = now_seconds() - t0;
    cr_expect_lt(dt, max_seconds, "one decide took %.3f s", dt);
    return d.reason;
}

Test(patterns, catastrophic_backtracking_is_cut_off)
{
    /* patterns PCRE2 has to run: a lookahead keeps the first three out of
     * the automata, and the last is too large for one */
    static const char *const redos[] = {"^(?=a)(a|aa)+$", "^(?=a)(a+)+$",
                                        "^(?=\\w)(\\w+\\s?)*$", "^(.*a){12}$"};
    char subject[4096];
    memset(subject, 'a', sizeof subject);
    subject[sizeof subject - 1] = '!';
    for (size_t i = 0; i < RP_COUNT(redos); i++) {
        rollout_plan *p = pattern_plan(redos[i]);
        /* every one of them gives up (MATCH_ERROR: stable, and no later
         * cohort is tried) in far less than the time backtracking would take */
        int reason = decide_value(p, subject, sizeof subject, 2.0);
        cr_expect_eq(reason, ROLLOUT_REASON_MATCH_ERROR, "%s: %s", redos[i],
                     rollout_reason_name(reason));
        rollout_plan_unref(p);
    }
}

/* The classic catastrophic patterns are regular languages: without a
 * lookahead they run as automata, which never backtrack, so they give the
 * real answer in linear time instead of giving up. */
Test(patterns, catastrophic_patterns_as_automata_answer)
{
    static const char *const redos[] = {"^(a|aa)+$", "^(a+)+$", "^(\\w+\\s?)*$"};
    char subject[4096];
    memset(subject, 'a', sizeof subject);
    subject[sizeof subject - 1] = '!';
    for (size_t i = 0; i < RP_COUNT(redos); i++) {
        rollout_plan *p = pattern_plan(redos[i]);
        /* no match: the cohort is passed over, as for any value it does
         * not match; without the '!' it matches */
        int no = decide_value(p, "!", 1, 1.0);
        cr_expect_neq(no, ROLLOUT_REASON_MATCH_ERROR);
        cr_expect_eq(decide_value(p, subject, sizeof subject, 1.0), no, "%s", redos[i]);
        cr_expect_eq(decide_value(p, subject, sizeof subject - 1, 1.0),
                     ROLLOUT_REASON_IN_ROLLOUT, "%s", redos[i]);
        rollout_plan_unref(p);
    }
}

Test(patterns, deep_recursion_hits_the_jit_stack_not_the_process_stack)
{
    /* balanced parentheses by recursion: one JIT stack frame per level */
    rollout_plan *p = pattern_plan("^(\\((?1)*\\))$");
    size_t n = 200000;
    char *s = malloc(2 * n);
    cr_assert(s);
    memset(s, '(', n);
    memset(s + n, ')', n);
    int reason = decide_value(p, s, 2 * n, 5.0);
    cr_expect_eq(reason, ROLLOUT_REASON_MATCH_ERROR, "%s", rollout_reason_name(reason));
    /* a shallow one still matches */
    cr_expect_eq(decide_value(p, "(()())", 6, 1.0), ROLLOUT_REASON_IN_ROLLOUT);
    free(s);
    rollout_plan_unref(p);
}

Test(patterns, a_huge_subject_is_matched_in_linear_time)
{
    rollout_plan *p = pattern_plan("@example\\.com$");
    size_t n = 8u << 20;
    char *s = malloc(n);
    cr_assert(s);
    memset(s, 'x', n);
    memcpy(s + n - 12, "@example.com", 12);
    cr_expect_eq(decide_value(p, s, n, 5.0), ROLLOUT_REASON_IN_ROLLOUT);
    free(s);
    rollout_plan_unref(p);
}

/* ---- times and weights at the edges ---------------------------------------- */

Test(times, a_plan_at_year_9999_with_century_offsets)
{
    static const char yaml[] =
        "format: 1\nid: far\nsalt: s\nstart: 9999-12-31T23:59:59Z\n"
        "versions: {stable: a, new: b}\nroles: {r: R}\n"
        "cohorts: [{id: all, match: {everyone: true}}]\n"
        "phases:\n"
        "  - id: p\n    cohort: all\n    steps:\n"
        "      - {at: 0, weight: 0.001%, unit: org}\n"
        "      - at: 36500d\n        weight: 50%\n        unit: org\n"
        "        gate: {id: g, at: 36599d, approvers: [r]}\n"
        "      - {at: 36600d, weight: 100%, unit: org}\n"
        "bake: {duration: 36600d}\n"
        "rollback: {deadline: 36600d, postmortem_within: 36600d,\n"
        "           procedure: [{id: pm, action: postmortem}]}\n"
        "windows: [{days: [sun], from: '23:00', to: '24:00', utc_offset: '-18:00'}]\n"
        "freezes: [{from: 9999-12-31T23:00:00Z, to: 9999-12-31T23:59:59Z}]\n";
    rollout_plan *p;
    rollout_error err;
    cr_assert_eq(load(yaml, sizeof yaml - 1, &p, &err), ROLLOUT_OK, "%s", err.message);
    int64_t t0 = rollout_plan_start(p);
    const int64_t times[] = {INT64_MIN, -1, 0, t0, t0 + 3153600000LL, INT64_MAX - 1, INT64_MAX};
    rollout_context ctx = {.org = "o", .org_len = 1};
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    cr_assert_eq(rollout_apply(p, &s, &start, t0, &s, actions, &n, &err), ROLLOUT_OK, "%s",
                 err.message);
    for (size_t i = 0; i < RP_COUNT(times); i++) {
        rollout_decision d;
        rollout_schedule_info info;
        /* times past the years 1 to 9999 are refused, not clamped */
        int want = i == 0 || i >= 4 ? ROLLOUT_ERR_ARG : ROLLOUT_OK;
        cr_assert_eq(rollout_decide(p, NULL, times[i], &ctx, &d), want);
        cr_assert_eq(rollout_decide(p, &s, times[i], &ctx, &d), want);
        cr_assert_eq(rollout_schedule(p, &s, times[i], &info), want);
        cr_assert_eq(rollout_schedule(p, NULL, times[i], &info), want);
    }
    /* the machine at the end of time: deadlines past year 9999 come out as
     * they are, and INT64_MAX ("never") is not a time to apply at */
    rollout_event rollback = {.type = ROLLOUT_EVENT_ROLLBACK, .reason = ROLLOUT_ROLLBACK_MANUAL};
    n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(p, &s, &rollback, INT64_MAX - 1, &s, actions, &n, &err),
                 ROLLOUT_ERR_ARG);
    n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(p, &s, &rollback, ROLLOUT_TIME_MAX, &s, actions, &n, &err),
                 ROLLOUT_OK, "%s", err.message);
    for (size_t i = 0; i < n; i++)
        if (actions[i].type == ROLLOUT_ACTION_SCHEDULE_POSTMORTEM)
            cr_assert_eq(actions[i].due, ROLLOUT_TIME_MAX + 36600LL * 86400);
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
    n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(p, &s, &tick, ROLLOUT_TIME_MAX, &s, actions, &n, &err),
                 ROLLOUT_OK, "%s", err.message);
    rollout_calendar_event *ev = calloc(ROLLOUT_MAX_CALENDAR, sizeof *ev);
    cr_assert_eq(rollout_calendar(p, &s, ev, ROLLOUT_MAX_CALENDAR, &n), ROLLOUT_OK);
    free(ev);
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++) {
        size_t need;
        int rc = rollout_calendar_render(p, &s, f, NULL, 0, &need);
        cr_assert(rc == ROLLOUT_OK || rc == ROLLOUT_ERR_BUFFER, "%s", rollout_code_name(rc));
    }
    rollout_plan_unref(p);
}

Test(times, a_rollout_started_at_the_end_of_time)
{
    /* the seed has no windows or freezes: decide takes the arithmetic fast
     * path, whose sums must saturate as the general walk's do (found by
     * fuzz_state as signed overflow in schedule_fast.h) */
    rollout_plan *p = t_seed();
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    cr_assert_eq(rollout_apply(p, &s, &start, ROLLOUT_TIME_MAX - 100, &s, actions, &n, &err),
                 ROLLOUT_OK, "%s", err.message);
    t_go(p, &s, -1, ROLLOUT_TIME_MAX - 50);
    rollout_context ctx = {.org = "acme-corp", .org_len = 9, .session = "s", .session_len = 1};
    const int64_t times[] = {ROLLOUT_TIME_MAX - 100, ROLLOUT_TIME_MAX - 1, ROLLOUT_TIME_MAX};
    for (size_t i = 0; i < RP_COUNT(times); i++) {
        rollout_decision d;
        rollout_schedule_info info;
        cr_assert_eq(rollout_decide(p, &s, times[i], &ctx, &d), ROLLOUT_OK);
        cr_assert_eq(rollout_schedule(p, &s, times[i], &info), ROLLOUT_OK);
    }
    /* decide does not check a state's times (one compare of now is all the
     * hot path spends): one started near INT64_MAX by hand still saturates */
    s.started_at = INT64_MAX - 100;
    s.gate_go_at[0] = INT64_MAX - 50;
    for (size_t i = 0; i < RP_COUNT(times); i++) {
        rollout_decision d;
        cr_assert_eq(rollout_decide(p, &s, times[i], &ctx, &d), ROLLOUT_OK);
    }
    rollout_plan_unref(p);
}

Test(times, a_plan_before_the_epoch_decides_but_the_machine_needs_positive_times)
{
    static const char yaml[] =
        "format: 1\nid: old\nsalt: s\nstart: 0001-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\ncohorts: [{id: all, match: {everyone: true}}]\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
        "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 100%, unit: org}]}]\n";
    rollout_plan *p;
    rollout_error err;
    cr_assert_eq(load(yaml, sizeof yaml - 1, &p, &err), ROLLOUT_OK, "%s", err.message);
    int64_t t0 = rollout_plan_start(p);
    cr_assert_eq(t0, -62135596800LL);
    rollout_context ctx = {.org = "o", .org_len = 1};
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, t0, &ctx, &d), ROLLOUT_OK);
    cr_assert_eq(d.reason, ROLLOUT_REASON_IN_ROLLOUT);
    /* a second before year 1 is outside the library's times */
    cr_assert_eq(rollout_decide(p, NULL, t0 - 1, &ctx, &d), ROLLOUT_ERR_ARG);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    /* a state records 0 as "not yet": events at or before the epoch are
     * refused rather than written as something else (fuzz_state found a
     * RESUME at 0 that left an open pause in a running state) */
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    const int64_t bad[] = {INT64_MIN, t0, -1, 0};
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        size_t n = ROLLOUT_MAX_ACTIONS;
        cr_assert_eq(rollout_apply(p, &s, &start, bad[i], &s, actions, &n, &err),
                     ROLLOUT_ERR_ARG);
        cr_assert_eq(n, 0);
    }
    size_t n = ROLLOUT_MAX_ACTIONS;
    cr_assert_eq(rollout_apply(p, &s, &start, 1, &s, actions, &n, &err), ROLLOUT_OK, "%s",
                 err.message);
    rollout_plan_unref(p);
}

Test(times, overflowing_numbers_are_refused)
{
    static const struct {
        const char *step;
        int code;
    } cases[] = {
        {"{at: 0, weight: 100.001%, unit: org}", ROLLOUT_ERR_RANGE},
        {"{at: 0, weight: 4294967296%, unit: org}", ROLLOUT_ERR_RANGE},
        {"{at: 0, weight: -1%, unit: org}", ROLLOUT_ERR_RANGE},
        {"{at: 0, weight: 1e3%, unit: org}", ROLLOUT_ERR_RANGE},
        {"{at: 0, weight: 12.3456%, unit: org}", ROLLOUT_ERR_VALUE},
        {"{at: 9999999999d, weight: 1%, unit: org}", ROLLOUT_ERR_VALUE},
        {"{at: 36601d, weight: 1%, unit: org}", ROLLOUT_ERR_VALUE},      /* > 100 years */
        {"{at: 36600d1s, weight: 1%, unit: org}", ROLLOUT_ERR_VALUE},
        {"{at: -1h, weight: 1%, unit: org}", ROLLOUT_ERR_VALUE},
        {"{at: 18446744073709551616s, weight: 1%, unit: org}", ROLLOUT_ERR_VALUE},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        gen g = {0};
        put(&g, "%scohorts: [{id: all, match: {everyone: true}}]\n"
                "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                "phases: [{id: p, cohort: all, steps: [%s]}]\n", head, cases[i].step);
        rollout_plan *p;
        rollout_error err;
        int rc = load(g.s, g.len, &p, &err);
        cr_expect_eq(rc, cases[i].code, "%s: %s (%s)", cases[i].step, rollout_code_name(rc),
                     err.message);
        free(g.s);
    }
    static const char *const starts[] = {"10000-01-01T00:00:00Z", "0000-12-31T23:59:59Z",
                                         "9999-12-31T23:59:60Z", "2026-02-29T00:00:00Z",
                                         "2026-02-28T09:00:00+24:00"};
    for (size_t i = 0; i < RP_COUNT(starts); i++) {
        gen g = {0};
        put(&g, "format: 1\nid: x\nsalt: s\nstart: %s\nversions: {stable: a, new: b}\n"
                "cohorts: [{id: all, match: {everyone: true}}]\n"
                "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 1%%, unit: org}]}]\n",
            starts[i]);
        rollout_plan *p;
        rollout_error err;
        cr_expect_eq(load(g.s, g.len, &p, &err), ROLLOUT_ERR_VALUE, "%s: %s", starts[i],
                     err.message);
        free(g.s);
    }
}

/* ---- NUL bytes and invalid UTF-8 ------------------------------------------------ */

Test(bytes, ids_are_compared_as_whole_byte_strings)
{
    rollout_plan *p = t_seed();
    int64_t at = rollout_plan_start(p) + 6 * 3600;   /* the pilot phase */
    /* "acme-corp" followed by a NUL and more: not the pilot org acme-corp */
    rollout_context ctx = {.org = "acme-corp\0evil", .org_len = 14};
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, at, &ctx, &d), ROLLOUT_OK);
    cr_assert_str_neq(d.cohort_name ? d.cohort_name : "", "pilot");
    ctx.org_len = 9;
    cr_assert_eq(rollout_decide(p, NULL, at, &ctx, &d), ROLLOUT_OK);
    cr_assert_str_eq(d.cohort_name, "pilot");
    /* an attribute key with a NUL is another key */
    rollout_attr a = {"role\0x", 6, "staff", 5};
    rollout_context staff = {.session = "s", .session_len = 1, .attrs = &a, .n_attrs = 1};
    cr_assert_eq(rollout_decide(p, NULL, at, &staff, &d), ROLLOUT_OK);
    cr_assert_str_neq(d.cohort_name ? d.cohort_name : "", "internal");
    /* buckets hash every byte: a NUL inside changes the bucket */
    uint32_t b1, b2;
    cr_assert_eq(rollout_bucket("s", 1, "a\0b", 3, &b1), ROLLOUT_OK);
    cr_assert_eq(rollout_bucket("s", 1, "a", 1, &b2), ROLLOUT_OK);
    cr_assert_neq(b1, b2);
    /* explain prints control bytes escaped */
    char text[512];
    rollout_context nul = {.org = "a\0b\x1b", .org_len = 4};
    rollout_explain(p, &(rollout_decision){.reason = ROLLOUT_REASON_IN_ROLLOUT, .unit = 0,
                                           .cohort_name = "x", .phase_name = "y"},
                    &nul, text, sizeof text);
    cr_assert(strstr(text, "a\\x00b\\x1b"), "%s", text);
    rollout_plan_unref(p);
}

Test(bytes, invalid_utf8_in_requests_is_matched_not_rejected)
{
    rollout_plan *p = t_seed();
    int64_t at = rollout_plan_start(p) + 60;   /* the canary: internal by email pattern */
    static const char *const values[] = {"\xff@example.com", "x@example.com\xc3",
                                         "\xed\xa0\x80@example.com", "\xc0\xaf", ""};
    for (size_t i = 0; i < RP_COUNT(values); i++) {
        rollout_attr a = {"email", 5, values[i], strlen(values[i])};
        rollout_context ctx = {.session = "s", .session_len = 1, .attrs = &a, .n_attrs = 1};
        rollout_decision d1, d2;
        cr_assert_eq(rollout_decide(p, NULL, at, &ctx, &d1), ROLLOUT_OK);
        cr_assert_eq(rollout_decide(p, NULL, at, &ctx, &d2), ROLLOUT_OK);
        cr_assert_eq(d1.reason, d2.reason);
        cr_assert_neq(d1.reason, ROLLOUT_REASON_MATCH_ERROR, "value %zu", i);
    }
    /* a valid tail after invalid bytes still matches the anchored pattern */
    rollout_attr a = {"email", 5, "\xff@example.com", 13};
    rollout_context ctx = {.session = "s", .session_len = 1, .attrs = &a, .n_attrs = 1};
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, at, &ctx, &d), ROLLOUT_OK);
    cr_assert_str_eq(d.cohort_name, "internal");
    rollout_plan_unref(p);
}

Test(bytes, invalid_utf8_files_are_encoding_errors)
{
    static const char plan[] = "format: 1\nid: caf\xe9\n";
    static const char metrics[] = "new: {requests: 1}\n# caf\xe9\n";
    rollout_plan *p;
    rollout_metrics *m;
    rollout_error err;
    cr_assert_eq(load(plan, sizeof plan - 1, &p, &err), ROLLOUT_ERR_ENCODING);
    cr_assert_eq(rollout_metrics_load_buffer(metrics, sizeof metrics - 1, "m", &m, &err),
                 ROLLOUT_ERR_ENCODING);
    cr_assert_null(m);
    rollout_state s;
    cr_assert_eq(rollout_state_decode(NULL, "rs1.\xc3\xa9", 6, &s, &err), ROLLOUT_ERR_STATE);
}

/* ---- huge attribute counts ------------------------------------------------------ */

Test(context, a_hundred_thousand_attributes)
{
    rollout_plan *p = t_seed();
    size_t n = 100000;
    rollout_attr *attrs = calloc(n, sizeof *attrs);
    cr_assert(attrs);
    for (size_t i = 0; i < n; i++)
        attrs[i] = (rollout_attr){"x-junk", 6, "v", 1};
    /* the one that matters comes last; the first key that matches wins */
    attrs[n - 1] = (rollout_attr){"role", 4, "staff", 5};
    rollout_context ctx = {.session = "s", .session_len = 1, .attrs = attrs, .n_attrs = n};
    rollout_decision d;
    double t0 = now_seconds();
    cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p) + 60, &ctx, &d), ROLLOUT_OK);
    cr_expect_lt(now_seconds() - t0, 2.0, "linear in the attributes, and fast");
    cr_assert_str_eq(d.cohort_name, "internal");
    attrs[n - 2] = (rollout_attr){"role", 4, "guest", 5};
    cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p) + 60, &ctx, &d), ROLLOUT_OK);
    cr_assert_str_neq(d.cohort_name ? d.cohort_name : "", "internal");
    /* a count without an array is no attributes, not a read of nothing */
    rollout_context lying = {.session = "s", .session_len = 1, .attrs = NULL, .n_attrs = SIZE_MAX};
    cr_assert_eq(rollout_decide(p, NULL, rollout_plan_start(p) + 60, &lying, &d), ROLLOUT_OK);
    free(attrs);
    rollout_plan_unref(p);
}

/* ---- metrics --------------------------------------------------------------------- */

Test(metrics, impossible_and_enormous_snapshots)
{
    static const char *const bad[] = {
        "new: {requests: 12.5}\n", "new: {latency_p95: -1s}\n", "new: {requests: 1e400}\n",
        "new: {requests: 10, errors: 11}\n", "new: {availability: 1.5}\n",
        "new: {requests: 18446744073709551616}\n",
    };
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        rollout_metrics *m = (rollout_metrics *)1;
        rollout_error err;
        int rc = rollout_metrics_load_buffer(bad[i], strlen(bad[i]), "m.yaml", &m, &err);
        cr_expect_eq(rc, ROLLOUT_ERR_METRICS, "%s: %s", bad[i], err.message);
        cr_expect_null(m);
    }
    /* NaN spoils its metric, not the snapshot (docs/evaluation.md) */
    {
        static const char nan[] = "new: {requests: .nan}\n";
        rollout_metrics *m = NULL;
        rollout_error err;
        cr_expect_eq(rollout_metrics_load_buffer(nan, strlen(nan), "m.yaml", &m, &err),
                     ROLLOUT_OK, "%s", err.message);
        double v;
        cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "requests", &v), ROLLOUT_ERR_NOT_FOUND);
        rollout_metrics_free(m);
    }
    /* more custom metrics than the cap */
    gen g = {0};
    put(&g, "new:\n  custom:\n");
    for (int i = 0; i <= ROLLOUT_MAX_CUSTOM_METRICS; i++)
        put(&g, "    m%d: %d\n", i, i);
    rollout_metrics *m;
    rollout_error err;
    int rc = rollout_metrics_load_buffer(g.s, g.len, "m.yaml", &m, &err);
    cr_expect(rc == ROLLOUT_ERR_LIMIT || rc == ROLLOUT_ERR_METRICS, "%s", err.message);
    free(g.s);
    /* a million samples a side: evaluation stays fast (the exact
     * Mann-Whitney is only used up to RP_MWU_EXACT_MAX pairs) */
    size_t n = 1000000;
    double *v = malloc(n * sizeof *v);
    cr_assert(v);
    for (size_t i = 0; i < n; i++)
        v[i] = 0.1 + (double)((i * 7919) % n) / (double)n;
    cr_assert_eq(rollout_metrics_create(&m), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, v, n, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, ROLLOUT_STABLE, v, n, NULL), ROLLOUT_OK);
    cr_assert_eq(rollout_metrics_set_latency_samples(m, ROLLOUT_NEW, v, n + 1, NULL),
                 ROLLOUT_ERR_LIMIT);
    rollout_plan *p = t_seed();
    rollout_evaluation ev;
    double t0 = now_seconds();
    cr_assert_eq(rollout_evaluate(p, ROLLOUT_EVAL_BAKE, NULL, m, &ev, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_expect_lt(now_seconds() - t0, 5.0);
    free(v);
    rollout_metrics_free(m);
    rollout_plan_unref(p);
}

/* ---- state strings ---------------------------------------------------------------- */

Test(state, hostile_strings_are_refused_whole)
{
    rollout_plan *p = t_seed();
    static char big[ROLLOUT_STATE_TEXT_MAX * 4];
    memset(big, 'A', sizeof big);
    memcpy(big, "rs1.", 4);
    struct {
        const char *text;
        size_t len;
        int code;
    } cases[] = {
        {big, sizeof big, ROLLOUT_ERR_STATE},
        {"rs1.", 4, ROLLOUT_ERR_STATE},
        {"rs3.AAAA", 8, ROLLOUT_ERR_UNSUPPORTED},
        {"rs1.AA\0A", 8, ROLLOUT_ERR_STATE},
        {"rs1.AAAA====", 12, ROLLOUT_ERR_STATE},
        {"RS1.AAAA", 8, ROLLOUT_ERR_STATE},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        rollout_state s, before;
        memset(&s, 0x5A, sizeof s);
        before = s;
        rollout_error err;
        int rc = rollout_state_decode(p, cases[i].text, cases[i].len, &s, &err);
        cr_expect_eq(rc, cases[i].code, "case %zu: %s (%s)", i, rollout_code_name(rc),
                     err.message);
        cr_expect(memcmp(&s, &before, sizeof s) == 0, "case %zu wrote the state", i);
    }
    rollout_plan_unref(p);
}
