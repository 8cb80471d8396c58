/* SPDX-License-Identifier: MIT */
/* cmd_decide.c — `rollout decide`: one request's decision and why. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: rollout decide [PLAN] [--at TIME] [--state TEXT | --state-file FILE]\n"
               "                      [--projected]\n"
               "                      [--org ID] [--user ID] [--session ID] [--request ID]\n"
               "                      [--attr KEY=VALUE]... [--json]\n");
}

static void help(void)
{
    usage(stdout);
    printf("\n"
           "Decides whether a request goes to the new version, as a gateway calling\n"
           "rollout_decide would, and explains the decision.\n\n"
           "  PLAN               the plan file (default: the built-in seed plan)\n"
           "  --at TIME          the moment to decide at: 2026-02-28T15:00:00Z or epoch\n"
           "                     seconds (default: now)\n"
           "  --state TEXT       the rollout state, as `rollout state` encodes it (rs2.…);\n"
           "  --state-file FILE  or read from a file. Without a state the rollout counts\n"
           "                     as started at the plan's start with no gate decided, so\n"
           "                     nothing after the first gate has begun: the explanation\n"
           "                     names the gate the request's phase waits for.\n"
           "  --projected        every gate gets its GO the moment it falls due, as\n"
           "                     `rollout calendar` projects the rollout (with a state:\n"
           "                     each gate still pending in it)\n"
           "  --org, --user, --session, --request ID\n"
           "                     the request's unit ids (absent when not given)\n"
           "  --attr KEY=VALUE   a request attribute (email, country, ...); repeatable\n"
           "  --json             print the decision as a JSON object (its \"step\" is the\n"
           "                     0-based index within the phase; the text counts from 1;\n"
           "                     \"weight\" is in units of 0.001 %%, \"percent\" the same\n"
           "                     in percent; \"cause\" the gate a phase not begun waits\n"
           "                     for, else null)\n\n"
           "Prints the version (NEW or STABLE with its label), the reason and the\n"
           "explanation. Exit 0 whatever the variant; 1 when the plan or state is\n"
           "invalid; 2 on usage or I/O errors.\n");
}

static const char *const unit_names[] = {"org", "user", "session", "request"};

static void print_json(const rollout_plan *plan, const rollout_decision *d, int64_t now,
                       const char *explanation, const char *cause)
{
    char when[32];
    cli_format_time(now, when, sizeof when);
    bool bucketed = d->reason == ROLLOUT_REASON_IN_ROLLOUT ||
                    d->reason == ROLLOUT_REASON_OUT_OF_ROLLOUT;
    const char *label = rollout_plan_version_label(plan, d->variant == ROLLOUT_NEW);
    printf("{\"at\": \"%s\", \"variant\": \"%s\", \"version\": ", when,
           d->variant == ROLLOUT_NEW ? "new" : "stable");
    cli_json_str(stdout, label, strlen(label));
    printf(", \"reason\": \"%s\", \"cohort\": ", rollout_reason_name(d->reason));
    if (d->cohort_name)
        cli_json_str(stdout, d->cohort_name, strlen(d->cohort_name));
    else
        fputs("null", stdout);
    fputs(", \"phase\": ", stdout);
    if (d->phase_name)
        cli_json_str(stdout, d->phase_name, strlen(d->phase_name));
    else
        fputs("null", stdout);
    if (d->step >= 0)
        printf(", \"step\": %d", d->step);
    else
        fputs(", \"step\": null", stdout);
    if (d->unit >= 0 && d->unit < 4)
        printf(", \"unit\": \"%s\"", unit_names[d->unit]);
    else
        fputs(", \"unit\": null", stdout);
    if (bucketed)
        printf(", \"bucket\": %u", (unsigned)d->bucket);
    else
        fputs(", \"bucket\": null", stdout);
    printf(", \"weight\": %u, \"percent\": %s, \"explanation\": ", (unsigned)d->weight,
           cli_percent(d->weight));
    cli_json_str(stdout, explanation, strlen(explanation));
    /* why a phase has not begun: the gate it waits for (rollout_explain
     * sees only the decision, so this is the tool's own addition) */
    fputs(", \"cause\": ", stdout);
    if (*cause)
        cli_json_str(stdout, cause, strlen(cause));
    else
        fputs("null", stdout);
    fputs("}\n", stdout);
}

/* Why the request's phase has not begun: the gate the schedule waits for, and
 * whether its GO is missing or merely not due yet. */
static void waiting_for(const rollout_plan *plan, const rollout_state *sp, int64_t now,
                        char *buf, size_t cap)
{
    rollout_schedule_info info;
    if (rollout_schedule(plan, sp, now, &info) != ROLLOUT_OK || info.gate < 0)
        return;
    const char *gate = cli_text(rollout_plan_gate_name(plan, info.gate));
    char due[32];
    cli_format_time(info.gate_due, due, sizeof due);
    if (info.gate_pending)
        snprintf(buf, cap, "waiting for gate %s: no GO recorded%s", gate,
                 sp ? "" : " (no state given: --projected assumes every GO on time, "
                           "as `rollout calendar` shows)");
    else if (info.gate_due != INT64_MAX)
        snprintf(buf, cap, "it begins after gate %s, due %s", gate, due);
    else
        snprintf(buf, cap, "it begins after gate %s, due when the pause ends", gate);
}

int cmd_decide(int argc, char **argv)
{
    const char *path = NULL, *at = NULL, *state_text = NULL, *state_file = NULL;
    bool json = false, projected = false;
    rollout_context ctx;
    memset(&ctx, 0, sizeof ctx);
    rollout_attr *attrs = calloc((size_t)argc, sizeof *attrs);
    if (!attrs)
        return CLI_USAGE;
    int rc = CLI_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            free(attrs);
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--at", &v)) {
            at = v;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            state_text = v;
        } else if (cli_opt(argc, argv, &i, "--state-file", &v)) {
            state_file = v;
        } else if (cli_opt(argc, argv, &i, "--org", &v)) {
            ctx.org = v;
            ctx.org_len = strlen(v);
        } else if (cli_opt(argc, argv, &i, "--user", &v)) {
            ctx.user = v;
            ctx.user_len = strlen(v);
        } else if (cli_opt(argc, argv, &i, "--session", &v)) {
            ctx.session = v;
            ctx.session_len = strlen(v);
        } else if (cli_opt(argc, argv, &i, "--request", &v)) {
            ctx.request = v;
            ctx.request_len = strlen(v);
        } else if (cli_opt(argc, argv, &i, "--attr", &v)) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                fprintf(stderr, "rollout decide: --attr takes KEY=VALUE, got \"%s\"\n",
                        cli_text(v));
                goto out;
            }
            attrs[ctx.n_attrs++] = (rollout_attr){v, (size_t)(eq - v), eq + 1, strlen(eq + 1)};
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--projected")) {
            projected = true;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "rollout decide: unexpected argument \"%s\"\n", cli_text(argv[i]));
            usage(stderr);
            goto out;
        }
    }
    ctx.attrs = attrs;
    if (state_text && state_file) {
        fprintf(stderr, "rollout decide: give --state or --state-file, not both\n");
        goto out;
    }
    int64_t now;
    if (at) {
        if (!cli_parse_time(at, &now))
            goto out;
    } else {
        now = (int64_t)time(NULL);
    }

    rollout_plan *plan;
    rc = cli_load_plan(path, &plan);
    if (rc)
        goto out;
    rollout_state state, *sp = NULL;
    if (state_text || state_file) {
        size_t len = 0;
        char *text = state_file ? cli_read_state_file("rollout decide", state_file, &len) : NULL;
        if (state_file && !text) {
            rollout_plan_unref(plan);
            rc = CLI_USAGE; /* an I/O error, as --help says */
            goto out;
        }
        rollout_error err;
        int drc = rollout_state_decode(plan, text ? text : state_text,
                                       text ? len : strlen(state_text), &state, &err);
        free(text);
        if (drc) {
            fprintf(stderr, "rollout decide: invalid state: %s\n", cli_text(err.message));
            rollout_plan_unref(plan);
            rc = CLI_INVALID;
            goto out;
        }
        sp = &state;
    }

    if (projected) {
        if (!sp) {
            cli_started_state(plan, rollout_plan_start(plan), &state);
            sp = &state;
        }
        cli_project_gos(plan, sp, now);
    }

    rollout_decision d;
    int drc = rollout_decide(plan, sp, now, &ctx, &d);
    if (drc) {
        fprintf(stderr, "rollout decide: %s\n", rollout_code_name(drc));
        rollout_plan_unref(plan);
        rc = CLI_INVALID;
        goto out;
    }
    char explanation[512], cause[512] = "";
    rollout_explain(plan, &d, &ctx, explanation, sizeof explanation);
    if (d.reason == ROLLOUT_REASON_PHASE_NOT_STARTED)
        waiting_for(plan, sp, now, cause, sizeof cause);
    if (json) {
        print_json(plan, &d, now, explanation, cause);
    } else {
        printf("%s %s (%s)\n%s%s%s\n", d.variant == ROLLOUT_NEW ? "NEW" : "STABLE",
               cli_text(rollout_plan_version_label(plan, d.variant == ROLLOUT_NEW)),
               rollout_reason_name(d.reason), cli_text(explanation), *cause ? "; " : "", cause);
    }
    rollout_plan_unref(plan);
    rc = CLI_OK;
out:
    free(attrs);
    return rc;
}
