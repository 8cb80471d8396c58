/* SPDX-License-Identifier: MIT */
/*
 * internal.h — what the files of lib/ share and nobody outside may see.
 *
 * Plans are built from a small YAML node tree (yaml_tree.c) by per-concern
 * parsers (plan_load.c for the skeleton, targeting.c for cohort rules,
 * evaluate.c for criteria) using the helpers in parse.c. All memory of a plan
 * lives in one arena, so a failed load frees everything with one call and a
 * loaded plan is never half-built.
 */
#ifndef ROLLOUT_INTERNAL_H
#define ROLLOUT_INTERNAL_H

#include "rollout.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#  define RP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#  define RP_LIKELY(x) __builtin_expect(!!(x), 1)
#  define RP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define RP_PRINTF(f, a)
#  define RP_LIKELY(x) (x)
#  define RP_UNLIKELY(x) (x)
#endif

#define RP_COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* "no time": a schedule event that will never happen */
#define RP_NEVER INT64_MAX
/* t within ROLLOUT_TIME_MIN..ROLLOUT_TIME_MAX: one subtraction and one
 * unsigned compare, cheap enough for the decide path. */
#define RP_TIME_OK(t) \
    ((uint64_t)(t) - (uint64_t)ROLLOUT_TIME_MIN <= \
     (uint64_t)ROLLOUT_TIME_MAX - (uint64_t)ROLLOUT_TIME_MIN)

/* ---- arena ------------------------------------------------------------ */

typedef struct rp_chunk rp_chunk;
typedef struct rp_arena {
    rp_chunk *head;
    size_t used;   /* bytes used in head */
    size_t cap;    /* capacity of head */
    size_t total;  /* bytes handed out, for limits */
} rp_arena;

/* Zeroed memory that lives until rp_arena_free; NULL when out of memory. */
void *rp_alloc(rp_arena *a, size_t size);
void *rp_alloc_array(rp_arena *a, size_t n, size_t size);
char *rp_strndup(rp_arena *a, const char *s, size_t len);
void rp_arena_free(rp_arena *a);

/* ---- errors ----------------------------------------------------------- */

/* Fills err (if not NULL) and returns code. file may be NULL; field may be
 * NULL or "". The message becomes "file:line:col: field: text". */
int rp_error_set(rollout_error *err, int code, const char *file, int line, int col,
                 const char *field, const char *fmt, ...) RP_PRINTF(7, 8);
int rp_error_setv(rollout_error *err, int code, const char *file, int line, int col,
                  const char *field, const char *fmt, va_list ap);

/* ---- YAML node tree ----------------------------------------------------- */

typedef enum rp_kind { RP_SCALAR, RP_SEQ, RP_MAP } rp_kind;

typedef struct rp_node rp_node;
struct rp_node {
    rp_kind kind;
    int line, col;        /* 1-based position of the node's first character */
    bool plain;           /* scalar written without quotes */
    const char *str;      /* scalar text, NUL-terminated (may contain NULs) */
    size_t len;
    rp_node **items;      /* SEQ: n items; MAP: n pairs as key,value,key,value... */
    size_t n;
    size_t expanded;      /* nodes in this subtree with aliases expanded */
};

/* Parses one YAML document into a node tree allocated from arena. Enforces
 * ROLLOUT_MAX_PLAN_BYTES (the caller checks), ROLLOUT_MAX_DEPTH and
 * ROLLOUT_MAX_NODES counted after alias expansion, so an alias bomb is
 * rejected before anything walks it. *root is NULL for an empty document
 * (the caller decides whether that is an error). */
int rp_yaml_parse(rp_arena *arena, const char *buf, size_t len, const char *file,
                  rp_node **root, rollout_error *err);
/* The same, reporting how many anchor-table slots were looked at (rehashes
 * included), so tests can check alias resolution stays linear. */
int rp_yaml_parse_counted(rp_arena *arena, const char *buf, size_t len, const char *file,
                          rp_node **root, rollout_error *err, size_t *probes);

/* ---- parse context and helpers (parse.c) ------------------------------- */

typedef struct rp_ctx {
    rp_arena *arena;
    rollout_error *err;
    const char *file;
    struct rollout_plan *plan;
    char path[192];
    size_t path_len;
    /* load-time memory dropped after the build (the node tree's arena), or
     * NULL; targeting.c keeps its memo of rules and patterns there */
    rp_arena *scratch;
    struct rp_rule_memo *memo;
    /* the plan file's directory ("" for the current one), which ids files
     * are read relative to; NULL for a plan from a buffer */
    const char *base_dir;
} rp_ctx;

/* Field paths: push returns a mark to pop back to. */
size_t rp_path_key(rp_ctx *c, const char *key);
size_t rp_path_index(rp_ctx *c, size_t index);
void rp_path_pop(rp_ctx *c, size_t mark);

/* Reports an error at node (or at no position when node is NULL) for the
 * current path. Always returns code, so parsers can `return rp_fail(...)`. */
int rp_fail(rp_ctx *c, const rp_node *node, int code, const char *fmt, ...) RP_PRINTF(4, 5);

/* Type checks with a helpful message ("expected a mapping, got a list"). */
int rp_expect(rp_ctx *c, const rp_node *node, rp_kind kind);

/* Checks every key of map is in allowed (NULL-terminated); fails with
 * ROLLOUT_ERR_UNKNOWN_KEY at the key, listing the allowed keys. (A key
 * written twice never gets here: the tree reader refuses it.) */
int rp_map_check(rp_ctx *c, const rp_node *map, const char *const *allowed);
/* The value under key, or NULL. */
const rp_node *rp_map_get(const rp_node *map, const char *key);
/* The value under key; fails with ROLLOUT_ERR_MISSING at the map if absent. */
int rp_map_require(rp_ctx *c, const rp_node *map, const char *key, const rp_node **out);

/* Scalar conversions. Each checks the node is a scalar and reports the
 * expected form in its error message. */
int rp_string(rp_ctx *c, const rp_node *n, const char **out);    /* arena copy */
int rp_ident(rp_ctx *c, const rp_node *n, const char **out);     /* [A-Za-z0-9_.-]+ */
int rp_bool(rp_ctx *c, const rp_node *n, bool *out);
int rp_uint(rp_ctx *c, const rp_node *n, uint64_t max, uint64_t *out);
int rp_number(rp_ctx *c, const rp_node *n, double *out);       /* finite */
/* "90m", "4h", "2d", "1d12h", "30s", "0"; seconds. */
int rp_duration(rp_ctx *c, const rp_node *n, int64_t *out);
/* ISO-8601 "2026-02-28T09:00:00Z" or with "+01:00"; epoch seconds. */
int rp_time(rp_ctx *c, const rp_node *n, int64_t *out);
/* "25%", "12.5%", "0.001%": weight in 0.001 % units, 0..100000. */
int rp_weight(rp_ctx *c, const rp_node *n, uint32_t *out);
/* "0.5%" -> 0.005; a plain number is taken as is. */
int rp_fraction(rp_ctx *c, const rp_node *n, double *out);
/* "2s", "1500ms", "250us" -> seconds as a double. */
int rp_latency(rp_ctx *c, const rp_node *n, double *out);

/* Pure string parsers shared by the loader, the CLI and metrics. Each
 * returns true on success. */
bool rp_parse_duration(const char *s, size_t len, int64_t *out);
/* Years 0001 to 9999 with an offset: the result may lie up to a day
 * outside ROLLOUT_TIME_MIN..MAX, which callers check (RP_TIME_OK). */
bool rp_parse_time(const char *s, size_t len, int64_t *out);
bool rp_parse_weight(const char *s, size_t len, uint32_t *out);
/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t rp_days_from_civil(int64_t y, unsigned m, unsigned d);
void rp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* Formats t as "2026-02-28T09:00:00Z" into buf (>= 21 bytes). Any int64_t
 * formats, as a proleptic year of up to 12 digits and a sign (32 bytes). */
void rp_format_time(int64_t t, char *buf, size_t cap);
/* Formats seconds as "1d12h", "90m", "0s". */
void rp_format_duration(int64_t secs, char *buf, size_t cap);
/* The offset of t from start, one notation for every output: "T+0", whole
 * hours and then minutes under two days ("T+4h", "T+24h", "T+36h30m"), days
 * from two days on ("T+2d", "T+3d12h"); "T-..." before start. */
void rp_format_offset(int64_t t, int64_t start, char *buf, size_t cap);
/* Formats a weight as "12.5%". */
void rp_format_weight(uint32_t w, char *buf, size_t cap);
/* A weight as a JSON number of percent, no % sign: 10000 -> "10",
 * 12500 -> "12.5", 1 -> "0.001". */
void rp_format_percent(uint32_t w, char *buf, size_t cap);

/* Reads a whole file of at most limit bytes into a malloc'd buffer (free()
 * it). Errors name the file: ROLLOUT_ERR_IO, ROLLOUT_ERR_NOMEM, or
 * ROLLOUT_ERR_LIMIT ("the <what> is larger than N bytes"). */
int rp_read_file(const char *path, size_t limit, const char *what, char **buf, size_t *len,
                 rollout_error *err);

/* A growable output string used by the dumpers and the calendar; stops
 * growing (and sets failed) on allocation failure. */
typedef struct rp_buf {
    char *data;
    size_t len, cap;
    bool failed;
} rp_buf;
void rp_buf_putn(rp_buf *b, const char *s, size_t n);
void rp_buf_puts(rp_buf *b, const char *s);
void rp_buf_printf(rp_buf *b, const char *fmt, ...) RP_PRINTF(2, 3);
/* Writes s as a double-quoted JSON string (also valid YAML). */
void rp_buf_json_str(rp_buf *b, const char *s, size_t n);
/* Writes s as terminal text (rp_text_escape). */
void rp_buf_text(rp_buf *b, const char *s, size_t n);
void rp_buf_free(rp_buf *b);

/* The escapers of lib/escape.c, one each for JSON and for terminal text,
 * shared by the library's outputs and the rollout tool; they hand their
 * output to put(to, bytes, len) piece by piece and allocate nothing.
 *
 * rp_json_escape writes s as a JSON string literal, quotes included, that
 * is valid UTF-8 and strict JSON whatever s holds: \" and \\, \n \r \t,
 * \u00XX for every other C0 control, DEL and the C1 controls U+0080..U+009F,
 * well-formed UTF-8 as it is, and \ufffd for each maximal subpart of an
 * ill-formed sequence (overlong forms, surrogates, > U+10FFFF, stray or
 * missing continuation bytes), as WHATWG decoders replace them.
 *
 * rp_text_escape writes s for a terminal, as rollout_explain shows ids:
 * each byte of a C0 control (newline and tab included), DEL, a C1 control
 * or ill-formed UTF-8 becomes \xHH; everything else is left as it is.
 * rp_text_is_plain says whether it would leave s unchanged. */
typedef void (*rp_sink)(void *to, const char *s, size_t n);
void rp_json_escape(const char *s, size_t n, rp_sink put, void *to);
void rp_text_escape(const char *s, size_t n, rp_sink put, void *to);
/* Whether s[0..n) is well-formed UTF-8 (escape.c). */
bool rp_utf8_valid(const char *s, size_t n);
bool rp_text_is_plain(const char *s, size_t n);

#endif /* ROLLOUT_INTERNAL_H */
