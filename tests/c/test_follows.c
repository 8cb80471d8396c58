/* SPDX-License-Identifier: MIT */
/*
 * test_follows.c — rollout_state_follows: which states a reader may accept
 * after the one it holds (docs/fleet.md, "Reading").
 *
 *  - over seeded random event walks on the seed plan, with a plan edit
 *    (rollout_state_migrate) part way through some of them: every state of a
 *    walk follows itself and every earlier state of the same walk;
 *  - two walks forked from one state, one of which starts a rollback: no
 *    state of the other branch follows a state of the rollback branch, and
 *    two different states at the same revision never follow each other;
 *  - the restore scenario of the fleet store: START, PAUSE, RESUME,
 *    ROLLBACK; PAUSE and RESUME applied on the RESUME state again do not
 *    follow the rollback;
 *  - each rule on a hand-altered state.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define H 3600
#define D 86400

static const int64_t T0 = 1772269200; /* 2026-02-28T09:00:00Z, the seed's start */

static rollout_event ev(int type)
{
    return (rollout_event){.type = type, .gate = -1, .role = -1};
}

static rollout_event random_event(uint64_t *r, int allow_rollback)
{
    rollout_event e;
    do
        e = ev((int)(t_rand(r) % ROLLOUT_EVENT_COUNT));
    while (!allow_rollback && e.type == ROLLOUT_EVENT_ROLLBACK);
    e.role = (int)(t_rand(r) % 9);
    e.override = t_rand(r) % 3 == 0;
    e.override_verdict = t_rand(r) % 2;
    e.all_phases = t_rand(r) % 2;
    e.why = t_rand(r) % 4 ? "a reason" : NULL;
    e.verdict = (int)(t_rand(r) % (allow_rollback ? 4 : 3));
    e.reason = ROLLOUT_ROLLBACK_MANUAL;
    e.confirmation = (int)(t_rand(r) % ROLLOUT_CONFIRM_COUNT);
    return e;
}

/* Applies e when the machine takes it; returns whether it did. */
static int try_apply(const rollout_plan *p, rollout_state *s, rollout_event e, int64_t now)
{
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    rollout_state next;
    if (rollout_apply(p, s, &e, now, &next, actions, &n, &err) != ROLLOUT_OK)
        return 0;
    *s = next;
    return 1;
}

static rollout_plan *edit_weight(void)
{
    char *text = t_seed_overridable_yaml();
    const char *from = "{at: 12h, weight: 50%, unit: user}";
    char *at = strstr(text, from);
    cr_assert(at);
    memcpy(at, "{at: 12h, weight: 40%, unit: user}", strlen(from));
    rollout_plan *p = t_plan(text);
    free(text);
    return p;
}

#define WALK_MAX 64

Test(follows, every_state_of_a_walk_follows_every_earlier_one)
{
    rollout_plan *a = t_seed_overridable(), *b = edit_weight();
    uint64_t r = 20261207;
    int migrated = 0, rolled = 0;
    for (int walk = 0; walk < 1500; walk++) {
        rollout_state hist[WALK_MAX];
        int n = 0;
        cr_assert_eq(rollout_state_init(a, &hist[n++]), ROLLOUT_OK);
        const rollout_plan *p = a;
        int64_t now = T0;
        int len = 1 + (int)(t_rand(&r) % 50);
        int cut = t_rand(&r) % 2 ? (int)(t_rand(&r) % (unsigned)len) : -1;
        for (int k = 0; k < len && n < WALK_MAX; k++) {
            rollout_state s = hist[n - 1];
            now += (int64_t)(t_rand(&r) % (8 * H));
            if (k == cut) {
                rollout_error err;
                if (rollout_state_migrate(a, &s, b, &s, &err) != ROLLOUT_OK)
                    continue;
                p = b;
                migrated++;
            } else if (!try_apply(p, &s, random_event(&r, 1), now)) {
                continue;
            }
            if (s.revision == hist[n - 1].revision)
                continue; /* a tick with nothing due */
            hist[n++] = s;
        }
        for (int j = 0; j < n; j++) {
            rolled += hist[j].rollback_started_at != 0;
            for (int i = 0; i <= j; i++)
                cr_assert(rollout_state_follows(&hist[i], &hist[j]),
                          "walk %d: revision %llu (%s) should follow revision %llu (%s)", walk,
                          (unsigned long long)hist[j].revision,
                          rollout_status_name(hist[j].status),
                          (unsigned long long)hist[i].revision,
                          rollout_status_name(hist[i].status));
            for (int i = 0; i < j; i++)
                cr_assert_not(rollout_state_follows(&hist[j], &hist[i]),
                              "walk %d: an earlier state follows a later one", walk);
        }
    }
    cr_assert_gt(migrated, 100);
    cr_assert_gt(rolled, 100);
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

Test(follows, no_state_of_another_branch_follows_a_rollback)
{
    rollout_plan *p = t_seed_overridable();
    uint64_t r = 777;
    int compared = 0, same_rev = 0;
    for (int walk = 0; walk < 1500; walk++) {
        rollout_state fork;
        cr_assert_eq(rollout_state_init(p, &fork), ROLLOUT_OK);
        int64_t now = T0;
        int len = (int)(t_rand(&r) % 20);
        for (int k = 0; k < len; k++) {
            now += (int64_t)(t_rand(&r) % (8 * H));
            try_apply(p, &fork, random_event(&r, 0), now);
        }
        /* branch A: a rollback, then anything; branch B: never a rollback */
        rollout_state a[WALK_MAX], b[WALK_MAX];
        int na = 0, nb = 0;
        a[0] = fork;
        int64_t ta = now + 1 + (int64_t)(t_rand(&r) % H);
        rollout_event rb = ev(ROLLOUT_EVENT_ROLLBACK);
        if (!try_apply(p, &a[0], rb, ta))
            continue;
        na = 1;
        b[0] = fork;
        nb = 1;
        int64_t tb = now;
        for (int k = 0; k < 30; k++) {
            rollout_state s = a[na - 1];
            ta += (int64_t)(t_rand(&r) % (8 * H));
            if (try_apply(p, &s, random_event(&r, 1), ta) && s.revision != a[na - 1].revision)
                a[na++] = s;
            s = b[nb - 1];
            tb += (int64_t)(t_rand(&r) % (8 * H));
            if (try_apply(p, &s, random_event(&r, 0), tb) && s.revision != b[nb - 1].revision)
                b[nb++] = s;
        }
        for (int i = 0; i < na; i++)
            for (int j = 0; j < nb; j++) {
                cr_assert_not(rollout_state_follows(&a[i], &b[j]),
                              "walk %d: a state without the rollback follows it", walk);
                compared++;
                if (a[i].revision == b[j].revision) {
                    cr_assert_not(rollout_state_follows(&b[j], &a[i]));
                    same_rev++;
                }
            }
    }
    cr_assert_gt(compared, 10000);
    cr_assert_gt(same_rev, 1000);
    rollout_plan_unref(p);
}

/* The history the fleet store met after a restore from a backup. */
Test(follows, a_restored_state_written_on_does_not_follow_the_rollback)
{
    rollout_plan *p = t_seed_overridable();
    rollout_state r1, r2, r3, r4;
    cr_assert_eq(rollout_state_init(p, &r1), ROLLOUT_OK);
    t_apply(p, &r1, ev(ROLLOUT_EVENT_START), T0);
    r2 = r1;
    t_apply(p, &r2, ev(ROLLOUT_EVENT_PAUSE), T0 + H);
    r3 = r2;
    t_apply(p, &r3, ev(ROLLOUT_EVENT_RESUME), T0 + 2 * H);
    r4 = r3;
    t_apply(p, &r4, ev(ROLLOUT_EVENT_ROLLBACK), T0 + 3 * H);
    cr_assert(rollout_state_follows(&r1, &r4));
    cr_assert(rollout_state_follows(&r3, &r4));
    rollout_state f4 = r3, f5;
    t_apply(p, &f4, ev(ROLLOUT_EVENT_PAUSE), T0 + 4 * H);
    f5 = f4;
    t_apply(p, &f5, ev(ROLLOUT_EVENT_RESUME), T0 + 5 * H);
    cr_assert_eq(f4.revision, r4.revision);
    cr_assert_gt(f5.revision, r4.revision);
    cr_assert(rollout_state_follows(&r3, &f4));  /* the fork's own history is consistent */
    cr_assert(rollout_state_follows(&f4, &f5));
    cr_assert_not(rollout_state_follows(&r4, &f4));
    cr_assert_not(rollout_state_follows(&r4, &f5));
    cr_assert_not(rollout_state_follows(&r4, &r3)); /* and the replay itself */
    rollout_plan_unref(p);
}

Test(follows, each_rule)
{
    rollout_plan *p = t_seed_overridable();
    rollout_state s, t;
    cr_assert_eq(rollout_state_init(p, &s), ROLLOUT_OK);
    cr_assert(rollout_state_follows(&s, &s));
    cr_assert_not(rollout_state_follows(NULL, &s));
    cr_assert_not(rollout_state_follows(&s, NULL));
    t_apply(p, &s, ev(ROLLOUT_EVENT_START), T0);
    t_apply(p, &s, ev(ROLLOUT_EVENT_PAUSE), T0 + H);
    t_apply(p, &s, ev(ROLLOUT_EVENT_RESUME), T0 + 2 * H);

#define REFUSED(change)                                    \
    do {                                                   \
        t = s;                                             \
        t.revision++;                                      \
        change;                                            \
        cr_assert_not(rollout_state_follows(&s, &t), #change); \
    } while (0)
    t = s;
    t.revision++;
    cr_assert(rollout_state_follows(&s, &t));
    REFUSED(t.revision -= 2);
    REFUSED(t.revision--; t.updated_at++);           /* same revision, other content */
    REFUSED(t.updated_at--);
    REFUSED(t.started_at++);
    REFUSED(t.status = ROLLOUT_STATUS_NOT_STARTED);
    REFUSED(t.n_pauses = 0);
    REFUSED(t.pause_from[0]++);
    REFUSED(t.pause_to[0]++);
    REFUSED(t.plan_fingerprint ^= 1; t.revision--); /* a migration must raise the revision */

    rollout_state g = s;
    g.gate_go_at[0] = T0 + 3 * H;
    g.gate_no_go_at[1] = T0 + 3 * H;
    t = g;
    t.revision++;
    t.gate_go_at[0] = 0;
    cr_assert_not(rollout_state_follows(&g, &t));
    t.gate_go_at[0] = g.gate_go_at[0];
    t.gate_no_go_at[1] = 0;
    cr_assert_not(rollout_state_follows(&g, &t));
    t.gate_go_at[1] = T0 + 4 * H; /* a later GO replaces the NO-GO */
    cr_assert(rollout_state_follows(&g, &t));
    t.plan_fingerprint ^= 1; /* migrated: GO times kept, on whichever gate */
    t.gate_go_at[0] = 0;
    t.gate_go_at[5] = g.gate_go_at[0];
    cr_assert(rollout_state_follows(&g, &t));
    t.gate_go_at[5] = 0;
    cr_assert_not(rollout_state_follows(&g, &t));

    rollout_state rb = s;
    t_apply(p, &rb, (rollout_event){.type = ROLLOUT_EVENT_ROLLBACK, .gate = -1, .role = -1},
            T0 + 3 * H);
    t = rb;
    t.revision++;
    cr_assert(rollout_state_follows(&rb, &t));
    t.status = ROLLOUT_STATUS_RUNNING;
    cr_assert_not(rollout_state_follows(&rb, &t));
    t = rb;
    t.revision++;
    t.rollback_started_at++;
    cr_assert_not(rollout_state_follows(&rb, &t));
    t = rb;
    t.revision++;
    t.rollback_reason = ROLLOUT_ROLLBACK_CRITICAL_BUG;
    cr_assert_not(rollout_state_follows(&rb, &t));
    rollout_plan_unref(p);
}
