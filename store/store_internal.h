/* SPDX-License-Identifier: MIT */
/* store_internal.h — the store component's backend interface.
 *
 * store.c holds everything that does not depend on the store product:
 * signing, the reader's refusals, the replay memory, the apply loop and the
 * watch loop. A backend only moves bytes: read one rollout's (rev, value),
 * compare-and-set it, and deliver pushed values. Redis (redis.c) is the only
 * one; an etcd backend would fill the same table (a transaction comparing
 * the key's value revision, and a watch stream for the push). */
#ifndef ROLLOUT_STORE_INTERNAL_H
#define ROLLOUT_STORE_INTERNAL_H

#include "rollout_store.h"

#include <stdarg.h>
#include <stdint.h>

/* A stored value: the state line, " hmac-sha256=" and 64 hex digits. */
#define STORE_VALUE_MAX (ROLLOUT_STATE_TEXT_MAX + 96)
#define STORE_KEYNAME_MAX 512

typedef struct store_backend {
    const char *name;
    /* (Re)connects the command connection when it is down. */
    int (*connect)(rollout_store *st, rollout_error *err);
    /* The store's name for a rollout's state (bound into the signature). */
    int (*key_name)(const char *plan_id, char *buf, size_t cap);
    /* Reads the rollout's revision and value. *present 0 = nothing stored. */
    int (*read)(rollout_store *st, const char *plan_id, int *present, char *rev, size_t rev_cap,
                char *value, size_t value_cap, rollout_error *err);
    /* Writes (rev, value) when the stored revision is `expected` (NULL: when
     * nothing is stored) and publishes value; ROLLOUT_ERR_CONFLICT otherwise,
     * with the stored revision in current ("" when none). */
    int (*cas)(rollout_store *st, const char *plan_id, const char *expected, uint64_t rev,
               const char *value, char *current, size_t current_cap, rollout_error *err);
    /* cas, and the outbox entries written with it, atomically (n may be 0). */
    int (*cas_outbox)(rollout_store *st, const char *plan_id, const char *expected, uint64_t rev,
                      const char *value, const rollout_store_outbox_entry *entries, size_t n,
                      char *current, size_t current_cap, rollout_error *err);
    /* The outbox and delivered set (rollout_store.h). */
    int (*outbox_list)(rollout_store *st, const char *plan_id,
                       int (*fn)(const char *key, const char *body, void *ctx), void *ctx,
                       rollout_error *err);
    int (*outbox_done)(rollout_store *st, const char *plan_id, const char *key,
                       rollout_error *err);
    int (*mark)(rollout_store *st, const char *plan_id, const char *key, int check, int *yes,
                rollout_error *err);
    /* Listens for pushed values of plan_id (idempotent while subscribed). */
    int (*subscribe)(rollout_store *st, const char *plan_id, rollout_error *err);
    /* Waits up to wait_ms for a pushed value: ROLLOUT_OK, ROLLOUT_STORE_NO_CHANGE,
     * or ROLLOUT_ERR_STORE when the push connection broke (it is dropped). */
    int (*next_push)(rollout_store *st, int wait_ms, char *value, size_t cap, rollout_error *err);
    void (*close)(rollout_store *st);
} store_backend;

/* What this handle last accepted for a rollout, and the last value refused. */
typedef struct store_seen {
    char *plan_id;
    uint64_t rev;
    int have_rev;
    /* The last good state (read, written or held): a value is accepted only
     * when it follows it (rollout_state_follows). */
    rollout_state good;
    int have_good;
    /* The last value refused for a lasting cause, so it is reported once:
     * FNV-1a of the value, and of the rev field it was read with (0 for a
     * pushed value, which has none: it matches any rev field). */
    uint64_t refused_hash;  /* 0 none */
    uint64_t refused_rev;
} store_seen;

struct rollout_store {
    const store_backend *be;
    void *impl;
    char name[1024];        /* the URL without password */
    int timeout_ms;
    int poll_ms;
    int no_subscribe;
    int max_retries;
    unsigned backoff_seed;  /* rand_r state: writers in lockstep must not retry in lockstep */
    unsigned char key[ROLLOUT_STORE_KEY_MAX];
    size_t key_len;
    store_seen *seen;
    size_t n_seen;
};

/* Fills err (when given) with "store NAME: " and the message; returns code. */
int st_err(const rollout_store *st, rollout_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills err without naming a store (URL and argument errors). */
int st_err_plain(rollout_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int64_t st_now_ms(void);

/* Orders outbox keys "<plan>/<rev>/<index>/<channel>": numbers by value, so
 * revision 10 comes after revision 9. */
int st_key_cmp(const char *a, const char *b);

/* url as messages may show it: a password (everything between the user's
 * ':' and the URL's last '@', or the whole credentials when they have no
 * ':') becomes "***"; unix:// paths are shown as they are. Truncated to
 * cap. */
void st_redact_url(const char *url, char *out, size_t cap);

/* Redis: parses url, fills st->be, st->impl and st->name; connects unless lazy. */
int st_redis_open(rollout_store *st, const char *url, int lazy, rollout_error *err);

#endif
