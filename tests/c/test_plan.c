/* SPDX-License-Identifier: MIT */
/*
 * test_plan.c — the plan loader: the seed, the invalid plans under
 * tests/plans/invalid/, hostile inputs generated here, valid edge cases,
 * the public accessors, reference counting and the normalized dump.
 *
 * Every expected value is written by hand (epoch times worked out on paper,
 * messages copied from what a person should read), never computed by the
 * code under test.
 */
#define _POSIX_C_SOURCE 200809L

#include "plan.h"
#include "support.h"
#include "evaluate.h"
#include "targeting.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INVALID_DIR "tests/plans/invalid"
#define SEED_PATH "examples/plans/seed.yaml"

/* ---- helpers --------------------------------------------------------------- */

static const struct { const char *name; int code; } code_table[] = {
    {"ROLLOUT_OK", ROLLOUT_OK},
    {"ROLLOUT_ERR_NOMEM", ROLLOUT_ERR_NOMEM},
    {"ROLLOUT_ERR_IO", ROLLOUT_ERR_IO},
    {"ROLLOUT_ERR_ARG", ROLLOUT_ERR_ARG},
    {"ROLLOUT_ERR_SYNTAX", ROLLOUT_ERR_SYNTAX},
    {"ROLLOUT_ERR_ENCODING", ROLLOUT_ERR_ENCODING},
    {"ROLLOUT_ERR_LIMIT", ROLLOUT_ERR_LIMIT},
    {"ROLLOUT_ERR_EMPTY", ROLLOUT_ERR_EMPTY},
    {"ROLLOUT_ERR_TYPE", ROLLOUT_ERR_TYPE},
    {"ROLLOUT_ERR_UNKNOWN_KEY", ROLLOUT_ERR_UNKNOWN_KEY},
    {"ROLLOUT_ERR_MISSING", ROLLOUT_ERR_MISSING},
    {"ROLLOUT_ERR_VALUE", ROLLOUT_ERR_VALUE},
    {"ROLLOUT_ERR_RANGE", ROLLOUT_ERR_RANGE},
    {"ROLLOUT_ERR_ORDER", ROLLOUT_ERR_ORDER},
    {"ROLLOUT_ERR_DUPLICATE", ROLLOUT_ERR_DUPLICATE},
    {"ROLLOUT_ERR_REFERENCE", ROLLOUT_ERR_REFERENCE},
    {"ROLLOUT_ERR_PATTERN", ROLLOUT_ERR_PATTERN},
    {"ROLLOUT_ERR_BUFFER", ROLLOUT_ERR_BUFFER},
    {"ROLLOUT_ERR_NOT_FOUND", ROLLOUT_ERR_NOT_FOUND},
    {"ROLLOUT_ERR_STATE", ROLLOUT_ERR_STATE},
    {"ROLLOUT_ERR_STATE_PLAN", ROLLOUT_ERR_STATE_PLAN},
    {"ROLLOUT_ERR_TRANSITION", ROLLOUT_ERR_TRANSITION},
    {"ROLLOUT_ERR_METRICS", ROLLOUT_ERR_METRICS},
    {"ROLLOUT_ERR_UNSUPPORTED", ROLLOUT_ERR_UNSUPPORTED},
};

static int code_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < RP_COUNT(code_table); i++)
        if (strlen(code_table[i].name) == len && memcmp(code_table[i].name, name, len) == 0)
            return code_table[i].code;
    return -1;
}

/* The first line of an invalid plan, parsed:
 *   # expect: CODE LINE:COL FIELD: TEXT     (FIELD is "-" when there is none)
 * The message a person sees is then "FILE:LINE:COL: FIELD: TEXT", or
 * "FILE: TEXT" for errors without a position (LINE:COL 0:0). */
typedef struct expectation {
    int code;
    int line, col;
    char field[128];
    char text[512];
} expectation;

static void parse_expect(const char *file, const char *buf, size_t len, expectation *e)
{
    static const char prefix[] = "# expect: ";
    cr_assert(len > sizeof prefix && memcmp(buf, prefix, sizeof prefix - 1) == 0,
              "%s: the first line must start with \"# expect: \"", file);
    const char *p = buf + sizeof prefix - 1;
    const char *eol = memchr(p, '\n', len - (size_t)(p - buf));
    cr_assert(eol, "%s: the expect line has no end", file);
    const char *sp = memchr(p, ' ', (size_t)(eol - p));
    cr_assert(sp, "%s: no code in the expect line", file);
    e->code = code_from_name(p, (size_t)(sp - p));
    cr_assert(e->code > 0, "%s: unknown code %.*s", file, (int)(sp - p), p);
    p = sp + 1;
    char *end;
    e->line = (int)strtol(p, &end, 10);
    cr_assert(*end == ':', "%s: expected LINE:COL", file);
    e->col = (int)strtol(end + 1, &end, 10);
    cr_assert(*end == ' ', "%s: expected LINE:COL then a space", file);
    p = end + 1;
    e->field[0] = '\0';
    if (p[0] == '-' && p[1] == ' ') {
        p += 2;
    } else {
        const char *colon = NULL;
        for (const char *q = p; q + 1 < eol; q++)
            if (q[0] == ':' && q[1] == ' ') {
                colon = q;
                break;
            }
        cr_assert(colon, "%s: expected FIELD: TEXT (or - TEXT)", file);
        cr_assert((size_t)(colon - p) < sizeof e->field);
        memcpy(e->field, p, (size_t)(colon - p));
        e->field[colon - p] = '\0';
        p = colon + 2;
    }
    cr_assert((size_t)(eol - p) < sizeof e->text);
    memcpy(e->text, p, (size_t)(eol - p));
    e->text[eol - p] = '\0';
}

static void expected_message(const char *file, const expectation *e, char *out, size_t cap)
{
    char pos[64] = "";
    if (e->line > 0)
        snprintf(pos, sizeof pos, "%d:%d:", e->line, e->col);
    if (e->field[0])
        snprintf(out, cap, "%s:%s %s: %s", file, pos, e->field, e->text);
    else
        snprintf(out, cap, "%s:%s %s", file, pos, e->text);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Checks one failing load against an expectation; returns 1 when it matched. */
static int check_failure(const char *name, const expectation *e, int rc, const rollout_plan *p,
                         const rollout_error *err)
{
    char want[1024];
    expected_message(name, e, want, sizeof want);
    bool c1 = rc == e->code, c2 = p == NULL, c3 = err->code == rc, c4 = err->line == e->line,
         c5 = err->column == e->col, c6 = strcmp(err->field, e->field) == 0,
         c7 = strcmp(err->file, name) == 0, c8 = strcmp(err->message, want) == 0;
    cr_expect(c1, "%s: code %s, expected %s (%s)", name, rollout_code_name(rc),
              rollout_code_name(e->code), err->message);
    cr_expect(c2, "%s: *out must stay NULL on failure", name);
    cr_expect(c3, "%s: err.code %d != return %d", name, err->code, rc);
    cr_expect(c4, "%s: line %d, expected %d", name, err->line, e->line);
    cr_expect(c5, "%s: column %d, expected %d", name, err->column, e->col);
    cr_expect(c6, "%s: field \"%s\", expected \"%s\"", name, err->field, e->field);
    cr_expect(c7, "%s: err.file \"%s\"", name, err->file);
    cr_expect(c8, "%s:\n  got      %s\n  expected %s", name, err->message, want);
    return c1 && c2 && c3 && c4 && c5 && c6 && c7 && c8;
}

/* ---- the invalid plans ------------------------------------------------------ */

Test(invalid, every_file_fails_as_its_first_line_says, .timeout = 60)
{
    DIR *d = opendir(INVALID_DIR);
    cr_assert(d, "cannot open " INVALID_DIR);
    char *names[256];
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t l = strlen(ent->d_name);
        if (l > 5 && strcmp(ent->d_name + l - 5, ".yaml") == 0) {
            cr_assert(n < RP_COUNT(names));
            names[n++] = strdup(ent->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    cr_assert_geq(n, 35, "only %zu invalid plans", n);

    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, INVALID_DIR "/%s", names[i]);
        size_t len;
        char *buf = t_read_file(path, &len);
        expectation e;
        parse_expect(path, buf, len, &e);

        rollout_plan *p = (rollout_plan *)&e; /* must be overwritten with NULL */
        rollout_error err;
        memset(&err, 0x5a, sizeof err);
        double t0 = now_seconds();
        int rc = rollout_plan_load_file(path, &p, &err);
        double dt = now_seconds() - t0;
        int ok = check_failure(path, &e, rc, p, &err);
        cr_expect_lt(dt, 2.0, "%s: took %.2f s to reject", path, dt);
        if (rc == ROLLOUT_OK)
            rollout_plan_unref(p);

        /* the same bytes through the buffer entry point, under another name */
        p = (rollout_plan *)&e;
        memset(&err, 0x5a, sizeof err);
        rc = rollout_plan_load_buffer(buf, len, names[i], &p, &err);
        ok &= check_failure(names[i], &e, rc, p, &err);
        if (rc == ROLLOUT_OK)
            rollout_plan_unref(p);

        /* and without an error struct: same code, nothing else to fill */
        p = (rollout_plan *)&e;
        cr_expect_eq(rollout_plan_load_buffer(buf, len, names[i], &p, NULL), e.code, "%s",
                     path);
        cr_expect_null(p);
        matched += (size_t)ok;
        free(buf);
        free(names[i]);
    }
    cr_expect_eq(matched, n, "%zu of %zu invalid plans failed as expected", matched, n);
}

/* The categories issue 2 asks for each have at least one file. */
Test(invalid, the_required_categories_are_covered)
{
    static const char *const required[] = {
        "syntax-indent-deeper", "syntax-indent-shallower", "syntax-unclosed-quote",
        "syntax-unclosed-bracket", "syntax-tab", "syntax-second-document",
        "syntax-comments-only", "encoding-latin1", "encoding-nul", "limit-alias-bomb",
        "limit-deep-nesting", "unknown-key-top", "unknown-key-step", "unknown-key-gate",
        "unknown-key-rule", "type-list-for-mapping", "type-mapping-for-scalar",
        "type-scalar-for-list", "missing-format", "missing-salt", "missing-unit",
        "missing-approvers", "duration-bad-unit", "time-bad-month", "time-feb-30",
        "time-no-zone", "time-garbage", "weight-decreasing", "weight-over-100",
        "weight-no-percent", "weight-too-many-decimals", "step-out-of-order",
        "gate-before-step", "phase-before-gate", "ref-cohort", "ref-criteria-set",
        "ref-role", "ref-smoke-test", "ref-comm-phase", "ref-comm-gate", "dup-phase",
        "dup-cohort", "dup-gate", "dup-role", "dup-key", "pattern-unmatched-paren",
        "bad-unit", "bad-on-no-go", "format-unsupported"};
    for (size_t i = 0; i < RP_COUNT(required); i++) {
        char path[256];
        snprintf(path, sizeof path, INVALID_DIR "/%s.yaml", required[i]);
        cr_expect(access(path, R_OK) == 0, "missing %s", path);
    }
}

/* ---- hostile or odd inputs made here rather than committed -------------------- */

static void expect_buffer_error(const char *yaml, size_t len, int code, int line, int col,
                                const char *field, const char *message)
{
    rollout_plan *p = (rollout_plan *)&len;
    rollout_error err;
    memset(&err, 0x5a, sizeof err);
    int rc = rollout_plan_load_buffer(yaml, len, "gen.yaml", &p, &err);
    cr_expect_eq(rc, code, "code %s, expected %s: %s", rollout_code_name(rc),
                 rollout_code_name(code), err.message);
    cr_expect_null(p);
    cr_expect_eq(err.code, code);
    cr_expect_eq(err.line, line, "line %d, expected %d (%s)", err.line, line, err.message);
    cr_expect_eq(err.column, col, "column %d, expected %d (%s)", err.column, col, err.message);
    cr_expect_str_eq(err.field, field);
    cr_expect_str_eq(err.message, message);
    if (rc == ROLLOUT_OK)
        rollout_plan_unref(p);
}

static char *temp_path(const char *tag)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/rollout-test-%ld-%s.yaml",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), tag);
    return path;
}

Test(generated, empty_file)
{
    char *path = temp_path("empty");
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fclose(f);
    rollout_plan *p = (rollout_plan *)path;
    rollout_error err;
    int rc = rollout_plan_load_file(path, &p, &err);
    char want[512];
    snprintf(want, sizeof want, "%s: the plan is empty (a plan starts with \"format: 1\")", path);
    unlink(path);
    cr_expect_eq(rc, ROLLOUT_ERR_EMPTY);
    cr_expect_null(p);
    cr_expect_eq(err.line, 0);
    cr_expect_eq(err.column, 0);
    cr_expect_str_eq(err.field, "");
    cr_expect_str_eq(err.message, want);
}

Test(generated, empty_buffers)
{
    static const char *const empties[] = {"", "\n\n", "# only a comment\n", "---\n", "---\n...\n",
                                          "~", "  \n# x\n   \n"};
    for (size_t i = 0; i < RP_COUNT(empties); i++) {
        const char *s = empties[i];
        /* "~" is YAML's null: a document holding nothing */
        if (strcmp(s, "~") == 0) {
            expect_buffer_error(s, strlen(s), ROLLOUT_ERR_TYPE, 1, 1, "",
                                "gen.yaml:1:1: expected a mapping, got a scalar");
            continue;
        }
        expect_buffer_error(s, strlen(s), ROLLOUT_ERR_EMPTY, 0, 0, "",
                            "gen.yaml: the plan is empty (a plan starts with \"format: 1\")");
    }
    /* a NULL buffer of length 0 is an empty plan, not a crash */
    rollout_plan *p = (rollout_plan *)empties;
    rollout_error err;
    cr_expect_eq(rollout_plan_load_buffer(NULL, 0, NULL, &p, &err), ROLLOUT_ERR_EMPTY);
    cr_expect_null(p);
    cr_expect_str_eq(err.message, "<buffer>: the plan is empty (a plan starts with \"format: 1\")");
}

/* The seed, padded with a comment to exactly n bytes. */
static char *padded_seed(size_t n)
{
    size_t len;
    char *seed = t_read_file(SEED_PATH, &len);
    cr_assert(len + 3 < n);
    char *buf = malloc(n);
    cr_assert(buf);
    memcpy(buf, seed, len);
    buf[len] = '#';
    memset(buf + len + 1, 'x', n - len - 2);
    buf[n - 1] = '\n';
    free(seed);
    return buf;
}

Test(generated, oversized_file, .timeout = 30)
{
    const size_t cap = 16u << 20;
    cr_assert_eq(ROLLOUT_MAX_PLAN_BYTES, 16777216u);
    char *path = temp_path("big");

    /* exactly at the cap: loads */
    char *buf = padded_seed(cap);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(buf, 1, cap, f), cap);
    fclose(f);
    rollout_plan *p = NULL;
    rollout_error err;
    int rc = rollout_plan_load_file(path, &p, &err);
    cr_expect_eq(rc, ROLLOUT_OK, "%s", err.message);
    cr_expect_str_eq(rollout_plan_id(p), "ledger-v2");
    rollout_plan_unref(p);
    rc = rollout_plan_load_buffer(buf, cap, "big.yaml", &p, &err);
    cr_expect_eq(rc, ROLLOUT_OK, "%s", err.message);
    rollout_plan_unref(p);
    free(buf);

    /* one byte more: refused before parsing */
    buf = padded_seed(cap + 1);
    f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(buf, 1, cap + 1, f), cap + 1);
    fclose(f);
    p = (rollout_plan *)path;
    rc = rollout_plan_load_file(path, &p, &err);
    char want[512];
    snprintf(want, sizeof want, "%s: the plan is larger than 16777216 bytes", path);
    unlink(path);
    cr_expect_eq(rc, ROLLOUT_ERR_LIMIT);
    cr_expect_null(p);
    cr_expect_eq(err.line, 0);
    cr_expect_str_eq(err.message, want);

    expect_buffer_error(buf, cap + 1, ROLLOUT_ERR_LIMIT, 0, 0, "",
                        "gen.yaml: the plan is 16777217 bytes; the limit is 16777216");
    free(buf);
}

Test(generated, bad_utf8_sequences)
{
    /* overlong "/", a UTF-16 surrogate, a code point above U+10FFFF, a lone
     * continuation byte, a sequence cut short by the end of the file */
    expect_buffer_error("format: 1\nid: \xC0\xAF\n", 16, ROLLOUT_ERR_ENCODING, 2, 5, "",
                        "gen.yaml:2:5: byte 0xC0 is not valid UTF-8 (plans are UTF-8 text)");
    expect_buffer_error("format: 1\ndescription: a\xED\xA0\x80z\n", 30, ROLLOUT_ERR_ENCODING, 2,
                        15, "",
                        "gen.yaml:2:15: byte 0xED is not valid UTF-8 (plans are UTF-8 text)");
    expect_buffer_error("x: \xF4\x90\x80\x80\n", 8, ROLLOUT_ERR_ENCODING, 1, 4, "",
                        "gen.yaml:1:4: byte 0xF4 is not valid UTF-8 (plans are UTF-8 text)");
    expect_buffer_error("x: ab\x80\n", 7, ROLLOUT_ERR_ENCODING, 1, 6, "",
                        "gen.yaml:1:6: byte 0x80 is not valid UTF-8 (plans are UTF-8 text)");
    expect_buffer_error("x: \xE2\x82", 5, ROLLOUT_ERR_ENCODING, 1, 4, "",
                        "gen.yaml:1:4: byte 0xE2 is not valid UTF-8 (plans are UTF-8 text)");
    /* columns count characters, not bytes: "é" and "€" are one column each */
    expect_buffer_error("d: \xC3\xA9\xE2\x82\xAC\xFF\n", 10, ROLLOUT_ERR_ENCODING, 1, 6, "",
                        "gen.yaml:1:6: byte 0xFF is not valid UTF-8 (plans are UTF-8 text)");
    /* a NUL on the third line */
    expect_buffer_error("format: 1\nid: a\nsalt: x\0y\n", 24, ROLLOUT_ERR_ENCODING, 3, 8, "",
                        "gen.yaml:3:8: NUL byte in the file (plans are UTF-8 text)");
}

Test(generated, nul_through_a_yaml_escape)
{
    /* the file has no NUL byte, but "\0" in a double-quoted scalar makes one */
    const char *yaml = "format: 1\nid: mini\nsalt: \"ab\\0cd\"\n";
    expect_buffer_error(yaml, strlen(yaml), ROLLOUT_ERR_VALUE, 3, 7, "salt",
                        "gen.yaml:3:7: salt: text must not contain NUL characters");
}

Test(generated, columns_count_characters_after_multibyte_text)
{
    /* "é" is two bytes but one column:
     *   versions: {stable: "é", nxt: v2}
     *   1        10        20    25      -> "nxt" starts in column 25 */
    const char *yaml = "format: 1\nid: m\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
                       "versions: {stable: \"\xC3\xA9\", nxt: v2}\n";
    expect_buffer_error(yaml, strlen(yaml), ROLLOUT_ERR_UNKNOWN_KEY, 5, 25, "versions.nxt",
                        "gen.yaml:5:25: versions.nxt: unknown key \"nxt\" (expected one of: "
                        "stable, new)");
}

Test(generated, alias_bomb_with_wide_levels_is_rejected_quickly, .timeout = 10)
{
    /* 20 levels of 2 aliases each: 2^20 leaves, small file, no expansion */
    char yaml[4096];
    size_t off = (size_t)snprintf(yaml, sizeof yaml, "format: 1\nl0: &l0 [x, x]\n");
    for (int i = 1; i <= 20; i++)
        off += (size_t)snprintf(yaml + off, sizeof yaml - off, "l%d: &l%d [*l%d, *l%d]\n", i, i,
                                i - 1, i - 1);
    rollout_plan *p = (rollout_plan *)yaml;
    rollout_error err;
    double t0 = now_seconds();
    int rc = rollout_plan_load_buffer(yaml, off, "bomb.yaml", &p, &err);
    double dt = now_seconds() - t0;
    cr_expect_eq(rc, ROLLOUT_ERR_LIMIT, "%s", err.message);
    cr_expect_null(p);
    cr_expect_lt(dt, 1.0, "took %.3f s", dt);
    /* l0 expands to 3 nodes and li to 2 * l(i-1) + 1 = 2^(i+2) - 1. Before the
     * items of lk come "format: 1" (2), each earlier key with its list
     * (2^(j+2) each) and lk's key: 2^(k+2) - 1 nodes. For k = 16 that is 262143;
     * the first *l15 (131071) makes 393214, the second would pass 500000. So:
     * line 18 ("l16: &l16 [*l15, *l15]"), column 18 (the second "*l15"). */
    cr_expect_eq(err.line, 18, "%s", err.message);
    cr_expect_eq(err.column, 18, "%s", err.message);
    cr_expect_str_eq(err.message,
                     "bomb.yaml:18:18: document expands to more than 500000 nodes (alias bomb?)");
}

Test(generated, alias_to_an_enclosing_node_is_refused)
{
    const char *yaml = "format: 1\na: &x [1, *x]\n";
    expect_buffer_error(yaml, strlen(yaml), ROLLOUT_ERR_SYNTAX, 2, 11, "",
                        "gen.yaml:2:11: alias *x refers to a node that contains it");
    const char *yaml2 = "format: 1\na: *nothing\n";
    expect_buffer_error(yaml2, strlen(yaml2), ROLLOUT_ERR_SYNTAX, 2, 4, "",
                        "gen.yaml:2:4: unknown alias *nothing");
}

static size_t nested(char *buf, size_t cap, int depth)
{
    size_t off = (size_t)snprintf(buf, cap, "format: 1\nx: ");
    cr_assert(off + 2 * (size_t)depth + 2 < cap);
    memset(buf + off, '[', (size_t)depth);
    off += (size_t)depth;
    memset(buf + off, ']', (size_t)depth);
    off += (size_t)depth;
    buf[off++] = '\n';
    buf[off] = '\0';
    return off;
}

Test(generated, nesting_at_the_limit_is_fine_one_more_is_not)
{
    char yaml[512];
    /* the root mapping is level 1; 63 brackets make 64 levels: the YAML is
     * accepted and the unknown top-level key "x" is what is wrong */
    size_t n = nested(yaml, sizeof yaml, 63);
    rollout_plan *p = NULL;
    rollout_error err;
    cr_expect_eq(rollout_plan_load_buffer(yaml, n, "gen.yaml", &p, &err),
                 ROLLOUT_ERR_UNKNOWN_KEY, "%s", err.message);
    cr_expect_eq(err.line, 2);
    cr_expect_eq(err.column, 1);
    /* "x: " is 3 columns, so bracket 64 is in column 67 */
    n = nested(yaml, sizeof yaml, 64);
    expect_buffer_error(yaml, n, ROLLOUT_ERR_LIMIT, 2, 67, "",
                        "gen.yaml:2:67: nesting deeper than 64 levels");
}

/* ---- the seed ------------------------------------------------------------------- */

#define H 3600
#define D 86400

Test(seed, identity)
{
    rollout_plan *p = t_seed();
    cr_expect_str_eq(p->id, "ledger-v2");
    cr_expect_str_eq(p->description, "Rollout Plan — Canary to Full Production");
    cr_expect_str_eq(p->salt, "ledger-v2-2026-02");
    cr_expect_eq(p->salt_len, 17);
    /* 2026-02-28T09:00:00Z: 56 years from 1970 with 14 leap days = 20454 days to
     * 2026-01-01, + 31 (Jan) + 27 = day 20512; 20512 * 86400 + 9 * 3600 */
    cr_expect_eq(p->start, INT64_C(1772269200));
    cr_expect_str_eq(p->labels[0], "app:previous");
    cr_expect_str_eq(p->labels[1], "app:candidate");
    cr_expect_str_eq(p->name, SEED_PATH);
    cr_expect_neq(p->fingerprint, 0);
    rollout_plan_unref(p);
}

Test(seed, roles)
{
    static const char *const ids[] = {"engineering-lead", "product-lead", "sre-lead",
                                      "engineering",      "product",      "sre",
                                      "on-call-sre",      "support",      "comms"};
    static const char *const names[] = {"Engineering lead", "Product lead", "SRE lead",
                                        "Engineering",      "Product",      "SRE",
                                        "On-call SRE",      "Support",      "Comms"};
    rollout_plan *p = t_seed();
    cr_assert_eq(p->n_roles, 9);
    for (int i = 0; i < 9; i++) {
        cr_expect_str_eq(p->roles[i].id, ids[i]);
        cr_expect_str_eq(p->roles[i].name, names[i]);
    }
    cr_expect_eq(rp_role_index(p, "sre"), 5);
    cr_expect_eq(rp_role_index(p, "qa"), -1);
    rollout_plan_unref(p);
}

Test(seed, cohorts_and_phases)
{
    rollout_plan *p = t_seed();
    cr_assert_eq(p->n_cohorts, 3);
    cr_expect_str_eq(p->cohorts[0].id, "internal");
    cr_expect_str_eq(p->cohorts[0].description,
                     "Product, engineering and super-users (< 20 users)");
    cr_expect_str_eq(p->cohorts[1].id, "pilot");
    cr_expect_str_eq(p->cohorts[1].description,
                     "1–2 volunteer customer organizations (< 500 users per org)");
    cr_expect_str_eq(p->cohorts[2].id, "everyone");
    for (int i = 0; i < 3; i++)
        cr_expect_not_null(p->cohorts[i].match);

    cr_assert_eq(p->n_phases, 3);
    static const char *const ids[] = {"canary", "pilot", "ga"};
    static const int cohort[] = {0, 1, 2}, first[] = {0, 1, 5}, n_steps[] = {1, 4, 3};
    static const size_t n_mon[] = {3, 5, 3};
    for (int i = 0; i < 3; i++) {
        cr_expect_str_eq(p->phases[i].id, ids[i]);
        cr_expect_eq(p->phases[i].cohort, cohort[i]);
        cr_expect_eq(p->phases[i].first_step, first[i]);
        cr_expect_eq(p->phases[i].n_steps, n_steps[i]);
        cr_expect_eq(p->phases[i].n_monitoring, n_mon[i]);
        cr_expect_eq(p->cohort_last_phase[i], i);
    }
    cr_expect_str_eq(p->phases[0].description,
                     "Internal canary (hours 0–2): super-users and internal staff test the system");
    cr_expect_str_eq(p->phases[0].monitoring[0], "error rate");
    cr_expect_str_eq(p->phases[0].monitoring[2], "database queries");
    cr_expect_str_eq(p->phases[1].monitoring[3], "Scheduled job backlog (Celery)");
    cr_expect_str_eq(p->phases[2].monitoring[2],
                     "Financial data consistency checks (entry balances, report totals)");
    rollout_plan_unref(p);
}

Test(seed, steps)
{
    rollout_plan *p = t_seed();
    static const struct {
        int phase, index;
        int64_t at;
        uint32_t weight;
        int unit, gate;
    } want[] = {
        {0, 0, 0, 100000, ROLLOUT_UNIT_SESSION, 0},
        {1, 0, 4 * H, 10000, ROLLOUT_UNIT_USER, -1},
        {1, 1, 6 * H, 25000, ROLLOUT_UNIT_USER, -1},
        {1, 2, 12 * H, 50000, ROLLOUT_UNIT_USER, -1},
        {1, 3, 24 * H, 100000, ROLLOUT_UNIT_USER, 1},
        {2, 0, 2 * D, 25000, ROLLOUT_UNIT_ORG, 2},
        {2, 1, 3 * D, 50000, ROLLOUT_UNIT_ORG, 3},
        {2, 2, 4 * D, 100000, ROLLOUT_UNIT_ORG, 4},
    };
    cr_assert_eq(p->n_steps, 8);
    for (int i = 0; i < 8; i++) {
        const rp_step *s = &p->steps[i];
        cr_expect_eq(s->phase, want[i].phase, "step %d", i);
        cr_expect_eq(s->index, want[i].index, "step %d", i);
        cr_expect_eq(s->at, want[i].at, "step %d at %lld", i, (long long)s->at);
        cr_expect_eq(s->weight, want[i].weight, "step %d weight %u", i, s->weight);
        cr_expect_eq(s->unit, want[i].unit, "step %d", i);
        cr_expect_eq(s->gate, want[i].gate, "step %d", i);
    }
    rollout_plan_unref(p);
}

Test(seed, gates)
{
    rollout_plan *p = t_seed();
    /* roles: 0 engineering-lead, 1 product-lead, 2 sre-lead, 4 product, 5 sre;
     * criteria sets: 0 canary, 1 pilot, 2 ga, 3 post-rollout */
    static const struct {
        const char *id;
        int phase, step;
        int64_t at;
        uint32_t approvers;
        int criteria, on_no_go;
    } want[] = {
        {"canary-go", 0, 0, 2 * H, 0x03, 0, RP_NO_GO_ROLLBACK},
        {"pilot-go", 1, 4, 24 * H, 0x06, 1, RP_NO_GO_ROLLBACK},
        {"ga-day2-go", 2, 5, 3 * D, 0x30, 2, RP_NO_GO_HOLD},
        {"ga-day3-go", 2, 6, 4 * D, 0x30, 2, RP_NO_GO_HOLD},
        {"ga-day4-go", 2, 7, 5 * D, 0x30, 2, RP_NO_GO_HOLD},
    };
    cr_assert_eq(p->n_gates, 5);
    for (int i = 0; i < 5; i++) {
        const rp_gate *g = &p->gates[i];
        cr_expect_str_eq(g->id, want[i].id);
        cr_expect_eq(g->phase, want[i].phase, "%s", g->id);
        cr_expect_eq(g->step, want[i].step, "%s", g->id);
        cr_expect_eq(g->at, want[i].at, "%s", g->id);
        cr_expect_eq(g->approvers, want[i].approvers, "%s approvers %#x", g->id, g->approvers);
        cr_expect_eq(g->criteria, want[i].criteria, "%s", g->id);
        cr_expect_eq(g->on_no_go, want[i].on_no_go, "%s", g->id);
    }
    rollout_plan_unref(p);
}

Test(seed, criteria_sets_and_smoke_tests)
{
    rollout_plan *p = t_seed();
    cr_assert_eq(p->n_criteria, 4);
    static const char *const ids[] = {"canary", "pilot", "ga", "post-rollout"};
    static const size_t counts[] = {6, 7, 9, 8};
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(p->criteria[i].id, ids[i]);
        cr_expect_eq(p->criteria[i].n, counts[i], "%s has %zu", ids[i], p->criteria[i].n);
        /* the seed's quick-rollback triggers: an uncontrollable error rate in every set */
        const struct rp_criterion *last = &p->criteria[i].items[p->criteria[i].n - 1];
        cr_expect_str_eq(last->id, "error-rate-runaway", "%s", ids[i]);
        cr_expect(last->rollback, "%s", ids[i]);
        cr_expect_eq(last->rollback_reason, ROLLOUT_ROLLBACK_ERROR_RATE, "%s", ids[i]);
    }
    /* critical bug and data corruption, by the criteria that stand for them */
    cr_expect_eq(p->criteria[0].items[0].rollback_reason, ROLLOUT_ROLLBACK_CRITICAL_BUG);
    cr_expect_eq(p->criteria[1].items[3].rollback_reason, ROLLOUT_ROLLBACK_DATA_CORRUPTION);
    cr_expect_eq(p->criteria[2].items[4].rollback_reason, ROLLOUT_ROLLBACK_DATA_CORRUPTION);
    /* ... in every phase and in the 7-day check ("Quick Rollback (any phase)") */
    static const struct { int set, item, reason; } any_phase[] = {
        {0, 4, ROLLOUT_ROLLBACK_DATA_CORRUPTION}, {1, 5, ROLLOUT_ROLLBACK_CRITICAL_BUG},
        {2, 5, ROLLOUT_ROLLBACK_CRITICAL_BUG},    {2, 6, ROLLOUT_ROLLBACK_DATA_CORRUPTION},
        {3, 4, ROLLOUT_ROLLBACK_DATA_CORRUPTION}, {3, 6, ROLLOUT_ROLLBACK_CRITICAL_BUG}};
    for (size_t i = 0; i < sizeof any_phase / sizeof any_phase[0]; i++)
        cr_expect_eq(p->criteria[any_phase[i].set].items[any_phase[i].item].rollback_reason,
                     any_phase[i].reason, "set %d item %d", any_phase[i].set, any_phase[i].item);
    cr_expect_eq(rp_criteria_index(p, "ga"), 2);
    cr_expect_eq(rp_criteria_index(p, "gamma"), -1);

    static const char *const smoke_ids[] = {"login-logout", "journal-entry", "trial-balance",
                                            "user-create-delete", "user-profile", "help-panel",
                                            "error-handling"};
    static const char *const smoke_names[] = {
        "Login/logout works", "Create a journal entry", "Generate a trial balance report",
        "Create and delete a user", "View user profile", "Help panel renders on multiple pages",
        "In-app error handling graceful"};
    cr_assert_eq(p->n_smoke, 7);
    for (int i = 0; i < 7; i++) {
        cr_expect_str_eq(p->smoke[i].id, smoke_ids[i]);
        cr_expect_str_eq(p->smoke[i].name, smoke_names[i]);
    }
    cr_expect_eq(rp_smoke_index(p, "help-panel"), 5);

    cr_expect_eq(p->bake.duration, 7 * D);
    cr_expect_eq(p->bake.criteria, 3);
    cr_expect_str_eq(p->bake.description, "Track success metrics for 7 days; compare against "
                                          "targets for the launch retrospective");
    cr_expect_eq(p->n_windows, 0);
    cr_expect_eq(p->n_freezes, 0);
    rollout_plan_unref(p);
}

Test(seed, rollback)
{
    rollout_plan *p = t_seed();
    const rp_rollback *rb = &p->rollback;
    /* manual, critical_bug, data_corruption, error_rate */
    cr_expect_eq(rb->triggers, (1u << ROLLOUT_ROLLBACK_MANUAL) |
                                   (1u << ROLLOUT_ROLLBACK_CRITICAL_BUG) |
                                   (1u << ROLLOUT_ROLLBACK_DATA_CORRUPTION) |
                                   (1u << ROLLOUT_ROLLBACK_ERROR_RATE));
    cr_expect_eq(rb->deadline, 30 * 60);
    cr_expect_eq(rb->postmortem_within, 24 * H);
    static const struct { const char *id; int action; uint32_t roles; const char *desc; } want[] = {
        {"page", RP_RB_PAGE, (1u << 6) | (1u << 4), "Page on-call SRE + Product"},
        {"halt", RP_RB_HALT_TRAFFIC, 0,
         "Halt traffic to new version (kill canary, revert traffic split)"},
        {"restore", RP_RB_RESTORE_PREVIOUS, 0,
         "Restart previous approved version from container registry"},
        {"smoke", RP_RB_RUN_SMOKE_TESTS, 0, "Run smoke tests on previous version"},
        {"resume", RP_RB_RESUME_SERVICE, 0, "Resume service"},
        {"incident", RP_RB_OPEN_INCIDENT, 0, "Document what went wrong; open incident ticket"},
        {"postmortem", RP_RB_POSTMORTEM, 0, "Post-mortem within 24 hours"},
    };
    cr_assert_eq(rb->n_steps, 7);
    for (size_t i = 0; i < 7; i++) {
        cr_expect_str_eq(rb->steps[i].id, want[i].id);
        cr_expect_eq(rb->steps[i].action, want[i].action, "%s", want[i].id);
        cr_expect_eq(rb->steps[i].roles, want[i].roles, "%s", want[i].id);
        cr_expect_str_eq(rb->steps[i].description, want[i].desc);
    }
    cr_expect_str_eq(rp_rollback_action_name(RP_RB_RESTORE_PREVIOUS), "restore_previous");
    cr_expect_str_eq(rp_rollback_action_name(RP_RB_COUNT), "?");
    cr_expect_str_eq(rb->commands,
                     "docker compose stop app\n"
                     "docker compose pull  # (gets previous tag)\n"
                     "docker compose up -d\n"
                     "docker compose exec app python src/manage.py migrate  # if DB needs "
                     "downgrade (risky)\n");
    cr_expect_str_eq(rb->notes, "DB rollback is only safe if performed immediately; after "
                                "that, restore from backup.");
    rollout_plan_unref(p);
}

Test(seed, communications)
{
    rollout_plan *p = t_seed();
    /* roles: 3 engineering, 4 product, 7 support, 8 comms */
    static const struct {
        const char *id;
        int event, phase;
        uint32_t weight;
        int gate;
        const char *message, *channel, *audience;
        uint32_t owners;
    } want[] = {
        {"canary-start", RP_COMM_PHASE_START, 0, 0, -1, "Slack notification to team", "slack",
         "team", 1u << 3},
        {"pilot-start", RP_COMM_PHASE_START, 1, 0, -1, "Email to pilot orgs + in-app banner",
         "email+in-app-banner", "pilot-orgs", 1u << 4},
        {"pilot-100", RP_COMM_STEP, 1, 100000, -1, "Email to pilot orgs", "email", "pilot-orgs",
         1u << 4},
        {"ga-start", RP_COMM_PHASE_START, 2, 0, -1,
         "Email to all customers + marketing announcement", "email+marketing", "all-customers",
         1u << 4},
        {"escalation", RP_COMM_ESCALATION, -1, 0, -1, "Support ticket + Slack to on-call",
         "support-ticket+slack", "on-call", 1u << 7},
        {"rollback", RP_COMM_ROLLBACK, -1, 0, -1, "Emergency notification to all affected users",
         "emergency", "affected-users", (1u << 4) | (1u << 8)},
    };
    cr_assert_eq(p->n_comms, 6);
    for (int i = 0; i < 6; i++) {
        const rp_comm *c = &p->comms[i];
        cr_expect_str_eq(c->id, want[i].id);
        cr_expect_eq(c->event, want[i].event, "%s", c->id);
        cr_expect_eq(c->phase, want[i].phase, "%s", c->id);
        cr_expect_eq(c->weight, want[i].weight, "%s", c->id);
        cr_expect_eq(c->gate, want[i].gate, "%s", c->id);
        cr_expect_str_eq(c->message, want[i].message);
        cr_expect_str_eq(c->channel, want[i].channel);
        cr_expect_str_eq(c->audience, want[i].audience);
        cr_expect_eq(c->owners, want[i].owners, "%s owners %#x", c->id, c->owners);
    }
    cr_expect_str_eq(rp_comm_event_name(RP_COMM_PHASE_START), "phase_start");
    cr_expect_str_eq(rp_comm_event_name(-1), "?");
    rollout_plan_unref(p);
}

Test(seed, embedded_copy_is_the_file_byte_for_byte)
{
    size_t file_len, len = 0;
    char *file = t_read_file(SEED_PATH, &file_len);
    const char *seed = rollout_seed_plan(&len);
    cr_assert_not_null(seed);
    cr_expect_eq(len, file_len);
    cr_expect(memcmp(seed, file, file_len) == 0);
    cr_expect_eq(seed[len], '\0', "the embedded seed is NUL-terminated");
    cr_expect_eq(rollout_seed_plan(NULL), seed, "len may be NULL");
    free(file);

    rollout_plan *a = t_seed(), *b = NULL;
    rollout_error err;
    cr_assert_eq(rollout_plan_load_buffer(seed, len, "<seed>", &b, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_expect_eq(rollout_plan_fingerprint(a), rollout_plan_fingerprint(b));
    cr_expect_str_eq(b->name, "<seed>");
    rollout_plan_unref(a);
    rollout_plan_unref(b);
}

/* ---- lifetime and the public accessors ----------------------------------------------- */

Test(lifetime, ref_and_unref)
{
    rollout_plan *p = t_seed();
    cr_expect_eq(__atomic_load_n(&p->refs, __ATOMIC_SEQ_CST), 1);
    cr_expect_eq(rollout_plan_ref(p), p);
    cr_expect_eq(rollout_plan_ref(p), p);
    cr_expect_eq(__atomic_load_n(&p->refs, __ATOMIC_SEQ_CST), 3);
    rollout_plan_unref(p);
    rollout_plan_unref(p);
    cr_expect_eq(__atomic_load_n(&p->refs, __ATOMIC_SEQ_CST), 1);
    /* still usable with the last reference */
    cr_expect_str_eq(rollout_plan_id(p), "ledger-v2");
    rollout_plan_unref(p); /* frees; ASan reports a leak or a double free otherwise */
    cr_expect_null(rollout_plan_ref(NULL));
    rollout_plan_unref(NULL);
}

Test(accessors, seed_facts)
{
    rollout_plan *p = t_seed();
    cr_expect_str_eq(rollout_plan_id(p), "ledger-v2");
    cr_expect_eq(rollout_plan_start(p), INT64_C(1772269200));
    cr_expect_str_eq(rollout_plan_version_label(p, 0), "app:previous");
    cr_expect_str_eq(rollout_plan_version_label(p, 1), "app:candidate");
    cr_expect_null(rollout_plan_version_label(p, 2));
    cr_expect_null(rollout_plan_version_label(p, -1));

    cr_expect_eq(rollout_plan_phase_count(p), 3);
    cr_expect_str_eq(rollout_plan_phase_name(p, 0), "canary");
    cr_expect_str_eq(rollout_plan_phase_name(p, 1), "pilot");
    cr_expect_str_eq(rollout_plan_phase_name(p, 2), "ga");
    cr_expect_null(rollout_plan_phase_name(p, 3));
    cr_expect_null(rollout_plan_phase_name(p, -1));
    cr_expect_eq(rollout_plan_phase_index(p, "canary"), 0);
    cr_expect_eq(rollout_plan_phase_index(p, "ga"), 2);
    cr_expect_eq(rollout_plan_phase_index(p, "GA"), -1);
    cr_expect_eq(rollout_plan_phase_index(p, ""), -1);
    cr_expect_eq(rollout_plan_phase_index(p, NULL), -1);

    cr_expect_eq(rollout_plan_cohort_count(p), 3);
    cr_expect_str_eq(rollout_plan_cohort_name(p, 0), "internal");
    cr_expect_str_eq(rollout_plan_cohort_name(p, 2), "everyone");
    cr_expect_null(rollout_plan_cohort_name(p, 3));
    cr_expect_null(rollout_plan_cohort_name(p, -1));

    cr_expect_eq(rollout_plan_gate_count(p), 5);
    cr_expect_str_eq(rollout_plan_gate_name(p, 0), "canary-go");
    cr_expect_str_eq(rollout_plan_gate_name(p, 1), "pilot-go");
    cr_expect_str_eq(rollout_plan_gate_name(p, 4), "ga-day4-go");
    cr_expect_null(rollout_plan_gate_name(p, 5));
    cr_expect_null(rollout_plan_gate_name(p, -1));
    cr_expect_neq(rollout_plan_fingerprint(p), 0);
    rollout_plan_unref(p);
}

Test(accessors, null_plan)
{
    cr_expect_null(rollout_plan_id(NULL));
    cr_expect_eq(rollout_plan_start(NULL), 0);
    cr_expect_null(rollout_plan_version_label(NULL, 0));
    cr_expect_eq(rollout_plan_fingerprint(NULL), 0);
    cr_expect_eq(rollout_plan_phase_count(NULL), 0);
    cr_expect_null(rollout_plan_phase_name(NULL, 0));
    cr_expect_eq(rollout_plan_phase_index(NULL, "canary"), -1);
    cr_expect_eq(rollout_plan_cohort_count(NULL), 0);
    cr_expect_null(rollout_plan_cohort_name(NULL, 0));
    cr_expect_eq(rollout_plan_gate_count(NULL), 0);
    cr_expect_null(rollout_plan_gate_name(NULL, 0));
}

Test(accessors, version_and_names)
{
    cr_expect_str_eq(rollout_version(), "0.1.0");
    cr_expect_eq(rollout_version_number(), 100);
    cr_expect_eq(ROLLOUT_VERSION_NUMBER, 100);
    for (size_t i = 0; i < RP_COUNT(code_table); i++)
        cr_expect_str_eq(rollout_code_name(code_table[i].code), code_table[i].name);
    cr_expect_str_eq(rollout_code_name(-1), "ROLLOUT_ERR_?");
    cr_expect_str_eq(rollout_code_name(ROLLOUT_ERR_UNSUPPORTED + 1), "ROLLOUT_ERR_?");
    cr_expect_str_eq(rollout_rollback_reason_name(ROLLOUT_ROLLBACK_MANUAL), "manual");
    cr_expect_str_eq(rollout_rollback_reason_name(ROLLOUT_ROLLBACK_EVALUATION), "evaluation");
    cr_expect_str_eq(rollout_rollback_reason_name(ROLLOUT_ROLLBACK_COUNT), "?");
    cr_expect_str_eq(rollout_rollback_reason_name(-1), "?");
}

/* ---- bad arguments to the loader and the dump ------------------------------------------ */

Test(arguments, loader)
{
    rollout_plan *p = (rollout_plan *)&p;
    rollout_error err;
    const char *yaml = "format: 1\n";

    cr_expect_eq(rollout_plan_load_file(NULL, &p, &err), ROLLOUT_ERR_ARG);
    cr_expect_null(p);
    cr_expect_eq(err.code, ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message, "path must not be NULL");
    cr_expect_eq(rollout_plan_load_file(SEED_PATH, NULL, &err), ROLLOUT_ERR_ARG);
    cr_expect_str_eq(err.message, "out must not be NULL");
    cr_expect_eq(rollout_plan_load_file(NULL, NULL, NULL), ROLLOUT_ERR_ARG);

    p = (rollout_plan *)&p;
    cr_expect_eq(rollout_plan_load_buffer(NULL, 10, "x", &p, &err), ROLLOUT_ERR_ARG);
    cr_expect_null(p);
    cr_expect_str_eq(err.message, "yaml is NULL");
    cr_expect_eq(rollout_plan_load_buffer(yaml, 10, "x", NULL, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_plan_load_buffer(NULL, 0, NULL, NULL, NULL), ROLLOUT_ERR_ARG);

    /* a missing file: I/O, with the path and the system's reason */
    p = (rollout_plan *)&p;
    cr_expect_eq(rollout_plan_load_file("tests/plans/no-such-plan.yaml", &p, &err),
                 ROLLOUT_ERR_IO);
    cr_expect_null(p);
    cr_expect_eq(err.line, 0);
    cr_expect_str_eq(err.file, "tests/plans/no-such-plan.yaml");
    cr_expect_str_eq(err.message,
                     "tests/plans/no-such-plan.yaml: cannot open: No such file or directory");
    cr_expect_eq(rollout_plan_load_file("tests/plans/no-such-plan.yaml", &p, NULL),
                 ROLLOUT_ERR_IO);

    /* a directory opens but cannot be read */
    p = (rollout_plan *)&p;
    cr_expect_eq(rollout_plan_load_file("tests/plans", &p, &err), ROLLOUT_ERR_IO);
    cr_expect_null(p);
    cr_expect_str_eq(err.message, "tests/plans: cannot read: Is a directory");
}

Test(arguments, dump)
{
    rollout_plan *p = t_seed();
    char small[16];
    size_t needed = 0;
    cr_expect_eq(rollout_plan_dump(NULL, ROLLOUT_FORMAT_YAML, small, sizeof small, &needed),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_plan_dump(p, 2, small, sizeof small, &needed), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_plan_dump(p, -1, small, sizeof small, &needed), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 10, &needed), ROLLOUT_ERR_ARG);

    /* asking for the size */
    needed = 0;
    cr_expect_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &needed), ROLLOUT_ERR_BUFFER);
    cr_expect_gt(needed, 1000);
    size_t full = needed;
    /* a short buffer: truncated but terminated; the YAML starts "format: 1" */
    memset(small, 'z', sizeof small);
    cr_expect_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, small, sizeof small, &needed),
                 ROLLOUT_ERR_BUFFER);
    cr_expect_eq(needed, full);
    cr_expect_str_eq(small, "format: 1\nid: l");
    /* exactly the length is still one short (no room for the NUL) */
    char *buf = malloc(full + 1);
    cr_assert(buf);
    cr_expect_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, buf, full, NULL), ROLLOUT_ERR_BUFFER);
    cr_expect_eq(strlen(buf), full - 1);
    cr_expect_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, buf, full + 1, NULL), ROLLOUT_OK);
    cr_expect_eq(strlen(buf), full);
    free(buf);
    rollout_plan_unref(p);
}

/* ---- valid edge cases --------------------------------------------------------------- */

/* A minimal plan around a steps block and extra top-level text. */
static rollout_plan *mini(const char *start, const char *steps, const char *extra)
{
    char yaml[8192];
    snprintf(yaml, sizeof yaml,
             "format: 1\nid: mini\nsalt: s\nstart: %s\n"
             "versions: {stable: a, new: b}\n"
             "cohorts:\n  - id: all\n    match: {everyone: true}\n"
             "phases:\n  - id: only\n    cohort: all\n    steps:\n%s%s%s",
             start, steps, extra,
             strstr(extra, "rollback:") ? ""
                                        : "rollback: {deadline: 30m, procedure: [{id: restore, "
                                          "action: restore_previous}]}\n");
    return t_plan(yaml);
}

Test(valid, every_duration_form)
{
    rollout_plan *p = mini("2026-03-02T09:00:00Z",
                           "      - {at: 0, weight: 1%, unit: org}\n"
                           "      - {at: 30s, weight: 2%, unit: org}\n"
                           "      - {at: 90m, weight: 3%, unit: org}\n"
                           "      - {at: 4h, weight: 4%, unit: org}\n"
                           "      - {at: 1d12h, weight: 5%, unit: org}\n"
                           "      - {at: 2d, weight: 6%, unit: org}\n"
                           "      - {at: 2d3h4m5s, weight: 7%, unit: org}\n"
                           "      - {at: 10d, weight: 8%, unit: org}\n",
                           "");
    static const int64_t at[] = {0, 30, 5400, 14400, 129600, 172800, 183845, 864000};
    cr_assert_eq(p->n_steps, 8);
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(p->steps[i].at, at[i], "step %d: %lld", i, (long long)p->steps[i].at);
        cr_expect_eq(p->steps[i].weight, (uint32_t)(i + 1) * 1000);
    }
    rollout_plan_unref(p);
}

Test(valid, weights_with_decimals)
{
    rollout_plan *p = mini("2026-03-02T09:00:00Z",
                           "      - {at: 0, weight: 0%, unit: request}\n"
                           "      - {at: 1h, weight: 0.001%, unit: request}\n"
                           "      - {at: 2h, weight: 0.5%, unit: session}\n"
                           "      - {at: 3h, weight: 12.5%, unit: user}\n"
                           "      - {at: 4h, weight: 12.75%, unit: user}\n"
                           "      - {at: 5h, weight: 33.333%, unit: user}\n"
                           "      - {at: 6h, weight: 100.000%, unit: org}\n",
                           "");
    static const uint32_t w[] = {0, 1, 500, 12500, 12750, 33333, 100000};
    static const int unit[] = {ROLLOUT_UNIT_REQUEST, ROLLOUT_UNIT_REQUEST, ROLLOUT_UNIT_SESSION,
                               ROLLOUT_UNIT_USER,    ROLLOUT_UNIT_USER,    ROLLOUT_UNIT_USER,
                               ROLLOUT_UNIT_ORG};
    cr_assert_eq(p->n_steps, 7);
    for (int i = 0; i < 7; i++) {
        cr_expect_eq(p->steps[i].weight, w[i], "step %d: %u", i, p->steps[i].weight);
        cr_expect_eq(p->steps[i].unit, unit[i]);
    }
    rollout_plan_unref(p);
}

Test(valid, start_times_with_offsets)
{
    /* 2026-03-02T09:00:00Z is day 20514 (20512 for Feb 28, + 2): 1772442000 */
    static const struct { const char *iso; int64_t t; } cases[] = {
        {"2026-03-02T09:00:00Z", INT64_C(1772442000)},
        {"2026-03-02T10:00:00+01:00", INT64_C(1772442000)},
        {"2026-03-02T03:30:00-05:30", INT64_C(1772442000)},
        {"2026-03-02T09:00:00+00:00", INT64_C(1772442000)},
        {"2026-03-02T09:00:00-00:00", INT64_C(1772442000)},
        /* crossing midnight backwards: 00:30+01:00 is 23:30Z the day before */
        {"2026-03-02T00:30:00+01:00", INT64_C(1772442000) - 9 * H + 30 * 60 - H},
        /* leap day 2024-02-29T12:00Z: 2024-01-01 is day 19723 (54 years, 13 leap
         * days), + 31 + 28 = 19782 */
        {"2024-02-29T12:00:00Z", INT64_C(19782) * D + 12 * H},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", -1},
        {"1970-01-01T00:00:00+14:00", -14 * H},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        rollout_plan *p = mini(cases[i].iso, "      - {at: 0, weight: 100%, unit: org}\n", "");
        cr_expect_eq(p->start, cases[i].t, "%s: %lld", cases[i].iso, (long long)p->start);
        rollout_plan_unref(p);
    }
}

Test(valid, windows_and_freezes)
{
    rollout_plan *p = mini("2026-03-02T09:00:00Z", "      - {at: 0, weight: 100%, unit: org}\n",
                           "windows:\n"
                           "  - days: [mon, tue, wed, thu]\n"
                           "    from: \"09:00\"\n"
                           "    to: \"17:30\"\n"
                           "    utc_offset: \"+01:00\"\n"
                           "  - days: [sun]\n"
                           "    from: \"00:00\"\n"
                           "    to: \"24:00\"\n"
                           "    utc_offset: \"-05:30\"\n"
                           "  - days: [fri]\n"
                           "    from: \"10:15\"\n"
                           "    to: \"11:00\"\n"
                           "freezes:\n"
                           "  - from: 2026-03-06T17:00:00+01:00\n"
                           "    to: 2026-03-09T08:00:00+01:00\n"
                           "    reason: weekend\n"
                           "  - from: 2026-03-31T00:00:00Z\n"
                           "    to: 2026-04-01T00:00:00Z\n");
    cr_assert_eq(p->n_windows, 3);
    cr_expect_eq(p->windows[0].days, 0x0f);
    cr_expect_eq(p->windows[0].from, 9 * H);
    cr_expect_eq(p->windows[0].to, 17 * H + 30 * 60);
    cr_expect_eq(p->windows[0].utc_offset, H);
    cr_expect_eq(p->windows[1].days, 0x40);
    cr_expect_eq(p->windows[1].from, 0);
    cr_expect_eq(p->windows[1].to, 24 * H);
    cr_expect_eq(p->windows[1].utc_offset, -(5 * H + 30 * 60));
    cr_expect_eq(p->windows[2].days, 0x10);
    cr_expect_eq(p->windows[2].from, 10 * H + 15 * 60);
    cr_expect_eq(p->windows[2].utc_offset, 0);
    cr_assert_eq(p->n_freezes, 2);
    /* 2026-03-06T16:00Z = day 20518 (Mar 2 is 20514) */
    cr_expect_eq(p->freezes[0].from, INT64_C(20518) * D + 16 * H);
    /* 2026-03-09T07:00Z = day 20521 */
    cr_expect_eq(p->freezes[0].to, INT64_C(20521) * D + 7 * H);
    cr_expect_str_eq(p->freezes[0].reason, "weekend");
    /* 2026-03-31 = day 20514 + 29 = 20543 */
    cr_expect_eq(p->freezes[1].from, INT64_C(20543) * D);
    cr_expect_eq(p->freezes[1].to, INT64_C(20544) * D);
    cr_expect_null(p->freezes[1].reason);
    rollout_plan_unref(p);
}

Test(valid, defaults)
{
    rollout_plan *p = mini("2026-03-02T09:00:00Z", "      - {at: 0, weight: 100%, unit: org}\n",
                           "rollback:\n  deadline: 45m\n  procedure:\n"
                           "    - {id: halt, action: halt_traffic}\n");
    cr_expect_null(p->description);
    cr_expect_eq(p->n_roles, 0);
    cr_expect_eq(p->n_gates, 0);
    cr_expect_eq(p->bake.duration, 0);
    cr_expect_eq(p->bake.criteria, -1);
    cr_expect_eq(p->rollback.deadline, 45 * 60);
    cr_expect_eq(p->rollback.postmortem_within, 24 * H, "post-mortem defaults to 24h");
    cr_expect_eq(p->rollback.triggers, 0);
    cr_expect_eq(p->steps[0].gate, -1);
    rollout_plan_unref(p);

    /* a gate without on_no_go rolls back; without criteria it has none */
    p = mini("2026-03-02T09:00:00Z",
             "      - at: 0\n        weight: 100%\n        unit: org\n"
             "        gate: {id: g, at: 1h, approvers: [sre]}\n",
             "roles: {sre: SRE}\n");
    cr_assert_eq(p->n_gates, 1);
    cr_expect_eq(p->gates[0].on_no_go, RP_NO_GO_ROLLBACK);
    cr_expect_eq(p->gates[0].criteria, -1);
    cr_expect_eq(p->gates[0].approvers, 1u);
    cr_expect_eq(p->steps[0].gate, 0);
    rollout_plan_unref(p);
}

Test(valid, gate_at_the_step_time_and_next_phase_at_the_gate_time)
{
    rollout_plan *p = t_plan("format: 1\nid: m\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
                             "versions: {stable: a, new: b}\nroles: {sre: SRE}\n"
                             "cohorts:\n  - {id: a, match: {org_in: [x]}}\n"
                             "  - {id: b, match: {everyone: true}}\n"
                             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                             "phases:\n"
                             "  - id: one\n    cohort: a\n    steps:\n"
                             "      - {at: 1h, weight: 100%, unit: org}\n"
                             "    gate: {id: g, at: 1h, approvers: [sre]}\n"
                             "  - id: two\n    cohort: b\n    steps:\n"
                             "      - {at: 1h, weight: 50%, unit: org}\n");
    cr_expect_eq(p->gates[0].at, H);
    cr_expect_eq(p->steps[1].at, H);
    rollout_plan_unref(p);
}

/* ---- the normalized dump round-trips ------------------------------------------------- */

static char *dump(const rollout_plan *p, int format)
{
    size_t needed = 0;
    cr_assert_eq(rollout_plan_dump(p, format, NULL, 0, &needed), ROLLOUT_ERR_BUFFER);
    char *buf = malloc(needed + 1);
    cr_assert(buf);
    size_t again = 0;
    cr_assert_eq(rollout_plan_dump(p, format, buf, needed + 1, &again), ROLLOUT_OK);
    cr_assert_eq(again, needed);
    cr_assert_eq(strlen(buf), needed);
    return buf;
}

static rollout_plan *load_text(const char *text, const char *name)
{
    rollout_plan *p = NULL;
    rollout_error err;
    int rc = rollout_plan_load_buffer(text, strlen(text), name, &p, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s does not load back: %s\n%s", name, err.message, text);
    return p;
}

/* dump YAML and JSON -> load each -> dump again: the same text and fingerprint */
static void check_round_trip(rollout_plan *p, const char *what)
{
    char *yaml = dump(p, ROLLOUT_FORMAT_YAML), *json = dump(p, ROLLOUT_FORMAT_JSON);
    uint64_t fp = rollout_plan_fingerprint(p);
    cr_expect_eq(strncmp(yaml, "format: 1\n", 10), 0, "%s: YAML starts %.20s", what, yaml);
    cr_expect_eq(json[0], '{', "%s: JSON starts %.20s", what, json);

    rollout_plan *from_yaml = load_text(yaml, "dump.yaml");
    rollout_plan *from_json = load_text(json, "dump.json");
    for (int k = 0; k < 2; k++) {
        rollout_plan *q = k ? from_json : from_yaml;
        char *y2 = dump(q, ROLLOUT_FORMAT_YAML), *j2 = dump(q, ROLLOUT_FORMAT_JSON);
        cr_expect_str_eq(y2, yaml, "%s: YAML differs after a %s round trip", what,
                         k ? "JSON" : "YAML");
        cr_expect_str_eq(j2, json, "%s: JSON differs after a %s round trip", what,
                         k ? "JSON" : "YAML");
        cr_expect_eq(rollout_plan_fingerprint(q), fp, "%s: fingerprint changed", what);
        free(y2);
        free(j2);
    }
    rollout_plan_unref(from_yaml);
    rollout_plan_unref(from_json);
    free(yaml);
    free(json);
}

Test(round_trip, every_example_plan, .timeout = 60)
{
    DIR *d = opendir("examples/plans");
    cr_assert(d);
    struct dirent *ent;
    int n = 0;
    while ((ent = readdir(d))) {
        size_t l = strlen(ent->d_name);
        if (l < 6 || strcmp(ent->d_name + l - 5, ".yaml") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "examples/plans/%s", ent->d_name);
        rollout_plan *p = NULL;
        rollout_error err;
        cr_assert_eq(rollout_plan_load_file(path, &p, &err), ROLLOUT_OK, "%s", err.message);
        check_round_trip(p, path);
        rollout_plan_unref(p);
        n++;
    }
    closedir(d);
    cr_expect_geq(n, 3, "seed.yaml plus at least two more example plans");
}

Test(round_trip, the_seed_and_its_fingerprint)
{
    rollout_plan *p = t_seed();
    check_round_trip(p, "seed");
    /* the fingerprint is a function of the content, not of the file's layout:
     * the same plan with comments, flow style and another name loads to it */
    rollout_plan *q = NULL;
    size_t len;
    const char *seed = rollout_seed_plan(&len);
    rollout_error err;
    cr_assert_eq(rollout_plan_load_buffer(seed, len, "another-name.yaml", &q, &err), ROLLOUT_OK);
    cr_expect_eq(rollout_plan_fingerprint(q), rollout_plan_fingerprint(p));
    rollout_plan_unref(q);

    /* a one-character change of content changes it */
    char *copy = t_read_file(SEED_PATH, &len);
    char *at = strstr(copy, "deadline: 30m");
    cr_assert(at);
    at[10] = '2'; /* 30m -> 20m */
    cr_assert_eq(rollout_plan_load_buffer(copy, len, "x.yaml", &q, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_expect_eq(q->rollback.deadline, 20 * 60);
    cr_expect_neq(rollout_plan_fingerprint(q), rollout_plan_fingerprint(p));
    rollout_plan_unref(q);
    free(copy);
    rollout_plan_unref(p);
}

Test(round_trip, awkward_strings_survive)
{
    /* strings YAML would read as something else, or that need quoting */
    rollout_plan *p = t_plan(
        "format: 1\n"
        "id: odd\n"
        "description: \"yes\"\n"
        "salt: \"0123\"\n"
        "start: 2026-03-02T09:00:00+02:00\n"
        "versions: {stable: \"null\", new: \"key: value # not a comment\"}\n"
        "roles:\n"
        "  a: \"  leading and trailing spaces  \"\n"
        "  b: \"- dash\"\n"
        "  c: \"[bracket\"\n"
        "  d: \"tab\\there\"\n"
        "  e: \"quote \\\" and backslash \\\\\"\n"
        "  f: \"multi\\nline\\n\"\n"
        "  g: \"ünïcödé — “quoted” 日本\"\n"
        "  h: \"*alias &anchor !tag %percent @at `tick\"\n"
        "cohorts:\n"
        "  - id: c\n"
        "    match: {attr: \"x-header\", matches: '^(?:a|b)\\d+$'}\n"
        "  - id: rest\n"
        "    match: {everyone: true}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
        "  - id: p\n"
        "    cohort: rest\n"
        "    description: \"1.5\"\n"
        "    monitoring: [\"true\", \"~\", \"3.0\", \"2026-03-02\"]\n"
        "    steps: [{at: 0, weight: 33.333%, unit: request}]\n");
    cr_expect_str_eq(p->roles[0].name, "  leading and trailing spaces  ");
    cr_expect_str_eq(p->roles[3].name, "tab\there");
    cr_expect_str_eq(p->roles[5].name, "multi\nline\n");
    cr_expect_str_eq(p->salt, "0123");
    check_round_trip(p, "awkward strings");
    char *yaml = dump(p, ROLLOUT_FORMAT_YAML);
    rollout_plan *q = load_text(yaml, "dump.yaml");
    for (int i = 0; i < p->n_roles; i++)
        cr_expect_str_eq(q->roles[i].name, p->roles[i].name);
    cr_expect_str_eq(q->labels[0], "null");
    cr_expect_str_eq(q->labels[1], "key: value # not a comment");
    cr_expect_str_eq(q->description, "yes");
    cr_expect_str_eq(q->phases[0].description, "1.5");
    cr_expect_str_eq(q->phases[0].monitoring[1], "~");
    cr_expect_eq(q->start, INT64_C(1772442000) - 11 * H + 9 * H);
    free(yaml);
    rollout_plan_unref(q);
    rollout_plan_unref(p);
}

/* An empty string must be quoted in YAML: plain, "name:" reads back as
 * "nothing" and the dump would not load. */
Test(round_trip, empty_strings_survive)
{
    rollout_plan *p = mini("2026-03-02T09:00:00Z", "      - {at: 0, weight: 100%, unit: org}\n",
                           "roles: {a: \"\"}\ndescription: \"\"\n");
    cr_expect_str_eq(p->roles[0].name, "");
    check_round_trip(p, "empty strings");
    rollout_plan_unref(p);
}

/* The JSON dump must use JSON escapes only: libyaml's double-quoted style
 * would write \U0001F680, \e, \a, \x01, \N, \L, which JSON parsers reject.
 * Text outside ASCII stays raw UTF-8 (valid JSON); control characters
 * become \u00XX. */
Test(round_trip, json_escapes_are_json)
{
    rollout_plan *p = mini("2026-03-02T09:00:00Z", "      - {at: 0, weight: 100%, unit: org}\n",
                           "description: \"launch \U0001F680 esc \\e bell \\a nel \\N "
                           "ls \\L x \\x01 del \\x7f\"\n");
    char *json = dump(p, ROLLOUT_FORMAT_JSON);
    static const char *const yaml_only[] = {"\\U", "\\e", "\\a", "\\x", "\\N", "\\L",
                                            "\\P", "\\_", "\\0", "\\v"};
    for (size_t i = 0; i < RP_COUNT(yaml_only); i++)
        cr_expect_null(strstr(json, yaml_only[i]), "JSON has the YAML escape %s: %s",
                       yaml_only[i], json);
    cr_expect_not_null(strstr(json, "launch \U0001F680 esc \\u001b bell \\u0007"), "%s", json);
    cr_expect_not_null(strstr(json, "x \\u0001 del \\u007f"), "%s", json);
    free(json);
    rollout_plan_unref(p);
}

Test(examples, windows_plan)
{
    rollout_plan *p = NULL;
    rollout_error err;
    cr_assert_eq(rollout_plan_load_file("examples/plans/windows.yaml", &p, &err), ROLLOUT_OK,
                 "%s", err.message);
    /* 2026-03-23T08:00:00+01:00 = 07:00Z on day 20535 (2026-03-02 is day 20514) */
    cr_expect_eq(p->start, INT64_C(20535) * D + 7 * H);
    cr_expect_eq(p->n_phases, 3);
    cr_expect_eq(p->n_steps, 6);
    cr_expect_eq(p->n_gates, 2);
    cr_expect_eq(p->gates[1].approvers, 0x3u);
    cr_expect_eq(p->gates[1].on_no_go, RP_NO_GO_HALT);
    cr_expect_eq(p->steps[3].at, 4 * D);
    cr_expect_eq(p->steps[3].weight, 5000);
    cr_assert_eq(p->n_windows, 1);
    cr_expect_eq(p->windows[0].days, 0x0f);
    cr_expect_eq(p->windows[0].from, 9 * H);
    cr_expect_eq(p->windows[0].to, 16 * H);
    cr_expect_eq(p->windows[0].utc_offset, H);
    cr_assert_eq(p->n_freezes, 2);
    /* 2026-03-30T00:00+02:00 = 2026-03-29T22:00Z, day 20541 */
    cr_expect_eq(p->freezes[0].from, INT64_C(20541) * D + 22 * H);
    /* 2026-04-01T12:00+02:00 = 10:00Z on day 20544 */
    cr_expect_eq(p->freezes[0].to, INT64_C(20544) * D + 10 * H);
    cr_expect_str_eq(p->freezes[1].reason, "Easter");
    cr_expect_eq(p->rollback.deadline, 20 * 60);
    cr_expect_eq(p->rollback.postmortem_within, 2 * D);
    cr_expect_eq(p->bake.duration, 3 * D);
    rollout_plan_unref(p);

    cr_assert_eq(rollout_plan_load_file("examples/plans/minimal.yaml", &p, &err), ROLLOUT_OK,
                 "%s", err.message);
    cr_expect_eq(p->n_steps, 4);
    cr_expect_eq(p->steps[0].weight, 1000);
    cr_expect_eq(p->gates[0].step, 2);
    cr_expect_eq(p->gates[0].on_no_go, RP_NO_GO_HOLD);
    rollout_plan_unref(p);
}

/* ---- every public function, given NULL where it takes a pointer -------------------- */

/* Fallible calls return ROLLOUT_ERR_ARG (the header's "a NULL or out-of-range
 * argument"); name lookups never return NULL; counts return 0; nothing
 * crashes (ASan/UBSan builds run this too). */
Test(arguments, every_public_function_survives_null)
{
    rollout_plan *plan = t_seed();
    rollout_error err;
    rollout_state st;
    rollout_decision dec;
    rollout_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.org = "acme-corp";
    ctx.org_len = 9;
    uint32_t bucket;
    char buf[64];
    size_t n = 0;

    /* names: never NULL, even out of range */
    for (int v = -1; v <= 64; v += 65) {
        cr_expect_not_null(rollout_code_name(v));
        cr_expect_not_null(rollout_reason_name(v));
        cr_expect_not_null(rollout_verdict_name(v));
        cr_expect_not_null(rollout_status_name(v));
        cr_expect_not_null(rollout_rollback_reason_name(v));
        cr_expect_not_null(rollout_event_name(v));
        cr_expect_not_null(rollout_action_name(v));
        cr_expect_not_null(rollout_confirmation_name(v));
    }
    cr_expect_eq(rollout_plan_role_count(NULL), 0);
    cr_expect_null(rollout_plan_role_name(NULL, 0));
    cr_expect_null(rollout_plan_role_name(plan, -1));
    cr_expect_null(rollout_plan_role_name(plan, 9));

    /* bucketing and decisions */
    cr_expect_eq(rollout_bucket(NULL, 3, "id", 2, &bucket), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_bucket("salt", 4, NULL, 2, &bucket), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_bucket("salt", 4, "id", 2, NULL), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_decide(NULL, NULL, 0, &ctx, &dec), ROLLOUT_ERR_ARG);
    /* decide.c reads a NULL context as "nothing known about the request" */
    int rc = rollout_decide(plan, NULL, 0, NULL, &dec);
    cr_expect(rc == ROLLOUT_OK || rc == ROLLOUT_ERR_ARG, "%s", rollout_code_name(rc));
    if (rc == ROLLOUT_OK)
        cr_expect_eq(dec.variant, ROLLOUT_STABLE);
    cr_expect_eq(rollout_decide(plan, NULL, 0, &ctx, NULL), ROLLOUT_ERR_ARG);
    memset(&dec, 0, sizeof dec);
    rollout_explain(NULL, &dec, &ctx, buf, sizeof buf);
    rollout_explain(plan, NULL, &ctx, buf, sizeof buf);
    rollout_explain(plan, &dec, NULL, buf, sizeof buf);
    rollout_explain(plan, &dec, &ctx, NULL, 0);

    /* metrics and evaluation */
    rollout_metrics *m = NULL;
    cr_expect_eq(rollout_metrics_create(NULL), ROLLOUT_ERR_ARG);
    rollout_metrics_free(NULL);
    cr_expect_eq(rollout_metrics_set(NULL, ROLLOUT_NEW, "x", 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_requests(NULL, ROLLOUT_NEW, 1, 0, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_latency(NULL, ROLLOUT_NEW, 1, 1, 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_latency_samples(NULL, ROLLOUT_NEW, NULL, 0, &err),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_latency_histogram(NULL, ROLLOUT_NEW, NULL, NULL, 0, &err),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_smoke(NULL, ROLLOUT_NEW, "t", 1, &err), ROLLOUT_ERR_ARG);
    double value;
    cr_expect_eq(rollout_metrics_get(NULL, ROLLOUT_NEW, "error_rate", &value), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_load_file(NULL, &m, &err), ROLLOUT_ERR_ARG);
    cr_expect_null(m);
    cr_expect_eq(rollout_metrics_load_file("x", NULL, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_load_buffer(NULL, 3, "x", &m, &err), ROLLOUT_ERR_ARG);
    cr_expect_null(m);
    cr_expect_eq(rollout_metrics_load_buffer("a", 1, "x", NULL, &err), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_metrics_create(&m), ROLLOUT_OK);
    cr_expect_eq(rollout_metrics_set(m, ROLLOUT_NEW, NULL, 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_set_smoke(m, ROLLOUT_NEW, NULL, 1, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, NULL, &value), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_metrics_get(m, ROLLOUT_NEW, "error_rate", NULL), ROLLOUT_ERR_ARG);
    rollout_evaluation *ev = malloc(sizeof *ev);
    cr_assert(ev);
    cr_expect_eq(rollout_evaluate(NULL, ROLLOUT_EVAL_GATE, "canary-go", m, ev, &err),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_evaluate(plan, ROLLOUT_EVAL_GATE, NULL, m, ev, &err), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_evaluate(plan, ROLLOUT_EVAL_GATE, "canary-go", NULL, ev, &err),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_evaluate(plan, ROLLOUT_EVAL_GATE, "canary-go", m, NULL, &err),
                 ROLLOUT_ERR_ARG);
    free(ev);
    rollout_metrics_free(m);

    /* state, events, encoding */
    cr_expect_eq(rollout_state_init(NULL, &st), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_state_init(plan, NULL), ROLLOUT_ERR_ARG);
    cr_assert_eq(rollout_state_init(plan, &st), ROLLOUT_OK);
    rollout_event e;
    memset(&e, 0, sizeof e);
    e.type = ROLLOUT_EVENT_START;
    rollout_state next;
    rollout_action *actions = calloc(ROLLOUT_MAX_ACTIONS, sizeof *actions);
    cr_assert(actions);
    n = ROLLOUT_MAX_ACTIONS;
    cr_expect_eq(rollout_apply(NULL, &st, &e, 0, &next, actions, &n, &err), ROLLOUT_ERR_ARG);
    n = ROLLOUT_MAX_ACTIONS;
    cr_expect_eq(rollout_apply(plan, NULL, &e, 0, &next, actions, &n, &err), ROLLOUT_ERR_ARG);
    n = ROLLOUT_MAX_ACTIONS;
    cr_expect_eq(rollout_apply(plan, &st, NULL, 0, &next, actions, &n, &err), ROLLOUT_ERR_ARG);
    n = ROLLOUT_MAX_ACTIONS;
    cr_expect_eq(rollout_apply(plan, &st, &e, 0, NULL, actions, &n, &err), ROLLOUT_ERR_ARG);
    free(actions);
    cr_expect_eq(rollout_state_encode(NULL, buf, sizeof buf), 0);
    char text[ROLLOUT_STATE_TEXT_MAX];
    cr_expect_eq(rollout_state_encode(&st, NULL, 0), 0);
    cr_expect_eq(rollout_state_decode(plan, NULL, 5, &st, &err), ROLLOUT_ERR_ARG);
    size_t len = rollout_state_encode(&st, text, sizeof text);
    cr_expect_gt(len, 0);
    cr_expect_eq(rollout_state_decode(plan, text, len, NULL, &err), ROLLOUT_ERR_ARG);

    /* schedule and calendar */
    rollout_schedule_info *si = malloc(sizeof *si);
    cr_assert(si);
    cr_expect_eq(rollout_schedule(NULL, NULL, 0, si), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_schedule(plan, NULL, 0, NULL), ROLLOUT_ERR_ARG);
    free(si);
    rollout_calendar_event *cal = calloc(ROLLOUT_MAX_CALENDAR, sizeof *cal);
    cr_assert(cal);
    cr_expect_eq(rollout_calendar(NULL, NULL, cal, ROLLOUT_MAX_CALENDAR, &n), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar(plan, NULL, cal, ROLLOUT_MAX_CALENDAR, NULL), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar(plan, NULL, NULL, 5, &n), ROLLOUT_ERR_ARG);
    free(cal);
    cr_expect_eq(rollout_calendar_render(NULL, NULL, ROLLOUT_CALENDAR_TABLE, buf, sizeof buf,
                                         &n),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar_render(plan, NULL, ROLLOUT_CALENDAR_TABLE, NULL, 10, &n),
                 ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar_render(plan, NULL, 99, buf, sizeof buf, &n), ROLLOUT_ERR_ARG);
    rollout_plan_unref(plan);
}

/* ---- the YAML reader: anchors, keys, tags, control characters ---------------- */

/* A valid plan whose cohort lists n anchored org ids and then, as user ids,
 * an alias to each: n anchors and n aliases. */
static char *anchors_plan(int n, size_t *len)
{
    size_t cap = 512 + (size_t)n * 32;
    char *s = malloc(cap);
    cr_assert(s);
    size_t off = (size_t)snprintf(s, cap,
                                  "format: 1\nid: anchors\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
                                  "versions: {stable: a, new: b}\n"
                                  "cohorts:\n  - id: c\n    match:\n      any:\n"
                                  "        - org_in: [");
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s&a%d o%d", i ? ", " : "", i, i);
    off += (size_t)snprintf(s + off, cap - off, "]\n        - user_in: [");
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s*a%d", i ? ", " : "", i);
    off += (size_t)snprintf(s + off, cap - off,
                            "]\nphases: [{id: p, cohort: c, steps: [{at: 0, weight: 5%%, "
                            "unit: user}]}]\n"
                            "rollback: {deadline: 30m, procedure: [{id: r, action: "
                            "restore_previous}]}\n");
    cr_assert_lt(off, cap);
    *len = off;
    return s;
}

Test(yaml_reader, anchors_up_to_the_cap_load_one_more_is_a_limit_error, .timeout = 60)
{
    /* aliases are found in a hash table: 50 000 anchors and 50 000 aliases
     * load in a few tens of milliseconds (the list scan took seconds) */
    size_t len;
    char *yaml = anchors_plan(ROLLOUT_MAX_ANCHORS, &len);
    rollout_plan *p = NULL;
    rollout_error err;
    cr_assert_eq(rollout_plan_load_buffer(yaml, len, "anchors.yaml", &p, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_expect_eq(p->cohorts[0].match->n_kids, 2);
    rollout_context ctx = {.user = "o49999", .user_len = 6};
    rollout_decision d;
    cr_expect_eq(rollout_decide(p, NULL, rollout_plan_start(p), &ctx, &d), ROLLOUT_OK);
    cr_expect_eq(d.cohort, 0, "the last alias resolves to the last anchor's id");
    rollout_plan_unref(p);
    free(yaml);

    yaml = anchors_plan(ROLLOUT_MAX_ANCHORS + 1, &len);
    p = (rollout_plan *)yaml;
    cr_expect_eq(rollout_plan_load_buffer(yaml, len, "anchors.yaml", &p, &err), ROLLOUT_ERR_LIMIT);
    cr_expect_null(p);
    /* the 50 001st anchor, "&a50000", on line 10 */
    const char *at = strstr(yaml, "&a50000 ");
    cr_assert(at);
    const char *line = strstr(yaml, "        - org_in: [");
    cr_expect_eq(err.line, 10);
    cr_expect_eq(err.column, (int)(at - line) + 1);
    char want[160];
    snprintf(want, sizeof want, "anchors.yaml:10:%d: more than 50000 anchors (&name) in the file",
             (int)(at - line) + 1);
    cr_expect_str_eq(err.message, want);
    free(yaml);
}

Test(yaml_reader, an_anchor_named_again_means_the_newer_node)
{
    /* YAML lets a name be anchored twice; an alias refers to the latest */
    rollout_plan *p = t_plan("format: 1\nid: &x first\nsalt: s\ndescription: *x\n"
                             "start: 2026-03-02T09:00:00Z\nversions: {stable: &x v1, new: *x}\n"
                             "cohorts: [{id: c, match: {everyone: true}}]\n"
                             "phases: [{id: p, cohort: c, steps: [{at: 0, weight: 5%, unit: "
                             "user}]}]\n"
                             "rollback: {deadline: 30m, procedure: [{id: r, action: "
                             "restore_previous}]}\n");
    cr_expect_str_eq(p->description, "first");
    cr_expect_str_eq(p->labels[1], "v1");
    rollout_plan_unref(p);
}

Test(yaml_reader, a_key_written_twice_is_refused_in_every_mapping)
{
    /* the case: the second criteria set of one name was ignored */
    const char *criteria = "format: 1\ncriteria:\n  c:\n    - {id: a, metric: errors, max: 1}\n"
                           "  c:\n    - {id: a, metric: errors, max: 9}\n";
    expect_buffer_error(criteria, strlen(criteria), ROLLOUT_ERR_DUPLICATE, 5, 3, "criteria.c",
                        "gen.yaml:5:3: criteria.c: key \"c\" appears twice (first at line 3, "
                        "column 3)");
    /* inside a list item, in flow style */
    const char *flow = "format: 1\nphases:\n  - {id: p, steps: [{at: 0, at: 1h}]}\n";
    expect_buffer_error(flow, strlen(flow), ROLLOUT_ERR_DUPLICATE, 3, 29,
                        "phases[0].steps[0].at",
                        "gen.yaml:3:29: phases[0].steps[0].at: key \"at\" appears twice (first "
                        "at line 3, column 22)");
    /* quoting does not make another key */
    const char *quoted = "format: 1\n\"format\": 1\n";
    expect_buffer_error(quoted, strlen(quoted), ROLLOUT_ERR_DUPLICATE, 2, 1, "format",
                        "gen.yaml:2:1: format: key \"format\" appears twice (first at line 1, "
                        "column 1)");
    /* an aliased key is placed where the alias is written */
    const char *alias = "format: 1\nroles: {&k sre: SRE, ops: Ops, *k : Other}\n";
    expect_buffer_error(alias, strlen(alias), ROLLOUT_ERR_DUPLICATE, 2, 32, "roles.sre",
                        "gen.yaml:2:32: roles.sre: key \"sre\" appears twice (first at line 2, "
                        "column 9)");
    /* a large mapping (hashed rather than compared pairwise): the dup is last */
    char big[4096];
    size_t off = (size_t)snprintf(big, sizeof big, "format: 1\nroles:\n");
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "  r%d: R\n", i);
    off += (size_t)snprintf(big + off, sizeof big - off, "  r7: again\n");
    expect_buffer_error(big, off, ROLLOUT_ERR_DUPLICATE, 43, 3, "roles.r7",
                        "gen.yaml:43:3: roles.r7: key \"r7\" appears twice (first at line 10, "
                        "column 3)");
    /* a mapping nested in an aliased node is checked where it is written */
    const char *nested = "format: 1\nx: &n {a: 1, b: {c: 1, c: 2}}\n";
    expect_buffer_error(nested, strlen(nested), ROLLOUT_ERR_DUPLICATE, 2, 24, "x.b.c",
                        "gen.yaml:2:24: x.b.c: key \"c\" appears twice (first at line 2, "
                        "column 18)");
}

Test(yaml_reader, tags_other_than_str_seq_and_map_are_refused)
{
    const char *binary = "format: 1\nid: t\nsalt: !!binary c2FsdA==\n";
    expect_buffer_error(binary, strlen(binary), ROLLOUT_ERR_TYPE, 3, 7, "salt",
                        "gen.yaml:3:7: salt: YAML tag !!binary is not allowed on a scalar "
                        "(plans and metrics take no tags but !!str, !!seq and !!map on their "
                        "own kind)");
    const char *integer = "format: !!int 1\n";
    expect_buffer_error(integer, strlen(integer), ROLLOUT_ERR_TYPE, 1, 9, "format",
                        "gen.yaml:1:9: format: YAML tag !!int is not allowed on a scalar "
                        "(plans and metrics take no tags but !!str, !!seq and !!map on their "
                        "own kind)");
    const char *local = "format: 1\ncohorts:\n  - !cohort {id: c}\n";
    expect_buffer_error(local, strlen(local), ROLLOUT_ERR_TYPE, 3, 5, "cohorts[0]",
                        "gen.yaml:3:5: cohorts[0]: YAML tag !cohort is not allowed (plans and "
                        "metrics take no tags but !!str, !!seq and !!map on their own kind)");
    const char *wrong_kind = "format: 1\nversions: !!str {stable: a, new: b}\n";
    expect_buffer_error(wrong_kind, strlen(wrong_kind), ROLLOUT_ERR_TYPE, 2, 11, "versions",
                        "gen.yaml:2:11: versions: YAML tag !!str is not allowed on a mapping "
                        "(plans and metrics take no tags but !!str, !!seq and !!map on their "
                        "own kind)");
    /* %TAG can rename !!: the tag is judged by what it resolves to */
    const char *renamed = "%TAG !! tag:example.com,2026:\n---\nformat: 1\nid: !!str x\n";
    expect_buffer_error(renamed, strlen(renamed), ROLLOUT_ERR_TYPE, 4, 5, "id",
                        "gen.yaml:4:5: id: YAML tag tag:example.com,2026:str is not allowed "
                        "(plans and metrics take no tags but !!str, !!seq and !!map on their "
                        "own kind)");
    /* the three that change nothing load */
    rollout_plan *p = t_plan("format: 1\nid: t\nsalt: !!str 123\nstart: 2026-03-02T09:00:00Z\n"
                             "versions: !!map {stable: a, new: b}\n"
                             "cohorts: !!seq [{id: c, match: {everyone: true}}]\n"
                             "phases: [{id: p, cohort: c, steps: [{at: 0, weight: 5%, unit: "
                             "user}]}]\n"
                             "rollback: {deadline: 30m, procedure: [{id: r, action: "
                             "restore_previous}]}\n");
    cr_expect_str_eq(p->salt, "123");
    rollout_plan_unref(p);
}

Test(yaml_reader, control_characters_are_placed_by_line_and_column)
{
    /* libyaml's reader reports an offset and no mark: it used to come out as 1:1 */
    const char *yaml = "format: 1\nid: t\ndescription: New \x01search\n";
    expect_buffer_error(yaml, strlen(yaml), ROLLOUT_ERR_ENCODING, 3, 18, "",
                        "gen.yaml:3:18: control character U+0001 is not allowed in YAML text "
                        "(write it as an escape inside double quotes)");
    /* columns count characters ("é" is one), CRLF is one line break */
    const char *wide = "format: 1\r\nid: t\r\ndescription: \xC3\xA9t\xC3\xA9 \x1b[2J\r\n";
    expect_buffer_error(wide, strlen(wide), ROLLOUT_ERR_ENCODING, 3, 18, "",
                        "gen.yaml:3:18: control character U+001B is not allowed in YAML text "
                        "(write it as an escape inside double quotes)");
    /* far into a file: the reader decodes ahead of the parser */
    char big[40000];
    size_t off = (size_t)snprintf(big, sizeof big, "format: 1\nroles:\n");
    for (int i = 0; i < 1000; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "  r%d: Role %d\n", i, i);
    off += (size_t)snprintf(big + off, sizeof big - off, "  last: a\x7f" "b\n");
    expect_buffer_error(big, off, ROLLOUT_ERR_ENCODING, 1003, 10, "",
                        "gen.yaml:1003:10: control character U+007F is not allowed in YAML "
                        "text (write it as an escape inside double quotes)");
}

Test(plan_checks, thresholds_that_overflow_once_scaled_are_refused)
{
    /* 1e308h is finite as written and infinite in seconds: it always passed,
     * and `show` wrote "infs", which does not load */
    char yaml[1024];
    const char *bad[][2] = {
        {"1e308h", "1e308h is too large a latency (it overflows in seconds)"},
        {"1e307m", "1e307m is too large a latency (it overflows in seconds)"},
        {"1e-305us", "1e-305us is too small a latency (it underflows in seconds)"},
    };
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        int n = snprintf(yaml, sizeof yaml,
                         "format: 1\nid: t\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
                         "versions: {stable: a, new: b}\n"
                         "criteria:\n  c:\n    - {id: l, metric: latency_p95, max: %s}\n",
                         bad[i][0]);
        char want[256];
        snprintf(want, sizeof want, "gen.yaml:8:41: criteria.c[0].max: %s", bad[i][1]);
        expect_buffer_error(yaml, (size_t)n, ROLLOUT_ERR_RANGE, 8, 41, "criteria.c[0].max",
                            want);
    }
    /* the largest that fit still load, and `show` writes them back */
    rollout_plan *p = t_plan("format: 1\nid: t\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
                             "versions: {stable: a, new: b}\n"
                             "criteria:\n  c:\n    - {id: l, metric: latency_p95, max: 1e304h}\n"
                             "cohorts: [{id: c, match: {everyone: true}}]\n"
                             "phases: [{id: p, cohort: c, steps: [{at: 0, weight: 5%, unit: "
                             "user}]}]\n"
                             "rollback: {deadline: 30m, procedure: [{id: r, action: "
                             "restore_previous}]}\n");
    size_t len = 0;
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &len), ROLLOUT_ERR_BUFFER);
    char *text = malloc(len + 1);
    cr_assert(text);
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, text, len + 1, NULL), ROLLOUT_OK);
    rollout_plan *again = NULL;
    rollout_error err;
    cr_expect_eq(rollout_plan_load_buffer(text, len, "dump.yaml", &again, &err), ROLLOUT_OK,
                 "%s", err.message);
    rollout_plan_unref(again);
    free(text);
    rollout_plan_unref(p);
}

Test(plan_checks, a_plan_cut_before_its_rollback_does_not_load)
{
    /* a truncated file that lost its rollback section used to validate, and
     * a rollback then went straight to rolled_back after a lone halt */
    size_t len;
    char *seed = t_read_file("examples/plans/seed.yaml", &len);
    char *cut = strstr(seed, "\nrollback:\n");
    cr_assert(cut);
    rollout_plan *p = NULL;
    rollout_error err;
    cr_expect_eq(rollout_plan_load_buffer(seed, (size_t)(cut - seed) + 1, "cut.yaml", &p, &err),
                 ROLLOUT_ERR_MISSING);
    cr_expect_null(p);
    cr_expect_str_eq(err.field, "");
    cr_expect(strstr(err.message, "missing required key \"rollback\" (every plan states its "
                                  "rollback procedure)") != NULL,
              "%s", err.message);
    free(seed);

    /* a rollback section needs its procedure, with at least one step */
    const char *head = "format: 1\nid: t\nsalt: s\nstart: 2026-03-02T09:00:00Z\n"
                       "versions: {stable: a, new: b}\n"
                       "cohorts: [{id: c, match: {everyone: true}}]\n"
                       "phases: [{id: p, cohort: c, steps: [{at: 0, weight: 5%, unit: user}]}]\n";
    char yaml[1024];
    int n = snprintf(yaml, sizeof yaml, "%srollback: {deadline: 30m}\n", head);
    expect_buffer_error(yaml, (size_t)n, ROLLOUT_ERR_MISSING, 8, 11, "rollback",
                        "gen.yaml:8:11: rollback: missing required key \"procedure\"");
    n = snprintf(yaml, sizeof yaml, "%srollback: {deadline: 30m, procedure: []}\n", head);
    expect_buffer_error(yaml, (size_t)n, ROLLOUT_ERR_VALUE, 8, 38, "rollback.procedure",
                        "gen.yaml:8:38: rollback.procedure: needs at least 1 procedure steps");
}
