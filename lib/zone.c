/* SPDX-License-Identifier: MIT */
/*
 * zone.c — IANA time zones for change windows and freezes.
 *
 * A zone named in a plan (`zone: Europe/Berlin`) is read from the system's
 * tzdata (a TZif file, RFC 8536) while the plan loads, as part of reading the
 * plan: its transitions and its POSIX TZ footer rule go into the plan's
 * arena. After that every lookup is arithmetic on the stored table: decide
 * and schedule read no file, no TZ variable and no C library time-zone state.
 *
 * Local times that do not exist (the hour skipped when clocks go forward)
 * map to the instant the gap ends; local times that occur twice (the hour
 * repeated when clocks go back) map to their first occurrence.
 */
#include "internal.h"
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ROLLOUT_ZONEINFO_DIR
#  define ROLLOUT_ZONEINFO_DIR "/usr/share/zoneinfo"
#endif

/* Real TZif files are a few KiB (America/New_York: 3.5 KiB). */
#define ZONE_MAX_BYTES (64u << 10)
#define ZONE_MAX_TRANSITIONS 4000
/* RFC 8536: UT offsets lie in -89999 .. 93599 seconds */
#define ZONE_MAX_OFFSET 93599

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- the POSIX TZ rule (the footer), for times past the table ---------- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Local seconds since the epoch at which rule r fires in year y (at the
 * local clock then in effect: standard for the start, DST for the end). */
static int64_t rule_local(const rp_zone_rule *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'J') {
        /* 1..365, February 29 never counted */
        day = rp_days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60);
    } else if (r->kind == 'N') {
        day = rp_days_from_civil(y, 1, 1) + r->n;
    } else {
        static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t first = rp_days_from_civil(y, (unsigned)r->m, 1);
        int wd = (int)((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; Sunday 0 */
        day = first + (r->d - wd + 7) % 7 + 7 * (r->w - 1);
        int len = (int)mdays[r->m - 1] + (r->m == 2 && is_leap(y));
        while (day >= first + len)
            day -= 7;
    }
    return day * 86400 + r->time;
}

static int32_t rule_offset(const rp_zone *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_off;
    int64_t y;
    unsigned m, d;
    rp_civil_from_days(floor_div(t + z->std_off, 86400), &y, &m, &d);
    int64_t start = rule_local(&z->start, y) - z->std_off;
    int64_t end = rule_local(&z->end, y) - z->dst_off;
    bool dst = start < end ? (start <= t && t < end) : !(end <= t && t < start);
    return dst ? z->dst_off : z->std_off;
}

int32_t rp_zone_offset(const rp_zone *z, int64_t t)
{
    if (z->n == 0 || t < z->at[0])
        return z->n == 0 && z->has_rule ? rule_offset(z, t) : z->off0;
    if (z->has_rule && t >= z->at[z->n - 1])
        return rule_offset(z, t);
    size_t lo = 0, hi = z->n; /* at[lo] <= t < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[lo];
}

int64_t rp_zone_utc(const rp_zone *z, int64_t local)
{
    /* Transitions lie months apart, so the offsets a day either side are
     * the only candidates. */
    int32_t a = rp_zone_offset(z, local - 86400), b = rp_zone_offset(z, local + 86400);
    int64_t ua = local - a, ub = local - b;
    bool va = rp_zone_offset(z, ua) == a, vb = rp_zone_offset(z, ub) == b;
    if (va && vb)
        return ua < ub ? ua : ub;   /* repeated: the first occurrence */
    if (va || vb)
        return va ? ua : ub;
    if (a == b)
        return ua;
    /* skipped: the instant the gap ends, the transition between lo and hi */
    int64_t lo = ua < ub ? ua : ub, hi = ua < ub ? ub : ua;
    int32_t before = rp_zone_offset(z, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rp_zone_offset(z, mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* ---- reading a TZif file ------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct rd {
    const char *s, *end;
} rd;

/* [+-]hh[:mm[:ss]], hours up to max_h */
static bool posix_time(rd *r, int max_h, int32_t *out)
{
    int sign = 1;
    if (r->s < r->end && (*r->s == '+' || *r->s == '-'))
        sign = *r->s++ == '-' ? -1 : 1;
    int32_t v = 0;
    for (int part = 0; part < 3; part++) {
        if (part && !(r->s < r->end && *r->s == ':'))
            break;
        if (part)
            r->s++;
        int n = 0, digits = 0;
        while (r->s < r->end && *r->s >= '0' && *r->s <= '9' && digits < 3) {
            n = n * 10 + (*r->s++ - '0');
            digits++;
        }
        if (!digits || (part == 0 && n > max_h) || (part && n > 59))
            return false;
        v += n * (part == 0 ? 3600 : part == 1 ? 60 : 1);
    }
    *out = sign * v;
    return true;
}

static bool posix_name(rd *r)
{
    const char *b = r->s;
    if (r->s < r->end && *r->s == '<') {
        while (r->s < r->end && *r->s != '>')
            r->s++;
        if (r->s == r->end)
            return false;
        r->s++;
        return r->s - b >= 5;
    }
    while (r->s < r->end && ((*r->s >= 'A' && *r->s <= 'Z') || (*r->s >= 'a' && *r->s <= 'z')))
        r->s++;
    return r->s - b >= 3;
}

static bool posix_rule(rd *r, rp_zone_rule *out)
{
    int a[3] = {0, 0, 0};
    if (r->s < r->end && *r->s == 'M') {
        r->s++;
        for (int k = 0; k < 3; k++) {
            if (k && !(r->s < r->end && *r->s++ == '.'))
                return false;
            int digits = 0;
            while (r->s < r->end && *r->s >= '0' && *r->s <= '9' && digits < 2) {
                a[k] = a[k] * 10 + (*r->s++ - '0');
                digits++;
            }
            if (!digits)
                return false;
        }
        if (a[0] < 1 || a[0] > 12 || a[1] < 1 || a[1] > 5 || a[2] > 6)
            return false;
        *out = (rp_zone_rule){.kind = 'M', .m = a[0], .w = a[1], .d = a[2]};
    } else {
        char kind = 'N';
        if (r->s < r->end && *r->s == 'J') {
            kind = 'J';
            r->s++;
        }
        int digits = 0;
        while (r->s < r->end && *r->s >= '0' && *r->s <= '9' && digits < 3) {
            a[0] = a[0] * 10 + (*r->s++ - '0');
            digits++;
        }
        if (!digits || (kind == 'J' ? a[0] < 1 || a[0] > 365 : a[0] > 365))
            return false;
        *out = (rp_zone_rule){.kind = kind, .n = a[0]};
    }
    out->time = 2 * 3600;
    if (r->s < r->end && *r->s == '/') {
        r->s++;
        if (!posix_time(r, 167, &out->time))
            return false;
    }
    return true;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3"; false when it is not one. */
static bool parse_footer(rp_zone *z, const char *s, size_t len)
{
    rd r = {s, s + len};
    int32_t std;
    if (!posix_name(&r) || !posix_time(&r, 24, &std))
        return false;
    z->has_rule = true;
    z->std_off = -std;     /* POSIX counts west of Greenwich as positive */
    if (r.s == r.end)
        return true;
    if (!posix_name(&r))
        return false;
    int32_t dst = std - 3600;
    if (r.s < r.end && *r.s != ',' && !posix_time(&r, 24, &dst))
        return false;
    z->dst_off = -dst;
    if (!(r.s < r.end && *r.s++ == ',') || !posix_rule(&r, &z->start) ||
        !(r.s < r.end && *r.s++ == ',') || !posix_rule(&r, &z->end) || r.s != r.end)
        return false;
    z->has_dst = true;
    return true;
}

/* Parses a TZif file into z (arrays in arena); a message on failure. */
static const char *parse_tzif(rp_arena *arena, rp_zone *z, const unsigned char *b, size_t len)
{
    if (len < 44 || memcmp(b, "TZif", 4) != 0)
        return "not a TZif file";
    int version = b[4] ? b[4] - '0' : 1;
    const unsigned char *h = b;
    size_t tsize = 4, pos = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (len - pos < 44 || memcmp(h, "TZif", 4) != 0)
            return "truncated header";
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28),
                 timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        if (timecnt > ZONE_MAX_TRANSITIONS || typecnt == 0 || typecnt > 256 || charcnt > 4096 ||
            leap > 1000 || isut > typecnt || isstd > typecnt)
            return "implausible counts";
        uint64_t data = (uint64_t)timecnt * tsize + timecnt + typecnt * 6u + charcnt +
                        leap * (tsize + 4) + isstd + isut;
        if (data > len - pos - 44)
            return "truncated data";
        if (pass == 0 && version >= 2) {
            pos += 44 + (size_t)data;
            h = b + pos;
            tsize = 8;
            continue;
        }
        if (leap)
            return "leap-second zones (right/...) are not supported";
        const unsigned char *tt = h + 44, *idx = tt + timecnt * tsize, *types = idx + timecnt;
        int32_t offs[256];
        for (uint32_t i = 0; i < typecnt; i++) {
            offs[i] = (int32_t)be32(types + 6 * i);
            if (offs[i] < -ZONE_MAX_OFFSET || offs[i] > ZONE_MAX_OFFSET)
                return "an offset out of range";
        }
        z->off0 = offs[0];
        z->n = timecnt;
        z->at = rp_alloc_array(arena, timecnt ? timecnt : 1, sizeof *z->at);
        z->off = rp_alloc_array(arena, timecnt ? timecnt : 1, sizeof *z->off);
        if (!z->at || !z->off)
            return NULL; /* out of memory: the caller checks */
        for (uint32_t i = 0; i < timecnt; i++) {
            z->at[i] = tsize == 8 ? be64(tt + 8 * i) : (int32_t)be32(tt + 4 * i);
            if (idx[i] >= typecnt)
                return "a transition names no type";
            if (i && z->at[i] <= z->at[i - 1])
                return "transitions out of order";
            z->off[i] = offs[idx[i]];
        }
        if (version >= 2) {
            const char *f = (const char *)h + 44 + data, *end = (const char *)b + len;
            if (f >= end || *f != '\n')
                return "no footer";
            const char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
            if (!nl)
                return "no footer";
            if (nl > f + 1 && !parse_footer(z, f + 1, (size_t)(nl - f - 1)))
                return "a footer rule this reader does not understand";
        }
        return "";
    }
    return "not a TZif file";
}

/* a/b/c of [A-Za-z0-9_+-], no component empty or starting with '.' */
static bool zone_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64 || s[0] == '/')
        return false;
    size_t comp = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '/') {
            if (comp == 0)
                return false;
            comp = 0;
            continue;
        }
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '+' || ch == '-' || (ch == '.' && comp > 0);
        if (!ok)
            return false;
        comp++;
    }
    return comp > 0;
}

int rp_zone_load(rp_ctx *c, const rp_node *n, const rp_zone **out)
{
    int rc = rp_expect(c, n, RP_SCALAR);
    if (rc)
        return rc;
    if (!zone_name_ok(n->str, n->len) || strstr(n->str, ".."))
        return rp_fail(c, n, ROLLOUT_ERR_VALUE,
                       "\"%s\" is not a time zone name (write an IANA name such as "
                       "Europe/Berlin, or utc_offset: +01:00)",
                       n->str);
    rollout_plan *p = c->plan;
    /* the same zone twice is read once */
    for (int i = 0; i < p->n_windows; i++)
        if (p->windows[i].zone && strcmp(p->windows[i].zone->name, n->str) == 0)
            return *out = p->windows[i].zone, ROLLOUT_OK;
    for (int i = 0; i < p->n_freezes; i++)
        if (p->freezes[i].zone && strcmp(p->freezes[i].zone->name, n->str) == 0)
            return *out = p->freezes[i].zone, ROLLOUT_OK;

    char path[sizeof ROLLOUT_ZONEINFO_DIR + 80];
    snprintf(path, sizeof path, "%s/%s", ROLLOUT_ZONEINFO_DIR, n->str);
    char *buf;
    size_t len;
    rollout_error e = {0};
    rc = rp_read_file(path, ZONE_MAX_BYTES, "time zone file", &buf, &len, &e);
    if (rc == ROLLOUT_ERR_NOMEM)
        return rp_fail(c, n, rc, "out of memory");
    if (rc)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE,
                       "unknown time zone \"%s\" (%s; is tzdata installed?)", n->str,
                       e.message);
    rp_zone *z = rp_alloc(c->arena, sizeof *z);
    const char *why = z ? parse_tzif(c->arena, z, (const unsigned char *)buf, len) : NULL;
    free(buf);
    if (!why)
        return rp_fail(c, n, ROLLOUT_ERR_NOMEM, "out of memory");
    if (*why)
        return rp_fail(c, n, ROLLOUT_ERR_VALUE, "time zone \"%s\": %s: %s", n->str, path, why);
    if (!(z->name = rp_strndup(c->arena, n->str, n->len)))
        return rp_fail(c, n, ROLLOUT_ERR_NOMEM, "out of memory");
    *out = z;
    return ROLLOUT_OK;
}

/* ---- windows ------------------------------------------------------------ */

int64_t rp_window_day(const rp_window *w, int64_t t)
{
    return floor_div(t + (w->zone ? rp_zone_offset(w->zone, t) : w->utc_offset), 86400);
}

void rp_window_bounds(const rp_window *w, int64_t day, int64_t *open, int64_t *close)
{
    if (!w->zone) {
        *open = day * 86400 + w->from - w->utc_offset;
        *close = day * 86400 + w->to - w->utc_offset;
        return;
    }
    *open = rp_zone_utc(w->zone, day * 86400 + w->from);
    *close = rp_zone_utc(w->zone, day * 86400 + w->to);
}
