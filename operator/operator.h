/* SPDX-License-Identifier: MIT */
/*
 * operator.h — `rollout operator` (docs/operator.md): the loop that runs a
 * plan against Prometheus, records verdicts, sends GO when a gate's auto_go
 * allows it, delivers the communication plan to webhooks and runs the
 * rollback's hook commands.
 *
 * Its own static library (rollout_operator) linked into the tool: the I/O
 * (libcurl, jansson, fork/exec) stays out of lib/. The parts without I/O
 * (query templates, reading a Prometheus answer, building a snapshot from
 * answers, the outbox entries and the journal's encoding) are separate
 * functions so the C tests reach them directly.
 */
#ifndef ROLLOUT_OPERATOR_H
#define ROLLOUT_OPERATOR_H

#include "cli.h"
#include "plan.h"
#include "rollout_store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Prometheus (promql.c) ---- */

/* Expands {{version}}, {{window}} (seconds, as "600s") and {{test}} (may be
 * NULL when the template has none). 0, or -1 when out is too small. */
int op_template(const char *tmpl, const char *version, int64_t window, const char *test,
                char *out, size_t cap);

/* Reads one /api/v1/query answer: 0 with *value, or 1 when it gives no
 * usable number (an error status, an empty result, more than one series,
 * NaN or infinity, text that is not a number), with why. */
int op_prom_value(const char *json, size_t len, double *value, char *why, size_t cap);

/* Fetches one query at plan time `at`: 0 with the answer's body (malloc'ed,
 * the caller frees; 200, or the 400/422 Prometheus gives with the error of a
 * query it refuses), or 1 with why when Prometheus did not answer
 * (connection refused, timeout, any other HTTP status such as a proxy's 502). */
typedef int (*op_fetch_fn)(void *ctx, const char *query, int64_t at, char **body, size_t *len,
                           char *why, size_t cap);

/* What became of one metric, for the log. */
typedef void (*op_note_fn)(void *ctx, const char *metric, const char *version, const char *why);

/* Builds the snapshot rollout_evaluate takes from the plan's queries: each
 * metric for versions.new (ROLLOUT_NEW) and versions.stable (the baseline),
 * smoke tests for the new version. A metric whose query fails or gives no
 * number is left out of the snapshot (criteria reading it are INCONCLUSIVE);
 * counts (requests, errors, critical_errors, unhandled_exceptions,
 * support_tickets) are rounded to whole numbers, as increase() extrapolates.
 * *unreachable counts queries that failed to reach Prometheus at all. */
int op_snapshot(const rollout_plan *plan, int64_t at, op_fetch_fn fetch, void *fctx,
                op_note_fn note, void *nctx, rollout_metrics **out, int *unreachable);

/* ---- deliveries (deliver.c) ---- */

/* The outbox entries of a transition: one per channel of each NOTIFY row
 * (a channel "a+b" is two deliveries), one for PAGE (channel "page") and one
 * for ESCALATE ("escalate"). Keys are "<plan>/<revision>/<action index>/
 * <channel>"; bodies are compact JSON carrying the action's fields. Strings
 * are malloc'ed into buf (op_entries_free). 0, or ROLLOUT_ERR_NOMEM /
 * ROLLOUT_ERR_LIMIT. */
typedef struct op_entries {
    char *keys[ROLLOUT_STORE_OUTBOX_MAX];
    char *bodies[ROLLOUT_STORE_OUTBOX_MAX];
    size_t n;
    const rollout_plan *plan; /* op_store_entries': the plan it builds for */
} op_entries;
int op_entries_build(const rollout_plan *plan, const rollout_state *next,
                     const rollout_action *actions, size_t n_actions, op_entries *out);
void op_entries_free(op_entries *e);
/* A rollout_store_outbox_fn: ctx is an op_entries whose plan is set; the
 * entries it builds stay in it until the next call or op_entries_free. */
int op_store_entries(const rollout_state *next, const rollout_action *actions, size_t n,
                     rollout_store_outbox_entry *e, size_t cap, size_t *ne, void *ctx);

/* The webhook of a channel: its own, else "default"; NULL when neither
 * exists (or url_env names an unset variable), with why. */
const rp_op_channel *op_channel(const rollout_plan *plan, const char *channel, const char **url,
                                char *why, size_t cap);

/* What is POSTed for an entry body on a channel of that format (malloc'ed):
 * the body itself for json, {"text": ...} for slack. */
char *op_render(const char *body, int format);

/* POSTs payload with an Idempotency-Key header: 0 on a 2xx, else 1 with why
 * (*status 0 when no answer came). */
int op_http_post(const char *url, const char *key, const char *payload, long timeout_ms,
                 long *status, char *why, size_t cap);
/* GETs url: 0 with the body (malloc'ed) and *status, 1 with why when no
 * answer came. */
int op_http_get(const char *url, long timeout_ms, char **body, size_t *len, long *status,
                char *why, size_t cap);

/* ---- the state file's outbox journal (journal.c) ----
 *
 * STATE.outbox, one record a line:
 *   O <revision> <key> <body>   a delivery owed by the transition to <revision>
 *   D <key>                     delivered
 *   M <key>                     a note (rollout_store_mark's)
 * Written under the state's writer lock: O lines (fsynced) before the state
 * that owes them is renamed into place, so an O whose revision is above the
 * state's belongs to a transition that never happened and is void. A line
 * without its newline (a crash mid-write) is ignored. */
typedef struct op_journal {
    char **keys, **bodies; /* pending: owed (revision <= the state's), not delivered */
    size_t n, cap;
    char **marks;
    size_t n_marks, cap_marks;
    size_t n_void, n_done;  /* lines compaction would drop */
} op_journal;
/* Parses text against the state's revision. 0 or ROLLOUT_ERR_NOMEM. */
int op_journal_parse(const char *text, size_t len, uint64_t state_rev, op_journal *out);
void op_journal_free(op_journal *j);
bool op_journal_marked(const op_journal *j, const char *key);
/* Reads and parses path (a missing file is empty). */
int op_journal_load(const char *path, uint64_t state_rev, op_journal *out);
/* Appends lines (each ending in '\n') and fsyncs; cuts a torn last line off
 * first. 0 or ROLLOUT_ERR_IO. */
int op_journal_append(const char *path, const char *lines);
/* Rewrites path with only j's pending entries and marks (temporary file,
 * fsync, rename). */
int op_journal_compact(const char *path, const op_journal *j, uint64_t state_rev);
/* Appends (fsynced) the O lines of the deliveries the transition from
 * revision cur_rev to next owes, after dropping void records; the caller
 * holds the state's writer lock and renames next into place afterwards, so
 * every writer of a state file (the operator, a person's `rollout state
 * apply`) owes its transitions' deliveries the same way. ent holds the
 * entries built. 0, or the error (err set). */
int op_owe_journal(const char *journal, const rollout_plan *plan, uint64_t cur_rev,
                   const rollout_state *next, const rollout_action *actions, size_t n,
                   op_entries *ent, rollout_error *err);
/* The O line of an entry (malloc'ed). */
char *op_journal_owed(uint64_t rev, const char *key, const char *body);

/* ---- hooks (hooks.c) ---- */

/* Runs cmd with sh -c, its stdout sent to stderr, env (NAME=value strings,
 * NULL-terminated) added to the environment, killed (its process group)
 * after timeout_s. 0 with *status (the exit status; 128+n for signal n), or
 * -1 with why when it could not start or timed out. */
int op_hook_run(const char *cmd, char *const *env, int64_t timeout_s, volatile int *stop,
                int *status, char *why, size_t cap);

/* ---- the loop (loop.c) ---- */

typedef struct op_options {
    const char *plan_path;
    const char *store_url, *key_file;
    const char *state_path;
    const char *prometheus;   /* overrides operator.prometheus.url */
    int64_t interval_ms;      /* real time between passes */
    bool once, dry_run;
    bool have_at;
    int64_t at;               /* --at */
    cli_clock clock;          /* the wall clock, or a scaled plan clock (cli/clock.c) */
    int argc;
    char **argv;
} op_options;

/* Exit codes (docs/operator.md). */
enum {
    OP_EXIT_OK = 0,
    OP_EXIT_INVALID = 1,      /* the plan or the state was refused */
    OP_EXIT_USAGE = 2,
    OP_EXIT_UNAVAILABLE = 69, /* --once: the store, Prometheus, a webhook or a hook failed */
    OP_EXIT_LOCKED = 75       /* another writer held the state file's lock */
};

/* Runs passes until stop is set, or one with --once. */
int op_run(const op_options *o, volatile int *stop);

#endif
