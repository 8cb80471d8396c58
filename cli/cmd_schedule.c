/* SPDX-License-Identifier: MIT */
/* cmd_schedule.c — `rollout calendar` and `rollout schedule`. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* ---- rollout calendar ------------------------------------------------------ */

static const char calendar_usage[] =
    "usage: rollout calendar [PLAN] [--start TIME | --state FILE | --store URL]\n"
    "                        [--format table|json|ics|svg] [--output FILE]\n";

static void calendar_help(void)
{
    printf("%s\n"
           "Lists every scheduled traffic step, go/no-go decision and communication\n"
           "message of PLAN (default: the built-in seed plan) with absolute times.\n"
           "Steps after a gate that has no GO yet are projected as if the GO came on\n"
           "time (marked * in the table, TENTATIVE in iCalendar).\n\n"
           "  --start TIME    the rollout started at TIME (2026-02-28T09:00:00Z or epoch\n"
           "                  seconds) instead of the plan's start\n"
           "  --state FILE    the real calendar of the rollout whose state FILE holds\n"
           "                  (`rollout state`): slipped by late GOs, pauses, a retry\n"
           "  --store URL     the same from a shared store (--key-file PATH to check\n"
           "                  signatures; docs/fleet.md)\n"
           "  --format F      table (default), json (an array of events), ics (RFC 5545,\n"
           "                  for calendar apps; stable UIDs, and a SEQUENCE that rises\n"
           "                  when the state moved the event), svg (a chart of traffic per\n"
           "                  cohort over time, gates marked)\n"
           "  --output FILE   write to FILE instead of standard output\n",
           calendar_usage);
}

static int parse_format(const char *s)
{
    static const char *const names[] = {"table", "json", "ics", "svg"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i]))
            return i; /* the order of rollout_calendar_format */
    return -1;
}

static int write_out(const char *path, const char *data, size_t len)
{
    FILE *f = path ? fopen(path, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "rollout: cannot write %s: %s\n", cli_text(path), strerror(errno));
        return CLI_USAGE;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    if (path)
        ok = fclose(f) == 0 && ok;
    else
        ok = fflush(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "rollout: writing %s failed: %s\n",
                path ? cli_text(path) : "standard output",
                strerror(errno));
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* --state FILE, --store URL, --key-file PATH: where a command reads a state. */
typedef struct state_src {
    const char *file, *store, *key_file;
} state_src;

static bool state_opt(int argc, char **argv, int *i, state_src *src)
{
    return cli_opt(argc, argv, i, "--state", &src->file) ||
           cli_opt(argc, argv, i, "--store", &src->store) ||
           cli_opt(argc, argv, i, "--key-file", &src->key_file);
}

static int state_src_check(const char *cmd, const state_src *src, const char *start_s)
{
    if (src->file && src->store) {
        fprintf(stderr, "rollout %s: --state and --store: give one\n", cmd);
        return CLI_USAGE;
    }
    if ((src->file || src->store) && start_s) {
        fprintf(stderr, "rollout %s: --start goes without a state (the state records the "
                        "start)\n", cmd);
        return CLI_USAGE;
    }
    if (src->key_file && !src->store) {
        fprintf(stderr, "rollout %s: --key-file goes with --store\n", cmd);
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cmd_calendar(int argc, char **argv)
{
    const char *path = NULL, *start_s = NULL, *format_s = "table", *output = NULL, *v;
    state_src src = {0};
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            calendar_help();
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--start", &v)) {
            start_s = v;
        } else if (cli_opt(argc, argv, &i, "--format", &v)) {
            format_s = v;
        } else if (cli_opt(argc, argv, &i, "--output", &v)) {
            output = v;
        } else if (state_opt(argc, argv, &i, &src)) {
            continue;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "rollout calendar: unexpected \"%s\"\n%s", cli_text(argv[i]),
                    calendar_usage);
            return CLI_USAGE;
        }
    }
    int format = parse_format(format_s);
    if (format < 0) {
        fprintf(stderr, "rollout calendar: unknown format \"%s\" (write table, json, ics or svg)\n",
                cli_text(format_s));
        return CLI_USAGE;
    }
    int64_t start = 0;
    if (state_src_check("calendar", &src, start_s))
        return CLI_USAGE;
    if (start_s && !cli_parse_time(start_s, &start))
        return CLI_USAGE;
    rollout_plan *plan;
    int load_rc = cli_load_plan(path, &plan);
    if (load_rc)
        return load_rc;
    rollout_state state;
    if (start_s)
        cli_started_state(plan, start, &state);
    bool has_state = start_s || src.file || src.store;
    if ((src.file || src.store) &&
        (load_rc = cli_read_state(plan, src.file, src.store, src.key_file, &state))) {
        rollout_plan_unref(plan);
        return load_rc;
    }

    size_t needed = 0;
    const rollout_state *s = has_state ? &state : NULL;
    int rc = rollout_calendar_render(plan, s, format, NULL, 0, &needed);
    char *buf = rc == ROLLOUT_ERR_BUFFER ? malloc(needed + 1) : NULL;
    if (buf)
        rc = rollout_calendar_render(plan, s, format, buf, needed + 1, NULL);
    rollout_plan_unref(plan);
    if (!buf || rc) {
        fprintf(stderr, "rollout calendar: %s\n", rollout_code_name(buf ? rc : ROLLOUT_ERR_NOMEM));
        free(buf);
        return CLI_USAGE;
    }
    int out = write_out(output, buf, needed);
    free(buf);
    return out;
}

/* ---- rollout schedule ------------------------------------------------------ */

static const char schedule_usage[] =
    "usage: rollout schedule [PLAN] --at TIME [--start TIME | --state FILE | --store URL]\n"
    "                        [--projected] [--json]\n";

static void schedule_help(void)
{
    printf("%s\n"
           "Where the rollout of PLAN (default: the built-in seed plan) stands at TIME:\n"
           "its status, the latest step, every cohort's weight, the gate that is due\n"
           "or pending, and the next change. The rollout started at the plan's start\n"
           "and no gate has a GO, so by default the schedule stops at the first gate.\n\n"
           "  --at TIME       the instant to ask about (2026-02-28T15:00:00Z or epoch\n"
           "                  seconds)\n"
           "  --start TIME    the rollout started at TIME instead of the plan's start\n"
           "  --state FILE    where the real rollout, whose state FILE holds, stands:\n"
           "                  its GOs, pauses, rollback and retry (`rollout state`)\n"
           "  --store URL     the same from a shared store (--key-file PATH)\n"
           "  --projected     every gate due by TIME got its GO the moment it fell due,\n"
           "                  as `rollout calendar` projects the rollout (--assume-go is\n"
           "                  the same)\n"
           "  --json          print the answer as one JSON object\n",
           schedule_usage);
}

static const char *const change_names[] = {"none", "step", "gate", "complete", "wait"};
static const char *const unit_names[] = {"org", "user", "session", "request"};

static const char *change_name(int c)
{
    return c >= 0 && c < 5 ? change_names[c] : "?";
}

static const char *unit_name(int u)
{
    return u >= 0 && u < 4 ? unit_names[u] : "-";
}

static void weight_text(uint32_t w, char *buf, size_t cap)
{
    if (w % 1000 == 0)
        snprintf(buf, cap, "%u%%", w / 1000);
    else
        snprintf(buf, cap, "%u.%03u%%", w / 1000, w % 1000);
}

/* cli_format_offset's notation; "never" for INT64_MAX. */
static void offset_text(int64_t t, int64_t start, char *buf, size_t cap)
{
    if (t == INT64_MAX)
        snprintf(buf, cap, "never");
    else
        cli_format_offset(t, start, buf, cap);
}

static void json_time(FILE *f, int64_t t)
{
    if (t == INT64_MAX) {
        fputs("null", f);
        return;
    }
    char buf[32];
    cli_format_time(t, buf, sizeof buf);
    fprintf(f, "\"%s\"", buf);
}

static void json_name(FILE *f, const char *s)
{
    if (s)
        cli_json_str(f, s, strlen(s));
    else
        fputs("null", f);
}

static void print_json(const rollout_plan *plan, const rollout_schedule_info *in, int64_t at,
                       int64_t start)
{
    printf("{\"at\": ");
    json_time(stdout, at);
    printf(", \"start\": ");
    json_time(stdout, start);
    printf(", \"plan\": ");
    json_name(stdout, rollout_plan_id(plan));
    printf(", \"status\": \"%s\", \"phase\": ", rollout_status_name(in->status));
    json_name(stdout, rollout_plan_phase_name(plan, in->phase));
    printf(", \"step\": %d,\n \"cohorts\": [", in->step);
    for (int c = 0; c < in->n_cohorts; c++) {
        const rollout_cohort_weight *w = &in->cohorts[c];
        printf("%s{\"cohort\": ", c ? ",\n   " : "\n   ");
        json_name(stdout, rollout_plan_cohort_name(plan, c));
        printf(", \"weight_units\": %u, \"percent\": %s, \"unit\": ", w->weight,
               cli_percent(w->weight));
        if (w->unit >= 0)
            printf("\"%s\"", unit_name(w->unit));
        else
            fputs("null", stdout);
        printf(", \"phase\": ");
        json_name(stdout, rollout_plan_phase_name(plan, w->phase));
        printf(", \"step\": %d}", w->step);
    }
    printf("],\n \"gate\": ");
    json_name(stdout, rollout_plan_gate_name(plan, in->gate));
    printf(", \"gate_pending\": %s, \"gate_due\": ", in->gate_pending ? "true" : "false");
    json_time(stdout, in->gate_due);
    printf(",\n \"next\": {\"change\": \"%s\", \"at\": ", change_name(in->next_change));
    json_time(stdout, in->next_at);
    printf(", \"phase\": ");
    json_name(stdout, rollout_plan_phase_name(plan, in->next_phase));
    printf(", \"step\": %d, \"weight_units\": %u, \"percent\": %s},\n", in->next_step,
           in->next_weight, cli_percent(in->next_weight));
    printf(" \"slip\": %lld, \"bake_start\": ", (long long)in->slip);
    json_time(stdout, in->bake_start);
    printf(", \"complete_at\": ");
    json_time(stdout, in->complete_at);
    printf("}\n");
}

static void print_text(const rollout_plan *plan, const rollout_schedule_info *in, int64_t at,
                       int64_t start)
{
    char t1[32], t2[32], w[16];
    cli_format_time(at, t1, sizeof t1);
    offset_text(at, start, t2, sizeof t2);
    printf("plan     %s\nat       %s (%s)\n", cli_text(rollout_plan_id(plan)), t1, t2);
    cli_format_time(start, t1, sizeof t1);
    printf("start    %s\nstatus   %s\n", t1, rollout_status_name(in->status));
    if (in->phase >= 0)
        printf("step     %s, step %d\n", cli_text(rollout_plan_phase_name(plan, in->phase)),
               in->step + 1);
    else
        printf("step     none yet\n");
    printf("cohorts\n");
    int width = 0;
    for (int c = 0; c < in->n_cohorts; c++) {
        int l = (int)strlen(rollout_plan_cohort_name(plan, c));
        if (l > width)
            width = l;
    }
    for (int c = 0; c < in->n_cohorts; c++) {
        const rollout_cohort_weight *cw = &in->cohorts[c];
        weight_text(cw->weight, w, sizeof w);
        printf("  %-*s  %7s", width, cli_text(rollout_plan_cohort_name(plan, c)), w);
        if (cw->phase >= 0)
            printf("  by %-7s  (%s step %d)\n", unit_name(cw->unit),
                   cli_text(rollout_plan_phase_name(plan, cw->phase)), cw->step + 1);
        else
            printf("  (its phase has not begun)\n");
    }
    if (in->gate >= 0) {
        cli_format_time(in->gate_due, t1, sizeof t1);
        offset_text(in->gate_due, start, t2, sizeof t2);
        if (in->gate_due == INT64_MAX)
            printf("gate     %s, due when the pause ends\n",
                   cli_text(rollout_plan_gate_name(plan, in->gate)));
        else
            printf("gate     %s, %s %s (%s)\n", cli_text(rollout_plan_gate_name(plan, in->gate)),
                   in->gate_pending ? "pending since" : "due", t1, t2);
    }
    switch (in->next_change) {
    case ROLLOUT_CHANGE_STEP:
        cli_format_time(in->next_at, t1, sizeof t1);
        offset_text(in->next_at, start, t2, sizeof t2);
        weight_text(in->next_weight, w, sizeof w);
        printf("next     %s step %d to %s at %s (%s)\n",
               cli_text(rollout_plan_phase_name(plan, in->next_phase)), in->next_step + 1, w, t1,
               t2);
        break;
    case ROLLOUT_CHANGE_GATE:
        cli_format_time(in->next_at, t1, sizeof t1);
        offset_text(in->next_at, start, t2, sizeof t2);
        printf("next     go/no-go %s at %s (%s)\n",
               cli_text(rollout_plan_gate_name(plan, in->gate)), t1, t2);
        break;
    case ROLLOUT_CHANGE_COMPLETE:
        cli_format_time(in->next_at, t1, sizeof t1);
        offset_text(in->next_at, start, t2, sizeof t2);
        printf("next     complete at %s (%s)\n", t1, t2);
        break;
    case ROLLOUT_CHANGE_WAIT:
        printf("next     waits for %s\n",
               in->gate_pending         ? "the gate's GO"
               : in->status == ROLLOUT_STATUS_PAUSED ? "a resume"
                                                     : "an event");
        break;
    default:
        printf("next     nothing: %s\n", in->status == ROLLOUT_STATUS_COMPLETED
                                             ? "the rollout is complete"
                                             : "the rollout has stopped");
        break;
    }
    if (in->slip) {
        offset_text(start + in->slip, start, t2, sizeof t2);
        printf("slip     %s behind the plan's offsets\n", t2 + 2);
    }
    if (in->bake_start != INT64_MAX) {
        cli_format_time(in->bake_start, t1, sizeof t1);
        cli_format_time(in->complete_at, t2, sizeof t2);
        printf("bake     %s until %s\n", t1,
               in->complete_at == INT64_MAX ? "the pause ends, then its remainder" : t2);
    }
}

int cmd_schedule(int argc, char **argv)
{
    const char *path = NULL, *at_s = NULL, *start_s = NULL, *v;
    bool json = false, assume_go = false;
    state_src src = {0};
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            schedule_help();
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--at", &v)) {
            at_s = v;
        } else if (cli_opt(argc, argv, &i, "--start", &v)) {
            start_s = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--projected") || !strcmp(argv[i], "--assume-go")) {
            assume_go = true;
        } else if (state_opt(argc, argv, &i, &src)) {
            continue;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "rollout schedule: unexpected \"%s\"\n%s", cli_text(argv[i]),
                    schedule_usage);
            return CLI_USAGE;
        }
    }
    if (!at_s) {
        fprintf(stderr, "rollout schedule: --at TIME is required\n%s", schedule_usage);
        return CLI_USAGE;
    }
    int64_t at, start = 0;
    if (state_src_check("schedule", &src, start_s))
        return CLI_USAGE;
    if (!cli_parse_time(at_s, &at) || (start_s && !cli_parse_time(start_s, &start)))
        return CLI_USAGE;
    rollout_plan *plan;
    int load_rc = cli_load_plan(path, &plan);
    if (load_rc)
        return load_rc;
    if (!start_s)
        start = rollout_plan_start(plan);
    rollout_state state;
    cli_started_state(plan, start, &state);
    bool real = src.file || src.store;
    if (real && (load_rc = cli_read_state(plan, src.file, src.store, src.key_file, &state))) {
        rollout_plan_unref(plan);
        return load_rc;
    }
    if (real && state.started_at)
        start = state.started_at;
    rollout_schedule_info info;
    int rc = assume_go ? cli_project_gos(plan, &state, at) : ROLLOUT_OK;
    if (!rc)
        rc = rollout_schedule(plan, start_s || assume_go || real ? &state : NULL, at, &info);
    if (rc) {
        fprintf(stderr, "rollout schedule: %s\n", rollout_code_name(rc));
        rollout_plan_unref(plan);
        return CLI_USAGE;
    }
    if (json)
        print_json(plan, &info, at, start);
    else
        print_text(plan, &info, at, start);
    rollout_plan_unref(plan);
    return CLI_OK;
}
