/* SPDX-License-Identifier: MIT */
/*
 * state.c — rollout._rollout.State: a rollout_state bound to its plan.
 *
 * Immutable from Python: _apply returns a new State and the actions, so a
 * caller can keep the old one (to retry, to compare, to write back only on
 * success). Events, gates, roles, verdicts, rollback reasons and
 * confirmations are named by the strings the library's own *_name
 * functions and the plan use, so nothing here knows their meaning.
 */
#include "binding.h"

#include <stdio.h>
#include <string.h>

PyTypeObject *rb_StateType;

static void state_dealloc(PyObject *self)
{
    Py_XDECREF(((StateObject *)self)->plan);
    PyTypeObject *tp = Py_TYPE(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *state_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError, "use State.new(plan) or State.decode(plan, text)");
    return NULL;
}

PyObject *rb_state_make(PyTypeObject *type, PlanObject *plan, const rollout_state *s)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    StateObject *o = (StateObject *)alloc(type, 0);
    if (!o)
        return NULL;
    o->plan = plan;
    Py_INCREF(plan);
    o->s = *s;
    return (PyObject *)o;
}

static PyObject *state_new(PyObject *cls, PyObject *args)
{
    PyObject *plan;
    if (!PyArg_ParseTuple(args, "O!:new", rb_PlanType, &plan))
        return NULL;
    rollout_state s;
    int rc = rollout_state_init(((PlanObject *)plan)->plan, &s);
    if (rc)
        return rb_raise(rc, NULL, NULL, RB_CTX_STATE);
    return rb_state_make((PyTypeObject *)cls, (PlanObject *)plan, &s);
}

static PyObject *state_decode(PyObject *cls, PyObject *args)
{
    PyObject *plan, *text_o;
    if (!PyArg_ParseTuple(args, "O!O:decode", rb_PlanType, &plan, &text_o))
        return NULL;
    rb_str text;
    if (rb_str_get(text_o, &text, "text", 0) < 0)
        return NULL;
    rollout_state s;
    rollout_error err;
    int rc = rollout_state_decode(((PlanObject *)plan)->plan, text.p, text.n, &s, &err);
    rb_str_clear(&text);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STATE);
    return rb_state_make((PyTypeObject *)cls, (PlanObject *)plan, &s);
}

static PyObject *state_encode(PyObject *self, PyObject *unused)
{
    char buf[ROLLOUT_STATE_TEXT_MAX];
    size_t n = rollout_state_encode(&((StateObject *)self)->s, buf, sizeof buf);
    if (!n)
        return rb_raise(ROLLOUT_ERR_BUFFER, NULL, "the state does not encode", RB_CTX_STATE);
    return PyUnicode_FromStringAndSize(buf, (Py_ssize_t)n);
}

/* ---- apply -------------------------------------------------------------------------- */

/* ASCII case-insensitive equality of a UTF-8 (p, n) with a C string. */
static int name_eq(const char *p, size_t n, const char *name)
{
    if (strlen(name) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = p[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* The index i in [0, count) whose fn(i) names o; None gives `dflt`. On an
 * unknown name raises ValueError listing the valid ones. */
static int enum_arg(PyObject *o, const char *(*fn)(int), int count, int dflt, const char *what,
                    int *out)
{
    if (!o || o == Py_None) {
        *out = dflt;
        return 0;
    }
    rb_str s;
    if (rb_str_get(o, &s, what, 0) < 0)
        return -1;
    int found = -1;
    for (int i = 0; i < count && found < 0; i++)
        if (name_eq(s.p, s.n, fn(i)))
            found = i;
    rb_str_clear(&s);
    if (found >= 0) {
        *out = found;
        return 0;
    }
    PyObject *valid = PyUnicode_FromString("");
    for (int i = 0; valid && i < count; i++) {
        PyObject *next = PyUnicode_FromFormat("%U%s'%s'", valid, i ? ", " : "", fn(i));
        Py_DECREF(valid);
        valid = next;
    }
    if (valid) {
        PyErr_Format(PyExc_ValueError, "%s must be one of %U, not %R", what, valid, o);
        Py_DECREF(valid);
    }
    return -1;
}

/* A gate or role named by its plan id; None gives -1. */
static int plan_name_arg(PyObject *o, PyObject *const *names, int n, const char *what, int *out)
{
    if (!o || o == Py_None) {
        *out = -1;
        return 0;
    }
    int i = rb_name_index(names, n, o);
    if (i == -2)
        return -1;
    if (i < 0) {
        rb_str name;
        if (rb_str_get(o, &name, what, 0) < 0)
            return -1;
        char msg[256];
        snprintf(msg, sizeof msg, "the plan has no %s \"%.*s\"", what,
                 (int)(name.n > 128 ? 128 : name.n), name.p);
        rb_str_clear(&name);
        rb_raise(ROLLOUT_ERR_NOT_FOUND, NULL, msg, RB_CTX_GENERIC);
        return -1;
    }
    *out = i;
    return 0;
}

static PyObject *action_dict(PlanObject *p, const rollout_action *a)
{
    PyObject *weight;
    if (a->type == ROLLOUT_ACTION_SET_WEIGHT)
        weight = PyLong_FromUnsignedLong(a->weight);
    else {
        weight = Py_None;
        Py_INCREF(weight);
    }
#define STR(s) ((s) ? PyUnicode_FromString(s) : (Py_INCREF(Py_None), Py_None))
    return Py_BuildValue("{s:s,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N,s:N}", "type",
                         rollout_action_name(a->type), "cohort",
                         rb_name(p->cohort_names, p->n_cohorts, a->cohort), "weight", weight,
                         "unit", rb_name(rb_unit_names, 4, a->unit), "gate",
                         rb_name(p->gate_names, p->n_gates, a->gate), "roles",
                         rb_role_tuple(p, a->roles), "due", rb_int_or_none(a->due, 0), "id",
                         STR(a->id), "label", STR(a->label), "channel", STR(a->channel),
                         "audience", STR(a->audience), "text", STR(a->text));
#undef STR
}

int rb_event_args(PlanObject *p, PyObject *args, PyObject *kwargs, rollout_event *ev,
                  int64_t *at)
{
    static char *kwlist[] = {"event",    "at",      "gate",   "role",
                             "override", "verdict", "reason", "confirmation",
                             "why",      "by",      "override_verdict", "all_phases",
                             NULL};
    PyObject *event_o, *at_o = NULL, *gate_o = NULL, *role_o = NULL, *verdict_o = NULL,
                       *reason_o = NULL, *conf_o = NULL, *why_o = NULL, *by_o = NULL;
    int override = 0, override_verdict = 0, all_phases = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O$OOpOOOOOpp:apply", kwlist, &event_o,
                                     &at_o, &gate_o, &role_o, &override, &verdict_o, &reason_o,
                                     &conf_o, &why_o, &by_o, &override_verdict, &all_phases))
        return -1;
    memset(ev, 0, sizeof *ev);
    /* the trail's reason: UTF-8 of a str that the call's arguments keep alive */
    if (why_o && why_o != Py_None) {
        if (!PyUnicode_Check(why_o)) {
            PyErr_SetString(PyExc_TypeError, "why must be a str or None");
            return -1;
        }
        Py_ssize_t n;
        ev->why = PyUnicode_AsUTF8AndSize(why_o, &n);
        if (!ev->why)
            return -1;
        if ((size_t)n != strlen(ev->why)) {
            PyErr_SetString(PyExc_ValueError, "why must not contain NUL");
            return -1;
        }
    }
    int by = -1;
    if (plan_name_arg(by_o, p->role_names, p->n_roles, "role", &by) < 0)
        return -1;
    ev->actor = by + 1;
    ev->override_verdict = override_verdict;
    ev->all_phases = all_phases;
    if (enum_arg(event_o, rollout_event_name, ROLLOUT_EVENT_COUNT, -1, "event", &ev->type) < 0 ||
        rb_time(at_o, at, "at") < 0 ||
        plan_name_arg(gate_o, p->gate_names, p->n_gates, "gate", &ev->gate) < 0 ||
        plan_name_arg(role_o, p->role_names, p->n_roles, "role", &ev->role) < 0 ||
        enum_arg(verdict_o, rollout_verdict_name, 4, -1, "verdict", &ev->verdict) < 0 ||
        enum_arg(reason_o, rollout_rollback_reason_name, ROLLOUT_ROLLBACK_COUNT, -1, "reason",
                 &ev->reason) < 0 ||
        enum_arg(conf_o, rollout_confirmation_name, ROLLOUT_CONFIRM_COUNT, -1, "confirmation",
                 &ev->confirmation) < 0)
        return -1;
    if (ev->type < 0) {
        PyErr_SetString(PyExc_TypeError, "event must name an event");
        return -1;
    }
    ev->override = override;
    return 0;
}

PyObject *rb_action_list(PlanObject *p, const rollout_action *actions, size_t n)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *d = action_dict(p, &actions[i]);
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_CLEAR(list);
        } else {
            Py_DECREF(d);
        }
    }
    return list;
}

static PyObject *state_apply(PyObject *self, PyObject *args, PyObject *kwargs)
{
    StateObject *st = (StateObject *)self;
    PlanObject *p = st->plan;
    rollout_event ev;
    int64_t at;
    if (rb_event_args(p, args, kwargs, &ev, &at) < 0)
        return NULL;

    rollout_state next;
    rollout_action *actions = PyMem_Malloc(sizeof *actions * ROLLOUT_MAX_ACTIONS);
    if (!actions)
        return PyErr_NoMemory();
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_error err;
    int rc = rollout_apply(p->plan, &st->s, &ev, at, &next, actions, &n, &err);
    if (rc) {
        PyMem_Free(actions);
        return rb_raise(rc, &err, NULL, RB_CTX_STATE);
    }
    PyObject *list = rb_action_list(p, actions, n);
    PyMem_Free(actions);
    if (!list)
        return NULL;
    PyObject *ns = rb_state_make(Py_TYPE(self), p, &next);
    if (!ns) {
        Py_DECREF(list);
        return NULL;
    }
    return Py_BuildValue("(NN)", ns, list);
}

/* ---- facts -------------------------------------------------------------------------- */

#define S(self) (&((StateObject *)(self))->s)

static PyObject *get_plan(PyObject *self, void *c)
{
    PyObject *p = (PyObject *)((StateObject *)self)->plan;
    Py_INCREF(p);
    return p;
}
static PyObject *get_status(PyObject *self, void *c)
{
    return PyUnicode_FromString(rollout_status_name(S(self)->status));
}
static PyObject *get_phase(PyObject *self, void *c)
{
    PlanObject *p = ((StateObject *)self)->plan;
    return rb_name(p->phase_names, p->n_phases, S(self)->phase);
}
static PyObject *get_step(PyObject *self, void *c) { return rb_int_or_none(S(self)->step, -1); }
static PyObject *get_gate(PyObject *self, void *c)
{
    PlanObject *p = ((StateObject *)self)->plan;
    return rb_name(p->gate_names, p->n_gates, S(self)->gate);
}
static PyObject *get_revision(PyObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(S(self)->revision);
}
static PyObject *get_started_at(PyObject *self, void *c)
{
    return rb_int_or_none(S(self)->started_at, 0);
}
static PyObject *get_updated_at(PyObject *self, void *c)
{
    return rb_int_or_none(S(self)->updated_at, 0);
}
static PyObject *get_last_verdict(PyObject *self, void *c)
{
    int v = S(self)->last_verdict;
    if (v < 0)
        Py_RETURN_NONE;
    return PyUnicode_FromString(rollout_verdict_name(v));
}
static PyObject *get_rollback_reason(PyObject *self, void *c)
{
    int r = S(self)->rollback_reason;
    if (r < 0)
        Py_RETURN_NONE;
    return PyUnicode_FromString(rollout_rollback_reason_name(r));
}
static PyObject *get_rollback_started_at(PyObject *self, void *c)
{
    return rb_int_or_none(S(self)->rollback_started_at, 0);
}
static PyObject *get_n_pauses(PyObject *self, void *c) { return PyLong_FromLong(S(self)->n_pauses); }
static PyObject *get_fingerprint(PyObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(S(self)->plan_fingerprint);
}

/* {gate: (roles that approved...)} for gates with at least one approval. */
static PyObject *get_approvals(PyObject *self, void *c)
{
    PlanObject *p = ((StateObject *)self)->plan;
    PyObject *d = PyDict_New();
    for (int g = 0; d && g < p->n_gates; g++) {
        if (!S(self)->gate_approvals[g])
            continue;
        PyObject *roles = rb_role_tuple(p, S(self)->gate_approvals[g]);
        if (!roles || PyDict_SetItem(d, p->gate_names[g], roles) < 0)
            Py_CLEAR(d);
        Py_XDECREF(roles);
    }
    return d;
}

static PyObject *get_attempt(PyObject *self, void *c)
{
    (void)c;
    return PyLong_FromLong(S(self)->attempt);
}

static PyObject *get_trail_total(PyObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(S(self)->trail_total);
}

/* The audit trail the state holds, oldest first: a list of dicts. */
static PyObject *get_trail(PyObject *self, void *c)
{
    (void)c;
    PlanObject *p = ((StateObject *)self)->plan;
    const rollout_state *s = S(self);
    uint32_t held = s->trail_total < ROLLOUT_TRAIL_MAX ? s->trail_total : ROLLOUT_TRAIL_MAX;
    PyObject *list = PyList_New(0);
    for (uint32_t j = 0; list && j < held; j++) {
        const rollout_trail_record *r = &s->trail[(s->trail_total - held + j) % ROLLOUT_TRAIL_MAX];
        PyObject *d = Py_BuildValue(
            "{s:L,s:s,s:N,s:N,s:i,s:i,s:s,s:O,s:O}", "at", (long long)r->at, "kind",
            rollout_trail_kind_name(r->kind), "role", rb_name(p->role_names, p->n_roles, r->role),
            "gate", rb_name(p->gate_names, p->n_gates, r->gate), "attempt", r->attempt, "detail",
            r->detail, "reason", r->reason, "verdict_overridden",
            r->flags & ROLLOUT_TRAIL_VERDICT_OVERRIDDEN ? Py_True : Py_False, "all_phases",
            r->flags & ROLLOUT_TRAIL_ALL_PHASES ? Py_True : Py_False);
        if (!d || PyList_Append(list, d) < 0)
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    return list;
}

/* {gate: time of its GO} for gates that have one. */
static PyObject *get_go_at(PyObject *self, void *c)
{
    PlanObject *p = ((StateObject *)self)->plan;
    PyObject *d = PyDict_New();
    for (int g = 0; d && g < p->n_gates; g++) {
        if (!S(self)->gate_go_at[g])
            continue;
        PyObject *t = PyLong_FromLongLong(S(self)->gate_go_at[g]);
        if (!t || PyDict_SetItem(d, p->gate_names[g], t) < 0)
            Py_CLEAR(d);
        Py_XDECREF(t);
    }
    return d;
}

static PyObject *state_repr(PyObject *self)
{
    StateObject *st = (StateObject *)self;
    PyObject *phase = get_phase(self, NULL);
    if (!phase)
        return NULL;
    PyObject *out = PyUnicode_FromFormat(
        "<rollout.State %s %s phase=%R step=%d revision=%llu>", rollout_plan_id(st->plan->plan),
        rollout_status_name(st->s.status), phase, (int)st->s.step,
        (unsigned long long)st->s.revision);
    Py_DECREF(phase);
    return out;
}

/* Equal when the states are identical field for field. */
static PyObject *state_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, rb_StateType))
        Py_RETURN_NOTIMPLEMENTED;
    int eq = memcmp(S(a), S(b), sizeof(rollout_state)) == 0;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t state_hash(PyObject *self)
{
    const unsigned char *b = (const unsigned char *)S(self);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof(rollout_state); i++)
        h = (h ^ b[i]) * 1099511628211ull;
    Py_hash_t r = (Py_hash_t)(h >> 1);
    return r == -1 ? -2 : r;
}

/* The state, which knows its plan, carried over to an edited plan. */
static PyObject *state_migrate(PyObject *self, PyObject *args)
{
    PyObject *plan;
    if (!PyArg_ParseTuple(args, "O!:migrate", rb_PlanType, &plan))
        return NULL;
    StateObject *st = (StateObject *)self;
    rollout_state out;
    rollout_error err;
    int rc = rollout_state_migrate(st->plan->plan, &st->s, ((PlanObject *)plan)->plan, &out, &err);
    if (rc)
        return rb_raise(rc, &err, NULL, RB_CTX_STATE);
    return rb_state_make(Py_TYPE(self), (PlanObject *)plan, &out);
}

static PyMethodDef state_methods[] = {
    {"new", state_new, METH_VARARGS | METH_CLASS,
     "new($type, plan, /)\n--\n\nA fresh state for plan: not started, revision 0."},
    {"decode", state_decode, METH_VARARGS | METH_CLASS,
     "decode($type, plan, text, /)\n--\n\n"
     "A state from the text encode() wrote; StateError when it is corrupt, foreign or\n"
     "belongs to another plan."},
    {"encode", state_encode, METH_NOARGS,
     "encode($self, /)\n--\n\nThe one-line, checksummed text form (\"rs2.\" + base64url)."},
    {"migrate", state_migrate, METH_VARARGS,
     "migrate($self, plan, /)\n--\n\n"
     "This state carried over to plan, an edited plan of the same rollout\n"
     "(rollout_state_migrate): positions, approvals and procedure steps matched by\n"
     "id, the status kept (a rollback, halt or pause stays), revision + 1. The same\n"
     "plan gives an equal state. Raises NotFoundError when something the state\n"
     "records is not in plan, TransitionError when plan reorders what the state has\n"
     "passed, StateError for another rollout."},
    {"_apply", (PyCFunction)(void (*)(void))state_apply, METH_VARARGS | METH_KEYWORDS,
     "_apply($self, /, event, at=None, *, gate=None, role=None, override=False, verdict=None, "
     "reason=None, confirmation=None, why=None, by=None, override_verdict=False, "
     "all_phases=False)\n--\n\n-> (State, list). "
     "rollout_apply; the actions come back as dicts."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef state_getset[] = {
    {"plan", get_plan, NULL, "The plan the state belongs to.", NULL},
    {"status", get_status, NULL, "'not_started', 'running', 'awaiting_gate', ...", NULL},
    {"phase", get_phase, NULL, "The current phase's id, or None before the start.", NULL},
    {"step", get_step, NULL, "The current step within the phase, or None.", NULL},
    {"gate", get_gate, NULL, "The next gate without a GO, or None.", NULL},
    {"revision", get_revision, NULL, "+1 on every transition.", NULL},
    {"started_at", get_started_at, NULL, "When the rollout started (epoch s), or None.", NULL},
    {"updated_at", get_updated_at, NULL, "Time of the last transition, or None.", NULL},
    {"last_verdict", get_last_verdict, NULL, "The last verdict recorded, or None.", NULL},
    {"rollback_reason", get_rollback_reason, NULL, "Why a rollback started, or None.", NULL},
    {"rollback_started_at", get_rollback_started_at, NULL, "When it started, or None.", NULL},
    {"n_pauses", get_n_pauses, NULL, "Pauses recorded.", NULL},
    {"fingerprint", get_fingerprint, NULL, "The plan fingerprint the state is bound to.", NULL},
    {"approvals", get_approvals, NULL, "{gate: roles that approved} for open approvals.", NULL},
    {"go_at", get_go_at, NULL, "{gate: time of its GO}.", NULL},
    {"attempt", get_attempt, NULL, "1, then +1 per retry after a rollback.", NULL},
    {"trail_total", get_trail_total, NULL, "Audit records ever written.", NULL},
    {"trail", get_trail, NULL,
     "The audit trail, oldest first (the last 16 records): dicts of at, kind, role, gate, "
     "attempt, detail, reason, verdict_overridden, all_phases.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot state_slots[] = {
    {Py_tp_dealloc, state_dealloc},
    {Py_tp_new, state_tp_new},
    {Py_tp_repr, state_repr},
    {Py_tp_richcompare, state_richcompare},
    {Py_tp_hash, state_hash},
    {Py_tp_methods, state_methods},
    {Py_tp_getset, state_getset},
    {Py_tp_doc, "A rollout state (immutable; apply() returns the next one)."},
    {0, NULL},
};

static PyType_Spec state_spec = {
    "rollout._rollout.State", sizeof(StateObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    state_slots,
};

int rb_state_init(PyObject *module)
{
    rb_StateType = (PyTypeObject *)PyType_FromSpec(&state_spec);
    if (!rb_StateType)
        return -1;
    Py_INCREF(rb_StateType);
    if (PyModule_AddObject(module, "State", (PyObject *)rb_StateType) < 0) {
        Py_DECREF(rb_StateType);
        return -1;
    }
    return 0;
}
