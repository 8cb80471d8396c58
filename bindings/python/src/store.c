/* SPDX-License-Identifier: MIT */
/*
 * store.c — rollout._rollout.Store: the rollout state in a shared store,
 * through the C store component (rollout_store.h, docs/fleet.md).
 *
 * Every call that talks to the store releases the GIL: they do network I/O
 * bounded by the store's timeout, and other Python threads (a web server's
 * request handlers deciding with plan.decide) must go on meanwhile. A C
 * handle is used by one thread at a time, so a Store refuses a second call
 * while one is in flight (`busy`, only touched with the GIL held) instead of
 * serialising threads on a lock behind the GIL's back: open one Store per
 * thread, as a gateway's sync thread opens its own handle.
 */
#include "binding.h"

#include "rollout_store.h"

#include <string.h>

PyTypeObject *rb_StoreType;

typedef struct {
    PyObject_HEAD
    rollout_store *st;   /* NULL once closed */
    PlanObject *plan;    /* the default plan, or NULL */
    int busy;
} StoreObject;

static void store_dealloc(PyObject *self)
{
    StoreObject *so = (StoreObject *)self;
    /* busy is impossible here: a call in flight holds a reference to self */
    rollout_store_close(so->st);
    so->st = NULL;
    Py_CLEAR(so->plan);
    PyTypeObject *tp = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *store_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"url",  "key_file",         "timeout_ms", "plan",
                             "require_signature", "poll_interval_ms", "subscribe",
                             "lazy_connect", NULL};
    PyObject *url_o, *key_o = Py_None, *plan_o = Py_None;
    int timeout_ms = 500, require = 0, poll_ms = 0, subscribe = 1, lazy = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|Oi$Opipp:Store", kwlist, &url_o, &key_o,
                                     &timeout_ms, &plan_o, &require, &poll_ms, &subscribe,
                                     &lazy))
        return NULL;
    if (timeout_ms < 1 || poll_ms < 0) {
        rb_raise(ROLLOUT_ERR_ARG, NULL,
                 timeout_ms < 1 ? "timeout_ms must be at least 1" : "poll_interval_ms must be >= 0",
                 RB_CTX_STORE);
        return NULL;
    }
    if (plan_o != Py_None && !PyObject_TypeCheck(plan_o, rb_PlanType)) {
        PyErr_SetString(PyExc_TypeError, "plan must be a rollout.Plan or None");
        return NULL;
    }
    if (!PyUnicode_Check(url_o)) {
        PyErr_SetString(PyExc_TypeError, "url must be a str");
        return NULL;
    }
    PyObject *url_b = PyUnicode_AsUTF8String(url_o);
    if (!url_b)
        return NULL;
    const char *url = PyBytes_AsString(url_b);
    if (!url || strlen(url) != (size_t)PyBytes_Size(url_b)) {
        if (url)
            PyErr_SetString(PyExc_ValueError, "url contains a NUL character");
        Py_DECREF(url_b);
        return NULL;
    }

    rollout_store_options o;
    rollout_store_options_init(&o);
    o.timeout_ms = timeout_ms;
    o.require_signature = require;
    o.poll_interval_ms = poll_ms;
    o.no_subscribe = !subscribe;
    o.lazy_connect = lazy;
    unsigned char key[ROLLOUT_STORE_KEY_MAX];
    rollout_error err;
    int rc;
    if (key_o != Py_None) {
        PyObject *path = NULL;
        if (!PyUnicode_FSConverter(key_o, &path)) {
            Py_DECREF(url_b);
            return NULL;
        }
        const char *p = PyBytes_AsString(path);
        size_t len = 0;
        rc = p ? rollout_store_read_key_file(p, key, sizeof key, &len, &err) : -1;
        Py_DECREF(path);
        if (rc) {
            Py_DECREF(url_b);
            return rc < 0 ? NULL : rb_raise(rc, &err, NULL, RB_CTX_STORE);
        }
        o.key = key;
        o.key_len = len;
    }

    rollout_store *st = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_store_open(url, &o, &st, &err);
    Py_END_ALLOW_THREADS
    memset(key, 0, sizeof key);
    Py_DECREF(url_b);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STORE);

    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    StoreObject *so = (StoreObject *)alloc(type, 0);
    if (!so) {
        rollout_store_close(st);
        return NULL;
    }
    so->st = st;
    if (plan_o != Py_None) {
        Py_INCREF(plan_o);
        so->plan = (PlanObject *)plan_o;
    }
    return (PyObject *)so;
}

/* ---- helpers -------------------------------------------------------------------------- */

/* Claims the handle for one call; -1 with an exception when it is closed or
 * another thread is using it. */
static int claim(StoreObject *so)
{
    if (!so->st) {
        PyErr_SetString(PyExc_ValueError, "the Store is closed");
        return -1;
    }
    if (so->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the Store is in use by another thread: open one Store per thread");
        return -1;
    }
    so->busy = 1;
    return 0;
}

/* The plan a call works with: its own plan argument, else the Store's. */
static PlanObject *plan_for(StoreObject *so, PyObject *plan_o)
{
    if (plan_o && plan_o != Py_None) {
        if (!PyObject_TypeCheck(plan_o, rb_PlanType)) {
            PyErr_SetString(PyExc_TypeError, "plan must be a rollout.Plan");
            return NULL;
        }
        return (PlanObject *)plan_o;
    }
    if (so->plan)
        return so->plan;
    PyErr_SetString(PyExc_TypeError, "no plan: pass plan= to the call or to Store()");
    return NULL;
}

/* The State class results are made of: the subclass's `_state_type` when it
 * names one (rollout.Store gives rollout.State), else the C type. New ref. */
static PyTypeObject *state_type(PyObject *self)
{
    PyObject *t = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "_state_type");
    if (t && PyType_Check(t) && PyType_IsSubtype((PyTypeObject *)t, rb_StateType))
        return (PyTypeObject *)t;
    Py_XDECREF(t);
    PyErr_Clear();
    Py_INCREF(rb_StateType);
    return rb_StateType;
}

static PyObject *make_state(PyObject *self, PlanObject *plan, const rollout_state *s)
{
    PyTypeObject *t = state_type(self);
    PyObject *o = rb_state_make(t, plan, s);
    Py_DECREF(t);
    return o;
}

/* A State argument: the state and the plan it belongs to. */
static int state_of(PyObject *o, StateObject **out)
{
    if (!PyObject_TypeCheck(o, rb_StateType)) {
        PyErr_SetString(PyExc_TypeError, "state must be a rollout.State");
        return -1;
    }
    *out = (StateObject *)o;
    return 0;
}

/* ---- operations ------------------------------------------------------------------------ */

static PyObject *store_load(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"plan", NULL};
    PyObject *plan_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:load", kwlist, &plan_o))
        return NULL;
    StoreObject *so = (StoreObject *)self;
    PlanObject *plan = plan_for(so, plan_o);
    if (!plan || claim(so) < 0)
        return NULL;
    rollout_state s;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_store_load(so->st, plan->plan, &s, &err);
    Py_END_ALLOW_THREADS
    so->busy = 0;
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STORE);
    return make_state(self, plan, &s);
}

static PyObject *store_create(PyObject *self, PyObject *arg)
{
    StoreObject *so = (StoreObject *)self;
    StateObject *state;
    if (state_of(arg, &state) < 0 || claim(so) < 0)
        return NULL;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_store_create(so->st, state->plan->plan, &state->s, &err);
    Py_END_ALLOW_THREADS
    so->busy = 0;
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STORE);
    Py_RETURN_NONE;
}

static PyObject *store_hold(PyObject *self, PyObject *arg)
{
    StoreObject *so = (StoreObject *)self;
    StateObject *state;
    if (state_of(arg, &state) < 0 || claim(so) < 0)
        return NULL;
    rollout_error err;
    int rc = rollout_store_hold(so->st, state->plan->plan, &state->s, &err);
    so->busy = 0;
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STORE);
    Py_RETURN_NONE;
}

static PyObject *store_put(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"state", "expected_revision", NULL};
    PyObject *state_o;
    unsigned long long expected;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OK:put", kwlist, &state_o, &expected))
        return NULL;
    StoreObject *so = (StoreObject *)self;
    StateObject *state;
    if (state_of(state_o, &state) < 0 || claim(so) < 0)
        return NULL;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_store_put(so->st, state->plan->plan, (uint64_t)expected, &state->s, &err);
    Py_END_ALLOW_THREADS
    so->busy = 0;
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STORE);
    Py_RETURN_NONE;
}

/* _apply(event, at=None, *, plan=None, gate, role, override, verdict, reason,
 * confirmation) -> (State, [action dicts]) */
static PyObject *store_apply(PyObject *self, PyObject *args, PyObject *kwargs)
{
    StoreObject *so = (StoreObject *)self;
    PyObject *plan_o = NULL, *kw = NULL;
    if (kwargs) {
        /* plan= is the Store's; the rest are the event's, parsed as State.apply does */
        plan_o = PyDict_GetItemString(kwargs, "plan");
        if (plan_o) {
            kw = PyDict_Copy(kwargs);
            if (!kw || PyDict_DelItemString(kw, "plan") < 0) {
                Py_XDECREF(kw);
                return NULL;
            }
        }
    }
    PlanObject *plan = plan_for(so, plan_o);
    if (!plan) {
        Py_XDECREF(kw);
        return NULL;
    }
    Py_INCREF(plan); /* kw may have held the only other reference */
    rollout_event ev;
    int64_t at;
    int bad = rb_event_args(plan, args, kw ? kw : kwargs, &ev, &at);
    Py_XDECREF(kw);
    if (bad < 0 || claim(so) < 0) {
        Py_DECREF(plan);
        return NULL;
    }
    rollout_action *actions = PyMem_Malloc(sizeof *actions * ROLLOUT_MAX_ACTIONS);
    if (!actions) {
        so->busy = 0;
        Py_DECREF(plan);
        return PyErr_NoMemory();
    }
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_state next;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_store_apply(so->st, plan->plan, &ev, at, &next, actions, &n, &err);
    Py_END_ALLOW_THREADS
    so->busy = 0;
    PyObject *result = NULL;
    if (rc) {
        rb_raise(rc, &err, NULL, RB_CTX_STORE);
    } else {
        PyObject *list = rb_action_list(plan, actions, n);
        PyObject *ns = list ? make_state(self, plan, &next) : NULL;
        if (ns)
            result = Py_BuildValue("(NN)", ns, list);
        else
            Py_XDECREF(list);
    }
    PyMem_Free(actions);
    Py_DECREF(plan);
    return result;
}

static PyObject *store_watch(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"after_revision", "timeout", "plan", NULL};
    unsigned long long after;
    double timeout = 1.0;
    PyObject *plan_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "K|d$O:watch", kwlist, &after, &timeout,
                                     &plan_o))
        return NULL;
    if (!(timeout >= 0) || timeout > 2147483.0) {
        rb_raise(ROLLOUT_ERR_ARG, NULL, "timeout must be 0 to 2147483 seconds", RB_CTX_STORE);
        return NULL;
    }
    StoreObject *so = (StoreObject *)self;
    PlanObject *plan = plan_for(so, plan_o);
    if (!plan || claim(so) < 0)
        return NULL;
    int wait_ms = (int)(timeout * 1000.0 + 0.5);
    rollout_state s;
    rollout_error err;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rollout_store_watch(so->st, plan->plan, (uint64_t)after, wait_ms, &s, &err);
    Py_END_ALLOW_THREADS
    so->busy = 0;
    if (rc == ROLLOUT_STORE_NO_CHANGE)
        Py_RETURN_NONE;
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STORE);
    return make_state(self, plan, &s);
}

static PyObject *store_close(PyObject *self, PyObject *unused)
{
    StoreObject *so = (StoreObject *)self;
    if (so->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the Store is in use by another thread");
        return NULL;
    }
    rollout_store *st = so->st;
    so->st = NULL;
    Py_BEGIN_ALLOW_THREADS
    rollout_store_close(st);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *store_enter(PyObject *self, PyObject *unused)
{
    if (!((StoreObject *)self)->st) {
        PyErr_SetString(PyExc_ValueError, "the Store is closed");
        return NULL;
    }
    Py_INCREF(self);
    return self;
}

static PyObject *store_exit(PyObject *self, PyObject *args)
{
    PyObject *r = store_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *get_name(PyObject *self, void *c)
{
    StoreObject *so = (StoreObject *)self;
    if (!so->st)
        Py_RETURN_NONE;
    const char *n = rollout_store_name(so->st);
    return PyUnicode_DecodeUTF8(n, (Py_ssize_t)strlen(n), "replace");
}

static PyObject *get_plan(PyObject *self, void *c)
{
    PyObject *p = (PyObject *)((StoreObject *)self)->plan;
    if (!p)
        Py_RETURN_NONE;
    Py_INCREF(p);
    return p;
}

static PyObject *get_closed(PyObject *self, void *c)
{
    return PyBool_FromLong(((StoreObject *)self)->st == NULL);
}

static PyObject *store_repr(PyObject *self)
{
    StoreObject *so = (StoreObject *)self;
    if (!so->st)
        return PyUnicode_FromString("<rollout.Store closed>");
    return PyUnicode_FromFormat("<rollout.Store %s>", rollout_store_name(so->st));
}

static PyMethodDef store_methods[] = {
    {"load", (PyCFunction)(void (*)(void))store_load, METH_VARARGS | METH_KEYWORDS,
     "load($self, /, plan=None)\n--\n\n"
     "The stored state of plan's rollout; its revision is state.revision.\n"
     "NotFoundError when none is stored; a refused value raises (SignatureError,\n"
     "ReplayError, StateError) and changes nothing."},
    {"create", store_create, METH_O,
     "create($self, state, /)\n--\n\n"
     "Stores state as its rollout's first state; ConflictError when one is stored."},
    {"hold", store_hold, METH_O,
     "hold($self, state, /)\n--\n\n"
     "Tells the handle the state this program holds (from a file, an earlier\n"
     "read): later loads, watches and applies refuse a stored state that does\n"
     "not follow it (ReplayError; an apply then writes nothing), as after a store\n"
     "restored from a backup and written on since."},
    {"put", (PyCFunction)(void (*)(void))store_put, METH_VARARGS | METH_KEYWORDS,
     "put($self, /, state, expected_revision)\n--\n\n"
     "Compare-and-set: writes state in place of the stored state at\n"
     "expected_revision (ConflictError otherwise). state.revision must be above it."},
    {"_apply", (PyCFunction)(void (*)(void))store_apply, METH_VARARGS | METH_KEYWORDS,
     "_apply($self, /, event, at=None, *, plan=None, gate=None, role=None, override=False, "
     "verdict=None, reason=None, confirmation=None)\n--\n\n"
     "-> (State, list). rollout_store_apply: read, apply, compare-and-set, retried."},
    {"watch", (PyCFunction)(void (*)(void))store_watch, METH_VARARGS | METH_KEYWORDS,
     "watch($self, /, after_revision, timeout=1.0, *, plan=None)\n--\n\n"
     "A state newer than after_revision, or None when none came within timeout\n"
     "seconds. A refused value raises once; an outage raises StoreError."},
    {"close", store_close, METH_NOARGS, "close($self, /)\n--\n\nCloses the connections."},
    {"__enter__", store_enter, METH_NOARGS, NULL},
    {"__exit__", store_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef store_getset[] = {
    {"name", get_name, NULL, "The store's URL without its password; None once closed.", NULL},
    {"plan", get_plan, NULL, "The plan calls use when they are given none, or None.", NULL},
    {"closed", get_closed, NULL, "True once close() ran.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot store_slots[] = {
    {Py_tp_dealloc, store_dealloc},
    {Py_tp_new, store_tp_new},
    {Py_tp_repr, store_repr},
    {Py_tp_methods, store_methods},
    {Py_tp_getset, store_getset},
    {Py_tp_doc, "A connection to the store that holds rollout states (docs/fleet.md)."},
    {0, NULL},
};

static PyType_Spec store_spec = {
    "rollout._rollout.Store", sizeof(StoreObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    store_slots,
};

int rb_store_init(PyObject *module)
{
    rb_StoreType = (PyTypeObject *)PyType_FromSpec(&store_spec);
    if (!rb_StoreType)
        return -1;
    Py_INCREF(rb_StoreType);
    if (PyModule_AddObject(module, "Store", (PyObject *)rb_StoreType) < 0) {
        Py_DECREF(rb_StoreType);
        return -1;
    }
    return 0;
}
