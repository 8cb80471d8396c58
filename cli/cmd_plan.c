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

/* A rollout that still moves traffic by buckets: a new bucket function
 * would move units between versions mid-way. */
static bool in_progress(int status)
{
    return status == ROLLOUT_STATUS_RUNNING || status == ROLLOUT_STATUS_AWAITING_GATE ||
           status == ROLLOUT_STATUS_PAUSED || status == ROLLOUT_STATUS_HALTED ||
           status == ROLLOUT_STATUS_BAKING;
}

static void put_bucketing(const rollout_plan *p)
{
    const char *key;
    size_t len;
    int hash = rollout_plan_hash(p, &key, &len);
    /* escaped first, then printed whole: escaping lengthens the text, so
     * the key's byte length would cut it short */
    rp_buf b = {0};
    rp_buf_text(&b, key, len);
    fprintf(stderr, "%s %s \"%s\"", rollout_hash_name(hash),
            hash == ROLLOUT_HASH_XXH3 ? "salt" : "key",
            b.failed ? "(out of memory)" : b.data ? b.data : "");
    rp_buf_free(&b);
}

/* --state FILE [--from OLD]: warns when the plan buckets differently from
 * the plan the state's rollout is running under. */
static int check_state(const rollout_plan *plan, const char *name, const char *state_path,
                       const char *from_path)
{
    size_t len;
    char *text = cli_read_state_file("rollout validate", state_path, &len);
    if (!text)
        return CLI_USAGE;
    rollout_state st;
    int rc = CLI_OK;
    if (rollout_state_decode(plan, text, len, &st, NULL) == ROLLOUT_OK) {
        free(text); /* bound to this very plan: nothing changed */
        return CLI_OK;
    }
    rollout_plan *old = NULL;
    rollout_error err;
    if (!from_path) {
        fprintf(stderr, "%s: warning: the state in %s was written for another plan; give "
                        "--from OLD_PLAN to check that the bucketing did not change\n",
                name, cli_text(state_path));
    } else if ((rc = cli_load_plan(from_path, &old)) == CLI_OK) {
        if (rollout_state_decode(old, text, len, &st, &err)) {
            fprintf(stderr, "rollout validate: %s: %s\n", cli_text(state_path),
                    cli_text(err.message));
            rc = CLI_INVALID;
        } else {
            const char *k1, *k2;
            size_t n1, n2;
            int h1 = rollout_plan_hash(old, &k1, &n1), h2 = rollout_plan_hash(plan, &k2, &n2);
            if (in_progress(st.status) && (h1 != h2 || n1 != n2 || memcmp(k1, k2, n1) != 0)) {
                fprintf(stderr, "%s: warning: the bucketing changes from ", name);
                put_bucketing(old);
                fputs(" to ", stderr);
                put_bucketing(plan);
                fprintf(stderr, " while the rollout is %s (state %s): units would move "
                                "between the versions; finish this rollout under the old "
                                "bucketing and change it for the next one (docs/bucketing.md)\n",
                        rollout_status_name(st.status), cli_text(state_path));
            }
        }
        rollout_plan_unref(old);
    }
    free(text);
    return rc;
}

int cmd_validate(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: rollout validate [PLAN] [--state FILE [--from OLD_PLAN]]\n\n"
               "Loads and validates PLAN (default: the built-in seed plan).\n"
               "Exit 0 when valid, 1 when invalid (the error goes to stderr as\n"
               "file:line:column: field: message), 2 on a usage or I/O error.\n"
               "A valid plan may still draw warnings on stderr (exit 0): a gate with\n"
               "no criteria (its GO needs approvals only), no communication plan, a\n"
               "change window in UTC because its utc_offset is +00:00 or omitted.\n"
               "A plan without a rollback procedure is an error, not a warning.\n\n"
               "  --state FILE     a state of this rollout, written for OLD_PLAN: warns\n"
               "                   when PLAN buckets differently (another hash, salt or\n"
               "                   key) while that rollout is in progress\n"
               "  --from OLD_PLAN  the plan the state was written for\n");
        return CLI_OK;
    }
    const char *path = NULL, *state_path = NULL, *from_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "--state", &v)) {
            state_path = v;
        } else if (cli_opt(argc, argv, &i, "--from", &v)) {
            from_path = v;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            path = NULL, state_path = NULL, from_path = "";
            break;
        }
    }
    if ((from_path && !state_path) || (from_path && !*from_path)) {
        fprintf(stderr, "usage: rollout validate [PLAN] [--state FILE [--from OLD_PLAN]]\n");
        return CLI_USAGE;
    }
    rollout_plan *plan;
    int rc = cli_load_plan(path, &plan);
    if (rc)
        return rc;
    const char *name = path ? path : "<seed>";
    warn(plan, name);
    if (state_path && (rc = check_state(plan, cli_text(name), state_path, from_path))) {
        rollout_plan_unref(plan);
        return rc;
    }
    int phases = rollout_plan_phase_count(plan), gates = rollout_plan_gate_count(plan),
        cohorts = rollout_plan_cohort_count(plan);
    printf("%s: valid plan \"%s\" (%d phase%s, %d gate%s, %d cohort%s)\n", cli_text(name),
           cli_text(rollout_plan_id(plan)), phases, phases == 1 ? "" : "s", gates,
           gates == 1 ? "" : "s", cohorts, cohorts == 1 ? "" : "s");
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
