/* SPDX-License-Identifier: MIT */
/* redis_support.h — a throw-away redis-server for the store suites.
 *
 * Each test starts its own server on 127.0.0.1, on an ephemeral port, with
 * its data (and AOF) in a fresh temporary directory, and stops it at the
 * end. A missing redis-server fails the test: the store suites skip nothing. */
#ifndef ROLLOUT_REDIS_SUPPORT_H
#define ROLLOUT_REDIS_SUPPORT_H

#include <hiredis/hiredis.h>
#include <sys/types.h>

typedef struct t_redis {
    pid_t pid;       /* 0 while stopped */
    int port;
    int aof;         /* appendonly yes, appendfsync always */
    char dir[256];
    char url[128];   /* redis://127.0.0.1:PORT */
    char sock[300];  /* the unix socket in dir */
} t_redis;

/* Starts a server; waits (up to 10 s) until it answers PING. */
void t_redis_start(t_redis *r, int aof);
/* SIGKILL, as an outage: no shutdown, no final save. */
void t_redis_kill(t_redis *r);
/* Starts it again on the same port and directory (after t_redis_kill). */
void t_redis_restart(t_redis *r);
/* Kills it and removes its directory. */
void t_redis_stop(t_redis *r);
/* A plain hiredis connection to it, for writing values by hand. */
redisContext *t_redis_conn(const t_redis *r);
/* Runs a command (printf-style, hiredis's format); fails the test on an
 * error reply. Free the reply with freeReplyObject. */
redisReply *t_redis_cmd(redisContext *c, const char *fmt, ...);

/* A free TCP port on 127.0.0.1 (bound and released). */
int t_free_port(void);

#endif
