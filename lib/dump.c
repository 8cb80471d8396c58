/* SPDX-License-Identifier: MIT */
/*
 * dump.c — the normalized plan as YAML or JSON.
 *
 * Normalized means: every default written out, every gate attached to the
 * step it follows, times in UTC, durations and weights in canonical form.
 * The output loads back into an equivalent plan; its JSON form is also the
 * input of the plan fingerprint, less the `operator:` section (operator_cfg.c).
 */
#include "plan.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* YAML goes through libyaml's emitter, which quotes exactly when a plain
 * scalar would read back differently. JSON is written here: libyaml's
 * double-quoted style uses YAML-only escapes (\U0001F680, \e, \N) that a
 * JSON parser rejects. */
struct rp_emitter {
    yaml_emitter_t em;
    bool json;
    bool failed;
    rp_buf *out;             /* JSON */
    int depth;
    bool first[ROLLOUT_MAX_DEPTH + 2];  /* no item written yet at this depth */
    bool is_map[ROLLOUT_MAX_DEPTH + 2];
    bool after_key;          /* the next value completes a key: value pair */
    bool fingerprint;        /* the fingerprint's input: without `operator:` */
};

static void emit(rp_emitter *e, yaml_event_t *ev, int ok)
{
    if (!ok) {
        e->failed = true;
        return;
    }
    /* After a failure the event is not emitted, so it is ours to free: the
     * emitter frees only what it was given (found by the OOM test). */
    if (e->failed) {
        yaml_event_delete(ev);
        return;
    }
    if (!yaml_emitter_emit(&e->em, ev))
        e->failed = true;
}

/* JSON: the separator before a key, a list item or a value after a key. */
static void json_sep(rp_emitter *e)
{
    if (e->after_key) {
        e->after_key = false;
        return;
    }
    if (e->depth > 0 && !e->first[e->depth])
        rp_buf_putn(e->out, ", ", 2);
    if (e->depth > 0)
        e->first[e->depth] = false;
}

static void json_open(rp_emitter *e, bool map)
{
    json_sep(e);
    rp_buf_putn(e->out, map ? "{" : "[", 1);
    if (e->depth + 1 >= (int)RP_COUNT(e->first)) {
        e->failed = true;
        return;
    }
    e->depth++;
    e->first[e->depth] = true;
    e->is_map[e->depth] = map;
}

static void json_close(rp_emitter *e)
{
    rp_buf_putn(e->out, e->is_map[e->depth] ? "}" : "]", 1);
    e->depth--;
}

void rp_emit_map_begin(rp_emitter *e)
{
    if (e->json) {
        json_open(e, true);
        return;
    }
    yaml_event_t ev;
    emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                     YAML_BLOCK_MAPPING_STYLE));
}

void rp_emit_map_end(rp_emitter *e)
{
    if (e->json) {
        json_close(e);
        return;
    }
    yaml_event_t ev;
    emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

void rp_emit_seq_begin(rp_emitter *e, bool flow)
{
    if (e->json) {
        json_open(e, false);
        return;
    }
    yaml_event_t ev;
    emit(e, &ev, yaml_sequence_start_event_initialize(
                     &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE));
}

void rp_emit_seq_end(rp_emitter *e)
{
    if (e->json) {
        json_close(e);
        return;
    }
    yaml_event_t ev;
    emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void scalar(rp_emitter *e, const char *s, size_t n, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1,
                                              style));
}

void rp_emit_strn(rp_emitter *e, const char *s, size_t n)
{
    if (e->json) {
        json_sep(e);
        rp_buf_json_str(e->out, s, n);
        return;
    }
    /* An empty plain scalar reads back as "no value": quote it. */
    scalar(e, s, n, n ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

void rp_emit_str(rp_emitter *e, const char *s)
{
    rp_emit_strn(e, s ? s : "", s ? strlen(s) : 0);
}

void rp_emit_key(rp_emitter *e, const char *key)
{
    rp_emit_str(e, key);
    if (e->json) {
        rp_buf_putn(e->out, ": ", 2);
        e->after_key = true;
    }
}

void rp_emit_raw(rp_emitter *e, const char *s)
{
    if (e->json) {
        json_sep(e);
        rp_buf_puts(e->out, s);
        return;
    }
    scalar(e, s, strlen(s), YAML_PLAIN_SCALAR_STYLE);
}

void rp_emit_duration(rp_emitter *e, int64_t secs)
{
    char buf[32];
    rp_format_duration(secs, buf, sizeof buf);
    rp_emit_str(e, buf);
}

void rp_emit_weight(rp_emitter *e, uint32_t w)
{
    char buf[16];
    rp_format_weight(w, buf, sizeof buf);
    rp_emit_str(e, buf);
}

void rp_emit_double(rp_emitter *e, double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    rp_emit_raw(e, buf);
}

void rp_emit_roles(rp_emitter *e, const rollout_plan *p, uint32_t roles)
{
    rp_emit_seq_begin(e, true);
    for (int r = 0; r < p->n_roles; r++)
        if (roles & (1u << r))
            rp_emit_str(e, p->roles[r].id);
    rp_emit_seq_end(e);
}

static void kv(rp_emitter *e, const char *key, const char *value)
{
    if (!value)
        return;
    rp_emit_key(e, key);
    rp_emit_str(e, value);
}

static void kv_time(rp_emitter *e, const char *key, int64_t t)
{
    char buf[32];
    rp_format_time(t, buf, sizeof buf);
    kv(e, key, buf);
}

static void dump_gate(rp_emitter *e, const rollout_plan *p, const rp_gate *g)
{
    static const char *const no_go[] = {"hold", "halt", "rollback"};
    rp_emit_map_begin(e);
    kv(e, "id", g->id);
    rp_emit_key(e, "at");
    rp_emit_duration(e, g->at);
    rp_emit_key(e, "approvers");
    rp_emit_roles(e, p, g->approvers);
    if (g->override_roles) {
        rp_emit_key(e, "override_roles");
        rp_emit_roles(e, p, g->override_roles);
    }
    if (g->criteria >= 0)
        kv(e, "criteria", p->criteria[g->criteria].id);
    kv(e, "on_no_go", no_go[g->on_no_go]);
    static const char *const limit_keys[] = {"failure_limit", "inconclusive_limit"};
    const int limits[] = {g->failure_limit, g->inconclusive_limit};
    for (int i = 0; i < 2; i++) {
        if (limits[i] < 0)
            continue;
        char buf[16];
        snprintf(buf, sizeof buf, "%d", limits[i]);
        rp_emit_key(e, limit_keys[i]);
        rp_emit_raw(e, buf);
    }
    if (g->auto_go) {
        rp_emit_key(e, "auto_go");
        rp_emit_raw(e, "true");
    }
    kv(e, "description", g->description);
    rp_emit_map_end(e);
}

static void dump_phases(rp_emitter *e, const rollout_plan *p)
{
    static const char *const units[] = {"org", "user", "session", "request"};
    rp_emit_key(e, "phases");
    rp_emit_seq_begin(e, false);
    for (int i = 0; i < p->n_phases; i++) {
        const rp_phase *ph = &p->phases[i];
        rp_emit_map_begin(e);
        kv(e, "id", ph->id);
        kv(e, "description", ph->description);
        kv(e, "cohort", p->cohorts[ph->cohort].id);
        if (ph->n_monitoring) {
            rp_emit_key(e, "monitoring");
            rp_emit_seq_begin(e, false);
            for (size_t k = 0; k < ph->n_monitoring; k++)
                rp_emit_str(e, ph->monitoring[k]);
            rp_emit_seq_end(e);
        }
        rp_emit_key(e, "steps");
        rp_emit_seq_begin(e, false);
        for (int s = 0; s < ph->n_steps; s++) {
            const rp_step *st = &p->steps[ph->first_step + s];
            rp_emit_map_begin(e);
            rp_emit_key(e, "at");
            rp_emit_duration(e, st->at);
            rp_emit_key(e, "weight");
            rp_emit_weight(e, st->weight);
            kv(e, "unit", units[st->unit]);
            if (st->gate >= 0) {
                rp_emit_key(e, "gate");
                dump_gate(e, p, &p->gates[st->gate]);
            }
            rp_emit_map_end(e);
        }
        rp_emit_seq_end(e);
        rp_emit_map_end(e);
    }
    rp_emit_seq_end(e);
}

static void dump_rollback(rp_emitter *e, const rollout_plan *p)
{
    const rp_rollback *rb = &p->rollback;
    if (!rb->n_steps)
        return;
    rp_emit_key(e, "rollback");
    rp_emit_map_begin(e);
    if (rb->triggers) {
        rp_emit_key(e, "triggers");
        rp_emit_seq_begin(e, true);
        for (int r = 0; r < ROLLOUT_ROLLBACK_COUNT; r++)
            if (rb->triggers & (1u << r))
                rp_emit_str(e, rollout_rollback_reason_name(r));
        rp_emit_seq_end(e);
    }
    rp_emit_key(e, "deadline");
    rp_emit_duration(e, rb->deadline);
    rp_emit_key(e, "postmortem_within");
    rp_emit_duration(e, rb->postmortem_within);
    rp_emit_key(e, "procedure");
    rp_emit_seq_begin(e, false);
    for (size_t i = 0; i < rb->n_steps; i++) {
        const rp_rollback_step *st = &rb->steps[i];
        rp_emit_map_begin(e);
        kv(e, "id", st->id);
        kv(e, "action", rp_rollback_action_name(st->action));
        if (st->roles) {
            rp_emit_key(e, "roles");
            rp_emit_roles(e, p, st->roles);
        }
        kv(e, "description", st->description);
        rp_emit_map_end(e);
    }
    rp_emit_seq_end(e);
    kv(e, "commands", rb->commands);
    kv(e, "notes", rb->notes);
    rp_emit_map_end(e);
}

static void dump_comms(rp_emitter *e, const rollout_plan *p)
{
    if (!p->n_comms)
        return;
    rp_emit_key(e, "communications");
    rp_emit_seq_begin(e, false);
    for (int i = 0; i < p->n_comms; i++) {
        const rp_comm *cm = &p->comms[i];
        rp_emit_map_begin(e);
        kv(e, "id", cm->id);
        rp_emit_key(e, "on");
        rp_emit_map_begin(e);
        kv(e, "event", rp_comm_event_name(cm->event));
        if (cm->phase >= 0)
            kv(e, "phase", p->phases[cm->phase].id);
        if (cm->event == RP_COMM_STEP) {
            rp_emit_key(e, "weight");
            rp_emit_weight(e, cm->weight);
        }
        if (cm->gate >= 0)
            kv(e, "gate", p->gates[cm->gate].id);
        rp_emit_map_end(e);
        kv(e, "message", cm->message);
        kv(e, "channel", cm->channel);
        kv(e, "audience", cm->audience);
        rp_emit_key(e, "owners");
        rp_emit_roles(e, p, cm->owners);
        rp_emit_map_end(e);
    }
    rp_emit_seq_end(e);
}

static void dump_calendar_limits(rp_emitter *e, const rollout_plan *p)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    char buf[16];
    if (p->n_windows) {
        rp_emit_key(e, "windows");
        rp_emit_seq_begin(e, false);
        for (int i = 0; i < p->n_windows; i++) {
            const rp_window *w = &p->windows[i];
            rp_emit_map_begin(e);
            rp_emit_key(e, "days");
            rp_emit_seq_begin(e, true);
            for (int d = 0; d < 7; d++)
                if (w->days & (1u << d))
                    rp_emit_str(e, days[d]);
            rp_emit_seq_end(e);
            snprintf(buf, sizeof buf, "%02d:%02d", w->from / 3600, w->from / 60 % 60);
            kv(e, "from", buf);
            snprintf(buf, sizeof buf, "%02d:%02d", w->to / 3600, w->to / 60 % 60);
            kv(e, "to", buf);
            if (w->zone) {
                kv(e, "zone", w->zone->name);
            } else {
                int32_t off = w->utc_offset < 0 ? -w->utc_offset : w->utc_offset;
                snprintf(buf, sizeof buf, "%c%02d:%02d", w->utc_offset < 0 ? '-' : '+',
                         off / 3600, off / 60 % 60);
                kv(e, "utc_offset", buf);
            }
            rp_emit_map_end(e);
        }
        rp_emit_seq_end(e);
    }
    if (p->n_freezes) {
        rp_emit_key(e, "freezes");
        rp_emit_seq_begin(e, false);
        for (int i = 0; i < p->n_freezes; i++) {
            rp_emit_map_begin(e);
            kv_time(e, "from", p->freezes[i].from);
            kv_time(e, "to", p->freezes[i].to);
            kv(e, "reason", p->freezes[i].reason);
            if (p->freezes[i].zone)
                kv(e, "zone", p->freezes[i].zone->name);
            rp_emit_map_end(e);
        }
        rp_emit_seq_end(e);
    }
}

static void dump_plan(rp_emitter *e, const rollout_plan *p)
{
    rp_emit_map_begin(e);
    rp_emit_key(e, "format");
    rp_emit_raw(e, "1");
    kv(e, "id", p->id);
    kv(e, "description", p->description);
    rp_emit_key(e, "salt");
    rp_emit_strn(e, p->salt, p->salt_len);
    /* only when chosen, so a plan's dump (and fingerprint) did not change
     * when bucketing: was added */
    if (p->hash != ROLLOUT_HASH_XXH3) {
        rp_emit_key(e, "bucketing");
        rp_emit_map_begin(e);
        kv(e, "hash", rollout_hash_name(p->hash));
        rp_emit_key(e, "key");
        rp_emit_strn(e, p->bucket_key, p->bucket_key_len);
        rp_emit_map_end(e);
    }
    kv_time(e, "start", p->start);
    rp_emit_key(e, "versions");
    rp_emit_map_begin(e);
    kv(e, "stable", p->labels[0]);
    kv(e, "new", p->labels[1]);
    rp_emit_map_end(e);
    if (p->n_roles) {
        rp_emit_key(e, "roles");
        rp_emit_map_begin(e);
        for (int i = 0; i < p->n_roles; i++)
            kv(e, p->roles[i].id, p->roles[i].name);
        rp_emit_map_end(e);
    }
    rp_emit_key(e, "cohorts");
    rp_emit_seq_begin(e, false);
    for (int i = 0; i < p->n_cohorts; i++) {
        rp_emit_map_begin(e);
        kv(e, "id", p->cohorts[i].id);
        kv(e, "description", p->cohorts[i].description);
        rp_emit_key(e, "match");
        rp_dump_rule(e, p->cohorts[i].match);
        rp_emit_map_end(e);
    }
    rp_emit_seq_end(e);
    if (p->n_smoke) {
        rp_emit_key(e, "smoke_tests");
        rp_emit_seq_begin(e, false);
        for (int i = 0; i < p->n_smoke; i++) {
            rp_emit_map_begin(e);
            kv(e, "id", p->smoke[i].id);
            kv(e, "name", p->smoke[i].name);
            rp_emit_map_end(e);
        }
        rp_emit_seq_end(e);
    }
    if (p->n_custom_metrics) {
        rp_emit_key(e, "custom_metrics");
        rp_emit_seq_begin(e, true);
        for (int i = 0; i < p->n_custom_metrics; i++)
            rp_emit_str(e, p->custom_metrics[i]);
        rp_emit_seq_end(e);
    }
    if (p->n_criteria) {
        rp_emit_key(e, "criteria");
        rp_emit_map_begin(e);
        for (int i = 0; i < p->n_criteria; i++) {
            rp_emit_key(e, p->criteria[i].id);
            rp_dump_criteria(e, p, &p->criteria[i]);
        }
        rp_emit_map_end(e);
    }
    dump_phases(e, p);
    if (p->bake.duration) {
        rp_emit_key(e, "bake");
        rp_emit_map_begin(e);
        rp_emit_key(e, "duration");
        rp_emit_duration(e, p->bake.duration);
        if (p->bake.criteria >= 0)
            kv(e, "criteria", p->criteria[p->bake.criteria].id);
        kv(e, "description", p->bake.description);
        rp_emit_map_end(e);
    }
    dump_rollback(e, p);
    dump_comms(e, p);
    dump_calendar_limits(e, p);
    if (!e->fingerprint)
        rp_dump_operator(e, p);
    rp_emit_map_end(e);
}

static int write_to_buf(void *data, unsigned char *bytes, size_t size)
{
    rp_buf *b = data;
    rp_buf_putn(b, (const char *)bytes, size);
    return !b->failed;
}

/* Renders the plan into out (heap, caller frees with rp_buf_free). */
static int dump_to(const rollout_plan *p, bool json, bool fingerprint, rp_buf *out)
{
    rp_emitter e;
    memset(&e, 0, sizeof e);
    e.json = json;
    e.fingerprint = fingerprint;
    e.out = out;
    if (json) {
        dump_plan(&e, p);
        rp_buf_putn(out, "\n", 1);
        return e.failed || out->failed ? ROLLOUT_ERR_NOMEM : ROLLOUT_OK;
    }
    if (!yaml_emitter_initialize(&e.em))
        return ROLLOUT_ERR_NOMEM;
    yaml_emitter_set_output(&e.em, write_to_buf, out);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, -1);
    yaml_emitter_set_indent(&e.em, 2);
    yaml_event_t ev;
    emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    dump_plan(&e, p);
    emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
    emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
    yaml_emitter_delete(&e.em);
    if (e.failed || out->failed)
        return ROLLOUT_ERR_NOMEM;
    return ROLLOUT_OK;
}

int rp_plan_fingerprint_compute(rollout_plan *p);

int rp_plan_fingerprint_compute(rollout_plan *p)
{
    rp_buf b = {0};
    int rc = dump_to(p, true, true, &b);
    if (!rc)
        p->fingerprint = XXH3_64bits(b.data, b.len);
    rp_buf_free(&b);
    return rc;
}

int rollout_plan_dump(const rollout_plan *plan, int format, char *buf, size_t cap, size_t *needed)
{
    if (!plan || (format != ROLLOUT_FORMAT_YAML && format != ROLLOUT_FORMAT_JSON) ||
        (!buf && cap))
        return ROLLOUT_ERR_ARG;
    rp_buf b = {0};
    int rc = dump_to(plan, format == ROLLOUT_FORMAT_JSON, false, &b);
    if (rc) {
        rp_buf_free(&b);
        return rc;
    }
    if (needed)
        *needed = b.len;
    if (cap) {
        size_t n = b.len < cap - 1 ? b.len : cap - 1;
        memcpy(buf, b.data, n);
        buf[n] = '\0';
    }
    rc = b.len < cap ? ROLLOUT_OK : ROLLOUT_ERR_BUFFER;
    rp_buf_free(&b);
    return rc;
}
