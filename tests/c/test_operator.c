/* SPDX-License-Identifier: MIT */
/*
 * test_operator.c — the operator's plan fields (auto_go, operator:) and the
 * pure parts of operator/: query templates, reading Prometheus answers,
 * building a snapshot from them, the outbox entries and the journal.
 * tests/operator runs the whole operator against real servers.
 */
#define _DEFAULT_SOURCE /* strdup, setenv, mkdtemp */
#include <criterion/criterion.h>

#include "operator.h"
#include "support.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The seed with extra keys on the canary gate and an operator: section. */
static char *seed_with(const char *gate_extra, const char *operator_yaml)
{
    size_t len;
    char *yaml = t_read_file("examples/plans/seed.yaml", &len);
    const char *needle = "criteria: canary\n      on_no_go: rollback\n";
    char *at = strstr(yaml, needle);
    cr_assert(at);
    size_t n = len + strlen(gate_extra) + strlen(operator_yaml) + 64;
    char *out = malloc(n);
    cr_assert(out);
    snprintf(out, n, "%.*s%s%s%s", (int)(at - yaml + strlen(needle)), yaml, gate_extra,
             at + strlen(needle), operator_yaml);
    free(yaml);
    return out;
}

static const char *const OPERATOR =
    "operator:\n"
    "  prometheus:\n"
    "    url: http://127.0.0.1:9090\n"
    "    timeout: 3s\n"
    "    window: 5m\n"
    "    queries:\n"
    "      requests: 'sum(increase(req{version=\"{{version}}\"}[{{window}}]))'\n"
    "      errors: 'sum(increase(err{version=\"{{version}}\"}[{{window}}]))'\n"
    "      critical_errors: 'sum(crit{version=\"{{version}}\"})'\n"
    "      data_integrity_issues: 'max(di{version=\"{{version}}\"})'\n"
    "    smoke_tests: 'min(smoke{version=\"{{version}}\",test=\"{{test}}\"})'\n"
    "  channels:\n"
    "    slack: {url: 'http://hooks.example/slack', format: slack}\n"
    "    emergency: {url_env: ROLLOUT_TEST_UNSET_VARIABLE}\n"
    "    default: {url: 'https://hooks.example/any'}\n"
    "  hooks:\n"
    "    halt_traffic: 'echo halt'\n"
    "    run_smoke_tests: './smoke.sh \"$ROLLOUT_VERSION\"'\n"
    "    timeout: 2m\n";

static rollout_plan *load(const char *gate_extra, const char *op)
{
    char *yaml = seed_with(gate_extra, op);
    rollout_plan *p = t_plan(yaml);
    free(yaml);
    return p;
}

static int load_error(const char *gate_extra, const char *op, rollout_error *err)
{
    char *yaml = seed_with(gate_extra, op);
    int rc = t_plan_error(yaml, err);
    free(yaml);
    return rc;
}

/* ---- plan fields ---------------------------------------------------------- */

Test(operator_plan, auto_go_and_the_operator_section_load)
{
    rollout_plan *p = load("      auto_go: true\n", OPERATOR);
    cr_assert(p->gates[0].auto_go);
    cr_assert_not(p->gates[1].auto_go);
    const rp_operator *op = &p->op;
    cr_assert(op->present);
    cr_assert_str_eq(op->prom_url, "http://127.0.0.1:9090");
    cr_assert_eq(op->prom_timeout, 3);
    cr_assert_eq(op->prom_window, 300);
    cr_assert_eq(op->n_queries, 4);
    cr_assert_str_eq(op->queries[2].metric, "critical_errors");
    cr_assert_eq(op->n_channels, 3);
    cr_assert_eq(op->channels[0].format, RP_OP_SLACK);
    cr_assert_eq(op->channels[2].format, RP_OP_JSON);
    cr_assert_str_eq(op->channels[1].url_env, "ROLLOUT_TEST_UNSET_VARIABLE");
    cr_assert_str_eq(op->hooks[RP_RB_HALT_TRAFFIC], "echo halt");
    cr_assert_null(op->hooks[RP_RB_RESTORE_PREVIOUS]);
    cr_assert_eq(op->hook_timeout, 120);
    rollout_plan_unref(p);
}

Test(operator_plan, defaults_without_the_section)
{
    rollout_plan *p = t_seed();
    cr_assert_not(p->op.present);
    cr_assert_not(p->gates[0].auto_go);
    rollout_plan_unref(p);
    p = load("", "operator: {}\n");
    cr_assert(p->op.present);
    cr_assert_eq(p->op.prom_timeout, 5);
    cr_assert_eq(p->op.prom_window, 600);
    cr_assert_eq(p->op.hook_timeout, 600);
    rollout_plan_unref(p);
}

/* A webhook URL or a query says how the rollout is watched: editing one must
 * not make every stored state another plan's. auto_go is the gate's policy
 * and is part of it. */
Test(operator_plan, the_operator_section_is_not_in_the_fingerprint)
{
    rollout_plan *seed = t_seed();
    rollout_plan *with = load("", OPERATOR);
    rollout_plan *auto_go = load("      auto_go: true\n", "");
    cr_assert_eq(rollout_plan_fingerprint(seed), rollout_plan_fingerprint(with));
    cr_assert_neq(rollout_plan_fingerprint(seed), rollout_plan_fingerprint(auto_go));
    /* the dump still carries it, and loads back */
    char *buf = malloc(1 << 20);
    cr_assert_eq(rollout_plan_dump(with, ROLLOUT_FORMAT_YAML, buf, 1 << 20, NULL), ROLLOUT_OK);
    cr_assert(strstr(buf, "operator:"));
    cr_assert(strstr(buf, "url_env: ROLLOUT_TEST_UNSET_VARIABLE"));
    rollout_plan *again = t_plan(buf);
    cr_assert_eq(again->op.n_queries, 4);
    cr_assert_eq(again->op.n_channels, 3);
    cr_assert_str_eq(again->op.hooks[RP_RB_RUN_SMOKE_TESTS], with->op.hooks[RP_RB_RUN_SMOKE_TESTS]);
    free(buf);
    rollout_plan_unref(again);
    rollout_plan_unref(seed);
    rollout_plan_unref(with);
    rollout_plan_unref(auto_go);
}

typedef struct bad_case {
    const char *gate_extra, *op;
    int code;
    const char *field, *text;
} bad_case;

Test(operator_plan, errors_name_the_place)
{
    static const bad_case cases[] = {
        {"      auto_go: yes-please\n", "", ROLLOUT_ERR_VALUE, "auto_go", "boolean"},
        {"", "operator: {promethus: {}}\n", ROLLOUT_ERR_UNKNOWN_KEY, "operator", "promethus"},
        {"", "operator:\n  prometheus:\n    queries:\n      latency_p96: 'x'\n",
         ROLLOUT_ERR_REFERENCE, "operator.prometheus.queries", "latency_p96"},
        {"", "operator:\n  prometheus:\n    queries:\n      errors: 'e{v=\"{{versoin}}\"}'\n",
         ROLLOUT_ERR_VALUE, "operator.prometheus.queries.errors", "unknown placeholder"},
        {"", "operator:\n  prometheus:\n    queries:\n      errors: 'e{t=\"{{test}}\"}'\n",
         ROLLOUT_ERR_VALUE, "operator.prometheus.queries.errors", "smoke_tests"},
        {"", "operator:\n  prometheus:\n    smoke_tests: 'x{{version'\n", ROLLOUT_ERR_VALUE,
         "operator.prometheus.smoke_tests", "never closed"},
        {"", "operator:\n  prometheus:\n    url: ftp://x\n", ROLLOUT_ERR_VALUE,
         "operator.prometheus.url", "http"},
        {"", "operator:\n  prometheus:\n    timeout: 0s\n", ROLLOUT_ERR_RANGE,
         "operator.prometheus.timeout", "at least"},
        {"", "operator:\n  channels:\n    slack: {url: 'http://a', url_env: B}\n",
         ROLLOUT_ERR_MISSING, "operator.channels.slack", "one of the two"},
        {"", "operator:\n  channels:\n    slack: {format: json}\n", ROLLOUT_ERR_MISSING,
         "operator.channels.slack", "url"},
        {"", "operator:\n  channels:\n    slack: {url: 'http://a', format: teams}\n",
         ROLLOUT_ERR_VALUE, "operator.channels.slack.format", "teams"},
        {"", "operator:\n  hooks:\n    postmortem: 'x'\n", ROLLOUT_ERR_UNKNOWN_KEY,
         "operator.hooks", "postmortem"},
        {"", "operator:\n  hooks:\n    halt_traffic: ''\n", ROLLOUT_ERR_VALUE,
         "operator.hooks.halt_traffic", "1 to"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rollout_error err;
        int rc = load_error(cases[i].gate_extra, cases[i].op, &err);
        cr_assert_eq(rc, cases[i].code, "case %zu: %s (%s)", i, rollout_code_name(rc),
                     err.message);
        cr_assert(strstr(err.field, cases[i].field), "case %zu: field %s", i, err.field);
        cr_assert(strstr(err.message, cases[i].text), "case %zu: %s", i, err.message);
        cr_assert_gt(err.line, 0, "case %zu: no line", i);
        cr_assert_gt(err.column, 0, "case %zu: no column", i);
        cr_assert(strncmp(err.message, "test.yaml:", 10) == 0, "case %zu: %s", i, err.message);
    }
}

Test(operator_plan, auto_go_needs_criteria)
{
    const char *plan =
        "format: 1\nid: x\nsalt: s\nstart: 2026-01-01T00:00:00Z\n"
        "versions: {stable: a, new: b}\nroles: {lead: Lead}\n"
        "cohorts: [{id: all, match: {everyone: true}}]\n"
        "phases:\n  - id: p\n    cohort: all\n    steps: [{at: 0h, weight: 10%, unit: user}]\n"
        "    gate: {id: g, at: 1h, approvers: [lead], auto_go: true}\n"
        "rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}\n";
    rollout_error err;
    cr_assert_eq(t_plan_error(plan, &err), ROLLOUT_ERR_VALUE, "%s", err.message);
    cr_assert(strstr(err.message, "names no criteria"), "%s", err.message);
    cr_assert_eq(err.line, 12);
}

/* ---- query templates and Prometheus answers ----------------------------------- */

Test(operator_prom, templates_expand)
{
    char out[256];
    cr_assert_eq(op_template("sum(x{v=\"{{version}}\",t=\"{{test}}\"}[{{window}}])", "app:new",
                             600, "login", out, sizeof out), 0);
    cr_assert_str_eq(out, "sum(x{v=\"app:new\",t=\"login\"}[600s])");
    /* no test given: {{test}} stays as written (the plan refused it outside smoke_tests) */
    cr_assert_eq(op_template("{{version}}{{test}}", "v", 1, NULL, out, sizeof out), 0);
    cr_assert_str_eq(out, "v{{test}}");
    cr_assert_eq(op_template("{{version}}", "abcdefgh", 1, NULL, out, 8), -1);
    cr_assert_eq(op_template("abc", "v", 1, NULL, out, 4), 0);
    cr_assert_eq(op_template("abcd", "v", 1, NULL, out, 4), -1);
}

static int value_of(const char *json, double *v, char *why)
{
    return op_prom_value(json, strlen(json), v, why, 200);
}

Test(operator_prom, answers_give_a_number_or_why_not)
{
    double v = -1;
    char why[200];
    cr_assert_eq(value_of("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                          "\"result\":[{\"metric\":{},\"value\":[1,\"42.5\"]}]}}", &v, why), 0);
    cr_assert_float_eq(v, 42.5, 1e-12);
    cr_assert_eq(value_of("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                          "\"result\":[1,\"7\"]}}", &v, why), 0);
    cr_assert_float_eq(v, 7, 1e-12);
    static const struct { const char *json, *why; } bad[] = {
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", "empty"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
         "[{\"value\":[1,\"NaN\"]}]}}", "NaN"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
         "[{\"value\":[1,\"+Inf\"]}]}}", "Inf"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
         "[{\"value\":[1,\"1\"]},{\"value\":[1,\"2\"]}]}}", "2 series"},
        {"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error\"}",
         "parse error"},
        {"<html>proxy error</html>", "not JSON"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
         "[{\"value\":[1,\"12abc\"]}]}}", "not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = -1;
        cr_assert_eq(value_of(bad[i].json, &v, why), 1, "case %zu", i);
        cr_assert(strstr(why, bad[i].why), "case %zu: %s", i, why);
        cr_assert_eq(v, -1);
    }
}

/* A fake Prometheus: answers by the query's text. */
typedef struct fake {
    int calls;
    char seen[64][256];
} fake;

static int fake_fetch(void *ctx, const char *query, int64_t at, char **body, size_t *len,
                      char *why, size_t cap)
{
    fake *f = ctx;
    if (f->calls < 64)
        snprintf(f->seen[f->calls], sizeof f->seen[0], "%s", query);
    f->calls++;
    cr_assert_eq(at, 1772276400);
    const char *value = NULL;
    if (strstr(query, "crit{"))
        value = "0";
    else if (strstr(query, "req{"))
        value = strstr(query, "app:candidate") ? "120000.4" : "500000";
    else if (strstr(query, "err{"))
        value = strstr(query, "app:candidate") ? "84" : "600";
    else if (strstr(query, "smoke{"))
        value = strstr(query, "login-logout") ? "0" : "1";
    if (strstr(query, "di{")) {
        snprintf(why, cap, "connection refused");
        return 1;
    }
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
             "[{\"metric\":{},\"value\":[1,\"%s\"]}]}}", value ? value : "NaN");
    *body = strdup(buf);
    *len = strlen(buf);
    return 0;
}

static int notes;
static void count_note(void *ctx, const char *metric, const char *version, const char *why)
{
    notes++;
}

Test(operator_prom, a_snapshot_from_the_answers)
{
    rollout_plan *p = load("", OPERATOR);
    fake f = {0};
    rollout_metrics *m;
    int unreachable = -1;
    notes = 0;
    cr_assert_eq(op_snapshot(p, 1772276400, fake_fetch, &f, count_note, NULL, &m, &unreachable),
                 ROLLOUT_OK);
    /* 4 metrics x 2 versions, 7 smoke tests of the new version */
    cr_assert_eq(f.calls, 4 * 2 + 7);
    cr_assert_str_eq(f.seen[0], "sum(increase(req{version=\"app:candidate\"}[300s]))");
    cr_assert_eq(unreachable, 2, "data_integrity_issues failed for both versions");
    cr_assert_eq(notes, 2);
    double v;
    cr_assert_eq(rollout_metrics_get(m, ROLLOUT_NEW, "requests", &v), ROLLOUT_OK);
    cr_assert_eq(v, 120000, "counts are whole: increase() extrapolates");
    cr_assert_eq(rollout_metrics_get(m, ROLLOUT_STABLE, "errors", &v), ROLLOUT_OK);
    cr_assert_eq(v, 600);
    cr_assert_eq(rollout_metrics_get(m, ROLLOUT_NEW, "data_integrity_issues", &v),
                 ROLLOUT_ERR_NOT_FOUND);
    /* the canary: smoke login-logout failed, data integrity unknown */
    rollout_evaluation ev;
    cr_assert_eq(rollout_evaluate(p, ROLLOUT_EVAL_CRITERIA, "canary", m, &ev, NULL), ROLLOUT_OK);
    for (int i = 0; i < ev.n_results; i++) {
        if (!strcmp(ev.results[i].id, "data-integrity"))
            cr_assert_eq(ev.results[i].verdict, ROLLOUT_VERDICT_INCONCLUSIVE);
        if (!strcmp(ev.results[i].id, "smoke-tests"))
            cr_assert_eq(ev.results[i].verdict, ROLLOUT_VERDICT_FAIL);
        if (!strcmp(ev.results[i].id, "zero-critical-errors"))
            cr_assert_eq(ev.results[i].verdict, ROLLOUT_VERDICT_PASS);
    }
    cr_assert_neq(ev.verdict, ROLLOUT_VERDICT_PASS);
    rollout_metrics_free(m);
    rollout_plan_unref(p);
}

/* Nothing answers: nothing passes. */
static int down_fetch(void *ctx, const char *query, int64_t at, char **body, size_t *len,
                      char *why, size_t cap)
{
    snprintf(why, cap, "Couldn't connect to server");
    return 1;
}

Test(operator_prom, prometheus_down_is_inconclusive_never_pass)
{
    rollout_plan *p = load("", OPERATOR);
    rollout_metrics *m;
    int unreachable = 0;
    cr_assert_eq(op_snapshot(p, 1, down_fetch, NULL, count_note, NULL, &m, &unreachable),
                 ROLLOUT_OK);
    cr_assert_eq(unreachable, 4 * 2 + 7);
    rollout_evaluation ev;
    cr_assert_eq(rollout_evaluate(p, ROLLOUT_EVAL_GATE, "canary-go", m, &ev, NULL), ROLLOUT_OK);
    cr_assert_eq(ev.verdict, ROLLOUT_VERDICT_INCONCLUSIVE);
    cr_assert_eq(ev.n_pass, 0);
    rollout_metrics_free(m);
    rollout_plan_unref(p);
}

/* ---- outbox entries and webhook bodies --------------------------------------- */

Test(operator_outbox, entries_per_channel_with_their_keys)
{
    rollout_plan *p = load("", OPERATOR);
    rollout_state s;
    rollout_state_init(p, &s);
    s.revision = 12;
    s.updated_at = 1772269200;
    rollout_action a[4];
    memset(a, 0, sizeof a);
    a[0].type = ROLLOUT_ACTION_SET_WEIGHT;
    a[1].type = ROLLOUT_ACTION_NOTIFY;
    a[1].id = "pilot-start";
    a[1].channel = "email+in-app-banner";
    a[1].text = "Email to pilot orgs + in-app banner";
    a[1].audience = "pilot-orgs";
    a[1].roles = 1u << 4;
    a[2].type = ROLLOUT_ACTION_PAGE;
    a[2].id = "page";
    a[3].type = ROLLOUT_ACTION_ESCALATE;
    a[3].due = 1772271000;
    op_entries e;
    cr_assert_eq(op_entries_build(p, &s, a, 4, &e), ROLLOUT_OK);
    cr_assert_eq(e.n, 4);
    cr_assert_str_eq(e.keys[0], "ledger-v2/12/1/email");
    cr_assert_str_eq(e.keys[1], "ledger-v2/12/1/in-app-banner");
    cr_assert_str_eq(e.keys[2], "ledger-v2/12/2/page");
    cr_assert_str_eq(e.keys[3], "ledger-v2/12/3/escalate");
    cr_assert(strstr(e.bodies[1], "\"idempotency_key\":\"ledger-v2/12/1/in-app-banner\""));
    cr_assert(strstr(e.bodies[1], "\"audience\":\"pilot-orgs\""));
    cr_assert(strstr(e.bodies[1], "\"roles\":[\"product\"]"), "%s", e.bodies[1]);
    cr_assert(strstr(e.bodies[3], "\"due\":\"2026-02-28T09:30:00Z\""), "%s", e.bodies[3]);
    cr_assert_null(strchr(e.bodies[0], '\n'));
    /* Slack gets text and the key; JSON the whole body */
    char *slack = op_render(e.bodies[0], RP_OP_SLACK);
    cr_assert_str_eq(slack, "{\"idempotency_key\":\"ledger-v2/12/1/email\",\"text\":"
                            "\"[ledger-v2] notify pilot-start: Email to pilot orgs + in-app "
                            "banner (audience: pilot-orgs)\"}");
    char *json = op_render(e.bodies[0], RP_OP_JSON);
    cr_assert_str_eq(json, e.bodies[0]);
    free(slack);
    free(json);
    op_entries_free(&e);
    rollout_plan_unref(p);
}

Test(operator_outbox, channels_fall_back_to_default_or_say_why)
{
    rollout_plan *p = load("", OPERATOR);
    const char *url;
    char why[200];
    cr_assert_eq(op_channel(p, "slack", &url, why, sizeof why)->format, RP_OP_SLACK);
    cr_assert_str_eq(url, "http://hooks.example/slack");
    cr_assert_not_null(op_channel(p, "marketing", &url, why, sizeof why));
    cr_assert_str_eq(url, "https://hooks.example/any");
    unsetenv("ROLLOUT_TEST_UNSET_VARIABLE");
    cr_assert_null(op_channel(p, "emergency", &url, why, sizeof why));
    cr_assert(strstr(why, "ROLLOUT_TEST_UNSET_VARIABLE is not set"), "%s", why);
    setenv("ROLLOUT_TEST_UNSET_VARIABLE", "http://from-env", 1);
    cr_assert_not_null(op_channel(p, "emergency", &url, why, sizeof why));
    cr_assert_str_eq(url, "http://from-env");
    unsetenv("ROLLOUT_TEST_UNSET_VARIABLE");
    rollout_plan_unref(p);
    p = load("", "operator:\n  channels:\n    slack: {url: 'http://a'}\n");
    cr_assert_null(op_channel(p, "email", &url, why, sizeof why));
    cr_assert(strstr(why, "no webhook for channel \"email\""), "%s", why);
    rollout_plan_unref(p);
}

/* ---- the state file's journal ----------------------------------------------- */

Test(operator_journal, owed_done_void_and_torn_records)
{
    const char *text = "O 3 p/3/0/slack {\"a\":1}\n"
                       "O 3 p/3/1/email {\"a\":2}\n"
                       "D p/3/0/slack\n"
                       "O 4 p/4/0/page {\"a\":3}\n"     /* the state is at 3: void */
                       "M hold/p/1/smoke\n"
                       "O 3 p/3/2/email {\"a\":4}";    /* torn: no newline */
    op_journal j;
    cr_assert_eq(op_journal_parse(text, strlen(text), 3, &j), ROLLOUT_OK);
    cr_assert_eq(j.n, 1);
    cr_assert_str_eq(j.keys[0], "p/3/1/email");
    cr_assert_str_eq(j.bodies[0], "{\"a\":2}");
    cr_assert_eq(j.n_void, 1);
    cr_assert_eq(j.n_done, 1);
    cr_assert(op_journal_marked(&j, "hold/p/1/smoke"));
    cr_assert_not(op_journal_marked(&j, "hold/p/1/halt"));
    op_journal_free(&j);
    /* once the state reaches 4, the page is owed */
    cr_assert_eq(op_journal_parse(text, strlen(text), 4, &j), ROLLOUT_OK);
    cr_assert_eq(j.n, 2);
    cr_assert_str_eq(j.keys[1], "p/4/0/page");
    op_journal_free(&j);
}

Test(operator_journal, a_key_recorded_again_is_owed_once)
{
    const char *text = "O 5 p/5/0/slack {\"try\":1}\nO 5 p/5/0/slack {\"try\":2}\n";
    op_journal j;
    cr_assert_eq(op_journal_parse(text, strlen(text), 5, &j), ROLLOUT_OK);
    cr_assert_eq(j.n, 1);
    cr_assert_str_eq(j.bodies[0], "{\"try\":2}");
    op_journal_free(&j);
}

Test(operator_journal, append_cuts_a_torn_line_and_compacts)
{
    char dir[] = "/tmp/rollout-journal-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.outbox", dir);
    FILE *f = fopen(path, "w");
    fputs("O 1 p/1/0/slack {}\nO 2 p/2/0/x {\"to", f); /* a crash mid-line */
    fclose(f);
    char *line = op_journal_owed(2, "p/2/0/email", "{\"b\":1}");
    cr_assert_eq(op_journal_append(path, line), ROLLOUT_OK);
    free(line);
    op_journal j;
    cr_assert_eq(op_journal_load(path, 2, &j), ROLLOUT_OK);
    cr_assert_eq(j.n, 2);
    cr_assert_str_eq(j.keys[1], "p/2/0/email");
    cr_assert_eq(op_journal_append(path, "D p/1/0/slack\nM hold/x\n"), ROLLOUT_OK);
    op_journal_free(&j);
    cr_assert_eq(op_journal_load(path, 2, &j), ROLLOUT_OK);
    cr_assert_eq(op_journal_compact(path, &j, 2), ROLLOUT_OK);
    op_journal_free(&j);
    size_t len;
    char *text = t_read_file(path, &len);
    cr_assert_str_eq(text, "O 2 p/2/0/email {\"b\":1}\nM hold/x\n");
    free(text);
    unlink(path);
    rmdir(dir);
}

/* A crash after a transition's O records were fsynced and before its state
 * was renamed into place leaves void records under the next revision. The
 * transition that takes that revision instead may owe nothing (an approval):
 * the void records must still go, or the state reaching that revision makes
 * them owed, and a transition that never happened is delivered. */
Test(operator_journal, void_records_go_when_the_next_transition_owes_nothing)
{
    char dir[] = "/tmp/rollout-journal-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.outbox", dir);
    FILE *f = fopen(path, "w");
    fputs("O 4 p/4/0/email {\"owed\":true}\n"  /* the state is at 4 */
          "O 5 p/5/0/slack {\"void\":true}\n", /* its transition never happened */
          f);
    fclose(f);
    rollout_plan *p = load("", OPERATOR);
    rollout_state s;
    rollout_state_init(p, &s);
    s.revision = 5;
    op_entries ent = {.plan = p};
    rollout_error err;
    cr_assert_eq(op_owe_journal(path, p, 4, &s, NULL, 0, &ent, &err), ROLLOUT_OK);
    op_journal j;
    cr_assert_eq(op_journal_load(path, 5, &j), ROLLOUT_OK);
    cr_assert_eq(j.n, 1, "%zu owed", j.n);
    cr_assert_str_eq(j.keys[0], "p/4/0/email");
    op_journal_free(&j);
    op_entries_free(&ent);
    rollout_plan_unref(p);
    unlink(path);
    rmdir(dir);
}

/* A communication row's channel is free text ("status page"); the key it
 * goes into is a journal field ended by a space and an HTTP header value, so
 * it must come out of the journal whole and carry no space, CR or LF. */
Test(operator_outbox, a_channel_of_any_text_makes_a_key_that_survives_the_journal)
{
    rollout_plan *p = load("", OPERATOR);
    rollout_state s;
    rollout_state_init(p, &s);
    s.revision = 7;
    rollout_action a;
    memset(&a, 0, sizeof a);
    a.type = ROLLOUT_ACTION_NOTIFY;
    a.id = "pilot-start";
    a.channel = "status page+ops\r\nX-Injected: 1";
    a.text = "hello";
    op_entries e;
    cr_assert_eq(op_entries_build(p, &s, &a, 1, &e), ROLLOUT_OK);
    cr_assert_eq(e.n, 2);
    for (size_t i = 0; i < e.n; i++) {
        cr_assert_null(strpbrk(e.keys[i], " \r\n"), "key \"%s\"", e.keys[i]);
        char *line = op_journal_owed(7, e.keys[i], e.bodies[i]);
        op_journal j;
        cr_assert_eq(op_journal_parse(line, strlen(line), 7, &j), ROLLOUT_OK);
        cr_assert_eq(j.n, 1);
        cr_assert_str_eq(j.keys[0], e.keys[i]);
        cr_assert_str_eq(j.bodies[0], e.bodies[i]);
        op_journal_free(&j);
        free(line);
    }
    cr_assert_str_eq(e.keys[0], "ledger-v2/7/0/status%20page");
    /* the body keeps the channel as written, for the webhook's lookup */
    cr_assert(strstr(e.bodies[0], "\"channel\":\"status page\""), "%s", e.bodies[0]);
    op_entries_free(&e);
    rollout_plan_unref(p);
}

/* A range query (`x[5m]`, a matrix) or a string answer gives no number
 * either; the reason must say so rather than leave the caller's buffer as it
 * was (uninitialised in the operator, which logs it). */
Test(operator_prom, a_matrix_or_string_answer_says_why)
{
    static const char *const bad[] = {
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
        "[{\"metric\":{},\"values\":[[1,\"1\"],[2,\"2\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"x\"]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = -1;
        char why[200];
        strcpy(why, "untouched");
        cr_assert_eq(value_of(bad[i], &v, why), 1, "case %zu", i);
        cr_assert(strcmp(why, "untouched") && why[0], "case %zu: why is \"%s\"", i, why);
        cr_assert_eq(v, -1);
    }
}

/* ---- hooks ------------------------------------------------------------------ */

/* The operator ignores SIGPIPE (a webhook that hangs up must not kill it);
 * an ignored disposition survives exec, so without a reset every hook would
 * run with it too: in `producer | head -1` the producer gets EPIPE errors
 * (and "Broken pipe" noise) instead of the quiet end it is written for, and
 * one that does not check its writes never ends. The hook's own
 * /proc/self/status shows what it was given (bit 13 of SigIgn). */
Test(operator_hooks, a_hook_gets_sigpipe_back)
{
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    volatile int stop = 0;
    int status = -1;
    char why[200] = "";
    int rc = op_hook_run("m=$(awk '/^SigIgn/ {print $2}' /proc/self/status); "
                         "test $(( 0x$m & 0x1000 )) -eq 0",
                         NULL, 10, &stop, &status, why, sizeof why);
    signal(SIGPIPE, old);
    cr_assert_eq(rc, 0, "%s", why);
    cr_assert_eq(status, 0, "the hook ran with SIGPIPE ignored");
}
