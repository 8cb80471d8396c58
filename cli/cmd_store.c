/* SPDX-License-Identifier: MIT */
/*
 * cmd_store.c — `rollout state ... --store URL`: the state kept in a shared
 * store (docs/fleet.md) instead of a file. cmd_state.c parses the command
 * and prints; these are its load / init / apply steps on a store.
 *
 * Exit codes follow the file's: 1 when the event, the plan or the stored
 * state is refused (nothing written), 2 when the store cannot be used
 * (unreachable, silent past the timeout, no state stored, an error reply, a
 * bad URL or key file); every message names the store.
 */
#include "cli.h"
#include "rollout_store.h"
#include "../operator/operator.h"

#include <stdlib.h>
#include <string.h>

static int exit_code(int rc)
{
    switch (rc) {
    case ROLLOUT_OK: return CLI_OK;
    case ROLLOUT_ERR_STATE:
    case ROLLOUT_ERR_STATE_PLAN:
    case ROLLOUT_ERR_UNSUPPORTED:
    case ROLLOUT_ERR_TRANSITION:
    case ROLLOUT_ERR_SIGNATURE:
    case ROLLOUT_ERR_REPLAY: return CLI_INVALID;
    default: return CLI_USAGE;
    }
}

static int fail(int rc, const rollout_error *err)
{
    fprintf(stderr, "rollout state: %s\n", cli_text(err->message));
    return exit_code(rc);
}

int cli_store_open(const char *url, const char *key_file, rollout_store **out)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    unsigned char key[ROLLOUT_STORE_KEY_MAX];
    rollout_error err;
    int rc;
    if (key_file) {
        if ((rc = rollout_store_read_key_file(key_file, key, sizeof key, &o.key_len, &err)))
            return fail(rc, &err);
        o.key = key;
    }
    const char *t = getenv("ROLLOUT_STORE_TIMEOUT_MS");
    if (t && *t) {
        char *end;
        long ms = strtol(t, &end, 10);
        if (*end || ms < 1 || ms > 600000) {
            fprintf(stderr, "rollout state: ROLLOUT_STORE_TIMEOUT_MS=%s is not 1..600000\n", cli_text(t));
            return CLI_USAGE;
        }
        o.timeout_ms = (int)ms;
    }
    rc = rollout_store_open(url, &o, out, &err);
    memset(key, 0, sizeof key);
    return rc ? fail(rc, &err) : CLI_OK;
}

int cli_store_load(rollout_store *st, const rollout_plan *plan, rollout_state *state)
{
    rollout_error err;
    int rc = rollout_store_load(st, plan, state, &err);
    return rc ? fail(rc, &err) : CLI_OK;
}

int cli_store_init(rollout_store *st, const rollout_plan *plan, const rollout_state *state)
{
    rollout_error err;
    int rc = rollout_store_create(st, plan, state, &err);
    if (rc == ROLLOUT_ERR_CONFLICT) {
        fprintf(stderr, "rollout state: %s (a stored state is never replaced: apply events "
                        "to it)\n", cli_text(err.message));
        return CLI_INVALID;
    }
    return rc ? fail(rc, &err) : CLI_OK;
}

int cli_store_apply(rollout_store *st, const rollout_plan *plan, const rollout_event *e,
                    int64_t now, rollout_state *next, rollout_action *actions, size_t *n)
{
    rollout_error err;
    int rc;
    if (plan->op.present) {
        /* a person's transition owes its messages as the operator's do: in
         * the store's outbox, by the same compare-and-set */
        op_entries *ent = calloc(1, sizeof *ent);
        if (!ent) {
            fprintf(stderr, "rollout state: out of memory\n");
            return CLI_USAGE;
        }
        ent->plan = plan;
        rc = rollout_store_apply_outbox(st, plan, e, now, next, actions, n, op_store_entries,
                                        ent, &err);
        op_entries_free(ent);
        free(ent);
    } else {
        rc = rollout_store_apply(st, plan, e, now, next, actions, n, &err);
    }
    if (rc == ROLLOUT_ERR_TRANSITION || rc == ROLLOUT_ERR_ARG) {
        fprintf(stderr, "rollout state: %s refused: %s\n", rollout_event_name(e->type),
                cli_text(err.message));
        return CLI_INVALID;
    }
    return rc ? fail(rc, &err) : CLI_OK;
}
