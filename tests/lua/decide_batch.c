/* SPDX-License-Identifier: MIT */
/*
 * decide_batch.c — the C side of the Lua parity test: decides a batch of
 * contexts with the C library directly, so parity_spec.lua can compare every
 * decision and explanation of the Lua bindings with it.
 *
 *   decide_batch PLAN [STATE_TEXT...] < contexts > decisions
 *
 * Each input line is tab-separated:
 *   now  state  org  user  session  request  attrs
 * now is epoch seconds; state is an index into the STATE_TEXT arguments or
 * -1 for none; ids are lowercase hex of their bytes, "-" when absent; attrs
 * is "-" or comma-separated KEYHEX=VALUEHEX pairs. Each output line is
 *   variant  reason  cohort  phase  step  unit  bucket  weight  explanation
 * with names as the Lua bindings give them (step 1-based, "-" for none).
 * Exit 0, or 2 with a message on bad input.
 */
#include "rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELD 8192
#define MAX_ATTRS 32

static int unhex(const char *s, size_t n, char *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (char)v;
    }
    return (int)(n / 2);
}

/* Splits line at tabs into at most max fields (in place). */
static int split(char *line, char **f, int max, char sep)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == sep) {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static const char *id_field(const char *hex, char *buf, size_t *len)
{
    if (!strcmp(hex, "-")) {
        *len = 0;
        return NULL;
    }
    int n = unhex(hex, strlen(hex), buf);
    if (n < 0) {
        fprintf(stderr, "decide_batch: bad hex \"%s\"\n", hex);
        exit(2);
    }
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: decide_batch PLAN [STATE_TEXT...] < contexts\n");
        return 2;
    }
    rollout_plan *plan;
    rollout_error err;
    if (rollout_plan_load_file(argv[1], &plan, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    int n_states = argc - 2;
    rollout_state *states = calloc((size_t)(n_states ? n_states : 1), sizeof *states);
    for (int i = 0; i < n_states; i++)
        if (rollout_state_decode(plan, argv[i + 2], strlen(argv[i + 2]), &states[i], &err)) {
            fprintf(stderr, "state %d: %s\n", i, err.message);
            return 2;
        }

    static const char *const units[] = {"org", "user", "session", "request"};
    static char line[8 * MAX_FIELD * 2];
    static char ids[4][MAX_FIELD];
    static char attr_bytes[MAX_ATTRS][2][256];
    char explanation[2048];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *f[7];
        if (split(line, f, 7, '\t') != 7) {
            fprintf(stderr, "decide_batch: want 7 fields\n");
            return 2;
        }
        int64_t now = strtoll(f[0], NULL, 10);
        int si = atoi(f[1]);
        rollout_context ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.org = id_field(f[2], ids[0], &ctx.org_len);
        ctx.user = id_field(f[3], ids[1], &ctx.user_len);
        ctx.session = id_field(f[4], ids[2], &ctx.session_len);
        ctx.request = id_field(f[5], ids[3], &ctx.request_len);
        rollout_attr attrs[MAX_ATTRS];
        if (strcmp(f[6], "-")) {
            char *pairs[MAX_ATTRS];
            int n = split(f[6], pairs, MAX_ATTRS, ',');
            for (int i = 0; i < n; i++) {
                char *kv[2];
                if (split(pairs[i], kv, 2, '=') != 2) {
                    fprintf(stderr, "decide_batch: attr without =\n");
                    return 2;
                }
                int kl = unhex(kv[0], strlen(kv[0]), attr_bytes[i][0]);
                int vl = unhex(kv[1], strlen(kv[1]), attr_bytes[i][1]);
                if (kl < 0 || vl < 0) {
                    fprintf(stderr, "decide_batch: bad attr hex\n");
                    return 2;
                }
                attrs[i] = (rollout_attr){attr_bytes[i][0], (size_t)kl, attr_bytes[i][1],
                                          (size_t)vl};
            }
            ctx.attrs = attrs;
            ctx.n_attrs = (size_t)n;
        }
        rollout_decision d;
        int rc = rollout_decide(plan, si >= 0 && si < n_states ? &states[si] : NULL, now, &ctx,
                                &d);
        if (rc) {
            printf("error\t%s\n", rollout_code_name(rc));
            continue;
        }
        rollout_explain(plan, &d, &ctx, explanation, sizeof explanation);
        printf("%s\t%s\t%s\t%s\t", d.variant == ROLLOUT_NEW ? "new" : "stable",
               rollout_reason_name(d.reason), d.cohort_name ? d.cohort_name : "-",
               d.phase_name ? d.phase_name : "-");
        if (d.step >= 0)
            printf("%d\t", d.step + 1);
        else
            printf("-\t");
        printf("%s\t", d.unit >= 0 && d.unit < 4 ? units[d.unit] : "-");
        if (d.reason <= ROLLOUT_REASON_OUT_OF_ROLLOUT)
            printf("%u\t", (unsigned)d.bucket);
        else
            printf("-\t");
        printf("%u\t%s\n", (unsigned)d.weight, explanation);
    }
    free(states);
    rollout_plan_unref(plan);
    return 0;
}
