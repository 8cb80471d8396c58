/* SPDX-License-Identifier: MIT */
/*
 * state_codec.c — a state as one short line of text, and back.
 *
 *   "rs2." base64url( fields as LEB128 varints (signed ones zigzagged)
 *                     || XXH3-64 of those bytes, little-endian )
 *
 * Format 2 appends attempts, promotes and the audit trail to format 1's
 * fields; "rs1." text still decodes (a first attempt, no trail).
 *
 * Varints keep the usual state short (zeros cost a byte; per-gate data is
 * written only up to the last gate that has any). The checksum covers every
 * byte, so a truncated or altered string is rejected rather than half-read,
 * and the decoder writes the caller's state only after every check passed.
 */
#include "plan.h"

#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define PREFIX "rs2."
#define PREFIX_V1 "rs1."
#define PREFIX_LEN 4
/* above the longest state: every field at its widest varint, full rings */
#define MAX_PAYLOAD 3072

typedef struct wbuf {
    uint8_t b[MAX_PAYLOAD];
    size_t n;
} wbuf;

static void put_u(wbuf *w, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        w->b[w->n++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static void put_s(wbuf *w, int64_t v)
{
    put_u(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

typedef struct rbuf {
    const uint8_t *b;
    size_t n, i;
    bool bad;
} rbuf;

static uint64_t get_u(rbuf *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->i >= r->n) {
            r->bad = true;
            return 0;
        }
        uint8_t byte = r->b[r->i++];
        /* the tenth byte holds the 64th bit and nothing more */
        if (shift == 63 && byte > 1) {
            r->bad = true;
            return 0;
        }
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t get_s(rbuf *r)
{
    uint64_t u = get_u(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static int32_t get_i32(rbuf *r)
{
    int64_t v = get_s(r);
    if (v < INT32_MIN || v > INT32_MAX)
        r->bad = true;
    return (int32_t)v;
}

static uint32_t get_u32(rbuf *r)
{
    uint64_t v = get_u(r);
    if (v > UINT32_MAX)
        r->bad = true;
    return (uint32_t)v;
}

/* ---- consistency ---------------------------------------------------------- */

/* Shared with machine.c, which checks every state it is given. */
const char *rp_state_check(const rollout_plan *plan, const rollout_state *s);

/* Whether every time s records lies in ROLLOUT_TIME_MIN..MAX: a time beyond
 * would be compared with "never" (INT64_MAX) or overflow a formatter. Pause
 * slots past n_pauses are not part of the state. */
static bool times_in_range(const rollout_state *s)
{
    bool ok = RP_TIME_OK(s->started_at) && RP_TIME_OK(s->updated_at) &&
              RP_TIME_OK(s->rollback_started_at);
    for (int i = 0; i < s->n_pauses; i++)
        ok = ok && RP_TIME_OK(s->pause_from[i]) && RP_TIME_OK(s->pause_to[i]);
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        ok = ok && RP_TIME_OK(s->gate_go_at[g]) && RP_TIME_OK(s->gate_no_go_at[g]);
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++)
        ok = ok && RP_TIME_OK(s->status_since[i]);
    ok = ok && RP_TIME_OK(s->attempt_at);
    for (int k = 0; k < s->n_promotes && k < ROLLOUT_MAX_PROMOTES; k++)
        ok = ok && RP_TIME_OK(s->promote_at[k]);
    for (int k = 0; k < ROLLOUT_TRAIL_MAX; k++)
        ok = ok && RP_TIME_OK(s->trail[k].at);
    return ok;
}

/* Records the ring holds. */
static uint32_t trail_held(const rollout_state *s)
{
    return s->trail_total < ROLLOUT_TRAIL_MAX ? s->trail_total : ROLLOUT_TRAIL_MAX;
}

/* The j-th oldest record the ring holds. */
static const rollout_trail_record *trail_at(const rollout_state *s, uint32_t j)
{
    return &s->trail[(s->trail_total - trail_held(s) + j) % ROLLOUT_TRAIL_MAX];
}

static const char *attempts_check(const rollout_plan *plan, const rollout_state *s)
{
    if (s->attempt < 1)
        return "attempt number below 1";
    if ((s->attempt == 1) != (s->attempt_at == 0) ||
        (s->attempt == 1) != (s->attempt_step == -1 && s->attempt_gate == -1))
        return "attempt fields do not agree";
    if (s->attempt_step < -1 || s->attempt_step >= ROLLOUT_MAX_STEPS || s->attempt_gate < -1 ||
        s->attempt_gate > ROLLOUT_MAX_GATES)
        return "attempt step or gate out of range";
    if (s->n_promotes < 0 || s->n_promotes > ROLLOUT_MAX_PROMOTES)
        return "promote count out of range";
    for (int k = 0; k < s->n_promotes; k++)
        if (s->promote_to[k] < 0 || s->promote_to[k] >= ROLLOUT_MAX_STEPS ||
            (plan && s->promote_to[k] >= plan->n_steps))
            return "a promote names a step out of range";
    if (plan && (s->attempt_step >= plan->n_steps || s->attempt_gate > plan->n_gates))
        return "the attempt names a step or gate the plan does not have";
    for (uint32_t j = 0; j < trail_held(s); j++) {
        const rollout_trail_record *r = trail_at(s, j);
        if (r->kind < 0 || r->kind >= ROLLOUT_TRAIL_COUNT)
            return "unknown trail record kind";
        if (r->role < -1 || r->role >= (plan ? plan->n_roles : ROLLOUT_MAX_ROLES) ||
            r->gate < -1 || r->gate >= (plan ? plan->n_gates : ROLLOUT_MAX_GATES))
            return "a trail record names a role or gate out of range";
        /* the machine records who approved or overrode, and the gate of
         * every decision; readers index by them */
        bool on_gate = r->kind == ROLLOUT_TRAIL_APPROVE || r->kind == ROLLOUT_TRAIL_OVERRIDE ||
                       r->kind == ROLLOUT_TRAIL_GO || r->kind == ROLLOUT_TRAIL_NO_GO;
        if ((on_gate && r->gate < 0) ||
            ((r->kind == ROLLOUT_TRAIL_APPROVE || r->kind == ROLLOUT_TRAIL_OVERRIDE) && r->role < 0))
            return "a trail record of a gate decision without its gate or role";
        if (r->attempt < 1 || r->attempt > s->attempt)
            return "a trail record of an attempt that did not happen";
        if (!memchr(r->reason, 0, sizeof r->reason))
            return "a trail reason without its end";
    }
    return NULL;
}

/* NULL when s is a state the machine can work on (and, when plan is not
 * NULL, one that fits plan), else why not. The checksum keeps accidents out;
 * this keeps out states that are well formed but impossible, whoever made
 * them, so no index taken from a state ever leaves its array. */
const char *rp_state_check(const rollout_plan *plan, const rollout_state *s)
{
    if (s->format != ROLLOUT_STATE_FORMAT)
        return "unknown format";
    if (s->status < 0 || s->status >= ROLLOUT_STATUS_COUNT)
        return "unknown status";
    if (s->n_pauses < 0 || s->n_pauses > ROLLOUT_MAX_PAUSES)
        return "pause count out of range";
    bool open = s->n_pauses > 0 && s->pause_to[s->n_pauses - 1] == 0;
    if ((s->status == ROLLOUT_STATUS_PAUSED) != open)
        return "the pause record does not match the status";
    if (s->status == ROLLOUT_STATUS_PAUSED && s->paused_from != ROLLOUT_STATUS_RUNNING &&
        s->paused_from != ROLLOUT_STATUS_AWAITING_GATE && s->paused_from != ROLLOUT_STATUS_BAKING)
        return "a pause from a status that cannot be paused";
    if (s->paused_from < -1 || s->paused_from >= ROLLOUT_STATUS_COUNT)
        return "unknown status before the pause";
    if (s->last_verdict < -1 || s->last_verdict > ROLLOUT_VERDICT_ROLLBACK)
        return "unknown verdict";
    if (s->rollback_reason < -1 || s->rollback_reason >= ROLLOUT_ROLLBACK_COUNT)
        return "unknown rollback reason";
    if (s->consecutive_failures < 0 || s->consecutive_inconclusive < 0)
        return "negative counter";
    if (s->phase < -1 || s->step < -1 || (s->phase < 0) != (s->step < 0))
        return "phase or step out of range";
    if (s->gate < -1 || s->gate >= ROLLOUT_MAX_GATES)
        return "gate out of range";
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        if (s->gate_override_role[g] < -1 || s->gate_override_role[g] >= ROLLOUT_MAX_ROLES)
            return "override role out of range";
    if (!times_in_range(s))
        return "a time outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z";
    if (!plan)
        return attempts_check(NULL, s);
    if (s->phase >= plan->n_phases || (s->phase >= 0 && s->step >= plan->phases[s->phase].n_steps))
        return "it refers to a phase or step the plan does not have";
    if (s->gate >= plan->n_gates)
        return "it refers to a gate the plan does not have";
    uint32_t roles = plan->n_roles >= 32 ? ~0u : (1u << plan->n_roles) - 1;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++) {
        if (g >= plan->n_gates && (s->gate_go_at[g] || s->gate_no_go_at[g] ||
                                   s->gate_approvals[g] || s->gate_override_role[g] != -1))
            return "it records a decision on a gate the plan does not have";
        if ((s->gate_approvals[g] & ~roles) || s->gate_override_role[g] >= plan->n_roles)
            return "it records a role the plan does not have";
    }
    if (s->status == ROLLOUT_STATUS_ROLLING_BACK) {
        /* a rollback under way waits for one of the procedure's steps;
         * confirm, the retry refusal and the live view read that step */
        size_t k = 0;
        while (k < plan->rollback.n_steps && (s->rollback_done & (1u << k)))
            k++;
        if (k >= plan->rollback.n_steps)
            return "rolling back, but every procedure step is done";
    }
    return attempts_check(plan, s);
}

int rp_state_usable(const rollout_plan *plan, const rollout_state *s, rollout_error *err)
{
    const char *why = rp_state_check(NULL, s);
    if (why)
        return rp_error_set(err, ROLLOUT_ERR_STATE, NULL, 0, 0, NULL,
                            "the state was not made by rollout_state_init: %s", why);
    if (s->plan_fingerprint != plan->fingerprint)
        return rp_error_set(err, ROLLOUT_ERR_STATE_PLAN, NULL, 0, 0, NULL,
                            "the state belongs to another plan (fingerprint %016llx, plan %016llx)",
                            (unsigned long long)s->plan_fingerprint,
                            (unsigned long long)plan->fingerprint);
    if ((why = rp_state_check(plan, s)))
        return rp_error_set(err, ROLLOUT_ERR_STATE, NULL, 0, 0, NULL,
                            "the state does not fit the plan: %s", why);
    return ROLLOUT_OK;
}

/* The orders of time every state the machine makes keeps, or why s breaks
 * one. rollout_apply refuses a `now` at or before the epoch and before the
 * state's last transition, and stamps every time it records with that now,
 * so: no time is negative or after updated_at; a rollout is started (at
 * started_at) before it pauses or decides a gate; pauses follow one another
 * and only the last may be under way; gates get their GO in plan order (a
 * GO only goes to the first gate without one), and a NO-GO only to the first
 * gate without a GO; a rollback starts after all of that and nothing
 * follows it but confirmations; the current status was the last entered.
 * Only the decoder applies these: a state built by hand in memory (a tool's
 * "what if it had started at T") need not keep them. */
static const char *time_order(const rollout_state *s)
{
    const int64_t start = s->started_at, last = s->updated_at, rb = s->rollback_started_at;
    const bool rolled_back =
        s->status == ROLLOUT_STATUS_ROLLING_BACK || s->status == ROLLOUT_STATUS_ROLLED_BACK;
    int64_t latest = start; /* the latest pause or gate time seen */
    if (start < 0 || last < 0 || rb < 0)
        return "a time before 1970-01-01T00:00:00Z (the state machine records none)";
    if (last < start)
        return "updated_at is before started_at";
    if (start == 0 && s->status != ROLLOUT_STATUS_NOT_STARTED && !rolled_back)
        return "a rollout that is under way has no start time (started_at 0)";
    if (start != 0 && s->status == ROLLOUT_STATUS_NOT_STARTED)
        return "a rollout that has not started records a start time";
    for (int i = 0; i < s->n_pauses; i++) {
        int64_t from = s->pause_from[i], to = s->pause_to[i];
        if (start == 0 || from < latest)
            return "a pause begins before the rollout started or before the previous pause "
                   "ended";
        if (to == 0 && i + 1 < s->n_pauses)
            return "a pause other than the last never ended";
        if (to != 0 && to < from)
            return "a pause ends before it begins";
        if (from > last || to > last)
            return "a pause is after updated_at";
        latest = to ? to : from;
    }
    int64_t prev_go = start;
    bool open_seen = false; /* a gate without a GO came before */
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++) {
        int64_t go = s->gate_go_at[g], no_go = s->gate_no_go_at[g];
        if (go) {
            if (open_seen)
                return "a gate has its GO while an earlier gate has none";
            if (start == 0 || go < prev_go)
                return "a gate's GO is before the rollout started or before the previous "
                       "gate's GO";
            if (no_go)
                return "a gate records both its GO and a later NO-GO";
            prev_go = go;
        } else if (no_go) {
            if (open_seen)
                return "a NO-GO on a gate behind the first gate without a GO";
            if (start == 0 || no_go < prev_go)
                return "a NO-GO is before the rollout started or before the previous gate's GO";
        }
        if (!go)
            open_seen = true;
        if (go > last || no_go > last)
            return "a gate decision is after updated_at";
        if (go > latest)
            latest = go;
        if (no_go > latest)
            latest = no_go;
    }
    if ((rb != 0) != rolled_back)
        return rb ? "rollback_started_at set on a rollout that is not rolling back"
                  : "a rollback without rollback_started_at";
    if (rb && (rb < latest || rb > last))
        return "rollback_started_at is before a pause, a gate decision or the start, or after "
               "updated_at";
    if (s->attempt_at && (s->attempt_at < start || s->attempt_at > last))
        return "the attempt started before the rollout or after updated_at";
    for (int k = 0; k < s->n_promotes; k++)
        if (s->promote_at[k] < start || s->promote_at[k] > last ||
            (k && s->promote_at[k] < s->promote_at[k - 1]))
            return "a promote before the start, out of order or after updated_at";
    int64_t prev_rec = 0;
    for (uint32_t j = 0; j < trail_held(s); j++) {
        const rollout_trail_record *r = trail_at(s, j);
        if (r->at <= 0 || r->at < prev_rec || r->at > last)
            return "trail records out of time order or after updated_at";
        prev_rec = r->at;
    }
    int64_t entered = s->status_since[s->status];
    if (s->status != ROLLOUT_STATUS_NOT_STARTED && (entered == 0 || entered < start))
        return "the current status has no entry time, or one before started_at";
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++) {
        if (s->status_since[i] < 0 || s->status_since[i] > last)
            return "a status entered before 1970 or after updated_at";
        if (s->status_since[i] > entered)
            return "a status entered after the current status was";
    }
    return NULL;
}

/* ---- text ------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int gates_used(const rollout_state *s)
{
    int used = 0;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        if (s->gate_go_at[g] || s->gate_no_go_at[g] || s->gate_approvals[g] ||
            s->gate_override_role[g] != -1)
            used = g + 1;
    return used;
}

/* Writes s in format version (1 or 2) into buf; see rollout_state_encode. */
static size_t encode(const rollout_state *s, unsigned version, char *buf, size_t cap)
{
    if (!s || !buf || s->n_pauses < 0 || s->n_pauses > ROLLOUT_MAX_PAUSES ||
        s->n_promotes < 0 || s->n_promotes > ROLLOUT_MAX_PROMOTES)
        return 0;
    wbuf w;
    w.n = 0;
    put_u(&w, version);
    put_s(&w, s->status);
    for (int i = 0; i < 8; i++)
        w.b[w.n++] = (uint8_t)(s->plan_fingerprint >> (8 * i));
    put_u(&w, s->revision);
    put_s(&w, s->started_at);
    put_s(&w, s->updated_at);
    put_s(&w, s->phase);
    put_s(&w, s->step);
    put_s(&w, s->gate);
    put_s(&w, s->paused_from);
    put_s(&w, s->last_verdict);
    put_u(&w, (uint64_t)s->n_pauses);
    for (int i = 0; i < s->n_pauses; i++) {
        put_s(&w, s->pause_from[i]);
        put_s(&w, s->pause_to[i]);
    }
    int used = gates_used(s);
    put_u(&w, (uint64_t)used);
    for (int g = 0; g < used; g++) {
        put_s(&w, s->gate_go_at[g]);
        put_s(&w, s->gate_no_go_at[g]);
        put_u(&w, s->gate_approvals[g]);
        put_s(&w, s->gate_override_role[g]);
    }
    put_s(&w, s->consecutive_failures);
    put_s(&w, s->consecutive_inconclusive);
    put_s(&w, s->rollback_reason);
    put_u(&w, s->rollback_done);
    put_s(&w, s->rollback_started_at);
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++)
        put_s(&w, s->status_since[i]);
    if (version >= 2) {
        put_s(&w, s->attempt);
        put_s(&w, s->attempt_step);
        put_s(&w, s->attempt_gate);
        put_s(&w, s->attempt_at);
        put_u(&w, (uint64_t)s->n_promotes);
        for (int k = 0; k < s->n_promotes; k++) {
            put_s(&w, s->promote_to[k]);
            put_s(&w, s->promote_at[k]);
        }
        put_u(&w, s->trail_total);
        for (uint32_t j = 0; j < trail_held(s); j++) {
            const rollout_trail_record *r = trail_at(s, j);
            const char *end = memchr(r->reason, 0, sizeof r->reason - 1);
            size_t len = end ? (size_t)(end - r->reason) : sizeof r->reason - 1;
            put_s(&w, r->at);
            put_s(&w, r->kind);
            put_s(&w, r->role);
            put_s(&w, r->gate);
            put_s(&w, r->attempt);
            put_s(&w, r->detail);
            put_u(&w, r->flags);
            put_u(&w, len);
            memcpy(w.b + w.n, r->reason, len);
            w.n += len;
        }
    }
    uint64_t sum = XXH3_64bits(w.b, w.n);
    for (int i = 0; i < 8; i++)
        w.b[w.n++] = (uint8_t)(sum >> (8 * i));

    size_t len = PREFIX_LEN + (w.n * 4 + 2) / 3;
    if (len + 1 > cap)
        return 0;
    memcpy(buf, version >= 2 ? PREFIX : PREFIX_V1, PREFIX_LEN);
    char *o = buf + PREFIX_LEN;
    size_t i = 0;
    for (; i + 3 <= w.n; i += 3) {
        uint32_t v = (uint32_t)w.b[i] << 16 | (uint32_t)w.b[i + 1] << 8 | w.b[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    if (w.n - i == 1) {
        uint32_t v = (uint32_t)w.b[i] << 16;
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
    } else if (w.n - i == 2) {
        uint32_t v = (uint32_t)w.b[i] << 16 | (uint32_t)w.b[i + 1] << 8;
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
    }
    *o = '\0';
    return (size_t)(o - buf);
}

size_t rollout_state_encode(const rollout_state *s, char *buf, size_t cap)
{
    return encode(s, ROLLOUT_STATE_FORMAT, buf, cap);
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

static int corrupt(rollout_error *err, const char *why)
{
    return rp_error_set(err, ROLLOUT_ERR_STATE, NULL, 0, 0, NULL, "not a valid rollout state: %s",
                        why);
}

int rollout_state_decode(const rollout_plan *plan, const char *text, size_t len,
                         rollout_state *state, rollout_error *err)
{
    if (!text || !state)
        return rp_error_set(err, ROLLOUT_ERR_ARG, NULL, 0, 0, NULL, "text and state are required");
    if (len < PREFIX_LEN || text[0] != 'r' || text[1] != 's')
        return corrupt(err, "it does not start with \"rs2.\"");
    unsigned version = memcmp(text, PREFIX, PREFIX_LEN) == 0      ? 2
                       : memcmp(text, PREFIX_V1, PREFIX_LEN) == 0 ? 1
                                                                  : 0;
    if (!version)
        return rp_error_set(err, ROLLOUT_ERR_UNSUPPORTED, NULL, 0, 0, NULL,
                            "state format \"%.*s\" is not supported (this library reads rs1 "
                            "and rs2)",
                            (int)(len < 8 ? len : 8), text);
    size_t chars = len - PREFIX_LEN;
    if (chars % 4 == 1 || chars > (MAX_PAYLOAD * 4) / 3)
        return corrupt(err, "wrong length");
    uint8_t bytes[MAX_PAYLOAD];
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = PREFIX_LEN; i < len; i++) {
        int v = b64_value(text[i]);
        if (v < 0)
            return corrupt(err, "a character outside base64url");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* leftover bits must be zero, or two texts would decode to one state */
    if (acc & ((1u << bits) - 1))
        return corrupt(err, "stray bits at the end");
    if (n < 9)
        return corrupt(err, "truncated");
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++)
        sum |= (uint64_t)bytes[n - 8 + i] << (8 * i);
    if (XXH3_64bits(bytes, n - 8) != sum)
        return corrupt(err, "checksum mismatch (truncated or altered)");

    rollout_state s;
    memset(&s, 0, sizeof s);
    rbuf r = {bytes, n - 8, 0, false};
    s.format = get_u32(&r);
    if (!r.bad && s.format != version)
        return rp_error_set(err, ROLLOUT_ERR_UNSUPPORTED, NULL, 0, 0, NULL,
                            "state format %u is not supported", s.format);
    /* a format 1 state is read as the first attempt, with no trail */
    s.format = ROLLOUT_STATE_FORMAT;
    s.attempt = 1;
    s.attempt_step = s.attempt_gate = -1;
    s.status = get_i32(&r);
    if (r.i + 8 > r.n)
        return corrupt(err, "truncated");
    for (int i = 0; i < 8; i++)
        s.plan_fingerprint |= (uint64_t)r.b[r.i++] << (8 * i);
    s.revision = get_u(&r);
    s.started_at = get_s(&r);
    s.updated_at = get_s(&r);
    s.phase = get_i32(&r);
    s.step = get_i32(&r);
    s.gate = get_i32(&r);
    s.paused_from = get_i32(&r);
    s.last_verdict = get_i32(&r);
    uint64_t pauses = get_u(&r);
    if (pauses > ROLLOUT_MAX_PAUSES)
        return corrupt(err, "too many pauses");
    s.n_pauses = (int32_t)pauses;
    for (int i = 0; i < s.n_pauses; i++) {
        s.pause_from[i] = get_s(&r);
        s.pause_to[i] = get_s(&r);
    }
    uint64_t used = get_u(&r);
    if (used > ROLLOUT_MAX_GATES)
        return corrupt(err, "too many gates");
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        s.gate_override_role[g] = -1;
    for (uint64_t g = 0; g < used; g++) {
        s.gate_go_at[g] = get_s(&r);
        s.gate_no_go_at[g] = get_s(&r);
        s.gate_approvals[g] = get_u32(&r);
        s.gate_override_role[g] = get_i32(&r);
    }
    s.consecutive_failures = get_i32(&r);
    s.consecutive_inconclusive = get_i32(&r);
    s.rollback_reason = get_i32(&r);
    s.rollback_done = get_u32(&r);
    s.rollback_started_at = get_s(&r);
    for (int i = 0; i < ROLLOUT_STATUS_COUNT; i++)
        s.status_since[i] = get_s(&r);
    if (version >= 2) {
        s.attempt = get_i32(&r);
        s.attempt_step = get_i32(&r);
        s.attempt_gate = get_i32(&r);
        s.attempt_at = get_s(&r);
        uint64_t promotes = get_u(&r);
        if (promotes > ROLLOUT_MAX_PROMOTES)
            return corrupt(err, "too many promotes");
        s.n_promotes = (int32_t)promotes;
        for (int k = 0; k < s.n_promotes; k++) {
            s.promote_to[k] = get_i32(&r);
            s.promote_at[k] = get_s(&r);
        }
        s.trail_total = get_u32(&r);
        for (uint32_t j = 0; j < trail_held(&s) && !r.bad; j++) {
            rollout_trail_record *t = (rollout_trail_record *)trail_at(&s, j);
            t->at = get_s(&r);
            t->kind = get_i32(&r);
            t->role = get_i32(&r);
            t->gate = get_i32(&r);
            t->attempt = get_i32(&r);
            t->detail = get_i32(&r);
            t->flags = get_u32(&r);
            uint64_t n_reason = get_u(&r);
            if (n_reason >= sizeof t->reason || r.i + n_reason > r.n)
                return corrupt(err, n_reason >= sizeof t->reason ? "a trail reason is too long"
                                                                 : "truncated");
            memcpy(t->reason, r.b + r.i, n_reason);
            r.i += n_reason;
            if (memchr(t->reason, 0, n_reason) || !rp_utf8_valid(t->reason, n_reason))
                return corrupt(err, "a trail reason is not UTF-8 text");
        }
    }
    if (r.bad)
        return corrupt(err, "truncated");
    if (r.i != r.n)
        return corrupt(err, "trailing bytes");
    const char *why = rp_state_check(NULL, &s);
    if (!why)
        why = time_order(&s);
    if (why)
        return corrupt(err, why);
    /* one state, one text: a valid checksum over a non-canonical encoding
     * (an overlong varint, an all-zero trailing gate) was not written here */
    char again[ROLLOUT_STATE_TEXT_MAX];
    size_t again_len = encode(&s, version, again, sizeof again);
    if (again_len != len || memcmp(again, text, len) != 0)
        return corrupt(err, "not in canonical form");
    if (plan) {
        if (s.plan_fingerprint != plan->fingerprint)
            return rp_error_set(err, ROLLOUT_ERR_STATE_PLAN, NULL, 0, 0, NULL,
                                "the state belongs to another plan (fingerprint %016llx, this "
                                "plan %016llx)",
                                (unsigned long long)s.plan_fingerprint,
                                (unsigned long long)plan->fingerprint);
        if ((why = rp_state_check(plan, &s)))
            return corrupt(err, why);
    }
    *state = s;
    return ROLLOUT_OK;
}
