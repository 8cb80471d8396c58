/* SPDX-License-Identifier: MIT */
/*
 * test_ids_file.c — large cohort lists: a plan with 100 000 UUIDs written
 * inline fits the plan cap, and a cohort reads its ids from a file beside the
 * plan (orgs_file:, users_file:), with its own cap and every error placed at
 * the plan key.
 */
#define _DEFAULT_SOURCE /* mkdtemp, ftruncate */
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define HEAD \
    "format: 1\n" \
    "id: big-lists\n" \
    "salt: big-lists-salt\n" \
    "start: 2026-03-02T09:00:00Z\n" \
    "versions: {stable: app-1, new: app-2}\n" \
    "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n" \
    "phases:\n" \
    "  - {id: pilot, cohort: pilot, steps: [{at: 0h, weight: 100%, unit: user}]}\n" \
    "cohorts:\n"
/* the cohorts' rule is on line 11 */

/* "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx" from i */
static void uuid(char out[37], uint64_t i)
{
    uint64_t a = i * 0x9E3779B97F4A7C15u, b = ~i * 0xC2B2AE3D27D4EB4Fu;
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16 & 0xffff), (unsigned)(a & 0xfff), (unsigned)(b >> 52),
             (unsigned long long)(b & 0xffffffffffffull));
}

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/rollout-ids-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    if (slash > path + strlen(dir)) {
        *slash = '\0';
        char cmd[300];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
        cr_assert_eq(system(cmd), 0);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* n UUIDs from first, one a line; malloc'd */
static char *uuid_lines(size_t first, size_t n, const char *indent, size_t *len)
{
    size_t il = strlen(indent);
    char *buf = malloc(n * (il + 37) + 1), *o = buf;
    for (size_t i = 0; i < n; i++) {
        memcpy(o, indent, il);
        uuid(o + il, first + i);
        o[il + 36] = '\n';
        o += il + 37;
    }
    *o = '\0';
    *len = (size_t)(o - buf);
    return buf;
}

static int decide_org(const rollout_plan *p, const char *org)
{
    rollout_context ctx = {.org = org, .org_len = strlen(org), .user = "u1", .user_len = 2};
    rollout_decision d;
    cr_assert_eq(rollout_decide(p, NULL, t_time("2026-03-02T10:00:00Z"), &ctx, &d), ROLLOUT_OK);
    return d.cohort;
}

Test(ids, a_plan_with_100000_uuids_inline_fits_the_plan_cap)
{
    size_t len;
    char *ids = uuid_lines(0, 100000, "        - ", &len);
    const char *tail = "  - {id: everyone, match: {everyone: true}}\n";
    size_t hl = strlen(HEAD), cl = strlen("  - id: pilot\n    match:\n      org_in:\n");
    char *yaml = malloc(hl + cl + len + strlen(tail) + 1);
    sprintf(yaml, "%s  - id: pilot\n    match:\n      org_in:\n%s%s", HEAD, ids, tail);
    cr_assert_gt(strlen(yaml), 4u << 20, "the plan is over the old 4 MiB cap");
    rollout_plan *p = NULL;
    rollout_error err = {0};
    cr_assert_eq(rollout_plan_load_buffer(yaml, strlen(yaml), "big.yaml", &p, &err), ROLLOUT_OK,
                 "%s", err.message);
    char id[37];
    uuid(id, 99999);
    cr_expect_eq(decide_org(p, id), 0);
    cr_expect_eq(decide_org(p, "not-listed"), 1);
    rollout_plan_unref(p);
    free(yaml);
    free(ids);
}

Test(ids, a_cohort_reads_its_ids_from_a_file_beside_the_plan)
{
    make_dir();
    size_t len;
    char *ids = uuid_lines(0, 100000, "", &len);
    write_file("ids/pilot-orgs.txt", ids, len);
    const char *plan = HEAD "  - {id: pilot, match: {orgs_file: ids/pilot-orgs.txt}}\n"
                            "  - {id: everyone, match: {everyone: true}}\n";
    write_file("plan.yaml", plan, strlen(plan));
    char path[128];
    snprintf(path, sizeof path, "%s/plan.yaml", dir);
    rollout_plan *p = NULL;
    rollout_error err = {0};
    cr_assert_eq(rollout_plan_load_file(path, &p, &err), ROLLOUT_OK, "%s", err.message);
    char id[37];
    uuid(id, 0);
    cr_expect_eq(decide_org(p, id), 0, "the first line");
    uuid(id, 99999);
    cr_expect_eq(decide_org(p, id), 0, "the last line");
    cr_expect_eq(decide_org(p, "acme-corp"), 1);

    /* the dump writes the ids inline: it loads from a buffer, with the
     * same fingerprint, so a changed ids file is a changed plan */
    size_t need;
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, NULL, 0, &need), ROLLOUT_ERR_BUFFER);
    char *dump = malloc(need + 1);
    cr_assert_eq(rollout_plan_dump(p, ROLLOUT_FORMAT_YAML, dump, need + 1, NULL), ROLLOUT_OK);
    rollout_plan *q = NULL;
    cr_assert_eq(rollout_plan_load_buffer(dump, need, "dump", &q, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_expect_eq(q->fingerprint, p->fingerprint);
    rollout_plan_unref(q);
    free(dump);

    /* users_file, CRLF lines and blank lines */
    write_file("users.txt", "\r\nu1\r\n\r\nu2\n", 11);
    plan = HEAD "  - {id: pilot, match: {users_file: users.txt}}\n";
    write_file("plan2.yaml", plan, strlen(plan));
    snprintf(path, sizeof path, "%s/plan2.yaml", dir);
    rollout_plan *u = NULL;
    cr_assert_eq(rollout_plan_load_file(path, &u, &err), ROLLOUT_OK, "%s", err.message);
    rollout_context ctx = {.user = "u2", .user_len = 2};
    rollout_decision d;
    cr_assert_eq(rollout_decide(u, NULL, t_time("2026-03-02T10:00:00Z"), &ctx, &d), ROLLOUT_OK);
    cr_expect_eq(d.cohort, 0);
    cr_expect_eq(d.variant, ROLLOUT_NEW);
    ctx.user = "u3";
    cr_assert_eq(rollout_decide(u, NULL, t_time("2026-03-02T10:00:00Z"), &ctx, &d), ROLLOUT_OK);
    cr_expect_eq(d.cohort, -1);
    rollout_plan_unref(u);
    rollout_plan_unref(p);
    free(ids);
    remove_dir();
}

/* Loads a plan file whose pilot rule is `rule`; expects code at line 10
 * (the rule's line), column col, and needle in the message. */
static void refused(const char *rule, int code, int col, const char *needle)
{
    char plan[2048], path[128];
    snprintf(plan, sizeof plan, "%s  - {id: pilot, match: {%s}}\n", HEAD, rule);
    write_file("p.yaml", plan, strlen(plan));
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    rollout_plan *p = (rollout_plan *)1;
    rollout_error err = {0};
    cr_expect_eq(rollout_plan_load_file(path, &p, &err), code, "%s: %s", rule, err.message);
    cr_expect_null(p);
    cr_expect_eq(err.line, 10, "%s", err.message);
    cr_expect_eq(err.column, col, "%s", err.message);
    cr_expect(strstr(err.message, needle), "\"%s\" not in: %s", needle, err.message);
}

Test(ids, errors_point_at_the_plan_key)
{
    make_dir();
    write_file("dup.txt", "a\nb\n\na\n", 7);
    write_file("ctl.txt", "a\nb\x1b[31m\n", 10);
    write_file("bad.txt", "a\n\xff\n", 4);
    write_file("empty.txt", "\n\r\n", 3);
    /* the rule's value is at column 36 of "  - {id: pilot, match: {orgs_file: x}}" */
    refused("orgs_file: dup.txt", ROLLOUT_ERR_DUPLICATE, 36, "dup.txt:4: id \"a\" is listed twice (first at line 1)");
    refused("orgs_file: ctl.txt", ROLLOUT_ERR_ENCODING, 36, "ctl.txt:2:2: byte 0x1B");
    refused("orgs_file: bad.txt", ROLLOUT_ERR_ENCODING, 36, "bad.txt:2:1: byte 0xFF");
    refused("orgs_file: empty.txt", ROLLOUT_ERR_VALUE, 36, "holds no id");
    refused("orgs_file: missing.txt", ROLLOUT_ERR_IO, 36, "cannot open");
    refused("orgs_file: /etc/passwd", ROLLOUT_ERR_VALUE, 36, "not a path inside");
    refused("orgs_file: ../x.txt", ROLLOUT_ERR_VALUE, 36, "not a path inside");
    refused("orgs_file: a/../../x.txt", ROLLOUT_ERR_VALUE, 36, "not a path inside");
    refused("users_file: [a]", ROLLOUT_ERR_TYPE, 37, "expected a value");
    refused("orgs_file: dup.txt, org_in: [x]", ROLLOUT_ERR_VALUE, 45, "exactly one of");

    /* the ids file has its own cap, read one byte past it */
    char path[128];
    snprintf(path, sizeof path, "%s/huge.txt", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(ftruncate(fileno(f), (off_t)ROLLOUT_MAX_IDS_FILE_BYTES + 1), 0);
    fclose(f);
    refused("orgs_file: huge.txt", ROLLOUT_ERR_LIMIT, 36, "larger than 16777216 bytes");

    /* the ids of all lists and files count against ROLLOUT_MAX_IDS */
    size_t len;
    char *ids = uuid_lines(0, ROLLOUT_MAX_IDS / 2 + 1, "", &len);
    write_file("half1.txt", ids, len);
    free(ids);
    ids = uuid_lines(ROLLOUT_MAX_IDS, ROLLOUT_MAX_IDS / 2, "", &len);
    write_file("half2.txt", ids, len);
    free(ids);
    refused("any: [{orgs_file: half1.txt}, {users_file: half2.txt}]", ROLLOUT_ERR_LIMIT, 68,
            "the limit is 200000");
    remove_dir();
}

Test(ids, a_plan_from_a_buffer_cannot_name_an_ids_file)
{
    rollout_error err = {0};
    int rc = t_plan_error(HEAD "  - {id: pilot, match: {orgs_file: orgs.txt}}\n", &err);
    cr_expect_eq(rc, ROLLOUT_ERR_VALUE);
    cr_expect_eq(err.line, 10);
    cr_expect_eq(err.column, 36);
    cr_expect(strstr(err.message, "test.yaml:10:36: cohorts[0].match.orgs_file: an ids file "
                                  "needs a plan loaded from a file"),
              "%s", err.message);
}
