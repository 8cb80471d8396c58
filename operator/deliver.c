/* SPDX-License-Identifier: MIT */
/*
 * deliver.c — what a transition owes the outside world as messages, and
 * how one is put on a channel's webhook.
 *
 * Each delivery has an idempotency key "<plan>/<revision>/<action index>/
 * <channel>": the revision is the transition's, which happens once in the
 * rollout's history, so a key names one delivery for good, however often a
 * crashed operator retries it (docs/operator.md, "Delivery guarantees").
 */
#define _GNU_SOURCE /* asprintf */
#include "operator.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void op_entries_free(op_entries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->keys[i]);
        free(e->bodies[i]);
    }
    e->n = 0;
}

static json_t *roles_json(const rollout_plan *plan, uint32_t roles)
{
    json_t *a = json_array();
    for (int r = 0; a && r < plan->n_roles; r++)
        if (roles & (1u << r))
            json_array_append_new(a, json_string(plan->roles[r].id));
    return a;
}

static int add(const rollout_plan *plan, const rollout_state *next, const rollout_action *a,
               size_t index, const char *channel, size_t channel_len, op_entries *out)
{
    if (out->n >= ROLLOUT_STORE_OUTBOX_MAX)
        return ROLLOUT_ERR_LIMIT;
    char ch[128], key[640], at[32];
    if (channel_len >= sizeof ch)
        channel_len = sizeof ch - 1;
    memcpy(ch, channel, channel_len);
    ch[channel_len] = '\0';
    /* a channel is free text, but the key is a journal field ended by a
     * space and an HTTP header's value: anything beyond an id's characters
     * is %XX-encoded (injective, so keys stay distinct) */
    char kch[3 * sizeof ch];
    size_t kn = 0;
    for (size_t i = 0; i < channel_len; i++) {
        unsigned char b = (unsigned char)ch[i];
        if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
            b == '-' || b == '_' || b == '.')
            kch[kn++] = (char)b;
        else
            kn += (size_t)snprintf(kch + kn, sizeof kch - kn, "%%%02X", b);
    }
    kch[kn] = '\0';
    snprintf(key, sizeof key, "%s/%llu/%zu/%s", plan->id, (unsigned long long)next->revision,
             index, kch);
    rp_format_time(next->updated_at, at, sizeof at);
    json_t *o = json_object();
    if (!o)
        return ROLLOUT_ERR_NOMEM;
    json_object_set_new(o, "idempotency_key", json_string(key));
    json_object_set_new(o, "plan", json_string(plan->id));
    json_object_set_new(o, "revision", json_integer((json_int_t)next->revision));
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "action", json_string(rollout_action_name(a->type)));
    json_object_set_new(o, "channel", json_string(ch));
    if (a->id)
        json_object_set_new(o, "id", json_string(a->id));
    if (a->audience)
        json_object_set_new(o, "audience", json_string(a->audience));
    if (a->text)
        json_object_set_new(o, "text", json_string(a->text));
    if (a->label)
        json_object_set_new(o, "label", json_string(a->label));
    if (a->roles)
        json_object_set_new(o, "roles", roles_json(plan, a->roles));
    if (a->due) {
        char due[32];
        rp_format_time(a->due, due, sizeof due);
        json_object_set_new(o, "due", json_string(due));
    }
    json_object_set_new(o, "status", json_string(rollout_status_name(next->status)));
    if (next->rollback_reason >= 0)
        json_object_set_new(o, "rollback_reason",
                            json_string(rollout_rollback_reason_name(next->rollback_reason)));
    char *body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    char *k = strdup(key);
    if (!body || !k) {
        free(body);
        free(k);
        return ROLLOUT_ERR_NOMEM;
    }
    out->keys[out->n] = k;
    out->bodies[out->n++] = body;
    return ROLLOUT_OK;
}

int op_entries_build(const rollout_plan *plan, const rollout_state *next,
                     const rollout_action *actions, size_t n_actions, op_entries *out)
{
    out->n = 0;
    for (size_t i = 0; i < n_actions; i++) {
        const rollout_action *a = &actions[i];
        int rc = ROLLOUT_OK;
        if (a->type == ROLLOUT_ACTION_NOTIFY && a->channel) {
            /* "email+in-app-banner": each part its own delivery */
            for (const char *s = a->channel; *s && !rc;) {
                size_t n = strcspn(s, "+");
                if (n)
                    rc = add(plan, next, a, i, s, n, out);
                s += n + (s[n] == '+');
            }
        } else if (a->type == ROLLOUT_ACTION_PAGE) {
            rc = add(plan, next, a, i, "page", 4, out);
        } else if (a->type == ROLLOUT_ACTION_ESCALATE) {
            rc = add(plan, next, a, i, "escalate", 8, out);
        }
        if (rc) {
            op_entries_free(out);
            return rc;
        }
    }
    return ROLLOUT_OK;
}

const rp_op_channel *op_channel(const rollout_plan *plan, const char *channel, const char **url,
                                char *why, size_t cap)
{
    const rp_operator *op = &plan->op;
    const rp_op_channel *found = NULL;
    for (int pass = 0; pass < 2 && !found; pass++)
        for (int i = 0; i < op->n_channels; i++)
            if (!strcmp(op->channels[i].name, pass ? "default" : channel)) {
                found = &op->channels[i];
                break;
            }
    if (!found) {
        snprintf(why, cap, "no webhook for channel \"%s\" and no \"default\" under "
                           "operator.channels", channel);
        return NULL;
    }
    *url = found->url;
    if (found->url_env) {
        *url = getenv(found->url_env);
        if (!*url || !**url) {
            snprintf(why, cap, "channel \"%s\": the environment variable %s is not set",
                     found->name, found->url_env);
            return NULL;
        }
    }
    return found;
}

char *op_render(const char *body, int format)
{
    if (format != RP_OP_SLACK)
        return strdup(body);
    json_t *o = json_loads(body, 0, NULL);
    if (!o)
        return NULL;
    const char *plan = json_string_value(json_object_get(o, "plan"));
    const char *action = json_string_value(json_object_get(o, "action"));
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *text = json_string_value(json_object_get(o, "text"));
    const char *aud = json_string_value(json_object_get(o, "audience"));
    char *line = NULL;
    if (asprintf(&line, "[%s] %s%s%s: %s%s%s", plan ? plan : "?", action ? action : "?",
                 id ? " " : "", id ? id : "", text ? text : "", aud ? " (audience: " : "",
                 aud ? aud : "") < 0)
        line = NULL;
    char *out = NULL;
    if (line) {
        size_t n = strlen(line);
        char *l2 = realloc(line, n + 2);
        if (l2) {
            line = l2;
            if (aud)
                strcat(line, ")");
        }
        json_t *s = json_object();
        json_object_set_new(s, "text", json_string(line));
        json_object_set(s, "idempotency_key", json_object_get(o, "idempotency_key"));
        out = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(s);
        free(line);
    }
    json_decref(o);
    return out;
}

int op_store_entries(const rollout_state *next, const rollout_action *actions, size_t n,
                     rollout_store_outbox_entry *e, size_t cap, size_t *ne, void *ctx)
{
    op_entries *ent = ctx;
    op_entries_free(ent);
    int rc = op_entries_build(ent->plan, next, actions, n, ent);
    if (rc)
        return rc;
    if (ent->n > cap)
        return ROLLOUT_ERR_LIMIT;
    for (size_t i = 0; i < ent->n; i++) {
        e[i].key = ent->keys[i];
        e[i].body = ent->bodies[i];
    }
    *ne = ent->n;
    return ROLLOUT_OK;
}
