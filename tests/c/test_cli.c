/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c — the rollout tool as a user runs it: `validate` exit codes and
 * messages, `show` output that loads back, `--help` for every subcommand.
 * The binary is ROLLOUT_CLI; tests run from the source tree.
 */
#define _POSIX_C_SOURCE 200809L

#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static rollout_plan *load_text(const char *text, size_t len, const char *name)
{
    rollout_plan *p = NULL;
    rollout_error err;
    int rc = rollout_plan_load_buffer(text, len, name, &p, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s does not load: %s", name, err.message);
    return p;
}

/* ---- validate ------------------------------------------------------------------ */

Test(validate, the_embedded_seed)
{
    run_result r = T_RUN("validate");
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_str_eq(r.out, "<seed>: valid plan \"ledger-v2\" (3 phases, 5 gates, 3 cohorts)\n");
    cr_expect_str_eq(r.err, "");
    t_run_free(&r);
}

Test(validate, example_files)
{
    run_result r = T_RUN("validate", "examples/plans/seed.yaml");
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_str_eq(r.out, "examples/plans/seed.yaml: valid plan \"ledger-v2\" (3 phases, 5 "
                            "gates, 3 cohorts)\n");
    cr_expect_str_eq(r.err, "");
    t_run_free(&r);
    r = T_RUN("validate", "examples/plans/windows.yaml");
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_str_eq(r.out, "examples/plans/windows.yaml: valid plan \"billing-api-v5\" (3 "
                            "phases, 2 gates, 3 cohorts)\n");
    t_run_free(&r);
}

Test(validate, an_invalid_plan_exits_1_with_file_line_col_on_stderr)
{
    static const struct { const char *path, *message; } cases[] = {
        {"tests/plans/invalid/duration-bad-unit.yaml",
         "tests/plans/invalid/duration-bad-unit.yaml:34:13: phases[1].steps[0].at: \"4x\" is "
         "not a duration (write 90m, 4h, 2d)\n"},
        {"tests/plans/invalid/syntax-tab.yaml",
         "tests/plans/invalid/syntax-tab.yaml:7:1: a tab character here; YAML indents with "
         "spaces only\n"},
        {"tests/plans/invalid/ref-role.yaml",
         "tests/plans/invalid/ref-role.yaml:30:24: phases[0].gate.approvers[1]: role \"qa\" is "
         "not defined under roles:\n"},
        {"tests/plans/invalid/encoding-latin1.yaml",
         "tests/plans/invalid/encoding-latin1.yaml:11:20: byte 0xE9 is not valid UTF-8 (plans "
         "are UTF-8 text)\n"},
        {"tests/plans/invalid/syntax-comments-only.yaml",
         "tests/plans/invalid/syntax-comments-only.yaml: the plan is empty (a plan starts with "
         "\"format: 1\")\n"},
        {"tests/plans/invalid/limit-alias-bomb.yaml",
         "tests/plans/invalid/limit-alias-bomb.yaml:11:21: document expands to more than 500000 "
         "nodes (alias bomb?)\n"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        run_result r = T_RUN("validate", cases[i].path);
        cr_expect_eq(r.status, 1, "%s: exit %d", cases[i].path, r.status);
        cr_expect_str_eq(r.err, cases[i].message);
        cr_expect_str_eq(r.out, "", "%s: nothing on stdout", cases[i].path);
        t_run_free(&r);
    }
}

Test(validate, a_missing_file_exits_2)
{
    run_result r = T_RUN("validate", "tests/plans/no-such-plan.yaml");
    cr_expect_eq(r.status, 2);
    cr_expect_str_eq(r.err,
                     "tests/plans/no-such-plan.yaml: cannot open: No such file or directory\n");
    cr_expect_str_eq(r.out, "");
    t_run_free(&r);
    r = T_RUN("validate", "tests/plans");
    cr_expect_eq(r.status, 2, "a directory is an I/O error");
    cr_expect_str_eq(r.err, "tests/plans: cannot read: Is a directory\n");
    t_run_free(&r);
}

Test(validate, usage_errors_exit_2)
{
    run_result r = T_RUN("validate", "a.yaml", "b.yaml");
    cr_expect_eq(r.status, 2);
    cr_expect_str_eq(r.err, "usage: rollout validate [PLAN] [--state FILE [--from OLD_PLAN]]\n");
    t_run_free(&r);
    r = T_RUN("validate", "--strict");
    cr_expect_eq(r.status, 2);
    cr_expect_str_eq(r.err, "usage: rollout validate [PLAN] [--state FILE [--from OLD_PLAN]]\n");
    t_run_free(&r);
}

/* ---- show ----------------------------------------------------------------------- */

static void expect_show_reloads(const char *path, bool json)
{
    run_result r = path ? (json ? T_RUN("show", path, "--json") : T_RUN("show", path))
                        : (json ? T_RUN("show", "--json") : T_RUN("show"));
    cr_assert_eq(r.status, 0, "show %s: %s", path ? path : "", r.err);
    cr_expect_str_eq(r.err, "");
    rollout_plan *shown = load_text(r.out, r.out_len, json ? "show.json" : "show.yaml");
    rollout_plan *orig;
    if (path) {
        rollout_error err;
        orig = NULL;
        cr_assert_eq(rollout_plan_load_file(path, &orig, &err), ROLLOUT_OK, "%s", err.message);
    } else {
        size_t len;
        const char *seed = rollout_seed_plan(&len);
        orig = load_text(seed, len, "<seed>");
    }
    cr_expect_eq(rollout_plan_fingerprint(shown), rollout_plan_fingerprint(orig),
                 "show %s%s does not load back as the same plan", path ? path : "(seed)",
                 json ? " --json" : "");
    /* show prints exactly the library's normalized dump */
    size_t needed = 0;
    rollout_plan_dump(orig, json ? ROLLOUT_FORMAT_JSON : ROLLOUT_FORMAT_YAML, NULL, 0, &needed);
    char *dump = malloc(needed + 1);
    cr_assert_eq(rollout_plan_dump(orig, json ? ROLLOUT_FORMAT_JSON : ROLLOUT_FORMAT_YAML, dump,
                                   needed + 1, NULL),
                 ROLLOUT_OK);
    cr_expect_str_eq(r.out, dump);
    free(dump);
    rollout_plan_unref(shown);
    rollout_plan_unref(orig);
    t_run_free(&r);
}

Test(show, output_loads_back_as_the_same_plan)
{
    static const char *const plans[] = {NULL, "examples/plans/seed.yaml",
                                        "examples/plans/minimal.yaml",
                                        "examples/plans/windows.yaml"};
    for (size_t i = 0; i < RP_COUNT(plans); i++) {
        expect_show_reloads(plans[i], false);
        expect_show_reloads(plans[i], true);
    }
}

Test(show, seed_yaml_spot_check)
{
    run_result r = T_RUN("show");
    cr_assert_eq(r.status, 0);
    cr_expect_eq(strncmp(r.out, "format: 1\nid: ledger-v2\n", 24), 0, "%.60s", r.out);
    cr_expect_not_null(strstr(r.out, "start: 2026-02-28T09:00:00Z\n"));
    cr_expect_not_null(strstr(r.out, "deadline: 30m\n"));
    cr_expect_not_null(strstr(r.out, "postmortem_within: 1d\n"));
    cr_expect_not_null(strstr(r.out, "  duration: 7d\n"));
    t_run_free(&r);
    r = T_RUN("show", "--json");
    cr_assert_eq(r.status, 0);
    cr_expect_eq(strncmp(r.out, "{\"format\": 1, \"id\": \"ledger-v2\"", 31), 0, "%.60s", r.out);
    t_run_free(&r);
}

Test(show, errors)
{
    run_result r = T_RUN("show", "tests/plans/invalid/dup-key.yaml");
    cr_expect_eq(r.status, 1);
    cr_expect_str_eq(r.err, "tests/plans/invalid/dup-key.yaml:36:9: phases[1].steps[0].weight: "
                            "key \"weight\" appears twice (first at line 35, column 9)\n");
    cr_expect_str_eq(r.out, "");
    t_run_free(&r);
    r = T_RUN("show", "--yaml");
    cr_expect_eq(r.status, 2);
    cr_expect_str_eq(r.err, "usage: rollout show [PLAN] [--json]\n");
    t_run_free(&r);
    r = T_RUN("show", "a.yaml", "b.yaml");
    cr_expect_eq(r.status, 2);
    t_run_free(&r);
}

/* Every command exits 2 for a plan it cannot read, 1 for a plan that is
 * invalid, as validate does. */
Test(show, a_missing_file_exits_2)
{
    run_result r = T_RUN("show", "tests/plans/no-such-plan.yaml");
    cr_expect_eq(r.status, 2);
    cr_expect_str_eq(r.err,
                     "tests/plans/no-such-plan.yaml: cannot open: No such file or directory\n");
    t_run_free(&r);
}

/* ---- help, version, dispatch ------------------------------------------------------ */

Test(help, top_level)
{
    static const char *const forms[] = {"--help", "-h", "help"};
    for (size_t i = 0; i < RP_COUNT(forms); i++) {
        run_result r = T_RUN(forms[i]);
        cr_expect_eq(r.status, 0, "%s", forms[i]);
        cr_expect_eq(strncmp(r.out, "usage: rollout COMMAND [ARGS]\n", 30), 0, "%s", r.out);
        cr_expect_not_null(strstr(r.out, "\n  validate "));
        cr_expect_not_null(strstr(r.out, "\n  show "));
        cr_expect_str_eq(r.err, "");
        t_run_free(&r);
    }
    run_result r = T_RUN("--version");
    cr_expect_eq(r.status, 0);
    cr_expect_str_eq(r.out, "rollout 0.1.0\n");
    t_run_free(&r);
}

Test(help, every_subcommand_listed_has_help)
{
    run_result top = T_RUN("--help");
    cr_assert_eq(top.status, 0);
    const char *list = strstr(top.out, "commands:\n");
    cr_assert(list, "%s", top.out);
    int n = 0;
    bool saw_validate = false, saw_show = false;
    for (const char *line = strchr(list, '\n') + 1; strncmp(line, "  ", 2) == 0;
         line = strchr(line, '\n') + 1) {
        char name[64];
        cr_assert_eq(sscanf(line, " %63s", name), 1);
        saw_validate |= strcmp(name, "validate") == 0;
        saw_show |= strcmp(name, "show") == 0;
        for (int form = 0; form < 2; form++) {
            run_result r = T_RUN(name, form ? "-h" : "--help");
            cr_expect_eq(r.status, 0, "rollout %s --help exits %d", name, r.status);
            char want[96];
            snprintf(want, sizeof want, "usage: rollout %s", name);
            cr_expect_eq(strncmp(r.out, want, strlen(want)), 0, "rollout %s --help: %.80s", name,
                         r.out);
            cr_expect_str_eq(r.err, "", "rollout %s --help wrote to stderr", name);
            t_run_free(&r);
        }
        n++;
    }
    cr_expect(saw_validate && saw_show);
    cr_expect_geq(n, 2);
    t_run_free(&top);
}

Test(help, no_command_or_an_unknown_one_exits_2)
{
    run_result r = t_run((const char *const[]){NULL});
    cr_expect_eq(r.status, 2);
    cr_expect_eq(strncmp(r.err, "usage: rollout COMMAND [ARGS]\n", 30), 0, "%s", r.err);
    cr_expect_str_eq(r.out, "");
    t_run_free(&r);
    r = T_RUN("valdiate");
    cr_expect_eq(r.status, 2);
    cr_expect_eq(strncmp(r.err, "rollout: unknown command \"valdiate\"\n", 36), 0, "%s", r.err);
    t_run_free(&r);
}
