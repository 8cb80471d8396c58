/* SPDX-License-Identifier: MIT */
/*
 * test_state_codec.c — the rs1 text form of a state (docs/state-machine.md).
 *
 *  - the byte layout, rebuilt here by hand (varints, zigzag, XXH3 checksum,
 *    base64url) and compared with rollout_state_encode;
 *  - round trips of realistic states reached through events on the seed;
 *  - every truncation and every single-bit flip of every character of those
 *    encodings is rejected, never half-read, and leaves the output untouched;
 *  - foreign prefixes and versions, another plan's state, crafted texts whose
 *    checksum is right but whose content is not (overlong varints, impossible
 *    states), the alphabet and the length.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "support.h"

#define H 3600
#define D 86400

/* ---- realistic states ---------------------------------------------------------- */

static rollout_plan *plan;
static rollout_plan *halt_plan;
static int64_t T0;

typedef struct sample {
    const char *name;
    rollout_state s;
} sample;

static sample samples[16];
static int n_samples;

static rollout_event ev(int type)
{
    return (rollout_event){.type = type, .gate = -1, .role = -1, .verdict = -1, .reason = -1,
                           .confirmation = -1};
}

static void step(rollout_plan *p, rollout_state *s, int64_t off, rollout_event e)
{
    rollout_action a[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(p, s, &e, T0 + off, s, a, &n, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s: %s", rollout_event_name(e.type), err.message);
}

static void approve(rollout_plan *p, rollout_state *s, int64_t off, int role)
{
    rollout_event e = ev(ROLLOUT_EVENT_APPROVE);
    e.role = role;
    step(p, s, off, e);
}

static void verdict(rollout_plan *p, rollout_state *s, int64_t off, int v)
{
    rollout_event e = ev(ROLLOUT_EVENT_VERDICT);
    e.verdict = v;
    step(p, s, off, e);
}

static void confirm(rollout_plan *p, rollout_state *s, int64_t off, int c)
{
    rollout_event e = ev(ROLLOUT_EVENT_CONFIRM);
    e.confirmation = c;
    step(p, s, off, e);
}

static void keep(const char *name, const rollout_state *s)
{
    samples[n_samples].name = name;
    samples[n_samples].s = *s;
    n_samples++;
}

/* The seed's roles: 0 engineering-lead, 1 product-lead, 2 sre-lead, 4 product, 5 sre. */
static void setup(void)
{
    plan = t_seed();
    T0 = t_time("2026-02-28T09:00:00Z");
    n_samples = 0;
    rollout_state s;
    rollout_state_init(plan, &s);
    keep("fresh", &s);
    step(plan, &s, 0, ev(ROLLOUT_EVENT_START));
    keep("canary running", &s);
    step(plan, &s, 2 * H, ev(ROLLOUT_EVENT_TICK));
    approve(plan, &s, 2 * H, 0);
    verdict(plan, &s, 2 * H + 60, ROLLOUT_VERDICT_INCONCLUSIVE);
    keep("canary gate, one approval", &s);
    approve(plan, &s, 2 * H + 120, 1);
    verdict(plan, &s, 2 * H + 180, ROLLOUT_VERDICT_PASS);
    step(plan, &s, 2 * H + 240, ev(ROLLOUT_EVENT_GO));
    step(plan, &s, 5 * H, ev(ROLLOUT_EVENT_PAUSE));
    keep("pilot paused", &s);
    /* the GO came 4 minutes late and the pause lasted 2 hours: the pilot's
     * 100 % step and its gate fall at T+26h04m */
    step(plan, &s, 7 * H, ev(ROLLOUT_EVENT_RESUME));
    step(plan, &s, 27 * H, ev(ROLLOUT_EVENT_TICK));
    keep("pilot gate due", &s);
    rollout_state pilot = s;
    approve(plan, &s, 27 * H, 2);
    approve(plan, &s, 27 * H, 1);
    verdict(plan, &s, 27 * H, ROLLOUT_VERDICT_PASS);
    step(plan, &s, 27 * H, ev(ROLLOUT_EVENT_GO));
    for (int day = 3; day <= 5; day++) {
        approve(plan, &s, day * D + 4 * H, 4);
        approve(plan, &s, day * D + 4 * H, 5);
        verdict(plan, &s, day * D + 4 * H, ROLLOUT_VERDICT_PASS);
        step(plan, &s, day * D + 4 * H, ev(ROLLOUT_EVENT_GO));
    }
    keep("baking", &s);
    step(plan, &s, 13 * D, ev(ROLLOUT_EVENT_TICK));
    keep("completed", &s);

    s = pilot;
    rollout_event rb = ev(ROLLOUT_EVENT_ROLLBACK);
    rb.reason = ROLLOUT_ROLLBACK_DATA_CORRUPTION;
    step(plan, &s, 28 * H, rb);
    confirm(plan, &s, 28 * H + 300, ROLLOUT_CONFIRM_TRAFFIC_HALTED);
    keep("rolling back", &s);
    step(plan, &s, 29 * H, ev(ROLLOUT_EVENT_TICK)); /* escalated */
    confirm(plan, &s, 29 * H, ROLLOUT_CONFIRM_PREVIOUS_RESTORED);
    confirm(plan, &s, 29 * H, ROLLOUT_CONFIRM_SMOKE_PASSED);
    confirm(plan, &s, 29 * H, ROLLOUT_CONFIRM_SERVICE_RESUMED);
    confirm(plan, &s, 29 * H, ROLLOUT_CONFIRM_INCIDENT_OPENED);
    confirm(plan, &s, 40 * H, ROLLOUT_CONFIRM_POSTMORTEM_DONE);
    keep("rolled back", &s);
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLED_BACK);
    rollout_event retry = ev(ROLLOUT_EVENT_RETRY);
    retry.why = "fixed the migration; trying the pilot again — ça va";
    step(plan, &s, 41 * H, retry);
    cr_assert_eq(s.attempt, 2);
    rollout_event promote = ev(ROLLOUT_EVENT_PROMOTE);
    promote.why = "pilot orgs asked for everything";
    step(plan, &s, 42 * H, promote);
    keep("retried and promoted", &s);
    /* a trail past its ring: the oldest records fell off */
    for (int k = 0; k < 7; k++) {
        step(plan, &s, 43 * H + k * 60, ev(ROLLOUT_EVENT_PAUSE));
        step(plan, &s, 43 * H + k * 60 + 30, ev(ROLLOUT_EVENT_RESUME));
    }
    cr_assert_gt(s.trail_total, (uint32_t)ROLLOUT_TRAIL_MAX);
    keep("a full trail ring", &s);

    /* the seed never halts; a variant whose canary gate does */
    size_t len;
    char *yaml = t_read_file("examples/plans/seed.yaml", &len);
    char *at = strstr(yaml, "criteria: canary\n      on_no_go: rollback");
    cr_assert(at);
    /* "rollback" -> "halt    " keeps the length; YAML trims the spaces */
    memcpy(at + strlen("criteria: canary\n      on_no_go: "), "halt    ", 8);
    halt_plan = t_plan(yaml);
    free(yaml);
}

static void teardown(void)
{
    rollout_plan_unref(plan);
    rollout_plan_unref(halt_plan);
}

TestSuite(state_codec, .init = setup, .fini = teardown);

static size_t encode(const rollout_state *s, char *buf)
{
    size_t len = rollout_state_encode(s, buf, ROLLOUT_STATE_TEXT_MAX);
    cr_assert(len > 0 && len < ROLLOUT_STATE_TEXT_MAX);
    cr_assert_eq(strlen(buf), len);
    return len;
}

/* ---- the byte layout, by hand -------------------------------------------------- */

typedef struct bytes {
    uint8_t b[4096];
    size_t n;
} bytes;

static void u(bytes *o, uint64_t v)
{
    while (v >= 0x80) {
        o->b[o->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o->b[o->n++] = (uint8_t)v;
}

static void z(bytes *o, int64_t v)
{
    u(o, v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1 : (uint64_t)v << 1);
}

static void raw64(bytes *o, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        o->b[o->n++] = (uint8_t)(v >> (8 * i));
}

/* "rs1." + base64url without padding of payload || XXH3-64(payload) LE. */
static void to_text(const bytes *payload, char *out)
{
    bytes all = *payload;
    raw64(&all, XXH3_64bits(payload->b, payload->n));
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = out + sprintf(out, "rs%u.", payload->b[0] & 0x7f); /* the format's prefix */
    size_t i = 0;
    for (; i + 3 <= all.n; i += 3) {
        uint32_t v = (uint32_t)all.b[i] << 16 | (uint32_t)all.b[i + 1] << 8 | all.b[i + 2];
        *o++ = a[v >> 18], *o++ = a[(v >> 12) & 63], *o++ = a[(v >> 6) & 63], *o++ = a[v & 63];
    }
    if (all.n - i == 1) {
        uint32_t v = (uint32_t)all.b[i] << 16;
        *o++ = a[v >> 18], *o++ = a[(v >> 12) & 63];
    } else if (all.n - i == 2) {
        uint32_t v = (uint32_t)all.b[i] << 16 | (uint32_t)all.b[i + 1] << 8;
        *o++ = a[v >> 18], *o++ = a[(v >> 12) & 63], *o++ = a[(v >> 6) & 63];
    }
    *o = '\0';
}

/* The payload of a state, field by field in the documented order. */
static void layout(const rollout_state *s, bytes *o)
{
    o->n = 0;
    u(o, s->format);
    z(o, s->status);
    raw64(o, s->plan_fingerprint);
    u(o, s->revision);
    z(o, s->started_at);
    z(o, s->updated_at);
    z(o, s->phase);
    z(o, s->step);
    z(o, s->gate);
    z(o, s->paused_from);
    z(o, s->last_verdict);
    u(o, (uint64_t)s->n_pauses);
    for (int i = 0; i < s->n_pauses; i++) {
        z(o, s->pause_from[i]);
        z(o, s->pause_to[i]);
    }
    int used = 0;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        if (s->gate_go_at[g] || s->gate_no_go_at[g] || s->gate_approvals[g] ||
            s->gate_override_role[g] != -1)
            used = g + 1;
    u(o, (uint64_t)used);
    for (int g = 0; g < used; g++) {
        z(o, s->gate_go_at[g]);
        z(o, s->gate_no_go_at[g]);
        u(o, s->gate_approvals[g]);
        z(o, s->gate_override_role[g]);
    }
    z(o, s->consecutive_failures);
    z(o, s->consecutive_inconclusive);
    z(o, s->rollback_reason);
    u(o, s->rollback_done);
    z(o, s->rollback_started_at);
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++)
        z(o, s->status_since[i]);
    if (s->format < 2)
        return;
    z(o, s->attempt);
    z(o, s->attempt_step);
    z(o, s->attempt_gate);
    z(o, s->attempt_at);
    u(o, (uint64_t)s->n_promotes);
    for (int k = 0; k < s->n_promotes; k++) {
        z(o, s->promote_to[k]);
        z(o, s->promote_at[k]);
    }
    u(o, s->trail_total);
    uint32_t held = s->trail_total < ROLLOUT_TRAIL_MAX ? s->trail_total : ROLLOUT_TRAIL_MAX;
    for (uint32_t j = 0; j < held; j++) {
        const rollout_trail_record *r = &s->trail[(s->trail_total - held + j) % ROLLOUT_TRAIL_MAX];
        z(o, r->at);
        z(o, r->kind);
        z(o, r->role);
        z(o, r->gate);
        z(o, r->attempt);
        z(o, r->detail);
        u(o, r->flags);
        size_t len = strlen(r->reason);
        u(o, len);
        memcpy(o->b + o->n, r->reason, len);
        o->n += len;
    }
}

Test(state_codec, fresh_state_bytes_by_hand)
{
    rollout_state s;
    rollout_state_init(plan, &s);
    s.plan_fingerprint = 0x1122334455667788ull;
    /* format 2, status 0, fingerprint LE, revision 0, started 0, updated 0,
     * phase -1, step -1, gate 0, paused_from -1, last_verdict -1, no pauses,
     * no gates, failures 0, inconclusive 0, rollback_reason -1, done 0,
     * rollback start 0, nine status times 0; attempt 1, attempt step -1,
     * attempt gate -1, attempt start 0, no promotes, no trail records */
    static const uint8_t want[] = {0x02, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                   0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00,
                                   0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00};
    bytes b = {.n = sizeof want};
    memcpy(b.b, want, sizeof want);
    char expect[256], got[ROLLOUT_STATE_TEXT_MAX];
    to_text(&b, expect);
    encode(&s, got);
    cr_assert_str_eq(got, expect);
    cr_assert_eq(strlen(got), 68u); /* "rs2." + 48 bytes as 64 characters */
    rollout_state back;
    cr_assert_eq(rollout_state_decode(NULL, got, strlen(got), &back, NULL), ROLLOUT_OK);
    cr_assert(memcmp(&back, &s, sizeof s) == 0);
}

Test(state_codec, realistic_states_match_the_documented_layout)
{
    for (int i = 0; i < n_samples; i++) {
        bytes b;
        layout(&samples[i].s, &b);
        char expect[ROLLOUT_STATE_TEXT_MAX], got[ROLLOUT_STATE_TEXT_MAX];
        to_text(&b, expect);
        encode(&samples[i].s, got);
        cr_assert_str_eq(got, expect, "%s", samples[i].name);
    }
}

Test(state_codec, varints_and_zigzag)
{
    /* the hand encoder above against known values */
    bytes b = {.n = 0};
    u(&b, 0);
    u(&b, 127);
    u(&b, 128);
    u(&b, 300);
    z(&b, -1);
    z(&b, 1);
    z(&b, -64);
    z(&b, 64);
    static const uint8_t want[] = {0x00, 0x7f, 0x80, 0x01, 0xac, 0x02, 0x01, 0x02, 0x7f, 0x80, 0x01};
    cr_assert_eq(b.n, sizeof want);
    cr_assert(memcmp(b.b, want, sizeof want) == 0);
    /* 2026-02-28T09:00:00Z = 1772269200, zigzag 3544538400 = 0xd3455d20:
     * 7-bit groups from the low end 0x20 0x3a 0x15 0x1a 0x0d */
    b.n = 0;
    z(&b, 1772269200);
    static const uint8_t t[] = {0xa0, 0xba, 0x95, 0x9a, 0x0d};
    cr_assert_eq(b.n, 5u);
    cr_assert(memcmp(b.b, t, 5) == 0);
}

/* ---- round trips, alphabet, length ------------------------------------------------ */

Test(state_codec, round_trips)
{
    for (int i = 0; i < n_samples; i++) {
        char text[ROLLOUT_STATE_TEXT_MAX], again[ROLLOUT_STATE_TEXT_MAX];
        size_t len = encode(&samples[i].s, text);
        rollout_state back;
        rollout_error err;
        cr_assert_eq(rollout_state_decode(plan, text, len, &back, &err), ROLLOUT_OK, "%s: %s",
                     samples[i].name, err.message);
        cr_assert(memcmp(&back, &samples[i].s, sizeof back) == 0, "%s", samples[i].name);
        cr_assert_eq(encode(&back, again), len);
        cr_assert_str_eq(again, text);
        /* without a plan: same answer */
        cr_assert_eq(rollout_state_decode(NULL, text, len, &back, NULL), ROLLOUT_OK);
        cr_assert(memcmp(&back, &samples[i].s, sizeof back) == 0);
    }
}

Test(state_codec, alphabet_and_length)
{
    size_t total = 0, longest = 0;
    for (int i = 0; i < n_samples; i++) {
        char text[ROLLOUT_STATE_TEXT_MAX];
        size_t len = encode(&samples[i].s, text);
        cr_assert_eq(strncmp(text, "rs2.", 4), 0);
        for (size_t k = 0; k < len; k++) {
            char c = text[k];
            bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
            cr_assert(ok, "%s: character %d of %s", samples[i].name, (int)k, text);
        }
        cr_assert(len <= 1200, "%s: %zu characters", samples[i].name, len);
        cr_log_info("%-26s %3zu  %s", samples[i].name, len, text);
        total += len;
        if (len > longest)
            longest = len;
    }
    cr_log_info("typical length %zu, longest %zu", total / (size_t)n_samples, longest);
}

Test(state_codec, the_largest_state_fits)
{
    rollout_state s;
    memset(&s, 0, sizeof s);
    s.format = ROLLOUT_STATE_FORMAT;
    s.status = ROLLOUT_STATUS_PAUSED;
    s.plan_fingerprint = UINT64_MAX;
    s.revision = UINT64_MAX;
    s.started_at = s.updated_at = INT64_MIN;
    s.phase = s.step = s.gate = INT32_MAX;
    s.paused_from = ROLLOUT_STATUS_RUNNING;
    s.last_verdict = ROLLOUT_VERDICT_ROLLBACK;
    s.n_pauses = ROLLOUT_MAX_PAUSES;
    for (int i = 0; i < ROLLOUT_MAX_PAUSES; i++)
        s.pause_from[i] = s.pause_to[i] = INT64_MIN;
    s.pause_to[ROLLOUT_MAX_PAUSES - 1] = 0;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++) {
        s.gate_go_at[g] = s.gate_no_go_at[g] = INT64_MAX;
        s.gate_approvals[g] = UINT32_MAX;
        s.gate_override_role[g] = ROLLOUT_MAX_ROLES - 1;
    }
    s.consecutive_failures = s.consecutive_inconclusive = INT32_MAX;
    s.rollback_reason = ROLLOUT_ROLLBACK_COUNT - 1;
    s.rollback_done = UINT32_MAX;
    s.rollback_started_at = INT64_MIN;
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++)
        s.status_since[i] = INT64_MAX;
    s.gate = ROLLOUT_MAX_GATES - 1;
    s.attempt = s.attempt_step = s.attempt_gate = INT32_MAX;
    s.attempt_at = INT64_MIN;
    s.n_promotes = ROLLOUT_MAX_PROMOTES;
    for (int k = 0; k < ROLLOUT_MAX_PROMOTES; k++) {
        s.promote_to[k] = INT32_MIN;
        s.promote_at[k] = INT64_MIN;
    }
    s.trail_total = UINT32_MAX;
    for (int k = 0; k < ROLLOUT_TRAIL_MAX; k++) {
        rollout_trail_record *r = &s.trail[k];
        r->at = INT64_MIN;
        r->kind = r->role = r->gate = r->attempt = r->detail = INT32_MIN;
        r->flags = UINT32_MAX;
        memset(r->reason, 'x', sizeof r->reason - 1);
    }
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(&s, text, sizeof text);
    cr_assert(len > 0, "the largest state does not fit ROLLOUT_STATE_TEXT_MAX");
    cr_log_info("largest possible state: %zu characters", len);
    rollout_state back;
    rollout_error err;
    /* its times lie outside the years 1 to 9999, so it does not decode,
     * even without a plan */
    cr_assert_eq(rollout_state_decode(NULL, text, len, &back, &err), ROLLOUT_ERR_STATE);
    cr_assert(strstr(err.message, "a time outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"),
              "%s", err.message);
}

Test(state_codec, buffer_too_small)
{
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = encode(&samples[1].s, text);
    char small[ROLLOUT_STATE_TEXT_MAX];
    cr_assert_eq(rollout_state_encode(&samples[1].s, small, len), 0u);
    cr_assert_eq(rollout_state_encode(&samples[1].s, small, len + 1), len);
    cr_assert_str_eq(small, text);
    cr_assert_eq(rollout_state_encode(NULL, small, sizeof small), 0u);
    cr_assert_eq(rollout_state_encode(&samples[1].s, NULL, 100), 0u);
    cr_assert_eq(rollout_state_encode(&samples[1].s, small, 0), 0u);
}

/* ---- corruption ---------------------------------------------------------------------- */

static void expect_rejected(const char *text, size_t len, const char *what)
{
    rollout_state out;
    memset(&out, 0xA5, sizeof out);
    rollout_state untouched = out;
    rollout_error err;
    memset(&err, 0, sizeof err);
    int rc = rollout_state_decode(plan, text, len, &out, &err);
    cr_assert(rc == ROLLOUT_ERR_STATE || rc == ROLLOUT_ERR_UNSUPPORTED, "%s: got %s", what,
              rollout_code_name(rc));
    cr_assert_eq(err.code, rc);
    cr_assert(err.message[0], "%s: no message", what);
    cr_assert(memcmp(&out, &untouched, sizeof out) == 0, "%s: output written", what);
    rc = rollout_state_decode(NULL, text, len, &out, NULL);
    cr_assert(rc == ROLLOUT_ERR_STATE || rc == ROLLOUT_ERR_UNSUPPORTED, "%s (no plan)", what);
    cr_assert(memcmp(&out, &untouched, sizeof out) == 0);
}

Test(state_codec, every_truncation_is_rejected)
{
    int checked = 0;
    for (int i = 0; i < n_samples; i++) {
        char text[ROLLOUT_STATE_TEXT_MAX];
        size_t len = encode(&samples[i].s, text);
        for (size_t cut = 0; cut < len; cut++) {
            /* a copy exactly cut bytes long, so a read past it is caught */
            char *copy = malloc(cut ? cut : 1);
            memcpy(copy, text, cut);
            char what[64];
            snprintf(what, sizeof what, "%s cut at %zu", samples[i].name, cut);
            expect_rejected(copy, cut, what);
            free(copy);
            checked++;
        }
    }
    cr_log_info("%d truncations rejected", checked);
}

Test(state_codec, every_single_bit_flip_is_rejected)
{
    int checked = 0;
    for (int i = 0; i < n_samples; i++) {
        char text[ROLLOUT_STATE_TEXT_MAX];
        size_t len = encode(&samples[i].s, text);
        char *copy = malloc(len);
        for (size_t k = 0; k < len; k++) {
            for (int bit = 0; bit < 8; bit++) {
                memcpy(copy, text, len);
                copy[k] = (char)(copy[k] ^ (1 << bit));
                char what[80];
                snprintf(what, sizeof what, "%s: bit %d of char %zu", samples[i].name, bit, k);
                expect_rejected(copy, len, what);
                checked++;
            }
        }
        free(copy);
    }
    cr_log_info("%d bit flips rejected", checked);
}

Test(state_codec, appended_characters_are_rejected)
{
    char text[ROLLOUT_STATE_TEXT_MAX + 8];
    size_t len = encode(&samples[4].s, text);
    static const char extra[] = "A_-.\n =";
    for (size_t k = 0; k < sizeof extra - 1; k++) {
        text[len] = extra[k];
        expect_rejected(text, len + 1, "one more character");
    }
    memcpy(text + len, "AAAA", 4);
    expect_rejected(text, len + 4, "four more characters");
}

Test(state_codec, prefixes_and_versions)
{
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len = encode(&samples[2].s, text);
    rollout_state out;
    rollout_error err;
    struct {
        const char *prefix;
        int code;
    } cases[] = {{"rs3.", ROLLOUT_ERR_UNSUPPORTED}, {"rs0.", ROLLOUT_ERR_UNSUPPORTED},
                 {"rs2:", ROLLOUT_ERR_UNSUPPORTED}, {"RS2.", ROLLOUT_ERR_STATE},
                 {"rs1.", ROLLOUT_ERR_UNSUPPORTED}, /* format 2 bytes under format 1's prefix */
                 {"xs1.", ROLLOUT_ERR_STATE},       {"rt1.", ROLLOUT_ERR_STATE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char copy[ROLLOUT_STATE_TEXT_MAX];
        memcpy(copy, text, len);
        memcpy(copy, cases[i].prefix, 4);
        cr_assert_eq(rollout_state_decode(plan, copy, len, &out, &err), cases[i].code, "%s",
                     cases[i].prefix);
    }
    cr_assert_eq(rollout_state_decode(plan, "rs3.AAAA", 8, &out, &err), ROLLOUT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "rs3."), "%s", err.message);
    cr_assert_eq(rollout_state_decode(plan, "", 0, &out, &err), ROLLOUT_ERR_STATE);
    cr_assert_eq(rollout_state_decode(plan, "rs1.", 4, &out, &err), ROLLOUT_ERR_STATE);
    cr_assert_eq(rollout_state_decode(plan, "{\"status\":1}", 12, &out, &err), ROLLOUT_ERR_STATE);
    cr_assert_eq(rollout_state_decode(plan, NULL, 0, &out, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_state_decode(plan, text, len, NULL, &err), ROLLOUT_ERR_ARG);

    /* a well-formed text of format 3 (a later library's) under this
     * library's prefix */
    bytes b;
    layout(&samples[2].s, &b);
    b.b[0] = 3;
    to_text(&b, text);
    memcpy(text, "rs2.", 4);
    cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, &err),
                 ROLLOUT_ERR_UNSUPPORTED);
    cr_assert(strstr(err.message, "format 3"), "%s", err.message);
}

/* Texts of format 1 (rs1.) still decode: as the first attempt, no trail,
 * no promotes; and only in format 1's canonical form. */
Test(state_codec, previous_format_decodes)
{
    for (int i = 0; i < n_samples; i++) {
        rollout_state v1 = samples[i].s;
        if (v1.attempt != 1 || v1.n_promotes)
            continue;
        /* what format 1 could hold of it */
        v1.trail_total = 0;
        memset(v1.trail, 0, sizeof v1.trail);
        rollout_state want = v1;
        v1.format = 1;
        bytes b;
        layout(&v1, &b);
        char text[ROLLOUT_STATE_TEXT_MAX];
        to_text(&b, text);
        cr_assert_eq(strncmp(text, "rs1.", 4), 0);
        rollout_state out;
        rollout_error err;
        cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, &err), ROLLOUT_OK,
                     "%s: %s", samples[i].name, err.message);
        cr_assert_eq(out.format, ROLLOUT_STATE_FORMAT);
        cr_assert_eq(out.attempt, 1);
        cr_assert_eq(out.attempt_step, -1);
        cr_assert_eq(out.trail_total, 0u);
        cr_assert(memcmp(&out, &want, sizeof out) == 0, "%s", samples[i].name);
        /* re-encoded, it is format 2 */
        char again[ROLLOUT_STATE_TEXT_MAX];
        encode(&out, again);
        cr_assert_eq(strncmp(again, "rs2.", 4), 0);
        /* format 1's prefix over a payload that says format 2 is refused */
        layout(&samples[i].s, &b);
        to_text(&b, text);
        memcpy(text, "rs1.", 4);
        cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, &err),
                     ROLLOUT_ERR_UNSUPPORTED, "%s", samples[i].name);
    }
}

Test(state_codec, another_plans_state)
{
    char text[ROLLOUT_STATE_TEXT_MAX];
    for (int i = 0; i < n_samples; i++) {
        size_t len = encode(&samples[i].s, text);
        rollout_state out;
        memset(&out, 0x5A, sizeof out);
        rollout_state untouched = out;
        rollout_error err;
        cr_assert_eq(rollout_state_decode(halt_plan, text, len, &out, &err),
                     ROLLOUT_ERR_STATE_PLAN, "%s", samples[i].name);
        cr_assert(strstr(err.message, "another plan"), "%s", err.message);
        cr_assert(memcmp(&out, &untouched, sizeof out) == 0);
    }
    /* and the other way round */
    rollout_state h;
    rollout_state_init(halt_plan, &h);
    size_t len = encode(&h, text);
    rollout_state out;
    cr_assert_eq(rollout_state_decode(plan, text, len, &out, NULL), ROLLOUT_ERR_STATE_PLAN);
    cr_assert_eq(rollout_state_decode(halt_plan, text, len, &out, NULL), ROLLOUT_OK);
}

/* ---- crafted texts: right checksum, wrong content ---------------------------------- */

static void craft(const bytes *payload, char *out)
{
    to_text(payload, out);
}

Test(state_codec, overlong_varints_are_rejected)
{
    rollout_state s = samples[1].s;
    bytes b;
    layout(&s, &b);
    char text[ROLLOUT_STATE_TEXT_MAX];
    craft(&b, text);
    rollout_state out;
    cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, NULL), ROLLOUT_OK);

    /* the format varint 0x02 written as 0x82 0x00: the same number, two bytes */
    bytes o = {.n = 0};
    o.b[o.n++] = 0x82;
    o.b[o.n++] = 0x00;
    memcpy(o.b + o.n, b.b + 1, b.n - 1);
    o.n += b.n - 1;
    craft(&o, text);
    cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, NULL), ROLLOUT_ERR_STATE);

    /* a varint of eleven bytes, and one whose tenth byte overflows 64 bits */
    for (int variant = 0; variant < 2; variant++) {
        o.n = 0;
        o.b[o.n++] = 0x02;
        o.b[o.n++] = 0x02; /* status 1 */
        memcpy(o.b + o.n, b.b + 2, 8);
        o.n += 8;
        for (int k = 0; k < 9; k++)
            o.b[o.n++] = 0xff;
        o.b[o.n++] = variant ? 0x02 : 0x81;
        if (!variant)
            o.b[o.n++] = 0x00;
        craft(&o, text);
        cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, NULL), ROLLOUT_ERR_STATE);
    }

    /* trailing bytes after the last field */
    o = b;
    o.b[o.n++] = 0x00;
    craft(&o, text);
    cr_assert_eq(rollout_state_decode(plan, text, strlen(text), &out, NULL), ROLLOUT_ERR_STATE);

    /* a gate record count that claims one more, all-empty gate */
    rollout_state g = samples[2].s; /* the canary gate has an approval: one gate written */
    layout(&g, &b);
    /* skip format, status, fingerprint, then nine varints: revision, started,
     * updated, phase, step, gate, paused_from, last_verdict, n_pauses (0) */
    size_t at = 1 + 1 + 8;
    for (int k = 0; k < 9; k++)
        while (b.b[at++] & 0x80)
            ;
    cr_assert_eq(b.b[at], 1, "one gate written");
    size_t gate_rec = at + 1, end = gate_rec;
    for (int k = 0; k < 4; k++) /* go_at, no_go_at, approvals, override */
        while (b.b[end++] & 0x80)
            ;
    size_t rec_len = end - gate_rec;
    bytes o2 = {.n = 0};
    memcpy(o2.b, b.b, at);
    o2.n = at;
    o2.b[o2.n++] = 2;
    memcpy(o2.b + o2.n, b.b + gate_rec, rec_len);
    o2.n += rec_len;
    static const uint8_t empty_gate[] = {0x00, 0x00, 0x00, 0x01}; /* 0, 0, 0, -1 */
    memcpy(o2.b + o2.n, empty_gate, 4);
    o2.n += 4;
    memcpy(o2.b + o2.n, b.b + gate_rec + rec_len, b.n - gate_rec - rec_len);
    o2.n += b.n - gate_rec - rec_len;
    craft(&o2, text);
    cr_assert_eq(rollout_state_decode(NULL, text, strlen(text), &out, NULL), ROLLOUT_ERR_STATE);
}

Test(state_codec, impossible_states_are_rejected_even_with_a_good_checksum)
{
    struct {
        const char *what;
        int field;
        int64_t value;
    } cases[] = {
        {"unknown status", 0, ROLLOUT_STATUS_COUNT},
        {"paused without a pause", 0, ROLLOUT_STATUS_PAUSED},
        {"phase beyond the plan", 1, 3},
        {"step beyond the phase", 2, 1}, /* canary has one step */
        {"gate beyond the plan", 3, 5},
        {"unknown verdict", 4, 9},
        {"unknown rollback reason", 5, ROLLOUT_ROLLBACK_COUNT},
        {"negative counter", 6, -3},
        {"role beyond the plan", 7, 1 << 12},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rollout_state s = samples[2].s; /* canary gate, one approval */
        switch (cases[i].field) {
        case 0: s.status = (int32_t)cases[i].value; break;
        case 1: s.phase = (int32_t)cases[i].value; break;
        case 2: s.step = (int32_t)cases[i].value; break;
        case 3: s.gate = (int32_t)cases[i].value; break;
        case 4: s.last_verdict = (int32_t)cases[i].value; break;
        case 5: s.rollback_reason = (int32_t)cases[i].value; break;
        case 6: s.consecutive_failures = (int32_t)cases[i].value; break;
        case 7: s.gate_approvals[0] = (uint32_t)cases[i].value; break;
        }
        char text[ROLLOUT_STATE_TEXT_MAX];
        size_t len = rollout_state_encode(&s, text, sizeof text);
        cr_assert(len > 0);
        rollout_state out;
        memset(&out, 0x33, sizeof out);
        rollout_state untouched = out;
        rollout_error err;
        cr_assert_eq(rollout_state_decode(plan, text, len, &out, &err), ROLLOUT_ERR_STATE, "%s",
                     cases[i].what);
        cr_assert(memcmp(&out, &untouched, sizeof out) == 0);
    }
}

Test(state_codec, decoded_states_drive_the_machine)
{
    /* a state that went through text goes on exactly like the original */
    for (int i = 0; i < n_samples; i++) {
        char text[ROLLOUT_STATE_TEXT_MAX];
        size_t len = encode(&samples[i].s, text);
        rollout_state back;
        cr_assert_eq(rollout_state_decode(plan, text, len, &back, NULL), ROLLOUT_OK);
        rollout_event tick = ev(ROLLOUT_EVENT_TICK);
        rollout_state a, b;
        rollout_action x[ROLLOUT_MAX_ACTIONS], y[ROLLOUT_MAX_ACTIONS];
        size_t nx = ROLLOUT_MAX_ACTIONS, ny = ROLLOUT_MAX_ACTIONS;
        int64_t at = samples[i].s.updated_at + 30 * D;
        if (at < T0)
            at = T0;
        cr_assert_eq(rollout_apply(plan, &samples[i].s, &tick, at, &a, x, &nx, NULL),
                     rollout_apply(plan, &back, &tick, at, &b, y, &ny, NULL));
        cr_assert_eq(nx, ny);
        cr_assert(memcmp(&a, &b, sizeof a) == 0);
    }
}
