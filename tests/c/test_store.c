/* SPDX-License-Identifier: MIT */
/* test_store.c — the store component against a real redis-server: URLs and
 * every connection failure, the signed value, the reader's refusals, the
 * compare-and-set under 8 concurrent operators, an outage with an AOF
 * restart, and watch by push and by poll. docs/fleet.md is the protocol. */
#define _GNU_SOURCE

#include "redis_support.h"
#include "rollout_store.h"
#include "support.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const unsigned char KEY[] = "0123456789abcdef-test-key";
#define KEY_LEN (sizeof KEY - 1)
#define T0 1772269200 /* 2026-02-28T09:00:00Z */
#define HASH "rollout:{ledger-v2}:state"
#define CHANNEL "rollout:{ledger-v2}:changes"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rollout_store *open_store(const char *url, int keyed, int timeout_ms)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.timeout_ms = timeout_ms;
    if (keyed) {
        o.key = KEY;
        o.key_len = KEY_LEN;
    }
    rollout_store *st = NULL;
    rollout_error err;
    int rc = rollout_store_open(url, &o, &st, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "open %s: %s", url, err.message);
    return st;
}

static rollout_event ev(int type)
{
    rollout_event e = {.type = type, .gate = -1};
    return e;
}

static int apply(rollout_store *st, const rollout_plan *p, rollout_event e, int64_t now,
                 rollout_state *out, rollout_error *err)
{
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    return rollout_store_apply(st, p, &e, now, out, actions, &n, err);
}

/* A fresh store holding the seed plan's state, started at T0 (revision 1). */
static rollout_store *started(const char *url, const rollout_plan *p, int keyed)
{
    rollout_store *st = open_store(url, keyed, 2000);
    rollout_state s;
    rollout_error err;
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    cr_assert_eq(rollout_store_create(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_START), T0, &s, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_eq(s.revision, 1u);
    return st;
}

/* The signature the protocol defines, computed here independently. */
static void sign_value(const char *keyname, uint64_t rev, const char *line,
                       const unsigned char *key, size_t key_len, char *out, size_t cap)
{
    char msg[ROLLOUT_STATE_TEXT_MAX + 600];
    int n = snprintf(msg, sizeof msg, "%s\n%" PRIu64 "\n%s", keyname, rev, line);
    unsigned char md[32];
    unsigned int mdlen = 0;
    cr_assert(HMAC(EVP_sha256(), key, (int)key_len, (unsigned char *)msg, (size_t)n, md, &mdlen));
    int o = snprintf(out, cap, "%s hmac-sha256=", line);
    for (int i = 0; i < 32; i++)
        o += snprintf(out + o, cap - (size_t)o, "%02x", md[i]);
}

static char *raw_value(const t_redis *r)
{
    redisContext *c = t_redis_conn(r);
    redisReply *rep = t_redis_cmd(c, "HGET %s value", HASH);
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    char *v = strdup(rep->str);
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

static long long raw_rev(const t_redis *r)
{
    redisContext *c = t_redis_conn(r);
    redisReply *rep = t_redis_cmd(c, "HGET %s rev", HASH);
    long long v = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : -1;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

static void raw_write(const t_redis *r, const char *rev, const char *value, int publish)
{
    redisContext *c = t_redis_conn(r);
    freeReplyObject(t_redis_cmd(c, "HSET %s rev %s value %s", HASH, rev, value));
    if (publish)
        freeReplyObject(t_redis_cmd(c, "PUBLISH %s %s", CHANNEL, value));
    redisFree(c);
}

/* ------------------------------------------------------------------------
 * URLs, options and connection failures
 * ---------------------------------------------------------------------- */

static void url_ok(const char *url, const char *name)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.lazy_connect = 1;
    rollout_store *st = NULL;
    rollout_error err;
    cr_assert_eq(rollout_store_open(url, &o, &st, &err), ROLLOUT_OK, "%s: %s", url, err.message);
    cr_assert_str_eq(rollout_store_name(st), name);
    rollout_store_close(st);
}

Test(store_url, good_urls_and_their_names_without_password)
{
    url_ok("redis://127.0.0.1:6380", "redis://127.0.0.1:6380/0");
    url_ok("redis://cache.internal", "redis://cache.internal:6379/0");
    url_ok("redis://ops:s%40cret@10.0.0.5:7000/3", "redis://ops@10.0.0.5:7000/3");
    url_ok("redis://:secret@h:1/", "redis://h:1/0");
    url_ok("redis://[::1]:6379/2", "redis://[::1]:6379/2");
    url_ok("unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock");
}

static void url_bad(const char *url, const char *why)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.lazy_connect = 1;
    rollout_store *st = (rollout_store *)1;
    rollout_error err;
    int rc = rollout_store_open(url, &o, &st, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_VALUE, "%s: %s", url, rollout_store_code_name(rc));
    cr_assert_null(st);
    cr_assert_eq(err.code, rc);
    cr_assert(strstr(err.message, why), "%s: \"%s\" lacks \"%s\"", url, err.message, why);
    if (!strchr(url, '@'))
        cr_assert(strstr(err.message, url), "the message names the URL: %s", err.message);
}

/* A URL that does not parse still never shows its password. */
Test(store_url, bad_urls_never_show_the_password)
{
    static const char *const urls[] = {
        "redis://ops:hunter2SECRET@127.0.0.1:70000/0",
        "redis://ops:hunter2SECRET@127.0.0.1:6379/x",
        "redis://:hunter2SECRET@:6379",
        "redis://ops:hunter2SECRET@[::1:6379",
        "redis://ops:hun/ter2SECRET@h:6379",
        "redis://ops:hunter2SECRET@h:6379/0?x=1",
        "redis://ops:hunter2SECRET%zz@h:6379",
        "redis://hunter2SECRET@h:6379",
        "http://ops:hunter2SECRET@h:6379",
        "ops:hunter2SECRET@h:6379",
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        rollout_store_options o;
        rollout_store_options_init(&o);
        o.lazy_connect = 1;
        rollout_store *st = NULL;
        rollout_error err;
        int rc = rollout_store_open(urls[i], &o, &st, &err);
        cr_assert_eq(rc, ROLLOUT_ERR_VALUE, "%s: %s", urls[i], rollout_store_code_name(rc));
        cr_assert_null(strstr(err.message, "hunter2"), "%s", err.message);
        cr_assert_null(strstr(err.message, "SECRET"), "%s", err.message);
        cr_assert(strstr(err.message, "***@"), "%s", err.message);
    }
}

Test(store_url, bad_urls_are_named_precisely)
{
    url_bad("", "no scheme");
    url_bad("localhost:6379", "no scheme");
    url_bad("http://localhost:6379", "unknown scheme \"http\"");
    url_bad("redis://", "no host");
    url_bad("redis://:6379", "no host");
    url_bad("redis://h:0", "port must be a number from 1 to 65535");
    url_bad("redis://h:65536", "port must be a number from 1 to 65535");
    url_bad("redis://h:63x9", "port must be a number");
    url_bad("redis://h:", "port must be a number");
    url_bad("redis://h:6379/zero", "database after '/' must be a number");
    url_bad("redis://h:6379/1/2", "database after '/' must be a number");
    url_bad("redis://user@h:6379", "credentials must be user:password@");
    url_bad("redis://user:@h:6379", "empty password");
    url_bad("redis://u:%zz@h:6379", "bad %XX escape");
    url_bad("redis://[::1:6379", "without ']'");
    url_bad("redis://[::1]x", "junk after the IPv6 address");
    url_bad("redis://h:6379/0?timeout=1", "query parameters");
    url_bad("unix://relative.sock", "absolute path");
}

Test(store_url, option_errors)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.lazy_connect = 1;
    o.require_signature = 1;
    rollout_store *st;
    rollout_error err;
    cr_assert_eq(rollout_store_open("redis://h", &o, &st, &err), ROLLOUT_ERR_ARG);
    cr_assert(strstr(err.message, "no HMAC key"), "%s", err.message);
    o.key = KEY;
    o.key_len = 15;
    cr_assert_eq(rollout_store_open("redis://h", &o, &st, &err), ROLLOUT_ERR_ARG);
    cr_assert(strstr(err.message, "16 to"), "%s", err.message);
    o.key_len = KEY_LEN;
    o.timeout_ms = -1;
    cr_assert_eq(rollout_store_open("redis://h", &o, &st, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_store_open(NULL, &o, &st, &err), ROLLOUT_ERR_ARG);
    cr_assert_str_eq(rollout_store_code_name(ROLLOUT_ERR_SIGNATURE), "ROLLOUT_ERR_SIGNATURE");
    cr_assert_str_eq(rollout_store_code_name(ROLLOUT_ERR_STATE), "ROLLOUT_ERR_STATE");
}

Test(store_url, key_files)
{
    char dir[] = "/tmp/rollout-key-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[128];
    unsigned char key[ROLLOUT_STORE_KEY_MAX];
    size_t len = 0;
    rollout_error err;
    snprintf(path, sizeof path, "%s/missing", dir);
    cr_assert_eq(rollout_store_read_key_file(path, key, sizeof key, &len, &err), ROLLOUT_ERR_IO);
    cr_assert(strstr(err.message, path), "%s", err.message);

    snprintf(path, sizeof path, "%s/short", dir);
    FILE *f = fopen(path, "w");
    fputs("too-short\n", f);
    fclose(f);
    cr_assert_eq(rollout_store_read_key_file(path, key, sizeof key, &len, &err),
                 ROLLOUT_ERR_VALUE);
    cr_assert(strstr(err.message, "at least 16"), "%s", err.message);

    snprintf(path, sizeof path, "%s/good", dir);
    f = fopen(path, "w");
    fputs("0123456789abcdef-test-key\r\n", f);
    fclose(f);
    cr_assert_eq(rollout_store_read_key_file(path, key, sizeof key, &len, &err), ROLLOUT_OK,
                 "%s", err.message);
    cr_assert_eq(len, KEY_LEN);
    cr_assert(memcmp(key, KEY, KEY_LEN) == 0);
    cr_assert_eq(rollout_store_read_key_file(path, key, 20, &len, &err), ROLLOUT_ERR_VALUE);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(store_url, refused_connection_fails_fast)
{
    int port = t_free_port(); /* nothing listens there */
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.timeout_ms = 300;
    rollout_store *st = (rollout_store *)1;
    rollout_error err;
    int64_t t = now_ms();
    int rc = rollout_store_open(url, &o, &st, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_STORE, "%s", rollout_store_code_name(rc));
    cr_assert_null(st);
    cr_assert_lt(now_ms() - t, 3000);
    cr_assert(strstr(err.message, "refused"), "%s", err.message);
    cr_assert(strstr(err.message, url), "names the store: %s", err.message);

    cr_assert_eq(rollout_store_open("unix:///nonexistent/redis.sock", &o, &st, &err),
                 ROLLOUT_ERR_STORE);
    cr_assert(strstr(err.message, "unix:///nonexistent/redis.sock"), "%s", err.message);
}

/* A socket that accepts connections (the kernel's backlog does) and never
 * says a word: every call ends with ROLLOUT_ERR_TIMEOUT after timeout_ms. */
Test(store_url, silent_server_times_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(a.sin_port));

    rollout_store_options o;
    rollout_store_options_init(&o);
    o.timeout_ms = 300;
    rollout_store *st = (rollout_store *)1;
    rollout_error err;
    int64_t t = now_ms();
    int rc = rollout_store_open(url, &o, &st, &err);
    int64_t took = now_ms() - t;
    cr_assert_eq(rc, ROLLOUT_ERR_TIMEOUT, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_geq(took, 250);
    cr_assert_lt(took, 3000);
    cr_assert(strstr(err.message, "no answer within 300 ms"), "%s", err.message);

    /* a handle opened lazily meets the same silence on its first call */
    o.lazy_connect = 1;
    cr_assert_eq(rollout_store_open(url, &o, &st, &err), ROLLOUT_OK);
    rollout_plan *p = t_seed();
    rollout_state s;
    t = now_ms();
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_ERR_TIMEOUT, "%s", err.message);
    cr_assert_lt(now_ms() - t, 3000);
    rollout_store_close(st);
    rollout_plan_unref(p);
    close(fd);
}

/* ------------------------------------------------------------------------
 * Load, create, put, apply
 * ---------------------------------------------------------------------- */

Test(store, create_load_apply_and_the_stored_value)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = open_store(r.url, 1, 2000);
    rollout_state s, got;
    rollout_error err;
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_ERR_NOT_FOUND);
    cr_assert(strstr(err.message, "ledger-v2") && strstr(err.message, r.url), "%s", err.message);

    rollout_state_init(p, &s);
    cr_assert_eq(rollout_store_create(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(rollout_store_create(st, p, &s, &err), ROLLOUT_ERR_CONFLICT);
    cr_assert(strstr(err.message, "already stored"), "%s", err.message);
    cr_assert_eq(rollout_store_load(st, p, &got, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(got.revision, 0u);

    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_START), T0, &s, &err), ROLLOUT_OK);
    cr_assert_eq(s.revision, 1u);
    cr_assert_eq(raw_rev(&r), 1);
    /* the value: the state line, then the signature over name, rev and line */
    char *v = raw_value(&r);
    char line[ROLLOUT_STATE_TEXT_MAX], want[ROLLOUT_STATE_TEXT_MAX + 100];
    rollout_state_encode(&s, line, sizeof line);
    sign_value(HASH, 1, line, KEY, KEY_LEN, want, sizeof want);
    cr_assert_str_eq(v, want);
    free(v);

    /* a refused event writes nothing */
    rollout_event go = ev(ROLLOUT_EVENT_GO);
    cr_assert_eq(apply(st, p, go, T0 + 60, &got, &err), ROLLOUT_ERR_TRANSITION);
    cr_assert_eq(raw_rev(&r), 1);

    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

Test(store, clock_ahead_elsewhere_applies_at_the_states_time)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 0);
    rollout_state s;
    rollout_error err;
    /* another operator's clock is an hour ahead */
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 3600, &s, &err), ROLLOUT_OK);
    /* ours is behind: the event is applied at the state's last change */
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_RESUME), T0 + 10, &s, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_eq(s.revision, 3u);
    cr_assert_eq(s.updated_at, T0 + 3600);
    cr_assert_eq(s.status, ROLLOUT_STATUS_RUNNING);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

Test(store, put_is_a_compare_and_set_and_revisions_only_go_up)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_state s, next;
    rollout_error err;
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK);
    next = s;
    next.revision = 2;
    cr_assert_eq(rollout_store_put(st, p, 0, &next, &err), ROLLOUT_ERR_CONFLICT);
    cr_assert(strstr(err.message, "expected revision 0, the store holds 1"), "%s", err.message);
    cr_assert_eq(rollout_store_put(st, p, 2, &next, &err), ROLLOUT_ERR_ARG);
    cr_assert(strstr(err.message, "revisions only go up"), "%s", err.message);
    cr_assert_eq(rollout_store_put(st, p, 1, &next, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(raw_rev(&r), 2);

    /* a state of another plan is not put under this rollout */
    rollout_plan *other = NULL;
    cr_assert_eq(rollout_plan_load_file("examples/plans/minimal.yaml", &other, &err), ROLLOUT_OK);
    rollout_state o;
    rollout_state_init(other, &o);
    o.revision = 3;
    cr_assert_eq(rollout_store_put(st, p, 2, &o, &err), ROLLOUT_ERR_STATE_PLAN);
    cr_assert_eq(raw_rev(&r), 2);
    rollout_plan_unref(other);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

Test(store, unix_socket_and_database)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    char url[400];
    snprintf(url, sizeof url, "unix://%s", r.sock);
    rollout_store *st = open_store(url, 0, 2000);
    rollout_state s;
    rollout_error err;
    rollout_state_init(p, &s);
    cr_assert_eq(rollout_store_create(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(raw_rev(&r), 0);
    rollout_store_close(st);

    /* database 5 is another namespace: nothing there yet */
    snprintf(url, sizeof url, "%s/5", r.url);
    st = open_store(url, 0, 2000);
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_ERR_NOT_FOUND);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

Test(store, password_and_acl_user)
{
    t_redis r;
    t_redis_start(&r, 0);
    redisContext *c = t_redis_conn(&r);
    freeReplyObject(t_redis_cmd(c, "ACL SETUSER ops on >opspass ~rollout:* &* +@all"));
    freeReplyObject(t_redis_cmd(c, "ACL SETUSER reader on >readpass ~rollout:* &* -@all "
                                   "+hmget +subscribe +ping"));
    redisFree(c);
    rollout_plan *p = t_seed();
    char url[200];
    snprintf(url, sizeof url, "redis://ops:opspass@127.0.0.1:%d", r.port);
    rollout_store_close(started(url, p, 1));
    rollout_error err;
    rollout_store_options o;
    rollout_store_options_init(&o);
    rollout_store *st;
    snprintf(url, sizeof url, "redis://ops:wrong@127.0.0.1:%d", r.port);
    cr_assert_eq(rollout_store_open(url, &o, &st, &err), ROLLOUT_ERR_STORE);
    cr_assert(strstr(err.message, "AUTH"), "%s", err.message);
    cr_assert_null(strstr(err.message, "wrong"), "the password is not printed: %s",
                   err.message);

    /* the read-only user reads and verifies, and cannot write */
    snprintf(url, sizeof url, "redis://reader:readpass@127.0.0.1:%d", r.port);
    o.key = KEY;
    o.key_len = KEY_LEN;
    cr_assert_eq(rollout_store_open(url, &o, &st, &err), ROLLOUT_OK, "%s", err.message);
    rollout_state s;
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(s.revision, 1u);
    int rc = apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_STORE, "%s", rollout_store_code_name(rc));
    cr_assert(strstr(err.message, "NOPERM"), "%s", err.message);
    cr_assert_eq(raw_rev(&r), 1);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* ------------------------------------------------------------------------
 * Bad states written straight into Redis
 * ---------------------------------------------------------------------- */

/* Writes value by hand; load must refuse it with want and keep *s as it was. */
static void refused(const t_redis *r, rollout_store *st, const rollout_plan *p, const char *rev,
                    const char *value, int want, const char *why)
{
    raw_write(r, rev, value, 1);
    rollout_state s, before;
    memset(&s, 0x5a, sizeof s);
    before = s;
    rollout_error err;
    int rc = rollout_store_load(st, p, &s, &err);
    cr_assert_eq(rc, want, "%s: %s (%s)", why, rollout_store_code_name(rc), err.message);
    cr_assert(memcmp(&s, &before, sizeof s) == 0, "%s: the caller's state was touched", why);
    cr_assert(strstr(err.message, "refused"), "%s: %s", why, err.message);
}

Test(store_bad, unsigned_forged_foreign_and_replayed_values_are_refused)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_state s;
    rollout_error err;
    char *rev1 = raw_value(&r);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &s, &err), ROLLOUT_OK);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_RESUME), T0 + 120, &s, &err), ROLLOUT_OK);
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK);
    cr_assert_eq(s.revision, 3u);
    char *good = raw_value(&r);

    /* unsigned, while the reader holds a key */
    rollout_state next = s;
    next.revision = 4;
    char line[ROLLOUT_STATE_TEXT_MAX], v[ROLLOUT_STATE_TEXT_MAX + 100];
    rollout_state_encode(&next, line, sizeof line);
    refused(&r, st, p, "4", line, ROLLOUT_ERR_SIGNATURE, "unsigned");
    /* signed with another key */
    sign_value(HASH, 4, line, (const unsigned char *)"another-key-0123456789", 22, v, sizeof v);
    refused(&r, st, p, "4", v, ROLLOUT_ERR_SIGNATURE, "forged");
    /* a good signature moved to another revision */
    sign_value(HASH, 5, line, KEY, KEY_LEN, v, sizeof v);
    refused(&r, st, p, "4", v, ROLLOUT_ERR_SIGNATURE, "signature of another revision");
    /* a good signature of another rollout's key name */
    sign_value("rollout:{other}:state", 4, line, KEY, KEY_LEN, v, sizeof v);
    refused(&r, st, p, "4", v, ROLLOUT_ERR_SIGNATURE, "signature of another rollout");
    /* a malformed signature */
    snprintf(v, sizeof v, "%s hmac-sha256=XYZ", line);
    refused(&r, st, p, "4", v, ROLLOUT_ERR_SIGNATURE, "malformed signature");
    /* rev field disagreeing with the state */
    sign_value(HASH, 4, line, KEY, KEY_LEN, v, sizeof v);
    refused(&r, st, p, "7", v, ROLLOUT_ERR_STATE, "rev field");
    /* corrupt line */
    refused(&r, st, p, "4", "rs1.garbage", ROLLOUT_ERR_STATE, "corrupt");
    /* another plan's state, correctly signed under this key name */
    rollout_plan *other = NULL;
    cr_assert_eq(rollout_plan_load_file("examples/plans/minimal.yaml", &other, &err), ROLLOUT_OK);
    rollout_state o;
    rollout_state_init(other, &o);
    o.revision = 4;
    rollout_state_encode(&o, line, sizeof line);
    sign_value(HASH, 4, line, KEY, KEY_LEN, v, sizeof v);
    refused(&r, st, p, "4", v, ROLLOUT_ERR_STATE_PLAN, "another plan");
    rollout_plan_unref(other);
    /* a replay of revision 1, genuinely signed */
    refused(&r, st, p, "1", rev1, ROLLOUT_ERR_REPLAY, "replay");

    /* a reader that holds a key accepts the real one again */
    raw_write(&r, "3", good, 0);
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(s.revision, 3u);
    /* an operator never writes over a refused value */
    raw_write(&r, "1", rev1, 0);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 200, &s, &err), ROLLOUT_ERR_REPLAY);
    cr_assert_eq(raw_rev(&r), 1);
    free(rev1);
    free(good);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

Test(store_bad, watch_refuses_once_and_keeps_the_last_good_state)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_store *w = open_store(r.url, 1, 2000);
    rollout_state held, s;
    rollout_error err;
    cr_assert_eq(rollout_store_load(w, p, &held, &err), ROLLOUT_OK);
    rollout_state next = held;
    next.revision = 2;
    char line[ROLLOUT_STATE_TEXT_MAX];
    rollout_state_encode(&next, line, sizeof line);
    raw_write(&r, "2", line, 1); /* unsigned, and published */

    s = held;
    int rc = rollout_store_watch(w, p, held.revision, 1000, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_SIGNATURE, "%s", rollout_store_code_name(rc));
    cr_assert(memcmp(&s, &held, sizeof s) == 0);
    /* the same bad value is not reported again: the watcher waits on */
    int64_t t = now_ms();
    rc = rollout_store_watch(w, p, held.revision, 300, &s, &err);
    cr_assert_eq(rc, ROLLOUT_STORE_NO_CHANGE, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_geq(now_ms() - t, 250);
    /* the real state is put back (an operator's CAS would compare with the
     * bad value's rev), then moved on: the watcher sees that */
    rollout_state_encode(&held, line, sizeof line);
    char v[ROLLOUT_STATE_TEXT_MAX + 100];
    sign_value(HASH, 1, line, KEY, KEY_LEN, v, sizeof v);
    raw_write(&r, "1", v, 0);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &next, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_eq(rollout_store_watch(w, p, held.revision, 2000, &s, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_eq(s.revision, 2u);
    cr_assert_eq(s.status, ROLLOUT_STATUS_PAUSED);
    rollout_store_close(w);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* A store restored from an older backup and written on by operators whose
 * handles are new: the history forks at the restored revision. A watcher
 * that held the rollback keeps it and refuses the fork even once it reaches
 * a higher revision, and a writer seeded with the state it holds refuses to
 * apply on the fork (nothing written). Writing the last good value back
 * ends the refusals. */
Test(store_bad, a_restored_backup_written_on_never_undoes_a_rollback)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_store *w = open_store(r.url, 1, 2000);
    rollout_state s, held, r4;
    rollout_error err;
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &s, &err), ROLLOUT_OK);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_RESUME), T0 + 120, &s, &err), ROLLOUT_OK);
    char *r3 = raw_value(&r);
    rollout_event rb = ev(ROLLOUT_EVENT_ROLLBACK);
    cr_assert_eq(apply(st, p, rb, T0 + 180, &r4, &err), ROLLOUT_OK, "%s", err.message);
    char *good = raw_value(&r);
    cr_assert_eq(rollout_store_watch(w, p, 0, 1000, &held, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(held.revision, 4u);
    cr_assert_eq(held.status, ROLLOUT_STATUS_ROLLING_BACK);

    raw_write(&r, "3", r3, 1); /* the restore */
    s = held;
    cr_assert_eq(rollout_store_watch(w, p, 4, 500, &s, &err), ROLLOUT_ERR_REPLAY);
    /* operators with fresh handles write on the restored state */
    rollout_store *op = open_store(r.url, 1, 2000);
    cr_assert_eq(apply(op, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 240, &s, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_eq(s.revision, 4u);
    rollout_store_close(op);
    s = held;
    int rc = rollout_store_watch(w, p, 4, 500, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_REPLAY, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert(strstr(err.message, "does not follow"), "%s", err.message);
    cr_assert(memcmp(&s, &held, sizeof s) == 0);
    op = open_store(r.url, 1, 2000);
    cr_assert_eq(apply(op, p, ev(ROLLOUT_EVENT_RESUME), T0 + 300, &s, &err), ROLLOUT_OK);
    cr_assert_eq(s.revision, 5u);
    cr_assert_eq(s.status, ROLLOUT_STATUS_RUNNING);
    rollout_store_close(op);
    s = held;
    rc = rollout_store_watch(w, p, 4, 500, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_REPLAY, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert(memcmp(&s, &held, sizeof s) == 0);
    cr_assert_eq(rollout_store_load(w, p, &s, &err), ROLLOUT_ERR_REPLAY);

    /* a writer that holds the rollback refuses to apply on the fork */
    op = open_store(r.url, 1, 2000);
    cr_assert_eq(rollout_store_hold(op, p, &held, &err), ROLLOUT_OK, "%s", err.message);
    rollout_event pause = ev(ROLLOUT_EVENT_PAUSE);
    rc = apply(op, p, pause, T0 + 360, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_REPLAY, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_eq(raw_rev(&r), 5);
    rollout_store_close(op);

    /* the last good value written back ends it: both follow it again */
    redisContext *c = t_redis_conn(&r);
    freeReplyObject(t_redis_cmd(c, "HSET %s rev 4 value %s", HASH, good));
    redisFree(c);
    cr_assert_eq(rollout_store_load(w, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLING_BACK);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_ESCALATE), T0 + 420, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(rollout_store_watch(w, p, 4, 1000, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(s.revision, 5u);
    cr_assert_eq(s.rollback_started_at, r4.rollback_started_at);
    free(r3);
    free(good);
    rollout_store_close(w);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* A value refused for its rev field is judged again once the field is
 * corrected, by the same handle, without waiting for another write. */
Test(store_bad, a_corrected_rev_field_is_accepted_at_once)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_store *w = open_store(r.url, 1, 2000);
    rollout_state held, s;
    rollout_error err;
    cr_assert_eq(rollout_store_load(w, p, &held, &err), ROLLOUT_OK);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &s, &err), ROLLOUT_OK);
    char *v2 = raw_value(&r);
    raw_write(&r, "99", v2, 0);
    s = held;
    int rc = rollout_store_watch(w, p, 1, 500, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_STATE, "%s", rollout_store_code_name(rc));
    raw_write(&r, "2", v2, 0);
    rc = rollout_store_watch(w, p, 1, 500, &s, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_eq(s.revision, 2u);
    free(v2);
    rollout_store_close(w);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* ------------------------------------------------------------------------
 * Outage
 * ---------------------------------------------------------------------- */

Test(store_outage, writes_fail_fast_and_aof_brings_the_state_back)
{
    t_redis r;
    t_redis_start(&r, 1);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_store_close(st);
    st = open_store(r.url, 1, 300);
    rollout_state s, held;
    rollout_error err;
    cr_assert_eq(rollout_store_load(st, p, &held, &err), ROLLOUT_OK);
    cr_assert_eq(held.revision, 1u);

    t_redis_kill(&r);
    s = held;
    int64_t t = now_ms();
    int rc = apply(st, p, ev(ROLLOUT_EVENT_ROLLBACK), T0 + 60, &s, &err);
    cr_assert_eq(rc, ROLLOUT_ERR_STORE, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_lt(now_ms() - t, 2000);
    cr_assert(strstr(err.message, r.url), "names the store: %s", err.message);
    cr_assert(memcmp(&s, &held, sizeof s) == 0, "nothing half-done in the caller's state");
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_ERR_STORE);
    cr_assert_eq(rollout_store_watch(st, p, 1, 100, &s, &err), ROLLOUT_ERR_STORE);

    t_redis_restart(&r);
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    cr_assert_eq(s.revision, 1u, "the AOF kept revision 1 and nothing else");
    cr_assert_eq(s.status, ROLLOUT_STATUS_RUNNING);
    /* and the handle writes again */
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_ROLLBACK), T0 + 60, &s, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert_eq(raw_rev(&r), 2);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

Test(store_outage, a_hung_server_times_out_and_nothing_is_written)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 0);
    rollout_store_close(st);
    st = open_store(r.url, 0, 300);
    rollout_state s;
    rollout_error err;
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK);
    kill(r.pid, SIGSTOP);
    int64_t t = now_ms();
    int rc = apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &s, &err);
    int64_t took = now_ms() - t;
    kill(r.pid, SIGCONT);
    cr_assert_eq(rc, ROLLOUT_ERR_TIMEOUT, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_geq(took, 250);
    cr_assert_lt(took, 2000);
    cr_assert_eq(raw_rev(&r), 1);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* ------------------------------------------------------------------------
 * Watch: push, and poll when the push is lost
 * ---------------------------------------------------------------------- */

typedef struct writer_arg {
    const t_redis *r;
    const rollout_plan *p;
    int delay_ms;
    int publish;      /* 0: write the hash by hand without PUBLISH */
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *a = arg;
    struct timespec ts = {0, (long)a->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    rollout_store *st = open_store(a->r->url, 1, 2000);
    rollout_state s;
    rollout_error err;
    if (a->publish) {
        cr_assert_eq(apply(st, a->p, ev(ROLLOUT_EVENT_ROLLBACK), T0 + 60, &s, &err), ROLLOUT_OK);
    } else {
        cr_assert_eq(rollout_store_load(st, a->p, &s, &err), ROLLOUT_OK);
        rollout_state next;
        rollout_action actions[ROLLOUT_MAX_ACTIONS];
        size_t n = ROLLOUT_MAX_ACTIONS;
        rollout_event e = ev(ROLLOUT_EVENT_ROLLBACK);
        cr_assert_eq(rollout_apply(a->p, &s, &e, T0 + 60, &next, actions, &n, NULL), ROLLOUT_OK);
        char line[ROLLOUT_STATE_TEXT_MAX], v[ROLLOUT_STATE_TEXT_MAX + 100], rev[24];
        rollout_state_encode(&next, line, sizeof line);
        sign_value(HASH, next.revision, line, KEY, KEY_LEN, v, sizeof v);
        snprintf(rev, sizeof rev, "%" PRIu64, next.revision);
        raw_write(a->r, rev, v, 0);
    }
    rollout_store_close(st);
    return NULL;
}

static void watch_case(int no_subscribe, int publish, int poll_ms, int64_t max_ms)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_store_close(st);
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.key = KEY;
    o.key_len = KEY_LEN;
    o.no_subscribe = no_subscribe;
    o.poll_interval_ms = poll_ms;
    rollout_store *w;
    rollout_error err;
    cr_assert_eq(rollout_store_open(r.url, &o, &w, &err), ROLLOUT_OK);
    rollout_state s;
    /* nothing new: the wait runs out */
    int64_t t = now_ms();
    cr_assert_eq(rollout_store_watch(w, p, 1, 200, &s, &err), ROLLOUT_STORE_NO_CHANGE);
    cr_assert_geq(now_ms() - t, 190);

    writer_arg a = {&r, p, 300, publish};
    pthread_t th;
    pthread_create(&th, NULL, writer, &a);
    t = now_ms();
    int rc = rollout_store_watch(w, p, 1, 10000, &s, &err);
    int64_t took = now_ms() - t;
    pthread_join(th, NULL);
    cr_assert_eq(rc, ROLLOUT_OK, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert_eq(s.revision, 2u);
    cr_assert_eq(s.status, ROLLOUT_STATUS_ROLLING_BACK);
    /* seen after the write (300 ms in), within the bound of its path */
    cr_assert_geq(took, 250);
    cr_assert_lt(took, max_ms, "seen after %" PRId64 " ms, bound %" PRId64, took, max_ms);
    rollout_store_close(w);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* Polls every 5 s: only the push can deliver the write this fast. */
Test(store_watch, push_delivers_at_once)
{
    watch_case(0, 1, 5000, 300 + 1500);
}

/* Subscribe disabled: the poll (every 200 ms) sees it. */
Test(store_watch, poll_alone_sees_the_write)
{
    watch_case(1, 1, 200, 300 + 200 + 1500);
}

/* Subscribed, but the write is not published: the poll still sees it. */
Test(store_watch, unpublished_write_is_seen_by_the_poll)
{
    watch_case(0, 0, 200, 300 + 200 + 1500);
}

/* A replay written while the watcher waits on its push connection: the
 * push delivers it first (older than what was read: silently not news), and
 * the poll that reads it from the hash must still report it. */
typedef struct {
    const t_redis *r;
    const char *value;
} replay_arg;

static void *replayer(void *arg)
{
    replay_arg *a = arg;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    raw_write(a->r, "1", a->value, 1);
    return NULL;
}

Test(store_watch, replay_pushed_first_is_still_reported_by_the_poll)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    rollout_store *st = started(r.url, p, 1);
    rollout_state first, s;
    rollout_error err;
    cr_assert_eq(rollout_store_load(st, p, &first, &err), ROLLOUT_OK);
    cr_assert_eq(apply(st, p, ev(ROLLOUT_EVENT_PAUSE), T0 + 60, &s, &err), ROLLOUT_OK);
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.key = KEY;
    o.key_len = KEY_LEN;
    o.poll_interval_ms = 200;
    rollout_store *w;
    cr_assert_eq(rollout_store_open(r.url, &o, &w, &err), ROLLOUT_OK);
    cr_assert_eq(rollout_store_watch(w, p, 0, 500, &s, &err), ROLLOUT_OK);
    cr_assert_eq(s.revision, 2u);

    char line[ROLLOUT_STATE_TEXT_MAX], v[ROLLOUT_STATE_TEXT_MAX + 100];
    rollout_state_encode(&first, line, sizeof line);
    sign_value(HASH, 1, line, KEY, KEY_LEN, v, sizeof v);
    replay_arg a = {&r, v};
    pthread_t th;
    pthread_create(&th, NULL, replayer, &a);
    rollout_state held = s;
    int rc = rollout_store_watch(w, p, 2, 2000, &s, &err);
    pthread_join(th, NULL);
    cr_assert_eq(rc, ROLLOUT_ERR_REPLAY, "%s: %s", rollout_store_code_name(rc), err.message);
    cr_assert(memcmp(&s, &held, sizeof s) == 0);
    rollout_store_close(w);
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}

/* ------------------------------------------------------------------------
 * Concurrent operators
 * ---------------------------------------------------------------------- */

#define OPERATORS 8
#define EVENTS 50

/* One operator: EVENTS events of approvals, pauses and resumes; operator 3
 * rolls back half-way. Returns the number of events accepted, -1 on an
 * unexpected failure. */
static int operator_run(const t_redis *r, const rollout_plan *p, int id)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.key = KEY;
    o.key_len = KEY_LEN;
    o.timeout_ms = 5000;
    o.max_retries = 10000;
    rollout_store *st;
    rollout_error err;
    if (rollout_store_open(r->url, &o, &st, &err))
        return -1;
    uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    int accepted = 0, gates = rollout_plan_gate_count(p), roles = rollout_plan_role_count(p);
    for (int i = 0; i < EVENTS; i++) {
        rollout_event e = ev(ROLLOUT_EVENT_APPROVE);
        uint64_t x = t_rand(&rnd);
        if (id == 3 && i == EVENTS / 2) {
            e = ev(ROLLOUT_EVENT_ROLLBACK);
        } else if (x % 4 == 0) {
            e = ev(ROLLOUT_EVENT_PAUSE);
        } else if (x % 4 == 1) {
            e = ev(ROLLOUT_EVENT_RESUME);
        } else {
            e.gate = (int)((x >> 8) % (uint64_t)gates);
            e.role = (int)((x >> 16) % (uint64_t)roles);
        }
        rollout_state s;
        /* operators' clocks disagree by up to 8 s */
        int rc = apply(st, p, e, T0 + 100 + i * 10 + id, &s, &err);
        if (rc == ROLLOUT_OK)
            accepted++;
        else if (rc != ROLLOUT_ERR_TRANSITION) {
            fprintf(stderr, "operator %d: %s: %s\n", id, rollout_store_code_name(rc),
                    err.message);
            rollout_store_close(st);
            return -1;
        }
        if (id == 3 && i == EVENTS / 2 && rc != ROLLOUT_OK) {
            fprintf(stderr, "operator 3: rollback refused: %s\n", err.message);
            rollout_store_close(st);
            return -1;
        }
    }
    rollout_store_close(st);
    return accepted;
}

Test(store_concurrency, eight_operators_lose_nothing_and_the_rollback_holds)
{
    t_redis r;
    t_redis_start(&r, 0);
    rollout_plan *p = t_seed();
    /* no connection is shared across fork(): closed first, reopened after */
    rollout_store_close(started(r.url, p, 1));
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pids[OPERATORS];
    for (int i = 0; i < OPERATORS; i++) {
        pids[i] = fork();
        cr_assert(pids[i] >= 0);
        if (pids[i] == 0) {
            /* the count goes through a pipe: the exit status belongs to
             * valgrind when the suite runs under it */
            int n = operator_run(&r, p, i);
            rollout_plan_unref(p);
            ssize_t w = write(fds[1], &n, sizeof n);
            _exit(w == (ssize_t)sizeof n ? 0 : 1);
        }
    }
    close(fds[1]);
    int total = 0, reports = 0, n;
    while (read(fds[0], &n, sizeof n) == (ssize_t)sizeof n) {
        cr_assert_neq(n, -1, "an operator failed (see stderr)");
        cr_assert_leq(n, EVENTS);
        total += n;
        reports++;
    }
    close(fds[0]);
    for (int i = 0; i < OPERATORS; i++) {
        int status;
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status), "operator %d died", i);
    }
    cr_assert_eq(reports, OPERATORS);
    rollout_store *st = open_store(r.url, 1, 2000);
    rollout_state s;
    rollout_error err;
    cr_assert_eq(rollout_store_load(st, p, &s, &err), ROLLOUT_OK, "%s", err.message);
    /* start (revision 1) and every accepted event, one revision each */
    cr_assert_eq(s.revision, (uint64_t)(1 + total), "revision %" PRIu64 ", accepted %d",
                 s.revision, total);
    cr_assert_eq(raw_rev(&r), (long long)s.revision);
    cr_assert(s.status == ROLLOUT_STATUS_ROLLING_BACK || s.status == ROLLOUT_STATUS_ROLLED_BACK,
              "status %s", rollout_status_name(s.status));
    cr_assert_geq(s.rollback_started_at, 1);
    /* a GO after the rollback is refused and writes nothing */
    rollout_event go = ev(ROLLOUT_EVENT_GO);
    go.override = 1;
    go.role = 0;
    cr_assert_eq(apply(st, p, go, T0 + 10000, &s, &err), ROLLOUT_ERR_TRANSITION);
    cr_assert_eq(raw_rev(&r), (long long)(1 + total));
    rollout_store_close(st);
    rollout_plan_unref(p);
    t_redis_stop(&r);
}
