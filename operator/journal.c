/* SPDX-License-Identifier: MIT */
/*
 * journal.c — the outbox of a state kept in a file: STATE.outbox beside it
 * (format in operator.h). The writer appends what a transition owes, and
 * fsyncs it, under the state's lock before the new state is renamed into
 * place; whoever reads it later compares each record's revision with the
 * state's, so a crash between the two leaves a record that is recognisably
 * void rather than a delivery nobody owes.
 */
#define _DEFAULT_SOURCE /* fsync, mkstemp */
#include "operator.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void op_journal_free(op_journal *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->keys[i]);
        free(j->bodies[i]);
    }
    for (size_t i = 0; i < j->n_marks; i++)
        free(j->marks[i]);
    free(j->keys);
    free(j->bodies);
    free(j->marks);
    memset(j, 0, sizeof *j);
}

static long find(char **list, size_t n, const char *key, size_t klen)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == klen && !memcmp(list[i], key, klen))
            return (long)i;
    return -1;
}

static int grow(char ***a, char ***b, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    char **na = realloc(*a, nc * sizeof *na);
    if (!na)
        return -1;
    *a = na;
    if (b) {
        char **nb = realloc(*b, nc * sizeof *nb);
        if (!nb)
            return -1;
        *b = nb;
    }
    *cap = nc;
    return 0;
}

static void drop(op_journal *j, long i)
{
    free(j->keys[i]);
    free(j->bodies[i]);
    j->keys[i] = j->keys[j->n - 1];
    j->bodies[i] = j->bodies[j->n - 1];
    j->n--;
}

int op_journal_parse(const char *text, size_t len, uint64_t state_rev, op_journal *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* torn by a crash mid-write: never fsynced, never owed */
        const char *line = p;
        size_t n = (size_t)(nl - p);
        p = nl + 1;
        if (n < 3 || line[1] != ' ')
            continue;
        if (line[0] == 'O') {
            char *e;
            unsigned long long rev = strtoull(line + 2, &e, 10);
            if (e == line + 2 || *e != ' ')
                continue;
            const char *k = e + 1;
            const char *sp = memchr(k, ' ', (size_t)(nl - k));
            if (!sp || sp == k)
                continue;
            size_t klen = (size_t)(sp - k);
            if (rev > state_rev) {
                out->n_void++;
                continue;
            }
            /* a key recorded twice (a void record's transition made again
             * under the same revision): the later record wins */
            long i = find(out->keys, out->n, k, klen);
            if (i >= 0) {
                drop(out, i);
                out->n_void++;
            }
            if (grow(&out->keys, &out->bodies, out->n, &out->cap))
                goto nomem;
            char *key = strndup(k, klen), *body = strndup(sp + 1, (size_t)(nl - sp - 1));
            if (!key || !body) {
                free(key);
                free(body);
                goto nomem;
            }
            out->keys[out->n] = key;
            out->bodies[out->n++] = body;
        } else if (line[0] == 'D') {
            long i = find(out->keys, out->n, line + 2, n - 2);
            out->n_done++;
            if (i >= 0) {
                /* keep the order of what is still owed */
                free(out->keys[i]);
                free(out->bodies[i]);
                memmove(out->keys + i, out->keys + i + 1, (out->n - (size_t)i - 1) * sizeof(char *));
                memmove(out->bodies + i, out->bodies + i + 1,
                        (out->n - (size_t)i - 1) * sizeof(char *));
                out->n--;
            }
        } else if (line[0] == 'M') {
            if (find(out->marks, out->n_marks, line + 2, n - 2) >= 0)
                continue;
            if (grow(&out->marks, NULL, out->n_marks, &out->cap_marks))
                goto nomem;
            if (!(out->marks[out->n_marks] = strndup(line + 2, n - 2)))
                goto nomem;
            out->n_marks++;
        }
    }
    return ROLLOUT_OK;
nomem:
    op_journal_free(out);
    return ROLLOUT_ERR_NOMEM;
}

bool op_journal_marked(const op_journal *j, const char *key)
{
    return find(j->marks, j->n_marks, key, strlen(key)) >= 0;
}

int op_journal_load(const char *path, uint64_t state_rev, op_journal *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? ROLLOUT_OK : ROLLOUT_ERR_IO;
    struct stat sb;
    char *buf = NULL;
    size_t len = 0;
    int rc = ROLLOUT_ERR_IO;
    if (fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1))) {
        ssize_t r;
        while (len < (size_t)sb.st_size &&
               (r = read(fd, buf + len, (size_t)sb.st_size - len)) > 0)
            len += (size_t)r;
        rc = op_journal_parse(buf, len, state_rev, out);
    }
    free(buf);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int op_journal_append(const char *path, const char *lines)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return ROLLOUT_ERR_IO;
    off_t size = lseek(fd, 0, SEEK_END);
    int ok = size >= 0;
    /* a line torn by a crash (never complete, so never owed) would swallow
     * the first record written now, or become one if ended: cut it off */
    off_t keep = size;
    char ch = '\n';
    while (ok && keep > 0 && (ok = pread(fd, &ch, 1, keep - 1) == 1) && ch != '\n')
        keep--;
    if (ok && keep != size)
        ok = ftruncate(fd, keep) == 0;
    ok = ok && write_all(fd, lines, strlen(lines)) == 0 && fsync(fd) == 0;
    close(fd);
    return ok ? ROLLOUT_OK : ROLLOUT_ERR_IO;
}

char *op_journal_owed(uint64_t rev, const char *key, const char *body)
{
    size_t n = strlen(key) + strlen(body) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "O %llu %s %s\n", (unsigned long long)rev, key, body);
    return s;
}

int op_journal_compact(const char *path, const op_journal *j, uint64_t state_rev)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return ROLLOUT_ERR_NOMEM;
    snprintf(tmp, plen + 16, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return ROLLOUT_ERR_IO;
    }
    int ok = 1;
    /* what is still owed keeps the state's revision: it is owed by a
     * transition at or below it, and the order of the records is kept */
    for (size_t i = 0; ok && i < j->n; i++) {
        char *line = op_journal_owed(state_rev, j->keys[i], j->bodies[i]);
        ok = line && write_all(fd, line, strlen(line)) == 0;
        free(line);
    }
    for (size_t i = 0; ok && i < j->n_marks; i++)
        ok = write_all(fd, "M ", 2) == 0 && write_all(fd, j->marks[i], strlen(j->marks[i])) == 0 &&
             write_all(fd, "\n", 1) == 0;
    ok = ok && fsync(fd) == 0;
    close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok ? ROLLOUT_OK : ROLLOUT_ERR_IO;
}

int op_owe_journal(const char *journal, const rollout_plan *plan, uint64_t cur_rev,
                   const rollout_state *next, const rollout_action *actions, size_t n,
                   op_entries *ent, rollout_error *err)
{
    op_entries_free(ent);
    int rc = op_entries_build(plan, next, actions, n, ent);
    if (rc) {
        rp_error_set(err, rc, NULL, 0, 0, NULL, "the transition owes more deliveries than "
                                                "an outbox holds");
        return rc;
    }
    op_journal j;
    /* records of a transition that never happened go first, even when this
     * transition owes nothing: once the state takes their revision they
     * would read as owed, and a key made again under the same revision is
     * never owed twice */
    if ((rc = op_journal_load(journal, cur_rev, &j)) == ROLLOUT_OK) {
        if (j.n_void)
            rc = op_journal_compact(journal, &j, cur_rev);
        op_journal_free(&j);
    }
    if (rc) {
        rp_error_set(err, rc, NULL, 0, 0, NULL, "cannot rewrite %s", journal);
        return rc;
    }
    if (!ent->n)
        return ROLLOUT_OK;
    size_t total = 1;
    for (size_t i = 0; i < ent->n; i++)
        total += strlen(ent->keys[i]) + strlen(ent->bodies[i]) + 32;
    char *lines = malloc(total);
    if (!lines) {
        rp_error_set(err, ROLLOUT_ERR_NOMEM, NULL, 0, 0, NULL, "out of memory");
        return ROLLOUT_ERR_NOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < ent->n; i++)
        o += (size_t)snprintf(lines + o, total - o, "O %llu %s %s\n",
                              (unsigned long long)next->revision, ent->keys[i], ent->bodies[i]);
    rc = op_journal_append(journal, lines);
    free(lines);
    if (rc)
        rp_error_set(err, rc, NULL, 0, 0, NULL, "cannot write %s", journal);
    return rc;
}
