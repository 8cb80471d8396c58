/* SPDX-License-Identifier: MIT */
/*
 * plan.h — the in-memory form of a loaded plan, shared by lib/ files.
 *
 * Indices, not pointers, link the parts (a step names its phase by index),
 * so the structure can be dumped and compared without chasing pointers.
 * Everything is allocated from plan->arena and immutable after loading,
 * but for the busy flags of the match data pool (targeting.h), which
 * decide's pattern matches claim and release atomically.
 */
#ifndef ROLLOUT_PLAN_H
#define ROLLOUT_PLAN_H

#include "bucket.h"
#include "internal.h"

struct rp_rule;       /* targeting.h */
struct rp_criterion;  /* evaluate.h */
struct rp_emitter;    /* dump.c */

typedef struct rp_cohort {
    const char *id;
    const char *description;
    struct rp_rule *match;
} rp_cohort;

typedef struct rp_gate {
    const char *id;
    int phase;             /* the phase it closes (or the phase of its step) */
    int step;              /* global index of the step whose weight holds while it waits */
    int64_t at;            /* decision offset from the rollout start */
    uint32_t approvers;    /* bit r = role r must approve */
    uint32_t override_roles; /* bit r = role r may GO without them (with a reason) */
    int criteria;          /* criteria set index, -1 none */
    int on_no_go;          /* rp_no_go */
    const char *description;
    int failure_limit;     /* consecutive FAIL verdicts tolerated, -1: no automatic no-go */
    int inconclusive_limit;/* consecutive INCONCLUSIVE verdicts tolerated, -1: none */
    bool auto_go;          /* the operator may send GO itself: PASS and every approval */
} rp_gate;

typedef enum rp_no_go { RP_NO_GO_HOLD = 0, RP_NO_GO_HALT, RP_NO_GO_ROLLBACK } rp_no_go;

typedef struct rp_step {
    int phase;             /* index of its phase */
    int index;             /* index within the phase */
    int64_t at;            /* offset from the rollout start */
    uint32_t weight;       /* 0.001 % units */
    int unit;              /* rollout_unit */
    int gate;              /* gate that follows this step, -1 none */
    int gates_before;      /* gates attached to earlier steps: all need a GO first */
} rp_step;

typedef struct rp_phase {
    const char *id;
    const char *description;
    int cohort;            /* index into cohorts */
    int first_step;        /* global index of its first step */
    int n_steps;
    const char **monitoring;  /* what to watch, for people */
    size_t n_monitoring;
} rp_phase;

typedef struct rp_criteria_set {
    const char *id;
    struct rp_criterion *items;
    size_t n;
} rp_criteria_set;

typedef struct rp_role {
    const char *id;
    const char *name;
} rp_role;

/* Rollback procedure actions, in the order a procedure may list them. */
typedef enum rp_rollback_action {
    RP_RB_PAGE = 0,          /* page on-call */
    RP_RB_HALT_TRAFFIC,
    RP_RB_RESTORE_PREVIOUS,
    RP_RB_RUN_SMOKE_TESTS,
    RP_RB_RESUME_SERVICE,
    RP_RB_OPEN_INCIDENT,
    RP_RB_POSTMORTEM,
    RP_RB_COUNT
} rp_rollback_action;

typedef struct rp_rollback_step {
    const char *id;
    int action;              /* rp_rollback_action */
    uint32_t roles;          /* who is paged / owns it */
    const char *description;
} rp_rollback_step;

typedef struct rp_rollback {
    uint32_t triggers;       /* bit r = rollout_rollback_reason r may trigger */
    int64_t deadline;        /* the whole procedure, seconds */
    int64_t postmortem_within;
    rp_rollback_step *steps;
    size_t n_steps;
    const char *commands;    /* example shell commands, for people */
    const char *notes;
} rp_rollback;

/* What a communication row is sent on. */
typedef enum rp_comm_event {
    RP_COMM_ROLLOUT_START = 0,
    RP_COMM_PHASE_START,     /* phase */
    RP_COMM_STEP,            /* phase + weight reached */
    RP_COMM_GATE,            /* gate decided GO */
    RP_COMM_ESCALATION,      /* issue escalation, immediate */
    RP_COMM_ROLLBACK,        /* rollback started, immediate */
    RP_COMM_COMPLETE,
    RP_COMM_COUNT
} rp_comm_event;

typedef struct rp_comm {
    const char *id;
    int event;               /* rp_comm_event */
    int phase;               /* for PHASE_START / STEP, else -1 */
    uint32_t weight;         /* for STEP */
    int gate;                /* for GATE, else -1 */
    const char *channel;
    const char *audience;
    uint32_t owners;         /* roles */
    const char *message;
} rp_comm;

typedef struct rp_smoke_test {
    const char *id;
    const char *name;
} rp_smoke_test;

/* A POSIX TZ date rule (Mm.w.d, Jn or n) and its local time of day. */
typedef struct rp_zone_rule {
    char kind;               /* 'M', 'J' or 'N' */
    int m, w, d, n;
    int32_t time;            /* seconds after local midnight, may exceed a day */
} rp_zone_rule;

/* An IANA time zone read from tzdata at load (zone.c): off[i] is the UTC
 * offset from at[i] on, off0 before at[0]; past the table the footer rule
 * (when has_rule) decides. */
typedef struct rp_zone {
    const char *name;
    int64_t *at;
    int32_t *off;
    size_t n;
    int32_t off0;
    bool has_rule, has_dst;
    int32_t std_off, dst_off;
    rp_zone_rule start, end;
} rp_zone;

/* Steps may only advance inside a window (when any are given) and never
 * inside a freeze. */
typedef struct rp_window {
    uint8_t days;            /* bit 0 = Monday ... bit 6 = Sunday */
    int32_t from, to;        /* seconds after local midnight, from < to */
    int32_t utc_offset;      /* seconds east of UTC, when zone is NULL */
    const rp_zone *zone;     /* or the time zone the day and times are in */
} rp_window;

typedef struct rp_freeze {
    int64_t from, to;        /* [from, to) */
    const char *reason;
    const rp_zone *zone;     /* the zone local from/to were written in, or NULL */
} rp_freeze;

/* zone.c: the zone named by node n, read from tzdata (or shared with an
 * earlier window or freeze); UTC offset at t; the UTC instant of a local
 * time (a skipped local time: the end of the gap; a repeated one: its first
 * occurrence); a window's local day at t and its open/close on a day. */
int rp_zone_load(struct rp_ctx *c, const struct rp_node *n, const rp_zone **out);
int32_t rp_zone_offset(const rp_zone *z, int64_t t);
int64_t rp_zone_utc(const rp_zone *z, int64_t local);
int64_t rp_window_day(const rp_window *w, int64_t t);
void rp_window_bounds(const rp_window *w, int64_t day, int64_t *open, int64_t *close);

/* The `operator:` section (operator_cfg.c): what `rollout operator` needs to
 * run the plan. Read by the tool only; the library never acts on it. */
typedef enum rp_op_format { RP_OP_JSON = 0, RP_OP_SLACK } rp_op_format;

typedef struct rp_op_query {
    const char *metric;      /* a standard metric or a declared custom one */
    const char *query;       /* PromQL with {{version}} and {{window}} */
} rp_op_query;

typedef struct rp_op_channel {
    const char *name;        /* a communication channel, "page", "escalate" or "default" */
    const char *url;         /* the webhook, or NULL when url_env names it */
    const char *url_env;
    int format;              /* rp_op_format */
} rp_op_channel;

typedef struct rp_operator {
    bool present;
    const char *prom_url;    /* NULL: --prometheus must say */
    int64_t prom_timeout;    /* seconds */
    int64_t prom_window;     /* seconds, substituted for {{window}} */
    rp_op_query *queries;    int n_queries;
    const char *smoke_query; /* with {{test}} too; NULL none */
    rp_op_channel *channels; int n_channels;
    const char *hooks[RP_RB_COUNT]; /* by rollback action; page and postmortem never */
    int64_t hook_timeout;    /* seconds */
} rp_operator;

/* operator_cfg.c: parses `operator:`; dumps it (not part of the fingerprint). */
int rp_parse_operator(rp_ctx *c, const rp_node *n);
void rp_dump_operator(struct rp_emitter *e, const rollout_plan *p);
/* Checks a query template: placeholders are {{version}}, {{window}} and,
 * when test_ok, {{test}}. Returns NULL or what is wrong. */
const char *rp_op_template_problem(const char *tmpl, bool test_ok);

typedef struct rp_bake {
    int64_t duration;        /* 0 = no bake */
    int criteria;            /* criteria set, -1 none */
    const char *description;
} rp_bake;

/* One step as decide reads it: when it happens and the decision it gives,
 * already filled in but for variant, reason and bucket, so decide copies it
 * rather than assembling ten fields from four tables on every request. */
typedef struct rp_cohort_step {
    int64_t at;            /* offset from the rollout start */
    int gates_before;      /* gates attached to earlier steps */
    rollout_decision decision; /* cohort, phase, step, unit, weight and names */
} rp_cohort_step;

struct rollout_plan {
    int refs;                /* atomic */
    rp_arena arena;
    const char *name;        /* file name it came from */
    const char *id;
    const char *description;
    const char *salt;
    size_t salt_len;
    uint64_t seed;           /* XXH3 of the salt: the bucketing seed */
    /* the bucket function (`bucketing:`, bucket_compat.c): ROLLOUT_HASH_XXH3
     * buckets by seed; any other by bucketing, built from bucket_key */
    int hash;
    const char *bucket_key;
    size_t bucket_key_len;
    rp_bucketing bucketing;
    int64_t start;
    const char *labels[2];   /* stable, new */
    rp_role *roles;          int n_roles;
    rp_cohort *cohorts;      int n_cohorts;
    rp_phase *phases;        int n_phases;
    rp_step *steps;          int n_steps;
    rp_gate *gates;          int n_gates;
    rp_criteria_set *criteria; int n_criteria;
    rp_smoke_test *smoke;    int n_smoke;
    const char **custom_metrics; int n_custom_metrics; /* names criteria may use */
    rp_comm *comms;          int n_comms;
    rp_window *windows;      int n_windows;
    rp_freeze *freezes;      int n_freezes;
    rp_rollback rollback;
    rp_bake bake;
    rp_operator op;          /* not in the fingerprint: see operator_cfg.c */
    uint64_t fingerprint;
    /* last phase that targets each cohort, -1 none: the decide fast path */
    int cohort_last_phase[ROLLOUT_MAX_COHORTS];
    /* decide's view of the steps (validate.c): cohort c's steps, latest
     * first, are cohort_steps[cohort_first_step[c] + k] for k below
     * cohort_n_steps[c]; global step i is cohort_steps[step_entry[i]]. */
    rp_cohort_step cohort_steps[ROLLOUT_MAX_STEPS];
    uint8_t cohort_first_step[ROLLOUT_MAX_COHORTS];
    uint8_t cohort_n_steps[ROLLOUT_MAX_COHORTS];
    uint8_t step_entry[ROLLOUT_MAX_STEPS];
    /* what the cohort rules read from a request (validate.c): the unit ids,
     * as bits 1 << rollout_unit, and each attribute key once, as the first
     * rule (in plan order) that reads it */
    unsigned rule_units;
    /* DFA states its patterns may still build (pattern_dfa.h) */
    int dfa_budget;
    const struct rp_rule **rule_attrs; int n_rule_attrs;
    /* resources outside the arena (compiled patterns), freed on unref */
    void (*release)(struct rollout_plan *);
    void **patterns;         size_t n_patterns, cap_patterns;
    /* match data for JIT pattern matches (targeting.h), in the arena; NULL
     * until the first JIT-compiled pattern */
    struct rp_md_pool *md_pool;
    /* ids in all cohort lists so far, checked against ROLLOUT_MAX_IDS */
    size_t n_ids;
    /* the multiplier of the id tables' slots (targeting.h, rp_idset): drawn
     * from the system's random source at load, so no one who writes or
     * reads the plan can tell which ids share a slot */
    uint64_t table_key;
};

/* ---- per-concern entry points ------------------------------------------- */

/* targeting.c: parses a cohort's `match:` rule; compiles patterns and
 * registers them with rp_plan_keep_pattern. */
int rp_parse_rule(rp_ctx *c, const rp_node *n, struct rp_rule **out);
/* targeting.c: first cohort (plan order) whose rule matches ctx, or -1.
 * *match_error is set when a pattern hit its limits. */
int rp_match_cohort(const rollout_plan *p, const rollout_context *ctx, uint64_t org_hash,
                    bool *match_error);
void rp_dump_rule(struct rp_emitter *e, const struct rp_rule *r);

/* evaluate.c: parses one criteria set (a list of criteria). */
int rp_parse_criteria(rp_ctx *c, const rp_node *n, rp_criteria_set *out);
int rp_parse_custom_metrics(rp_ctx *c, const rp_node *n);
/* A gate's failure_limit and inconclusive_limit (evaluate.c). */
int rp_parse_verdict_limits(rp_ctx *c, const rp_node *gate_map, rp_gate *g);
void rp_dump_criteria(struct rp_emitter *e, const rollout_plan *p, const rp_criteria_set *s);

/* plan_load.c: keeps a compiled pattern for release with the plan. */
int rp_plan_keep_pattern(rollout_plan *p, void *code);
/* plan_load.c: rollout_plan_load_buffer with the key of the id tables
 * given (table_key not NULL) instead of drawn, for tests that need one
 * layout every run. */
int rp_plan_load_keyed(const char *yaml, size_t len, const char *name,
                       const uint64_t *table_key, rollout_plan **out, rollout_error *err);
int rp_role_index(const rollout_plan *p, const char *id);
int rp_criteria_index(const rollout_plan *p, const char *id);
int rp_smoke_index(const rollout_plan *p, const char *id);
/* machine.c: the confirmation that completes a rollback step of this
 * action (rp_rollback_action), -1 for page and post-mortem, which need none. */
int rp_confirmation_for(int action);
/* Names as written in plans. */
const char *rp_rollback_action_name(int action);
const char *rp_comm_event_name(int event);

/* schedule.c: the effective weight of one cohort at now — what decide needs.
 * Returns false when the cohort has no phase or its phase has not begun;
 * otherwise fills weight, unit, phase and step (within the phase). */
typedef struct rp_cohort_weight {
    uint32_t weight;
    int unit;
    int phase;
    int step;
} rp_cohort_weight;
bool rp_schedule_cohort(const rollout_plan *p, const rollout_state *s, int64_t now,
                        int cohort, rp_cohort_weight *out);
/* The same for decide, which has already checked the cohort index and that
 * the state is running (not halted, rolled back or not started): the
 * cohort's current step, or NULL. */
const rp_cohort_step *rp_schedule_step(const rollout_plan *p, const rollout_state *s,
                                       int64_t now, int cohort);

/* schedule.c: every step's time and every gate's due time, given the state.
 * Steps behind a gate without a GO are RP_NEVER unless assume_go projects
 * the GO as arriving on time. */
typedef struct rp_timeline {
    int64_t step_at[ROLLOUT_MAX_STEPS];
    int64_t gate_due[ROLLOUT_MAX_GATES];
    int64_t bake_start;
    int64_t complete_at;
} rp_timeline;
void rp_timeline_compute(const rollout_plan *p, const rollout_state *s, bool assume_go,
                         rp_timeline *out);
/* schedule.c: rollout_schedule without its checks of now and the state, for
 * the state machine, whose state is checked and whose now is in range. */
void rp_schedule_info(const rollout_plan *p, const rollout_state *s, int64_t now,
                      rollout_schedule_info *out);
/* state_codec.c: what rollout_apply, rollout_schedule and rollout_calendar
 * check of a state: ROLLOUT_ERR_STATE for one no state function could have
 * made (with why in err), ROLLOUT_ERR_STATE_PLAN for another plan's. */
int rp_state_usable(const rollout_plan *plan, const rollout_state *s, rollout_error *err);

/* Whether step i takes its phase to a weight it did not have: only then is a
 * "step" communication row sent. */
bool rp_step_reaches_new_weight(const rollout_plan *p, int i);
/* Whether communication row cm is sent on this event. */
bool rp_comm_matches(const rp_comm *cm, int event, int phase, uint32_t weight, int gate);

/* dump.c: a thin layer over the libyaml emitter, for the normalized dump. */
typedef struct rp_emitter rp_emitter;
void rp_emit_map_begin(rp_emitter *e);
void rp_emit_map_end(rp_emitter *e);
void rp_emit_seq_begin(rp_emitter *e, bool flow);
void rp_emit_seq_end(rp_emitter *e);
void rp_emit_key(rp_emitter *e, const char *key);
void rp_emit_str(rp_emitter *e, const char *s);          /* quoted string */
void rp_emit_strn(rp_emitter *e, const char *s, size_t n);
void rp_emit_raw(rp_emitter *e, const char *s);          /* plain: numbers, booleans */
void rp_emit_duration(rp_emitter *e, int64_t secs);
void rp_emit_weight(rp_emitter *e, uint32_t w);
void rp_emit_double(rp_emitter *e, double v);
void rp_emit_roles(rp_emitter *e, const rollout_plan *p, uint32_t roles);

#endif /* ROLLOUT_PLAN_H */
