/* SPDX-License-Identifier: MIT */
/*
 * plan.c — rollout._rollout.Plan: loading (with the GIL released), facts,
 * dump, schedule, calendar and evaluation. Results that are not on a hot
 * path come back as dicts and lists; rollout/__init__.py turns them into
 * named tuples.
 */
#include "binding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

PyTypeObject *rb_PlanType;

/* ---- lifetime ----------------------------------------------------------------------- */

static void plan_dealloc(PyObject *self)
{
    PlanObject *p = (PlanObject *)self;
    for (int i = 0; i < ROLLOUT_MAX_PHASES; i++)
        Py_XDECREF(p->phase_names[i]);
    for (int i = 0; i < ROLLOUT_MAX_COHORTS; i++)
        Py_XDECREF(p->cohort_names[i]);
    for (int i = 0; i < ROLLOUT_MAX_GATES; i++)
        Py_XDECREF(p->gate_names[i]);
    for (int i = 0; i < ROLLOUT_MAX_ROLES; i++)
        Py_XDECREF(p->role_names[i]);
    Py_XDECREF(p->labels[0]);
    Py_XDECREF(p->labels[1]);
    rollout_plan_unref(p->plan);
    PyTypeObject *tp = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp); /* instances of heap types own a reference to their type */
}

static PyObject *plan_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError,
                    "use Plan.from_file(path), Plan.from_string(text) or Plan.seed()");
    return NULL;
}

/* Fills names[0..n) from fn; 0 or -1. */
static int cache_names(PyObject **names, int n, const rollout_plan *plan,
                       const char *(*fn)(const rollout_plan *, int))
{
    for (int i = 0; i < n; i++) {
        const char *s = fn(plan, i);
        if (!(names[i] = PyUnicode_FromString(s ? s : "")))
            return -1;
    }
    return 0;
}

static int clamp(int n, int max) { return n < 0 ? 0 : n > max ? max : n; }

PyObject *rb_plan_wrap(PyTypeObject *type, rollout_plan *plan)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    PlanObject *p = (PlanObject *)alloc(type, 0); /* zeroed */
    if (!p) {
        rollout_plan_unref(plan);
        return NULL;
    }
    p->plan = plan;
    p->fingerprint = rollout_plan_fingerprint(plan);
    p->n_phases = clamp(rollout_plan_phase_count(plan), ROLLOUT_MAX_PHASES);
    p->n_cohorts = clamp(rollout_plan_cohort_count(plan), ROLLOUT_MAX_COHORTS);
    p->n_gates = clamp(rollout_plan_gate_count(plan), ROLLOUT_MAX_GATES);
    p->n_roles = clamp(rollout_plan_role_count(plan), ROLLOUT_MAX_ROLES);
    if (cache_names(p->phase_names, p->n_phases, plan, rollout_plan_phase_name) < 0 ||
        cache_names(p->cohort_names, p->n_cohorts, plan, rollout_plan_cohort_name) < 0 ||
        cache_names(p->gate_names, p->n_gates, plan, rollout_plan_gate_name) < 0 ||
        cache_names(p->role_names, p->n_roles, plan, rollout_plan_role_name) < 0 ||
        !(p->labels[0] = PyUnicode_FromString(rollout_plan_version_label(plan, 0))) ||
        !(p->labels[1] = PyUnicode_FromString(rollout_plan_version_label(plan, 1)))) {
        Py_DECREF(p); /* dealloc releases what was made, and the plan */
        return NULL;
    }
    return (PyObject *)p;
}

/* ---- loading ------------------------------------------------------------------------ */

static PyObject *plan_from_file(PyObject *cls, PyObject *args)
{
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&:from_file", PyUnicode_FSConverter, &path))
        return NULL;
    rollout_plan *plan = NULL;
    rollout_error err;
    int rc;
    const char *p = PyBytes_AsString(path);
    /* file I/O, YAML parsing and pattern JIT: worth letting other threads run */
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_plan_load_file(p, &plan, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_PLAN);
    return rb_plan_wrap((PyTypeObject *)cls, plan);
}

static PyObject *plan_from_string(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"text", "name", NULL};
    PyObject *text_o;
    const char *name = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|z:from_string", kwlist, &text_o, &name))
        return NULL;
    rb_str text;
    if (rb_str_get(text_o, &text, "text", 0) < 0)
        return NULL;
    rollout_plan *plan = NULL;
    rollout_error err;
    int rc;
    /* text_o (and text.tmp) keep the buffer alive while the GIL is released */
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_plan_load_buffer(text.p, text.n, name, &plan, &err);
    Py_END_ALLOW_THREADS
    rb_str_clear(&text);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_PLAN);
    return rb_plan_wrap((PyTypeObject *)cls, plan);
}

static PyObject *plan_seed(PyObject *cls, PyObject *unused)
{
    size_t len;
    const char *yaml = rollout_seed_plan(&len);
    rollout_plan *plan = NULL;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_plan_load_buffer(yaml, len, "<seed>", &plan, &err);
    Py_END_ALLOW_THREADS
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_PLAN);
    return rb_plan_wrap((PyTypeObject *)cls, plan);
}

static PyObject *plan_seed_yaml(PyObject *cls, PyObject *unused)
{
    size_t len;
    const char *yaml = rollout_seed_plan(&len);
    return PyUnicode_DecodeUTF8(yaml, (Py_ssize_t)len, "strict");
}

/* ---- facts -------------------------------------------------------------------------- */

static PyObject *names_tuple(PyObject *const *names, int n)
{
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        Py_INCREF(names[i]);
        PyTuple_SetItem(t, i, names[i]);
    }
    return t;
}

static PyObject *get_id(PyObject *self, void *c)
{
    return PyUnicode_FromString(rollout_plan_id(((PlanObject *)self)->plan));
}
static PyObject *get_hash(PyObject *self, void *c)
{
    return PyUnicode_FromString(
        rollout_hash_name(rollout_plan_hash(((PlanObject *)self)->plan, NULL, NULL)));
}
static PyObject *get_start(PyObject *self, void *c)
{
    return PyLong_FromLongLong(rollout_plan_start(((PlanObject *)self)->plan));
}
static PyObject *get_fingerprint(PyObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(rollout_plan_fingerprint(((PlanObject *)self)->plan));
}
static PyObject *get_phases(PyObject *self, void *c)
{
    PlanObject *p = (PlanObject *)self;
    return names_tuple(p->phase_names, p->n_phases);
}
static PyObject *get_cohorts(PyObject *self, void *c)
{
    PlanObject *p = (PlanObject *)self;
    return names_tuple(p->cohort_names, p->n_cohorts);
}
static PyObject *get_gates(PyObject *self, void *c)
{
    PlanObject *p = (PlanObject *)self;
    return names_tuple(p->gate_names, p->n_gates);
}
static PyObject *get_roles(PyObject *self, void *c)
{
    PlanObject *p = (PlanObject *)self;
    return names_tuple(p->role_names, p->n_roles);
}
static PyObject *get_labels(PyObject *self, void *c)
{
    PlanObject *p = (PlanObject *)self;
    return names_tuple(p->labels, 2);
}

static PyObject *plan_repr(PyObject *self)
{
    PlanObject *p = (PlanObject *)self;
    char fp[20];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)rollout_plan_fingerprint(p->plan));
    return PyUnicode_FromFormat("<rollout.Plan %s fingerprint=%s>", rollout_plan_id(p->plan), fp);
}

static PyObject *plan_dump(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"format", NULL};
    const char *fmt = "yaml";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|s:dump", kwlist, &fmt))
        return NULL;
    int format;
    if (!strcmp(fmt, "yaml"))
        format = ROLLOUT_FORMAT_YAML;
    else if (!strcmp(fmt, "json"))
        format = ROLLOUT_FORMAT_JSON;
    else {
        PyErr_Format(PyExc_ValueError, "format must be 'yaml' or 'json', not '%s'", fmt);
        return NULL;
    }
    const rollout_plan *plan = ((PlanObject *)self)->plan;
    size_t needed = 0;
    int rc = rollout_plan_dump(plan, format, NULL, 0, &needed);
    if (rc && rc != ROLLOUT_ERR_BUFFER)
        return rb_raise(rc, NULL, NULL, RB_CTX_GENERIC);
    char *buf = PyMem_Malloc(needed + 1);
    if (!buf)
        return PyErr_NoMemory();
    rc = rollout_plan_dump(plan, format, buf, needed + 1, &needed);
    PyObject *out = rc ? rb_raise(rc, NULL, NULL, RB_CTX_GENERIC)
                       : PyUnicode_DecodeUTF8(buf, (Py_ssize_t)needed, "strict");
    PyMem_Free(buf);
    return out;
}

/* ---- schedule and calendar ------------------------------------------------------------ */

static PyObject *never_or_int(int64_t t) { return rb_int_or_none(t, INT64_MAX); }

static PyObject *unit_name(int unit)
{
    if (unit < 0 || unit > 3)
        Py_RETURN_NONE;
    Py_INCREF(rb_unit_names[unit]);
    return rb_unit_names[unit];
}

static PyObject *cstr_or_none(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_FromString(s);
}

static PyObject *plan_schedule(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"at", "state", NULL};
    PyObject *at_o = NULL, *state_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:schedule", kwlist, &at_o, &state_o))
        return NULL;
    PlanObject *p = (PlanObject *)self;
    int64_t at;
    const rollout_state *state;
    if (rb_time(at_o, &at, "at") < 0 || rb_state_arg(p, state_o, &state) < 0)
        return NULL;
    rollout_schedule_info info;
    int rc = rollout_schedule(p->plan, state, at, &info);
    if (rc)
        return rb_raise(rc, NULL, NULL, RB_CTX_STATE);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    int change = info.next_change >= 0 && info.next_change < 5 ? info.next_change : 0;
    if (rb_set(d, "at", PyLong_FromLongLong(at)) < 0 ||
        rb_set(d, "status", PyUnicode_FromString(rollout_status_name(info.status))) < 0 ||
        rb_set(d, "phase", rb_name(p->phase_names, p->n_phases, info.phase)) < 0 ||
        rb_set(d, "step", rb_int_or_none(info.step, -1)) < 0 ||
        rb_set(d, "gate", rb_name(p->gate_names, p->n_gates, info.gate)) < 0 ||
        rb_set(d, "gate_pending", PyBool_FromLong(info.gate_pending)) < 0 ||
        rb_set(d, "gate_due", never_or_int(info.gate >= 0 ? info.gate_due : INT64_MAX)) < 0 ||
        rb_set(d, "slip", PyLong_FromLongLong(info.slip)) < 0 ||
        rb_set(d, "next_change", PyUnicode_FromString(rb_change_cstr[change])) < 0 ||
        rb_set(d, "next_at", never_or_int(info.next_at)) < 0 ||
        rb_set(d, "next_phase", rb_name(p->phase_names, p->n_phases, info.next_phase)) < 0 ||
        rb_set(d, "next_step", rb_int_or_none(info.next_step, -1)) < 0 ||
        rb_set(d, "next_weight", PyLong_FromUnsignedLong(info.next_weight)) < 0 ||
        rb_set(d, "bake_start", never_or_int(info.bake_start)) < 0 ||
        rb_set(d, "complete_at", never_or_int(info.complete_at)) < 0)
        goto fail;
    PyObject *cohorts = PyDict_New();
    if (rb_set(d, "cohorts", cohorts) < 0)
        goto fail;
    int n = clamp(info.n_cohorts, p->n_cohorts);
    for (int i = 0; i < n; i++) {
        const rollout_cohort_weight *w = &info.cohorts[i];
        PyObject *c = Py_BuildValue("{s:k,s:N,s:N,s:N}", "weight", (unsigned long)w->weight,
                                    "unit", unit_name(w->unit), "phase",
                                    rb_name(p->phase_names, p->n_phases, w->phase), "step",
                                    rb_int_or_none(w->step, -1));
        if (!c || PyDict_SetItem(cohorts, p->cohort_names[i], c) < 0) {
            Py_XDECREF(c);
            goto fail;
        }
        Py_DECREF(c);
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *plan_calendar(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"state", NULL};
    PyObject *state_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:calendar", kwlist, &state_o))
        return NULL;
    PlanObject *p = (PlanObject *)self;
    const rollout_state *state;
    if (rb_state_arg(p, state_o, &state) < 0)
        return NULL;
    rollout_calendar_event *ev = PyMem_Malloc(sizeof *ev * ROLLOUT_MAX_CALENDAR);
    if (!ev)
        return PyErr_NoMemory();
    size_t n = 0;
    int rc = rollout_calendar(p->plan, state, ev, ROLLOUT_MAX_CALENDAR, &n);
    if (rc) {
        PyMem_Free(ev);
        return rb_raise(rc, NULL, NULL, RB_CTX_STATE);
    }
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < n; i++) {
        const rollout_calendar_event *e = &ev[i];
        int kind = e->kind >= 0 && e->kind < 5 ? e->kind : 0;
        PyObject *d = Py_BuildValue(
            "{s:L,s:s,s:N,s:N,s:N,s:N,s:k,s:O,s:N,s:N,s:N,s:N,s:N}", "at", (long long)e->at,
            "kind", rb_calendar_kind_cstr[kind], "phase",
            rb_name(p->phase_names, p->n_phases, e->phase), "step", rb_int_or_none(e->step, -1),
            "gate", rb_name(p->gate_names, p->n_gates, e->gate), "cohort",
            rb_name(p->cohort_names, p->n_cohorts, e->cohort), "weight",
            (unsigned long)e->weight, "projected", e->projected ? Py_True : Py_False, "title",
            cstr_or_none(e->title), "channel", cstr_or_none(e->channel), "audience",
            cstr_or_none(e->audience), "message", cstr_or_none(e->message), "owners",
            rb_role_tuple(p, e->owners));
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_CLEAR(list);
        } else {
            Py_DECREF(d);
        }
    }
    PyMem_Free(ev);
    return list;
}

static PyObject *plan_calendar_render(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"format", "state", NULL};
    const char *fmt = "table";
    PyObject *state_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|sO:calendar_render", kwlist, &fmt,
                                     &state_o))
        return NULL;
    int format = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(fmt, rb_calendar_format_cstr[i]))
            format = i;
    if (format < 0) {
        PyErr_Format(PyExc_ValueError, "format must be 'table', 'json', 'ics' or 'svg', not '%s'",
                     fmt);
        return NULL;
    }
    PlanObject *p = (PlanObject *)self;
    const rollout_state *state;
    if (rb_state_arg(p, state_o, &state) < 0)
        return NULL;
    /* a first guess that fits the seed plan's SVG; rendered again when short */
    size_t cap = 1 << 16, needed = 0;
    char *buf = NULL;
    int rc;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *nbuf = PyMem_Realloc(buf, cap);
        if (!nbuf) {
            PyMem_Free(buf);
            return PyErr_NoMemory();
        }
        buf = nbuf;
        /* state points into a State object the caller holds: safe unlocked */
        Py_BEGIN_ALLOW_THREADS
        rc = rollout_calendar_render(p->plan, state, format, buf, cap, &needed);
        Py_END_ALLOW_THREADS
        if (rc != ROLLOUT_ERR_BUFFER)
            break;
        cap = needed + 1;
    }
    PyObject *out = rc ? rb_raise(rc, NULL, NULL, RB_CTX_STATE)
                       : PyUnicode_DecodeUTF8(buf, (Py_ssize_t)needed, "strict");
    PyMem_Free(buf);
    return out;
}

/* ---- evaluation ------------------------------------------------------------------------ */

static PyObject *num_or_none(double v)
{
    if (isnan(v))
        Py_RETURN_NONE;
    return PyFloat_FromDouble(v);
}

static PyObject *rollback_reason_or_none(int reason)
{
    if (reason < 0 || reason >= ROLLOUT_ROLLBACK_COUNT)
        Py_RETURN_NONE;
    return PyUnicode_FromString(rollout_rollback_reason_name(reason));
}

static PyObject *plan_evaluate(PyObject *self, PyObject *args)
{
    int target;
    PyObject *name_o, *metrics_o;
    if (!PyArg_ParseTuple(args, "iOO!:_evaluate", &target, &name_o, rb_MetricsType, &metrics_o))
        return NULL;
    rb_str name = {0};
    if (rb_str_get(name_o, &name, "name", 1) < 0)
        return NULL;
    /* rollout_evaluate wants a C string: copy so it is NUL-terminated */
    char cname[256] = "";
    if (name.p) {
        if (name.n >= sizeof cname || memchr(name.p, 0, name.n)) {
            rb_str_clear(&name);
            PyErr_SetString(PyExc_ValueError, "the name is too long or contains NUL");
            return NULL;
        }
        memcpy(cname, name.p, name.n);
        cname[name.n] = '\0';
    }
    int has_name = name.p != NULL;
    rb_str_clear(&name);
    PlanObject *p = (PlanObject *)self;
    MetricsObject *m = (MetricsObject *)metrics_o;
    rollout_evaluation *ev = PyMem_Malloc(sizeof *ev);
    if (!ev)
        return PyErr_NoMemory();
    rollout_error err;
    int rc;
    /* exact Mann-Whitney p-values can take a while: let other threads run.
     * busy keeps setters off the snapshot meanwhile. */
    m->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_evaluate(p->plan, target, has_name ? cname : NULL, m->m, ev, &err);
    Py_END_ALLOW_THREADS
    m->busy--;
    if (rc) {
        PyMem_Free(ev);
        return rb_raise(rc, &err, NULL, RB_CTX_METRICS);
    }
    PyObject *results = PyList_New(0);
    int n = clamp(ev->n_results, ROLLOUT_MAX_CRITERIA);
    for (int i = 0; results && i < n; i++) {
        const rollout_criterion_result *r = &ev->results[i];
        PyObject *d = Py_BuildValue(
            "{s:N,s:N,s:s,s:O,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:O,s:s,s:N}", "id",
            cstr_or_none(r->id),
            "metric", cstr_or_none(r->metric), "verdict", rollout_verdict_name(r->verdict),
            "rollback", r->rollback ? Py_True : Py_False, "rollback_reason",
            rollback_reason_or_none(r->rollback ? r->rollback_reason : -1), "observed",
            num_or_none(r->observed), "threshold", num_or_none(r->threshold), "baseline",
            num_or_none(r->baseline), "p_value", num_or_none(r->p_value), "lower",
            num_or_none(r->lower), "upper", num_or_none(r->upper), "samples",
            num_or_none(r->samples), "reason",
            PyUnicode_DecodeUTF8(r->reason, (Py_ssize_t)strnlen(r->reason, sizeof r->reason),
                                 "replace"),
            "dry_run", r->dry_run ? Py_True : Py_False, "direction",
            r->direction == ROLLOUT_LOWER_IS_WORSE ? "lower_is_worse" : "higher_is_worse",
            "sla", num_or_none(r->sla));
        if (!d || PyList_Append(results, d) < 0) {
            Py_XDECREF(d);
            Py_CLEAR(results);
        } else {
            Py_DECREF(d);
        }
    }
    PyObject *out = NULL;
    if (results)
        out = Py_BuildValue("{s:s,s:N,s:i,s:i,s:i,s:N,s:N,s:N}", "verdict",
                            rollout_verdict_name(ev->verdict), "criteria",
                            cstr_or_none(ev->criteria), "n_pass", ev->n_pass, "n_fail",
                            ev->n_fail, "n_inconclusive", ev->n_inconclusive, "rollback_index",
                            rb_int_or_none(ev->rollback_index, -1), "rollback_reason",
                            rollback_reason_or_none(ev->rollback_reason), "results", results);
    PyMem_Free(ev);
    return out;
}

/* ---- type ------------------------------------------------------------------------------- */

static PyMethodDef plan_methods[] = {
    /* indexes 0 and 1 are patched to the METH_FASTCALL forms on 3.10+ (rb_plan_init) */
    {"decide", (PyCFunction)(void (*)(void))rb_plan_decide_varargs, METH_VARARGS | METH_KEYWORDS,
     "decide($self, /, *, org=None, user=None, session=None, request=None, attrs=None, at=None, "
     "state=None)\n--\n\n-> Decision. "
     "Whether a request goes to the new version: rollout_decide. Ids are str (hashed\n"
     "as UTF-8) or bytes; attrs a dict of str to str; at an aware datetime or epoch\n"
     "seconds (default now); state a State of this plan (default: started at the\n"
     "plan's start, no gate decided)."},
    {"decide_many", (PyCFunction)(void (*)(void))rb_plan_decide_many,
     METH_VARARGS | METH_KEYWORDS,
     "decide_many($self, /, orgs=None, *, users=None, sessions=None, requests=None, attrs=None, "
     "at=None, state=None)\n--\n\n-> bytes. "
     "Decides one request per id of exactly one id sequence: the state, schedule and\n"
     "rules that do not read the id once, then each id as it is read, with the GIL\n"
     "held. Returns a bytes mask: mask[i] is 1 when ids[i] gets the new version."},
    {"from_file", plan_from_file, METH_VARARGS | METH_CLASS,
     "from_file($type, path, /)\n--\n\nLoads and validates a plan file (YAML or JSON)."},
    {"from_string", (PyCFunction)(void (*)(void))plan_from_string,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_string($type, /, text, name=None)\n--\n\n"
     "Loads a plan from YAML text (str or bytes); name is used in error messages."},
    {"seed", plan_seed, METH_NOARGS | METH_CLASS,
     "seed($type, /)\n--\n\nThe seed plan compiled into the library."},
    {"seed_yaml", plan_seed_yaml, METH_NOARGS | METH_CLASS,
     "seed_yaml($type, /)\n--\n\nThe YAML text of the seed plan compiled into the library."},
    {"dump", (PyCFunction)(void (*)(void))plan_dump, METH_VARARGS | METH_KEYWORDS,
     "dump($self, /, format='yaml')\n--\n\nThe normalized plan, as YAML or JSON."},
    {"_schedule", (PyCFunction)(void (*)(void))plan_schedule, METH_VARARGS | METH_KEYWORDS,
     "_schedule($self, /, at=None, state=None)\n--\n\nrollout_schedule, as a dict."},
    {"_calendar", (PyCFunction)(void (*)(void))plan_calendar, METH_VARARGS | METH_KEYWORDS,
     "_calendar($self, /, state=None)\n--\n\nrollout_calendar, as a list of dicts."},
    {"calendar_render", (PyCFunction)(void (*)(void))plan_calendar_render,
     METH_VARARGS | METH_KEYWORDS,
     "calendar_render($self, /, format='table', state=None)\n--\n\n"
     "The calendar rendered by the library: 'table', 'json', 'ics' or 'svg'."},
    {"_evaluate", plan_evaluate, METH_VARARGS,
     "_evaluate($self, target, name, metrics, /)\n--\n\nrollout_evaluate, as a dict."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef plan_getset[] = {
    {"id", get_id, NULL, "The plan's id.", NULL},
    {"start", get_start, NULL, "The planned start, epoch seconds.", NULL},
    {"hash", get_hash, NULL,
     "The bucket function: 'xxh3' or a compatibility mode (docs/bucketing.md).", NULL},
    {"fingerprint", get_fingerprint, NULL, "64-bit digest of the normalized plan.", NULL},
    {"phases", get_phases, NULL, "Phase ids in plan order.", NULL},
    {"cohorts", get_cohorts, NULL, "Cohort ids in plan order.", NULL},
    {"gates", get_gates, NULL, "Gate ids in plan order.", NULL},
    {"roles", get_roles, NULL, "Role ids in plan order.", NULL},
    {"labels", get_labels, NULL, "(stable label, new label).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot plan_slots[] = {
    {Py_tp_dealloc, plan_dealloc},
    {Py_tp_new, plan_new},
    {Py_tp_repr, plan_repr},
    {Py_tp_methods, plan_methods},
    {Py_tp_getset, plan_getset},
    {Py_tp_doc, "A loaded, validated, immutable rollout plan (shareable across threads)."},
    {0, NULL},
};

static PyType_Spec plan_spec = {
    "rollout._rollout.Plan", sizeof(PlanObject), 0,
    /* BASETYPE: rollout.Plan adds the idiomatic wrappers in Python */
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, plan_slots,
};

int rb_plan_init(PyObject *module)
{
    if (rb_py310) {
        /* vectorcall-style METH_FASTCALL|METH_KEYWORDS: no argument tuple
         * or kwargs dict per call (in the stable ABI from 3.10) */
        plan_methods[0].ml_meth = (PyCFunction)(void (*)(void))rb_plan_decide_fast;
        plan_methods[0].ml_flags = METH_FASTCALL | METH_KEYWORDS;
        plan_methods[1].ml_meth = (PyCFunction)(void (*)(void))rb_plan_decide_many_fast;
        plan_methods[1].ml_flags = METH_FASTCALL | METH_KEYWORDS;
    }
    rb_PlanType = (PyTypeObject *)PyType_FromSpec(&plan_spec);
    if (!rb_PlanType)
        return -1;
    Py_INCREF(rb_PlanType);
    if (PyModule_AddObject(module, "Plan", (PyObject *)rb_PlanType) < 0) {
        Py_DECREF(rb_PlanType);
        return -1;
    }
    return 0;
}
