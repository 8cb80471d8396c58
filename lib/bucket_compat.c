/* SPDX-License-Identifier: MIT */
/*
 * bucket_compat.c — bucket functions that reproduce a peer's percentage
 * decision exactly (docs/bucketing.md, "Compatibility modes").
 *
 * Each peer answers "is this unit in at p %" its own way; here every answer
 * becomes a bucket r in 0..100000 with "in at weight w" == (r < w), the
 * comparison decide already makes. r is the smallest weight at which the
 * peer says yes, minus one (100000: never, even at 100 %). Every peer's
 * answer only grows with the percentage, so that r exists.
 *
 * The peers hash JavaScript strings (UTF-16 code units) except nginx (raw
 * bytes) and LaunchDarkly (SHA-1 of the UTF-8). Ids arrive as bytes; they
 * are read as UTF-8 the way Node reads a Buffer (WHATWG: each maximal
 * invalid subpart is one U+FFFD). The strings are hashed as they are read,
 * with no copy of the id, so an id of any length is hashed whole, as the
 * peer hashes it, and nothing is allocated.
 *
 * SHA-1 is OpenSSL's: the low-level SHA1_Init/Update/Final on a stack
 * context (the EVP interface allocates a context per call). It is a pure
 * function, like the rest of lib/.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA1_Init: no allocation, unlike EVP */
#include "bucket.h"
#include "internal.h"
#include "plan.h"

#include <float.h>
#include <math.h>
#include <openssl/sha.h>
#include <string.h>

/* LaunchDarkly's comparison is in doubles; it must be IEEE double, not x87
 * extended precision, for the answers to be the SDK's. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#  error "bucket_compat.c needs FLT_EVAL_METHOD == 0 (SSE2 doubles)"
#endif

static const char *const hash_names[ROLLOUT_HASH_COUNT] = {
    "xxh3", "nginx_split_clients", "unleash", "growthbook_v1", "growthbook_v2",
    "launchdarkly", "flagd",
};

const char *rollout_hash_name(int hash)
{
    return hash >= 0 && hash < ROLLOUT_HASH_COUNT ? hash_names[hash] : "?";
}

int rollout_hash_from_name(const char *name, size_t len)
{
    for (int i = 0; name && i < ROLLOUT_HASH_COUNT; i++)
        if (strlen(hash_names[i]) == len && memcmp(hash_names[i], name, len) == 0)
            return i;
    return -1;
}

/* ---- reading ids as the SDKs see them ------------------------------------ */

static inline bool all_ascii(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    unsigned char rest = 0;
    for (; i < n; i++)
        rest |= (unsigned char)s[i];
    return !((acc & 0x8080808080808080ull) | (rest & 0x80));
}

/* The next code point of s at *i, WHATWG's UTF-8 decoder: an ill-formed
 * sequence is one U+FFFD per maximal subpart, and the byte that broke it is
 * read again. */
static uint32_t next_cp(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    size_t need;
    uint32_t cp;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        (*i)++;
        return 0xFFFD;
    }
    size_t j = *i + 1;
    for (size_t k = 0; k < need; k++, j++) {
        if (j >= n || s[j] < lo || s[j] > hi) {
            *i = j;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[j] & 0x3Fu);
        lo = 0x80, hi = 0xBF;
    }
    *i = j;
    return cp;
}

/* UTF-16 code units of UTF-8 bytes, one at a time. */
typedef struct u16_reader {
    const unsigned char *s;
    size_t n, i;
    uint32_t low; /* the second half of a surrogate pair, or 0 */
} u16_reader;

static inline bool u16_next(u16_reader *r, uint32_t *u)
{
    if (r->low) {
        *u = r->low;
        r->low = 0;
        return true;
    }
    if (r->i >= r->n)
        return false;
    uint32_t cp = next_cp(r->s, r->n, &r->i);
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *u = 0xD800 | cp >> 10;
        r->low = 0xDC00 | (cp & 0x3FF);
    } else {
        *u = cp;
    }
    return true;
}

/* The peer's string as segments: a, sep, id, b. */
typedef struct segs {
    const char *p[4];
    size_t n[4];
} segs;

static inline segs segments(const rp_bucketing *bk, const char *id, size_t len)
{
    return (segs){{bk->a, bk->sep, id, bk->b}, {bk->a_len, bk->sep_len, len, bk->b_len}};
}

/* ---- MurmurHash3 x86_32, seed 0 ------------------------------------------ */

static inline uint32_t rotl32(uint32_t x, int r)
{
    return x << r | x >> (32 - r);
}

static inline uint32_t m3_mix(uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = rotl32(k, 15);
    return k * 0x1b873593u;
}

static inline uint32_t m3_block(uint32_t h, uint32_t k)
{
    h ^= m3_mix(k);
    h = rotl32(h, 13);
    return h * 5 + 0xe6546b64u;
}

static inline uint32_t m3_fmix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

static inline uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* MurmurHash3 over UTF-16 code units, as the two JavaScript libraries the
 * peers use read a string:
 *  - murmurhash3js (Unleash) takes the low byte of each code unit;
 *  - imurmurhash (flagd) folds a whole unit into each byte lane
 *    (c0 ^ c1 << 8 ^ c2 << 16 ^ swapped c3) and mixes the last partial block
 *    only when it is positive as an int32.
 * Both count the length in code units. For ASCII both are the standard hash
 * of the bytes (murmur3_bytes). */
static uint32_t murmur3_units(const segs *s, bool imurmur)
{
    uint32_t h = 0, u[4] = {0, 0, 0, 0}, len = 0;
    unsigned n = 0;
    for (int i = 0; i < 4; i++) {
        u16_reader r = {(const unsigned char *)s->p[i], s->n[i], 0, 0};
        uint32_t c;
        while (u16_next(&r, &c)) {
            u[n++] = c;
            len++;
            if (n < 4)
                continue;
            uint32_t k = imurmur ? u[0] ^ u[1] << 8 ^ u[2] << 16 ^ (u[3] & 0xff) << 24 ^
                                       (u[3] & 0xff00) >> 8
                                 : (u[0] & 0xff) | (u[1] & 0xff) << 8 | (u[2] & 0xff) << 16 |
                                       (u[3] & 0xff) << 24;
            h = m3_block(h, k);
            n = 0;
        }
    }
    uint32_t mask = imurmur ? 0xffffu : 0xffu;
    uint32_t k = 0;
    switch (n) {
    case 3: k ^= (u[2] & mask) << 16; /* fall through */
    case 2: k ^= (u[1] & mask) << 8;  /* fall through */
    case 1: k ^= u[0] & mask;
    }
    if (imurmur ? (int32_t)k > 0 : n > 0)
        h ^= m3_mix(k);
    return m3_fmix(h ^ len);
}

/* ---- MurmurHash2 as nginx has it (ngx_murmur_hash2) ---------------------- */

static inline uint32_t m2_block(uint32_t h, uint32_t k)
{
    k *= 0x5bd1e995u;
    k ^= k >> 24;
    k *= 0x5bd1e995u;
    h *= 0x5bd1e995u;
    return h ^ k;
}

/* ---- FNV-1a 32 over code units (GrowthBook's hashFnv32a) ----------------- */

static uint32_t fnv1a_units(const segs *s)
{
    uint32_t h = 0x811c9dc5u;
    for (int i = 0; i < 4; i++) {
        u16_reader r = {(const unsigned char *)s->p[i], s->n[i], 0, 0};
        uint32_t c;
        while (u16_next(&r, &c))
            h = (h ^ c) * 0x01000193u;
    }
    return h;
}

/* ---- SHA-1 (LaunchDarkly) ----------------------------------------------- */

/* Node hashes the UTF-8 of the string, so bytes that are not UTF-8 reach
 * SHA-1 as the U+FFFD the decoder made of them. */
static void sha1_utf8(SHA_CTX *ctx, const char *s, size_t n)
{
    if (all_ascii(s, n)) {
        SHA1_Update(ctx, s, n);
        return;
    }
    unsigned char buf[256];
    size_t used = 0, i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = next_cp((const unsigned char *)s, n, &i);
        if (cp != 0xFFFD || (i - start == 3 && memcmp(s + start, "\xEF\xBF\xBD", 3) == 0)) {
            if (used + (i - start) > sizeof buf)
                SHA1_Update(ctx, buf, used), used = 0;
            memcpy(buf + used, s + start, i - start);
            used += i - start;
        } else {
            if (used + 3 > sizeof buf)
                SHA1_Update(ctx, buf, used), used = 0;
            memcpy(buf + used, "\xEF\xBF\xBD", 3);
            used += 3;
        }
    }
    SHA1_Update(ctx, buf, used);
}

/* The first 60 bits of SHA-1("key.id"): the 15 hex digits LaunchDarkly
 * parses. */
static uint64_t launchdarkly_hash(const segs *s)
{
    SHA_CTX ctx;
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1_Init(&ctx);
    for (int i = 0; i < 4; i++)
        sha1_utf8(&ctx, s->p[i], s->n[i]);
    SHA1_Final(d, &ctx);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | d[i];
    return x >> 4;
}

/* ---- hashes to buckets ---------------------------------------------------- */

/* nginx: in at p % (two decimals) iff hash < (uint32)(p*100 * 0xffffffff /
 * 10000); weight w = p * 1000 gives the same bound, w * 0xffffffff / 100000
 * rounded down. That bound exceeds h iff w * 0xffffffff >= (h + 1) *
 * 100000, so the smallest such w is one division rounded up (a constant
 * divisor: a multiplication); the bucket is that w less one. */
uint32_t rp_nginx_bucket(uint32_t h)
{
    uint32_t w = (uint32_t)(((uint64_t)h * 100000u + 100000u + 0xfffffffeu) / 0xffffffffu);
    return w - 1 < ROLLOUT_WEIGHT_MAX ? w - 1 : ROLLOUT_WEIGHT_MAX; /* 100000: never in */
}

/* LaunchDarkly: bucket = x / 2^60 as a double (parseInt rounds the 60-bit
 * integer to 53 bits); in iff bucket < weight / 100000.0. */
uint32_t rp_launchdarkly_bucket(uint64_t x)
{
    double b = ldexp((double)x, -60);
    uint32_t w = (uint32_t)(b * 100000.0);
    while (w > 0 && b < (double)(w - 1) / 100000.0)
        w--;
    while (w <= ROLLOUT_WEIGHT_MAX && !(b < (double)w / 100000.0))
        w++;
    return w - 1; /* b >= 0, so w >= 1 */
}


static inline uint32_t fnv1a_bytes(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x01000193u;
    return h;
}

/* GrowthBook v2 hashes the decimal text of its first hash. */
static uint32_t fnv1a_decimal(uint32_t v)
{
    char dec[10];
    int n = 0;
    do
        dec[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    uint32_t h = 0x811c9dc5u;
    while (n--)
        h = (h ^ (unsigned char)dec[n]) * 0x01000193u;
    return h;
}

/* ---- ASCII ids: the head start ----------------------------------------- */

/* Whole 4-byte blocks read in place from each piece of the string; only
 * the at most 3 bytes that straddle two pieces are gathered, in a register
 * (a stack copy of the string would be read back across two stores, which
 * stalls store forwarding). */
typedef struct reg_blocks {
    uint32_t h, k; /* the state and the gathered bytes */
    unsigned n;    /* how many are gathered */
} reg_blocks;

#define FEED_REG(st, data, len, BLOCK)                                                     \
    do {                                                                                   \
        const unsigned char *p_ = (const unsigned char *)(data);                           \
        size_t l_ = (len), i_ = 0;                                                         \
        for (; (st).n && (st).n < 4 && i_ < l_; i_++)                                      \
            (st).k |= (uint32_t)p_[i_] << (8 * (st).n++);                                  \
        if ((st).n == 4) {                                                                 \
            (st).h = BLOCK((st).h, (st).k);                                                \
            (st).k = 0, (st).n = 0;                                                        \
        }                                                                                  \
        if ((st).n == 0) {                                                                 \
            for (; i_ + 4 <= l_; i_ += 4)                                                  \
                (st).h = BLOCK((st).h, load32(p_ + i_));                                   \
            for (; i_ < l_; i_++)                                                          \
                (st).k |= (uint32_t)p_[i_] << (8 * (st).n++);                              \
        }                                                                                  \
    } while (0)

/* The last r (0..3) bytes before end, as a little-endian word: one load
 * when the piece has 4 bytes or more. */
static inline uint32_t last_bytes(const unsigned char *end, size_t r, size_t len)
{
    if (r == 0)
        return 0;
    if (len >= 4)
        return load32(end - 4) >> (8 * (4 - r));
    uint32_t k = 0;
    for (size_t i = 0; i < r; i++)
        k |= (uint32_t)end[(ptrdiff_t)i - (ptrdiff_t)r] << (8 * i);
    return k;
}

#if defined(__GNUC__)
#  define RP_INLINE_ALWAYS inline __attribute__((always_inline))
#else
#  define RP_INLINE_ALWAYS inline
#endif

/* murmur3_ascii for ids of any length, gathering bytes one at a time. */
static bool murmur3_ascii_short(const rp_bucketing *bk, const char *id, size_t len,
                                uint32_t *out)
{
    const unsigned char *p = (const unsigned char *)id;
    uint32_t h = bk->pre_h, k = bk->pre_k, high = 0;
    size_t i = 0, n = bk->tail_n;
    if (n) { /* complete the key's last block with the id's first bytes */
        size_t need = 4 - n;
        if (len < need) {
            for (; i < len; i++, n++)
                k |= (uint32_t)p[i] << (8 * n), high |= p[i];
            if (high & 0x80)
                return false;
            *out = m3_fmix(h ^ m3_mix(k) ^ (uint32_t)(bk->pre_len + len));
            return true;
        }
        for (; i < need; i++)
            k |= (uint32_t)p[i] << (8 * (n + i)), high |= p[i];
        h = m3_block(h, k);
    }
    for (; i + 4 <= len; i += 4) {
        uint32_t w = load32(p + i);
        high |= w;
        h = m3_block(h, w);
    }
    size_t r = len - i;
    if (r) {
        k = last_bytes(p + len, r, len);
        high |= k;
        h ^= m3_mix(k);
    }
    if (high & 0x80808080u)
        return false;
    *out = m3_fmix(h ^ (uint32_t)(bk->pre_len + len));
    return true;
}

/* MurmurHash3 of the key's part (pre_h, and tail_n bytes in pre_k) and an
 * ASCII id, the whole string of unleash and flagd (their b is empty). The
 * id's bytes are checked for ASCII as they are read; any other id goes the
 * general way, its text read as UTF-16. An id of 4 bytes or more is read in
 * whole words only: its first word completes the key's last block, and its
 * last word, shifted, is the tail (the bytes it shares with the last block
 * shift out; a tail of 0 bytes is the word 0, which m3_mix leaves 0). Inlined
 * into each mode's function: a call would save and restore five registers. */
static RP_INLINE_ALWAYS bool murmur3_ascii(const rp_bucketing *bk, const char *id, size_t len,
                                           uint32_t *out)
{
    if (RP_UNLIKELY(len < 4))
        return murmur3_ascii_short(bk, id, len, out);
    const unsigned char *p = (const unsigned char *)id;
    uint32_t h = bk->pre_h, high = 0;
    size_t i = 0;
    if (bk->tail_n) {
        uint32_t w = load32(p);
        high = w;
        h = m3_block(h, bk->pre_k | w << (8 * bk->tail_n));
        i = 4 - bk->tail_n;
    }
    for (; i + 4 <= len; i += 4) {
        uint32_t w = load32(p + i);
        high |= w;
        h = m3_block(h, w);
    }
    uint32_t last = load32(p + len - 4);
    high |= last;
    h ^= m3_mix((uint32_t)((uint64_t)last >> (32 - 8 * (len - i))));
    if (high & 0x80808080u)
        return false;
    *out = m3_fmix(h ^ (uint32_t)(bk->pre_len + len));
    return true;
}

static uint32_t fast_unleash(const rp_bucketing *bk, const char *id, size_t len)
{
    uint32_t h;
    if (!murmur3_ascii(bk, id, len, &h))
        return rp_bucket_general(bk, id, len);
    return (h % 100 + 1) * 1000 - 1;
}

static uint32_t fast_flagd(const rp_bucketing *bk, const char *id, size_t len)
{
    uint32_t h;
    if (!murmur3_ascii(bk, id, len, &h))
        return rp_bucket_general(bk, id, len);
    return (uint32_t)((uint64_t)h * 100000u >> 32);
}

static inline uint32_t m2_final(uint32_t h)
{
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    return rp_nginx_bucket(h ^ (h >> 15));
}

/* nginx's MurmurHash2 starts from the length, so nothing is ahead of time;
 * bytes are bytes (no text). Any split string, its pieces streamed: what
 * fast_nginx falls back to. */
static uint32_t nginx_stream(const rp_bucketing *bk, const char *id, size_t len)
{
    reg_blocks st = {(uint32_t)(bk->a_len + len + bk->b_len), 0, 0};
    FEED_REG(st, bk->a, bk->a_len, m2_block);
    FEED_REG(st, id, len, m2_block);
    FEED_REG(st, bk->b, bk->b_len, m2_block);
    uint32_t h = st.h;
    if (st.n)
        h = (h ^ st.k) * 0x5bd1e995u;
    return m2_final(h);
}

/* The usual split string is the id alone or with a suffix: the id's whole
 * blocks read in place, its last r bytes in one word, and the suffix laid
 * out for that r at load (nsuf). */
static uint32_t fast_nginx(const rp_bucketing *bk, const char *id, size_t len)
{
    if (bk->a_len || len < 4)
        return nginx_stream(bk, id, len);
    const unsigned char *p = (const unsigned char *)id;
    uint32_t h = (uint32_t)(len + bk->b_len);
    size_t i = 0;
    for (; i + 4 <= len; i += 4)
        h = m2_block(h, load32(p + i));
    size_t r = len - i;
    /* r == 0 shifts the whole word out */
    uint32_t k = (uint32_t)((uint64_t)load32(p + len - 4) >> (32 - 8 * r)) | bk->nsuf[r].first;
    if (bk->nsuf[r].full) {
        h = m2_block(h, k);
        const unsigned char *q = (const unsigned char *)bk->b + 4 - r;
        for (uint32_t j = bk->nsuf[r].blocks; j; j--, q += 4)
            h = m2_block(h, load32(q));
        k = bk->nsuf[r].last;
    }
    if (bk->nsuf[r].last_n)
        h = (h ^ k) * 0x5bd1e995u;
    return m2_final(h);
}

/* FNV-1a of the key's part (pre_h) and an ASCII id, then b; false when the
 * id is not ASCII. */
static inline bool fnv1a_ascii(const rp_bucketing *bk, const char *id, size_t len,
                               uint32_t *out)
{
    const unsigned char *p = (const unsigned char *)id;
    uint32_t h = bk->pre_h;
    unsigned high = 0;
    for (size_t i = 0; i < len; i++) {
        high |= p[i];
        h = (h ^ p[i]) * 0x01000193u;
    }
    if (high & 0x80)
        return false;
    *out = fnv1a_bytes(h, bk->b, bk->b_len);
    return true;
}

static uint32_t fast_growthbook_v1(const rp_bucketing *bk, const char *id, size_t len)
{
    uint32_t h;
    if (!fnv1a_ascii(bk, id, len, &h))
        return rp_bucket_general(bk, id, len);
    uint32_t k = h % 1000;
    return k ? k * 100 - 1 : 0;
}

static uint32_t fast_growthbook_v2(const rp_bucketing *bk, const char *id, size_t len)
{
    uint32_t h;
    if (!fnv1a_ascii(bk, id, len, &h))
        return rp_bucket_general(bk, id, len);
    uint32_t k = fnv1a_decimal(h) % 10000;
    return k ? k * 10 - 1 : 0;
}

/* Any id: streamed through the segments, non-ASCII text read as UTF-16;
 * LaunchDarkly's SHA-1 always. */
uint32_t rp_bucket_general(const rp_bucketing *bk, const char *id, size_t len)
{
    segs s = segments(bk, id, len);
    switch (bk->hash) {
    case ROLLOUT_HASH_NGINX_SPLIT_CLIENTS:
        return nginx_stream(bk, id, len); /* bytes, not text: one way for all */
    case ROLLOUT_HASH_UNLEASH: {
        /* normalizedStrategyValue: hash % 100 + 1, in iff it is <= the
         * percentage (and the percentage > 0): from weight n * 1000 on */
        uint32_t h = murmur3_units(&s, false);
        return (h % 100 + 1) * 1000 - 1;
    }
    case ROLLOUT_HASH_GROWTHBOOK_V1: {
        /* n = (hash % 1000) / 1000, in iff coverage > 0 and n <= coverage:
         * from weight 100 n on, and n = 0 from any weight above 0 */
        uint32_t k = fnv1a_units(&s) % 1000;
        return k ? k * 100 - 1 : 0;
    }
    case ROLLOUT_HASH_GROWTHBOOK_V2: {
        /* fnv(String(fnv(seed + id))) % 10000 / 10000, compared the same way */
        uint32_t k = fnv1a_decimal(fnv1a_units(&s)) % 10000;
        return k ? k * 10 - 1 : 0;
    }
    case ROLLOUT_HASH_LAUNCHDARKLY:
        return rp_launchdarkly_bucket(launchdarkly_hash(&s));
    case ROLLOUT_HASH_FLAGD: {
        /* fractional: (hash * total) >> 32 < the first variant's weight;
         * with the weights out of 100000, that is multiply-shift */
        uint32_t h = murmur3_units(&s, true);
        return (uint32_t)((uint64_t)h * 100000u >> 32);
    }
    default:
        return ROLLOUT_WEIGHT_MAX;
    }
}

int rp_bucketing_init(rp_bucketing *bk, int hash, const char *key, size_t key_len,
                      const char **why)
{
    static const char placeholder[] = "{id}";
    *bk = (rp_bucketing){.hash = hash, .a = "", .sep = "", .b = ""};
    *why = NULL;
    if (!key && key_len)
        return *why = "no key", ROLLOUT_ERR_ARG;
    if (!key)
        key = "";
    switch (hash) {
    case ROLLOUT_HASH_NGINX_SPLIT_CLIENTS: {
        /* the split_clients string, with {id} where the unit id goes */
        const char *at = NULL;
        for (size_t i = 0; i + 4 <= key_len; i++)
            if (memcmp(key + i, placeholder, 4) == 0) {
                if (at)
                    return *why = "the split_clients string has {id} more than once",
                           ROLLOUT_ERR_ARG;
                at = key + i;
            }
        if (!at)
            return *why = "the split_clients string must contain {id}, where the unit id goes",
                   ROLLOUT_ERR_ARG;
        bk->a = key, bk->a_len = (size_t)(at - key);
        bk->b = at + 4, bk->b_len = key_len - bk->a_len - 4;
        break;
    }
    case ROLLOUT_HASH_UNLEASH:
        bk->a = key, bk->a_len = key_len, bk->sep = ":", bk->sep_len = 1;
        break;
    case ROLLOUT_HASH_GROWTHBOOK_V1:
        bk->b = key, bk->b_len = key_len; /* value + seed */
        break;
    case ROLLOUT_HASH_GROWTHBOOK_V2:
    case ROLLOUT_HASH_FLAGD:
        bk->a = key, bk->a_len = key_len; /* seed + value, flagKey + targetingKey */
        break;
    case ROLLOUT_HASH_LAUNCHDARKLY:
        bk->a = key, bk->a_len = key_len, bk->sep = ".", bk->sep_len = 1;
        break;
    default:
        return *why = "not a compatibility bucket function", ROLLOUT_ERR_ARG;
    }
    /* flagd's fractional may bucket by an expression that is the id alone;
     * every other peer hashes a non-empty key with it */
    if (hash != ROLLOUT_HASH_NGINX_SPLIT_CLIENTS && hash != ROLLOUT_HASH_FLAGD && key_len == 0)
        return *why = "this bucket function needs a key", ROLLOUT_ERR_ARG;
    bk->ascii = all_ascii(bk->a, bk->a_len) && all_ascii(bk->b, bk->b_len);
    bk->pre_len = bk->a_len + bk->sep_len;
    static uint32_t (*const fast[ROLLOUT_HASH_COUNT])(const rp_bucketing *, const char *,
                                                      size_t) = {
        NULL, fast_nginx, fast_unleash, fast_growthbook_v1, fast_growthbook_v2,
        rp_bucket_general, fast_flagd};
    /* a key that is not ASCII: every id the general way */
    bk->fast = bk->ascii || hash == ROLLOUT_HASH_NGINX_SPLIT_CLIENTS ? fast[hash] : rp_bucket_general;
    if (hash == ROLLOUT_HASH_NGINX_SPLIT_CLIENTS) {
        const unsigned char *b = (const unsigned char *)bk->b;
        for (size_t r = 0; r < 4; r++) {
            size_t fill = bk->b_len < 4 - r ? bk->b_len : 4 - r;
            for (size_t j = 0; j < fill; j++)
                bk->nsuf[r].first |= (uint32_t)b[j] << (8 * (r + j));
            bk->nsuf[r].full = r + bk->b_len >= 4;
            if (!bk->nsuf[r].full) {
                bk->nsuf[r].last_n = (unsigned char)(r + bk->b_len);
                continue;
            }
            size_t rest = bk->b_len - fill;
            bk->nsuf[r].blocks = (uint32_t)(rest / 4);
            bk->nsuf[r].last_n = (unsigned char)(rest % 4);
            for (size_t j = 0; j < rest % 4; j++)
                bk->nsuf[r].last |= (uint32_t)b[bk->b_len - rest % 4 + j] << (8 * j);
        }
    } else if (hash == ROLLOUT_HASH_GROWTHBOOK_V1 || hash == ROLLOUT_HASH_GROWTHBOOK_V2) {
        bk->pre_h = fnv1a_bytes(fnv1a_bytes(0x811c9dc5u, bk->a, bk->a_len), bk->sep, bk->sep_len);
    } else if (hash == ROLLOUT_HASH_UNLEASH || hash == ROLLOUT_HASH_FLAGD) {
        reg_blocks st = {0, 0, 0};
        FEED_REG(st, bk->a, bk->a_len, m3_block);
        FEED_REG(st, bk->sep, bk->sep_len, m3_block);
        bk->pre_h = st.h;
        bk->pre_k = st.k;
        bk->tail_n = st.n;
    }
    return ROLLOUT_OK;
}

int rollout_bucket_with(int hash, const char *key, size_t key_len, const char *id,
                        size_t id_len, uint32_t *bucket)
{
    if (hash == ROLLOUT_HASH_XXH3)
        return rollout_bucket(key, key_len, id, id_len, bucket);
    if (!bucket || !id || !id_len)
        return ROLLOUT_ERR_ARG;
    rp_bucketing bk;
    const char *why;
    int rc = rp_bucketing_init(&bk, hash, key, key_len, &why);
    if (rc)
        return rc;
    *bucket = rp_bucket_compat(&bk, id, id_len);
    return ROLLOUT_OK;
}

int rollout_plan_hash(const rollout_plan *plan, const char **key, size_t *key_len)
{
    if (!plan)
        return -1;
    bool xxh3 = plan->hash == ROLLOUT_HASH_XXH3;
    if (key)
        *key = xxh3 ? plan->salt : plan->bucket_key;
    if (key_len)
        *key_len = xxh3 ? plan->salt_len : plan->bucket_key_len;
    return plan->hash;
}

int rollout_plan_bucket(const rollout_plan *plan, const char *id, size_t id_len,
                        uint32_t *bucket)
{
    if (!plan || !bucket || !id || !id_len)
        return ROLLOUT_ERR_ARG;
    *bucket = plan->hash == ROLLOUT_HASH_XXH3
                  ? rp_bucket_from_hash(rp_hash_id(plan->seed, id, id_len))
                  : rp_bucket_compat(&plan->bucketing, id, id_len);
    return ROLLOUT_OK;
}
