/* SPDX-License-Identifier: MIT */
/*
 * test_machine.c — the state machine against docs/state-machine.md.
 *
 *  - table: every (status x event) cell of the documented transition table,
 *    written out by hand below, applied to a real state that reached that
 *    status through events on the seed plan;
 *  - the seed walk-through end to end, with every action checked exactly;
 *  - the rollback procedure, its deadline escalation and failed smoke tests;
 *  - gates (approvals, verdicts, overrides, no-go hold/halt/rollback),
 *    pause/resume slips, late GOs, missed ticks;
 *  - properties over 100 000 seeded random event sequences.
 *
 * Expected values are written by hand from the seed plan
 * (examples/plans/seed.yaml, start 2026-02-28T09:00:00Z), never computed by
 * the machine under test.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "support.h"

#define H 3600
#define D 86400
#define M 60

/* ---- a rollout under test ------------------------------------------------- */

typedef struct run {
    rollout_plan *p;
    rollout_state s;
    rollout_action a[ROLLOUT_MAX_ACTIONS];
    size_t n;
    int64_t t0;         /* 2026-02-28T09:00:00Z */
    rollout_error err;
    char sig[4096];     /* the last actions as text, see sig() */
} run;

static const char *unit_name(int u)
{
    static const char *const names[] = {"org", "user", "session", "request"};
    return u >= 0 && u < 4 ? names[u] : "-";
}

/* The actions of the last event as one line: "name:id" with "=weight/unit"
 * for SET_WEIGHT and "@label" when the action names a version. */
static const char *sig(run *r)
{
    char *o = r->sig;
    size_t cap = sizeof r->sig, len = 0;
    o[0] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        const rollout_action *a = &r->a[i];
        len += (size_t)snprintf(o + len, cap - len, "%s%s:%s", i ? " " : "",
                                rollout_action_name(a->type), a->id ? a->id : "-");
        if (a->type == ROLLOUT_ACTION_SET_WEIGHT)
            len += (size_t)snprintf(o + len, cap - len, "=%u/%s", a->weight, unit_name(a->unit));
        if (a->label)
            len += (size_t)snprintf(o + len, cap - len, "@%s", a->label);
    }
    return o;
}

static void run_init(run *r, rollout_plan *p)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->t0 = t_time("2026-02-28T09:00:00Z");
    cr_assert_eq(rollout_state_init(p, &r->s), ROLLOUT_OK);
}

/* Applies e at t0 + off; returns the code. On success the state moves on. */
static int apply(run *r, int64_t off, rollout_event e)
{
    r->n = ROLLOUT_MAX_ACTIONS;
    rollout_state next;
    int rc = rollout_apply(r->p, &r->s, &e, r->t0 + off, &next, r->a, &r->n, &r->err);
    if (rc == ROLLOUT_OK)
        r->s = next;
    else
        cr_assert_eq(r->n, 0u);
    sig(r);
    return rc;
}

/* Applies e and asserts it is accepted with exactly these actions. */
#define OK(r, off, e, expect)                                                                   \
    do {                                                                                        \
        int rc_ = apply((r), (off), (e));                                                       \
        cr_assert_eq(rc_, ROLLOUT_OK, "%s at +%llds refused: %s", rollout_event_name((e).type), \
                     (long long)(off), (r)->err.message);                                       \
        cr_assert_str_eq((r)->sig, (expect), "%s at +%llds", rollout_event_name((e).type),      \
                         (long long)(off));                                                     \
    } while (0)

/* Applies e and asserts it is refused with code, the state untouched. */
#define REFUSED(r, off, e, code)                                                           \
    do {                                                                                   \
        rollout_state before_ = (r)->s;                                                    \
        int rc_ = apply((r), (off), (e));                                                  \
        cr_assert_eq(rc_, (code), "%s at +%llds: got %s", rollout_event_name((e).type),    \
                     (long long)(off), rollout_code_name(rc_));                            \
        cr_assert(memcmp(&before_, &(r)->s, sizeof before_) == 0);                         \
    } while (0)

/* ---- events ------------------------------------------------------------------ */

static rollout_event ev(int type)
{
    return (rollout_event){.type = type, .gate = -1, .role = -1, .verdict = -1, .reason = -1,
                           .confirmation = -1};
}
static rollout_event ev_start(void) { return ev(ROLLOUT_EVENT_START); }
static rollout_event ev_tick(void) { return ev(ROLLOUT_EVENT_TICK); }
static rollout_event ev_pause(void) { return ev(ROLLOUT_EVENT_PAUSE); }
static rollout_event ev_resume(void) { return ev(ROLLOUT_EVENT_RESUME); }
static rollout_event ev_escalate(void) { return ev(ROLLOUT_EVENT_ESCALATE); }
static rollout_event ev_approve(int gate, int role)
{
    rollout_event e = ev(ROLLOUT_EVENT_APPROVE);
    e.gate = gate;
    e.role = role;
    return e;
}
static rollout_event ev_go(int gate)
{
    rollout_event e = ev(ROLLOUT_EVENT_GO);
    e.gate = gate;
    return e;
}
static rollout_event ev_override(int gate, int role)
{
    rollout_event e = ev_go(gate);
    e.override = 1;
    e.role = role;
    e.why = "judgement call";
    e.override_verdict = 1;
    return e;
}
static rollout_event ev_no_go(int gate)
{
    rollout_event e = ev(ROLLOUT_EVENT_NO_GO);
    e.gate = gate;
    return e;
}
static rollout_event ev_verdict(int v)
{
    rollout_event e = ev(ROLLOUT_EVENT_VERDICT);
    e.verdict = v;
    return e;
}
static rollout_event ev_rollback(int reason)
{
    rollout_event e = ev(ROLLOUT_EVENT_ROLLBACK);
    e.reason = reason;
    return e;
}
static rollout_event ev_confirm(int c)
{
    rollout_event e = ev(ROLLOUT_EVENT_CONFIRM);
    e.confirmation = c;
    return e;
}

/* Seed role and gate indices, in the order the seed defines them. */
enum {
    ENG_LEAD = 0, PRODUCT_LEAD, SRE_LEAD, ENGINEERING, PRODUCT, SRE, ON_CALL_SRE, SUPPORT, COMMS
};
enum { CANARY_GO = 0, PILOT_GO, GA_DAY2_GO, GA_DAY3_GO, GA_DAY4_GO };
enum { INTERNAL = 0, PILOT, EVERYONE };
#define BIT(r) (1u << (r))

static rollout_plan *seed(void)
{
    rollout_plan *p = t_seed_overridable();
    /* the enums above are the seed's order */
    cr_assert_eq(rp_role_index(p, "engineering-lead"), ENG_LEAD);
    cr_assert_eq(rp_role_index(p, "product-lead"), PRODUCT_LEAD);
    cr_assert_eq(rp_role_index(p, "sre-lead"), SRE_LEAD);
    cr_assert_eq(rp_role_index(p, "product"), PRODUCT);
    cr_assert_eq(rp_role_index(p, "sre"), SRE);
    cr_assert_eq(rp_role_index(p, "on-call-sre"), ON_CALL_SRE);
    cr_assert_eq(rp_role_index(p, "comms"), COMMS);
    cr_assert_str_eq(rollout_plan_gate_name(p, PILOT_GO), "pilot-go");
    cr_assert_str_eq(rollout_plan_gate_name(p, GA_DAY4_GO), "ga-day4-go");
    cr_assert_str_eq(rollout_plan_cohort_name(p, EVERYONE), "everyone");
    return p;
}

/* The seed with the canary gate's on_no_go changed: the seed itself only
 * rolls back (canary, pilot) or holds (GA), so HALTED needs this. */
static rollout_plan *seed_variant(const char *on_no_go)
{
    size_t len;
    char *yaml = t_seed_overridable_yaml();
    len = strlen(yaml);
    const char *needle = "criteria: canary\n      on_no_go: rollback\n";
    char *at = strstr(yaml, needle);
    cr_assert(at, "the seed's canary gate is not written as expected");
    char *out = malloc(len + 32);
    cr_assert(out);
    size_t head = (size_t)(at - yaml);
    sprintf(out, "%.*scriteria: canary\n      on_no_go: %s\n%s", (int)head, yaml, on_no_go,
            at + strlen(needle));
    rollout_plan *p = t_plan(out);
    free(out);
    free(yaml);
    return p;
}

/* Approvals + PASS + GO for gate g at off (the gate must be due). */
static void pass_gate(run *r, int64_t off, int g, int role_a, int role_b, const char *expect)
{
    OK(r, off, ev_approve(g, role_a), "");
    OK(r, off, ev_approve(g, role_b), "");
    OK(r, off, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(r, off, ev_go(g), expect);
}

/* ---- representative states, one per status ---------------------------------- */

/* Each is reached through events; `at` is the time of its last event. */
static int64_t reach(run *r, int status)
{
    switch (status) {
    case ROLLOUT_STATUS_NOT_STARTED:
        run_init(r, seed());
        return -M;
    case ROLLOUT_STATUS_RUNNING:
        run_init(r, seed());
        OK(r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
        apply(r, 1 * H, ev_tick());
        cr_assert_eq(r->n, 0u);
        return 1 * H;
    case ROLLOUT_STATUS_AWAITING_GATE:
        reach(r, ROLLOUT_STATUS_RUNNING);
        OK(r, 2 * H, ev_tick(), "gate_due:canary-go");
        return 2 * H;
    case ROLLOUT_STATUS_PAUSED:
        reach(r, ROLLOUT_STATUS_RUNNING);
        OK(r, 1 * H, ev_pause(), "");
        return 1 * H;
    case ROLLOUT_STATUS_HALTED:
        run_init(r, seed_variant("halt"));
        OK(r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
        OK(r, 2 * H, ev_no_go(CANARY_GO), "gate_due:canary-go halt_traffic:-");
        return 2 * H;
    case ROLLOUT_STATUS_ROLLING_BACK:
        reach(r, ROLLOUT_STATUS_RUNNING);
        OK(r, 1 * H, ev_rollback(ROLLOUT_ROLLBACK_MANUAL),
           "notify:rollback page:page halt_traffic:halt");
        return 1 * H;
    case ROLLOUT_STATUS_ROLLED_BACK:
        reach(r, ROLLOUT_STATUS_ROLLING_BACK);
        OK(r, 1 * H, ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED),
           "restore_previous:restore@app:previous");
        OK(r, 1 * H, ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED),
           "run_smoke_tests:smoke@app:previous");
        OK(r, 1 * H, ev_confirm(ROLLOUT_CONFIRM_SMOKE_PASSED), "resume_service:resume");
        OK(r, 1 * H, ev_confirm(ROLLOUT_CONFIRM_SERVICE_RESUMED), "open_incident:incident");
        OK(r, 1 * H, ev_confirm(ROLLOUT_CONFIRM_INCIDENT_OPENED),
           "schedule_postmortem:postmortem");
        return 1 * H;
    case ROLLOUT_STATUS_BAKING:
        run_init(r, seed());
        OK(r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
        OK(r, 2 * H, ev_tick(), "gate_due:canary-go");
        pass_gate(r, 2 * H, CANARY_GO, ENG_LEAD, PRODUCT_LEAD, "");
        OK(r, 24 * H, ev_tick(),
           "notify:pilot-start notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
        pass_gate(r, 24 * H, PILOT_GO, SRE_LEAD, PRODUCT_LEAD, "");
        OK(r, 3 * D, ev_tick(), "notify:ga-start gate_due:ga-day2-go set_weight:everyone=25000/org");
        pass_gate(r, 3 * D, GA_DAY2_GO, PRODUCT, SRE, "set_weight:everyone=50000/org");
        OK(r, 4 * D, ev_tick(), "gate_due:ga-day3-go");
        pass_gate(r, 4 * D, GA_DAY3_GO, PRODUCT, SRE, "set_weight:everyone=100000/org");
        OK(r, 5 * D, ev_tick(), "gate_due:ga-day4-go");
        pass_gate(r, 5 * D, GA_DAY4_GO, PRODUCT, SRE, "");
        return 5 * D;
    case ROLLOUT_STATUS_COMPLETED:
        reach(r, ROLLOUT_STATUS_BAKING);
        OK(r, 12 * D, ev_tick(), "complete:ledger-v2");
        return 12 * D;
    }
    cr_assert_fail("no such status %d", status);
    return 0;
}

Test(machine, representative_states_have_their_status)
{
    for (int st = 0; st < ROLLOUT_STATUS_COUNT; st++) {
        run r;
        reach(&r, st);
        cr_assert_eq(r.s.status, st, "wanted %s, got %s", rollout_status_name(st),
                     rollout_status_name(r.s.status));
        rollout_plan_unref(r.p);
    }
}

/* ---- the transition table (docs/state-machine.md), by hand -------------------- */

/* The columns: every event type, with the argument variants that matter. */
enum {
    C_START, C_APPROVE, C_GO, C_GO_OVERRIDE, C_NO_GO, C_PAUSE, C_RESUME,
    C_PASS, C_FAIL, C_INCONCLUSIVE, C_VERDICT_ROLLBACK,
    C_ROLLBACK, C_ROLLBACK_UNLISTED,
    C_HALTED, C_RESTORED, C_SMOKE_OK, C_SMOKE_FAILED, C_RESUMED, C_INCIDENT, C_POSTMORTEM,
    C_ESCALATE, C_TICK, C_TICK_LATE, C_RETRY, C_PROMOTE, C_ABORT,
    C_COUNT
};

static const char *const column_names[C_COUNT] = {
    "start", "approve engineering-lead", "go", "go --override sre-lead", "no-go", "pause",
    "resume", "verdict pass", "verdict fail", "verdict inconclusive", "verdict rollback",
    "rollback manual", "rollback no_go (not a seed trigger)", "confirm traffic_halted",
    "confirm previous_restored", "confirm smoke_passed", "confirm smoke_failed",
    "confirm service_resumed", "confirm incident_opened", "confirm postmortem_done",
    "escalate", "tick (+1m)", "tick (+3h)", "retry", "promote --full", "abort"};

static rollout_event column_event(int c)
{
    switch (c) {
    case C_START: return ev_start();
    case C_APPROVE: return ev_approve(-1, ENG_LEAD);
    case C_GO: return ev_go(-1);
    case C_GO_OVERRIDE: return ev_override(-1, SRE_LEAD);
    case C_NO_GO: return ev_no_go(-1);
    case C_PAUSE: return ev_pause();
    case C_RESUME: return ev_resume();
    case C_PASS: return ev_verdict(ROLLOUT_VERDICT_PASS);
    case C_FAIL: return ev_verdict(ROLLOUT_VERDICT_FAIL);
    case C_INCONCLUSIVE: return ev_verdict(ROLLOUT_VERDICT_INCONCLUSIVE);
    case C_VERDICT_ROLLBACK: return ev_verdict(ROLLOUT_VERDICT_ROLLBACK);
    case C_ROLLBACK: return ev_rollback(ROLLOUT_ROLLBACK_MANUAL);
    case C_ROLLBACK_UNLISTED: return ev_rollback(ROLLOUT_ROLLBACK_NO_GO);
    case C_HALTED: return ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED);
    case C_RESTORED: return ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED);
    case C_SMOKE_OK: return ev_confirm(ROLLOUT_CONFIRM_SMOKE_PASSED);
    case C_SMOKE_FAILED: return ev_confirm(ROLLOUT_CONFIRM_SMOKE_FAILED);
    case C_RESUMED: return ev_confirm(ROLLOUT_CONFIRM_SERVICE_RESUMED);
    case C_INCIDENT: return ev_confirm(ROLLOUT_CONFIRM_INCIDENT_OPENED);
    case C_POSTMORTEM: return ev_confirm(ROLLOUT_CONFIRM_POSTMORTEM_DONE);
    case C_ESCALATE: return ev_escalate();
    case C_RETRY: return ev(ROLLOUT_EVENT_RETRY);
    case C_PROMOTE: {
        rollout_event e = ev(ROLLOUT_EVENT_PROMOTE);
        e.why = "fast track";
        return e;
    }
    case C_ABORT: return ev(ROLLOUT_EVENT_ABORT);
    default: return ev_tick();
    }
}

/* One cell: refused (ROLLOUT_ERR_TRANSITION, nothing changes), a no-op
 * (accepted, nothing changes: a tick with nothing due), or a transition to
 * `status` with exactly `actions`. */
typedef struct cell {
    int kind;
    int status;
    const char *actions;
} cell;
enum { REFUSE = 0, NOOP, MOVE };

#define X {REFUSE, -1, NULL}
#define NO {NOOP, -1, NULL}
#define TO(st, acts) {MOVE, ROLLOUT_STATUS_##st, acts}

#define RB_START "notify:rollback page:page halt_traffic:halt"
#define HALT_LIFT "set_weight:internal=100000/session set_weight:pilot=0/- set_weight:everyone=0/-"
#define ESC "notify:escalation"

/* Rows: the representative states of reach(). Events happen one minute after
 * the state's last event (tick +3h: three hours after). */
static const cell table[ROLLOUT_STATUS_COUNT][C_COUNT] = {
    [ROLLOUT_STATUS_NOT_STARTED] = {
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = TO(ROLLING_BACK, RB_START),
        [C_START] = TO(RUNNING, "notify:canary-start set_weight:internal=100000/session"),
        [C_APPROVE] = X, [C_GO] = X, [C_GO_OVERRIDE] = X, [C_NO_GO] = X, [C_PAUSE] = X,
        [C_RESUME] = X, [C_PASS] = X, [C_FAIL] = X, [C_INCONCLUSIVE] = X,
        [C_VERDICT_ROLLBACK] = X,
        [C_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = X, [C_TICK] = NO, [C_TICK_LATE] = NO},
    [ROLLOUT_STATUS_RUNNING] = {   /* canary at 100 %, T+1h: gate not due yet */
        [C_RETRY] = X, [C_PROMOTE] = X, /* canary-go has no GO */
        [C_ABORT] = TO(ROLLING_BACK, RB_START),
        [C_START] = X,
        [C_APPROVE] = TO(RUNNING, ""),
        [C_GO] = X,                                   /* approvals missing */
        [C_GO_OVERRIDE] = TO(RUNNING, ""),            /* early GO: pilot still at T+4h */
        [C_NO_GO] = TO(ROLLING_BACK, RB_START),       /* canary-go: on_no_go rollback */
        [C_PAUSE] = TO(PAUSED, ""),
        [C_RESUME] = X,
        [C_PASS] = TO(RUNNING, ""), [C_FAIL] = TO(RUNNING, ""),
        [C_INCONCLUSIVE] = TO(RUNNING, ""),
        [C_VERDICT_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = TO(RUNNING, ESC),
        [C_TICK] = NO,
        [C_TICK_LATE] = TO(AWAITING_GATE, "gate_due:canary-go")},
    [ROLLOUT_STATUS_AWAITING_GATE] = {   /* canary-go due (T+2h) */
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = TO(ROLLING_BACK, RB_START),
        [C_START] = X,
        [C_APPROVE] = TO(AWAITING_GATE, ""),
        [C_GO] = X,
        [C_GO_OVERRIDE] = TO(RUNNING, ""),
        [C_NO_GO] = TO(ROLLING_BACK, RB_START),
        [C_PAUSE] = TO(PAUSED, ""),
        [C_RESUME] = X,
        [C_PASS] = TO(AWAITING_GATE, ""), [C_FAIL] = TO(AWAITING_GATE, ""),
        [C_INCONCLUSIVE] = TO(AWAITING_GATE, ""),
        [C_VERDICT_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = TO(AWAITING_GATE, ESC),
        [C_TICK] = NO, [C_TICK_LATE] = NO},
    [ROLLOUT_STATUS_PAUSED] = {   /* paused at T+1h from running */
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = TO(ROLLING_BACK, RB_START),
        [C_START] = X,
        [C_APPROVE] = TO(PAUSED, ""),
        [C_GO] = X, [C_GO_OVERRIDE] = X,              /* resume first */
        [C_NO_GO] = X, [C_PAUSE] = X,
        [C_RESUME] = TO(RUNNING, ""),
        [C_PASS] = TO(PAUSED, ""), [C_FAIL] = TO(PAUSED, ""),
        [C_INCONCLUSIVE] = TO(PAUSED, ""),
        [C_VERDICT_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = TO(PAUSED, ESC),
        [C_TICK] = NO, [C_TICK_LATE] = NO},
    [ROLLOUT_STATUS_HALTED] = {   /* canary-go no-go at T+2h, on_no_go: halt */
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = TO(ROLLING_BACK, RB_START),
        [C_START] = X,
        [C_APPROVE] = TO(HALTED, ""),
        [C_GO] = X,
        [C_GO_OVERRIDE] = TO(RUNNING, HALT_LIFT),
        [C_NO_GO] = X, [C_PAUSE] = X,
        [C_RESUME] = TO(AWAITING_GATE, HALT_LIFT),
        [C_PASS] = TO(HALTED, ""), [C_FAIL] = TO(HALTED, ""),
        [C_INCONCLUSIVE] = TO(HALTED, ""),
        [C_VERDICT_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = TO(HALTED, ESC),
        [C_TICK] = NO, [C_TICK_LATE] = NO},
    [ROLLOUT_STATUS_ROLLING_BACK] = {   /* started T+1h, waits for traffic_halted */
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = X,
        [C_START] = X, [C_APPROVE] = X, [C_GO] = X, [C_GO_OVERRIDE] = X, [C_NO_GO] = X,
        [C_PAUSE] = X, [C_RESUME] = X, [C_PASS] = X, [C_FAIL] = X, [C_INCONCLUSIVE] = X,
        [C_VERDICT_ROLLBACK] = X, [C_ROLLBACK] = X, [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = TO(ROLLING_BACK, "restore_previous:restore@app:previous"),
        [C_RESTORED] = X,                              /* out of order */
        [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X, [C_RESUMED] = X, [C_INCIDENT] = X,
        [C_POSTMORTEM] = X,                            /* not rolled back yet */
        [C_ESCALATE] = TO(ROLLING_BACK, ESC),
        [C_TICK] = NO,
        [C_TICK_LATE] = TO(ROLLING_BACK, "escalate:-")},   /* past the 30 min deadline */
    [ROLLOUT_STATUS_ROLLED_BACK] = {
        [C_RETRY] = TO(RUNNING, "notify:canary-start " HALT_LIFT), [C_PROMOTE] = X,
        [C_ABORT] = X,
        [C_START] = X, [C_APPROVE] = X, [C_GO] = X, [C_GO_OVERRIDE] = X, [C_NO_GO] = X,
        [C_PAUSE] = X, [C_RESUME] = X, [C_PASS] = X, [C_FAIL] = X, [C_INCONCLUSIVE] = X,
        [C_VERDICT_ROLLBACK] = X, [C_ROLLBACK] = X, [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X,
        [C_POSTMORTEM] = TO(ROLLED_BACK, ""),
        [C_ESCALATE] = TO(ROLLED_BACK, ESC),
        [C_TICK] = NO, [C_TICK_LATE] = NO},
    [ROLLOUT_STATUS_BAKING] = {   /* every gate has its GO; bake T+5d..T+12d */
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = TO(ROLLING_BACK, RB_START),
        [C_START] = X,
        [C_APPROVE] = X, [C_GO] = X, [C_GO_OVERRIDE] = X, [C_NO_GO] = X,   /* no gate left */
        [C_PAUSE] = TO(PAUSED, ""),
        [C_RESUME] = X,
        [C_PASS] = TO(BAKING, ""), [C_FAIL] = TO(BAKING, ""),
        [C_INCONCLUSIVE] = TO(BAKING, ""),
        [C_VERDICT_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK] = TO(ROLLING_BACK, RB_START),
        [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = TO(BAKING, ESC),
        [C_TICK] = NO, [C_TICK_LATE] = NO},
    [ROLLOUT_STATUS_COMPLETED] = {
        [C_RETRY] = X, [C_PROMOTE] = X, [C_ABORT] = X,
        [C_START] = X, [C_APPROVE] = X, [C_GO] = X, [C_GO_OVERRIDE] = X, [C_NO_GO] = X,
        [C_PAUSE] = X, [C_RESUME] = X, [C_PASS] = X, [C_FAIL] = X, [C_INCONCLUSIVE] = X,
        [C_VERDICT_ROLLBACK] = X, [C_ROLLBACK] = X, [C_ROLLBACK_UNLISTED] = X,
        [C_HALTED] = X, [C_RESTORED] = X, [C_SMOKE_OK] = X, [C_SMOKE_FAILED] = X,
        [C_RESUMED] = X, [C_INCIDENT] = X, [C_POSTMORTEM] = X,
        [C_ESCALATE] = X, [C_TICK] = NO, [C_TICK_LATE] = NO},
};

Test(machine, transition_table)
{
    int cells = 0;
    for (int st = 0; st < ROLLOUT_STATUS_COUNT; st++) {
        for (int c = 0; c < C_COUNT; c++) {
            run r;
            int64_t at = reach(&r, st);
            int64_t off = at + (c == C_TICK_LATE ? 3 * H : M);
            const cell *want = &table[st][c];
            rollout_event e = column_event(c);
            rollout_state before = r.s;
            rollout_state next;
            memset(&next, 0xA5, sizeof next);
            rollout_state untouched = next;
            r.n = ROLLOUT_MAX_ACTIONS;
            int rc = rollout_apply(r.p, &r.s, &e, r.t0 + off, &next, r.a, &r.n, &r.err);
            const char *where = rollout_status_name(st);
            cr_assert(memcmp(&before, &r.s, sizeof before) == 0, "%s x %s: input changed",
                      where, column_names[c]);
            switch (want->kind) {
            case REFUSE:
                cr_assert_eq(rc, ROLLOUT_ERR_TRANSITION, "%s x %s: got %s (%s)", where,
                             column_names[c], rollout_code_name(rc), rc ? r.err.message : "");
                cr_assert_eq(r.err.code, ROLLOUT_ERR_TRANSITION);
                cr_assert(r.err.message[0]);
                cr_assert_eq(r.n, 0u, "%s x %s", where, column_names[c]);
                cr_assert(memcmp(&next, &untouched, sizeof next) == 0, "%s x %s: next written",
                          where, column_names[c]);
                break;
            case NOOP:
                cr_assert_eq(rc, ROLLOUT_OK, "%s x %s: %s", where, column_names[c],
                             r.err.message);
                cr_assert_eq(r.n, 0u, "%s x %s: %s", where, column_names[c], sig(&r));
                cr_assert(memcmp(&next, &before, sizeof next) == 0, "%s x %s: not a no-op",
                          where, column_names[c]);
                break;
            default:
                cr_assert_eq(rc, ROLLOUT_OK, "%s x %s: %s", where, column_names[c],
                             r.err.message);
                cr_assert_eq(next.status, want->status, "%s x %s: went to %s", where,
                             column_names[c], rollout_status_name(next.status));
                cr_assert_str_eq(sig(&r), want->actions, "%s x %s", where, column_names[c]);
                cr_assert_eq(next.revision, before.revision + 1);
                cr_assert_eq(next.updated_at, r.t0 + off);
                break;
            }
            cells++;
            rollout_plan_unref(r.p);
        }
    }
    cr_assert_eq(cells, ROLLOUT_STATUS_COUNT * C_COUNT);
}

/* Every event type is covered by at least one column. */
Test(machine, table_covers_every_event_type)
{
    bool seen[ROLLOUT_EVENT_COUNT] = {false};
    for (int c = 0; c < C_COUNT; c++)
        seen[column_event(c).type] = true;
    for (int t = 0; t < ROLLOUT_EVENT_COUNT; t++)
        cr_assert(seen[t], "event %s has no column", rollout_event_name(t));
}

/* ---- the seed walk-through ----------------------------------------------------- */

static void check_notify(const rollout_action *a, const char *id, const char *channel,
                         const char *audience, uint32_t roles)
{
    cr_assert_eq(a->type, ROLLOUT_ACTION_NOTIFY);
    cr_assert_str_eq(a->id, id);
    cr_assert_str_eq(a->channel, channel);
    cr_assert_str_eq(a->audience, audience);
    cr_assert_eq(a->roles, roles, "%s: roles %x", id, a->roles);
    cr_assert(a->text && a->text[0]);
}

static void check_weight(const rollout_action *a, int cohort, uint32_t weight, int unit)
{
    cr_assert_eq(a->type, ROLLOUT_ACTION_SET_WEIGHT);
    cr_assert_eq(a->cohort, cohort);
    cr_assert_eq(a->weight, weight);
    cr_assert_eq(a->unit, unit);
}

static void check_gate_due(const rollout_action *a, int gate, uint32_t roles, int64_t due)
{
    cr_assert_eq(a->type, ROLLOUT_ACTION_GATE_DUE);
    cr_assert_eq(a->gate, gate);
    cr_assert_eq(a->roles, roles);
    cr_assert_eq(a->due, due);
}

Test(machine, seed_walkthrough_end_to_end)
{
    run r;
    run_init(&r, seed());
    int64_t T = r.t0;
    cr_assert_eq(T, 1772269200); /* 2026-02-28T09:00:00Z */

    /* canary: T+0, internal sessions at 100 %, Slack to the team */
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    check_notify(&r.a[0], "canary-start", "slack", "team", BIT(ENGINEERING));
    check_weight(&r.a[1], INTERNAL, 100000, ROLLOUT_UNIT_SESSION);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    cr_assert_eq(r.s.started_at, T);
    cr_assert_eq(r.s.phase, 0);
    cr_assert_eq(r.s.step, 0);
    cr_assert_eq(r.s.gate, CANARY_GO);
    cr_assert_eq(r.s.revision, 1u);
    OK(&r, 2 * H - 1, ev_tick(), "");
    cr_assert_eq(r.s.revision, 1u, "a tick with nothing due is not a transition");

    /* Feb 28 11:00: canary go/no-go, engineering lead + product lead */
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    check_gate_due(&r.a[0], CANARY_GO, BIT(ENG_LEAD) | BIT(PRODUCT_LEAD),
                   t_time("2026-02-28T11:00:00Z"));
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    REFUSED(&r, 2 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    cr_assert(strstr(r.err.message, "engineering-lead"), "%s", r.err.message);
    OK(&r, 2 * H, ev_approve(-1, ENG_LEAD), "");
    cr_assert_eq(r.s.gate_approvals[CANARY_GO], BIT(ENG_LEAD));
    REFUSED(&r, 2 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    cr_assert(strstr(r.err.message, "product-lead"), "%s", r.err.message);
    REFUSED(&r, 2 * H, ev_approve(-1, ENG_LEAD), ROLLOUT_ERR_TRANSITION); /* twice */
    REFUSED(&r, 2 * H, ev_approve(-1, SRE_LEAD), ROLLOUT_ERR_TRANSITION); /* not an approver */
    OK(&r, 2 * H, ev_approve(CANARY_GO, PRODUCT_LEAD), "");
    REFUSED(&r, 2 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    cr_assert(strstr(r.err.message, "PASS"), "%s", r.err.message);
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    cr_assert_eq(r.s.consecutive_failures, 1);
    REFUSED(&r, 2 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_INCONCLUSIVE), "");
    cr_assert_eq(r.s.consecutive_inconclusive, 1);
    REFUSED(&r, 2 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 2 * H, ev_go(-1), "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    cr_assert_eq(r.s.gate_go_at[CANARY_GO], T + 2 * H);
    cr_assert_eq(r.s.gate_override_role[CANARY_GO], -1);
    cr_assert_eq(r.s.last_verdict, -1, "the next gate needs a fresh verdict");
    cr_assert_eq(r.s.gate, PILOT_GO);

    /* pilot ramp: 10 % at T+4h (Feb 28 13:00), 25 % at 6h, 50 % at 12h, 100 % at 24h */
    OK(&r, 4 * H - 1, ev_tick(), "");
    OK(&r, 4 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    check_notify(&r.a[0], "pilot-start", "email+in-app-banner", "pilot-orgs", BIT(PRODUCT));
    check_weight(&r.a[1], PILOT, 10000, ROLLOUT_UNIT_USER);
    cr_assert_eq(r.s.phase, 1);
    cr_assert_eq(r.s.step, 0);
    cr_assert_eq(r.t0 + 4 * H, t_time("2026-02-28T13:00:00Z"));
    OK(&r, 6 * H, ev_tick(), "set_weight:pilot=25000/user");
    OK(&r, 12 * H, ev_tick(), "set_weight:pilot=50000/user");
    cr_assert_eq(r.s.step, 2);
    /* approving the pilot gate before its step (100 %) has happened is refused */
    REFUSED(&r, 12 * H, ev_approve(PILOT_GO, SRE_LEAD), ROLLOUT_ERR_TRANSITION);
    OK(&r, 24 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    check_notify(&r.a[0], "pilot-100", "email", "pilot-orgs", BIT(PRODUCT));
    check_gate_due(&r.a[1], PILOT_GO, BIT(SRE_LEAD) | BIT(PRODUCT_LEAD),
                   t_time("2026-03-01T09:00:00Z"));
    check_weight(&r.a[2], PILOT, 100000, ROLLOUT_UNIT_USER);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);

    /* pilot gate: SRE lead + product lead; only the next gate may be decided */
    REFUSED(&r, 24 * H, ev_approve(CANARY_GO, PRODUCT_LEAD), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 24 * H, ev_approve(GA_DAY2_GO, PRODUCT), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 24 * H, ev_approve(-1, ENG_LEAD), ROLLOUT_ERR_TRANSITION);
    pass_gate(&r, 24 * H, PILOT_GO, SRE_LEAD, PRODUCT_LEAD, "");

    /* GA: 25 % at day 2 (Mar 02 09:00), a gate at the end of each day */
    OK(&r, 48 * H - 1, ev_tick(), "");
    OK(&r, 48 * H, ev_tick(), "notify:ga-start set_weight:everyone=25000/org");
    check_notify(&r.a[0], "ga-start", "email+marketing", "all-customers", BIT(PRODUCT));
    check_weight(&r.a[1], EVERYONE, 25000, ROLLOUT_UNIT_ORG);
    cr_assert_eq(r.t0 + 48 * H, t_time("2026-03-02T09:00:00Z"));
    OK(&r, 3 * D, ev_tick(), "gate_due:ga-day2-go");
    check_gate_due(&r.a[0], GA_DAY2_GO, BIT(PRODUCT) | BIT(SRE), t_time("2026-03-03T09:00:00Z"));
    /* the GO at the same second as the tick releases the 50 % step at once */
    pass_gate(&r, 3 * D, GA_DAY2_GO, PRODUCT, SRE, "set_weight:everyone=50000/org");
    OK(&r, 4 * D, ev_tick(), "gate_due:ga-day3-go");
    pass_gate(&r, 4 * D, GA_DAY3_GO, SRE, PRODUCT, "set_weight:everyone=100000/org");
    cr_assert_eq(r.t0 + 4 * D, t_time("2026-03-04T09:00:00Z"));
    OK(&r, 5 * D, ev_tick(), "gate_due:ga-day4-go");
    pass_gate(&r, 5 * D, GA_DAY4_GO, PRODUCT, SRE, "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_BAKING);
    cr_assert_eq(r.s.gate, -1);

    /* bake 7 days, then complete */
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(r.p, &r.s, T + 6 * D, &info), ROLLOUT_OK);
    cr_assert_eq(info.status, ROLLOUT_STATUS_BAKING);
    cr_assert_eq(info.complete_at, t_time("2026-03-12T09:00:00Z"));
    OK(&r, 12 * D - 1, ev_tick(), "");
    OK(&r, 12 * D, ev_tick(), "complete:ledger-v2");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_COMPLETED);
    cr_assert_eq(r.s.status_since[ROLLOUT_STATUS_COMPLETED], T + 12 * D);
    OK(&r, 13 * D, ev_tick(), "");
    REFUSED(&r, 13 * D, ev_rollback(ROLLOUT_ROLLBACK_MANUAL), ROLLOUT_ERR_TRANSITION);
    rollout_plan_unref(r.p);
}

/* Up to the pilot's 25 % step (T+6h), ticking as a gateway would. */
static void to_pilot(run *r)
{
    run_init(r, seed());
    OK(r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(r, 2 * H, ev_tick(), "gate_due:canary-go");
    pass_gate(r, 2 * H, CANARY_GO, ENG_LEAD, PRODUCT_LEAD, "");
    OK(r, 4 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    OK(r, 6 * H, ev_tick(), "set_weight:pilot=25000/user");
}

static rollout_context pilot_user(void)
{
    static const rollout_attr attrs[] = {{"email", 5, "ann@acme.test", 13}};
    return (rollout_context){.org = "acme-corp", .org_len = 9, .user = "ann", .user_len = 3,
                             .session = "s-1", .session_len = 3, .attrs = attrs, .n_attrs = 1};
}

static void check_stable(run *r, int64_t at, int reason)
{
    rollout_context ctx = pilot_user();
    rollout_decision d;
    cr_assert_eq(rollout_decide(r->p, &r->s, at, &ctx, &d), ROLLOUT_OK);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.reason, reason, "reason %s", rollout_reason_name(d.reason));
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(r->p, &r->s, at, &info), ROLLOUT_OK);
    for (int c = 0; c < info.n_cohorts; c++)
        cr_assert_eq(info.cohorts[c].weight, 0u);
}

Test(machine, pilot_rollback_runs_the_seven_steps_in_order)
{
    run r;
    to_pilot(&r);
    int64_t T = r.t0;
    OK(&r, 8 * H, ev_rollback(ROLLOUT_ROLLBACK_CRITICAL_BUG),
       "notify:rollback page:page halt_traffic:halt");
    /* the communication row: emergency notification, product + comms */
    check_notify(&r.a[0], "rollback", "emergency", "affected-users", BIT(PRODUCT) | BIT(COMMS));
    /* 1. page on-call SRE + product */
    cr_assert_eq(r.a[1].type, ROLLOUT_ACTION_PAGE);
    cr_assert_eq(r.a[1].roles, BIT(ON_CALL_SRE) | BIT(PRODUCT));
    cr_assert_str_eq(r.a[1].text, "Page on-call SRE + Product");
    /* 2. halt traffic to the new version */
    cr_assert_eq(r.a[2].type, ROLLOUT_ACTION_HALT_TRAFFIC);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_ROLLING_BACK);
    cr_assert_eq(r.s.rollback_reason, ROLLOUT_ROLLBACK_CRITICAL_BUG);
    cr_assert_eq(r.s.rollback_started_at, T + 8 * H);
    cr_assert_eq(r.s.phase, 1);
    cr_assert_eq(r.s.step, 1);
    check_stable(&r, T + 8 * H, ROLLOUT_REASON_ROLLED_BACK);

    /* confirmations must come in the procedure's order */
    REFUSED(&r, 8 * H + 5 * M, ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED),
            ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 8 * H + 5 * M, ev_confirm(ROLLOUT_CONFIRM_SMOKE_FAILED), ROLLOUT_ERR_TRANSITION);
    /* 3. restart the previous approved version */
    OK(&r, 8 * H + 5 * M, ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED),
       "restore_previous:restore@app:previous");
    /* 4. smoke tests on the previous version */
    OK(&r, 8 * H + 10 * M, ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED),
       "run_smoke_tests:smoke@app:previous");
    /* 5. resume service */
    OK(&r, 8 * H + 15 * M, ev_confirm(ROLLOUT_CONFIRM_SMOKE_PASSED), "resume_service:resume");
    /* 6. document, open the incident */
    OK(&r, 8 * H + 20 * M, ev_confirm(ROLLOUT_CONFIRM_SERVICE_RESUMED), "open_incident:incident");
    cr_assert_str_eq(r.a[0].text, "Document what went wrong; open incident ticket");
    /* 7. post-mortem within 24 hours */
    OK(&r, 8 * H + 25 * M, ev_confirm(ROLLOUT_CONFIRM_INCIDENT_OPENED),
       "schedule_postmortem:postmortem");
    cr_assert_eq(r.a[0].due, T + 8 * H + 25 * M + 24 * H);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_ROLLED_BACK);
    cr_assert_eq(r.s.status_since[ROLLOUT_STATUS_ROLLED_BACK], T + 8 * H + 25 * M);
    check_stable(&r, T + 30 * D, ROLLOUT_REASON_ROLLED_BACK);

    /* done within the deadline: no escalation, ticks do nothing */
    OK(&r, 9 * H, ev_tick(), "");
    OK(&r, 20 * H, ev_confirm(ROLLOUT_CONFIRM_POSTMORTEM_DONE), "");
    REFUSED(&r, 21 * H, ev_confirm(ROLLOUT_CONFIRM_POSTMORTEM_DONE), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 21 * H, ev_start(), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 21 * H, ev_resume(), ROLLOUT_ERR_TRANSITION);
    rollout_plan_unref(r.p);
}

Test(machine, failed_smoke_tests_escalate_and_run_again)
{
    run r;
    to_pilot(&r);
    OK(&r, 8 * H, ev_rollback(ROLLOUT_ROLLBACK_DATA_CORRUPTION),
       "notify:rollback page:page halt_traffic:halt");
    OK(&r, 8 * H, ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED),
       "restore_previous:restore@app:previous");
    OK(&r, 8 * H, ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED),
       "run_smoke_tests:smoke@app:previous");
    OK(&r, 8 * H + 10 * M, ev_confirm(ROLLOUT_CONFIRM_SMOKE_FAILED),
       "escalate:smoke run_smoke_tests:smoke@app:previous");
    cr_assert_eq(r.a[0].due, r.t0 + 8 * H + 10 * M);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_ROLLING_BACK);
    OK(&r, 8 * H + 15 * M, ev_confirm(ROLLOUT_CONFIRM_SMOKE_FAILED),
       "escalate:smoke run_smoke_tests:smoke@app:previous");
    OK(&r, 8 * H + 20 * M, ev_confirm(ROLLOUT_CONFIRM_SMOKE_PASSED), "resume_service:resume");
    rollout_plan_unref(r.p);
}

Test(machine, rollback_deadline_escalates_once_by_tick)
{
    run r;
    to_pilot(&r);
    OK(&r, 8 * H, ev_rollback(ROLLOUT_ROLLBACK_ERROR_RATE),
       "notify:rollback page:page halt_traffic:halt");
    OK(&r, 8 * H + 10 * M, ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED),
       "restore_previous:restore@app:previous");
    OK(&r, 8 * H + 30 * M, ev_tick(), ""); /* at the deadline: not past it */
    OK(&r, 8 * H + 30 * M + 1, ev_tick(), "escalate:-");
    cr_assert_eq(r.a[0].due, r.t0 + 8 * H + 30 * M);
    cr_assert_str_eq(r.a[0].text, "the rollback ran past its deadline");
    OK(&r, 9 * H, ev_tick(), ""); /* once */
    OK(&r, 9 * H, ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED),
       "run_smoke_tests:smoke@app:previous");
    OK(&r, 10 * H, ev_tick(), "");
    rollout_plan_unref(r.p);
}

Test(machine, rollback_triggers_follow_the_plan)
{
    run r;
    to_pilot(&r);
    /* the seed lists critical_bug, data_corruption, error_rate and manual */
    REFUSED(&r, 7 * H, ev_rollback(ROLLOUT_ROLLBACK_NO_GO), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 7 * H, ev_rollback(ROLLOUT_ROLLBACK_EVALUATION), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 7 * H, ev_rollback(ROLLOUT_ROLLBACK_COUNT), ROLLOUT_ERR_ARG);
    /* an evaluation that says ROLLBACK starts one with its own reason */
    OK(&r, 7 * H, ev_verdict(ROLLOUT_VERDICT_ROLLBACK),
       "notify:rollback page:page halt_traffic:halt");
    cr_assert_eq(r.s.rollback_reason, ROLLOUT_ROLLBACK_EVALUATION);
    cr_assert_eq(r.s.last_verdict, ROLLOUT_VERDICT_ROLLBACK);
    REFUSED(&r, 7 * H, ev_rollback(ROLLOUT_ROLLBACK_MANUAL), ROLLOUT_ERR_TRANSITION);
    rollout_plan_unref(r.p);
}

/* A ROLLBACK verdict carries the trigger its criterion names (the seed's
 * zero-critical-errors says critical_bug); none, or "manual", means the
 * evaluation itself. */
Test(machine, rollback_verdict_keeps_the_criterion_reason)
{
    static const struct { int given, recorded; } cases[] = {
        {ROLLOUT_ROLLBACK_DATA_CORRUPTION, ROLLOUT_ROLLBACK_DATA_CORRUPTION},
        {ROLLOUT_ROLLBACK_CRITICAL_BUG, ROLLOUT_ROLLBACK_CRITICAL_BUG},
        {ROLLOUT_ROLLBACK_MANUAL, ROLLOUT_ROLLBACK_EVALUATION},
        {-1, ROLLOUT_ROLLBACK_EVALUATION},
        {ROLLOUT_ROLLBACK_COUNT, ROLLOUT_ROLLBACK_EVALUATION},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run r;
        to_pilot(&r);
        rollout_event e = ev_verdict(ROLLOUT_VERDICT_ROLLBACK);
        e.reason = cases[i].given;
        OK(&r, 7 * H, e, "notify:rollback page:page halt_traffic:halt");
        cr_expect_eq(r.s.rollback_reason, cases[i].recorded, "given %d", cases[i].given);
        rollout_plan_unref(r.p);
    }
}

/* A step that only changes the unit keeps the weight: its "reached N %"
 * message was sent by the step before and must not go out twice. */
Test(machine, a_repeated_weight_is_announced_once)
{
    rollout_plan *p = t_plan(
        "format: 1\nid: t\nsalt: s\nstart: 2026-02-28T09:00:00Z\n"
        "versions: {stable: a, new: b}\nroles: {owner: Owner}\n"
        "cohorts:\n  - {id: all, match: {everyone: true}}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
        "phases:\n  - id: ga\n    cohort: all\n    steps:\n"
        "      - {at: 0, weight: 50%, unit: org}\n"
        "      - {at: 1h, weight: 50%, unit: user}\n"
        "      - {at: 2h, weight: 100%, unit: user}\n"
        "communications:\n"
        "  - {id: half, on: {event: step, phase: ga, weight: 50%}, message: m, channel: c,"
        " audience: a, owners: [owner]}\n");
    run r;
    run_init(&r, p);
    OK(&r, 0, ev_start(), "notify:half set_weight:all=50000/org");
    OK(&r, H, ev_tick(), "set_weight:all=50000/user");
    /* no bake: the last step completes the rollout */
    OK(&r, 2 * H, ev_tick(), "set_weight:all=100000/user complete:t");
    rollout_plan_unref(p);
}

/* ---- gates ------------------------------------------------------------------------- */

Test(machine, go_override_records_who)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_approve(-1, ENG_LEAD), "gate_due:canary-go");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    REFUSED(&r, 2 * H, ev_override(-1, -1), ROLLOUT_ERR_TRANSITION); /* who? */
    REFUSED(&r, 2 * H, ev_override(-1, 40), ROLLOUT_ERR_TRANSITION);
    OK(&r, 2 * H + 30 * M, ev_override(-1, SRE_LEAD), "");
    cr_assert_eq(r.s.gate_override_role[CANARY_GO], SRE_LEAD);
    cr_assert_eq(r.s.gate_go_at[CANARY_GO], r.t0 + 2 * H + 30 * M);
    cr_assert_eq(r.s.gate_approvals[CANARY_GO], BIT(ENG_LEAD));
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    /* the GO came 30 minutes late: the pilot starts at T+4h30m */
    OK(&r, 4 * H + 30 * M - 1, ev_tick(), "");
    OK(&r, 4 * H + 30 * M, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    rollout_plan_unref(r.p);
}

Test(machine, early_go_does_not_pull_the_schedule_forward)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 1 * H, ev_approve(-1, ENG_LEAD), "");
    OK(&r, 1 * H, ev_approve(-1, PRODUCT_LEAD), "");
    OK(&r, 1 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 1 * H, ev_go(-1), "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    OK(&r, 2 * H, ev_tick(), ""); /* no gate call: it has its GO */
    OK(&r, 4 * H - 1, ev_tick(), "");
    OK(&r, 4 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    rollout_plan_unref(r.p);
}

Test(machine, late_go_slips_the_schedule)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    OK(&r, 4 * H, ev_tick(), ""); /* no GO: the pilot waits */
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    pass_gate(&r, 5 * H, CANARY_GO, ENG_LEAD, PRODUCT_LEAD, "");
    rollout_schedule_info info;
    rollout_schedule(r.p, &r.s, r.t0 + 5 * H, &info);
    cr_assert_eq(info.next_at, r.t0 + 7 * H);
    cr_assert_eq(info.slip, 3 * H);
    OK(&r, 7 * H - 1, ev_tick(), "");
    OK(&r, 7 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    OK(&r, 9 * H, ev_tick(), "set_weight:pilot=25000/user");
    OK(&r, 15 * H, ev_tick(), "set_weight:pilot=50000/user");
    OK(&r, 27 * H - 1, ev_tick(), "");
    OK(&r, 27 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    cr_assert_eq(r.a[1].due, r.t0 + 27 * H);
    rollout_plan_unref(r.p);
}

Test(machine, no_go_hold_keeps_weights_and_asks_again)
{
    run r;
    to_pilot(&r);
    OK(&r, 24 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    pass_gate(&r, 24 * H, PILOT_GO, SRE_LEAD, PRODUCT_LEAD, "");
    OK(&r, 3 * D, ev_tick(), "notify:ga-start gate_due:ga-day2-go set_weight:everyone=25000/org");
    OK(&r, 3 * D, ev_approve(-1, PRODUCT), "");
    OK(&r, 3 * D + 1 * H, ev_no_go(-1), ""); /* ga gates: on_no_go hold */
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    cr_assert_eq(r.s.gate_no_go_at[GA_DAY2_GO], r.t0 + 3 * D + 1 * H);
    cr_assert_eq(r.s.gate_approvals[GA_DAY2_GO], 0u, "a no-go clears the approvals");
    rollout_schedule_info info;
    rollout_schedule(r.p, &r.s, r.t0 + 3 * D + 20 * H, &info);
    cr_assert_eq(info.cohorts[EVERYONE].weight, 25000u);
    OK(&r, 3 * D + 20 * H, ev_tick(), "");
    OK(&r, 3 * D + 20 * H, ev_no_go(-1), ""); /* still no */
    OK(&r, 3 * D + 20 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    REFUSED(&r, 3 * D + 20 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    /* a day late: 50 % now, and the next gate a day later than planned */
    pass_gate(&r, 4 * D, GA_DAY2_GO, PRODUCT, SRE, "set_weight:everyone=50000/org");
    cr_assert_eq(r.s.gate_no_go_at[GA_DAY2_GO], 0);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    OK(&r, 5 * D - 1, ev_tick(), "");
    OK(&r, 5 * D, ev_tick(), "gate_due:ga-day3-go");
    rollout_plan_unref(r.p);
}

Test(machine, no_go_hold_before_the_gate_is_due_holds)
{
    run r;
    to_pilot(&r);
    OK(&r, 24 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    pass_gate(&r, 24 * H, PILOT_GO, SRE_LEAD, PRODUCT_LEAD, "");
    OK(&r, 2 * D + 1 * H, ev_no_go(-1), "notify:ga-start set_weight:everyone=25000/org");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    OK(&r, 3 * D, ev_tick(), "gate_due:ga-day2-go");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    rollout_plan_unref(r.p);
}

Test(machine, no_go_halt_and_its_way_back)
{
    run r;
    run_init(&r, seed_variant("halt"));
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    OK(&r, 2 * H, ev_approve(-1, ENG_LEAD), "");
    OK(&r, 2 * H, ev_no_go(-1), "halt_traffic:-");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_HALTED);
    cr_assert_eq(r.s.gate_approvals[CANARY_GO], 0u);
    static const rollout_attr staff[] = {{"role", 4, "staff", 5}};
    rollout_context ctx = {.user = "u", .user_len = 1, .session = "s", .session_len = 1,
                           .attrs = staff, .n_attrs = 1};
    rollout_decision d;
    cr_assert_eq(rollout_decide(r.p, &r.s, r.t0 + 3 * H, &ctx, &d), ROLLOUT_OK);
    cr_assert_eq(d.variant, ROLLOUT_STABLE);
    cr_assert_eq(d.reason, ROLLOUT_REASON_HALTED);
    OK(&r, 5 * H, ev_tick(), "");
    REFUSED(&r, 5 * H, ev_pause(), ROLLOUT_ERR_TRANSITION);
    /* a GO (approvals and PASS again) lifts the halt: weights come back */
    OK(&r, 6 * H, ev_approve(-1, ENG_LEAD), "");
    OK(&r, 6 * H, ev_approve(-1, PRODUCT_LEAD), "");
    OK(&r, 6 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 6 * H, ev_go(-1), HALT_LIFT);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    cr_assert_eq(rollout_decide(r.p, &r.s, r.t0 + 6 * H, &ctx, &d), ROLLOUT_OK);
    cr_assert_eq(d.variant, ROLLOUT_NEW);
    OK(&r, 8 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    rollout_plan_unref(r.p);
}

Test(machine, resume_lifts_a_halt_back_to_the_gate)
{
    run r;
    run_init(&r, seed_variant("halt"));
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_no_go(-1), "gate_due:canary-go halt_traffic:-");
    OK(&r, 3 * H, ev_resume(), HALT_LIFT);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    cr_assert_eq(r.s.status_since[ROLLOUT_STATUS_AWAITING_GATE], r.t0 + 3 * H);
    OK(&r, 4 * H, ev_tick(), "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    REFUSED(&r, 4 * H, ev_resume(), ROLLOUT_ERR_TRANSITION);
    rollout_plan_unref(r.p);
}

Test(machine, no_go_rollback_starts_the_procedure)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    /* the gate call that fell due with this event is moot: rollback wins */
    OK(&r, 2 * H, ev_no_go(-1), "notify:rollback page:page halt_traffic:halt");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_ROLLING_BACK);
    cr_assert_eq(r.s.rollback_reason, ROLLOUT_ROLLBACK_NO_GO);
    cr_assert_eq(r.s.gate_no_go_at[CANARY_GO], r.t0 + 2 * H);
    rollout_plan_unref(r.p);
}

/* ---- pauses, missed ticks ---------------------------------------------------------- */

Test(machine, pause_and_resume_slip_later_steps)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    pass_gate(&r, 2 * H, CANARY_GO, ENG_LEAD, PRODUCT_LEAD, "");
    OK(&r, 4 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    OK(&r, 5 * H, ev_pause(), "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_PAUSED);
    cr_assert_eq(r.s.paused_from, ROLLOUT_STATUS_RUNNING);
    cr_assert_eq(r.s.n_pauses, 1);
    OK(&r, 7 * H, ev_tick(), ""); /* the schedule's clock stands still */
    REFUSED(&r, 7 * H, ev_pause(), ROLLOUT_ERR_TRANSITION);
    REFUSED(&r, 7 * H, ev_go(-1), ROLLOUT_ERR_TRANSITION);
    rollout_schedule_info info;
    rollout_schedule(r.p, &r.s, r.t0 + 7 * H, &info);
    cr_assert_eq(info.cohorts[PILOT].weight, 10000u);
    /* two hours paused: 25 % at 8h, 50 % at 14h, 100 % and the gate at 26h */
    OK(&r, 7 * H, ev_resume(), "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_RUNNING);
    cr_assert_eq(r.s.pause_from[0], r.t0 + 5 * H);
    cr_assert_eq(r.s.pause_to[0], r.t0 + 7 * H);
    OK(&r, 8 * H - 1, ev_tick(), "");
    OK(&r, 8 * H, ev_tick(), "set_weight:pilot=25000/user");
    OK(&r, 14 * H - 1, ev_tick(), "");
    OK(&r, 14 * H, ev_tick(), "set_weight:pilot=50000/user");
    OK(&r, 26 * H - 1, ev_tick(), "");
    OK(&r, 26 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    rollout_plan_unref(r.p);
}

Test(machine, pause_at_a_step_lets_the_step_happen)
{
    run r;
    to_pilot(&r);
    OK(&r, 12 * H, ev_pause(), "set_weight:pilot=50000/user");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_PAUSED);
    OK(&r, 13 * H, ev_resume(), "");
    OK(&r, 25 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    rollout_plan_unref(r.p);
}

Test(machine, pause_while_awaiting_a_gate_and_resume)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    OK(&r, 3 * H, ev_pause(), "");
    cr_assert_eq(r.s.paused_from, ROLLOUT_STATUS_AWAITING_GATE);
    OK(&r, 3 * H, ev_approve(-1, ENG_LEAD), ""); /* approvals and verdicts still count */
    OK(&r, 3 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 4 * H, ev_resume(), "");
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    OK(&r, 4 * H, ev_approve(-1, PRODUCT_LEAD), "");
    OK(&r, 4 * H, ev_go(-1), "");
    OK(&r, 6 * H, ev_tick(), "notify:pilot-start set_weight:pilot=10000/user");
    rollout_plan_unref(r.p);
}

Test(machine, pauses_are_capped)
{
    run r;
    to_pilot(&r);
    for (int i = 0; i < ROLLOUT_MAX_PAUSES; i++) {
        OK(&r, 7 * H + 2 * i, ev_pause(), "");
        OK(&r, 7 * H + 2 * i + 1, ev_resume(), "");
    }
    REFUSED(&r, 8 * H, ev_pause(), ROLLOUT_ERR_TRANSITION);
    OK(&r, 8 * H, ev_rollback(ROLLOUT_ROLLBACK_MANUAL),
       "notify:rollback page:page halt_traffic:halt");
    rollout_plan_unref(r.p);
}

Test(machine, rollback_while_paused_closes_the_pause)
{
    run r;
    to_pilot(&r);
    OK(&r, 7 * H, ev_pause(), "");
    OK(&r, 8 * H, ev_rollback(ROLLOUT_ROLLBACK_MANUAL),
       "notify:rollback page:page halt_traffic:halt");
    cr_assert_eq(r.s.pause_to[0], r.t0 + 8 * H);
    cr_assert_eq(r.s.status, ROLLOUT_STATUS_ROLLING_BACK);
    rollout_plan_unref(r.p);
}

Test(machine, missed_ticks_are_caught_up_by_the_next_event)
{
    run r;
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    /* the gate call comes with the first event at or after its time */
    OK(&r, 2 * H, ev_approve(-1, ENG_LEAD), "gate_due:canary-go");
    OK(&r, 2 * H, ev_approve(-1, PRODUCT_LEAD), "");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 2 * H, ev_go(-1), "");
    /* no tick until 13h: one SET_WEIGHT with the weight as of now */
    OK(&r, 13 * H, ev_tick(), "notify:pilot-start set_weight:pilot=50000/user");
    cr_assert_eq(r.s.phase, 1);
    cr_assert_eq(r.s.step, 2);
    rollout_plan_unref(r.p);

    /* any event catches up, not only a tick */
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_approve(-1, ENG_LEAD), "gate_due:canary-go");
    OK(&r, 2 * H, ev_approve(-1, PRODUCT_LEAD), "");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 2 * H, ev_go(-1), "");
    OK(&r, 5 * H, ev_verdict(ROLLOUT_VERDICT_INCONCLUSIVE),
       "notify:pilot-start set_weight:pilot=10000/user");
    OK(&r, 5 * H, ev_escalate(), "notify:escalation");
    OK(&r, 6 * H, ev_tick(), "set_weight:pilot=25000/user");
    rollout_plan_unref(r.p);
}

Test(machine, escalation_notifies_the_communication_row)
{
    run r;
    to_pilot(&r);
    OK(&r, 7 * H, ev_escalate(), "notify:escalation");
    check_notify(&r.a[0], "escalation", "support-ticket+slack", "on-call", BIT(SUPPORT));
    rollout_plan_unref(r.p);
}

/* ---- bad input ---------------------------------------------------------------------- */

Test(machine, bad_arguments_change_nothing)
{
    run r;
    to_pilot(&r);
    rollout_event e = ev(ROLLOUT_EVENT_COUNT);
    REFUSED(&r, 7 * H, e, ROLLOUT_ERR_ARG);
    REFUSED(&r, 7 * H, ev(-1), ROLLOUT_ERR_ARG);
    REFUSED(&r, 7 * H, ev_verdict(4), ROLLOUT_ERR_ARG);
    REFUSED(&r, 7 * H, ev_verdict(-1), ROLLOUT_ERR_ARG);
    REFUSED(&r, 7 * H, ev_rollback(-1), ROLLOUT_ERR_ARG);
    REFUSED(&r, 7 * H, ev_go(ROLLOUT_MAX_GATES + 3), ROLLOUT_ERR_NOT_FOUND);
    REFUSED(&r, 7 * H, ev_approve(-1, 99), ROLLOUT_ERR_TRANSITION); /* gate not reached */
    REFUSED(&r, 5 * H, ev_tick(), ROLLOUT_ERR_ARG);                 /* time runs backwards */
    OK(&r, 24 * H, ev_tick(), "notify:pilot-100 gate_due:pilot-go set_weight:pilot=100000/user");
    REFUSED(&r, 24 * H, ev_approve(-1, 99), ROLLOUT_ERR_NOT_FOUND);

    /* a buffer too small for the actions: nothing written */
    rollout_state next = r.s;
    next.revision = 777;
    size_t n = 1;
    rollout_action one[1];
    rollout_event rb = ev_rollback(ROLLOUT_ROLLBACK_MANUAL);
    cr_assert_eq(rollout_apply(r.p, &r.s, &rb, r.t0 + 25 * H, &next, one, &n, NULL),
                 ROLLOUT_ERR_BUFFER);
    cr_assert_eq(n, 0u);
    cr_assert_eq(next.revision, 777u);
    n = 0;
    cr_assert_eq(rollout_apply(r.p, &r.s, &rb, r.t0 + 25 * H, &next, NULL, &n, NULL),
                 ROLLOUT_ERR_BUFFER);
    rollout_event tick = ev_tick();
    n = 4;
    cr_assert_eq(rollout_apply(NULL, &r.s, &tick, r.t0, &next, one, &n, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_apply(r.p, NULL, &tick, r.t0, &next, one, &n, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_apply(r.p, &r.s, NULL, r.t0, &next, one, &n, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_apply(r.p, &r.s, &tick, r.t0, NULL, one, &n, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_apply(r.p, &r.s, &tick, r.t0, &next, one, NULL, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_state_init(NULL, &next), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_state_init(r.p, NULL), ROLLOUT_ERR_ARG);
    rollout_plan_unref(r.p);
}

Test(machine, inconsistent_or_foreign_states_are_refused)
{
    run r;
    to_pilot(&r);
    rollout_plan *other = seed_variant("halt");
    rollout_state next;
    rollout_action a[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_event tick = ev_tick();
    rollout_error err;
    cr_assert_eq(rollout_apply(other, &r.s, &tick, r.t0 + 7 * H, &next, a, &n, &err),
                 ROLLOUT_ERR_STATE_PLAN);
    cr_assert(strstr(err.message, "another plan"));

    rollout_state bad;
    int64_t at = r.t0 + 7 * H;
#define TRY_BAD(stmt)                                                                        \
    do {                                                                                     \
        bad = r.s;                                                                           \
        stmt;                                                                                \
        memset(&next, 0x5A, sizeof next);                                                    \
        rollout_state untouched = next;                                                      \
        n = ROLLOUT_MAX_ACTIONS;                                                             \
        cr_assert_eq(rollout_apply(r.p, &bad, &tick, at, &next, a, &n, &err), ROLLOUT_ERR_STATE, \
                     #stmt);                                                                 \
        cr_assert_eq(n, 0u);                                                                 \
        cr_assert(memcmp(&next, &untouched, sizeof next) == 0);                              \
    } while (0)
    TRY_BAD(bad.format = 3);
    TRY_BAD(bad.status = ROLLOUT_STATUS_COUNT);
    TRY_BAD(bad.status = -1);
    TRY_BAD(bad.status = ROLLOUT_STATUS_PAUSED);        /* no pause recorded */
    TRY_BAD(bad.n_pauses = -1);
    TRY_BAD(bad.n_pauses = ROLLOUT_MAX_PAUSES + 1);
    TRY_BAD((bad.n_pauses = 1, bad.pause_from[0] = at - 1)); /* open pause, not paused */
    TRY_BAD(bad.phase = 3);
    TRY_BAD(bad.step = 4);
    TRY_BAD(bad.phase = -2);
    TRY_BAD(bad.gate = 5);
    TRY_BAD(bad.last_verdict = 4);
    TRY_BAD(bad.rollback_reason = ROLLOUT_ROLLBACK_COUNT);
    TRY_BAD(bad.paused_from = 99);
    TRY_BAD(bad.consecutive_failures = -1);
    TRY_BAD(bad.gate_approvals[0] = 1u << 9);            /* the seed has 9 roles */
    TRY_BAD(bad.gate_override_role[1] = 9);
    TRY_BAD(bad.gate_go_at[5] = at);                     /* the seed has 5 gates */
    TRY_BAD((bad.status = ROLLOUT_STATUS_PAUSED, bad.n_pauses = 1, bad.pause_from[0] = at,
             bad.paused_from = ROLLOUT_STATUS_HALTED));
    rollout_plan_unref(other);
    rollout_plan_unref(r.p);
}

/* ---- properties over random event sequences --------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *g) /* splitmix64 */
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int pick(rng *g, int n)
{
    return (int)(next_u64(g) % (uint64_t)n);
}

static rollout_event random_event(rng *g)
{
    rollout_event e = ev(pick(g, ROLLOUT_EVENT_COUNT));
    e.gate = pick(g, 4) ? -1 : pick(g, 6);       /* 5: no such gate */
    e.role = pick(g, 10);                        /* 9: no such role */
    e.override = pick(g, 4) == 0;
    e.verdict = pick(g, 4);
    e.reason = pick(g, ROLLOUT_ROLLBACK_COUNT);
    e.confirmation = pick(g, ROLLOUT_CONFIRM_COUNT);
    return e;
}

/* The confirmation the seed's procedure waits for (steps 1..5 need one). */
static int awaited_confirmation(const rollout_state *s)
{
    static const int want[] = {-1, ROLLOUT_CONFIRM_TRAFFIC_HALTED,
                               ROLLOUT_CONFIRM_PREVIOUS_RESTORED, ROLLOUT_CONFIRM_SMOKE_PASSED,
                               ROLLOUT_CONFIRM_SERVICE_RESUMED, ROLLOUT_CONFIRM_INCIDENT_OPENED};
    for (int k = 1; k <= 5; k++)
        if (!(s->rollback_done & (1u << k)))
            return want[k];
    return -1;
}

/* An event that moves the rollout towards completion. */
static rollout_event helpful_event(const run *r)
{
    static const int approvers[5][2] = {{ENG_LEAD, PRODUCT_LEAD}, {SRE_LEAD, PRODUCT_LEAD},
                                        {PRODUCT, SRE}, {PRODUCT, SRE}, {PRODUCT, SRE}};
    const rollout_state *s = &r->s;
    switch (s->status) {
    case ROLLOUT_STATUS_NOT_STARTED: return ev_start();
    case ROLLOUT_STATUS_PAUSED: return ev_resume();
    case ROLLOUT_STATUS_ROLLING_BACK: return ev_confirm(awaited_confirmation(s));
    case ROLLOUT_STATUS_AWAITING_GATE:
    case ROLLOUT_STATUS_HALTED:
        for (int k = 0; k < 2; k++)
            if (s->gate >= 0 && !(s->gate_approvals[s->gate] & BIT(approvers[s->gate][k])))
                return ev_approve(-1, approvers[s->gate][k]);
        if (s->last_verdict != ROLLOUT_VERDICT_PASS)
            return ev_verdict(ROLLOUT_VERDICT_PASS);
        return ev_go(-1);
    default: return ev_tick();
    }
}

static rollout_context random_context(rng *g, char *buf)
{
    static const char *const orgs[] = {"acme-corp", "globex", "initech", "umbrella", ""};
    static rollout_attr attrs[2];
    static const char *const emails[] = {"ann@example.com", "bob@customer.test"};
    static const char *const roles[] = {"staff", "superuser", "customer"};
    const char *email = emails[pick(g, 2)], *role = roles[pick(g, 3)];
    attrs[0] = (rollout_attr){"email", 5, email, strlen(email)};
    attrs[1] = (rollout_attr){"role", 4, role, strlen(role)};
    int n = sprintf(buf, "u%d", pick(g, 1000000));
    const char *org = orgs[pick(g, 5)];
    return (rollout_context){.org = org, .org_len = strlen(org), .user = buf, .user_len = (size_t)n,
                             .session = buf, .session_len = (size_t)n, .request = buf,
                             .request_len = (size_t)n, .attrs = attrs,
                             .n_attrs = (size_t)pick(g, 3)};
}

static void check_rolled_back(run *r, rng *g, int64_t now)
{
    char buf[32];
    for (int k = 0; k < 4; k++) {
        rollout_context ctx = random_context(g, buf);
        rollout_decision d;
        int64_t at = now + pick(g, 30 * D);
        cr_assert_eq(rollout_decide(r->p, &r->s, at, &ctx, &d), ROLLOUT_OK);
        cr_assert_eq(d.variant, ROLLOUT_STABLE);
        cr_assert_eq(d.reason, ROLLOUT_REASON_ROLLED_BACK);
    }
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(r->p, &r->s, now + pick(g, 30 * D), &info), ROLLOUT_OK);
    for (int c = 0; c < info.n_cohorts; c++)
        cr_assert_eq(info.cohorts[c].weight, 0u);
}

static void check_round_trip(const run *r)
{
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(&r->s, text, sizeof text);
    cr_assert(len > 4);
    rollout_state back;
    rollout_error err;
    cr_assert_eq(rollout_state_decode(r->p, text, len, &back, &err), ROLLOUT_OK, "%s: %s", text,
                 err.message);
    cr_assert(memcmp(&back, &r->s, sizeof back) == 0, "%s does not decode to its state", text);
}

Test(machine, properties_over_random_sequences)
{
    static const int64_t steps[] = {0, 1, M, 30 * M, 2 * H, 6 * H, 1 * D, 2 * D};
    static run r, probe;
    rollout_plan *p = seed();
    rng g = {20260228};
    long events = 0, accepted = 0, rollbacks = 0, completed = 0;
    int seen[ROLLOUT_STATUS_COUNT] = {0};
    for (int seq = 0; seq < 100000; seq++) {
        memset(&r, 0, sizeof r);
        r.p = p;
        r.t0 = 1772269200;
        rollout_state_init(p, &r.s);
        int64_t now = -pick(&g, 2) * H;
        /* a third of the sequences mostly push forward, so that the later
         * statuses (baking, completed) are reached often too */
        bool forward = seq % 3 == 0;
        int len = 1 + pick(&g, forward ? 60 : 30);
        for (int k = 0; k < len; k++) {
            now += steps[pick(&g, forward ? 8 : 7)];
            rollout_event e = pick(&g, forward ? 8 : 2) ? helpful_event(&r) : random_event(&g);
            rollout_state before = r.s;
            int rc = apply(&r, now, e);
            events++;
            if (rc != ROLLOUT_OK) {
                cr_assert(rc == ROLLOUT_ERR_TRANSITION || rc == ROLLOUT_ERR_NOT_FOUND,
                          "%s in %s: %s", rollout_event_name(e.type),
                          rollout_status_name(before.status), r.err.message);
                cr_assert(memcmp(&before, &r.s, sizeof before) == 0);
                continue;
            }
            accepted++;
            bool noop = memcmp(&before, &r.s, sizeof before) == 0;
            if (noop) {
                cr_assert_eq(e.type, ROLLOUT_EVENT_TICK, "only a tick may change nothing");
                cr_assert_eq(r.n, 0u);
            } else {
                cr_assert_eq(r.s.revision, before.revision + 1, "revision after %s",
                             rollout_event_name(e.type));
                cr_assert_eq(r.s.updated_at, r.t0 + now);
            }
            seen[r.s.status]++;
            check_round_trip(&r);
            int st = r.s.status;
            if (st == ROLLOUT_STATUS_ROLLING_BACK || st == ROLLOUT_STATUS_ROLLED_BACK) {
                if (pick(&g, 8) == 0)
                    check_rolled_back(&r, &g, r.t0 + now);
            } else if (st != ROLLOUT_STATUS_COMPLETED) {
                /* rollback is one event away from every live state */
                probe = r;
                cr_assert_eq(apply(&probe, now, ev_rollback(ROLLOUT_ROLLBACK_MANUAL)), ROLLOUT_OK,
                             "no rollback from %s: %s", rollout_status_name(st), probe.err.message);
                cr_assert_eq(probe.s.status, ROLLOUT_STATUS_ROLLING_BACK);
                cr_assert_eq(probe.s.revision, r.s.revision + 1);
            }
        }
        /* and from there, the procedure always reaches ROLLED_BACK (a tick
         * first: a bake may have ended since the last accepted event) */
        cr_assert_eq(apply(&r, now, ev_tick()), ROLLOUT_OK);
        if (r.s.status == ROLLOUT_STATUS_COMPLETED) {
            completed++;
            continue;
        }
        if (r.s.status != ROLLOUT_STATUS_ROLLING_BACK && r.s.status != ROLLOUT_STATUS_ROLLED_BACK)
            cr_assert_eq(apply(&r, now, ev_rollback(ROLLOUT_ROLLBACK_MANUAL)), ROLLOUT_OK);
        for (int k = 0; k < 6 && r.s.status == ROLLOUT_STATUS_ROLLING_BACK; k++) {
            now += M;
            cr_assert_eq(apply(&r, now, ev_confirm(awaited_confirmation(&r.s))), ROLLOUT_OK,
                         "%s", r.err.message);
        }
        cr_assert_eq(r.s.status, ROLLOUT_STATUS_ROLLED_BACK);
        check_round_trip(&r);
        check_rolled_back(&r, &g, r.t0 + now);
        rollbacks++;
    }
    /* the walk covers every status (HALTED needs a plan that halts: below) */
    for (int st = 0; st < ROLLOUT_STATUS_COUNT; st++)
        if (st != ROLLOUT_STATUS_HALTED)
            cr_assert(seen[st] > 100, "status %s seen %d times", rollout_status_name(st), seen[st]);
    cr_assert(completed > 100, "%ld sequences completed", completed);
    for (int st = 0; st < ROLLOUT_STATUS_COUNT; st++)
        cr_log_info("%s: %d", rollout_status_name(st), seen[st]);
    cr_log_info("%ld events, %ld accepted, %ld rolled back, %ld completed", events, accepted,
                rollbacks, completed);
    rollout_plan_unref(p);
}

/* The same walk on the halting variant, shorter, for HALTED. */
Test(machine, properties_with_halts)
{
    static const int64_t steps[] = {0, 1, M, 30 * M, 2 * H, 6 * H, 1 * D};
    static run r, probe;
    rollout_plan *p = seed_variant("halt");
    rng g = {42};
    int halted = 0;
    for (int seq = 0; seq < 20000; seq++) {
        memset(&r, 0, sizeof r);
        r.p = p;
        r.t0 = 1772269200;
        rollout_state_init(p, &r.s);
        int64_t now = 0;
        int len = 1 + pick(&g, 20);
        for (int k = 0; k < len; k++) {
            now += steps[pick(&g, 7)];
            rollout_event e = pick(&g, 3) == 0 ? ev_no_go(-1)
                              : pick(&g, 2)    ? helpful_event(&r)
                                               : random_event(&g);
            rollout_state before = r.s;
            if (apply(&r, now, e) != ROLLOUT_OK) {
                cr_assert(memcmp(&before, &r.s, sizeof before) == 0);
                continue;
            }
            if (memcmp(&before, &r.s, sizeof before) != 0)
                cr_assert_eq(r.s.revision, before.revision + 1);
            check_round_trip(&r);
            if (r.s.status == ROLLOUT_STATUS_HALTED) {
                halted++;
                char buf[32];
                rollout_context ctx = random_context(&g, buf);
                rollout_decision d;
                rollout_decide(p, &r.s, r.t0 + now, &ctx, &d);
                cr_assert_eq(d.variant, ROLLOUT_STABLE);
                probe = r;
                cr_assert_eq(apply(&probe, now, ev_rollback(ROLLOUT_ROLLBACK_MANUAL)), ROLLOUT_OK);
            }
        }
    }
    cr_assert(halted > 100, "HALTED seen %d times", halted);
    rollout_plan_unref(p);
}

/* ---- failure_limit / inconclusive_limit ------------------------------------------- */

/* The seed with limits on the canary gate (and its on_no_go). */
static rollout_plan *seed_limits(const char *on_no_go, const char *limits)
{
    size_t len;
    char *yaml = t_read_file("examples/plans/seed.yaml", &len);
    const char *needle = "criteria: canary\n      on_no_go: rollback\n";
    char *at = strstr(yaml, needle);
    cr_assert(at);
    size_t n = len + strlen(limits) + 64;
    char *out = malloc(n);
    cr_assert(out);
    snprintf(out, n, "%.*scriteria: canary\n      on_no_go: %s\n%s%s", (int)(at - yaml), yaml,
             on_no_go, limits, at + strlen(needle));
    rollout_plan *p = t_plan(out);
    free(out);
    free(yaml);
    return p;
}

Test(machine, failure_limit_makes_the_next_fail_a_no_go)
{
    run r;
    run_init(&r, seed_limits("halt", "      failure_limit: 2\n"));
    cr_assert_eq(r.p->gates[CANARY_GO].failure_limit, 2);
    cr_assert_eq(r.p->gates[CANARY_GO].inconclusive_limit, -1);
    {   /* rollout show prints the limit, and the dump loads back to the same plan */
        size_t need = 0;
        rollout_plan_dump(r.p, ROLLOUT_FORMAT_YAML, NULL, 0, &need);
        char *buf = malloc(need + 1);
        cr_assert(buf);
        cr_assert_eq(rollout_plan_dump(r.p, ROLLOUT_FORMAT_YAML, buf, need + 1, NULL),
                     ROLLOUT_OK);
        cr_expect(strstr(buf, "failure_limit: 2\n"));
        rollout_plan *again = t_plan(buf);
        cr_expect_eq(again->fingerprint, r.p->fingerprint);
        cr_expect_eq(again->gates[CANARY_GO].failure_limit, 2);
        rollout_plan_unref(again);
        free(buf);
    }
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    /* two failures tolerated, a PASS in between starts the count again */
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_PASS), "");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    cr_expect_eq(r.s.consecutive_failures, 2);
    cr_expect_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    /* the third in a row is the gate's no-go, acted on as the plan says */
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "halt_traffic:-");
    cr_expect_eq(r.s.status, ROLLOUT_STATUS_HALTED);
    cr_expect_eq(r.s.gate_no_go_at[CANARY_GO], r.t0 + 2 * H);
    cr_expect_eq(r.s.consecutive_failures, 0);
    rollout_plan_unref(r.p);

    /* failure_limit: 0 (Argo's default): the first FAIL; rollback as planned */
    run_init(&r, seed_limits("rollback", "      failure_limit: 0\n"));
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    apply(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL));
    cr_expect_eq(r.s.status, ROLLOUT_STATUS_ROLLING_BACK, "%s", r.sig);
    cr_expect_eq(r.s.rollback_reason, ROLLOUT_ROLLBACK_NO_GO);
    rollout_plan_unref(r.p);
}

Test(machine, inconclusive_limit_and_no_limit)
{
    run r;
    run_init(&r, seed_limits("hold", "      inconclusive_limit: 1\n"));
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_INCONCLUSIVE), "");
    cr_expect_eq(r.s.gate_no_go_at[CANARY_GO], 0);
    OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_INCONCLUSIVE), "");
    cr_expect_eq(r.s.gate_no_go_at[CANARY_GO], r.t0 + 2 * H);
    cr_expect_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    /* failures are not limited here: they are only counted */
    for (int i = 0; i < 5; i++)
        OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    cr_expect_eq(r.s.consecutive_failures, 5);
    rollout_plan_unref(r.p);

    /* the seed sets no limits: verdicts are only counted, people decide */
    run_init(&r, seed());
    OK(&r, 0, ev_start(), "notify:canary-start set_weight:internal=100000/session");
    OK(&r, 2 * H, ev_tick(), "gate_due:canary-go");
    for (int i = 0; i < 5; i++)
        OK(&r, 2 * H, ev_verdict(ROLLOUT_VERDICT_FAIL), "");
    cr_expect_eq(r.s.status, ROLLOUT_STATUS_AWAITING_GATE);
    rollout_plan_unref(r.p);

    /* limits need criteria to count, and stay within 0..1000 */
    rollout_error err;
    size_t len;
    char *yaml = t_read_file("examples/plans/seed.yaml", &len);
    const char *needle = "criteria: canary\n      on_no_go: rollback\n";
    char *at = strstr(yaml, needle);
    cr_assert(at);
    char *out = malloc(len + 64);
    cr_assert(out);
    sprintf(out, "%.*scriteria: canary\n      on_no_go: rollback\n      failure_limit: 1001\n%s",
            (int)(at - yaml), yaml, at + strlen(needle));
    cr_expect_eq(t_plan_error(out, &err), ROLLOUT_ERR_RANGE, "%s", err.message);
    cr_expect(strstr(err.message, "phases[0].gate.failure_limit: 1001 is more than the limit "
                                  "1000"), "%s", err.message);
    free(out);
    free(yaml);
}
