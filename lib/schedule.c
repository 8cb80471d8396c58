/* SPDX-License-Identifier: MIT */
/*
 * schedule.c — when each step happens, as a pure function of (plan, state, now).
 *
 * Times are computed step by step, each from the one before, so every delay
 * carries forward and nothing is ever compressed:
 *   - a step follows the previous step (or its gate) by the plan's offset
 *     difference, on the schedule's clock, which stands still during pauses;
 *   - a gate's decision falls due the same way; the steps after it wait for
 *     its GO and, when the GO comes late, slip by the delay;
 *   - a step due outside the plan's change windows (or inside a freeze) moves
 *     to the next opening, and the steps after it move with it.
 * docs/scheduling.md states these rules; tests/c/test_schedule.c checks them
 * at every boundary.
 */
#include "plan.h"
#include "schedule_fast.h"

#include <string.h>

/* ---- the clock -------------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (a == RP_NEVER || b == RP_NEVER)
        return RP_NEVER;
    if (b > 0 && a > INT64_MAX - b)
        return RP_NEVER;
    return a + b;
}

/* t + delta seconds of schedule clock: pauses do not count. A pause still
 * under way swallows everything after its start. */
static int64_t advance(const rollout_state *s, int64_t t, int64_t delta)
{
    if (t == RP_NEVER)
        return RP_NEVER;
    int64_t cur = t, left = delta;
    int n = s ? s->n_pauses : 0;
    for (int i = 0; i < n && i < ROLLOUT_MAX_PAUSES; i++) {
        int64_t from = s->pause_from[i], to = s->pause_to[i] ? s->pause_to[i] : RP_NEVER;
        if (to <= cur)
            continue;
        /* >=: what falls due at the very moment a pause begins still happens,
         * so recording a pause never changes the answer at or before it. */
        if (from >= cur) {
            /* from - cur may pass INT64_MAX (a state's times are any int64_t;
             * found by fuzz_state): compare it unsigned, and subtract it only
             * when it is below left, hence in range */
            uint64_t gap = (uint64_t)from - (uint64_t)cur;
            if (left <= 0 || (uint64_t)left <= gap)
                break;
            left -= (int64_t)gap;
            cur = from;
        }
        if (to == RP_NEVER)
            return RP_NEVER;
        cur = to;
    }
    return sat_add(cur, left);
}

static int weekday(int64_t day)
{
    /* 1970-01-01 was a Thursday; Monday is 0 */
    int64_t w = (day + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

/* The earliest moment >= t inside window w. */
static int64_t window_next(const rp_window *w, int64_t t)
{
    /* no plan reaches this far; it keeps the day arithmetic from overflowing */
    if (t > INT64_MAX / 2)
        return RP_NEVER;
    /* from the local day before: in a zone, a repeated hour can put t
     * before the close of what its local date calls yesterday */
    int64_t day = rp_window_day(w, t);
    for (int k = -1; k <= 8; k++) {
        int64_t d = day + k, open, close;
        if (!(w->days & (1u << weekday(d))))
            continue;
        rp_window_bounds(w, d, &open, &close);
        if (t < close && open < close)
            return t > open ? t : open;
    }
    return RP_NEVER; /* unreachable: every window has a day */
}

/* The earliest moment >= t at which a step may take effect. */
static int64_t allowed_at(const rollout_plan *p, int64_t t)
{
    if (t == RP_NEVER || (!p->n_windows && !p->n_freezes))
        return t;
    /* Each round either returns or moves past a freeze or to a window
     * opening; freezes are finite, so a few rounds per freeze suffice. */
    for (int round = 0; round < 4 * (p->n_freezes + 2); round++) {
        int64_t next = t;
        for (int i = 0; i < p->n_freezes; i++)
            if (p->freezes[i].from <= next && next < p->freezes[i].to)
                next = p->freezes[i].to;
        if (p->n_windows) {
            int64_t best = RP_NEVER;
            for (int i = 0; i < p->n_windows; i++) {
                int64_t w = window_next(&p->windows[i], next);
                if (w < best)
                    best = w;
            }
            next = best;
        }
        if (next == t)
            return t;
        t = next;
    }
    return t;
}

/* ---- the walk over steps ------------------------------------------------------- */

static int64_t start_of(const rollout_plan *p, const rollout_state *s)
{
    return s && s->started_at ? s->started_at : p->start;
}

static bool not_running(const rollout_state *s)
{
    return s && (s->status == ROLLOUT_STATUS_NOT_STARTED || s->status == ROLLOUT_STATUS_HALTED ||
                 s->status == ROLLOUT_STATUS_ROLLING_BACK ||
                 s->status == ROLLOUT_STATUS_ROLLED_BACK);
}

/* When gate g's decision falls due, given when the step it follows happened. */
static int64_t gate_due(const rollout_plan *p, const rollout_state *s, int g, int64_t step_at)
{
    const rp_gate *gate = &p->gates[g];
    return advance(s, step_at, gate->at - p->steps[gate->step].at);
}

/* The moment the schedule moves on past gate g: its GO, or its due time if
 * the GO came early; RP_NEVER while it has none (or, with assume_go, the due
 * time, as a projection). */
static int64_t gate_release(const rollout_state *s, int g, int64_t due, bool assume_go)
{
    int64_t go = s ? s->gate_go_at[g] : 0;
    if (!go)
        return assume_go ? due : RP_NEVER;
    return go > due ? go : due;
}

/* When step i falls due on the plain schedule, given when step i-1
 * happened (ignored for i == 0); step_time moves it into a window. */
static int64_t step_due(const rollout_plan *p, const rollout_state *s, int i, int64_t prev,
                        bool assume_go)
{
    const rp_step *st = &p->steps[i];
    int64_t t;
    if (i == 0) {
        t = advance(s, start_of(p, s), st->at);
    } else {
        const rp_step *pr = &p->steps[i - 1];
        if (pr->gate >= 0) {
            int64_t due = gate_due(p, s, pr->gate, prev);
            int64_t release = gate_release(s, pr->gate, due, assume_go);
            t = advance(s, release, st->at - p->gates[pr->gate].at);
        } else {
            t = advance(s, prev, st->at - pr->at);
        }
    }
    return t;
}

/* What people moved by hand: the first step of a retried attempt happens
 * at the retry, and a step a PROMOTE covered (in this attempt) no later
 * than the promote. Both are decisions taken now, so no window moves them. */
static int64_t by_hand(const rollout_state *s, int i, int64_t t)
{
    if (!s)
        return t;
    if (s->attempt_at && i == s->attempt_step)
        t = s->attempt_at;
    for (int k = 0; k < s->n_promotes && k < ROLLOUT_MAX_PROMOTES; k++)
        if (i <= s->promote_to[k] && s->promote_at[k] < t &&
            (i < s->attempt_step || s->promote_at[k] >= s->attempt_at))
            t = s->promote_at[k];
    return t;
}

/* When step i happens, given when step i-1 happened (ignored for i == 0). */
static int64_t step_time(const rollout_plan *p, const rollout_state *s, int i, int64_t prev,
                         bool assume_go)
{
    return by_hand(s, i, allowed_at(p, step_due(p, s, i, prev, assume_go)));
}

const rp_cohort_step *rp_schedule_step(const rollout_plan *p, const rollout_state *s,
                                       int64_t now, int cohort)
{
    if (rp_schedule_is_simple(p, s))
        return rp_cohort_step_simple(p, s, now, cohort);
    if (p->cohort_last_phase[cohort] < 0)
        return NULL;
    const rp_phase *last = &p->phases[p->cohort_last_phase[cohort]];
    int end = last->first_step + last->n_steps;
    int found = -1;
    int64_t t = 0;
    /* Step times never decrease, so the walk stops at the first future step. */
    for (int i = 0; i < end; i++) {
        t = step_time(p, s, i, t, false);
        if (t > now)
            break;
        if (p->phases[p->steps[i].phase].cohort == cohort)
            found = i;
    }
    return found >= 0 ? &p->cohort_steps[p->step_entry[found]] : NULL;
}

bool rp_schedule_cohort(const rollout_plan *p, const rollout_state *s, int64_t now, int cohort,
                        rp_cohort_weight *out)
{
    if (cohort < 0 || cohort >= p->n_cohorts || not_running(s))
        return false;
    const rp_cohort_step *st = rp_schedule_step(p, s, now, cohort);
    if (!st)
        return false;
    out->weight = st->decision.weight;
    out->unit = st->decision.unit;
    out->phase = st->decision.phase;
    out->step = st->decision.step;
    return true;
}

void rp_timeline_compute(const rollout_plan *p, const rollout_state *s, bool assume_go,
                         rp_timeline *out)
{
    int64_t t = 0;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        out->gate_due[g] = RP_NEVER;
    for (int i = 0; i < p->n_steps; i++) {
        t = step_time(p, s, i, t, assume_go);
        out->step_at[i] = t;
        if (p->steps[i].gate >= 0)
            out->gate_due[p->steps[i].gate] = gate_due(p, s, p->steps[i].gate, t);
    }
    const rp_step *last = &p->steps[p->n_steps - 1];
    out->bake_start = last->gate >= 0
                          ? gate_release(s, last->gate, out->gate_due[last->gate], assume_go)
                          : t;
    out->complete_at = advance(s, out->bake_start, p->bake.duration);
}

/* ---- the full answer ------------------------------------------------------------- */

/* Reports the first gate at or after step i (which happens at t) as the one
 * due next: a gate that already has its GO is history, not "next". */
static void gate_ahead(const rollout_plan *p, const rollout_state *s, int i, int64_t t,
                       rollout_schedule_info *out)
{
    for (int j = i; j < p->n_steps; j++) {
        if (j > i)
            t = step_time(p, s, j, t, false);
        int g = p->steps[j].gate;
        if (g >= 0) {
            out->gate = g;
            out->gate_due = gate_due(p, s, g, t);
            return;
        }
    }
}

int rollout_schedule(const rollout_plan *p, const rollout_state *s, int64_t now,
                     rollout_schedule_info *out)
{
    if (!p || !out)
        return ROLLOUT_ERR_ARG;
    /* the answer for a refused call says nothing is scheduled */
    memset(out, 0, sizeof *out);
    out->phase = out->step = out->gate = out->next_phase = out->next_step = -1;
    out->next_at = out->bake_start = out->complete_at = out->gate_due = RP_NEVER;
    /* outside the range, now could reach "never" (RP_NEVER) and find every
     * step behind a gate without a GO due */
    if (!RP_TIME_OK(now))
        return ROLLOUT_ERR_ARG;
    int rc = s ? rp_state_usable(p, s, NULL) : ROLLOUT_OK;
    if (rc)
        return rc;
    rp_schedule_info(p, s, now, out);
    return ROLLOUT_OK;
}

void rp_schedule_info(const rollout_plan *p, const rollout_state *s, int64_t now,
                      rollout_schedule_info *out)
{
    memset(out, 0, sizeof *out);
    out->phase = out->step = out->gate = out->next_phase = out->next_step = -1;
    out->next_at = out->bake_start = out->complete_at = out->gate_due = RP_NEVER;
    out->n_cohorts = p->n_cohorts;
    for (int c = 0; c < p->n_cohorts; c++) {
        out->cohorts[c].phase = out->cohorts[c].step = -1;
        out->cohorts[c].unit = -1;
    }

    if (s && s->status != ROLLOUT_STATUS_NOT_STARTED && not_running(s)) {
        out->status = s->status;
        out->next_change = ROLLOUT_CHANGE_NONE;
        return;
    }
    if (s && s->status == ROLLOUT_STATUS_NOT_STARTED) {
        out->status = ROLLOUT_STATUS_NOT_STARTED;
        out->next_change = ROLLOUT_CHANGE_WAIT;
        return;
    }

    /* Walk every step that has happened; stop at the first that has not. */
    int64_t t = 0, prev = 0;
    int current = -1;
    for (int i = 0; i < p->n_steps; i++) {
        t = step_time(p, s, i, prev, false);
        if (t > now)
            break;
        current = i;
        prev = t;
        const rp_step *st = &p->steps[i];
        rollout_cohort_weight *cw = &out->cohorts[p->phases[st->phase].cohort];
        cw->weight = st->weight;
        cw->unit = st->unit;
        cw->phase = st->phase;
        cw->step = st->index;
    }

    bool paused = s && s->status == ROLLOUT_STATUS_PAUSED;
    if (current < 0) {
        out->status = paused ? ROLLOUT_STATUS_PAUSED : ROLLOUT_STATUS_NOT_STARTED;
        out->next_change = t == RP_NEVER ? ROLLOUT_CHANGE_WAIT : ROLLOUT_CHANGE_STEP;
        out->next_at = t;
        out->next_phase = p->steps[0].phase;
        out->next_step = 0;
        out->next_weight = p->steps[0].weight;
        out->slip = t == RP_NEVER ? 0 : t - (start_of(p, s) + p->steps[0].at);
        gate_ahead(p, s, 0, t, out);
        return;
    }

    const rp_step *cur = &p->steps[current];
    out->phase = cur->phase;
    out->step = cur->index;
    out->status = paused ? ROLLOUT_STATUS_PAUSED : ROLLOUT_STATUS_RUNNING;

    /* The gate after the current step, if any, decides what comes next. */
    int64_t release = prev;
    if (cur->gate >= 0) {
        int64_t due = gate_due(p, s, cur->gate, prev);
        release = gate_release(s, cur->gate, due, false);
        if (release == RP_NEVER) {
            out->gate = cur->gate;
            out->gate_due = due;
            out->gate_pending = due <= now;
            if (out->gate_pending && !paused)
                out->status = ROLLOUT_STATUS_AWAITING_GATE;
            /* a due time of never means a pause under way: that waits on a resume */
            out->next_change = out->gate_pending || due == RP_NEVER ? ROLLOUT_CHANGE_WAIT
                                                                    : ROLLOUT_CHANGE_GATE;
            out->next_at = out->gate_pending ? RP_NEVER : due;
            return;
        }
    }

    if (current + 1 < p->n_steps) {
        /* t is the next step's time (the loop broke on it) */
        const rp_step *nx = &p->steps[current + 1];
        out->next_change = t == RP_NEVER ? ROLLOUT_CHANGE_WAIT : ROLLOUT_CHANGE_STEP;
        out->next_at = t;
        out->next_phase = nx->phase;
        out->next_step = nx->index;
        out->next_weight = nx->weight;
        if (t != RP_NEVER) {
            /* the slip is measured against the plan's own offset */
            out->slip = t - (start_of(p, s) + nx->at);
        }
        gate_ahead(p, s, current + 1, t, out);
        return;
    }

    /* After the last step: the bake, then completion. */
    out->bake_start = release;
    out->complete_at = advance(s, release, p->bake.duration);
    if (now >= out->complete_at) {
        out->status = ROLLOUT_STATUS_COMPLETED;
        out->next_change = ROLLOUT_CHANGE_NONE;
    } else {
        if (!paused && now >= release)
            out->status = ROLLOUT_STATUS_BAKING;
        out->next_change =
            out->complete_at == RP_NEVER ? ROLLOUT_CHANGE_WAIT : ROLLOUT_CHANGE_COMPLETE;
        out->next_at = out->complete_at;
    }
}

/* ---- the calendar ------------------------------------------------------------------ */

typedef struct cal {
    rollout_calendar_event *ev;
    size_t cap, n;
} cal;

static rollout_calendar_event *cal_add(cal *c, int64_t at, int kind)
{
    size_t i = c->n++;
    if (i >= c->cap)
        return NULL;
    rollout_calendar_event *e = &c->ev[i];
    memset(e, 0, sizeof *e);
    e->at = e->due = at;
    e->kind = kind;
    e->phase = e->step = e->gate = e->cohort = -1;
    return e;
}

bool rp_step_reaches_new_weight(const rollout_plan *p, int i)
{
    /* a step that keeps the weight (changing only the unit) must not send
     * the "reached N %" message a second time */
    return p->steps[i].index == 0 || p->steps[i - 1].weight != p->steps[i].weight;
}

bool rp_comm_matches(const rp_comm *cm, int event, int phase, uint32_t weight, int gate)
{
    if (cm->event != event)
        return false;
    if ((event == RP_COMM_PHASE_START || event == RP_COMM_STEP) && cm->phase != phase)
        return false;
    if (event == RP_COMM_STEP && cm->weight != weight)
        return false;
    return event != RP_COMM_GATE || cm->gate == gate;
}

static void cal_messages(cal *c, const rollout_plan *p, int64_t at, bool projected, int event,
                         int phase, uint32_t weight, int gate)
{
    for (int i = 0; i < p->n_comms; i++) {
        const rp_comm *cm = &p->comms[i];
        if (!rp_comm_matches(cm, event, phase, weight, gate))
            continue;
        rollout_calendar_event *e = cal_add(c, at, ROLLOUT_CAL_MESSAGE);
        if (!e)
            continue;
        e->phase = phase;
        e->gate = gate;
        e->projected = projected;
        e->title = cm->id;
        e->channel = cm->channel;
        e->audience = cm->audience;
        e->message = cm->message;
        e->owners = cm->owners;
    }
}

int rollout_calendar(const rollout_plan *p, const rollout_state *s, rollout_calendar_event *events,
                     size_t cap, size_t *n)
{
    if (!p || !n || (!events && cap))
        return ROLLOUT_ERR_ARG;
    *n = 0;
    int rc = s ? rp_state_usable(p, s, NULL) : ROLLOUT_OK;
    if (rc)
        return rc;
    cal c = {events, cap, 0};
    int64_t prev = 0;
    bool projected = false;
    cal_messages(&c, p, start_of(p, s), false, RP_COMM_ROLLOUT_START, -1, 0, -1);
    for (int i = 0; i < p->n_steps; i++) {
        const rp_step *st = &p->steps[i];
        int64_t plain = step_due(p, s, i, prev, true), t = allowed_at(p, plain);
        int64_t moved = by_hand(s, i, t);
        if (moved != t)
            plain = t = moved;
        if (i > 0 && p->steps[i - 1].gate >= 0 && !(s && s->gate_go_at[p->steps[i - 1].gate]))
            projected = true;
        rollout_calendar_event *e = cal_add(&c, t, ROLLOUT_CAL_STEP);
        if (e) {
            e->phase = st->phase;
            e->step = st->index;
            e->cohort = p->phases[st->phase].cohort;
            e->weight = st->weight;
            e->projected = projected;
            e->title = p->phases[st->phase].id;
            e->due = plain;
        }
        if (st->index == 0)
            cal_messages(&c, p, t, projected, RP_COMM_PHASE_START, st->phase, 0, -1);
        if (rp_step_reaches_new_weight(p, i))
            cal_messages(&c, p, t, projected, RP_COMM_STEP, st->phase, st->weight, -1);
        if (st->gate >= 0) {
            const rp_gate *g = &p->gates[st->gate];
            int64_t due = gate_due(p, s, st->gate, t);
            e = cal_add(&c, due, ROLLOUT_CAL_GATE);
            if (e) {
                e->phase = st->phase;
                e->step = st->index;
                e->gate = st->gate;
                e->projected = projected;
                e->title = g->id;
                e->owners = g->approvers;
            }
            int64_t release = gate_release(s, st->gate, due, true);
            cal_messages(&c, p, release, projected || !(s && s->gate_go_at[st->gate]),
                         RP_COMM_GATE, -1, 0, st->gate);
        }
        prev = t;
    }
    const rp_step *last = &p->steps[p->n_steps - 1];
    int64_t bake = last->gate >= 0
                       ? gate_release(s, last->gate, gate_due(p, s, last->gate, prev), true)
                       : prev;
    if (last->gate >= 0 && !(s && s->gate_go_at[last->gate]))
        projected = true;
    rollout_calendar_event *e;
    if (p->bake.duration && (e = cal_add(&c, bake, ROLLOUT_CAL_BAKE))) {
        e->projected = projected;
        e->title = "bake";
    }
    int64_t done = advance(s, bake, p->bake.duration);
    if ((e = cal_add(&c, done, ROLLOUT_CAL_COMPLETE))) {
        e->projected = projected;
        e->title = "complete";
    }
    cal_messages(&c, p, done, projected, RP_COMM_COMPLETE, -1, 0, -1);

    *n = c.n;
    if (c.n > cap)
        return ROLLOUT_ERR_BUFFER;
    /* Stable insertion sort by time: a gate and a step at the same moment
     * keep plan order, so the calendar reads the way the plan is written. */
    for (size_t i = 1; i < c.n; i++) {
        rollout_calendar_event tmp = events[i];
        size_t j = i;
        while (j > 0 && events[j - 1].at > tmp.at) {
            events[j] = events[j - 1];
            j--;
        }
        events[j] = tmp;
    }
    return ROLLOUT_OK;
}
