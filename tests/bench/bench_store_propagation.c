/* bench_store_propagation.c — how long a state change takes to reach the
 * fleet: from the start of a compare-and-set write to each of three watchers
 * (each with its own handle, as three gateways) returning the new revision,
 * p50 / p99 / max. Two runs: by push (pub/sub; the poll set to 10 s so only
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
    int64_t written_at[MAX_WRITES + 2];   /* by revision - first_rev */
    int64_t seen_at[WATCHERS][MAX_WRITES + 2];
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
            if (i < MAX_WRITES + 2) {
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
    for (int i = 1; i <= r->writes; i++) {
        rollout_event e = {.type = (s.status == ROLLOUT_STATUS_PAUSED) ? ROLLOUT_EVENT_RESUME
                                                                        : ROLLOUT_EVENT_PAUSE,
                           .gate = -1};
        rollout_action actions[ROLLOUT_MAX_ACTIONS];
        size_t n = ROLLOUT_MAX_ACTIONS;
        int64_t t = now_us();
        if (rollout_store_apply(st, r->plan, &e, T0 + 3600 + i, &s, actions, &n, &err)) {
            fprintf(stderr, "write %d: %s\n", i, err.message);
            exit(2);
        }
        r->written_at[i] = t;
        /* wait until all saw it (at most 3 s), then a random gap, so the poll's
         * phase differs from write to write */
        for (int k = 0; k < 300; k++) {
            int all = 1;
            pthread_mutex_lock(&r->mu);
            for (int w = 0; w < WATCHERS; w++)
                all &= r->seen_at[w][i] != 0;
            pthread_mutex_unlock(&r->mu);
            if (all)
                break;
            sleep_ms(10);
        }
        sleep_ms(20 + (int)(rand_r(&seed) % 60));
    }
    r->stop = 1;
    for (int w = 0; w < WATCHERS; w++)
        pthread_join(th[w], NULL);
    rollout_store_close(st);

    int64_t lat[WATCHERS * MAX_WRITES];
    int n = 0, missed = 0;
    for (int i = 1; i <= r->writes; i++)
        for (int w = 0; w < WATCHERS; w++) {
            if (r->seen_at[w][i])
                lat[n++] = r->seen_at[w][i] - r->written_at[i];
            else
                missed++;
        }
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    if (n == 0) {
        printf("%-10s no samples\n", r->push ? "push" : "poll only");
        return;
    }
    printf("%-10s %d writes x %d watchers: p50 %.2f ms  p99 %.2f ms  max %.2f ms  missed %d\n",
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
