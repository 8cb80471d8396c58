/* SPDX-License-Identifier: MIT */
/*
 * plan_slot.h — sharing a reloadable plan (and the rollout state that goes
 * with it) between threads, the way a proxy does. Header-only, C11 atomics
 * and pthreads; copy it into your program.
 *
 * What workers decide with is a *snapshot*: one plan reference plus, if the
 * proxy has one, a copy of the rollout state. A snapshot never changes after
 * it is published, so a decision uses one consistent (plan, state) pair from
 * start to end, and a plan reload and the state that belongs to the new plan
 * take effect together. Snapshots are reference-counted like plans.
 *
 * The pattern ("refcounted reload with per-worker references"):
 *
 *   - The slot holds the current snapshot (one reference of its own), a
 *     mutex and a generation counter.
 *   - Each worker keeps its own reference to the snapshot it is using and
 *     the generation it was taken at. Per request it does one atomic load of
 *     the generation; only when it changed does it take the mutex, take a
 *     reference to the new snapshot and drop its old one. The request path
 *     has no lock and no reference-count traffic.
 *   - A reload (any thread) loads and validates the new plan and decodes the
 *     state *outside* the lock, then swaps the snapshot in under the mutex,
 *     bumps the generation and drops the slot's reference to the old one.
 *     Workers still deciding with the old snapshot keep it alive; the last
 *     one to let go frees it, and with it its plan reference. A plan that
 *     fails to load is never published: the old one stays in force.
 *
 * Why not a bare atomic pointer: a reader that loads the pointer and then
 * takes a reference races with a writer dropping the last reference in
 * between (use after free). The mutex closes that window; a worker takes it
 * once per reload, not per request.
 */
#ifndef ROLLOUT_PLAN_SLOT_H
#define ROLLOUT_PLAN_SLOT_H

#include <rollout.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct rollout_snapshot {
    atomic_int refs;
    rollout_plan *plan;            /* the snapshot's own plan reference */
    const rollout_state *state;    /* &state_copy, or NULL without a state */
    rollout_state state_copy;
} rollout_snapshot;

/* A snapshot of plan (the caller's reference is taken over, also on
 * failure) and a copy of *state (NULL: none). NULL when out of memory. */
static inline rollout_snapshot *rollout_snapshot_new(rollout_plan *plan,
                                                     const rollout_state *state)
{
    rollout_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        rollout_plan_unref(plan);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->plan = plan;
    if (state) {
        s->state_copy = *state;
        s->state = &s->state_copy;
    }
    return s;
}

static inline rollout_snapshot *rollout_snapshot_ref(rollout_snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

static inline void rollout_snapshot_unref(rollout_snapshot *s)
{
    /* acq_rel: the thread that frees sees every other holder's last use */
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        rollout_plan_unref(s->plan);
        free(s);
    }
}

typedef struct rollout_slot {
    pthread_mutex_t lock;          /* guards current */
    rollout_snapshot *current;     /* the slot's own reference */
    atomic_uint_fast64_t generation; /* +1 on every publish, written under lock */
} rollout_slot;

/* One per worker thread: the snapshot it decides with, and its generation. */
typedef struct rollout_slot_reader {
    rollout_snapshot *snap;        /* the worker's own reference */
    uint64_t generation;
} rollout_slot_reader;

/* Takes over the caller's reference to first. */
static inline void rollout_slot_init(rollout_slot *s, rollout_snapshot *first)
{
    pthread_mutex_init(&s->lock, NULL);
    s->current = first;
    atomic_init(&s->generation, 1);
}

/* Publishes snap (taking over the caller's reference) and drops the slot's
 * reference to the previous snapshot. Returns the new generation. */
static inline uint64_t rollout_slot_publish(rollout_slot *s, rollout_snapshot *snap)
{
    pthread_mutex_lock(&s->lock);
    rollout_snapshot *old = s->current;
    s->current = snap;
    uint64_t g = atomic_load_explicit(&s->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&s->generation, g, memory_order_release);
    pthread_mutex_unlock(&s->lock);
    /* outside the lock: freeing a plan (PCRE2 codes, its arena) takes time */
    rollout_snapshot_unref(old);
    return g;
}

/* Publishes a snapshot of plan (a new reference is taken; the caller keeps
 * its own) and a copy of *state: what a store's sync thread does with each
 * state it accepts. -1 when out of memory (the snapshot in force stays). */
static inline int rollout_slot_publish_state(rollout_slot *s, rollout_plan *plan,
                                             const rollout_state *state, uint64_t *generation)
{
    rollout_snapshot *snap = rollout_snapshot_new(rollout_plan_ref(plan), state);
    if (!snap)
        return -1;
    uint64_t g = rollout_slot_publish(s, snap);
    if (generation)
        *generation = g;
    return 0;
}

/* A new reference to the current snapshot (for a reloader that builds the
 * next one from it), and its generation. */
static inline rollout_snapshot *rollout_slot_acquire(rollout_slot *s, uint64_t *generation)
{
    pthread_mutex_lock(&s->lock);
    rollout_snapshot *snap = rollout_snapshot_ref(s->current);
    if (generation)
        *generation = atomic_load_explicit(&s->generation, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
    return snap;
}

/* The snapshot a worker uses for its next request. Valid until the worker's
 * next call or rollout_slot_reader_release. Generations a worker sees never
 * go down, so it never returns to an older plan. */
static inline const rollout_snapshot *rollout_slot_get(rollout_slot *s, rollout_slot_reader *r)
{
    uint64_t g = atomic_load_explicit(&s->generation, memory_order_acquire);
    if (__builtin_expect(g != r->generation || !r->snap, 0)) {
        rollout_snapshot *fresh = rollout_slot_acquire(s, &r->generation);
        rollout_snapshot_unref(r->snap);
        r->snap = fresh;
    }
    return r->snap;
}

/* Drops a worker's reference (when the worker exits). */
static inline void rollout_slot_reader_release(rollout_slot_reader *r)
{
    rollout_snapshot_unref(r->snap);
    r->snap = NULL;
    r->generation = 0;
}

/* Drops the slot's reference; call after every worker has released. */
static inline void rollout_slot_destroy(rollout_slot *s)
{
    rollout_snapshot_unref(s->current);
    s->current = NULL;
    pthread_mutex_destroy(&s->lock);
}

#endif
