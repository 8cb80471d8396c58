/* SPDX-License-Identifier: MIT */
/*
 * decide.c — Plan.decide, Plan.decide_many and the Decision result type.
 *
 * decide is the hot path of a Python gateway, so it avoids everything that
 * is not needed for the answer: the keyword names of a call site are
 * matched once and remembered (3.10+), str ids are read in place (3.10+),
 * the usual call (str ids, an int or no time, a State of this plan, no
 * attrs) runs inline with no other call into Python than reading the id and
 * the time, the decision is written straight into a result object from a
 * free list, which keeps references to the ids instead of formatting
 * anything, and the explanation is only rendered when asked for. The GIL
 * is *not* released around one rollout_decide: it takes tens of
 * nanoseconds, less than releasing and taking back the GIL. Nor does
 * decide_many, which asks a prepared rollout_batch per id as it reads the
 * ids in place (see below), and parses its arguments as decide does
 * (3.10+), which matters for short lists.
 */
#include "binding.h"

#include <string.h>

PyTypeObject *rb_DecisionType;

static const char *const id_names[4] = {"org", "user", "session", "request"};

/* ---- attributes -------------------------------------------------------------------- */

/* Up to this many attributes are converted on the stack. */
#define ATTRS_ON_STACK 8

typedef struct {
    rollout_attr *attrs;
    rb_str *strs; /* 2 per attribute: key, value */
    size_t n;
    rollout_attr stack_attrs[ATTRS_ON_STACK];
    rb_str stack_strs[2 * ATTRS_ON_STACK];
} attr_buf;

static void attrs_clear(attr_buf *b)
{
    for (size_t i = 0; i < 2 * b->n; i++)
        rb_str_clear(&b->strs[i]);
    if (b->attrs != b->stack_attrs) {
        PyMem_Free(b->attrs);
        PyMem_Free(b->strs);
    }
    b->attrs = b->stack_attrs;
    b->strs = b->stack_strs;
    b->n = 0;
}

/* Converts dict (str/bytes keys and values; a None value is skipped as
 * absent) into b. The dict must not change meanwhile: callers pass their
 * own snapshot. */
static int attrs_fill(PyObject *dict, attr_buf *b)
{
    b->attrs = b->stack_attrs;
    b->strs = b->stack_strs;
    b->n = 0;
    Py_ssize_t size = PyDict_Size(dict);
    if (size > ATTRS_ON_STACK) {
        b->attrs = PyMem_Malloc(sizeof *b->attrs * (size_t)size);
        b->strs = PyMem_Malloc(sizeof *b->strs * 2 * (size_t)size);
        if (!b->attrs || !b->strs) {
            PyMem_Free(b->attrs);
            PyMem_Free(b->strs);
            b->attrs = b->stack_attrs;
            b->strs = b->stack_strs;
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (v == Py_None)
            continue;
        rb_str *ks = &b->strs[2 * b->n], *vs = ks + 1;
        if (rb_str_get(k, ks, "an attrs key", 0) < 0)
            goto fail;
        if (rb_str_get(v, vs, "an attrs value", 0) < 0) {
            rb_str_clear(ks);
            goto fail;
        }
        b->attrs[b->n++] = (rollout_attr){ks->p, ks->n, vs->p, vs->n};
    }
    return 0;
fail:
    attrs_clear(b);
    return -1;
}

/* ---- the Decision type -------------------------------------------------------------- */

/* A few freed Decisions kept for reuse, as CPython does for floats: a
 * gateway makes and drops one per request, and this saves the allocator
 * round trip. Only touched with the GIL held. */
#define FREELIST_MAX 64
static PyObject *freelist[FREELIST_MAX];
static int n_free;

static DecisionObject *decision_alloc(void)
{
    if (n_free > 0) {
        PyObject *o = freelist[--n_free];
        /* sets the refcount to 1 and the type (with a reference: heap type) */
        return (DecisionObject *)PyObject_Init(o, rb_DecisionType);
    }
    return PyObject_New(DecisionObject, rb_DecisionType);
}

static void decision_dealloc(PyObject *self)
{
    DecisionObject *d = (DecisionObject *)self;
    Py_DECREF(d->plan);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(d->ids[i]);
    Py_XDECREF(d->attrs);
    PyTypeObject *tp = Py_TYPE(self);
    if (n_free < FREELIST_MAX)
        freelist[n_free++] = self;
    else
        PyObject_Free(self); /* Decision is final and made by PyObject_New */
    Py_DECREF(tp);
}

static PyObject *decision_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError, "Decisions come from Plan.decide()");
    return NULL;
}

#define D(self) (&((DecisionObject *)(self))->d)

static PyObject *get_new(PyObject *self, void *c)
{
    return PyBool_FromLong(D(self)->variant == ROLLOUT_NEW);
}
static PyObject *get_variant(PyObject *self, void *c)
{
    PyObject *s = D(self)->variant == ROLLOUT_NEW ? rb_str_new : rb_str_stable;
    Py_INCREF(s);
    return s;
}
static PyObject *get_version(PyObject *self, void *c)
{
    PlanObject *p = ((DecisionObject *)self)->plan;
    PyObject *s = p->labels[D(self)->variant == ROLLOUT_NEW];
    Py_INCREF(s);
    return s;
}
static PyObject *get_reason(PyObject *self, void *c)
{
    int r = D(self)->reason;
    if (r < 0 || r >= 9)
        return PyUnicode_FromString(rollout_reason_name(r));
    Py_INCREF(rb_reason_names[r]);
    return rb_reason_names[r];
}
static PyObject *get_cohort(PyObject *self, void *c)
{
    PlanObject *p = ((DecisionObject *)self)->plan;
    return rb_name(p->cohort_names, p->n_cohorts, D(self)->cohort);
}
static PyObject *get_phase(PyObject *self, void *c)
{
    PlanObject *p = ((DecisionObject *)self)->plan;
    return rb_name(p->phase_names, p->n_phases, D(self)->phase);
}
static PyObject *get_step(PyObject *self, void *c) { return rb_int_or_none(D(self)->step, -1); }
static PyObject *get_unit(PyObject *self, void *c)
{
    return rb_name(rb_unit_names, 4, D(self)->unit);
}
static int bucketed(const rollout_decision *d)
{
    return d->reason == ROLLOUT_REASON_IN_ROLLOUT || d->reason == ROLLOUT_REASON_OUT_OF_ROLLOUT;
}
static PyObject *get_bucket(PyObject *self, void *c)
{
    if (!bucketed(D(self)))
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(D(self)->bucket);
}
static PyObject *get_weight(PyObject *self, void *c)
{
    return PyLong_FromUnsignedLong(D(self)->weight);
}
static PyObject *get_percent(PyObject *self, void *c)
{
    return PyFloat_FromDouble(D(self)->weight / 1000.0);
}
static PyObject *get_plan(PyObject *self, void *c)
{
    PyObject *p = (PyObject *)((DecisionObject *)self)->plan;
    Py_INCREF(p);
    return p;
}

/* The context the decision was made for, rebuilt from the kept objects. */
static int context_of(DecisionObject *d, rollout_context *ctx, rb_str ids[4], attr_buf *ab)
{
    memset(ctx, 0, sizeof *ctx);
    memset(ids, 0, 4 * sizeof ids[0]);
    ab->n = 0;
    ab->attrs = ab->stack_attrs;
    ab->strs = ab->stack_strs;
    const char **ptr[4] = {&ctx->org, &ctx->user, &ctx->session, &ctx->request};
    size_t *len[4] = {&ctx->org_len, &ctx->user_len, &ctx->session_len, &ctx->request_len};
    for (int i = 0; i < 4; i++) {
        if (d->ids[i] && rb_str_get(d->ids[i], &ids[i], id_names[i], 1) < 0)
            goto fail;
        *ptr[i] = ids[i].p;
        *len[i] = ids[i].n;
    }
    if (d->attrs && attrs_fill(d->attrs, ab) < 0)
        goto fail;
    ctx->attrs = ab->attrs;
    ctx->n_attrs = ab->n;
    return 0;
fail:
    for (int i = 0; i < 4; i++)
        rb_str_clear(&ids[i]);
    return -1;
}

static PyObject *decision_explain(PyObject *self, PyObject *unused)
{
    DecisionObject *d = (DecisionObject *)self;
    rollout_context ctx;
    rb_str ids[4];
    attr_buf ab;
    if (context_of(d, &ctx, ids, &ab) < 0)
        return NULL;
    char stack[256], *buf = stack;
    size_t n = rollout_explain(d->plan->plan, &d->d, &ctx, buf, sizeof stack);
    PyObject *out = NULL;
    if (n >= sizeof stack) {
        buf = PyMem_Malloc(n + 1);
        if (!buf) {
            PyErr_NoMemory();
            goto done;
        }
        n = rollout_explain(d->plan->plan, &d->d, &ctx, buf, n + 1);
    }
    /* the explanation quotes the unit id, which may be any bytes */
    out = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "replace");
done:
    if (buf != stack)
        PyMem_Free(buf);
    for (int i = 0; i < 4; i++)
        rb_str_clear(&ids[i]);
    attrs_clear(&ab);
    return out;
}

static PyObject *decision_as_dict(PyObject *self, PyObject *unused)
{
    /* the keys and values of `rollout decide --json`, without at/explanation */
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N}", "variant",
                         get_variant(self, NULL), "version", get_version(self, NULL), "reason",
                         get_reason(self, NULL), "cohort", get_cohort(self, NULL), "phase",
                         get_phase(self, NULL), "step", get_step(self, NULL), "unit",
                         get_unit(self, NULL), "bucket", get_bucket(self, NULL), "weight",
                         get_weight(self, NULL), "percent", get_percent(self, NULL));
}

static PyObject *decision_repr(PyObject *self)
{
    const rollout_decision *d = D(self);
    PlanObject *p = ((DecisionObject *)self)->plan;
    PyObject *cohort = rb_name(p->cohort_names, p->n_cohorts, d->cohort);
    PyObject *phase = rb_name(p->phase_names, p->n_phases, d->phase);
    PyObject *bucket = get_bucket(self, NULL);
    PyObject *out = NULL;
    if (cohort && phase && bucket)
        out = PyUnicode_FromFormat("<rollout.Decision %s %s cohort=%R phase=%R bucket=%R "
                                   "weight=%lu>",
                                   d->variant == ROLLOUT_NEW ? "new" : "stable",
                                   rollout_reason_name(d->reason), cohort, phase, bucket,
                                   (unsigned long)d->weight);
    Py_XDECREF(cohort);
    Py_XDECREF(phase);
    Py_XDECREF(bucket);
    return out;
}

/* Equal when the same plan gave the same answer for the same reason. */
static PyObject *decision_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, rb_DecisionType))
        Py_RETURN_NOTIMPLEMENTED;
    const rollout_decision *x = D(a), *y = D(b);
    int eq = rollout_plan_fingerprint(((DecisionObject *)a)->plan->plan) ==
                 rollout_plan_fingerprint(((DecisionObject *)b)->plan->plan) &&
             x->variant == y->variant && x->reason == y->reason && x->cohort == y->cohort &&
             x->phase == y->phase && x->step == y->step && x->unit == y->unit &&
             x->weight == y->weight && (!bucketed(x) || x->bucket == y->bucket);
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t decision_hash(PyObject *self)
{
    const rollout_decision *d = D(self);
    uint64_t h = 1469598103934665603ull;
    int64_t parts[] = {d->variant, d->reason, d->cohort, d->phase, d->step, d->unit, d->weight,
                       bucketed(d) ? (int64_t)d->bucket : -1};
    for (size_t i = 0; i < RB_COUNT(parts); i++)
        h = (h ^ (uint64_t)parts[i]) * 1099511628211ull;
    Py_hash_t r = (Py_hash_t)(h >> 1);
    return r == -1 ? -2 : r;
}

/* `if plan.decide(...):` would always be true and send everyone to the
 * new version: refuse the question instead of answering it wrongly. */
static int decision_bool(PyObject *self)
{
    PyErr_SetString(PyExc_TypeError,
                    "the truth value of a Decision is ambiguous: test decision.new");
    return -1;
}

static PyMethodDef decision_methods[] = {
    {"explain", decision_explain, METH_NOARGS,
     "explain($self, /)\n--\n\n-> str. The decision in one line, as rollout_explain words it."},
    {"as_dict", decision_as_dict, METH_NOARGS,
     "as_dict($self, /)\n--\n\n-> dict. The fields as `rollout decide --json` names them."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef decision_getset[] = {
    {"new", get_new, NULL, "True when the request goes to the new version.", NULL},
    {"variant", get_variant, NULL, "'new' or 'stable'.", NULL},
    {"version", get_version, NULL, "The version label of the variant (plan versions).", NULL},
    {"reason", get_reason, NULL, "Why: 'IN_ROLLOUT', 'OUT_OF_ROLLOUT', 'NO_COHORT', ...", NULL},
    {"cohort", get_cohort, NULL, "The matching cohort's id, or None.", NULL},
    {"phase", get_phase, NULL, "The phase whose weight applied, or None.", NULL},
    {"step", get_step, NULL, "The step's index within the phase, or None.", NULL},
    {"unit", get_unit, NULL, "'org', 'user', 'session' or 'request' bucketed, or None.", NULL},
    {"bucket", get_bucket, NULL, "The unit's bucket (0..99999) when one was computed.", NULL},
    {"weight", get_weight, NULL,
     "The cohort's weight at the time, exact, in units of 0.001 % (0..100000).", NULL},
    {"percent", get_percent, NULL, "The weight in percent (weight / 1000).", NULL},
    {"plan", get_plan, NULL, "The plan that decided.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot decision_slots[] = {
    {Py_tp_dealloc, decision_dealloc},
    {Py_tp_new, decision_new},
    {Py_tp_repr, decision_repr},
    {Py_tp_richcompare, decision_richcompare},
    {Py_tp_hash, decision_hash},
    {Py_nb_bool, decision_bool},
    {Py_tp_methods, decision_methods},
    {Py_tp_getset, decision_getset},
    {Py_tp_doc, "An immutable decision of Plan.decide()."},
    {0, NULL},
};

static PyType_Spec decision_spec = {
    "rollout.Decision", sizeof(DecisionObject), 0, Py_TPFLAGS_DEFAULT, decision_slots,
};

int rb_decision_init(PyObject *module)
{
    rb_DecisionType = (PyTypeObject *)PyType_FromSpec(&decision_spec);
    if (!rb_DecisionType)
        return -1;
    Py_INCREF(rb_DecisionType);
    if (PyModule_AddObject(module, "Decision", (PyObject *)rb_DecisionType) < 0) {
        Py_DECREF(rb_DecisionType);
        return -1;
    }
    return 0;
}

/* ---- keyword names, matched once per call site ----------------------------------------- */

/* The keyword names of a vectorcall (METH_FASTCALL | METH_KEYWORDS, 3.10+)
 * are a tuple that, for a call written in the source, is a constant of the
 * calling code: the same object on every call from that line. So each
 * method keeps the slots of the last few tuples it saw, and a call from a
 * known line is parsed with one pointer compare per remembered tuple. The
 * cache holds a reference to each tuple, so its address cannot be reused by
 * another while it is there. decide and decide_many have one each (their
 * names differ). Only touched with the GIL held. */
#define KW_MAX 7
#define KW_CACHE 4

typedef struct {
    PyObject *const *names;    /* KW_MAX interned names, in slot order */
    const signed char *order;  /* the order to try them in: the usual ones first */
    struct {
        PyObject *names;       /* a kwnames tuple, or NULL */
        Py_ssize_t n;
        unsigned mask;         /* the slots it fills, a bit each */
        signed char slot[KW_MAX];
    } cache[KW_CACHE];
    int next;
} kw_sites;

/* The slot of keyword `key`; -1 (no exception) when it is none of them,
 * -2 with an exception set when comparing failed. */
static int kw_index(const kw_sites *k, PyObject *key)
{
    for (int j = 0; j < KW_MAX; j++) {
        int i = k->order[j];
        if (key == k->names[i])
            return i;
    }
    /* not interned (built with **kwargs from computed strings): compare */
    for (int i = 0; i < KW_MAX; i++) {
        int eq = PyUnicode_Compare(key, k->names[i]);
        if (eq == -1 && PyErr_Occurred())
            return -2;
        if (eq == 0)
            return i;
    }
    return -1;
}

/* The cache entry of kwnames, or -1. */
static inline int kw_find(const kw_sites *k, PyObject *kwnames)
{
    int c = 0;
    while (c < KW_CACHE && k->cache[c].names != kwnames)
        c++;
    return c < KW_CACHE ? c : -1;
}

/* Remembers the n slots of kwnames (n <= KW_MAX), replacing the oldest. */
static void kw_remember(kw_sites *k, PyObject *kwnames, const signed char *slot, Py_ssize_t n)
{
    int c = k->next;
    k->next = (c + 1) % KW_CACHE;
    PyObject *old = k->cache[c].names;
    unsigned mask = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        mask |= 1u << slot[i];
    memcpy(k->cache[c].slot, slot, (size_t)n);
    Py_INCREF(kwnames);
    k->cache[c].names = kwnames;
    k->cache[c].n = n;
    k->cache[c].mask = mask;
    Py_XDECREF(old);
}

/* ---- decide ------------------------------------------------------------------------- */

/* The keyword values of one decide call, borrowed: org user session request
 * attrs at state (the order of rb_kw_decide). */
typedef struct {
    PyObject *v[KW_MAX];
} decide_args;

/* the usual keywords first: org, at, state */
static const signed char decide_order[KW_MAX] = {0, 5, 6, 1, 2, 3, 4};
static kw_sites decide_sites = {.names = rb_kw_decide, .order = decide_order};

/* Stores value in the slot of keyword `key`; returns the slot, or -1 with
 * TypeError for an unknown keyword. */
static int decide_kw(decide_args *a, PyObject *key, PyObject *value)
{
    int i = kw_index(&decide_sites, key);
    if (i >= 0) {
        a->v[i] = value;
        return i;
    }
    if (i == -1)
        PyErr_Format(PyExc_TypeError, "decide() got an unexpected keyword argument '%U'", key);
    return -1;
}

/* A Decision whose fields are not set yet, back to where it came from. */
static void decision_discard(DecisionObject *res, PlanObject *plan)
{
    res->plan = plan;
    Py_INCREF(plan);
    memset(res->ids, 0, sizeof res->ids);
    res->attrs = NULL;
    Py_DECREF(res);
}

/* The decision for ctx, straight into a new result object (no copy of the
 * decision, which would read back right away what rollout_decide just
 * wrote field by field), holding the ids of a and attrs (a new reference is
 * taken); NULL with the exception set when the state is refused. */
static inline __attribute__((always_inline)) PyObject *
decide_into(PlanObject *self, const decide_args *a, const rollout_context *ctx,
            const rollout_state *state, int64_t at, PyObject *attrs)
{
    DecisionObject *res = decision_alloc();
    if (!res)
        return NULL;
    int rc = rollout_decide(self->plan, state, at, ctx, &res->d);
    if (rc) {
        decision_discard(res, self);
        return rb_raise(rc, NULL, NULL, RB_CTX_STATE);
    }
    res->plan = self;
    Py_INCREF(self);
    for (int i = 0; i < 4; i++) {
        PyObject *o = a->v[i] != Py_None ? a->v[i] : NULL;
        Py_XINCREF(o);
        res->ids[i] = o;
    }
    Py_XINCREF(attrs);
    res->attrs = attrs;
    return (PyObject *)res;
}

/* Every form of arguments. */
static __attribute__((noinline)) PyObject *decide_impl(PlanObject *self, const decide_args *a)
{
    rollout_context ctx;
    memset(&ctx, 0, sizeof ctx);
    rb_str ids[4] = {{0}};
    attr_buf ab;
    ab.n = 0;
    ab.attrs = ab.stack_attrs;
    ab.strs = ab.stack_strs;
    PyObject *snapshot = NULL;
    PyObject *res = NULL;

    const char **ptr[4] = {&ctx.org, &ctx.user, &ctx.session, &ctx.request};
    size_t *len[4] = {&ctx.org_len, &ctx.user_len, &ctx.session_len, &ctx.request_len};
    for (int i = 0; i < 4; i++) {
        if (!a->v[i])
            continue;
        if (rb_str_fast(a->v[i], &ids[i], id_names[i], 1) < 0)
            goto done;
        *ptr[i] = ids[i].p;
        *len[i] = ids[i].n;
    }
    PyObject *attrs = a->v[4];
    if (attrs && attrs != Py_None) {
        if (!PyDict_Check(attrs)) {
            PyErr_SetString(PyExc_TypeError, "attrs must be a dict of str to str");
            goto done;
        }
        if (PyDict_Size(attrs) > 0) {
            /* a copy: the caller may change its dict before calling explain() */
            if (!(snapshot = PyDict_Copy(attrs)) || attrs_fill(snapshot, &ab) < 0)
                goto done;
            ctx.attrs = ab.attrs;
            ctx.n_attrs = ab.n;
        }
    }
    int64_t at;
    const rollout_state *state;
    if (rb_time_fast(a->v[5], &at, "at") < 0 || rb_state_fast(self, a->v[6], &state) < 0)
        goto done;

    res = decide_into(self, a, &ctx, state, at, snapshot);
done:
    for (int i = 0; i < 4; i++)
        rb_str_clear(&ids[i]);
    if (ab.n || ab.attrs != ab.stack_attrs)
        attrs_clear(&ab);
    Py_XDECREF(snapshot);
    return res;
}

PyObject *rb_plan_decide_varargs(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "decide() takes keyword arguments only (org=, user=, session=, "
                        "request=, attrs=, at=, state=)");
        return NULL;
    }
    decide_args a = {{NULL}};
    if (kwargs) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(kwargs, &pos, &k, &v))
            if (decide_kw(&a, k, v) < 0)
                return NULL;
    }
    return decide_impl((PlanObject *)self, &a);
}

/* An id for decide_hot: 0 when read (an exact str, or absent), 1 when it
 * needs decide_impl, -1 on error. */
static inline int hot_id(PyObject *o, const char **p, size_t *len)
{
    if (!o || o == Py_None)
        return 0; /* absent */
    if (Py_TYPE(o) != &PyUnicode_Type)
        return 1;
    Py_ssize_t n;
    if (!(*p = PyUnicode_AsUTF8AndSize(o, &n)))
        return -1;
    *len = (size_t)n;
    return 0;
}

/* The usual call, inline in the METH_FASTCALL entry (registered on 3.10+
 * only, so str ids can be read in place): str ids, no attrs. Anything else
 * goes to decide_impl. */
static inline __attribute__((always_inline)) PyObject *decide_hot(PlanObject *self,
                                                                  const decide_args *a)
{
    if (a->v[4] && a->v[4] != Py_None)
        return decide_impl(self, a);
    rollout_context ctx;
    memset(&ctx, 0, sizeof ctx);
    int r;
    if ((r = hot_id(a->v[0], &ctx.org, &ctx.org_len)) ||
        (r = hot_id(a->v[1], &ctx.user, &ctx.user_len)) ||
        (r = hot_id(a->v[2], &ctx.session, &ctx.session_len)) ||
        (r = hot_id(a->v[3], &ctx.request, &ctx.request_len)))
        return r < 0 ? NULL : decide_impl(self, a);
    int64_t at;
    const rollout_state *state;
    if (rb_time_fast(a->v[5], &at, "at") < 0 || rb_state_fast(self, a->v[6], &state) < 0)
        return NULL;
    return decide_into(self, a, &ctx, state, at, NULL);
}

/* A call whose keyword names are not in the cache: parsed by name into a,
 * then remembered. */
static __attribute__((noinline)) int decide_kw_slow(decide_args *a, PyObject *const *args,
                                                    PyObject *kwnames)
{
    Py_ssize_t n = PyTuple_Size(kwnames);
    signed char slot[KW_MAX];
    for (Py_ssize_t i = 0; i < n; i++) {
        int k = decide_kw(a, PyTuple_GetItem(kwnames, i), args[i]);
        if (k < 0)
            return -1;
        if (i < KW_MAX)
            slot[i] = (signed char)k;
    }
    /* the interpreter refuses a repeated keyword, so n <= 7 unless C code
     * built the call */
    if (n <= KW_MAX)
        kw_remember(&decide_sites, kwnames, slot, n);
    return 0;
}

PyObject *rb_plan_decide_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    /* the method descriptor strips PY_VECTORCALL_ARGUMENTS_OFFSET from nargs */
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "decide() takes keyword arguments only (org=, user=, session=, "
                        "request=, attrs=, at=, state=)");
        return NULL;
    }
    decide_args a = {{NULL}};
    if (kwnames) {
        int c = kw_find(&decide_sites, kwnames);
        if (c >= 0) {
            for (Py_ssize_t i = 0; i < decide_sites.cache[c].n; i++)
                a.v[decide_sites.cache[c].slot[i]] = args[i];
        } else if (decide_kw_slow(&a, args, kwnames) < 0)
            return NULL;
    }
    return decide_hot((PlanObject *)self, &a);
}

/* ---- decide_many ----------------------------------------------------------------------- */

/* decide_many rests on a prepared batch (rollout_batch_prepare): the state,
 * the schedule and every cohort rule that does not read the varying id are
 * worked out once per call, so what an id costs is mostly getting its bytes
 * out of Python, and then one rollout_batch_variant.
 *
 * Each id is decided as soon as it is read, in place: the UTF-8 of an exact
 * str (3.10+) or the buffer of a bytes, borrowed for that one call. Reading
 * and deciding one id after the other lets the processor overlap the wait
 * for the next id object with the hashing of this one; reading a block of
 * ids and then deciding the block (rollout_decide_ids) was ~13 % slower by
 * the clock, and copying every id into a buffer of our own so that the C
 * part could run without the GIL slower still (docs/performance.md).
 *
 * Borrowed bytes are safe while no other thread can change the list and
 * free the strs it held, so the GIL is held for the whole call, as
 * list.sort() or str.join() hold it: an id costs less than a release, and
 * nothing here runs Python code, so the list cannot change under the call.
 * Ids that cannot be read in place (None, str subclasses, str on 3.8/3.9,
 * whose temporary UTF-8 copy is dropped at once) go through rb_str_get. */

/* TypeError "orgs[12] must be str, bytes or None, not int". */
static void item_type_error(const char *seq_name, Py_ssize_t i, PyObject *item)
{
    PyObject *tn = PyObject_GetAttrString((PyObject *)Py_TYPE(item), "__name__");
    if (tn) {
        PyErr_Format(PyExc_TypeError, "%s[%zd] must be str, bytes or None, not %U", seq_name, i,
                     tn);
        Py_DECREF(tn);
    }
}

/* The variant of id `item` (index i of the input) when many_decide does not
 * take it in place: None (absent), a subclass, a str on 3.8/3.9; or the type
 * error (-1). */
static __attribute__((noinline)) int many_item(const rollout_batch *batch, PyObject *item,
                                               const char *seq_name, Py_ssize_t i)
{
    if (item == Py_None)
        return rollout_batch_variant(batch, NULL, 0);
    if (!PyUnicode_Check(item) && !PyBytes_Check(item)) {
        item_type_error(seq_name, i, item);
        return -1;
    }
    rb_str s;
    if (rb_str_get(item, &s, seq_name, 0) < 0)
        return -1;
    int v = rollout_batch_variant(batch, s.p, s.n);
    rb_str_clear(&s);
    return v;
}

/* Decides the n items into mask. Expanded for lists and tuples, and for
 * whether str can be read in place, so the loop asks neither. Returns -1
 * with an exception set. */
static inline int many_decide(const rollout_batch *batch, PyObject *items, int is_list,
                              int fast_str, Py_ssize_t n, const char *seq_name,
                              unsigned char *mask)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = is_list ? PyList_GetItem(items, i) : PyTuple_GetItem(items, i);
        if (!o)
            return -1; /* cannot happen: nothing here changes the sequence */
        PyTypeObject *tp = Py_TYPE(o);
        Py_ssize_t len;
        int v;
        if (fast_str && tp == &PyUnicode_Type) {
            const char *p = PyUnicode_AsUTF8AndSize(o, &len);
            if (!p)
                return -1;
            v = rollout_batch_variant(batch, p, (size_t)len);
        } else if (tp == &PyBytes_Type) {
            char *q;
            if (PyBytes_AsStringAndSize(o, &q, &len) < 0)
                return -1;
            v = rollout_batch_variant(batch, q, (size_t)len);
        } else if ((v = many_item(batch, o, seq_name, i)) < 0) {
            return -1;
        }
        mask[i] = (unsigned char)v;
    }
    return 0;
}

/* decide_many once its arguments are parsed: v holds them, borrowed, in the
 * order of rb_kw_decide_many (orgs users sessions requests attrs at state),
 * NULL for those not given. */
static PyObject *decide_many_impl(PlanObject *self, PyObject *const *v)
{
    static const char *const seq_names[4] = {"orgs", "users", "sessions", "requests"};
    PyObject *const *seqs = v, *attrs = v[4], *at_o = v[5], *state_o = v[6];
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (seqs[i] && seqs[i] != Py_None) {
            if (which >= 0) {
                which = -2;
                break;
            }
            which = i;
        }
    if (which < 0) {
        PyErr_SetString(PyExc_TypeError,
                        "decide_many() takes exactly one of orgs, users, sessions, requests");
        return NULL;
    }
    const char *seq_name = seq_names[which];
    PyObject *seq = seqs[which];
    if (PyUnicode_Check(seq) || PyBytes_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of ids, not a single id", seq_name);
        return NULL;
    }
    int64_t at;
    const rollout_state *state;
    if (rb_time(at_o, &at, "at") < 0 || rb_state_arg(self, state_o, &state) < 0)
        return NULL;

    rollout_context base;
    memset(&base, 0, sizeof base);
    attr_buf ab;
    ab.n = 0;
    ab.attrs = ab.stack_attrs;
    ab.strs = ab.stack_strs;
    PyObject *snapshot = NULL, *items = NULL, *out = NULL;
    if (attrs && attrs != Py_None) {
        if (!PyDict_Check(attrs)) {
            PyErr_SetString(PyExc_TypeError, "attrs must be a dict of str to str");
            return NULL;
        }
        /* our own copy, which the batch points into: the ids, when they are
         * not a list or tuple, are read by running Python code (a
         * generator's), which could change the caller's dict */
        if (!(snapshot = PyDict_Copy(attrs)) || attrs_fill(snapshot, &ab) < 0)
            goto done;
        base.attrs = ab.attrs;
        base.n_attrs = ab.n;
    }
    const rollout_plan *plan = self->plan;
    int unit = which; /* orgs, users, sessions, requests are units 0..3 */
    /* A state error is the same for every id: reported once, up front. */
    rollout_batch batch;
    int rc = rollout_batch_prepare(plan, state, at, &base, unit, &batch);
    if (rc) {
        rb_raise(rc, NULL, NULL, RB_CTX_STATE);
        goto done;
    }
    /* An exact list or tuple is read as it is; anything else is
     * materialized once, as a tuple. */
    int is_list = Py_TYPE(seq) == &PyList_Type;
    if (is_list || Py_TYPE(seq) == &PyTuple_Type) {
        items = seq;
        Py_INCREF(items);
    } else if (!(items = PySequence_Tuple(seq)))
        goto done;
    Py_ssize_t n = is_list ? PyList_Size(items) : PyTuple_Size(items);
    if (n < 0 || !(out = PyBytes_FromStringAndSize(NULL, n)))
        goto done;
    unsigned char *mask = (unsigned char *)PyBytes_AsString(out);
    int fast_str = rb_py310;
    int r = !is_list   ? many_decide(&batch, items, 0, fast_str, n, seq_name, mask)
            : fast_str ? many_decide(&batch, items, 1, 1, n, seq_name, mask)
                       : many_decide(&batch, items, 1, 0, n, seq_name, mask);
    if (r < 0)
        goto fail;
    goto done;
fail:
    Py_CLEAR(out);
done:
    attrs_clear(&ab);
    Py_XDECREF(snapshot);
    Py_XDECREF(items);
    return out;
}

/* The METH_VARARGS | METH_KEYWORDS form (3.8, 3.9), and the judge of every
 * call the fast form does not take as it is. */
PyObject *rb_plan_decide_many(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"orgs", "users", "sessions", "requests", "attrs", "at", "state",
                             NULL};
    PyObject *v[KW_MAX] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$OOOOOO:decide_many", kwlist, &v[0], &v[1],
                                     &v[2], &v[3], &v[4], &v[5], &v[6]))
        return NULL;
    return decide_many_impl((PlanObject *)self, v);
}

/* decide_many's keyword names are matched once per call site, as decide's
 * are. Only `orgs` may also be positional. */
static const signed char many_order[KW_MAX] = {5, 6, 0, 1, 2, 3, 4}; /* at, state first */
static kw_sites many_sites = {.names = rb_kw_decide_many, .order = many_order};

/* A call the fast form does not take as it is: a keyword that is none of
 * decide_many's (or a str subclass), one given twice (C callers only) or by
 * name and by position, more than one positional argument. Rebuilt as the
 * argument tuple and dict the METH_VARARGS form gets, and parsed by
 * PyArg_ParseTupleAndKeywords: accepted or refused exactly as that form
 * does, with the running interpreter's own messages. Never a hot path. */
static __attribute__((noinline)) PyObject *decide_many_tuple(PyObject *self,
                                                             PyObject *const *args,
                                                             Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *tuple = PyTuple_New(nargs), *dict = NULL, *res = NULL;
    if (!tuple)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SetItem(tuple, i, args[i]); /* steals */
    }
    Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
    if (nkw > 0) {
        /* as the interpreter builds it: a repeated name keeps the last value */
        if (!(dict = PyDict_New()))
            goto done;
        for (Py_ssize_t i = 0; i < nkw; i++)
            if (PyDict_SetItem(dict, PyTuple_GetItem(kwnames, i), args[nargs + i]) < 0)
                goto done;
    }
    res = rb_plan_decide_many(self, tuple, dict);
done:
    Py_DECREF(tuple);
    Py_XDECREF(dict);
    return res;
}

/* Keyword names not in the cache: their values put in v (which holds the
 * positional `orgs`, if any, in slot 0) and the names remembered. 0 when
 * parsed, 1 when the call is one for decide_many_tuple, -1 on error. */
static __attribute__((noinline)) int many_kw_slow(PyObject **v, PyObject *const *kwargs,
                                                  PyObject *kwnames)
{
    Py_ssize_t n = PyTuple_Size(kwnames);
    if (n > KW_MAX)
        return 1; /* some name is repeated or unknown */
    signed char slot[KW_MAX];
    unsigned seen = v[0] ? 1u : 0u;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyTuple_GetItem(kwnames, i);
        if (Py_TYPE(key) != &PyUnicode_Type)
            return 1;
        int k = kw_index(&many_sites, key);
        if (k == -2)
            return -1;
        if (k == -1 || (seen & (1u << k)))
            return 1;
        seen |= 1u << k;
        slot[i] = (signed char)k;
        v[k] = kwargs[i];
    }
    kw_remember(&many_sites, kwnames, slot, n);
    return 0;
}

/* METH_FASTCALL | METH_KEYWORDS (3.10+): no argument tuple or dict. */
PyObject *rb_plan_decide_many_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    /* the method descriptor strips PY_VECTORCALL_ARGUMENTS_OFFSET from nargs */
    PyObject *v[KW_MAX] = {NULL};
    if (nargs > 1)
        return decide_many_tuple(self, args, nargs, kwnames);
    if (nargs)
        v[0] = args[0];
    if (kwnames) {
        int c = kw_find(&many_sites, kwnames);
        if (c >= 0 && !(nargs && (many_sites.cache[c].mask & 1u))) {
            for (Py_ssize_t i = 0; i < many_sites.cache[c].n; i++)
                v[many_sites.cache[c].slot[i]] = args[nargs + i];
        } else {
            /* a new call site, or `orgs` by name and by position */
            int r = c >= 0 ? 1 : many_kw_slow(v, args + nargs, kwnames);
            if (r < 0)
                return NULL;
            if (r)
                return decide_many_tuple(self, args, nargs, kwnames);
        }
    }
    return decide_many_impl((PlanObject *)self, v);
}
