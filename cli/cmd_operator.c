/* SPDX-License-Identifier: MIT */
/*
 * cmd_operator.c — `rollout operator`: parses the flags and the signals;
 * the operator itself lives in operator/ (docs/operator.md).
 */
#define _DEFAULT_SOURCE /* signal */
#include "cli.h"
#include "internal.h"
#include "../operator/operator.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rollout operator [PLAN] (--store URL [--key-file F] | --state FILE)\n"
            "                        [--prometheus URL] [--interval 30s] [--once] [--dry-run]\n"
            "                        [--at T | --time-scale N --clock-start T [--clock-origin W]]\n\n"
            "Runs the plan: each pass ticks the state, watches the rollback criteria,\n"
            "evaluates a gate that is due against Prometheus, records the verdict, sends GO\n"
            "when the gate has auto_go: true, a PASS and every approval, delivers the\n"
            "communication plan to the webhooks of operator.channels and runs the rollback\n"
            "steps' hooks (operator.hooks). One JSON line per pass and per action on stdout.\n\n"
            "  --store URL      the state in a shared store (docs/fleet.md); --key-file F\n"
            "                   holds its HMAC key\n"
            "  --state FILE     the state in a file (`rollout state init`); deliveries are\n"
            "                   journaled in FILE.outbox\n"
            "  --prometheus URL overrides operator.prometheus.url\n"
            "  --interval D     real time between passes (default 30s; 100ms..1d)\n"
            "  --once           one pass, then exit (cron)\n"
            "  --dry-run        evaluate and log; write, deliver and run nothing\n"
            "  --at T           with --once: the pass runs at plan time T (ISO-8601 or epoch)\n"
            "  --time-scale N --clock-start T\n"
            "                   plan time = T + N x real seconds since W (default: the start;\n"
            "                   3600: an hour a second); W is an epoch second, fractions allowed\n\n"
            "SIGTERM or SIGINT stops it between passes.\n"
            "Exit: 0 done (or --once: the pass went through), 1 plan or state refused,\n"
            "2 usage, 69 --once: the store, Prometheus, a webhook or a hook failed (retried\n"
            "next pass), 75 another writer held the state file's lock.\n");
}

/* "250ms", or a plan duration ("30s", "1m"): 100 ms to a day. */
static bool parse_interval(const char *v, int64_t *ms)
{
    size_t n = strlen(v);
    if (n > 2 && !strcmp(v + n - 2, "ms")) {
        char *end;
        long long x = strtoll(v, &end, 10);
        if (end != v + n - 2 || x < 100 || x > 86400000LL)
            return false;
        *ms = x;
        return true;
    }
    int64_t s;
    if (!rp_parse_duration(v, n, &s) || s < 1 || s > 86400)
        return false;
    *ms = s * 1000;
    return true;
}

int cmd_operator(int argc, char **argv)
{
    op_options o;
    memset(&o, 0, sizeof o);
    o.interval_ms = 30000;
    o.argc = argc;
    o.argv = argv;
    const char *v, *at = NULL;
    bool bad_clock = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--store", &v)) {
            o.store_url = v;
        } else if (cli_opt(argc, argv, &i, "--key-file", &v)) {
            o.key_file = v;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            o.state_path = v;
        } else if (cli_opt(argc, argv, &i, "--prometheus", &v)) {
            o.prometheus = v;
        } else if (cli_opt(argc, argv, &i, "--interval", &v)) {
            if (!parse_interval(v, &o.interval_ms)) {
                fprintf(stderr, "rollout operator: --interval %s is not a duration of "
                                "100ms..1d\n", cli_text(v));
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--once")) {
            o.once = true;
        } else if (!strcmp(a, "--dry-run")) {
            o.dry_run = true;
        } else if (cli_opt(argc, argv, &i, "--at", &v)) {
            at = v;
        } else if (cli_clock_option(&o.clock, argc, argv, &i, &bad_clock)) {
            if (bad_clock)
                return CLI_USAGE;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rollout operator: unknown option %s\n\n", cli_text(a));
            usage(stderr);
            return CLI_USAGE;
        } else if (!o.plan_path) {
            o.plan_path = a;
        } else {
            fprintf(stderr, "rollout operator: one plan only (\"%s\" is extra)\n", cli_text(a));
            return CLI_USAGE;
        }
    }
    if (!o.store_url == !o.state_path) {
        fprintf(stderr, "rollout operator: give the state as --store URL or --state FILE\n");
        return CLI_USAGE;
    }
    if (o.key_file && !o.store_url) {
        fprintf(stderr, "rollout operator: --key-file goes with --store\n");
        return CLI_USAGE;
    }
    if (at) {
        if (!o.once) {
            fprintf(stderr, "rollout operator: --at runs one pass at that time: add --once\n");
            return CLI_USAGE;
        }
        if (!cli_parse_time(at, &o.at))
            return CLI_USAGE;
        o.have_at = true;
    }
    if (!cli_clock_check(&o.clock, "operator"))
        return CLI_USAGE;
    if (at && o.clock.scale > 0) {
        fprintf(stderr, "rollout operator: --at or --time-scale, not both\n");
        return CLI_USAGE;
    }
    volatile int *stop = cli_stop_on_signals();
    signal(SIGPIPE, SIG_IGN);
    return op_run(&o, stop);
}
