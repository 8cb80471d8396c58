/* SPDX-License-Identifier: MIT */
/*
 * machine.c — the rollout state machine: (state, event, now) -> (state, actions).
 *
 * The library performs nothing. Every transition returns the ordered list of
 * things the caller must do (set a weight, notify, page, halt, restore, run
 * smoke tests...), taken from the plan, so that every gateway and script that
 * applies the same events to the same state agrees. docs/state-machine.md has
 * the transition table; tests/c/test_machine.c checks every cell of it.
 *
 * All work happens on a local copy of the state; *next is written only when
 * the whole event has been applied, so an invalid event changes nothing.
 */
#include "plan.h"

#include <string.h>

/* rollback_done bits beyond the procedure's own steps */
#define RB_ESCALATED   (1u << 31)
#define RB_POSTMORTEM  (1u << 30)

typedef struct action_list {
    rollout_action *a;
    size_t cap, n;
} action_list;

typedef struct machine {
    const rollout_plan *p;
    rollout_state s;      /* the state being built */
    int64_t now;
    action_list o;
    rollout_error *err;
} machine;

/* t + d for a duration d >= 0, stopping at INT64_MAX ("never"). With now
 * and a state's times at most ROLLOUT_TIME_MAX and durations at most a
 * century the sum fits; the stop stays for whatever else comes (signed
 * overflow found by fuzz_state when any time was accepted). */
static int64_t time_after(int64_t t, int64_t d)
{
    return t > INT64_MAX - d ? INT64_MAX : t + d;
}

static rollout_action *push(machine *m, int type)
{
    size_t i = m->o.n++;
    if (i >= m->o.cap)
        return NULL;
    rollout_action *a = &m->o.a[i];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->cohort = a->gate = a->comm = a->unit = -1;
    return a;
}

static int refuse(machine *m, const char *fmt, const char *a, const char *b)
{
    return rp_error_set(m->err, ROLLOUT_ERR_TRANSITION, NULL, 0, 0, NULL, fmt, a, b);
}

static void enter(machine *m, int status)
{
    if (m->s.status != status) {
        m->s.status = status;
        m->s.status_since[status] = m->now;
    }
}

/* Copies why into dst, cut to fit on a UTF-8 character boundary. */
static void copy_reason(char *dst, const char *why)
{
    size_t n = why ? strlen(why) : 0;
    if (n > ROLLOUT_REASON_MAX - 1) {
        n = ROLLOUT_REASON_MAX - 1;
        /* back off continuation bytes so no character is split */
        while (n > 0 && ((unsigned char)why[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, why, n);
    dst[n] = '\0';
}

/* Appends an audit record; the ring drops the oldest. */
static void trail(machine *m, int kind, int role, int gate, int detail, uint32_t flags,
                  const char *why)
{
    rollout_trail_record *r = &m->s.trail[m->s.trail_total % ROLLOUT_TRAIL_MAX];
    memset(r, 0, sizeof *r);
    r->at = m->now;
    r->kind = kind;
    r->role = role;
    r->gate = gate;
    r->attempt = m->s.attempt;
    r->detail = detail;
    r->flags = flags;
    copy_reason(r->reason, why);
    m->s.trail_total++;
}

/* The role an event names as its sender, -1 when it names none. */
static int actor(const machine *m, const rollout_event *ev)
{
    return ev->actor > 0 && ev->actor <= m->p->n_roles ? ev->actor - 1 : -1;
}

static bool blank(const char *why)
{
    if (!why)
        return true;
    for (; *why; why++)
        if (*why != ' ' && *why != '\t' && *why != '\n' && *why != '\r')
            return false;
    return true;
}

static void notify(machine *m, int event, int phase, uint32_t weight, int gate)
{
    for (int i = 0; i < m->p->n_comms; i++) {
        const rp_comm *cm = &m->p->comms[i];
        if (!rp_comm_matches(cm, event, phase, weight, gate))
            continue;
        rollout_action *a = push(m, ROLLOUT_ACTION_NOTIFY);
        if (!a)
            continue;
        a->comm = i;
        a->roles = cm->owners;
        a->id = cm->id;
        a->channel = cm->channel;
        a->audience = cm->audience;
        a->text = cm->message;
    }
}

static int next_open_gate(const rollout_plan *p, const rollout_state *s)
{
    for (int g = 0; g < p->n_gates; g++)
        if (!s->gate_go_at[g])
            return g;
    return -1;
}

/* ---- time passing --------------------------------------------------------- */

/* How catch_up treats the state's status. */
enum lift { LIFT_NONE = 0, LIFT_PAUSE, LIFT_HALT };

/* Emits what the schedule makes due by now in m->s and had not made due by
 * before_at in *before (NULL: nothing was due before): communication rows of
 * the steps, gate calls, and one SET_WEIGHT per cohort whose weight moved,
 * with its weight as of now (a caller that missed ticks jumps straight to the
 * right split). Then brings status, phase, step and gate up to date.
 *
 * Comparing two timelines, rather than looking at the interval
 * (updated_at, now], is what keeps a step that a GO releases at the very
 * second of the previous transition from being skipped. Past steps never
 * move (a pause or a GO only moves what comes after it), so a step due by
 * before_at under *before was emitted then.
 *
 * lift: LIFT_PAUSE / LIFT_HALT when the state leaves a pause or a halt now;
 * the status then comes from the schedule, and a lifted halt sets every
 * cohort's weight again (HALT_TRAFFIC had sent them all to stable). */
static void catch_up(machine *m, const rollout_state *before, int64_t before_at, int lift)
{
    const rollout_plan *p = m->p;
    rp_timeline old, tl;
    rp_timeline_compute(p, &m->s, false, &tl);
    if (before)
        rp_timeline_compute(p, before, false, &old);
    int64_t now = m->now;
    uint32_t changed = 0;   /* cohorts whose weight moved */
    if (lift == LIFT_HALT)
        changed = p->n_cohorts >= 32 ? ~0u : (1u << p->n_cohorts) - 1;
    for (int i = 0; i < p->n_steps; i++) {
        const rp_step *st = &p->steps[i];
        bool was = before && old.step_at[i] <= before_at;
        if (!was && tl.step_at[i] <= now) {
            changed |= 1u << p->phases[st->phase].cohort;
            if (st->index == 0)
                notify(m, RP_COMM_PHASE_START, st->phase, 0, -1);
            if (rp_step_reaches_new_weight(p, i))
                notify(m, RP_COMM_STEP, st->phase, st->weight, -1);
        }
        int g = st->gate;
        if (g < 0 || m->s.gate_go_at[g])
            continue;
        bool gate_was = before && old.gate_due[g] <= before_at;
        if (!gate_was && tl.gate_due[g] <= now) {
            const rp_gate *gt = &p->gates[g];
            rollout_action *a = push(m, ROLLOUT_ACTION_GATE_DUE);
            if (a) {
                a->gate = g;
                a->roles = gt->approvers;
                a->id = gt->id;
                a->due = tl.gate_due[g];
                a->text = gt->description;
            }
        }
    }

    rollout_schedule_info info;
    rollout_state view = m->s;
    if (lift)
        view.status = ROLLOUT_STATUS_RUNNING; /* the schedule's weights apply again */
    rp_schedule_info(p, &view, now, &info);
    for (int c = 0; c < p->n_cohorts; c++) {
        if (!(changed & (1u << c)))
            continue;
        rollout_action *a = push(m, ROLLOUT_ACTION_SET_WEIGHT);
        if (a) {
            a->cohort = c;
            a->weight = info.cohorts[c].weight;
            a->unit = info.cohorts[c].unit;
            a->id = p->cohorts[c].id;
        }
    }
    m->s.phase = info.phase;
    m->s.step = info.step;
    m->s.gate = next_open_gate(p, &m->s);
    if (info.status == ROLLOUT_STATUS_COMPLETED && m->s.status != ROLLOUT_STATUS_COMPLETED) {
        rollout_action *a = push(m, ROLLOUT_ACTION_COMPLETE);
        if (a)
            a->id = p->id;
        notify(m, RP_COMM_COMPLETE, -1, 0, -1);
    }
    if (lift || (m->s.status != ROLLOUT_STATUS_PAUSED && m->s.status != ROLLOUT_STATUS_HALTED)) {
        int st = info.status;
        if (st == ROLLOUT_STATUS_NOT_STARTED || st == ROLLOUT_STATUS_PAUSED)
            st = ROLLOUT_STATUS_RUNNING;
        /* a NO-GO (hold) keeps the rollout at its gate until a GO, even
         * before the gate's decision time */
        if (st == ROLLOUT_STATUS_RUNNING && m->s.gate >= 0 && m->s.gate_no_go_at[m->s.gate])
            st = ROLLOUT_STATUS_AWAITING_GATE;
        enter(m, st);
    }
}

/* ---- the rollback procedure ------------------------------------------------ */

int rp_confirmation_for(int action)
{
    switch (action) {
    case RP_RB_HALT_TRAFFIC: return ROLLOUT_CONFIRM_TRAFFIC_HALTED;
    case RP_RB_RESTORE_PREVIOUS: return ROLLOUT_CONFIRM_PREVIOUS_RESTORED;
    case RP_RB_RUN_SMOKE_TESTS: return ROLLOUT_CONFIRM_SMOKE_PASSED;
    case RP_RB_RESUME_SERVICE: return ROLLOUT_CONFIRM_SERVICE_RESUMED;
    case RP_RB_OPEN_INCIDENT: return ROLLOUT_CONFIRM_INCIDENT_OPENED;
    default: return -1;  /* page and post-mortem scheduling need no answer */
    }
}

static void emit_procedure_step(machine *m, const rp_rollback_step *st)
{
    static const int types[RP_RB_COUNT] = {
        ROLLOUT_ACTION_PAGE, ROLLOUT_ACTION_HALT_TRAFFIC, ROLLOUT_ACTION_RESTORE_PREVIOUS,
        ROLLOUT_ACTION_RUN_SMOKE_TESTS, ROLLOUT_ACTION_RESUME_SERVICE,
        ROLLOUT_ACTION_OPEN_INCIDENT, ROLLOUT_ACTION_SCHEDULE_POSTMORTEM};
    rollout_action *a = push(m, types[st->action]);
    if (!a)
        return;
    a->id = st->id;
    a->roles = st->roles;
    a->text = st->description;
    if (st->action == RP_RB_RESTORE_PREVIOUS || st->action == RP_RB_RUN_SMOKE_TESTS)
        a->label = m->p->labels[0];
    if (st->action == RP_RB_POSTMORTEM)
        a->due = time_after(m->now, m->p->rollback.postmortem_within);
}

static int first_pending_step(const machine *m)
{
    const rp_rollback *rb = &m->p->rollback;
    for (size_t k = 0; k < rb->n_steps; k++)
        if (!(m->s.rollback_done & (1u << k)))
            return (int)k;
    return (int)rb->n_steps;
}

/* Emits procedure steps until one needs a confirmation; past the last step
 * the rollback is complete. */
static void run_procedure(machine *m)
{
    const rp_rollback *rb = &m->p->rollback;
    for (int k = first_pending_step(m); k < (int)rb->n_steps; k++) {
        emit_procedure_step(m, &rb->steps[k]);
        if (rp_confirmation_for(rb->steps[k].action) >= 0)
            return;
        m->s.rollback_done |= 1u << k;
    }
    enter(m, ROLLOUT_STATUS_ROLLED_BACK);
}

static void start_rollback(machine *m, int reason)
{
    /* what fell due since the last transition (and was caught up just
     * before this event) is moot: every cohort goes back to stable */
    m->o.n = 0;
    if (m->s.status == ROLLOUT_STATUS_PAUSED)
        m->s.pause_to[m->s.n_pauses - 1] = m->now;
    m->s.rollback_reason = reason;
    m->s.rollback_started_at = m->now;
    m->s.rollback_done = 0;
    enter(m, ROLLOUT_STATUS_ROLLING_BACK);
    notify(m, RP_COMM_ROLLBACK, -1, 0, -1);
    if (m->p->rollback.n_steps == 0) {
        /* a plan without a procedure still gets its traffic back */
        push(m, ROLLOUT_ACTION_HALT_TRAFFIC);
        enter(m, ROLLOUT_STATUS_ROLLED_BACK);
        return;
    }
    run_procedure(m);
}

static int on_confirm(machine *m, int confirmation)
{
    const rp_rollback *rb = &m->p->rollback;
    if (confirmation < 0 || confirmation >= ROLLOUT_CONFIRM_COUNT)
        return rp_error_set(m->err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "confirmation %d is not a rollout_confirmation", confirmation);
    if (confirmation == ROLLOUT_CONFIRM_POSTMORTEM_DONE) {
        /* the post-mortem is scheduled by the procedure's last step: it can
         * only be done once the procedure is */
        if (m->s.status != ROLLOUT_STATUS_ROLLED_BACK)
            return refuse(m, "the post-mortem can only be done once the rollback is complete "
                             "(status %s)%s",
                          rollout_status_name(m->s.status), "");
        if (m->s.rollback_done & RB_POSTMORTEM)
            return refuse(m, "the post-mortem is already recorded as done%s%s", "", "");
        m->s.rollback_done |= RB_POSTMORTEM;
        return ROLLOUT_OK;
    }
    if (m->s.status != ROLLOUT_STATUS_ROLLING_BACK)
        return refuse(m, "%s is only valid while rolling back (status %s)",
                      rollout_confirmation_name(confirmation), rollout_status_name(m->s.status));
    int k = first_pending_step(m);
    int want = rp_confirmation_for(rb->steps[k].action);
    if (confirmation == ROLLOUT_CONFIRM_SMOKE_FAILED && want == ROLLOUT_CONFIRM_SMOKE_PASSED) {
        /* the previous version fails its smoke tests too: people must look,
         * and the tests run again once they have */
        rollout_action *a = push(m, ROLLOUT_ACTION_ESCALATE);
        if (a) {
            a->id = rb->steps[k].id;
            a->text = "smoke tests failed on the previous version";
            a->due = m->now;
        }
        emit_procedure_step(m, &rb->steps[k]);
        return ROLLOUT_OK;
    }
    if (confirmation != want)
        return refuse(m, "%s does not confirm the step the rollback waits for (%s)",
                      rollout_confirmation_name(confirmation), rb->steps[k].id);
    m->s.rollback_done |= 1u << k;
    run_procedure(m);
    return ROLLOUT_OK;
}

/* ---- gates ------------------------------------------------------------------- */

/* The gate an event names, checked to be the next open gate whose step has
 * happened. */
static int event_gate(machine *m, int gate, int *found)
{
    const rollout_plan *p = m->p;
    int next = next_open_gate(p, &m->s);
    if (gate < 0)
        gate = next;
    if (gate < 0 || gate >= p->n_gates)
        return next < 0 ? refuse(m, "every gate has its GO already%s%s", "", "")
                        : rp_error_set(m->err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                                       "gate %d does not exist", gate);
    if (gate != next)
        return refuse(m, "gate \"%s\" is not the next gate (\"%s\" is)", p->gates[gate].id,
                      next >= 0 ? p->gates[next].id : "none");
    rp_timeline tl;
    rp_timeline_compute(p, &m->s, false, &tl);
    if (tl.step_at[p->gates[gate].step] > m->now)
        return refuse(m, "gate \"%s\" is not reached yet: the step it follows has not happened%s",
                      p->gates[gate].id, "");
    *found = gate;
    return ROLLOUT_OK;
}

static int on_approve(machine *m, const rollout_event *ev)
{
    int g, rc = event_gate(m, ev->gate, &g);
    if (rc)
        return rc;
    const rp_gate *gate = &m->p->gates[g];
    if (ev->role < 0 || ev->role >= m->p->n_roles)
        return rp_error_set(m->err, ROLLOUT_ERR_NOT_FOUND, NULL, 0, 0, NULL,
                            "role %d does not exist", ev->role);
    if (!(gate->approvers & (1u << ev->role)))
        return refuse(m, "role \"%s\" is not an approver of gate \"%s\"",
                      m->p->roles[ev->role].id, gate->id);
    if (m->s.gate_approvals[g] & (1u << ev->role))
        return refuse(m, "role \"%s\" already approved gate \"%s\"", m->p->roles[ev->role].id,
                      gate->id);
    m->s.gate_approvals[g] |= 1u << ev->role;
    trail(m, ROLLOUT_TRAIL_APPROVE, ev->role, g, -1, 0, ev->why);
    return ROLLOUT_OK;
}

static int on_go(machine *m, const rollout_event *ev)
{
    const rollout_plan *p = m->p;
    int g, rc = event_gate(m, ev->gate, &g);
    if (rc)
        return rc;
    const rp_gate *gate = &p->gates[g];
    int verdict = m->s.last_verdict;
    if (ev->override) {
        if (ev->role < 0 || ev->role >= p->n_roles)
            return refuse(m, "an override must name who overrides (a role of the plan)%s%s", "",
                          "");
        if (blank(ev->why))
            return refuse(m, "an override of gate \"%s\" needs a reason%s", gate->id, "");
        if (!(gate->override_roles & (1u << ev->role)))
            return gate->override_roles
                       ? refuse(m, "role \"%s\" may not override gate \"%s\" (see the gate's "
                                   "override_roles)",
                                p->roles[ev->role].id, gate->id)
                       : refuse(m, "role \"%s\" may not override gate \"%s\": the gate lists no "
                                   "override_roles",
                                p->roles[ev->role].id, gate->id);
        if ((verdict == ROLLOUT_VERDICT_FAIL || verdict == ROLLOUT_VERDICT_ROLLBACK) &&
            !ev->override_verdict)
            return refuse(m, "the last verdict of gate \"%s\" is %s: overriding it needs the "
                             "explicit override-verdict flag",
                          gate->id, rollout_verdict_name(verdict));
        m->s.gate_override_role[g] = ev->role;
    } else {
        uint32_t missing = gate->approvers & ~m->s.gate_approvals[g];
        if (missing) {
            int r = __builtin_ctz(missing);
            return refuse(m, "gate \"%s\" still needs the approval of \"%s\"", gate->id,
                          p->roles[r].id);
        }
        if (gate->criteria >= 0 && m->s.last_verdict != ROLLOUT_VERDICT_PASS)
            return refuse(m, "gate \"%s\" needs a PASS verdict first (last: %s)", gate->id,
                          m->s.last_verdict < 0 ? "none" : rollout_verdict_name(m->s.last_verdict));
    }
    if (ev->override)
        trail(m, ROLLOUT_TRAIL_OVERRIDE, ev->role, g, verdict,
              verdict == ROLLOUT_VERDICT_FAIL || verdict == ROLLOUT_VERDICT_ROLLBACK
                  ? ROLLOUT_TRAIL_VERDICT_OVERRIDDEN
                  : 0,
              ev->why);
    else
        trail(m, ROLLOUT_TRAIL_GO, actor(m, ev), g, verdict, 0, ev->why);
    rollout_state before = m->s;
    m->s.gate_go_at[g] = m->now;
    m->s.gate_no_go_at[g] = 0;
    m->s.last_verdict = -1;
    m->s.consecutive_failures = m->s.consecutive_inconclusive = 0;
    notify(m, RP_COMM_GATE, -1, 0, g);
    /* a GO lifts a halt: traffic comes back at the schedule's weights */
    catch_up(m, &before, m->now, m->s.status == ROLLOUT_STATUS_HALTED ? LIFT_HALT : LIFT_NONE);
    return ROLLOUT_OK;
}

/* The gate's no-go, as its plan says (on_no_go), whether people decided it
 * or its failure / inconclusive limit was exceeded. */
static void gate_no_go(machine *m, int g)
{
    m->s.gate_no_go_at[g] = m->now;
    /* the approvals were given before the decision went the other way: the
     * next GO needs them again */
    m->s.gate_approvals[g] = 0;
    switch (m->p->gates[g].on_no_go) {
    case RP_NO_GO_HALT:
        enter(m, ROLLOUT_STATUS_HALTED);
        push(m, ROLLOUT_ACTION_HALT_TRAFFIC);
        break;
    case RP_NO_GO_ROLLBACK:
        start_rollback(m, ROLLOUT_ROLLBACK_NO_GO);
        break;
    default: /* hold: weights stay where they are until a GO */
        enter(m, ROLLOUT_STATUS_AWAITING_GATE);
        break;
    }
}

static int on_no_go(machine *m, const rollout_event *ev)
{
    int g, rc = event_gate(m, ev->gate, &g);
    if (rc)
        return rc;
    trail(m, ROLLOUT_TRAIL_NO_GO, actor(m, ev), g, 0, 0, ev->why);
    gate_no_go(m, g);
    return ROLLOUT_OK;
}

/* Argo's failureLimit / inconclusiveLimit: the current gate tolerates that
 * many FAIL (INCONCLUSIVE) verdicts in a row; the next one is its no-go. */
static void check_verdict_limits(machine *m)
{
    int g = m->s.gate;
    /* as a person's NO_GO: only while the rollout moves (not paused, halted
     * or baking) */
    if (g < 0 || g >= m->p->n_gates ||
        (m->s.status != ROLLOUT_STATUS_RUNNING && m->s.status != ROLLOUT_STATUS_AWAITING_GATE))
        return;
    const rp_gate *gate = &m->p->gates[g];
    bool over = (gate->failure_limit >= 0 &&
                 m->s.consecutive_failures > gate->failure_limit) ||
                (gate->inconclusive_limit >= 0 &&
                 m->s.consecutive_inconclusive > gate->inconclusive_limit);
    if (!over)
        return;
    m->s.consecutive_failures = m->s.consecutive_inconclusive = 0;
    trail(m, ROLLOUT_TRAIL_NO_GO, -1, g, 1, 0, NULL);
    gate_no_go(m, g);
}

static int on_verdict(machine *m, const rollout_event *ev)
{
    switch (ev->verdict) {
    case ROLLOUT_VERDICT_PASS:
        m->s.consecutive_failures = m->s.consecutive_inconclusive = 0;
        break;
    case ROLLOUT_VERDICT_FAIL:
        m->s.consecutive_failures++;
        m->s.consecutive_inconclusive = 0;
        break;
    case ROLLOUT_VERDICT_INCONCLUSIVE:
        m->s.consecutive_inconclusive++;
        break;
    case ROLLOUT_VERDICT_ROLLBACK:
        m->s.last_verdict = ev->verdict;
        trail(m, ROLLOUT_TRAIL_ROLLBACK, actor(m, ev), -1,
              ev->reason > ROLLOUT_ROLLBACK_MANUAL && ev->reason < ROLLOUT_ROLLBACK_COUNT
                  ? ev->reason
                  : ROLLOUT_ROLLBACK_EVALUATION,
              0, ev->why);
        /* The evaluation names the trigger its criterion stands for (the
         * seed's critical bug, data corruption, error rate); without one, or
         * with "manual", the evaluation itself is the reason. */
        start_rollback(m, ev->reason > ROLLOUT_ROLLBACK_MANUAL && ev->reason < ROLLOUT_ROLLBACK_COUNT
                              ? ev->reason
                              : ROLLOUT_ROLLBACK_EVALUATION);
        return ROLLOUT_OK;
    default:
        return rp_error_set(m->err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "verdict %d is not a rollout_verdict", ev->verdict);
    }
    m->s.last_verdict = ev->verdict;
    check_verdict_limits(m);
    return ROLLOUT_OK;
}

static int on_rollback(machine *m, const rollout_event *ev, int kind)
{
    int reason = kind == ROLLOUT_TRAIL_ABORT ? ROLLOUT_ROLLBACK_MANUAL : ev->reason;
    if (reason < 0 || reason >= ROLLOUT_ROLLBACK_COUNT)
        return rp_error_set(m->err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "reason %d is not a rollout_rollback_reason", reason);
    uint32_t allowed = m->p->rollback.triggers;
    /* people may always roll back by hand; automatic reasons must be listed */
    if (allowed && reason != ROLLOUT_ROLLBACK_MANUAL && !(allowed & (1u << reason)))
        return refuse(m, "the plan does not list \"%s\" among its rollback triggers%s",
                      rollout_rollback_reason_name(reason), "");
    trail(m, kind, actor(m, ev), -1, reason, 0, ev->why);
    start_rollback(m, reason);
    return ROLLOUT_OK;
}

/* A new attempt from the first step of the phase that failed: its gates
 * are decided again, the earlier phases stay where they were, and the salt
 * (hence every bucket) does not change. */
static int on_retry(machine *m, const rollout_event *ev)
{
    const rollout_plan *p = m->p;
    if (m->s.attempt == INT32_MAX)
        return refuse(m, "no attempt number is left after attempt %s%s", "2147483647", "");
    rollout_state before = m->s;
    int phase = m->s.phase >= 0 ? m->s.phase : 0;
    int first = p->phases[phase].first_step;
    int gate = p->n_gates;
    for (int g = 0; g < p->n_gates; g++)
        if (p->gates[g].step >= first) {
            gate = g;
            break;
        }
    for (int g = gate; g < ROLLOUT_MAX_GATES; g++) {
        m->s.gate_go_at[g] = m->s.gate_no_go_at[g] = 0;
        m->s.gate_approvals[g] = 0;
        m->s.gate_override_role[g] = -1;
    }
    m->s.attempt++;
    m->s.attempt_step = first;
    m->s.attempt_gate = gate;
    m->s.attempt_at = m->now;
    m->s.rollback_reason = -1;
    m->s.rollback_started_at = 0;
    m->s.rollback_done = 0;
    m->s.last_verdict = -1;
    m->s.consecutive_failures = m->s.consecutive_inconclusive = 0;
    m->s.paused_from = -1;
    trail(m, ROLLOUT_TRAIL_RETRY, actor(m, ev), -1, phase, 0, ev->why);
    if (!m->s.started_at) {
        /* rolled back before it started: the retry is the start */
        m->s.started_at = m->now;
        notify(m, RP_COMM_ROLLOUT_START, -1, 0, -1);
    }
    enter(m, ROLLOUT_STATUS_RUNNING);
    notify(m, RP_COMM_PHASE_START, phase, 0, -1);
    /* the rollback sent every cohort to stable: each gets the new
     * attempt's weight */
    catch_up(m, &before, m->now, LIFT_HALT);
    return ROLLOUT_OK;
}

/* The last step a PROMOTE at now makes happen: the current phase's last
 * step (all_phases: the plan's), but none behind a gate without a GO. */
static int promote_target(const machine *m, int all_phases, int cur)
{
    const rollout_plan *p = m->p;
    int phase = cur >= 0 ? p->steps[cur].phase : 0;
    int last = all_phases ? p->n_steps - 1
                          : p->phases[phase].first_step + p->phases[phase].n_steps - 1;
    int i = cur < 0 ? 0 : cur;
    if (cur >= 0 && p->steps[cur].gate >= 0 && !m->s.gate_go_at[p->steps[cur].gate])
        return cur;
    for (; i < last; i++) {
        int g = p->steps[i].gate;
        if (g >= 0 && !m->s.gate_go_at[g])
            break;
    }
    return i;
}

static int on_promote(machine *m, const rollout_event *ev)
{
    const rollout_plan *p = m->p;
    if (blank(ev->why))
        return refuse(m, "a promote needs a reason%s%s", "", "");
    if (m->s.n_promotes >= ROLLOUT_MAX_PROMOTES)
        return refuse(m, "the state has recorded its %s promotes; no further promote fits%s", "8",
                      "");
    int cur = m->s.phase >= 0 ? p->phases[m->s.phase].first_step + m->s.step : -1;
    int to = promote_target(m, ev->all_phases, cur);
    if (to <= cur) {
        int g = cur >= 0 ? p->steps[cur].gate : -1;
        return g >= 0 ? refuse(m, "nothing to promote: the rollout waits for gate \"%s\"%s",
                               p->gates[g].id, "")
                      : refuse(m, "nothing to promote: %s%s",
                               ev->all_phases ? "every step has happened"
                                              : "the phase's last step has happened",
                               "");
    }
    rollout_state before = m->s;
    m->s.promote_to[m->s.n_promotes] = to;
    m->s.promote_at[m->s.n_promotes] = m->now;
    m->s.n_promotes++;
    trail(m, ROLLOUT_TRAIL_PROMOTE, actor(m, ev), -1, to,
          ev->all_phases ? ROLLOUT_TRAIL_ALL_PHASES : 0, ev->why);
    catch_up(m, &before, m->now, LIFT_NONE);
    return ROLLOUT_OK;
}

/* ---- dispatch ------------------------------------------------------------------ */

static bool is(int status, unsigned mask)
{
    return (mask >> status) & 1u;
}

#define S(x) (1u << ROLLOUT_STATUS_##x)
#define ACTIVE (S(RUNNING) | S(AWAITING_GATE) | S(BAKING))
#define LIVE (ACTIVE | S(PAUSED) | S(HALTED))

static int dispatch(machine *m, const rollout_event *ev, const rollout_state *orig)
{
    if (ev->type < 0 || ev->type >= ROLLOUT_EVENT_COUNT)
        return rp_error_set(m->err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "event type %d is not a rollout_event_type", ev->type);
    /* the trail keeps the reason, and a state holds text only */
    if (ev->why && !rp_utf8_valid(ev->why, strlen(ev->why)))
        return rp_error_set(m->err, ROLLOUT_ERR_ENCODING, NULL, 0, 0, NULL,
                            "the reason is not UTF-8 text%s", "");
    /* An active rollout first catches up with the clock: whatever fell due
     * since the last transition is emitted before the event's own actions,
     * and the event is judged on the status as of now (a bake that ended
     * makes a later PAUSE invalid). A TICK is only this. */
    if (is(m->s.status, ACTIVE))
        catch_up(m, orig, orig->updated_at, LIFT_NONE);
    int st = m->s.status, rc;
    switch (ev->type) {
    case ROLLOUT_EVENT_START:
        if (st != ROLLOUT_STATUS_NOT_STARTED)
            break;
        m->s.started_at = m->now;
        enter(m, ROLLOUT_STATUS_RUNNING);
        trail(m, ROLLOUT_TRAIL_START, actor(m, ev), -1, -1, 0, ev->why);
        notify(m, RP_COMM_ROLLOUT_START, -1, 0, -1);
        catch_up(m, NULL, 0, LIFT_NONE);
        return ROLLOUT_OK;
    case ROLLOUT_EVENT_APPROVE:
        if (!is(st, LIVE))
            break;
        return on_approve(m, ev);
    case ROLLOUT_EVENT_GO:
        if (!is(st, ACTIVE | S(HALTED)))
            break;
        return on_go(m, ev);
    case ROLLOUT_EVENT_NO_GO:
        if (!is(st, ACTIVE))
            break;
        return on_no_go(m, ev);
    case ROLLOUT_EVENT_PAUSE:
        if (!is(st, ACTIVE))
            break;
        if (m->s.n_pauses >= ROLLOUT_MAX_PAUSES)
            return refuse(m, "the state has recorded its %s pauses; no further pause fits%s",
                          "16", "");
        m->s.pause_from[m->s.n_pauses] = m->now;
        m->s.pause_to[m->s.n_pauses] = 0;
        m->s.n_pauses++;
        m->s.paused_from = st;
        enter(m, ROLLOUT_STATUS_PAUSED);
        trail(m, ROLLOUT_TRAIL_PAUSE, actor(m, ev), -1, -1, 0, ev->why);
        return ROLLOUT_OK;
    case ROLLOUT_EVENT_RESUME: {
        rollout_state before = m->s;
        if (st == ROLLOUT_STATUS_PAUSED || st == ROLLOUT_STATUS_HALTED)
            trail(m, ROLLOUT_TRAIL_RESUME, actor(m, ev), -1, -1, 0, ev->why);
        if (st == ROLLOUT_STATUS_PAUSED) {
            /* the schedule's clock runs again: later steps slip by the pause */
            m->s.pause_to[m->s.n_pauses - 1] = m->now;
            catch_up(m, &before, m->now, LIFT_PAUSE);
            return ROLLOUT_OK;
        }
        if (st == ROLLOUT_STATUS_HALTED) {
            /* traffic comes back at the last step's weights; the gate still
             * waits for its GO */
            catch_up(m, &before, m->now, LIFT_HALT);
            return ROLLOUT_OK;
        }
        break;
    }
    case ROLLOUT_EVENT_VERDICT:
        if (!is(st, LIVE))
            break;
        return on_verdict(m, ev);
    case ROLLOUT_EVENT_ROLLBACK:
        if (!is(st, LIVE | S(NOT_STARTED)))
            break;
        return on_rollback(m, ev, ROLLOUT_TRAIL_ROLLBACK);
    case ROLLOUT_EVENT_ABORT:
        if (!is(st, LIVE | S(NOT_STARTED)))
            break;
        return on_rollback(m, ev, ROLLOUT_TRAIL_ABORT);
    case ROLLOUT_EVENT_RETRY:
        if (st == ROLLOUT_STATUS_ROLLING_BACK) {
            int k = first_pending_step(m);
            return refuse(m, "retry is only valid once the rollback has completed: it waits for "
                             "%s (step \"%s\")",
                          rollout_confirmation_name(
                              rp_confirmation_for(m->p->rollback.steps[k].action)),
                          m->p->rollback.steps[k].id);
        }
        if (st != ROLLOUT_STATUS_ROLLED_BACK)
            break;
        return on_retry(m, ev);
    case ROLLOUT_EVENT_PROMOTE:
        if (!is(st, S(RUNNING) | S(AWAITING_GATE)))
            break;
        return on_promote(m, ev);
    case ROLLOUT_EVENT_CONFIRM:
        if (!is(st, S(ROLLING_BACK) | S(ROLLED_BACK)))
            break;
        rc = on_confirm(m, ev->confirmation);
        if (rc == ROLLOUT_OK)
            trail(m, ROLLOUT_TRAIL_CONFIRM, actor(m, ev), -1, ev->confirmation, 0, ev->why);
        return rc;
    case ROLLOUT_EVENT_ESCALATE:
        if (is(st, S(COMPLETED) | S(NOT_STARTED)))
            break;
        notify(m, RP_COMM_ESCALATION, -1, 0, -1);
        return ROLLOUT_OK;
    case ROLLOUT_EVENT_TICK:
        if (st == ROLLOUT_STATUS_ROLLING_BACK && m->p->rollback.deadline &&
            !(m->s.rollback_done & RB_ESCALATED) &&
            m->now > time_after(m->s.rollback_started_at, m->p->rollback.deadline)) {
            m->s.rollback_done |= RB_ESCALATED;
            rollout_action *a = push(m, ROLLOUT_ACTION_ESCALATE);
            if (a) {
                a->due = time_after(m->s.rollback_started_at, m->p->rollback.deadline);
                a->text = "the rollback ran past its deadline";
            }
        }
        return ROLLOUT_OK;
    }
    return refuse(m, "%s is not valid while the rollout is %s", rollout_event_name(ev->type),
                  rollout_status_name(st));
}

int rollout_apply(const rollout_plan *plan, const rollout_state *state, const rollout_event *event,
                  int64_t now, rollout_state *next, rollout_action *actions, size_t *n_actions,
                  rollout_error *err)
{
    size_t cap = n_actions ? *n_actions : 0;
    if (n_actions)
        *n_actions = 0;
    if (!plan || !state || !event || !next || !n_actions || (!actions && cap))
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "plan, state, event, next and n_actions are required");
    int rc = rp_state_usable(plan, state, err);
    if (rc)
        return rc;
    /* A state writes 0 for "not yet" (a pause under way ends at 0), so an
     * event at or before the epoch would record times that read back as
     * something else: RESUME at 0 left a running state with an open pause,
     * which no longer decodes (found by fuzz_state). */
    if (now <= 0)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "now must be after 1970-01-01T00:00:00Z (states record 0 as "
                            "\"not yet\")");
    /* beyond it lies "never" (INT64_MAX): at now == INT64_MAX every step
     * behind a gate without a GO would count as due */
    if (now > ROLLOUT_TIME_MAX)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "now must not be after 9999-12-31T23:59:59Z (epoch %lld)",
                            (long long)ROLLOUT_TIME_MAX);
    if (now < state->updated_at)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL,
                            "time runs backwards: now is before the state's last transition");

    machine m = {.p = plan, .s = *state, .now = now, .o = {actions, cap, 0}, .err = err};
    rc = dispatch(&m, event, state);
    if (rc)
        return rc;
    if (m.o.n > cap)
        return rp_error_set(err, ROLLOUT_ERR_BUFFER, NULL, 0, 0, NULL,
                            "%zu actions do not fit in %zu", m.o.n, cap);
    /* A tick that found nothing to do is not a transition. */
    if (event->type == ROLLOUT_EVENT_TICK && m.o.n == 0 &&
        memcmp(&m.s, state, sizeof m.s) == 0) {
        if (next != state)
            *next = *state;
        return ROLLOUT_OK;
    }
    m.s.revision++;
    m.s.updated_at = now;
    *next = m.s;
    *n_actions = m.o.n;
    return ROLLOUT_OK;
}

int rollout_state_init(const rollout_plan *plan, rollout_state *state)
{
    if (!plan || !state)
        return ROLLOUT_ERR_ARG;
    memset(state, 0, sizeof *state);
    state->format = ROLLOUT_STATE_FORMAT;
    state->status = ROLLOUT_STATUS_NOT_STARTED;
    state->plan_fingerprint = plan->fingerprint;
    state->phase = state->step = -1;
    state->gate = plan->n_gates ? 0 : -1;
    state->paused_from = -1;
    state->last_verdict = -1;
    state->rollback_reason = -1;
    state->attempt = 1;
    state->attempt_step = state->attempt_gate = -1;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        state->gate_override_role[g] = -1;
    return ROLLOUT_OK;
}

/* ---- names ------------------------------------------------------------------------ */

#define NAME_FN(fn, table, count)                                    \
    const char *fn(int v)                                            \
    {                                                                \
        return v >= 0 && v < (count) ? table[v] : "?";               \
    }

static const char *const status_names[ROLLOUT_STATUS_COUNT] = {
    "not_started", "running", "awaiting_gate", "paused", "halted",
    "rolling_back", "rolled_back", "baking", "completed"};
static const char *const event_names[ROLLOUT_EVENT_COUNT] = {
    "start", "approve", "go", "no_go", "pause", "resume",
    "verdict", "rollback", "confirm", "escalate", "tick", "retry", "promote", "abort"};
static const char *const trail_names[ROLLOUT_TRAIL_COUNT] = {
    "start", "approve", "go", "override", "no_go", "pause",
    "resume", "rollback", "abort", "confirm", "retry", "promote"};
static const char *const action_names[ROLLOUT_ACTION_COUNT] = {
    "set_weight", "notify", "gate_due", "page", "halt_traffic", "restore_previous",
    "run_smoke_tests", "resume_service", "open_incident", "schedule_postmortem",
    "escalate", "complete"};
static const char *const confirmation_names[ROLLOUT_CONFIRM_COUNT] = {
    "traffic_halted", "previous_restored", "smoke_passed", "smoke_failed",
    "service_resumed", "incident_opened", "postmortem_done"};

NAME_FN(rollout_status_name, status_names, ROLLOUT_STATUS_COUNT)
NAME_FN(rollout_event_name, event_names, ROLLOUT_EVENT_COUNT)
NAME_FN(rollout_action_name, action_names, ROLLOUT_ACTION_COUNT)
NAME_FN(rollout_confirmation_name, confirmation_names, ROLLOUT_CONFIRM_COUNT)
NAME_FN(rollout_trail_kind_name, trail_names, ROLLOUT_TRAIL_COUNT)
