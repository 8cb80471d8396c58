/* SPDX-License-Identifier: MIT */
/*
 * cmd_migrate.c — `rollout state migrate`: carries a state file over to an
 * edited plan with rollout_state_migrate, under the same lock and atomic
 * write as every other `rollout state` command (cli_state_update).
 */
#include "cli.h"

#include <string.h>

static const char migrate_usage[] =
    "usage: rollout state migrate --from OLD_PLAN --state FILE NEW_PLAN [--json]\n";

static void migrate_help(void)
{
    printf("%s\n"
           "Carries the state in FILE, written for OLD_PLAN, over to NEW_PLAN, an edited\n"
           "plan of the same rollout (docs/state-machine.md, \"Plan edits\"). Positions,\n"
           "approvals and procedure steps are matched by id; the status is kept, so a\n"
           "rollback, halt or pause stays. The new state has the revision + 1 and is\n"
           "bound to NEW_PLAN; it is written atomically under the state file's lock.\n"
           "When the state cannot be carried (the current phase or gate was removed, a\n"
           "role that approved is gone, ...) nothing is written and the reason is\n"
           "printed. A state already bound to NEW_PLAN is left as it is.\n\n"
           "options:\n"
           "  --from OLD_PLAN  the plan the state was written for (required)\n"
           "  --state FILE     the state file (required)\n"
           "  NEW_PLAN         the edited plan (required; or --plan NEW_PLAN)\n"
           "  --json           print {\"status\", \"revision\", \"changed\", \"state\"}\n\n"
           "exit status: 0 migrated (or already bound to NEW_PLAN), 1 refused or the\n"
           "state or a plan is invalid (FILE untouched), 2 usage or I/O error.\n",
           migrate_usage);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "rollout state migrate: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", migrate_usage);
    return CLI_USAGE;
}

typedef struct job {
    const char *path;
    const rollout_plan *from, *to;
    rollout_state before, after;
    bool already;
} job;

static int update(const char *text, size_t len, char *out, size_t cap, size_t *out_len,
                  void *ctx)
{
    job *j = ctx;
    rollout_error err;
    /* a second run after a successful one finds the state bound to the new
     * plan already: nothing to do */
    if (rollout_state_decode(j->to, text, len, &j->before, NULL) == ROLLOUT_OK) {
        j->after = j->before;
        j->already = true;
        *out_len = 0;
        return CLI_OK;
    }
    if (rollout_state_decode(j->from, text, len, &j->before, &err)) {
        fprintf(stderr, "rollout state migrate: %s: %s\n", cli_text(j->path), cli_text(err.message));
        return CLI_INVALID;
    }
    if (rollout_state_migrate(j->from, &j->before, j->to, &j->after, &err)) {
        fprintf(stderr, "rollout state migrate: refused (%s unchanged): %s\n",
                cli_text(j->path), cli_text(err.message));
        return CLI_INVALID;
    }
    *out_len = rollout_state_encode(&j->after, out, cap);
    return *out_len ? CLI_OK : CLI_USAGE;
}

int cmd_state_migrate(int argc, char **argv)
{
    const char *path = NULL, *from_path = NULL, *to_path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            migrate_help();
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            path = v;
        } else if (cli_opt(argc, argv, &i, "--from", &v)) {
            from_path = v;
        } else if (cli_opt(argc, argv, &i, "--plan", &v)) {
            to_path = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error("unknown or incomplete option \"%s\"", argv[i]);
        } else if (!to_path) {
            to_path = argv[i];
        } else {
            return usage_error("too many arguments (\"%s\")", argv[i]);
        }
    }
    if (!path)
        return usage_error("--state FILE is required%s", "");
    if (!from_path)
        return usage_error("--from OLD_PLAN is required%s", "");
    if (!to_path)
        return usage_error("NEW_PLAN is required%s", "");

    rollout_plan *from = NULL, *to = NULL;
    int rc = cli_load_plan(from_path, &from);
    if (!rc)
        rc = cli_load_plan(to_path, &to);
    if (!rc) {
        job j = {.path = path, .from = from, .to = to};
        rc = cli_state_update(path, update, &j);
        if (!rc) {
            char text[ROLLOUT_STATE_TEXT_MAX];
            size_t len = rollout_state_encode(&j.after, text, sizeof text);
            if (json) {
                printf("{\"status\": ");
                cli_json_str(stdout, rollout_status_name(j.after.status),
                             strlen(rollout_status_name(j.after.status)));
                printf(", \"revision\": %llu, \"changed\": %s, \"state\": ",
                       (unsigned long long)j.after.revision, j.already ? "false" : "true");
                cli_json_str(stdout, text, len);
                printf("}\n");
            } else if (j.already) {
                printf("%s: already bound to %s (%s, revision %llu)\n", cli_text(path),
                       cli_text(to_path),
                       rollout_status_name(j.after.status),
                       (unsigned long long)j.after.revision);
            } else {
                printf("%s: %s, revision %llu -> %llu, now bound to %s\n", cli_text(path),
                       rollout_status_name(j.after.status),
                       (unsigned long long)j.before.revision,
                       (unsigned long long)j.after.revision, cli_text(to_path));
            }
        }
    }
    rollout_plan_unref(from);
    rollout_plan_unref(to);
    return rc;
}
