/* SPDX-License-Identifier: MIT */
/*
 * bucket.h — the bucketing recipe of docs/bucketing.md, for lib/ files.
 *
 * decide.c and targeting.c hash a unit id once and use the same 64-bit hash
 * both to look the id up in a cohort's id set and to place it in a bucket,
 * so the hash and the hash-to-bucket map are split apart here.
 */
#ifndef ROLLOUT_BUCKET_H
#define ROLLOUT_BUCKET_H

#include <stddef.h>
#include <stdint.h>

/* Inlined where it is used: on the decide path the call would cost a
 * quarter of the hash of a short id. XXH_INLINE_ALL makes every xxHash
 * function static to the including file, so no XXH symbol is exported. */
#ifndef XXH_INLINE_ALL
#  define XXH_INLINE_ALL
#endif
#include <xxhash.h>

/* The bucketing seed of a salt: XXH3-64 of the salt bytes, seed 0. The plan
 * loader stores it in plan->seed. */
uint64_t rp_hash_seed(const void *salt, size_t len);

/* XXH3-64 of the unit id bytes under seed. */
static inline uint64_t rp_hash_id(uint64_t seed, const void *id, size_t len)
{
    return XXH3_64bits_withSeed(id, len, seed);
}

/* floor(h * 100000 / 2^64): the top of the 128-bit product. Every bucket
 * receives either floor or ceil of 2^64 / 100000 hash values, so no bucket
 * is favoured the way h % 100000 favours the low ones. */
static inline uint32_t rp_bucket_from_hash(uint64_t h)
{
#if defined(__SIZEOF_INT128__) && !defined(RP_BUCKET_NO_INT128)
    return (uint32_t)(((unsigned __int128)h * 100000u) >> 64);
#else
    /* Same value from 32-bit halves: h*N = hi*N*2^32 + lo*N; both partial
     * products are below 2^49, so summing hi*N with the carry out of lo*N
     * cannot overflow, and the dropped low 32 bits of lo*N can never carry
     * into bit 64. */
    uint64_t lo = (h & 0xffffffffu) * 100000u;
    uint64_t hi = (h >> 32) * 100000u;
    return (uint32_t)((hi + (lo >> 32)) >> 32);
#endif
}

/* The 32-bit-halves formula above, always compiled, so the tests can check
 * it agrees with the __int128 one on every platform that has both. */
uint32_t rp_bucket_from_hash_portable(uint64_t h);

/* A compatibility bucket function, ready to hash (bucket_compat.c): the
 * peer's string is a, sep, the unit id, b, in that order, where a, sep and
 * b come from the plan's key. Pointers into the plan (or the caller's key). */
typedef struct rp_bucketing {
    /* the bucket (0..100000) of a non-empty id: in at weight w iff below w */
    uint32_t (*fast)(const struct rp_bucketing *bk, const char *id, size_t len);
    int hash;                 /* rollout_hash, not XXH3 */
    const char *a, *sep, *b;
    size_t a_len, sep_len, b_len;
    unsigned char ascii;      /* a, sep and b are all ASCII */
    /* ASCII ids' head start (bucket_compat.c): the hash state after a and
     * sep (MurmurHash3: their whole blocks, and the tail_n bytes after
     * them in pre_k), so an id costs only its own bytes and b's */
    uint32_t pre_h, pre_k;
    unsigned tail_n;
    size_t pre_len;           /* a_len + sep_len */
    /* nginx with the id first (a empty): b after the r = 0..3 bytes the id
     * leaves over of its last whole block. first: b's bytes that follow
     * them in that block, shifted past them; full: they complete it; then
     * b's whole blocks, and last_n bytes of b (in last) or, when not full,
     * r + b_len bytes, the string's tail. Known at load, so an id costs its
     * own blocks and no byte-by-byte gathering. */
    struct {
        uint32_t first, last, blocks;
        unsigned char full, last_n;
    } nsuf[4];
} rp_bucketing;

/* Splits key into the peer's string around the id; ROLLOUT_ERR_ARG with a
 * reason in *why when the mode refuses the key. */
int rp_bucketing_init(rp_bucketing *bk, int hash, const char *key, size_t key_len,
                      const char **why);

/* The hash-to-bucket steps of nginx (a MurmurHash2) and LaunchDarkly (the
 * 60 bits of SHA-1 it reads), apart for the tests of their edges. */
uint32_t rp_nginx_bucket(uint32_t h);
uint32_t rp_launchdarkly_bucket(uint64_t x);

/* Any id, the general way (its text read as UTF-16 where the peer reads
 * it so): what each mode's fast function falls back to, and what the tests
 * check the fast functions against. */
uint32_t rp_bucket_general(const rp_bucketing *bk, const char *id, size_t len);

/* The bucket (0..100000) of a non-empty id: in at weight w iff below w.
 * Each mode's function reads ASCII ids fast and sends the others the
 * general way. */
static inline uint32_t rp_bucket_compat(const rp_bucketing *bk, const char *id, size_t len)
{
    return bk->fast(bk, id, len);
}

#endif /* ROLLOUT_BUCKET_H */
