/* SPDX-License-Identifier: MIT */
/*
 * test_calendar.c — rollout_calendar against the seed's phase sections and
 * communication plan, slips carried by a state, and the renderers: the
 * table and JSON rows, the iCalendar output checked against RFC 5545's
 * structure (CRLF, folding at 75 octets, balanced components, required
 * properties, stable unique UIDs) and the SVG's series. The SVG and JSON are
 * also parsed by real parsers in tests/scripts/calendar_formats.sh.
 */
#include "plan.h"
#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H 3600
#define D 86400
#define PCT(x) ((uint32_t)(x) * 1000u)

enum { INTERNAL = 0, PILOT = 1, EVERYONE = 2 };
enum { CANARY = 0, PILOT_PHASE = 1, GA = 2 };

static int64_t seed_start(void)
{
    return t_time("2026-02-28T09:00:00Z");
}

static rollout_state running(const rollout_plan *p, int64_t start)
{
    rollout_state s;
    memset(&s, 0, sizeof s);
    s.format = ROLLOUT_STATE_FORMAT;
    s.status = ROLLOUT_STATUS_RUNNING;
    s.plan_fingerprint = rollout_plan_fingerprint(p);
    s.started_at = start;
    s.updated_at = start;
    s.phase = s.step = s.gate = -1;
    s.last_verdict = s.rollback_reason = -1;
    for (int g = 0; g < ROLLOUT_MAX_GATES; g++)
        s.gate_override_role[g] = -1;
    s.attempt = 1;
    s.attempt_step = s.attempt_gate = -1;
    return s;
}

/* ---- the seed calendar ------------------------------------------------------ */

typedef struct want {
    int64_t off;
    int kind;
    int phase, step, gate, cohort;
    uint32_t weight;
    const char *title;
} want;

#define STEP ROLLOUT_CAL_STEP
#define GATE ROLLOUT_CAL_GATE
#define MSG ROLLOUT_CAL_MESSAGE

/* The seed's phase sections and communication plan, in order. Events at the
 * same moment keep plan order: a step, the messages it triggers, its gate. */
static const want seed_calendar[] = {
    {0, STEP, CANARY, 0, -1, INTERNAL, PCT(100), "canary"},      /* Phase 1: T+0, 100 % internal */
    {0, MSG, CANARY, -1, -1, -1, 0, "canary-start"},            /* Slack to the team, T+0 */
    {2 * H, GATE, CANARY, 0, 0, -1, 0, "canary-go"},            /* go/no-go at T+2h */
    {4 * H, STEP, PILOT_PHASE, 0, -1, PILOT, PCT(10), "pilot"}, /* Hour 4: 10 % */
    {4 * H, MSG, PILOT_PHASE, -1, -1, -1, 0, "pilot-start"},    /* email + banner, T+4h */
    {6 * H, STEP, PILOT_PHASE, 1, -1, PILOT, PCT(25), "pilot"}, /* Hour 6: 25 % */
    {12 * H, STEP, PILOT_PHASE, 2, -1, PILOT, PCT(50), "pilot"}, /* Hour 12: 50 % */
    {24 * H, STEP, PILOT_PHASE, 3, -1, PILOT, PCT(100), "pilot"}, /* Hour 24: 100 % */
    {24 * H, MSG, PILOT_PHASE, -1, -1, -1, 0, "pilot-100"},     /* pilot go-live email, T+24h */
    {24 * H, GATE, PILOT_PHASE, 3, 1, -1, 0, "pilot-go"},       /* go/no-go at T+24h */
    {2 * D, STEP, GA, 0, -1, EVERYONE, PCT(25), "ga"},          /* Day 2: 25 % */
    {2 * D, MSG, GA, -1, -1, -1, 0, "ga-start"},                /* GA start, T+48h */
    {3 * D, GATE, GA, 0, 2, -1, 0, "ga-day2-go"},               /* end of day 2 */
    {3 * D, STEP, GA, 1, -1, EVERYONE, PCT(50), "ga"},          /* Day 3: 50 % */
    {4 * D, GATE, GA, 1, 3, -1, 0, "ga-day3-go"},
    {4 * D, STEP, GA, 2, -1, EVERYONE, PCT(100), "ga"},         /* Day 4: 100 % */
    {5 * D, GATE, GA, 2, 4, -1, 0, "ga-day4-go"},
    {5 * D, ROLLOUT_CAL_BAKE, -1, -1, -1, -1, 0, "bake"},       /* 7 days of watching */
    {12 * D, ROLLOUT_CAL_COMPLETE, -1, -1, -1, -1, 0, "complete"},
};

static void expect_calendar(const rollout_calendar_event *ev, size_t n, int64_t start,
                            const int64_t *shift, const char *what)
{
    cr_assert_eq(n, RP_COUNT(seed_calendar), "%s: %zu events", what, n);
    for (size_t i = 0; i < n; i++) {
        const want *w = &seed_calendar[i];
        const rollout_calendar_event *e = &ev[i];
        int64_t at = start + w->off + (shift ? shift[i] : 0);
        cr_expect_eq(e->at, at, "%s: event %zu (%s) at T%+lld, want T%+lld", what, i, w->title,
                     (long long)(e->at - start), (long long)(at - start));
        cr_expect_eq(e->kind, w->kind, "%s: event %zu kind", what, i);
        cr_expect_eq(e->phase, w->phase, "%s: event %zu phase", what, i);
        cr_expect_eq(e->step, w->step, "%s: event %zu step", what, i);
        cr_expect_eq(e->gate, w->gate, "%s: event %zu gate", what, i);
        cr_expect_eq(e->cohort, w->cohort, "%s: event %zu cohort", what, i);
        cr_expect_eq(e->weight, w->weight, "%s: event %zu weight", what, i);
        cr_expect_str_eq(e->title, w->title, "%s: event %zu title", what, i);
    }
}

Test(calendar, seed_reproduces_the_phase_sections)
{
    rollout_plan *p = t_seed();
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n = 0;
    cr_assert_eq(rollout_calendar(p, NULL, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    expect_calendar(ev, n, seed_start(), NULL, "no state");

    /* a state started at the same moment gives the same calendar */
    rollout_state s = running(p, seed_start());
    cr_assert_eq(rollout_calendar(p, &s, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    expect_calendar(ev, n, seed_start(), NULL, "started 2026-02-28T09:00:00Z");

    /* where the seed's example calendar disagrees, the phase sections win:
     * pilot 50 % at hour 12 (21:00), not Feb 28 18:00; the final pilot
     * go/no-go at T+24h, not Mar 01 18:00 */
    cr_expect_eq(ev[6].at, t_time("2026-02-28T21:00:00Z"));
    cr_expect_neq(ev[6].at, t_time("2026-02-28T18:00:00Z"));
    cr_expect_eq(ev[9].at, t_time("2026-03-01T09:00:00Z"));
    cr_expect_neq(ev[9].at, t_time("2026-03-01T18:00:00Z"));
    /* and where they agree, the example calendar's dates come out */
    cr_expect_eq(ev[3].at, t_time("2026-02-28T13:00:00Z"));
    cr_expect_eq(ev[10].at, t_time("2026-03-02T09:00:00Z"));
    cr_expect_eq(ev[13].at, t_time("2026-03-03T09:00:00Z"));
    cr_expect_eq(ev[15].at, t_time("2026-03-04T09:00:00Z"));
    rollout_plan_unref(p);
}

Test(calendar, messages_carry_the_communication_rows)
{
    rollout_plan *p = t_seed();
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n = 0;
    cr_assert_eq(rollout_calendar(p, NULL, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    int product = rp_role_index(p, "product"), engineering = rp_role_index(p, "engineering");
    cr_expect_str_eq(ev[1].channel, "slack");
    cr_expect_str_eq(ev[1].audience, "team");
    cr_expect_str_eq(ev[1].message, "Slack notification to team");
    cr_expect_eq(ev[1].owners, 1u << engineering);
    cr_expect_str_eq(ev[4].message, "Email to pilot orgs + in-app banner");
    cr_expect_str_eq(ev[4].audience, "pilot-orgs");
    cr_expect_eq(ev[4].owners, 1u << product);
    cr_expect_str_eq(ev[8].message, "Email to pilot orgs");
    cr_expect_str_eq(ev[11].message, "Email to all customers + marketing announcement");
    cr_expect_str_eq(ev[11].audience, "all-customers");
    /* gates carry their approvers */
    cr_expect_eq(ev[2].owners, (1u << rp_role_index(p, "engineering-lead")) |
                                   (1u << rp_role_index(p, "product-lead")));
    /* escalation and rollback are immediate, never scheduled */
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_neq(ev[i].title, "escalation");
        cr_expect_str_neq(ev[i].title, "rollback");
    }
    rollout_plan_unref(p);
}

Test(calendar, projected_after_the_first_open_gate)
{
    rollout_plan *p = t_seed();
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n = 0;
    cr_assert_eq(rollout_calendar(p, NULL, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    /* up to and including the canary gate nothing depends on a future GO */
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(ev[i].projected, i >= 3, "event %zu (%s)", i, ev[i].title);

    rollout_state s = running(p, seed_start());
    s.gate_go_at[0] = seed_start() + 2 * H;
    s.gate_go_at[1] = seed_start() + 24 * H;
    cr_assert_eq(rollout_calendar(p, &s, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    /* with two GOs recorded, only what follows ga-day2-go is a projection */
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(ev[i].projected, i >= 13, "event %zu (%s)", i, ev[i].title);
    rollout_plan_unref(p);
}

Test(calendar, slips_recorded_in_the_state_move_the_rest)
{
    rollout_plan *p = t_seed();
    int64_t start = seed_start();
    rollout_state s = running(p, start);
    s.gate_go_at[0] = start + 3 * H; /* canary GO an hour late */
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n = 0;
    cr_assert_eq(rollout_calendar(p, &s, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    int64_t late[RP_COUNT(seed_calendar)];
    for (size_t i = 0; i < RP_COUNT(late); i++)
        late[i] = i >= 3 ? 1 * H : 0; /* everything after the canary gate */
    expect_calendar(ev, n, start, late, "canary GO at T+3h");

    /* plus a 2h pause during the pilot's 25 % step and a pilot GO 30m late */
    s.n_pauses = 1;
    s.pause_from[0] = start + 8 * H;
    s.pause_to[0] = start + 10 * H;
    s.gate_go_at[1] = start + 27 * H + 30 * 60; /* due 27h (24h + 1h + 2h) */
    cr_assert_eq(rollout_calendar(p, &s, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    int64_t both[RP_COUNT(seed_calendar)];
    for (size_t i = 0; i < RP_COUNT(both); i++)
        both[i] = i < 3 ? 0 : i < 6 ? 1 * H : i < 10 ? 3 * H : 3 * H + 30 * 60;
    expect_calendar(ev, n, start, both, "late GO, pause, late GO");

    /* a later actual start moves everything */
    s = running(p, start + 1 * D);
    cr_assert_eq(rollout_calendar(p, &s, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    expect_calendar(ev, n, start + 1 * D, NULL, "started a day late");
    rollout_plan_unref(p);
}

Test(calendar, buffer_protocol)
{
    rollout_plan *p = t_seed();
    rollout_calendar_event ev[4];
    size_t n = 0;
    cr_expect_eq(rollout_calendar(p, NULL, NULL, 0, &n), ROLLOUT_ERR_BUFFER);
    cr_expect_eq(n, RP_COUNT(seed_calendar));
    n = 0;
    cr_expect_eq(rollout_calendar(p, NULL, ev, RP_COUNT(ev), &n), ROLLOUT_ERR_BUFFER);
    cr_expect_eq(n, RP_COUNT(seed_calendar));
    cr_expect_eq(ev[0].kind, ROLLOUT_CAL_STEP, "what fits is written");
    cr_expect_eq(rollout_calendar(p, NULL, NULL, 3, &n), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar(p, NULL, ev, 4, NULL), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar(NULL, NULL, ev, 4, &n), ROLLOUT_ERR_ARG);
    rollout_plan_unref(p);
}

Test(calendar, step_message_once_per_weight)
{
    /* 50 % by user, then 50 % by org: "reached 50 %" goes out once */
    rollout_plan *p = t_plan("format: 1\n"
                             "id: units\n"
                             "salt: units\n"
                             "start: 2026-03-02T09:00:00Z\n"
                             "versions: {stable: a, new: b}\n"
                             "roles: {product: Product}\n"
                             "cohorts:\n"
                             "  - {id: everyone, match: {everyone: true}}\n"
                             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                             "phases:\n"
                             "  - id: ga\n"
                             "    cohort: everyone\n"
                             "    steps:\n"
                             "      - {at: 0h, weight: 50%, unit: user}\n"
                             "      - {at: 1h, weight: 50%, unit: org}\n"
                             "      - {at: 2h, weight: 100%, unit: org}\n"
                             "communications:\n"
                             "  - id: half\n"
                             "    on: {event: step, phase: ga, weight: 50%}\n"
                             "    message: Half of the traffic\n"
                             "    channel: slack\n"
                             "    audience: team\n"
                             "    owners: [product]\n");
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n = 0, messages = 0;
    cr_assert_eq(rollout_calendar(p, NULL, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == ROLLOUT_CAL_MESSAGE) {
            messages++;
            cr_expect_eq(ev[i].at, t_time("2026-03-02T09:00:00Z"));
        }
    cr_expect_eq(messages, 1);
    rollout_plan_unref(p);
}

/* ---- renderers ------------------------------------------------------------------ */

static char *render(const rollout_plan *p, const rollout_state *s, int format, size_t *len)
{
    size_t needed = 0;
    cr_assert_eq(rollout_calendar_render(p, s, format, NULL, 0, &needed), ROLLOUT_ERR_BUFFER);
    char *buf = malloc(needed + 1);
    cr_assert(buf);
    size_t again = 0;
    cr_assert_eq(rollout_calendar_render(p, s, format, buf, needed + 1, &again), ROLLOUT_OK);
    cr_assert_eq(again, needed);
    cr_assert_eq(strlen(buf), needed, "no NUL inside the output");
    if (len)
        *len = needed;
    return buf;
}

/* The line of text that starts with prefix, copied; NULL when none does. */
static char *line_starting(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *l = text; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len >= pl && memcmp(l, prefix, pl) == 0) {
            char *out = malloc(len + 1);
            memcpy(out, l, len);
            out[len] = '\0';
            return out;
        }
        l = end ? end + 1 : NULL;
    }
    return NULL;
}

static size_t count(const char *hay, const char *needle)
{
    size_t k = 0;
    for (const char *at = strstr(hay, needle); at; at = strstr(at + 1, needle))
        k++;
    return k;
}

Test(render, buffer_protocol_and_arguments)
{
    rollout_plan *p = t_seed();
    size_t needed = 0;
    char small[16];
    cr_expect_eq(rollout_calendar_render(p, NULL, ROLLOUT_CALENDAR_TABLE, small, sizeof small,
                                         &needed),
                 ROLLOUT_ERR_BUFFER);
    cr_expect_gt(needed, sizeof small);
    cr_expect_eq(strlen(small), sizeof small - 1, "truncated output stays NUL-terminated");
    cr_expect_eq(strncmp(small, "Rollout calendar", sizeof small - 1), 0);
    cr_expect_eq(rollout_calendar_render(NULL, NULL, 0, NULL, 0, NULL), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar_render(p, NULL, 4, NULL, 0, NULL), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar_render(p, NULL, -1, NULL, 0, NULL), ROLLOUT_ERR_ARG);
    cr_expect_eq(rollout_calendar_render(p, NULL, 0, NULL, 5, NULL), ROLLOUT_ERR_ARG);
    /* exactly the length is one byte short: the NUL needs room */
    char *buf = malloc(needed + 1);
    cr_expect_eq(rollout_calendar_render(p, NULL, 0, buf, needed, NULL), ROLLOUT_ERR_BUFFER);
    cr_expect_eq(rollout_calendar_render(p, NULL, 0, buf, needed + 1, NULL), ROLLOUT_OK);
    free(buf);
    rollout_plan_unref(p);
}

Test(render, deterministic)
{
    rollout_plan *p = t_seed();
    rollout_state s = running(p, seed_start());
    s.gate_go_at[0] = seed_start() + 3 * H;
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++) {
        char *a = render(p, &s, f, NULL), *b = render(p, &s, f, NULL);
        cr_expect_str_eq(a, b, "format %d differs between two renders", f);
        free(a);
        free(b);
    }
    rollout_plan_unref(p);
}

Test(render, table_has_the_seed_rows)
{
    rollout_plan *p = t_seed();
    char *t = render(p, NULL, ROLLOUT_CALENDAR_TABLE, NULL);
    static const struct { const char *time, *cells[4]; } rows[] = {
        {"Sat 2026-02-28 09:00", {"T+0 ", "canary", "100%", "internal"}},
        {"Sat 2026-02-28 11:00", {"T+2h ", "go/no-go canary-go", "Engineering lead", "Product lead"}},
        {"Sat 2026-02-28 13:00", {"T+4h *", "pilot", "10%", "by user"}},
        {"Sat 2026-02-28 15:00", {"T+6h *", "pilot", "25%", "step 2/4"}},
        {"Sat 2026-02-28 21:00", {"T+12h *", "pilot", "50%", "step 3/4"}},
        {"Sun 2026-03-01 09:00", {"T+24h *", "pilot", "100%", "step 4/4"}},
        {"Mon 2026-03-02 09:00", {"T+2d *", "ga", "25%", "everyone"}},
        {"Tue 2026-03-03 09:00", {"T+3d *", "ga", "go/no-go ga-day2-go", "Product, SRE"}},
        {"Wed 2026-03-04 09:00", {"T+4d *", "ga", "go/no-go ga-day3-go", "(no-go: hold)"}},
        {"Thu 2026-03-05 09:00", {"T+5d *", "ga", "go/no-go ga-day4-go", "Product, SRE"}},
        {"Thu 2026-03-12 09:00", {"T+12d *", "rollout complete", "", ""}},
    };
    for (size_t i = 0; i < RP_COUNT(rows); i++) {
        char *l = line_starting(t, rows[i].time);
        cr_assert(l, "no row at %s in\n%s", rows[i].time, t);
        for (int c = 0; c < 4; c++)
            cr_expect(strstr(l, rows[i].cells[c]), "row %s lacks \"%s\": %s", rows[i].time,
                      rows[i].cells[c], l);
        free(l);
    }
    /* every message row, with its channel, audience and owner */
    cr_expect(strstr(t, "message canary-start (slack)"));
    cr_expect(strstr(t, "pilot-orgs"));
    cr_expect(strstr(t, "all-customers"));
    cr_expect(strstr(t, "* projected"));
    /* aligned: each column starts where its header does */
    char *head = line_starting(t, "TIME (UTC)");
    char *first = line_starting(t, "Sat 2026-02-28 09:00");
    cr_assert(head && first);
    cr_expect_eq(strstr(head, "PHASE") - head, strstr(first, "canary") - first);
    cr_expect_eq(strstr(head, "WEIGHT") - head, strstr(first, "100%") - first);
    cr_expect_eq(strstr(head, "AUDIENCE") - head, strstr(first, "internal") - first);
    free(head);
    free(first);
    /* no trailing blanks anywhere */
    cr_expect_null(strstr(t, " \n"));
    free(t);
    rollout_plan_unref(p);
}

Test(render, json_rows)
{
    rollout_plan *p = t_seed();
    size_t len;
    char *j = render(p, NULL, ROLLOUT_CALENDAR_JSON, &len);
    rp_arena arena = {0};
    rp_node *root = NULL;
    rollout_error err;
    cr_assert_eq(rp_yaml_parse(&arena, j, len, "calendar.json", &root, &err), ROLLOUT_OK, "%s",
                 err.message);
    cr_assert(root && root->kind == RP_SEQ);
    cr_assert_eq(root->n, RP_COUNT(seed_calendar));
    for (size_t i = 0; i < root->n; i++) {
        const rp_node *e = root->items[i];
        cr_assert_eq(e->kind, RP_MAP);
        const rp_node *epoch = rp_map_get(e, "epoch");
        cr_assert(epoch);
        cr_expect_eq(strtoll(epoch->str, NULL, 10), seed_start() + seed_calendar[i].off,
                     "event %zu", i);
    }
    const rp_node *half = root->items[6];
    cr_expect_str_eq(rp_map_get(half, "at")->str, "2026-02-28T21:00:00Z");
    cr_expect_str_eq(rp_map_get(half, "kind")->str, "step");
    cr_expect_str_eq(rp_map_get(half, "cohort")->str, "pilot");
    cr_expect_str_eq(rp_map_get(half, "weight")->str, "50%");
    cr_expect_str_eq(rp_map_get(half, "weight_units")->str, "50000");
    cr_expect_str_eq(rp_map_get(half, "unit")->str, "user");
    cr_expect_str_eq(rp_map_get(half, "t")->str, "T+12h");
    cr_expect_str_eq(rp_map_get(half, "projected")->str, "true");
    const rp_node *slack = root->items[1];
    cr_expect_str_eq(rp_map_get(slack, "kind")->str, "message");
    cr_expect_str_eq(rp_map_get(slack, "channel")->str, "slack");
    cr_expect_str_eq(rp_map_get(slack, "message")->str, "Slack notification to team");
    const rp_node *gate = root->items[9];
    cr_expect_str_eq(rp_map_get(gate, "gate")->str, "pilot-go");
    cr_expect_str_eq(rp_map_get(gate, "on_no_go")->str, "rollback");
    cr_expect_eq(rp_map_get(gate, "approvers")->n, 2);
    rp_arena_free(&arena);
    free(j);
    rollout_plan_unref(p);
}

/* ---- ICS ------------------------------------------------------------------------ */

typedef struct vevent {
    char uid[128];
    char dtstart[32];
    int uid_n, dtstamp_n, dtstart_n, summary_n, description_n;
} vevent;

typedef struct ics {
    char *unfolded;          /* logical lines joined with '\n' */
    vevent ev[ROLLOUT_MAX_CALENDAR];
    int n_ev;
    int version, prodid;
} ics;

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                              : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

/* Checks the physical layout (RFC 5545 3.1), unfolds, then checks the
 * component structure and each VEVENT's required properties. */
static void parse_ics(const char *text, size_t len, ics *out)
{
    memset(out, 0, sizeof *out);
    out->unfolded = malloc(len + 1);
    cr_assert(out->unfolded);
    size_t u = 0;
    cr_assert(len >= 2 && text[len - 2] == '\r' && text[len - 1] == '\n', "ends with CRLF");
    for (size_t i = 0; i < len;) {
        const char *crlf = strstr(text + i, "\r\n");
        cr_assert(crlf, "line at byte %zu does not end in CRLF", i);
        size_t n = (size_t)(crlf - (text + i));
        cr_assert_leq(n, 75, "line at byte %zu is %zu octets", i, n);
        cr_assert_null(memchr(text + i, '\n', n), "bare LF at byte %zu", i);
        cr_assert_null(memchr(text + i, '\r', n), "bare CR at byte %zu", i);
        /* a fold never splits a UTF-8 sequence: each physical line is valid alone */
        cr_assert(utf8_valid((const unsigned char *)text + i, n), "line at byte %zu splits UTF-8",
                  i);
        if (text[i] == ' ') {
            cr_assert_gt(u, 0, "the first line is a continuation");
            memcpy(out->unfolded + u, text + i + 1, n - 1);
            u += n - 1;
        } else {
            cr_assert_gt(n, 0, "empty line at byte %zu", i);
            if (u)
                out->unfolded[u++] = '\n';
            memcpy(out->unfolded + u, text + i, n);
            u += n;
        }
        i += n + 2;
    }
    out->unfolded[u] = '\0';

    const char *stack[8];
    int depth = 0;
    vevent *cur = NULL;
    char *copy = malloc(u + 1);
    cr_assert(copy);
    memcpy(copy, out->unfolded, u + 1);
    for (char *l = copy, *next; l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        char *colon = strchr(l, ':');
        cr_assert(colon, "content line without a colon: %s", l);
        *colon = '\0';
        const char *name = l, *value = colon + 1;
        if (!strcmp(name, "BEGIN")) {
            cr_assert_lt(depth, 8);
            cr_assert(depth > 0 || !strcmp(value, "VCALENDAR"), "outermost is VCALENDAR");
            stack[depth++] = value;
            if (!strcmp(value, "VEVENT")) {
                cr_assert_eq(depth, 2, "VEVENT inside VCALENDAR");
                cr_assert_lt(out->n_ev, ROLLOUT_MAX_CALENDAR);
                cur = &out->ev[out->n_ev++];
            }
        } else if (!strcmp(name, "END")) {
            cr_assert_gt(depth, 0, "END:%s without BEGIN", value);
            cr_assert_str_eq(stack[--depth], value, "END:%s closes BEGIN:%s", value,
                             stack[depth]);
            if (!strcmp(value, "VEVENT"))
                cur = NULL;
        } else if (cur) {
            if (!strcmp(name, "UID")) {
                cur->uid_n++;
                snprintf(cur->uid, sizeof cur->uid, "%s", value);
            } else if (!strcmp(name, "DTSTAMP")) {
                cur->dtstamp_n++;
                cr_expect_eq(strlen(value), 16, "DTSTAMP %s is a UTC date-time", value);
            } else if (!strcmp(name, "DTSTART")) {
                cur->dtstart_n++;
                snprintf(cur->dtstart, sizeof cur->dtstart, "%s", value);
                cr_expect_eq(strlen(value), 16, "DTSTART %s is a UTC date-time", value);
                cr_expect_eq(value[15], 'Z');
            } else if (!strcmp(name, "SUMMARY")) {
                cur->summary_n++;
            } else if (!strcmp(name, "DESCRIPTION")) {
                cur->description_n++;
            }
        } else if (depth == 1) {
            out->version += !strcmp(name, "VERSION") && !strcmp(value, "2.0");
            out->prodid += !strcmp(name, "PRODID") && value[0];
        }
    }
    cr_assert_eq(depth, 0, "BEGIN/END balanced");
    free(copy);
}

static void check_ics(const ics *c, size_t events)
{
    cr_expect_eq(c->version, 1, "VERSION:2.0 once");
    cr_expect_eq(c->prodid, 1, "PRODID once");
    cr_assert_eq((size_t)c->n_ev, events);
    for (int i = 0; i < c->n_ev; i++) {
        const vevent *e = &c->ev[i];
        cr_expect_eq(e->uid_n, 1, "event %d: UID", i);
        cr_expect_eq(e->dtstamp_n, 1, "event %d: DTSTAMP", i);
        cr_expect_eq(e->dtstart_n, 1, "event %d: DTSTART", i);
        cr_expect_eq(e->summary_n, 1, "event %d: SUMMARY", i);
        cr_expect_eq(e->description_n, 1, "event %d: DESCRIPTION", i);
        for (int k = 0; k < i; k++)
            cr_expect_str_neq(e->uid, c->ev[k].uid, "events %d and %d share a UID", k, i);
    }
}

static const vevent *by_uid(const ics *c, const char *uid)
{
    for (int i = 0; i < c->n_ev; i++)
        if (!strcmp(c->ev[i].uid, uid))
            return &c->ev[i];
    cr_assert_fail("no VEVENT with UID %s", uid);
    return NULL;
}

Test(ics, seed_structure)
{
    rollout_plan *p = t_seed();
    size_t len;
    char *text = render(p, NULL, ROLLOUT_CALENDAR_ICS, &len);
    ics c;
    parse_ics(text, len, &c);
    check_ics(&c, RP_COUNT(seed_calendar));
    /* the seed's description has an em dash: folding must step around it */
    cr_expect(strstr(c.unfolded, "X-WR-CALDESC:Rollout Plan — Canary to Full Production"));
    cr_expect_str_eq(by_uid(&c, "ledger-v2-step-0@librollout")->dtstart, "20260228T090000Z");
    cr_expect_str_eq(by_uid(&c, "ledger-v2-gate-0@librollout")->dtstart, "20260228T110000Z");
    cr_expect_str_eq(by_uid(&c, "ledger-v2-step-3@librollout")->dtstart, "20260228T210000Z");
    cr_expect_str_eq(by_uid(&c, "ledger-v2-gate-1@librollout")->dtstart, "20260301T090000Z");
    cr_expect_str_eq(by_uid(&c, "ledger-v2-step-5@librollout")->dtstart, "20260302T090000Z");
    cr_expect_str_eq(by_uid(&c, "ledger-v2-message-3@librollout")->dtstart, "20260302T090000Z");
    cr_expect_str_eq(by_uid(&c, "ledger-v2-complete@librollout")->dtstart, "20260312T090000Z");
    /* DTSTAMP comes from the plan, not a clock */
    cr_expect(strstr(c.unfolded, "DTSTAMP:20260228T090000Z"));
    /* TEXT escaping of the seed's own punctuation */
    cr_expect(strstr(c.unfolded, "Monitor: error rate\\; latency\\; database queries"));
    cr_expect(strstr(c.unfolded, "Product\\, engineering and super-users"));
    free(c.unfolded);
    free(text);
    rollout_plan_unref(p);
}

Test(ics, uids_stable_across_renders_and_slips)
{
    rollout_plan *p = t_seed();
    size_t la, lb;
    char *a = render(p, NULL, ROLLOUT_CALENDAR_ICS, &la);
    rollout_state s = running(p, seed_start());
    s.gate_go_at[0] = seed_start() + 5 * H; /* three hours late */
    s.revision = 4;
    char *b = render(p, &s, ROLLOUT_CALENDAR_ICS, &lb);
    ics ca, cb;
    parse_ics(a, la, &ca);
    parse_ics(b, lb, &cb);
    check_ics(&ca, RP_COUNT(seed_calendar));
    check_ics(&cb, RP_COUNT(seed_calendar));
    /* the same events by UID, so a re-import updates instead of duplicating */
    for (int i = 0; i < ca.n_ev; i++)
        by_uid(&cb, ca.ev[i].uid);
    cr_expect_str_eq(by_uid(&cb, "ledger-v2-step-1@librollout")->dtstart, "20260228T160000Z");
    cr_expect_str_eq(by_uid(&ca, "ledger-v2-step-1@librollout")->dtstart, "20260228T130000Z");
    cr_expect(strstr(cb.unfolded, "SEQUENCE:4"), "the revision orders the updates");
    cr_expect(strstr(ca.unfolded, "STATUS:TENTATIVE"), "projected events are tentative");
    free(ca.unfolded);
    free(cb.unfolded);
    free(a);
    free(b);
    rollout_plan_unref(p);
}

Test(ics, escaping_and_folding_of_hostile_text)
{
    /* commas, semicolons, backslashes, newlines and long multi-byte runs */
    rollout_plan *p = t_plan(
        "format: 1\n"
        "id: esc\n"
        "description: \"a, b; c\\\\d\\nsecond line\"\n"
        "salt: esc\n"
        "start: 2026-03-02T09:00:00Z\n"
        "versions: {stable: a, new: b}\n"
        "roles: {ops: \"Ops; on call, EU\"}\n"
        "cohorts:\n"
        "  - {id: everyone, match: {everyone: true}}\n"
        "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\nphases:\n"
        "  - id: ga\n"
        "    cohort: everyone\n"
        "    steps:\n"
        "      - {at: 0h, weight: 100%, unit: org}\n"
        "communications:\n"
        "  - id: hello\n"
        "    on: {event: phase_start, phase: ga}\n"
        "    message: \"ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé "
        "———————————————————————————————— 🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀\"\n"
        "    channel: slack\n"
        "    audience: team\n"
        "    owners: [ops]\n");
    size_t len;
    char *text = render(p, NULL, ROLLOUT_CALENDAR_ICS, &len);
    ics c;
    parse_ics(text, len, &c); /* asserts 75 octets and whole UTF-8 sequences per line */
    check_ics(&c, 3);
    cr_expect(strstr(c.unfolded, "X-WR-CALDESC:a\\, b\\; c\\\\d\\nsecond line"), "%s",
              c.unfolded);
    cr_expect(strstr(c.unfolded, "Owners: Ops\\; on call\\, EU"));
    cr_expect(strstr(c.unfolded, "🚀🚀🚀"), "the emoji survive folding intact");
    cr_expect_gt(count(text, "\r\n "), 3, "long lines were folded");
    free(c.unfolded);
    free(text);
    rollout_plan_unref(p);
}

Test(ics, rolled_back_events_are_cancelled)
{
    rollout_plan *p = t_seed();
    rollout_state s = running(p, seed_start());
    s.gate_go_at[0] = seed_start() + 2 * H;
    s.status = ROLLOUT_STATUS_ROLLED_BACK;
    s.rollback_started_at = seed_start() + 7 * H;
    size_t len;
    char *text = render(p, &s, ROLLOUT_CALENDAR_ICS, &len);
    ics c;
    parse_ics(text, len, &c);
    /* T+0, T+0, T+2h, T+4h, T+4h and T+6h happened; the other 13 will not */
    cr_expect_eq(count(c.unfolded, "STATUS:CANCELLED"), 13);
    free(c.unfolded);
    free(text);
    rollout_plan_unref(p);
}

/* The value of property name in the VEVENT with this UID. */
static long ics_seq(const ics *c, const char *uid)
{
    char key[128];
    snprintf(key, sizeof key, "UID:%s\n", uid);
    const char *ev = strstr(c->unfolded, key);
    cr_assert(ev, "no event %s", uid);
    const char *seq = strstr(ev, "\nSEQUENCE:");
    const char *end = strstr(ev, "END:VEVENT");
    cr_assert(seq && end && seq < end, "no SEQUENCE in %s", uid);
    return strtol(seq + 10, NULL, 10);
}

Test(ics, a_status_change_raises_the_sequence)
{
    /* RFC 5545 3.8.7.4: a change of STATUS must raise SEQUENCE, or a
     * calendar app that imported the plan keeps the old event. Here nothing
     * moved in time: canary-go got its GO on time, then a rollback. */
    rollout_plan *p = t_seed();
    rollout_state s = running(p, seed_start());
    s.gate_go_at[0] = seed_start() + 2 * H;
    s.revision = 5;
    size_t len;
    char *text = render(p, &s, ROLLOUT_CALENDAR_ICS, &len);
    ics c;
    parse_ics(text, len, &c);
    /* the pilot's first step was TENTATIVE in the plan's calendar; the GO
     * made it CONFIRMED at the same time */
    cr_expect_eq(ics_seq(&c, "ledger-v2-step-1@librollout"), 5);
    /* the canary's start is as it was */
    cr_expect_eq(ics_seq(&c, "ledger-v2-step-0@librollout"), 0);
    free(c.unfolded);
    free(text);

    s.status = ROLLOUT_STATUS_ROLLED_BACK;
    s.rollback_started_at = seed_start() + 7 * H;
    s.revision = 9;
    text = render(p, &s, ROLLOUT_CALENDAR_ICS, &len);
    parse_ics(text, len, &c);
    cr_expect_eq(count(c.unfolded, "STATUS:CANCELLED"), 13);
    /* every cancelled event tells the calendar app so */
    cr_expect_eq(ics_seq(&c, "ledger-v2-step-3@librollout"), 9);
    cr_expect_eq(ics_seq(&c, "ledger-v2-gate-1@librollout"), 9);
    cr_expect_eq(ics_seq(&c, "ledger-v2-complete@librollout"), 9);
    cr_expect_eq(ics_seq(&c, "ledger-v2-step-0@librollout"), 0);
    free(c.unfolded);
    free(text);
    rollout_plan_unref(p);
}

/* ---- SVG ------------------------------------------------------------------------ */

Test(svg, one_series_per_cohort_and_gates)
{
    rollout_plan *p = t_seed();
    char *svg = render(p, NULL, ROLLOUT_CALENDAR_SVG, NULL);
    cr_expect_eq(strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44), 0);
    size_t n = strlen(svg);
    cr_expect_str_eq(svg + n - 7, "</svg>\n");
    cr_expect_eq(count(svg, "class=\"series\""), 3);
    cr_expect_eq(count(svg, "data-cohort=\"internal\""), 1);
    cr_expect_eq(count(svg, "data-cohort=\"pilot\""), 1);
    cr_expect_eq(count(svg, "data-cohort=\"everyone\""), 1);
    cr_expect_eq(count(svg, "class=\"gate\""), 5);
    for (int g = 0; g < 5; g++) {
        char attr[64];
        snprintf(attr, sizeof attr, "data-gate=\"%s\"", rollout_plan_gate_name(p, g));
        cr_expect_eq(count(svg, attr), 1, "%s", attr);
    }
    cr_expect(strstr(svg, "stroke-dasharray"), "gates are dashed");
    cr_expect(strstr(svg, ">day 0<") && strstr(svg, ">day 4<"), "day ticks are labelled");
    cr_expect(strstr(svg, ">100%<") && strstr(svg, ">0%<"), "the weight axis runs 0-100 %");
    cr_expect(strstr(svg, "class=\"bake\""));
    /* the pilot's series climbs 0 -> 10 -> 25 -> 50 -> 100: four vertical moves
     * after the start, then a horizontal run to the right edge */
    const char *pilot = strstr(svg, "data-cohort=\"pilot\"");
    const char *d = strstr(pilot, " d=\"");
    const char *end = strchr(d + 4, '"');
    size_t v = 0;
    for (const char *q = d; q < end; q++)
        v += *q == 'V';
    cr_expect_eq(v, 4, "pilot series has %zu steps", v);
    free(svg);
    rollout_plan_unref(p);
}

Test(svg, escapes_text)
{
    rollout_plan *p = t_plan("format: 1\n"
                             "id: esc\n"
                             "salt: esc\n"
                             "start: 2026-03-02T09:00:00Z\n"
                             "versions: {stable: a, new: \"app<2> & 'more' \\\"quoted\\\"\"}\n"
                             "cohorts:\n"
                             "  - {id: everyone, match: {everyone: true}}\n"
                             "rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}\n"
                             "phases:\n"
                             "  - id: ga\n"
                             "    cohort: everyone\n"
                             "    steps:\n"
                             "      - {at: 0h, weight: 100%, unit: org}\n");
    char *svg = render(p, NULL, ROLLOUT_CALENDAR_SVG, NULL);
    cr_expect(strstr(svg, "app&lt;2&gt; &amp; &apos;more&apos; &quot;quoted&quot;"));
    cr_expect_null(strstr(svg, "app<2>"));
    free(svg);
    rollout_plan_unref(p);
}

Test(calendar, office_hours_example)
{
    /* examples/plans/change-windows.yaml: the seed's steps in Mon-Fri
     * 09:00-17:00 +01:00 with a freeze until Thu 03-12 12:00 local; the
     * times below are worked out in the file's header comment */
    rollout_plan *p = NULL;
    rollout_error err;
    cr_assert_eq(rollout_plan_load_file("examples/plans/change-windows.yaml", &p, &err),
                 ROLLOUT_OK, "%s", err.message);
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    size_t n = 0;
    cr_assert_eq(rollout_calendar(p, NULL, ev, RP_COUNT(ev), &n), ROLLOUT_OK);
    static const struct { int phase, step; const char *at; } steps[] = {
        {0, 0, "2026-03-05T09:00:00+01:00"},
        {1, 0, "2026-03-05T13:00:00+01:00"},
        {1, 1, "2026-03-05T15:00:00+01:00"},
        {1, 2, "2026-03-06T09:00:00+01:00"}, /* due Thu 21:00 */
        {1, 3, "2026-03-09T09:00:00+01:00"}, /* due Fri 21:00, then the weekend */
        {2, 0, "2026-03-10T09:00:00+01:00"},
        {2, 1, "2026-03-11T09:00:00+01:00"},
        {2, 2, "2026-03-12T12:00:00+01:00"}, /* due 09:00, inside the freeze */
    };
    size_t k = 0;
    int64_t complete = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind == ROLLOUT_CAL_COMPLETE)
            complete = ev[i].at;
        if (ev[i].kind != ROLLOUT_CAL_STEP)
            continue;
        cr_assert_lt(k, RP_COUNT(steps));
        cr_expect_eq(ev[i].phase, steps[k].phase);
        cr_expect_eq(ev[i].step, steps[k].step);
        cr_expect_eq(ev[i].at, t_time(steps[k].at), "step %zu at %lld", k, (long long)ev[i].at);
        k++;
    }
    cr_expect_eq(k, RP_COUNT(steps));
    cr_expect_eq(complete, t_time("2026-03-20T12:00:00+01:00"));
    rollout_plan_unref(p);
}

Test(render, corrupt_state_times)
{
    rollout_plan *p = t_seed();
    /* times outside the years 1 to 9999 make a state no state function
     * made: refused as rollout_apply refuses it */
    rollout_state s = running(p, INT64_MAX - 100);
    size_t needed, n;
    rollout_calendar_event ev[ROLLOUT_MAX_CALENDAR];
    cr_expect_eq(rollout_calendar(p, &s, ev, RP_COUNT(ev), &n), ROLLOUT_ERR_STATE);
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++)
        cr_expect_eq(rollout_calendar_render(p, &s, f, NULL, 0, &needed), ROLLOUT_ERR_STATE,
                     "format %d: a start no calendar can show", f);
    s = running(p, seed_start());
    s.n_pauses = 1;
    s.pause_from[0] = seed_start() + 1 * H;
    s.pause_to[0] = INT64_MAX - 10;
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++)
        cr_expect_eq(rollout_calendar_render(p, &s, f, NULL, 0, &needed), ROLLOUT_ERR_STATE);

    /* a pause that ends at the last second of year 9999: what follows it
     * cannot be written as a date and waits, like a pause under way, and
     * every format still renders */
    s.pause_to[0] = ROLLOUT_TIME_MAX;
    for (int f = ROLLOUT_CALENDAR_TABLE; f <= ROLLOUT_CALENDAR_SVG; f++) {
        char *out = render(p, &s, f, NULL);
        free(out);
    }
    char *t = render(p, &s, ROLLOUT_CALENDAR_TABLE, NULL);
    cr_expect(strstr(t, "(waits for a resume)"));
    free(t);
    rollout_plan_unref(p);
}

/* The last vertical position (V) of a cohort's series path. */
static double series_end_y(const char *svg, const char *cohort)
{
    char attr[64];
    snprintf(attr, sizeof attr, "data-cohort=\"%s\"", cohort);
    const char *d = strstr(strstr(svg, attr), " d=\"");
    const char *end = strchr(d + 4, '"'), *lastv = NULL;
    for (const char *q = d; q < end; q++)
        if (*q == 'V')
            lastv = q;
    cr_assert_not_null(lastv);
    return strtod(lastv + 1, NULL);
}

Test(svg, readable_at_full_weight_to_the_end_of_the_bake)
{
    rollout_plan *p = t_seed();
    char *svg = render(p, NULL, ROLLOUT_CALENDAR_SVG, NULL);
    /* all three cohorts end at 100 %: their lines run apart, not on top */
    double yi = series_end_y(svg, "internal"), yp = series_end_y(svg, "pilot"),
           ye = series_end_y(svg, "everyone");
    cr_expect(yi < yp && yp < ye, "lines at 100%% overlap: %.1f %.1f %.1f", yi, yp, ye);
    cr_expect(ye - yi <= 10.0, "lines stay close to their value: %.1f", ye - yi);
    /* the axis reaches the bake's end (day 12), across a marked break */
    cr_expect(strstr(svg, ">day 12<"), "the time axis stops before the bake ends");
    cr_expect(strstr(svg, "class=\"axis-break\""));
    cr_expect(!strstr(svg, ">day 8<"), "the bake's middle days are left out");
    /* the pilot's 10 % step is 2h before its 25 % step: its label goes
     * below the line, clear of the riser to 25 % */
    const char *c10 = strstr(svg, "pilot 10% at");
    cr_assert_not_null(c10);
    const char *circle = c10;
    while (circle > svg && strncmp(circle, "<circle ", 8) != 0)
        circle--;
    double cy10 = strtod(strstr(circle, "cy=\"") + 4, NULL);
    const char *label = strstr(c10, ">10%</text>");
    cr_assert_not_null(label);
    while (label > svg && strncmp(label, " y=\"", 4) != 0)
        label--;
    double ly = strtod(label + 4, NULL);
    cr_expect_gt(ly, cy10, "the 10%% label (y %.1f) sits above its line (y %.1f), "
                           "where the 25%% riser crosses it", ly, cy10);
    free(svg);
    rollout_plan_unref(p);
}
