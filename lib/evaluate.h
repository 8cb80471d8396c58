/* SPDX-License-Identifier: MIT */
/*
 * evaluate.h — criteria as loaded from a plan, the metrics snapshot's
 * insides, and the entry points evaluate.c and metrics.c share.
 */
#ifndef ROLLOUT_EVALUATE_H
#define ROLLOUT_EVALUATE_H

#include "plan.h"
#include "stats.h"

/* ---- metrics known by name ---------------------------------------------- */

/* How a metric's values are written and checked. */
typedef enum rp_metric_kind {
    RP_MK_COUNT = 0,  /* whole, >= 0 */
    RP_MK_RATE,       /* fraction 0..1, written 0.5% or 0.005 */
    RP_MK_LATENCY,    /* seconds, written 2s / 1500ms */
    RP_MK_DURATION,   /* seconds, written 90m / 1h */
    RP_MK_NUMBER,     /* custom: any finite number, or a percentage */
    RP_MK_AMOUNT      /* a plain number >= 0, not necessarily whole (throughput) */
} rp_metric_kind;

typedef enum rp_metric_id {
    RP_M_REQUESTS = 0,
    RP_M_ERRORS,
    RP_M_ERROR_RATE,
    RP_M_LATENCY_P50,
    RP_M_LATENCY_P95,
    RP_M_LATENCY_P99,
    RP_M_CRITICAL_ERRORS,
    RP_M_UNHANDLED_EXCEPTIONS,
    RP_M_SUPPORT_TICKETS,
    RP_M_AVAILABILITY,
    RP_M_ISSUE_RESOLUTION_TIME,
    RP_M_THROUGHPUT,          /* requests per second, per instance */
    RP_M_COUNT
} rp_metric_id;

typedef struct rp_metric_info {
    const char *name;
    int kind;            /* rp_metric_kind */
    double quantile;     /* latency percentiles: 0.5, 0.95, 0.99; else 0 */
} rp_metric_info;

extern const rp_metric_info rp_metric_table[RP_M_COUNT];

/* The rp_metric_id of a standard name, or -1 for a custom metric. */
int rp_metric_lookup(const char *name, size_t len);

/* ---- the snapshot ------------------------------------------------------- */

/* Where a value the file wrote as NaN or infinite was: such a metric is
 * unusable (criteria reading it are INCONCLUSIVE) but the rest of the
 * snapshot still counts. status is 0 for a good value. */
typedef struct rp_bad_value {
    int status;        /* RP_VALUE_NAN or RP_VALUE_INFINITE */
    int line, col;
} rp_bad_value;

typedef struct rp_named_value {
    char *name;
    double value;
    rp_bad_value bad;
} rp_named_value;

typedef struct rp_smoke_result {
    char *name;
    bool passed;
} rp_smoke_result;

/* One version's measurements. The latency distribution is kept sorted with
 * equal values merged, so the Mann-Whitney test is a single merge pass. */
typedef struct rp_side {
    double std[RP_M_COUNT];
    uint32_t have;                 /* bit m: std[m] is set */
    double *dist_v, *dist_c;       /* strictly increasing values, their counts */
    size_t dist_n;
    double dist_total;
    rp_named_value *custom;
    size_t n_custom;
    rp_smoke_result *smoke;
    size_t n_smoke;
    uint32_t bad;                  /* bit m: the file wrote std[m] as NaN or infinite */
    rp_bad_value bad_std[RP_M_COUNT];
    rp_bad_value bad_dist;         /* a sample or bucket was NaN or infinite */
    const char *bad_dist_key;      /* "latency_samples" or "latency_histogram" */
} rp_side;

/* side[ROLLOUT_NEW] is the version rolled out, side[ROLLOUT_STABLE] the baseline. */
struct rollout_metrics {
    rp_side side[2];
    char file[96];                 /* the loaded file's name, for bad-value reasons */
};

/* The value criteria see for a metric (error_rate derived from counts,
 * percentiles from the distribution when not set). */
bool rp_metrics_value(const rollout_metrics *m, int variant, int metric_id, const char *name,
                      double *out);
/* The latency distribution of a side, or false when it has none. */
bool rp_metrics_dist(const rollout_metrics *m, int variant, rp_dist *out);
/* True when the value criteria would read for a metric (or what it is
 * derived from) was NaN or infinite in the file; why says which and where. */
bool rp_metrics_bad(const rollout_metrics *m, int variant, int metric_id, const char *name,
                    char *why, size_t cap);
/* True when the side's latency distribution was dropped for a bad value. */
bool rp_metrics_dist_bad(const rollout_metrics *m, int variant, char *why, size_t cap);
/* A smoke result by test id: 1 passed, 0 failed, -1 not reported. */
int rp_metrics_smoke(const rollout_metrics *m, int variant, const char *test);

/* ---- criteria ------------------------------------------------------------ */

typedef enum rp_form {
    RP_FORM_SMOKE = 0,        /* smoke_tests: all | [ids] */
    RP_FORM_MAX,              /* max: V */
    RP_FORM_MIN,              /* min: V */
    RP_FORM_ZERO,             /* must_be_zero: true */
    RP_FORM_BASELINE_PLUS,    /* max_baseline_plus: P% */
    RP_FORM_BASELINE_TIMES    /* max_baseline_times: F */
} rp_form;

typedef enum rp_lenient {
    RP_LENIENT_NONE = 0,
    RP_LENIENT_BASELINE,      /* or_baseline: true */
    RP_LENIENT_BASELINE_PLUS  /* or_baseline_plus: P% */
} rp_lenient;

typedef enum rp_test {
    RP_TEST_NONE = 0,
    RP_TEST_RATE,             /* confidence on error_rate: Wilson / two-proportion */
    RP_TEST_MANN_WHITNEY      /* test: mann_whitney on a latency metric */
} rp_test;

typedef struct rp_criterion {
    const char *id;
    const char *description;   /* NULL when absent */
    int form;                  /* rp_form */
    const char *metric;        /* NULL for smoke tests */
    int metric_id;             /* rp_metric_id, -1 for a custom metric */
    int kind;                  /* rp_metric_kind of the metric */
    double value;              /* max/min bound; P of baseline_plus; F of times */
    int lenient;               /* rp_lenient, MAX and MIN only */
    double lenient_plus;       /* P of or_baseline_plus */
    uint64_t min_samples;      /* 0: none */
    int test;                  /* rp_test */
    double confidence;         /* for tests, in [0.5, 1) */
    double effect_size;        /* Mann-Whitney: relative shift that matters */
    bool rollback;
    int rollback_reason;       /* rollout_rollback_reason, -1 when !rollback */
    bool smoke_all;
    int *smoke;                /* plan smoke-test indices when !smoke_all */
    size_t n_smoke;
    bool strict;               /* strict: true: < and > instead of <= and >= */
    bool has_sla;              /* or_sla: V */
    double sla;
    int direction;             /* rollout_direction */
    bool dry_run;              /* dry_run: true: reported, never counted */
    bool per_request;          /* relative forms: counts compared per request */
    bool has_floor;            /* floor: N, a count that passes whatever the baseline */
    double floor;
} rp_criterion;

/* Evaluates criteria set `set` of plan (an index into plan->criteria). */
int rp_evaluate_set(const rollout_plan *plan, int set, const rollout_metrics *metrics,
                    rollout_evaluation *out, rollout_error *err);

/* ---- value grammar shared by the metrics loader and the criteria --------- */

/* Why rp_parse_value refused a scalar. */
typedef enum rp_value_status {
    RP_VALUE_OK = 0,
    RP_VALUE_SYNTAX,          /* not a value of this kind at all */
    RP_VALUE_NAN,
    RP_VALUE_INFINITE,
    RP_VALUE_NEGATIVE,
    RP_VALUE_FRACTIONAL,      /* a count with a fractional part */
    RP_VALUE_TOO_BIG          /* a count beyond 2^53, a rate beyond 100 % */
} rp_value_status;

/* Parses a metric value of `kind` (see docs/evaluation.md for the
 * grammar): counts are whole numbers, rates a number or a percentage,
 * latencies and durations a number of seconds or a value with a unit. */
int rp_parse_value(const char *s, size_t len, int kind, double *out);
/* A phrase for a status, for messages: "is not a number", ... */
const char *rp_value_problem(int status, int kind);
/* Formats v of kind for people: "1.42s", "850ms", "0.41%", "12", "45m". */
void rp_format_value(double v, int kind, char *buf, size_t cap);

#endif /* ROLLOUT_EVALUATE_H */
