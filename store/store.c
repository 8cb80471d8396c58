/* SPDX-License-Identifier: MIT */
/* store.c — what the store component does whatever the backend: signed
 * values, the reader's refusals (fail-static), the compare-and-set apply loop
 * and the watch loop (push, with polling as the fallback). docs/fleet.md is
 * the protocol this implements. */
#define _POSIX_C_SOURCE 200809L

#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIG_PREFIX " hmac-sha256="
#define SIG_PREFIX_LEN (sizeof SIG_PREFIX - 1)

/* ---- errors, names, clock ---- */

static void vfill(rollout_error *err, int code, const char *field, const char *prefix,
                  const char *fmt, va_list ap)
{
    memset(err, 0, sizeof *err);
    err->code = code;
    if (field)
        snprintf(err->field, sizeof err->field, "%s", field);
    size_t off = 0;
    if (prefix) {
        int n = snprintf(err->message, sizeof err->message, "store %s: ", prefix);
        off = n > 0 && (size_t)n < sizeof err->message ? (size_t)n : 0;
    }
    vsnprintf(err->message + off, sizeof err->message - off, fmt, ap);
}

int st_err(const rollout_store *st, rollout_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vfill(err, code, NULL, st ? st->name : NULL, fmt, ap);
    va_end(ap);
    return code;
}

int st_err_plain(rollout_error *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vfill(err, code, field, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int64_t st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void st_redact_url(const char *url, char *out, size_t cap)
{
    if (!cap)
        return;
    const char *sep = strstr(url, "://");
    size_t start = sep ? (size_t)(sep - url) + 3 : 0;
    if (strncmp(url, "unix://", 7) == 0) {
        snprintf(out, cap, "%s", url);
        return;
    }
    /* the last '@' anywhere: a password may hold '/', '?' or '#' that cut
     * the authority short where the parser looks for it */
    const char *at = strrchr(url + start, '@');
    if (!at) {
        snprintf(out, cap, "%s", url);
        return;
    }
    const char *colon = memchr(url + start, ':', (size_t)(at - url - start));
    size_t keep = colon ? (size_t)(colon - url) + 1 : start;
    snprintf(out, cap, "%.*s***%s", (int)keep, url, at);
}

const char *rollout_store_code_name(int code)
{
    switch (code) {
    case ROLLOUT_ERR_STORE: return "ROLLOUT_ERR_STORE";
    case ROLLOUT_ERR_TIMEOUT: return "ROLLOUT_ERR_TIMEOUT";
    case ROLLOUT_ERR_CONFLICT: return "ROLLOUT_ERR_CONFLICT";
    case ROLLOUT_ERR_SIGNATURE: return "ROLLOUT_ERR_SIGNATURE";
    case ROLLOUT_ERR_REPLAY: return "ROLLOUT_ERR_REPLAY";
    case ROLLOUT_STORE_NO_CHANGE: return "ROLLOUT_STORE_NO_CHANGE";
    default: return rollout_code_name(code);
    }
}

/* ---- options, open, close ---- */

void rollout_store_options_init(rollout_store_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->timeout_ms = 500;
    opts->poll_interval_ms = 250;
    opts->max_retries = 100;
}

int rollout_store_open(const char *url, const rollout_store_options *opts,
                       rollout_store **out, rollout_error *err)
{
    if (out)
        *out = NULL;
    if (!url || !out)
        return st_err_plain(err, ROLLOUT_ERR_ARG, NULL, "rollout_store_open: NULL argument");
    rollout_store_options o;
    rollout_store_options_init(&o);
    if (opts)
        o = *opts;
    if (o.timeout_ms < 0 || o.poll_interval_ms < 0 || o.max_retries < 0)
        return st_err_plain(err, ROLLOUT_ERR_ARG, NULL,
                            "timeout_ms, poll_interval_ms and max_retries must not be negative");
    if (o.key && (o.key_len < 16 || o.key_len > ROLLOUT_STORE_KEY_MAX))
        return st_err_plain(err, ROLLOUT_ERR_ARG, "key",
                            "the HMAC key must be 16 to %d bytes, not %zu", ROLLOUT_STORE_KEY_MAX,
                            o.key_len);
    if (o.require_signature && !o.key)
        return st_err_plain(err, ROLLOUT_ERR_ARG, "key",
                            "signatures are required but no HMAC key was given");
    rollout_store *st = calloc(1, sizeof *st);
    if (!st)
        return st_err_plain(err, ROLLOUT_ERR_NOMEM, NULL, "out of memory");
    st->timeout_ms = o.timeout_ms ? o.timeout_ms : 500;
    st->poll_ms = o.poll_interval_ms ? o.poll_interval_ms : 250;
    st->no_subscribe = o.no_subscribe;
    st->max_retries = o.max_retries ? o.max_retries : 100;
    /* distinct per process and handle, so forked operators do not share it */
    st->backoff_seed = (unsigned)getpid() ^ (unsigned)st_now_ms() ^ (unsigned)(uintptr_t)st;
    if (o.key) {
        memcpy(st->key, o.key, o.key_len);
        st->key_len = o.key_len;
    }
    int rc;
    if (strncmp(url, "redis://", 8) == 0 || strncmp(url, "unix://", 7) == 0) {
        rc = st_redis_open(st, url, o.lazy_connect, err);
    } else {
        const char *colon = strstr(url, "://");
        char shown[1024];
        st_redact_url(url, shown, sizeof shown);
        rc = colon ? st_err_plain(err, ROLLOUT_ERR_VALUE, "url",
                                  "store URL \"%s\": unknown scheme \"%.*s\" (expected redis:// "
                                  "or unix://)", shown, (int)(colon - url), url)
                   : st_err_plain(err, ROLLOUT_ERR_VALUE, "url",
                                  "store URL \"%s\": no scheme (expected redis://host:port or "
                                  "unix:///path)", shown);
    }
    if (rc) {
        rollout_store_close(st);
        return rc;
    }
    *out = st;
    return ROLLOUT_OK;
}

void rollout_store_close(rollout_store *st)
{
    if (!st)
        return;
    if (st->be)
        st->be->close(st);
    for (size_t i = 0; i < st->n_seen; i++)
        free(st->seen[i].plan_id);
    free(st->seen);
    OPENSSL_cleanse(st->key, sizeof st->key);
    free(st);
}

const char *rollout_store_name(const rollout_store *st)
{
    return st ? st->name : "";
}

int rollout_store_read_key_file(const char *path, unsigned char *key, size_t cap,
                                size_t *len, rollout_error *err)
{
    if (!path || !key || !len)
        return st_err_plain(err, ROLLOUT_ERR_ARG, NULL,
                            "rollout_store_read_key_file: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f)
        return st_err_plain(err, ROLLOUT_ERR_IO, "key", "%s: cannot open the key file: %s",
                            path, strerror(errno));
    unsigned char buf[ROLLOUT_STORE_KEY_MAX + 3];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        OPENSSL_cleanse(buf, sizeof buf);
        return st_err_plain(err, ROLLOUT_ERR_IO, "key", "%s: cannot read the key file", path);
    }
    if (n && buf[n - 1] == '\n') {
        n--;
        if (n && buf[n - 1] == '\r')
            n--;
    }
    size_t max = cap < ROLLOUT_STORE_KEY_MAX ? cap : ROLLOUT_STORE_KEY_MAX;
    int rc = ROLLOUT_OK;
    if (n < 16)
        rc = st_err_plain(err, ROLLOUT_ERR_VALUE, "key",
                          "%s: the key has %zu bytes; an HMAC key needs at least 16", path, n);
    else if (n > max)
        rc = st_err_plain(err, ROLLOUT_ERR_VALUE, "key",
                          "%s: the key is longer than %zu bytes", path, max);
    else {
        memcpy(key, buf, n);
        *len = n;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* ---- the replay memory ---- */

static store_seen *seen_for(rollout_store *st, const char *plan_id)
{
    for (size_t i = 0; i < st->n_seen; i++)
        if (strcmp(st->seen[i].plan_id, plan_id) == 0)
            return &st->seen[i];
    store_seen *grown = realloc(st->seen, (st->n_seen + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    st->seen = grown;
    store_seen *s = &st->seen[st->n_seen];
    memset(s, 0, sizeof *s);
    s->plan_id = strdup(plan_id);
    if (!s->plan_id)
        return NULL;
    st->n_seen++;
    return s;
}

static void seen_good(rollout_store *st, const char *plan_id, const rollout_state *state)
{
    store_seen *s = seen_for(st, plan_id);
    if (s && (!s->have_rev || state->revision >= s->rev)) {
        s->rev = state->revision;
        s->have_rev = 1;
        s->good = *state;
        s->have_good = 1;
    }
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ? h : 1;
}

int rollout_store_hold(rollout_store *st, const rollout_plan *plan, const rollout_state *state,
                       rollout_error *err)
{
    if (!st || !plan || !state)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL store, plan or state");
    if (state->plan_fingerprint != rollout_plan_fingerprint(plan))
        return st_err(st, err, ROLLOUT_ERR_STATE_PLAN,
                      "rollout \"%s\": the state held was made for another version of the plan",
                      rollout_plan_id(plan));
    store_seen *s = seen_for(st, rollout_plan_id(plan));
    if (!s)
        return st_err(st, err, ROLLOUT_ERR_NOMEM, "out of memory");
    s->rev = state->revision;
    s->have_rev = 1;
    s->good = *state;
    s->have_good = 1;
    s->refused_hash = s->refused_rev = 0;
    return ROLLOUT_OK;
}

/* ---- signing and checking values ---- */

static int sign(const rollout_store *st, const char *plan_id, uint64_t rev, const char *line,
                size_t len, char hex[65])
{
    char keyname[STORE_KEYNAME_MAX];
    if (st->be->key_name(plan_id, keyname, sizeof keyname))
        return -1;
    /* "<key name>\n<rev>\n<state line>": the name binds a value to its
     * rollout, the revision to its place in the history. */
    size_t kn = strlen(keyname);
    char head[STORE_KEYNAME_MAX + 32];
    int hn = snprintf(head, sizeof head, "%s\n%" PRIu64 "\n", keyname, rev);
    if (hn < 0 || (size_t)hn >= sizeof head || kn + 22 >= sizeof head)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char msg[STORE_KEYNAME_MAX + 32 + STORE_VALUE_MAX];
    if ((size_t)hn + len > sizeof msg)
        return -1;
    memcpy(msg, head, (size_t)hn);
    memcpy(msg + hn, line, len);
    if (!HMAC(EVP_sha256(), st->key, (int)st->key_len, msg, (size_t)hn + len, md, &mdlen) ||
        mdlen != 32)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

/* The value to store for state: the state line, signed when a key is held. */
static int make_value(rollout_store *st, const rollout_plan *plan, const rollout_state *state,
                      char *value, size_t cap, rollout_error *err)
{
    size_t n = rollout_state_encode(state, value, cap);
    if (!n)
        return st_err(st, err, ROLLOUT_ERR_BUFFER, "the encoded state does not fit");
    if (st->key_len) {
        char hex[65];
        if (n + SIG_PREFIX_LEN + 65 > cap ||
            sign(st, rollout_plan_id(plan), state->revision, value, n, hex))
            return st_err(st, err, ROLLOUT_ERR_STORE, "cannot sign the state (HMAC-SHA-256)");
        memcpy(value + n, SIG_PREFIX, SIG_PREFIX_LEN);
        memcpy(value + n + SIG_PREFIX_LEN, hex, 65);
    }
    return ROLLOUT_OK;
}

/* Checks a value read (rev_field from the hash, or NULL for a pushed value)
 * and decodes it for plan into *out. Every refusal leaves *out untouched. */
static int check_value(rollout_store *st, const rollout_plan *plan, const char *rev_field,
                       const char *value, rollout_state *out, rollout_error *err)
{
    const char *id = rollout_plan_id(plan);
    size_t len = strlen(value);
    const char *sig = strstr(value, SIG_PREFIX);
    size_t line_len = sig ? (size_t)(sig - value) : len;
    if (sig) {
        const char *hex = sig + SIG_PREFIX_LEN;
        size_t hl = strlen(hex);
        int ok = hl == 64;
        for (size_t i = 0; ok && i < 64; i++)
            ok = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
        if (!ok)
            return st_err(st, err, ROLLOUT_ERR_SIGNATURE,
                          "rollout \"%s\": the value's signature is malformed (expected "
                          "hmac-sha256= and 64 lowercase hex digits); state refused", id);
    }
    rollout_state any;
    rollout_error derr;
    int rc = rollout_state_decode(NULL, value, line_len, &any, &derr);
    if (rc)
        return st_err(st, err, rc,
                      "rollout \"%s\": the stored value is not a state (%s); state refused",
                      id, derr.message);
    if (st->key_len) {
        if (!sig)
            return st_err(st, err, ROLLOUT_ERR_SIGNATURE,
                          "rollout \"%s\": revision %" PRIu64 " is unsigned and this reader "
                          "holds a key; state refused", id, any.revision);
        char want[65];
        if (sign(st, id, any.revision, value, line_len, want))
            return st_err(st, err, ROLLOUT_ERR_STORE, "cannot compute HMAC-SHA-256");
        if (CRYPTO_memcmp(want, sig + SIG_PREFIX_LEN, 64) != 0)
            return st_err(st, err, ROLLOUT_ERR_SIGNATURE,
                          "rollout \"%s\": the signature of revision %" PRIu64 " does not "
                          "match (forged, or signed with another key); state refused", id,
                          any.revision);
    }
    if (rev_field) {
        char want[32];
        snprintf(want, sizeof want, "%" PRIu64, any.revision);
        if (strcmp(rev_field, want) != 0)
            return st_err(st, err, ROLLOUT_ERR_STATE,
                          "rollout \"%s\": the rev field (%s) disagrees with the state's "
                          "revision (%s); state refused", id, rev_field, want);
    }
    rollout_state s;
    rc = rollout_state_decode(plan, value, line_len, &s, &derr);
    if (rc)
        return st_err(st, err, rc, "rollout \"%s\": revision %" PRIu64 ": %s; state refused", id,
                      any.revision, derr.message);
    store_seen *seen = seen_for(st, id);
    if (!seen)
        return st_err(st, err, ROLLOUT_ERR_NOMEM, "out of memory");
    /* A pushed value older than one already read is a message that was in
     * flight while the poll read its successor: not news, not a replay. */
    if (seen->have_rev && s.revision < seen->rev && !rev_field)
        return ROLLOUT_STORE_NO_CHANGE;
    if (seen->have_rev && s.revision < seen->rev)
        return st_err(st, err, ROLLOUT_ERR_REPLAY,
                      "rollout \"%s\": revision %" PRIu64 " is older than revision %" PRIu64
                      " already seen (a replayed or restored state); state refused", id,
                      s.revision, seen->rev);
    /* The revision alone does not tell histories apart: a store restored
     * from a backup and written on reaches the revisions this handle saw
     * with other states, which may have undone a rollback. */
    if (seen->have_good && !rollout_state_follows(&seen->good, &s))
        return st_err(st, err, ROLLOUT_ERR_REPLAY,
                      "rollout \"%s\": revision %" PRIu64 " (%s) does not follow revision %"
                      PRIu64 " (%s) already seen: it was written on another history (a store "
                      "restored from a backup and written on since); state refused until the "
                      "last good value is written back", id, s.revision,
                      rollout_status_name(s.status), seen->good.revision,
                      rollout_status_name(seen->good.status));
    seen->rev = s.revision;
    seen->have_rev = 1;
    seen->good = s;
    seen->have_good = 1;
    *out = s;
    return ROLLOUT_OK;
}

static int plan_ok(rollout_store *st, const rollout_plan *plan, rollout_error *err)
{
    if (!st || !plan)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL store or plan");
    return st->be->connect(st, err);
}

/* Reads and checks the stored state: ROLLOUT_ERR_NOT_FOUND when none. */
static int read_state(rollout_store *st, const rollout_plan *plan, rollout_state *out,
                      char *value, rollout_error *err)
{
    char rev[32];
    int present = 0;
    int rc = st->be->read(st, rollout_plan_id(plan), &present, rev, sizeof rev, value,
                          STORE_VALUE_MAX, err);
    if (rc)
        return rc;
    if (!present)
        return st_err(st, err, ROLLOUT_ERR_NOT_FOUND,
                      "no state stored for rollout \"%s\" (run `rollout state init`)",
                      rollout_plan_id(plan));
    return check_value(st, plan, rev, value, out, err);
}

/* ---- the operations ---- */

int rollout_store_load(rollout_store *st, const rollout_plan *plan, rollout_state *state,
                       rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc)
        return rc;
    if (!state)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL state");
    char value[STORE_VALUE_MAX];
    return read_state(st, plan, state, value, err);
}

int rollout_store_load_url(const char *url, const rollout_store_options *opts,
                           const rollout_plan *plan, rollout_state *state, rollout_error *err)
{
    rollout_store *st;
    int rc = rollout_store_open(url, opts, &st, err);
    if (rc)
        return rc;
    rc = rollout_store_load(st, plan, state, err);
    rollout_store_close(st);
    return rc;
}

static int write_cas_outbox(rollout_store *st, const rollout_plan *plan, const char *expected,
                            const rollout_state *state, const rollout_store_outbox_entry *entries,
                            size_t n_entries, rollout_error *err);

static int write_cas(rollout_store *st, const rollout_plan *plan, const char *expected,
                     const rollout_state *state, rollout_error *err)
{
    return write_cas_outbox(st, plan, expected, state, NULL, 0, err);
}

static int write_cas_outbox(rollout_store *st, const rollout_plan *plan, const char *expected,
                            const rollout_state *state, const rollout_store_outbox_entry *entries,
                            size_t n_entries, rollout_error *err)
{
    if (state->plan_fingerprint != rollout_plan_fingerprint(plan))
        return st_err(st, err, ROLLOUT_ERR_STATE_PLAN,
                      "rollout \"%s\": the state was made for another version of the plan",
                      rollout_plan_id(plan));
    char value[STORE_VALUE_MAX], current[32];
    int rc = make_value(st, plan, state, value, sizeof value, err);
    if (rc)
        return rc;
    rc = n_entries ? st->be->cas_outbox(st, rollout_plan_id(plan), expected, state->revision,
                                        value, entries, n_entries, current, sizeof current, err)
                   : st->be->cas(st, rollout_plan_id(plan), expected, state->revision, value,
                                 current, sizeof current, err);
    if (rc == ROLLOUT_OK)
        seen_good(st, rollout_plan_id(plan), state);
    return rc;
}

int rollout_store_create(rollout_store *st, const rollout_plan *plan,
                         const rollout_state *state, rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc)
        return rc;
    if (!state)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL state");
    return write_cas(st, plan, NULL, state, err);
}

int rollout_store_put(rollout_store *st, const rollout_plan *plan, uint64_t expected,
                      const rollout_state *state, rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc)
        return rc;
    if (!state)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL state");
    if (state->revision <= expected)
        return st_err(st, err, ROLLOUT_ERR_ARG,
                      "revisions only go up: the new state has revision %" PRIu64
                      ", not above %" PRIu64, state->revision, expected);
    char exp[32];
    snprintf(exp, sizeof exp, "%" PRIu64, expected);
    return write_cas(st, plan, exp, state, err);
}

static void backoff(rollout_store *st, int attempt)
{
    /* Spread the retries of writers that lost the same race, so they do not
     * collide again in lockstep: 0.1 ms to ~3 ms, random. */
    long max_us = 100L << (attempt < 5 ? attempt : 5);
    struct timespec ts = {0, (long)(100 + (unsigned long)rand_r(&st->backoff_seed) % (unsigned long)max_us) * 1000};
    nanosleep(&ts, NULL);
}

int rollout_store_apply(rollout_store *st, const rollout_plan *plan,
                        const rollout_event *event, int64_t now, rollout_state *next,
                        rollout_action *actions, size_t *n_actions, rollout_error *err)
{
    return rollout_store_apply_outbox(st, plan, event, now, next, actions, n_actions, NULL,
                                      NULL, err);
}

int rollout_store_apply_outbox(rollout_store *st, const rollout_plan *plan,
                               const rollout_event *event, int64_t now, rollout_state *next,
                               rollout_action *actions, size_t *n_actions,
                               rollout_store_outbox_fn fn, void *ctx, rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc)
        return rc;
    if (!event || !next || !actions || !n_actions)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL argument");
    size_t cap = *n_actions;
    *n_actions = 0;
    for (int attempt = 0; attempt <= st->max_retries; attempt++) {
        if (attempt)
            backoff(st, attempt);
        rollout_state cur, after;
        char value[STORE_VALUE_MAX];
        rc = read_state(st, plan, &cur, value, err);
        if (rc)
            return rc;
        int64_t at = now < cur.updated_at ? cur.updated_at : now;
        size_t n = cap;
        rc = rollout_apply(plan, &cur, event, at, &after, actions, &n, err);
        if (rc)
            return rc;
        if (after.revision == cur.revision) { /* a tick with nothing due */
            *next = cur;
            return ROLLOUT_OK;
        }
        char exp[32];
        snprintf(exp, sizeof exp, "%" PRIu64, cur.revision);
        rollout_store_outbox_entry entries[ROLLOUT_STORE_OUTBOX_MAX];
        size_t n_entries = 0;
        if (fn && (rc = fn(&after, actions, n, entries, ROLLOUT_STORE_OUTBOX_MAX, &n_entries,
                           ctx)))
            return st_err(st, err, rc, "rollout \"%s\": the outbox entries could not be built "
                          "(nothing written)", rollout_plan_id(plan));
        rc = write_cas_outbox(st, plan, exp, &after, entries, n_entries, err);
        if (rc == ROLLOUT_OK) {
            *next = after;
            *n_actions = n;
            return ROLLOUT_OK;
        }
        if (rc != ROLLOUT_ERR_CONFLICT)
            return rc;
    }
    return st_err(st, err, ROLLOUT_ERR_CONFLICT,
                  "rollout \"%s\": the state kept changing; gave up after %d attempts "
                  "(nothing written)", rollout_plan_id(plan), st->max_retries + 1);
}

/* A value that arrived (polled or pushed): ROLLOUT_OK with *state when it is
 * newer than after, ROLLOUT_STORE_NO_CHANGE when it is not, or its refusal
 * the first time a bad value is seen. */
static int consider(rollout_store *st, const rollout_plan *plan, const char *rev_field,
                    const char *value, uint64_t after, rollout_state *state, rollout_error *err)
{
    store_seen *seen = seen_for(st, rollout_plan_id(plan));
    if (!seen)
        return st_err(st, err, ROLLOUT_ERR_NOMEM, "out of memory");
    uint64_t h = fnv1a(value, strlen(value));
    uint64_t hr = rev_field ? fnv1a(rev_field, strlen(rev_field)) : 0;
    if (h == seen->refused_hash && (!hr || !seen->refused_rev || hr == seen->refused_rev))
        return ROLLOUT_STORE_NO_CHANGE;
    rollout_state s;
    int rc = check_value(st, plan, rev_field, value, &s, err);
    if (rc) {
        /* Only a verdict on the bytes is remembered: the same value under a
         * corrected rev field is judged again, and a passing failure (out of
         * memory, HMAC unavailable) is reported each time until it passes.
         * A pushed value older than one already read is silently not news
         * (NO_CHANGE), not refused: remembering it as refused would hide it
         * from the poll, which must report a replay written to the hash. */
        seen = seen_for(st, rollout_plan_id(plan));
        if (seen && (rc == ROLLOUT_ERR_SIGNATURE || rc == ROLLOUT_ERR_REPLAY ||
                     rc == ROLLOUT_ERR_STATE || rc == ROLLOUT_ERR_STATE_PLAN ||
                     rc == ROLLOUT_ERR_UNSUPPORTED)) {
            seen->refused_hash = h;
            seen->refused_rev = hr;
        }
        return rc;
    }
    if (s.revision <= after)
        return ROLLOUT_STORE_NO_CHANGE;
    *state = s;
    return ROLLOUT_OK;
}

static int poll_once(rollout_store *st, const rollout_plan *plan, uint64_t after,
                     rollout_state *state, rollout_error *err)
{
    char rev[32], value[STORE_VALUE_MAX];
    int present = 0;
    int rc = st->be->read(st, rollout_plan_id(plan), &present, rev, sizeof rev, value,
                          sizeof value, err);
    if (rc)
        return rc;
    if (!present)
        return ROLLOUT_STORE_NO_CHANGE;
    return consider(st, plan, rev, value, after, state, err);
}

int rollout_store_watch(rollout_store *st, const rollout_plan *plan, uint64_t after,
                        int wait_ms, rollout_state *state, rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc)
        return rc;
    if (!state || wait_ms < 0)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL state or negative wait");
    int64_t deadline = st_now_ms() + wait_ms;
    /* Subscribe before the first read, so a write between the two is seen
     * by one or the other. A failed subscribe leaves the poll. */
    int push = 0;
    if (!st->no_subscribe)
        push = st->be->subscribe(st, rollout_plan_id(plan), NULL) == ROLLOUT_OK;
    for (;;) {
        rc = poll_once(st, plan, after, state, err);
        if (rc != ROLLOUT_STORE_NO_CHANGE)
            return rc;
        int64_t now = st_now_ms();
        if (now >= deadline)
            return ROLLOUT_STORE_NO_CHANGE;
        int64_t next_poll = now + st->poll_ms;
        if (next_poll > deadline)
            next_poll = deadline;
        while ((now = st_now_ms()) < next_poll) {
            if (!push) {
                int64_t ms = next_poll - now;
                struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            char value[STORE_VALUE_MAX];
            rc = st->be->next_push(st, (int)(next_poll - now), value, sizeof value, NULL);
            if (rc == ROLLOUT_STORE_NO_CHANGE)
                continue;
            if (rc != ROLLOUT_OK) {
                push = 0; /* the push connection broke; poll until the next watch */
                continue;
            }
            rc = consider(st, plan, NULL, value, after, state, err);
            if (rc != ROLLOUT_STORE_NO_CHANGE)
                return rc;
        }
        if (st_now_ms() >= deadline)
            return ROLLOUT_STORE_NO_CHANGE;
    }
}

/* ---- the outbox ---- */

int st_key_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            size_t na = strspn(a, "0123456789"), nb = strspn(b, "0123456789");
            while (na > 1 && *a == '0') a++, na--;
            while (nb > 1 && *b == '0') b++, nb--;
            if (na != nb)
                return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c)
                return c;
            a += na;
            b += nb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

int rollout_store_outbox_list(rollout_store *st, const rollout_plan *plan,
                              int (*fn)(const char *key, const char *body, void *ctx), void *ctx,
                              rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc)
        return rc;
    if (!fn)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL callback");
    return st->be->outbox_list(st, rollout_plan_id(plan), fn, ctx, err);
}

static int key_ok(rollout_store *st, const char *key, rollout_error *err)
{
    if (!key || !*key || strlen(key) > 512)
        return st_err(st, err, ROLLOUT_ERR_ARG, "an outbox key is 1 to 512 bytes");
    return ROLLOUT_OK;
}

int rollout_store_outbox_done(rollout_store *st, const rollout_plan *plan, const char *key,
                              rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc || (rc = key_ok(st, key, err)))
        return rc;
    return st->be->outbox_done(st, rollout_plan_id(plan), key, err);
}

int rollout_store_marked(rollout_store *st, const rollout_plan *plan, const char *key, int *yes,
                         rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc || (rc = key_ok(st, key, err)))
        return rc;
    if (!yes)
        return st_err(st, err, ROLLOUT_ERR_ARG, "NULL result");
    return st->be->mark(st, rollout_plan_id(plan), key, 1, yes, err);
}

int rollout_store_mark(rollout_store *st, const rollout_plan *plan, const char *key,
                       rollout_error *err)
{
    int rc = plan_ok(st, plan, err);
    if (rc || (rc = key_ok(st, key, err)))
        return rc;
    return st->be->mark(st, rollout_plan_id(plan), key, 0, NULL, err);
}
