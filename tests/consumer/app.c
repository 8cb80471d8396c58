/* SPDX-License-Identifier: MIT */
/* A program that uses an installed librollout, as a downstream project would. */
#include <rollout.h>

#include <stdio.h>

int main(void)
{
    printf("librollout %s (header %d.%d.%d)\n", rollout_version(), ROLLOUT_VERSION_MAJOR,
           ROLLOUT_VERSION_MINOR, ROLLOUT_VERSION_PATCH);
    if (rollout_version_number() != ROLLOUT_VERSION_NUMBER)
        return 3;
    size_t len;
    const char *yaml = rollout_seed_plan(&len);
    rollout_plan *plan = NULL;
    rollout_error err;
    if (rollout_plan_load_buffer(yaml, len, "<seed>", &plan, &err) != ROLLOUT_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    printf("plan %s: %d phases, first %s\n", rollout_plan_id(plan),
           rollout_plan_phase_count(plan), rollout_plan_phase_name(plan, 0));
    rollout_plan_unref(plan);
    return 0;
}
