/* SPDX-License-Identifier: MIT */
/*
 * fuzz_state.c — state strings into rollout_state_decode.
 *
 * Two modes, chosen by the input's first bytes:
 *   "rs..."   the input is the text itself, decoded as a gateway would decode
 *             a header or a Redis value (the checksum keeps most mutations
 *             out, which is the point of it);
 *   other     the input is a payload: the harness appends its XXH3 checksum
 *             and base64url-encodes it behind "rs1.", so the fuzzer reaches
 *             the field decoder and the consistency checks behind the
 *             checksum, as someone forging a state would.
 * A state that decodes must re-encode to exactly the same text, and events,
 * decisions, the schedule and the calendar must accept it without crashing.
 * The same text is also decoded without a plan (as a tool that does not know
 * the plan would) and the result, given the seed's fingerprint, is fed to the
 * read-only calls: they must refuse or answer, never read out of bounds.
 */
#include "fuzz_common.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* "rs1." + base64url(payload || XXH3-64(payload) LE), unpadded; malloc'd. */
static char *forge(const uint8_t *payload, size_t n, size_t *len)
{
    uint8_t *bytes = malloc(n + 8);
    FZ_CHECK(bytes != NULL, "out of memory");
    memcpy(bytes, payload, n);
    uint64_t sum = XXH3_64bits(payload, n);
    for (int i = 0; i < 8; i++)
        bytes[n + i] = (uint8_t)(sum >> (8 * i));
    n += 8;
    char *text = malloc(4 + (n * 4 + 2) / 3 + 1);
    FZ_CHECK(text != NULL, "out of memory");
    memcpy(text, "rs1.", 4);
    char *o = text + 4;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    if (n - i >= 1) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (n - i == 2 ? (uint32_t)bytes[i + 1] << 8 : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        if (n - i == 2)
            *o++ = b64[(v >> 6) & 63];
    }
    *len = (size_t)(o - text);
    free(bytes);
    return text;
}

static void use_read_only(const rollout_plan *p, const rollout_state *s)
{
    static rollout_calendar_event events[ROLLOUT_MAX_CALENDAR];
    size_t n;
    rollout_calendar(p, s, events, ROLLOUT_MAX_CALENDAR, &n);
    int64_t next_day = s->updated_at > INT64_MAX - 86400 ? INT64_MAX : s->updated_at + 86400;
    const int64_t times[] = {s->updated_at, s->started_at, next_day,
                             rollout_plan_start(p) + 3 * 86400};
    rollout_context ctx = {.org = "acme-corp", .org_len = 9, .user = "u-1", .user_len = 3};
    for (size_t i = 0; i < FZ_COUNT(times); i++) {
        rollout_schedule_info info;
        rollout_schedule(p, s, times[i], &info);
        rollout_decision d;
        if (rollout_decide(p, s, times[i], &ctx, &d) == ROLLOUT_OK && d.variant == ROLLOUT_NEW)
            FZ_CHECK(d.bucket < d.weight, "NEW with bucket %u >= weight %u", d.bucket, d.weight);
    }
}

static void try_events(const rollout_plan *p, const rollout_state *s)
{
    static rollout_action actions[ROLLOUT_MAX_ACTIONS];
    int n_gates = rollout_plan_gate_count(p), n_roles = rollout_plan_role_count(p);
    int64_t later = s->updated_at > INT64_MAX - 7200 ? INT64_MAX : s->updated_at + 7200;
    const int64_t times[] = {s->updated_at, later, INT64_MAX};
    for (int type = 0; type < ROLLOUT_EVENT_COUNT; type++) {
        for (int variant = 0; variant < 4; variant++) {
            rollout_event ev = {.type = type,
                                .gate = variant == 0 ? -1 : (variant * 3) % (n_gates + 1),
                                .role = variant % (n_roles ? n_roles : 1),
                                .override = variant == 3,
                                .override_verdict = variant == 3,
                                .all_phases = variant == 1,
                                .actor = variant,
                                .why = variant >= 2 ? "fuzz" : NULL,
                                .verdict = variant,
                                .reason = variant,
                                .confirmation = (variant * 2 + type) % ROLLOUT_CONFIRM_COUNT};
            for (size_t t = 0; t < FZ_COUNT(times); t++) {
                rollout_state next;
                size_t n = ROLLOUT_MAX_ACTIONS;
                rollout_error err;
                int rc = rollout_apply(p, s, &ev, times[t], &next, actions, &n, &err);
                if (rc != ROLLOUT_OK) {
                    FZ_CHECK(n == 0, "refused with %zu actions", n);
                    continue;
                }
                FZ_CHECK(n <= ROLLOUT_MAX_ACTIONS, "%zu actions", n);
                /* whatever the machine makes must encode and decode back */
                char text[ROLLOUT_STATE_TEXT_MAX];
                size_t len = rollout_state_encode(&next, text, sizeof text);
                FZ_CHECK(len > 0, "a state made by the machine does not encode");
                rollout_state back;
                rc = rollout_state_decode(p, text, len, &back, &err);
                FZ_CHECK(rc == ROLLOUT_OK,
                         "a state made by the machine does not decode: %s (event %s gate %d "
                         "role %d override %d verdict %d reason %d confirmation %d at %lld; "
                         "%s -> %s; from %.*s)",
                         err.message, rollout_event_name(ev.type), ev.gate, ev.role, ev.override,
                         ev.verdict, ev.reason, ev.confirmation, (long long)times[t],
                         rollout_status_name(s->status), rollout_status_name(next.status),
                         (int)rollout_state_encode(s, text, sizeof text), text);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const rollout_plan *plan = fz_seed_plan();
    size_t len;
    char *text;
    if (size >= 2 && data[0] == 'r' && data[1] == 's') {
        text = fz_dup(data, size);
        len = size;
    } else {
        text = forge(data, size, &len);
    }

    rollout_state s, unchecked;
    memset(&s, 0xA5, sizeof s);
    rollout_state untouched = s;
    rollout_error err;
    int rc = rollout_state_decode(plan, text, len, &s, &err);
    if (rc != ROLLOUT_OK) {
        FZ_CHECK(rc == ROLLOUT_ERR_STATE || rc == ROLLOUT_ERR_UNSUPPORTED ||
                     rc == ROLLOUT_ERR_STATE_PLAN,
                 "decode returned %s", rollout_code_name(rc));
        FZ_CHECK(memcmp(&s, &untouched, sizeof s) == 0, "a refused state was written");
    } else {
        char again[ROLLOUT_STATE_TEXT_MAX];
        size_t again_len = rollout_state_encode(&s, again, sizeof again);
        FZ_CHECK(again_len == len && memcmp(again, text, len) == 0,
                 "decode then encode changed the text");
        use_read_only(plan, &s);
        try_events(plan, &s);
    }

    /* Without a plan: accepted states are only self-consistent. Bound to the
     * seed by fingerprint, they must still be refused or handled. */
    if (rollout_state_decode(NULL, text, len, &unchecked, &err) == ROLLOUT_OK) {
        unchecked.plan_fingerprint = rollout_plan_fingerprint(plan);
        use_read_only(plan, &unchecked);
        static rollout_action actions[ROLLOUT_MAX_ACTIONS];
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1};
        size_t n = ROLLOUT_MAX_ACTIONS;
        rollout_state next;
        rollout_apply(plan, &unchecked, &tick, unchecked.updated_at, &next, actions, &n, &err);
    }
    free(text);
    return 0;
}
