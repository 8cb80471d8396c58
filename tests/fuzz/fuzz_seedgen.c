/* SPDX-License-Identifier: MIT */
/*
 * fuzz_seedgen.c — the seed inputs only the library itself can make:
 * encoded states of the seed plan along its rollout (as text, and as the
 * payload fuzz_state forges a checksum for), and the normalized YAML and
 * JSON dumps of the plans given.
 *
 *   fuzz_seedgen OUTDIR [PLAN...]
 * writes OUTDIR/state/ and OUTDIR/plan/ (which must exist). Called by
 * tests/fuzz/gen_corpus.py.
 */
#define _POSIX_C_SOURCE 200809L /* basename */

#include "fuzz_common.h"

#include <libgen.h>

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* The bytes behind "rs1." without the 8-byte checksum: what fuzz_state's
 * forging mode turns back into the same text. */
static size_t payload_of(const char *text, size_t len, uint8_t *out)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 4; i < len; i++) {
        acc = (acc << 6) | (uint32_t)b64_value(text[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n >= 8 ? n - 8 : 0;
}

static void put_state(const char *dir, const char *tag, const rollout_state *s)
{
    char text[ROLLOUT_STATE_TEXT_MAX], name[64];
    uint8_t payload[ROLLOUT_STATE_TEXT_MAX];
    size_t len = rollout_state_encode(s, text, sizeof text);
    FZ_CHECK(len > 0, "encode");
    snprintf(name, sizeof name, "text-%s", tag);
    write_file(dir, name, text, len);
    size_t n = payload_of(text, len, payload);
    /* a payload starting "rs" would be taken as text; none does (format 1) */
    snprintf(name, sizeof name, "payload-%s", tag);
    write_file(dir, name, payload, n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_seedgen OUTDIR [PLAN...]\n");
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/state", argv[1]);
    for (int i = 1; i < FZ_N_STATES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "%d", i);
        put_state(dir, tag, fz_state(i));
    }
    /* one that has run its whole course, with pauses and approvals on record */
    const rollout_plan *p = fz_seed_plan();
    rollout_state s = *fz_state(5);
    int64_t t = s.updated_at;
    for (int step = 0; step < 40 && s.status != ROLLOUT_STATUS_COMPLETED; step++) {
        t += 6 * 3600;
        rollout_action actions[ROLLOUT_MAX_ACTIONS];
        const rollout_event evs[] = {
            {.type = ROLLOUT_EVENT_TICK, .gate = -1},
            /* the pilot's and GA's approvers: product-lead, sre-lead, product, sre */
            {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = 1},
            {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = 2},
            {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = 4},
            {.type = ROLLOUT_EVENT_APPROVE, .gate = -1, .role = 5},
            {.type = ROLLOUT_EVENT_VERDICT, .gate = -1, .verdict = ROLLOUT_VERDICT_PASS},
            {.type = ROLLOUT_EVENT_GO, .gate = -1, .actor = 3, .why = "seed"},
            {.type = ROLLOUT_EVENT_PAUSE, .gate = -1},
            {.type = ROLLOUT_EVENT_RESUME, .gate = -1}};
        for (size_t k = 0; k < FZ_COUNT(evs); k++) {
            size_t n = ROLLOUT_MAX_ACTIONS;
            rollout_apply(p, &s, &evs[k], t + (int64_t)k, &s, actions, &n, NULL);
        }
        if (step == 10)
            put_state(dir, "midway", &s);
    }
    put_state(dir, "late", &s);

    snprintf(dir, sizeof dir, "%s/plan", argv[1]);
    for (int i = 2; i < argc; i++) {
        rollout_plan *plan;
        rollout_error err;
        if (rollout_plan_load_file(argv[i], &plan, &err) != ROLLOUT_OK)
            continue; /* invalid plans are seeds as they are */
        for (int f = ROLLOUT_FORMAT_YAML; f <= ROLLOUT_FORMAT_JSON; f++) {
            size_t need = 0;
            rollout_plan_dump(plan, f, NULL, 0, &need);
            char *buf = malloc(need + 1);
            FZ_CHECK(buf && rollout_plan_dump(plan, f, buf, need + 1, NULL) == ROLLOUT_OK,
                     "dump");
            char name[512], base[4096];
            snprintf(base, sizeof base, "%s", argv[i]);
            snprintf(name, sizeof name, "dump-%s.%s", basename(base), f ? "json" : "yaml");
            write_file(dir, name, buf, need);
            free(buf);
        }
        rollout_plan_unref(plan);
    }
    return 0;
}
