/* SPDX-License-Identifier: MIT */
/*
 * fuzz_plan.c — YAML bytes into the plan loader.
 *
 * Every input must load or fail cleanly (no crash, no leak, *out NULL on
 * failure). A plan that loads is then checked differentially: its normalized
 * YAML and JSON dumps must load again, to a plan with the same fingerprint
 * (the fingerprint is a digest of the normalized form, so "same fingerprint"
 * means the dump lost and invented nothing). The loaded plan is also walked
 * through schedule, calendar and the renderers, which read every field a
 * hostile plan can set.
 */
#include "fuzz_common.h"

static void reload_same(const rollout_plan *p, int format)
{
    size_t need = 0;
    int rc = rollout_plan_dump(p, format, NULL, 0, &need);
    FZ_CHECK(rc == ROLLOUT_ERR_BUFFER || rc == ROLLOUT_OK, "dump sizing: %s",
             rollout_code_name(rc));
    char *buf = malloc(need + 1);
    FZ_CHECK(buf != NULL, "out of memory");
    size_t again = 0;
    rc = rollout_plan_dump(p, format, buf, need + 1, &again);
    FZ_CHECK(rc == ROLLOUT_OK && again == need, "dump: %s", rollout_code_name(rc));
    FZ_CHECK(strlen(buf) == need, "dump holds a NUL byte");

    rollout_plan *q = (rollout_plan *)1;
    rollout_error err;
    rc = rollout_plan_load_buffer(buf, need, "dump", &q, &err);
    if (rc != ROLLOUT_OK) {
        fprintf(stderr, "---- %s dump ----\n%s\n", format ? "JSON" : "YAML", buf);
        FZ_CHECK(rc == ROLLOUT_OK, "the %s dump does not load: %s", format ? "JSON" : "YAML",
                 err.message);
    }
    FZ_CHECK(rollout_plan_fingerprint(q) == rollout_plan_fingerprint(p),
             "the %s dump loads to another plan", format ? "JSON" : "YAML");
    rollout_plan_unref(q);
    free(buf);
}

static void walk(const rollout_plan *p)
{
    rollout_state s;
    FZ_CHECK(rollout_state_init(p, &s) == ROLLOUT_OK, "state_init");
    int64_t t0 = rollout_plan_start(p);
    const int64_t offsets[] = {-1, 0, 3600, 86400, 10 * 86400, 400LL * 86400};
    for (size_t i = 0; i < FZ_COUNT(offsets); i++) {
        rollout_schedule_info info;
        FZ_CHECK(rollout_schedule(p, NULL, t0 + offsets[i], &info) == ROLLOUT_OK, "schedule");
    }
    /* A state records 0 as "not yet", so the machine takes events from
     * epoch 1 on (earlier is "time runs backwards"); plans may start earlier. */
    int64_t begin = t0 > 0 ? t0 : 1;
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    static rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(p, &s, &start, begin, &s, actions, &n, &err);
    FZ_CHECK(rc == ROLLOUT_OK, "start: %s", err.message);
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1};
    n = ROLLOUT_MAX_ACTIONS;
    rollout_apply(p, &s, &tick, begin + 86400, &s, actions, &n, NULL);

    static rollout_calendar_event events[ROLLOUT_MAX_CALENDAR];
    size_t n_events;
    FZ_CHECK(rollout_calendar(p, &s, events, ROLLOUT_MAX_CALENDAR, &n_events) == ROLLOUT_OK,
             "calendar");
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++) {
        size_t need = 0;
        rc = rollout_calendar_render(p, &s, f, NULL, 0, &need);
        FZ_CHECK(rc == ROLLOUT_OK || rc == ROLLOUT_ERR_BUFFER, "render %d: %s", f,
                 rollout_code_name(rc));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so a read past the end is an ASan report */
    char *yaml = fz_dup(data, size);
    rollout_plan *p = (rollout_plan *)1;
    rollout_error err;
    memset(&err, 0, sizeof err);
    int rc = rollout_plan_load_buffer(yaml, size, "fuzz.yaml", &p, &err);
    free(yaml);
    if (rc != ROLLOUT_OK) {
        FZ_CHECK(p == NULL, "a failed load left *out set");
        FZ_CHECK(err.code == rc, "err.code %d, returned %d", err.code, rc);
        FZ_CHECK(rc != ROLLOUT_ERR_NOMEM, "NOMEM without an allocation failing: %s",
                 err.message);
        FZ_CHECK(memchr(err.message, '\0', sizeof err.message) != NULL, "unterminated message");
        return 0;
    }
    FZ_CHECK(p != NULL, "OK without a plan");
    reload_same(p, ROLLOUT_FORMAT_YAML);
    reload_same(p, ROLLOUT_FORMAT_JSON);
    walk(p);
    rollout_plan_unref(p);
    return 0;
}
