/* SPDX-License-Identifier: MIT */
/*
 * loop.c — one pass of `rollout operator`, and the loop of passes.
 *
 * A pass: read the state; START it once the plan's start has come; TICK;
 * background analysis (the rollback criteria of the current phase, or of
 * the bake, in every pass); at a gate that is due, evaluate it, record the
 * verdict and send GO when the gate's auto_go allows it; then deliver what
 * the outbox holds and run the rollback's hooks in procedure order, each
 * confirmed by its exit status. Every write is a compare-and-set on the
 * store, or a write of the state file under its writers' lock, and carries
 * the deliveries it owes with it (docs/operator.md).
 */
#define _DEFAULT_SOURCE /* realpath */
#include "operator.h"

#include "cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct op_ctx {
    const op_options *o;
    rollout_plan *plan;
    rollout_store *st;
    char journal[PATH_MAX + 8];
    const char *prom_url;
    volatile int *stop;
    int64_t now;
    rollout_state s;
    bool have_state;
    int unavailable;     /* something outside failed this pass */
    int fatal;           /* an exit code that ends the run */
    const char *verdict; /* the last verdict of this pass, for its log line */
    rollout_metrics *metrics; /* this pass's snapshot, fetched once */
    bool metrics_tried;
    bool delivery_failed; /* this pass: later deliveries wait for the next one */
    /* one transition */
    const rollout_event *ev;
    rollout_action acts[ROLLOUT_MAX_ACTIONS];
    size_t n_acts;
    op_entries ent;
    int rc;
    rollout_error err;
    /* the file's journal, as last read */
    op_journal j;
    const char *mark_line; /* a line to append under the lock */
} op_ctx;

/* ---- the log: one JSON object a line on stdout ---- */

static void log_line(op_ctx *c, const char *event, const char *action, const char *key,
                     const char *outcome, const char *detail)
{
    char ts[32], wall[32];
    rp_format_time(c->now, ts, sizeof ts);
    rp_format_time((int64_t)time(NULL), wall, sizeof wall);
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "wall", json_string(wall));
    json_object_set_new(o, "plan", json_string(c->plan->id));
    json_object_set_new(o, "event", json_string(event));
    if (c->have_state) {
        json_object_set_new(o, "rev", json_integer((json_int_t)c->s.revision));
        json_object_set_new(o, "status", json_string(rollout_status_name(c->s.status)));
    }
    if (c->verdict)
        json_object_set_new(o, "verdict", json_string(c->verdict));
    if (action)
        json_object_set_new(o, "action", json_string(action));
    if (key)
        json_object_set_new(o, "key", json_string(key));
    if (outcome)
        json_object_set_new(o, "outcome", json_string(outcome));
    if (detail)
        json_object_set_new(o, "detail", json_string(detail));
    if (c->o->dry_run)
        json_object_set_new(o, "dry_run", json_true());
    /* ensure_ascii: a plan's text never puts a control character on the terminal */
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    }
}

/* ---- transitions ---- */

static int build_entries(const rollout_state *next, const rollout_action *a, size_t n,
                         rollout_store_outbox_entry *e, size_t cap, size_t *ne, void *ctx)
{
    return op_store_entries(next, a, n, e, cap, ne, &((op_ctx *)ctx)->ent);
}

/* Under the state file's lock: apply, append what it owes to the journal
 * (fsynced), then hand back the new state for the atomic write. */
static int file_apply(const char *text, size_t len, char *out, size_t cap, size_t *out_len,
                      void *ctx)
{
    op_ctx *c = ctx;
    rollout_state cur, next;
    *out_len = 0;
    c->n_acts = 0;
    if ((c->rc = rollout_state_decode(c->plan, text, len, &cur, &c->err)))
        return OP_EXIT_INVALID;
    int64_t at = c->now < cur.updated_at ? cur.updated_at : c->now;
    size_t n = ROLLOUT_MAX_ACTIONS;
    if ((c->rc = rollout_apply(c->plan, &cur, c->ev, at, &next, c->acts, &n, &c->err)))
        return OP_EXIT_INVALID;
    c->s = cur;
    c->have_state = true;
    if (next.revision == cur.revision)
        return 0;
    if ((c->rc = op_owe_journal(c->journal, c->plan, cur.revision, &next, c->acts, n,
                                &c->ent, &c->err)))
        return c->rc == ROLLOUT_ERR_IO || c->rc == ROLLOUT_ERR_NOMEM ? OP_EXIT_USAGE
                                                                     : OP_EXIT_INVALID;
    size_t ne = rollout_state_encode(&next, out, cap);
    if (!ne) {
        c->rc = ROLLOUT_ERR_BUFFER;
        return OP_EXIT_USAGE;
    }
    *out_len = ne;
    c->s = next;
    c->n_acts = n;
    return 0;
}

/* 0 applied (or nothing to do), 1 refused by the state machine, -1 failed. */
static int transition(op_ctx *c, const rollout_event *ev, const char *why)
{
    c->ev = ev;
    c->n_acts = 0;
    c->rc = 0;
    const char *name = rollout_event_name(ev->type);
    if (c->o->dry_run) {
        rollout_state next;
        size_t n = ROLLOUT_MAX_ACTIONS;
        int64_t at = c->now < c->s.updated_at ? c->s.updated_at : c->now;
        c->rc = rollout_apply(c->plan, &c->s, ev, at, &next, c->acts, &n, &c->err);
        if (!c->rc) {
            c->s = next;
            c->n_acts = n;
        }
    } else if (c->st) {
        rollout_state next;
        size_t n = ROLLOUT_MAX_ACTIONS;
        c->rc = rollout_store_apply_outbox(c->st, c->plan, ev, c->now, &next, c->acts, &n,
                                           build_entries, c, &c->err);
        if (!c->rc) {
            c->s = next;
            c->n_acts = n;
        }
    } else {
        int code = cli_state_update_as(c->o->state_path, c->o->argc, c->o->argv, file_apply, c);
        if (code && !c->rc) {
            /* the lock or the file itself: cli_state_update printed why */
            c->fatal = code == OP_EXIT_LOCKED ? OP_EXIT_LOCKED : code;
            log_line(c, "event", name, NULL, "failed", "the state file could not be written");
            return -1;
        }
    }
    if (c->rc == ROLLOUT_ERR_TRANSITION || c->rc == ROLLOUT_ERR_ARG) {
        log_line(c, "event", name, NULL, "refused", c->err.message);
        return 1;
    }
    if (c->rc == ROLLOUT_ERR_STORE || c->rc == ROLLOUT_ERR_TIMEOUT ||
        c->rc == ROLLOUT_ERR_CONFLICT) {
        c->unavailable = 1;
        log_line(c, "event", name, NULL, "failed", c->err.message);
        return -1;
    }
    if (c->rc) {
        c->fatal = OP_EXIT_INVALID;
        log_line(c, "event", name, NULL, "failed", c->err.message);
        return -1;
    }
    if (c->n_acts || ev->type != ROLLOUT_EVENT_TICK)
        log_line(c, "event", name, NULL, c->o->dry_run ? "dry-run" : "applied", why);
    for (size_t i = 0; i < c->n_acts; i++) {
        const rollout_action *a = &c->acts[i];
        log_line(c, "action", rollout_action_name(a->type), NULL, "emitted",
                 a->id ? a->id : a->text);
    }
    return 0;
}

/* ---- the state and the outbox as last stored ---- */

static int file_sync(const char *text, size_t len, char *out, size_t cap, size_t *out_len,
                     void *ctx)
{
    op_ctx *c = ctx;
    *out_len = 0;
    rollout_state cur;
    if ((c->rc = rollout_state_decode(c->plan, text, len, &cur, &c->err)))
        return OP_EXIT_INVALID;
    c->s = cur;
    c->have_state = true;
    op_journal_free(&c->j);
    if ((c->rc = op_journal_load(c->journal, cur.revision, &c->j))) {
        rp_error_set(&c->err, c->rc, NULL, 0, 0, NULL, "cannot read %s", c->journal);
        return OP_EXIT_USAGE;
    }
    if (c->mark_line && (c->rc = op_journal_append(c->journal, c->mark_line))) {
        rp_error_set(&c->err, c->rc, NULL, 0, 0, NULL, "cannot write %s", c->journal);
        return OP_EXIT_USAGE;
    }
    /* done and void records are dropped once they pile up */
    if (!c->mark_line && !c->o->dry_run && c->j.n_void + c->j.n_done > 64)
        op_journal_compact(c->journal, &c->j, cur.revision);
    return 0;
}

/* Reads the state (and, with a file, its journal); appends line under the
 * lock when given. 0, or -1 (c->fatal / c->unavailable say why). */
static int sync_state(op_ctx *c, const char *line)
{
    c->rc = 0;
    if (c->st) {
        rollout_state s;
        c->rc = rollout_store_load(c->st, c->plan, &s, &c->err);
        if (!c->rc) {
            c->s = s;
            c->have_state = true;
            return 0;
        }
        if (c->rc == ROLLOUT_ERR_STORE || c->rc == ROLLOUT_ERR_TIMEOUT)
            c->unavailable = 1;
        else
            c->fatal = OP_EXIT_INVALID;
        log_line(c, "read", NULL, NULL, "failed", c->err.message);
        return -1;
    }
    c->mark_line = line;
    int code = cli_state_update_as(c->o->state_path, c->o->argc, c->o->argv, file_sync, c);
    c->mark_line = NULL;
    if (code) {
        c->fatal = code;
        log_line(c, "read", NULL, NULL, "failed", c->rc ? c->err.message : "the state file");
        return -1;
    }
    return 0;
}

/* unsure: the answer when the store cannot tell */
static int marked(op_ctx *c, const char *key, int unsure)
{
    if (c->st) {
        int yes = 0;
        if (rollout_store_marked(c->st, c->plan, key, &yes, &c->err)) {
            c->unavailable = 1;
            return unsure;
        }
        return yes;
    }
    return op_journal_marked(&c->j, key);
}

static void mark(op_ctx *c, const char *key)
{
    if (c->o->dry_run)
        return;
    if (c->st) {
        if (rollout_store_mark(c->st, c->plan, key, &c->err))
            c->unavailable = 1;
        return;
    }
    char line[700];
    snprintf(line, sizeof line, "M %s\n", key);
    sync_state(c, line);
}

static void delivered(op_ctx *c, const char *key)
{
    if (c->st) {
        if (rollout_store_outbox_done(c->st, c->plan, key, &c->err)) {
            c->unavailable = 1;
            log_line(c, "delivery", NULL, key, "unrecorded", c->err.message);
        }
        return;
    }
    char line[700];
    snprintf(line, sizeof line, "D %s\n", key);
    sync_state(c, line);
}

/* ---- deliveries ---- */

static bool nap(op_ctx *c, long ms)
{
    for (; ms > 0 && !*c->stop; ms -= 50) {
        struct timespec t = {0, (ms < 50 ? ms : 50) * 1000000L};
        nanosleep(&t, NULL);
    }
    return !*c->stop;
}

enum { OP_DELIVERY_ATTEMPTS = 3, OP_WEBHOOK_TIMEOUT_MS = 10000 };

static void deliver_one(op_ctx *c, const char *key, const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    const char *channel = o ? json_string_value(json_object_get(o, "channel")) : NULL;
    const char *action = o ? json_string_value(json_object_get(o, "action")) : NULL;
    char why[256] = "", act[64];
    snprintf(act, sizeof act, "%s", action ? action : "?");
    const char *url = NULL;
    const rp_op_channel *ch = channel ? op_channel(c->plan, channel, &url, why, sizeof why) : NULL;
    if (!channel)
        snprintf(why, sizeof why, "the outbox entry is not an operator's");
    json_decref(o);
    if (!ch) {
        /* kept in the outbox: a webhook added to the plan delivers it later */
        log_line(c, "delivery", act, key, "undeliverable", why);
        return;
    }
    char *payload = op_render(body, ch->format);
    if (!payload) {
        log_line(c, "delivery", act, key, "failed", "out of memory");
        c->unavailable = 1;
        return;
    }
    long status = 0;
    int ok = 0;
    for (int attempt = 0; attempt < OP_DELIVERY_ATTEMPTS && !ok; attempt++) {
        if (attempt && !nap(c, 250L << attempt))
            break;
        ok = op_http_post(url, key, payload, OP_WEBHOOK_TIMEOUT_MS, &status, why,
                          sizeof why) == 0;
        if (!ok)
            log_line(c, "delivery", act, key, "retry", why);
    }
    free(payload);
    if (!ok) {
        c->unavailable = 1;
        c->delivery_failed = true;
        log_line(c, "delivery", act, key, "failed", "stays in the outbox for the next pass");
        return;
    }
    delivered(c, key);
    log_line(c, "delivery", act, key, "delivered", NULL);
}

typedef struct pending {
    char **keys, **bodies;
    size_t n, cap;
} pending;

static int collect(const char *key, const char *body, void *ctx)
{
    pending *p = ctx;
    if (p->n == p->cap) {
        size_t nc = p->cap ? 2 * p->cap : 16;
        char **k = realloc(p->keys, nc * sizeof *k);
        if (!k)
            return ROLLOUT_ERR_NOMEM;
        p->keys = k;
        char **b = realloc(p->bodies, nc * sizeof *b);
        if (!b)
            return ROLLOUT_ERR_NOMEM;
        p->bodies = b;
        p->cap = nc;
    }
    p->keys[p->n] = strdup(key);
    p->bodies[p->n] = strdup(body);
    if (!p->keys[p->n] || !p->bodies[p->n]) {
        free(p->keys[p->n]);
        free(p->bodies[p->n]);
        return ROLLOUT_ERR_NOMEM;
    }
    p->n++;
    return 0;
}

static void deliver_pending(op_ctx *c)
{
    if (c->o->dry_run || c->delivery_failed)
        return;
    pending p = {0};
    int rc = 0;
    if (c->st) {
        rc = rollout_store_outbox_list(c->st, c->plan, collect, &p, &c->err);
        if (rc) {
            c->unavailable = 1;
            log_line(c, "delivery", NULL, NULL, "failed", c->err.message);
        }
    } else if (sync_state(c, NULL) == 0) {
        for (size_t i = 0; i < c->j.n && !rc; i++)
            rc = collect(c->j.keys[i], c->j.bodies[i], &p);
    }
    for (size_t i = 0; i < p.n; i++) {
        /* after a failure the rest waits too, so messages keep their order */
        if (!*c->stop && !c->delivery_failed)
            deliver_one(c, p.keys[i], p.bodies[i]);
        free(p.keys[i]);
        free(p.bodies[i]);
    }
    free(p.keys);
    free(p.bodies);
}

/* ---- metrics and verdicts ---- */

static int fetch(void *ctx, const char *query, int64_t at, char **body, size_t *len, char *why,
                 size_t cap)
{
    op_ctx *c = ctx;
    CURL *e = curl_easy_init();
    char *q = e ? curl_easy_escape(e, query, 0) : NULL;
    if (!q) {
        if (e)
            curl_easy_cleanup(e);
        snprintf(why, cap, "out of memory");
        return 1;
    }
    size_t n = strlen(c->prom_url) + strlen(q) + 64;
    char *url = malloc(n);
    if (url) {
        const char *base = c->prom_url;
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        snprintf(url, n, "%.*s/api/v1/query?query=%s&time=%lld", (int)bl, base, q,
                 (long long)at);
    }
    curl_free(q);
    curl_easy_cleanup(e);
    if (!url) {
        snprintf(why, cap, "out of memory");
        return 1;
    }
    long status;
    int rc = op_http_get(url, (long)c->plan->op.prom_timeout * 1000, body, len, &status, why, cap);
    free(url);
    /* Prometheus answers a query with 200, or 400/422 and its error for a
     * query it refuses; anything else (a proxy's 502, its own 503 timeout, a
     * login redirect) means it did not answer the query */
    if (!rc && status != 200 && status != 400 && status != 422) {
        char detail[160] = "";
        json_t *o = json_loadb(*body, *len, 0, NULL);
        const char *msg = json_string_value(json_object_get(o, "error"));
        if (msg)
            snprintf(detail, sizeof detail, ": %s", msg);
        snprintf(why, cap, "HTTP status %ld%s", status, detail);
        json_decref(o);
        free(*body);
        *body = NULL;
        rc = 1;
    }
    if (rc) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "Prometheus did not answer: %s", why);
        snprintf(why, cap, "%s", tmp);
    }
    return rc;
}

static void note(void *ctx, const char *metric, const char *version, const char *why)
{
    op_ctx *c = ctx;
    char d[512];
    snprintf(d, sizeof d, "%s for %s: %s (criteria reading it are INCONCLUSIVE)", metric,
             version, why);
    log_line(c, "metric", NULL, NULL, "absent", d);
}

static const rollout_metrics *metrics(op_ctx *c)
{
    if (c->metrics_tried)
        return c->metrics;
    c->metrics_tried = true;
    int unreachable = 0;
    if (!c->prom_url) {
        rollout_metrics_create(&c->metrics);
        return c->metrics;
    }
    if (op_snapshot(c->plan, c->now, fetch, c, note, c, &c->metrics, &unreachable)) {
        c->metrics = NULL;
        return NULL;
    }
    if (unreachable)
        c->unavailable = 1;
    return c->metrics;
}

/* The criteria set watched in the background: the bake's while baking (or
 * paused in the bake), else that of the gate the current phase waits on (or
 * its last gate). */
static int background_set(const op_ctx *c)
{
    const rollout_plan *p = c->plan;
    if (c->s.status == ROLLOUT_STATUS_BAKING ||
        (c->s.status == ROLLOUT_STATUS_PAUSED && c->s.paused_from == ROLLOUT_STATUS_BAKING))
        return p->bake.criteria;
    int g = c->s.gate;
    if (g >= 0 && g < p->n_gates && p->gates[g].phase == c->s.phase && p->gates[g].criteria >= 0)
        return p->gates[g].criteria;
    for (int i = p->n_gates - 1; i >= 0; i--)
        if (p->gates[i].phase == c->s.phase && p->gates[i].criteria >= 0)
            return p->gates[i].criteria;
    return g >= 0 && g < p->n_gates ? p->gates[g].criteria : -1;
}

static bool moving(int status)
{
    return status == ROLLOUT_STATUS_RUNNING || status == ROLLOUT_STATUS_AWAITING_GATE ||
           status == ROLLOUT_STATUS_BAKING;
}

static int evaluate(op_ctx *c, int target, const char *name, rollout_evaluation *ev)
{
    const rollout_metrics *m = metrics(c);
    rollout_error err;
    if (!m) {
        log_line(c, "evaluate", NULL, NULL, "failed", "out of memory");
        return -1;
    }
    if (rollout_evaluate(c->plan, target, name, m, ev, &err)) {
        log_line(c, "evaluate", NULL, NULL, "failed", err.message);
        return -1;
    }
    c->verdict = rollout_verdict_name(ev->verdict);
    return 0;
}

static void background(op_ctx *c)
{
    /* a pause freezes the schedule, not the traffic: the new version still
     * serves at its weights, so it is still watched */
    if ((!moving(c->s.status) && c->s.status != ROLLOUT_STATUS_PAUSED) || c->s.phase < 0)
        return;
    int set = background_set(c);
    if (set < 0)
        return;
    rollout_evaluation ev;
    if (evaluate(c, ROLLOUT_EVAL_CRITERIA, c->plan->criteria[set].id, &ev))
        return;
    if (ev.verdict != ROLLOUT_VERDICT_ROLLBACK)
        return;
    char why[256];
    const rollout_criterion_result *r = &ev.results[ev.rollback_index];
    snprintf(why, sizeof why, "background analysis: %s: %s", r->id, r->reason);
    rollout_event e = {.type = ROLLOUT_EVENT_VERDICT, .gate = -1, .role = -1,
                       .verdict = ROLLOUT_VERDICT_ROLLBACK, .reason = ev.rollback_reason};
    transition(c, &e, why);
}

static void gate(op_ctx *c)
{
    rollout_schedule_info info;
    if (!moving(c->s.status) || c->s.status == ROLLOUT_STATUS_BAKING ||
        rollout_schedule(c->plan, &c->s, c->now, &info) || !info.gate_pending || info.gate < 0)
        return;
    int g = info.gate;
    const rp_gate *gt = &c->plan->gates[g];
    if (gt->criteria >= 0) {
        rollout_evaluation ev;
        if (evaluate(c, ROLLOUT_EVAL_GATE, gt->id, &ev))
            return;
        /* FAIL and INCONCLUSIVE count every pass (the gate's limits); a PASS
         * is recorded once */
        if (ev.verdict != ROLLOUT_VERDICT_PASS || c->s.last_verdict != ROLLOUT_VERDICT_PASS) {
            char why[200];
            snprintf(why, sizeof why, "gate %s: %s (%d pass, %d fail, %d inconclusive)", gt->id,
                     rollout_verdict_name(ev.verdict), ev.n_pass, ev.n_fail, ev.n_inconclusive);
            rollout_event e = {.type = ROLLOUT_EVENT_VERDICT, .gate = -1, .role = -1,
                               .verdict = ev.verdict, .reason = ev.rollback_reason};
            if (transition(c, &e, why))
                return;
        }
    }
    if (!moving(c->s.status) || c->s.gate != g || c->s.gate_go_at[g])
        return;
    uint32_t missing = gt->approvers & ~c->s.gate_approvals[g];
    char why[256];
    if (!gt->auto_go) {
        log_line(c, "gate", gt->id, NULL, "waiting", "auto_go is off: a person sends GO");
    } else if (gt->criteria >= 0 && c->s.last_verdict != ROLLOUT_VERDICT_PASS) {
        log_line(c, "gate", gt->id, NULL, "waiting", "no PASS verdict");
    } else if (missing) {
        size_t o = (size_t)snprintf(why, sizeof why, "waiting for the approval of");
        for (int r = 0; r < c->plan->n_roles && o < sizeof why; r++)
            if (missing & (1u << r))
                o += (size_t)snprintf(why + o, sizeof why - o, " %s", c->plan->roles[r].id);
        log_line(c, "gate", gt->id, NULL, "waiting", why);
    } else {
        rollout_event e = {.type = ROLLOUT_EVENT_GO, .gate = g, .role = -1};
        snprintf(why, sizeof why, "gate %s: PASS and every approval (auto_go)", gt->id);
        transition(c, &e, why);
    }
}

/* ---- hooks ---- */

/* "NAME=value", malloc'ed: sized to the value, as a cut version would name
 * another one */
static char *env_var(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

static void hooks(op_ctx *c)
{
    const rp_rollback *rb = &c->plan->rollback;
    while (c->s.status == ROLLOUT_STATUS_ROLLING_BACK && !*c->stop && !c->fatal) {
        size_t k = 0;
        while (k < rb->n_steps && (c->s.rollback_done & (1u << k)))
            k++;
        if (k >= rb->n_steps)
            return;
        const rp_rollback_step *step = &rb->steps[k];
        const char *cmd = c->plan->op.hooks[step->action];
        const char *aname = rp_rollback_action_name(step->action);
        if (!cmd) {
            log_line(c, "hook", aname, NULL, "waiting",
                     "no hook for this step: a person confirms it (rollout state confirm)");
            return;
        }
        char hold[600];
        snprintf(hold, sizeof hold, "hold/%s/%lld/%s", c->plan->id,
                 (long long)c->s.rollback_started_at, step->id);
        /* marked with the revision the failure was seen at: still the
         * state's, the CONFIRM that follows the marks never got written */
        char owed[640];
        snprintf(owed, sizeof owed, "%s/%llu", hold, (unsigned long long)c->s.revision);
        /* unsure: do not run the step twice */
        if (marked(c, hold, 1)) {
            if (!c->o->dry_run && marked(c, owed, 0)) {
                rollout_event e = {.type = ROLLOUT_EVENT_CONFIRM, .gate = -1, .role = -1,
                                   .confirmation = ROLLOUT_CONFIRM_SMOKE_FAILED};
                transition(c, &e, "hook run_smoke_tests failed before the operator stopped");
                return;
            }
            log_line(c, "hook", aname, hold, "waiting",
                     "the smoke tests failed on the previous version: a person confirms");
            return;
        }
        if (c->o->dry_run) {
            log_line(c, "hook", aname, NULL, "dry-run", cmd);
            return;
        }
        char rev[32];
        snprintf(rev, sizeof rev, "%llu", (unsigned long long)c->s.revision);
        char *env[8] = {env_var("ROLLOUT_PLAN", c->plan->id), env_var("ROLLOUT_ACTION", aname),
                        env_var("ROLLOUT_STEP", step->id),
                        env_var("ROLLOUT_VERSION", c->plan->labels[0]),
                        env_var("ROLLOUT_NEW_VERSION", c->plan->labels[1]),
                        env_var("ROLLOUT_REASON",
                                rollout_rollback_reason_name(c->s.rollback_reason)),
                        env_var("ROLLOUT_REVISION", rev), NULL};
        bool env_ok = true;
        for (int i = 0; i < 7; i++)
            env_ok = env_ok && env[i];
        int status = 0;
        char why[256];
        log_line(c, "hook", aname, NULL, "running", cmd);
        int ran = env_ok ? op_hook_run(cmd, env, c->plan->op.hook_timeout, c->stop, &status, why,
                                       sizeof why)
                         : (snprintf(why, sizeof why, "out of memory"), -1);
        for (int i = 0; i < 7; i++)
            free(env[i]);
        if (ran) {
            c->unavailable = 1;
            log_line(c, "hook", aname, NULL, "failed", why);
            return;
        }
        int conf = rp_confirmation_for(step->action);
        /* a stop signals the hook too (systemd's whole cgroup): smoke tests
         * ended that way did not fail, they run again */
        if (status != 0 && *c->stop) {
            snprintf(why, sizeof why, "exit status %d while the operator stops; run again "
                                      "next pass", status);
            c->unavailable = 1;
            log_line(c, "hook", aname, NULL, "failed", why);
            return;
        }
        if (status != 0 && step->action != RP_RB_RUN_SMOKE_TESTS) {
            snprintf(why, sizeof why, "exit status %d; run again next pass", status);
            c->unavailable = 1;
            log_line(c, "hook", aname, NULL, "failed", why);
            return;
        }
        if (status != 0) {
            /* not retried by itself: the smoke tests of the previous version
             * failing is for people to look at (the machine escalates) */
            conf = ROLLOUT_CONFIRM_SMOKE_FAILED;
            /* owed before hold: killed between the two, the tests run again */
            mark(c, owed);
            mark(c, hold);
        }
        snprintf(why, sizeof why, "hook %s exited %d", aname, status);
        rollout_event e = {.type = ROLLOUT_EVENT_CONFIRM, .gate = -1, .role = -1,
                           .confirmation = conf};
        if (transition(c, &e, why) || status != 0)
            return;
    }
}

/* ---- a pass ---- */

static bool finished(const op_ctx *c)
{
    return c->s.status == ROLLOUT_STATUS_COMPLETED || c->s.status == ROLLOUT_STATUS_ROLLED_BACK;
}

static void pass(op_ctx *c)
{
    c->unavailable = 0;
    c->verdict = NULL;
    c->metrics_tried = false;
    c->delivery_failed = false;
    rollout_metrics_free(c->metrics);
    c->metrics = NULL;
    if (sync_state(c, NULL))
        return;
    /* what an earlier pass owed and could not deliver goes out first */
    deliver_pending(c);
    if (c->s.status == ROLLOUT_STATUS_NOT_STARTED && c->now >= c->plan->start) {
        rollout_event e = {.type = ROLLOUT_EVENT_START, .gate = -1, .role = -1};
        if (transition(c, &e, "the plan's start has come") < 0)
            return;
    }
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1, .role = -1};
    if (transition(c, &tick, NULL) < 0)
        return;
    background(c);
    if (!c->fatal)
        gate(c);
    if (!c->fatal)
        deliver_pending(c);
    if (!c->fatal)
        hooks(c);
    if (!c->fatal)
        deliver_pending(c);
}

static int64_t clock_now(const op_options *o)
{
    return o->have_at ? o->at : cli_clock_now(&o->clock);
}

int op_run(const op_options *o, volatile int *stop)
{
    op_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.stop = stop;
    int rc = cli_load_plan(o->plan_path, &c.plan);
    if (rc)
        return rc;
    c.ent.plan = c.plan;
    c.prom_url = o->prometheus ? o->prometheus : c.plan->op.prom_url;
    if (c.plan->op.n_queries && !c.prom_url) {
        fprintf(stderr, "rollout operator: the plan has Prometheus queries but no URL: set "
                        "operator.prometheus.url or pass --prometheus URL\n");
        rollout_plan_unref(c.plan);
        return OP_EXIT_USAGE;
    }
    if (o->store_url) {
        rc = cli_store_open(o->store_url, o->key_file, &c.st);
        if (rc) {
            rollout_plan_unref(c.plan);
            /* cli_store_open says 2 for an unreachable store and a bad URL alike */
            return rc == CLI_USAGE ? OP_EXIT_UNAVAILABLE : rc;
        }
    } else {
        char real[PATH_MAX];
        if (!realpath(o->state_path, real)) {
            fprintf(stderr, "rollout operator: %s: no state file (create it with `rollout "
                            "state init`)\n", cli_text(o->state_path));
            rollout_plan_unref(c.plan);
            return OP_EXIT_INVALID;
        }
        snprintf(c.journal, sizeof c.journal, "%s.outbox", real);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = OP_EXIT_OK;
    for (;;) {
        c.now = clock_now(o);
        c.fatal = 0;
        pass(&c);
        const char *outcome = c.fatal ? "failed" : c.unavailable ? "degraded" : "ok";
        log_line(&c, "pass", NULL, NULL, outcome, NULL);
        if (c.fatal) {
            code = c.fatal;
            break;
        }
        if (o->once) {
            code = c.unavailable ? OP_EXIT_UNAVAILABLE : OP_EXIT_OK;
            break;
        }
        /* nothing is left for the operator once the rollout is over and the
         * outbox is empty (a person confirms the post-mortem) */
        if (c.have_state && finished(&c) && !c.unavailable &&
            (c.st || c.j.n == 0)) {
            bool empty = true;
            if (c.st) {
                pending p = {0};
                empty = rollout_store_outbox_list(c.st, c.plan, collect, &p, &c.err) == 0 &&
                        p.n == 0;
                for (size_t i = 0; i < p.n; i++) {
                    free(p.keys[i]);
                    free(p.bodies[i]);
                }
                free(p.keys);
                free(p.bodies);
            }
            if (empty) {
                log_line(&c, "stop", NULL, NULL, "finished", "the rollout is over");
                break;
            }
        }
        if (!nap(&c, (long)o->interval_ms))
            break;
    }
    if (*stop)
        log_line(&c, "stop", NULL, NULL, "signal", "stopped between passes");
    rollout_metrics_free(c.metrics);
    op_entries_free(&c.ent);
    op_journal_free(&c.j);
    rollout_store_close(c.st);
    rollout_plan_unref(c.plan);
    curl_global_cleanup();
    return code;
}
