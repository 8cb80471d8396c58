/* SPDX-License-Identifier: MIT */
/*
 * targeting.c — cohort rules (`match:` in a plan): parse, match, dump.
 *
 * Grammar (docs/plan-format.md): a rule is a mapping with exactly one of
 *   everyone: true
 *   org_in: [ids]            user_in: [ids]
 *   orgs_file: PATH          users_file: PATH   (one id a line, beside the plan)
 *   attr: NAME  plus one of  equals: VALUE | in: [values] | matches: PATTERN
 *   not: RULE                any: [RULES]      all: [RULES]
 *
 * The match path runs on every request of a gateway, from many threads at
 * once, on a plan nobody may modify: it reads only, allocates nothing (the
 * PCRE2 match data lives in a stack buffer) and is bounded in time by the
 * match limits set at load.
 */
#include "targeting.h"

#include "bucket.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static const char *const rule_keys[] = {"everyone", "org_in", "user_in", "attr", "equals",
                                        "in",       "matches", "not",    "any",  "all",
                                        "orgs_file", "users_file", NULL};
/* The keys that say what kind of rule a mapping is. */
static const char *const kind_keys[] = {"everyone", "org_in", "user_in", "attr",
                                        "not",      "any",    "all",     "orgs_file",
                                        "users_file"};
/* The tests that go with attr. */
static const char *const attr_keys[] = {"equals", "in", "matches"};

/* ---- the load-time memo ---------------------------------------------------
 *
 * A plan can repeat one rule many times: by alias (the node tree shares the
 * anchored node, yaml_tree.c), or written out again. Built naively, each
 * copy compiles its pattern again (99 000 aliases of one pattern rule: 2 s
 * and 200 MB to load) and each is evaluated again on every decision. The
 * memo, in the load's scratch arena, maps
 *   a rule's node            -> the rule built from it (aliases)
 *   attr + pattern text      -> the pattern rule with them (copies)
 *   pattern text             -> its compiled pattern (other attributes)
 * so a plan compiles each distinct pattern once and holds each distinct
 * pattern rule once. */

enum { MEMO_NODE = 1, MEMO_LEAF, MEMO_PATTERN };

typedef struct memo_entry {
    uint64_t hash;
    int kind;               /* MEMO_*; 0 marks an empty slot */
    const void *a;          /* the node; the attribute; the pattern text */
    size_t a_len;
    const char *b;          /* MEMO_LEAF: the pattern text */
    size_t b_len;
    void *val;              /* struct rp_rule *, or rp_pattern * */
} memo_entry;

struct rp_rule_memo {
    memo_entry *slot;
    size_t mask, n;
};

static uint64_t memo_hash(int kind, const void *a, size_t a_len, const char *b, size_t b_len)
{
    if (kind == MEMO_NODE)
        return XXH3_64bits(&a, sizeof a);
    uint64_t h = XXH3_64bits_withSeed(a, a_len, (uint64_t)kind);
    return kind == MEMO_LEAF ? XXH3_64bits_withSeed(b, b_len, h) : h;
}

static bool memo_same(const memo_entry *e, uint64_t hash, int kind, const void *a, size_t a_len,
                      const char *b, size_t b_len)
{
    if (e->hash != hash || e->kind != kind)
        return false;
    if (kind == MEMO_NODE)
        return e->a == a;
    return e->a_len == a_len && memcmp(e->a, a, a_len) == 0 &&
           (kind != MEMO_LEAF || (e->b_len == b_len && memcmp(e->b, b, b_len) == 0));
}

/* The slot of the key: its entry, or the empty slot it would go to. */
static memo_entry *memo_slot(struct rp_rule_memo *m, uint64_t hash, int kind, const void *a,
                             size_t a_len, const char *b, size_t b_len)
{
    for (size_t i = hash & m->mask;; i = (i + 1) & m->mask)
        if (!m->slot[i].kind || memo_same(&m->slot[i], hash, kind, a, a_len, b, b_len))
            return &m->slot[i];
}

static void *memo_find(rp_ctx *c, int kind, const void *a, size_t a_len, const char *b,
                       size_t b_len)
{
    struct rp_rule_memo *m = c->memo;
    if (!m)
        return NULL;
    return memo_slot(m, memo_hash(kind, a, a_len, b, b_len), kind, a, a_len, b, b_len)->val;
}

/* Remembers val under the key (not yet in the memo). The keys' bytes must
 * outlive the load: node text (scratch) or arena copies. */
static int memo_add(rp_ctx *c, int kind, const void *a, size_t a_len, const char *b, size_t b_len,
                    void *val)
{
    rp_arena *arena = c->scratch ? c->scratch : c->arena;
    struct rp_rule_memo *m = c->memo;
    if (!m) {
        m = c->memo = rp_alloc(arena, sizeof *m);
        if (!m)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    }
    if (2 * (m->n + 1) > m->mask + 1 || !m->slot) {
        size_t cap = m->slot ? 2 * (m->mask + 1) : 64;
        memo_entry *slot = rp_alloc_array(arena, cap, sizeof *slot);
        if (!slot)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        struct rp_rule_memo grown = {slot, cap - 1, m->n};
        for (size_t i = 0; m->slot && i <= m->mask; i++)
            if (m->slot[i].kind)
                *memo_slot(&grown, m->slot[i].hash, 0, NULL, 0, NULL, 0) = m->slot[i];
        *m = grown;
    }
    uint64_t hash = memo_hash(kind, a, a_len, b, b_len);
    *memo_slot(m, hash, kind, a, a_len, b, b_len) =
        (memo_entry){hash, kind, a, a_len, b, b_len, val};
    m->n++;
    return ROLLOUT_OK;
}

/* ---- id sets ------------------------------------------------------------- */

bool rp_idset_has(const rp_idset *set, uint64_t hash, const char *s, size_t len)
{
    return rp_idset_probe(set, hash, s, len);
}

size_t rp_idset_max_probe(const rp_idset *set)
{
    size_t worst = 0;
    for (size_t i = 0; set->table && i <= set->mask; i++) {
        const rp_id *id = &set->table[i];
        if (!id->s)
            continue;
        size_t probes = ((i - rp_idset_home(set, id->hash)) & set->mask) + 1;
        if (probes > worst)
            worst = probes;
    }
    return worst;
}

/* Index of an item equal to items[k] among the earlier ones, or -1; inserts
 * k into the table when it is new. Building and checking for duplicates in
 * one pass keeps a 200 000-id list linear. */
static long idset_insert(rp_idset *set, size_t k)
{
    const rp_id *id = &set->items[k];
    if (!set->table) {
        for (size_t i = 0; i < k; i++)
            if (set->items[i].len == id->len && memcmp(set->items[i].s, id->s, id->len) == 0)
                return (long)i;
        return -1;
    }
    uint32_t i = rp_idset_home(set, id->hash);
    for (; set->table[i].s; i = (i + 1) & set->mask) {
        const rp_id *o = &set->table[i];
        if (o->hash == id->hash && o->len == id->len && memcmp(o->s, id->s, id->len) == 0)
            return (long)o->index;
    }
    set->table[i] = *id;
    return -1;
}

/* Room for count items in set (and its hash table when it is long), or an
 * error at node n when the plan's id cap would be passed. */
static int idset_reserve(rp_ctx *c, const rp_node *n, rp_idset *set, size_t count)
{
    rollout_plan *p = c->plan;
    if (count > ROLLOUT_MAX_IDS - p->n_ids)
        return rp_fail(c, n, ROLLOUT_ERR_LIMIT,
                       "%zu more ids make %zu in the plan's cohort lists; the limit is %u",
                       count, p->n_ids + count, (unsigned)ROLLOUT_MAX_IDS);
    p->n_ids += count;
    set->n = count;
    set->items = rp_alloc_array(c->arena, count, sizeof *set->items);
    if (!set->items)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    if (count > RP_IDSET_LINEAR_MAX) {
        /* at most half full: a miss (most requests) ends after ~2 probes */
        size_t cap = 16;
        while (cap < 2 * count)
            cap *= 2;
        set->table = rp_alloc_array(c->arena, cap, sizeof *set->table);
        if (!set->table)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        set->mask = (uint32_t)(cap - 1);
        set->key = p->table_key | 1;
    }
    return ROLLOUT_OK;
}

/* what: "id" or "value" for messages; ids may not be empty (an empty id is
 * how a context says the unit is absent), attribute values may. */
static int parse_list(rp_ctx *c, const rp_node *n, rp_idset *set, const char *what)
{
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n == 0)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "the list is empty, so it matches nothing; "
                                                "list at least one %s",
                       what);
    rollout_plan *p = c->plan;
    if ((rc = idset_reserve(c, n, set, n->n)))
        return rc;
    bool is_id = strcmp(what, "id") == 0;
    for (size_t i = 0; i < n->n; i++) {
        const rp_node *item = n->items[i];
        size_t mark = rp_path_index(c, i);
        rp_id *id = &set->items[i];
        if ((rc = rp_expect(c, item, RP_SCALAR)) || (rc = rp_string(c, item, &id->s)))
            return rc;
        id->len = (uint32_t)item->len;
        id->index = (uint32_t)i;
        if (is_id && id->len == 0)
            return rp_fail(c, item, ROLLOUT_ERR_VALUE,
                           "an empty id never matches (a request without the id is "
                           "\"absent\", not \"\")");
        id->hash = rp_hash_id(p->seed, id->s, id->len);
        set->len_bits |= UINT64_C(1) << (id->len & 63);
        long dup = idset_insert(set, i);
        if (dup >= 0)
            return rp_fail(c, item, ROLLOUT_ERR_DUPLICATE, "%s \"%s\" is listed twice (first at line %d)",
                           what, id->s, n->items[dup]->line);
        rp_path_pop(c, mark);
    }
    return ROLLOUT_OK;
}

/* Length of the well-formed UTF-8 sequence at s (of at most n bytes) that
 * is not a control character, or 0. */
static size_t text_char(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80)
        return b >= 0x20 && b != 0x7f;
    size_t len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3
                                         : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (!len || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    if ((b == 0xe0 && s[1] < 0xa0) || (b == 0xed && s[1] > 0x9f) || (b == 0xf0 && s[1] < 0x90) ||
        (b == 0xf4 && s[1] > 0x8f) || (b == 0xc2 && s[1] < 0xa0))
        return 0; /* overlong, surrogate, past U+10FFFF, C1 control */
    return len;
}

/* An ids file (orgs_file:, users_file:): one id a line, read relative to the
 * plan file's directory; blank lines are skipped, a CRLF's CR dropped. The
 * ids join the plan like a written list (the dump writes them inline, so
 * the fingerprint covers them). Errors point at the plan key and name the
 * file's line. */
static int parse_id_file(rp_ctx *c, const rp_node *v, rp_idset *set)
{
    int rc = rp_expect(c, v, RP_SCALAR);
    if (rc)
        return rc;
    if (!c->base_dir)
        return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                       "an ids file needs a plan loaded from a file (its path is relative to "
                       "the plan's directory); this plan came from a buffer, so list the ids "
                       "inline or load the plan with rollout_plan_load_file");
    bool dotdot = false;
    for (size_t i = 0; i < v->len; i++)
        if ((i == 0 || v->str[i - 1] == '/') && v->str[i] == '.' && i + 1 < v->len &&
            v->str[i + 1] == '.' && (i + 2 == v->len || v->str[i + 2] == '/'))
            dotdot = true;
    if (v->len == 0 || v->str[0] == '/' || dotdot || strlen(v->str) != v->len)
        return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                       "\"%s\" is not a path inside the plan's directory (write a relative "
                       "path without \"..\", such as ids/pilot-orgs.txt)",
                       v->str);
    size_t blen = strlen(c->base_dir);
    char *path = malloc(blen + v->len + 1);
    if (!path)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    memcpy(path, c->base_dir, blen);
    memcpy(path + blen, v->str, v->len + 1);
    char *buf;
    size_t len;
    rollout_error e = {0};
    rc = rp_read_file(path, ROLLOUT_MAX_IDS_FILE_BYTES, "ids file", &buf, &len, &e);
    free(path);
    if (rc == ROLLOUT_ERR_NOMEM)
        return rp_fail(c, NULL, rc, "out of memory");
    if (rc)
        return rp_fail(c, v, rc, "%s", e.message);

    /* count the ids first, so the set is sized (and the cap checked) once */
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len, l = end - i;
        if (l && buf[end - 1] == '\r')
            l--;
        count += l > 0;
        i = end + 1;
    }
    if (count == 0) {
        free(buf);
        return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                       "the ids file \"%s\" holds no id, so it matches nothing", v->str);
    }
    if ((rc = idset_reserve(c, v, set, count))) {
        free(buf);
        return rc;
    }
    rollout_plan *p = c->plan;
    uint32_t *lines = malloc(count * sizeof *lines);
    if (!lines) {
        free(buf);
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    uint32_t line = 0;
    for (size_t i = 0; i < len && rc == ROLLOUT_OK;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len, l = end - i;
        const char *s = buf + i;
        i = end + 1;
        line++;
        if (l && s[l - 1] == '\r')
            l--;
        if (!l)
            continue;
        for (size_t j = 0, cl; j < l; j += cl)
            if (!(cl = text_char((const unsigned char *)s + j, l - j))) {
                rc = rp_fail(c, v, ROLLOUT_ERR_ENCODING,
                             "%s:%u:%zu: byte 0x%02X is a control character or not UTF-8 "
                             "(ids files are UTF-8 text, one id a line)",
                             v->str, line, j + 1, (unsigned char)s[j]);
                break;
            }
        if (rc)
            break;
        rp_id *id = &set->items[k];
        if (!(id->s = rp_strndup(c->arena, s, l))) {
            rc = rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
            break;
        }
        id->len = (uint32_t)l;
        id->index = (uint32_t)k;
        id->hash = rp_hash_id(p->seed, id->s, id->len);
        set->len_bits |= UINT64_C(1) << (id->len & 63);
        lines[k] = line;
        long dup = idset_insert(set, k);
        if (dup >= 0)
            rc = rp_fail(c, v, ROLLOUT_ERR_DUPLICATE,
                         "%s:%u: id \"%s\" is listed twice (first at line %u)", v->str, line,
                         id->s, lines[dup]);
        k++;
    }
    free(lines);
    free(buf);
    return rc;
}

/* ---- patterns ------------------------------------------------------------ */

/* Load-time allocator for the match context: it lives in the plan arena, so
 * it needs no release hook. Once sealed it refuses to allocate, so a PCRE2
 * that allocates through the context while matching (releases before 10.41
 * did) gets NOMEMORY rather than touching a shared arena from many threads. */
typedef struct load_mem {
    rp_arena *arena;
    bool sealed;
} load_mem;

static void *load_malloc(PCRE2_SIZE size, void *data)
{
    load_mem *m = data;
    return m->sealed ? NULL : rp_alloc(m->arena, size);
}

static void no_free(void *ptr, void *data)
{
    (void)ptr;
    (void)data;
}

_Static_assert(sizeof(rp_md_slot) == RP_CACHE_LINE, "one pool slot per cache line");

/* The pool's allocator: arena memory on cache lines of its own, so no two
 * slots' match data share a line that threads would fight over. Sealed like
 * load_mem once the pool is built. */
static void *pool_malloc(PCRE2_SIZE size, void *data)
{
    load_mem *m = data;
    if (m->sealed || size > SIZE_MAX / 2)
        return NULL;
    size = (size + RP_CACHE_LINE - 1) & ~(size_t)(RP_CACHE_LINE - 1);
    unsigned char *p = rp_alloc(m->arena, size + RP_CACHE_LINE);
    if (!p)
        return NULL;
    return p + (RP_CACHE_LINE - (uintptr_t)p % RP_CACHE_LINE) % RP_CACHE_LINE;
}

/* The plan's match data pool (targeting.h), built with its first JIT
 * pattern. Everything is in the arena and goes with the plan. */
static int make_md_pool(rp_ctx *c)
{
    load_mem *m = rp_alloc(c->arena, sizeof *m);
    if (!m)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    m->arena = c->arena;
    rp_md_pool *pool = pool_malloc(sizeof *pool, m);
    pcre2_general_context *g = pool ? pcre2_general_context_create(pool_malloc, no_free, m) : NULL;
    if (!g)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (unsigned i = 0; i < RP_MD_SLOTS; i++) {
        atomic_flag_clear(&pool->slot[i].busy);
        /* one ovector pair: a rule only asks whether there is a match */
        pool->slot[i].md = pcre2_match_data_create(1, g);
        if (!pool->slot[i].md)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    }
    m->sealed = true;
    c->plan->md_pool = pool;
    return ROLLOUT_OK;
}

/* Characters in the first `bytes` bytes of UTF-8 text (YAML has already
 * checked it is UTF-8): every byte that does not continue a character. */
static int utf8_chars(const char *s, size_t bytes)
{
    int n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Whether a pattern is literal text, and which: printable ASCII that is no
 * metacharacter, or a backslash and a punctuation character (that
 * character), with an optional ^ in front and $, \z or \Z at the end. For
 * such a pattern PCRE2 (with the options compile_pattern uses: no caseless,
 * multiline or extended mode) matches exactly where the bytes occur, and
 * ASCII bytes match the same in valid and invalid UTF-8 alike.
 *
 * One group of two or more alternatives of such text, `(a|b)` or `(?:a|b)`,
 * with no quantifier after it, is literal too: the pattern matches where
 * any of the texts it spells occurs (the anchors hold for each), which is
 * the e-mail domain list, `@(acme|globex)\.com$`, plans are full of.
 *
 * Anything else (a class, a quantifier, a second or nested group, a letter
 * escape, a byte above 0x7e) is left to PCRE2. tests/c/test_targeting.c
 * compares the two on generated patterns and values. */
static int find_literal(rp_ctx *c, rp_pattern *pat)
{
    const char *s = pat->source;
    size_t n = pat->len, i = 0, m = 0;
    bool start = false, in_group = false;
    uint8_t end = RP_LIT_ANYWHERE;
    /* where in text the group opens (cut[0]) and each alternative ends */
    size_t cut[RP_LIT_MAX_ALTS + 1];
    int n_cuts = 0;
    if (n > UINT32_MAX)
        return ROLLOUT_OK;
    char *text = rp_alloc(c->arena, n + 1);
    if (!text)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    if (n && s[0] == '^') {
        start = true;
        i = 1;
    }
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\' && i + 1 < n) {
            unsigned char e = (unsigned char)s[i + 1];
            if (i + 2 == n && (e == 'z' || e == 'Z') && !in_group) {
                end = e == 'z' ? RP_LIT_END : RP_LIT_END_NL;
                break;
            }
            if (!rp_escape_is_literal(e))
                return ROLLOUT_OK;
            text[m++] = (char)e;
            i += 2;
            continue;
        }
        if (ch == '$' && i + 1 == n && !in_group) {
            end = RP_LIT_END_NL;
            break;
        }
        if (ch == '(' && n_cuts == 0) {
            i++;
            if (i + 1 < n && s[i] == '?' && s[i + 1] == ':')
                i += 2;
            else if (i < n && s[i] == '?')
                return ROLLOUT_OK; /* an option, a lookaround, a named group */
            in_group = true;
            cut[n_cuts++] = m;
            continue;
        }
        if (in_group && (ch == '|' || ch == ')')) {
            if (n_cuts == RP_LIT_MAX_ALTS && ch == '|')
                return ROLLOUT_OK;
            cut[n_cuts++] = m;
            in_group = ch == '|';
            i++;
            continue;
        }
        if (ch < 0x20 || ch > 0x7e || strchr("\\^$.[]|()?*+{}", ch))
            return ROLLOUT_OK;
        text[m++] = (char)ch;
        i++;
    }
    /* an unclosed group does not compile; one alternative is not a choice */
    if (in_group || n_cuts == 2)
        return ROLLOUT_OK;
    text[m] = '\0';
    pat->lit_start = start;
    pat->lit_end = end;
    if (n_cuts == 0) {
        pat->lit = text;
        pat->lit_len = (uint32_t)m;
        return ROLLOUT_OK;
    }
    /* prefix + alternative + suffix, once per alternative */
    int n_alts = n_cuts - 1;
    size_t pre = cut[0], post = m - cut[n_alts];
    rp_lit *lits = rp_alloc_array(c->arena, (size_t)n_alts, sizeof *lits);
    if (!lits)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n_alts; k++) {
        size_t a = cut[k + 1] - cut[k];
        char *t = rp_alloc(c->arena, pre + a + post + 1);
        if (!t)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        memcpy(t, text, pre);
        memcpy(t + pre, text + cut[k], a);
        memcpy(t + pre + a, text + cut[n_alts], post);
        t[pre + a + post] = '\0';
        lits[k] = (rp_lit){t, (uint32_t)(pre + a + post)};
    }
    pat->lit = lits[0].s;
    pat->lit_len = lits[0].len;
    pat->more = lits + 1;
    pat->n_more = (uint32_t)(n_alts - 1);
    return ROLLOUT_OK;
}

int rp_literal_match_more(const rp_pattern *p, const char *s, size_t n)
{
    for (uint32_t k = 0; k < p->n_more; k++)
        if (rp_literal_text(p, p->more[k].s, p->more[k].len, s, n))
            return 1;
    return 0;
}

bool rp_literal_search(const char *s, size_t n, const char *lit, size_t m)
{
    if (m > n)
        return false;
    const char *last = s + (n - m);
    for (const char *p = s; p <= last; p++) {
        p = memchr(p, lit[0], (size_t)(last - p) + 1);
        if (!p)
            return false;
        if (memcmp(p + 1, lit + 1, m - 1) == 0)
            return true;
    }
    return false;
}

static int compile_pattern(rp_ctx *c, const rp_node *n, rp_pattern *pat)
{
    int rc = rp_expect(c, n, RP_SCALAR);
    if (rc)
        return rc;
    /* the same text compiled before (for another attribute): share it, all
     * of it is read-only after the load */
    const rp_pattern *seen = memo_find(c, MEMO_PATTERN, n->str, n->len, NULL, 0);
    if (seen) {
        *pat = *seen;
        return ROLLOUT_OK;
    }
    if ((rc = rp_string(c, n, &pat->source)))
        return rc;
    pat->len = n->len;
    int code_err;
    PCRE2_SIZE off;
    /* MATCH_INVALID_UTF: header values are whatever a client sent; they must
     * be matched (or not), never rejected as a UTF error. \C could split a
     * UTF-8 character, so it is refused outright. NO_DOTSTAR_ANCHOR: PCRE2
     * otherwise tries a pattern that starts with .* only at the start of the
     * value and after newlines, which with an invalid sequence early in the
     * value misses matches after it ('.*0' on "\xff0": no match in 10.42,
     * either engine); the DFA of pattern_dfa.c, and the regex, say match. */
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat->source, pat->len,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C |
                                         PCRE2_NO_DOTSTAR_ANCHOR,
                                     &code_err, &off, NULL);
    if (!code) {
        if (code_err == PCRE2_ERROR_HEAP_FAILED)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code_err, msg, sizeof msg) < 0)
            strcpy((char *)msg, "unknown error");
        /* Point at the offending character inside the scalar. The node's
         * column is its first character (the opening quote when quoted), and
         * YAML columns count characters while PCRE2's offset counts bytes:
         * the column advances by the characters of the pattern before the
         * offset. Exact for single-line scalars whose text is the pattern
         * itself (plain, or quoted without escapes); docs/plan-format.md
         * says what an escape before the error does. */
        rp_node at = *n;
        at.col = n->col + (n->plain ? 0 : 1) + utf8_chars(pat->source, off);
        return rp_fail(c, &at, ROLLOUT_ERR_PATTERN, "invalid pattern: %s (at offset %zu)",
                       (const char *)msg, (size_t)off);
    }
    if (rp_plan_keep_pattern(c->plan, code)) {
        pcre2_code_free(code);
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    }
    pat->code = code;
    if ((rc = find_literal(c, pat)))
        return rc;
    if (!pat->lit &&
        rp_dfa_compile(c->arena, pat->source, pat->len, &c->plan->dfa_budget, &pat->dfa))
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    /* Without JIT (unsupported CPU, W^X policy) the interpreter is used:
     * slower, same results, same limits. */
    pat->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;

    load_mem *m = rp_alloc(c->arena, sizeof *m);
    if (!m)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    m->arena = c->arena;
    pcre2_general_context *g = pcre2_general_context_create(load_malloc, no_free, m);
    pcre2_match_context *mc = g ? pcre2_match_context_create(g) : NULL;
    if (!mc)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    pcre2_set_match_limit(mc, RP_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, RP_DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, RP_INTERP_STACK / 1024);
    m->sealed = true;
    pat->mctx = mc;
    if (pat->jit) {
        if (!c->plan->md_pool && (rc = make_md_pool(c)))
            return rc;
        pat->pool = c->plan->md_pool;
    }
    return memo_add(c, MEMO_PATTERN, pat->source, pat->len, NULL, 0, pat);
}

/* Per-call allocator: a bump pointer over a caller's stack buffer. The
 * general context, the match data and (for the interpreter) its backtracking
 * frames all come from it, and all vanish when the caller returns. */
typedef struct bump {
    unsigned char *buf;
    size_t used, cap;
} bump;

static void *bump_malloc(PCRE2_SIZE size, void *data)
{
    bump *b = data;
    size_t at = (b->used + (alignof(max_align_t) - 1)) & ~(size_t)(alignof(max_align_t) - 1);
    if (at > b->cap || size > b->cap - at)
        return NULL;
    b->used = at + size;
    return b->buf + at;
}

static int match_in(const rp_pattern *pat, const char *s, size_t len, unsigned char *buf,
                    size_t cap)
{
    bump b = {buf, 0, cap};
    pcre2_general_context *g = pcre2_general_context_create(bump_malloc, no_free, &b);
    /* one ovector pair: the rule only asks whether there is a match */
    pcre2_match_data *md = g ? pcre2_match_data_create(1, g) : NULL;
    if (!md)
        return -1;
    PCRE2_SPTR subject = (PCRE2_SPTR)(s ? s : "");
    /* NO_JIT: pcre2_match would run JIT-compiled code when there is some,
     * and a caller that asks for the interpreter (the tests, which force
     * jit off on a JIT-compiled pattern) must get it */
    int rc = pat->jit ? pcre2_jit_match(pat->code, subject, len, 0, 0, md, pat->mctx)
                      : pcre2_match(pat->code, subject, len, 0, PCRE2_NO_JIT, md, pat->mctx);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* The interpreter needs tens of KiB of frames; kept out of line so the JIT
 * path does not reserve that stack. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int match_interp(const rp_pattern *pat, const char *s, size_t len)
{
    alignas(max_align_t) unsigned char buf[RP_INTERP_STACK + 1024];
    return match_in(pat, s, len, buf, sizeof buf);
}

/* A JIT match with a match data built on this call's stack: the pool's
 * fallback when the slots tried are busy. Out of line, so the common path
 * does not reserve its buffer. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int match_jit_stack(const rp_pattern *pat, const char *s, size_t len)
{
    /* general context + match data with one pair: well under 512 bytes */
    alignas(max_align_t) unsigned char buf[512];
    return match_in(pat, s, len, buf, sizeof buf);
}

/* Where this thread starts looking in the pool: its stack address, page
 * granular, spread over the slots by a multiplicative hash (targeting.h
 * says why). */
static inline unsigned pool_home(void)
{
    unsigned char here;
    uintptr_t page = (uintptr_t)&here >> 12;
    return (unsigned)((page * UINT64_C(0x9E3779B97F4A7C15)) >> 32) % RP_MD_SLOTS;
}

int rp_pattern_match(const rp_pattern *pat, const char *s, size_t len)
{
    if (pat->lit)
        return rp_literal_match(pat, s, len);
    if (pat->dfa)
        return rp_dfa_match(pat->dfa, s, len);
    if (RP_UNLIKELY(!pat->jit))
        return match_interp(pat, s, len);
    rp_md_pool *pool = pat->pool;
    if (RP_UNLIKELY(!pool))
        return match_jit_stack(pat, s, len);
    unsigned home = pool_home();
    for (unsigned k = 0; k < RP_MD_PROBES; k++) {
        rp_md_slot *slot = &pool->slot[(home + k) % RP_MD_SLOTS];
        /* acquire: the previous holder's use of the match data is over */
        if (atomic_flag_test_and_set_explicit(&slot->busy, memory_order_acquire))
            continue;
        int rc = pcre2_jit_match(pat->code, (PCRE2_SPTR)(s ? s : ""), len, 0, 0, slot->md,
                                 pat->mctx);
        atomic_flag_clear_explicit(&slot->busy, memory_order_release);
        if (rc >= 0)
            return 1;
        return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    }
    return match_jit_stack(pat, s, len);
}

/* ---- parsing ------------------------------------------------------------- */

static const rp_node *key_node(const rp_node *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++) {
        const rp_node *k = map->items[2 * i];
        if (k->len == strlen(key) && memcmp(k->str, key, k->len) == 0)
            return k;
    }
    return NULL;
}

/* Fails at a key of the rule mapping, with the key in the field path. */
RP_PRINTF(4, 5)
static int fail_at_key(rp_ctx *c, const rp_node *k, int code, const char *fmt, ...)
{
    rp_path_key(c, k->str);
    va_list ap;
    va_start(ap, fmt);
    rp_error_setv(c->err, code, c->file, k->line, k->col, c->path, fmt, ap);
    va_end(ap);
    return code;
}

/* The later (in file order) of two keys of one mapping. */
static const rp_node *later_of(const rp_node *a, const rp_node *b)
{
    return a->line > b->line || (a->line == b->line && a->col > b->col) ? a : b;
}

/* r->uniq: r's kids, each rule once, in the order of first appearance (the
 * order decides which kid ends an any/all early, so it stays the plan's). */
static int unique_kids(rp_ctx *c, struct rp_rule *r)
{
    size_t cap = 16;
    while (cap < 2 * r->n_kids)
        cap *= 2;
    rp_arena *arena = c->scratch ? c->scratch : c->arena;
    const struct rp_rule **seen = rp_alloc_array(arena, cap, sizeof *seen);
    struct rp_rule **uniq = rp_alloc_array(c->arena, r->n_kids, sizeof *uniq);
    if (!seen || !uniq)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < r->n_kids; i++) {
        const struct rp_rule *k = r->kids[i];
        size_t j = (size_t)(((uintptr_t)k * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
        while (seen[j] && seen[j] != k)
            j = (j + 1) & (cap - 1);
        if (seen[j])
            continue;
        seen[j] = k;
        uniq[n++] = r->kids[i];
    }
    r->uniq = uniq;
    r->n_uniq = n;
    return ROLLOUT_OK;
}

static int parse_rule_list(rp_ctx *c, const rp_node *n, struct rp_rule *r, const char *key)
{
    int rc = rp_expect(c, n, RP_SEQ);
    if (rc)
        return rc;
    if (n->n == 0)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "%s: needs at least one rule", key);
    r->kids = rp_alloc_array(c->arena, n->n, sizeof *r->kids);
    if (!r->kids)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        size_t mark = rp_path_index(c, i);
        if ((rc = rp_parse_rule(c, n->items[i], &r->kids[i])))
            return rc;
        rp_path_pop(c, mark);
    }
    r->n_kids = n->n;
    return unique_kids(c, r);
}

static int parse_rule_node(rp_ctx *c, const rp_node *n, struct rp_rule **out);

int rp_parse_rule(rp_ctx *c, const rp_node *n, struct rp_rule **out)
{
    /* an alias of a rule already built (checked, compiled) is that rule */
    struct rp_rule *seen = memo_find(c, MEMO_NODE, n, 0, NULL, 0);
    if (seen) {
        *out = seen;
        return ROLLOUT_OK;
    }
    int rc = parse_rule_node(c, n, out);
    return rc ? rc : memo_add(c, MEMO_NODE, n, 0, NULL, 0, *out);
}

static int parse_rule_node(rp_ctx *c, const rp_node *n, struct rp_rule **out)
{
    int rc = rp_map_check(c, n, rule_keys);
    if (rc)
        return rc;

    const rp_node *kind_k = NULL;
    int kind = -1;
    for (size_t i = 0; i < RP_COUNT(kind_keys); i++) {
        const rp_node *k = key_node(n, kind_keys[i]);
        if (!k)
            continue;
        if (kind_k) {
            const rp_node *later = later_of(k, kind_k);
            return fail_at_key(c, later, ROLLOUT_ERR_VALUE,
                               "a rule has exactly one of everyone, org_in, user_in, attr, not, "
                               "any, all; this one also has \"%s\" (combine rules with any: or "
                               "all:)",
                               (later == k ? kind_k : k)->str);
        }
        kind_k = k;
        kind = (int)i;
    }
    const rp_node *test_k = NULL;
    int test = -1;
    for (size_t i = 0; i < RP_COUNT(attr_keys); i++) {
        const rp_node *k = key_node(n, attr_keys[i]);
        if (!k)
            continue;
        if (test_k) {
            const rp_node *later = later_of(k, test_k);
            return fail_at_key(c, later, ROLLOUT_ERR_VALUE,
                               "attr: takes one of equals, in, matches; this one also has \"%s\"",
                               (later == k ? test_k : k)->str);
        }
        test_k = k;
        test = (int)i;
    }
    if (!kind_k) {
        if (test_k)
            return fail_at_key(c, test_k, ROLLOUT_ERR_MISSING,
                               "\"%s\" needs \"attr: NAME\" beside it", test_k->str);
        return rp_fail(c, n, ROLLOUT_ERR_MISSING,
                       "a rule needs one of everyone, org_in, user_in, attr, not, any, all");
    }
    if (kind != 3 && test_k)
        return fail_at_key(c, test_k, ROLLOUT_ERR_VALUE, "\"%s\" goes only with attr:, not with %s:",
                           test_k->str, kind_k->str);
    if (kind == 3 && !test_k)
        return rp_fail(c, n, ROLLOUT_ERR_MISSING, "attr: needs one of equals, in, matches");

    /* a pattern rule with the attribute and text of one built before (a
     * copy written out again) is that rule */
    const rp_node *attr_v = kind == 3 ? rp_map_get(n, "attr") : NULL;
    const rp_node *pat_v = test == 2 ? rp_map_get(n, "matches") : NULL;
    bool leaf = attr_v && pat_v && attr_v->kind == RP_SCALAR && pat_v->kind == RP_SCALAR;
    if (leaf) {
        struct rp_rule *seen = memo_find(c, MEMO_LEAF, attr_v->str, attr_v->len, pat_v->str,
                                         pat_v->len);
        if (seen) {
            *out = seen;
            return ROLLOUT_OK;
        }
    }

    struct rp_rule *r = rp_alloc(c->arena, sizeof *r);
    if (!r)
        return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
    const rp_node *v = rp_map_get(n, kind_keys[kind]);
    size_t mark = rp_path_key(c, kind_keys[kind]);
    switch (kind) {
    case 0: { /* everyone */
        bool yes;
        if ((rc = rp_bool(c, v, &yes)))
            return rc;
        if (!yes)
            return rp_fail(c, v, ROLLOUT_ERR_VALUE,
                           "everyone: false would match nobody; write everyone: true or "
                           "remove the cohort");
        r->kind = RP_RULE_EVERYONE;
        break;
    }
    case 1: /* org_in */
    case 2: /* user_in */
        r->kind = kind == 1 ? RP_RULE_ORG_IN : RP_RULE_USER_IN;
        if ((rc = parse_list(c, v, &r->set, "id")))
            return rc;
        break;
    case 7: /* orgs_file */
    case 8: /* users_file */
        r->kind = kind == 7 ? RP_RULE_ORG_IN : RP_RULE_USER_IN;
        if ((rc = parse_id_file(c, v, &r->set)))
            return rc;
        break;
    case 3: { /* attr */
        if ((rc = rp_expect(c, v, RP_SCALAR)) || (rc = rp_string(c, v, &r->attr)))
            return rc;
        if (v->len == 0)
            return rp_fail(c, v, ROLLOUT_ERR_VALUE, "the attribute name is empty");
        r->attr_len = v->len;
        rp_path_pop(c, mark);
        const rp_node *t = rp_map_get(n, attr_keys[test]);
        mark = rp_path_key(c, attr_keys[test]);
        if (test == 0) {
            r->kind = RP_RULE_ATTR_EQUALS;
            if ((rc = rp_expect(c, t, RP_SCALAR)) || (rc = rp_string(c, t, &r->value)))
                return rc;
            r->value_len = t->len;
        } else if (test == 1) {
            r->kind = RP_RULE_ATTR_IN;
            if ((rc = parse_list(c, t, &r->set, "value")))
                return rc;
        } else {
            r->kind = RP_RULE_ATTR_MATCHES;
            if ((rc = compile_pattern(c, t, &r->pat)) ||
                (leaf && (rc = memo_add(c, MEMO_LEAF, r->attr, r->attr_len, r->pat.source,
                                        r->pat.len, r))))
                return rc;
        }
        break;
    }
    case 4: /* not */
        r->kind = RP_RULE_NOT;
        r->kids = rp_alloc_array(c->arena, 1, sizeof *r->kids);
        if (!r->kids)
            return rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
        r->n_kids = 1;
        if ((rc = rp_parse_rule(c, v, &r->kids[0])))
            return rc;
        r->uniq = r->kids;
        r->n_uniq = 1;
        break;
    default: /* any, all */
        r->kind = kind == 5 ? RP_RULE_ANY : RP_RULE_ALL;
        if ((rc = parse_rule_list(c, v, r, kind_keys[kind])))
            return rc;
        break;
    }
    rp_path_pop(c, mark);
    *out = r;
    return ROLLOUT_OK;
}

/* ---- matching ------------------------------------------------------------ */

unsigned rp_rule_units(const struct rp_rule *r)
{
    switch (r->kind) {
    case RP_RULE_ORG_IN: return 1u << ROLLOUT_UNIT_ORG;
    case RP_RULE_USER_IN: return 1u << ROLLOUT_UNIT_USER;
    case RP_RULE_NOT:
    case RP_RULE_ANY:
    case RP_RULE_ALL: {
        unsigned units = 0;
        for (size_t i = 0; i < r->n_kids; i++)
            units |= rp_rule_units(r->kids[i]);
        return units;
    }
    default: return 0;
    }
}

/* not, any, all: Kleene logic over their parts (targeting.h). */
int rp_eval_tree(const struct rp_rule *r, const rollout_context *ctx, rp_unit_hashes *h)
{
    switch (r->kind) {
    case RP_RULE_NOT: {
        int t = rp_eval_rule(r->kids[0], ctx, h);
        return t == RP_T_UNKNOWN ? RP_T_UNKNOWN : !t;
    }
    case RP_RULE_ANY: {
        int res = RP_T_NO;
        for (size_t i = 0; i < r->n_uniq; i++) {
            int t = rp_eval_rule(r->uniq[i], ctx, h);
            if (t == RP_T_YES)
                return RP_T_YES;
            if (t == RP_T_UNKNOWN) {
                /* the decision's PCRE2 budget is spent: it is over */
                if (RP_UNLIKELY(h->pattern_runs > RP_PATTERN_RUNS_MAX))
                    return RP_T_UNKNOWN;
                res = RP_T_UNKNOWN;
            }
        }
        return res;
    }
    case RP_RULE_ALL: {
        int res = RP_T_YES;
        for (size_t i = 0; i < r->n_uniq; i++) {
            int t = rp_eval_rule(r->uniq[i], ctx, h);
            if (t == RP_T_NO)
                return RP_T_NO;
            if (t == RP_T_UNKNOWN) {
                if (RP_UNLIKELY(h->pattern_runs > RP_PATTERN_RUNS_MAX))
                    return RP_T_UNKNOWN;
                res = RP_T_UNKNOWN;
            }
        }
        return res;
    }
    }
    return RP_T_NO;
}

int rp_match_cohort_ex(const rollout_plan *p, const rollout_context *ctx, rp_unit_hashes *h,
                       int *error_cohort)
{
    static const rollout_context none;
    return rp_match_first(p, ctx ? ctx : &none, h, error_cohort);
}

int rp_match_cohort(const rollout_plan *p, const rollout_context *ctx, uint64_t org_hash,
                    bool *match_error)
{
    rp_unit_hashes h = {.seed = p->seed, .org = org_hash};
    h.have_org = ctx && ctx->org && ctx->org_len;
    int err_cohort;
    int i = rp_match_cohort_ex(p, ctx, &h, &err_cohort);
    if (match_error)
        *match_error = err_cohort >= 0;
    return i;
}

/* ---- dumping ------------------------------------------------------------- */

static void dump_list(rp_emitter *e, const rp_idset *set)
{
    rp_emit_seq_begin(e, true);
    for (size_t i = 0; i < set->n; i++)
        rp_emit_strn(e, set->items[i].s, set->items[i].len);
    rp_emit_seq_end(e);
}

void rp_dump_rule(rp_emitter *e, const struct rp_rule *r)
{
    rp_emit_map_begin(e);
    switch (r->kind) {
    case RP_RULE_EVERYONE:
        rp_emit_key(e, "everyone");
        rp_emit_raw(e, "true");
        break;
    case RP_RULE_ORG_IN:
    case RP_RULE_USER_IN:
        rp_emit_key(e, r->kind == RP_RULE_ORG_IN ? "org_in" : "user_in");
        dump_list(e, &r->set);
        break;
    case RP_RULE_ATTR_EQUALS:
    case RP_RULE_ATTR_IN:
    case RP_RULE_ATTR_MATCHES:
        rp_emit_key(e, "attr");
        rp_emit_strn(e, r->attr, r->attr_len);
        if (r->kind == RP_RULE_ATTR_EQUALS) {
            rp_emit_key(e, "equals");
            rp_emit_strn(e, r->value, r->value_len);
        } else if (r->kind == RP_RULE_ATTR_IN) {
            rp_emit_key(e, "in");
            dump_list(e, &r->set);
        } else {
            rp_emit_key(e, "matches");
            rp_emit_strn(e, r->pat.source, r->pat.len);
        }
        break;
    case RP_RULE_NOT:
        rp_emit_key(e, "not");
        rp_dump_rule(e, r->kids[0]);
        break;
    case RP_RULE_ANY:
    case RP_RULE_ALL:
        rp_emit_key(e, r->kind == RP_RULE_ANY ? "any" : "all");
        rp_emit_seq_begin(e, false);
        for (size_t i = 0; i < r->n_kids; i++)
            rp_dump_rule(e, r->kids[i]);
        rp_emit_seq_end(e);
        break;
    }
    rp_emit_map_end(e);
}
