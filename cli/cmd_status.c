/* SPDX-License-Identifier: MIT */
/*
 * cmd_status.c — `rollout status`: the live view of one rollout.
 *
 * Everything shown is computed from the plan and the state (file or store)
 * at one instant: the schedule for weights and the next change, the
 * calendar for every step's time (slipped as the state records), the plan
 * for gates, criteria and the rollback procedure, the state's trail for who
 * did what. Lines stay within 80 columns; long plan texts are cut.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "cli.h"
#include "evaluate.h"
#include "plan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char status_usage[] =
    "usage: rollout status [PLAN] (--state FILE | --store URL [--key-file PATH])\n"
    "                      [--at TIME | --time-scale N --clock-start T [--clock-origin W]]\n"
    "                      [--watch] [--json]\n";

static void status_help(void)
{
    printf("%s\n"
           "Shows where a rollout stands: every phase and step with the current one\n"
           "marked (>), each cohort's weight now, the gate due next with its approvals,\n"
           "the last verdict and the gate's criteria, slip and pauses, the rollback's\n"
           "progress (which procedure step waits for which confirmation, and its\n"
           "deadline), the next change and when it happens, and the audit trail.\n\n"
           "  --state FILE   the state file `rollout state` keeps\n"
           "  --store URL    the state in a shared store (docs/fleet.md)\n"
           "  --key-file PATH  the store's HMAC key\n"
           "  --at TIME      the instant to show (default: the system clock)\n"
           "  --watch        redraw whenever the state or the minute changes (polls once\n"
           "                 a second; a read that fails is reported and retried; Ctrl-C\n"
           "                 ends it)\n"
           "  --json         one JSON object instead of text\n"
           "  --time-scale N --clock-start T [--clock-origin W]\n"
           "                 a plan clock that shows T at the wall-clock epoch second W\n"
           "                 (default: now) and runs N plan seconds a second, the clock of\n"
           "                 `rollout operator` in a demo (docs/operator.md, \"Time\")\n\n"
           "Step times marked ~ assume the gates before them get their GO on time.\n"
           "exit status: 0 shown, 1 the plan or state is invalid, 2 usage or I/O error.\n",
           status_usage);
}

/* ---- helpers ------------------------------------------------------------------- */

static void fmt_time(int64_t t, char *buf, size_t cap)
{
    if (t == INT64_MAX)
        snprintf(buf, cap, "never");
    else
        cli_format_time(t, buf, cap);
}

/* "1h35m", "2d3h", "45s" */
static void fmt_span(int64_t d, char *buf, size_t cap)
{
    if (d < 0)
        d = -d;
    rp_format_duration(d, buf, cap);
}

/* Prints a line of at most 79 bytes: a plan's text may be long. */
static void line_cut(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void line_cut(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    size_t n = strlen(buf);
    if (n > 79) {
        n = 76;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf + n, "...", 4);
    }
    puts(buf);
}

/* A list printed word by word that wraps before column 80, the next lines
 * indented by 12: a gate may name many roles. */
typedef struct wrap {
    char line[256];
    size_t n;
} wrap;

/* Adds " name suffix" to the list. */
static void wrap_add(wrap *w, const char *name, const char *suffix)
{
    char word[160];
    snprintf(word, sizeof word, " %s%s", name, suffix);
    size_t len = strlen(word);
    if (w->n > 12 && w->n + len > 79) {
        line_cut("%s", w->line);
        w->n = (size_t)snprintf(w->line, sizeof w->line, "%12s", "");
    }
    if (w->n + len < sizeof w->line) {
        memcpy(w->line + w->n, word, len + 1);
        w->n += len;
    }
}

static void wrap_end(wrap *w)
{
    line_cut("%s", w->line);
}

static const char *role_name(const rollout_plan *p, int r)
{
    return r >= 0 ? cli_text(rollout_plan_role_name(p, r)) : NULL;
}

static const char *gate_name(const rollout_plan *p, int g)
{
    return g >= 0 ? cli_text(rollout_plan_gate_name(p, g)) : NULL;
}

static bool stopped(int status)
{
    return status == ROLLOUT_STATUS_ROLLING_BACK || status == ROLLOUT_STATUS_ROLLED_BACK;
}

static const char *const unit_names[] = {"org", "user", "session", "request"};

/* The confirmation a rollback procedure step waits for, or NULL (machine.c). */
static const char *confirmation_of(int action)
{
    switch (action) {
    case RP_RB_HALT_TRAFFIC: return "traffic_halted";
    case RP_RB_RESTORE_PREVIOUS: return "previous_restored";
    case RP_RB_RUN_SMOKE_TESTS: return "smoke_passed";
    case RP_RB_RESUME_SERVICE: return "service_resumed";
    case RP_RB_OPEN_INCIDENT: return "incident_opened";
    default: return NULL;
    }
}

/* Index of the first procedure step not done (n_steps when all are). */
static int rollback_waiting(const rollout_plan *p, const rollout_state *s)
{
    size_t k = 0;
    while (k < p->rollback.n_steps && (s->rollback_done & (1u << k)))
        k++;
    return s->status == ROLLOUT_STATUS_ROLLED_BACK ? (int)p->rollback.n_steps : (int)k;
}

/* The trail record j (oldest first) of those s holds. */
static const rollout_trail_record *trail_at(const rollout_state *s, uint32_t j, uint32_t *held)
{
    *held = s->trail_total < ROLLOUT_TRAIL_MAX ? s->trail_total : ROLLOUT_TRAIL_MAX;
    return &s->trail[(s->trail_total - *held + j) % ROLLOUT_TRAIL_MAX];
}

/* What a record's detail says, in words, or NULL. */
static const char *trail_detail(const rollout_plan *p, const rollout_trail_record *r, char *buf,
                                size_t cap)
{
    switch (r->kind) {
    case ROLLOUT_TRAIL_ROLLBACK:
    case ROLLOUT_TRAIL_ABORT:
        return rollout_rollback_reason_name(r->detail);
    case ROLLOUT_TRAIL_CONFIRM:
        return rollout_confirmation_name(r->detail);
    case ROLLOUT_TRAIL_OVERRIDE:
    case ROLLOUT_TRAIL_GO:
        return r->detail >= 0 ? rollout_verdict_name(r->detail) : NULL;
    case ROLLOUT_TRAIL_NO_GO:
        return r->detail ? "verdict limit" : NULL;
    case ROLLOUT_TRAIL_RETRY:
        return r->detail >= 0 && r->detail < p->n_phases ? cli_text(p->phases[r->detail].id)
                                                         : NULL;
    case ROLLOUT_TRAIL_PROMOTE:
        if (r->detail < 0 || r->detail >= p->n_steps)
            return NULL;
        snprintf(buf, cap, "to %s step %d", cli_text(p->phases[p->steps[r->detail].phase].id),
                 p->steps[r->detail].index + 1);
        return buf;
    default:
        return NULL;
    }
}

void cli_trail_json(const rollout_plan *p, const rollout_state *s)
{
    uint32_t held;
    trail_at(s, 0, &held);
    putchar('[');
    for (uint32_t j = 0; j < held; j++) {
        const rollout_trail_record *r = trail_at(s, j, &held);
        char at[32], buf[96];
        cli_format_time(r->at, at, sizeof at);
        printf("%s{\"at\": \"%s\", \"kind\": \"%s\", \"attempt\": %d", j ? ", " : "", at,
               rollout_trail_kind_name(r->kind), r->attempt);
        const char *role = r->role >= 0 ? rollout_plan_role_name(p, r->role) : NULL;
        const char *gate = r->gate >= 0 ? rollout_plan_gate_name(p, r->gate) : NULL;
        const char *detail = trail_detail(p, r, buf, sizeof buf);
        const char *keys[] = {"role", "gate", "detail"};
        const char *vals[] = {role, gate, detail};
        for (int k = 0; k < 3; k++) {
            printf(", \"%s\": ", keys[k]);
            if (vals[k])
                cli_json_str(stdout, vals[k], strlen(vals[k]));
            else
                printf("null");
        }
        printf(", \"reason\": ");
        cli_json_str(stdout, r->reason, strlen(r->reason));
        printf(", \"verdict_overridden\": %s, \"all_phases\": %s}",
               r->flags & ROLLOUT_TRAIL_VERDICT_OVERRIDDEN ? "true" : "false",
               r->flags & ROLLOUT_TRAIL_ALL_PHASES ? "true" : "false");
    }
    putchar(']');
}

/* ---- the view --------------------------------------------------------------------- */

typedef struct view {
    const rollout_plan *p;
    const rollout_state *s;
    int64_t now;
    rollout_schedule_info info;
    rollout_calendar_event cal[ROLLOUT_MAX_CALENDAR];
    size_t n_cal;
    int cur;      /* global index of the current step, -1 none */
    int gate;     /* the gate to show, -1 none */
} view;

static int build(view *v, const rollout_plan *p, const rollout_state *s, int64_t now)
{
    v->p = p;
    v->s = s;
    v->now = now;
    int rc = rollout_schedule(p, s, now, &v->info);
    if (!rc)
        rc = rollout_calendar(p, s, v->cal, ROLLOUT_MAX_CALENDAR, &v->n_cal);
    if (rc) {
        fprintf(stderr, "rollout status: %s\n", rollout_code_name(rc));
        return CLI_INVALID;
    }
    /* stopped, the schedule says nothing: the position is where it stopped */
    int phase = stopped(s->status) || s->status == ROLLOUT_STATUS_HALTED ? s->phase
                                                                          : v->info.phase;
    int step = stopped(s->status) || s->status == ROLLOUT_STATUS_HALTED ? s->step : v->info.step;
    v->cur = phase >= 0 ? p->phases[phase].first_step + step : -1;
    v->gate = stopped(s->status) || s->status == ROLLOUT_STATUS_COMPLETED ? -1 : s->gate;
    return CLI_OK;
}

static void weights_text(const view *v, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int c = 0; c < v->info.n_cohorts && len < cap; c++) {
        char w[16];
        rp_format_weight(v->info.cohorts[c].weight, w, sizeof w);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s %s", c ? ", " : "",
                                cli_text(rollout_plan_cohort_name(v->p, c)), w);
    }
}

static void next_text(const view *v, char *buf, size_t cap)
{
    const rollout_plan *p = v->p;
    const rollout_schedule_info *in = &v->info;
    char at[32], in_s[32];
    if (v->s->status == ROLLOUT_STATUS_ROLLING_BACK) {
        int k = rollback_waiting(p, v->s);
        const rp_rollback_step *st = &p->rollback.steps[k];
        snprintf(buf, cap, "the rollback waits for %s (step %s)", confirmation_of(st->action),
                 cli_text(st->id));
        return;
    }
    if (v->s->status == ROLLOUT_STATUS_ROLLED_BACK) {
        snprintf(buf, cap, "nothing until a retry (rolled back)");
        return;
    }
    if (v->s->status == ROLLOUT_STATUS_NOT_STARTED) {
        snprintf(buf, cap, "nothing until the start event");
        return;
    }
    fmt_time(in->next_at, at, sizeof at);
    fmt_span(in->next_at - v->now, in_s, sizeof in_s);
    switch (in->next_change) {
    case ROLLOUT_CHANGE_STEP: {
        char w[16];
        rp_format_weight(in->next_weight, w, sizeof w);
        snprintf(buf, cap, "%s step %d (%s) at %s, in %s", cli_text(p->phases[in->next_phase].id),
                 in->next_step + 1, w, at, in_s);
        break;
    }
    case ROLLOUT_CHANGE_GATE:
        snprintf(buf, cap, "gate %s due at %s, in %s", gate_name(p, in->gate), at, in_s);
        break;
    case ROLLOUT_CHANGE_COMPLETE:
        snprintf(buf, cap, "complete at %s, in %s", at, in_s);
        break;
    case ROLLOUT_CHANGE_WAIT:
        if (v->s->status == ROLLOUT_STATUS_PAUSED)
            snprintf(buf, cap, "nothing until a resume (paused)");
        else if (in->gate >= 0)
            snprintf(buf, cap, "waits for the GO of gate %s", gate_name(p, in->gate));
        else
            snprintf(buf, cap, "waits for an event");
        break;
    default:
        snprintf(buf, cap, "nothing: %s", v->s->status == ROLLOUT_STATUS_COMPLETED
                                               ? "the rollout is complete"
                                               : "the rollout has stopped");
        break;
    }
}

/* A step or gate time, "~" before a projected one; a time that waits on an
 * event says which. */
static void step_time(const view *v, const rollout_calendar_event *e, char *buf, size_t cap)
{
    if (stopped(v->s->status) && e->at > v->s->rollback_started_at)
        snprintf(buf, cap, " cancelled (rollback)");
    else if (e->at == INT64_MAX)
        snprintf(buf, cap, " %s", v->s->status == ROLLOUT_STATUS_PAUSED ? "after the resume"
                                                                       : "after a GO");
    else {
        buf[0] = e->projected ? '~' : ' ';
        fmt_time(e->at, buf + 1, cap - 1);
    }
}

static void print_steps(const view *v)
{
    const rollout_plan *p = v->p;
    printf("\n   %-10s %-4s  %-21s  %-6s  %s\n", "phase", "step", "at", "weight", "unit");
    for (size_t i = 0; i < v->n_cal; i++) {
        const rollout_calendar_event *e = &v->cal[i];
        char at[32] = "", w[16];
        if (e->kind == ROLLOUT_CAL_STEP) {
            int g = p->phases[e->phase].first_step + e->step;
            step_time(v, e, at, sizeof at);
            rp_format_weight(e->weight, w, sizeof w);
            line_cut("%s  %-10s %-4d %-22s  %-6s  %s", g == v->cur ? ">" : " ",
                     cli_text(p->phases[e->phase].id), e->step + 1, at, w,
                     unit_names[p->steps[g].unit]);
        } else if (e->kind == ROLLOUT_CAL_GATE) {
            const rollout_state *s = v->s;
            int g = e->gate;
            if (s->gate_go_at[g]) {
                fmt_time(s->gate_go_at[g], at, sizeof at);
                line_cut("   %-10s gate %s: GO %s%s%s", "", gate_name(p, g), at,
                         s->gate_override_role[g] >= 0 ? ", override by " : "",
                         s->gate_override_role[g] >= 0 ? role_name(p, s->gate_override_role[g])
                                                       : "");
            } else {
                step_time(v, e, at, sizeof at);
                line_cut("   %-10s gate %s: %s%s%s", "", gate_name(p, g),
                         at[1] == 'c' ? "" : "due ", at[0] == ' ' ? at + 1 : at,
                         s->gate_no_go_at[g] ? ", NO-GO given" : "");
            }
        }
    }
}

static void print_gate(const view *v)
{
    const rollout_plan *p = v->p;
    const rollout_state *s = v->s;
    int g = v->gate;
    if (g < 0)
        return;
    const rp_gate *gt = &p->gates[g];
    char at[32];
    bool due = v->info.gate == g && v->info.gate_due != INT64_MAX;
    if (due)
        fmt_time(v->info.gate_due, at, sizeof at);
    printf("\ngate      %s%s%s%s\n", gate_name(p, g), due ? ", due " : "", due ? at : "",
           s->gate_no_go_at[g] ? ", NO-GO given" : "");
    int n = 0, have = 0;
    for (int r = 0; r < p->n_roles; r++)
        if (gt->approvers & (1u << r)) {
            n++;
            have += !!(s->gate_approvals[g] & (1u << r));
        }
    wrap w;
    w.n = (size_t)snprintf(w.line, sizeof w.line, "          approvals %d of %d:", have, n);
    for (int r = 0; r < p->n_roles; r++)
        if (gt->approvers & (1u << r))
            wrap_add(&w, role_name(p, r),
                     s->gate_approvals[g] & (1u << r) ? " (yes)" : " (waiting)");
    wrap_end(&w);
    /* when each approval came, from the trail */
    uint32_t held;
    trail_at(s, 0, &held);
    for (uint32_t j = 0; j < held; j++) {
        const rollout_trail_record *r = trail_at(s, j, &held);
        if (r->kind == ROLLOUT_TRAIL_APPROVE && r->gate == g && r->attempt == s->attempt &&
            (s->gate_approvals[g] & (1u << r->role))) {
            fmt_time(r->at, at, sizeof at);
            printf("          %s approved at %s\n", role_name(p, r->role), at);
        }
    }
    if (gt->override_roles) {
        w.n = (size_t)snprintf(w.line, sizeof w.line, "          may override:");
        for (int r = 0; r < p->n_roles; r++)
            if (gt->override_roles & (1u << r))
                wrap_add(&w, role_name(p, r), "");
        wrap_add(&w, "(with a reason)", "");
        wrap_end(&w);
    }
    printf("verdict   %s", s->last_verdict >= 0 ? rollout_verdict_name(s->last_verdict) : "none");
    if (s->consecutive_failures || s->consecutive_inconclusive)
        printf(" (%d failed, %d inconclusive in a row)", s->consecutive_failures,
               s->consecutive_inconclusive);
    if (gt->criteria >= 0)
        printf(", criteria %s:", cli_text(p->criteria[gt->criteria].id));
    putchar('\n');
    if (gt->criteria >= 0) {
        const rp_criteria_set *cs = &p->criteria[gt->criteria];
        for (size_t k = 0; k < cs->n; k++)
            line_cut("          - %s", cli_text(cs->items[k].description ? cs->items[k].description
                                                                     : cs->items[k].id));
    }
}

static void print_rollback(const view *v)
{
    const rollout_plan *p = v->p;
    const rollout_state *s = v->s;
    if (!stopped(s->status))
        return;
    char at[32], dl[32], span[32];
    fmt_time(s->rollback_started_at, at, sizeof at);
    printf("\nrollback  %s, started %s\n", rollout_rollback_reason_name(s->rollback_reason), at);
    if (p->rollback.deadline && s->status == ROLLOUT_STATUS_ROLLING_BACK) {
        int64_t deadline = s->rollback_started_at + p->rollback.deadline;
        fmt_time(deadline, dl, sizeof dl);
        fmt_span(deadline - v->now, span, sizeof span);
        printf("deadline  %s, %s %s%s\n", dl, deadline < v->now ? "passed" : "in", span,
               deadline < v->now ? " ago" : "");
        if (deadline < v->now)
            printf("          (past it: escalate)\n");
    }
    int wait = rollback_waiting(p, s);
    for (int k = 0; k < (int)p->rollback.n_steps; k++) {
        const rp_rollback_step *st = &p->rollback.steps[k];
        const char *state = k < wait ? "done" : k == wait ? "waiting" : "to do";
        const char *conf = confirmation_of(st->action);
        if (k == wait && conf)
            line_cut("  %-8s%s: confirm %s (%s)", state, cli_text(st->id), conf,
                     cli_text(st->description ? st->description : ""));
        else
            line_cut("  %-8s%s: %s", state, cli_text(st->id),
                     cli_text(st->description ? st->description : ""));
    }
}

static void print_trail(const view *v)
{
    const rollout_plan *p = v->p;
    const rollout_state *s = v->s;
    uint32_t held;
    trail_at(s, 0, &held);
    printf("\ntrail     %u record%s", s->trail_total, s->trail_total == 1 ? "" : "s");
    if (s->trail_total > held)
        printf(", the last %u", held);
    putchar('\n');
    for (uint32_t j = 0; j < held; j++) {
        const rollout_trail_record *r = trail_at(s, j, &held);
        char at[32], buf[96], what[160];
        fmt_time(r->at, at, sizeof at);
        const char *detail = trail_detail(p, r, buf, sizeof buf);
        snprintf(what, sizeof what, "%s%s%s%s%s%s%s%s", rollout_trail_kind_name(r->kind),
                 r->gate >= 0 ? " " : "", r->gate >= 0 ? gate_name(p, r->gate) : "",
                 detail ? " " : "", detail ? detail : "",
                 r->flags & ROLLOUT_TRAIL_VERDICT_OVERRIDDEN ? " (over the verdict)" : "",
                 r->role >= 0 ? " by " : "", r->role >= 0 ? role_name(p, r->role) : "");
        line_cut("  %s #%d %s", at, r->attempt, what);
        /* on a line of its own: a reason is at most 47 bytes */
        if (r->reason[0])
            line_cut("%25s\"%s\"", "", cli_text(r->reason));
    }
}

static void print_text(const view *v)
{
    const rollout_plan *p = v->p;
    const rollout_state *s = v->s;
    char t[32], buf[512];
    fmt_time(v->now, t, sizeof t);
    printf("rollout   %s at %s\n", cli_text(rollout_plan_id(p)), t);
    printf("attempt   %d, revision %llu\n", s->attempt, (unsigned long long)s->revision);
    printf("status    %s", rollout_status_name(s->status));
    if (s->status_since[s->status]) {
        fmt_time(s->status_since[s->status], t, sizeof t);
        printf(" since %s", t);
    }
    putchar('\n');
    weights_text(v, buf, sizeof buf);
    line_cut("weights   %s", buf);
    next_text(v, buf, sizeof buf);
    line_cut("next      %s", buf);
    if (v->info.slip && !stopped(s->status)) {
        fmt_span(v->info.slip, t, sizeof t);
        printf("slip      %s %s the plan\n", t, v->info.slip > 0 ? "behind" : "ahead of");
    }
    if (!s->n_pauses)
        printf("pauses    none\n");
    for (int i = 0; i < s->n_pauses; i++) {
        char from[32], to[32] = "now", len[32];
        fmt_time(s->pause_from[i], from, sizeof from);
        if (s->pause_to[i])
            fmt_time(s->pause_to[i], to, sizeof to);
        fmt_span((s->pause_to[i] ? s->pause_to[i] : v->now) - s->pause_from[i], len, sizeof len);
        printf("%s %s .. %s (%s)\n", i ? "         " : "pauses   ", from, to, len);
    }
    print_steps(v);
    print_gate(v);
    print_rollback(v);
    print_trail(v);
}

static void json_time(const char *key, int64_t t)
{
    char buf[32];
    printf(", \"%s\": ", key);
    if (!t || t == INT64_MAX) {
        printf("null");
        return;
    }
    fmt_time(t, buf, sizeof buf);
    printf("\"%s\"", buf);
}

static void json_str(const char *key, const char *v)
{
    printf(", \"%s\": ", key);
    if (v)
        cli_json_str(stdout, v, strlen(v));
    else
        printf("null");
}

static void print_json(const view *v)
{
    const rollout_plan *p = v->p;
    const rollout_state *s = v->s;
    char buf[512];
    printf("{\"plan\": ");
    cli_json_str(stdout, rollout_plan_id(p), strlen(rollout_plan_id(p)));
    json_time("at", v->now);
    printf(", \"attempt\": %d, \"revision\": %llu", s->attempt, (unsigned long long)s->revision);
    json_str("status", rollout_status_name(s->status));
    json_time("since", s->status_since[s->status]);
    printf(", \"weights\": {");
    for (int c = 0; c < v->info.n_cohorts; c++) {
        const char *id = rollout_plan_cohort_name(p, c);
        printf("%s", c ? ", " : "");
        cli_json_str(stdout, id, strlen(id));
        printf(": %u", v->info.cohorts[c].weight);
    }
    putchar('}');
    next_text(v, buf, sizeof buf);
    json_str("next", buf);
    json_time("next_at", stopped(s->status) ? 0 : v->info.next_at);
    printf(", \"slip\": %lld", stopped(s->status) ? 0LL : (long long)v->info.slip);
    printf(", \"pauses\": [");
    for (int i = 0; i < s->n_pauses; i++) {
        printf("%s{\"from\": ", i ? ", " : "");
        fmt_time(s->pause_from[i], buf, 32);
        printf("\"%s\"", buf);
        json_time("to", s->pause_to[i]);
        putchar('}');
    }
    printf("], \"steps\": [");
    bool first = true;
    for (size_t i = 0; i < v->n_cal; i++) {
        const rollout_calendar_event *e = &v->cal[i];
        if (e->kind != ROLLOUT_CAL_STEP)
            continue;
        int g = p->phases[e->phase].first_step + e->step;
        printf("%s{\"phase\": ", first ? "" : ", ");
        first = false;
        cli_json_str(stdout, p->phases[e->phase].id, strlen(p->phases[e->phase].id));
        printf(", \"step\": %d", e->step + 1);
        json_time("at", e->at);
        printf(", \"weight\": %u, \"unit\": \"%s\", \"projected\": %s, \"current\": %s}",
               e->weight, unit_names[p->steps[g].unit], e->projected ? "true" : "false",
               g == v->cur ? "true" : "false");
    }
    printf("], \"gate\": ");
    if (v->gate >= 0) {
        const rp_gate *gt = &p->gates[v->gate];
        printf("{\"id\": ");
        cli_json_str(stdout, gt->id, strlen(gt->id));
        json_time("due", v->info.gate == v->gate ? v->info.gate_due : 0);
        printf(", \"approvers\": {");
        first = true;
        for (int r = 0; r < p->n_roles; r++)
            if (gt->approvers & (1u << r)) {
                printf("%s", first ? "" : ", ");
                first = false;
                cli_json_str(stdout, p->roles[r].id, strlen(p->roles[r].id));
                printf(": %s", s->gate_approvals[v->gate] & (1u << r) ? "true" : "false");
            }
        printf("}}");
    } else {
        printf("null");
    }
    json_str("last_verdict", s->last_verdict >= 0 ? rollout_verdict_name(s->last_verdict) : NULL);
    printf(", \"rollback\": ");
    if (stopped(s->status)) {
        printf("{\"reason\": \"%s\"", rollout_rollback_reason_name(s->rollback_reason));
        json_time("started_at", s->rollback_started_at);
        json_time("deadline", p->rollback.deadline
                                  ? s->rollback_started_at + p->rollback.deadline
                                  : 0);
        int wait = rollback_waiting(p, s);
        json_str("waiting_for", wait < (int)p->rollback.n_steps
                                    ? confirmation_of(p->rollback.steps[wait].action)
                                    : NULL);
        json_str("waiting_step", wait < (int)p->rollback.n_steps ? p->rollback.steps[wait].id
                                                                  : NULL);
        putchar('}');
    } else {
        printf("null");
    }
    printf(", \"trail\": ");
    cli_trail_json(p, s);
    printf("}\n");
}

/* ---- the command ---------------------------------------------------------------------- */

int cmd_status(int argc, char **argv)
{
    const char *path = NULL, *state_file = NULL, *store = NULL, *key_file = NULL, *at_s = NULL,
               *v;
    bool json = false, watch = false, bad_clock = false;
    cli_clock clock = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            status_help();
            return CLI_OK;
        } else if (cli_clock_option(&clock, argc, argv, &i, &bad_clock)) {
            if (bad_clock)
                return CLI_USAGE;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            state_file = v;
        } else if (cli_opt(argc, argv, &i, "--store", &v)) {
            store = v;
        } else if (cli_opt(argc, argv, &i, "--key-file", &v)) {
            key_file = v;
        } else if (cli_opt(argc, argv, &i, "--at", &v)) {
            at_s = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--watch")) {
            watch = true;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "rollout status: unexpected \"%s\"\n%s", cli_text(argv[i]),
                    status_usage);
            return CLI_USAGE;
        }
    }
    if (!state_file == !store) {
        fprintf(stderr, "rollout status: one of --state FILE or --store URL is required\n%s",
                status_usage);
        return CLI_USAGE;
    }
    if (key_file && !store) {
        fprintf(stderr, "rollout status: --key-file goes with --store\n");
        return CLI_USAGE;
    }
    int64_t at = 0;
    if (at_s && !cli_parse_time(at_s, &at))
        return CLI_USAGE;
    if (!cli_clock_check(&clock, "status"))
        return CLI_USAGE;
    if (at_s && clock.scale > 0) {
        fprintf(stderr, "rollout status: --at or --time-scale, not both\n");
        return CLI_USAGE;
    }
    rollout_plan *plan;
    int rc = cli_load_plan(path, &plan);
    if (rc)
        return rc;
    view *vw = malloc(sizeof *vw);
    if (!vw) {
        rollout_plan_unref(plan);
        return CLI_USAGE;
    }
    char *last = NULL;
    for (;;) {
        rollout_state s;
        int64_t now = at_s ? at : cli_clock_now(&clock);
        if ((rc = cli_read_state(plan, state_file, store, key_file, &s)) ||
            (rc = build(vw, plan, &s, now))) {
            if (!watch)
                break;
            /* a store that is down for a moment, a file being replaced: the
             * error is on stderr; the view stays and is drawn again when the
             * state reads again */
            free(last);
            last = NULL;
            struct timespec nap = {1, 0};
            nanosleep(&nap, NULL);
            continue;
        }
        if (!watch) {
            if (json)
                print_json(vw);
            else
                print_text(vw);
            break;
        }
        /* redraw on a new state, and once a minute for the times */
        char key[ROLLOUT_STATE_TEXT_MAX + 32];
        size_t n = rollout_state_encode(&s, key, sizeof key - 32);
        snprintf(key + n, 32, "@%lld", (long long)(now / 60));
        if (!last || strcmp(last, key) != 0) {
            fputs("\033[H\033[2J", stdout);
            if (json)
                print_json(vw);
            else
                print_text(vw);
            fflush(stdout);
            free(last);
            last = malloc(strlen(key) + 1);
            if (last)
                strcpy(last, key);
        }
        /* a scaled clock moves the times faster: look four times a second */
        struct timespec nap = {clock.scale > 0 ? 0 : 1, clock.scale > 0 ? 250000000L : 0};
        nanosleep(&nap, NULL);
    }
    free(last);
    free(vw);
    rollout_plan_unref(plan);
    return rc;
}
