/* SPDX-License-Identifier: MIT */
/* cmd_plan.c — `rollout validate` and `rollout show`. */
#include "cli.h"
#include "plan.h"

#include <stdlib.h>
#include <string.h>

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* What a valid plan may still be missing, on stderr: the plan loads and
 * works, but a newcomer rarely means it. */
static void warn(const rollout_plan *p, const char *name)
{
    name = cli_text(name);
    for (int g = 0; g < p->n_gates; g++)
        if (p->gates[g].criteria < 0)
            fprintf(stderr, "%s: warning: gate %s has no criteria: its GO needs approvals "
                            "only, no metrics are judged\n",
                    name, cli_text(p->gates[g].id));
    if (p->n_comms == 0)
        fprintf(stderr, "%s: warning: no communication plan: no step, gate or rollback "
                        "notifies anyone\n",
                name);
    for (int w = 0; w < p->n_windows; w++)
        if (p->windows[w].utc_offset == 0)
            fprintf(stderr, "%s: warning: change window %d is in UTC (utc_offset +00:00, "
                            "the default when it is omitted)\n",
                    name, w + 1);
}

int cmd_validate(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: rollout validate [PLAN]\n\n"
               "Loads and validates PLAN (default: the built-in seed plan).\n"
               "Exit 0 when valid, 1 when invalid (the error goes to stderr as\n"
               "file:line:column: field: message), 2 on a usage or I/O error.\n"
               "A valid plan may still draw warnings on stderr (exit 0): a gate with\n"
               "no criteria (its GO needs approvals only), no communication plan, a\n"
               "change window in UTC because its utc_offset is +00:00 or omitted.\n"
               "A plan without a rollback procedure is an error, not a warning.\n");
        return CLI_OK;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: rollout validate [PLAN]\n");
        return CLI_USAGE;
    }
    rollout_plan *plan;
    int rc = cli_load_plan(argc == 2 ? argv[1] : NULL, &plan);
    if (rc)
        return rc;
    warn(plan, argc == 2 ? argv[1] : "<seed>");
    int phases = rollout_plan_phase_count(plan), gates = rollout_plan_gate_count(plan),
        cohorts = rollout_plan_cohort_count(plan);
    printf("%s: valid plan \"%s\" (%d phase%s, %d gate%s, %d cohort%s)\n",
           argc == 2 ? cli_text(argv[1]) : "<seed>", cli_text(rollout_plan_id(plan)), phases,
           phases == 1 ? "" : "s", gates, gates == 1 ? "" : "s", cohorts, cohorts == 1 ? "" : "s");
    rollout_plan_unref(plan);
    return CLI_OK;
}

int cmd_show(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: rollout show [PLAN] [--json]\n\n"
                   "Prints the normalized plan: defaults written out, gates on the\n"
                   "steps they follow, times in UTC. The output loads back as the\n"
                   "same plan. --json prints the same content as JSON.\n");
            return CLI_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: rollout show [PLAN] [--json]\n");
            return CLI_USAGE;
        }
    }
    rollout_plan *plan;
    int load_rc = cli_load_plan(path, &plan);
    if (load_rc)
        return load_rc;
    size_t needed = 0;
    int fmt = json ? ROLLOUT_FORMAT_JSON : ROLLOUT_FORMAT_YAML;
    int rc = rollout_plan_dump(plan, fmt, NULL, 0, &needed);
    char *buf = rc == ROLLOUT_ERR_BUFFER ? malloc(needed + 1) : NULL;
    if (buf)
        rc = rollout_plan_dump(plan, fmt, buf, needed + 1, NULL);
    if (!buf || rc) {
        fprintf(stderr, "rollout: %s\n", rollout_code_name(rc));
        free(buf);
        rollout_plan_unref(plan);
        return CLI_USAGE;
    }
    fputs(buf, stdout);
    free(buf);
    rollout_plan_unref(plan);
    return CLI_OK;
}
