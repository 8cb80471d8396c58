/* SPDX-License-Identifier: MIT */
/* support.c — helpers shared by the Criterion suites. */
#define _POSIX_C_SOURCE 200809L

#include "support.h"
#include "plan.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    cr_assert(buf);
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    cr_assert_eq(got, (size_t)size);
    buf[size] = '\0';
    if (len)
        *len = (size_t)size;
    return buf;
}

rollout_plan *t_plan(const char *yaml)
{
    rollout_plan *p = NULL;
    rollout_error err;
    int rc = rollout_plan_load_buffer(yaml, strlen(yaml), "test.yaml", &p, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "plan did not load: %s", err.message);
    return p;
}

rollout_plan *t_seed(void)
{
    rollout_plan *p = NULL;
    rollout_error err;
    int rc = rollout_plan_load_file("examples/plans/seed.yaml", &p, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "seed did not load: %s", err.message);
    return p;
}

char *t_seed_overridable_yaml(void)
{
    static const char roles[] = "override_roles: [engineering-lead, product-lead, sre-lead, sre]";
    size_t len;
    char *seed = t_read_file("examples/plans/seed.yaml", &len);
    char *out = malloc(len + 8 * (sizeof roles + 64)), *w = out;
    cr_assert(out);
    const char *r = seed;
    for (const char *q; (q = strstr(r, "approvers: [")); ) {
        const char *close = strchr(q, ']');
        cr_assert(close);
        memcpy(w, r, (size_t)(close + 1 - r));
        w += close + 1 - r;
        if (close[1] == ',') {
            w += sprintf(w, ", %s", roles);
        } else {
            const char *line = q;
            while (line > seed && line[-1] != '\n')
                line--;
            w += sprintf(w, "\n%.*s%s", (int)(q - line), line, roles);
        }
        r = close + 1;
    }
    strcpy(w, r);
    free(seed);
    return out;
}

rollout_plan *t_seed_overridable(void)
{
    char *yaml = t_seed_overridable_yaml();
    rollout_plan *p = t_plan(yaml);
    free(yaml);
    return p;
}

int t_plan_error(const char *yaml, rollout_error *err)
{
    rollout_plan *p = (rollout_plan *)1;
    int rc = rollout_plan_load_buffer(yaml, strlen(yaml), "test.yaml", &p, err);
    cr_assert_neq(rc, ROLLOUT_OK, "plan loaded but should not have");
    cr_assert_null(p, "a failed load must leave *out NULL");
    return rc;
}

rp_node *t_json(rp_arena *arena, const char *path)
{
    size_t len;
    char *buf = t_read_file(path, &len);
    rp_node *root = NULL;
    rollout_error err;
    int rc = rp_yaml_parse(arena, buf, len, path, &root, &err);
    free(buf);
    cr_assert_eq(rc, ROLLOUT_OK, "%s", err.message);
    cr_assert(root, "%s is empty", path);
    return root;
}

int64_t t_time(const char *iso)
{
    int64_t t;
    cr_assert(rp_parse_time(iso, strlen(iso), &t), "bad time literal %s", iso);
    return t;
}

void t_apply(const rollout_plan *p, rollout_state *s, rollout_event ev, int64_t now)
{
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(p, s, &ev, now, s, actions, &n, &err);
    cr_assert_eq(rc, ROLLOUT_OK, "%s: %s", rollout_event_name(ev.type), err.message);
}

void t_go(const rollout_plan *p, rollout_state *s, int gate, int64_t now)
{
    if (gate < 0) {
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK, .gate = -1};
        t_apply(p, s, tick, now);
        gate = s->gate;
    }
    cr_assert_geq(gate, 0, "no gate left to GO");
    const rp_gate *g = &p->gates[gate];
    for (int r = 0; r < p->n_roles; r++)
        if ((g->approvers & (1u << r)) && !(s->gate_approvals[gate] & (1u << r)))
            t_apply(p, s, (rollout_event){.type = ROLLOUT_EVENT_APPROVE, .gate = gate, .role = r},
                    now);
    if (g->criteria >= 0)
        t_apply(p, s,
                (rollout_event){.type = ROLLOUT_EVENT_VERDICT, .verdict = ROLLOUT_VERDICT_PASS},
                now);
    t_apply(p, s, (rollout_event){.type = ROLLOUT_EVENT_GO, .gate = gate}, now);
}

uint64_t t_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* ---- running the rollout tool (ROLLOUT_CLI) ---- */

static char *slurp(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cr_assert(buf);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        cr_assert_geq(r, 0);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int temp_fd(const char *tag)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/rollout-cli-%ld-%s-XXXXXX", (long)getpid(), tag);
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    return fd;
}

/* Runs ROLLOUT_CLI with args (NULL-terminated), stdin from /dev/null. */
run_result t_run(const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = ROLLOUT_CLI;
    for (; args[n - 1] && n < RP_COUNT(argv) - 1; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int out = temp_fd("out"), err = temp_fd("err");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(ROLLOUT_CLI, (char *const *)argv);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    run_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out, &r.out_len);
    r.err = slurp(err, &r.err_len);
    close(out);
    close(err);
    return r;
}


void t_run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}
