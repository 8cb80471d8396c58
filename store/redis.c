/* SPDX-License-Identifier: MIT */
/* redis.c — the Redis backend of the store component (hiredis).
 *
 * One hash per rollout, rollout:{<plan id>}:state, fields rev and value; the
 * channel rollout:{<plan id>}:changes carries every accepted value. The
 * compare-and-set is a Lua script (docs/fleet.md has its text and why it is
 * a script rather than WATCH/MULTI/EXEC). Two connections: one for commands,
 * one, opened by the first watch, in subscriber mode. */
#define _POSIX_C_SOURCE 200809L

#include "store_internal.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>

/* The compare-and-set, atomic on the server. KEYS[1] the state hash,
 * KEYS[2] the update channel; ARGV[1] the expected revision ("" = nothing
 * stored), ARGV[2] the new revision, ARGV[3] the new value. Returns
 * {1, new rev} when written, {0, stored rev or ""} on a conflict, {-1, stored
 * rev} when the new revision does not go up. docs/fleet.md repeats it. */
#define CAS_CHECK                                                                  \
    "local cur = redis.call('HGET', KEYS[1], 'rev')\n"                               \
    "if ARGV[1] == '' then\n"                                                        \
    "  if cur then return {0, cur} end\n"                                            \
    "elseif cur ~= ARGV[1] then\n"                                                   \
    "  return {0, cur or ''}\n"                                                      \
    "end\n"                                                                          \
    "if cur and tonumber(ARGV[2]) <= tonumber(cur) then return {-1, cur} end\n"      \
    "redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'value', ARGV[3])\n"
#define CAS_PUBLISH                                                                \
    "redis.call('PUBLISH', KEYS[2], ARGV[3])\n"                                      \
    "return {1, ARGV[2]}\n"

static const char cas_script[] = CAS_CHECK CAS_PUBLISH;

/* The same compare-and-set, and on success the transition's outbox
 * entries: KEYS[3] the outbox hash, ARGV[4..] key, body pairs. */
static const char cas_outbox_script[] =
    CAS_CHECK "for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end\n"
    CAS_PUBLISH;

typedef struct redis_impl {
    int unix_socket;
    char host[256];
    int port;
    char path[sizeof ((struct sockaddr_un *)0)->sun_path];
    char user[256];
    char password[256];
    int has_password;
    long db;
    char sha[41];             /* SHA-1 of cas_script, for EVALSHA */
    redisContext *cmd;
    redisContext *sub;
    char sub_channel[STORE_KEYNAME_MAX];
} redis_impl;

/* ---- URL ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies s[0..n) into out, decoding %XX; -1 on a bad escape or overflow. */
static int unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int bad_url(rollout_error *err, const char *url, const char *why)
{
    /* a URL that does not parse still carries its password to the logs */
    char shown[1024];
    st_redact_url(url, shown, sizeof shown);
    return st_err_plain(err, ROLLOUT_ERR_VALUE, "url", "store URL \"%s\": %s", shown, why);
}

static int parse_num(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_url(redis_impl *r, const char *url, char *name, size_t name_cap,
                     rollout_error *err)
{
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        if (path[0] != '/')
            return bad_url(err, url, "a unix socket needs an absolute path: unix:///path/to/"
                                      "redis.sock");
        if (strlen(path) >= sizeof r->path)
            return bad_url(err, url, "the socket path is too long");
        if (strchr(path, '?') || strchr(path, '#'))
            return bad_url(err, url, "query parameters and fragments are not supported");
        r->unix_socket = 1;
        snprintf(r->path, sizeof r->path, "%s", path);
        snprintf(name, name_cap, "unix://%s", path);
        return ROLLOUT_OK;
    }
    const char *a = url + 8; /* after redis:// */
    if (strpbrk(a, "?#"))
        return bad_url(err, url, "query parameters and fragments are not supported");
    const char *slash = strchr(a, '/');
    size_t alen = slash ? (size_t)(slash - a) : strlen(a);
    /* the last '@' of the authority ends the credentials */
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (a[i] == '@')
            at = a + i;
    const char *hp = a;
    if (at) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        if (!colon)
            return bad_url(err, url, "credentials must be user:password@ or :password@ "
                                      "(no ':' before '@')");
        if (unescape(a, (size_t)(colon - a), r->user, sizeof r->user) ||
            unescape(colon + 1, (size_t)(at - colon - 1), r->password, sizeof r->password))
            return bad_url(err, url, "bad %XX escape or over-long user or password");
        if (!r->password[0])
            return bad_url(err, url, "empty password");
        r->has_password = 1;
        hp = at + 1;
    }
    size_t hplen = alen - (size_t)(hp - a);
    const char *port_s = NULL;
    size_t hostlen;
    if (hplen && hp[0] == '[') {
        const char *close = memchr(hp, ']', hplen);
        if (!close)
            return bad_url(err, url, "'[' of an IPv6 address without ']'");
        hostlen = (size_t)(close - hp - 1);
        if (hostlen == 0 || hostlen >= sizeof r->host)
            return bad_url(err, url, "empty or over-long host");
        memcpy(r->host, hp + 1, hostlen);
        r->host[hostlen] = '\0';
        const char *after = close + 1;
        if (after < hp + hplen) {
            if (*after != ':')
                return bad_url(err, url, "junk after the IPv6 address");
            port_s = after + 1;
        }
    } else {
        const char *colon = memchr(hp, ':', hplen);
        hostlen = colon ? (size_t)(colon - hp) : hplen;
        if (hostlen == 0)
            return bad_url(err, url, "no host (expected redis://host:port)");
        if (hostlen >= sizeof r->host)
            return bad_url(err, url, "over-long host");
        memcpy(r->host, hp, hostlen);
        r->host[hostlen] = '\0';
        if (colon)
            port_s = colon + 1;
    }
    r->port = 6379;
    if (port_s) {
        long port;
        if (parse_num(port_s, (size_t)(hp + hplen - port_s), 65535, &port) || port == 0)
            return bad_url(err, url, "the port must be a number from 1 to 65535");
        r->port = (int)port;
    }
    r->db = 0;
    if (slash && slash[1]) {
        if (parse_num(slash + 1, strlen(slash + 1), 2147483647L, &r->db))
            return bad_url(err, url, "the database after '/' must be a number (redis://host:"
                                      "port/0)");
    }
    int n = snprintf(name, name_cap, "redis://%s%s%s%s%s:%d/%ld", r->user,
                     r->user[0] ? "@" : "", strchr(r->host, ':') ? "[" : "", r->host,
                     strchr(r->host, ':') ? "]" : "", r->port, r->db);
    (void)n;
    return ROLLOUT_OK;
}

/* ---- connections ---- */

/* hiredis writes with write(2): a connection the server closed raises
 * SIGPIPE. Hold it blocked on this thread around each exchange and drop the
 * one it caused, so a dead store is an error code, not a dead process. */
typedef struct pipe_guard {
    sigset_t old;
    int pending_before;
} pipe_guard;

static void pipe_block(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    sigpending(&pending);
    g->pending_before = sigismember(&pending, SIGPIPE);
}

static void pipe_unblock(pipe_guard *g)
{
    if (!g->pending_before) {
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) {
            struct timespec zero = {0, 0};
            sigtimedwait(&set, NULL, &zero);
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static int is_timeout(const redisContext *c)
{
    return c->err == REDIS_ERR_IO &&
           (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT ||
            strstr(c->errstr, "timed out") || strstr(c->errstr, "temporarily unavailable"));
}

/* The error of a context that failed, then the context is dropped. */
static int conn_failed(rollout_store *st, redisContext **cp, const char *doing,
                       rollout_error *err)
{
    redisContext *c = *cp;
    int rc;
    if (!c)
        rc = st_err(st, err, ROLLOUT_ERR_NOMEM, "%s: out of memory", doing);
    else if (is_timeout(c))
        rc = st_err(st, err, ROLLOUT_ERR_TIMEOUT, "%s: no answer within %d ms", doing,
                    st->timeout_ms);
    else
        rc = st_err(st, err, ROLLOUT_ERR_STORE, "%s: %s", doing,
                    c->errstr[0] ? c->errstr : "connection failed");
    if (c)
        redisFree(c);
    *cp = NULL;
    return rc;
}

/* Runs one command on *cp; on an I/O failure drops the connection. */
static redisReply *run(rollout_store *st, redisContext **cp, const char *doing, int argc,
                       const char **argv, const size_t *lens, int *rc, rollout_error *err)
{
    pipe_guard g;
    pipe_block(&g);
    redisReply *reply = redisCommandArgv(*cp, argc, argv, lens);
    pipe_unblock(&g);
    if (!reply) {
        *rc = conn_failed(st, cp, doing, err);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        *rc = st_err(st, err, ROLLOUT_ERR_STORE, "%s: the server answered: %s", doing,
                     reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    *rc = ROLLOUT_OK;
    return reply;
}

static int simple(rollout_store *st, redisContext **cp, const char *doing, int argc,
                  const char **argv, rollout_error *err)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    int rc;
    redisReply *reply = run(st, cp, doing, argc, argv, lens, &rc, err);
    if (reply)
        freeReplyObject(reply);
    return rc;
}

/* Connects, authenticates, selects the database and checks with PING that a
 * Redis server answers. */
static int dial(rollout_store *st, redisContext **cp, int select_db, rollout_error *err)
{
    redis_impl *r = st->impl;
    struct timeval tv = {st->timeout_ms / 1000, (st->timeout_ms % 1000) * 1000};
    pipe_guard g;
    pipe_block(&g);
    *cp = r->unix_socket ? redisConnectUnixWithTimeout(r->path, tv)
                         : redisConnectWithTimeout(r->host, r->port, tv);
    pipe_unblock(&g);
    if (!*cp || (*cp)->err)
        return conn_failed(st, cp, "cannot connect", err);
    if (redisSetTimeout(*cp, tv) != REDIS_OK)
        return conn_failed(st, cp, "cannot set the timeout", err);
    int rc = ROLLOUT_OK;
    if (r->has_password) {
        const char *auth_user[] = {"AUTH", r->user, r->password};
        const char *auth[] = {"AUTH", r->password};
        rc = r->user[0] ? simple(st, cp, "AUTH", 3, auth_user, err)
                        : simple(st, cp, "AUTH", 2, auth, err);
    }
    if (!rc && select_db && r->db) {
        char db[24];
        snprintf(db, sizeof db, "%ld", r->db);
        const char *sel[] = {"SELECT", db};
        rc = simple(st, cp, "SELECT", 2, sel, err);
    }
    if (!rc) {
        const char *ping[] = {"PING"};
        rc = simple(st, cp, "PING", 1, ping, err);
    }
    if (rc && *cp) {
        redisFree(*cp);
        *cp = NULL;
    }
    return rc;
}

static int r_connect(rollout_store *st, rollout_error *err)
{
    redis_impl *r = st->impl;
    if (r->cmd && !r->cmd->err)
        return ROLLOUT_OK;
    if (r->cmd) {
        redisFree(r->cmd);
        r->cmd = NULL;
    }
    return dial(st, &r->cmd, 1, err);
}

static int r_key_name(const char *plan_id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "rollout:{%s}:state", plan_id);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int channel_name(const char *plan_id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "rollout:{%s}:changes", plan_id);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int copy_bulk(const redisReply *e, char *buf, size_t cap)
{
    if (e->type != REDIS_REPLY_STRING || e->len >= cap || memchr(e->str, '\0', e->len))
        return -1;
    memcpy(buf, e->str, e->len);
    buf[e->len] = '\0';
    return 0;
}

static int r_read(rollout_store *st, const char *plan_id, int *present, char *rev,
                  size_t rev_cap, char *value, size_t value_cap, rollout_error *err)
{
    redis_impl *r = st->impl;
    int rc = r_connect(st, err);
    if (rc)
        return rc;
    char key[STORE_KEYNAME_MAX];
    if (r_key_name(plan_id, key, sizeof key))
        return st_err(st, err, ROLLOUT_ERR_ARG, "the plan id is too long for a key name");
    const char *argv[] = {"HMGET", key, "rev", "value"};
    size_t lens[] = {5, strlen(key), 3, 5};
    redisReply *reply = run(st, &r->cmd, "HMGET", 4, argv, lens, &rc, err);
    if (!reply)
        return rc;
    rc = ROLLOUT_OK;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        rc = st_err(st, err, ROLLOUT_ERR_STORE, "HMGET %s: unexpected reply", key);
    } else if (reply->element[0]->type == REDIS_REPLY_NIL &&
               reply->element[1]->type == REDIS_REPLY_NIL) {
        *present = 0;
    } else if (copy_bulk(reply->element[0], rev, rev_cap) ||
               copy_bulk(reply->element[1], value, value_cap)) {
        rc = st_err(st, err, ROLLOUT_ERR_STATE,
                    "%s: the hash needs both fields rev and value, as text of at most %zu "
                    "bytes; state refused", key, value_cap - 1);
    } else {
        *present = 1;
    }
    freeReplyObject(reply);
    return rc;
}

static int outbox_name(const char *plan_id, const char *what, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "rollout:{%s}:%s", plan_id, what);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int r_cas_outbox(rollout_store *st, const char *plan_id, const char *expected,
                        uint64_t rev, const char *value, const rollout_store_outbox_entry *entries,
                        size_t n_entries, char *current, size_t current_cap, rollout_error *err)
{
    redis_impl *r = st->impl;
    int rc = r_connect(st, err);
    if (rc)
        return rc;
    char key[STORE_KEYNAME_MAX], chan[STORE_KEYNAME_MAX], obox[STORE_KEYNAME_MAX], revs[32];
    if (r_key_name(plan_id, key, sizeof key) || channel_name(plan_id, chan, sizeof chan) ||
        outbox_name(plan_id, "outbox", obox, sizeof obox))
        return st_err(st, err, ROLLOUT_ERR_ARG, "the plan id is too long for a key name");
    snprintf(revs, sizeof revs, "%" PRIu64, rev);
    const char *exp = expected ? expected : "";
    /* without entries: the documented script by its SHA; with them, the
     * outbox script (3 keys), sent whole */
    size_t argc = n_entries ? 9 + 2 * n_entries : 8;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return st_err(st, err, ROLLOUT_ERR_NOMEM, "out of memory");
    }
    if (n_entries) {
        const char *head[] = {"EVAL", cas_outbox_script, "3", key, chan, obox, exp, revs, value};
        memcpy(argv, head, sizeof head);
        for (size_t i = 0; i < n_entries; i++) {
            argv[9 + 2 * i] = entries[i].key;
            argv[10 + 2 * i] = entries[i].body;
        }
    } else {
        const char *head[] = {"EVALSHA", r->sha, "2", key, chan, exp, revs, value};
        memcpy(argv, head, sizeof head);
    }
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    pipe_guard g;
    pipe_block(&g);
    redisReply *reply = redisCommandArgv(r->cmd, (int)argc, argv, lens);
    if (!n_entries && reply && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* first use on this server (or after SCRIPT FLUSH / a restart) */
        freeReplyObject(reply);
        argv[0] = "EVAL";
        argv[1] = cas_script;
        lens[0] = 4;
        lens[1] = sizeof cas_script - 1;
        reply = redisCommandArgv(r->cmd, 8, argv, lens);
    }
    pipe_unblock(&g);
    free(argv);
    free(lens);
    if (!reply)
        return conn_failed(st, &r->cmd, "compare-and-set", err);
    rc = ROLLOUT_OK;
    if (reply->type == REDIS_REPLY_ERROR) {
        rc = st_err(st, err, ROLLOUT_ERR_STORE, "compare-and-set on %s: the server answered: %s",
                    key, reply->str);
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
               reply->element[0]->type != REDIS_REPLY_INTEGER ||
               copy_bulk(reply->element[1], current, current_cap)) {
        rc = st_err(st, err, ROLLOUT_ERR_STORE, "compare-and-set on %s: unexpected reply", key);
    } else if (reply->element[0]->integer == 0) {
        rc = expected ? st_err(st, err, ROLLOUT_ERR_CONFLICT,
                               "%s: expected revision %s, the store holds %s; nothing written",
                               key, expected, current[0] ? current : "nothing")
                      : st_err(st, err, ROLLOUT_ERR_CONFLICT,
                               "%s: a state is already stored (revision %s); nothing written",
                               key, current);
    } else if (reply->element[0]->integer < 0) {
        rc = st_err(st, err, ROLLOUT_ERR_CONFLICT,
                    "%s: revision %s does not go above the stored %s; nothing written", key,
                    revs, current);
    }
    freeReplyObject(reply);
    return rc;
}

static int r_cas(rollout_store *st, const char *plan_id, const char *expected, uint64_t rev,
                 const char *value, char *current, size_t current_cap, rollout_error *err)
{
    return r_cas_outbox(st, plan_id, expected, rev, value, NULL, 0, current, current_cap, err);
}

static int r_outbox_list(rollout_store *st, const char *plan_id,
                         int (*fn)(const char *key, const char *body, void *ctx), void *ctx,
                         rollout_error *err)
{
    redis_impl *r = st->impl;
    char obox[STORE_KEYNAME_MAX];
    if (outbox_name(plan_id, "outbox", obox, sizeof obox))
        return st_err(st, err, ROLLOUT_ERR_ARG, "the plan id is too long for a key name");
    const char *argv[] = {"HGETALL", obox};
    size_t lens[] = {7, strlen(obox)};
    int rc;
    redisReply *reply = run(st, &r->cmd, "HGETALL", 2, argv, lens, &rc, err);
    if (!reply)
        return rc;
    if (reply->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(reply);
        return st_err(st, err, ROLLOUT_ERR_STORE, "HGETALL %s: unexpected reply", obox);
    }
    size_t n = reply->elements / 2;
    /* in key order: the keys carry the revision and the action's index, so
     * deliveries go out in the order their transitions owed them */
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        freeReplyObject(reply);
        return st_err(st, err, ROLLOUT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            const char *a = reply->element[2 * order[j - 1]]->str;
            const char *b = reply->element[2 * order[j]]->str;
            if (st_key_cmp(a, b) <= 0)
                break;
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    rc = ROLLOUT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const redisReply *k = reply->element[2 * order[i]], *v = reply->element[2 * order[i] + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        rc = fn(k->str, v->str, ctx);
    }
    free(order);
    freeReplyObject(reply);
    return rc;
}

static int r_outbox_done(rollout_store *st, const char *plan_id, const char *key,
                         rollout_error *err)
{
    redis_impl *r = st->impl;
    char obox[STORE_KEYNAME_MAX], done[STORE_KEYNAME_MAX];
    if (outbox_name(plan_id, "outbox", obox, sizeof obox) ||
        outbox_name(plan_id, "delivered", done, sizeof done))
        return st_err(st, err, ROLLOUT_ERR_ARG, "the plan id is too long for a key name");
    static const char script[] = "redis.call('SADD', KEYS[2], ARGV[1])\n"
                                 "return redis.call('HDEL', KEYS[1], ARGV[1])\n";
    const char *argv[] = {"EVAL", script, "2", obox, done, key};
    size_t lens[6];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    int rc;
    redisReply *reply = run(st, &r->cmd, "outbox done", 6, argv, lens, &rc, err);
    if (reply)
        freeReplyObject(reply);
    return rc;
}

static int r_mark(rollout_store *st, const char *plan_id, const char *key, int check, int *yes,
                  rollout_error *err)
{
    redis_impl *r = st->impl;
    char done[STORE_KEYNAME_MAX];
    if (outbox_name(plan_id, "delivered", done, sizeof done))
        return st_err(st, err, ROLLOUT_ERR_ARG, "the plan id is too long for a key name");
    const char *argv[] = {check ? "SISMEMBER" : "SADD", done, key};
    size_t lens[3];
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    int rc;
    redisReply *reply = run(st, &r->cmd, argv[0], 3, argv, lens, &rc, err);
    if (!reply)
        return rc;
    if (yes)
        *yes = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return ROLLOUT_OK;
}

static int r_subscribe(rollout_store *st, const char *plan_id, rollout_error *err)
{
    redis_impl *r = st->impl;
    char chan[STORE_KEYNAME_MAX];
    if (channel_name(plan_id, chan, sizeof chan))
        return st_err(st, err, ROLLOUT_ERR_ARG, "the plan id is too long for a channel name");
    if (r->sub && !r->sub->err && strcmp(chan, r->sub_channel) == 0)
        return ROLLOUT_OK;
    if (r->sub) {
        redisFree(r->sub);
        r->sub = NULL;
    }
    int rc = dial(st, &r->sub, 0, err);
    if (rc)
        return rc;
    const char *argv[] = {"SUBSCRIBE", chan};
    size_t lens[] = {9, strlen(chan)};
    redisReply *reply = run(st, &r->sub, "SUBSCRIBE", 2, argv, lens, &rc, err);
    if (!reply) {
        if (r->sub) {
            redisFree(r->sub);
            r->sub = NULL;
        }
        return rc;
    }
    freeReplyObject(reply);
    snprintf(r->sub_channel, sizeof r->sub_channel, "%s", chan);
    return ROLLOUT_OK;
}

static int r_next_push(rollout_store *st, int wait_ms, char *value, size_t cap,
                       rollout_error *err)
{
    redis_impl *r = st->impl;
    if (!r->sub)
        return st_err(st, err, ROLLOUT_ERR_STORE, "not subscribed");
    int64_t deadline = st_now_ms() + wait_ms;
    for (;;) {
        void *p = NULL;
        if (redisReaderGetReply(r->sub->reader, &p) != REDIS_OK)
            goto broken;
        if (p) {
            redisReply *m = p;
            int ok = m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                     m->element[0]->type == REDIS_REPLY_STRING &&
                     strcmp(m->element[0]->str, "message") == 0 &&
                     copy_bulk(m->element[2], value, cap) == 0;
            freeReplyObject(m);
            if (ok)
                return ROLLOUT_OK;
            continue; /* a subscribe confirmation, or a value too long to be a state */
        }
        int64_t left = deadline - st_now_ms();
        if (left <= 0)
            return ROLLOUT_STORE_NO_CHANGE;
        struct pollfd pfd = {.fd = r->sub->fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto broken;
        if (n == 0)
            return ROLLOUT_STORE_NO_CHANGE;
        if (redisBufferRead(r->sub) != REDIS_OK)
            goto broken;
    }
broken:
    redisFree(r->sub);
    r->sub = NULL;
    return st_err(st, err, ROLLOUT_ERR_STORE, "the update channel's connection broke");
}

static void r_close(rollout_store *st)
{
    redis_impl *r = st->impl;
    if (!r)
        return;
    if (r->cmd)
        redisFree(r->cmd);
    if (r->sub)
        redisFree(r->sub);
    memset(r->password, 0, sizeof r->password);
    free(r);
    st->impl = NULL;
}

static const store_backend redis_backend = {
    .name = "redis",
    .connect = r_connect,
    .key_name = r_key_name,
    .read = r_read,
    .cas = r_cas,
    .cas_outbox = r_cas_outbox,
    .outbox_list = r_outbox_list,
    .outbox_done = r_outbox_done,
    .mark = r_mark,
    .subscribe = r_subscribe,
    .next_push = r_next_push,
    .close = r_close,
};

int st_redis_open(rollout_store *st, const char *url, int lazy, rollout_error *err)
{
    redis_impl *r = calloc(1, sizeof *r);
    if (!r)
        return st_err_plain(err, ROLLOUT_ERR_NOMEM, NULL, "out of memory");
    st->impl = r;
    st->be = &redis_backend;
    int rc = parse_url(r, url, st->name, sizeof st->name, err);
    if (rc)
        return rc;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(cas_script, sizeof cas_script - 1, md, &mdlen, EVP_sha1(), NULL) ||
        mdlen != 20)
        return st_err(st, err, ROLLOUT_ERR_STORE, "cannot compute SHA-1 of the script");
    for (unsigned i = 0; i < 20; i++)
        snprintf(r->sha + 2 * i, 3, "%02x", md[i]);
    return lazy ? ROLLOUT_OK : r_connect(st, err);
}
