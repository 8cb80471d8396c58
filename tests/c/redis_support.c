/* SPDX-License-Identifier: MIT */
/* redis_support.c — a throw-away redis-server for the store suites. */
#define _GNU_SOURCE /* prctl, mkdtemp */

#include "redis_support.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int t_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One attempt: 0 when the server answers PING, -1 when it exited (port
 * taken), and a failed test when redis-server cannot be run at all. */
static int launch(t_redis *r)
{
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* never outlive the test, even when it fails half-way */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--dir", r->dir, "--unixsocket", r->sock, "--unixsocketperm", "700",
               "--save", "", "--appendonly", r->aof ? "yes" : "no", "--appendfsync", "always",
               "--daemonize", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 1000; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            r->pid = 0;
            cr_assert_neq(WEXITSTATUS(status), 127,
                          "redis-server could not be run: install it (scripts/install-deps.sh)");
            return -1;
        }
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            int ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return 0;
        } else if (c) {
            redisFree(c);
        }
        sleep_ms(10);
    }
    cr_assert_fail("redis-server on port %d did not answer PING within 10 s (log: %s)", r->port,
                   log);
    return -1;
}

void t_redis_start(t_redis *r, int aof)
{
    memset(r, 0, sizeof *r);
    r->aof = aof;
    snprintf(r->dir, sizeof r->dir, "/tmp/rollout-redis-XXXXXX");
    cr_assert(mkdtemp(r->dir), "mkdtemp: %s", strerror(errno));
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = t_free_port();
        if (launch(r) == 0) {
            snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
            return;
        }
    }
    cr_assert_fail("redis-server did not start (log: %s/redis.log)", r->dir);
}

void t_redis_kill(t_redis *r)
{
    if (!r->pid)
        return;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

void t_redis_restart(t_redis *r)
{
    cr_assert_eq(r->pid, 0);
    for (int attempt = 0; attempt < 50; attempt++) {
        if (launch(r) == 0)
            return;
        sleep_ms(100); /* the old socket may linger a moment */
    }
    cr_assert_fail("redis-server did not restart on port %d", r->port);
}

void t_redis_stop(t_redis *r)
{
    t_redis_kill(r);
    if (r->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}

redisContext *t_redis_conn(const t_redis *r)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    cr_assert(c && !c->err, "cannot connect to redis on %d", r->port);
    return c;
}

redisReply *t_redis_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(rep, "redis: %s", c->errstr);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "redis: %s", rep->str);
    return rep;
}
