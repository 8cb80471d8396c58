/* SPDX-License-Identifier: MIT */
/*
 * cmd_follow.c — `rollout state follow`: keeps a state file equal to the
 * fleet's store, for gateways that read a file (examples/haproxy, any proxy
 * that re-reads a file) and must not talk to Redis from their request
 * threads. One per machine; it writes the file as every `rollout state`
 * writer does (its lock, a temporary file, fsync, rename), only when the
 * store holds a newer state that follows the one the file has. A store that
 * is down, or a value it refuses (unsigned, forged, replayed, another
 * plan's), leaves the file as it is: the gateways keep deciding with the
 * last good state, as the store's own readers do (docs/fleet.md).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "cli.h"
#include "rollout_store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void follow_help(FILE *f)
{
    fprintf(f,
            "usage: rollout state follow --store URL [--key-file PATH] --to FILE\n"
            "                            [--plan FILE | PLAN] [--once] [--wait-ms N]\n\n"
            "Keeps FILE equal to the rollout's state in the store, for gateways that read\n"
            "a state file (examples/haproxy). Writes FILE (atomically, under its writer\n"
            "lock) whenever the store holds a newer state that follows FILE's; a store\n"
            "that is down or a value it refuses leaves FILE as it is. Runs until SIGTERM\n"
            "or SIGINT; --once copies the store's current state and exits. One line on\n"
            "stderr per change, refusal and outage.\n\n"
            "exit status: 0 stopped (or --once copied), 1 the plan or FILE's state is\n"
            "invalid, 2 usage or I/O error (--once: the store unreachable or empty).\n");
}

typedef struct copy_job {
    const rollout_plan *plan;
    const rollout_state *want;
    char text[ROLLOUT_STATE_TEXT_MAX];
    size_t len;
} copy_job;

/* Under FILE's lock: replace it with the store's state unless FILE already
 * holds that revision or a later one (a person wrote it meanwhile: the next
 * store state that follows it wins). */
static int copy_update(const char *text, size_t len, char *out, size_t cap, size_t *out_len,
                       void *ctx)
{
    copy_job *j = ctx;
    rollout_state cur;
    *out_len = 0;
    if (len && rollout_state_decode(j->plan, text, len, &cur, NULL) == ROLLOUT_OK &&
        cur.plan_fingerprint == j->want->plan_fingerprint &&
        cur.revision >= j->want->revision)
        return CLI_OK;
    if (j->len >= cap)
        return CLI_USAGE;
    memcpy(out, j->text, j->len);
    *out_len = j->len;
    return CLI_OK;
}

static int write_file(const char *path, const rollout_plan *plan, const rollout_state *s)
{
    copy_job j = {.plan = plan, .want = s};
    j.len = rollout_state_encode(s, j.text, sizeof j.text);
    if (!j.len)
        return CLI_USAGE;
    /* a machine's first copy: an empty file that the locked write replaces
     * (readers take an empty file for no state yet) */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST) {
        fprintf(stderr, "rollout state follow: cannot create %s: %s\n", cli_text(path),
                strerror(errno));
        return CLI_USAGE;
    }
    return cli_state_update(path, copy_update, &j);
}

static void nap_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int cmd_state_follow(int argc, char **argv)
{
    const char *url = NULL, *key_file = NULL, *to = NULL, *plan_path = NULL, *v;
    bool once = false;
    int wait_ms = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            follow_help(stdout);
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--store", &v)) {
            url = v;
        } else if (cli_opt(argc, argv, &i, "--key-file", &v)) {
            key_file = v;
        } else if (cli_opt(argc, argv, &i, "--to", &v)) {
            to = v;
        } else if (cli_opt(argc, argv, &i, "--plan", &v)) {
            plan_path = v;
        } else if (cli_opt(argc, argv, &i, "--wait-ms", &v)) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 10 || n > 60000) {
                fprintf(stderr, "rollout state follow: --wait-ms is 10..60000\n");
                return CLI_USAGE;
            }
            wait_ms = (int)n;
        } else if (!strcmp(argv[i], "--once")) {
            once = true;
        } else if (argv[i][0] != '-' && !plan_path) {
            plan_path = argv[i];
        } else {
            fprintf(stderr, "rollout state follow: unexpected \"%s\"\n\n", cli_text(argv[i]));
            follow_help(stderr);
            return CLI_USAGE;
        }
    }
    if (!url || !to) {
        fprintf(stderr, "rollout state follow: --store URL and --to FILE are required\n\n");
        follow_help(stderr);
        return CLI_USAGE;
    }
    rollout_plan *plan;
    int rc = cli_load_plan(plan_path, &plan);
    if (rc)
        return rc;
    rollout_store *st = NULL;
    if ((rc = cli_store_open(url, key_file, &st))) {
        rollout_plan_unref(plan);
        return rc;
    }
    /* the file's state, when it has one of this plan, is the last good one:
     * a store value that does not follow it (an older revision, a restored
     * backup of another history) is refused, never copied */
    rollout_state held;
    uint64_t after = 0;
    bool have = false;
    /* cli_read_state says why a file it cannot use is refused; it is then
     * replaced by the store's state */
    if (access(to, F_OK) == 0 && cli_read_state(plan, to, NULL, NULL, &held) == CLI_OK) {
        have = true;
        after = held.revision;
        rollout_store_hold(st, plan, &held, NULL);
    }
    volatile int *stop = cli_stop_on_signals();

    bool down = false;
    rc = CLI_OK;
    while (!*stop) {
        rollout_state s;
        rollout_error err;
        /* nothing held yet: whatever the store has (a fresh state is
         * revision 0, which no watch reports as newer) */
        int w = have ? rollout_store_watch(st, plan, after, wait_ms, &s, &err)
                     : rollout_store_load(st, plan, &s, &err);
        if (w == ROLLOUT_OK) {
            if (down)
                fprintf(stderr, "rollout state follow: the store answers again\n");
            down = false;
            if ((rc = write_file(to, plan, &s)))
                break;
            fprintf(stderr, "rollout state follow: %s: %s, revision %llu\n", cli_text(to),
                    rollout_status_name(s.status), (unsigned long long)s.revision);
            held = s;
            have = true;
            after = s.revision;
            if (once)
                break;
        } else if (w == ROLLOUT_STORE_NO_CHANGE) {
            if (once)
                break;
        } else if (w == ROLLOUT_ERR_STORE || w == ROLLOUT_ERR_TIMEOUT ||
                   w == ROLLOUT_ERR_NOT_FOUND) {
            if (!down || once)
                fprintf(stderr, "rollout state follow: %s (%s kept)\n", cli_text(err.message),
                        cli_text(to));
            down = true;
            if (once) {
                rc = CLI_USAGE;
                break;
            }
            nap_ms(wait_ms);
        } else {
            /* refused (signature, replay, another plan's, corrupt): reported once
             * by the store for each bad value; the file keeps the last good state */
            fprintf(stderr, "rollout state follow: refused: %s (%s kept)\n",
                    cli_text(err.message), cli_text(to));
            if (once) {
                rc = CLI_INVALID;
                break;
            }
        }
    }
    rollout_store_close(st);
    rollout_plan_unref(plan);
    return rc;
}
