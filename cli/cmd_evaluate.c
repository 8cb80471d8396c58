/* SPDX-License-Identifier: MIT */
/* cmd_evaluate.c — `rollout evaluate`: a metrics snapshot against a gate's criteria. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes beyond cli.h's: one per verdict, so a shell script can branch
 * on the gate without parsing output. */
enum { EXIT_FAIL = 3, EXIT_INCONCLUSIVE = 4, EXIT_ROLLBACK = 5 };

static void usage(FILE *f)
{
    fprintf(f, "usage: rollout evaluate [PLAN] (--phase NAME | --gate NAME | --criteria NAME |\n"
               "                        --bake) METRICS_FILE [--json]\n");
}

static void help(void)
{
    usage(stdout);
    printf("\n"
           "Judges a metrics snapshot (YAML or JSON, see docs/evaluation.md) against a\n"
           "criteria set of the plan and prints one line per criterion, then the verdict.\n\n"
           "  PLAN             the plan file (default: the built-in seed plan)\n"
           "  --phase NAME     the criteria of the phase's gate(s)\n"
           "  --gate NAME      the criteria of one gate\n"
           "  --criteria NAME  a criteria set by name\n"
           "  --bake           the post-rollout bake criteria\n"
           "  METRICS_FILE     the snapshot: new version and, optionally, the baseline\n"
           "  --json           print the evaluation as a JSON object\n\n"
           "Exit status: 0 PASS (go), 3 FAIL (no-go), 4 INCONCLUSIVE (not enough data:\n"
           "hold and look again), 5 ROLLBACK (a rollback trigger fired: roll back now),\n"
           "1 when the plan or the metrics are invalid or the name matches nothing,\n"
           "2 on a usage or I/O error.\n");
}

static int verdict_exit(int verdict)
{
    switch (verdict) {
    case ROLLOUT_VERDICT_PASS:
        return CLI_OK;
    case ROLLOUT_VERDICT_FAIL:
        return EXIT_FAIL;
    case ROLLOUT_VERDICT_ROLLBACK:
        return EXIT_ROLLBACK;
    default:
        return EXIT_INCONCLUSIVE;
    }
}

static void json_num(const char *key, double v)
{
    printf(", \"%s\": ", key);
    if (isfinite(v))
        printf("%.17g", v);
    else
        fputs("null", stdout); /* JSON has no NaN or infinity */
}

static void print_json(const rollout_evaluation *ev)
{
    printf("{\"criteria\": ");
    cli_json_str(stdout, ev->criteria, strlen(ev->criteria));
    printf(", \"verdict\": \"%s\", \"pass\": %d, \"fail\": %d, \"inconclusive\": %d",
           rollout_verdict_name(ev->verdict), ev->n_pass, ev->n_fail, ev->n_inconclusive);
    printf(", \"rollback_criterion\": ");
    if (ev->rollback_index >= 0) {
        const char *id = ev->results[ev->rollback_index].id;
        cli_json_str(stdout, id, strlen(id));
        printf(", \"rollback_reason\": \"%s\"", rollout_rollback_reason_name(ev->rollback_reason));
    } else {
        printf("null, \"rollback_reason\": null");
    }
    printf(", \"results\": [");
    for (int i = 0; i < ev->n_results; i++) {
        const rollout_criterion_result *r = &ev->results[i];
        printf("%s\n  {\"id\": ", i ? "," : "");
        cli_json_str(stdout, r->id, strlen(r->id));
        printf(", \"metric\": ");
        cli_json_str(stdout, r->metric, strlen(r->metric));
        printf(", \"verdict\": \"%s\", \"rollback\": %s", rollout_verdict_name(r->verdict),
               r->rollback ? "true" : "false");
        json_num("observed", r->observed);
        json_num("threshold", r->threshold);
        json_num("baseline", r->baseline);
        json_num("p_value", r->p_value);
        json_num("lower", r->lower);
        json_num("upper", r->upper);
        json_num("samples", r->samples);
        printf(", \"dry_run\": %s, \"direction\": \"%s\"", r->dry_run ? "true" : "false",
               r->direction == ROLLOUT_LOWER_IS_WORSE ? "lower_is_worse" : "higher_is_worse");
        json_num("sla", r->sla);
        printf(", \"reason\": ");
        cli_json_str(stdout, r->reason, strlen(r->reason));
        putchar('}');
    }
    printf("]}\n");
}

static void print_text(const rollout_evaluation *ev)
{
    size_t width = 2;
    for (int i = 0; i < ev->n_results; i++)
        if (strlen(ev->results[i].id) > width)
            width = strlen(ev->results[i].id);
    for (int i = 0; i < ev->n_results; i++) {
        const rollout_criterion_result *r = &ev->results[i];
        printf("%-12s  %-*s  %s%s%s\n", rollout_verdict_name(r->verdict), (int)width,
               cli_text(r->id), cli_text(r->reason),
               r->rollback && r->verdict == ROLLOUT_VERDICT_FAIL ? "  [rollback]" : "",
               r->dry_run ? "  [dry run: not counted]" : "");
    }
    printf("verdict: %s (criteria %s: %d pass, %d fail, %d inconclusive)", 
           rollout_verdict_name(ev->verdict), cli_text(ev->criteria), ev->n_pass, ev->n_fail,
           ev->n_inconclusive);
    if (ev->rollback_index >= 0)
        printf("; rollback triggered by %s (%s)", cli_text(ev->results[ev->rollback_index].id),
               rollout_rollback_reason_name(ev->rollback_reason));
    putchar('\n');
}

int cmd_evaluate(int argc, char **argv)
{
    const char *positional[2] = {NULL, NULL};
    int n_pos = 0, target = -1;
    const char *name = NULL, *value;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return CLI_OK;
        }
        int t = -1;
        if (cli_opt(argc, argv, &i, "--phase", &value))
            t = ROLLOUT_EVAL_PHASE;
        else if (cli_opt(argc, argv, &i, "--gate", &value))
            t = ROLLOUT_EVAL_GATE;
        else if (cli_opt(argc, argv, &i, "--criteria", &value))
            t = ROLLOUT_EVAL_CRITERIA;
        else if (!strcmp(argv[i], "--bake"))
            t = ROLLOUT_EVAL_BAKE, value = NULL;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (argv[i][0] != '-' && n_pos < 2)
            positional[n_pos++] = argv[i];
        else {
            fprintf(stderr, "rollout evaluate: unexpected argument \"%s\"\n", cli_text(argv[i]));
            usage(stderr);
            return CLI_USAGE;
        }
        if (t >= 0) {
            if (target >= 0) {
                fprintf(stderr, "rollout evaluate: give one of --phase, --gate, --criteria, "
                                "--bake\n");
                return CLI_USAGE;
            }
            target = t;
            name = value;
        }
    }
    if (target < 0 || n_pos == 0) {
        fprintf(stderr, "rollout evaluate: %s\n",
                target < 0 ? "say what to evaluate: --phase, --gate, --criteria or --bake"
                           : "no METRICS_FILE");
        usage(stderr);
        return CLI_USAGE;
    }
    const char *plan_path = n_pos == 2 ? positional[0] : NULL;
    const char *metrics_path = positional[n_pos - 1];

    rollout_plan *plan;
    int load_rc = cli_load_plan(plan_path, &plan);
    if (load_rc)
        return load_rc;
    rollout_metrics *metrics = NULL;
    rollout_error err;
    int rc = rollout_metrics_load_file(metrics_path, &metrics, &err);
    if (rc) {
        fprintf(stderr, "%s\n", cli_text(err.message));
        rollout_plan_unref(plan);
        return rc == ROLLOUT_ERR_IO || rc == ROLLOUT_ERR_NOMEM ? CLI_USAGE : CLI_INVALID;
    }
    /* about 8 KB: heap, not the stack of whoever embeds this code later */
    rollout_evaluation *ev = malloc(sizeof *ev);
    if (!ev) {
        fprintf(stderr, "rollout evaluate: out of memory\n");
        rollout_metrics_free(metrics);
        rollout_plan_unref(plan);
        return CLI_USAGE;
    }
    rc = rollout_evaluate(plan, target, name, metrics, ev, &err);
    int status;
    if (rc) {
        fprintf(stderr, "rollout evaluate: %s\n", cli_text(err.message));
        status = rc == ROLLOUT_ERR_NOMEM ? CLI_USAGE : CLI_INVALID;
    } else {
        if (json)
            print_json(ev);
        else
            print_text(ev);
        status = verdict_exit(ev->verdict);
    }
    free(ev);
    rollout_metrics_free(metrics);
    rollout_plan_unref(plan);
    return status;
}
