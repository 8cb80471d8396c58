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

#endif
