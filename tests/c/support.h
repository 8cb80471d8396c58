/* SPDX-License-Identifier: MIT */
/* support.h — helpers shared by the Criterion suites. */
#ifndef ROLLOUT_TEST_SUPPORT_H
#define ROLLOUT_TEST_SUPPORT_H

#include "internal.h"
#include "rollout.h"

#include <stddef.h>

/* Reads a whole file relative to the source tree (tests run from there);
 * aborts the test on failure. Free with free(). */
char *t_read_file(const char *path, size_t *len);

/* Loads a plan from text; fails the test (with the loader's message) on error. */
rollout_plan *t_plan(const char *yaml);
/* Loads examples/plans/seed.yaml. */
rollout_plan *t_seed(void);
/* The seed with override_roles [engineering-lead, product-lead, sre-lead,
 * sre] on every gate (malloc'ed text, and loaded). */
char *t_seed_overridable_yaml(void);
rollout_plan *t_seed_overridable(void);
/* Loads text that must fail; returns the code and fills err. */
int t_plan_error(const char *yaml, rollout_error *err);

/* Parses a JSON (or YAML) file into nodes owned by arena; fails the test on
 * error. Use rp_map_get and the node fields to read it. */
rp_node *t_json(rp_arena *arena, const char *path);

/* Epoch seconds of an ISO-8601 literal; fails the test when it does not parse. */
int64_t t_time(const char *iso);

/* A xorshift64 step of *state (not 0): the tests' repeatable random numbers. */
uint64_t t_rand(uint64_t *state);

/* Applies one event to *s in place at now; fails the test (with the
 * machine's message) when the event is refused. The actions are dropped. */
void t_apply(const rollout_plan *p, rollout_state *s, rollout_event ev, int64_t now);
/* Gives gate (-1: the state's next gate) its GO at now the regular way:
 * every approver approves, a PASS verdict when it has criteria, then GO. */
void t_go(const rollout_plan *p, rollout_state *s, int gate, int64_t now);

/* The result of running the rollout tool. */
typedef struct run_result {
    int status;      /* exit code, or 128 + signal */
    char *out, *err; /* NUL-terminated, free() them */
    size_t out_len, err_len;
} run_result;

/* Runs ROLLOUT_CLI with args (NULL-terminated), stdin from /dev/null; fails
 * the test when it cannot be run. Free with t_run_free. */
run_result t_run(const char *const *args);
#define T_RUN(...) t_run((const char *const[]){__VA_ARGS__, NULL})
void t_run_free(run_result *r);

#endif
