/* SPDX-License-Identifier: MIT */
/*
 * proxy_demo.c — librollout embedded the way a proxy embeds it.
 *
 *   rollout-proxy-demo [--plan FILE] [--state FILE | --store URL [--key-file F]]
 *                      [--workers N] [--at TIME]
 *
 * Reads one request per line from stdin:
 *
 *   ORG USER SESSION [KEY=VALUE ...]        ("-" for an absent id)
 *
 * and prints, per request, in the order the workers finish them:
 *
 *   SEQ VARIANT UPSTREAM REASON plan=ID state=REVISION|-
 *
 * SEQ is the request's line number (from 1), VARIANT NEW or STABLE, UPSTREAM
 * the version label the request is routed to, REASON why (rollout_reason).
 *
 * What it shows (README.md explains it for proxy authors):
 *   - the plan is loaded once and shared by N worker threads, each deciding
 *     with no lock and no allocation (rollout_decide);
 *   - SIGHUP reloads the plan file: the handler only sets a flag; a reloader
 *     thread loads and validates the new plan and swaps it in as a new
 *     snapshot (plan_slot.h). Requests in flight finish on the old plan,
 *     which is freed when its last worker lets go. A plan that does not load
 *     is logged and the old one stays in force;
 *   - the state file (one line, as `rollout state` writes it) is re-read
 *     when its inode, size or modification time changes, and published with
 *     the plan it belongs to. A state that does not decode for the plan in
 *     force (corrupt, or written for a plan not loaded yet) is logged and
 *     not used: the snapshot in force stays until plan and state agree;
 *   - a reloaded plan that is an edit of the one in force (same rollout id)
 *     takes the state over with rollout_state_migrate, so a rollback, halt
 *     or pause is never undone by a plan edit; while the state file is still
 *     written for the earlier plan (until `rollout state migrate` rebinds
 *     it), every new state in it is carried over the same way. An edit the
 *     state cannot be carried to is logged and the plan in force stays;
 *   - with --store, the state comes from the fleet's store (docs/fleet.md)
 *     instead of a file: a sync thread watches it (rollout_store_watch, with
 *     bounded waits) and publishes every state it accepts. A store outage
 *     changes nothing: the last good state stays in force and the thread logs
 *     its age. A value the store refuses to vouch for (unsigned while a key is
 *     held, forged, another plan's, replayed) is logged and not used. With no
 *     state and no store, a fresh state (not started) answers STABLE for
 *     everyone. On SIGHUP with an edited plan the thread migrates the stored
 *     state (rollout_state_migrate, then a compare-and-set), or takes the
 *     migration another gateway already wrote;
 *   - the library never reads the clock: the proxy passes `now` (the wall
 *     clock, or --at TIME, epoch seconds or 2026-02-28T15:00:00Z, for tests).
 * Without --plan the seed plan compiled into the library is used.
 */
#define _GNU_SOURCE /* timegm, strptime */

#include "plan_slot.h"

#ifdef ROLLOUT_DEMO_STORE
#include <rollout_store.h>
#endif

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_WORKERS = 64, QUEUE_CAP = 256, MAX_ATTRS = 32 };

/* ---- configuration and shared state -------------------------------------- */

static const char *plan_path;     /* NULL: the built-in seed plan */
static const char *state_path;    /* NULL: decide without a state */
static const char *store_url;     /* --store: the state from the fleet's store */
static const char *key_file;      /* --key-file: the HMAC key of the store's states */
static int64_t fixed_now = -1;    /* --at, else the wall clock */
static rollout_slot slot;

/* Set by the SIGHUP handler, consumed by the reloader thread. A lock-free
 * atomic, not volatile sig_atomic_t: the handler may run on any thread and
 * sig_atomic_t is only safe within one (ThreadSanitizer reports it). A
 * handler may not lock, allocate or call the library: it sets the flag. */
static atomic_bool hup_requested;

static void on_sighup(int sig)
{
    (void)sig;
    atomic_store(&hup_requested, true);
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    fputs("rollout-proxy-demo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

/* ---- loading a snapshot --------------------------------------------------- */

typedef struct file_id {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

static file_id identify(const char *path)
{
    file_id id = {0};
    struct stat st;
    if (path && stat(path, &st) == 0) {
        id.exists = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        id.size = st.st_size;
        id.mtime = st.st_mtim;
    }
    return id;
}

static bool same_file(const file_id *a, const file_id *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static rollout_plan *load_plan(void)
{
    rollout_plan *p = NULL;
    rollout_error err;
    int rc;
    if (plan_path) {
        rc = rollout_plan_load_file(plan_path, &p, &err);
    } else {
        size_t len;
        const char *yaml = rollout_seed_plan(&len);
        rc = rollout_plan_load_buffer(yaml, len, "<seed plan>", &p, &err);
    }
    if (rc != ROLLOUT_OK) {
        log_msg("plan not loaded: %s", err.message);
        return NULL;
    }
    return p;
}

/* The plan the state file is written for when that is not the plan in
 * force (an edit was reloaded before the file was migrated), else NULL; its
 * own reference. The reloader thread's alone. */
static rollout_plan *state_plan;

/* Reads and decodes the state file for plan; a state written for from (not
 * NULL: the plan it may have been written for instead) is carried over to
 * plan. 1: *out holds a state (*migrated says whether it was carried over);
 * 0: no state file (decide without one); -1: unusable (logged). */
static int read_state(const rollout_plan *plan, const rollout_plan *from, rollout_state *out,
                      bool *migrated)
{
    *migrated = false;
    FILE *f = fopen(state_path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        log_msg("state %s: %s", state_path, strerror(errno));
        return -1;
    }
    char text[ROLLOUT_STATE_TEXT_MAX + 2];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    rollout_error err;
    int rc = rollout_state_decode(plan, text, len, out, &err);
    if (rc == ROLLOUT_ERR_STATE_PLAN && from && from != plan) {
        rollout_state old;
        rc = rollout_state_decode(from, text, len, &old, &err);
        if (rc == ROLLOUT_OK)
            rc = rollout_state_migrate(from, &old, plan, out, &err);
        if (rc == ROLLOUT_OK) {
            *migrated = true;
            log_msg("state %s carried over to the edited plan: %s, revision %llu", state_path,
                    rollout_status_name(out->status), (unsigned long long)out->revision);
        }
    }
    if (rc != ROLLOUT_OK) {
        log_msg("state %s not used: %s", state_path, err.message);
        return -1;
    }
    return 1;
}

/* A complete, consistent snapshot: plan (reference taken over) and the
 * state file's state for it, carried over from the plan from (may be NULL)
 * when the file is written for that one. NULL when the state does not fit.
 * Keeps state_plan up to date: from while the file is carried over. */
static rollout_snapshot *make_snapshot(rollout_plan *plan, rollout_plan *from)
{
    rollout_state state;
    bool migrated = false;
    int have = state_path ? read_state(plan, from, &state, &migrated) : 0;
    if (have < 0) {
        rollout_plan_unref(plan);
        return NULL;
    }
    rollout_plan *keep = migrated ? rollout_plan_ref(from) : NULL;
    rollout_plan_unref(state_plan);
    state_plan = keep;
    rollout_snapshot *snap = rollout_snapshot_new(plan, have ? &state : NULL);
    if (!snap)
        log_msg("out of memory");
    return snap;
}

static void describe(const rollout_snapshot *snap, uint64_t generation, const char *why)
{
    if (snap->state)
        log_msg("%s: plan %s, state revision %llu (%s), generation %llu", why,
                rollout_plan_id(snap->plan), (unsigned long long)snap->state->revision,
                rollout_status_name(snap->state->status), (unsigned long long)generation);
    else
        log_msg("%s: plan %s, no state, generation %llu", why, rollout_plan_id(snap->plan),
                (unsigned long long)generation);
}

/* ---- the reloader thread -------------------------------------------------- */

static atomic_bool stopping;

static void *reloader(void *arg)
{
    file_id state_seen = identify(state_path);
    (void)arg;
    /* SIGHUP is blocked everywhere else, so it is delivered here: the flag
     * is read by the thread whose sleep it interrupts, never delayed by a
     * worker or the reader of stdin sitting in a blocking call */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
    while (!atomic_load(&stopping)) {
        struct timespec tick = {0, 10 * 1000 * 1000};  /* 10 ms */
        nanosleep(&tick, NULL);
        if (store_url)
            continue; /* the sync thread reloads: the plan and the stored state go together */
        if (atomic_exchange(&hup_requested, false)) {
            /* the state is read with the plan, so they take effect together */
            state_seen = identify(state_path);
            rollout_plan *plan = load_plan();
            /* the state file is written for the plan in force, or for the
             * one before it if that was an edit too */
            rollout_snapshot *cur = rollout_slot_acquire(&slot, NULL);
            rollout_plan *from = state_plan ? state_plan : cur ? cur->plan : NULL;
            rollout_snapshot *snap = plan ? make_snapshot(plan, from) : NULL;
            rollout_snapshot_unref(cur);
            if (!snap) {
                log_msg("reload failed: keeping the plan in force");
                continue;
            }
            describe(snap, rollout_slot_publish(&slot, snap), "plan reloaded");
            continue;
        }
        if (!state_path)
            continue;
        file_id now_id = identify(state_path);
        if (same_file(&now_id, &state_seen))
            continue;
        state_seen = now_id;
        /* same plan, new state: the new snapshot shares the plan */
        rollout_snapshot *cur = rollout_slot_acquire(&slot, NULL);
        rollout_snapshot *snap = make_snapshot(rollout_plan_ref(cur->plan), state_plan);
        rollout_snapshot_unref(cur);
        if (snap)
            describe(snap, rollout_slot_publish(&slot, snap), "state reloaded");
    }
    return NULL;
}

/* ---- the store's sync thread ---------------------------------------------- */

#ifdef ROLLOUT_DEMO_STORE
/* All of it belongs to the sync thread (main sets it up before starting
 * the thread): a store handle is used by one thread at a time. */
static struct {
    rollout_store *st;
    rollout_plan *plan;     /* the plan in force (own reference) */
    rollout_plan *from;     /* an edited plan's predecessor while the store still
                               holds a state written for it, else NULL */
    /* Plans of this rollout reloaded before any stored state was read (an
     * outage, or nothing stored yet), oldest first: the state the store
     * returns with may be written for any of them, and is then migrated. */
    rollout_plan *before[8];
    int n_before;
    rollout_state held;     /* the last good state, published */
    bool have_store_state;  /* held came from the store (else a fresh state) */
    struct timespec synced; /* when the store last answered */
    int64_t last_stale_log_ms;
} sync_ctx;

static int64_t mono_ms(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

static int64_t mono_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return mono_ms(&t);
}

static void sync_publish(const char *why)
{
    uint64_t g = 0;
    if (rollout_slot_publish_state(&slot, sync_ctx.plan, &sync_ctx.held, &g) < 0) {
        log_msg("out of memory: keeping the snapshot in force");
        return;
    }
    log_msg("%s: plan %s, state revision %llu (%s), generation %llu", why,
            rollout_plan_id(sync_ctx.plan), (unsigned long long)sync_ctx.held.revision,
            rollout_status_name(sync_ctx.held.status), (unsigned long long)g);
}

/* The store answered: the state in force is current as of now. */
static void sync_fresh(void)
{
    clock_gettime(CLOCK_MONOTONIC, &sync_ctx.synced);
}

/* The store is away: say how old the state in force is, once a second. */
static void sync_stale(const rollout_error *err)
{
    int64_t now = mono_now_ms();
    if (now - sync_ctx.last_stale_log_ms < 1000)
        return;
    sync_ctx.last_stale_log_ms = now;
    log_msg("store unreachable (%s); keeping state revision %llu (%s), %.1f s since the "
            "last sync", err->message, (unsigned long long)sync_ctx.held.revision,
            rollout_status_name(sync_ctx.held.status),
            (double)(now - mono_ms(&sync_ctx.synced)) / 1000.0);
}

/* The store holds a state written for sync_ctx.from, the plan before an
 * edit: carry it over to the plan in force and write it back with a
 * compare-and-set, or take the state another gateway or an operator already
 * migrated. 1: held is now the store's state for the plan in force; 0: the
 * store is away or the write lost a race (tried again); -1: nothing to
 * migrate, or a state that cannot be carried over or is refused (logged). */
static int sync_migrate_store(void)
{
    rollout_error err;
    for (int attempt = 0; attempt < 5; attempt++) {
        rollout_state cur, old, moved;
        int rc = rollout_store_load(sync_ctx.st, sync_ctx.plan, &cur, &err);
        if (rc == ROLLOUT_OK) { /* someone else migrated it */
            sync_ctx.held = cur;
            return 1;
        }
        if (rc == ROLLOUT_ERR_STATE_PLAN) {
            rc = rollout_store_load(sync_ctx.st, sync_ctx.from, &old, &err);
            if (rc == ROLLOUT_OK)
                rc = rollout_state_migrate(sync_ctx.from, &old, sync_ctx.plan, &moved, &err);
            if (rc == ROLLOUT_OK)
                rc = rollout_store_put(sync_ctx.st, sync_ctx.plan, old.revision, &moved, &err);
            if (rc == ROLLOUT_OK) {
                log_msg("store state carried over to the edited plan: %s, revision %llu",
                        rollout_status_name(moved.status), (unsigned long long)moved.revision);
                sync_ctx.held = moved;
                return 1;
            }
            if (rc == ROLLOUT_ERR_CONFLICT)
                continue;
        }
        if (rc == ROLLOUT_ERR_STORE || rc == ROLLOUT_ERR_TIMEOUT) {
            sync_stale(&err);
            return 0;
        }
        if (rc == ROLLOUT_ERR_NOT_FOUND)
            return -1; /* nothing stored: nothing to migrate */
        log_msg("store state not carried over to the edited plan: %s; keeping state "
                "revision %llu (%s)", err.message, (unsigned long long)sync_ctx.held.revision,
                rollout_status_name(sync_ctx.held.status));
        return -1;
    }
    return 0;
}

static void sync_forget_before(void)
{
    for (int i = 0; i < sync_ctx.n_before; i++)
        rollout_plan_unref(sync_ctx.before[i]);
    sync_ctx.n_before = 0;
}

/* The store refused its state as another plan's: when that plan is one this
 * proxy ran before an edit it made without having read the store, the state
 * is carried over as any edit's is (sync_ctx.from). 1 when one was found. */
static int sync_adopt_before(void)
{
    for (int i = sync_ctx.n_before - 1; i >= 0; i--) {
        rollout_state old;
        rollout_error err;
        if (rollout_store_load(sync_ctx.st, sync_ctx.before[i], &old, &err) == ROLLOUT_OK) {
            rollout_plan_unref(sync_ctx.from);
            sync_ctx.from = rollout_plan_ref(sync_ctx.before[i]);
            sync_forget_before();
            return 1;
        }
    }
    return 0;
}

/* SIGHUP: a new plan. An edit of the plan in force (same rollout id) takes
 * the state over with rollout_state_migrate at once, locally, and the sync
 * loop then migrates the stored state; a state that cannot be carried over
 * keeps the old plan and state. Another rollout starts from a fresh state
 * until its own stored state is read. */
static void sync_reload(void)
{
    rollout_plan *plan = load_plan();
    if (!plan) {
        log_msg("reload failed: keeping the plan in force");
        return;
    }
    rollout_error err;
    rollout_state next;
    rollout_plan *store_from = NULL; /* the plan the stored state is written for */
    if (strcmp(rollout_plan_id(plan), rollout_plan_id(sync_ctx.plan)) != 0) {
        rollout_state_init(plan, &next);
        sync_ctx.have_store_state = false;
        sync_forget_before();
    } else {
        int rc = rollout_state_migrate(sync_ctx.plan, &sync_ctx.held, plan, &next, &err);
        if (rc != ROLLOUT_OK) {
            log_msg("reload failed: the state cannot be carried over: %s; keeping the plan "
                    "in force", err.message);
            rollout_plan_unref(plan);
            return;
        }
        rollout_plan *from = sync_ctx.from ? sync_ctx.from : sync_ctx.plan;
        if (sync_ctx.have_store_state &&
            rollout_plan_fingerprint(from) != rollout_plan_fingerprint(plan))
            store_from = rollout_plan_ref(from);
        if (!sync_ctx.have_store_state &&
            rollout_plan_fingerprint(sync_ctx.plan) != rollout_plan_fingerprint(plan)) {
            if (sync_ctx.n_before == (int)(sizeof sync_ctx.before / sizeof *sync_ctx.before)) {
                rollout_plan_unref(sync_ctx.before[0]);
                memmove(sync_ctx.before, sync_ctx.before + 1,
                        (size_t)(sync_ctx.n_before - 1) * sizeof *sync_ctx.before);
                sync_ctx.n_before--;
            }
            sync_ctx.before[sync_ctx.n_before++] = rollout_plan_ref(sync_ctx.plan);
        }
    }
    rollout_plan_unref(sync_ctx.from);
    sync_ctx.from = store_from;
    rollout_plan_unref(sync_ctx.plan);
    sync_ctx.plan = plan;
    sync_ctx.held = next;
    sync_publish("plan reloaded");
}

static void *syncer(void *arg)
{
    (void)arg;
    struct timespec pause = {0, 100 * 1000 * 1000};
    while (!atomic_load(&stopping)) {
        if (atomic_exchange(&hup_requested, false))
            sync_reload();
        if (sync_ctx.from) {
            int m = sync_migrate_store();
            if (m == 0) {
                nanosleep(&pause, NULL);
                continue;
            }
            rollout_plan_unref(sync_ctx.from);
            sync_ctx.from = NULL;
            if (m > 0) {
                sync_fresh();
                sync_publish("state synced");
            }
        }
        rollout_state fresh;
        rollout_error err;
        /* bounded, so a SIGHUP or the end is handled within 200 ms */
        int rc = rollout_store_watch(sync_ctx.st, sync_ctx.plan, sync_ctx.held.revision, 200,
                                     &fresh, &err);
        if (rc == ROLLOUT_OK) {
            sync_ctx.held = fresh;
            sync_ctx.have_store_state = true;
            sync_forget_before();
            sync_fresh();
            sync_publish("state synced");
        } else if (rc == ROLLOUT_ERR_STATE_PLAN && sync_adopt_before()) {
            sync_ctx.have_store_state = true; /* migrated at the top of the loop */
        } else if (rc == ROLLOUT_STORE_NO_CHANGE) {
            sync_fresh();
        } else if (rc == ROLLOUT_ERR_STORE || rc == ROLLOUT_ERR_TIMEOUT) {
            sync_stale(&err);
            nanosleep(&pause, NULL);
        } else {
            log_msg("store state refused: %s; keeping state revision %llu (%s)", err.message,
                    (unsigned long long)sync_ctx.held.revision,
                    rollout_status_name(sync_ctx.held.status));
        }
    }
    return NULL;
}

/* Opens the store (a URL that does not parse, or an unreadable key, is a
 * usage error) and reads the state before the first request is served; a
 * store that is away leaves a fresh state (STABLE for everyone) that the
 * sync thread replaces when it returns. */
static int sync_start(rollout_plan *plan)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.lazy_connect = 1;
    unsigned char key[ROLLOUT_STORE_KEY_MAX];
    rollout_error err;
    int rc;
    if (key_file) {
        if ((rc = rollout_store_read_key_file(key_file, key, sizeof key, &o.key_len, &err))) {
            log_msg("%s", err.message);
            return -1;
        }
        o.key = key;
        o.require_signature = 1;
    }
    rc = rollout_store_open(store_url, &o, &sync_ctx.st, &err);
    memset(key, 0, sizeof key);
    if (rc) {
        log_msg("%s", err.message);
        return -1;
    }
    sync_ctx.plan = plan;
    clock_gettime(CLOCK_MONOTONIC, &sync_ctx.synced);
    rc = rollout_store_load(sync_ctx.st, plan, &sync_ctx.held, &err);
    if (rc == ROLLOUT_OK) {
        sync_ctx.have_store_state = true;
        return 0;
    }
    if (rc == ROLLOUT_ERR_STORE || rc == ROLLOUT_ERR_TIMEOUT)
        log_msg("store unreachable at start (%s): STABLE for everyone until it answers",
                err.message);
    else if (rc == ROLLOUT_ERR_NOT_FOUND)
        log_msg("%s: STABLE for everyone until a state is stored", err.message);
    else
        log_msg("store state refused: %s: STABLE for everyone until a good one is stored",
                err.message);
    rollout_state_init(plan, &sync_ctx.held);
    return 0;
}

static void sync_stop(void)
{
    sync_forget_before();
    rollout_store_close(sync_ctx.st);
    rollout_plan_unref(sync_ctx.plan);
    rollout_plan_unref(sync_ctx.from);
}
#endif

/* ---- requests ------------------------------------------------------------- */

typedef struct request {
    unsigned long seq;
    char *line;
} request;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    request items[QUEUE_CAP];
    size_t head, n;
    bool closed;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
           .not_full = PTHREAD_COND_INITIALIZER};

static void queue_push(request r)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.n == QUEUE_CAP)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    queue.items[(queue.head + queue.n++) % QUEUE_CAP] = r;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

/* false when the queue is closed and drained */
static bool queue_pop(request *r)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.n == 0 && !queue.closed)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    bool got = queue.n > 0;
    if (got) {
        *r = queue.items[queue.head];
        queue.head = (queue.head + 1) % QUEUE_CAP;
        queue.n--;
        pthread_cond_signal(&queue.not_full);
    }
    pthread_mutex_unlock(&queue.lock);
    return got;
}

static void queue_close(void)
{
    pthread_mutex_lock(&queue.lock);
    queue.closed = true;
    pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

static int64_t now_seconds(void)
{
    return fixed_now >= 0 ? fixed_now : (int64_t)time(NULL);
}

/* Splits "ORG USER SESSION [K=V ...]" in place into a context. */
static void parse_request(char *line, rollout_context *ctx, rollout_attr *attrs)
{
    memset(ctx, 0, sizeof *ctx);
    const char **ids[3] = {&ctx->org, &ctx->user, &ctx->session};
    size_t *lens[3] = {&ctx->org_len, &ctx->user_len, &ctx->session_len};
    char *save = NULL;
    int field = 0;
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (field < 3) {
            if (strcmp(tok, "-") != 0) {
                *ids[field] = tok;
                *lens[field] = strlen(tok);
            }
            field++;
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq || ctx->n_attrs == MAX_ATTRS)
            continue;
        attrs[ctx->n_attrs++] = (rollout_attr){tok, (size_t)(eq - tok), eq + 1, strlen(eq + 1)};
    }
    ctx->attrs = attrs;
}

static void *worker(void *arg)
{
    rollout_slot_reader reader = {NULL, 0};
    request r;
    (void)arg;
    while (queue_pop(&r)) {
        /* the snapshot stays valid for this whole request */
        const rollout_snapshot *snap = rollout_slot_get(&slot, &reader);
        rollout_context ctx;
        rollout_attr attrs[MAX_ATTRS];
        parse_request(r.line, &ctx, attrs);
        rollout_decision d;
        int rc = rollout_decide(snap->plan, snap->state, now_seconds(), &ctx, &d);
        /* on an error decide still answers STABLE: serve that, say why */
        const char *reason = rc == ROLLOUT_OK ? rollout_reason_name(d.reason)
                                              : rollout_code_name(rc);
        char revision[24] = "-";
        if (snap->state)
            snprintf(revision, sizeof revision, "%llu",
                     (unsigned long long)snap->state->revision);
        flockfile(stdout);
        printf("%lu %s %s %s plan=%s state=%s\n", r.seq, d.variant == ROLLOUT_NEW ? "NEW" : "STABLE",
               rollout_plan_version_label(snap->plan, d.variant), reason,
               rollout_plan_id(snap->plan), revision);
        fflush(stdout);
        funlockfile(stdout);
        free(r.line);
    }
    rollout_slot_reader_release(&reader);
    return NULL;
}

/* ---- main ----------------------------------------------------------------- */

static int64_t parse_time(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end)
        return v;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return -1;
    return (int64_t)timegm(&tm);
}

static int usage(void)
{
    fprintf(stderr, "usage: rollout-proxy-demo [--plan FILE] [--state FILE | --store URL "
                    "[--key-file FILE]] [--workers N] [--at TIME]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int workers = 4;
    /* lock-free, hence usable from a signal handler (C11 7.14.1.1) */
    _Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "atomic_bool must be lock-free");
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--plan"))
            plan_path = argv[++i];
        else if (!strcmp(argv[i], "--state"))
            state_path = argv[++i];
        else if (!strcmp(argv[i], "--store"))
            store_url = argv[++i];
        else if (!strcmp(argv[i], "--key-file"))
            key_file = argv[++i];
        else if (!strcmp(argv[i], "--workers"))
            workers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--at")) {
            if ((fixed_now = parse_time(argv[++i])) < 0)
                return usage();
        } else
            return usage();
    }
    if (workers < 1 || workers > MAX_WORKERS || (store_url && state_path) ||
        (key_file && !store_url))
        return usage();
#ifndef ROLLOUT_DEMO_STORE
    if (store_url) {
        log_msg("built without the store component (librollout_store): --store is unavailable");
        return 2;
    }
#endif

    rollout_plan *plan = load_plan();
    rollout_snapshot *first = NULL;
#ifdef ROLLOUT_DEMO_STORE
    if (store_url && plan) {
        if (sync_start(rollout_plan_ref(plan)) < 0) {
            rollout_plan_unref(plan);
            return 2;
        }
        first = rollout_snapshot_new(plan, &sync_ctx.held);
    }
#endif
    if (!store_url)
        first = plan ? make_snapshot(plan, NULL) : NULL;
    if (!first)
        return 1;
    rollout_slot_init(&slot, first);
    describe(first, 1, "started");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sighup;
    sa.sa_flags = SA_RESTART;   /* reading stdin goes on across a SIGHUP */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    /* threads inherit the mask: only the reloader unblocks SIGHUP */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);

    pthread_t reload_thread, threads[MAX_WORKERS];
    pthread_create(&reload_thread, NULL, reloader, NULL);
#ifdef ROLLOUT_DEMO_STORE
    pthread_t sync_thread;
    if (store_url)
        pthread_create(&sync_thread, NULL, syncer, NULL);
#endif
    for (int i = 0; i < workers; i++)
        pthread_create(&threads[i], NULL, worker, NULL);

    char *line = NULL;
    size_t cap = 0;
    unsigned long seq = 0;
    while (getline(&line, &cap, stdin) > 0) {
        seq++;
        char *copy = strdup(line);
        if (!copy)
            break;
        queue_push((request){seq, copy});
    }
    free(line);
    queue_close();
    for (int i = 0; i < workers; i++)
        pthread_join(threads[i], NULL);
    atomic_store(&stopping, true);
    pthread_join(reload_thread, NULL);
#ifdef ROLLOUT_DEMO_STORE
    if (store_url) {
        pthread_join(sync_thread, NULL);
        sync_stop();
    }
#endif
    rollout_plan_unref(state_plan);
    rollout_slot_destroy(&slot);
    log_msg("%lu requests", seq);
    return 0;
}
