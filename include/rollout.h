/* SPDX-License-Identifier: MIT */
/*
 * rollout.h — librollout, canary-rollout decisions as pure functions.
 *
 * One header, one prefix: functions are rollout_*, macros and enum values
 * ROLLOUT_*. Objects that own memory are opaque handles with explicit
 * create/free (or ref/unref); results are plain structs the caller owns.
 *
 * Contracts (see docs/ and DESIGN.md):
 *  - Time is int64_t seconds since the Unix epoch, UTC, always passed in.
 *  - Weights are integers in units of 0.001 % (0..100000).
 *  - A unit is on the new version iff its bucket (0..99999) < weight.
 *  - Every fallible call returns a rollout_code and, when the caller passes
 *    a rollout_error, fills it with a message a person can act on.
 *  - The library never reads a clock, the environment, or a file it was not
 *    asked to read, and keeps no global mutable state.
 */
#ifndef ROLLOUT_H
#define ROLLOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ROLLOUT_API marks the exported symbols; everything else is hidden. */
#if defined(ROLLOUT_STATIC)
#  define ROLLOUT_API
#elif defined(_WIN32)
#  ifdef ROLLOUT_BUILDING
#    define ROLLOUT_API __declspec(dllexport)
#  else
#    define ROLLOUT_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define ROLLOUT_API __attribute__((visibility("default")))
#else
#  define ROLLOUT_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * ---------------------------------------------------------------------- */

#define ROLLOUT_VERSION_MAJOR 0
#define ROLLOUT_VERSION_MINOR 1
#define ROLLOUT_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, for compile-time comparisons. */
#define ROLLOUT_VERSION_NUMBER \
    (ROLLOUT_VERSION_MAJOR * 10000 + ROLLOUT_VERSION_MINOR * 100 + ROLLOUT_VERSION_PATCH)

/* The version string of the library actually linked, e.g. "0.1.0". Compare
 * with the macros to detect a header/library mismatch. */
ROLLOUT_API const char *rollout_version(void);
/* The ROLLOUT_VERSION_NUMBER of the library actually linked. */
ROLLOUT_API unsigned rollout_version_number(void);

/* ------------------------------------------------------------------------
 * Status codes and errors
 * ---------------------------------------------------------------------- */

/* Every fallible function returns one of these. ROLLOUT_OK is zero; codes
 * never change value once released (bindings and logs rely on them). */
typedef enum rollout_code {
    ROLLOUT_OK = 0,
    ROLLOUT_ERR_NOMEM = 1,        /* an allocation failed; nothing was built */
    ROLLOUT_ERR_IO = 2,           /* a file could not be opened or read */
    ROLLOUT_ERR_ARG = 3,          /* a NULL or out-of-range argument */
    ROLLOUT_ERR_SYNTAX = 4,       /* YAML syntax error */
    ROLLOUT_ERR_ENCODING = 5,     /* input is not valid UTF-8 */
    ROLLOUT_ERR_LIMIT = 6,        /* a size, count, depth or alias cap was hit */
    ROLLOUT_ERR_EMPTY = 7,        /* the document is empty */
    ROLLOUT_ERR_TYPE = 8,         /* a field has the wrong YAML type */
    ROLLOUT_ERR_UNKNOWN_KEY = 9,  /* a mapping key the format does not define */
    ROLLOUT_ERR_MISSING = 10,     /* a required field is absent */
    ROLLOUT_ERR_VALUE = 11,       /* a scalar does not parse (time, duration, weight...) */
    ROLLOUT_ERR_RANGE = 12,       /* a value parses but is out of range */
    ROLLOUT_ERR_ORDER = 13,       /* steps out of time order or weights decreasing */
    ROLLOUT_ERR_DUPLICATE = 14,   /* an id is defined twice */
    ROLLOUT_ERR_REFERENCE = 15,   /* a name refers to nothing defined */
    ROLLOUT_ERR_PATTERN = 16,     /* a PCRE2 pattern does not compile */
    ROLLOUT_ERR_BUFFER = 17,      /* an output buffer is too small */
    ROLLOUT_ERR_NOT_FOUND = 18,   /* a named phase, gate, ... does not exist */
    ROLLOUT_ERR_STATE = 19,       /* an encoded state is corrupt or foreign */
    ROLLOUT_ERR_STATE_PLAN = 20,  /* an encoded state belongs to another plan */
    ROLLOUT_ERR_TRANSITION = 21,  /* the event is not valid in the current state */
    ROLLOUT_ERR_METRICS = 22,     /* a metrics snapshot is invalid */
    ROLLOUT_ERR_UNSUPPORTED = 23  /* a format version this library does not know */
} rollout_code;

/* The symbolic name of a code ("ROLLOUT_ERR_SYNTAX"); "ROLLOUT_ERR_?" for
 * unknown values. Never NULL. */
ROLLOUT_API const char *rollout_code_name(int code);

/* Filled by every fallible call that is given one. Plain data: it may live on
 * the stack and needs no cleanup. `message` is the complete, printable text;
 * for plan and metrics files it starts with "file:line:column: field: " so
 * editors can jump to the spot. line and column are 1-based, 0 when the error
 * has no position. */
typedef struct rollout_error {
    int code;            /* a rollout_code, equal to the return value */
    int line;
    int column;
    char file[256];      /* the file name, or the name given to a buffer */
    char field[128];     /* path of the offending field, e.g. "phases[1].steps[2].at" */
    char message[512];
} rollout_error;

/* ------------------------------------------------------------------------
 * Time
 * ---------------------------------------------------------------------- */

/* The moments the library accepts, in epoch seconds: 0001-01-01T00:00:00Z
 * to 9999-12-31T23:59:59Z, the years an ISO-8601 date can write. Every call
 * that takes `now` (rollout_apply, rollout_decide, rollout_decide_ids,
 * rollout_batch_prepare, rollout_schedule) refuses one outside this range
 * with ROLLOUT_ERR_ARG, a state recording a time outside it is
 * ROLLOUT_ERR_STATE, and plan times outside it do not load. Results use
 * INT64_MAX for "never" (a step behind a gate without a GO); it lies
 * beyond ROLLOUT_TIME_MAX, so no accepted `now` ever reaches it. */
#define ROLLOUT_TIME_MIN (-INT64_C(62135596800))
#define ROLLOUT_TIME_MAX INT64_C(253402300799)

/* ------------------------------------------------------------------------
 * Plans
 * ---------------------------------------------------------------------- */

/* An immutable, reference-counted plan. After loading it is never modified,
 * so any number of threads may read it at once; ref/unref are atomic. */
typedef struct rollout_plan rollout_plan;

/* Hard caps that keep a hostile plan from exhausting a gateway. */
/* A plan may hold ROLLOUT_MAX_IDS ids inline: 200 000 UUIDs, one per line
 * with their indentation, are about 9 MB, inside the 16 MiB. Larger lists
 * belong in an ids file (orgs_file:), with a cap of its own. */
#define ROLLOUT_MAX_PLAN_BYTES    (16u << 20) /* bytes of YAML */
#define ROLLOUT_MAX_IDS_FILE_BYTES (16u << 20) /* bytes of one ids file */
#define ROLLOUT_MAX_COHORTS       32
#define ROLLOUT_MAX_PHASES        16
#define ROLLOUT_MAX_STEPS         64   /* traffic steps over all phases */
#define ROLLOUT_MAX_GATES         32   /* go/no-go gates over all phases */
#define ROLLOUT_MAX_ROLES         32   /* distinct approver roles */
#define ROLLOUT_MAX_IDS           200000 /* ids in all cohort lists (and ids files) together */
#define ROLLOUT_MAX_NODES         500000 /* YAML nodes after alias expansion */
#define ROLLOUT_MAX_DEPTH         64   /* YAML nesting depth */
#define ROLLOUT_MAX_ANCHORS       50000 /* YAML anchors (&name) per file */

/* Loads and validates a plan file. On success *out holds a plan with one
 * reference; on failure *out is NULL and nothing is left allocated. */
ROLLOUT_API int rollout_plan_load_file(const char *path, rollout_plan **out,
                                       rollout_error *err);

/* Same for a buffer. `name` is used in error messages ("<buffer>" if NULL).
 * The buffer need not be NUL-terminated and is not retained. A plan from a
 * buffer has no directory, so its cohorts cannot name ids files
 * (orgs_file:, users_file:): load such a plan with rollout_plan_load_file. */
ROLLOUT_API int rollout_plan_load_buffer(const char *yaml, size_t len,
                                         const char *name, rollout_plan **out,
                                         rollout_error *err);

/* The YAML of the seed plan compiled into the library (examples/plans/seed.yaml),
 * the default when a tool is given no plan. */
ROLLOUT_API const char *rollout_seed_plan(size_t *len);

/* Takes another reference and returns plan. */
ROLLOUT_API rollout_plan *rollout_plan_ref(rollout_plan *plan);
/* Drops a reference; the last one frees the plan. NULL is ignored. */
ROLLOUT_API void rollout_plan_unref(rollout_plan *plan);

/* Read-only facts about a loaded plan. Strings live as long as the plan. */
ROLLOUT_API const char *rollout_plan_id(const rollout_plan *plan);
ROLLOUT_API int64_t rollout_plan_start(const rollout_plan *plan);
/* which: 0 = stable version label, 1 = new version label. */
ROLLOUT_API const char *rollout_plan_version_label(const rollout_plan *plan, int which);
/* A 64-bit digest of the normalized plan; states record it so a state saved
 * for one plan is not applied to another. */
ROLLOUT_API uint64_t rollout_plan_fingerprint(const rollout_plan *plan);
ROLLOUT_API int rollout_plan_phase_count(const rollout_plan *plan);
/* NULL when index is out of range. */
ROLLOUT_API const char *rollout_plan_phase_name(const rollout_plan *plan, int index);
/* The index of the phase with that name, or -1. */
ROLLOUT_API int rollout_plan_phase_index(const rollout_plan *plan, const char *name);
ROLLOUT_API int rollout_plan_cohort_count(const rollout_plan *plan);
ROLLOUT_API const char *rollout_plan_cohort_name(const rollout_plan *plan, int index);
ROLLOUT_API int rollout_plan_gate_count(const rollout_plan *plan);
ROLLOUT_API const char *rollout_plan_gate_name(const rollout_plan *plan, int index);
/* Roles in plan order: the indices of rollout_event.role and the bits of
 * rollout_action.roles, rollout_calendar_event.owners and gate approvals.
 * The name is the role's id as written in the plan; NULL out of range. */
ROLLOUT_API int rollout_plan_role_count(const rollout_plan *plan);
ROLLOUT_API const char *rollout_plan_role_name(const rollout_plan *plan, int index);

/* What the plan's cohort rules read from a request context, so a gateway
 * can leave the rest unread (reading a header or cookie has its cost). The
 * unit ids some rule reads, as bits 1 << rollout_unit: org_in reads the
 * org, user_in the user; no rule reads a session or request id. The id a
 * step buckets by is not counted here: a decision that needs one the
 * context lacks answers ROLLOUT_REASON_MISSING_UNIT with that unit in
 * rollout_decision.unit, and the caller can read it then and decide again. */
ROLLOUT_API unsigned rollout_plan_rule_units(const rollout_plan *plan);
/* The attribute keys the rules read, each once, in plan order: the key
 * (not NUL-terminated if it holds a NUL; *len, if not NULL, gets its
 * length), or NULL past the last. */
ROLLOUT_API const char *rollout_plan_rule_attr(const rollout_plan *plan, int index, size_t *len);

/* Output formats of rollout_plan_dump. */
typedef enum rollout_format {
    ROLLOUT_FORMAT_YAML = 0,  /* normalized plan, loadable again */
    ROLLOUT_FORMAT_JSON = 1   /* the same content as JSON, also loadable */
} rollout_format;

/* Writes the normalized plan into buf (always NUL-terminated when cap > 0).
 * *needed (if not NULL) receives the full length without the NUL. Returns
 * ROLLOUT_ERR_BUFFER when cap is too small; call again with *needed + 1. */
ROLLOUT_API int rollout_plan_dump(const rollout_plan *plan, int format, char *buf,
                                  size_t cap, size_t *needed);

/* ------------------------------------------------------------------------
 * Bucketing and decisions
 * ---------------------------------------------------------------------- */

#define ROLLOUT_BUCKETS     100000u  /* buckets 0..99999 */
#define ROLLOUT_WEIGHT_MAX  100000u  /* 100 % */

/* The unit a traffic step buckets by. */
typedef enum rollout_unit {
    ROLLOUT_UNIT_ORG = 0,
    ROLLOUT_UNIT_USER = 1,
    ROLLOUT_UNIT_SESSION = 2,
    ROLLOUT_UNIT_REQUEST = 3
} rollout_unit;

/* The bucket (0..99999) of one unit id under a salt; the recipe is in
 * docs/bucketing.md. An empty id is ROLLOUT_ERR_ARG. */
ROLLOUT_API int rollout_bucket(const char *salt, size_t salt_len, const char *id,
                               size_t id_len, uint32_t *bucket);

/* The bucket function a plan's `bucketing:` section chooses
 * (docs/bucketing.md). XXH3 is librollout's own recipe and the default; the
 * others reproduce a peer's decision exactly, so a rollout can move to
 * librollout without moving a unit. */
typedef enum rollout_hash {
    ROLLOUT_HASH_XXH3 = 0,
    ROLLOUT_HASH_NGINX_SPLIT_CLIENTS, /* MurmurHash2 of a split_clients string */
    ROLLOUT_HASH_UNLEASH,             /* flexibleRollout: MurmurHash3 of "groupId:id" */
    ROLLOUT_HASH_GROWTHBOOK_V1,       /* FNV-1a 32 of id + seed, 0.1 % steps */
    ROLLOUT_HASH_GROWTHBOOK_V2,       /* FNV-1a 32 twice, 0.01 % steps */
    ROLLOUT_HASH_LAUNCHDARKLY,        /* SHA-1 of "flagKey.salt.id" */
    ROLLOUT_HASH_FLAGD,               /* fractional: MurmurHash3 of flagKey + id */
    ROLLOUT_HASH_COUNT
} rollout_hash;

/* The name a plan writes ("xxh3", "nginx_split_clients", ...), or "?". */
ROLLOUT_API const char *rollout_hash_name(int hash);
/* The rollout_hash of a name, or -1. */
ROLLOUT_API int rollout_hash_from_name(const char *name, size_t len);

/* The bucket of one unit id under a bucket function and its key (for XXH3
 * the salt; for the others what docs/bucketing.md says the peer hashes
 * besides the id). The unit is on the new version at weight w iff
 * *bucket < w, exactly when the peer puts it there at that percentage.
 * A compatibility bucket may be 100000: a unit the peer leaves out even at
 * 100 %. An empty id or a key the mode refuses is ROLLOUT_ERR_ARG. Allocates
 * nothing. */
ROLLOUT_API int rollout_bucket_with(int hash, const char *key, size_t key_len, const char *id,
                                    size_t id_len, uint32_t *bucket);

/* The plan's bucket function (rollout_hash; -1 for a NULL plan) and its key
 * (the salt for XXH3), either out pointer may be NULL. */
ROLLOUT_API int rollout_plan_hash(const rollout_plan *plan, const char **key, size_t *key_len);

/* The bucket of one unit id under the plan's bucket function: what
 * rollout_decide compares with the weight. */
ROLLOUT_API int rollout_plan_bucket(const rollout_plan *plan, const char *id, size_t id_len,
                                    uint32_t *bucket);

/* One request attribute, both halves as (pointer, length). A NULL value is
 * an absent attribute; a non-NULL value of length 0 is the empty string
 * (docs/targeting.md, "Attributes"). */
typedef struct rollout_attr {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} rollout_attr;

/* What a gateway knows about a request. Every id is (pointer, length) and
 * need not be NUL-terminated; a NULL pointer or zero length means absent. */
typedef struct rollout_context {
    const char *org;     size_t org_len;
    const char *user;    size_t user_len;
    const char *session; size_t session_len;
    const char *request; size_t request_len;
    const rollout_attr *attrs;
    size_t n_attrs;
} rollout_context;

typedef enum rollout_variant {
    ROLLOUT_STABLE = 0,
    ROLLOUT_NEW = 1
} rollout_variant;

/* Why a decision came out as it did. */
typedef enum rollout_reason {
    ROLLOUT_REASON_IN_ROLLOUT = 0,   /* bucket < weight */
    ROLLOUT_REASON_OUT_OF_ROLLOUT,   /* bucket >= weight */
    ROLLOUT_REASON_NO_COHORT,        /* no cohort matched the context */
    ROLLOUT_REASON_PHASE_NOT_STARTED,/* the cohort's phase has not begun: weight 0 */
    ROLLOUT_REASON_MISSING_UNIT,     /* the step buckets by a unit the context lacks */
    ROLLOUT_REASON_NOT_STARTED,      /* the rollout has not started */
    ROLLOUT_REASON_ROLLED_BACK,      /* rolling back or rolled back: always stable */
    ROLLOUT_REASON_HALTED,           /* traffic halted by a no-go: always stable */
    ROLLOUT_REASON_MATCH_ERROR       /* a pattern hit its match limit: the cohort's rule is
                                      * unknown (not/any/all propagate it), the search stops
                                      * at that cohort and the request gets the stable
                                      * version (docs/targeting.md) */
} rollout_reason;

/* The symbolic name of a reason ("IN_ROLLOUT", ...). Never NULL. */
ROLLOUT_API const char *rollout_reason_name(int reason);

/* A decision and everything needed to explain it. Indices are -1 when not
 * applicable; names point into the plan. */
typedef struct rollout_decision {
    int variant;         /* rollout_variant */
    int reason;          /* rollout_reason */
    int cohort;
    int phase;
    int step;            /* index within the phase */
    int unit;            /* rollout_unit used, -1 if none */
    uint32_t bucket;     /* valid when a unit was bucketed */
    uint32_t weight;     /* the cohort's effective weight at `now` */
    const char *cohort_name;
    const char *phase_name;
} rollout_decision;

typedef struct rollout_state rollout_state;

/* Decides whether the request goes to the new version. Allocates nothing,
 * takes no lock, does no I/O; safe on a shared plan from any thread. state may
 * be NULL, meaning "started at the plan's start time, no gate decided yet".
 * A now outside ROLLOUT_TIME_MIN..ROLLOUT_TIME_MAX is ROLLOUT_ERR_ARG, with
 * a STABLE answer in *out. */
ROLLOUT_API int rollout_decide(const rollout_plan *plan, const rollout_state *state,
                               int64_t now, const rollout_context *ctx,
                               rollout_decision *out);

/* One id of a batch, as (pointer, length); NULL or length 0 is an absent id. */
typedef struct rollout_id {
    const char *s;
    size_t len;
} rollout_id;

/* Decides a batch of requests that differ only in one unit id: request i is
 * base (NULL: an empty context) with its `unit` id (a rollout_unit) replaced
 * by ids[i]. variants[i] is set to the variant rollout_decide gives that
 * request, ROLLOUT_STABLE (0) or ROLLOUT_NEW (1). For bulk questions such as
 * "which of these 2 M orgs are in the canary?": the state, the schedule and
 * every cohort rule that does not read that id are worked out once per call,
 * so an id costs little more than its hash. Allocates nothing, takes no
 * lock. Returns what rollout_decide would (ROLLOUT_ERR_STATE, ...) or
 * ROLLOUT_ERR_ARG for a bad argument; on any error every variants[i] is 0. */
ROLLOUT_API int rollout_decide_ids(const rollout_plan *plan, const rollout_state *state,
                                   int64_t now, const rollout_context *base, int unit,
                                   const rollout_id *ids, size_t n, unsigned char *variants);

/* A batch prepared once and then asked about one id at a time: what
 * rollout_decide_ids works out once per call (the state's verdict, every
 * cohort's step at `now`, the rules that do not read the varying id), kept
 * for as many single ids as the caller likes. For a caller that gets its ids
 * one by one and would rather not gather them first: a binding reading them
 * out of its own objects, or a gateway that prepares once a second and then
 * asks per request which variant it gets.
 *
 * Declared here so that it can live on the stack or inside the caller's own
 * structures, as XXH3_state_t is; its members are the library's alone. Its
 * size and layout are part of the ABI, as rollout_state's are: a change
 * bumps ROLLOUT_ABI_MAJOR (the SONAME). It holds pointers to the plan and
 * to what base points to (its other ids and its attributes), which must
 * outlive it and stay unchanged; it copies what it needs of the state,
 * which may change or go after rollout_batch_prepare returns. */
typedef struct rollout_batch {
    const rollout_plan *plan_;
    const void *set_;
    uint64_t seed_;
    rollout_context ctx_;
    int kind_, unit_, n_per_id_, unlisted_;
    uint32_t hit_, miss_;
    int per_id_[ROLLOUT_MAX_COHORTS];
    uint32_t answer_[ROLLOUT_MAX_COHORTS + 1];
} rollout_batch;

/* Prepares *batch for requests that are base (NULL: an empty context) with
 * their `unit` id (a rollout_unit) replaced, decided against plan and state
 * at `now`. Returns what rollout_decide_ids would for the same arguments;
 * on any error *batch (when not NULL) is still prepared, to answer
 * ROLLOUT_STABLE for every id. Allocates nothing, takes no lock. */
ROLLOUT_API int rollout_batch_prepare(const rollout_plan *plan, const rollout_state *state,
                                      int64_t now, const rollout_context *base, int unit,
                                      rollout_batch *batch);

/* The variant of the prepared request whose `unit` id is (id, len): exactly
 * rollout_decide's variant for it, ROLLOUT_STABLE (0) or ROLLOUT_NEW (1). id
 * NULL or len 0 is an absent id. A NULL batch answers ROLLOUT_STABLE. Reads
 * the batch, the plan and what base pointed to, and writes nothing, so any
 * number of threads may share one batch. Allocates nothing, takes no lock. */
ROLLOUT_API int rollout_batch_variant(const rollout_batch *batch, const char *id, size_t len);

/* Renders a decision as one line of text, e.g. "org acme is in cohort pilot;
 * bucket 4 120 < weight 25 000 at step 2 of phase pilot". Returns the length
 * it needed (like snprintf); buf is NUL-terminated when cap > 0. The unit id
 * is shown escaped (each byte of a control character or of ill-formed UTF-8
 * as \xHH, at most 64 bytes), so the line is UTF-8 with no control
 * character whatever the request sent. */
ROLLOUT_API size_t rollout_explain(const rollout_plan *plan, const rollout_decision *d,
                                   const rollout_context *ctx, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Evaluation: metrics snapshots, success criteria and verdicts
 * (docs/evaluation.md has every criterion form and the statistics)
 * ---------------------------------------------------------------------- */

/* The outcome of one criterion or of a whole criteria set. Values are
 * stable (states record them). */
typedef enum rollout_verdict {
    ROLLOUT_VERDICT_PASS = 0,         /* every criterion passed: go */
    ROLLOUT_VERDICT_FAIL = 1,         /* some criterion failed: no-go */
    ROLLOUT_VERDICT_INCONCLUSIVE = 2, /* not enough data to judge: hold, look again */
    ROLLOUT_VERDICT_ROLLBACK = 3      /* a criterion marked rollback failed: roll back now */
} rollout_verdict;

/* "PASS", "FAIL", "INCONCLUSIVE", "ROLLBACK"; "?" for unknown values. */
ROLLOUT_API const char *rollout_verdict_name(int verdict);

/* A metrics snapshot: what was measured on the new version and, optionally,
 * on the stable one (the baseline), over the same window. Owns its memory;
 * not thread-safe while being filled, read-only (and shareable) after. */
typedef struct rollout_metrics rollout_metrics;

/* Caps that keep a hostile metrics file from exhausting a process. */
#define ROLLOUT_MAX_METRICS_BYTES (4u << 20)  /* bytes of YAML or JSON */
#define ROLLOUT_MAX_CUSTOM_METRICS 256        /* named metrics per version */
#define ROLLOUT_MAX_SMOKE_RESULTS  256        /* smoke-test results per version */
#define ROLLOUT_MAX_SAMPLES        1000000u   /* latency samples or histogram buckets */

/* An empty snapshot. Returns ROLLOUT_ERR_NOMEM (and *out NULL) on failure. */
ROLLOUT_API int rollout_metrics_create(rollout_metrics **out);
/* Frees a snapshot; NULL is ignored. */
ROLLOUT_API void rollout_metrics_free(rollout_metrics *m);

/* Every setter takes `variant`: ROLLOUT_NEW for the version being rolled
 * out, ROLLOUT_STABLE for the baseline. A value that is NaN, infinite,
 * negative where a count, rate or time is meant, or otherwise impossible
 * (errors > requests, a rate above 100 %, p95 < p50) is refused with
 * ROLLOUT_ERR_METRICS and leaves the snapshot unchanged. Setting a metric
 * again replaces it. A NULL snapshot, a bad variant or a malformed name is
 * ROLLOUT_ERR_ARG.
 *
 * Metric names and units (custom names are 1-64 of A-Z a-z 0-9 - _ .):
 *   requests, errors            whole counts; error_rate = errors / requests
 *   error_rate                  fraction 0..1, used only when the counts are absent
 *   latency_p50/p95/p99         seconds
 *   critical_errors, unhandled_exceptions, support_tickets   whole counts
 *   availability                fraction 0..1
 *   issue_resolution_time       seconds
 *   any other name              a custom metric: any finite number */
ROLLOUT_API int rollout_metrics_set(rollout_metrics *m, int variant, const char *name,
                                    double value, rollout_error *err);

/* requests and errors together, so neither order of two rollout_metrics_set
 * calls is refused midway. */
ROLLOUT_API int rollout_metrics_set_requests(rollout_metrics *m, int variant,
                                             uint64_t requests, uint64_t errors,
                                             rollout_error *err);

/* All three latency percentiles, in seconds; p50 <= p95 <= p99. */
ROLLOUT_API int rollout_metrics_set_latency(rollout_metrics *m, int variant, double p50,
                                            double p95, double p99, rollout_error *err);

/* Raw latency samples in seconds, copied (the caller's array is not kept).
 * They feed the Mann-Whitney test and stand in for latency percentiles the
 * snapshot lacks. Replaces any earlier samples or histogram. */
ROLLOUT_API int rollout_metrics_set_latency_samples(rollout_metrics *m, int variant,
                                                    const double *seconds, size_t n,
                                                    rollout_error *err);

/* A latency histogram instead of samples: n buckets with strictly increasing
 * upper bounds in seconds (the last may be +INFINITY) and the number of
 * requests in each (not cumulative). Every request in a bucket counts as
 * taking its upper bound, so ranks tie within a bucket. Copied. */
ROLLOUT_API int rollout_metrics_set_latency_histogram(rollout_metrics *m, int variant,
                                                      const double *upper_bounds,
                                                      const uint64_t *counts, size_t n,
                                                      rollout_error *err);

/* The result of one smoke test, by the id the plan gives it; passed is
 * nonzero for a pass. A later result for the same test replaces it. */
ROLLOUT_API int rollout_metrics_set_smoke(rollout_metrics *m, int variant, const char *test,
                                          int passed, rollout_error *err);

/* Reads a metric back the way criteria see it: error_rate derived from the
 * counts, latency percentiles from samples when not set directly. Returns
 * ROLLOUT_ERR_NOT_FOUND when the snapshot has no such value. */
ROLLOUT_API int rollout_metrics_get(const rollout_metrics *m, int variant, const char *name,
                                    double *value);

/* Loads a snapshot from a YAML or JSON file (format in docs/evaluation.md):
 *
 *   new:        {requests: 120000, errors: 84, latency_p95: 1.4s,
 *                critical_errors: 0, smoke_tests: {login-logout: pass},
 *                custom: {data_integrity_issues: 0}}
 *   baseline:   {requests: 500000, errors: 600, latency_p95: 1.3s}
 *
 * Errors carry "file:line:column: field: " like plan errors; an impossible
 * value is ROLLOUT_ERR_METRICS. A NaN or infinite value does not refuse the
 * file: that metric is left unset and the criteria reading it evaluate
 * INCONCLUSIVE, naming where it was. On failure *out is NULL and nothing is
 * left allocated. */
ROLLOUT_API int rollout_metrics_load_file(const char *path, rollout_metrics **out,
                                          rollout_error *err);
/* Same for a buffer (need not be NUL-terminated; not retained). `name` is
 * used in error messages ("<buffer>" if NULL). */
ROLLOUT_API int rollout_metrics_load_buffer(const char *text, size_t len, const char *name,
                                            rollout_metrics **out, rollout_error *err);

/* Criteria in one set, at most (a longer set does not load). */
#define ROLLOUT_MAX_CRITERIA 32

/* How one criterion came out. Values are in the metric's unit: seconds for
 * latencies and times, fractions (0.005 = 0.5 %) for rates, plain counts.
 * A value that does not apply or could not be computed is NaN. */
typedef struct rollout_criterion_result {
    const char *id;      /* the criterion's id (points into the plan) */
    const char *metric;  /* its metric, or "smoke_tests" */
    int verdict;         /* PASS, FAIL or INCONCLUSIVE (never ROLLBACK) */
    int rollback;        /* 1 when a FAIL here makes the whole verdict ROLLBACK */
    int rollback_reason; /* rollout_rollback_reason it names (ROLLOUT_ROLLBACK_EVALUATION
                            for `rollback: true`); -1 when rollback is 0 */
    double observed;     /* the new version's value (smoke: tests passed) */
    double threshold;    /* the effective limit after baseline adjustments
                            (smoke: tests required) */
    double baseline;     /* the baseline's value used, if any */
    double p_value;      /* one-sided p-value of "the new version is worse", when a
                            statistical test ran */
    double lower, upper; /* Wilson bounds of the error rate at the confidence */
    double samples;      /* the new version's sample size (requests or latency
                            samples; smoke: tests with a result) */
    char reason[160];    /* one line a person can act on */
    int dry_run;         /* 1: `dry_run: true`, reported but never counted in the verdict
                            (nor in n_pass/n_fail/n_inconclusive, nor as a rollback) */
    int direction;       /* rollout_direction: which way the metric gets worse */
    double sla;          /* the `or_sla` bound it also passes at; NaN when none */
} rollout_criterion_result;

/* Which way a criterion's metric gets worse: latency and errors when they
 * rise (max, max_baseline_*), throughput and KPIs when they fall (min,
 * `direction: lower_is_worse`). */
typedef enum rollout_direction {
    ROLLOUT_HIGHER_IS_WORSE = 0,
    ROLLOUT_LOWER_IS_WORSE = 1
} rollout_direction;

/* A whole evaluation. results follow the order of the criteria set. */
typedef struct rollout_evaluation {
    int verdict;         /* rollout_verdict */
    const char *criteria;/* the criteria set evaluated (points into the plan) */
    int n_results;
    int n_pass, n_fail, n_inconclusive;
    int rollback_index;  /* first result whose FAIL triggered ROLLBACK, -1 none */
    int rollback_reason; /* its rollout_rollback_reason, -1 none */
    rollout_criterion_result results[ROLLOUT_MAX_CRITERIA];
} rollout_evaluation;

/* What rollout_evaluate's `name` names. */
typedef enum rollout_eval_target {
    ROLLOUT_EVAL_PHASE = 0,    /* a phase: the criteria of its gate(s) */
    ROLLOUT_EVAL_GATE = 1,     /* a gate id */
    ROLLOUT_EVAL_CRITERIA = 2, /* a criteria set id */
    ROLLOUT_EVAL_BAKE = 3      /* the bake period's criteria; name is ignored */
} rollout_eval_target;

/* Judges a snapshot against a criteria set of plan and fills *out.
 * Verdict: ROLLBACK if a rollback criterion FAILed, else FAIL if any
 * criterion FAILed, else INCONCLUSIVE if any was INCONCLUSIVE, else PASS.
 * A missing metric or baseline, or fewer samples than min_samples, makes
 * a criterion INCONCLUSIVE, never PASS. A phase whose gates name different
 * criteria sets must be evaluated by gate (ROLLOUT_ERR_ARG otherwise).
 * Returns ROLLOUT_ERR_NOT_FOUND when the name resolves to no criteria set;
 * on any error *out holds no results and verdict INCONCLUSIVE, never PASS.
 * Strings in *out point into plan. Pure: allocates only scratch for exact
 * Mann-Whitney p-values (so ROLLOUT_ERR_NOMEM is possible), and a shared
 * plan and snapshot may be evaluated from many threads at once. */
ROLLOUT_API int rollout_evaluate(const rollout_plan *plan, int target, const char *name,
                                 const rollout_metrics *metrics, rollout_evaluation *out,
                                 rollout_error *err);

/* ------------------------------------------------------------------------
 * Rollout state (the state machine's memory)
 * ---------------------------------------------------------------------- */

typedef enum rollout_status {
    ROLLOUT_STATUS_NOT_STARTED = 0,
    ROLLOUT_STATUS_RUNNING,
    ROLLOUT_STATUS_AWAITING_GATE,
    ROLLOUT_STATUS_PAUSED,
    ROLLOUT_STATUS_HALTED,        /* no-go with on_no_go: halt; new version gets 0 */
    ROLLOUT_STATUS_ROLLING_BACK,
    ROLLOUT_STATUS_ROLLED_BACK,
    ROLLOUT_STATUS_BAKING,
    ROLLOUT_STATUS_COMPLETED,
    ROLLOUT_STATUS_COUNT
} rollout_status;

ROLLOUT_API const char *rollout_status_name(int status);

/* Why a rollback started; a plan's rollback.triggers names which it allows. */
typedef enum rollout_rollback_reason {
    ROLLOUT_ROLLBACK_MANUAL = 0,
    ROLLOUT_ROLLBACK_CRITICAL_BUG,
    ROLLOUT_ROLLBACK_DATA_CORRUPTION,
    ROLLOUT_ROLLBACK_ERROR_RATE,
    ROLLOUT_ROLLBACK_NO_GO,        /* a gate said no-go and its plan says roll back */
    ROLLOUT_ROLLBACK_EVALUATION,   /* an evaluation returned ROLLBACK */
    ROLLOUT_ROLLBACK_COUNT
} rollout_rollback_reason;

/* "manual", "critical_bug", ... as written in plans. Never NULL. */
ROLLOUT_API const char *rollout_rollback_reason_name(int reason);

/* Pauses a state remembers; a further pause is refused (ROLLOUT_ERR_TRANSITION). */
#define ROLLOUT_MAX_PAUSES 16

/* Promotes a state remembers; a further PROMOTE is refused. */
#define ROLLOUT_MAX_PROMOTES 8

/* Records the audit trail keeps: the last 16 events people (or the
 * operator) sent; older ones fall off the ring. */
#define ROLLOUT_TRAIL_MAX 16
/* Bytes a trail record keeps of a reason, with its NUL: a longer reason is
 * cut on a UTF-8 character boundary to at most 47 bytes. */
#define ROLLOUT_REASON_MAX 48

/* What a trail record records. */
typedef enum rollout_trail_kind {
    ROLLOUT_TRAIL_START = 0,
    ROLLOUT_TRAIL_APPROVE,     /* gate, role */
    ROLLOUT_TRAIL_GO,          /* gate */
    ROLLOUT_TRAIL_OVERRIDE,    /* gate, role, reason; detail: the verdict overridden (-1 none) */
    ROLLOUT_TRAIL_NO_GO,       /* gate; detail 1 when the gate's verdict limits decided it */
    ROLLOUT_TRAIL_PAUSE,
    ROLLOUT_TRAIL_RESUME,
    ROLLOUT_TRAIL_ROLLBACK,    /* detail: rollout_rollback_reason */
    ROLLOUT_TRAIL_ABORT,       /* a rollback people asked for by that name; reason */
    ROLLOUT_TRAIL_CONFIRM,     /* detail: rollout_confirmation */
    ROLLOUT_TRAIL_RETRY,       /* attempt: the new attempt; detail: the phase it restarts */
    ROLLOUT_TRAIL_PROMOTE,     /* detail: the last step made to happen; flags: ALL_PHASES */
    ROLLOUT_TRAIL_COUNT
} rollout_trail_kind;

/* rollout_trail_record.flags */
#define ROLLOUT_TRAIL_VERDICT_OVERRIDDEN 1u /* an override over a FAIL or ROLLBACK verdict */
#define ROLLOUT_TRAIL_ALL_PHASES 2u         /* a promote over every phase */

/* One audit record: who did what, when. Plain data inside the state. */
typedef struct rollout_trail_record {
    int64_t at;
    int32_t kind;          /* rollout_trail_kind */
    int32_t role;          /* who: a role index, -1 not named */
    int32_t gate;          /* gate index, -1 none */
    int32_t attempt;       /* the attempt it happened in */
    int32_t detail;        /* per kind, above */
    uint32_t flags;        /* ROLLOUT_TRAIL_* */
    char reason[ROLLOUT_REASON_MAX]; /* NUL-terminated UTF-8, "" none */
} rollout_trail_record;

ROLLOUT_API const char *rollout_trail_kind_name(int kind);

/* The state a caller holds between events: fixed size, no pointers, so it
 * can live in shared memory or be copied byte for byte. Treat the fields as
 * read-only; change a state only through the state-machine functions. Times
 * are epoch seconds, 0 meaning "not yet". */
struct rollout_state {
    uint32_t format;                 /* ROLLOUT_STATE_FORMAT */
    int32_t status;                  /* rollout_status */
    uint64_t plan_fingerprint;
    uint64_t revision;               /* +1 on every transition */
    int64_t started_at;              /* the rollout's actual start: step offsets count from it */
    int64_t updated_at;              /* time of the last transition */
    int32_t phase;                   /* current phase, -1 before start */
    int32_t step;                    /* current step within the phase, -1 before start */
    int32_t gate;                    /* the next gate without a GO, -1 when none is left */
    int32_t paused_from;             /* status before the pause */
    int32_t n_pauses;
    int32_t last_verdict;            /* the last evaluation verdict, -1 none */
    /* Pause intervals [from, to); to == 0 while the pause lasts. The schedule's
     * clock stands still inside them. */
    int64_t pause_from[ROLLOUT_MAX_PAUSES];
    int64_t pause_to[ROLLOUT_MAX_PAUSES];
    int64_t gate_go_at[ROLLOUT_MAX_GATES];      /* when the gate got its GO */
    int64_t gate_no_go_at[ROLLOUT_MAX_GATES];   /* when the gate got a NO-GO */
    uint32_t gate_approvals[ROLLOUT_MAX_GATES]; /* bit r = role r approved */
    int32_t gate_override_role[ROLLOUT_MAX_GATES]; /* -1, or the role that overrode */
    int32_t consecutive_failures;
    int32_t consecutive_inconclusive;
    int32_t rollback_reason;         /* rollout_rollback_reason, -1 none */
    uint32_t rollback_done;          /* bit i = procedure step i confirmed */
    int64_t rollback_started_at;
    int64_t status_since[ROLLOUT_STATUS_COUNT]; /* when each status was last entered */
    /* Attempts: RETRY after a completed rollback starts attempt + 1 from the
     * first step of the phase that failed (attempt_step, a global step
     * index), at attempt_at; the gates from attempt_gate on are decided
     * again. The first attempt has attempt 1, attempt_step and attempt_gate
     * -1, attempt_at 0. */
    int32_t attempt;
    int32_t attempt_step;
    int32_t attempt_gate;
    int32_t n_promotes;
    int64_t attempt_at;
    /* PROMOTE: every step up to promote_to[k] (a global step index) that
     * had not happened by promote_at[k] happened then. */
    int32_t promote_to[ROLLOUT_MAX_PROMOTES];
    int64_t promote_at[ROLLOUT_MAX_PROMOTES];
    /* The audit trail: record k (0-based, of trail_total ever written) is
     * trail[k % ROLLOUT_TRAIL_MAX]; the ring keeps the last ROLLOUT_TRAIL_MAX. */
    uint32_t trail_total;
    rollout_trail_record trail[ROLLOUT_TRAIL_MAX];
};

/* 2 added attempts, promotes and the audit trail (text "rs2."); states of
 * format 1 ("rs1.") still decode, as a first attempt with an empty trail. */
#define ROLLOUT_STATE_FORMAT 2

/* ------------------------------------------------------------------------
 * The state machine: events in, next state and actions out
 * ---------------------------------------------------------------------- */

/* Starts a state for plan: NOT_STARTED, revision 0, bound to the plan's
 * fingerprint. */
ROLLOUT_API int rollout_state_init(const rollout_plan *plan, rollout_state *state);

typedef enum rollout_event_type {
    ROLLOUT_EVENT_START = 0,   /* begin the rollout now (offsets count from now) */
    ROLLOUT_EVENT_APPROVE,     /* gate, role: one approver says go */
    ROLLOUT_EVENT_GO,          /* gate: needs every approver and a PASS verdict, or override */
    ROLLOUT_EVENT_NO_GO,       /* gate: does what the gate's on_no_go says */
    ROLLOUT_EVENT_PAUSE,       /* freeze weights and the schedule's clock */
    ROLLOUT_EVENT_RESUME,      /* end a pause, or lift a halt back to awaiting the gate */
    ROLLOUT_EVENT_VERDICT,     /* verdict: the result of rollout_evaluate for the current gate;
                                  past the gate's failure_limit / inconclusive_limit it is
                                  the gate's no-go (docs/evaluation.md) */
    ROLLOUT_EVENT_ROLLBACK,    /* reason: start the rollback procedure */
    ROLLOUT_EVENT_CONFIRM,     /* confirmation: a rollback procedure step is done */
    ROLLOUT_EVENT_ESCALATE,    /* an issue is escalated (communication plan) */
    ROLLOUT_EVENT_TICK,        /* time passed: emit what fell due, detect deadlines */
    ROLLOUT_EVENT_RETRY,       /* after a completed rollback: a new attempt from the start
                                  of the phase that failed */
    ROLLOUT_EVENT_PROMOTE,     /* why: the rest of the current phase's steps happen now
                                  (all_phases: every phase's), up to a gate without a GO */
    ROLLOUT_EVENT_ABORT,       /* a manual rollback, by the name people use */
    ROLLOUT_EVENT_COUNT
} rollout_event_type;

/* What the caller confirms during a rollback. */
typedef enum rollout_confirmation {
    ROLLOUT_CONFIRM_TRAFFIC_HALTED = 0,
    ROLLOUT_CONFIRM_PREVIOUS_RESTORED,
    ROLLOUT_CONFIRM_SMOKE_PASSED,
    ROLLOUT_CONFIRM_SMOKE_FAILED,
    ROLLOUT_CONFIRM_SERVICE_RESUMED,
    ROLLOUT_CONFIRM_INCIDENT_OPENED,
    ROLLOUT_CONFIRM_POSTMORTEM_DONE,
    ROLLOUT_CONFIRM_COUNT
} rollout_confirmation;

/* One event. Fields an event type does not use are ignored. */
typedef struct rollout_event {
    int type;            /* rollout_event_type */
    int gate;            /* APPROVE, GO, NO_GO: gate index; -1 = the state's next gate */
    int role;            /* APPROVE: who approves; GO with override: who overrides */
    int override;        /* GO: 1 = go without every approval or a PASS, on role's word */
    int verdict;         /* VERDICT: rollout_verdict */
    int reason;          /* ROLLBACK: rollout_rollback_reason; VERDICT ROLLBACK: the
                            evaluation's rollback_reason (0 = "evaluation") */
    int confirmation;    /* CONFIRM: rollout_confirmation */
    /* Why, in words: required by an override GO and by PROMOTE, kept by
     * every event the trail records (cut to ROLLOUT_REASON_MAX - 1 bytes);
     * NULL or "" for none. Not retained. */
    const char *why;
    int override_verdict;/* GO with override: 1 = go over a FAIL or ROLLBACK verdict too */
    int all_phases;      /* PROMOTE: 1 = every phase, not only the current one */
    int actor;           /* who sends it, for the trail: a role index + 1, 0 = not named
                            (APPROVE and an override GO record role instead) */
} rollout_event;

typedef enum rollout_action_type {
    ROLLOUT_ACTION_SET_WEIGHT = 0, /* cohort, weight, unit: route that share to the new version */
    ROLLOUT_ACTION_NOTIFY,         /* comm: send a communication-plan message */
    ROLLOUT_ACTION_GATE_DUE,       /* gate: ask its approvers (roles) for a decision */
    ROLLOUT_ACTION_PAGE,           /* roles: page on-call */
    ROLLOUT_ACTION_HALT_TRAFFIC,   /* send no traffic to the new version */
    ROLLOUT_ACTION_RESTORE_PREVIOUS, /* label: restart the previous approved version */
    ROLLOUT_ACTION_RUN_SMOKE_TESTS,  /* label: on that version */
    ROLLOUT_ACTION_RESUME_SERVICE,
    ROLLOUT_ACTION_OPEN_INCIDENT,
    ROLLOUT_ACTION_SCHEDULE_POSTMORTEM, /* due: when it must be held by */
    ROLLOUT_ACTION_ESCALATE,       /* the rollback ran past its deadline, or smoke tests failed */
    ROLLOUT_ACTION_COMPLETE,       /* the rollout is complete */
    ROLLOUT_ACTION_COUNT
} rollout_action_type;

/* One thing the caller must do. Strings point into the plan. */
typedef struct rollout_action {
    int type;            /* rollout_action_type */
    int cohort;          /* SET_WEIGHT */
    uint32_t weight;     /* SET_WEIGHT */
    int unit;            /* SET_WEIGHT */
    int gate;            /* GATE_DUE */
    int comm;            /* NOTIFY: index of the communication row */
    uint32_t roles;      /* PAGE, GATE_DUE, NOTIFY: role bits */
    int64_t due;         /* SCHEDULE_POSTMORTEM, ESCALATE: the deadline */
    const char *id;      /* message, gate or procedure-step id */
    const char *label;   /* RESTORE_PREVIOUS, RUN_SMOKE_TESTS: version label */
    const char *channel; /* NOTIFY */
    const char *audience;/* NOTIFY */
    const char *text;    /* the plan's words for it */
} rollout_action;

/* Enough for any single event of any plan within the ROLLOUT_MAX_* caps. */
#define ROLLOUT_MAX_ACTIONS 256

/* Applies event at now to state. On success *next is the new state (it may
 * be the same object as state) and actions[0..*n_actions) what the caller
 * must do, in order; *n_actions is the array's capacity on input. now must
 * be positive, at most ROLLOUT_TIME_MAX and not before the state's
 * updated_at (ROLLOUT_ERR_ARG). An event
 * not valid in the current state returns ROLLOUT_ERR_TRANSITION, a state of
 * another plan ROLLOUT_ERR_STATE_PLAN, a why that is not UTF-8
 * ROLLOUT_ERR_ENCODING; then *next is untouched and *n_actions is 0. The
 * events people send (approve, go, override, no_go, pause, resume, rollback,
 * abort, confirm, start, retry, promote) append a record to the state's
 * audit trail (docs/state-machine.md, "The audit trail"). Allocates
 * nothing. */
ROLLOUT_API int rollout_apply(const rollout_plan *plan, const rollout_state *state,
                              const rollout_event *event, int64_t now, rollout_state *next,
                              rollout_action *actions, size_t *n_actions, rollout_error *err);

ROLLOUT_API const char *rollout_event_name(int type);
ROLLOUT_API const char *rollout_action_name(int type);
ROLLOUT_API const char *rollout_confirmation_name(int confirmation);

/* Longest encoded state, with its NUL. */
#define ROLLOUT_STATE_TEXT_MAX 4096

/* Encodes a state as one line of printable ASCII ("rs2." + base64url),
 * versioned and checksummed: safe in an HTTP header, a Redis value, an nginx
 * shared dict or a file. Returns the length written (without the NUL), or 0
 * when cap is too small. */
ROLLOUT_API size_t rollout_state_encode(const rollout_state *state, char *buf, size_t cap);

/* Decodes text written by rollout_state_encode. Rejects truncation, any
 * altered character, a foreign format (ROLLOUT_ERR_STATE or
 * ROLLOUT_ERR_UNSUPPORTED), a state no sequence of events makes (a time
 * outside ROLLOUT_TIME_MIN..MAX, updated_at before started_at, ...:
 * ROLLOUT_ERR_STATE, docs/state-machine.md) and, when plan is not NULL, a
 * state recorded for another plan (ROLLOUT_ERR_STATE_PLAN). *state is
 * written only on success. */
ROLLOUT_API int rollout_state_decode(const rollout_plan *plan, const char *text, size_t len,
                                     rollout_state *state, rollout_error *err);

/* Carries state, written for old_plan, over to new_plan, an edited plan of
 * the same rollout (same id). Phases, gates, roles and rollback procedure
 * steps are matched by id, steps by their position within their phase; the
 * status (rolled back, halted, paused, ...), the recorded GO and NO-GO times,
 * approvals, pauses, counters and times are kept, so neither the schedule
 * nor a rollback moves. On success *out (it may be the same object as state)
 * is bound to new_plan's fingerprint with revision + 1 and updated_at
 * unchanged; when both plans have the same fingerprint *out is a copy of
 * state, revision unchanged. A state that cannot be carried is refused,
 * naming what is missing, and *out is untouched: ROLLOUT_ERR_NOT_FOUND when
 * the current phase or step, a gate with a decision or approvals, a role
 * that approved or overrode, a confirmed rollback step, or a role, gate,
 * phase or step the attempt, a promote or the audit trail names is not in
 * the new plan (the attempt, promotes and trail are carried by id); ROLLOUT_ERR_TRANSITION when the new plan reorders what the state has
 * already passed (docs/state-machine.md, "Plan edits"); ROLLOUT_ERR_STATE_PLAN
 * when state is not old_plan's or new_plan is another rollout. Allocates
 * nothing. */
ROLLOUT_API int rollout_state_migrate(const rollout_plan *old_plan, const rollout_state *state,
                                      const rollout_plan *new_plan, rollout_state *out,
                                      rollout_error *err);

/* Whether next can have come from prev through zero or more transitions of
 * the state machine and plan migrations (rollout_apply,
 * rollout_state_migrate): 1 if so, 0 if not. It is for a reader that holds a
 * state and is handed another one of the same rollout (from a shared store,
 * say), to refuse a state of another history: one written on top of an older
 * state restored from a backup, which may carry the same or a higher
 * revision. next follows prev when it is the same state, or when it has a
 * higher revision and keeps what no event undoes: updated_at does not go
 * back; started_at and the status do not return to before the start; a
 * rollback, once started, keeps its start time and reason and its status
 * (rolling back or rolled back; rolled back stays rolled back); a completed
 * rollout stays completed; recorded pauses are kept (an open one may be
 * closed); a gate's GO time is kept; a NO-GO time is kept until a later
 * NO-GO or a GO of the same gate; the attempt number does not go down, and
 * a higher one (a retry) may end a completed rollback and clear the GOs of
 * the gates it decides again; the audit trail only grows, and the records
 * both states hold are equal. Across a migration (the fingerprints
 * differ) the revision must be higher and gates are compared by their GO
 * times, since the new plan may number them differently; confirmed
 * rollback steps are compared only within one plan. The same revision with
 * other content does not follow. Necessary conditions only: a state that
 * follows is not proven reachable. Pure; NULL follows nothing. */
ROLLOUT_API int rollout_state_follows(const rollout_state *prev, const rollout_state *next);

/* ------------------------------------------------------------------------
 * Scheduling and the calendar
 * ---------------------------------------------------------------------- */

/* Where a cohort stands: its weight, the unit it is bucketed by, and the step
 * that set it (phase -1 while none of its phases has begun). */
typedef struct rollout_cohort_weight {
    uint32_t weight;
    int unit;
    int phase;
    int step;            /* index within the phase */
} rollout_cohort_weight;

/* What the schedule does next. */
typedef enum rollout_change {
    ROLLOUT_CHANGE_NONE = 0,  /* nothing is scheduled (finished, halted, rolled back) */
    ROLLOUT_CHANGE_STEP,      /* a traffic step */
    ROLLOUT_CHANGE_GATE,      /* a go/no-go decision falls due */
    ROLLOUT_CHANGE_COMPLETE,  /* the bake period ends */
    ROLLOUT_CHANGE_WAIT       /* blocked on an event: a GO, a resume or the start */
} rollout_change;

/* The answer to "where are we at time T?". */
typedef struct rollout_schedule_info {
    int status;              /* rollout_status as the schedule sees it at now */
    int phase;               /* latest step that has happened: phase index, -1 none */
    int step;                /* and its index within the phase */
    int gate;                /* the gate due next or pending, -1 none */
    int gate_pending;        /* 1 when that gate's time has come and it has no GO */
    int64_t gate_due;        /* when its decision is (or was) due */
    int64_t slip;            /* seconds the next step runs behind the plan's offsets */
    int next_change;         /* rollout_change */
    int64_t next_at;         /* when; INT64_MAX when it waits on an event */
    int next_phase, next_step;
    uint32_t next_weight;
    int64_t bake_start;      /* INT64_MAX while unknown */
    int64_t complete_at;     /* INT64_MAX while unknown */
    int n_cohorts;
    rollout_cohort_weight cohorts[ROLLOUT_MAX_COHORTS];
} rollout_schedule_info;

/* Where the rollout stands at now. state NULL means started at the plan's
 * start with no gate decided. Rolled back, rolling back and halted states
 * give weight 0 to every cohort; a paused state freezes the weights and the
 * schedule's clock. See docs/scheduling.md. A now outside ROLLOUT_TIME_MIN..
 * ROLLOUT_TIME_MAX is ROLLOUT_ERR_ARG; a state is checked as rollout_apply
 * checks it (ROLLOUT_ERR_STATE, ROLLOUT_ERR_STATE_PLAN). On any error *out
 * says nothing is scheduled. */
ROLLOUT_API int rollout_schedule(const rollout_plan *plan, const rollout_state *state,
                                 int64_t now, rollout_schedule_info *out);

typedef enum rollout_calendar_kind {
    ROLLOUT_CAL_STEP = 0,     /* a traffic step takes effect */
    ROLLOUT_CAL_GATE,         /* a go/no-go decision is due */
    ROLLOUT_CAL_MESSAGE,      /* a communication-plan message goes out */
    ROLLOUT_CAL_BAKE,         /* the bake period starts */
    ROLLOUT_CAL_COMPLETE      /* the rollout completes */
} rollout_calendar_kind;

/* One scheduled event. Names point into the plan. */
typedef struct rollout_calendar_event {
    int64_t at;
    int kind;                 /* rollout_calendar_kind */
    int phase;                /* -1 when not tied to a phase */
    int step;                 /* within the phase, -1 none */
    int gate;                 /* gate index, -1 none */
    int cohort;               /* cohort whose weight changes, -1 none */
    uint32_t weight;          /* ROLLOUT_CAL_STEP: the new weight */
    int projected;            /* 1 when it assumes a future GO comes on time */
    const char *title;        /* phase, gate or message id */
    const char *channel;      /* ROLLOUT_CAL_MESSAGE: channel, audience, message */
    const char *audience;
    const char *message;
    uint32_t owners;          /* role bits: owners or approvers */
    int64_t due;              /* ROLLOUT_CAL_STEP: when it fell due before a change
                                 window or freeze moved it (== at when not moved) */
} rollout_calendar_event;

#define ROLLOUT_MAX_CALENDAR (ROLLOUT_MAX_STEPS + ROLLOUT_MAX_GATES + 64 + 2)

/* Every scheduled step, gate and message in time order, slipped as the state
 * records, assuming GOs still to come arrive on time. Writes at most cap
 * events and the total into *n; ROLLOUT_ERR_BUFFER when cap is too small
 * (ROLLOUT_MAX_CALENDAR always suffices). A state is checked as
 * rollout_apply checks it (ROLLOUT_ERR_STATE, ROLLOUT_ERR_STATE_PLAN; *n is
 * then 0). */
ROLLOUT_API int rollout_calendar(const rollout_plan *plan, const rollout_state *state,
                                 rollout_calendar_event *events, size_t cap, size_t *n);

/* Output formats of rollout_calendar_render. */
typedef enum rollout_calendar_format {
    ROLLOUT_CALENDAR_TABLE = 0, /* aligned text: time, T+offset, phase, event, weight, who */
    ROLLOUT_CALENDAR_JSON,      /* an array of event objects */
    ROLLOUT_CALENDAR_ICS,       /* iCalendar (RFC 5545): one VEVENT per event, stable UIDs */
    ROLLOUT_CALENDAR_SVG        /* a chart of each cohort's weight over time, gates marked */
} rollout_calendar_format;

/* Renders the calendar of rollout_calendar in one of those formats. The
 * output depends only on its arguments (no clock is read), so two renders
 * are byte for byte equal. Buffer protocol as rollout_plan_dump: buf is
 * NUL-terminated when cap > 0, *needed (if not NULL) receives the full
 * length without the NUL, ROLLOUT_ERR_BUFFER when cap is too small;
 * ROLLOUT_ERR_ARG for an unknown format; the state's errors of
 * rollout_calendar. */
ROLLOUT_API int rollout_calendar_render(const rollout_plan *plan, const rollout_state *state,
                                        int format, char *buf, size_t cap, size_t *needed);

#ifdef __cplusplus
}
#endif

#endif /* ROLLOUT_H */
