/* SPDX-License-Identifier: MIT */
/*
 * cmd_state.c — `rollout state`: the state machine for ops scripts.
 *
 *   rollout state init  --state FILE [PLAN]
 *   rollout state apply EVENT [ARGS] --state FILE [PLAN] [--at TIME] [--json]
 *   rollout state tick  --state FILE [PLAN] [--at TIME] [--json]
 *   rollout state show  --state FILE [PLAN] [--at TIME] [--json]
 *
 * The state file holds one line: the rs2 text of rollout_state_encode. A new
 * state is written to a temporary file in the same directory, fsync'ed,
 * renamed over the old one and the directory fsync'ed, so a crash at any
 * moment leaves the old state or the new one, never a torn file. Writers
 * take an exclusive flock on FILE.lock (next to the symlink-resolved FILE,
 * openable only by those who may write the state) from the read to the
 * rename, so two scripts applying events at once are serialized instead of
 * losing one of the two events; a writer waits --lock-timeout seconds at
 * most, then exits 75 naming the holder. An event the state machine refuses
 * leaves the file untouched (exit 1).
 *
 * Each takes --store URL [--key-file PATH] in place of --state FILE: the
 * state then lives in a shared store (docs/fleet.md, cmd_store.c), every
 * write a compare-and-set on its revision; no file and no lock is involved.
 */
#define _DEFAULT_SOURCE /* mkstemp, fsync, flock, realpath */

#include "cli.h"
#include "internal.h"
#include "rollout_store.h"
#include "../operator/operator.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char state_usage[] =
    "usage: rollout state init --state FILE [--plan FILE | PLAN] [--force]\n"
    "       rollout state apply EVENT [ARGS] --state FILE [--plan FILE | PLAN] [--at TIME]\n"
    "                               [--json] [--lock-timeout SECONDS]\n"
    "       rollout state tick --state FILE [--plan FILE | PLAN] [--at TIME] [--json]\n"
    "                               [--lock-timeout SECONDS]\n"
    "       rollout state show --state FILE [--plan FILE | PLAN] [--at TIME] [--json]\n"
    "       (each with --store URL [--key-file PATH] in place of --state FILE)\n";

static void state_help(void)
{
    printf("%s\n"
           "Keeps a rollout's state in FILE (one line of rs2 text) and applies events to\n"
           "it with the library's state machine (docs/state-machine.md). Each command\n"
           "prints the actions the caller must perform, one per line, the action's name\n"
           "first (or, with --json, one JSON object), and writes the new state\n"
           "atomically: temporary file, fsync, rename, fsync of the directory.\n\n"
           "  init          write a NOT_STARTED state for PLAN (refuses to overwrite an\n"
           "                existing FILE unless --force)\n"
           "  apply EVENT   apply one event (below)\n"
           "  tick          let time pass: emit what fell due, detect the rollback deadline\n"
           "  show          print the state and the weights at TIME\n"
           "  migrate       carry FILE over to an edited plan (rollout state migrate --help)\n"
           "  follow        keep a state file equal to the store (rollout state follow --help)\n\n"
           "events:\n"
           "  start                          begin the rollout now\n"
           "  approve GATE ROLE              one approver of a gate says go\n"
           "  go [GATE] [--override ROLE --reason TEXT [--override-verdict]]\n"
           "                                 decide GO: needs every approver and a PASS\n"
           "                                 verdict, or an override by ROLE, one of the\n"
           "                                 gate's override_roles, with a reason; over a\n"
           "                                 FAIL or ROLLBACK verdict also\n"
           "                                 --override-verdict\n"
           "  no-go [GATE]                   decide NO-GO: the gate's on_no_go happens\n"
           "  pause | resume                 freeze the schedule / go on (resume also lifts\n"
           "                                 a halt)\n"
           "  verdict pass|fail|inconclusive|rollback\n"
           "                                 record an evaluation of the current gate\n"
           "  rollback REASON                manual, critical_bug, data_corruption, error_rate\n"
           "  confirm WHAT                   a rollback step is done: traffic_halted,\n"
           "                                 previous_restored, smoke_passed, smoke_failed,\n"
           "                                 service_resumed, incident_opened, postmortem_done\n"
           "  abort                          roll back by hand (a manual rollback)\n"
           "  retry                          after a completed rollback: a new attempt\n"
           "                                 from the start of the phase that failed\n"
           "  promote --full --reason TEXT [--all-phases]\n"
           "                                 the rest of the current phase's steps (every\n"
           "                                 phase's) happen now, up to a gate without\n"
           "                                 its GO\n"
           "  escalate                       an issue is escalated (communication plan)\n"
           "  tick                           the same as `rollout state tick`\n"
           "GATE and ROLE are ids of the plan (canary-go, sre-lead); GATE defaults to the\n"
           "next gate. Names may be written with - or _. Every event may carry\n"
           "--reason TEXT and --by ROLE (who sends it): the audit trail keeps both with\n"
           "the time (the reason cut to 47 bytes).\n\n"
           "options:\n"
           "  --state FILE   the state file (required)\n"
           "  --plan FILE    the plan (default: the built-in seed plan). PLAN may also\n"
           "                 be written as the last positional argument, after every\n"
           "                 argument of the event (go and no-go: after GATE, which must\n"
           "                 then be written too); nothing is guessed from its name\n"
           "  --at TIME      when the event happens (2026-02-28T09:00:00Z or epoch\n"
           "                 seconds; default: the system clock)\n"
           "  --json         print JSON instead of lines\n"
           "  --store URL    keep the state in a shared store instead of FILE:\n"
           "                 redis://[user:password@]host[:port][/db] or unix:///path\n"
           "                 (docs/fleet.md). Writes are a compare-and-set on the revision,\n"
           "                 retried on a conflict; a store that cannot be used (no answer\n"
           "                 within 500 ms, ROLLOUT_STORE_TIMEOUT_MS) is exit 2, naming the\n"
           "                 store, with nothing written. init never replaces a state\n"
           "  --key-file PATH  sign states with, and require signatures of, the\n"
           "                 HMAC-SHA-256 key in PATH\n"
           "  --lock-timeout SECONDS\n"
           "                 how long init, apply and tick wait for another writer's lock\n"
           "                 (default 10; 0 tries once)\n\n"
           "writing: FILE may be a symlink; the file it leads to is written (init creates\n"
           "it) and the link stays. Writers serialize on FILE.lock beside that file,\n"
           "created with FILE's write permissions (readers cannot open it) and never\n"
           "removed; the clock is read once the lock is held. Temporary files .FILE.XXXXXX\n"
           "that killed writers left are removed under the lock. `show` takes no lock.\n\n"
           "exit status: 0 done, 1 the event is not valid now or the state or plan is\n"
           "invalid (FILE untouched), 2 usage or I/O error (FILE untouched; also when\n"
           "FILE.lock cannot be opened read-write, or a write exceeds the file size\n"
           "limit), 75 another writer held FILE.lock for --lock-timeout seconds (the\n"
           "holder is named; nothing was applied; try again).\n",
           state_usage);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "rollout state: ");
    fprintf(stderr, fmt, cli_text(arg));
    fprintf(stderr, "\n%s", state_usage);
    return CLI_USAGE;
}

/* A plan file written where something else belongs: what to write instead. */
static int plan_misplaced(const char *arg, const char *belongs, const char *instead)
{
    fprintf(stderr, "rollout state: \"%s\" stands where %s belongs; write the plan as --plan %s "
                    "(or %s)\n%s",
            cli_text(arg), belongs, cli_text(arg), instead, state_usage);
    return CLI_USAGE;
}

/* ---- names -------------------------------------------------------------------- */

/* Equal, treating '-' and '_' alike and ignoring case. */
static bool name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return *a == *b;
}

static int lookup(const char *s, const char *(*name)(int), int count)
{
    for (int i = 0; i < count; i++)
        if (name_eq(s, name(i)))
            return i;
    return -1;
}

static int gate_index(const rollout_plan *p, const char *id)
{
    for (int g = 0; g < rollout_plan_gate_count(p); g++)
        if (!strcmp(rollout_plan_gate_name(p, g), id))
            return g;
    return -1;
}

static int role_index(const rollout_plan *p, const char *id)
{
    for (int r = 0; r < rollout_plan_role_count(p); r++)
        if (!strcmp(rollout_plan_role_name(p, r), id))
            return r;
    return -1;
}

static void list_names(FILE *f, const char *(*name)(const rollout_plan *, int), int count,
                       const rollout_plan *p)
{
    for (int i = 0; i < count; i++)
        fprintf(f, "%s%s", i ? ", " : "", cli_text(name(p, i)));
}

static void format_roles(const rollout_plan *p, uint32_t roles, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int r = 0; r < rollout_plan_role_count(p) && r < 32; r++)
        if (roles & (1u << r)) {
            int n = snprintf(buf + len, cap - len, "%s%s", len ? "," : "",
                             cli_text(rollout_plan_role_name(p, r)));
            if (n < 0 || (size_t)n >= cap - len)
                break;
            len += (size_t)n;
        }
}

static const char *unit_name(int unit)
{
    static const char *const names[] = {"org", "user", "session", "request"};
    return unit >= 0 && unit < 4 ? names[unit] : NULL;
}

/* ---- the state file ------------------------------------------------------------- */

/* Reads FILE into buf (one line, trailing whitespace dropped). */
static int read_state_text(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "rollout state: cannot open %s: %s\n", cli_text(path), strerror(errno));
        return CLI_USAGE;
    }
    size_t n = fread(buf, 1, cap, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "rollout state: cannot read %s\n", cli_text(path));
        return CLI_USAGE;
    }
    if (n == cap) {
        fprintf(stderr, "rollout state: %s is not a state file (too long)\n", cli_text(path));
        return CLI_INVALID;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    *len = n;
    return CLI_OK;
}

/* The directory part of path ("." when none), in buf. */
static void dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* Writes text + "\n" to path so that a crash leaves the old file or the new
 * one: a temporary file in the same directory (rename is atomic only within
 * a file system), fsync'ed before the rename, and the directory fsync'ed
 * after it so the rename itself is durable. */
/* The outbox journal beside the state file (docs/operator.md, "Delivery
 * guarantees"): the deliveries the transition from cur to next owes. */
static int owe_deliveries(const char *real, const rollout_plan *plan, const rollout_state *cur,
                          const rollout_state *next, const rollout_action *actions, size_t n)
{
    char journal[PATH_MAX + 8];
    snprintf(journal, sizeof journal, "%s.outbox", real);
    op_entries *ent = calloc(1, sizeof *ent);
    if (!ent) {
        fprintf(stderr, "rollout state: out of memory\n");
        return CLI_USAGE;
    }
    rollout_error err;
    int rc = op_owe_journal(journal, plan, cur->revision, next, actions, n, ent, &err);
    op_entries_free(ent);
    free(ent);
    if (rc) {
        fprintf(stderr, "rollout state: %s\n", cli_text(err.message));
        return rc == ROLLOUT_ERR_LIMIT ? CLI_INVALID : CLI_USAGE;
    }
    return CLI_OK;
}

static int write_state_atomic(const char *path, const char *text, size_t len)
{
    char dir[4096], tmp[4200];
    dir_of(path, dir, sizeof dir);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, base) >= (int)sizeof tmp) {
        fprintf(stderr, "rollout state: path too long: %s\n", cli_text(path));
        return CLI_USAGE;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "rollout state: cannot create a file in %s: %s\n", cli_text(dir),
                strerror(errno));
        return CLI_USAGE;
    }
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
    size_t off = 0;
    bool ok = fchmod(fd, mode) == 0;
    while (ok && off < len + 1) {
        const char *from = off < len ? text + off : "\n";
        size_t want = off < len ? len - off : 1;
        ssize_t n = write(fd, from, want);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            off += (size_t)n;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = false;
    }
    if (!ok) {
        fprintf(stderr, "rollout state: cannot write %s: %s%s\n", cli_text(path), strerror(saved),
                saved == EFBIG ? " (the file size limit, ulimit -f, is too small); the state "
                                 "is unchanged"
                               : "");
        unlink(tmp);
        return CLI_USAGE;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return CLI_OK;
}

/* ---- the writers' lock ------------------------------------------------------------ */

/* Exit status when another writer holds the lock past --lock-timeout: the
 * event was not applied and may be retried (EX_TEMPFAIL of sysexits.h). */
enum { STATE_LOCK_BUSY = 75 };

#define LOCK_RECORD "rollout state lock: "

/* The state's real path: every symlink followed, also a dangling one (init
 * creates its target), and the directory canonicalized. Writers write the
 * file the gateways read, not a link to it, and every spelling of one state
 * (a link, a linked directory) takes the same lock. */
static int resolve_state_path(const char *path, char *out, size_t cap)
{
    char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX], real_dir[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) {
        fprintf(stderr, "rollout state: path too long: %s\n", cli_text(path));
        return CLI_USAGE;
    }
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            break;
        ssize_t n = hops < 40 ? readlink(cur, link, sizeof link - 1) : -1;
        if (n < 0) {
            fprintf(stderr, "rollout state: cannot follow the symlink %s: %s\n", cli_text(cur),
                    hops < 40 ? strerror(errno) : strerror(ELOOP));
            return CLI_USAGE;
        }
        link[n] = '\0';
        dir_of(cur, dir, sizeof dir);
        if ((link[0] == '/' ? snprintf(cur, sizeof cur, "%s", link)
                            : snprintf(cur, sizeof cur, "%s/%s", dir, link)) >= (int)sizeof cur) {
            fprintf(stderr, "rollout state: path too long: %s\n", cli_text(link));
            return CLI_USAGE;
        }
    }
    dir_of(cur, dir, sizeof dir);
    const char *base = strrchr(cur, '/') ? strrchr(cur, '/') + 1 : cur;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
        fprintf(stderr, "rollout state: %s is not a file name\n", cli_text(cur));
        return CLI_USAGE;
    }
    if (!realpath(dir, real_dir)) {
        fprintf(stderr, "rollout state: %s: cannot reach the directory %s: %s\n", cli_text(path), cli_text(dir),
                strerror(errno));
        return CLI_USAGE;
    }
    if (snprintf(out, cap, "%s/%s", strcmp(real_dir, "/") ? real_dir : "", base) >= (int)cap) {
        fprintf(stderr, "rollout state: path too long: %s/%s\n", cli_text(real_dir), cli_text(base));
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Names the lock's holder from the record it wrote, in buf. */
static void lock_holder(int fd, char *buf, size_t cap)
{
    char rec[512], host[256] = "", their_host[256];
    ssize_t n = pread(fd, rec, sizeof rec - 1, 0);
    rec[n > 0 ? n : 0] = '\0';
    rec[strcspn(rec, "\n")] = '\0';
    long pid = 0;
    const size_t k = strlen(LOCK_RECORD);
    bool recorded = !strncmp(rec, LOCK_RECORD, k) &&
                    sscanf(rec + k, "pid %ld on %255s", &pid, their_host) == 2 && pid > 0;
    gethostname(host, sizeof host - 1);
    /* a record left by a writer that was killed names nobody */
    if (recorded && !strcmp(host, their_host) && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        snprintf(buf, cap, "held by a process that did not record itself (for example "
                           "flock(1)); the last recorded holder, pid %ld, has exited", pid);
    else if (recorded)
        snprintf(buf, cap, "held by %s", rec + k);
    else
        snprintf(buf, cap, "held by a process that did not record itself (for example flock(1))");
}

/* Records who holds the lock, for the message of a writer that gives up
 * waiting: pid, host, since when, the command line. */
static void lock_record(int fd, int argc, char **argv)
{
    char rec[512], host[256] = "", when[32];
    gethostname(host, sizeof host - 1);
    cli_format_time((int64_t)time(NULL), when, sizeof when);
    int len = snprintf(rec, sizeof rec, LOCK_RECORD "pid %ld on %s since %s: rollout",
                       (long)getpid(), host[0] ? host : "?", when);
    for (int i = 0; i < argc && len > 0 && len < (int)sizeof rec - 2; i++) {
        rec[len++] = ' ';
        for (const char *c = argv[i]; *c && len < (int)sizeof rec - 2; c++)
            rec[len++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
    }
    if (len <= 0)
        return;
    rec[len++] = '\n';
    /* informational only: a failure (a full disk, RLIMIT_FSIZE) leaves it out */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, rec, (size_t)len, 0) < 0)
        return;
}

/* Takes the writers' lock of the state at real: an exclusive flock on
 * REAL.lock, a file opened read-write and created with the state's write
 * permissions only (owner rw, and rw for group or others only when they may
 * write the state), so a reader cannot open it, let alone lock it. Waits at
 * most timeout seconds. Returns the descriptor, held until exit, or -1 with
 * the exit code in *rc. */
static int lock_state(const char *real, double timeout, int argc, char **argv, int *rc)
{
    char lp[PATH_MAX + 8];
    *rc = CLI_USAGE;
    if (snprintf(lp, sizeof lp, "%s.lock", real) >= (int)sizeof lp) {
        fprintf(stderr, "rollout state: path too long: %s.lock\n", cli_text(real));
        return -1;
    }
    struct stat st;
    bool have_state = stat(real, &st) == 0;
    mode_t mode = 0600;
    if (have_state)
        mode |= (st.st_mode & S_IWGRP ? 0060 : 0) | (st.st_mode & S_IWOTH ? 0006 : 0);
    int fd = open(lp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) {
        /* the umask must not lock out writers the state lets in */
        if (fchmod(fd, mode) != 0 ||
            (have_state && fchown(fd, (uid_t)-1, st.st_gid) != 0)) {
            /* the group stays the creator's: writers of the state's group get EACCES below */
        }
    } else if (errno == EEXIST) {
        fd = open(lp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    }
    struct stat lst;
    if (fd < 0 || fstat(fd, &lst) != 0 || !S_ISREG(lst.st_mode)) {
        if (fd < 0)
            fprintf(stderr,
                    "rollout state: cannot open the lock file %s read-write: %s (every writer "
                    "of the state must be able to)\n",
                    cli_text(lp), errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        else
            fprintf(stderr, "rollout state: the lock file %s is not a regular file\n", cli_text(lp));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* a lock file readable by those who may not write the state lets them
     * stall every writer; its owner takes those bits away */
    mode_t extra = lst.st_mode & 0066 & ~mode;
    if (extra && lst.st_uid == geteuid() && fchmod(fd, (lst.st_mode & 07777) & ~extra) != 0) {
        /* left as it is; readers could hold the lock, writers still time out */
    }

    struct timespec start, t;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long delay_ns = 1000000;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            fprintf(stderr, "rollout state: cannot lock %s: %s\n", cli_text(lp), strerror(errno));
            close(fd);
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        double waited = (double)(t.tv_sec - start.tv_sec) + (double)(t.tv_nsec - start.tv_nsec) / 1e9;
        if (waited >= timeout) {
            char holder[700];
            lock_holder(fd, holder, sizeof holder);
            fprintf(stderr,
                    "rollout state: another writer holds %s; gave up after %g s (--lock-timeout): "
                    "%s\n",
                    cli_text(lp), timeout, cli_text(holder));
            close(fd);
            *rc = STATE_LOCK_BUSY;
            return -1;
        }
        double left_ns = (timeout - waited) * 1e9;
        struct timespec nap = {0, left_ns < (double)delay_ns ? (long)left_ns + 1 : delay_ns};
        nanosleep(&nap, NULL);
        if (delay_ns < 50000000)
            delay_ns *= 2;
    }
    /* REAL.lock may name another state ("S" and "S.lock" side by side):
     * never write a record over something that is not one */
    char head[sizeof LOCK_RECORD];
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    if (n > 0 && strncmp(head, LOCK_RECORD, (size_t)n < strlen(LOCK_RECORD) ? (size_t)n
                                                                         : strlen(LOCK_RECORD))) {
        fprintf(stderr, "rollout state: %s holds something else than a lock of rollout state; "
                        "move it away\n", lp);
        close(fd);
        return -1;
    }
    lock_record(fd, argc, argv);
    *rc = CLI_OK;
    return fd;
}

/* Drops the holder's record (a waiter must not name a writer that is done)
 * and the lock. */
static void unlock_state(int fd)
{
    if (ftruncate(fd, 0) != 0) {
        /* a waiter finds the pid gone and says so */
    }
    close(fd);
}

/* Removes the temporary files that killed writers of this state left
 * (.BASE.XXXXXX, as write_state_atomic names them). Called with the lock
 * held: only a lock holder creates them, so none belongs to a live writer.
 * Needs read permission on the directory; without it they stay. */
static void remove_stale_temps(const char *real)
{
    char dir[PATH_MAX];
    dir_of(real, dir, sizeof dir);
    const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] != '.' || strncmp(n + 1, base, blen) || n[1 + blen] != '.' ||
            strlen(n) != blen + 8)
            continue;
        bool alnum = true;
        for (const char *c = n + blen + 2; *c; c++)
            alnum = alnum && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                              (*c >= '0' && *c <= '9'));
        struct stat st;
        if (alnum && fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* ---- printing ---------------------------------------------------------------------- */

static void print_action(const rollout_plan *p, const rollout_action *a)
{
    char roles[512], when[32], weight[16];
    format_roles(p, a->roles, roles, sizeof roles);
    const char *name = rollout_action_name(a->type);
    const char *text = a->text ? a->text : "";
    switch (a->type) {
    case ROLLOUT_ACTION_SET_WEIGHT:
        rp_format_weight(a->weight, weight, sizeof weight);
        printf("%s %s %s", name, cli_text(rollout_plan_cohort_name(p, a->cohort)), weight);
        if (unit_name(a->unit))
            printf(" by %s", unit_name(a->unit));
        break;
    case ROLLOUT_ACTION_NOTIFY:
        printf("%s %s via %s to %s (owners %s): %s", name, cli_text(a->id),
               a->channel ? cli_text(a->channel) : "-", a->audience ? cli_text(a->audience) : "-",
               roles[0] ? roles : "-", cli_text(text));
        break;
    case ROLLOUT_ACTION_GATE_DUE:
        cli_format_time(a->due, when, sizeof when);
        printf("%s %s due %s, approvers %s", name, cli_text(a->id), when, roles);
        if (*text)
            printf(": %s", cli_text(text));
        break;
    case ROLLOUT_ACTION_PAGE:
        printf("%s %s (%s): %s", name, roles[0] ? roles : "on-call", a->id ? cli_text(a->id) : "-",
               cli_text(text));
        break;
    case ROLLOUT_ACTION_RESTORE_PREVIOUS:
    case ROLLOUT_ACTION_RUN_SMOKE_TESTS:
        printf("%s %s (%s): %s", name, a->label ? cli_text(a->label) : "-",
               a->id ? cli_text(a->id) : "-", cli_text(text));
        break;
    case ROLLOUT_ACTION_SCHEDULE_POSTMORTEM:
    case ROLLOUT_ACTION_ESCALATE:
        cli_format_time(a->due, when, sizeof when);
        printf("%s due %s (%s): %s", name, when, a->id ? cli_text(a->id) : "-", cli_text(text));
        break;
    case ROLLOUT_ACTION_COMPLETE:
        printf("%s %s", name, a->id ? cli_text(a->id) : "-");
        break;
    default: /* halt_traffic, resume_service, open_incident */
        printf("%s (%s)", name, a->id ? cli_text(a->id) : "-");
        if (*text)
            printf(": %s", cli_text(text));
        break;
    }
    putchar('\n');
}

static void json_kv_str(const char *key, const char *v, bool *first)
{
    printf("%s\"%s\": ", *first ? "" : ", ", key);
    *first = false;
    if (v)
        cli_json_str(stdout, v, strlen(v));
    else
        fputs("null", stdout);
}

static void json_kv_int(const char *key, long long v, bool *first)
{
    printf("%s\"%s\": %lld", *first ? "" : ", ", key, v);
    *first = false;
}

static void json_kv_time(const char *key, int64_t t, bool *first)
{
    char buf[32];
    if (!t) {
        json_kv_str(key, NULL, first);
        return;
    }
    cli_format_time(t, buf, sizeof buf);
    json_kv_str(key, buf, first);
}

static void json_roles(const char *key, const rollout_plan *p, uint32_t roles, bool *first)
{
    printf("%s\"%s\": [", *first ? "" : ", ", key);
    *first = false;
    bool any = false;
    for (int r = 0; r < rollout_plan_role_count(p) && r < 32; r++)
        if (roles & (1u << r)) {
            printf("%s", any ? ", " : "");
            const char *id = rollout_plan_role_name(p, r);
            cli_json_str(stdout, id, strlen(id));
            any = true;
        }
    putchar(']');
}

static void json_action(const rollout_plan *p, const rollout_action *a)
{
    bool first = true;
    putchar('{');
    json_kv_str("type", rollout_action_name(a->type), &first);
    json_kv_str("id", a->id, &first);
    switch (a->type) {
    case ROLLOUT_ACTION_SET_WEIGHT:
        json_kv_str("cohort", rollout_plan_cohort_name(p, a->cohort), &first);
        json_kv_int("weight", a->weight, &first);
        printf(", \"percent\": %s", cli_percent(a->weight)); /* a number, as everywhere */
        json_kv_str("unit", unit_name(a->unit), &first);
        break;
    case ROLLOUT_ACTION_NOTIFY:
        json_kv_str("channel", a->channel, &first);
        json_kv_str("audience", a->audience, &first);
        json_roles("owners", p, a->roles, &first);
        break;
    case ROLLOUT_ACTION_GATE_DUE:
        json_kv_time("due", a->due, &first);
        json_roles("approvers", p, a->roles, &first);
        break;
    case ROLLOUT_ACTION_PAGE:
        json_roles("roles", p, a->roles, &first);
        break;
    case ROLLOUT_ACTION_RESTORE_PREVIOUS:
    case ROLLOUT_ACTION_RUN_SMOKE_TESTS:
        json_kv_str("label", a->label, &first);
        break;
    case ROLLOUT_ACTION_SCHEDULE_POSTMORTEM:
    case ROLLOUT_ACTION_ESCALATE:
        json_kv_time("due", a->due, &first);
        break;
    default:
        break;
    }
    json_kv_str("text", a->text, &first);
    putchar('}');
}

static const char *phase_name(const rollout_plan *p, int phase)
{
    const char *n = phase >= 0 ? rollout_plan_phase_name(p, phase) : NULL;
    return n ? n : NULL;
}

static void show_text(const rollout_plan *p, const rollout_state *s, const char *text,
                      int64_t now)
{
    char t[32];
    printf("plan        %s\n", cli_text(rollout_plan_id(p)));
    printf("status      %s", rollout_status_name(s->status));
    if (s->status_since[s->status]) {
        cli_format_time(s->status_since[s->status], t, sizeof t);
        printf(" since %s", t);
    }
    printf("\nrevision    %llu\n", (unsigned long long)s->revision);
    if (s->started_at) {
        cli_format_time(s->started_at, t, sizeof t);
        printf("started     %s\n", t);
    }
    if (s->updated_at) {
        cli_format_time(s->updated_at, t, sizeof t);
        printf("updated     %s\n", t);
    }
    if (s->attempt > 1)
        printf("attempt     %d\n", s->attempt);
    if (s->phase >= 0)
        printf("position    phase %s, step %d\n", cli_text(phase_name(p, s->phase)), s->step + 1);
    /* a rollback waits for confirmations, not for a gate */
    if (s->gate >= 0 && s->status != ROLLOUT_STATUS_ROLLING_BACK &&
        s->status != ROLLOUT_STATUS_ROLLED_BACK) {
        char roles[512];
        printf("next gate   %s", cli_text(rollout_plan_gate_name(p, s->gate)));
        format_roles(p, s->gate_approvals[s->gate], roles, sizeof roles);
        printf(", approved by %s", roles[0] ? roles : "nobody yet");
        if (s->gate_no_go_at[s->gate]) {
            cli_format_time(s->gate_no_go_at[s->gate], t, sizeof t);
            printf(", no-go at %s", t);
        }
        putchar('\n');
    }
    for (int g = 0; g < rollout_plan_gate_count(p); g++)
        if (s->gate_go_at[g]) {
            cli_format_time(s->gate_go_at[g], t, sizeof t);
            printf("gate        %s: GO at %s", cli_text(rollout_plan_gate_name(p, g)), t);
            if (s->gate_override_role[g] >= 0)
                printf(" (override by %s)",
                       cli_text(rollout_plan_role_name(p, s->gate_override_role[g])));
            putchar('\n');
        }
    printf("verdict     %s", s->last_verdict >= 0 ? rollout_verdict_name(s->last_verdict) : "none");
    if (s->consecutive_failures || s->consecutive_inconclusive)
        printf(" (%d failed, %d inconclusive in a row)", s->consecutive_failures,
               s->consecutive_inconclusive);
    putchar('\n');
    for (int i = 0; i < s->n_pauses; i++) {
        char to[32] = "now";
        cli_format_time(s->pause_from[i], t, sizeof t);
        if (s->pause_to[i])
            cli_format_time(s->pause_to[i], to, sizeof to);
        printf("pause       %s .. %s\n", t, to);
    }
    if (s->rollback_reason >= 0) {
        cli_format_time(s->rollback_started_at, t, sizeof t);
        printf("rollback    %s, started %s\n", rollout_rollback_reason_name(s->rollback_reason), t);
    }
    rollout_schedule_info info;
    if (rollout_schedule(p, s, now, &info) == ROLLOUT_OK) {
        cli_format_time(now, t, sizeof t);
        printf("weights     at %s:", t);
        for (int c = 0; c < info.n_cohorts; c++) {
            char w[16];
            rp_format_weight(info.cohorts[c].weight, w, sizeof w);
            printf("%s %s %s", c ? "," : "", cli_text(rollout_plan_cohort_name(p, c)), w);
        }
        putchar('\n');
    }
    printf("text        %s\n", cli_text(text));
}

static void show_json(const rollout_plan *p, const rollout_state *s, const char *text, int64_t now)
{
    bool first = true;
    putchar('{');
    json_kv_str("plan", rollout_plan_id(p), &first);
    json_kv_str("status", rollout_status_name(s->status), &first);
    json_kv_int("revision", (long long)s->revision, &first);
    json_kv_int("attempt", s->attempt, &first);
    json_kv_time("started_at", s->started_at, &first);
    json_kv_time("updated_at", s->updated_at, &first);
    json_kv_str("phase", phase_name(p, s->phase), &first);
    json_kv_int("step", s->step, &first);
    json_kv_str("gate", s->gate >= 0 ? rollout_plan_gate_name(p, s->gate) : NULL, &first);
    json_roles("approvals", p, s->gate >= 0 ? s->gate_approvals[s->gate] : 0, &first);
    json_kv_str("last_verdict", s->last_verdict >= 0 ? rollout_verdict_name(s->last_verdict) : NULL,
                &first);
    json_kv_int("pauses", s->n_pauses, &first);
    json_kv_str("rollback_reason",
                s->rollback_reason >= 0 ? rollout_rollback_reason_name(s->rollback_reason) : NULL,
                &first);
    rollout_schedule_info info;
    if (rollout_schedule(p, s, now, &info) == ROLLOUT_OK) {
        printf(", \"weights\": {");
        for (int c = 0; c < info.n_cohorts; c++) {
            const char *id = rollout_plan_cohort_name(p, c);
            printf("%s", c ? ", " : "");
            cli_json_str(stdout, id, strlen(id));
            printf(": %u", info.cohorts[c].weight);
        }
        /* the same weights in percent */
        printf("}, \"percent\": {");
        for (int c = 0; c < info.n_cohorts; c++) {
            const char *id = rollout_plan_cohort_name(p, c);
            printf("%s", c ? ", " : "");
            cli_json_str(stdout, id, strlen(id));
            printf(": %s", cli_percent(info.cohorts[c].weight));
        }
        putchar('}');
    }
    printf(", \"trail\": ");
    cli_trail_json(p, s);
    json_kv_str("state", text, &first);
    printf("}\n");
}

/* ---- events ------------------------------------------------------------------------ */

/* What the options add to an event. */
typedef struct event_opts {
    const char *override_role, *reason, *by;
    bool override_verdict, full, all_phases;
} event_opts;

/* How many positional arguments each event takes: min and max. */
static bool event_arity(int type, int *min, int *max)
{
    switch (type) {
    case ROLLOUT_EVENT_APPROVE: *min = *max = 2; return true;
    case ROLLOUT_EVENT_GO:
    case ROLLOUT_EVENT_NO_GO: *min = 0; *max = 1; return true;
    case ROLLOUT_EVENT_VERDICT:
    case ROLLOUT_EVENT_ROLLBACK:
    case ROLLOUT_EVENT_CONFIRM: *min = *max = 1; return true;
    default: *min = *max = 0; return true;
    }
}

/* Fills *e from the event name and its arguments; prints the problem and
 * returns an exit code on failure. */
static int no_role(const rollout_plan *p, const char *r)
{
    fprintf(stderr, "rollout state: the plan has no role \"%s\" (roles: ", cli_text(r));
    list_names(stderr, rollout_plan_role_name, rollout_plan_role_count(p), p);
    fprintf(stderr, ")\n");
    return CLI_INVALID;
}

static int parse_event(const rollout_plan *p, const char *name, char **args, int n,
                       const event_opts *o, rollout_event *e)
{
    const char *override_role = o->override_role;
    memset(e, 0, sizeof *e);
    e->gate = e->role = -1;
    e->type = lookup(name, rollout_event_name, ROLLOUT_EVENT_COUNT);
    if (e->type < 0)
        return usage_error("unknown event \"%s\"", name);
    if (override_role && e->type != ROLLOUT_EVENT_GO)
        return usage_error("--override goes with go, not with %s", name);
    if (o->override_verdict && !override_role)
        return usage_error("--override-verdict goes with go --override ROLE%s", "");
    if ((o->full || o->all_phases) && e->type != ROLLOUT_EVENT_PROMOTE)
        return usage_error("--full and --all-phases go with promote, not with %s", name);
    if (e->type == ROLLOUT_EVENT_PROMOTE && !o->full)
        return usage_error("promote needs --full: the rest of the phase's steps at once "
                           "(there is no step-by-step promote)%s", "");
    e->why = o->reason;
    e->override_verdict = o->override_verdict;
    e->all_phases = o->all_phases;
    if (o->by && (e->actor = role_index(p, o->by) + 1) == 0)
        return no_role(p, o->by);
    switch (e->type) {
    case ROLLOUT_EVENT_APPROVE:
    case ROLLOUT_EVENT_GO:
    case ROLLOUT_EVENT_NO_GO:
        if (n >= 1 && (e->gate = gate_index(p, args[0])) < 0) {
            fprintf(stderr, "rollout state: the plan has no gate \"%s\" (gates: ",
                    cli_text(args[0]));
            list_names(stderr, rollout_plan_gate_name, rollout_plan_gate_count(p), p);
            fprintf(stderr, ")\n");
            return CLI_INVALID;
        }
        if (e->type == ROLLOUT_EVENT_APPROVE || override_role) {
            const char *r = e->type == ROLLOUT_EVENT_APPROVE ? args[1] : override_role;
            if ((e->role = role_index(p, r)) < 0)
                return no_role(p, r);
            e->override = override_role != NULL;
        }
        break;
    case ROLLOUT_EVENT_VERDICT:
        if ((e->verdict = lookup(args[0], rollout_verdict_name, 4)) < 0)
            return usage_error("\"%s\" is not a verdict (pass, fail, inconclusive, rollback)",
                               args[0]);
        break;
    case ROLLOUT_EVENT_ROLLBACK:
        if ((e->reason = lookup(args[0], rollout_rollback_reason_name, ROLLOUT_ROLLBACK_COUNT)) < 0)
            return usage_error("\"%s\" is not a rollback reason (manual, critical_bug, "
                               "data_corruption, error_rate)",
                               args[0]);
        break;
    case ROLLOUT_EVENT_CONFIRM:
        if ((e->confirmation = lookup(args[0], rollout_confirmation_name, ROLLOUT_CONFIRM_COUNT)) < 0)
            return usage_error("\"%s\" is not a confirmation (traffic_halted, previous_restored, "
                               "smoke_passed, smoke_failed, service_resumed, incident_opened, "
                               "postmortem_done)",
                               args[0]);
        break;
    default:
        break;
    }
    return CLI_OK;
}

/* A name that reads as a plan file. Never used to decide what an argument
 * is, only to say what to write instead when it lands where an event or its
 * argument belongs. */
static bool looks_like_plan(const char *a)
{
    size_t n = strlen(a);
    static const char *const ext[] = {".yaml", ".yml", ".json"};
    if (strchr(a, '/'))
        return true;
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && !strcmp(a + n - k, ext[i]))
            return true;
    }
    return false;
}

/* ---- the command ----------------------------------------------------------------------- */

int cmd_state(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "migrate"))
        return cmd_state_migrate(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "follow"))
        return cmd_state_follow(argc - 1, argv + 1);
    const char *sub = NULL, *path = NULL, *plan_path = NULL, *at_s = NULL;
    event_opts eo = {0};
    const char *store_url = NULL, *key_file = NULL;
    bool json = false, force = false;
    double lock_timeout = 10;
    char *pos[16];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            state_help();
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            path = v;
        } else if (cli_opt(argc, argv, &i, "--store", &v)) {
            store_url = v;
        } else if (cli_opt(argc, argv, &i, "--key-file", &v)) {
            key_file = v;
        } else if (cli_opt(argc, argv, &i, "--plan", &v)) {
            plan_path = v;
        } else if (cli_opt(argc, argv, &i, "--at", &v)) {
            at_s = v;
        } else if (cli_opt(argc, argv, &i, "--override", &v)) {
            eo.override_role = v;
        } else if (cli_opt(argc, argv, &i, "--reason", &v)) {
            eo.reason = v;
        } else if (cli_opt(argc, argv, &i, "--by", &v)) {
            eo.by = v;
        } else if (!strcmp(argv[i], "--override-verdict")) {
            eo.override_verdict = true;
        } else if (!strcmp(argv[i], "--full")) {
            eo.full = true;
        } else if (!strcmp(argv[i], "--all-phases")) {
            eo.all_phases = true;
        } else if (cli_opt(argc, argv, &i, "--lock-timeout", &v)) {
            char *end;
            lock_timeout = strtod(v, &end);
            if (end == v || *end || !(lock_timeout >= 0 && lock_timeout <= 86400))
                return usage_error("--lock-timeout takes seconds, 0 to 86400, not \"%s\"", v);
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--force")) {
            force = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error("unknown or incomplete option \"%s\"", argv[i]);
        } else if (!sub) {
            sub = argv[i];
        } else if (npos < (int)(sizeof pos / sizeof pos[0])) {
            pos[npos++] = argv[i];
        } else {
            return usage_error("too many arguments%s", "");
        }
    }
    if (!sub)
        return usage_error("which command: init, apply, tick or show?%s", "");
    bool is_init = !strcmp(sub, "init"), is_apply = !strcmp(sub, "apply"),
         is_tick = !strcmp(sub, "tick"), is_show = !strcmp(sub, "show");
    if (!is_init && !is_apply && !is_tick && !is_show)
        return usage_error("unknown command \"%s\" (init, apply, tick or show)", sub);
    if (!path == !store_url)
        return usage_error("one of --state FILE or --store URL is required%s", "");
    if (key_file && !store_url)
        return usage_error("--key-file goes with --store%s", "");
    if (store_url && is_init && force)
        return usage_error("--force does not apply to a store: a stored state is never "
                           "replaced%s", "");
    /* a write beyond RLIMIT_FSIZE fails with EFBIG, reported, instead of
     * killing the writer */
    signal(SIGXFSZ, SIG_IGN);

    /* the event and its arguments, then at most one positional more: the
     * plan, at that fixed place whatever its name */
    const char *event_name = is_tick ? "tick" : NULL;
    char **args = pos;
    int nargs = npos;
    if (is_apply) {
        if (!npos)
            return usage_error("apply needs an EVENT%s", "");
        event_name = pos[0];
        args = pos + 1;
        nargs = npos - 1;
    }
    int min = 0, max = 0;
    int type = event_name ? lookup(event_name, rollout_event_name, ROLLOUT_EVENT_COUNT) : -1;
    if (event_name && type < 0 && looks_like_plan(event_name))
        return plan_misplaced(event_name, "the EVENT", "last, after the event's arguments");
    if (event_name && type < 0)
        return usage_error("unknown event \"%s\" (see rollout state --help)", event_name);
    if (type >= 0)
        event_arity(type, &min, &max);
    if (nargs == max + 1) {
        if (plan_path)
            return usage_error("the plan is given twice: --plan and \"%s\"", args[max]);
        plan_path = args[--nargs];
    }
    /* go PLAN: a GATE is what stands there; say how to write a plan */
    if (max > min && nargs > min && !plan_path && looks_like_plan(args[nargs - 1]))
        return plan_misplaced(args[nargs - 1], "the GATE", "after the GATE");
    if (nargs < min || nargs > max)
        return usage_error(nargs < min ? "%s needs more arguments" : "too many arguments for %s",
                           event_name ? event_name : sub);

    int64_t now = (int64_t)time(NULL);
    if (at_s && !cli_parse_time(at_s, &now))
        return CLI_USAGE;

    rollout_plan *plan;
    int load_rc = cli_load_plan(plan_path, &plan);
    if (load_rc)
        return load_rc;
    int rc = CLI_OK;
    int lock = -1;
    char text[ROLLOUT_STATE_TEXT_MAX + 2], real[PATH_MAX];
    size_t len = 0;
    rollout_state state;
    rollout_error err;
    rollout_store *store = NULL;
    if (store_url) {
        if ((rc = cli_store_open(store_url, key_file, &store)))
            goto out;
        path = rollout_store_name(store);
    }

    if (is_init && store) {
        rollout_state_init(plan, &state);
        if ((rc = cli_store_init(store, plan, &state)))
            goto out;
        len = rollout_state_encode(&state, text, sizeof text);
    }
    if (!is_show && !store) {
        /* the lock is held from the read to the write; the clock is read
         * under it, or a writer that committed while this one waited makes
         * time run backwards */
        if ((rc = resolve_state_path(path, real, sizeof real)) ||
            (lock = lock_state(real, lock_timeout, argc, argv, &rc)) < 0)
            goto out;
        if (!at_s)
            now = (int64_t)time(NULL);
        remove_stale_temps(real);
    }

    if (is_init && !store) {
        struct stat st;
        if (!force && stat(real, &st) == 0) {
            fprintf(stderr, "rollout state: %s exists; --force replaces it\n", cli_text(path));
            rc = CLI_INVALID;
            goto out;
        }
        rollout_state_init(plan, &state);
        len = rollout_state_encode(&state, text, sizeof text);
        rc = write_state_atomic(real, text, len);
        /* revisions start again: what an earlier rollout still owed is
         * abandoned rather than left to match the new one's revisions */
        char journal[PATH_MAX + 8];
        snprintf(journal, sizeof journal, "%s.outbox", real);
        if (!rc && unlink(journal) != 0 && errno != ENOENT) {
            fprintf(stderr, "rollout state: cannot remove %s: %s\n", cli_text(journal),
                    strerror(errno));
            rc = CLI_USAGE;
        }
    }
    if (is_init) {
        if (!rc && !json)
            printf("%s: %s, not started (plan %s)\n", cli_text(path),
                   rollout_status_name(state.status), cli_text(rollout_plan_id(plan)));
        else if (!rc)
            show_json(plan, &state, text, now);
        goto out;
    }

    if (store) {
        if ((rc = cli_store_load(store, plan, &state)))
            goto out;
        len = rollout_state_encode(&state, text, sizeof text);
    }
    if (!store && (rc = read_state_text(is_show ? path : real, text, sizeof text, &len)))
        goto out;
    if (!store && rollout_state_decode(plan, text, len, &state, &err)) {
        fprintf(stderr, "rollout state: %s: %s\n", cli_text(path), cli_text(err.message));
        rc = CLI_INVALID;
        goto out;
    }
    if (is_show) {
        if (json)
            show_json(plan, &state, text, now);
        else
            show_text(plan, &state, text, now);
        goto out;
    }

    rollout_event e;
    if ((rc = parse_event(plan, event_name, args, nargs, &eo, &e)))
        goto out;
    rollout_state next;
    static rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    if (store) {
        /* the store re-reads and retries on a conflict: what was loaded above
         * is what the event found unless another operator wrote meanwhile */
        if ((rc = cli_store_apply(store, plan, &e, now, &next, actions, &n)))
            goto out;
    }
    int code = store ? 0 : rollout_apply(plan, &state, &e, now, &next, actions, &n, &err);
    if (code) {
        fprintf(stderr, "rollout state: %s refused: %s\n", rollout_event_name(e.type),
                cli_text(err.message));
        rc = code == ROLLOUT_ERR_NOMEM || code == ROLLOUT_ERR_BUFFER ? CLI_USAGE : CLI_INVALID;
        goto out;
    }
    bool changed = memcmp(&next, &state, sizeof next) != 0;
    char out_text[ROLLOUT_STATE_TEXT_MAX];
    size_t out_len = rollout_state_encode(&next, out_text, sizeof out_text);
    /* a person's transition owes its messages as the operator's do: journaled
     * under the lock before the state that owes them is in place. A journal
     * already there is kept true even under a plan without `operator:` (it is
     * not part of the fingerprint): records of a transition that never
     * happened go before this one's revision can make them look owed */
    char journal_path[PATH_MAX + 8];
    snprintf(journal_path, sizeof journal_path, "%s.outbox", real);
    if (changed && !store && (plan->op.present || access(journal_path, F_OK) == 0) &&
        (rc = owe_deliveries(real, plan, &state, &next, actions, n)))
        goto out;
    if (changed && !store && (rc = write_state_atomic(real, out_text, out_len)))
        goto out;
    if (json) {
        bool first = true;
        putchar('{');
        json_kv_str("event", rollout_event_name(e.type), &first);
        json_kv_str("from", rollout_status_name(state.status), &first);
        json_kv_str("status", rollout_status_name(next.status), &first);
        json_kv_int("revision", (long long)next.revision, &first);
        printf(", \"changed\": %s, \"actions\": [", changed ? "true" : "false");
        for (size_t i = 0; i < n; i++) {
            printf("%s", i ? ", " : "");
            json_action(plan, &actions[i]);
        }
        putchar(']');
        json_kv_str("state", out_text, &first);
        printf("}\n");
    } else {
        for (size_t i = 0; i < n; i++)
            print_action(plan, &actions[i]);
        if (changed)
            fprintf(stderr, "%s: %s -> %s (revision %llu)\n", cli_text(path),
                    rollout_status_name(state.status), rollout_status_name(next.status),
                    (unsigned long long)next.revision);
    }
out:
    if (lock >= 0)
        unlock_state(lock);
    rollout_store_close(store);
    rollout_plan_unref(plan);
    return rc;
}

int cli_read_state(const rollout_plan *plan, const char *path, const char *store_url,
                   const char *key_file, rollout_state *state)
{
    if (store_url) {
        rollout_store *store = NULL;
        int rc = cli_store_open(store_url, key_file, &store);
        if (!rc)
            rc = cli_store_load(store, plan, state);
        rollout_store_close(store);
        return rc;
    }
    char text[ROLLOUT_STATE_TEXT_MAX + 2];
    size_t len;
    rollout_error err;
    int rc = read_state_text(path, text, sizeof text, &len);
    if (rc)
        return rc;
    if (rollout_state_decode(plan, text, len, state, &err)) {
        fprintf(stderr, "rollout: %s: %s\n", cli_text(path), cli_text(err.message));
        return CLI_INVALID;
    }
    return CLI_OK;
}

/* The locked read-modify-write the subcommands above do, for cmd_migrate.c:
 * FILE is resolved and locked as by apply (default lock timeout), read,
 * handed to update, and replaced atomically when update returns CLI_OK with
 * a new text. */
int cli_state_update(const char *path,
                     int (*update)(const char *text, size_t len, char *out, size_t cap,
                                   size_t *out_len, void *ctx),
                     void *ctx)
{
    char *args[] = {"state", "migrate", (char *)path};
    return cli_state_update_as(path, 3, args, update, ctx);
}

int cli_state_update_as(const char *path, int argc, char **argv,
                        int (*update)(const char *text, size_t len, char *out, size_t cap,
                                      size_t *out_len, void *ctx),
                        void *ctx)
{
    char real[PATH_MAX], text[ROLLOUT_STATE_TEXT_MAX + 2], out[ROLLOUT_STATE_TEXT_MAX];
    size_t len = 0, out_len = 0;
    int rc = resolve_state_path(path, real, sizeof real);
    if (rc)
        return rc;
    int lock = lock_state(real, 10, argc, argv, &rc);
    if (lock < 0)
        return rc;
    remove_stale_temps(real);
    rc = read_state_text(real, text, sizeof text, &len);
    if (!rc)
        rc = update(text, len, out, sizeof out, &out_len, ctx);
    if (!rc && out_len && (out_len != len || memcmp(out, text, len)))
        rc = write_state_atomic(real, out, out_len);
    unlock_state(lock);
    return rc;
}
