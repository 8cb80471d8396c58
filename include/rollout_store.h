/* SPDX-License-Identifier: MIT */
/*
 * rollout_store.h — one rollout state for the whole fleet, kept in a store.
 *
 * The store component (librollout_store) keeps each rollout's state in a
 * shared store so every gateway and operator sees the same one. Redis is the
 * only backend; docs/fleet.md is the protocol (key layout, signed value,
 * revision rule, the compare-and-set script, the update channel), so any
 * language can read and write the same keys.
 *
 * It is a separate library on purpose: librollout stays pure and links no
 * network or crypto library; only programs that talk to the store link this
 * one (hiredis and OpenSSL's libcrypto).
 *
 * Rules every call follows:
 *  - Every call is bounded: connecting and every command time out after
 *    options.timeout_ms (default 500 ms); watch waits for news at most the
 *    wait it is given, plus the timeouts of the commands it has in flight.
 *  - Every write is a compare-and-set on the state's revision, atomic on the
 *    server. A value is written whole or not at all.
 *  - Readers are fail-static: a value that is unsigned (when a key is held),
 *    forged, another plan's, corrupt, or that does not follow the last good
 *    state this handle has read, written or been given with
 *    rollout_store_hold (rollout_state_follows: an older revision, or a state
 *    of another history) is refused with a code and a message, and the
 *    caller's state is left untouched, so it keeps deciding with its last
 *    good one. A handle that has none (a fresh one) accepts any valid value:
 *    a writer that holds a state seeds its handle with it first.
 *  - A handle is used by one thread at a time. A gateway's sync thread opens
 *    its own handle and calls rollout_store_watch in a loop.
 *
 * The revision of a stored state is the state's own `revision` field
 * (rollout_state.revision): 0 for a fresh state, +1 on every transition.
 */
#ifndef ROLLOUT_STORE_H
#define ROLLOUT_STORE_H

#include "rollout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Codes of the store beyond rollout.h's; every call returns ROLLOUT_OK, one
 * of rollout.h's ROLLOUT_ERR_* (NOMEM, IO, ARG, VALUE for a bad URL,
 * NOT_FOUND when the store holds no state for the rollout, STATE for a
 * corrupt value, STATE_PLAN for a value of another plan, TRANSITION when the
 * state machine refuses an event), or one of these. They start at 64 so
 * rollout.h can grow below them. */
typedef enum rollout_store_code {
    ROLLOUT_ERR_STORE = 64,     /* the store is unreachable, broke the connection or
                                   answered an error */
    ROLLOUT_ERR_TIMEOUT = 65,   /* the store did not answer within timeout_ms */
    ROLLOUT_ERR_CONFLICT = 66,  /* compare-and-set lost: the revision moved on (or, for
                                   create, a state is already there) */
    ROLLOUT_ERR_SIGNATURE = 67, /* unsigned while a key is held, or the signature does
                                   not match */
    ROLLOUT_ERR_REPLAY = 68,    /* a state that does not follow the last good one seen
                                   or held: a lower revision, or a state of another
                                   history (rollout_state_follows), such as a store
                                   restored from a backup and written on since */
    ROLLOUT_STORE_NO_CHANGE = 69 /* watch: nothing newer arrived within the wait (not a
                                    failure) */
} rollout_store_code;

/* The symbolic name of any code, rollout.h's included. Never NULL. */
ROLLOUT_API const char *rollout_store_code_name(int code);

/* An open connection to a store; opaque. */
typedef struct rollout_store rollout_store;

/* Longest HMAC key accepted, in bytes; the shortest is 16. */
#define ROLLOUT_STORE_KEY_MAX 1024

typedef struct rollout_store_options {
    int timeout_ms;       /* connect and every command; 0 = 500 */
    /* The HMAC-SHA-256 key (bytes, not text). With a key, every write is
     * signed and every read must carry a valid signature. NULL = no key. */
    const unsigned char *key;
    size_t key_len;
    int require_signature; /* 1 = refuse to open without a key, so a reader that must
                              check signatures cannot silently run without */
    int poll_interval_ms;  /* watch: how often the store is read besides the push;
                              0 = 250 */
    int no_subscribe;      /* watch: poll only, never SUBSCRIBE */
    int lazy_connect;      /* open without connecting; the first call connects (a
                              gateway that starts during an outage) */
    int max_retries;       /* apply: compare-and-set attempts after a conflict; 0 = 100 */
} rollout_store_options;

/* Sets the defaults (all zero but what the comments above name). */
ROLLOUT_API void rollout_store_options_init(rollout_store_options *opts);

/* Opens a store from a URL:
 *   redis://[[user]:password@]host[:port][/db]   (port 6379, db 0 by default;
 *                                                 host may be [ipv6]; user and
 *                                                 password may use %XX escapes)
 *   unix:///path/to/redis.sock
 * opts may be NULL (defaults, no key). Connects, authenticates and selects
 * the database (unless lazy_connect). A URL that does not parse is
 * ROLLOUT_ERR_VALUE with the offending part named; an unreachable store
 * ROLLOUT_ERR_STORE, a silent one ROLLOUT_ERR_TIMEOUT. The key bytes are
 * copied. On failure *out is NULL. */
ROLLOUT_API int rollout_store_open(const char *url, const rollout_store_options *opts,
                       rollout_store **out, rollout_error *err);

/* Closes the connections and wipes the key. NULL is ignored. */
ROLLOUT_API void rollout_store_close(rollout_store *st);

/* The URL without its password ("redis://127.0.0.1:6379/0"), for messages. */
ROLLOUT_API const char *rollout_store_name(const rollout_store *st);

/* Reads an HMAC key from a file: its bytes, less one trailing newline
 * ("\n" or "\r\n"). Refuses a key shorter than 16 bytes or longer than cap
 * (ROLLOUT_ERR_VALUE), and a file that cannot be read (ROLLOUT_ERR_IO). */
ROLLOUT_API int rollout_store_read_key_file(const char *path, unsigned char *key, size_t cap,
                                size_t *len, rollout_error *err);

/* Loads plan's rollout state: *state holds it and state->revision is its
 * revision in the store. ROLLOUT_ERR_NOT_FOUND when none is stored. Every
 * refusal (signature, another plan, replay, corrupt) leaves *state untouched. */
ROLLOUT_API int rollout_store_load(rollout_store *st, const rollout_plan *plan, rollout_state *state,
                       rollout_error *err);

/* Tells the handle the state its caller holds for plan's rollout (from a
 * shared dict, a state file, its own earlier reads): from now on load,
 * apply and watch refuse, with ROLLOUT_ERR_REPLAY, a stored state that does
 * not follow it (rollout_state_follows), and apply then writes nothing. So a
 * process that opens a new handle per operation keeps the memory of a
 * reader. It replaces what the handle had accepted for the rollout. state
 * must be plan's (ROLLOUT_ERR_STATE_PLAN). */
ROLLOUT_API int rollout_store_hold(rollout_store *st, const rollout_plan *plan,
                       const rollout_state *state, rollout_error *err);

/* Opens url, loads and closes: the one-call read for bindings and scripts. */
ROLLOUT_API int rollout_store_load_url(const char *url, const rollout_store_options *opts,
                           const rollout_plan *plan, rollout_state *state,
                           rollout_error *err);

/* Writes state as plan's first state, only when the store holds none
 * (ROLLOUT_ERR_CONFLICT otherwise, the stored state untouched). */
ROLLOUT_API int rollout_store_create(rollout_store *st, const rollout_plan *plan,
                         const rollout_state *state, rollout_error *err);

/* Writes state in place of the one at revision `expected`: a raw
 * compare-and-set for tools such as a plan migration. state->revision must
 * be above expected (ROLLOUT_ERR_ARG) and state must belong to plan
 * (ROLLOUT_ERR_STATE_PLAN). ROLLOUT_ERR_CONFLICT when the stored revision is
 * not `expected` (or nothing is stored). */
ROLLOUT_API int rollout_store_put(rollout_store *st, const rollout_plan *plan, uint64_t expected,
                      const rollout_state *state, rollout_error *err);

/* An operator's event: reads the stored state, applies the event with
 * rollout_apply and writes the result with a compare-and-set, again from the
 * read when another writer got in first (at most max_retries times, then
 * ROLLOUT_ERR_CONFLICT). So two operators never lose each other's
 * transitions, and an event is always judged against the latest state: a GO
 * that races a rollback is applied after it and refused
 * (ROLLOUT_ERR_TRANSITION), never the other way round.
 *
 * Time: now is the caller's clock. When the stored state was last changed
 * later than now (another operator's clock runs ahead), the event is applied
 * at the state's updated_at instead, so clock skew between operators delays
 * an event's timestamp by the skew instead of refusing it.
 *
 * On success *next is the stored state and actions[0..*n_actions) what to do
 * (*n_actions is the capacity on input). A tick that changes nothing writes
 * nothing. On any failure nothing was written. */
ROLLOUT_API int rollout_store_apply(rollout_store *st, const rollout_plan *plan,
                        const rollout_event *event, int64_t now, rollout_state *next,
                        rollout_action *actions, size_t *n_actions, rollout_error *err);

/* Waits up to wait_ms for a state of plan newer than revision `after`.
 * Listens on the rollout's update channel (a second connection, opened on
 * first use and reopened after a failure) and reads the stored state every
 * poll_interval_ms as well, so a lost push costs at most one poll interval.
 * The first read happens at once, so watch(after = the revision held) also
 * catches up after an outage.
 *   ROLLOUT_OK               *state holds the newer state
 *   ROLLOUT_STORE_NO_CHANGE  nothing newer within wait_ms; *state untouched
 *   a refusal (SIGNATURE, STATE_PLAN, REPLAY, STATE): a bad value arrived and
 *       was refused, *state untouched; each bad value is reported once
 *   ROLLOUT_ERR_STORE / ROLLOUT_ERR_TIMEOUT: the store is unreachable; the
 *       caller keeps its state, reports its age and calls again later. */
ROLLOUT_API int rollout_store_watch(rollout_store *st, const rollout_plan *plan, uint64_t after,
                        int wait_ms, rollout_state *state, rollout_error *err);

/* ---- the outbox: deliveries owed by transitions (docs/operator.md) ----
 *
 * A writer that must deliver something because of a transition (a webhook
 * for a communication-plan row) records it in the same compare-and-set that
 * writes the transition, so a crash can neither lose it (the transition is
 * there, so is the entry) nor invent it (no transition, no entry). Entries
 * stay in the rollout's outbox (Redis hash rollout:{ID}:outbox, field = the
 * entry's key) until rollout_store_outbox_done moves the key into the
 * rollout's delivered set (rollout:{ID}:delivered), atomically. Entries are
 * not signed: only the state is (docs/security.md). */
typedef struct rollout_store_outbox_entry {
    const char *key;     /* unique per delivery, at most 512 bytes, no NUL */
    const char *body;    /* the payload, opaque to the store */
} rollout_store_outbox_entry;

/* Builds the entries a transition owes, given the state it is about to
 * write and its actions; called once per compare-and-set attempt (a retry
 * after a conflict calls it again for the new transition). Fills at most cap
 * entries and *n; their strings must stay valid until the call returns.
 * A nonzero return aborts the apply with that code (nothing written). */
typedef int (*rollout_store_outbox_fn)(const rollout_state *next, const rollout_action *actions,
                                       size_t n_actions, rollout_store_outbox_entry *entries,
                                       size_t cap, size_t *n, void *ctx);

/* Most entries one transition may owe. */
#define ROLLOUT_STORE_OUTBOX_MAX 512

/* rollout_store_apply, and the transition's outbox entries (fn, may be
 * NULL) written by the same atomic compare-and-set. A tick that changes
 * nothing writes nothing and calls no fn. */
ROLLOUT_API int rollout_store_apply_outbox(rollout_store *st, const rollout_plan *plan,
                        const rollout_event *event, int64_t now, rollout_state *next,
                        rollout_action *actions, size_t *n_actions,
                        rollout_store_outbox_fn fn, void *ctx, rollout_error *err);

/* Calls fn for every entry in plan's outbox, in key order. fn returning
 * nonzero stops the walk (that code is returned). */
ROLLOUT_API int rollout_store_outbox_list(rollout_store *st, const rollout_plan *plan,
                        int (*fn)(const char *key, const char *body, void *ctx), void *ctx,
                        rollout_error *err);

/* Removes key from the outbox and adds it to the delivered set, atomically. */
ROLLOUT_API int rollout_store_outbox_done(rollout_store *st, const rollout_plan *plan,
                        const char *key, rollout_error *err);

/* Whether key is in the delivered set (*yes 1 or 0); rollout_store_mark adds
 * a key there without an outbox entry (a writer's own notes, such as a step
 * it must not retry). */
ROLLOUT_API int rollout_store_marked(rollout_store *st, const rollout_plan *plan,
                        const char *key, int *yes, rollout_error *err);
ROLLOUT_API int rollout_store_mark(rollout_store *st, const rollout_plan *plan,
                        const char *key, rollout_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ROLLOUT_STORE_H */
