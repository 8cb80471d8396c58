/* SPDX-License-Identifier: MIT */
/*
 * metrics.c — rollout._rollout.Metrics: a rollout_metrics snapshot.
 *
 * Built empty and filled with the setters, or loaded from YAML/JSON text or
 * a file (rollout.Metrics.from_dict serializes a dict to JSON and loads it,
 * so a dict means exactly what the same file would). Every value check is
 * the library's.
 */
#include "binding.h"

#include <stdio.h>
#include <string.h>

PyTypeObject *rb_MetricsType;

static void metrics_dealloc(PyObject *self)
{
    rollout_metrics_free(((MetricsObject *)self)->m);
    PyTypeObject *tp = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *wrap(PyTypeObject *type, rollout_metrics *m)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    MetricsObject *o = (MetricsObject *)alloc(type, 0);
    if (!o) {
        rollout_metrics_free(m);
        return NULL;
    }
    o->m = m;
    return (PyObject *)o;
}

static PyObject *metrics_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) || (kwargs && PyDict_Size(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Metrics() takes no arguments; use Metrics.from_dict, "
                                         "from_file or from_string to load values");
        return NULL;
    }
    rollout_metrics *m;
    int rc = rollout_metrics_create(&m);
    if (rc)
        return rb_raise(rc, NULL, NULL, RB_CTX_METRICS);
    return wrap(type, m);
}

static PyObject *metrics_from_file(PyObject *cls, PyObject *args)
{
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&:from_file", PyUnicode_FSConverter, &path))
        return NULL;
    rollout_metrics *m = NULL;
    rollout_error err;
    int rc;
    const char *p = PyBytes_AsString(path);
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_metrics_load_file(p, &m, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_METRICS);
    return wrap((PyTypeObject *)cls, m);
}

static PyObject *metrics_from_string(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"text", "name", NULL};
    PyObject *text_o;
    const char *name = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|z:from_string", kwlist, &text_o, &name))
        return NULL;
    rb_str text;
    if (rb_str_get(text_o, &text, "text", 0) < 0)
        return NULL;
    rollout_metrics *m = NULL;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_metrics_load_buffer(text.p, text.n, name, &m, &err);
    Py_END_ALLOW_THREADS
    rb_str_clear(&text);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_METRICS);
    return wrap((PyTypeObject *)cls, m);
}

/* ---- setters ---------------------------------------------------------------------- */

/* 'new' is ROLLOUT_NEW; 'baseline' (or 'stable') ROLLOUT_STABLE. */
static int variant_arg(const char *v, int *out)
{
    if (!v || !strcmp(v, "new"))
        *out = ROLLOUT_NEW;
    else if (!strcmp(v, "baseline") || !strcmp(v, "stable"))
        *out = ROLLOUT_STABLE;
    else {
        PyErr_Format(PyExc_ValueError, "variant must be 'new' or 'baseline', not '%s'", v);
        return -1;
    }
    return 0;
}

/* Setters refuse while an evaluation reads the snapshot without the GIL. */
static int writable(MetricsObject *m)
{
    if (m->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the metrics are being evaluated in another thread; set them before "
                        "or after");
        return -1;
    }
    return 0;
}

static PyObject *done(int rc, const rollout_error *err)
{
    if (rc)
        return rb_raise(rc, err, NULL, RB_CTX_METRICS);
    Py_RETURN_NONE;
}

static PyObject *metrics_set(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "value", "variant", NULL};
    const char *name, *variant = NULL;
    double value;
    int v;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sd|s:set", kwlist, &name, &value, &variant) ||
        variant_arg(variant, &v) < 0 || writable((MetricsObject *)self) < 0)
        return NULL;
    rollout_error err;
    return done(rollout_metrics_set(((MetricsObject *)self)->m, v, name, value, &err), &err);
}

/* A non-negative int as uint64_t; MetricsError for a negative one. */
static int count_arg(PyObject *o, const char *what, uint64_t *out)
{
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0);
    int neg = zero ? PyObject_RichCompareBool(o, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (neg < 0)
        return -1;
    if (neg) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must not be negative", what);
        rb_raise(ROLLOUT_ERR_METRICS, NULL, msg, RB_CTX_METRICS);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

static PyObject *metrics_set_requests(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"requests", "errors", "variant", NULL};
    PyObject *req_o, *err_o;
    const char *variant = NULL;
    int v;
    uint64_t req, errs;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|s:set_requests", kwlist, &req_o, &err_o,
                                     &variant) ||
        variant_arg(variant, &v) < 0 || writable((MetricsObject *)self) < 0 ||
        count_arg(req_o, "requests", &req) < 0 || count_arg(err_o, "errors", &errs) < 0)
        return NULL;
    rollout_error err;
    return done(rollout_metrics_set_requests(((MetricsObject *)self)->m, v, req, errs, &err),
                &err);
}

static PyObject *metrics_set_latency(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"p50", "p95", "p99", "variant", NULL};
    double p50, p95, p99;
    const char *variant = NULL;
    int v;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ddd|s:set_latency", kwlist, &p50, &p95, &p99,
                                     &variant) ||
        variant_arg(variant, &v) < 0 || writable((MetricsObject *)self) < 0)
        return NULL;
    rollout_error err;
    return done(rollout_metrics_set_latency(((MetricsObject *)self)->m, v, p50, p95, p99, &err),
                &err);
}

/* A sequence of floats as a PyMem array (NULL and n 0 when empty). */
static int doubles_arg(PyObject *seq, double **out, size_t *n)
{
    PyObject *t = PySequence_Tuple(seq);
    if (!t)
        return -1;
    Py_ssize_t len = PyTuple_Size(t);
    *out = NULL;
    *n = (size_t)len;
    if (len > 0 && !(*out = PyMem_Malloc(sizeof **out * (size_t)len))) {
        Py_DECREF(t);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        double d = PyFloat_AsDouble(PyTuple_GetItem(t, i));
        if (d == -1.0 && PyErr_Occurred()) {
            PyMem_Free(*out);
            *out = NULL;
            Py_DECREF(t);
            return -1;
        }
        (*out)[i] = d;
    }
    Py_DECREF(t);
    return 0;
}

static PyObject *metrics_set_latency_samples(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seconds", "variant", NULL};
    PyObject *seq;
    const char *variant = NULL;
    int v;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|s:set_latency_samples", kwlist, &seq,
                                     &variant) ||
        variant_arg(variant, &v) < 0 || writable((MetricsObject *)self) < 0)
        return NULL;
    double *x;
    size_t n;
    if (doubles_arg(seq, &x, &n) < 0)
        return NULL;
    rollout_error err;
    int rc = rollout_metrics_set_latency_samples(((MetricsObject *)self)->m, v, x, n, &err);
    PyMem_Free(x);
    return done(rc, &err);
}

static PyObject *metrics_set_latency_histogram(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"upper_bounds", "counts", "variant", NULL};
    PyObject *bounds_o, *counts_o;
    const char *variant = NULL;
    int v;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|s:set_latency_histogram", kwlist,
                                     &bounds_o, &counts_o, &variant) ||
        variant_arg(variant, &v) < 0 || writable((MetricsObject *)self) < 0)
        return NULL;
    double *bounds;
    size_t n;
    if (doubles_arg(bounds_o, &bounds, &n) < 0)
        return NULL;
    PyObject *t = PySequence_Tuple(counts_o);
    uint64_t *counts = NULL;
    PyObject *out = NULL;
    if (!t)
        goto fail;
    if ((size_t)PyTuple_Size(t) != n) {
        PyErr_SetString(PyExc_ValueError, "upper_bounds and counts differ in length");
        goto fail;
    }
    if (n && !(counts = PyMem_Malloc(sizeof *counts * n))) {
        PyErr_NoMemory();
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (count_arg(PyTuple_GetItem(t, (Py_ssize_t)i), "a histogram count", &counts[i]) < 0)
            goto fail;
    rollout_error err;
    out = done(rollout_metrics_set_latency_histogram(((MetricsObject *)self)->m, v, bounds,
                                                     counts, n, &err),
               &err);
fail:
    Py_XDECREF(t);
    PyMem_Free(bounds);
    PyMem_Free(counts);
    return out;
}

static PyObject *metrics_set_smoke(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"test", "passed", "variant", NULL};
    const char *test, *variant = NULL;
    int passed, v;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sp|s:set_smoke", kwlist, &test, &passed,
                                     &variant) ||
        variant_arg(variant, &v) < 0 || writable((MetricsObject *)self) < 0)
        return NULL;
    rollout_error err;
    return done(rollout_metrics_set_smoke(((MetricsObject *)self)->m, v, test, passed, &err),
                &err);
}

static PyObject *metrics_get(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "variant", NULL};
    const char *name, *variant = NULL;
    int v;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|s:get", kwlist, &name, &variant) ||
        variant_arg(variant, &v) < 0)
        return NULL;
    double value;
    int rc = rollout_metrics_get(((MetricsObject *)self)->m, v, name, &value);
    if (rc == ROLLOUT_ERR_NOT_FOUND)
        Py_RETURN_NONE;
    if (rc)
        return rb_raise(rc, NULL, NULL, RB_CTX_METRICS);
    return PyFloat_FromDouble(value);
}

static PyMethodDef metrics_methods[] = {
    {"from_file", metrics_from_file, METH_VARARGS | METH_CLASS,
     "from_file($type, path, /)\n--\n\nLoads a metrics snapshot file (YAML or JSON)."},
    {"from_string", (PyCFunction)(void (*)(void))metrics_from_string,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_string($type, /, text, name=None)\n--\n\nLoads a snapshot from YAML or JSON text."},
    {"set", (PyCFunction)(void (*)(void))metrics_set, METH_VARARGS | METH_KEYWORDS,
     "set($self, /, name, value, variant='new')\n--\n\nrollout_metrics_set: one named metric."},
    {"set_requests", (PyCFunction)(void (*)(void))metrics_set_requests,
     METH_VARARGS | METH_KEYWORDS,
     "set_requests($self, /, requests, errors, variant='new')\n--\n\nRequest and error counts together."},
    {"set_latency", (PyCFunction)(void (*)(void))metrics_set_latency,
     METH_VARARGS | METH_KEYWORDS,
     "set_latency($self, /, p50, p95, p99, variant='new')\n--\n\nThe three percentiles, in seconds."},
    {"set_latency_samples", (PyCFunction)(void (*)(void))metrics_set_latency_samples,
     METH_VARARGS | METH_KEYWORDS,
     "set_latency_samples($self, /, seconds, variant='new')\n--\n\nRaw latency samples in seconds."},
    {"set_latency_histogram", (PyCFunction)(void (*)(void))metrics_set_latency_histogram,
     METH_VARARGS | METH_KEYWORDS,
     "set_latency_histogram($self, /, upper_bounds, counts, variant='new')\n--\n\n"
     "A latency histogram: increasing upper bounds (s) and per-bucket counts."},
    {"set_smoke", (PyCFunction)(void (*)(void))metrics_set_smoke, METH_VARARGS | METH_KEYWORDS,
     "set_smoke($self, /, test, passed, variant='new')\n--\n\nOne smoke test's result."},
    {"get", (PyCFunction)(void (*)(void))metrics_get, METH_VARARGS | METH_KEYWORDS,
     "get($self, /, name, variant='new')\n--\n\n-> float or None. "
     "A metric as criteria see it (error_rate derived from counts, ...), None if absent."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot metrics_slots[] = {
    {Py_tp_dealloc, metrics_dealloc},
    {Py_tp_new, metrics_tp_new},
    {Py_tp_methods, metrics_methods},
    {Py_tp_doc, "A metrics snapshot: the new version's measurements and the baseline's."},
    {0, NULL},
};

static PyType_Spec metrics_spec = {
    "rollout._rollout.Metrics", sizeof(MetricsObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, metrics_slots,
};

int rb_metrics_init(PyObject *module)
{
    rb_MetricsType = (PyTypeObject *)PyType_FromSpec(&metrics_spec);
    if (!rb_MetricsType)
        return -1;
    Py_INCREF(rb_MetricsType);
    if (PyModule_AddObject(module, "Metrics", (PyObject *)rb_MetricsType) < 0) {
        Py_DECREF(rb_MetricsType);
        return -1;
    }
    return 0;
}
