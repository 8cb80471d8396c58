/* SPDX-License-Identifier: MIT */
/*
 * decide_batch.c — the C side of the Python parity test (test_parity.py).
 *
 * A separate process that decides many requests with the C library and no
 * Python in between, so the test compares two independent paths to the
 * same answer. `rollout decide --json` gives the same answer one process
 * per request, which is too slow for 100 000 contexts.
 *
 * usage: rollout_decide_batch PLAN...     (PLAN "-" is the built-in seed)
 * stdin, one request per line, fields separated by one space:
 *   PLAN_INDEX AT STATE ORG USER SESSION REQUEST ATTRS
 *   STATE  "-" for none, else the encoded state (rs2....)
 *   ids    "-" absent, "." empty, else the bytes in lowercase hex
 *   ATTRS  "-" none, else KEYHEX=VALUEHEX pairs joined by ","
 * stdout, one line per request:
 *   RC VARIANT REASON COHORT PHASE STEP UNIT BUCKET WEIGHT EXPLANATION_HEX
 * (indices as rollout_decision has them; EXPLANATION_HEX "-" when RC != 0)
 */
#define _POSIX_C_SOURCE 200809L /* getline */

#include "rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLANS 8
#define MAX_ATTRS 16

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes a field in place: (NULL, 0) for "-", ("", 0) for ".", else the bytes. */
static int field(char *tok, const char **p, size_t *n)
{
    if (!strcmp(tok, "-")) {
        *p = NULL;
        *n = 0;
        return 0;
    }
    if (!strcmp(tok, ".")) {
        *p = tok + 1; /* the NUL: an empty, non-NULL id */
        *n = 0;
        return 0;
    }
    size_t len = strlen(tok);
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(tok[2 * i]), lo = hexval(tok[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        tok[i] = (char)(hi * 16 + lo);
    }
    *p = tok;
    *n = len / 2;
    return 0;
}

int main(int argc, char **argv)
{
    rollout_plan *plans[MAX_PLANS];
    int n_plans = 0;
    for (int i = 1; i < argc && n_plans < MAX_PLANS; i++) {
        rollout_error err;
        int rc;
        if (!strcmp(argv[i], "-")) {
            size_t len;
            const char *yaml = rollout_seed_plan(&len);
            rc = rollout_plan_load_buffer(yaml, len, "<seed>", &plans[n_plans], &err);
        } else {
            rc = rollout_plan_load_file(argv[i], &plans[n_plans], &err);
        }
        if (rc) {
            fprintf(stderr, "%s\n", err.message);
            return 2;
        }
        n_plans++;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    char explanation[4096];
    while ((got = getline(&line, &cap, stdin)) > 0) {
        if (line[got - 1] == '\n')
            line[--got] = '\0';
        char *tok[8], *save = NULL;
        int nt = 0;
        for (char *t = strtok_r(line, " ", &save); t && nt < 8; t = strtok_r(NULL, " ", &save))
            tok[nt++] = t;
        if (nt != 8) {
            fprintf(stderr, "decide_batch: want 8 fields, got %d\n", nt);
            return 2;
        }
        int pi = atoi(tok[0]);
        if (pi < 0 || pi >= n_plans) {
            fprintf(stderr, "decide_batch: no plan %d\n", pi);
            return 2;
        }
        int64_t at = strtoll(tok[1], NULL, 10);
        rollout_state state, *sp = NULL;
        if (strcmp(tok[2], "-")) {
            rollout_error err;
            if (rollout_state_decode(plans[pi], tok[2], strlen(tok[2]), &state, &err)) {
                fprintf(stderr, "decide_batch: %s\n", err.message);
                return 2;
            }
            sp = &state;
        }
        rollout_context ctx;
        memset(&ctx, 0, sizeof ctx);
        if (field(tok[3], &ctx.org, &ctx.org_len) || field(tok[4], &ctx.user, &ctx.user_len) ||
            field(tok[5], &ctx.session, &ctx.session_len) ||
            field(tok[6], &ctx.request, &ctx.request_len)) {
            fprintf(stderr, "decide_batch: bad id field\n");
            return 2;
        }
        rollout_attr attrs[MAX_ATTRS];
        if (strcmp(tok[7], "-")) {
            char *asave = NULL;
            for (char *pair = strtok_r(tok[7], ",", &asave); pair && ctx.n_attrs < MAX_ATTRS;
                 pair = strtok_r(NULL, ",", &asave)) {
                char *eq = strchr(pair, '=');
                if (!eq) {
                    fprintf(stderr, "decide_batch: bad attribute\n");
                    return 2;
                }
                *eq = '\0';
                rollout_attr *a = &attrs[ctx.n_attrs++];
                /* an empty value arrives as "k=" and means the empty string */
                if (field(pair, &a->key, &a->key_len) ||
                    (*(eq + 1) ? field(eq + 1, &a->value, &a->value_len)
                               : (a->value = eq + 1, a->value_len = 0, 0))) {
                    fprintf(stderr, "decide_batch: bad attribute\n");
                    return 2;
                }
            }
            ctx.attrs = attrs;
        }
        rollout_decision d;
        int rc = rollout_decide(plans[pi], sp, at, &ctx, &d);
        printf("%d %d %d %d %d %d %d %u %u ", rc, d.variant, d.reason, d.cohort, d.phase, d.step,
               d.unit, (unsigned)d.bucket, (unsigned)d.weight);
        if (rc) {
            puts("-");
            continue;
        }
        size_t n = rollout_explain(plans[pi], &d, &ctx, explanation, sizeof explanation);
        if (n >= sizeof explanation)
            n = sizeof explanation - 1;
        for (size_t i = 0; i < n; i++)
            printf("%02x", (unsigned char)explanation[i]);
        putchar('\n');
    }
    free(line);
    for (int i = 0; i < n_plans; i++)
        rollout_plan_unref(plans[i]);
    return 0;
}
