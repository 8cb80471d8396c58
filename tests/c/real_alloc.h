/* SPDX-License-Identifier: MIT */
/*
 * real_alloc.h — the real allocator behind a test executable's own malloc.
 *
 * test_oom and test_decide_alloc define malloc, calloc, realloc and free
 * themselves (every allocation of the process, libyaml's and libpcre2's
 * included, comes through them) and reach the real ones with
 * dlsym(RTLD_NEXT): under ASan that is ASan's, under valgrind valgrind's.
 * Include once, in such an executable only, after defining _GNU_SOURCE.
 *
 * dlsym may itself call calloc before the real one is known: real_calloc
 * is NULL then, and that call is served from a static block (zeroed, being
 * static) that free() must recognize with is_boot() and ignore.
 */
#ifndef ROLLOUT_TEST_REAL_ALLOC_H
#define ROLLOUT_TEST_REAL_ALLOC_H

#include <dlfcn.h>
#include <stddef.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

static _Alignas(16) unsigned char boot[4096];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n)
{
    size_t at = (boot_used + 15) & ~(size_t)15;
    if (at + n > sizeof boot)
        return NULL;
    boot_used = at + n;
    return boot + at;
}

/* calloc before the real one is known */
static void *boot_calloc(size_t n, size_t size)
{
    return size && n > sizeof boot / size ? NULL : boot_alloc(n * size);
}

static int is_boot(const void *p)
{
    return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    if (real_malloc || resolving)
        return;
    resolving = 1;
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

#endif
