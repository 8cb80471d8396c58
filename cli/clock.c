/* SPDX-License-Identifier: MIT */
/*
 * clock.c — the tool's one notion of "now" for the commands that run over
 * time (operator, status --watch): the wall clock, or a scaled plan clock
 * for demos and tests. Every process of a demo is given the same start,
 * scale and origin, so they agree on the plan time whatever moment each of
 * them started at.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sigaction */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

bool cli_clock_option(cli_clock *c, int argc, char **argv, int *i, bool *bad)
{
    const char *v;
    char *end;
    if (cli_opt(argc, argv, i, "--time-scale", &v)) {
        c->scale = strtod(v, &end);
        if (*end || !(c->scale >= 1 && c->scale <= 1e6)) {
            fprintf(stderr, "rollout: --time-scale is a number of 1..1000000 (plan seconds per "
                            "real second), not \"%s\"\n", cli_text(v));
            *bad = true;
        }
        return true;
    }
    if (cli_opt(argc, argv, i, "--clock-start", &v)) {
        if (!cli_parse_time(v, &c->start))
            *bad = true;
        c->have_start = true;
        return true;
    }
    if (cli_opt(argc, argv, i, "--clock-origin", &v)) {
        c->origin = strtod(v, &end);
        if (*end || !(c->origin > 0 && c->origin < 1e11)) {
            fprintf(stderr, "rollout: --clock-origin is the epoch second (fractions allowed) at "
                            "which the plan clock showed --clock-start, not \"%s\"\n",
                    cli_text(v));
            *bad = true;
        }
        return true;
    }
    return false;
}

bool cli_clock_check(cli_clock *c, const char *cmd)
{
    if ((c->scale > 0) != c->have_start || (c->origin > 0 && c->scale == 0)) {
        fprintf(stderr, "rollout %s: --time-scale and --clock-start go together "
                        "(--clock-origin with them)\n", cmd);
        return false;
    }
    if (c->scale > 0 && c->origin == 0)
        c->origin = wall_now();
    return true;
}

int64_t cli_clock_now(const cli_clock *c)
{
    if (c->scale == 0)
        return (int64_t)time(NULL);
    double t = (double)c->start + (wall_now() - c->origin) * c->scale;
    if (t < (double)ROLLOUT_TIME_MIN)
        return ROLLOUT_TIME_MIN;
    return t > (double)ROLLOUT_TIME_MAX ? ROLLOUT_TIME_MAX : (int64_t)floor(t);
}

/* sig_atomic_t is int on the systems the tool builds on */
static volatile int stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile int *cli_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: a sleep or a wait ends at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return &stop_requested;
}
