/* SPDX-License-Identifier: MIT */
/*
 * cmd_simulate.c — `rollout simulate`: the whole rollout walked through the
 * library, the way a person would want to watch it. Every line comes from
 * the same calls a gateway or ops script makes (rollout_apply, rollout_schedule,
 * rollout_decide); nothing here decides anything on its own.
 */
#include "cli.h"
#include "plan.h"
#include "targeting.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SAMPLE 2000

/* How to build a request of one cohort, derived from its rules: ids taken
 * from its id lists (the i-th sample takes the i-th id, cycling), attribute
 * values from `equals` and `in`, and from patterns that are literal text.
 * Unit ids the rules leave free are numbered per sample. */
enum { SAMPLE_ATTRS = 8 };
typedef struct sample_recipe {
    bool possible;
    const rp_idset *orgs, *users;
    int n_attrs;
    struct {
        const char *attr;
        size_t attr_len;
        const char *value; /* equals; or the literal of a pattern */
        size_t value_len;
        const rp_idset *in;
        int lit;           /* 0 no pattern, else 1 + where the literal goes */
    } attrs[SAMPLE_ATTRS];
} sample_recipe;

typedef struct sim {
    const rollout_plan *plan;
    sample_recipe recipes[ROLLOUT_MAX_COHORTS];
    rollout_state state;
    int64_t start;
    rollout_action actions[ROLLOUT_MAX_ACTIONS];
} sim;

static void offset_str(int64_t start, int64_t t, char *buf, size_t cap)
{
    cli_format_offset(t, start, buf, cap);
}

/* The plan's words for an action; a procedure step the plan wrote no text
 * for is named by its id, so no line ends blank. */
static const char *action_text(const rollout_action *a)
{
    static char buf[160];
    if (a->text)
        return cli_text(a->text);
    bool procedure = a->type == ROLLOUT_ACTION_PAGE || a->type == ROLLOUT_ACTION_HALT_TRAFFIC ||
                     a->type == ROLLOUT_ACTION_RESTORE_PREVIOUS ||
                     a->type == ROLLOUT_ACTION_RUN_SMOKE_TESTS ||
                     a->type == ROLLOUT_ACTION_RESUME_SERVICE ||
                     a->type == ROLLOUT_ACTION_OPEN_INCIDENT;
    if (!procedure || !a->id)
        return "";
    snprintf(buf, sizeof buf, "(procedure step %s)", cli_text(a->id));
    return buf;
}

static void print_action(const sim *s, const rollout_action *a)
{
    const rollout_plan *p = s->plan;
    char w[16];
    switch (a->type) {
    case ROLLOUT_ACTION_SET_WEIGHT:
        rp_format_weight(a->weight, w, sizeof w);
        printf("      set weight: cohort %-10s -> %s of its %ss on %s\n", cli_text(a->id), w,
               a->unit == ROLLOUT_UNIT_ORG       ? "org"
               : a->unit == ROLLOUT_UNIT_USER    ? "user"
               : a->unit == ROLLOUT_UNIT_SESSION ? "session"
                                                 : "request",
               cli_text(rollout_plan_version_label(p, 1)));
        break;
    case ROLLOUT_ACTION_NOTIFY:
        printf("      notify:     [%s] %s -> %s\n", cli_text(a->channel), cli_text(a->text),
               cli_text(a->audience));
        break;
    case ROLLOUT_ACTION_GATE_DUE:
        printf("      gate due:   %s (go/no-go)\n", cli_text(a->id));
        break;
    case ROLLOUT_ACTION_RESTORE_PREVIOUS:
    case ROLLOUT_ACTION_RUN_SMOKE_TESTS:
        printf("      %-11s %s (%s)\n", rollout_action_name(a->type), action_text(a),
               cli_text(a->label));
        break;
    case ROLLOUT_ACTION_SCHEDULE_POSTMORTEM: {
        char due[32];
        rp_format_time(a->due, due, sizeof due);
        printf("      %-11s %s (due %s)\n", "postmortem", action_text(a), due);
        break;
    }
    default:
        printf("      %-11s %s\n", rollout_action_name(a->type), action_text(a));
    }
}

static int apply(sim *s, rollout_event ev, int64_t t, bool quiet)
{
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(s->plan, &s->state, &ev, t, &s->state, s->actions, &n, &err);
    if (rc) {
        fprintf(stderr, "rollout simulate: %s\n", cli_text(err.message));
        return rc;
    }
    if (!quiet)
        for (size_t i = 0; i < n; i++)
            print_action(s, &s->actions[i]);
    return ROLLOUT_OK;
}

static bool add_attr(sample_recipe *r, const struct rp_rule *rule)
{
    if (r->n_attrs == SAMPLE_ATTRS)
        return false;
    r->attrs[r->n_attrs].attr = rule->attr;
    r->attrs[r->n_attrs].attr_len = rule->attr_len;
    r->attrs[r->n_attrs].value = NULL;
    r->attrs[r->n_attrs].in = NULL;
    r->attrs[r->n_attrs].lit = 0;
    switch (rule->kind) {
    case RP_RULE_ATTR_EQUALS:
        r->attrs[r->n_attrs].value = rule->value;
        r->attrs[r->n_attrs].value_len = rule->value_len;
        break;
    case RP_RULE_ATTR_IN:
        if (!rule->set.n)
            return false;
        r->attrs[r->n_attrs].in = &rule->set;
        break;
    default: /* a pattern: only one that is literal text gives a value */
        if (!rule->pat.lit)
            return false;
        r->attrs[r->n_attrs].value = rule->pat.lit;
        r->attrs[r->n_attrs].value_len = rule->pat.lit_len;
        r->attrs[r->n_attrs].lit = 1 + (rule->pat.lit_start ? 1 : 0) +
                                   (rule->pat.lit_end != RP_LIT_ANYWHERE ? 2 : 0);
        break;
    }
    r->n_attrs++;
    return true;
}

/* Adds what makes `rule` match to *r; false when it cannot tell (a pattern
 * PCRE2 must run, a `not`). */
static bool derive(sample_recipe *r, const struct rp_rule *rule)
{
    switch (rule->kind) {
    case RP_RULE_EVERYONE:
        return true;
    case RP_RULE_ORG_IN:
        r->orgs = &rule->set;
        return rule->set.n > 0;
    case RP_RULE_USER_IN:
        r->users = &rule->set;
        return rule->set.n > 0;
    case RP_RULE_ATTR_EQUALS:
    case RP_RULE_ATTR_IN:
    case RP_RULE_ATTR_MATCHES:
        return add_attr(r, rule);
    case RP_RULE_ANY: /* the first alternative that can be built */
        for (size_t k = 0; k < rule->n_kids; k++) {
            sample_recipe t = *r;
            if (derive(&t, rule->kids[k])) {
                *r = t;
                return true;
            }
        }
        return false;
    case RP_RULE_ALL:
        for (size_t k = 0; k < rule->n_kids; k++)
            if (!derive(r, rule->kids[k]))
                return false;
        return true;
    default:
        return false;
    }
}

static void derive_samples(sim *s)
{
    const rollout_plan *p = s->plan;
    printf("sample requests (%d per cohort, built from its rules):\n", SAMPLE);
    for (int c = 0; c < p->n_cohorts && c < ROLLOUT_MAX_COHORTS; c++) {
        sample_recipe *r = &s->recipes[c];
        memset(r, 0, sizeof *r);
        r->possible = p->cohorts[c].match && derive(r, p->cohorts[c].match);
        printf("  %-10s ", cli_text(p->cohorts[c].id));
        if (!r->possible) {
            printf("none: its rules need a pattern match or a `not`, which no sample is "
                   "built for\n");
            continue;
        }
        bool any = false;
        if (r->orgs) {
            printf("orgs from its list (%zu)", r->orgs->n);
            any = true;
        }
        if (r->users) {
            printf("%susers from its list (%zu)", any ? ", " : "", r->users->n);
            any = true;
        }
        for (int a = 0; a < r->n_attrs; a++) {
            printf("%s%.*s ", any ? ", " : "", (int)r->attrs[a].attr_len,
                   cli_text(r->attrs[a].attr));
            if (r->attrs[a].in)
                printf("from its list (%zu)", r->attrs[a].in->n);
            else
                printf("%s \"%s\"", r->attrs[a].lit ? "with" : "=",
                       cli_text(r->attrs[a].value));
            any = true;
        }
        printf("%s\n", any ? "" : "any request");
    }
}

/* Share of each cohort's sample requests that go to the new version at t.
 * A sample an earlier cohort catches does not count for this one. */
static void sample_decisions(const sim *s, int64_t t)
{
    const rollout_plan *p = s->plan;
    printf("      decisions:  ");
    for (int c = 0; c < p->n_cohorts && c < ROLLOUT_MAX_COHORTS; c++) {
        const sample_recipe *r = &s->recipes[c];
        printf("%s%s ", c ? ", " : "", cli_text(p->cohorts[c].id));
        if (!r->possible) {
            printf("-");
            continue;
        }
        int on_new = 0, in_cohort = 0;
        for (int i = 0; i < SAMPLE; i++) {
            char org[32], user[32], session[32], request[32];
            char vals[SAMPLE_ATTRS][160];
            rollout_attr attrs[SAMPLE_ATTRS];
            rollout_context ctx;
            memset(&ctx, 0, sizeof ctx);
            snprintf(org, sizeof org, "org-%05d", i);
            snprintf(user, sizeof user, "user-%d", i);
            snprintf(session, sizeof session, "s-%d", i);
            snprintf(request, sizeof request, "r-%d", i);
            ctx.org = org;
            ctx.user = user;
            if (r->orgs) {
                const rp_id *id = &r->orgs->items[(size_t)i % r->orgs->n];
                ctx.org = id->s;
                ctx.org_len = id->len;
            } else {
                ctx.org_len = strlen(org);
            }
            if (r->users) {
                const rp_id *id = &r->users->items[(size_t)i % r->users->n];
                ctx.user = id->s;
                ctx.user_len = id->len;
            } else {
                ctx.user_len = strlen(user);
            }
            ctx.session = session;
            ctx.session_len = strlen(session);
            ctx.request = request;
            ctx.request_len = strlen(request);
            for (int a = 0; a < r->n_attrs; a++) {
                const char *v = r->attrs[a].value;
                size_t vn = r->attrs[a].value_len;
                if (r->attrs[a].in) {
                    const rp_id *id = &r->attrs[a].in->items[(size_t)i % r->attrs[a].in->n];
                    v = id->s;
                    vn = id->len;
                } else if (r->attrs[a].lit) {
                    /* the literal where its anchors put it, a numbered part elsewhere */
                    int where = r->attrs[a].lit - 1;
                    int len = (where & 1) ? snprintf(vals[a], sizeof vals[a], "%.*s%s%d",
                                                     (int)(vn < 100 ? vn : 100), v,
                                                     (where & 2) ? "" : "-", i)
                                          : snprintf(vals[a], sizeof vals[a], "u%d%.*s", i,
                                                     (int)(vn < 100 ? vn : 100), v);
                    if ((where & 1) && (where & 2))
                        len = snprintf(vals[a], sizeof vals[a], "%.*s",
                                       (int)(vn < 100 ? vn : 100), v);
                    v = vals[a];
                    vn = (size_t)len;
                }
                attrs[a] = (rollout_attr){r->attrs[a].attr, r->attrs[a].attr_len, v, vn};
            }
            ctx.attrs = attrs;
            ctx.n_attrs = (size_t)r->n_attrs;
            rollout_decision d;
            /* after a rollback no cohort is looked at: every sample counts */
            if (rollout_decide(p, &s->state, t, &ctx, &d) != ROLLOUT_OK ||
                (d.cohort >= 0 && d.cohort != c))
                continue;
            in_cohort++;
            on_new += d.variant == ROLLOUT_NEW;
        }
        if (in_cohort)
            printf("%.1f%%", 100.0 * on_new / in_cohort);
        else
            printf("- (an earlier cohort takes its samples)");
    }
    printf("\n");
}

static bool write_file(const char *dir, const char *name, const char *data, size_t len,
                       char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static void write_calendar(const sim *s, const rollout_state *st, const char *dir)
{
    static const struct { int format; const char *name; } outputs[] = {
        {ROLLOUT_CALENDAR_ICS, "calendar.ics"},
        {ROLLOUT_CALENDAR_SVG, "weights.svg"},
        {ROLLOUT_CALENDAR_JSON, "calendar.json"},
    };
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "rollout simulate: cannot create %s: %s\n", cli_text(dir), strerror(errno));
        return;
    }
    printf("\nFiles:\n");
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        size_t needed = 0;
        if (rollout_calendar_render(s->plan, st, outputs[i].format, NULL, 0, &needed) !=
            ROLLOUT_ERR_BUFFER)
            continue;
        char *buf = malloc(needed + 1);
        char path[512];
        if (buf && rollout_calendar_render(s->plan, st, outputs[i].format, buf, needed + 1,
                                           NULL) == ROLLOUT_OK &&
            write_file(dir, outputs[i].name, buf, needed, path, sizeof path))
            printf("  %s\n", cli_text(path));
        free(buf);
    }
}

static int walk(sim *s)
{
    const rollout_plan *p = s->plan;
    char when[48], at[32];
    rollout_event ev = {.type = ROLLOUT_EVENT_START, .gate = -1};
    printf("\n%s  %s  start\n", (rp_format_time(s->start, at, sizeof at), at), "T+0");
    if (apply(s, ev, s->start, false))
        return CLI_INVALID;
    sample_decisions(s, s->start);
    int64_t t = s->start;
    for (int guard = 0; guard < 4 * (ROLLOUT_MAX_STEPS + ROLLOUT_MAX_GATES); guard++) {
        rollout_schedule_info info;
        rollout_schedule(p, &s->state, t, &info);
        if (info.gate_pending) {
            int g = info.gate;
            const char *gid = rollout_plan_gate_name(p, g);
            rp_format_time(t, at, sizeof at);
            offset_str(s->start, t, when, sizeof when);
            bool criteria = p->gates[g].criteria >= 0;
            printf("\n%s  %s  gate %s: approvals, %s, GO\n", at, when, cli_text(gid),
                   criteria ? "criteria PASS" : "no criteria to judge");
            for (int r = 0; r < p->n_roles; r++) {
                if (!(p->gates[g].approvers & (1u << r)))
                    continue;
                rollout_event ap = {.type = ROLLOUT_EVENT_APPROVE, .gate = g, .role = r};
                if (apply(s, ap, t, true))
                    return CLI_INVALID;
                printf("      approved by %s\n", cli_text(p->roles[r].name));
            }
            rollout_event v = {.type = ROLLOUT_EVENT_VERDICT, .verdict = ROLLOUT_VERDICT_PASS};
            rollout_event go = {.type = ROLLOUT_EVENT_GO, .gate = g};
            if ((criteria && apply(s, v, t, true)) || apply(s, go, t, false))
                return CLI_INVALID;
            continue;
        }
        if (info.next_change == ROLLOUT_CHANGE_NONE || info.next_at == INT64_MAX)
            break;
        t = info.next_at;
        rp_format_time(t, at, sizeof at);
        offset_str(s->start, t, when, sizeof when);
        const char *what = info.next_change == ROLLOUT_CHANGE_STEP       ? "step"
                           : info.next_change == ROLLOUT_CHANGE_GATE     ? "gate falls due"
                           : info.next_change == ROLLOUT_CHANGE_COMPLETE ? "bake ends"
                                                                         : "wait";
        if (info.next_change == ROLLOUT_CHANGE_STEP)
            printf("\n%s  %s  %s %d of phase %s\n", at, when, what, info.next_step + 1,
                   cli_text(rollout_plan_phase_name(p, info.next_phase)));
        else
            printf("\n%s  %s  %s\n", at, when, what);
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
        if (apply(s, tick, t, false))
            return CLI_INVALID;
        if (info.next_change == ROLLOUT_CHANGE_STEP)
            sample_decisions(s, t);
    }
    printf("\nstatus: %s\n", rollout_status_name(s->state.status));
    return CLI_OK;
}

/* A rollback in the middle of the pilot: the procedure step by step. */
static int rollback_scenario(sim *s)
{
    const rollout_plan *p = s->plan;
    sim r = *s;
    rollout_state_init(p, &r.state);
    rollout_event start = {.type = ROLLOUT_EVENT_START, .gate = -1};
    if (apply(&r, start, r.start, true))
        return CLI_INVALID;
    /* get past the first gate, then roll back 90 minutes into the ramp after it */
    int64_t t = r.start;
    rollout_schedule_info info;
    rollout_schedule(p, &r.state, t, &info);
    if (info.gate >= 0) {
        t = info.gate_due;
        rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
        apply(&r, tick, t, true);
        /* the gate's approvers approve and its criteria pass */
        const rp_gate *gate = &p->gates[info.gate];
        for (int role = 0; role < p->n_roles; role++) {
            rollout_event approve = {.type = ROLLOUT_EVENT_APPROVE, .gate = info.gate, .role = role};
            if ((gate->approvers & (1u << role)) && apply(&r, approve, t, true))
                return CLI_INVALID;
        }
        rollout_event pass = {.type = ROLLOUT_EVENT_VERDICT, .verdict = ROLLOUT_VERDICT_PASS};
        rollout_event go = {.type = ROLLOUT_EVENT_GO, .gate = info.gate};
        if ((gate->criteria >= 0 && apply(&r, pass, t, true)) || apply(&r, go, t, true))
            return CLI_INVALID;
    }
    rollout_schedule(p, &r.state, t, &info);
    if (info.next_change == ROLLOUT_CHANGE_STEP && info.next_at != INT64_MAX) {
        t = info.next_at + 90 * 60;
        /* a ramp that ends sooner: halfway to its completion instead */
        if (info.complete_at != INT64_MAX && t >= info.complete_at)
            t = info.next_at + (info.complete_at - info.next_at) / 2;
    }
    rollout_event tick = {.type = ROLLOUT_EVENT_TICK};
    apply(&r, tick, t, true);
    if (r.state.status == ROLLOUT_STATUS_COMPLETED) {
        /* the first GO completed the rollout: roll back before that gate */
        rollout_state_init(p, &r.state);
        if (apply(&r, start, r.start, true))
            return CLI_INVALID;
        rollout_schedule(p, &r.state, r.start, &info);
        t = r.start + (info.gate_due != INT64_MAX && info.gate >= 0
                           ? (info.gate_due - r.start) / 2
                           : 0);
        apply(&r, tick, t, true);
    }
    char at[32], when[48];
    rp_format_time(t, at, sizeof at);
    offset_str(r.start, t, when, sizeof when);
    printf("\n--- Rollback scenario: at %s (%s), phase %s ---\n", at, when,
           r.state.phase >= 0 ? cli_text(rollout_plan_phase_name(p, r.state.phase)) : "-");
    sample_decisions(&r, t);
    /* a critical bug when the plan lists it as a trigger, else its first */
    int reason = ROLLOUT_ROLLBACK_MANUAL;
    uint32_t triggers = p->rollback.triggers;
    if (triggers & (1u << ROLLOUT_ROLLBACK_CRITICAL_BUG))
        reason = ROLLOUT_ROLLBACK_CRITICAL_BUG;
    else
        for (int k = 0; k < ROLLOUT_ROLLBACK_COUNT; k++)
            if (triggers & (1u << k)) {
                reason = k;
                break;
            }
    rollout_event rb = {.type = ROLLOUT_EVENT_ROLLBACK, .reason = reason};
    printf("\n%s  rollback (%s)\n", when, rollout_rollback_reason_name(reason));
    if (apply(&r, rb, t, false))
        return CLI_INVALID;
    /* each step of the plan's procedure confirmed in its order, 4 minutes apart */
    for (size_t i = 0; i < p->rollback.n_steps; i++) {
        int what;
        switch (p->rollback.steps[i].action) {
        case RP_RB_HALT_TRAFFIC: what = ROLLOUT_CONFIRM_TRAFFIC_HALTED; break;
        case RP_RB_RESTORE_PREVIOUS: what = ROLLOUT_CONFIRM_PREVIOUS_RESTORED; break;
        case RP_RB_RUN_SMOKE_TESTS: what = ROLLOUT_CONFIRM_SMOKE_PASSED; break;
        case RP_RB_RESUME_SERVICE: what = ROLLOUT_CONFIRM_SERVICE_RESUMED; break;
        case RP_RB_OPEN_INCIDENT: what = ROLLOUT_CONFIRM_INCIDENT_OPENED; break;
        default: continue; /* paging and the post-mortem need no answer */
        }
        if (r.state.status != ROLLOUT_STATUS_ROLLING_BACK)
            break;
        t += 4 * 60;
        offset_str(r.start, t, when, sizeof when);
        printf("%s  confirmed: %s\n", when, rollout_confirmation_name(what));
        rollout_event c = {.type = ROLLOUT_EVENT_CONFIRM, .confirmation = what};
        if (apply(&r, c, t, false))
            return CLI_INVALID;
    }
    printf("status: %s; every context now decides STABLE:\n", rollout_status_name(r.state.status));
    sample_decisions(&r, t);
    return CLI_OK;
}

int cmd_simulate(int argc, char **argv)
{
    const char *path = NULL, *out_dir = "rollout-out", *v;
    int64_t start = 0;
    bool have_start = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: rollout simulate [PLAN] [--start TIME] [--out DIR]\n\n"
                   "Walks the whole rollout through the library: every step and gate\n"
                   "(each gate approved with a PASS verdict), the actions the state\n"
                   "machine returns, the share of sample requests each cohort sends\n"
                   "to the new version, then a rollback in the middle of the rollout\n"
                   "through the plan's own procedure. The samples are built from each\n"
                   "cohort's rules: ids from its id lists, attribute values from equals,\n"
                   "in and literal patterns; a cohort only other patterns or a `not`\n"
                   "select gets none (shown as -). Gates without criteria are approved\n"
                   "without a verdict. Offsets are written as `rollout calendar` writes\n"
                   "them (docs/scheduling.md).\n"
                   "Writes calendar.ics, weights.svg and calendar.json to DIR\n"
                   "(default rollout-out).\n");
            return CLI_OK;
        } else if (cli_opt(argc, argv, &i, "--start", &v)) {
            if (!cli_parse_time(v, &start))
                return CLI_USAGE;
            have_start = true;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out_dir = v;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: rollout simulate [PLAN] [--start TIME] [--out DIR]\n");
            return CLI_USAGE;
        }
    }
    rollout_plan *plan;
    int load_rc = cli_load_plan(path, &plan);
    if (load_rc)
        return load_rc;
    sim *s = calloc(1, sizeof *s);
    if (!s) {
        rollout_plan_unref(plan);
        return CLI_USAGE;
    }
    s->plan = plan;
    s->start = have_start ? start : rollout_plan_start(plan);
    rollout_state_init(plan, &s->state);
    printf("Plan %s%s%s\n", cli_text(rollout_plan_id(plan)), plan->description ? ": " : "",
           plan->description ? cli_text(plan->description) : "");
    printf("versions: %s -> %s; %d phases, %d gates, %d cohorts\n",
           cli_text(rollout_plan_version_label(plan, 0)),
           cli_text(rollout_plan_version_label(plan, 1)),
           rollout_plan_phase_count(plan), rollout_plan_gate_count(plan),
           rollout_plan_cohort_count(plan));
    derive_samples(s);
    int rc = walk(s);
    rollout_state calendar_state;
    rollout_state_init(plan, &calendar_state);
    calendar_state.status = ROLLOUT_STATUS_RUNNING;
    calendar_state.started_at = s->start;
    if (!rc)
        rc = rollback_scenario(s);
    if (!rc)
        write_calendar(s, &calendar_state, out_dir);
    free(s);
    rollout_plan_unref(plan);
    return rc;
}
