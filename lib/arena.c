/* SPDX-License-Identifier: MIT */
/* arena.c — one allocation lifetime per plan: everything is freed at once. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct rp_chunk {
    rp_chunk *next;
    max_align_t data[];
};

#define RP_CHUNK_MIN 8192u
#define RP_ALIGN (sizeof(max_align_t))

void *rp_alloc(rp_arena *a, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + RP_ALIGN - 1) & ~(size_t)(RP_ALIGN - 1);
    if (!a->head || a->cap - a->used < size) {
        size_t cap = size > RP_CHUNK_MIN ? size : RP_CHUNK_MIN;
        rp_chunk *c = malloc(sizeof(rp_chunk) + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = (char *)a->head->data + a->used;
    a->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

void *rp_alloc_array(rp_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / 2 / size)
        return NULL;
    return rp_alloc(a, n * size);
}

char *rp_strndup(rp_arena *a, const char *s, size_t len)
{
    char *p = rp_alloc(a, len + 1);
    if (p && len)
        memcpy(p, s, len);
    return p;
}

void rp_arena_free(rp_arena *a)
{
    rp_chunk *c = a->head;
    while (c) {
        rp_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(a, 0, sizeof *a);
}
