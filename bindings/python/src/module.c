/* SPDX-License-Identifier: MIT */
/*
 * module.c — rollout._rollout: module init, exceptions, and the argument
 * conversions every type shares (ids, times, states, names).
 */
#include "binding.h"

#include "rollout_store.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

PyObject *rb_Error, *rb_PlanError, *rb_StateError, *rb_TransitionError, *rb_MetricsError,
    *rb_ArgumentError, *rb_NotFoundError;
PyObject *rb_StoreError, *rb_StoreTimeoutError, *rb_ConflictError, *rb_SignatureError,
    *rb_ReplayError;

int rb_py310;

PyObject *rb_str_new, *rb_str_stable, *rb_reason_names[9], *rb_unit_names[4];
PyObject *rb_kw_decide[7];
PyObject *rb_kw_decide_many[7];

const char *const rb_unit_cstr[4] = {"org", "user", "session", "request"};
const char *const rb_change_cstr[5] = {"none", "step", "gate", "complete", "wait"};
const char *const rb_calendar_kind_cstr[5] = {"step", "gate", "message", "bake", "complete"};
const char *const rb_calendar_format_cstr[4] = {"table", "json", "ics", "svg"};

/* datetime.datetime, the aware epoch and timedelta(seconds=1), for rb_time. */
static PyObject *datetime_type, *epoch, *one_second;

/* ---- errors ---------------------------------------------------------------------- */

/* Sets attr on exc, stealing value; NULL value means the attribute is None. */
static int set_attr(PyObject *exc, const char *name, PyObject *value)
{
    if (!value) {
        if (PyErr_Occurred())
            return -1;
        value = Py_None;
        Py_INCREF(value);
    }
    int rc = PyObject_SetAttrString(exc, name, value);
    Py_DECREF(value);
    return rc;
}

PyObject *rb_raise(int code, const rollout_error *err, const char *msg, int ctx)
{
    if (code == ROLLOUT_ERR_NOMEM)
        return PyErr_NoMemory();
    PyObject *cls;
    switch (code) {
    case ROLLOUT_ERR_TRANSITION: cls = rb_TransitionError; break;
    case ROLLOUT_ERR_STATE:
    case ROLLOUT_ERR_STATE_PLAN: cls = rb_StateError; break;
    case ROLLOUT_ERR_METRICS: cls = rb_MetricsError; break;
    case ROLLOUT_ERR_ARG: cls = rb_ArgumentError; break;
    case ROLLOUT_ERR_NOT_FOUND: cls = rb_NotFoundError; break;
    case ROLLOUT_ERR_STORE: cls = rb_StoreError; break;
    case ROLLOUT_ERR_TIMEOUT: cls = rb_StoreTimeoutError; break;
    case ROLLOUT_ERR_CONFLICT: cls = rb_ConflictError; break;
    case ROLLOUT_ERR_SIGNATURE: cls = rb_SignatureError; break;
    case ROLLOUT_ERR_REPLAY: cls = rb_ReplayError; break;
    case ROLLOUT_ERR_VALUE:
        /* a store URL or key that does not parse: a bad argument */
        if (ctx == RB_CTX_STORE) {
            cls = rb_ArgumentError;
            break;
        }
        /* fall through */
    default:
        /* the same code (IO, SYNTAX, UNSUPPORTED...) means a bad plan, a bad
         * state or a bad metrics file depending on what was being read */
        cls = ctx == RB_CTX_PLAN      ? rb_PlanError
              : ctx == RB_CTX_STATE   ? rb_StateError
              : ctx == RB_CTX_METRICS ? rb_MetricsError
              : ctx == RB_CTX_STORE   ? rb_StoreError
                                      : rb_Error;
    }
    const char *m = err && err->message[0] ? err->message : msg ? msg : rollout_code_name(code);
    /* "replace": a message cut at 512 bytes may end inside a UTF-8 sequence,
     * and ids quoted in it may be any bytes */
    PyObject *text = PyUnicode_DecodeUTF8(m, (Py_ssize_t)strlen(m), "replace");
    if (!text)
        return NULL;
    PyObject *exc = PyObject_CallFunctionObjArgs(cls, text, NULL);
    if (!exc) {
        Py_DECREF(text);
        return NULL;
    }
    int has_pos = err && err->line > 0;
    if (set_attr(exc, "code", PyLong_FromLong(code)) < 0 ||
        set_attr(exc, "code_name", PyUnicode_FromString(rollout_store_code_name(code))) < 0 ||
        (Py_INCREF(text), set_attr(exc, "message", text)) < 0 ||
        set_attr(exc, "path",
                 err && err->file[0]
                     ? PyUnicode_DecodeFSDefaultAndSize(err->file, (Py_ssize_t)strlen(err->file))
                     : NULL) < 0 ||
        set_attr(exc, "line", has_pos ? PyLong_FromLong(err->line) : NULL) < 0 ||
        set_attr(exc, "column", has_pos ? PyLong_FromLong(err->column) : NULL) < 0 ||
        set_attr(exc, "field",
                 err && err->field[0]
                     ? PyUnicode_DecodeUTF8(err->field, (Py_ssize_t)strlen(err->field), "replace")
                     : NULL) < 0) {
        Py_DECREF(text);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(text);
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- conversions ------------------------------------------------------------------ */

/* TypeError "<what> must be <expected>, not <type name>". */
static int type_error(const char *what, const char *expected, PyObject *o)
{
    PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(o), "__name__");
    if (!name)
        return -1;
    PyErr_Format(PyExc_TypeError, "%s must be %s, not %U", what, expected, name);
    Py_DECREF(name);
    return -1;
}

int rb_str_get(PyObject *o, rb_str *s, const char *what, int allow_none)
{
    s->tmp = NULL;
    if (Py_TYPE(o) == &PyUnicode_Type || PyUnicode_Check(o)) {
        Py_ssize_t n;
        if (rb_py310) {
            /* no copy: the UTF-8 form lives in (or is cached on) the str */
            const char *p = PyUnicode_AsUTF8AndSize(o, &n);
            if (!p)
                return -1;
            s->p = p;
            s->n = (size_t)n;
            return 0;
        }
        PyObject *b = PyUnicode_AsUTF8String(o);
        char *p;
        if (!b || PyBytes_AsStringAndSize(b, &p, &n) < 0) {
            Py_XDECREF(b);
            return -1;
        }
        s->tmp = b;
        s->p = p;
        s->n = (size_t)n;
        return 0;
    }
    if (PyBytes_Check(o)) {
        char *p;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(o, &p, &n) < 0)
            return -1;
        s->p = p;
        s->n = (size_t)n;
        return 0;
    }
    if (allow_none && o == Py_None) {
        s->p = NULL;
        s->n = 0;
        return 0;
    }
    return type_error(what, allow_none ? "str, bytes or None" : "str or bytes", o);
}

/* ArgumentError (a ValueError) for a time outside ROLLOUT_TIME_MIN..MAX;
 * exact is 0 when the value did not even fit 64 bits. */
static int time_range_error(const char *what, long long v, int exact)
{
    char msg[256], got[48] = "an int beyond 64 bits";
    if (exact)
        snprintf(got, sizeof got, "%lld", v);
    snprintf(msg, sizeof msg,
             "%s is outside the times the library accepts, 0001-01-01T00:00:00Z .. "
             "9999-12-31T23:59:59Z (epoch seconds %lld .. %lld): got %s",
             what, (long long)ROLLOUT_TIME_MIN, (long long)ROLLOUT_TIME_MAX, got);
    rb_raise(ROLLOUT_ERR_ARG, NULL, msg, RB_CTX_GENERIC);
    return -1;
}

/* v, which came from a conversion that may have failed, as a time. */
static int time_checked(long long v, int64_t *out, const char *what)
{
    if (v == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        return time_range_error(what, 0, 0);
    }
    if (!RB_TIME_OK(v))
        return time_range_error(what, v, 1);
    *out = (int64_t)v;
    return 0;
}

int rb_time(PyObject *o, int64_t *out, const char *what)
{
    if (!o || o == Py_None) {
        *out = (int64_t)time(NULL);
        return 0;
    }
    /* exact int first: the flag test behind PyLong_Check is a function
     * call in the limited API */
    if (Py_TYPE(o) == &PyLong_Type || (PyLong_Check(o) && !PyBool_Check(o))) {
#if LONG_MAX >= INT64_MAX
        /* PyLong_AsLongLong goes through a byte-array conversion for
         * values above 2^30 (every epoch time): PyLong_AsLong does not */
        long v = PyLong_AsLong(o);
#else
        long long v = PyLong_AsLongLong(o);
#endif
        return time_checked(v, out, what);
    }
    int is_dt = PyObject_IsInstance(o, datetime_type);
    if (is_dt < 0)
        return -1;
    if (!is_dt)
        return type_error(what, "an aware datetime or int epoch seconds", o);
    PyObject *off = PyObject_CallMethod(o, "utcoffset", NULL);
    if (!off)
        return -1;
    int naive = off == Py_None;
    Py_DECREF(off);
    if (naive) {
        /* a naive datetime is local time or UTC depending on who wrote it:
         * guessing would move every step by the machine's offset */
        PyErr_Format(PyExc_ValueError,
                     "%s is a naive datetime; give it a tzinfo (datetime.timezone.utc) or "
                     "pass epoch seconds",
                     what);
        return -1;
    }
    /* exact integer arithmetic: floor((dt - epoch) / 1 s) */
    PyObject *diff = PyNumber_Subtract(o, epoch);
    PyObject *secs = diff ? PyNumber_FloorDivide(diff, one_second) : NULL;
    Py_XDECREF(diff);
    if (!secs)
        return -1;
    long long v = PyLong_AsLongLong(secs);
    Py_DECREF(secs);
    /* a datetime holds years 1 to 9999 in its own zone, which can be a
     * day outside them in UTC */
    return time_checked(v, out, what);
}

PyTypeObject *rb_state_known;

int rb_state_arg(PlanObject *plan, PyObject *o, const rollout_state **out)
{
    if (!o || o == Py_None) {
        *out = NULL;
        return 0;
    }
    /* PyObject_TypeCheck walks the MRO for rollout.State (a subclass):
     * remember the last type that passed. The reference keeps the type
     * alive, so its address cannot be reused by another type. */
    PyTypeObject *tp = Py_TYPE(o);
    if (tp != rb_state_known && tp != rb_StateType) {
        if (!PyObject_TypeCheck(o, rb_StateType))
            return type_error("state", "a rollout.State or None", o);
        Py_INCREF(tp);
        Py_XDECREF(rb_state_known);
        rb_state_known = tp;
    }
    StateObject *st = (StateObject *)o;
    if (st->s.plan_fingerprint != plan->fingerprint) {
        rb_raise(ROLLOUT_ERR_STATE_PLAN, NULL,
                 "the state belongs to another plan (its fingerprint differs)", RB_CTX_STATE);
        return -1;
    }
    *out = &st->s;
    return 0;
}

PyObject *rb_int_or_none(int64_t v, int64_t none)
{
    if (v == none)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}

int rb_set(PyObject *d, const char *key, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItemString(d, key, value);
    Py_DECREF(value);
    return rc;
}

PyObject *rb_name(PyObject *const *names, int n, int index)
{
    if (index < 0 || index >= n)
        Py_RETURN_NONE;
    Py_INCREF(names[index]);
    return names[index];
}

int rb_name_index(PyObject *const *names, int n, PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        type_error("a name", "str", name);
        return -2;
    }
    for (int i = 0; i < n; i++) {
        if (names[i] == name)
            return i;
        int eq = PyUnicode_Compare(names[i], name);
        if (eq == -1 && PyErr_Occurred())
            return -2;
        if (eq == 0)
            return i;
    }
    return -1;
}

PyObject *rb_role_tuple(PlanObject *plan, uint32_t bits)
{
    int n = 0;
    for (int r = 0; r < plan->n_roles; r++)
        n += (bits >> r) & 1;
    PyObject *t = PyTuple_New(n);
    if (!t)
        return NULL;
    for (int r = 0, k = 0; r < plan->n_roles; r++)
        if ((bits >> r) & 1) {
            Py_INCREF(plan->role_names[r]);
            PyTuple_SetItem(t, k++, plan->role_names[r]); /* steals */
        }
    return t;
}

/* ---- module functions --------------------------------------------------------------- */

static PyObject *mod_bucket(PyObject *mod, PyObject *args)
{
    PyObject *salt_o, *id_o;
    if (!PyArg_ParseTuple(args, "OO:bucket", &salt_o, &id_o))
        return NULL;
    rb_str salt, id;
    if (rb_str_get(salt_o, &salt, "salt", 0) < 0)
        return NULL;
    if (rb_str_get(id_o, &id, "id", 0) < 0) {
        rb_str_clear(&salt);
        return NULL;
    }
    uint32_t bucket = 0;
    int rc = rollout_bucket(salt.p, salt.n, id.p, id.n, &bucket);
    rb_str_clear(&salt);
    rb_str_clear(&id);
    if (rc)
        return rb_raise(rc, NULL, rc == ROLLOUT_ERR_ARG ? "an empty id has no bucket" : NULL,
                        RB_CTX_GENERIC);
    return PyLong_FromUnsignedLong(bucket);
}

static PyObject *mod_bucket_with(PyObject *mod, PyObject *args)
{
    const char *name;
    Py_ssize_t name_len;
    PyObject *key_o, *id_o;
    if (!PyArg_ParseTuple(args, "s#OO:bucket_with", &name, &name_len, &key_o, &id_o))
        return NULL;
    int hash = rollout_hash_from_name(name, (size_t)name_len);
    if (hash < 0)
        return rb_raise(ROLLOUT_ERR_ARG, NULL, "unknown bucket function", RB_CTX_GENERIC);
    rb_str key, id;
    if (rb_str_get(key_o, &key, "key", 0) < 0)
        return NULL;
    if (rb_str_get(id_o, &id, "id", 0) < 0) {
        rb_str_clear(&key);
        return NULL;
    }
    uint32_t bucket = 0;
    int rc = rollout_bucket_with(hash, key.p, key.n, id.p, id.n, &bucket);
    rb_str_clear(&key);
    rb_str_clear(&id);
    if (rc)
        return rb_raise(rc, NULL, "an empty id, or a key this bucket function refuses",
                        RB_CTX_GENERIC);
    return PyLong_FromUnsignedLong(bucket);
}

static PyObject *mod_code_name(PyObject *mod, PyObject *arg)
{
    int overflow;
    long code = PyLong_AsLongAndOverflow(arg, &overflow);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    /* an int that does not fit a C int is no code: casting it would name
     * whatever its low bits are (2**32 + 1 read as ROLLOUT_ERR_NOMEM) */
    if (overflow || code < INT_MIN || code > INT_MAX)
        code = -1;
    return PyUnicode_FromString(rollout_store_code_name((int)code));
}

static PyMethodDef module_methods[] = {
    {"bucket", mod_bucket, METH_VARARGS,
     "bucket($module, salt, id, /)\n--\n\n-> int. "
     "The bucket (0..99999) of a unit id under a salt (docs/bucketing.md). str ids are\n"
     "hashed as UTF-8, bytes as they are. An empty id raises ArgumentError."},
    {"bucket_with", mod_bucket_with, METH_VARARGS,
     "bucket_with($module, hash, key, id, /)\n--\n\n-> int. "
     "The bucket (0..100000) of a unit id under a bucket function ('xxh3', whose key is\n"
     "the salt, or a compatibility mode such as 'unleash') and its key\n"
     "(docs/bucketing.md): in at weight w iff below w. An empty id raises ArgumentError."},
    {"code_name", mod_code_name, METH_O,
     "code_name($module, code, /)\n--\n\nThe symbolic name of a rollout_code."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_rollout",
    "The C core of the rollout package: a thin binding of librollout.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

/* ---- init ------------------------------------------------------------------------------ */

/* Adds obj to the module under name, stealing the reference either way. */
static int add(PyObject *m, const char *name, PyObject *obj)
{
    if (!obj)
        return -1;
    if (PyModule_AddObject(m, name, obj) < 0) {
        Py_DECREF(obj);
        return -1;
    }
    return 0;
}

/* A tuple of the names fn gives for 0..n-1. */
static PyObject *name_tuple(const char *(*fn)(int), int n)
{
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        PyObject *s = PyUnicode_InternFromString(fn(i));
        if (!s || PyTuple_SetItem(t, i, s) < 0) {
            Py_DECREF(t);
            return NULL;
        }
    }
    return t;
}

static const char *unit_name(int i) { return rb_unit_cstr[i]; }

/* Detects CPython >= 3.10 (see binding.h). Py_GetVersion() is in the 3.8
 * limited API; Py_Version is not. */
static void rb_init_runtime(void)
{
    int major = 0, minor = 0;
    if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) == 2)
        rb_py310 = (major > 3 || (major == 3 && minor >= 10)) && PyUnicode_AsUTF8AndSize;
}

static PyObject *make_error(PyObject *m, const char *name, PyObject *bases, const char *doc)
{
    char qualified[64];
    snprintf(qualified, sizeof qualified, "rollout.%s", name);
    PyObject *cls = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
    if (!cls)
        return NULL;
    Py_INCREF(cls); /* one for the module, one for our global */
    if (add(m, name, cls) < 0) {
        Py_DECREF(cls);
        return NULL;
    }
    return cls;
}

/* an error that is also another exception: except either catches it */
static PyObject *make_error2(PyObject *m, const char *name, PyObject *base, PyObject *also,
                             const char *doc)
{
    PyObject *bases = PyTuple_Pack(2, base, also);
    PyObject *cls = bases ? make_error(m, name, bases, doc) : NULL;
    Py_XDECREF(bases);
    return cls;
}

static int init_errors(PyObject *m)
{
    rb_Error = make_error(m, "Error", PyExc_Exception,
                          "Base class of every librollout error. Attributes: code (the\n"
                          "rollout_code), code_name, message (the C library's text), and\n"
                          "path, line, column, field when the error has a position (None\n"
                          "otherwise).");
    if (!rb_Error)
        return -1;
    /* class-level defaults, so an Error raised from Python code has them too */
    static const char *const attrs[] = {"code", "code_name", "message", "path",
                                        "line", "column",    "field"};
    for (size_t i = 0; i < RB_COUNT(attrs); i++)
        if (PyObject_SetAttrString(rb_Error, attrs[i], Py_None) < 0)
            return -1;
    rb_PlanError = make_error(m, "PlanError", rb_Error,
                              "A plan did not load: unreadable, not YAML, or invalid. path,\n"
                              "line, column and field say where.");
    rb_StateError = make_error(m, "StateError", rb_Error,
                               "An encoded state is corrupt, foreign, or belongs to another plan.");
    rb_TransitionError = make_error(m, "TransitionError", rb_Error,
                                    "The event is not valid in the current state.");
    rb_MetricsError = make_error(m, "MetricsError", rb_Error,
                                 "A metrics snapshot or metrics file is invalid.");
    if (!rb_PlanError || !rb_StateError || !rb_TransitionError || !rb_MetricsError)
        return -1;
    rb_ArgumentError = make_error2(m, "ArgumentError", rb_Error, PyExc_ValueError,
                                   "An argument is out of range (ROLLOUT_ERR_ARG); also a "
                                   "ValueError.");
    rb_NotFoundError = make_error2(m, "NotFoundError", rb_Error, PyExc_LookupError,
                                   "A named phase, gate, role or criteria set does not "
                                   "exist (ROLLOUT_ERR_NOT_FOUND); also a LookupError.");
    if (!rb_ArgumentError || !rb_NotFoundError)
        return -1;

    rb_StoreError = make_error(m, "StoreError", rb_Error,
                               "The store is unreachable, broke the connection or answered an\n"
                               "error (ROLLOUT_ERR_STORE); the message names the store. Base of\n"
                               "every store error.");
    if (!rb_StoreError)
        return -1;
    rb_StoreTimeoutError = make_error2(m, "StoreTimeoutError", rb_StoreError, PyExc_TimeoutError,
                                       "The store did not answer within the timeout\n"
                                       "(ROLLOUT_ERR_TIMEOUT); also a TimeoutError.");
    rb_ConflictError = make_error(m, "ConflictError", rb_StoreError,
                                  "A compare-and-set lost: the stored revision is not the one\n"
                                  "expected, or a state is already stored (ROLLOUT_ERR_CONFLICT).");
    if (!rb_StoreTimeoutError || !rb_ConflictError)
        return -1;
    /* a refused value is both a store error and a state that is not used */
    rb_SignatureError = make_error2(m, "SignatureError", rb_StoreError, rb_StateError,
                                    "A stored state is unsigned while a key is held, or\n"
                                    "its signature does not match (ROLLOUT_ERR_SIGNATURE);\n"
                                    "it was refused. Also a StateError.");
    rb_ReplayError = make_error2(m, "ReplayError", rb_StoreError, rb_StateError,
                                 "A stored state's revision is below the last good one\n"
                                 "this handle saw (ROLLOUT_ERR_REPLAY); it was refused.\n"
                                 "Also a StateError.");
    return rb_SignatureError && rb_ReplayError ? 0 : -1;
}

static int init_strings(void)
{
    rb_str_new = PyUnicode_InternFromString("new");
    rb_str_stable = PyUnicode_InternFromString("stable");
    if (!rb_str_new || !rb_str_stable)
        return -1;
    for (int i = 0; i < 9; i++)
        if (!(rb_reason_names[i] = PyUnicode_InternFromString(rollout_reason_name(i))))
            return -1;
    for (int i = 0; i < 4; i++)
        if (!(rb_unit_names[i] = PyUnicode_InternFromString(rb_unit_cstr[i])))
            return -1;
    /* keyword names in a call are interned by the compiler, so the
     * parsers of decide and decide_many can match them by pointer */
    static const char *const kw[7] = {"org", "user", "session", "request", "attrs", "at", "state"};
    for (int i = 0; i < 7; i++)
        if (!(rb_kw_decide[i] = PyUnicode_InternFromString(kw[i])))
            return -1;
    static const char *const kw_many[7] = {"orgs", "users", "sessions", "requests",
                                           "attrs", "at", "state"};
    for (int i = 0; i < 7; i++)
        if (!(rb_kw_decide_many[i] = PyUnicode_InternFromString(kw_many[i])))
            return -1;
    return 0;
}

static int init_datetime(void)
{
    PyObject *mod = PyImport_ImportModule("datetime");
    if (!mod)
        return -1;
    datetime_type = PyObject_GetAttrString(mod, "datetime");
    PyObject *tz = PyObject_GetAttrString(mod, "timezone");
    PyObject *utc = tz ? PyObject_GetAttrString(tz, "utc") : NULL;
    PyObject *td = PyObject_GetAttrString(mod, "timedelta");
    if (datetime_type && utc)
        epoch = PyObject_CallFunction(datetime_type, "iiiiiiiO", 1970, 1, 1, 0, 0, 0, 0, utc);
    if (td)
        one_second = PyObject_CallFunction(td, "ii", 0, 1);
    Py_XDECREF(tz);
    Py_XDECREF(utc);
    Py_XDECREF(td);
    Py_DECREF(mod);
    return datetime_type && epoch && one_second ? 0 : -1;
}

PyMODINIT_FUNC PyInit__rollout(void);

PyMODINIT_FUNC PyInit__rollout(void)
{
    rb_init_runtime();
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (init_errors(m) < 0 || init_strings() < 0 || init_datetime() < 0 || rb_plan_init(m) < 0 ||
        rb_decision_init(m) < 0 || rb_state_init(m) < 0 || rb_metrics_init(m) < 0 ||
        rb_store_init(m) < 0)
        goto fail;
    if (add(m, "__version__", PyUnicode_FromString(rollout_version())) < 0 ||
        PyModule_AddIntConstant(m, "VERSION_NUMBER", (long)rollout_version_number()) < 0 ||
        PyModule_AddIntConstant(m, "BUCKETS", ROLLOUT_BUCKETS) < 0 ||
        PyModule_AddIntConstant(m, "WEIGHT_MAX", ROLLOUT_WEIGHT_MAX) < 0 ||
        PyModule_AddIntConstant(m, "FASTCALL", rb_py310) < 0 ||
        PyModule_AddIntConstant(m, "EVAL_PHASE", ROLLOUT_EVAL_PHASE) < 0 ||
        PyModule_AddIntConstant(m, "EVAL_GATE", ROLLOUT_EVAL_GATE) < 0 ||
        PyModule_AddIntConstant(m, "EVAL_CRITERIA", ROLLOUT_EVAL_CRITERIA) < 0 ||
        PyModule_AddIntConstant(m, "EVAL_BAKE", ROLLOUT_EVAL_BAKE) < 0 ||
        add(m, "EVENTS", name_tuple(rollout_event_name, ROLLOUT_EVENT_COUNT)) < 0 ||
        add(m, "STATUSES", name_tuple(rollout_status_name, ROLLOUT_STATUS_COUNT)) < 0 ||
        add(m, "ACTIONS", name_tuple(rollout_action_name, ROLLOUT_ACTION_COUNT)) < 0 ||
        add(m, "CONFIRMATIONS", name_tuple(rollout_confirmation_name, ROLLOUT_CONFIRM_COUNT)) <
            0 ||
        add(m, "ROLLBACK_REASONS",
            name_tuple(rollout_rollback_reason_name, ROLLOUT_ROLLBACK_COUNT)) < 0 ||
        add(m, "VERDICTS", name_tuple(rollout_verdict_name, 4)) < 0 ||
        add(m, "REASONS", name_tuple(rollout_reason_name, 9)) < 0 ||
        add(m, "UNITS", name_tuple(unit_name, 4)) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
