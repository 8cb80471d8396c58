/* SPDX-License-Identifier: MIT */
/*
 * test_zone.c — change windows and freezes in IANA time zones: the TZif
 * reader and its POSIX footer rule, both 2026 transitions in Europe/Berlin
 * and America/New_York, the skipped and the repeated hour, the dump
 * round trip, the calendar's marks for moved steps, and every refusal.
 */
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M 60
#define H 3600
#define D 86400
#define PCT(x) ((uint32_t)(x) * 1000u)

/* One cohort, 10 % at the start, 50 % `second` later; the windows and
 * freezes given. */
static char *plan_text(const char *start, const char *second, const char *limits)
{
    static char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "format: 1\n"
             "id: zoned\n"
             "salt: zoned-salt\n"
             "start: %s\n"
             "versions: {stable: app-1, new: app-2}\n"
             "cohorts:\n"
             "  - id: everyone\n"
             "    match: {everyone: true}\n"
             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
             "phases:\n"
             "  - id: ga\n"
             "    cohort: everyone\n"
             "    steps:\n"
             "      - {at: 0h, weight: 10%%, unit: org}\n"
             "      - {at: %s, weight: 50%%, unit: org}\n"
             "%s",
             start, second, limits);
    return yaml;
}

static rollout_plan *zoned(const char *start, const char *second, const char *limits)
{
    return t_plan(plan_text(start, second, limits));
}

/* When the second step happens, read from the calendar. */
static int64_t second_step(const rollout_plan *p, int64_t *due)
{
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n;
    cr_assert_eq(rollout_calendar(p, NULL, ev, ROLLOUT_MAX_CALENDAR, &n), ROLLOUT_OK);
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == ROLLOUT_CAL_STEP && ev[i].step == 1) {
            if (due)
                *due = ev[i].due;
            /* decide and schedule agree with the calendar */
            rollout_schedule_info info;
            cr_assert_eq(rollout_schedule(p, NULL, ev[i].at - 1, &info), ROLLOUT_OK);
            cr_expect_eq(info.cohorts[0].weight, PCT(10));
            cr_assert_eq(rollout_schedule(p, NULL, ev[i].at, &info), ROLLOUT_OK);
            cr_expect_eq(info.cohorts[0].weight, PCT(50));
            return ev[i].at;
        }
    cr_assert_fail("no second step");
    return 0;
}

#define OFFICE(zone) \
    "windows:\n  - {days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\", " \
    "zone: " zone "}\n"

Test(zone, offsets_across_the_2026_transitions)
{
    rollout_plan *p = zoned("2026-01-05T09:00:00Z", "1h", OFFICE("Europe/Berlin"));
    const rp_zone *z = p->windows[0].zone;
    cr_assert_not_null(z);
    cr_expect_str_eq(z->name, "Europe/Berlin");
    cr_expect_eq(rp_zone_offset(z, t_time("2026-03-29T00:59:59Z")), 1 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2026-03-29T01:00:00Z")), 2 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2026-10-25T00:59:59Z")), 2 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2026-10-25T01:00:00Z")), 1 * H);
    /* past the file's table: the footer rule (last Sunday of March/October) */
    cr_expect_eq(rp_zone_offset(z, t_time("2100-03-28T00:59:59Z")), 1 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-03-28T01:00:00Z")), 2 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-10-31T00:59:59Z")), 2 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-10-31T01:00:00Z")), 1 * H);
    rollout_plan_unref(p);

    p = zoned("2026-01-05T09:00:00Z", "1h", OFFICE("America/New_York"));
    z = p->windows[0].zone;
    cr_expect_eq(rp_zone_offset(z, t_time("2026-03-08T06:59:59Z")), -5 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2026-03-08T07:00:00Z")), -4 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2026-11-01T05:59:59Z")), -4 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2026-11-01T06:00:00Z")), -5 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-03-14T06:59:59Z")), -5 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-03-14T07:00:00Z")), -4 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-11-07T05:59:59Z")), -4 * H);
    cr_expect_eq(rp_zone_offset(z, t_time("2100-11-07T06:00:00Z")), -5 * H);
    /* before the first transition: local mean time, -4:56:02 */
    cr_expect_eq(rp_zone_offset(z, t_time("1800-01-01T00:00:00Z")), -(4 * H + 56 * M + 2));
    rollout_plan_unref(p);
}

Test(zone, office_hours_follow_daylight_saving_in_berlin)
{
    /* Friday 2026-03-27 17:30 CET: after hours; Monday opens at 09:00 CEST,
     * which is 07:00Z now, not the 08:00Z a fixed +01:00 would give */
    rollout_plan *p = zoned("2026-03-27T15:30:00Z", "1h", OFFICE("Europe/Berlin"));
    int64_t due;
    cr_expect_eq(second_step(p, &due), t_time("2026-03-30T07:00:00Z"));
    cr_expect_eq(due, t_time("2026-03-27T16:30:00Z"));
    rollout_plan_unref(p);
    /* and back: Friday 2026-10-23 17:30 CEST moves to Monday 09:00 CET */
    p = zoned("2026-10-23T14:30:00Z", "1h", OFFICE("Europe/Berlin"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-10-26T08:00:00Z"));
    rollout_plan_unref(p);
    /* inside the window on a summer afternoon: 16:59 CEST is 14:59Z */
    p = zoned("2026-07-01T13:00:00Z", "1h59m", OFFICE("Europe/Berlin"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-07-01T14:59:00Z"));
    rollout_plan_unref(p);
    p = zoned("2026-07-01T13:00:00Z", "2h", OFFICE("Europe/Berlin"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-07-02T07:00:00Z"), "17:00 CEST is out");
    rollout_plan_unref(p);
}

Test(zone, office_hours_follow_daylight_saving_in_new_york)
{
    /* Friday 2026-03-06 17:30 EST -> Monday 2026-03-09 09:00 EDT = 13:00Z */
    rollout_plan *p = zoned("2026-03-06T21:30:00Z", "1h", OFFICE("America/New_York"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-03-09T13:00:00Z"));
    rollout_plan_unref(p);
    /* Friday 2026-10-30 17:30 EDT -> Monday 2026-11-02 09:00 EST = 14:00Z */
    p = zoned("2026-10-30T20:30:00Z", "1h", OFFICE("America/New_York"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-11-02T14:00:00Z"));
    rollout_plan_unref(p);
}

/* Saturday 00:00-12:00 for the first step, and a Sunday window. */
#define WEEKEND(zone, sun_from, sun_to) \
    "windows:\n  - {days: [sat], from: \"00:00\", to: \"12:00\", zone: " zone "}\n" \
    "  - {days: [sun], from: \"" sun_from "\", to: \"" sun_to "\", zone: " zone "}\n"

Test(zone, a_window_opening_in_the_skipped_hour_opens_when_the_gap_ends)
{
    /* 02:30 does not exist on 2026-03-29 in Berlin (02:00 -> 03:00): the
     * window opens at 03:00 CEST, 01:00Z, the instant the gap ends. The
     * second step is due Saturday 13:00 CET, after the Saturday window. */
    rollout_plan *p = zoned("2026-03-28T10:00:00Z", "2h",
                            WEEKEND("Europe/Berlin", "02:30", "04:00"));
    int64_t due;
    cr_expect_eq(second_step(p, &due), t_time("2026-03-29T01:00:00Z"));
    cr_expect_eq(due, t_time("2026-03-28T12:00:00Z"));
    cr_expect_eq(rp_zone_utc(p->windows[1].zone, t_time("2026-03-29T02:30:00Z")),
                 t_time("2026-03-29T01:00:00Z"));
    rollout_plan_unref(p);
    /* a step due just after the gap (01:10Z = 03:10 CEST) is inside */
    p = zoned("2026-03-28T10:10:00Z", "15h", WEEKEND("Europe/Berlin", "02:30", "04:00"));
    cr_expect_eq(second_step(p, &due), t_time("2026-03-29T01:10:00Z"));
    cr_expect_eq(due, t_time("2026-03-29T01:10:00Z"), "not moved");
    rollout_plan_unref(p);
    /* New York skips 02:00-03:00 on 2026-03-08: 02:30 -> 03:00 EDT, 07:00Z */
    p = zoned("2026-03-07T15:00:00Z", "2h", WEEKEND("America/New_York", "02:30", "05:00"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-03-08T07:00:00Z"));
    rollout_plan_unref(p);
}

Test(zone, a_window_boundary_in_the_repeated_hour_is_its_first_occurrence)
{
    /* 02:30 happens twice on 2026-10-25 in Berlin: 00:30Z (CEST), 01:30Z (CET) */
    rollout_plan *p = zoned("2026-10-24T08:00:00Z", "2h",
                            WEEKEND("Europe/Berlin", "02:30", "04:00"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-10-25T00:30:00Z"));
    rollout_plan_unref(p);
    /* a window closing at 02:30 closes at its first pass: a step due at
     * 02:45 CET (01:45Z, the second pass) waits for the next window, Saturday 00:00 CET */
    p = zoned("2026-10-24T23:00:00Z", "2h45m", WEEKEND("Europe/Berlin", "00:00", "02:30"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-10-30T23:00:00Z"));
    rollout_plan_unref(p);
    /* New York repeats 01:00-02:00 on 2026-11-01: 01:30 EDT is 05:30Z */
    p = zoned("2026-10-31T14:00:00Z", "2h", WEEKEND("America/New_York", "01:30", "05:00"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-11-01T05:30:00Z"));
    rollout_plan_unref(p);
}

Test(zone, freezes_in_local_time)
{
    /* a freeze until 2026-03-29 02:30 Berlin time, which does not exist:
     * it ends when the gap ends, 03:00 CEST */
    rollout_plan *p = zoned("2026-03-27T20:00:00Z", "12h",
                            "freezes:\n  - {from: \"2026-03-28T00:00:00\", "
                            "to: \"2026-03-29T02:30:00\", zone: Europe/Berlin}\n");
    cr_expect_eq(p->freezes[0].from, t_time("2026-03-27T23:00:00Z"));
    cr_expect_eq(p->freezes[0].to, t_time("2026-03-29T01:00:00Z"));
    cr_expect_eq(second_step(p, NULL), t_time("2026-03-29T01:00:00Z"));
    rollout_plan_unref(p);
    /* an absolute time stays absolute with a zone */
    p = zoned("2026-03-28T12:00:00Z", "12h",
              "freezes:\n  - {from: 2026-03-28T00:00:00Z, to: 2026-03-29T02:30:00Z, "
              "zone: America/New_York}\n");
    cr_expect_eq(p->freezes[0].to, t_time("2026-03-29T02:30:00Z"));
    rollout_plan_unref(p);
    /* New York's repeated 01:30 on 2026-11-01: the first, 05:30Z */
    p = zoned("2026-10-31T12:00:00Z", "1h",
              "freezes:\n  - {from: \"2026-10-31T00:00:00\", "
              "to: \"2026-11-01T01:30:00\", zone: America/New_York}\n");
    cr_expect_eq(p->freezes[0].to, t_time("2026-11-01T05:30:00Z"));
    rollout_plan_unref(p);
}

Test(zone, dump_keeps_the_zone_and_the_fingerprint)
{
    rollout_plan *p = zoned("2026-03-27T15:30:00Z", "1h",
                            OFFICE("Europe/Berlin")
                            "freezes:\n  - {from: \"2026-12-20T00:00:00\", "
                            "to: \"2027-01-04T00:00:00\", zone: Europe/Berlin}\n");
    for (int fmt = ROLLOUT_FORMAT_YAML; fmt <= ROLLOUT_FORMAT_JSON; fmt++) {
        size_t need;
        cr_assert_eq(rollout_plan_dump(p, fmt, NULL, 0, &need), ROLLOUT_ERR_BUFFER);
        char *buf = malloc(need + 1);
        cr_assert_eq(rollout_plan_dump(p, fmt, buf, need + 1, NULL), ROLLOUT_OK);
        cr_expect(strstr(buf, "Europe/Berlin"), "the zone is dumped:\n%s", buf);
        rollout_plan *q = NULL;
        rollout_error err = {0};
        cr_assert_eq(rollout_plan_load_buffer(buf, need, "dump", &q, &err), ROLLOUT_OK, "%s",
                     err.message);
        cr_expect_eq(q->fingerprint, p->fingerprint);
        cr_expect_eq(q->freezes[0].from, t_time("2026-12-19T23:00:00Z"));
        cr_expect_eq(second_step(q, NULL), t_time("2026-03-30T07:00:00Z"));
        rollout_plan_unref(q);
        free(buf);
    }
    rollout_plan_unref(p);
}

static void refused(const char *limits, int code, int line, int col, const char *needle)
{
    rollout_error err = {0};
    cr_expect_eq(t_plan_error(plan_text("2026-03-27T15:30:00Z", "1h", limits), &err), code,
                 "%s", err.message);
    cr_expect_eq(err.line, line, "%s", err.message);
    cr_expect_eq(err.column, col, "%s", err.message);
    cr_expect(strstr(err.message, needle), "\"%s\" not in: %s", needle, err.message);
}

Test(zone, bad_zones_are_refused_at_the_key)
{
    /* the windows item is on line 17, its zone value at column 73 */
    refused(OFFICE("../../../etc/passwd"), ROLLOUT_ERR_VALUE, 17, 73, "not a time zone name");
    refused(OFFICE("/etc/localtime"), ROLLOUT_ERR_VALUE, 17, 73, "not a time zone name");
    refused(OFFICE("Europe/../Berlin"), ROLLOUT_ERR_VALUE, 17, 73, "not a time zone name");
    refused(OFFICE("Europe//Berlin"), ROLLOUT_ERR_VALUE, 17, 73, "not a time zone name");
    refused(OFFICE("Nowhere/City"), ROLLOUT_ERR_VALUE, 17, 73, "unknown time zone");
    refused(OFFICE("Europe"), ROLLOUT_ERR_VALUE, 17, 73, "unknown time zone"); /* a directory */
    refused(OFFICE("zone.tab"), ROLLOUT_ERR_VALUE, 17, 73, "not a TZif file");
    refused(OFFICE("tzdata.zi"), ROLLOUT_ERR_VALUE, 17, 73, "larger than 65536 bytes");
    refused("windows:\n  - {days: [mon], from: \"09:00\", to: \"17:00\", "
            "utc_offset: \"+01:00\", zone: Europe/Berlin}\n",
            ROLLOUT_ERR_VALUE, 17, 75, "not both");
    refused("freezes:\n  - {from: \"2026-12-20T00:00:00\", to: 2027-01-04T00:00:00Z}\n",
            ROLLOUT_ERR_VALUE, 17, 12, "is not a time");
    refused("freezes:\n  - {from: 2026-12-20T00:00:00Z, to: 2027-01-04T00:00:00Z, zone: [x]}\n",
            ROLLOUT_ERR_TYPE, 17, 66, "expected a value");
}

Test(zone, the_calendar_marks_moved_steps)
{
    rollout_plan *p = zoned("2026-03-27T15:30:00Z", "1h", OFFICE("Europe/Berlin"));
    static const struct { int fmt; const char *needle; } want[] = {
        {ROLLOUT_CALENDAR_TABLE, "T+2d15h30m >"},
        {ROLLOUT_CALENDAR_TABLE, "> moved: due earlier"},
        {ROLLOUT_CALENDAR_JSON, "\"due\": \"2026-03-27T16:30:00Z\", \"moved_by\": \"window\""},
        {ROLLOUT_CALENDAR_ICS, "Moved: due 2026-03-27T16:30:00Z"},
        {ROLLOUT_CALENDAR_SVG, "class=\"moved\""},
        {ROLLOUT_CALENDAR_SVG, "due 2026-03-27T16:30:00Z, moved by the change windows"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t need;
        int rc = rollout_calendar_render(p, NULL, want[i].fmt, NULL, 0, &need);
        cr_assert_eq(rc, ROLLOUT_ERR_BUFFER);
        char *buf = malloc(need + 1);
        cr_assert_eq(rollout_calendar_render(p, NULL, want[i].fmt, buf, need + 1, NULL),
                     ROLLOUT_OK);
        /* unfold the ICS lines (RFC 5545: CRLF and a space) */
        char *o = buf;
        for (const char *q = buf; *q; q++) {
            if (q[0] == '\r' && q[1] == '\n' && q[2] == ' ') {
                q += 2;
                continue;
            }
            *o++ = *q;
        }
        *o = '\0';
        cr_expect(strstr(buf, want[i].needle), "\"%s\" not in:\n%s", want[i].needle, buf);
        free(buf);
    }
    rollout_plan_unref(p);
}

Test(zone, the_end_of_time_in_a_zone)
{
    /* a step a century past year 9999, moved by windows in a zone: the
     * footer rule's year arithmetic far past the table stays defined */
    rollout_plan *p = zoned("9999-12-31T23:00:00Z", "36600d",
                            OFFICE("America/New_York")
                            "freezes:\n  - {from: \"9999-12-30T00:00:00\", "
                            "to: \"9999-12-31T00:00:00\", zone: America/New_York}\n");
    rollout_schedule_info info;
    cr_expect_eq(rollout_schedule(p, NULL, ROLLOUT_TIME_MAX, &info), ROLLOUT_OK);
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n;
    cr_expect_eq(rollout_calendar(p, NULL, ev, ROLLOUT_MAX_CALENDAR, &n), ROLLOUT_OK);
    size_t need;
    cr_expect_eq(rollout_calendar_render(p, NULL, ROLLOUT_CALENDAR_SVG, NULL, 0, &need),
                 ROLLOUT_ERR_BUFFER);
    const rp_zone *z = p->windows[0].zone;
    int32_t far = rp_zone_offset(z, INT64_MAX / 2);
    cr_expect(far == -5 * H || far == -4 * H, "%d", far);
    cr_expect_eq(rp_zone_offset(z, ROLLOUT_TIME_MIN), -(4 * H + 56 * M + 2));
    rollout_plan_unref(p);
}
