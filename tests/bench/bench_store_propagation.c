/* SPDX-License-Identifier: MIT */
/* bench_store_propagation.c — how long a state change takes to reach the
 * fleet: from the start of a compare-and-set write to each of three watchers
 * (each with its own handle, as three gateways) returning the new revision,
 * p50 / p99 / max over N rollbacks (each after the state was put back to
 * running). Two runs: by push (pub/sub; the poll set to 10 s so only
 * the push can be that fast) and poll only (no SUBSCRIBE, the default 250 ms
 * poll interval). Not run by ctest: timings are not pass/fail.
 *
 *   bench_store_propagation [--writes N] [--url redis://...]
 *
 * Without --url it starts its own redis-server on an ephemeral port.
 * Results are in docs/fleet.md. */
#define _GNU_SOURCE

#include "rollout_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WATCHERS 3
#define MAX_WRITES 1000
#define T0 1772269200

static const unsigned char KEY[] = "bench-key-0123456789abcdef";

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct run {
    const char *url;
    rollout_plan *plan;
    int push;
    int writes;
    uint64_t first_rev;
    int64_t written_at[2 * MAX_WRITES + 4];   /* by revision - first_rev */
    int64_t seen_at[WATCHERS][2 * MAX_WRITES + 4];
    rollout_state base;                    /* the rollout started: put back before each rollback */
    int measured[MAX_WRITES];              /* the rollbacks' indices */
    volatile int stop;
    pthread_mutex_t mu;
} run;

typedef struct watcher_arg {
    run *r;
    int id;
} watcher_arg;

static rollout_store *open_store(const run *r, int push)
{
    rollout_store_options o;
    rollout_store_options_init(&o);
    o.key = KEY;
    o.key_len = sizeof KEY - 1;
    o.no_subscribe = !push;
    o.poll_interval_ms = push ? 10000 : 250;
    rollout_store *st;
    rollout_error err;
    if (rollout_store_open(r->url, &o, &st, &err)) {
        fprintf(stderr, "%s\n", err.message);
        exit(2);
    }
    return st;
}

static void *watcher(void *arg)
{
    watcher_arg *a = arg;
    run *r = a->r;
    rollout_store *st = open_store(r, r->push);
    rollout_error err;
    uint64_t held = r->first_rev;
    while (!r->stop) {
        rollout_state s;
        int rc = rollout_store_watch(st, r->plan, held, 200, &s, &err);
        int64_t t = now_us();
        if (rc == ROLLOUT_OK) {
            held = s.revision;
            uint64_t i = s.revision - r->first_rev;
            if (i < 2 * MAX_WRITES + 4) {
                pthread_mutex_lock(&r->mu);
                r->seen_at[a->id][i] = t;
                pthread_mutex_unlock(&r->mu);
            }
        } else if (rc != ROLLOUT_STORE_NO_CHANGE) {
            fprintf(stderr, "watcher %d: %s\n", a->id, err.message);
        }
    }
    rollout_store_close(st);
    return NULL;
}

/* Waits until every watcher saw index k (at most 3 s). */
static void wait_seen(run *r, int k)
{
    for (int i = 0; i < 300; i++) {
        int all = 1;
        pthread_mutex_lock(&r->mu);
        for (int w = 0; w < WATCHERS; w++)
            all &= r->seen_at[w][k] != 0;
        pthread_mutex_unlock(&r->mu);
        if (all)
            return;
        sleep_ms(10);
    }
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void measure(run *r)
{
    rollout_store *st = open_store(r, 1);
    rollout_error err;
    rollout_state s;
    if (rollout_store_load(st, r->plan, &s, &err)) {
        fprintf(stderr, "%s\n", err.message);
        exit(2);
    }
    r->first_rev = s.revision;
    r->stop = 0;
    memset(r->seen_at, 0, sizeof r->seen_at);
    pthread_t th[WATCHERS];
    watcher_arg args[WATCHERS];
    for (int w = 0; w < WATCHERS; w++) {
        args[w] = (watcher_arg){r, w};
        pthread_create(&th[w], NULL, watcher, &args[w]);
    }
    sleep_ms(500); /* every watcher subscribed and waiting */
    unsigned seed = 42;
    rollout_state running = r->base;
    for (int i = 1; i <= r->writes; i++) {
        /* the rollout running again (not measured), then a rollback (measured) */
        running.revision = s.revision + 1;
        if (rollout_store_put(st, r->plan, s.revision, &running, &err)) {
            fprintf(stderr, "reset %d: %s\n", i, err.message);
            exit(2);
        }
        wait_seen(r, (int)(running.revision - r->first_rev));
        /* 0..300 ms later: a watcher's poll (every 250 ms from its last
         * return) is anywhere in its cycle when the rollback lands */
        sleep_ms((int)(rand_r(&seed) % 300));
        rollout_event e = {.type = ROLLOUT_EVENT_ROLLBACK, .gate = -1};
        rollout_action actions[ROLLOUT_MAX_ACTIONS];
        size_t n = ROLLOUT_MAX_ACTIONS;
        int64_t t = now_us();
        if (rollout_store_apply(st, r->plan, &e, T0 + 3600 + i, &s, actions, &n, &err)) {
            fprintf(stderr, "rollback %d: %s\n", i, err.message);
            exit(2);
        }
        int k = (int)(s.revision - r->first_rev);
        r->written_at[k] = t;
        r->measured[i - 1] = k;
        wait_seen(r, k);
    }
    r->stop = 1;
    for (int w = 0; w < WATCHERS; w++)
        pthread_join(th[w], NULL);
    rollout_store_close(st);

    int64_t lat[WATCHERS * MAX_WRITES];
    int n = 0, missed = 0;
    for (int i = 0; i < r->writes; i++)
        for (int w = 0; w < WATCHERS; w++) {
            int k = r->measured[i];
            if (r->seen_at[w][k])
                lat[n++] = r->seen_at[w][k] - r->written_at[k];
            else
                missed++;
        }
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    if (n == 0) {
        printf("%-10s no samples\n", r->push ? "push" : "poll only");
        return;
    }
    printf("%-10s %d rollbacks x %d watchers: p50 %.2f ms  p99 %.2f ms  max %.2f ms  missed %d\n",
           r->push ? "push" : "poll only", r->writes, WATCHERS, lat[n / 2] / 1000.0,
           lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0, lat[n - 1] / 1000.0, missed);
}

static pid_t start_redis(char *url, size_t cap, char *dir)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    int port = ntohs(a.sin_port);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1", "--dir", dir,
               "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    snprintf(url, cap, "redis://127.0.0.1:%d", port);
    for (int i = 0; i < 500; i++) {
        rollout_store_options o;
        rollout_store_options_init(&o);
        rollout_store *st;
        if (rollout_store_open(url, &o, &st, NULL) == ROLLOUT_OK) {
            rollout_store_close(st);
            return pid;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "redis-server did not start\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static run r;
    char url[128] = "";
    r.writes = 40;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--writes") == 0 && i + 1 < argc)
            r.writes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            snprintf(url, sizeof url, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: bench_store_propagation [--writes N] [--url URL]\n");
            return 2;
        }
    }
    if (r.writes < 1 || r.writes > MAX_WRITES)
        r.writes = 40;
    pid_t redis = 0;
    char dir[] = "/tmp/rollout-bench-XXXXXX";
    if (!url[0]) {
        if (!mkdtemp(dir))
            return 2;
        redis = start_redis(url, sizeof url, dir);
    }
    r.url = url;
    pthread_mutex_init(&r.mu, NULL);
    rollout_error err;
    if (rollout_plan_load_file("examples/plans/seed.yaml", &r.plan, &err)) {
        fprintf(stderr, "%s (run from the source tree)\n", err.message);
        return 2;
    }
    rollout_store *st = open_store(&r, 1);
    rollout_state s;
    if (rollout_store_load(st, r.plan, &s, NULL) == ROLLOUT_ERR_NOT_FOUND) {
        rollout_state_init(r.plan, &s);
        rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
        rollout_action actions[ROLLOUT_MAX_ACTIONS];
        size_t n = ROLLOUT_MAX_ACTIONS;
        if (rollout_store_create(st, r.plan, &s, &err) ||
            rollout_store_apply(st, r.plan, &start, T0, &s, actions, &n, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 2;
        }
    }
    if (rollout_store_load(st, r.plan, &r.base, &err) || r.base.status != ROLLOUT_STATUS_RUNNING) {
        fprintf(stderr, "the stored rollout is not running: %s\n", err.message);
        return 2;
    }
    rollout_store_close(st);

    double load[3] = {0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(f);
    }
    printf("store %s, load average %.2f %.2f %.2f, %ld cores\n", url, load[0], load[1], load[2],
           sysconf(_SC_NPROCESSORS_ONLN));
    r.push = 1;
    measure(&r);
    r.push = 0;
    measure(&r);
    rollout_plan_unref(r.plan);
    if (redis) {
        kill(redis, SIGKILL);
        waitpid(redis, NULL, 0);
        char cmd[64];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
