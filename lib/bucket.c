/* SPDX-License-Identifier: MIT */
/*
 * bucket.c — unit id -> bucket 0..99999 (docs/bucketing.md).
 *
 * XXH_INLINE_ALL makes every xxHash function static to this file: the
 * library must not export XXH symbols that could clash with an application
 * linking its own (possibly different) xxHash.
 */
#include "bucket.h" /* includes xxhash.h with XXH_INLINE_ALL */
#include "internal.h"

uint64_t rp_hash_seed(const void *salt, size_t len)
{
    return XXH3_64bits(salt, len);
}

uint32_t rp_bucket_from_hash_portable(uint64_t h)
{
    uint64_t lo = (h & 0xffffffffu) * 100000u;
    uint64_t hi = (h >> 32) * 100000u;
    return (uint32_t)((hi + (lo >> 32)) >> 32);
}

int rollout_bucket(const char *salt, size_t salt_len, const char *id, size_t id_len,
                   uint32_t *bucket)
{
    /* A NULL salt of length 0 is the empty salt; an empty id is refused
     * because "absent" ids are spelled as empty in rollout_context and must
     * never all land in one shared bucket. */
    if (!bucket || (!salt && salt_len) || !id || !id_len)
        return ROLLOUT_ERR_ARG;
    uint64_t seed = XXH3_64bits(salt_len ? salt : "", salt_len);
    *bucket = rp_bucket_from_hash(XXH3_64bits_withSeed(id, id_len, seed));
    return ROLLOUT_OK;
}
