/* SPDX-License-Identifier: MIT */
/*
 * test_people.c — people in the loop: overrides with a reason, retry,
 * promote, abort and the audit trail, from the shared vectors
 * (tests/vectors/people.json, which the Python and Lua tests read too), and
 * what only C sees: the ring's wrap, the plan default of no override, stable
 * buckets across attempts, migration and follows of the new fields.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan.h"
#include "support.h"

#define VECTORS "tests/vectors/people.json"
#define H 3600

static const rp_node *field(const rp_node *map, const char *key)
{
    const rp_node *v = rp_map_get(map, key);
    cr_assert(v, "vector without \"%s\" (line %d)", key, map->line);
    return v;
}

static const char *opt_str(const rp_node *map, const char *key)
{
    const rp_node *v = rp_map_get(map, key);
    return v && !(v->plain && strcmp(v->str, "null") == 0) ? v->str : NULL;
}

static int name_of(const char *(*name)(int), int count, const char *want)
{
    for (int i = 0; i < count; i++)
        if (strcasecmp(name(i), want) == 0)
            return i;
    cr_assert_fail("unknown name %s", want);
    return -1;
}

static int role_of(const rollout_plan *p, const char *id)
{
    int r = id ? rp_role_index(p, id) : -1;
    cr_assert(!id || r >= 0, "no role %s", id);
    return r;
}

static int gate_of(const rollout_plan *p, const char *id)
{
    for (int g = 0; id && g < rollout_plan_gate_count(p); g++)
        if (strcmp(rollout_plan_gate_name(p, g), id) == 0)
            return g;
    cr_assert(!id, "no gate %s", id);
    return -1;
}

static bool flag(const rp_node *map, const char *key)
{
    const char *v = opt_str(map, key);
    return v && strcmp(v, "true") == 0;
}

static rollout_event vector_event(const rollout_plan *p, const rp_node *n)
{
    rollout_event e = {.gate = -1, .role = -1, .verdict = -1, .reason = -1, .confirmation = -1};
    e.type = name_of(rollout_event_name, ROLLOUT_EVENT_COUNT, field(n, "event")->str);
    e.gate = gate_of(p, opt_str(n, "gate"));
    e.role = role_of(p, opt_str(n, "role"));
    e.override = flag(n, "override");
    e.override_verdict = flag(n, "override_verdict");
    e.all_phases = flag(n, "all_phases");
    e.why = opt_str(n, "why");
    e.actor = role_of(p, opt_str(n, "by")) + 1;
    if (opt_str(n, "verdict"))
        e.verdict = name_of(rollout_verdict_name, 4, opt_str(n, "verdict"));
    if (opt_str(n, "reason"))
        e.reason = name_of(rollout_rollback_reason_name, ROLLOUT_ROLLBACK_COUNT, opt_str(n, "reason"));
    if (opt_str(n, "confirmation"))
        e.confirmation =
            name_of(rollout_confirmation_name, ROLLOUT_CONFIRM_COUNT, opt_str(n, "confirmation"));
    return e;
}

static void expect_trail(const rollout_plan *p, const rollout_state *s, const rp_node *want,
                         const char *name)
{
    uint32_t held = s->trail_total < ROLLOUT_TRAIL_MAX ? s->trail_total : ROLLOUT_TRAIL_MAX;
    cr_assert_eq(held, want->n, "%s: %u records, want %zu", name, held, want->n);
    for (uint32_t j = 0; j < held; j++) {
        const rollout_trail_record *r = &s->trail[(s->trail_total - held + j) % ROLLOUT_TRAIL_MAX];
        const rp_node *w = want->items[j];
        cr_assert_eq(r->at, t_time(field(w, "at")->str), "%s: record %u at", name, j);
        cr_assert_str_eq(rollout_trail_kind_name(r->kind), field(w, "kind")->str, "%s: %u", name, j);
        cr_assert_eq(r->role, role_of(p, opt_str(w, "role")), "%s: record %u role", name, j);
        cr_assert_eq(r->gate, gate_of(p, opt_str(w, "gate")), "%s: record %u gate", name, j);
        cr_assert_eq(r->attempt, atoi(field(w, "attempt")->str), "%s: record %u attempt", name, j);
        cr_assert_eq(r->detail, atoi(field(w, "detail")->str), "%s: record %u detail", name, j);
        cr_assert_str_eq(r->reason, field(w, "reason")->str, "%s: record %u reason", name, j);
        cr_assert_eq(!!(r->flags & ROLLOUT_TRAIL_VERDICT_OVERRIDDEN), flag(w, "verdict_overridden"),
                     "%s: record %u", name, j);
        cr_assert_eq(!!(r->flags & ROLLOUT_TRAIL_ALL_PHASES), flag(w, "all_phases"), "%s: %u",
                     name, j);
    }
}

Test(people, vectors)
{
    rp_arena arena = {0};
    const rp_node *root = t_json(&arena, VECTORS);
    rollout_plan *p = NULL;
    rollout_error err;
    cr_assert_eq(rollout_plan_load_file(field(root, "plan")->str, &p, &err), ROLLOUT_OK, "%s",
                 err.message);
    const rp_node *cases = field(root, "cases");
    cr_assert_geq(cases->n, 10);
    for (size_t i = 0; i < cases->n; i++) {
        const rp_node *c = cases->items[i];
        const char *name = field(c, "name")->str;
        const rp_node *events = field(c, "events");
        rollout_state s;
        rollout_state_init(p, &s);
        for (size_t k = 0; k < events->n; k++) {
            rollout_event e = vector_event(p, events->items[k]);
            int64_t at = t_time(field(events->items[k], "at")->str);
            rollout_action actions[ROLLOUT_MAX_ACTIONS];
            size_t n = ROLLOUT_MAX_ACTIONS;
            rollout_state next;
            int rc = rollout_apply(p, &s, &e, at, &next, actions, &n, &err);
            const rp_node *refused = rp_map_get(c, "refused");
            if (refused && k + 1 == events->n) {
                cr_assert_str_eq(rollout_code_name(rc), field(refused, "code")->str, "%s", name);
                cr_assert_str_eq(err.message, field(refused, "message")->str, "%s", name);
                cr_assert_eq(n, 0u);
                break;
            }
            cr_assert_eq(rc, ROLLOUT_OK, "%s, event %zu: %s", name, k, err.message);
            s = next;
        }
        const rp_node *want = rp_map_get(c, "expect");
        if (!want)
            continue;
        cr_assert_str_eq(rollout_status_name(s.status), field(want, "status")->str, "%s", name);
        cr_assert_eq(s.attempt, atoi(field(want, "attempt")->str), "%s", name);
        cr_assert_eq(s.trail_total, (uint32_t)atoi(field(want, "trail_total")->str), "%s", name);
        expect_trail(p, &s, field(want, "trail"), name);
        /* it survives the text form */
        char text[ROLLOUT_STATE_TEXT_MAX];
        rollout_state back;
        size_t len = rollout_state_encode(&s, text, sizeof text);
        cr_assert_eq(rollout_state_decode(p, text, len, &back, &err), ROLLOUT_OK, "%s: %s", name,
                     err.message);
        cr_assert(memcmp(&back, &s, sizeof s) == 0, "%s", name);
        const rp_node *weights = rp_map_get(want, "weights");
        for (size_t k = 0; weights && k < weights->n; k++) {
            rollout_schedule_info info;
            int64_t at = t_time(field(weights->items[k], "at")->str);
            cr_assert_eq(rollout_schedule(p, &s, at, &info), ROLLOUT_OK);
            for (int co = 0; co < rollout_plan_cohort_count(p); co++)
                cr_assert_eq(info.cohorts[co].weight,
                             (uint32_t)atoi(field(weights->items[k],
                                                  rollout_plan_cohort_name(p, co))->str),
                             "%s: %s at %s", name, rollout_plan_cohort_name(p, co),
                             field(weights->items[k], "at")->str);
        }
    }
    rollout_plan_unref(p);
    rp_arena_free(&arena);
}

Test(people, previous_format_vector)
{
    rp_arena arena = {0};
    const rp_node *root = t_json(&arena, VECTORS);
    const rp_node *old = field(root, "previous_format");
    rollout_plan *p = NULL;
    cr_assert_eq(rollout_plan_load_file(field(root, "plan")->str, &p, NULL), ROLLOUT_OK);
    rollout_state s;
    rollout_error err;
    const char *text = field(old, "text")->str;
    cr_assert_eq(strncmp(text, "rs1.", 4), 0);
    cr_assert_eq(rollout_state_decode(p, text, strlen(text), &s, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_str_eq(rollout_status_name(s.status), field(old, "status")->str);
    cr_assert_eq(s.revision, (uint64_t)atoi(field(old, "revision")->str));
    cr_assert_str_eq(rollout_plan_phase_name(p, s.phase), field(old, "phase")->str);
    cr_assert_eq(s.gate_go_at[0], t_time(field(field(old, "go_at"), "canary-go")->str));
    cr_assert_eq(s.attempt, 1);
    cr_assert_eq(s.trail_total, 0u);
    char again[ROLLOUT_STATE_TEXT_MAX];
    cr_assert_gt(rollout_state_encode(&s, again, sizeof again), 0u);
    cr_assert_eq(strncmp(again, "rs2.", 4), 0);
    rollout_plan_unref(p);
    rp_arena_free(&arena);
}

/* ---- what only C sees ------------------------------------------------------------ */

static int apply(const rollout_plan *p, rollout_state *s, rollout_event e, int64_t at,
                 rollout_error *err)
{
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    return rollout_apply(p, s, &e, at, s, actions, &n, err);
}

Test(people, the_seed_lets_nobody_override)
{
    rollout_plan *p = t_seed();
    rollout_state s;
    rollout_state_init(p, &s);
    int64_t t0 = rollout_plan_start(p);
    rollout_error err;
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START}, t0);
    rollout_event go = {.type = ROLLOUT_EVENT_GO, .gate = -1, .role = rp_role_index(p, "sre"),
                        .override = 1, .why = "I know better"};
    cr_assert_eq(apply(p, &s, go, t0 + 2 * H, &err), ROLLOUT_ERR_TRANSITION);
    cr_assert_str_eq(err.message, "role \"sre\" may not override gate \"canary-go\": the gate "
                                  "lists no override_roles");
    rollout_plan_unref(p);
}

Test(people, the_ring_keeps_the_last_records)
{
    rollout_plan *p = NULL;
    cr_assert_eq(rollout_plan_load_file("tests/vectors/people-plan.yaml", &p, NULL), ROLLOUT_OK);
    rollout_state s;
    rollout_state_init(p, &s);
    int64_t t0 = rollout_plan_start(p);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START}, t0);
    for (int k = 0; k < 10; k++) {
        t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_PAUSE, .why = "look"}, t0 + k * 60);
        t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_RESUME, .actor = 1}, t0 + k * 60 + 30);
    }
    cr_assert_eq(s.trail_total, 21u);
    /* the oldest held is record 5: the third pause (records 1..20 alternate) */
    const rollout_trail_record *oldest = &s.trail[(21 - ROLLOUT_TRAIL_MAX) % ROLLOUT_TRAIL_MAX];
    cr_assert_eq(oldest->kind, ROLLOUT_TRAIL_PAUSE);
    cr_assert_eq(oldest->at, t0 + 2 * 60);
    const rollout_trail_record *last = &s.trail[20 % ROLLOUT_TRAIL_MAX];
    cr_assert_eq(last->kind, ROLLOUT_TRAIL_RESUME);
    cr_assert_eq(last->role, 0);
    char text[ROLLOUT_STATE_TEXT_MAX];
    rollout_state back;
    size_t len = rollout_state_encode(&s, text, sizeof text);
    cr_assert_eq(rollout_state_decode(p, text, len, &back, NULL), ROLLOUT_OK);
    cr_assert(memcmp(&back, &s, sizeof s) == 0);
    rollout_plan_unref(p);
}

/* The seed started on time, canary-go given at T+2h, at T+5h: pilot 10 %. */
static rollout_state in_pilot(const rollout_plan *p)
{
    rollout_state s;
    rollout_state_init(p, &s);
    int64_t t0 = rollout_plan_start(p);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START}, t0);
    t_go(p, &s, -1, t0 + 2 * H);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_TICK}, t0 + 5 * H);
    return s;
}

/* Rolled back in the pilot, retried: the same users are on the new version
 * at the same weight, and the first attempt's GO of the canary stands. */
static rollout_state retried(const rollout_plan *p, rollout_state *before)
{
    int64_t t0 = rollout_plan_start(p);
    rollout_state s = in_pilot(p);
    *before = s;
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_ROLLBACK}, t0 + 5 * H);
    for (int c = ROLLOUT_CONFIRM_TRAFFIC_HALTED; c <= ROLLOUT_CONFIRM_INCIDENT_OPENED; c++)
        if (c != ROLLOUT_CONFIRM_SMOKE_FAILED)
            t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_CONFIRM, .confirmation = c},
                    t0 + 5 * H + 60);
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLED_BACK);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_RETRY}, t0 + 7 * H);
    return s;
}

Test(people, retry_keeps_buckets_and_the_earlier_phases)
{
    rollout_plan *p = t_seed();
    rollout_state first, s = retried(p, &first);
    int64_t t0 = rollout_plan_start(p);
    cr_assert_eq(s.attempt, 2);
    cr_assert_eq(s.gate_go_at[0], t0 + 2 * H, "the canary's GO stands");
    cr_assert_eq(s.gate, 1);
    char org[32];
    int same = 0;
    for (int u = 0; u < 2000; u++) {
        int n = snprintf(org, sizeof org, "user-%d", u);
        rollout_context ctx = {.org = "acme-corp", .org_len = 9, .user = org, .user_len = (size_t)n};
        rollout_decision a, b;
        cr_assert_eq(rollout_decide(p, &first, t0 + 5 * H, &ctx, &a), ROLLOUT_OK);
        cr_assert_eq(rollout_decide(p, &s, t0 + 7 * H, &ctx, &b), ROLLOUT_OK);
        cr_assert_eq(a.variant, b.variant, "user %d moved between attempts", u);
        cr_assert_eq(a.bucket, b.bucket);
        same += a.variant == ROLLOUT_NEW;
    }
    cr_assert_gt(same, 100, "10 %% of the pilot is on the new version in both attempts");
    /* a second rollback and retry: attempt 3, the trail keeps both */
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_ABORT, .why = "again"}, t0 + 8 * H);
    cr_assert_eq(s.trail[(s.trail_total - 1) % ROLLOUT_TRAIL_MAX].attempt, 2);
    for (int c = ROLLOUT_CONFIRM_TRAFFIC_HALTED; c <= ROLLOUT_CONFIRM_INCIDENT_OPENED; c++)
        if (c != ROLLOUT_CONFIRM_SMOKE_FAILED)
            t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_CONFIRM, .confirmation = c},
                    t0 + 8 * H + 60);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_RETRY, .why = "third"}, t0 + 9 * H);
    cr_assert_eq(s.attempt, 3);
    cr_assert_eq(s.attempt_at, t0 + 9 * H);
    const rollout_trail_record *r = &s.trail[(s.trail_total - 1) % ROLLOUT_TRAIL_MAX];
    cr_assert_eq(r->kind, ROLLOUT_TRAIL_RETRY);
    cr_assert_eq(r->attempt, 3);
    bool seen[4] = {false};
    for (uint32_t k = 0; k < s.trail_total && k < ROLLOUT_TRAIL_MAX; k++)
        seen[s.trail[(s.trail_total - 1 - k) % ROLLOUT_TRAIL_MAX].attempt & 3] = true;
    cr_assert(seen[2] && seen[3], "the trail keeps the second and the third attempt");
    rollout_plan_unref(p);
}

Test(people, a_retry_past_the_last_attempt_number_is_refused)
{
    rollout_plan *p = t_seed();
    rollout_state first, s = retried(p, &first);
    int64_t t0 = rollout_plan_start(p);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_ABORT, .why = "again"}, t0 + 8 * H);
    for (int c = ROLLOUT_CONFIRM_TRAFFIC_HALTED; c <= ROLLOUT_CONFIRM_INCIDENT_OPENED; c++)
        if (c != ROLLOUT_CONFIRM_SMOKE_FAILED)
            t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_CONFIRM, .confirmation = c},
                    t0 + 8 * H + 60);
    /* a state written by hand (a file) may carry any attempt number: the
     * counter must not overflow (UBSan would report it) */
    s.attempt = INT32_MAX;
    rollout_state before = s;
    rollout_error err;
    cr_assert_eq(apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_RETRY}, t0 + 9 * H, &err),
                 ROLLOUT_ERR_TRANSITION);
    cr_assert(strstr(err.message, "no attempt number is left"), "%s", err.message);
    cr_assert(memcmp(&before, &s, sizeof s) == 0);
    rollout_plan_unref(p);
}

Test(people, retry_follows_and_migrates)
{
    rollout_plan *p = t_seed();
    rollout_state first, s = retried(p, &first);
    cr_assert(rollout_state_follows(&first, &s), "a retried state follows the first attempt");
    cr_assert(!rollout_state_follows(&s, &first));
    /* a copy that claims another attempt start does not follow */
    rollout_state forged = s;
    forged.revision++;
    forged.attempt_at--;
    rollout_state mid = s;
    t_apply(p, &mid, (rollout_event){.type = ROLLOUT_EVENT_PAUSE}, s.updated_at + 60);
    cr_assert(rollout_state_follows(&s, &mid));
    forged = mid;
    forged.attempt_at--;
    cr_assert(!rollout_state_follows(&s, &forged), "the attempt's start does not move");
    forged = mid;
    forged.trail[(forged.trail_total - 2) % ROLLOUT_TRAIL_MAX].reason[0] = 'x';
    cr_assert(!rollout_state_follows(&s, &forged), "recorded history does not change");

    /* an edited plan (the pilot's 50 % step at 40 %) takes the attempt and
     * the trail over; a plan without the role that approved is refused */
    size_t len;
    char *yaml = t_read_file("examples/plans/seed.yaml", &len);
    char *at = strstr(yaml, "{at: 12h, weight: 50%, unit: user}");
    cr_assert(at);
    memcpy(at, "{at: 12h, weight: 40%, unit: user}", 34);
    rollout_plan *q = t_plan(yaml);
    free(yaml);
    rollout_state out;
    rollout_error err;
    cr_assert_eq(rollout_state_migrate(p, &s, q, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.attempt, 2);
    cr_assert_eq(out.attempt_step, s.attempt_step);
    cr_assert_eq(out.trail_total, s.trail_total);
    cr_assert(memcmp(out.trail, s.trail, sizeof s.trail) == 0);
    cr_assert(rollout_state_follows(&s, &out));
    rollout_plan_unref(q);

    /* the trail names a role the edited plan no longer has */
    t_apply(p, &mid, (rollout_event){.type = ROLLOUT_EVENT_RESUME,
                                     .actor = rp_role_index(p, "on-call-sre") + 1},
            mid.updated_at + 60);
    yaml = t_read_file("examples/plans/seed.yaml", &len);
    for (char *q2 = yaml; (q2 = strstr(q2, "on-call-sre"));)
        memcpy(q2, "on-call-sr_", 11);
    q = t_plan(yaml);
    free(yaml);
    cr_assert_eq(rollout_state_migrate(p, &mid, q, &out, &err), ROLLOUT_ERR_NOT_FOUND);
    cr_assert_str_eq(err.message, "role \"on-call-sre\" is named in the audit trail (resume) and "
                                  "is not in the new plan");
    rollout_plan_unref(q);
    rollout_plan_unref(p);
}

Test(people, promote_all_phases_stops_at_the_next_gate_without_a_go)
{
    rollout_plan *p = t_seed();
    int64_t t0 = rollout_plan_start(p);
    rollout_state s = in_pilot(p);
    rollout_event promote = {.type = ROLLOUT_EVENT_PROMOTE, .all_phases = 1, .why = "go go go"};
    t_apply(p, &s, promote, t0 + 5 * H + 60);
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(p, &s, t0 + 5 * H + 60, &info), ROLLOUT_OK);
    cr_assert_eq(info.cohorts[1].weight, 100000u, "pilot at 100 %%");
    cr_assert_eq(info.cohorts[2].weight, 0u, "GA waits for pilot-go");
    cr_assert_eq(s.trail[(s.trail_total - 1) % ROLLOUT_TRAIL_MAX].flags, ROLLOUT_TRAIL_ALL_PHASES);
    /* after pilot-go, promoting every phase reaches GA's first gate only */
    t_go(p, &s, -1, t0 + 5 * H + 120);
    t_apply(p, &s, promote, t0 + 5 * H + 180);
    cr_assert_eq(rollout_schedule(p, &s, t0 + 5 * H + 180, &info), ROLLOUT_OK);
    cr_assert_eq(info.cohorts[2].weight, 25000u, "GA 25 %% now, its gate next");
    rollout_plan_unref(p);
}

Test(people, a_reason_that_is_not_utf8_is_refused)
{
    rollout_plan *p = t_seed();
    rollout_state s;
    rollout_state_init(p, &s);
    rollout_error err;
    rollout_event abort_ev = {.type = ROLLOUT_EVENT_ABORT, .why = "bad \xff byte"};
    cr_assert_eq(apply(p, &s, abort_ev, rollout_plan_start(p), &err), ROLLOUT_ERR_ENCODING);
    rollout_plan_unref(p);
}

/* The seed started at its start, then ev an hour later. */
static rollout_state started_then(const rollout_plan *p, rollout_event ev)
{
    int64_t t0 = rollout_plan_start(p);
    rollout_state s;
    rollout_state_init(p, &s);
    t_apply(p, &s, (rollout_event){.type = ROLLOUT_EVENT_START}, t0);
    t_apply(p, &s, ev, t0 + H);
    return s;
}

/* What decoding s's text gives (with plan, which may be NULL). */
static int decode_of(const rollout_plan *plan, const rollout_state *s)
{
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(s, text, sizeof text);
    cr_assert(len > 0);
    rollout_state out;
    rollout_error err;
    return rollout_state_decode(plan, text, len, &out, &err);
}

Test(people, a_rollback_with_nothing_left_to_confirm_is_not_a_state)
{
    /* Rolling back means a procedure step waits for its confirmation: the
     * retry refusal, a confirm and `rollout status` all name that step. A
     * state rolling back with every step marked done (edited by hand, or
     * torn in shared memory) would make them read past the procedure. */
    rollout_plan *p = t_seed();
    rollout_state s = started_then(p, (rollout_event){.type = ROLLOUT_EVENT_ABORT});
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLING_BACK);
    size_t n = p->rollback.n_steps;
    /* every step done, with or without the escalation and post-mortem bits */
    const uint32_t bad_done[] = {(1u << n) - 1, ~0u};
    for (int c = 0; c < 2; c++) {
        rollout_state bad = s, out;
        bad.rollback_done = bad_done[c];
        cr_expect_eq(decode_of(p, &bad), ROLLOUT_ERR_STATE, "rolling back, done bits %x, decoded",
                     bad_done[c]);
        rollout_action acts[ROLLOUT_MAX_ACTIONS];
        size_t na = ROLLOUT_MAX_ACTIONS;
        rollout_event ev = {.type = ROLLOUT_EVENT_RETRY};
        rollout_error err;
        cr_expect_eq(rollout_apply(p, &bad, &ev, bad.updated_at + H, &out, acts, &na, &err),
                     ROLLOUT_ERR_STATE, "rolling back, done bits %x, applied", bad_done[c]);
    }
    rollout_plan_unref(p);
}

Test(people, an_approval_or_override_record_names_its_role_and_gate)
{
    /* the machine records who approved or overrode which gate; rollout
     * status shifts by that role (1u << role) to match the approvals, so a
     * record without one is not a state the machine made */
    rollout_plan *p = t_seed();
    rollout_state s = started_then(p, (rollout_event){.type = ROLLOUT_EVENT_APPROVE, .gate = 0,
                                                      .role = rp_role_index(p, "product-lead")});
    cr_assert_eq(s.trail[(s.trail_total - 1) % ROLLOUT_TRAIL_MAX].kind, ROLLOUT_TRAIL_APPROVE);
    for (int c = 0; c < 2; c++) {
        rollout_state bad = s;
        rollout_trail_record *b = &bad.trail[(bad.trail_total - 1) % ROLLOUT_TRAIL_MAX];
        if (c == 0)
            b->role = -1;
        else
            b->gate = -1;
        cr_expect_eq(decode_of(p, &bad), ROLLOUT_ERR_STATE, "an approval without its %s decoded",
                     c ? "gate" : "role");
        cr_expect_eq(decode_of(NULL, &bad), ROLLOUT_ERR_STATE,
                     "an approval without its %s decoded without a plan", c ? "gate" : "role");
    }
    rollout_plan_unref(p);
}
