/* SPDX-License-Identifier: MIT */
/*
 * test_bucket.c — the bucketing recipe against the frozen vectors (computed
 * by an independent implementation, tests/vectors/gen_bucketing.py), the
 * portable formula against the __int128 one, and the statistical properties
 * docs/bucketing.md promises. Every input is fixed, so the statistical tests
 * are deterministic: they either hold for this recipe or they never do.
 */
#include "bucket.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VECTORS "tests/vectors/bucketing.json"

static const rp_node *field(const rp_node *map, const char *key)
{
    const rp_node *v = rp_map_get(map, key);
    cr_assert(v, "vector without \"%s\" (line %d)", key, map->line);
    return v;
}

static size_t unhex(const char *hex, size_t n, unsigned char *out)
{
    cr_assert_eq(n % 2, 0, "odd hex length");
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1, "bad hex %s", hex);
        out[i] = (unsigned char)v;
    }
    return n / 2;
}

Test(bucket, vectors)
{
    rp_arena arena = {0};
    const rp_node *root = t_json(&arena, VECTORS);
    const rp_node *cases = field(root, "cases");
    cr_assert_eq(cases->kind, RP_SEQ);
    cr_assert_geq(cases->n, 1000, "the contract promises at least 1000 vectors");
    cr_assert_eq(strtoul(field(root, "buckets")->str, NULL, 10), ROLLOUT_BUCKETS);

    unsigned char *id = malloc(16384);
    size_t non_utf8 = 0, long_ids = 0, non_bmp = 0;
    for (size_t i = 0; i < cases->n; i++) {
        const rp_node *c = cases->items[i];
        const rp_node *salt = field(c, "salt"), *text = field(c, "id"),
                      *hex = field(c, "id_hex");
        size_t len = unhex(hex->str, hex->len, id);
        /* The text form must be the same bytes, or the Python and Lua tests
         * reading "id" would hash something else than the C tests. */
        if (text->plain && strcmp(text->str, "null") == 0) {
            non_utf8++;
        } else {
            cr_assert_eq(text->len, len, "case %zu: id and id_hex differ in length", i);
            cr_assert(memcmp(text->str, id, len) == 0, "case %zu: id and id_hex differ", i);
        }
        if (len >= 1000)
            long_ids++;
        for (size_t k = 0; k < len; k++)
            if (id[k] >= 0xf0 && id[k] <= 0xf4)
                non_bmp++;

        uint64_t want_seed = strtoull(field(c, "seed")->str, NULL, 16);
        uint64_t want_hash = strtoull(field(c, "hash")->str, NULL, 16);
        uint32_t want = (uint32_t)strtoul(field(c, "bucket")->str, NULL, 10);

        cr_assert_eq(rp_hash_seed(salt->str, salt->len), want_seed, "case %zu: seed", i);
        cr_assert_eq(rp_hash_id(want_seed, id, len), want_hash, "case %zu: hash", i);
        uint32_t got = 99999999;
        cr_assert_eq(rollout_bucket(salt->str, salt->len, (const char *)id, len, &got),
                     ROLLOUT_OK, "case %zu", i);
        cr_assert_eq(got, want, "case %zu (salt \"%s\", id_hex %s): bucket %u, want %u", i,
                     salt->str, hex->str, got, want);
        cr_assert_eq(rp_bucket_from_hash_portable(want_hash), want, "case %zu: portable", i);
    }
    /* the file covers what the issue asks for */
    cr_assert_gt(non_utf8, 0);
    cr_assert_gt(long_ids, 0);
    cr_assert_gt(non_bmp, 0);

    const rp_node *rejected = field(root, "rejected");
    cr_assert_gt(rejected->n, 0);
    for (size_t i = 0; i < rejected->n; i++) {
        const rp_node *c = rejected->items[i];
        const rp_node *salt = field(c, "salt"), *text = field(c, "id");
        cr_assert_str_eq(field(c, "error")->str, "ROLLOUT_ERR_ARG");
        uint32_t got = 4242;
        cr_assert_eq(rollout_bucket(salt->str, salt->len, text->str, text->len, &got),
                     ROLLOUT_ERR_ARG);
        cr_assert_eq(got, 4242, "a rejected call must not write a bucket");
    }
    free(id);
    rp_arena_free(&arena);
}

Test(bucket, worked_example_of_the_doc)
{
    uint32_t b;
    cr_assert_eq(rollout_bucket("ledger-v2-2026-02", 17, "acme-corp", 9, &b), ROLLOUT_OK);
    cr_assert_eq(b, 82372);
    cr_assert_eq(rp_hash_seed("ledger-v2-2026-02", 17), 0x3ad6580c10f9ee19ull);
    cr_assert_eq(rp_hash_id(0x3ad6580c10f9ee19ull, "acme-corp", 9), 0xd2dfb095226887bdull);
    /* ids are (pointer, length): what follows the id must not matter */
    cr_assert_eq(rollout_bucket("ledger-v2-2026-02", 17, "acme-corp|trailing", 9, &b),
                 ROLLOUT_OK);
    cr_assert_eq(b, 82372);
}

Test(bucket, arguments)
{
    uint32_t b = 7;
    cr_assert_eq(rollout_bucket("s", 1, "", 0, &b), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_bucket("s", 1, NULL, 0, &b), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_bucket("s", 1, NULL, 3, &b), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_bucket("s", 1, "abc", 3, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_bucket(NULL, 2, "abc", 3, &b), ROLLOUT_ERR_ARG);
    cr_assert_eq(b, 7);
    /* a NULL salt of length 0 is the empty salt */
    uint32_t b_null, b_empty;
    cr_assert_eq(rollout_bucket(NULL, 0, "abc", 3, &b_null), ROLLOUT_OK);
    cr_assert_eq(rollout_bucket("", 0, "abc", 3, &b_empty), ROLLOUT_OK);
    cr_assert_eq(b_null, b_empty);
    cr_assert_eq(rp_hash_seed("", 0), 0x2d06800538d394c2ull);
}

/* The smallest hash whose bucket is b, derived by division: ceil(b*2^64/N). */
static uint64_t first_hash_of(uint32_t b)
{
    unsigned __int128 num = (unsigned __int128)b << 64;
    return (uint64_t)((num + ROLLOUT_BUCKETS - 1) / ROLLOUT_BUCKETS);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Test(bucket, multiply_shift_edges)
{
    cr_assert_eq(rp_bucket_from_hash(0), 0);
    cr_assert_eq(rp_bucket_from_hash(UINT64_MAX), 99999);
    cr_assert_eq(rp_bucket_from_hash_portable(0), 0);
    cr_assert_eq(rp_bucket_from_hash_portable(UINT64_MAX), 99999);
    /* Both sides of every bucket edge, for a spread of buckets. */
    for (uint32_t b = 1; b < ROLLOUT_BUCKETS; b += 997) {
        uint64_t h = first_hash_of(b);
        cr_assert_eq(rp_bucket_from_hash(h), b, "first hash of bucket %u", b);
        cr_assert_eq(rp_bucket_from_hash(h - 1), b - 1, "last hash before bucket %u", b);
        cr_assert_eq(rp_bucket_from_hash_portable(h), b);
        cr_assert_eq(rp_bucket_from_hash_portable(h - 1), b - 1);
        /* bucket sizes are floor or ceil of 2^64 / N */
        uint64_t size = first_hash_of(b + 1 < ROLLOUT_BUCKETS ? b + 1 : b) - h;
        if (b + 1 < ROLLOUT_BUCKETS)
            cr_assert(size == 184467440737095ull || size == 184467440737096ull,
                      "bucket %u holds %llu hashes", b, (unsigned long long)size);
    }
    uint64_t s = 1;
    for (int i = 0; i < 1000000; i++) {
        uint64_t h = splitmix64(&s);
        cr_assert_eq(rp_bucket_from_hash(h), rp_bucket_from_hash_portable(h), "h=%016llx",
                     (unsigned long long)h);
    }
}

/* Distinct, fixed ids that look like real ones. */
static size_t make_id(char *buf, size_t cap, uint64_t *s)
{
    return (size_t)snprintf(buf, cap, "u-%016llx", (unsigned long long)splitmix64(s));
}

#define N_IDS 100000

Test(bucket, uniform_at_25_percent)
{
    static const char salt[] = "ledger-v2-2026-02";
    uint64_t s = 20260228;
    long in = 0;
    long deciles[10] = {0};
    for (int i = 0; i < N_IDS; i++) {
        char id[32];
        size_t n = make_id(id, sizeof id, &s);
        uint32_t b;
        cr_assert_eq(rollout_bucket(salt, sizeof salt - 1, id, n, &b), ROLLOUT_OK);
        cr_assert_lt(b, ROLLOUT_BUCKETS);
        in += b < 25000;
        deciles[b / 10000]++;
    }
    /* Binomial(100000, 0.25): sd = sqrt(n p (1-p)) = 136.93; the two-sided
     * 99.9 % interval is +- 3.2905 sd = +- 450.6. */
    cr_assert(in >= 25000 - 451 && in <= 25000 + 451, "%ld of %d ids in at 25 %%", in, N_IDS);
    /* chi-square over ten equal ranges, 9 degrees of freedom: 99.9 % point 27.877 */
    double chi2 = 0;
    for (int k = 0; k < 10; k++) {
        double d = (double)deciles[k] - N_IDS / 10.0;
        chi2 += d * d / (N_IDS / 10.0);
    }
    cr_assert_lt(chi2, 27.877, "chi-square over deciles %.2f", chi2);
}

Test(bucket, salts_are_independent)
{
    static const char a[] = "checkout-2025-Q3", b[] = "search-2025-Q3";
    uint64_t s = 7;
    long t[2][2] = {{0}};
    for (int i = 0; i < N_IDS; i++) {
        char id[32];
        size_t n = make_id(id, sizeof id, &s);
        uint32_t ba, bb;
        cr_assert_eq(rollout_bucket(a, sizeof a - 1, id, n, &ba), ROLLOUT_OK);
        cr_assert_eq(rollout_bucket(b, sizeof b - 1, id, n, &bb), ROLLOUT_OK);
        t[ba < 25000][bb < 25000]++;
    }
    /* chi-square test of independence on the 2x2 table, 1 degree of
     * freedom: the 99.9 % point is 10.828 */
    double rows[2] = {t[0][0] + t[0][1], t[1][0] + t[1][1]};
    double cols[2] = {t[0][0] + t[1][0], t[0][1] + t[1][1]};
    double chi2 = 0;
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++) {
            double e = rows[r] * cols[c] / N_IDS;
            chi2 += (t[r][c] - e) * (t[r][c] - e) / e;
        }
    cr_assert_lt(chi2, 10.828, "chi-square %.3f, table %ld %ld / %ld %ld", chi2, t[0][0],
                 t[0][1], t[1][0], t[1][1]);
    /* and the overlap is near 25 % of 25 %, not near 25 % (same salt) */
    cr_assert(t[1][1] > 6250 - 300 && t[1][1] < 6250 + 300, "%ld in under both", t[1][1]);
}
