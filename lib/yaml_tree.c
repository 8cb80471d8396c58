/* SPDX-License-Identifier: MIT */
/*
 * yaml_tree.c — libyaml events to a small node tree with positions.
 *
 * Aliases share the anchored node instead of copying it, and every node
 * carries its size with aliases expanded; a document whose expansion exceeds
 * ROLLOUT_MAX_NODES (a "billion laughs" file) is rejected while it is being
 * read, before any code walks it.
 *
 * Anchors live in a hash table, so resolving an alias costs one probe
 * whatever the number of anchors, and the tree is where every mapping is
 * checked for a key written twice and every node for an explicit tag: no
 * section parser can forget either.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

typedef struct anchor {
    const char *name;  /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    rp_node *node;
} anchor;

typedef struct pos {
    int line, col;
} pos;

typedef struct frame {
    rp_node *node;
    rp_node **items;   /* growing child list (heap-free: arena, doubled) */
    pos *at;           /* where each child was written (an alias: the alias) */
    size_t n, cap;
} frame;

typedef struct builder {
    rp_arena *arena;
    const char *file;
    rollout_error *err;
    frame stack[ROLLOUT_MAX_DEPTH + 1];
    int depth;
    anchor *anchors;   /* open addressing, cap_anchors a power of two */
    size_t n_anchors;  /* anchor definitions read, for ROLLOUT_MAX_ANCHORS */
    size_t used_anchors, cap_anchors;
    /* Seeds the table hashes with the document itself: names chosen to
     * collide would have to be found for a seed that depends on them. */
    uint64_t seed;
    size_t nodes;      /* nodes created, aliases expanded */
    size_t probes;     /* anchor table slots looked at (rp_yaml_parse_counted) */
    rp_node *root;
} builder;

/* Reports the first byte that is not UTF-8 (or is a NUL): libyaml's own
 * message for that names no column a person can find. */
static int check_utf8(const unsigned char *s, size_t len, const char *file, rollout_error *err)
{
    int line = 1, col = 1;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t need;
        unsigned min;
        if (c < 0x80) {
            if (c == 0)
                return rp_error_set(err, ROLLOUT_ERR_ENCODING, file, line, col, NULL,
                                    "NUL byte in the file (plans are UTF-8 text)");
            i++;
            if (c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) { need = 1; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; min = 0x10000; }
        else goto bad;
        if (len - i <= need)
            goto bad;
        unsigned cp = c & (0x3Fu >> need);
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += need + 1;
        col++;
    }
    return ROLLOUT_OK;
bad:
    return rp_error_set(err, ROLLOUT_ERR_ENCODING, file, line, col, NULL,
                        "byte 0x%02X is not valid UTF-8 (plans are UTF-8 text)", s[i]);
}

static int fail_at(builder *b, const yaml_mark_t *m, int code, const char *fmt, const char *arg)
{
    return rp_error_set(b->err, code, b->file, (int)m->line + 1, (int)m->column + 1, NULL,
                        fmt, arg);
}

/* The field path of the node being read, in rp_ctx's form
 * ("phases[1].steps[0].weight"), from the open collections. */
static void tree_path(const builder *b, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int d = 1; d <= b->depth && off < cap; d++) {
        const frame *f = &b->stack[d];
        int w;
        if (f->node->kind == RP_SEQ) {
            w = snprintf(buf + off, cap - off, "[%zu]", f->n);
        } else if (f->n % 2 == 1) {
            const rp_node *k = f->items[f->n - 1];
            w = snprintf(buf + off, cap - off, "%s%s", off ? "." : "",
                         k->kind == RP_SCALAR ? k->str : "?");
        } else {
            break;   /* inside a key */
        }
        if (w < 0)
            break;
        off += (size_t)w < cap - off ? (size_t)w : cap - off - 1;
    }
}

static int add_child(builder *b, rp_node *child, const yaml_mark_t *m)
{
    if (child->expanded > ROLLOUT_MAX_NODES - b->nodes)
        return fail_at(b, m, ROLLOUT_ERR_LIMIT,
                       "document expands to more than %s nodes (alias bomb?)", "500000");
    b->nodes += child->expanded;
    if (b->depth == 0) {
        b->root = child;
        return ROLLOUT_OK;
    }
    frame *f = &b->stack[b->depth];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        rp_node **items = rp_alloc_array(b->arena, cap, sizeof *items);
        pos *at = rp_alloc_array(b->arena, cap, sizeof *at);
        if (!items || !at)
            return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
        if (f->n) {
            memcpy(items, f->items, f->n * sizeof *items);
            memcpy(at, f->at, f->n * sizeof *at);
        }
        f->items = items;
        f->at = at;
        f->cap = cap;
    }
    f->at[f->n] = (pos){(int)m->line + 1, (int)m->column + 1};
    f->items[f->n++] = child;
    f->node->expanded += child->expanded;
    return ROLLOUT_OK;
}

static uint64_t name_hash(const builder *b, const char *s, size_t len)
{
    return XXH3_64bits_withSeed(s, len, b->seed);
}

/* The slot holding name, or the empty slot where it would go. */
static anchor *anchor_slot(builder *b, const char *name, size_t len, uint64_t h)
{
    size_t mask = b->cap_anchors - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        anchor *a = &b->anchors[i];
        b->probes++;
        if (!a->name || (a->hash == h && a->len == len && memcmp(a->name, name, len) == 0))
            return a;
    }
}

static int remember_anchor(builder *b, const yaml_char_t *name, rp_node *node,
                           const yaml_mark_t *m)
{
    if (!name)
        return ROLLOUT_OK;
    if (b->n_anchors == ROLLOUT_MAX_ANCHORS)
        return fail_at(b, m, ROLLOUT_ERR_LIMIT, "more than %s anchors (&name) in the file",
                       "50000");
    b->n_anchors++;
    if (2 * (b->used_anchors + 1) > b->cap_anchors) {
        /* the old table stays in the arena: at most as large as the new one */
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 64;
        anchor *old = b->anchors;
        size_t old_cap = b->cap_anchors;
        b->anchors = rp_alloc_array(b->arena, cap, sizeof *b->anchors);
        if (!b->anchors)
            return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
        b->cap_anchors = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].name)
                *anchor_slot(b, old[i].name, old[i].len, old[i].hash) = old[i];
    }
    size_t len = strlen((const char *)name);
    uint64_t h = name_hash(b, (const char *)name, len);
    anchor *a = anchor_slot(b, (const char *)name, len, h);
    if (!a->name) {
        /* YAML lets a name be anchored again; later aliases mean the newer node */
        a->name = rp_strndup(b->arena, (const char *)name, len);
        if (!a->name)
            return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
        a->len = len;
        a->hash = h;
        b->used_anchors++;
    }
    a->node = node;
    return ROLLOUT_OK;
}

static const anchor *find_anchor(builder *b, const yaml_char_t *name)
{
    if (!b->cap_anchors)
        return NULL;
    size_t len = strlen((const char *)name);
    const anchor *a = anchor_slot(b, (const char *)name, len, name_hash(b, (const char *)name, len));
    return a->name ? a : NULL;
}

/* Tags: the core schema's !!str, !!seq and !!map, on a node of their kind,
 * say nothing the reader does not already assume; every other tag (!!binary,
 * !!int, !!null, local tags, !) would make other YAML tools read other values
 * than the text librollout reads, so it is refused. */
static int check_tag(builder *b, const yaml_char_t *tag, rp_kind kind, const yaml_mark_t *m)
{
    static const char *const allowed[] = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:seq",
                                          "tag:yaml.org,2002:map"};
    if (!tag || strcmp((const char *)tag, allowed[kind]) == 0)
        return ROLLOUT_OK;
    const char *t = (const char *)tag;
    const char *shown = strncmp(t, "tag:yaml.org,2002:", 18) == 0 ? t + 18 : NULL;
    char path[192];
    tree_path(b, path, sizeof path);
    static const char *const kinds[] = {"scalar", "list", "mapping"};
    if (shown)
        return rp_error_set(b->err, ROLLOUT_ERR_TYPE, b->file, (int)m->line + 1,
                            (int)m->column + 1, path,
                            "YAML tag !!%.64s is not allowed on a %s (plans and metrics take "
                            "no tags but !!str, !!seq and !!map on their own kind)",
                            shown, kinds[kind]);
    return rp_error_set(b->err, ROLLOUT_ERR_TYPE, b->file, (int)m->line + 1, (int)m->column + 1,
                        path,
                        "YAML tag %.64s is not allowed (plans and metrics take no tags but "
                        "!!str, !!seq and !!map on their own kind)",
                        t);
}

static bool same_key(const rp_node *x, const rp_node *y)
{
    return x->kind == RP_SCALAR && y->kind == RP_SCALAR && x->len == y->len &&
           memcmp(x->str, y->str, x->len) == 0;
}

static int duplicate_key(builder *b, const frame *f, size_t first, size_t second)
{
    char path[192];
    const rp_node *k = f->items[second];
    tree_path(b, path, sizeof path);
    size_t off = strlen(path);
    snprintf(path + off, sizeof path - off, "%s%s", off ? "." : "", k->str);
    return rp_error_set(b->err, ROLLOUT_ERR_DUPLICATE, b->file, f->at[second].line,
                        f->at[second].col, path,
                        "key \"%s\" appears twice (first at line %d, column %d)", k->str,
                        f->at[first].line, f->at[first].col);
}

/* Every mapping of every document, once: a key written twice is an error
 * (YAML says so; other tools would keep the last value, or the first).
 * Keys are compared as text. Called with the map's frame still on top. */
static int check_keys(builder *b, const frame *f)
{
    size_t pairs = f->n / 2;
    if (pairs <= 16) {
        for (size_t i = 1; i < pairs; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(f->items[2 * j], f->items[2 * i]))
                    return duplicate_key(b, f, 2 * j, 2 * i);
        return ROLLOUT_OK;
    }
    size_t cap = 64;
    while (cap < 2 * pairs)
        cap *= 2;
    /* slot holds key index + 1; scratch memory of the tree's arena */
    size_t *slots = rp_alloc_array(b->arena, cap, sizeof *slots);
    if (!slots)
        return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
    for (size_t i = 0; i < pairs; i++) {
        const rp_node *k = f->items[2 * i];
        if (k->kind != RP_SCALAR)
            continue;
        size_t s = (size_t)name_hash(b, k->str, k->len) & (cap - 1);
        for (; slots[s]; s = (s + 1) & (cap - 1))
            if (same_key(f->items[2 * (slots[s] - 1)], k))
                return duplicate_key(b, f, 2 * (slots[s] - 1), 2 * i);
        slots[s] = i + 1;
    }
    return ROLLOUT_OK;
}

static rp_node *new_node(builder *b, rp_kind kind, const yaml_mark_t *m)
{
    rp_node *n = rp_alloc(b->arena, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->expanded = 1;
    return n;
}

static int on_event(builder *b, yaml_event_t *ev)
{
    rp_node *n;
    int rc;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = new_node(b, RP_SCALAR, &ev->start_mark);
        if (!n)
            break;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->len = ev->data.scalar.length;
        n->str = rp_strndup(b->arena, (const char *)ev->data.scalar.value, n->len);
        if (!n->str)
            break;
        if ((rc = check_tag(b, ev->data.scalar.tag, RP_SCALAR, &ev->start_mark)) ||
            (rc = remember_anchor(b, ev->data.scalar.anchor, n, &ev->start_mark)))
            return rc;
        return add_child(b, n, &ev->start_mark);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth >= ROLLOUT_MAX_DEPTH)
            return fail_at(b, &ev->start_mark, ROLLOUT_ERR_LIMIT,
                           "nesting deeper than %s levels", "64");
        n = new_node(b, ev->type == YAML_MAPPING_START_EVENT ? RP_MAP : RP_SEQ, &ev->start_mark);
        if (!n)
            break;
        {
            bool map = ev->type == YAML_MAPPING_START_EVENT;
            const yaml_char_t *a = map ? ev->data.mapping_start.anchor
                                       : ev->data.sequence_start.anchor;
            const yaml_char_t *t = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
            if ((rc = check_tag(b, t, n->kind, &ev->start_mark)) ||
                (rc = remember_anchor(b, a, n, &ev->start_mark)))
                return rc;
        }
        b->depth++;
        memset(&b->stack[b->depth], 0, sizeof b->stack[b->depth]);
        b->stack[b->depth].node = n;
        return ROLLOUT_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        frame *f = &b->stack[b->depth];
        n = f->node;
        if (n->kind == RP_MAP) {
            /* the path of the map's own keys: drop the map from the stack */
            b->depth--;
            rc = check_keys(b, f);
            b->depth++;
            if (rc)
                return rc;
        }
        n->items = f->items;
        n->n = n->kind == RP_MAP ? f->n / 2 : f->n;
        b->depth--;
        /* the subtree's nodes were counted as they arrived; count only n itself */
        b->nodes -= n->expanded - 1;
        return add_child(b, n, &ev->start_mark);
    }
    case YAML_ALIAS_EVENT: {
        const anchor *a = find_anchor(b, ev->data.alias.anchor);
        if (!a)
            return fail_at(b, &ev->start_mark, ROLLOUT_ERR_SYNTAX, "unknown alias *%s",
                           (const char *)ev->data.alias.anchor);
        /* an alias to a node still open would make the tree a cycle */
        for (int d = 1; d <= b->depth; d++)
            if (b->stack[d].node == a->node)
                return fail_at(b, &ev->start_mark, ROLLOUT_ERR_SYNTAX,
                               "alias *%s refers to a node that contains it",
                               (const char *)ev->data.alias.anchor);
        return add_child(b, a->node, &ev->start_mark);
    }
    default:
        return ROLLOUT_OK;
    }
    return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
}

/* The line and column (1-based, columns in characters, breaks as YAML
 * counts them) of byte offset off. */
static void offset_position(const unsigned char *s, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned c = s[i];
        bool brk = c == '\n' || (c == '\r' && !(i + 1 < len && s[i + 1] == '\n')) ||
                   (c == 0xC2 && i + 1 < len && s[i + 1] == 0x85) ||
                   (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 &&
                    (s[i + 2] == 0xA8 || s[i + 2] == 0xA9));
        if (brk) {
            (*line)++;
            *col = 1;
        } else if ((c & 0xC0) != 0x80 && c != '\r') {
            (*col)++;
        }
    }
}

static int syntax_error(builder *b, const yaml_parser_t *p, const char *buf, size_t len)
{
    int code = p->error == YAML_MEMORY_ERROR ? ROLLOUT_ERR_NOMEM : ROLLOUT_ERR_SYNTAX;
    if (code == ROLLOUT_ERR_NOMEM)
        return rp_error_set(b->err, code, b->file, 0, 0, NULL, "out of memory");
    if (p->error == YAML_READER_ERROR) {
        /* the reader decodes ahead of the parser: its error has an offset,
         * no mark, and the open collections say nothing about where it is */
        int line, col;
        offset_position((const unsigned char *)buf, len, p->problem_offset, &line, &col);
        if (p->problem_value >= 0)
            return rp_error_set(b->err, ROLLOUT_ERR_ENCODING, b->file, line, col, NULL,
                                "control character U+%04X is not allowed in YAML text "
                                "(write it as an escape inside double quotes)",
                                (unsigned)p->problem_value);
        return rp_error_set(b->err, ROLLOUT_ERR_ENCODING, b->file, line, col, NULL, "%s",
                            p->problem ? p->problem : "unreadable text");
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    /* libyaml calls a tab "a character that cannot start any token" */
    if (p->problem_mark.index < len && buf[p->problem_mark.index] == '\t')
        return rp_error_set(b->err, code, b->file, (int)p->problem_mark.line + 1,
                            (int)p->problem_mark.column + 1, NULL,
                            "a tab character here; YAML indents with spaces only");
    if (p->context && p->context_mark.line != p->problem_mark.line)
        return rp_error_set(b->err, code, b->file, (int)p->problem_mark.line + 1,
                            (int)p->problem_mark.column + 1, NULL, "%s %s that starts at line %d",
                            problem, p->context, (int)p->context_mark.line + 1);
    if (p->context)
        return rp_error_set(b->err, code, b->file, (int)p->problem_mark.line + 1,
                            (int)p->problem_mark.column + 1, NULL, "%s %s", problem, p->context);
    return rp_error_set(b->err, code, b->file, (int)p->problem_mark.line + 1,
                        (int)p->problem_mark.column + 1, NULL, "%s", problem);
}

int rp_yaml_parse(rp_arena *arena, const char *buf, size_t len, const char *file,
                  rp_node **root, rollout_error *err)
{
    return rp_yaml_parse_counted(arena, buf, len, file, root, err, NULL);
}

int rp_yaml_parse_counted(rp_arena *arena, const char *buf, size_t len, const char *file,
                          rp_node **root, rollout_error *err, size_t *probes)
{
    *root = NULL;
    if (len > ROLLOUT_MAX_PLAN_BYTES)
        return rp_error_set(err, ROLLOUT_ERR_LIMIT, file, 0, 0, NULL,
                            "file is %zu bytes; the limit is %u", len,
                            (unsigned)ROLLOUT_MAX_PLAN_BYTES);
    int rc = check_utf8((const unsigned char *)buf, len, file, err);
    if (rc)
        return rc;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return rp_error_set(err, ROLLOUT_ERR_NOMEM, file, 0, 0, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    builder b;
    memset(&b, 0, sizeof b);
    b.arena = arena;
    b.file = file;
    b.err = err;
    b.seed = XXH3_64bits(buf, len);
    int documents = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(&b, &parser, buf, len);
            break;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
            rc = fail_at(&b, &ev.start_mark, ROLLOUT_ERR_SYNTAX, "%s",
                         "a plan file holds one YAML document; found a second");
        } else {
            rc = on_event(&b, &ev);
        }
        yaml_event_delete(&ev);
        if (rc || type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&parser);
    if (probes)
        *probes = b.probes;
    if (rc)
        return rc;
    /* "---" alone or an empty scalar document: nothing there */
    if (b.root && b.root->kind == RP_SCALAR && b.root->plain && b.root->len == 0)
        b.root = NULL;
    *root = b.root;
    return ROLLOUT_OK;
}
