/* SPDX-License-Identifier: MIT */
/*
 * test_bucket_compat.c — the compatibility bucket functions against the peer
 * SDKs' own answers (tests/vectors/compat/vectors.json, written by the SDKs
 * themselves through gen_compat.sh), through rollout_bucket_with, through
 * rollout_decide and rollout_decide_ids on a plan in that mode, and the
 * plan's `bucketing:` section's errors.
 */
#define _GNU_SOURCE /* asprintf */
#include "bucket.h"
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VECTORS "tests/vectors/compat/vectors.json"

static const rp_node *field(const rp_node *map, const char *key)
{
    const rp_node *v = rp_map_get(map, key);
    cr_assert(v, "vector without \"%s\" (line %d)", key, map->line);
    return v;
}

/* ids[i] of the file as bytes: the text, or {hex: ...} for bytes that are
 * not UTF-8. Returns the length; out has room for the longest id. */
static size_t id_bytes(const rp_node *n, char *out)
{
    if (n->kind == RP_SCALAR) {
        memcpy(out, n->str, n->len);
        return n->len;
    }
    const rp_node *hex = field(n, "hex");
    for (size_t i = 0; i < hex->len / 2; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex->str + 2 * i, "%2x", &v), 1);
        out[i] = (char)v;
    }
    return hex->len / 2;
}

typedef struct vectors {
    rp_arena arena;
    const rp_node *root, *ids, *weights, *modes;
    uint32_t w[64];
    size_t n_w;
} vectors;

static void load(vectors *v)
{
    memset(v, 0, sizeof *v);
    v->root = t_json(&v->arena, VECTORS);
    v->ids = field(v->root, "ids");
    v->weights = field(v->root, "weights");
    v->modes = field(v->root, "modes");
    cr_assert_leq(v->weights->n, 64);
    v->n_w = v->weights->n;
    for (size_t k = 0; k < v->n_w; k++)
        v->w[k] = (uint32_t)strtoul(v->weights->items[k]->str, NULL, 10);
}

/* the index of the first weight a bucket is in at (n_w: never) */
static size_t first_in(const vectors *v, uint32_t bucket)
{
    size_t k = 0;
    while (k < v->n_w && !(bucket < v->w[k]))
        k++;
    return k;
}

Test(bucket_compat, covers_what_the_issue_asks)
{
    vectors v;
    load(&v);
    cr_assert_geq(v.ids->n, 10000);
    cr_assert_eq(v.modes->n, 5, "unleash, growthbook v1 and v2, launchdarkly, flagd");
    /* 0, 0.001 % steps around 25 %, 100 % */
    cr_assert_eq(v.w[0], 0);
    cr_assert_eq(v.w[v.n_w - 1], 100000);
    size_t around = 0;
    for (size_t k = 0; k < v.n_w; k++)
        around += v.w[k] >= 24990 && v.w[k] <= 25010;
    cr_assert_eq(around, 21);
    size_t hex = 0, non_ascii = 0, longest = 0;
    for (size_t i = 0; i < v.ids->n; i++) {
        const rp_node *n = v.ids->items[i];
        hex += n->kind != RP_SCALAR;
        if (n->kind == RP_SCALAR) {
            longest = n->len > longest ? n->len : longest;
            for (size_t k = 0; k < n->len; k++)
                if ((unsigned char)n->str[k] >= 0x80) {
                    non_ascii++;
                    break;
                }
        }
    }
    cr_assert_gt(hex, 10);
    cr_assert_gt(non_ascii, 1000);
    cr_assert_geq(longest, 10000);
    rp_arena_free(&v.arena);
}

/* Every id of every mode: the bucket puts the id in from exactly the first
 * weight the SDK put it in at, and nowhere before. */
Test(bucket_compat, every_peer_answer)
{
    vectors v;
    load(&v);
    char *id = malloc(65536);
    for (size_t m = 0; m < v.modes->n; m++) {
        const rp_node *mode = v.modes->items[m];
        const rp_node *name = field(mode, "hash"), *key = field(mode, "key");
        const rp_node *want = field(mode, "first_in");
        int hash = rollout_hash_from_name(name->str, name->len);
        cr_assert_geq(hash, 1, "mode %s", name->str);
        cr_assert_str_eq(rollout_hash_name(hash), name->str);
        cr_assert_eq(want->n, v.ids->n);
        size_t mismatches = 0;
        for (size_t i = 0; i < v.ids->n; i++) {
            size_t len = id_bytes(v.ids->items[i], id);
            size_t expect = strtoul(want->items[i]->str, NULL, 10);
            uint32_t b = 7777777;
            int rc = rollout_bucket_with(hash, key->str, key->len, id, len, &b);
            if (len == 0) {
                /* every peer leaves the empty id out; here it is no unit */
                cr_assert_eq(rc, ROLLOUT_ERR_ARG);
                cr_assert_eq(expect, v.n_w, "%s puts the empty id in", name->str);
                continue;
            }
            cr_assert_eq(rc, ROLLOUT_OK);
            cr_assert_leq(b, 100000);
            if (first_in(&v, b) != expect && mismatches++ < 5)
                cr_log_error("%s: id %zu (%.40s): bucket %u is in from weight %u, the SDK "
                             "from %u",
                             name->str, i, id, b,
                             first_in(&v, b) < v.n_w ? v.w[first_in(&v, b)] : 999999,
                             expect < v.n_w ? v.w[expect] : 999999);
        }
        cr_expect_eq(mismatches, 0, "%s: %zu ids differ from the SDK", name->str, mismatches);
    }
    free(id);
    rp_arena_free(&v.arena);
}

static char *plan_text(const char *hash, const char *key, const char *weight)
{
    char *s = NULL;
    cr_assert_geq(asprintf(&s,
                           "format: 1\nid: compat\nsalt: s1\nstart: 2026-01-01T00:00:00Z\n"
                           "bucketing: {hash: %s, key: \"%s\"}\n"
                           "versions: {stable: a, new: b}\n"
                           "cohorts: [{id: pilots, match: {user_in: [user-1, user-2]}},"
                           " {id: all, match: {everyone: true}}]\n"
                           "rollback: {deadline: 30m, procedure: [{id: halt, action: "
                           "halt_traffic}]}\n"
                           "phases: [{id: p, cohort: all, steps: [{at: 0, weight: %s, "
                           "unit: user}]},\n"
                           "  {id: q, cohort: pilots, steps: [{at: 0, weight: %s, unit: user}]}]\n",
                           hash, key, weight, weight),
                  0);
    return s;
}

/* The same answers through a plan in that mode: rollout_decide, and the
 * batch (rollout_decide_ids) with an id list before the fallback, at 25 %
 * and at 24.999 % (between two of GrowthBook v2's steps). */
Test(bucket_compat, decide_in_each_mode)
{
    vectors v;
    load(&v);
    char *id = malloc(65536);
    static const uint32_t weights[] = {25000, 24999};
    static const char *const weight_text[] = {"25%", "24.999%"};
    for (size_t m = 0; m < v.modes->n; m++) {
        const rp_node *mode = v.modes->items[m];
        const rp_node *name = field(mode, "hash"), *key = field(mode, "key");
        const rp_node *want = field(mode, "first_in");
        for (size_t wi = 0; wi < 2; wi++) {
            char *text = plan_text(name->str, key->str, weight_text[wi]);
            rollout_plan *p = t_plan(text);
            free(text);
            size_t k = 0;
            while (v.w[k] != weights[wi])
                k++;
            int64_t now = t_time("2026-01-02T00:00:00Z");
            size_t n = 2000;
            rollout_id *ids = calloc(n, sizeof *ids);
            char **copies = calloc(n, sizeof *copies);
            unsigned char *variants = malloc(n);
            for (size_t i = 0; i < n; i++) {
                size_t len = id_bytes(v.ids->items[i], id);
                copies[i] = malloc(len + 1);
                memcpy(copies[i], id, len);
                ids[i] = (rollout_id){copies[i], len};
                rollout_context ctx = {.user = copies[i], .user_len = len};
                rollout_decision d;
                cr_assert_eq(rollout_decide(p, NULL, now, &ctx, &d), ROLLOUT_OK);
                bool in = strtoul(want->items[i]->str, NULL, 10) <= k;
                cr_assert_eq(d.variant == ROLLOUT_NEW, in, "%s at %s: id %zu", name->str,
                             weight_text[wi], i);
                uint32_t b;
                cr_assert_eq(rollout_plan_bucket(p, copies[i], len, &b), ROLLOUT_OK);
                cr_assert_eq(d.bucket, b);
            }
            cr_assert_eq(rollout_decide_ids(p, NULL, now, NULL, ROLLOUT_UNIT_USER, ids, n,
                                            variants),
                         ROLLOUT_OK);
            for (size_t i = 0; i < n; i++) {
                bool in = strtoul(want->items[i]->str, NULL, 10) <= k;
                cr_assert_eq(variants[i], in, "%s batch at %s: id %zu", name->str,
                             weight_text[wi], i);
                free(copies[i]);
            }
            free(ids);
            free(copies);
            free(variants);
            rollout_plan_unref(p);
        }
    }
    free(id);
    rp_arena_free(&v.arena);
}

Test(bucket_compat, explain_and_dump_name_the_mode)
{
    char *text = plan_text("unleash", "checkout-v2", "25%");
    rollout_plan *p = t_plan(text);
    free(text);
    const char *key;
    size_t key_len;
    cr_assert_eq(rollout_plan_hash(p, &key, &key_len), ROLLOUT_HASH_UNLEASH);
    cr_assert_eq(key_len, 11);
    cr_assert(memcmp(key, "checkout-v2", 11) == 0);
    rollout_context ctx = {.user = "user-7", .user_len = 6};
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, t_time("2026-01-02T00:00:00Z"), &ctx, &d), ROLLOUT_OK);
    char buf[256];
    rollout_explain(p, &d, &ctx, buf, sizeof buf);
    cr_assert(strstr(buf, " (unleash) "), "%s", buf);
    /* the dump keeps the section, so it loads back as the same plan */
    size_t needed;
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &needed), ROLLOUT_ERR_BUFFER);
    char *dump = malloc(needed + 1);
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, dump, needed + 1, NULL), ROLLOUT_OK);
    rollout_plan *again = t_plan(dump);
    cr_assert_eq(again->fingerprint, p->fingerprint);
    cr_assert_eq(rollout_plan_hash(again, NULL, NULL), ROLLOUT_HASH_UNLEASH);
    free(dump);
    rollout_plan_unref(again);
    rollout_plan_unref(p);
}

/* A plan that says hash: xxh3 is the plan without the section: same dump,
 * same fingerprint, so existing states stay bound to it. */
Test(bucket_compat, xxh3_is_the_default_bit_for_bit)
{
    static const char base[] = "format: 1\nid: compat\nsalt: s1\nstart: 2026-01-01T00:00:00Z\n"
                               "%sversions: {stable: a, new: b}\n"
                               "cohorts: [{id: all, match: {everyone: true}}]\n"
                               "rollback: {deadline: 30m, procedure: [{id: halt, action: "
                               "halt_traffic}]}\n"
                               "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 25%%, "
                               "unit: user}]}]\n";
    char a[1024], b[1024];
    snprintf(a, sizeof a, base, "");
    snprintf(b, sizeof b, base, "bucketing: {hash: xxh3}\n");
    rollout_plan *pa = t_plan(a), *pb = t_plan(b);
    cr_assert_eq(pa->fingerprint, pb->fingerprint);
    cr_assert_eq(rollout_plan_hash(pb, NULL, NULL), ROLLOUT_HASH_XXH3);
    uint32_t x, y;
    cr_assert_eq(rollout_plan_bucket(pb, "acme-corp", 9, &x), ROLLOUT_OK);
    cr_assert_eq(rollout_bucket("s1", 2, "acme-corp", 9, &y), ROLLOUT_OK);
    cr_assert_eq(x, y);
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_XXH3, "s1", 2, "acme-corp", 9, &x),
                 ROLLOUT_OK);
    cr_assert_eq(x, y);
    rollout_plan_unref(pa);
    rollout_plan_unref(pb);
}

static void expect_error(const char *section, int code, const char *where, const char *what)
{
    char text[1024];
    snprintf(text, sizeof text,
             "format: 1\nid: compat\nsalt: s1\nstart: 2026-01-01T00:00:00Z\n%s\n"
             "versions: {stable: a, new: b}\n"
             "cohorts: [{id: all, match: {everyone: true}}]\n"
             "rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}\n"
             "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 25%%, unit: user}]}]\n",
             section);
    rollout_error err;
    cr_assert_eq(t_plan_error(text, &err), code, "%s", section);
    cr_assert(strstr(err.message, what), "%s: %s", section, err.message);
    char pos[32];
    snprintf(pos, sizeof pos, "%d:%d", err.line, err.column);
    cr_assert_str_eq(pos, where, "%s: %s", section, err.message);
}

Test(bucket_compat, plan_errors)
{
    expect_error("bucketing: {hash: murmur}", ROLLOUT_ERR_VALUE, "5:19", "unknown hash \"murmur\"");
    expect_error("bucketing: {hash: unleash}", ROLLOUT_ERR_MISSING, "5:12",
                 "needs key: the Unleash groupId");
    expect_error("bucketing: {hash: launchdarkly}", ROLLOUT_ERR_MISSING, "5:12",
                 "FLAG_KEY.SALT");
    expect_error("bucketing: {hash: xxh3, key: k}", ROLLOUT_ERR_VALUE, "5:30",
                 "hash xxh3 takes no key");
    expect_error("bucketing: {hash: nginx_split_clients, key: \"${remote_addr}AAA\"}",
                 ROLLOUT_ERR_VALUE, "5:45", "must contain {id}");
    expect_error("bucketing: {hash: nginx_split_clients, key: \"{id}{id}\"}",
                 ROLLOUT_ERR_VALUE, "5:45", "more than once");
    expect_error("bucketing: {hash: unleash, key: \"\"}", ROLLOUT_ERR_VALUE, "5:33", "needs a key");
    expect_error("bucketing: {hash: flagd, key: f, salt: x}", ROLLOUT_ERR_UNKNOWN_KEY, "5:34",
                 "salt");
    expect_error("bucketing: {key: f}", ROLLOUT_ERR_MISSING, "5:12", "hash");
}

/* The hash-to-bucket steps at every edge: nginx's bound (hash <
 * percent * 0xffffffff / 10000, here in 0.001 % units) and LaunchDarkly's
 * double comparison (bucket < weight / 100000.0), including the hashes
 * neither peer lets in even at 100 %. The real nginx answers for many ids in
 * tests/scripts/check_split_clients.py. */
/* flagd with an empty key: fractional bucketing by an expression that is
 * the id alone hashes the id alone. */
Test(bucket_compat, flagd_without_a_flag_key)
{
    uint32_t a, b;
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_FLAGD, "", 0, "user-1", 6, &a), ROLLOUT_OK);
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_FLAGD, "us", 2, "er-1", 4, &b), ROLLOUT_OK);
    cr_assert_eq(a, b, "the same string, split anywhere");
}

Test(bucket_compat, nginx_and_launchdarkly_edges)
{
    for (uint32_t w = 1; w <= 100000; w++) {
        uint32_t bound = (uint32_t)((uint64_t)w * 0xffffffffu / 100000u);
        cr_assert_lt(rp_nginx_bucket(bound - 1), w, "w %u", w);
        cr_assert_geq(rp_nginx_bucket(bound), w, "w %u", w);
    }
    cr_assert_eq(rp_nginx_bucket(0), 0);
    cr_assert_eq(rp_nginx_bucket(0xfffffffeu), 99999);
    cr_assert_eq(rp_nginx_bucket(0xffffffffu), 100000, "not in even at 100 %%");

    uint64_t top = (1ull << 60) - 1;
    for (uint32_t w = 1; w <= 100000; w += 7) {
        /* the 60-bit hashes just below and at the weight's fraction */
        double f = (double)w / 100000.0;
        uint64_t x = (uint64_t)ldexp(f, 60);
        while (x > 0 && !(ldexp((double)x, -60) < f))
            x--;
        cr_assert_lt(rp_launchdarkly_bucket(x), w, "w %u", w);
        uint64_t y = x + 1;
        while (y <= top && ldexp((double)y, -60) < f)
            y++;
        if (y <= top)
            cr_assert_geq(rp_launchdarkly_bucket(y), w, "w %u", w);
    }
    cr_assert_eq(rp_launchdarkly_bucket(0), 0);
    /* parseInt rounds the largest hashes up to 2^60: bucket 1.0, in nowhere */
    cr_assert_eq(rp_launchdarkly_bucket(top), 100000);

    uint32_t b;
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_NGINX_SPLIT_CLIENTS, "{id}", 4, "", 0, &b),
                 ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_COUNT, "k", 1, "a", 1, &b), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_bucket_with(-1, "k", 1, "a", 1, &b), ROLLOUT_ERR_ARG);
}

/* Ids far longer than any buffer are hashed whole, as the peers hash them:
 * two ids that differ only in their last byte land apart (in 10 000 pairs,
 * equal buckets by chance stay rare). */
Test(bucket_compat, long_ids_are_hashed_whole)
{
    size_t n = 100000;
    char *id = malloc(n);
    memset(id, 'x', n);
    for (int hash = 1; hash < ROLLOUT_HASH_COUNT; hash++) {
        const char *key = hash == ROLLOUT_HASH_NGINX_SPLIT_CLIENTS ? "{id}" : "k";
        int same = 0;
        for (int i = 0; i < 200; i++) {
            uint32_t a, b;
            id[n - 1] = (char)('a' + i % 26);
            id[n - 2] = (char)('a' + i / 26);
            cr_assert_eq(rollout_bucket_with(hash, key, strlen(key), id, n, &a), ROLLOUT_OK);
            id[n - 1] ^= 0x20;
            cr_assert_eq(rollout_bucket_with(hash, key, strlen(key), id, n, &b), ROLLOUT_OK);
            same += a == b;
        }
        /* unleash has 100 buckets: about 2 of 200 pairs share one */
        cr_assert_lt(same, 12, "%s: %d of 200", rollout_hash_name(hash), same);
    }
    free(id);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* `rollout bucket --plan` and `decide --explain` name the mode; XXH3 prints
 * as it always has. */
Test(bucket_compat, cli_names_the_mode)
{
    char dir[] = "/tmp/compat-cli-XXXXXX", path[64];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    char *text = plan_text("flagd", "checkout-v2", "25%");
    write_file(path, text);
    free(text);
    run_result r = T_RUN("bucket", "--plan", path, "--weight", "25%", "user-1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    uint32_t b;
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_FLAGD, "checkout-v2", 11, "user-1", 6, &b), 0);
    char want[128];
    snprintf(want, sizeof want, "# bucketed by flagd\n%u %s user-1\n", b, b < 25000 ? "in " : "out");
    cr_assert_str_eq(r.out, want);
    t_run_free(&r);
    r = T_RUN("bucket", "--hash", "flagd", "--key", "checkout-v2", "--json", "user-1");
    snprintf(want, sizeof want, "[{\"id\": \"user-1\", \"bucket\": %u, \"hash\": \"flagd\"}]\n", b);
    cr_assert_str_eq(r.out, want);
    t_run_free(&r);
    r = T_RUN("bucket", "--hash", "flagd", "user-1");
    cr_assert_eq(r.status, 2);
    t_run_free(&r);
    r = T_RUN("decide", path, "--at", "2026-01-02T00:00:00Z", "--user", "user-1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, " (flagd) "), "%s", r.out);
    t_run_free(&r);
    /* the default: no header, no name */
    r = T_RUN("bucket", "--salt", "ledger-v2-2026-02", "acme-corp");
    cr_assert_str_eq(r.out, "82372 acme-corp\n");
    t_run_free(&r);
    unlink(path);
    rmdir(dir);
}

/* An empty id among others: an error for that id, and the JSON array of
 * the others is still JSON (no comma before the first object printed). */
Test(bucket_compat, cli_json_with_an_empty_first_id)
{
    uint32_t a, b;
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_UNLEASH, "k", 1, "a", 1, &a), 0);
    cr_assert_eq(rollout_bucket_with(ROLLOUT_HASH_UNLEASH, "k", 1, "b", 1, &b), 0);
    run_result r = T_RUN("bucket", "--json", "--hash", "unleash", "--key", "k", "", "a", "", "b");
    cr_assert_eq(r.status, 1, "%s", r.err);
    char want[160];
    snprintf(want, sizeof want,
             "[{\"id\": \"a\", \"bucket\": %u, \"hash\": \"unleash\"},\n"
             " {\"id\": \"b\", \"bucket\": %u, \"hash\": \"unleash\"}]\n", a, b);
    cr_assert_str_eq(r.out, want);
    t_run_free(&r);
    r = T_RUN("bucket", "--json", "--salt", "s", "");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_str_eq(r.out, "[]\n");
    t_run_free(&r);
}

/* `rollout validate NEW --state FILE --from OLD` warns when the bucketing
 * changes under a rollout in progress, and not when it stays or the
 * rollout is over; the warning shows each key whole, escaped for the
 * terminal (escaping lengthens a key with a control character). */
Test(bucket_compat, validate_warns_when_the_bucketing_changes_mid_rollout)
{
    char dir[] = "/tmp/compat-validate-XXXXXX", old[64], same[64], other[64], salted[64],
         ctl[64], st[64];
    cr_assert(mkdtemp(dir));
    snprintf(old, sizeof old, "%s/old.yaml", dir);
    snprintf(same, sizeof same, "%s/same.yaml", dir);
    snprintf(other, sizeof other, "%s/other.yaml", dir);
    snprintf(salted, sizeof salted, "%s/salted.yaml", dir);
    snprintf(ctl, sizeof ctl, "%s/ctl.yaml", dir);
    snprintf(st, sizeof st, "%s/state", dir);
    static const char tmpl[] =
        "format: 1\nid: compat\nsalt: %s\nstart: 2026-01-01T00:00:00Z\n%s"
        "versions: {stable: a, new: b}\ncohorts: [{id: all, match: {everyone: true}}]\n"
        "rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}\n"
        "phases: [{id: p, cohort: all, steps: [{at: 0, weight: 25%%, unit: user},"
        " {at: 2d, weight: %s, unit: user}]}]\n";
    static const char nginx[] = "bucketing: {hash: nginx_split_clients, key: \"{id}AAA\"}\n";
    char text[1024];
    snprintf(text, sizeof text, tmpl, "s1", nginx, "100%");
    write_file(old, text);
    snprintf(text, sizeof text, tmpl, "s9", nginx, "50%"); /* another salt: unused by nginx */
    write_file(same, text);
    snprintf(text, sizeof text, tmpl, "s1", "", "100%");
    write_file(other, text);
    snprintf(text, sizeof text, tmpl, "s1", "bucketing: {hash: nginx_split_clients, key: \"{id}\"}\n",
             "100%");
    write_file(salted, text);
    snprintf(text, sizeof text, tmpl, "s1",
             "bucketing: {hash: nginx_split_clients, key: \"{id}\\u001b[31m-tail\"}\n", "100%");
    write_file(ctl, text);
    run_result r = T_RUN("state", "init", "--state", st, old);
    cr_assert_eq(r.status, 0, "%s", r.err);
    t_run_free(&r);
    /* not started: nothing to move yet */
    r = T_RUN("validate", other, "--state", st, "--from", old);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "bucketing changes"), "%s", r.err);
    t_run_free(&r);
    r = T_RUN("state", "apply", "start", "--state", st, old, "--at", "2026-01-01T00:00:00Z");
    cr_assert_eq(r.status, 0, "%s", r.err);
    t_run_free(&r);
    r = T_RUN("validate", other, "--state", st, "--from", old);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "warning: the bucketing changes from nginx_split_clients key "
                            "\"{id}AAA\" to xxh3 salt \"s1\" while the rollout is running"),
              "%s", r.err);
    t_run_free(&r);
    r = T_RUN("validate", salted, "--state", st, "--from", old);
    cr_assert(strstr(r.err, "warning: the bucketing changes"), "%s", r.err);
    t_run_free(&r);
    r = T_RUN("validate", ctl, "--state", st, "--from", old);
    cr_assert(strstr(r.err, "m-tail\" while the rollout is running"), "%s", r.err);
    cr_assert_null(strchr(r.err, '\x1b'), "%s", r.err);
    t_run_free(&r);
    r = T_RUN("validate", same, "--state", st, "--from", old);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "bucketing changes"), "%s", r.err);
    t_run_free(&r);
    /* the state's own plan: nothing changed */
    r = T_RUN("validate", old, "--state", st);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "bucketing"), "%s", r.err);
    t_run_free(&r);
    /* another plan without --from: cannot tell, says so */
    r = T_RUN("validate", other, "--state", st);
    cr_assert(strstr(r.err, "give --from OLD_PLAN"), "%s", r.err);
    t_run_free(&r);
    r = T_RUN("validate", other, "--from", old);
    cr_assert_eq(r.status, 2);
    t_run_free(&r);
    const char *files[] = {old, same, other, salted, ctl, st};
    for (size_t i = 0; i < 6; i++)
        unlink(files[i]);
    char lock[80];
    snprintf(lock, sizeof lock, "%s/state.lock", dir);
    unlink(lock);
    rmdir(dir);
}

/* Each mode's fast function (ASCII ids, the key's hash state kept from the
 * load, whole blocks read in place) against the general one, for keys of
 * every length modulo 4 and ids of 1 to 40 bytes: they must agree on every
 * id, whatever the key leaves over of its last block. */
Test(bucket_compat, fast_and_general_agree)
{
    static const char *const keys[] = {"k", "ke", "key", "keyx", "checkout-v2", "checkout-v2:",
                                       "a.b", "{id}", "x{id}", "{id}AAA", "pre-{id}-post",
                                       "{id}-", "{id}AAAA", "{id}.suffix", "{id}-a-longer-suffix"};
    uint64_t r = 19;
    char id[48];
    for (int hash = 1; hash < ROLLOUT_HASH_COUNT; hash++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            rp_bucketing bk;
            const char *why;
            if (rp_bucketing_init(&bk, hash, keys[k], strlen(keys[k]), &why))
                continue; /* nginx without {id}, or {id} elsewhere */
            for (size_t len = 1; len <= 40; len++)
                for (int rep = 0; rep < 20; rep++) {
                    for (size_t i = 0; i < len; i++)
                        id[i] = (char)(0x20 + t_rand(&r) % 95);
                    cr_assert_eq(bk.fast(&bk, id, len), rp_bucket_general(&bk, id, len),
                                 "%s, key \"%s\", %zu bytes", rollout_hash_name(hash), keys[k],
                                 len);
                }
        }
}

/* Any bytes, in buffers of exactly their length (so the sanitizers see a
 * read one byte past the id): every mode gives a bucket in 0..100000, the
 * same twice, the fast function the general one's, and ill-formed UTF-8 cut
 * at every point (a lead byte last, a truncated 4-byte sequence) reads
 * nothing beyond the id. */
Test(bucket_compat, random_bytes_are_read_within_the_id)
{
    uint64_t r = 2026;
    for (int hash = 1; hash < ROLLOUT_HASH_COUNT; hash++) {
        const char *key = hash == ROLLOUT_HASH_NGINX_SPLIT_CLIENTS ? "é{id}\xff" : "clé\xf0\x9f";
        rp_bucketing bk;
        const char *why;
        cr_assert_eq(rp_bucketing_init(&bk, hash, key, strlen(key), &why), ROLLOUT_OK);
        for (int rep = 0; rep < 3000; rep++) {
            size_t len = 1 + t_rand(&r) % 24;
            char *id = malloc(len);
            for (size_t i = 0; i < len; i++) {
                uint64_t x = t_rand(&r);
                /* mostly lead and continuation bytes, so sequences break */
                id[i] = (char)(x % 3 ? 0x80 + (x >> 8) % 0x80 : (x >> 8) % 0x100);
            }
            uint32_t a = bk.fast(&bk, id, len), b = bk.fast(&bk, id, len);
            cr_assert_leq(a, 100000);
            cr_assert_eq(a, b);
            cr_assert_eq(a, rp_bucket_general(&bk, id, len), "%s", rollout_hash_name(hash));
            free(id);
        }
    }
}
