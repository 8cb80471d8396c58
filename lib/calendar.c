/* SPDX-License-Identifier: MIT */
/*
 * calendar.c — rollout_calendar rendered for people and tools: an aligned
 * text table, JSON, iCalendar (RFC 5545) and an SVG chart.
 *
 * Every format is a pure function of (plan, state): no clock is read, so two
 * renders are byte for byte equal and an .ics re-imported after a slip
 * updates the same events (stable UIDs; an event the state moved from the
 * plan's own time, or whose STATUS it changed, carries the state's revision
 * as its SEQUENCE, so it rises with every transition after the change, and
 * an event still as planned keeps 0).
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const unit_names[] = {"org", "user", "session", "request"};
static const char *const no_go_names[] = {"hold", "halt", "rollback"};
static const char *const kind_names[] = {"step", "gate", "message", "bake", "complete"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

typedef struct render {
    const rollout_plan *p;
    const rollout_state *s;
    const rollout_calendar_event *ev;
    size_t n;
    int64_t start;      /* what T+ counts from */
    int64_t stop_at;    /* halt or rollback time, RP_NEVER while the rollout lives */
    bool cancels;       /* a rollback: events after stop_at will not happen */
    rp_buf *b;
} render;

/* ---- shared helpers ---------------------------------------------------------- */

static const char *unit_name(int unit)
{
    return unit >= 0 && unit < (int)RP_COUNT(unit_names) ? unit_names[unit] : "?";
}

static int global_step(const rollout_plan *p, const rollout_calendar_event *e)
{
    return p->phases[e->phase].first_step + e->step;
}

static void civil(int64_t t, int64_t *y, unsigned *mo, unsigned *d, int *wd, int *hh, int *mi,
                  int *ss)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400;
    rp_civil_from_days(days, y, mo, d);
    int64_t w = (days + 3) % 7; /* 1970-01-01 was a Thursday; Monday is 0 */
    *wd = (int)(w < 0 ? w + 7 : w);
    *hh = (int)(rem / 3600);
    *mi = (int)(rem / 60 % 60);
    *ss = (int)(rem % 60);
}

/* "Sat 2026-02-28 09:00", with ":SS" only when the seconds are not zero. */
static void format_when(int64_t t, char *buf, size_t cap)
{
    if (t == RP_NEVER) {
        snprintf(buf, cap, "(waits for a resume)");
        return;
    }
    int64_t y;
    unsigned mo, d;
    int wd, hh, mi, ss;
    civil(t, &y, &mo, &d, &wd, &hh, &mi, &ss);
    if (ss)
        snprintf(buf, cap, "%s %04lld-%02u-%02u %02d:%02d:%02d", day_names[wd], (long long)y, mo,
                 d, hh, mi, ss);
    else
        snprintf(buf, cap, "%s %04lld-%02u-%02u %02d:%02d", day_names[wd], (long long)y, mo, d,
                 hh, mi);
}

/* "Thu 12 Mar 09:00": short enough for a label on the chart. */
static void civil_short(int64_t t, char *buf, size_t cap)
{
    int64_t y;
    unsigned mo, d;
    int wd, hh, mi, ss;
    civil(t, &y, &mo, &d, &wd, &hh, &mi, &ss);
    snprintf(buf, cap, "%s %u %s %02d:%02d", day_names[wd], d, month_names[mo - 1], hh, mi);
}

/* rp_format_offset's notation; "T+?" when unknown. */
static void format_offset(int64_t t, int64_t start, char *buf, size_t cap)
{
    if (t == RP_NEVER)
        snprintf(buf, cap, "T+?");
    else
        rp_format_offset(t, start, buf, cap);
}

/* Role names joined with ", ", or "-" when there are none. */
static void put_roles(rp_buf *b, const rollout_plan *p, uint32_t roles)
{
    bool first = true;
    for (int r = 0; r < p->n_roles && r < 32; r++) {
        if (!(roles & (1u << r)))
            continue;
        if (!first)
            rp_buf_puts(b, ", ");
        rp_buf_puts(b, p->roles[r].name ? p->roles[r].name : p->roles[r].id);
        first = false;
    }
    if (first)
        rp_buf_puts(b, "-");
}

static int comm_index(const rollout_plan *p, const rollout_calendar_event *e)
{
    for (int i = 0; i < p->n_comms; i++)
        if (p->comms[i].id == e->title)
            return i;
    return -1;
}

static bool cancelled(const render *r, const rollout_calendar_event *e)
{
    return r->cancels && e->at > r->stop_at;
}

/* Whether t can be written as a date: years 1 to 9999. */
static bool in_calendar(int64_t t)
{
    return RP_TIME_OK(t);
}

/* The moment a halt or rollback cut the rollout short, as the state tells it. */
static void stopped_at(render *r)
{
    const rollout_state *s = r->s;
    r->stop_at = RP_NEVER;
    r->cancels = false;
    if (!s)
        return;
    int64_t t;
    if (s->status == ROLLOUT_STATUS_ROLLING_BACK || s->status == ROLLOUT_STATUS_ROLLED_BACK) {
        t = s->rollback_started_at ? s->rollback_started_at
                                   : s->status_since[ROLLOUT_STATUS_ROLLING_BACK];
        r->cancels = true;
    } else if (s->status == ROLLOUT_STATUS_HALTED) {
        /* a halt may be resumed, so nothing is cancelled: traffic is just 0 */
        t = s->status_since[ROLLOUT_STATUS_HALTED];
    } else {
        return;
    }
    if (!t || !in_calendar(t))
        t = s->updated_at && in_calendar(s->updated_at) ? s->updated_at : r->start;
    r->stop_at = t;
}

/* Empties a buffer for reuse, keeping it a valid C string. */
static void buf_reset(rp_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* A step a change window or freeze moved from its plain due time. */
static bool moved(const rollout_calendar_event *e)
{
    return e->kind == ROLLOUT_CAL_STEP && e->at != RP_NEVER && e->due != e->at;
}

/* Why it moved: due inside a freeze, or outside every window. */
static bool moved_by_freeze(const rollout_plan *p, const rollout_calendar_event *e)
{
    for (int i = 0; i < p->n_freezes; i++)
        if (p->freezes[i].from <= e->due && e->due < p->freezes[i].to)
            return true;
    return false;
}

static const char *moved_by(const rollout_plan *p, const rollout_calendar_event *e)
{
    return moved_by_freeze(p, e) ? "a freeze" : "the change windows";
}

static void put_moved(rp_buf *b, const render *r, const rollout_calendar_event *e)
{
    char tmp[48];
    rp_format_time(e->due, tmp, sizeof tmp);
    rp_buf_printf(b, "; due %s, moved by %s", tmp, moved_by(r->p, e));
}

/* One line of what an event is. The table has columns for the phase, weight
 * and cohort, so its form (brief) leaves them out of a step's line. */
static void put_what(rp_buf *b, const render *r, const rollout_calendar_event *e, bool brief)
{
    const rollout_plan *p = r->p;
    char w[16];
    switch (e->kind) {
    case ROLLOUT_CAL_STEP: {
        const rp_phase *ph = &p->phases[e->phase];
        const rp_step *st = &p->steps[global_step(p, e)];
        rp_format_weight(e->weight, w, sizeof w);
        if (brief)
            rp_buf_printf(b, "traffic step %d/%d, by %s", e->step + 1, ph->n_steps,
                          unit_name(st->unit));
        else
            rp_buf_printf(b, "%s: %s to %s (step %d/%d, by %s)", ph->id,
                          p->cohorts[e->cohort].id, w, e->step + 1, ph->n_steps,
                          unit_name(st->unit));
        if (moved(e))
            put_moved(b, r, e);
        break;
    }
    case ROLLOUT_CAL_GATE: {
        const rp_gate *g = &p->gates[e->gate];
        rp_buf_printf(b, "go/no-go %s (no-go: %s)", g->id,
                      g->on_no_go >= 0 && g->on_no_go < 3 ? no_go_names[g->on_no_go] : "?");
        break;
    }
    case ROLLOUT_CAL_MESSAGE:
        if (brief)
            rp_buf_printf(b, "message %s (%s): %s", e->title, e->channel ? e->channel : "-",
                          e->message ? e->message : "");
        else
            rp_buf_printf(b, "message %s: %s [%s to %s]", e->title,
                          e->message ? e->message : "", e->channel ? e->channel : "-",
                          e->audience ? e->audience : "-");
        break;
    case ROLLOUT_CAL_BAKE:
        rp_format_duration(p->bake.duration, w, sizeof w);
        rp_buf_printf(b, "bake %s starts", w);
        if (p->bake.criteria >= 0)
            rp_buf_printf(b, " (criteria %s)", p->criteria[p->bake.criteria].id);
        break;
    default:
        rp_buf_puts(b, "rollout complete");
        break;
    }
}

static void status_line(rp_buf *b, const render *r)
{
    char when[48];
    if (!r->s) {
        rp_buf_puts(b, "no state: started at the plan's start, no gate decided yet");
        return;
    }
    rp_buf_printf(b, "state: %s, revision %llu", rollout_status_name(r->s->status),
                  (unsigned long long)r->s->revision);
    if (r->stop_at != RP_NEVER) {
        format_when(r->stop_at, when, sizeof when);
        rp_buf_printf(b, "; %s at %s UTC", r->cancels ? "rolled back" : "halted", when);
    }
}

/* ---- TABLE ------------------------------------------------------------------------ */

enum { COLS = 7, EVENT_COL = 3, EVENT_WIDTH = 44 };

/* Display width in code points: good enough for aligned columns. */
static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

/* Bytes of s (n bytes) that fit in `width` code points, broken after a space
 * when one is available so words stay whole; never 0 for non-empty s. */
static size_t wrap_at(const char *s, size_t n, size_t width)
{
    size_t cps = 0, i = 0, last_space = 0;
    while (i < n) {
        size_t k = 1;
        while (i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80)
            k++;
        if (cps == width)
            return last_space ? last_space : i;
        if (s[i] == ' ')
            last_space = i + 1;
        cps++;
        i += k;
    }
    return n;
}

static void pad(rp_buf *b, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        rp_buf_putn(b, spaces, k);
        n -= k;
    }
}

static void render_table(render *r)
{
    const rollout_plan *p = r->p;
    size_t rows = r->n + 1;
    rp_buf *cells = calloc(rows * COLS, sizeof *cells);
    if (!cells) {
        r->b->failed = true;
        return;
    }
    static const char *const head[COLS] = {"TIME (UTC)", "T+",       "PHASE", "EVENT",
                                           "WEIGHT",     "AUDIENCE", "WHO"};
    for (int c = 0; c < COLS; c++)
        rp_buf_puts(&cells[c], head[c]);
    bool any_projected = false, any_cancelled = false, any_moved = false;
    for (size_t i = 0; i < r->n; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        rp_buf *row = &cells[(i + 1) * COLS];
        char tmp[48];
        format_when(e->at, tmp, sizeof tmp);
        rp_buf_puts(&row[0], tmp);
        format_offset(e->at, r->start, tmp, sizeof tmp);
        rp_buf_puts(&row[1], tmp);
        /* markers after the offset keep the time column clean */
        if (e->projected) {
            rp_buf_puts(&row[1], " *");
            any_projected = true;
        }
        if (cancelled(r, e)) {
            rp_buf_puts(&row[1], " x");
            any_cancelled = true;
        }
        if (moved(e)) {
            rp_buf_puts(&row[1], " >");
            any_moved = true;
        }
        rp_buf_puts(&row[2], e->phase >= 0 ? p->phases[e->phase].id : "-");
        put_what(&row[3], r, e, true);
        if (e->kind == ROLLOUT_CAL_STEP) {
            rp_format_weight(e->weight, tmp, sizeof tmp);
            rp_buf_puts(&row[4], tmp);
            rp_buf_puts(&row[5], p->cohorts[e->cohort].id);
        } else {
            rp_buf_puts(&row[4], "-");
            rp_buf_puts(&row[5], e->kind == ROLLOUT_CAL_MESSAGE && e->audience ? e->audience : "-");
        }
        if (e->kind == ROLLOUT_CAL_GATE || e->kind == ROLLOUT_CAL_MESSAGE)
            put_roles(&row[6], p, e->owners);
        else
            rp_buf_puts(&row[6], "-");
    }
    /* plan texts may hold control characters (a YAML "\e" is one): the
     * table goes to terminals, so they are shown escaped, before widths */
    for (size_t i = 0; i < rows * COLS; i++) {
        if (!cells[i].data || rp_text_is_plain(cells[i].data, cells[i].len))
            continue;
        rp_buf shown = {0};
        rp_buf_text(&shown, cells[i].data, cells[i].len);
        shown.failed |= cells[i].failed;
        rp_buf_free(&cells[i]);
        cells[i] = shown;
    }
    size_t width[COLS] = {0};
    for (size_t i = 0; i < rows * COLS; i++) {
        size_t w = text_width(cells[i].data ? cells[i].data : "", cells[i].len);
        if ((int)(i % COLS) == EVENT_COL && w > EVENT_WIDTH)
            w = EVENT_WIDTH;
        if (w > width[i % COLS])
            width[i % COLS] = w;
    }

    rp_buf *b = r->b;
    char when[48];
    rp_buf_printf(b, "Rollout calendar: %s", p->id);
    if (p->description) {
        rp_buf_puts(b, " — ");
        rp_buf_text(b, p->description, strlen(p->description));
    }
    format_when(r->start, when, sizeof when);
    rp_buf_printf(b, "\nT+0 = %s UTC (%s)\n", when,
                  r->s && r->s->started_at ? "the rollout's start" : "the plan's start");
    status_line(b, r);
    rp_buf_puts(b, "\n\n");
    for (size_t i = 0; i < rows; i++) {
        /* the event column wraps; its continuation lines leave the others blank */
        const rp_buf *ev = &cells[i * COLS + EVENT_COL];
        const char *rest = ev->data ? ev->data : "";
        size_t left = ev->len;
        for (bool first = true; first || left; first = false) {
            size_t take = wrap_at(rest, left, EVENT_WIDTH);
            size_t shown = take;
            while (shown && rest[shown - 1] == ' ')
                shown--;
            for (int c = 0; c < COLS; c++) {
                const char *txt = "";
                size_t len = 0;
                if (c == EVENT_COL) {
                    txt = rest;
                    len = shown;
                } else if (first) {
                    txt = cells[i * COLS + c].data ? cells[i * COLS + c].data : "";
                    len = cells[i * COLS + c].len;
                }
                if (c + 1 == COLS) {
                    rp_buf_putn(b, txt, len);
                    break;
                }
                rp_buf_putn(b, txt, len);
                pad(b, width[c] - text_width(txt, len) + 2);
            }
            /* no trailing blanks on continuation lines */
            while (b->len && b->data[b->len - 1] == ' ')
                b->data[--b->len] = '\0';
            rp_buf_puts(b, "\n");
            rest += take;
            left -= take;
        }
    }
    if (any_projected)
        rp_buf_puts(b, "\n* projected: assumes every gate still open gets its GO on time\n");
    if (any_cancelled)
        rp_buf_puts(b, "x will not happen: the rollout was rolled back before it\n");
    if (any_moved)
        rp_buf_puts(b, "> moved: due earlier, it waits for a change window or the end of a "
                       "freeze\n");
    /* a cell that ran out of memory is missing text: the render failed */
    for (size_t i = 0; i < rows * COLS; i++) {
        if (cells[i].failed)
            b->failed = true;
        rp_buf_free(&cells[i]);
    }
    free(cells);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void json_str(rp_buf *b, const char *s)
{
    if (s)
        rp_buf_json_str(b, s, strlen(s));
    else
        rp_buf_puts(b, "null");
}

static void json_roles(rp_buf *b, const rollout_plan *p, uint32_t roles)
{
    rp_buf_puts(b, "[");
    bool first = true;
    for (int r = 0; r < p->n_roles && r < 32; r++) {
        if (!(roles & (1u << r)))
            continue;
        rp_buf_puts(b, first ? "" : ", ");
        json_str(b, p->roles[r].id);
        first = false;
    }
    rp_buf_puts(b, "]");
}

static void render_json(render *r)
{
    const rollout_plan *p = r->p;
    rp_buf *b = r->b;
    rp_buf_puts(b, "[");
    for (size_t i = 0; i < r->n; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        char tmp[48];
        rp_buf_puts(b, i ? ",\n  {" : "\n  {");
        if (e->at == RP_NEVER) {
            rp_buf_puts(b, "\"at\": null, \"epoch\": null, \"offset\": null");
        } else {
            rp_format_time(e->at, tmp, sizeof tmp);
            rp_buf_printf(b, "\"at\": \"%s\", \"epoch\": %lld, \"offset\": %lld", tmp,
                          (long long)e->at, (long long)(e->at - r->start));
        }
        format_offset(e->at, r->start, tmp, sizeof tmp);
        rp_buf_printf(b, ", \"t\": \"%s\", \"kind\": \"%s\"", tmp,
                      e->kind >= 0 && e->kind < (int)RP_COUNT(kind_names) ? kind_names[e->kind]
                                                                         : "?");
        rp_buf_puts(b, ", \"phase\": ");
        json_str(b, e->phase >= 0 ? p->phases[e->phase].id : NULL);
        if (e->kind == ROLLOUT_CAL_STEP) {
            rp_format_weight(e->weight, tmp, sizeof tmp);
            rp_buf_printf(b, ", \"step\": %d, \"cohort\": ", e->step);
            json_str(b, p->cohorts[e->cohort].id);
            char pct[16];
            rp_format_percent(e->weight, pct, sizeof pct);
            rp_buf_printf(b, ", \"weight\": \"%s\", \"weight_units\": %u, \"percent\": %s",
                          tmp, e->weight, pct);
            rp_buf_printf(b, ", \"unit\": \"%s\"", unit_name(p->steps[global_step(p, e)].unit));
            if (moved(e)) {
                rp_format_time(e->due, tmp, sizeof tmp);
                rp_buf_printf(b, ", \"due\": \"%s\", \"moved_by\": \"%s\"", tmp,
                              moved_by_freeze(p, e) ? "freeze" : "window");
            }
        }
        if (e->gate >= 0) {
            const rp_gate *g = &p->gates[e->gate];
            rp_buf_puts(b, ", \"gate\": ");
            json_str(b, g->id);
            if (e->kind == ROLLOUT_CAL_GATE) {
                rp_buf_printf(b, ", \"on_no_go\": \"%s\", \"criteria\": ",
                              g->on_no_go >= 0 && g->on_no_go < 3 ? no_go_names[g->on_no_go]
                                                                  : "?");
                json_str(b, g->criteria >= 0 ? p->criteria[g->criteria].id : NULL);
            }
        }
        if (e->kind == ROLLOUT_CAL_MESSAGE) {
            rp_buf_puts(b, ", \"id\": ");
            json_str(b, e->title);
            rp_buf_puts(b, ", \"channel\": ");
            json_str(b, e->channel);
            rp_buf_puts(b, ", \"audience\": ");
            json_str(b, e->audience);
            rp_buf_puts(b, ", \"message\": ");
            json_str(b, e->message);
        }
        if (e->kind == ROLLOUT_CAL_BAKE)
            rp_buf_printf(b, ", \"duration\": %lld", (long long)p->bake.duration);
        if (e->kind == ROLLOUT_CAL_GATE || e->kind == ROLLOUT_CAL_MESSAGE) {
            rp_buf_puts(b, e->kind == ROLLOUT_CAL_GATE ? ", \"approvers\": " : ", \"owners\": ");
            json_roles(b, p, e->owners);
        }
        rp_buf_puts(b, ", \"summary\": ");
        rp_buf what = {0};
        put_what(&what, r, e, false);
        if (what.failed)
            b->failed = true;
        rp_buf_json_str(b, what.data ? what.data : "", what.len);
        rp_buf_free(&what);
        rp_buf_printf(b, ", \"projected\": %s, \"cancelled\": %s}", e->projected ? "true" : "false",
                      cancelled(r, e) ? "true" : "false");
    }
    rp_buf_puts(b, r->n ? "\n]\n" : "]\n");
}

/* ---- ICS (RFC 5545) ------------------------------------------------------------------ */

/* Octets in the UTF-8 sequence that starts with c; a stray byte counts as one. */
static size_t utf8_seq(unsigned char c)
{
    if (c >= 0xF0 && c < 0xF8)
        return 4;
    if (c >= 0xE0)
        return c < 0xF0 ? 3 : 1;
    if (c >= 0xC0)
        return 2;
    return 1;
}

/* Writes one content line, folded so no physical line exceeds 75 octets
 * (RFC 5545 3.1) and no UTF-8 sequence is split across a fold. */
static void ics_emit(rp_buf *b, const char *s, size_t n)
{
    size_t col = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((unsigned char)s[i]);
        if (i + k > n)
            k = n - i;
        if (col + k > 75) {
            rp_buf_putn(b, "\r\n ", 3);
            col = 1;
        }
        rp_buf_putn(b, s + i, k);
        col += k;
        i += k;
    }
    rp_buf_putn(b, "\r\n", 2);
}

/* TEXT escaping (RFC 5545 3.3.11); control characters other than tab are
 * not allowed in TEXT at all, so they are dropped. */
static void ics_text(rp_buf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == ';' || c == ',') {
            char esc[2] = {'\\', (char)c};
            rp_buf_putn(b, esc, 2);
        } else if (c == '\n') {
            rp_buf_puts(b, "\\n");
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            continue;
        } else {
            rp_buf_putn(b, s, 1);
        }
    }
}

static void ics_time(rp_buf *b, int64_t t)
{
    int64_t y;
    unsigned mo, d;
    int wd, hh, mi, ss;
    civil(t, &y, &mo, &d, &wd, &hh, &mi, &ss);
    rp_buf_printf(b, "%04lld%02u%02uT%02d%02d%02dZ", (long long)y, mo, d, hh, mi, ss);
}

static void ics_line_done(rp_buf *b, rp_buf *line)
{
    if (line->failed)
        b->failed = true;
    ics_emit(b, line->data ? line->data : "", line->len);
    buf_reset(line);
}

/* A property whose value is already in its final form. */
static void ics_prop(rp_buf *b, rp_buf *line, const char *name, const char *value)
{
    buf_reset(line);
    rp_buf_puts(line, name);
    rp_buf_puts(line, ":");
    rp_buf_puts(line, value);
    ics_line_done(b, line);
}

static void ics_description(rp_buf *d, const render *r, const rollout_calendar_event *e)
{
    const rollout_plan *p = r->p;
    char w[48];
    switch (e->kind) {
    case ROLLOUT_CAL_STEP: {
        const rp_phase *ph = &p->phases[e->phase];
        const rp_cohort *co = &p->cohorts[e->cohort];
        rp_format_weight(e->weight, w, sizeof w);
        rp_buf_printf(d, "Traffic step %d of %d in phase %s: cohort %s goes to %s of %s, bucketed by %s.",
                      e->step + 1, ph->n_steps, ph->id, co->id, w, p->labels[1],
                      unit_name(p->steps[global_step(p, e)].unit));
        if (ph->description)
            rp_buf_printf(d, "\nPhase: %s", ph->description);
        if (co->description)
            rp_buf_printf(d, "\nCohort: %s", co->description);
        for (size_t i = 0; i < ph->n_monitoring; i++)
            rp_buf_printf(d, "%s%s", i ? "; " : "\nMonitor: ", ph->monitoring[i]);
        break;
    }
    case ROLLOUT_CAL_GATE: {
        const rp_gate *g = &p->gates[e->gate];
        rp_buf_printf(d, "Go/no-go decision %s for phase %s.\nApprovers: ", g->id,
                      p->phases[g->phase].id);
        put_roles(d, p, g->approvers);
        if (g->criteria >= 0)
            rp_buf_printf(d, "\nCriteria: %s", p->criteria[g->criteria].id);
        rp_buf_printf(d, "\nOn no-go: %s",
                      g->on_no_go >= 0 && g->on_no_go < 3 ? no_go_names[g->on_no_go] : "?");
        if (g->description)
            rp_buf_printf(d, "\n%s", g->description);
        break;
    }
    case ROLLOUT_CAL_MESSAGE:
        rp_buf_printf(d, "Message: %s\nChannel: %s\nAudience: %s\nOwners: ",
                      e->message ? e->message : "", e->channel ? e->channel : "-",
                      e->audience ? e->audience : "-");
        put_roles(d, p, e->owners);
        break;
    case ROLLOUT_CAL_BAKE:
        rp_format_duration(p->bake.duration, w, sizeof w);
        rp_buf_printf(d, "Bake period of %s: the new version carries all planned traffic while "
                         "the post-rollout metrics are watched.",
                      w);
        if (p->bake.description)
            rp_buf_printf(d, "\n%s", p->bake.description);
        break;
    default:
        rp_buf_printf(d, "Rollout %s completes: %s is the version in production.", p->id,
                      p->labels[1]);
        break;
    }
    format_offset(e->at, r->start, w, sizeof w);
    rp_buf_printf(d, "\nScheduled at %s.", w);
    if (moved(e)) {
        char due[48];
        rp_format_time(e->due, due, sizeof due);
        rp_buf_printf(d, "\nMoved: due %s; it waited for %s.", due, moved_by(p, e));
    }
    if (e->projected)
        rp_buf_puts(d, "\nProjected: assumes every gate before it gets its GO on time.");
    if (cancelled(r, e))
        rp_buf_puts(d, "\nCancelled: the rollout was rolled back before this.");
}

/* What an event's UID names, as one number: its kind and index. */
static long uid_key(const rollout_plan *p, const rollout_calendar_event *e)
{
    switch (e->kind) {
    case ROLLOUT_CAL_STEP: return 1000L * e->kind + global_step(p, e);
    case ROLLOUT_CAL_GATE: return 1000L * e->kind + e->gate;
    case ROLLOUT_CAL_MESSAGE: return 1000L * e->kind + comm_index(p, e);
    default: return 1000L * e->kind;
    }
}

/* Whether e is not as the plan alone renders it (plan[0..n)): moved, or
 * with another STATUS (a GO confirmed it, a rollback cancelled it). RFC
 * 5545 3.8.7.4 asks SEQUENCE to rise for either, else a calendar app keeps
 * the event it imported. */
static bool off_plan(const render *r, const rollout_calendar_event *e,
                     const rollout_calendar_event *plan, size_t n)
{
    long key = uid_key(r->p, e);
    for (size_t i = 0; i < n; i++)
        if (uid_key(r->p, &plan[i]) == key)
            return plan[i].at != e->at || plan[i].projected != e->projected || cancelled(r, e);
    return true;
}

static void render_ics(render *r)
{
    const rollout_plan *p = r->p;
    rp_buf *b = r->b;
    rp_buf line = {0}, text = {0};
    ics_prop(b, &line, "BEGIN", "VCALENDAR");
    ics_prop(b, &line, "VERSION", "2.0");
    rp_buf_printf(&line, "PRODID:-//librollout//rollout calendar %s//EN", rollout_version());
    ics_line_done(b, &line);
    ics_prop(b, &line, "CALSCALE", "GREGORIAN");
    ics_prop(b, &line, "METHOD", "PUBLISH");
    rp_buf_puts(&line, "X-WR-CALNAME:");
    ics_text(&line, p->id);
    rp_buf_puts(&line, " rollout");
    ics_line_done(b, &line);
    if (p->description) {
        rp_buf_puts(&line, "X-WR-CALDESC:");
        ics_text(&line, p->description);
        ics_line_done(b, &line);
    }

    /* DTSTAMP must be the same on every render: the last recorded
     * transition when there is a state, else the plan's start. */
    int64_t stamp = r->s && r->s->updated_at && in_calendar(r->s->updated_at) ? r->s->updated_at
                                                                             : p->start;
    uint64_t seq = r->s ? r->s->revision : 0;
    if (seq > INT32_MAX)
        seq = INT32_MAX; /* SEQUENCE is a 32-bit INTEGER */
    /* the plan's own calendar, to tell which events the state moved (an
     * allocation failure marks every event moved: SEQUENCE still rises) */
    size_t n_planned = 0;
    rollout_calendar_event *planned =
        r->s ? malloc(ROLLOUT_MAX_CALENDAR * sizeof *planned) : NULL;
    if (planned && rollout_calendar(p, NULL, planned, ROLLOUT_MAX_CALENDAR, &n_planned))
        n_planned = 0;

    for (size_t i = 0; i < r->n; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        if (e->at == RP_NEVER)
            continue; /* no date to put it on until the pause ends */
        ics_prop(b, &line, "BEGIN", "VEVENT");
        rp_buf_puts(&line, "UID:");
        ics_text(&line, p->id);
        switch (e->kind) {
        case ROLLOUT_CAL_STEP:
            rp_buf_printf(&line, "-step-%d", global_step(p, e));
            break;
        case ROLLOUT_CAL_GATE:
            rp_buf_printf(&line, "-gate-%d", e->gate);
            break;
        case ROLLOUT_CAL_MESSAGE:
            rp_buf_printf(&line, "-message-%d", comm_index(p, e));
            break;
        default:
            rp_buf_printf(&line, "-%s", kind_names[e->kind]);
            break;
        }
        rp_buf_puts(&line, "@librollout");
        ics_line_done(b, &line);
        rp_buf_puts(&line, "DTSTAMP:");
        ics_time(&line, stamp);
        ics_line_done(b, &line);
        rp_buf_puts(&line, "DTSTART:");
        ics_time(&line, e->at);
        ics_line_done(b, &line);
        if (e->kind == ROLLOUT_CAL_BAKE && p->bake.duration > 0) {
            /* the bake is a period: show it as one */
            rp_buf_puts(&line, "DTEND:");
            ics_time(&line, e->at + p->bake.duration);
            ics_line_done(b, &line);
        }
        rp_buf_printf(&line, "SEQUENCE:%llu",
                      (unsigned long long)(r->s && off_plan(r, e, planned, n_planned) ? seq : 0));
        ics_line_done(b, &line);
        buf_reset(&text);
        rp_buf_printf(&text, "[%s] ", p->id);
        put_what(&text, r, e, false);
        rp_buf_puts(&line, "SUMMARY:");
        ics_text(&line, text.data);
        ics_line_done(b, &line);
        buf_reset(&text);
        ics_description(&text, r, e);
        rp_buf_puts(&line, "DESCRIPTION:");
        ics_text(&line, text.data);
        ics_line_done(b, &line);
        rp_buf_printf(&line, "CATEGORIES:ROLLOUT,%s", e->kind == ROLLOUT_CAL_STEP      ? "STEP"
                                                      : e->kind == ROLLOUT_CAL_GATE    ? "GATE"
                                                      : e->kind == ROLLOUT_CAL_MESSAGE ? "MESSAGE"
                                                      : e->kind == ROLLOUT_CAL_BAKE    ? "BAKE"
                                                                                       : "COMPLETE");
        ics_line_done(b, &line);
        ics_prop(b, &line, "STATUS",
                 cancelled(r, e) ? "CANCELLED" : e->projected ? "TENTATIVE" : "CONFIRMED");
        /* markers in time, not meetings: they must not block anyone's calendar */
        ics_prop(b, &line, "TRANSP", "TRANSPARENT");
        ics_prop(b, &line, "END", "VEVENT");
    }
    ics_prop(b, &line, "END", "VCALENDAR");
    if (line.failed || text.failed)
        b->failed = true;
    rp_buf_free(&line);
    rp_buf_free(&text);
    free(planned);
}

/* ---- SVG ------------------------------------------------------------------------------ */

static void xml_text(rp_buf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': rp_buf_puts(b, "&amp;"); break;
        case '<': rp_buf_puts(b, "&lt;"); break;
        case '>': rp_buf_puts(b, "&gt;"); break;
        case '"': rp_buf_puts(b, "&quot;"); break;
        case '\'': rp_buf_puts(b, "&apos;"); break;
        default:
            /* XML 1.0 forbids other C0 controls even as references */
            if (c >= 0x20 || c == '\t' || c == '\n')
                rp_buf_putn(b, s, 1);
            break;
        }
    }
}

/* Okabe-Ito: tells cohorts apart for colour-blind readers too. */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                      "#D55E00", "#56B4E9", "#000000"};

enum {
    SVG_W = 1100,
    PLOT_L = 70,
    PLOT_R = 40,
    PLOT_H = 260,
    LABEL_ROW = 15,
    MAX_LABEL_ROWS = 4
};

/* The time axis, with an optional break: [t0, b0] is drawn to scale on
 * [left, bx0], (b0, b1) squeezed into the gap [bx0, bx1], and [b1, t1] to
 * scale on [bx1, right]. No break: b0 == b1 == t1. */
typedef struct chart {
    int64_t t0, t1;
    double left, right, top, bottom;
    int64_t b0, b1;
    double bx0, bx1;
} chart;

static double lerp(int64_t t, int64_t t0, int64_t t1, double x0, double x1)
{
    return t1 > t0 ? x0 + (double)(t - t0) * (x1 - x0) / (double)(t1 - t0) : x0;
}

static double cx(const chart *c, int64_t t)
{
    if (t <= c->t0)
        return c->left;
    if (t >= c->t1)
        return c->right;
    if (c->b1 <= c->b0)
        return lerp(t, c->t0, c->t1, c->left, c->right);
    if (t <= c->b0)
        return lerp(t, c->t0, c->b0, c->left, c->bx0);
    if (t < c->b1)
        return lerp(t, c->b0, c->b1, c->bx0, c->bx1);
    return lerp(t, c->b1, c->t1, c->bx1, c->right);
}

/* A cohort's vertical offset in pixels: the lanes that keep equal weights
 * apart, centred on the true value and never more than 10 px from it. */
static double lane(int nc, int co)
{
    double gap = nc > 1 && 20.0 / (nc - 1) < 3.5 ? 20.0 / (nc - 1) : 3.5;
    return ((double)co - (nc - 1) / 2.0) * gap;
}

/* The next step of the same cohort after event i, or NULL. */
static const rollout_calendar_event *next_step(const render *r, size_t i)
{
    for (size_t k = i + 1; k < r->n; k++)
        if (r->ev[k].kind == ROLLOUT_CAL_STEP && r->ev[k].cohort == r->ev[i].cohort &&
            r->ev[k].at != RP_NEVER)
            return &r->ev[k];
    return NULL;
}

static bool in_break(const chart *c, int64_t t)
{
    return c->b1 > c->b0 && t > c->b0 && t < c->b1;
}

static double cy(const chart *c, uint32_t w)
{
    return c->bottom - (double)w * (c->bottom - c->top) / 100000.0;
}

/* Rough width of 11px sans text: enough to keep gate labels from colliding. */
static double label_width(const char *s)
{
    return 6.2 * (double)text_width(s, strlen(s)) + 6;
}

typedef struct span {
    int64_t from, to;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

static void shade(rp_buf *b, const chart *c, int64_t from, int64_t to, const char *cls,
                  const char *fill, const char *title, const char *reason)
{
    double x0 = cx(c, from), x1 = cx(c, to);
    if (x1 - x0 < 0.05)
        return;
    rp_buf_printf(b,
                  "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                  "fill=\"%s\"><title>%s",
                  cls, x0, c->top, x1 - x0, c->bottom - c->top, fill, title);
    if (reason) {
        rp_buf_puts(b, ": ");
        xml_text(b, reason);
    }
    rp_buf_puts(b, "</title></rect>\n");
}

/* Shades the time outside every change window: the union of the window
 * openings over the chart, then its gaps. Skipped on very long charts, where
 * the stripes would be noise anyway. */
static void shade_closed(rp_buf *b, const rollout_plan *p, const chart *c)
{
    int64_t days = (c->t1 - c->t0) / 86400 + 3;
    if (!p->n_windows || days > 400)
        return;
    span *open = malloc(sizeof *open * (size_t)(days * p->n_windows));
    if (!open) {
        b->failed = true;
        return;
    }
    size_t n = 0;
    for (int i = 0; i < p->n_windows; i++) {
        const rp_window *w = &p->windows[i];
        int64_t first = rp_window_day(w, c->t0) - 1;
        for (int64_t d = first; d < first + days; d++) {
            int64_t wd = (d + 3) % 7; /* 1970-01-01 was a Thursday; Monday is 0 */
            if (!(w->days & (1u << (wd < 0 ? wd + 7 : wd))))
                continue;
            rp_window_bounds(w, d, &open[n].from, &open[n].to);
            n++;
        }
    }
    qsort(open, n, sizeof *open, span_cmp);
    int64_t t = c->t0;
    for (size_t i = 0; i <= n && t < c->t1; i++) {
        int64_t next = i < n ? open[i].from : c->t1;
        if (next > t)
            shade(b, c, t, next < c->t1 ? next : c->t1, "closed", "#f4f4f4",
                  "outside the change windows", NULL);
        if (i < n && open[i].to > t)
            t = open[i].to;
    }
    free(open);
}

static void render_svg(render *r)
{
    const rollout_plan *p = r->p;
    rp_buf *b = r->b;
    char tmp[64], when[48];

    /* The time axis covers the ramp, from the start to the bake (or the
     * last step or gate), and then the completion. A week-long bake drawn
     * to scale would squeeze the first day's steps into a sliver, so the
     * axis breaks after the ramp and resumes for the day the bake ends. */
    chart c = {r->start, r->start, PLOT_L, SVG_W - PLOT_R, 0, 0, 0, 0, 0, 0};
    bool waits = false;
    int64_t bake_at = RP_NEVER, done_at = RP_NEVER;
    for (size_t i = 0; i < r->n; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        if (e->at == RP_NEVER) {
            waits = !r->cancels;
            continue;
        }
        if (cancelled(r, e))
            continue; /* a rolled-back chart ends with the rollback */
        if (e->kind == ROLLOUT_CAL_BAKE)
            bake_at = e->at;
        if (e->kind == ROLLOUT_CAL_COMPLETE) {
            done_at = e->at;
            continue;
        }
        if (e->at < c.t0)
            c.t0 = e->at;
        if (e->at > c.t1 && (e->kind != ROLLOUT_CAL_MESSAGE || bake_at == RP_NEVER))
            c.t1 = e->at;
    }
    if (r->stop_at != RP_NEVER && r->stop_at > c.t1)
        c.t1 = r->stop_at;
    if (c.t1 - c.t0 < 86400)
        c.t1 = c.t0 + 86400;
    int64_t room = (c.t1 - c.t0) / 7;
    c.t1 += room > 43200 ? room : 43200; /* room for the bake band and the last labels */
    c.b0 = c.b1 = c.t1;
    c.bx0 = c.bx1 = c.right;
    if (done_at != RP_NEVER && done_at > c.t1) {
        if (done_at - 86400 > c.t1 + 86400) {
            /* the last day of the bake, to scale, after a break */
            c.b0 = c.t1;
            c.b1 = done_at - 86400;
            c.t1 = done_at + 43200;
            c.bx1 = c.right - 150;
            c.bx0 = c.bx1 - 30;
        } else {
            c.t1 = done_at + 43200;
            c.b0 = c.b1 = c.t1;
        }
    }

    /* Gate labels sit above the plot in as few rows as keep them apart. */
    double row_end[MAX_LABEL_ROWS];
    int label_row[ROLLOUT_MAX_CALENDAR];
    int rows_used = 1;
    for (int k = 0; k < MAX_LABEL_ROWS; k++)
        row_end[k] = -1e9;
    for (size_t i = 0; i < r->n && i < ROLLOUT_MAX_CALENDAR; i++) {
        label_row[i] = -1;
        const rollout_calendar_event *e = &r->ev[i];
        if (e->kind != ROLLOUT_CAL_GATE || e->at == RP_NEVER || cancelled(r, e))
            continue;
        double x = cx(&c, e->at), w = label_width(p->gates[e->gate].id);
        int best = 0;
        for (int k = 0; k < MAX_LABEL_ROWS; k++) {
            if (row_end[k] <= x) {
                best = k;
                break;
            }
            if (row_end[k] < row_end[best])
                best = k;
        }
        label_row[i] = best;
        row_end[best] = x + w;
        if (best + 1 > rows_used)
            rows_used = best + 1;
    }
    double label_top = 66;
    c.top = label_top + rows_used * LABEL_ROW + 10;
    c.bottom = c.top + PLOT_H;
    double axis_labels = c.bottom + 36;
    /* three legend items a row: the cohorts, then gate, bake, projected, message */
    bool closed = p->n_windows && (c.t1 - c.t0) / 86400 + 3 <= 400, frozen = false;
    for (int i = 0; i < p->n_freezes; i++)
        frozen |= p->freezes[i].to > c.t0 && p->freezes[i].from < c.t1;
    int legend_rows = (p->n_cohorts + 4 + closed + frozen + 2) / 3;
    double height = axis_labels + 20 + legend_rows * 20 + 16;

    rp_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    rp_buf_printf(b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
                  "viewBox=\"0 0 %d %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
                  "role=\"img\" aria-labelledby=\"title\">\n",
                  SVG_W, height, SVG_W, height);
    rp_buf_puts(b, "<title id=\"title\">");
    xml_text(b, p->id);
    rp_buf_puts(b, ": traffic to the new version by cohort</title>\n");
    rp_buf_printf(b, "<rect width=\"%d\" height=\"%.0f\" fill=\"#ffffff\"/>\n", SVG_W, height);

    /* title and subtitle */
    rp_buf_puts(b, "<text x=\"20\" y=\"28\" font-size=\"18\" font-weight=\"bold\" "
                   "fill=\"#222\">");
    xml_text(b, p->id);
    rp_buf_puts(b, ": traffic to ");
    xml_text(b, p->labels[1]);
    rp_buf_puts(b, " by cohort</text>\n<text x=\"20\" y=\"48\" font-size=\"12\" fill=\"#555\">");
    format_when(r->start, when, sizeof when);
    rp_buf_puts(b, "T+0 = ");
    xml_text(b, when);
    rp_buf_puts(b, " UTC · ");
    rp_buf tmpb = {0};
    status_line(&tmpb, r);
    if (tmpb.failed)
        b->failed = true;
    xml_text(b, tmpb.data);
    rp_buf_free(&tmpb);
    if (waits)
        rp_buf_puts(b, " · paused: later steps wait for a resume");
    rp_buf_puts(b, "</text>\n");

    /* when steps may not move: outside the windows, inside a freeze */
    shade_closed(b, p, &c);
    for (int i = 0; i < p->n_freezes; i++) {
        const rp_freeze *f = &p->freezes[i];
        if (f->to > c.t0 && f->from < c.t1)
            shade(b, &c, f->from, f->to, "freeze", "#fdecea", "freeze", f->reason);
    }

    /* the bake as a shaded band that says when it ends */
    rp_buf bake_text = {0};
    if (bake_at != RP_NEVER) {
        double x0 = cx(&c, bake_at), x1 = cx(&c, done_at);
        rp_format_duration(p->bake.duration, tmp, sizeof tmp);
        format_when(done_at, when, sizeof when);
        rp_buf_printf(b,
                      "<rect class=\"bake\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                      "height=\"%.1f\" fill=\"#e8f5e9\"><title>bake %s, complete %s UTC"
                      "</title></rect>\n",
                      x0, c.top, x1 - x0, c.bottom - c.top, tmp, when);
        /* its labels go on top of the axis break, drawn later */
        rp_buf_printf(&bake_text,
                      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#2e7d32\" "
                      "text-anchor=\"end\">bake %s%s</text>\n",
                      x1 - 6, c.bottom - 24, tmp, done_at > c.t1 ? " \xe2\x86\x92" : "");
        if (done_at != RP_NEVER) {
            civil_short(done_at, when, sizeof when);
            rp_buf_printf(&bake_text,
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#2e7d32\" "
                          "text-anchor=\"end\">complete %s UTC</text>\n",
                          x1 - 6, c.bottom - 10, when);
        }
    }

    /* y grid: 0..100 % */
    for (int pct = 0; pct <= 100; pct += 25) {
        double y = cy(&c, (uint32_t)pct * 1000u);
        rp_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"1\"/>\n"
                      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555\" "
                      "text-anchor=\"end\">%d%%</text>\n",
                      c.left, y, c.right, y, pct ? "#e0e0e0" : "#888", c.left - 8, y + 4, pct);
    }
    rp_buf_printf(b,
                  "<text x=\"18\" y=\"%.1f\" font-size=\"11\" fill=\"#555\" "
                  "transform=\"rotate(-90 18 %.1f)\" text-anchor=\"middle\">traffic to the new "
                  "version</text>\n",
                  (c.top + c.bottom) / 2, (c.top + c.bottom) / 2);

    /* x axis: a tick a day (or every few days on long rollouts), counted from T+0 */
    int64_t span_days = (c.t1 - r->start) / 86400;
    int64_t every = span_days <= 16    ? 1
                    : span_days <= 40  ? 2
                    : span_days <= 120 ? 7
                    : span_days <= 600 ? 30
                                       : span_days / 20; /* about 20 ticks, however long */
    for (int64_t d = 0; r->start + d * 86400 <= c.t1; d += every) {
        int64_t t = r->start + d * 86400;
        if (t < c.t0 || in_break(&c, t))
            continue;
        double x = cx(&c, t);
        int64_t y;
        unsigned mo, dd;
        int wd, hh, mi, ss;
        civil(t, &y, &mo, &dd, &wd, &hh, &mi, &ss);
        if (d > 0)
            rp_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#f0f0f0\"/>\n",
                          x, c.top, x, c.bottom);
        rp_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n"
                      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#333\" "
                      "text-anchor=\"middle\">day %lld</text>\n"
                      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#777\" "
                      "text-anchor=\"middle\">%s %u %s</text>\n",
                      x, c.bottom, x, c.bottom + 5, x, c.bottom + 18, (long long)d, x,
                      c.bottom + 31, day_names[wd], dd, month_names[mo - 1]);
    }

    /* gates: dashed verticals with their labels above the plot */
    for (size_t i = 0; i < r->n && i < ROLLOUT_MAX_CALENDAR; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        if (e->kind != ROLLOUT_CAL_GATE || e->at == RP_NEVER || cancelled(r, e))
            continue;
        const rp_gate *g = &p->gates[e->gate];
        double x = cx(&c, e->at), ly = label_top + (label_row[i] + 1) * LABEL_ROW - 3;
        format_when(e->at, when, sizeof when);
        format_offset(e->at, r->start, tmp, sizeof tmp);
        rp_buf_printf(b, "<g class=\"gate\" data-gate=\"");
        xml_text(b, g->id);
        rp_buf_printf(b,
                      "\"><title>go/no-go ");
        xml_text(b, g->id);
        rp_buf_printf(b, " at %s UTC (%s)%s</title>\n", when, tmp,
                      e->projected ? ", projected" : "");
        rp_buf_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                      "stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>\n"
                      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#333\">",
                      x, ly + 3, x, c.bottom, x + 3, ly);
        xml_text(b, g->id);
        rp_buf_puts(b, "</text></g>\n");
    }

    /* One step line per cohort, each a few pixels off the next, so where
     * cohorts share a weight (all at 100 % in the end) the lines run side by
     * side instead of hiding each other. */
    int nc = p->n_cohorts;
    for (int co = 0; co < nc; co++) {
        const char *colour = palette[co % (int)RP_COUNT(palette)];
        double dy = lane(nc, co);
        rp_buf_printf(b,
                      "<path class=\"series\" data-cohort=\"");
        xml_text(b, p->cohorts[co].id);
        rp_buf_printf(b,
                      "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
                      "stroke-linejoin=\"round\" d=\"M%.1f %.1f",
                      colour, cx(&c, c.t0), cy(&c, 0) + dy);
        for (size_t i = 0; i < r->n; i++) {
            const rollout_calendar_event *e = &r->ev[i];
            if (e->kind != ROLLOUT_CAL_STEP || e->cohort != co || e->at == RP_NEVER ||
                e->at > r->stop_at)
                continue;
            rp_buf_printf(b, " H%.1f V%.1f", cx(&c, e->at), cy(&c, e->weight) + dy);
        }
        if (r->stop_at != RP_NEVER)
            rp_buf_printf(b, " H%.1f V%.1f", cx(&c, r->stop_at), cy(&c, 0) + dy);
        rp_buf_printf(b, " H%.1f\"/>\n", c.right);
    }
    /* the break in the time axis: the lines pause, two slashes on the axis */
    if (c.b1 > c.b0) {
        rp_buf_printf(b,
                      "<g class=\"axis-break\"><title>time axis broken: %lld days of the bake "
                      "left out</title>\n"
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                      "fill=\"#ffffff\"/>\n",
                      (long long)((c.b1 - c.b0) / 86400), c.bx0 + 6, c.top - 6,
                      c.bx1 - c.bx0 - 12, c.bottom - c.top + 12);
        for (int k = 0; k < 2; k++)
            rp_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#555\" stroke-width=\"1.5\"/>\n",
                          c.bx0 + 2 + 14 * k, c.bottom + 7, c.bx0 + 12 + 14 * k, c.bottom - 7);
        rp_buf_puts(b, "</g>\n");
    }
    if (bake_text.len)
        rp_buf_putn(b, bake_text.data, bake_text.len);
    b->failed |= bake_text.failed;
    rp_buf_free(&bake_text);
    /* the rollback or halt cuts every series to 0 */
    if (r->stop_at != RP_NEVER) {
        double x = cx(&c, r->stop_at);
        rp_buf_printf(b,
                      "<line class=\"stop\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                      "stroke=\"#c62828\" stroke-width=\"2\"/>\n"
                      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#c62828\">%s</text>\n",
                      x, c.top, x, c.bottom, x + 5, c.top + 14,
                      r->cancels ? "rolled back" : "halted");
    }

    /* step points with a tooltip and the weight they reach */
    for (size_t i = 0; i < r->n; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        if (e->kind != ROLLOUT_CAL_STEP || e->at == RP_NEVER || e->at > r->stop_at)
            continue;
        const char *colour = palette[e->cohort % (int)RP_COUNT(palette)];
        double x = cx(&c, e->at), y = cy(&c, e->weight) + lane(nc, e->cohort);
        char w[16];
        rp_format_weight(e->weight, w, sizeof w);
        format_when(e->at, when, sizeof when);
        format_offset(e->at, r->start, tmp, sizeof tmp);
        /* a step a window or freeze held back: a dotted lead from its due time */
        if (moved(e) && e->due >= c.t0)
            rp_buf_printf(b,
                          "<line class=\"moved\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" "
                          "stroke-dasharray=\"2 3\"/>\n",
                          cx(&c, e->due), y, x, y, colour);
        /* hollow: a projection, not a time the state has confirmed */
        rp_buf_printf(b,
                      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" stroke=\"%s\" "
                      "stroke-width=\"1.5\"><title>",
                      x, y, e->projected ? "#ffffff" : colour, colour);
        xml_text(b, p->cohorts[e->cohort].id);
        rp_buf_printf(b, " %s at %s UTC (%s)%s", w, when, tmp,
                      e->projected ? ", projected" : "");
        if (moved(e)) {
            rp_buf what = {0};
            put_moved(&what, r, e);
            xml_text(b, what.data ? what.data : "");
            b->failed |= what.failed;
            rp_buf_free(&what);
        }
        rp_buf_puts(b, "</title></circle>\n");
        /* above the line, right of the point; below it when the cohort's
         * next step rises within the label's width (its riser would cross
         * the label) or when there is no room above */
        const rollout_calendar_event *nx = next_step(r, i);
        bool crowded = nx && nx->weight > e->weight && cx(&c, nx->at) - x < label_width(w) + 8;
        rp_buf_printf(b,
                      "<text class=\"weight\" x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                      "fill=\"%s\">%s</text>\n",
                      x + 4, y > c.top + 12 && !crowded ? y - 5 : y + 13, colour, w);
    }
    /* messages: small diamonds on the time axis */
    for (size_t i = 0; i < r->n; i++) {
        const rollout_calendar_event *e = &r->ev[i];
        if (e->kind != ROLLOUT_CAL_MESSAGE || e->at == RP_NEVER || cancelled(r, e))
            continue;
        double x = cx(&c, e->at), y = c.bottom;
        rp_buf_printf(b,
                      "<path class=\"message\" d=\"M%.1f %.1f l5 5 l-5 5 l-5 -5 z\" "
                      "fill=\"#7b1fa2\"><title>",
                      x, y - 5);
        rp_buf what = {0};
        put_what(&what, r, e, false);
        if (what.failed)
            b->failed = true;
        xml_text(b, what.data);
        rp_buf_free(&what);
        format_offset(e->at, r->start, tmp, sizeof tmp);
        rp_buf_printf(b, " (%s)</title></path>\n", tmp);
    }

    /* legend */
    double ly = axis_labels + 20;
    int item = 0;
    for (int co = 0; co < nc + 6; co++, item++) {
        if ((co == nc + 4 && !closed) || (co == nc + 5 && !frozen)) {
            item--;
            continue;
        }
        double x = 20 + (item % 3) * 360, y = ly + (item / 3) * 20;
        if (co < nc) {
            rp_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"4\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
                          "fill=\"#222\">",
                          x, y - 4, x + 24, y - 4, palette[co % (int)RP_COUNT(palette)], x + 30,
                          y);
            xml_text(b, p->cohorts[co].id);
            int last = p->cohort_last_phase[co];
            bool first = true;
            for (int ph = 0; last >= 0 && ph <= last; ph++) {
                if (p->phases[ph].cohort != co)
                    continue;
                rp_buf_puts(b, first ? " (phase " : ", ");
                xml_text(b, p->phases[ph].id);
                first = false;
            }
            rp_buf_puts(b, first ? " (no phase)" : ")");
            rp_buf_puts(b, "</text>\n");
        } else if (co == nc) {
            rp_buf_printf(b,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                          "stroke-dasharray=\"5 4\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                          "font-size=\"12\" fill=\"#222\">go/no-go gate</text>\n",
                          x + 12, y - 12, x + 12, y + 2, x + 30, y);
        } else if (co == nc + 1) {
            rp_buf_printf(b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"24\" height=\"12\" "
                          "fill=\"#e8f5e9\" stroke=\"#a5d6a7\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                          "font-size=\"12\" fill=\"#222\">bake period</text>\n",
                          x, y - 10, x + 30, y);
        } else if (co == nc + 2) {
            rp_buf_printf(b,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#ffffff\" "
                          "stroke=\"#555\" stroke-width=\"1.5\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                          "font-size=\"12\" fill=\"#222\">projected: the gates before it get "
                          "their GO on time</text>\n",
                          x + 12, y - 4, x + 30, y);
        } else if (co == nc + 3) {
            rp_buf_printf(b,
                          "<path d=\"M%.1f %.1f l5 5 l-5 5 l-5 -5 z\" fill=\"#7b1fa2\"/>\n"
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#222\">message "
                          "(communication plan)</text>\n",
                          x + 12, y - 10, x + 30, y);
        } else {
            rp_buf_printf(b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"24\" height=\"12\" "
                          "fill=\"%s\" stroke=\"#ccc\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                          "font-size=\"12\" fill=\"#222\">%s</text>\n",
                          x, y - 10, co == nc + 4 ? "#f4f4f4" : "#fdecea", x + 30, y,
                          co == nc + 4 ? "outside the change windows: steps wait"
                                       : "freeze: steps wait");
        }
    }
    rp_buf_puts(b, "</svg>\n");
}

/* ---- entry point ---------------------------------------------------------------------- */

int rollout_calendar_render(const rollout_plan *plan, const rollout_state *state, int format,
                            char *buf, size_t cap, size_t *needed)
{
    if (!plan || format < ROLLOUT_CALENDAR_TABLE || format > ROLLOUT_CALENDAR_SVG ||
        (!buf && cap))
        return ROLLOUT_ERR_ARG;
    rollout_calendar_event *ev = malloc(sizeof *ev * ROLLOUT_MAX_CALENDAR);
    if (!ev)
        return ROLLOUT_ERR_NOMEM;
    size_t n = 0;
    int rc = rollout_calendar(plan, state, ev, ROLLOUT_MAX_CALENDAR, &n);
    if (rc) {
        free(ev);
        return rc;
    }
    rp_buf b = {0};
    render r = {plan, state, ev, n, 0, RP_NEVER, false, &b};
    r.start = state && state->started_at ? state->started_at : plan->start;
    if (!in_calendar(r.start)) {
        free(ev);
        return ROLLOUT_ERR_ARG; /* a corrupt state: no calendar shows that start */
    }
    /* A pause that (in a corrupt state) ends beyond year 9999 pushes what
     * follows out of every calendar: show it as waiting, like a pause under
     * way, rather than at a date that cannot be written. */
    for (size_t i = 0; i < n; i++)
        if (!in_calendar(ev[i].at))
            ev[i].at = RP_NEVER;
    stopped_at(&r);
    switch (format) {
    case ROLLOUT_CALENDAR_TABLE: render_table(&r); break;
    case ROLLOUT_CALENDAR_JSON: render_json(&r); break;
    case ROLLOUT_CALENDAR_ICS: render_ics(&r); break;
    default: render_svg(&r); break;
    }
    free(ev);
    if (b.failed) {
        rp_buf_free(&b);
        return ROLLOUT_ERR_NOMEM;
    }
    if (needed)
        *needed = b.len;
    if (cap) {
        size_t k = b.len < cap - 1 ? b.len : cap - 1;
        if (k)
            memcpy(buf, b.data, k);
        buf[k] = '\0';
    }
    rc = b.len < cap ? ROLLOUT_OK : ROLLOUT_ERR_BUFFER;
    rp_buf_free(&b);
    return rc;
}
