/* SPDX-License-Identifier: MIT */
/*
 * test_migrate.c — rollout_state_migrate against docs/state-machine.md
 * ("Plan edits").
 *
 *  - every field a migration carries, on a state with approvals, a GO, a
 *    pause and counters, moved to a plan whose role indices all shifted;
 *  - every refusal, with the name of what is missing in its message;
 *  - rolled back, rolling back, halted and paused states keep their status
 *    through an edit, and decide answers STABLE for every context with the
 *    new plan after a rollback or a halt;
 *  - over seeded random event sequences: after migrating to an edit that
 *    moves no step, decide and every later event give what the old plan and
 *    state give.
 *
 * The edits are the seed plan (examples/plans/seed.yaml) with text replaced,
 * so each test says exactly what changed.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "support.h"

#define H 3600
#define D 86400

/* seed role indices */
enum { ENG_LEAD, PRODUCT_LEAD, SRE_LEAD, ENGINEERING, PRODUCT, SRE };
#define BIT(r) (1u << (r))

static const int64_t T0 = 1772269200; /* 2026-02-28T09:00:00Z, the seed's start */

static rollout_event ev(int type)
{
    return (rollout_event){.type = type, .gate = -1, .role = -1};
}
static rollout_event ev_approve(int role)
{
    rollout_event e = ev(ROLLOUT_EVENT_APPROVE);
    e.role = role;
    return e;
}
static rollout_event ev_verdict(int verdict)
{
    rollout_event e = ev(ROLLOUT_EVENT_VERDICT);
    e.verdict = verdict;
    return e;
}
static rollout_event ev_override(int role)
{
    rollout_event e = ev(ROLLOUT_EVENT_GO);
    e.override = 1;
    e.role = role;
    e.why = "judgement call";
    e.override_verdict = 1;
    return e;
}
static rollout_event ev_rollback(void)
{
    rollout_event e = ev(ROLLOUT_EVENT_ROLLBACK);
    e.reason = ROLLOUT_ROLLBACK_MANUAL;
    return e;
}
static rollout_event ev_confirm(int c)
{
    rollout_event e = ev(ROLLOUT_EVENT_CONFIRM);
    e.confirmation = c;
    return e;
}

/* The seed with each (from, to) pair replaced everywhere it occurs; every
 * `from` must occur. NULL-terminated pairs. */
static rollout_plan *edit(const char *first, ...)
{
    char *text = t_seed_overridable_yaml();
    va_list ap;
    va_start(ap, first);
    for (const char *from = first; from; from = va_arg(ap, const char *)) {
        const char *to = va_arg(ap, const char *);
        cr_assert(strstr(text, from), "the seed has no \"%s\"", from);
        size_t fl = strlen(from), tl = strlen(to), n = 0;
        for (const char *q = text; (q = strstr(q, from)); q += fl)
            n++;
        char *out = malloc(strlen(text) + n * tl + 1), *w = out;
        const char *r = text;
        for (const char *q; (q = strstr(r, from)); r = q + fl) {
            memcpy(w, r, (size_t)(q - r));
            w += q - r;
            memcpy(w, to, tl);
            w += tl;
        }
        strcpy(w, r);
        free(text);
        text = out;
    }
    va_end(ap);
    rollout_plan *p = t_plan(text);
    free(text);
    return p;
}

/* The seed with one extra role listed first: every role index moves by one. */
static rollout_plan *edit_roles_shifted(void)
{
    return edit("roles:\n  engineering-lead:", "roles:\n  auditor: Auditor\n  engineering-lead:",
                "description: Rollout Plan", "description: Edited rollout Plan", NULL);
}

/* Pilot 50 % becomes 40 %: the edit a new user tries first. */
static rollout_plan *edit_weight(void)
{
    return edit("{at: 12h, weight: 50%, unit: user}", "{at: 12h, weight: 40%, unit: user}", NULL);
}

/* canary-go passed (with its approvals), a pause of an hour, the pilot at
 * 100 % (T+25h with the pause), pilot-go approved by sre-lead and one FAIL. */
static void pilot_state(const rollout_plan *p, rollout_state *s)
{
    cr_assert_eq(rollout_state_init(p, s), ROLLOUT_OK);
    t_apply(p, s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(p, s, ev_approve(ENG_LEAD), T0 + 1 * H);
    t_apply(p, s, ev_approve(PRODUCT_LEAD), T0 + 1 * H);
    t_apply(p, s, ev_verdict(ROLLOUT_VERDICT_PASS), T0 + 2 * H);
    t_apply(p, s, ev(ROLLOUT_EVENT_GO), T0 + 2 * H);
    t_apply(p, s, ev(ROLLOUT_EVENT_PAUSE), T0 + 3 * H);
    t_apply(p, s, ev(ROLLOUT_EVENT_RESUME), T0 + 4 * H);
    t_apply(p, s, ev(ROLLOUT_EVENT_TICK), T0 + 26 * H);
    t_apply(p, s, ev_approve(SRE_LEAD), T0 + 26 * H);
    t_apply(p, s, ev_verdict(ROLLOUT_VERDICT_FAIL), T0 + 27 * H);
    cr_assert_eq(s->phase, 1);
    cr_assert_eq(s->step, 3);
    cr_assert_eq(s->gate, 1);
}

static int migrate(const rollout_plan *a, const rollout_state *s, const rollout_plan *b,
                   rollout_state *out, rollout_error *err)
{
    memset(err, 0, sizeof *err);
    return rollout_state_migrate(a, s, b, out, err);
}

/* Refused with code, naming each of the words; out is untouched. */
static void refused(const rollout_plan *a, const rollout_state *s, const rollout_plan *b, int code,
                    const char *w1, const char *w2)
{
    rollout_state out;
    memset(&out, 0xab, sizeof out);
    rollout_state copy = out;
    rollout_error err;
    int rc = migrate(a, s, b, &out, &err);
    cr_assert_eq(rc, code, "%s (%s)", rollout_code_name(rc), err.message);
    cr_assert_eq(err.code, code);
    cr_assert(strstr(err.message, w1), "\"%s\" not in: %s", w1, err.message);
    cr_assert(!w2 || strstr(err.message, w2), "\"%s\" not in: %s", w2, err.message);
    cr_assert(memcmp(&out, &copy, sizeof out) == 0, "a refusal wrote *out");
}

/* ---- what is carried ------------------------------------------------------------ */

Test(migrate, carries_every_field)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_roles_shifted();
    rollout_state s, out;
    pilot_state(a, &s);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);

    cr_assert_eq(out.format, ROLLOUT_STATE_FORMAT);
    cr_assert_eq(out.plan_fingerprint, rollout_plan_fingerprint(b));
    cr_assert_neq(out.plan_fingerprint, s.plan_fingerprint);
    cr_assert_eq(out.revision, s.revision + 1);
    cr_assert_eq(out.updated_at, T0 + 27 * H);
    cr_assert_eq(out.started_at, T0);
    cr_assert_eq(out.status, ROLLOUT_STATUS_AWAITING_GATE);
    cr_assert_eq(out.phase, 1);
    cr_assert_eq(out.step, 3);
    cr_assert_eq(out.gate, 1);
    cr_assert_eq(out.n_pauses, 1);
    cr_assert_eq(out.pause_from[0], T0 + 3 * H);
    cr_assert_eq(out.pause_to[0], T0 + 4 * H);
    cr_assert_eq(out.paused_from, s.paused_from);
    cr_assert_eq(out.gate_go_at[0], T0 + 2 * H);
    cr_assert_eq(out.gate_go_at[1], 0);
    /* role indices all moved by one: the approvals follow the role ids */
    cr_assert_eq(out.gate_approvals[1], BIT(SRE_LEAD + 1));
    cr_assert_eq(out.gate_approvals[0], BIT(ENG_LEAD + 1) | BIT(PRODUCT_LEAD + 1));
    cr_assert_eq(out.consecutive_failures, 1);
    cr_assert_eq(out.consecutive_inconclusive, 0);
    cr_assert_eq(out.last_verdict, ROLLOUT_VERDICT_FAIL);
    cr_assert_eq(out.rollback_reason, -1);
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++)
        cr_assert_eq(out.status_since[i], s.status_since[i], "status_since[%d]", i);

    /* the new plan's machine takes it, and the approval still counts: the
     * product lead's is the one missing */
    rollout_action acts[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_event go = ev(ROLLOUT_EVENT_GO);
    cr_assert_eq(rollout_apply(b, &out, &go, T0 + 28 * H, &s, acts, &n, &err),
                 ROLLOUT_ERR_TRANSITION);
    cr_assert(strstr(err.message, "product-lead"), "%s", err.message);
    /* and it round-trips under the new plan only */
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(&out, text, sizeof text);
    rollout_state back;
    cr_assert_eq(rollout_state_decode(b, text, len, &back, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(rollout_state_decode(a, text, len, &back, &err), ROLLOUT_ERR_STATE_PLAN);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, carries_an_override_role_by_id)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_roles_shifted();
    rollout_state s, out;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, &s, ev_override(SRE), T0 + 2 * H);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.gate_override_role[0], SRE + 1);
    cr_assert_eq(out.gate_go_at[0], T0 + 2 * H);
    for (int g = 1; g < ROLLOUT_MAX_GATES; g++)
        cr_assert_eq(out.gate_override_role[g], -1);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, the_same_plan_is_a_copy_without_a_revision)
{
    rollout_plan *a = t_seed_overridable(), *b = t_seed_overridable();
    rollout_state s, out;
    pilot_state(a, &s);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK);
    cr_assert(memcmp(&out, &s, sizeof out) == 0);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, in_place)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_weight();
    rollout_state s;
    pilot_state(a, &s);
    uint64_t rev = s.revision;
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(s.revision, rev + 1);
    cr_assert_eq(s.plan_fingerprint, rollout_plan_fingerprint(b));
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, recorded_go_times_keep_the_schedule)
{
    /* a late canary GO (T+5h instead of T+2h) slipped the pilot by 3 h; the
     * edited plan keeps that slip instead of jumping to its own offsets */
    rollout_plan *a = t_seed_overridable(), *b = edit_weight();
    rollout_state s, out;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, &s, ev_override(ENG_LEAD), T0 + 5 * H);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    rollout_schedule_info ia, ib;
    for (int64_t t = T0 + 5 * H; t < T0 + 40 * H; t += 1800) {
        cr_assert_eq(rollout_schedule(a, &s, t, &ia), ROLLOUT_OK);
        cr_assert_eq(rollout_schedule(b, &out, t, &ib), ROLLOUT_OK);
        cr_assert_eq(ia.phase, ib.phase, "at T+%llds", (long long)(t - T0));
        cr_assert_eq(ia.step, ib.step, "at T+%llds", (long long)(t - T0));
    }
    cr_assert_eq(rollout_schedule(b, &out, T0 + 16 * H, &ib), ROLLOUT_OK);
    cr_assert_eq(ib.cohorts[1].weight, 40000u); /* 12h + 3h slip: the edited 40 % */
    cr_assert_eq(rollout_schedule(b, &out, T0 + 14 * H, &ib), ROLLOUT_OK);
    cr_assert_eq(ib.cohorts[1].weight, 25000u);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, a_rolled_back_procedure_follows_step_ids)
{
    /* the procedure loses its first step: the confirmed bits move down */
    rollout_plan *a = t_seed_overridable();
    rollout_plan *b = edit("    - id: page\n      action: page\n      roles: [on-call-sre, product]\n"
                           "      description: Page on-call SRE + Product\n",
                           "", NULL);
    rollout_state s, out;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, &s, ev_rollback(), T0 + H);
    for (int c = ROLLOUT_CONFIRM_TRAFFIC_HALTED; c <= ROLLOUT_CONFIRM_INCIDENT_OPENED; c++)
        if (c != ROLLOUT_CONFIRM_SMOKE_FAILED)
            t_apply(a, &s, ev_confirm(c), T0 + 2 * H);
    t_apply(a, &s, ev_confirm(ROLLOUT_CONFIRM_POSTMORTEM_DONE), T0 + 3 * H);
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLED_BACK);
    cr_assert_eq(s.rollback_done, 0x7fu | (1u << 30));
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.status, ROLLOUT_STATUS_ROLLED_BACK);
    cr_assert_eq(out.rollback_done, 0x3fu | (1u << 30));
    cr_assert_eq(out.rollback_reason, ROLLOUT_ROLLBACK_MANUAL);
    cr_assert_eq(out.rollback_started_at, T0 + H);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, a_rollback_under_way_keeps_waiting_for_the_same_step)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_weight();
    rollout_state s, out;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, &s, ev_rollback(), T0 + H);
    t_apply(a, &s, ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED), T0 + H);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.status, ROLLOUT_STATUS_ROLLING_BACK);
    cr_assert_eq(out.rollback_done, s.rollback_done);
    /* the next confirmation is still the one the old plan waited for */
    t_apply(b, &out, ev_confirm(ROLLOUT_CONFIRM_PREVIOUS_RESTORED), T0 + 2 * H);
    cr_assert_eq(out.status, ROLLOUT_STATUS_ROLLING_BACK);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

/* ---- a rollback, halt or pause survives any accepted edit ---------------------- */

static void all_stable(const rollout_plan *p, const rollout_state *s, int reason)
{
    static const char *const orgs[] = {"acme-corp", "globex", "initech", ""};
    static const char *const emails[] = {"ann@example.com", "bob@customer.test"};
    uint64_t r = 88172645463325252ull;
    for (int k = 0; k < 2000; k++) {
        char id[24];
        int n = snprintf(id, sizeof id, "u%llu", (unsigned long long)(t_rand(&r) % 100000));
        const char *org = orgs[t_rand(&r) % 4], *email = emails[t_rand(&r) % 2];
        rollout_attr attrs[] = {{"email", 5, email, strlen(email)}, {"role", 4, "staff", 5}};
        rollout_context ctx = {.org = org, .org_len = strlen(org), .user = id,
                               .user_len = (size_t)n, .session = id, .session_len = (size_t)n,
                               .attrs = attrs, .n_attrs = t_rand(&r) % 3};
        rollout_decision d;
        int64_t now = T0 + (int64_t)(t_rand(&r) % (30 * D));
        cr_assert_eq(rollout_decide(p, s, now, &ctx, &d), ROLLOUT_OK);
        cr_assert_eq(d.variant, ROLLOUT_STABLE);
        cr_assert_eq(d.reason, reason);
    }
}

Test(migrate, a_rolled_back_state_stays_rolled_back)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_weight(), *c = edit_roles_shifted();
    rollout_state s, out, out2;
    pilot_state(a, &s);
    t_apply(a, &s, ev_rollback(), T0 + 28 * H);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.status, ROLLOUT_STATUS_ROLLING_BACK);
    all_stable(b, &out, ROLLOUT_REASON_ROLLED_BACK);
    /* and through a second edit */
    cr_assert_eq(migrate(b, &out, c, &out2, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out2.revision, s.revision + 2);
    all_stable(c, &out2, ROLLOUT_REASON_ROLLED_BACK);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
    rollout_plan_unref(c);
}

Test(migrate, a_halt_and_a_pause_stay)
{
    /* pilot-go's NO-GO halts on this edit of the seed */
    const char *halt[] = {"criteria: pilot\n      on_no_go: rollback",
                          "criteria: pilot\n      on_no_go: halt"};
    rollout_plan *a = edit(halt[0], halt[1], NULL);
    rollout_plan *b = edit(halt[0], halt[1], "{at: 12h, weight: 50%, unit: user}",
                           "{at: 12h, weight: 40%, unit: user}", NULL);
    rollout_state s, out;
    pilot_state(a, &s);
    t_apply(a, &s, ev(ROLLOUT_EVENT_NO_GO), T0 + 28 * H);
    cr_assert_eq(s.status, ROLLOUT_STATUS_HALTED);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.status, ROLLOUT_STATUS_HALTED);
    cr_assert_eq(out.gate_no_go_at[1], T0 + 28 * H);
    all_stable(b, &out, ROLLOUT_REASON_HALTED);

    pilot_state(a, &s);
    t_apply(a, &s, ev(ROLLOUT_EVENT_PAUSE), T0 + 28 * H);
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(out.status, ROLLOUT_STATUS_PAUSED);
    cr_assert_eq(out.n_pauses, 2);
    cr_assert_eq(out.pause_to[1], 0);
    /* the weights stay frozen a week later */
    rollout_schedule_info info;
    cr_assert_eq(rollout_schedule(b, &out, T0 + 8 * D, &info), ROLLOUT_OK);
    cr_assert_eq(info.cohorts[1].weight, 100000u);
    cr_assert_eq(info.cohorts[2].weight, 0u);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

/* ---- refusals ------------------------------------------------------------------------ */

Test(migrate, refuses_bad_arguments)
{
    rollout_plan *a = t_seed_overridable();
    rollout_state s, out;
    rollout_state_init(a, &s);
    rollout_error err;
    cr_assert_eq(migrate(NULL, &s, a, &out, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(migrate(a, NULL, a, &out, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(migrate(a, &s, NULL, &out, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(migrate(a, &s, a, NULL, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_state_migrate(a, &s, a, NULL, NULL), ROLLOUT_ERR_ARG);
    s.status = 99;
    cr_assert_eq(migrate(a, &s, a, &out, &err), ROLLOUT_ERR_STATE);
    rollout_state_init(a, &s);
    s.phase = 7;
    s.step = 0;
    cr_assert_eq(migrate(a, &s, a, &out, &err), ROLLOUT_ERR_STATE);
    rollout_plan_unref(a);
}

Test(migrate, refuses_a_state_of_another_plan)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_weight();
    rollout_state s;
    pilot_state(b, &s);
    refused(a, &s, b, ROLLOUT_ERR_STATE_PLAN, "does not belong to the old plan", NULL);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_another_rollout)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("id: ledger-v2", "id: ledger-v3", NULL);
    rollout_state s;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_STATE_PLAN, "\"ledger-v3\"", "\"ledger-v2\"");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_current_phase)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("  - id: pilot\n    description: \"Pilot",
                                          "  - id: pilots\n    description: \"Pilot",
                                          "phase: pilot}", "phase: pilots}", "phase: pilot,", "phase: pilots,", NULL);
    rollout_state s;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "phase \"pilot\"", "current phase");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_current_step)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("      - {at: 6h, weight: 25%, unit: user}\n", "", NULL);
    rollout_state s;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "step 4 of phase \"pilot\"", "current step");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_current_gate)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("id: pilot-go", "id: pilot-gate", NULL);
    rollout_state s;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "gate \"pilot-go\"", "waits for");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_gate_with_its_go)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("id: canary-go", "id: canary-gate", NULL);
    rollout_state s;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "gate \"canary-go\"", "has its GO");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_gate_decided_after_a_no_go)
{
    /* ga-day2-go got a NO-GO (hold), then its GO: a decided gate the edit
     * renames */
    rollout_plan *a = t_seed_overridable(), *b = edit("id: ga-day2-go", "id: ga-second-day-go", NULL);
    rollout_state s;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, &s, ev_override(ENG_LEAD), T0 + 2 * H);
    t_apply(a, &s, ev_override(ENG_LEAD), T0 + 24 * H);
    t_apply(a, &s, ev(ROLLOUT_EVENT_NO_GO), T0 + 3 * D);
    t_apply(a, &s, ev_override(SRE), T0 + 3 * D + H);
    cr_assert_eq(s.gate, 3);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "gate \"ga-day2-go\"", "has its GO");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_approving_role)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("sre-lead", "sre-head", NULL);
    rollout_state s;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "role \"sre-lead\" approved gate \"pilot-go\"", NULL);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_overriding_role)
{
    rollout_plan *a = t_seed_overridable(), *b = edit("sre: SRE\n", "site-reliability: SRE\n", "[product, sre]",
                                          "[product, site-reliability]", "lead, sre]", "lead, site-reliability]", NULL);
    rollout_state s;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, &s, ev_override(SRE), T0 + 2 * H);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "role \"sre\" overrode gate \"canary-go\"", NULL);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_new_gate_before_a_go)
{
    /* a gate on the pilot's 10 % step comes before pilot-go, which has its GO */
    rollout_plan *a = t_seed_overridable();
    rollout_plan *b = edit("      - {at: 4h, weight: 10%, unit: user}\n",
                           "      - {at: 4h, weight: 10%, unit: user, gate: {id: pilot-10-go, at: "
                           "5h, approvers: [sre], on_no_go: hold}}\n",
                           NULL);
    rollout_state s;
    pilot_state(a, &s);
    t_apply(a, &s, ev_override(PRODUCT_LEAD), T0 + 28 * H);
    t_apply(a, &s, ev(ROLLOUT_EVENT_TICK), T0 + 2 * D + 4 * H);
    cr_assert_eq(s.phase, 2);
    refused(a, &s, b, ROLLOUT_ERR_TRANSITION, "gate \"pilot-10-go\" has no GO",
            "before gate \"pilot-go\"");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_new_gate_behind_the_current_step)
{
    /* the same gate while the pilot waits at 100 % for pilot-go: it would
     * take the pilot back to 10 % */
    rollout_plan *a = t_seed_overridable();
    rollout_plan *b = edit("      - {at: 4h, weight: 10%, unit: user}\n",
                           "      - {at: 4h, weight: 10%, unit: user, gate: {id: pilot-10-go, at: "
                           "5h, approvers: [sre], on_no_go: hold}}\n",
                           NULL);
    rollout_state s, out;
    pilot_state(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_TRANSITION, "gate \"pilot-10-go\"", "already happened");
    /* before the pilot begins the same edit is fine */
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    rollout_error err;
    cr_assert_eq(migrate(a, &s, b, &out, &err), ROLLOUT_OK, "%s", err.message);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_new_gate_once_every_gate_passed)
{
    rollout_plan *a = edit("        gate: {id: ga-day4-go, at: 5d, approvers: [product, sre], "
                           "override_roles: [engineering-lead, product-lead, sre-lead, sre], "
                           "criteria: ga, on_no_go: hold}\n",
                           "", NULL);
    rollout_plan *b = t_seed_overridable();
    rollout_state s;
    cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
    t_apply(a, &s, ev(ROLLOUT_EVENT_START), T0);
    for (int g = 0; g < 4; g++)
        t_apply(a, &s, ev_override(SRE), T0 + (int64_t[]){2 * H, 24 * H, 3 * D, 4 * D}[g]);
    t_apply(a, &s, ev(ROLLOUT_EVENT_TICK), T0 + 4 * D + H);
    cr_assert_eq(s.status, ROLLOUT_STATUS_BAKING);
    refused(a, &s, b, ROLLOUT_ERR_TRANSITION, "the rollout is baking", "\"ga-day4-go\"");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

static void rolling_back(const rollout_plan *a, rollout_state *s)
{
    cr_assert_eq(rollout_state_init(a, s), ROLLOUT_OK);
    t_apply(a, s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(a, s, ev_rollback(), T0 + H);
    t_apply(a, s, ev_confirm(ROLLOUT_CONFIRM_TRAFFIC_HALTED), T0 + H);
    cr_assert_eq(s->rollback_done, 0x3u); /* page (needs no answer) and halt */
}

Test(migrate, refuses_a_removed_confirmed_rollback_step)
{
    rollout_plan *a = t_seed_overridable();
    rollout_plan *b = edit("    - id: halt\n      action: halt_traffic\n      description: Halt "
                           "traffic to new version (kill canary, revert traffic split)\n",
                           "", NULL);
    rollout_state s;
    rolling_back(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "rollback step \"halt\" is confirmed", NULL);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_a_removed_awaited_rollback_step)
{
    rollout_plan *a = t_seed_overridable();
    rollout_plan *b = edit("    - id: restore\n", "    - id: restore-previous\n", NULL);
    rollout_state s;
    rolling_back(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_NOT_FOUND, "rollback step \"restore\"", "waits for");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_an_awaited_rollback_step_with_another_action)
{
    /* "restore" and "smoke" swap actions (ids stay) */
    rollout_plan *a = t_seed_overridable();
    rollout_plan *b = edit("id: restore\n      action: restore_previous", "id: restore\n      action: X",
                           "id: smoke\n      action: run_smoke_tests",
                           "id: smoke\n      action: restore_previous", "action: X",
                           "action: run_smoke_tests", NULL);
    rollout_state s;
    rolling_back(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_TRANSITION, "rollback step \"restore\"", "run_smoke_tests");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(migrate, refuses_an_unconfirmed_rollback_step_before_the_awaited_one)
{
    /* "incident" moves before "restore" */
    const char *inc = "    - id: incident\n      action: open_incident\n      description: "
                      "Document what went wrong; open incident ticket\n";
    rollout_plan *a = t_seed_overridable();
    char moved[512];
    snprintf(moved, sizeof moved, "%s    - id: restore\n", inc);
    rollout_plan *b = edit(inc, "", "    - id: restore\n", moved, NULL);
    rollout_state s;
    rolling_back(a, &s);
    refused(a, &s, b, ROLLOUT_ERR_TRANSITION, "rollback step \"incident\" is not confirmed",
            "\"restore\"");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

/* ---- properties over random event sequences ---------------------------------------- */

static rollout_event random_event(uint64_t *r)
{
    rollout_event e = ev((int)(t_rand(r) % ROLLOUT_EVENT_COUNT));
    e.role = (int)(t_rand(r) % 9);
    e.override = t_rand(r) % 3 == 0;
    e.override_verdict = t_rand(r) % 2;
    e.all_phases = t_rand(r) % 2;
    e.why = t_rand(r) % 4 ? "a reason" : NULL;
    e.verdict = (int)(t_rand(r) % 3);
    e.reason = ROLLOUT_ROLLBACK_MANUAL;
    e.confirmation = (int)(t_rand(r) % ROLLOUT_CONFIRM_COUNT);
    return e;
}

static void same_decisions(const rollout_plan *a, const rollout_state *s, const rollout_plan *b,
                           const rollout_state *t, int64_t now, uint64_t *r)
{
    static const char *const orgs[] = {"acme-corp", "globex", "initech", "umbrella"};
    for (int k = 0; k < 8; k++) {
        char id[24];
        int n = snprintf(id, sizeof id, "u%llu", (unsigned long long)(t_rand(r) % 1000000));
        const char *org = orgs[t_rand(r) % 4];
        rollout_attr attrs[] = {{"email", 5, "ann@example.com", 15}};
        rollout_context ctx = {.org = org, .org_len = strlen(org), .user = id,
                               .user_len = (size_t)n, .session = id, .session_len = (size_t)n,
                               .attrs = attrs, .n_attrs = t_rand(r) % 2};
        int64_t at = now + (int64_t)(t_rand(r) % (3 * D));
        rollout_decision da, db;
        cr_assert_eq(rollout_decide(a, s, at, &ctx, &da), ROLLOUT_OK);
        cr_assert_eq(rollout_decide(b, t, at, &ctx, &db), ROLLOUT_OK);
        cr_assert_eq(da.variant, db.variant);
        cr_assert_eq(da.reason, db.reason);
        cr_assert_eq(da.weight, db.weight);
    }
}

Test(migrate, random_sequences_decide_as_before)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_roles_shifted(), *w = edit_weight();
    uint64_t r = 20260228;
    int migrated = 0, rolled = 0;
    for (int seq = 0; seq < 3000; seq++) {
        rollout_state s, t;
        cr_assert_eq(rollout_state_init(a, &s), ROLLOUT_OK);
        int64_t now = T0;
        int len = 1 + (int)(t_rand(&r) % 40), cut = (int)(t_rand(&r) % (unsigned)len);
        bool on_b = false;
        for (int k = 0; k < len; k++) {
            now += (int64_t)(t_rand(&r) % (8 * H));
            rollout_event e = random_event(&r);
            if (k == cut) {
                rollout_error err;
                cr_assert_eq(rollout_state_migrate(a, &s, b, &t, &err), ROLLOUT_OK, "%s",
                             err.message);
                cr_assert_eq(t.status, s.status);
                cr_assert_eq(t.revision, s.revision + 1);
                on_b = true;
                migrated++;
                /* the weight edit keeps every rollback, halt and pause */
                rollout_state u;
                if (rollout_state_migrate(a, &s, w, &u, &err) == ROLLOUT_OK) {
                    cr_assert_eq(u.status, s.status);
                    if (s.status == ROLLOUT_STATUS_ROLLED_BACK ||
                        s.status == ROLLOUT_STATUS_ROLLING_BACK) {
                        rollout_decision d;
                        rollout_context ctx = {.org = "acme-corp", .org_len = 9};
                        cr_assert_eq(rollout_decide(w, &u, now + 7 * D, &ctx, &d), ROLLOUT_OK);
                        cr_assert_eq(d.variant, ROLLOUT_STABLE);
                        rolled++;
                    }
                }
            }
            /* the role that approves: shifted by one in b */
            rollout_event eb = e;
            if (eb.role >= 0)
                eb.role++;
            rollout_action acts[ROLLOUT_MAX_ACTIONS];
            size_t n = ROLLOUT_MAX_ACTIONS;
            int ra = rollout_apply(a, &s, &e, now, &s, acts, &n, NULL);
            if (on_b) {
                n = ROLLOUT_MAX_ACTIONS;
                int rb = rollout_apply(b, &t, &eb, now, &t, acts, &n, NULL);
                cr_assert_eq(ra, rb, "%s: %d vs %d", rollout_event_name(e.type), ra, rb);
                cr_assert_eq(s.status, t.status);
                cr_assert_eq(s.phase, t.phase);
                cr_assert_eq(s.step, t.step);
                cr_assert_eq(s.gate, t.gate);
                cr_assert_eq(s.revision + 1, t.revision);
                same_decisions(a, &s, b, &t, now, &r);
            }
        }
    }
    cr_assert_gt(migrated, 2000);
    cr_assert_gt(rolled, 50);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
    rollout_plan_unref(w);
}
