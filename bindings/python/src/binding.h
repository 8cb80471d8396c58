/* SPDX-License-Identifier: MIT */
/*
 * binding.h — the CPython extension rollout._rollout over librollout.
 *
 * Built against the limited API of Python 3.8 (Py_LIMITED_API=0x03080000),
 * so one .abi3.so serves every CPython from 3.8 on. Two things that would
 * make the hot path faster are only in the stable ABI from 3.10 on
 * (METH_FASTCALL and PyUnicode_AsUTF8AndSize); the module checks the running
 * interpreter's version once at import and uses them only there, falling
 * back to the 3.8 forms (an argument tuple + dict, a temporary bytes object)
 * on 3.8 and 3.9. See rb_init_runtime() in module.c.
 *
 * The binding marshals arguments and results and maps errors to exceptions;
 * every decision is the C library's.
 */
#ifndef ROLLOUT_BINDING_H
#define ROLLOUT_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "rollout.h"

#include <limits.h>
#include <stdint.h>

/* ---- types ------------------------------------------------------------------ */

/* A loaded plan. The names are created once per plan, so results hand out
 * the same str objects instead of building new ones on every access. */
typedef struct {
    PyObject_HEAD
    rollout_plan *plan;
    uint64_t fingerprint; /* rollout_plan_fingerprint(plan), for rb_state_fast */
    int n_phases, n_cohorts, n_gates, n_roles;
    PyObject *phase_names[ROLLOUT_MAX_PHASES];
    PyObject *cohort_names[ROLLOUT_MAX_COHORTS];
    PyObject *gate_names[ROLLOUT_MAX_GATES];
    PyObject *role_names[ROLLOUT_MAX_ROLES];
    PyObject *labels[2];
} PlanObject;

/* One decision. It keeps the request's ids (references, not copies) only so
 * that explain() can name them; attrs is a snapshot dict or NULL. */
typedef struct {
    PyObject_HEAD
    PlanObject *plan;
    PyObject *ids[4]; /* org, user, session, request; NULL when absent */
    PyObject *attrs;
    rollout_decision d;
} DecisionObject;

/* A rollout state, immutable from Python: apply() returns a new one. */
typedef struct {
    PyObject_HEAD
    PlanObject *plan;
    rollout_state s;
} StateObject;

/* A metrics snapshot. `busy` counts evaluations running on it with the GIL
 * released; setters refuse while it is non-zero, so no thread ever writes
 * a snapshot another thread is reading. It is only touched with the GIL
 * held, so it needs no atomics. */
typedef struct {
    PyObject_HEAD
    rollout_metrics *m;
    int busy;
} MetricsObject;

extern PyTypeObject *rb_PlanType, *rb_DecisionType, *rb_StateType, *rb_MetricsType,
    *rb_StoreType;

/* Exceptions: Error and its subclasses (module.c). */
extern PyObject *rb_Error, *rb_PlanError, *rb_StateError, *rb_TransitionError,
    *rb_MetricsError, *rb_ArgumentError, *rb_NotFoundError;
/* The store's (store.c): StoreError and its subclasses. */
extern PyObject *rb_StoreError, *rb_StoreTimeoutError, *rb_ConflictError, *rb_SignatureError,
    *rb_ReplayError;

/* ---- runtime features ------------------------------------------------------- */

/* 1 when running on CPython >= 3.10, where METH_FASTCALL and
 * PyUnicode_AsUTF8AndSize belong to the stable ABI. Set once at import. */
extern int rb_py310;

/* The 3.10 stable-ABI function, declared here because the 3.8 limited
 * headers do not. Weak, so the module still loads on an interpreter that
 * lacks it; only called when rb_py310 says it is part of the stable ABI. */
extern const char *PyUnicode_AsUTF8AndSize(PyObject *unicode, Py_ssize_t *size)
    __attribute__((weak));

#ifndef METH_FASTCALL
#define METH_FASTCALL 0x0080 /* stable ABI value since 3.10 */
#endif
typedef PyObject *(*rb_fastcall_kw)(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames);

/* ---- helpers (module.c) ------------------------------------------------------ */

/* The UTF-8 bytes of a str (or the bytes of a bytes object). `tmp` holds the
 * object that owns them when one had to be made; release with rb_str_clear. */
typedef struct {
    const char *p;
    size_t n;
    PyObject *tmp;
} rb_str;

/* str or bytes into s; None gives an empty (absent) value when allow_none.
 * On failure raises TypeError naming `what` and returns -1. */
int rb_str_get(PyObject *o, rb_str *s, const char *what, int allow_none);
static inline void rb_str_clear(rb_str *s)
{
    Py_XDECREF(s->tmp);
    s->tmp = NULL;
}

/* rb_str_get with the common case inlined: an exact str on 3.10+, read in
 * place (no type-flag call, no temporary). Hot loops use this. */
static inline int rb_str_fast(PyObject *o, rb_str *s, const char *what, int allow_none)
{
    if (rb_py310 && Py_TYPE(o) == &PyUnicode_Type) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(o, &n);
        if (!p)
            return -1;
        s->p = p;
        s->n = (size_t)n;
        s->tmp = NULL;
        return 0;
    }
    return rb_str_get(o, s, what, allow_none);
}

/* A time argument: an int (epoch seconds) or an aware datetime; None or
 * NULL means now (the binding reads the clock so scripts need not; the
 * library never does). A naive datetime is a ValueError, anything else a
 * TypeError. */
int rb_time(PyObject *o, int64_t *out, const char *what);
/* t within ROLLOUT_TIME_MIN..MAX (one compare); rb_time raises ArgumentError,
 * a ValueError, for a time outside them. */
#define RB_TIME_OK(t) \
    ((uint64_t)(t) - (uint64_t)ROLLOUT_TIME_MIN <= \
     (uint64_t)ROLLOUT_TIME_MAX - (uint64_t)ROLLOUT_TIME_MIN)

/* Raises the exception for code, with the message and position of err when
 * given (else `msg`, else the code's name). ctx chooses the class for codes
 * that depend on what was being read. Returns NULL for `return rb_raise(...)`. */
enum { RB_CTX_GENERIC, RB_CTX_PLAN, RB_CTX_STATE, RB_CTX_METRICS, RB_CTX_STORE };
PyObject *rb_raise(int code, const rollout_error *err, const char *msg, int ctx);

/* Interned strings shared by the types. */
extern PyObject *rb_str_new, *rb_str_stable, *rb_reason_names[9], *rb_unit_names[4];
extern PyObject *rb_kw_decide[7]; /* org user session request attrs at state */
extern PyObject *rb_kw_decide_many[7]; /* orgs users sessions requests attrs at state */

/* Names of enums that have no rollout_*_name function. */
extern const char *const rb_unit_cstr[4];
extern const char *const rb_change_cstr[5];
extern const char *const rb_calendar_kind_cstr[5];
extern const char *const rb_calendar_format_cstr[4];

/* An int, or None for the sentinel `none`. New reference. */
PyObject *rb_int_or_none(int64_t v, int64_t none);
/* d[key] = value, stealing value; -1 (and value released) on failure. */
int rb_set(PyObject *d, const char *key, PyObject *value);
/* A tuple of the plan's role names for the bits set in `bits`. */
PyObject *rb_role_tuple(PlanObject *plan, uint32_t bits);
/* name or None, borrowed from the plan's cache, returned as a new reference. */
PyObject *rb_name(PyObject *const *names, int n, int index);
/* Index of `name` (str) among a plan's cached names, -1 if absent; -2 with
 * an exception set when name is not a str. */
int rb_name_index(PyObject *const *names, int n, PyObject *name);

/* rb_time with an exact int inline. PyLong_AsSsize_t is one call (where
 * PyLong_AsLong is two) and never calls back into Python. */
static inline int rb_time_fast(PyObject *o, int64_t *out, const char *what)
{
#if PY_SSIZE_T_MAX >= INT64_MAX
    if (o && Py_TYPE(o) == &PyLong_Type) {
        Py_ssize_t v = PyLong_AsSsize_t(o);
        if (RB_TIME_OK(v) && (v != -1 || !PyErr_Occurred())) {
            *out = (int64_t)v;
            return 0;
        }
        /* out of range or too big: rb_time says which */
        PyErr_Clear();
    }
#endif
    return rb_time(o, out, what);
}

/* Accepts a State for plan (or None, giving NULL); TypeError otherwise. */
int rb_state_arg(PlanObject *plan, PyObject *o, const rollout_state **out);

/* The last State type rb_state_arg accepted (rollout.State, a subclass of
 * the C type); kept alive by the reference rb_state_arg holds. */
extern PyTypeObject *rb_state_known;

/* rb_state_arg with the usual case inline: a State of a known type for
 * this very plan. */
static inline int rb_state_fast(PlanObject *plan, PyObject *o, const rollout_state **out)
{
    if (o && (Py_TYPE(o) == rb_state_known || Py_TYPE(o) == rb_StateType) &&
        ((StateObject *)o)->s.plan_fingerprint == plan->fingerprint) {
        *out = &((StateObject *)o)->s;
        return 0;
    }
    return rb_state_arg(plan, o, out);
}

/* ---- type specs (one file each) ----------------------------------------------- */

int rb_plan_init(PyObject *module);
int rb_decision_init(PyObject *module);
int rb_state_init(PyObject *module);
int rb_metrics_init(PyObject *module);
int rb_store_init(PyObject *module);

/* state.c, shared with the store: a State of `type` for plan holding s; an
 * event and its time from apply's arguments (event, at=None, *, gate, role,
 * override, verdict, reason, confirmation); the actions as a list of dicts. */
PyObject *rb_state_make(PyTypeObject *type, PlanObject *plan, const rollout_state *s);
int rb_event_args(PlanObject *p, PyObject *args, PyObject *kwargs, rollout_event *ev,
                  int64_t *at);
PyObject *rb_action_list(PlanObject *p, const rollout_action *actions, size_t n);

/* decide.c: the decide and decide_many methods Plan registers (the fast
 * forms on 3.10+). */
PyObject *rb_plan_decide_varargs(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *rb_plan_decide_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames);
PyObject *rb_plan_decide_many(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *rb_plan_decide_many_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames);

/* plan.c: a Plan object around a loaded plan (takes the reference). */
PyObject *rb_plan_wrap(PyTypeObject *type, rollout_plan *plan);

#define RB_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
