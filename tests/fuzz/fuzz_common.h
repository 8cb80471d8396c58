/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h — what the four harnesses share: the seed plan, a set of
 * states along its rollout, and a check that stops the run loudly.
 *
 * Each harness is one translation unit that includes this header and
 * defines LLVMFuzzerTestOneInput. Built with -fsanitize=fuzzer it is a
 * libFuzzer target; linked with replay_main.c instead it replays files, so
 * tests/fuzz/regressions/ runs in every ctest build (gcc, ASan, valgrind).
 *
 * Fixtures are built once per process and kept for its lifetime: they are
 * reachable at exit, so neither LeakSanitizer nor libFuzzer's per-input leak
 * check counts them.
 */
#ifndef ROLLOUT_FUZZ_COMMON_H
#define ROLLOUT_FUZZ_COMMON_H

#include "rollout.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken invariant is a finding: print it and abort, which libFuzzer
 * reports as a crash and saves the input for. Not assert(): it must also
 * hold in release builds. */
#define FZ_CHECK(cond, ...)                                                     \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            abort();                                                            \
        }                                                                       \
    } while (0)

#define FZ_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static inline rollout_plan *fz_seed_plan(void)
{
    static rollout_plan *seed;
    if (!seed) {
        size_t len;
        const char *yaml = rollout_seed_plan(&len);
        rollout_error err;
        if (rollout_plan_load_buffer(yaml, len, "seed.yaml", &seed, &err) != ROLLOUT_OK) {
            fprintf(stderr, "fuzz: the seed plan does not load: %s\n", err.message);
            abort();
        }
    }
    return seed;
}

/* Applies one event; the fixture walk must never be refused. */
static inline void fz_apply(const rollout_plan *p, rollout_state *s, rollout_event ev, int64_t now)
{
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(p, s, &ev, now, s, actions, &n, &err);
    FZ_CHECK(rc == ROLLOUT_OK, "fixture event %s at %lld: %s", rollout_event_name(ev.type),
             (long long)now, err.message);
}

/* States of the seed plan at interesting points of its life, so a decide or
 * an event is tried against each. Index 0 is "no state" (NULL). */
enum { FZ_N_STATES = 9 };

static inline const rollout_state *fz_state(int i)
{
    static rollout_state states[FZ_N_STATES];
    static int built;
    const rollout_plan *p = fz_seed_plan();
    if (!built) {
        int64_t t0 = rollout_plan_start(p);
        rollout_state s;
        rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1};
        rollout_event pause = {.type = ROLLOUT_EVENT_PAUSE, .gate = -1};
        rollout_event resume = {.type = ROLLOUT_EVENT_RESUME, .gate = -1};
        rollout_event pass = {.type = ROLLOUT_EVENT_VERDICT, .gate = -1,
                              .verdict = ROLLOUT_VERDICT_PASS};
        /* canary-go's approvers: engineering-lead (0) and product-lead (1) */
        rollout_event approve0 = {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = 0};
        rollout_event approve1 = {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = 1};
        rollout_event go = {.type = ROLLOUT_EVENT_GO, .gate = -1};
        rollout_event no_go = {.type = ROLLOUT_EVENT_NO_GO, .gate = -1};
        rollout_event rollback = {.type = ROLLOUT_EVENT_ROLLBACK, .gate = -1,
                                  .reason = ROLLOUT_ROLLBACK_MANUAL};

        rollout_state_init(p, &s);
        states[1] = s;                          /* not started */
        fz_apply(p, &s, start, t0);
        states[2] = s;                          /* running, canary */
        fz_apply(p, &s, tick, t0 + 3 * 3600);
        states[3] = s;                          /* awaiting canary-go */
        rollout_state paused = s;
        fz_apply(p, &paused, pause, t0 + 3 * 3600 + 60);
        states[4] = paused;                     /* paused while awaiting */
        fz_apply(p, &s, approve0, t0 + 3 * 3600 + 100);
        fz_apply(p, &s, approve1, t0 + 3 * 3600 + 110);
        fz_apply(p, &s, pass, t0 + 3 * 3600 + 120);
        fz_apply(p, &s, go, t0 + 3 * 3600 + 180);
        fz_apply(p, &s, tick, t0 + 8 * 3600);
        states[5] = s;                          /* pilot running */
        rollout_state resumed = paused;
        fz_apply(p, &resumed, resume, t0 + 5 * 3600);
        states[6] = resumed;                    /* resumed after a pause */
        rollout_state rolled = s;
        fz_apply(p, &rolled, rollback, t0 + 9 * 3600);
        states[7] = rolled;                     /* rolling back */
        /* a NO-GO at the canary gate: whatever its on_no_go says */
        rollout_state stopped = states[3];
        fz_apply(p, &stopped, no_go, t0 + 3 * 3600 + 60);
        states[8] = stopped;
        built = 1;
    }
    return i <= 0 || i >= FZ_N_STATES ? NULL : &states[i];
}

/* Times around the seed plan, and the extremes a caller might pass. */
static inline int64_t fz_time(const rollout_plan *p, unsigned i)
{
    int64_t t0 = rollout_plan_start(p);
    const int64_t table[16] = {
        t0 - 1,          t0,               t0 + 1,          t0 + 2 * 3600,
        t0 + 5 * 3600,   t0 + 13 * 3600,   t0 + 2 * 86400,  t0 + 3 * 86400 + 1,
        t0 + 5 * 86400,  t0 + 30 * 86400,  0,               -1,
        INT64_MIN,       INT64_MAX,        INT64_MAX - 1,   253402300799 /* 9999-12-31 */};
    return table[i % 16];
}

/* A private, exactly sized copy: ASan then catches a read one byte past an
 * id, which a pointer into the fuzzer's buffer would hide. */
static inline char *fz_dup(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

#endif
