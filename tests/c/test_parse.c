/* SPDX-License-Identifier: MIT */
/*
 * test_parse.c — the scalar grammars of lib/parse.c, called directly:
 * durations, times, weights, their formatters, the civil-date arithmetic,
 * the typed node readers and their messages, field paths and errors.
 *
 * Expected values are worked out by hand; sweeps compare the code against
 * an independent date walk written here, not against itself.
 */
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define H INT64_C(3600)
#define D INT64_C(86400)

static bool dur(const char *s, int64_t *out)
{
    return rp_parse_duration(s, strlen(s), out);
}

static bool tm(const char *s, int64_t *out)
{
    return rp_parse_time(s, strlen(s), out);
}

static bool wt(const char *s, uint32_t *out)
{
    return rp_parse_weight(s, strlen(s), out);
}

/* ---- durations ------------------------------------------------------------------ */

Test(duration, valid_forms)
{
    static const struct { const char *s; int64_t v; } cases[] = {
        {"0", 0},
        {"0s", 0},
        {"0m", 0},
        {"30s", 30},
        {"90m", 5400},
        {"1h30m", 5400},
        {"4h", 14400},
        {"2d", 172800},
        {"1d12h", 129600},
        {"2d3h4m5s", 183845},
        {"1d1s", 86401},
        {"48h", 172800},
        {"007m", 420},
        {"999999999s", 999999999},
        /* the cap is 100 years of 366 days: 3 162 240 000 s */
        {"36600d", INT64_C(3162240000)},
        {"36599d23h59m59s", INT64_C(3162239999)},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        int64_t v = -7;
        cr_expect(dur(cases[i].s, &v), "\"%s\" should parse", cases[i].s);
        cr_expect_eq(v, cases[i].v, "\"%s\": %lld, expected %lld", cases[i].s, (long long)v,
                     (long long)cases[i].v);
    }
}

Test(duration, invalid_forms)
{
    static const char *const bad[] = {
        "", "h", "4", "4x", "4H", "4 h", " 4h", "4h ", "1.5h", "-1h", "+1h", "30m1d", "1h1h",
        "1h2h", "1d 2h", "0x", "00", "1e3s", "4hh", "d4", "1w", "1y", "1ms", "∞",
        "1000000000s",   /* ten digits */
        "36601d",        /* beyond the cap */
        "36600d1s",
    };
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        int64_t v = -7;
        cr_expect_not(dur(bad[i], &v), "\"%s\" should not parse (got %lld)", bad[i],
                      (long long)v);
        cr_expect_eq(v, -7, "\"%s\": the output is untouched on failure", bad[i]);
    }
}

Test(duration, length_is_respected)
{
    int64_t v;
    cr_expect(rp_parse_duration("4h30m", 2, &v));
    cr_expect_eq(v, 14400);
    cr_expect_not(rp_parse_duration("4h30m", 3, &v), "\"4h3\" has no unit on the 3");
    cr_expect_not(rp_parse_duration("4h", 0, &v));
    /* an embedded NUL is just a bad character */
    cr_expect_not(rp_parse_duration("4h\0", 3, &v));
}

Test(duration, format)
{
    static const struct { int64_t v; const char *s; } cases[] = {
        {0, "0s"},       {-5, "0s"},          {1, "1s"},           {30, "30s"},
        {60, "1m"},      {5400, "1h30m"},     {14400, "4h"},       {86400, "1d"},
        {129600, "1d12h"}, {183845, "2d3h4m5s"}, {90061, "1d1h1m1s"}, {86460, "1d1m"},
        {7 * 86400, "7d"}, {INT64_C(3162240000), "36600d"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        char buf[32];
        memset(buf, 'z', sizeof buf);
        rp_format_duration(cases[i].v, buf, sizeof buf);
        cr_expect_str_eq(buf, cases[i].s, "%lld", (long long)cases[i].v);
    }
    /* small buffers: truncated, terminated, never overrun (ASan watches) */
    for (size_t cap = 1; cap < 12; cap++) {
        char *buf = malloc(cap);
        rp_format_duration(183845, buf, cap);
        cr_expect_lt(strlen(buf), cap);
        free(buf);
    }
}

Test(duration, format_then_parse_is_identity)
{
    int64_t samples = 0;
    for (int64_t v = 0; v <= 3 * D; v += 7) {
        char buf[32];
        int64_t back = -1;
        rp_format_duration(v, buf, sizeof buf);
        cr_assert(rp_parse_duration(buf, strlen(buf), &back), "\"%s\"", buf);
        cr_assert_eq(back, v, "%lld -> \"%s\" -> %lld", (long long)v, buf, (long long)back);
        samples++;
    }
    cr_expect_gt(samples, 37000);
}

/* ---- times ---------------------------------------------------------------------- */

Test(time, valid)
{
    static const struct { const char *s; int64_t t; } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:01Z", 1},
        {"1969-12-31T23:59:59Z", -1},
        {"1970-01-02T00:00:00Z", 86400},
        /* 2000-01-01 is day 10957 (30 years, 7 leap days) */
        {"2000-01-01T00:00:00Z", INT64_C(946684800)},
        {"2000-02-29T00:00:00Z", INT64_C(951782400)},
        {"2000-03-01T00:00:00Z", INT64_C(951868800)},
        /* 2026-02-28 is day 20512 (56 years, 14 leap days, + 58) */
        {"2026-02-28T09:00:00Z", INT64_C(1772269200)},
        {"2026-02-28T10:00:00+01:00", INT64_C(1772269200)},
        {"2026-02-28T03:30:00-05:30", INT64_C(1772269200)},
        {"2026-02-28T09:00:00+00:00", INT64_C(1772269200)},
        {"2026-02-28T09:00:00-00:00", INT64_C(1772269200)},
        /* the offset is subtracted: 23:59 local at +23:59 is 00:00Z */
        {"2026-02-28T23:59:00+23:59", INT64_C(1772269200) - 9 * H},
        {"2026-03-01T08:00:00+23:00", INT64_C(1772269200)},
        {"2026-02-27T10:00:00-23:00", INT64_C(1772269200)},
        {"2024-02-29T12:00:00Z", INT64_C(19782) * D + 12 * H},
        {"2038-01-19T03:14:07Z", INT64_C(2147483647)},
        {"2038-01-19T03:14:08Z", INT64_C(2147483648)},
        {"1901-12-13T20:45:52Z", INT64_C(-2147483648)},
        /* 0001-01-01 is day -719162; 9999-12-31 is day 2932896 */
        {"0001-01-01T00:00:00Z", INT64_C(-62135596800)},
        {"0001-01-01T00:00:00+01:00", INT64_C(-62135596800) - 3600},
        {"9999-12-31T23:59:59Z", INT64_C(253402300799)},
        {"9999-12-31T23:59:59-23:59", INT64_C(253402300799) + 23 * H + 59 * 60},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        int64_t t = 42;
        cr_expect(tm(cases[i].s, &t), "\"%s\" should parse", cases[i].s);
        cr_expect_eq(t, cases[i].t, "\"%s\": %lld, expected %lld", cases[i].s, (long long)t,
                     (long long)cases[i].t);
    }
}

Test(time, invalid)
{
    static const char *const bad[] = {
        "",
        "2026-02-28",
        "2026-02-28T09:00:00",          /* no zone */
        "2026-02-28T09:00Z",            /* no seconds */
        "2026-02-28T09:00:00.5Z",       /* fractions */
        "2026-02-28T09:00:00z",         /* lower-case zone */
        "2026-02-28t09:00:00Z",
        "2026-02-28 09:00:00Z",         /* space for T */
        "2026-02-28T09:00:00 Z",
        "2026-2-28T09:00:00Z",
        "26-02-28T09:00:00Z",
        "+2026-02-28T09:00:00Z",
        "2026/02/28T09:00:00Z",
        "2026-13-02T09:00:00Z",         /* month 13 */
        "2026-00-10T09:00:00Z",         /* month 0 */
        "2026-01-00T09:00:00Z",         /* day 0 */
        "2026-01-32T09:00:00Z",
        "2026-02-29T09:00:00Z",         /* not a leap year */
        "2026-02-30T09:00:00Z",
        "1900-02-29T09:00:00Z",         /* divisible by 100 */
        "2100-02-29T09:00:00Z",
        "2026-04-31T09:00:00Z",
        "2026-06-31T09:00:00Z",
        "2026-09-31T09:00:00Z",
        "2026-11-31T09:00:00Z",
        "2026-02-28T24:00:00Z",
        "2026-02-28T23:60:00Z",
        "2026-02-28T23:59:60Z",         /* no leap seconds */
        "0000-01-01T00:00:00Z",         /* no year 0 */
        "2026-02-28T09:00:00+24:00",
        "2026-02-28T09:00:00+01:60",
        "2026-02-28T09:00:00+0100",
        "2026-02-28T09:00:00+01",
        "2026-02-28T09:00:00+01:00Z",
        "2026-02-28T09:00:00Z+01:00",
        "2026-02-28T09:00:00*01:00",
        "2026-02-28T09:00:00+1:000",
        "2026-0a-28T09:00:00Z",
        "2026-02-28T0 :00:00Z",
        "2026-02-28T-1:00:00Z",
        "aaaaaaaaaaaaaaaaaaaa",         /* 20 characters of nothing */
        "aaaaaaaaaaaaaaaaaaaaaaaaa",    /* 25 */
        "next monday",
        "1772269200",
    };
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        int64_t t = 42;
        cr_expect_not(tm(bad[i], &t), "\"%s\" should not parse (got %lld)", bad[i],
                      (long long)t);
        cr_expect_eq(t, 42, "\"%s\": output untouched", bad[i]);
    }
    int64_t t;
    cr_expect_not(rp_parse_time("2026-02-28T09:00:00Z", 19, &t), "length is respected");
}

Test(time, format)
{
    static const struct { int64_t t; const char *s; } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {-1, "1969-12-31T23:59:59Z"},
        {-86400, "1969-12-31T00:00:00Z"},
        {-86401, "1969-12-30T23:59:59Z"},
        {INT64_C(951782400), "2000-02-29T00:00:00Z"},
        {INT64_C(1772269200), "2026-02-28T09:00:00Z"},
        {INT64_C(1772269200) + 86400, "2026-03-01T09:00:00Z"},
        {INT64_C(2147483648), "2038-01-19T03:14:08Z"},
        {INT64_C(-2147483648), "1901-12-13T20:45:52Z"},
        {INT64_C(-62135596800), "0001-01-01T00:00:00Z"},
        {INT64_C(253402300799), "9999-12-31T23:59:59Z"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        char buf[32];
        rp_format_time(cases[i].t, buf, sizeof buf);
        cr_expect_str_eq(buf, cases[i].s, "%lld", (long long)cases[i].t);
    }
    char small[8];
    rp_format_time(0, small, sizeof small);
    cr_expect_str_eq(small, "1970-01");
}

Test(time, format_then_parse_is_identity_across_the_range)
{
    /* a prime stride walks every second of the day, every day of the month */
    int64_t n = 0;
    for (int64_t t = INT64_C(-62135596800); t <= INT64_C(253402300799); t += INT64_C(7777777)) {
        char buf[32];
        int64_t back = 0;
        rp_format_time(t, buf, sizeof buf);
        cr_assert(rp_parse_time(buf, strlen(buf), &back), "%lld -> \"%s\"", (long long)t, buf);
        cr_assert_eq(back, t, "%lld -> \"%s\" -> %lld", (long long)t, buf, (long long)back);
        n++;
    }
    cr_expect_gt(n, 40000);
}

/* ---- civil dates ------------------------------------------------------------------ */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && is_leap(y));
}

Test(civil, anchors)
{
    cr_expect_eq(rp_days_from_civil(1970, 1, 1), 0);
    cr_expect_eq(rp_days_from_civil(1970, 1, 2), 1);
    cr_expect_eq(rp_days_from_civil(1969, 12, 31), -1);
    cr_expect_eq(rp_days_from_civil(2000, 1, 1), 10957);
    cr_expect_eq(rp_days_from_civil(2000, 3, 1), 11017);
    cr_expect_eq(rp_days_from_civil(2026, 2, 28), 20512);
    cr_expect_eq(rp_days_from_civil(1, 1, 1), -719162);
    cr_expect_eq(rp_days_from_civil(9999, 12, 31), 2932896);
    /* before year 1 (proleptic, astronomical numbering: year 0 is 1 BC and leap) */
    cr_expect_eq(rp_days_from_civil(0, 3, 1), -719468);
    cr_expect_eq(rp_days_from_civil(0, 12, 31), -719163);
    cr_expect_eq(rp_days_from_civil(0, 2, 29), -719469);
    cr_expect_eq(rp_days_from_civil(-400, 3, 1), -719468 - 146097);

    int64_t y;
    unsigned m, d;
    rp_civil_from_days(-719469, &y, &m, &d);
    cr_expect(y == 0 && m == 2 && d == 29, "%lld-%u-%u", (long long)y, m, d);
    rp_civil_from_days(-1, &y, &m, &d);
    cr_expect(y == 1969 && m == 12 && d == 31);
    rp_civil_from_days(2932896, &y, &m, &d);
    cr_expect(y == 9999 && m == 12 && d == 31);
}

/* Walks every day from 0001-01-01 to 9999-12-31 with a calendar written
 * here, checking both directions at each step. */
Test(civil, every_day_of_years_1_to_9999, .timeout = 60)
{
    int64_t y = 1, z = -719162;
    unsigned m = 1, d = 1;
    int64_t days = 0, leap_days = 0;
    for (;;) {
        int64_t zz = rp_days_from_civil(y, m, d);
        if (zz != z)
            cr_assert_fail("%lld-%02u-%02u: day %lld, expected %lld", (long long)y, m, d,
                           (long long)zz, (long long)z);
        int64_t yy;
        unsigned mm, dd;
        rp_civil_from_days(z, &yy, &mm, &dd);
        if (yy != y || mm != m || dd != d)
            cr_assert_fail("day %lld: %lld-%u-%u, expected %lld-%u-%u", (long long)z,
                           (long long)yy, mm, dd, (long long)y, m, d);
        days++;
        leap_days += m == 2 && d == 29;
        if (y == 9999 && m == 12 && d == 31)
            break;
        if (++d > month_days(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
        z++;
    }
    cr_expect_eq(z, 2932896);
    cr_expect_eq(days, INT64_C(3652059));
    /* 2499 years divisible by 4, minus 99 centuries, plus 24 divisible by 400 */
    cr_expect_eq(leap_days, 2424);
}

Test(civil, leap_years)
{
    static const struct { int64_t y; bool leap; } cases[] = {
        {1, false}, {4, true}, {100, false}, {400, true}, {1900, false}, {2000, true},
        {2023, false}, {2024, true}, {2100, false}, {2400, true}, {9996, true}, {9999, false},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        int64_t y = cases[i].y;
        int64_t len = rp_days_from_civil(y + 1, 1, 1) - rp_days_from_civil(y, 1, 1);
        cr_expect_eq(len, cases[i].leap ? 366 : 365, "year %lld", (long long)y);
        int64_t feb = rp_days_from_civil(y, 3, 1) - rp_days_from_civil(y, 2, 1);
        cr_expect_eq(feb, cases[i].leap ? 29 : 28, "February %lld", (long long)y);
        char iso[32];
        snprintf(iso, sizeof iso, "%04lld-02-29T00:00:00Z", (long long)y);
        int64_t t;
        cr_expect_eq(rp_parse_time(iso, strlen(iso), &t), cases[i].leap, "%s", iso);
    }
}

/* ---- weights ---------------------------------------------------------------------- */

Test(weight, valid)
{
    static const struct { const char *s; uint32_t w; } cases[] = {
        {"0%", 0},         {"0.0%", 0},        {"0.001%", 1},     {"0.01%", 10},
        {"0.1%", 100},     {"0.5%", 500},      {"1%", 1000},      {"1.01%", 1010},
        {"1.001%", 1001},  {"1.10%", 1100},    {"007%", 7000},    {"12.5%", 12500},
        {"12.75%", 12750}, {"25%", 25000},     {"33.333%", 33333}, {"99.999%", 99999},
        {"100%", 100000},  {"100.0%", 100000}, {"100.000%", 100000},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        uint32_t w = 7;
        cr_expect(wt(cases[i].s, &w), "\"%s\" should parse", cases[i].s);
        cr_expect_eq(w, cases[i].w, "\"%s\": %u, expected %u", cases[i].s, w, cases[i].w);
    }
}

Test(weight, invalid)
{
    static const char *const bad[] = {
        "", "%", "50", "50 %", " 50%", "50% ", "50%%", "-1%", "+1%", "100.001%", "101%",
        "1000%", "0100%", "1.%", ".5%", "1.2345%", "12.3456%", "0.0001%", "1,5%", "1e2%",
        "0x10%", "fifty%", "50‰", "½%",
    };
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        uint32_t w = 7;
        cr_expect_not(wt(bad[i], &w), "\"%s\" should not parse (got %u)", bad[i], w);
        cr_expect_eq(w, 7, "\"%s\": output untouched", bad[i]);
    }
}

Test(weight, format)
{
    static const struct { uint32_t w; const char *s; } cases[] = {
        {0, "0%"},         {1, "0.001%"},     {10, "0.01%"},    {100, "0.1%"},
        {500, "0.5%"},     {1000, "1%"},      {1001, "1.001%"}, {1010, "1.01%"},
        {1100, "1.1%"},    {12500, "12.5%"},  {12750, "12.75%"}, {33333, "33.333%"},
        {99999, "99.999%"}, {100000, "100%"},
    };
    for (size_t i = 0; i < RP_COUNT(cases); i++) {
        char buf[16];
        rp_format_weight(cases[i].w, buf, sizeof buf);
        cr_expect_str_eq(buf, cases[i].s, "%u", cases[i].w);
    }
}

Test(weight, every_weight_formats_and_parses_back)
{
    for (uint32_t w = 0; w <= ROLLOUT_WEIGHT_MAX; w++) {
        char buf[16];
        uint32_t back = UINT32_MAX;
        rp_format_weight(w, buf, sizeof buf);
        if (!rp_parse_weight(buf, strlen(buf), &back) || back != w)
            cr_assert_fail("%u -> \"%s\" -> %u", w, buf, back);
    }
}

/* ---- typed node readers and their messages ------------------------------------------ */

typedef struct fixture {
    rp_arena arena;
    rollout_plan plan;
    rollout_error err;
    rp_ctx c;
} fixture;

static fixture *fx_new(void)
{
    fixture *f = calloc(1, sizeof *f);
    cr_assert(f);
    f->c.arena = &f->arena;
    f->c.err = &f->err;
    f->c.file = "t.yaml";
    f->c.plan = &f->plan;
    rp_path_key(&f->c, "field");
    return f;
}

static void fx_free(fixture *f)
{
    rp_arena_free(&f->arena);
    free(f);
}

/* A scalar node at line 3, column 7. */
static rp_node scalar(const char *s, bool plain)
{
    rp_node n;
    memset(&n, 0, sizeof n);
    n.kind = RP_SCALAR;
    n.line = 3;
    n.col = 7;
    n.plain = plain;
    n.str = s;
    n.len = strlen(s);
    n.expanded = 1;
    return n;
}

static void expect_msg(fixture *f, int rc, int code, const char *message)
{
    cr_expect_eq(rc, code, "%s: %s", rollout_code_name(rc), f->err.message);
    cr_expect_eq(f->err.code, code);
    cr_expect_eq(f->err.line, 3);
    cr_expect_eq(f->err.column, 7);
    cr_expect_str_eq(f->err.field, "field");
    cr_expect_str_eq(f->err.message, message);
}

Test(readers, durations_times_weights_report_the_expected_form)
{
    fixture *f = fx_new();
    int64_t v;
    uint32_t w;
    rp_node n = scalar("4x", true);
    expect_msg(f, rp_duration(&f->c, &n, &v), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"4x\" is not a duration (write 90m, 4h, 2d)");
    n = scalar("2026-02-30T09:00:00Z", true);
    expect_msg(f, rp_time(&f->c, &n, &v), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"2026-02-30T09:00:00Z\" is not a time (write "
               "2026-02-28T09:00:00Z or with +01:00)");
    n = scalar("50", true);
    expect_msg(f, rp_weight(&f->c, &n, &w), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"50\" is not a weight (write a percentage such as 25% or "
               "12.5%, at most 3 decimals)");
    n = scalar("100.5%", true);
    expect_msg(f, rp_weight(&f->c, &n, &w), ROLLOUT_ERR_RANGE,
               "t.yaml:3:7: field: 100.5% is outside 0%..100%");
    n = scalar("1000%", true);
    expect_msg(f, rp_weight(&f->c, &n, &w), ROLLOUT_ERR_RANGE,
               "t.yaml:3:7: field: 1000% is outside 0%..100%");
    n = scalar("-5%", true);
    expect_msg(f, rp_weight(&f->c, &n, &w), ROLLOUT_ERR_RANGE,
               "t.yaml:3:7: field: -5% is outside 0%..100%");
    n = scalar("12.5%", false); /* quoted is fine for values that are not booleans */
    cr_expect_eq(rp_weight(&f->c, &n, &w), ROLLOUT_OK);
    cr_expect_eq(w, 12500);
    n = scalar("1d12h", true);
    cr_expect_eq(rp_duration(&f->c, &n, &v), ROLLOUT_OK);
    cr_expect_eq(v, 129600);
    fx_free(f);
}

Test(readers, types)
{
    fixture *f = fx_new();
    const char *s;
    rp_node empty = scalar("", true);
    expect_msg(f, rp_string(&f->c, &empty, &s), ROLLOUT_ERR_TYPE,
               "t.yaml:3:7: field: expected a value, got nothing");
    rp_node quoted_empty = scalar("", false);
    cr_expect_eq(rp_string(&f->c, &quoted_empty, &s), ROLLOUT_OK);
    cr_expect_str_eq(s, "");

    rp_node seq = scalar("", true);
    seq.kind = RP_SEQ;
    expect_msg(f, rp_string(&f->c, &seq, &s), ROLLOUT_ERR_TYPE,
               "t.yaml:3:7: field: expected a value, got a list");
    expect_msg(f, rp_expect(&f->c, &seq, RP_MAP), ROLLOUT_ERR_TYPE,
               "t.yaml:3:7: field: expected a mapping, got a list");
    rp_node map = seq;
    map.kind = RP_MAP;
    expect_msg(f, rp_expect(&f->c, &map, RP_SEQ), ROLLOUT_ERR_TYPE,
               "t.yaml:3:7: field: expected a list, got a mapping");
    rp_node sc = scalar("x", true);
    expect_msg(f, rp_expect(&f->c, &sc, RP_SEQ), ROLLOUT_ERR_TYPE,
               "t.yaml:3:7: field: expected a list, got a scalar");
    fx_free(f);
}

Test(readers, ident_bool_uint_number)
{
    fixture *f = fx_new();
    const char *s;
    rp_node n = scalar("canary-go_2.b", true);
    cr_expect_eq(rp_ident(&f->c, &n, &s), ROLLOUT_OK);
    cr_expect_str_eq(s, "canary-go_2.b");
    n = scalar("a b", true);
    expect_msg(f, rp_ident(&f->c, &n, &s), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"a b\" is not a valid id (1-64 of A-Z a-z 0-9 - _ .)");
    n = scalar("é", true);
    cr_expect_eq(rp_ident(&f->c, &n, &s), ROLLOUT_ERR_VALUE);
    char id64[65], id65[66];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'a', 65);
    id65[65] = '\0';
    n = scalar(id64, true);
    cr_expect_eq(rp_ident(&f->c, &n, &s), ROLLOUT_OK);
    n = scalar(id65, true);
    cr_expect_eq(rp_ident(&f->c, &n, &s), ROLLOUT_ERR_VALUE);

    bool b = false;
    n = scalar("true", true);
    cr_expect_eq(rp_bool(&f->c, &n, &b), ROLLOUT_OK);
    cr_expect(b);
    n = scalar("false", true);
    cr_expect_eq(rp_bool(&f->c, &n, &b), ROLLOUT_OK);
    cr_expect_not(b);
    n = scalar("yes", true);
    expect_msg(f, rp_bool(&f->c, &n, &b), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"yes\" is not a boolean (write true or false)");
    n = scalar("True", true);
    cr_expect_eq(rp_bool(&f->c, &n, &b), ROLLOUT_ERR_VALUE);
    n = scalar("true", false); /* "true" in quotes is a string */
    cr_expect_eq(rp_bool(&f->c, &n, &b), ROLLOUT_ERR_VALUE);

    uint64_t u = 0;
    n = scalar("18446744073709551615", true);
    cr_expect_eq(rp_uint(&f->c, &n, UINT64_MAX, &u), ROLLOUT_OK);
    cr_expect_eq(u, UINT64_MAX);
    n = scalar("18446744073709551616", true);
    expect_msg(f, rp_uint(&f->c, &n, UINT64_MAX, &u), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"18446744073709551616\" is not a whole number");
    n = scalar("-1", true);
    cr_expect_eq(rp_uint(&f->c, &n, 10, &u), ROLLOUT_ERR_VALUE);
    n = scalar("1.0", true);
    cr_expect_eq(rp_uint(&f->c, &n, 10, &u), ROLLOUT_ERR_VALUE);
    n = scalar("11", true);
    expect_msg(f, rp_uint(&f->c, &n, 10, &u), ROLLOUT_ERR_RANGE,
               "t.yaml:3:7: field: 11 is more than the limit 10");
    n = scalar("10", true);
    cr_expect_eq(rp_uint(&f->c, &n, 10, &u), ROLLOUT_OK);
    cr_expect_eq(u, 10);

    double d = 0;
    n = scalar("1e3", true);
    cr_expect_eq(rp_number(&f->c, &n, &d), ROLLOUT_OK);
    cr_expect_eq(d, 1000.0);
    n = scalar("-0.25", true);
    cr_expect_eq(rp_number(&f->c, &n, &d), ROLLOUT_OK);
    cr_expect_eq(d, -0.25);
    static const char *const not_numbers[] = {"inf", "nan", "1e999", "0x10", "1,5", "", " 1",
                                              "1 ", "1e", "--1"};
    for (size_t i = 0; i < RP_COUNT(not_numbers); i++) {
        n = scalar(not_numbers[i], false);
        cr_expect_neq(rp_number(&f->c, &n, &d), ROLLOUT_OK, "\"%s\"", not_numbers[i]);
    }
    n = scalar("nan", true);
    expect_msg(f, rp_number(&f->c, &n, &d), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"nan\" is not a number");
    fx_free(f);
}

Test(readers, fraction_and_latency)
{
    fixture *f = fx_new();
    double v = -1;
    rp_node n = scalar("0.5%", true);
    cr_expect_eq(rp_fraction(&f->c, &n, &v), ROLLOUT_OK);
    cr_expect(fabs(v - 0.005) < 1e-15, "%.17g", v);
    n = scalar("0.005", true);
    cr_expect_eq(rp_fraction(&f->c, &n, &v), ROLLOUT_OK);
    cr_expect(fabs(v - 0.005) < 1e-15);
    n = scalar("99.9%", true);
    cr_expect_eq(rp_fraction(&f->c, &n, &v), ROLLOUT_OK);
    cr_expect(fabs(v - 0.999) < 1e-15);
    n = scalar("half", true);
    expect_msg(f, rp_fraction(&f->c, &n, &v), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"half\" is not a rate (write 0.5% or 0.005)");

    static const struct { const char *s; double v; } lat[] = {
        {"2s", 2.0}, {"1500ms", 1.5}, {"250us", 0.00025}, {"0.5s", 0.5}, {"1m", 60.0},
        {"1h", 3600.0}, {"0s", 0.0},
    };
    for (size_t i = 0; i < RP_COUNT(lat); i++) {
        n = scalar(lat[i].s, true);
        cr_expect_eq(rp_latency(&f->c, &n, &v), ROLLOUT_OK, "%s", lat[i].s);
        cr_expect(fabs(v - lat[i].v) < 1e-12, "%s: %.17g", lat[i].s, v);
    }
    static const char *const bad[] = {"2", "-1s", "s", "ms", "2 s", "2sec", "1.5.1s"};
    for (size_t i = 0; i < RP_COUNT(bad); i++) {
        n = scalar(bad[i], true);
        cr_expect_eq(rp_latency(&f->c, &n, &v), ROLLOUT_ERR_VALUE, "%s", bad[i]);
    }
    n = scalar("fast", true);
    expect_msg(f, rp_latency(&f->c, &n, &v), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: \"fast\" is not a latency (write 2s, 1500ms)");
    fx_free(f);
}

Test(readers, nul_inside_text)
{
    fixture *f = fx_new();
    rp_node n = scalar("ab", false);
    n.str = "a\0b";
    n.len = 3;
    const char *s;
    expect_msg(f, rp_string(&f->c, &n, &s), ROLLOUT_ERR_VALUE,
               "t.yaml:3:7: field: text must not contain NUL characters");
    fx_free(f);
}

/* ---- field paths and the error formatter ------------------------------------------ */

Test(paths, build_and_pop)
{
    rp_ctx c;
    memset(&c, 0, sizeof c);
    size_t m0 = rp_path_key(&c, "phases");
    size_t m1 = rp_path_index(&c, 1);
    size_t m2 = rp_path_key(&c, "steps");
    rp_path_index(&c, 2);
    rp_path_key(&c, "at");
    cr_expect_str_eq(c.path, "phases[1].steps[2].at");
    rp_path_pop(&c, m2);
    cr_expect_str_eq(c.path, "phases[1]");
    rp_path_key(&c, "gate");
    cr_expect_str_eq(c.path, "phases[1].gate");
    rp_path_pop(&c, m1);
    cr_expect_str_eq(c.path, "phases");
    rp_path_pop(&c, m0);
    cr_expect_str_eq(c.path, "");
    cr_expect_eq(c.path_len, 0);

    /* a path longer than the buffer is cut, never overrun */
    for (int i = 0; i < 100; i++)
        rp_path_key(&c, "abcdefghij");
    cr_expect_lt(c.path_len, sizeof c.path);
    cr_expect_eq(strlen(c.path), c.path_len);
    size_t mark = rp_path_index(&c, 12345);
    rp_path_pop(&c, mark);
    cr_expect_eq(strlen(c.path), c.path_len);
}

Test(errors, format)
{
    rollout_error e;
    cr_expect_eq(rp_error_set(&e, ROLLOUT_ERR_VALUE, "a.yaml", 9, 13, "phases[0].steps[0].at",
                              "\"%s\" is not a duration", "4x"),
                 ROLLOUT_ERR_VALUE);
    cr_expect_eq(e.code, ROLLOUT_ERR_VALUE);
    cr_expect_eq(e.line, 9);
    cr_expect_eq(e.column, 13);
    cr_expect_str_eq(e.file, "a.yaml");
    cr_expect_str_eq(e.field, "phases[0].steps[0].at");
    cr_expect_str_eq(e.message, "a.yaml:9:13: phases[0].steps[0].at: \"4x\" is not a duration");

    rp_error_set(&e, ROLLOUT_ERR_IO, "b.yaml", 0, 0, NULL, "cannot open");
    cr_expect_str_eq(e.message, "b.yaml: cannot open");
    cr_expect_str_eq(e.field, "");
    rp_error_set(&e, ROLLOUT_ERR_ARG, NULL, 0, 0, "", "out must not be NULL");
    cr_expect_str_eq(e.message, "out must not be NULL");
    cr_expect_str_eq(e.file, "");
    rp_error_set(&e, ROLLOUT_ERR_ARG, NULL, 0, 0, "x", "bad");
    cr_expect_str_eq(e.message, "x: bad");
    cr_expect_eq(rp_error_set(NULL, ROLLOUT_ERR_RANGE, "f", 1, 1, NULL, "x"), ROLLOUT_ERR_RANGE);

    /* long parts are cut to the struct's sizes, terminated */
    char longname[1000];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    rp_error_set(&e, ROLLOUT_ERR_VALUE, longname, 1, 2, longname, "%s", longname);
    cr_expect_eq(strlen(e.file), sizeof e.file - 1);
    cr_expect_eq(strlen(e.field), sizeof e.field - 1);
    cr_expect_eq(strlen(e.message), sizeof e.message - 1);
}

Test(buffers, json_strings)
{
    rp_buf b = {0};
    rp_buf_json_str(&b, "a\"b\\c\nd\te\rf\x01g\x7fh", 15);
    cr_expect_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u007fh\"");
    rp_buf_free(&b);
    cr_expect_null(b.data);
    rp_buf_json_str(&b, "é—🚀", strlen("é—🚀"));
    cr_expect_str_eq(b.data, "\"é—🚀\"", "UTF-8 passes through");
    rp_buf_free(&b);
    rp_buf_json_str(&b, "a\0b", 3);
    cr_expect_str_eq(b.data, "\"a\\u0000b\"");
    rp_buf_free(&b);

    /* printf growth past the small stack buffer */
    char big[600];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rp_buf_printf(&b, "<%s>%d", big, 42);
    cr_expect_eq(b.len, 599 + 4);
    cr_expect_eq(b.data[0], '<');
    cr_expect_str_eq(b.data + 600, ">42");
    rp_buf_puts(&b, "!");
    cr_expect_eq(b.len, 604);
    cr_expect_not(b.failed);
    rp_buf_free(&b);
}
