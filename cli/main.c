/* SPDX-License-Identifier: MIT */
/* main.c — the rollout tool: subcommand dispatch and the helpers they share. */
#include "cli.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmd_people(int argc, char **argv);

static const cli_command commands[] = {
    {"validate", "check a plan; errors as file:line:col: message", cmd_validate},
    {"show", "print the normalized plan (YAML, or --json)", cmd_show},
    {"simulate", "walk the whole rollout: steps, gates, decisions, a rollback", cmd_simulate},
    {"schedule", "where the rollout stands at a time: weights, gate, next change", cmd_schedule},
    {"calendar", "every step, gate and message with its time (table, json, ics, svg)", cmd_calendar},
    {"bucket", "print the buckets of unit ids under a salt or a plan's bucket function", cmd_bucket},
    {"decide", "decide one request (NEW or STABLE) and explain why", cmd_decide},
    {"state", "keep a rollout's state in a file: init, apply events, tick, show", cmd_state},
    {"status", "the live view of a rollout: steps, gates, rollback, trail (--watch)", cmd_status},
    {"promote", "rollout state apply promote --full ...: skip the phase's remaining steps",
     cmd_people},
    {"abort", "rollout state apply abort ...: roll back by hand", cmd_people},
    {"retry", "rollout state apply retry ...: a new attempt after a rollback", cmd_people},
    {"evaluate", "judge a metrics snapshot against a gate's criteria (exit 0/3/4/5)", cmd_evaluate},
    {"operator", "run the plan: tick, evaluate from Prometheus, deliver, run hooks", cmd_operator},
};

/* `rollout promote|abort|retry ARGS` is `rollout state apply VERB ARGS`, the
 * verbs Argo Rollouts users know. */
static int cmd_people(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: rollout %s%s (--state FILE | --store URL) [--by ROLE] [--at TIME]\n"
                   "       [PLAN]\n\n"
                   "The same as `rollout state apply %s ...`: %s\n"
                   "`rollout state --help` describes the options and exit statuses.\n",
                   argv[0],
                   !strcmp(argv[0], "promote") ? " --full --reason TEXT [--all-phases]"
                                               : " [--reason TEXT]",
                   argv[0],
                   !strcmp(argv[0], "promote")
                       ? "the rest of the current phase's steps (with --all-phases,\n"
                         "every phase's) happen now, up to a gate without its GO."
                   : !strcmp(argv[0], "abort")
                       ? "a manual rollback; the procedure's steps follow."
                       : "after a completed rollback, a new attempt from the start\n"
                         "of the phase that failed; its gates are decided again.");
            return CLI_OK;
        }
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args)
        return CLI_USAGE;
    args[0] = "state";
    args[1] = "apply";
    args[2] = argv[0];
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    int rc = cmd_state(argc + 2, args);
    free(args);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: rollout COMMAND [ARGS]\n\n"
               "With no PLAN argument, commands use the seed plan built into the library.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'rollout COMMAND --help' describes each command.\n"
               "librollout %s\n", rollout_version());
}

char *cli_read_state_file(const char *who, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s\n", who, cli_text(path));
        return NULL;
    }
    size_t cap = ROLLOUT_STATE_TEXT_MAX + 2, n = 0;
    char *buf = malloc(cap);
    if (buf)
        n = fread(buf, 1, cap - 1, f);
    fclose(f);
    if (!buf)
        return NULL;
    while (n && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cli_load_plan(const char *path, rollout_plan **out)
{
    rollout_error err;
    int rc;
    *out = NULL;
    if (path) {
        rc = rollout_plan_load_file(path, out, &err);
    } else {
        size_t len;
        const char *yaml = rollout_seed_plan(&len);
        rc = rollout_plan_load_buffer(yaml, len, "<seed>", out, &err);
    }
    if (rc == ROLLOUT_OK)
        return CLI_OK;
    fprintf(stderr, "%s\n", cli_text(err.message));
    return rc == ROLLOUT_ERR_IO || rc == ROLLOUT_ERR_NOMEM ? CLI_USAGE : CLI_INVALID;
}

bool cli_parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    int64_t v = strtoll(s, &end, 10);
    bool epoch = *s && *end == '\0';
    /* the library's strict ISO-8601 grammar, shared with plans */
    if (!epoch && !rp_parse_time(s, strlen(s), &v)) {
        fprintf(stderr,
                "rollout: \"%s\" is not a time (write 2026-02-28T09:00:00Z or epoch seconds)\n",
                cli_text(s));
        return false;
    }
    /* strtoll clamps an overflow to LLONG_MAX, which the schedule reads as
     * "never"; a millisecond timestamp would lock a state file until 9999 */
    if ((epoch && errno == ERANGE) || v < ROLLOUT_TIME_MIN || v > ROLLOUT_TIME_MAX) {
        fprintf(stderr,
                "rollout: \"%s\" is outside the times the library accepts, "
                "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z (epoch %lld .. %lld seconds)\n",
                cli_text(s), (long long)ROLLOUT_TIME_MIN, (long long)ROLLOUT_TIME_MAX);
        return false;
    }
    *out = v;
    return true;
}

bool cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0' || *i + 1 >= argc)
        return false;
    *value = argv[++*i];
    return true;
}

static void file_sink(void *f, const char *s, size_t n)
{
    fwrite(s, 1, n, f);
}

void cli_json_str(FILE *f, const char *s, size_t n)
{
    rp_json_escape(s, n, file_sink, f);
}

/* Escaped copies live in a ring, so that one printf may show several texts
 * and none outlives the next CLI_TEXT_SLOTS calls; the slots are reachable
 * until exit, so nothing leaks. */
enum { CLI_TEXT_SLOTS = 16 };

const char *cli_text(const char *s)
{
    static char *slots[CLI_TEXT_SLOTS];
    static unsigned next;
    if (!s || rp_text_is_plain(s, strlen(s)))
        return s;
    rp_buf b = {0};
    rp_buf_text(&b, s, strlen(s));
    if (b.failed || !b.data) {
        rp_buf_free(&b);
        return "(out of memory)"; /* never the raw text */
    }
    free(slots[next]);
    slots[next] = b.data;
    next = (next + 1) % CLI_TEXT_SLOTS;
    return b.data;
}

void cli_format_time(int64_t t, char *buf, size_t cap)
{
    rp_format_time(t, buf, cap);
}

const char *cli_percent(uint32_t w)
{
    static char slots[8][16];
    static unsigned next;
    char *b = slots[next];
    next = (next + 1) % 8;
    rp_format_percent(w, b, sizeof slots[0]);
    return b;
}

void cli_format_offset(int64_t t, int64_t start, char *buf, size_t cap)
{
    rp_format_offset(t, start, buf, cap);
}

void cli_started_state(const rollout_plan *plan, int64_t start, rollout_state *s)
{
    memset(s, 0, sizeof *s);
    s->format = ROLLOUT_STATE_FORMAT;
    s->status = ROLLOUT_STATUS_RUNNING;
    s->plan_fingerprint = rollout_plan_fingerprint(plan);
    s->started_at = start;
    s->updated_at = start;
    s->status_since[ROLLOUT_STATUS_RUNNING] = start;
    s->phase = s->step = -1;
    s->gate = rollout_plan_gate_count(plan) ? 0 : -1;
    s->last_verdict = -1;
    s->rollback_reason = -1;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        s->gate_override_role[g] = -1;
    s->attempt = 1;
    s->attempt_step = s->attempt_gate = -1;
}

int cli_project_gos(const rollout_plan *plan, rollout_state *s, int64_t at)
{
    rollout_schedule_info info;
    int rc = rollout_schedule(plan, s, at, &info);
    /* each GO recorded when its gate falls due, as an on-time approver would;
     * only gates due by `at`, so the answer still shows the next gate ahead */
    for (int g = 0; !rc && info.gate_pending && g < ROLLOUT_MAX_GATES; g++) {
        s->gate_go_at[info.gate] = info.gate_due;
        rc = rollout_schedule(plan, s, at, &info);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("rollout %s\n", rollout_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rollout: unknown command \"%s\"\n\n", cli_text(argv[1]));
    usage(stderr);
    return CLI_USAGE;
}
