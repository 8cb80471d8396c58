/*
 * yaml_tree.c — libyaml events to a small node tree with positions.
 *
 * Aliases share the anchored node instead of copying it, and every node
 * carries its size with aliases expanded; a document whose expansion exceeds
 * ROLLOUT_MAX_NODES (a "billion laughs" file) is rejected while it is being
 * read, before any code walks it.
 */
#include "internal.h"

#include <string.h>
#include <yaml.h>

typedef struct anchor {
    const char *name;
    rp_node *node;
} anchor;

typedef struct frame {
    rp_node *node;
    rp_node **items;   /* growing child list (heap-free: arena, doubled) */
    size_t n, cap;
} frame;

typedef struct builder {
    rp_arena *arena;
    const char *file;
    rollout_error *err;
    frame stack[ROLLOUT_MAX_DEPTH + 1];
    int depth;
    anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t nodes;      /* nodes created, aliases expanded */
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
        if (!items)
            return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
        if (f->n)
            memcpy(items, f->items, f->n * sizeof *items);
        f->items = items;
        f->cap = cap;
    }
    f->items[f->n++] = child;
    f->node->expanded += child->expanded;
    return ROLLOUT_OK;
}

static int remember_anchor(builder *b, const yaml_char_t *name, rp_node *node)
{
    if (!name)
        return ROLLOUT_OK;
    if (b->n_anchors == b->cap_anchors) {
        size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 8;
        anchor *a = rp_alloc_array(b->arena, cap, sizeof *a);
        if (!a)
            return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
        if (b->n_anchors)
            memcpy(a, b->anchors, b->n_anchors * sizeof *a);
        b->anchors = a;
        b->cap_anchors = cap;
    }
    const char *copy = rp_strndup(b->arena, (const char *)name, strlen((const char *)name));
    if (!copy)
        return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
    b->anchors[b->n_anchors].name = copy;
    b->anchors[b->n_anchors].node = node;
    b->n_anchors++;
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
        if ((rc = remember_anchor(b, ev->data.scalar.anchor, n)))
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
            const yaml_char_t *a = ev->type == YAML_MAPPING_START_EVENT
                                       ? ev->data.mapping_start.anchor
                                       : ev->data.sequence_start.anchor;
            if ((rc = remember_anchor(b, a, n)))
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
        n->items = f->items;
        n->n = n->kind == RP_MAP ? f->n / 2 : f->n;
        b->depth--;
        /* the subtree's nodes were counted as they arrived; count only n itself */
        b->nodes -= n->expanded - 1;
        return add_child(b, n, &ev->start_mark);
    }
    case YAML_ALIAS_EVENT:
        for (size_t i = b->n_anchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, (const char *)ev->data.alias.anchor) != 0)
                continue;
            /* an alias to a node still open would make the tree a cycle */
            for (int d = 1; d <= b->depth; d++)
                if (b->stack[d].node == b->anchors[i].node)
                    return fail_at(b, &ev->start_mark, ROLLOUT_ERR_SYNTAX,
                                   "alias *%s refers to a node that contains it",
                                   (const char *)ev->data.alias.anchor);
            return add_child(b, b->anchors[i].node, &ev->start_mark);
        }
        return fail_at(b, &ev->start_mark, ROLLOUT_ERR_SYNTAX, "unknown alias *%s",
                       (const char *)ev->data.alias.anchor);
    default:
        return ROLLOUT_OK;
    }
    return rp_error_set(b->err, ROLLOUT_ERR_NOMEM, b->file, 0, 0, NULL, "out of memory");
}

static int syntax_error(builder *b, const yaml_parser_t *p, const char *buf, size_t len)
{
    int code = p->error == YAML_MEMORY_ERROR ? ROLLOUT_ERR_NOMEM : ROLLOUT_ERR_SYNTAX;
    if (code == ROLLOUT_ERR_NOMEM)
        return rp_error_set(b->err, code, b->file, 0, 0, NULL, "out of memory");
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
    if (rc)
        return rc;
    /* "---" alone or an empty scalar document: nothing there */
    if (b.root && b.root->kind == RP_SCALAR && b.root->plain && b.root->len == 0)
        b.root = NULL;
    *root = b.root;
    return ROLLOUT_OK;
}
