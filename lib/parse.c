/* SPDX-License-Identifier: MIT */
/*
 * parse.c — typed reads of YAML nodes with errors a person can act on, and
 * the strict scalar grammars (times, durations, weights) every part shares.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- field paths -------------------------------------------------------- */

static size_t path_append(rp_ctx *c, const char *fmt, const char *s, size_t i)
{
    size_t mark = c->path_len;
    size_t room = sizeof c->path - c->path_len;
    int n = s ? snprintf(c->path + c->path_len, room, fmt, s)
              : snprintf(c->path + c->path_len, room, fmt, i);
    if (n > 0)
        c->path_len += (size_t)n < room ? (size_t)n : room - 1;
    return mark;
}

size_t rp_path_key(rp_ctx *c, const char *key)
{
    return path_append(c, c->path_len ? ".%s" : "%s", key, 0);
}

size_t rp_path_index(rp_ctx *c, size_t index)
{
    return path_append(c, "[%zu]", NULL, index);
}

void rp_path_pop(rp_ctx *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}

int rp_fail(rp_ctx *c, const rp_node *node, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rp_error_setv(c->err, code, c->file, node ? node->line : 0, node ? node->col : 0, c->path,
                  fmt, ap);
    va_end(ap);
    return code;
}

/* ---- structure ---------------------------------------------------------- */

static const char *kind_name(const rp_node *n)
{
    if (n->kind == RP_MAP)
        return "a mapping";
    if (n->kind == RP_SEQ)
        return "a list";
    if (n->plain && n->len == 0)
        return "nothing";
    return "a scalar";
}

int rp_expect(rp_ctx *c, const rp_node *node, rp_kind kind)
{
    if (node->kind == kind && !(kind == RP_SCALAR && node->plain && node->len == 0))
        return ROLLOUT_OK;
    static const char *const want[] = {"a value", "a list", "a mapping"};
    return rp_fail(c, node, ROLLOUT_ERR_TYPE, "expected %s, got %s", want[kind], kind_name(node));
}

static bool key_is(const rp_node *k, const char *key)
{
    size_t n = strlen(key);
    return k->kind == RP_SCALAR && k->len == n && memcmp(k->str, key, n) == 0;
}

int rp_map_check(rp_ctx *c, const rp_node *map, const char *const *allowed)
{
    int rc = rp_expect(c, map, RP_MAP);
    if (rc)
        return rc;
    for (size_t i = 0; i < map->n; i++) {
        const rp_node *k = map->items[2 * i];
        if (k->kind != RP_SCALAR)
            return rp_fail(c, k, ROLLOUT_ERR_TYPE, "mapping keys must be plain names");
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = key_is(k, *a);
        if (!known) {
            char list[256];
            size_t off = 0;
            for (const char *const *a = allowed; *a; a++) {
                int n = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", *a);
                if (n < 0 || (size_t)n >= sizeof list - off)
                    break;
                off += (size_t)n;
            }
            size_t mark = rp_path_key(c, k->str);
            rp_fail(c, k, ROLLOUT_ERR_UNKNOWN_KEY, "unknown key \"%s\" (expected one of: %s)",
                    k->str, list);
            rp_path_pop(c, mark);
            return ROLLOUT_ERR_UNKNOWN_KEY;
        }
    }
    return ROLLOUT_OK;
}

const rp_node *rp_map_get(const rp_node *map, const char *key)
{
    if (!map || map->kind != RP_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (key_is(map->items[2 * i], key))
            return map->items[2 * i + 1];
    return NULL;
}

int rp_map_require(rp_ctx *c, const rp_node *map, const char *key, const rp_node **out)
{
    *out = rp_map_get(map, key);
    if (*out)
        return ROLLOUT_OK;
    return rp_fail(c, map, ROLLOUT_ERR_MISSING, "missing required key \"%s\"", key);
}

/* ---- scalars ------------------------------------------------------------ */

static int scalar(rp_ctx *c, const rp_node *n)
{
    return rp_expect(c, n, RP_SCALAR);
}

int rp_string(rp_ctx *c, const rp_node *n, const char **out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    if (memchr(n->str, '\0', n->len))
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "text must not contain NUL characters");
    *out = rp_strndup(c->arena, n->str, n->len);
    return *out ? ROLLOUT_OK : rp_fail(c, NULL, ROLLOUT_ERR_NOMEM, "out of memory");
}

int rp_ident(rp_ctx *c, const rp_node *n, const char **out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    bool ok = n->len > 0 && n->len <= 64;
    for (size_t i = 0; ok && i < n->len; i++) {
        char ch = n->str[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_' || ch == '.';
    }
    if (!ok)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE,
                       "\"%s\" is not a valid id (1-64 of A-Z a-z 0-9 - _ .)", n->str);
    return rp_string(c, n, out);
}

int rp_bool(rp_ctx *c, const rp_node *n, bool *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    if (n->plain && strcmp(n->str, "true") == 0)
        *out = true;
    else if (n->plain && strcmp(n->str, "false") == 0)
        *out = false;
    else
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a boolean (write true or false)",
                       n->str);
    return ROLLOUT_OK;
}

int rp_uint(rp_ctx *c, const rp_node *n, uint64_t max, uint64_t *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    uint64_t v = 0;
    bool ok = n->len > 0 && n->len <= 20;
    for (size_t i = 0; ok && i < n->len; i++) {
        unsigned d = (unsigned)(n->str[i] - '0');
        ok = d <= 9 && v <= (UINT64_MAX - d) / 10;
        v = v * 10 + d;
    }
    if (!ok)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a whole number", n->str);
    if (v > max)
        return rp_fail(c, n, ROLLOUT_ERR_RANGE, "%s is more than the limit %llu", n->str,
                       (unsigned long long)max);
    *out = v;
    return ROLLOUT_OK;
}

/* strtod on exactly [s, s+len), with no locale surprises for plain decimals. */
static bool parse_double(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+' || ch == 'e' ||
              ch == 'E'))
            return false;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + len || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

int rp_number(rp_ctx *c, const rp_node *n, double *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    if (!parse_double(n->str, n->len, out))
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a number", n->str);
    return ROLLOUT_OK;
}

int rp_duration(rp_ctx *c, const rp_node *n, int64_t *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    if (!rp_parse_duration(n->str, n->len, out))
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a duration (write 90m, 4h, 2d)",
                       n->str);
    return ROLLOUT_OK;
}

int rp_time(rp_ctx *c, const rp_node *n, int64_t *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    if (!rp_parse_time(n->str, n->len, out))
        return rp_fail(c, n, ROLLOUT_ERR_VALUE,
                       "\"%s\" is not a time (write 2026-02-28T09:00:00Z or with +01:00)",
                       n->str);
    /* year 0001 or 9999 with an offset can fall outside the years in UTC */
    if (!RP_TIME_OK(*out))
        return rp_fail(c, n, ROLLOUT_ERR_RANGE,
                       "\"%s\" is outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z", n->str);
    return ROLLOUT_OK;
}

int rp_weight(rp_ctx *c, const rp_node *n, uint32_t *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    if (!rp_parse_weight(n->str, n->len, out)) {
        double v;
        if (n->len > 1 && n->str[n->len - 1] == '%' && parse_double(n->str, n->len - 1, &v) &&
            (v > 100.0 || v < 0))
            return rp_fail(c, n, ROLLOUT_ERR_RANGE, "%s is outside 0%%..100%%", n->str);
        return rp_fail(c, n, ROLLOUT_ERR_VALUE,
                       "\"%s\" is not a weight (write a percentage such as 25%% or 12.5%%, "
                       "at most 3 decimals)",
                       n->str);
    }
    return ROLLOUT_OK;
}

int rp_fraction(rp_ctx *c, const rp_node *n, double *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    double v;
    if (n->len > 1 && n->str[n->len - 1] == '%' && parse_double(n->str, n->len - 1, &v)) {
        *out = v / 100.0;
        return ROLLOUT_OK;
    }
    if (parse_double(n->str, n->len, &v)) {
        *out = v;
        return ROLLOUT_OK;
    }
    return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a rate (write 0.5%% or 0.005)",
                   n->str);
}

int rp_latency(rp_ctx *c, const rp_node *n, double *out)
{
    int rc = scalar(c, n);
    if (rc)
        return rc;
    static const struct { const char *suffix; double scale; } units[] = {
        {"ms", 1e-3}, {"us", 1e-6}, {"s", 1.0}, {"m", 60.0}, {"h", 3600.0}};
    for (size_t i = 0; i < RP_COUNT(units); i++) {
        size_t sl = strlen(units[i].suffix);
        double v;
        if (n->len > sl && memcmp(n->str + n->len - sl, units[i].suffix, sl) == 0 &&
            parse_double(n->str, n->len - sl, &v) && v >= 0) {
            /* 1e308h is finite as written and infinite in seconds: such a
             * bound would always pass, and `show` could not write it back;
             * nor could it write a value that underflows (1e-305us) */
            double secs = v * units[i].scale;
            if (!isfinite(secs))
                return rp_fail(c, n, ROLLOUT_ERR_RANGE,
                               "%s is too large a latency (it overflows in seconds)", n->str);
            if (v != 0 && !isnormal(secs))
                return rp_fail(c, n, ROLLOUT_ERR_RANGE,
                               "%s is too small a latency (it underflows in seconds)", n->str);
            *out = secs;
            return ROLLOUT_OK;
        }
    }
    return rp_fail(c, n, ROLLOUT_ERR_VALUE, "\"%s\" is not a latency (write 2s, 1500ms)", n->str);
}

/* ---- grammars ----------------------------------------------------------- */

bool rp_parse_duration(const char *s, size_t len, int64_t *out)
{
    static const struct { char unit; int64_t secs; } order[] = {
        {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0, next_unit = 0;
    int64_t total = 0;
    if (len == 0)
        return false;
    while (i < len) {
        int64_t v = 0;
        size_t digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i] - '0');
            if (++digits > 9)
                return false;
            i++;
        }
        if (digits == 0 || i == len)
            return false;
        size_t u = next_unit;
        while (u < RP_COUNT(order) && order[u].unit != s[i])
            u++;
        if (u == RP_COUNT(order))
            return false;
        total += v * order[u].secs;
        next_unit = u + 1;
        i++;
    }
    /* a century is far beyond any rollout; it keeps sums of offsets in range */
    if (total > 100LL * 366 * 86400)
        return false;
    *out = total;
    return true;
}

int64_t rp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void rp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool rp_parse_time(const char *s, size_t len, int64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS then Z or +HH:MM / -HH:MM */
    unsigned y, mo, d, h, mi, se, oh = 0, om = 0;
    if (len != 20 && len != 25)
        return false;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    int sign = 0;
    if (len == 20) {
        if (s[19] != 'Z')
            return false;
    } else {
        if ((s[19] != '+' && s[19] != '-') || s[22] != ':' || !digits(s + 20, 2, &oh) ||
            !digits(s + 23, 2, &om) || oh > 23 || om > 59)
            return false;
        sign = s[19] == '+' ? 1 : -1;
    }
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    int64_t t = rp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    t -= sign * (int64_t)(oh * 3600 + om * 60);
    *out = t;
    return true;
}

bool rp_parse_weight(const char *s, size_t len, uint32_t *out)
{
    if (len < 2 || s[len - 1] != '%')
        return false;
    len--;
    uint64_t whole = 0, frac = 0;
    size_t i = 0, wd = 0, fd = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        whole = whole * 10 + (uint64_t)(s[i++] - '0');
        if (++wd > 3)
            return false;
    }
    if (wd == 0)
        return false;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++fd > 3)
                return false;
            frac = frac * 10 + (uint64_t)(s[i++] - '0');
        }
        if (fd == 0)
            return false;
        while (fd < 3) {
            frac *= 10;
            fd++;
        }
    }
    if (i != len)
        return false;
    uint64_t w = whole * 1000 + frac;
    if (w > ROLLOUT_WEIGHT_MAX)
        return false;
    *out = (uint32_t)w;
    return true;
}

/* ---- formatting --------------------------------------------------------- */

void rp_format_time(int64_t t, char *buf, size_t cap)
{
    /* floor division without negating t: -INT64_MIN overflows */
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    rp_civil_from_days(days, &y, &m, &d);
    snprintf(buf, cap, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

void rp_format_duration(int64_t secs, char *buf, size_t cap)
{
    static const struct { char unit; int64_t secs; } order[] = {
        {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    size_t off = 0;
    if (secs <= 0) {
        snprintf(buf, cap, "0s");
        return;
    }
    for (size_t i = 0; i < RP_COUNT(order) && off < cap; i++) {
        int64_t v = secs / order[i].secs;
        secs %= order[i].secs;
        if (v) {
            int n = snprintf(buf + off, cap - off, "%lld%c", (long long)v, order[i].unit);
            off += n > 0 ? (size_t)n : 0;
        }
    }
}

void rp_format_offset(int64_t t, int64_t start, char *buf, size_t cap)
{
    if (t == start) {
        snprintf(buf, cap, "T+0");
        return;
    }
    /* t and start are bounded times (years 1..9999), so the span fits */
    int64_t span = t > start ? t - start : start - t;
    char d[32];
    /* the seed counts its first two days in hours ("T+24h"), days after that */
    if (span < 2 * 86400) {
        int n = snprintf(d, sizeof d, "%lldh", (long long)(span / 3600));
        if (span < 3600)
            n = 0;
        if (span % 3600)
            rp_format_duration(span % 3600, d + n, sizeof d - (size_t)n);
    } else {
        rp_format_duration(span, d, sizeof d);
    }
    snprintf(buf, cap, "T%c%s", t > start ? '+' : '-', d);
}

void rp_format_percent(uint32_t w, char *buf, size_t cap)
{
    unsigned frac = w % 1000;
    int n = snprintf(buf, cap, "%u", w / 1000);
    if (frac && n > 0 && (size_t)n < cap) {
        snprintf(buf + n, cap - (size_t)n, ".%03u", frac);
        for (size_t k = strlen(buf); k > 0 && buf[k - 1] == '0'; k--)
            buf[k - 1] = '\0';
    }
}

void rp_format_weight(uint32_t w, char *buf, size_t cap)
{
    unsigned whole = w / 1000, frac = w % 1000;
    if (frac == 0)
        snprintf(buf, cap, "%u%%", whole);
    else if (frac % 100 == 0)
        snprintf(buf, cap, "%u.%u%%", whole, frac / 100);
    else if (frac % 10 == 0)
        snprintf(buf, cap, "%u.%02u%%", whole, frac / 10);
    else
        snprintf(buf, cap, "%u.%03u%%", whole, frac);
}

/* ---- growable buffer ---------------------------------------------------- */

static bool buf_reserve(rp_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void rp_buf_putn(rp_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rp_buf_puts(rp_buf *b, const char *s)
{
    rp_buf_putn(b, s, strlen(s));
}

void rp_buf_printf(rp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        rp_buf_putn(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void rp_buf_free(rp_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- files ---------------------------------------------------------------- */

int rp_read_file(const char *path, size_t limit, const char *what, char **buf_out,
                 size_t *len_out, rollout_error *err)
{
    *buf_out = NULL;
    *len_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)   /* fopen allocates: its ENOMEM is ours too */
        return rp_error_set(err, errno == ENOMEM ? ROLLOUT_ERR_NOMEM : ROLLOUT_ERR_IO, path, 0,
                            0, NULL, "cannot open: %s", strerror(errno));
    /* Read one byte past the cap so an oversized file is known without
     * trusting its reported size (it may be a pipe or still growing). */
    size_t cap = limit + 1, len = 0, n;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return rp_error_set(err, ROLLOUT_ERR_NOMEM, path, 0, 0, NULL, "out of memory");
    }
    while (len < cap && (n = fread(buf + len, 1, cap - len, f)) > 0)
        len += n;
    int io_error = ferror(f) ? errno : 0;
    fclose(f);
    int rc = ROLLOUT_OK;
    if (io_error)
        rc = rp_error_set(err, ROLLOUT_ERR_IO, path, 0, 0, NULL, "cannot read: %s",
                          strerror(io_error));
    else if (len > limit)
        rc = rp_error_set(err, ROLLOUT_ERR_LIMIT, path, 0, 0, NULL,
                          "the %s is larger than %zu bytes", what, limit);
    if (rc) {
        free(buf);
        return rc;
    }
    *buf_out = buf;
    *len_out = len;
    return ROLLOUT_OK;
}
