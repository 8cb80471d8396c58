/* SPDX-License-Identifier: MIT */
/*
 * hooks.c — a rollback step the operator cannot perform itself (halt
 * traffic, restore the previous version, run smoke tests, ...) runs as the
 * plan's shell command; its exit status confirms the step. The command runs
 * in its own process group, so a timeout kills what it started as well.
 */
#define _DEFAULT_SOURCE /* setenv, setpgid, kill */
#include "operator.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int op_hook_run(const char *cmd, char *const *env, int64_t timeout_s, volatile int *stop,
                int *status, char *why, size_t cap)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, cap, "cannot fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* the operator's stdout is its JSON log */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        /* ignored dispositions survive exec: the operator's SIG_IGN would make
         * `producer | head -1` fail under pipefail */
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int ws;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid) {
            *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            snprintf(why, cap, "waitpid: %s", strerror(errno));
            return -1;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        /* a stop request lets the hook finish: killing it halfway would leave
         * a step half done, which the next run repeats anyway */
        (void)stop;
        if (t.tv_sec - t0.tv_sec >= timeout_s) {
            kill(-pid, SIGKILL);
            waitpid(pid, &ws, 0);
            snprintf(why, cap, "timed out after %llds (killed)", (long long)timeout_s);
            return -1;
        }
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}
