/*
 * cmd_simulate.c — `rollout simulate`: the whole rollout walked through the
 * library, the way a person would want to watch it. Every line comes from
 * the same calls a gateway or ops script makes (rollout_apply, rollout_schedule,
 * rollout_decide); nothing here decides anything on its own.
 */
#include "cli.h"
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SAMPLE 2000

typedef struct sim {
    const rollout_plan *plan;
    rollout_state state;
    int64_t start;
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
} sim;

static void offset_str(int64_t start, int64_t t, char *buf, size_t cap)
{
    char d[32];
    rp_format_duration(t - start, d, sizeof d);
    snprintf(buf, cap, "T+%s", t == start ? "0" : d);
}

static void print_action(const sim *s, const rollout_action *a)
{
    const rollout_plan *p = s->plan;
    char w[16];
    switch (a->type) {
    case ROLLOUT_ACTION_SET_WEIGHT:
        rp_format_weight(a->weight, w, sizeof w);
        printf("      set weight: cohort %-10s -> %s of its %ss on %s\n", cli_text(a->id), w,
               a->unit == ROLLOUT_UNIT_ORG       ? "org"
               : a->unit == ROLLOUT_UNIT_USER    ? "user"
               : a->unit == ROLLOUT_UNIT_SESSION ? "session"
                                                 : "request",
               cli_text(rollout_plan_version_label(p, 1)));
        break;
    case ROLLOUT_ACTION_NOTIFY:
        printf("      notify:     [%s] %s -> %s\n", cli_text(a->channel), cli_text(a->text),
               cli_text(a->audience));
        break;
    case ROLLOUT_ACTION_GATE_DUE:
        printf("      gate due:   %s (go/no-go)\n", cli_text(a->id));
        break;
    case ROLLOUT_ACTION_RESTORE_PREVIOUS:
    case ROLLOUT_ACTION_RUN_SMOKE_TESTS:
        printf("      %-11s %s (%s)\n", rollout_action_name(a->type),
               a->text ? cli_text(a->text) : "", cli_text(a->label));
        break;
    case ROLLOUT_ACTION_SCHEDULE_POSTMORTEM: {
        char due[32];
        rp_format_time(a->due, due, sizeof due);
        printf("      %-11s %s (due %s)\n", "postmortem", a->text ? cli_text(a->text) : "", due);
        break;
    }
    default:
        printf("      %-11s %s\n", rollout_action_name(a->type), a->text ? cli_text(a->text) : "");
    }
}

static int apply(sim *s, rollout_event ev, int64_t t, bool quiet)
{
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(s->plan, &s->state, &ev, t, &s->state, s->actions, &n, &err);
    if (rc) {
        fprintf(stderr, "rollout simulate: %s\n", cli_text(err.message));
        return rc;
    }
    if (!quiet)
        for (size_t i = 0; i < n; i++)
            print_action(s, &s->actions[i]);
    return ROLLOUT_OK;
}

/* Share of sample units each cohort sends to the new version at t. */
static void sample_decisions(const sim *s, int64_t t)
{
    const rollout_plan *p = s->plan;
    static const char *const who[] = {"staff session", "pilot-org user", "other org"};
    int on_new[3] = {0, 0, 0};
    char id[48], email[64];
    for (int i = 0; i < SAMPLE; i++) {
        rollout_attr attr = {"email", 5, email, 0};
        rollout_context ctx[3];
        memset(ctx, 0, sizeof ctx);
        snprintf(email, sizeof email, "staff%d@example.com", i % 20);
        attr.value_len = strlen(email);
        snprintf(id, sizeof id, "s-%d", i);
        ctx[0].session = id;
        ctx[0].session_len = strlen(id);
        ctx[0].attrs = &attr;
        ctx[0].n_attrs = 1;
        char user[32], org[32];
        snprintf(user, sizeof user, "user-%d", i);
        ctx[1].org = i % 2 ? "acme-corp" : "globex";
        ctx[1].org_len = strlen(ctx[1].org);
        ctx[1].user = user;
        ctx[1].user_len = strlen(user);
        snprintf(org, sizeof org, "org-%05d", i);
        ctx[2].org = org;
        ctx[2].org_len = strlen(org);
        ctx[2].user = user;
        ctx[2].user_len = strlen(user);
        for (int k = 0; k < 3; k++) {
            rollout_decision d;
            if (rollout_decide(p, &s->state, t, &ctx[k], &d) == ROLLOUT_OK &&
                d.variant == ROLLOUT_NEW)
                on_new[k]++;
        }
    }
    printf("      decisions:  ");
    for (int k = 0; k < 3; k++)
        printf("%s%s %.1f%%", k ? ", " : "", who[k], 100.0 * on_new[k] / SAMPLE);
    printf("  (of %d each)\n", SAMPLE);
}

static bool write_file(const char *dir, const char *name, const char *data, size_t len,
                       char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static void write_calendar(const sim *s, const rollout_state *st, const char *dir)
{
    static const struct { int format; const char *name; } outputs[] = {
        {ROLLOUT_CALENDAR_ICS, "calendar.ics"},
        {ROLLOUT_CALENDAR_SVG, "weights.svg"},
        {ROLLOUT_CALENDAR_JSON, "calendar.json"},
    };
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "rollout simulate: cannot create %s: %s\n", cli_text(dir), strerror(errno));
        return;
    }
    printf("\nFiles:\n");
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        size_t needed = 0;
        if (rollout_calendar_render(s->plan, st, outputs[i].format, NULL, 0, &needed) !=
            ROLLOUT_ERR_BUFFER)
            continue;
        char *buf = malloc(needed + 1);
        char path[512];
        if (buf && rollout_calendar_render(s->plan, st, outputs[i].format, buf, needed + 1,
                                           NULL) == ROLLOUT_OK &&
            write_file(dir, outputs[i].name, buf, needed, path, sizeof path))
            printf("  %s\n", cli_text(path));
        free(buf);
    }
}

static int walk(sim *s)
{
    const rollout_plan *p = s->plan;
    char when[48], at[32];
    rollout_event ev = {.type = ROLLOUT_EVENT_START, .gate = -1};
    printf("\n%s  %s  start\n", (rp_format_time(s->start, at, sizeof at), at), "T+0");
    if (apply(s, ev, s->start, false))
        return CLI_INVALID;
    sample_decisions(s, s->start);
    int64_t t = s->start;
    for (int guard = 0; guard < 4 * (ROLLOUT_MAX_STEPS + ROLLOUT_MAX_GATES); guard++) {
        rollout_schedule_info info;
        rollout_schedule(p, &s->state, t, &info);
        if (info.gate_pending) {
            int g = info.gate;
            const char *gid = rollout_plan_gate_name(p, g);
            rp_format_time(t, at, sizeof at);
            offset_str(s->start, t, when, sizeof when);
            printf("\n%s  %s  gate %s: approvals, criteria PASS, GO\n", at, when, cli_text(gid));
            for (int r = 0; r < p->n_roles; r++) {
                if (!(p->gates[g].approvers & (1u << r)))
                    continue;
                rollout_event ap = {.type = ROLLOUT_EVENT_APPROVE, .gate = g, .role = r};
                if (apply(s, ap, t, true))
                    return CLI_INVALID;
                printf("      approved by %s\n", cli_text(p->roles[r].name));
            }
            rollout_event v = {.type = ROLLOUT_EVENT_VERDICT, .verdict = ROLLOUT_VERDICT_PASS};
            rollout_event go = {.type = ROLLOUT_EVENT_GO, .gate = g};
            if (apply(s, v, t, true) || apply(s, go, t, false))
                return CLI_INVALID;
            continue;
        }
        if (info.next_change == ROLLOUT_CHANGE_NONE || info.next_at == INT64_MAX)
            break;
        t = info.next_at;
        rp_format_time(t, at, sizeof at);
        offset_str(s->start, t, when, sizeof when);
        const char *what = info.next_change == ROLLOUT_CHANGE_STEP       ? "step"
                           : info.next_change == ROLLOUT_CHANGE_GATE     ? "gate falls due"
                           : info.next_change == ROLLOUT_CHANGE_COMPLETE ? "bake ends"
                                                                         : "wait";
        if (info.next_change == ROLLOUT_CHANGE_STEP)
            printf("\n%s  %s  %s %d of phase %s\n", at, when, what, info.next_step + 1,
                   cli_text(rollout_plan_phase_name(p, info.next_phase)));
        else
            printf("\n%s  %s  %s\n", at, when, what);
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
        if (apply(s, tick, t, false))
            return CLI_INVALID;
        if (info.next_change == ROLLOUT_CHANGE_STEP)
            sample_decisions(s, t);
    }
    printf("\nstatus: %s\n", rollout_status_name(s->state.status));
    return CLI_OK;
}

/* A rollback in the middle of the pilot: the procedure step by step. */
static int rollback_scenario(sim *s)
{
    const rollout_plan *p = s->plan;
    sim r = *s;
    rollout_state_init(p, &r.state);
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    if (apply(&r, start, r.start, true))
        return CLI_INVALID;
    /* get past the first gate, then roll back 90 minutes into the ramp after it */
    int64_t t = r.start;
    rollout_schedule_info info;
    rollout_schedule(p, &r.state, t, &info);
    if (info.gate >= 0) {
        t = info.gate_due;
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
        apply(&r, tick, t, true);
        rollout_event go = {.type = ROLLOUT_EVENT_GO, .gate = info.gate, .override = 1, .role = 0};
        if (apply(&r, go, t, true))
            return CLI_INVALID;
    }
    rollout_schedule(p, &r.state, t, &info);
    if (info.next_at != INT64_MAX)
        t = info.next_at + 90 * 60;
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
    apply(&r, tick, t, true);
    char at[32], when[48];
    rp_format_time(t, at, sizeof at);
    offset_str(r.start, t, when, sizeof when);
    printf("\n--- Rollback scenario: a critical bug at %s (%s), phase %s ---\n", at, when,
           r.state.phase >= 0 ? cli_text(rollout_plan_phase_name(p, r.state.phase)) : "-");
    sample_decisions(&r, t);
    rollout_event rb = {.type = ROLLOUT_EVENT_ROLLBACK, .reason = ROLLOUT_ROLLBACK_CRITICAL_BUG};
    printf("\n%s  rollback (critical bug)\n", when);
    if (apply(&r, rb, t, false))
        return CLI_INVALID;
    static const int confirmations[] = {
        ROLLOUT_CONFIRM_TRAFFIC_HALTED, ROLLOUT_CONFIRM_PREVIOUS_RESTORED,
        ROLLOUT_CONFIRM_SMOKE_PASSED, ROLLOUT_CONFIRM_SERVICE_RESUMED,
        ROLLOUT_CONFIRM_INCIDENT_OPENED};
    for (size_t i = 0; i < sizeof confirmations / sizeof confirmations[0]; i++) {
        if (r.state.status != ROLLOUT_STATUS_ROLLING_BACK)
            break;
        t += 4 * 60;
        offset_str(r.start, t, when, sizeof when);
        printf("%s  confirmed: %s\n", when, rollout_confirmation_name(confirmations[i]));
        rollout_event c = {.type = ROLLOUT_EVENT_CONFIRM, .confirmation = confirmations[i]};
        if (apply(&r, c, t, false))
            return CLI_INVALID;
    }
    printf("status: %s; every context now decides STABLE:\n", rollout_status_name(r.state.status));
    sample_decisions(&r, t);
    return CLI_OK;
}

int cmd_simulate(int argc, char **argv)
{
    const char *path = NULL, *out_dir = "rollout-out", *v;
    int64_t start = 0;
    bool have_start = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: rollout simulate [PLAN] [--start TIME] [--out DIR]\n\n"
                   "Walks the whole rollout through the library: every step and gate\n"
                   "(each gate approved with a PASS verdict), the actions the state\n"
                   "machine returns, the share of sample units each cohort sends to\n"
                   "the new version, then a rollback in the middle of the rollout.\n"
                   "Writes calendar.ics, weights.svg and calendar.json to DIR\n"
                   "(default rollout-out).\n");
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--start", &v)) {
            if (!cli_parse_time(v, &start))
                return CLI_USAGE;
            have_start = true;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out_dir = v;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: rollout simulate [PLAN] [--start TIME] [--out DIR]\n");
            return CLI_USAGE;
        }
    }
    rollout_plan *plan;
    int load_rc = cli_load_plan(path, &plan);
    if (load_rc)
        return load_rc;
    sim *s = calloc(1, sizeof *s);
    if (!s) {
        rollout_plan_unref(plan);
        return CLI_USAGE;
    }
    s->plan = plan;
    s->start = have_start ? start : rollout_plan_start(plan);
    rollout_state_init(plan, &s->state);
    printf("Plan %s: %s\n", cli_text(rollout_plan_id(plan)),
           plan->description ? cli_text(plan->description) : "");
    printf("versions: %s -> %s; %d phases, %d gates, %d cohorts\n",
           cli_text(rollout_plan_version_label(plan, 0)),
           cli_text(rollout_plan_version_label(plan, 1)),
           rollout_plan_phase_count(plan), rollout_plan_gate_count(plan),
           rollout_plan_cohort_count(plan));
    int rc = walk(s);
    rollout_state calendar_state;
    rollout_state_init(plan, &calendar_state);
    calendar_state.status = ROLLOUT_STATUS_RUNNING;
    calendar_state.started_at = s->start;
    if (!rc)
        rc = rollback_scenario(s);
    if (!rc)
        write_calendar(s, &calendar_state, out_dir);
    free(s);
    rollout_plan_unref(plan);
    return rc;
}
