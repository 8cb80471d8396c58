/* SPDX-License-Identifier: MIT */
/*
 * rollout.c — librollout for PUC Lua 5.4 and 5.3 (HAProxy, scripts) and Lua 5.1 /
 * LuaJIT's C API, as one source in the manner of lua-cjson.
 *
 *   local rollout = require "rollout"
 *   local plan = assert(rollout.load_file("plan.yaml"))
 *   local variant, reason = plan:decide_variant(org, user, session, os.time(), state)
 *
 * It offers exactly the Lua-facing API of the LuaJIT FFI module
 * bindings/lua/resty/rollout.lua (docs/lua.md); the busted specs in tests/lua run
 * against both. The conventions are that module's: run-time failures return
 * nil, message, code name; a wrong argument type raises; time is always an
 * argument; steps are numbered from 1; phases, cohorts, gates and roles are
 * named by their plan ids. Every name comes from the library's own name
 * functions, so the two bindings cannot spell a reason differently.
 *
 * Decisions allocate nothing: the context, the decision and the attribute
 * array live on the C stack, and the ids point into the Lua strings, which
 * stay on the Lua stack for the whole call.
 */
#include <lauxlib.h>
#include <lua.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollout.h"

#define BINDING_VERSION "0.1.0"
#define PLAN_MT "rollout.plan"
#define STATE_MT "rollout.state"
#define MAX_ATTRS 32 /* attributes per decision; the FFI module's limit too */

/* ---- Lua 5.1 / 5.4 compatibility ------------------------------------------ */

#if LUA_VERSION_NUM < 502
#define lua_rawlen lua_objlen
static void compat_setfuncs(lua_State *L, const luaL_Reg *l)
{
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
#define luaL_setfuncs(L, l, nup) compat_setfuncs(L, l)
static void *compat_testudata(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}
#define luaL_testudata compat_testudata
static void compat_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}
#define luaL_setmetatable compat_setmetatable
#endif

/* An int64 time or count: an integer in 5.3+, a double (exact to 2^53) in 5.1. */
static void push_i64(lua_State *L, int64_t v)
{
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)v);
#else
    lua_pushnumber(L, (lua_Number)v);
#endif
}

static void push_u32(lua_State *L, uint32_t v)
{
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)v);
#else
    lua_pushnumber(L, (lua_Number)v);
#endif
}

static void set_int(lua_State *L, const char *k, int64_t v)
{
    push_i64(L, v);
    lua_setfield(L, -2, k);
}

/* a weight's percent beside its exact units (0.001 %): 25000 -> 25.0 */
static void set_percent(lua_State *L, const char *k, uint32_t w)
{
    lua_pushnumber(L, (lua_Number)w / 1000);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void set_bool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

/* ---- names ------------------------------------------------------------------ */

static const char *const variant_names[] = {"stable", "new"};
static const char *const unit_names[] = {"org", "user", "session", "request"};
static const char *const change_names[] = {"none", "step", "gate", "complete", "wait"};
static const char *const cal_kind_names[] = {"step", "gate", "message", "bake", "complete"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_in(const char *const *t, int n, int i)
{
    return i >= 0 && i < n ? t[i] : NULL;
}

/* The index whose library name is s, exactly or in lower case (the FFI
 * module's rule: "PASS" and "pass", not "Pass"); -1 when none. */
static int name_index(const char *(*fn)(int), const char *s)
{
    for (int i = 0; i < 256; i++) {
        const char *n = fn(i);
        if (!n || !strcmp(n, "?"))
            break;
        if (!strcmp(n, s))
            return i;
        size_t len = strlen(n);
        if (strlen(s) == len) {
            size_t k = 0;
            for (; k < len; k++) {
                char c = n[k];
                if (c >= 'A' && c <= 'Z')
                    c = (char)(c - 'A' + 'a');
                if (s[k] != c)
                    break;
            }
            if (k == len)
                return i;
        }
    }
    return -1;
}

/* ---- errors ------------------------------------------------------------------- */

static int fail_msg(lua_State *L, const char *msg, int code)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    lua_pushstring(L, rollout_code_name(code));
    return 3;
}

static int fail_err(lua_State *L, const rollout_error *err, int code)
{
    return fail_msg(L, err->message, code);
}

static const char *decide_error(int rc)
{
    switch (rc) {
    case ROLLOUT_ERR_ARG: return "invalid argument";
    case ROLLOUT_ERR_STATE: return "the state is corrupt or of an unknown format";
    case ROLLOUT_ERR_STATE_PLAN: return "the state belongs to another plan";
    default: return "decide failed";
    }
}

/* Where an argument error is reported: the argument's number as the caller
 * counts it (self excluded) and the method's name. The decide family copies
 * the fields of a context table into positional slots, so the stack index
 * is not the number to report; every check therefore takes an argpos. */
typedef struct argpos {
    int n;
    const char *fname;
} argpos;

/* The message format of luaL_argerror, without a position prefix (a C
 * function has none), which is also what the FFI module raises. */
static int arg_fail(lua_State *L, argpos a, const char *msg)
{
    return luaL_error(L, "bad argument #%d to '%s' (%s)", a.n, a.fname, msg);
}

static int type_fail(lua_State *L, argpos a, const char *want, int idx)
{
    return arg_fail(L, a, lua_pushfstring(L, "%s expected, got %s", want, luaL_typename(L, idx)));
}

/* An epoch-seconds argument; a fraction is cut off toward zero. */
static int64_t check_time_at(lua_State *L, int idx, argpos a)
{
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx))
        return (int64_t)lua_tointeger(L, idx);
#endif
    if (lua_type(L, idx) != LUA_TNUMBER)
        type_fail(L, a, "number", idx);
    lua_Number d = lua_tonumber(L, idx);
    if (!(d > -9.2233720368547758e18 && d < 9.2233720368547758e18))
        arg_fail(L, a, "time out of range");
    return (int64_t)d;
}

/* An optional id: nil means absent; strings and numbers as lua_tolstring
 * makes them. Anything else raises. */
static const char *opt_id(lua_State *L, int idx, size_t *len, argpos a)
{
    if (lua_isnoneornil(L, idx)) {
        *len = 0;
        return NULL;
    }
    int t = lua_type(L, idx);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        type_fail(L, a, "string", idx);
    return lua_tolstring(L, idx, len);
}

/* ---- plans and states as userdata ------------------------------------------- */

typedef struct lplan {
    rollout_plan *p;
} lplan;

static rollout_plan *check_plan(lua_State *L, int idx)
{
    lplan *u = (lplan *)luaL_checkudata(L, idx, PLAN_MT);
    if (!u->p)
        luaL_argerror(L, idx, "plan already freed");
    return u->p;
}

static void push_plan(lua_State *L, rollout_plan *p)
{
    lplan *u = (lplan *)lua_newuserdata(L, sizeof *u);
    u->p = p;
    luaL_setmetatable(L, PLAN_MT);
}

static rollout_state *push_state(lua_State *L)
{
    rollout_state *s = (rollout_state *)lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, STATE_MT);
    return s;
}

static const rollout_state *opt_state(lua_State *L, int idx, argpos a)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    rollout_state *s = (rollout_state *)luaL_testudata(L, idx, STATE_MT);
    if (!s)
        type_fail(L, a, "rollout state", idx);
    return s;
}

/* ---- module functions ---------------------------------------------------------- */

/* The library is linked in: nothing to load. Kept so that code written for
 * the FFI module runs unchanged. */
static int l_load_library(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static int l_library_version(lua_State *L)
{
    lua_pushstring(L, rollout_version());
    return 1;
}

static int l_load_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rollout_plan *p;
    rollout_error err;
    int rc = rollout_plan_load_file(path, &p, &err);
    if (rc)
        return fail_err(L, &err, rc);
    push_plan(L, p);
    return 1;
}

static int l_load_string(lua_State *L)
{
    size_t len;
    const char *yaml = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, NULL);
    rollout_plan *p;
    rollout_error err;
    int rc = rollout_plan_load_buffer(yaml, len, name, &p, &err);
    if (rc)
        return fail_err(L, &err, rc);
    push_plan(L, p);
    return 1;
}

static int l_seed_plan(lua_State *L)
{
    size_t len;
    const char *yaml = rollout_seed_plan(&len);
    lua_pushlstring(L, yaml, len);
    return 1;
}

static int l_bucket(lua_State *L)
{
    size_t salt_len, id_len;
    const char *salt = luaL_checklstring(L, 1, &salt_len);
    const char *id = luaL_checklstring(L, 2, &id_len);
    uint32_t b;
    int rc = rollout_bucket(salt, salt_len, id, id_len, &b);
    if (rc)
        return fail_msg(L, "an empty id is not a unit and has no bucket", rc);
    push_u32(L, b);
    return 1;
}

/* bucket_with(hash, key, id): the bucket under a named bucket function
 * (docs/bucketing.md), 0..100000. */
static int l_bucket_with(lua_State *L)
{
    size_t name_len, key_len, id_len;
    const char *name = luaL_checklstring(L, 1, &name_len);
    const char *key = luaL_checklstring(L, 2, &key_len);
    const char *id = luaL_checklstring(L, 3, &id_len);
    int hash = rollout_hash_from_name(name, name_len);
    if (hash < 0)
        return fail_msg(L, "unknown bucket function", ROLLOUT_ERR_ARG);
    uint32_t b;
    int rc = rollout_bucket_with(hash, key, key_len, id, id_len, &b);
    if (rc)
        return fail_msg(L, "an empty id, or a key this bucket function refuses", rc);
    push_u32(L, b);
    return 1;
}

/* ---- plan facts ------------------------------------------------------------------- */

static int p_hash(lua_State *L)
{
    lua_pushstring(L, rollout_hash_name(rollout_plan_hash(check_plan(L, 1), NULL, NULL)));
    return 1;
}

static int p_id(lua_State *L)
{
    lua_pushstring(L, rollout_plan_id(check_plan(L, 1)));
    return 1;
}

static int p_start(lua_State *L)
{
    push_i64(L, rollout_plan_start(check_plan(L, 1)));
    return 1;
}

static int p_fingerprint(lua_State *L)
{
    char hex[17];
    unsigned long long f = rollout_plan_fingerprint(check_plan(L, 1));
    for (int i = 15; i >= 0; i--, f >>= 4)
        hex[i] = "0123456789abcdef"[f & 15];
    lua_pushlstring(L, hex, 16);
    return 1;
}

static int p_version_label(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    const char *which = luaL_checkstring(L, 2);
    if (!strcmp(which, "stable"))
        lua_pushstring(L, rollout_plan_version_label(p, 0));
    else if (!strcmp(which, "new"))
        lua_pushstring(L, rollout_plan_version_label(p, 1));
    else
        return luaL_argerror(L, 2, "\"stable\" or \"new\" expected");
    return 1;
}

static int push_names(lua_State *L, int n, const char *(*fn)(const rollout_plan *, int),
                      const rollout_plan *p)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, fn(p, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int p_cohorts(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    return push_names(L, rollout_plan_cohort_count(p), rollout_plan_cohort_name, p);
}

static int p_phases(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    return push_names(L, rollout_plan_phase_count(p), rollout_plan_phase_name, p);
}

static int p_gates(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    return push_names(L, rollout_plan_gate_count(p), rollout_plan_gate_name, p);
}

static int p_roles(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    return push_names(L, rollout_plan_role_count(p), rollout_plan_role_name, p);
}

/* plan:rule_reads() -> { org =, user =, session =, request = (some cohort
 * rule reads that id), attrs = { keys, each once, plan order } }: what the
 * rules read from a request (rollout_plan_rule_units, rollout_plan_rule_attr);
 * the id a step buckets by is not counted. */
static int p_rule_reads(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    unsigned units = rollout_plan_rule_units(p);
    lua_createtable(L, 0, 5);
    for (int u = 0; u < 4; u++)
        set_bool(L, unit_names[u], units >> u & 1);
    lua_newtable(L);
    const char *key;
    size_t len = 0;
    for (int i = 0; (key = rollout_plan_rule_attr(p, i, &len)) != NULL; i++) {
        lua_pushlstring(L, key, len);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "attrs");
    return 1;
}

static int p_dump(lua_State *L)
{
    rollout_plan *p = check_plan(L, 1);
    const char *f = luaL_optstring(L, 2, "yaml");
    int format;
    if (!strcmp(f, "yaml"))
        format = ROLLOUT_FORMAT_YAML;
    else if (!strcmp(f, "json"))
        format = ROLLOUT_FORMAT_JSON;
    else
        return luaL_argerror(L, 2, "\"yaml\" or \"json\" expected");
    size_t n = 0;
    rollout_plan_dump(p, format, NULL, 0, &n);
    char *buf = (char *)lua_newuserdata(L, n + 1);
    int rc = rollout_plan_dump(p, format, buf, n + 1, NULL);
    if (rc)
        return fail_msg(L, "dump failed", rc);
    lua_pushlstring(L, buf, n);
    return 1;
}

static int p_gc(lua_State *L)
{
    lplan *u = (lplan *)luaL_checkudata(L, 1, PLAN_MT);
    rollout_plan_unref(u->p);
    u->p = NULL;
    return 0;
}

static int p_tostring(lua_State *L)
{
    lua_pushfstring(L, "rollout.plan: %s", rollout_plan_id(check_plan(L, 1)));
    return 1;
}

static const char *cohort_name(const rollout_plan *p, int i)
{
    return i >= 0 ? rollout_plan_cohort_name(p, i) : NULL;
}
static const char *phase_name(const rollout_plan *p, int i)
{
    return i >= 0 ? rollout_plan_phase_name(p, i) : NULL;
}
static const char *gate_name(const rollout_plan *p, int i)
{
    return i >= 0 ? rollout_plan_gate_name(p, i) : NULL;
}

static int index_by_name(int n, const char *(*fn)(const rollout_plan *, int),
                         const rollout_plan *p, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(fn(p, i), name))
            return i;
    return -1;
}

/* A list of role ids for role bits; nothing is set when bits is 0. */
static void set_roles(lua_State *L, const char *k, const rollout_plan *p, uint32_t bits)
{
    if (!bits)
        return;
    lua_newtable(L);
    int n = 0;
    for (int r = 0; r < 32 && r < rollout_plan_role_count(p); r++)
        if (bits & (1u << r)) {
            lua_pushstring(L, rollout_plan_role_name(p, r));
            lua_rawseti(L, -2, ++n);
        }
    lua_setfield(L, -2, k);
}

/* ---- decisions ------------------------------------------------------------------------ */

typedef struct call {
    rollout_context ctx;
    rollout_attr attrs[MAX_ATTRS];
    rollout_decision d;
} call;

/* ---- prepared attribute sets (rollout.new_attrs) ------------------------
 * The same object as the FFI module's: keys fixed once, values set per
 * request, nil meaning absent. There it spares LuaJIT a loop in the
 * decision; here it is simply the same API. A table with metatable
 * rollout.attrs: [1..n] = keys, _idx = {key = i}, _values = {key = value}. */
#define ATTRS_MT "rollout.attrs"

static int is_prepared_attrs(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, ATTRS_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

/* A number stored where set() stores strings (a key in [1..n], a value in
 * _values, written by hand) counts as its string, as set() and plain tables
 * have it. lua_tolstring converts the stack copy, so the new string would be
 * held by that slot alone: those pairs stay on the stack until the decision
 * is made, as read_attrs' anchor table does for plain tables. Strings are
 * held by the tables and popped. Anything else is refused, rather than
 * passed on as a NULL value (absent) the caller did not ask for. */
static void read_prepared_attrs(lua_State *L, int idx, call *c, argpos a)
{
    size_t n = 0, keys = lua_rawlen(L, idx);
    lua_getfield(L, idx, "_values"); /* stays on the stack: it holds the values */
    int values = lua_gettop(L);
    if (!lua_istable(L, values))
        arg_fail(L, a, "attribute set without its values table");
    for (size_t i = 1; i <= keys && n < MAX_ATTRS; i++) {
        luaL_checkstack(L, 3, "attribute set");
        lua_rawgeti(L, idx, (int)i);
        int kt = lua_type(L, -1);
        if (kt == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
            type_fail(L, a, "attribute set of string keys", -1);
        size_t klen;
        const char *k = lua_tolstring(L, -1, &klen); /* a number: converted in place */
        lua_pushvalue(L, -1);
        lua_rawget(L, values);
        int vt = lua_type(L, -1);
        if (vt == LUA_TNIL) {
            lua_pop(L, 2);
            continue;
        }
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
            type_fail(L, a, "attribute set of string values", -1);
        rollout_attr *at = &c->attrs[n++];
        at->key = k;
        at->key_len = klen;
        at->value = lua_tolstring(L, -1, &at->value_len);
        if (kt == LUA_TSTRING && vt == LUA_TSTRING)
            lua_pop(L, 2); /* the key lives in idx, the value in _values */
        /* else both stay: the stack holds the only reference to a converted one */
    }
    c->ctx.attrs = c->attrs;
    c->ctx.n_attrs = n;
}

static int a_index(lua_State *L, int self, const char *fname)
{
    luaL_checktype(L, self, LUA_TTABLE);
    lua_getfield(L, self, "_idx");
    lua_pushvalue(L, self + 1);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        const char *k = lua_type(L, self + 1) == LUA_TSTRING ? lua_tostring(L, self + 1) : "?";
        return luaL_error(L, "bad argument #1 to '%s' (unknown attribute key \"%s\")", fname, k);
    }
    lua_pop(L, 2);
    return 0;
}

static int a_set(lua_State *L)
{
    a_index(L, 1, "set");
    int t = lua_type(L, 3);
    if (t != LUA_TNIL && t != LUA_TNONE && t != LUA_TSTRING && t != LUA_TNUMBER)
        return luaL_error(L, "bad argument #2 to 'set' (string expected, got %s)",
                          luaL_typename(L, 3));
    lua_settop(L, 3);
    if (t == LUA_TNUMBER)
        lua_tostring(L, 3); /* stored as the string the FFI module stores */
    lua_getfield(L, 1, "_values");
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

static int a_get(lua_State *L)
{
    a_index(L, 1, "get");
    lua_getfield(L, 1, "_values");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int a_clear(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_newtable(L);
    lua_setfield(L, 1, "_values");
    return 0;
}

static int l_new_attrs(lua_State *L)
{
    if (!lua_istable(L, 1))
        return luaL_error(L, "bad argument #1 to 'new_attrs' (table expected, got %s)",
                          luaL_typename(L, 1));
    size_t n = lua_rawlen(L, 1);
    if (n > MAX_ATTRS)
        return luaL_error(L, "bad argument #1 to 'new_attrs' (more than %d attributes)",
                          MAX_ATTRS);
    lua_createtable(L, (int)n, 2);
    int self = lua_gettop(L);
    lua_newtable(L);
    int idx = lua_gettop(L);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, (int)i);
        lua_pushvalue(L, -1);
        lua_rawget(L, idx);
        int dup = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 || dup)
            return luaL_error(L, "bad argument #1 to 'new_attrs' (distinct non-empty string "
                                 "keys expected)");
        lua_pushvalue(L, -1);
        lua_rawseti(L, self, (int)i);
        push_i64(L, (int64_t)i);
        lua_rawset(L, idx);
    }
    lua_setfield(L, self, "_idx");
    lua_newtable(L);
    lua_setfield(L, self, "_values");
    luaL_setmetatable(L, ATTRS_MT);
    return 1;
}

/* Reads the attrs table at idx into c->attrs. Keys and string values are
 * kept alive by the table; a number value is converted to a string that
 * only the stack would hold, so those go into an anchor table pushed here
 * and left on the stack until the decision is made. */
static void read_attrs(lua_State *L, int idx, call *c, argpos a)
{
    if (lua_isnoneornil(L, idx))
        return;
    if (!lua_istable(L, idx))
        type_fail(L, a, "table", idx);
    if (is_prepared_attrs(L, idx)) {
        read_prepared_attrs(L, idx, c, a);
        return;
    }
    lua_newtable(L);
    int anchor = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            type_fail(L, a, "table of string keys", -2);
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
            type_fail(L, a, "table of string values", -1);
        if (n >= MAX_ATTRS)
            arg_fail(L, a, "more than 32 attributes");
        rollout_attr *at = &c->attrs[n++];
        at->key = lua_tolstring(L, -2, &at->key_len);
        /* converting the value slot in place is allowed during lua_next
         * (only the key must stay untouched) */
        at->value = lua_tolstring(L, -1, &at->value_len);
        lua_rawseti(L, anchor, (int)n);
    }
    c->ctx.attrs = c->attrs;
    c->ctx.n_attrs = n;
}

/* Decides from the positional arguments at base (org, user, session, now,
 * state, request, attrs). The strings stay on the Lua stack until return. */
static int decide_at(lua_State *L, const rollout_plan *p, int base, call *c, const char *fname)
{
    memset(c, 0, sizeof *c);
    c->ctx.org = opt_id(L, base, &c->ctx.org_len, (argpos){1, fname});
    c->ctx.user = opt_id(L, base + 1, &c->ctx.user_len, (argpos){2, fname});
    c->ctx.session = opt_id(L, base + 2, &c->ctx.session_len, (argpos){3, fname});
    int64_t now = check_time_at(L, base + 3, (argpos){4, fname});
    const rollout_state *s = opt_state(L, base + 4, (argpos){5, fname});
    c->ctx.request = opt_id(L, base + 5, &c->ctx.request_len, (argpos){6, fname});
    read_attrs(L, base + 6, c, (argpos){7, fname});
    return rollout_decide(p, s, now, &c->ctx, &c->d);
}

/* decide/explain accept (ctx_table, now, state) or the positional form.
 * The table's fields are copied to the stack in the positional layout. */
static int decide_args(lua_State *L, const rollout_plan *p, call *c, const char *fname)
{
    if (lua_type(L, 2) != LUA_TTABLE)
        return decide_at(L, p, 2, c, fname);
    lua_settop(L, 4); /* plan, ctx, now, state */
    int top = lua_gettop(L);
    lua_getfield(L, 2, "org");
    lua_getfield(L, 2, "user");
    lua_getfield(L, 2, "session");
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    lua_getfield(L, 2, "request");
    lua_getfield(L, 2, "attrs");
    return decide_at(L, p, top + 1, c, fname);
}

static void push_decision(lua_State *L, const rollout_plan *p, const rollout_decision *d)
{
    lua_createtable(L, 0, 9);
    set_str(L, "variant", variant_names[d->variant == ROLLOUT_NEW]);
    set_str(L, "version", rollout_plan_version_label(p, d->variant == ROLLOUT_NEW));
    set_str(L, "reason", rollout_reason_name(d->reason));
    set_str(L, "cohort", cohort_name(p, d->cohort));
    set_str(L, "phase", phase_name(p, d->phase));
    if (d->step >= 0)
        set_int(L, "step", d->step + 1);
    set_str(L, "unit", name_in(unit_names, COUNT(unit_names), d->unit));
    if (d->reason <= ROLLOUT_REASON_OUT_OF_ROLLOUT)
        set_int(L, "bucket", d->bucket);
    set_int(L, "weight", d->weight);
    set_percent(L, "percent", d->weight);
}

static int p_decide_variant(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    call c;
    int rc = decide_at(L, p, 2, &c, "decide_variant");
    if (rc)
        return fail_msg(L, decide_error(rc), rc);
    lua_pushstring(L, variant_names[c.d.variant == ROLLOUT_NEW]);
    lua_pushstring(L, rollout_reason_name(c.d.reason));
    if (c.d.reason <= ROLLOUT_REASON_OUT_OF_ROLLOUT)
        push_u32(L, c.d.bucket);
    else
        lua_pushnil(L);
    push_u32(L, c.d.weight);
    return 4;
}

/* variant and the decision's label: the reason name, then "cohort=",
 * "phase=", "step=" (1-based) and "unit=" for those that apply, e.g.
 * "OUT_OF_ROLLOUT cohort=everyone phase=ga step=1 unit=org"; the FFI module
 * caches each label, here it is built per call (Lua interns it). */
static int p_decide_label(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    call c;
    int rc = decide_at(L, p, 2, &c, "decide_label");
    if (rc)
        return fail_msg(L, decide_error(rc), rc);
    const rollout_decision *d = &c.d;
    lua_pushstring(L, variant_names[d->variant == ROLLOUT_NEW]);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, rollout_reason_name(d->reason));
    const char *cohort = cohort_name(p, d->cohort), *phase = phase_name(p, d->phase);
    const char *unit = name_in(unit_names, COUNT(unit_names), d->unit);
    if (cohort) {
        luaL_addstring(&b, " cohort=");
        luaL_addstring(&b, cohort);
    }
    if (phase) {
        luaL_addstring(&b, " phase=");
        luaL_addstring(&b, phase);
    }
    if (d->step >= 0) {
        char num[24];
        snprintf(num, sizeof num, " step=%d", d->step + 1);
        luaL_addstring(&b, num);
    }
    if (unit) {
        luaL_addstring(&b, " unit=");
        luaL_addstring(&b, unit);
    }
    luaL_pushresult(&b);
    return 2;
}

static int p_decide(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    call c;
    int rc = decide_args(L, p, &c, "decide");
    if (rc)
        return fail_msg(L, decide_error(rc), rc);
    push_decision(L, p, &c.d);
    return 1;
}

static int p_explain(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    call c;
    int rc = decide_args(L, p, &c, "explain");
    if (rc)
        return fail_msg(L, decide_error(rc), rc);
    char buf[1024];
    size_t n = rollout_explain(p, &c.d, &c.ctx, buf, sizeof buf);
    if (n >= sizeof buf) {
        /* a userdata, not malloc: a Lua error cannot leak it */
        char *big = (char *)lua_newuserdata(L, n + 1);
        rollout_explain(p, &c.d, &c.ctx, big, n + 1);
        lua_pushlstring(L, big, n);
    } else {
        lua_pushlstring(L, buf, n);
    }
    lua_pushstring(L, variant_names[c.d.variant == ROLLOUT_NEW]);
    lua_pushstring(L, rollout_reason_name(c.d.reason));
    return 3;
}

/* ---- states ------------------------------------------------------------------------------ */

static rollout_state *check_state(lua_State *L, int idx)
{
    return (rollout_state *)luaL_checkudata(L, idx, STATE_MT);
}

static int s_encode(lua_State *L)
{
    char buf[ROLLOUT_STATE_TEXT_MAX];
    size_t n = rollout_state_encode(check_state(L, 1), buf, sizeof buf);
    if (!n)
        return fail_msg(L, "the state does not encode", ROLLOUT_ERR_BUFFER);
    lua_pushlstring(L, buf, n);
    return 1;
}

static int s_status(lua_State *L)
{
    lua_pushstring(L, rollout_status_name(check_state(L, 1)->status));
    return 1;
}

static int s_revision(lua_State *L)
{
    push_i64(L, (int64_t)check_state(L, 1)->revision);
    return 1;
}

static void set_time0(lua_State *L, const char *k, int64_t t)
{
    if (t)
        set_int(L, k, t);
}

static int s_info(lua_State *L)
{
    const rollout_state *s = check_state(L, 1);
    char hex[17];
    unsigned long long f = s->plan_fingerprint;
    for (int i = 15; i >= 0; i--, f >>= 4)
        hex[i] = "0123456789abcdef"[f & 15];
    hex[16] = '\0';
    lua_createtable(L, 0, 13);
    set_str(L, "status", rollout_status_name(s->status));
    set_int(L, "revision", (int64_t)s->revision);
    set_str(L, "fingerprint", hex);
    set_time0(L, "started_at", s->started_at);
    set_time0(L, "updated_at", s->updated_at);
    if (s->phase >= 0)
        set_int(L, "phase", s->phase + 1);
    if (s->step >= 0)
        set_int(L, "step", s->step + 1);
    if (s->gate >= 0)
        set_int(L, "gate", s->gate + 1);
    if (s->status == ROLLOUT_STATUS_PAUSED)
        set_str(L, "paused_from", rollout_status_name(s->paused_from));
    set_int(L, "pauses", s->n_pauses);
    if (s->last_verdict >= 0)
        set_str(L, "last_verdict", rollout_verdict_name(s->last_verdict));
    if (s->rollback_reason >= 0)
        set_str(L, "rollback_reason", rollout_rollback_reason_name(s->rollback_reason));
    set_time0(L, "rollback_started_at", s->rollback_started_at);
    set_int(L, "attempt", s->attempt);
    set_int(L, "trail_total", s->trail_total);
    return 1;
}

/* plan:trail(state): the audit trail the state holds, oldest first, with
 * the plan's names for roles and gates */
static int p_trail(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    const rollout_state *s = opt_state(L, 2, (argpos){1, "trail"});
    if (!s)
        type_fail(L, (argpos){1, "trail"}, "rollout state", 2);
    uint32_t held = s->trail_total < ROLLOUT_TRAIL_MAX ? s->trail_total : ROLLOUT_TRAIL_MAX;
    lua_createtable(L, (int)held, 0);
    for (uint32_t j = 0; j < held; j++) {
        const rollout_trail_record *r = &s->trail[(s->trail_total - held + j) % ROLLOUT_TRAIL_MAX];
        lua_createtable(L, 0, 9);
        set_int(L, "at", r->at);
        set_str(L, "kind", rollout_trail_kind_name(r->kind));
        set_str(L, "role", r->role >= 0 ? rollout_plan_role_name(p, r->role) : NULL);
        set_str(L, "gate", gate_name(p, r->gate));
        set_int(L, "attempt", r->attempt);
        set_int(L, "detail", r->detail);
        set_str(L, "reason", r->reason);
        lua_pushboolean(L, (r->flags & ROLLOUT_TRAIL_VERDICT_OVERRIDDEN) != 0);
        lua_setfield(L, -2, "verdict_overridden");
        lua_pushboolean(L, (r->flags & ROLLOUT_TRAIL_ALL_PHASES) != 0);
        lua_setfield(L, -2, "all_phases");
        lua_rawseti(L, -2, (int)j + 1);
    }
    return 1;
}

static int s_tostring(lua_State *L)
{
    lua_pushfstring(L, "rollout.state: %s", rollout_status_name(check_state(L, 1)->status));
    return 1;
}

static int p_new_state(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    rollout_state_init(p, push_state(L));
    return 1;
}

static int p_decode_state(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    rollout_state s;
    rollout_error err;
    int rc = rollout_state_decode(p, text, len, &s, &err);
    if (rc)
        return fail_err(L, &err, rc);
    *push_state(L) = s;
    return 1;
}

/* plan:migrate(state, old_plan): state, written for old_plan, taken over by
 * plan (rollout_state_migrate) */
static int p_migrate(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    const rollout_state *s = opt_state(L, 2, (argpos){1, "migrate"});
    if (!s)
        type_fail(L, (argpos){1, "migrate"}, "rollout state", 2);
    if (!luaL_testudata(L, 3, PLAN_MT))
        type_fail(L, (argpos){2, "migrate"}, "rollout plan", 3);
    const rollout_plan *old = check_plan(L, 3);
    rollout_state out;
    rollout_error err;
    int rc = rollout_state_migrate(old, s, p, &out, &err);
    if (rc)
        return fail_err(L, &err, rc);
    *push_state(L) = out;
    return 1;
}

/* ---- events ------------------------------------------------------------------------------- */

/* Reads the event at idx ("name" or a table) into *e. Returns 0, or pushes
 * nothing and sets *msg / *code for the caller to return. */
static int read_event(lua_State *L, const rollout_plan *p, int idx, rollout_event *e,
                      const char **msg, int *code)
{
    *code = ROLLOUT_ERR_ARG;
    int is_table = lua_type(L, idx) == LUA_TTABLE;
    if (is_table)
        lua_getfield(L, idx, "type");
    else
        lua_pushvalue(L, idx);
    const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* t still points into the table or the argument */
    if (!t) {
        *msg = "an event is a name or a table with a type";
        return -1;
    }
    int ty = name_index(rollout_event_name, t);
    if (ty < 0) {
        *msg = lua_pushfstring(L, "unknown event \"%s\"", t);
        return -1;
    }
    *e = (rollout_event){.type = ty, .gate = -1, .role = -1, .verdict = -1, .reason = -1,
                         .confirmation = -1};
    if (!is_table)
        return 0;

    lua_getfield(L, idx, "gate");
    if (!lua_isnil(L, -1)) {
        const char *g = lua_tostring(L, -1);
        e->gate = g ? index_by_name(rollout_plan_gate_count(p), rollout_plan_gate_name, p, g)
                    : -1;
        if (e->gate < 0) {
            *msg = lua_pushfstring(L, "unknown gate \"%s\"", g ? g : luaL_typename(L, -1));
            *code = ROLLOUT_ERR_NOT_FOUND;
            return -1;
        }
    }
    lua_getfield(L, idx, "role");
    int has_role = !lua_isnil(L, -1);
    if (has_role) {
        const char *r = lua_tostring(L, -1);
        e->role = r ? index_by_name(rollout_plan_role_count(p), rollout_plan_role_name, p, r)
                    : -1;
        if (e->role < 0) {
            *msg = lua_pushfstring(L, "unknown role \"%s\"", r ? r : luaL_typename(L, -1));
            *code = ROLLOUT_ERR_NOT_FOUND;
            return -1;
        }
    }
    lua_getfield(L, idx, "override");
    e->override = lua_toboolean(L, -1);
    lua_pop(L, 3);
    lua_getfield(L, idx, "override_verdict");
    e->override_verdict = lua_toboolean(L, -1);
    lua_getfield(L, idx, "all_phases");
    e->all_phases = lua_toboolean(L, -1);
    /* the reason in words: the event table keeps the string alive */
    lua_getfield(L, idx, "why");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            *msg = "why must be a string";
            return -1;
        }
        size_t n;
        e->why = lua_tolstring(L, -1, &n);
        if (n != strlen(e->why)) {
            *msg = "why must not contain NUL";
            return -1;
        }
    }
    lua_getfield(L, idx, "by");
    if (!lua_isnil(L, -1)) {
        const char *r = lua_tostring(L, -1);
        int by = r ? index_by_name(rollout_plan_role_count(p), rollout_plan_role_name, p, r) : -1;
        if (by < 0) {
            *msg = lua_pushfstring(L, "unknown role \"%s\"", r ? r : luaL_typename(L, -1));
            *code = ROLLOUT_ERR_NOT_FOUND;
            return -1;
        }
        e->actor = by + 1;
    }
    lua_pop(L, 4);

    const char *field = NULL, *what = NULL;
    const char *(*fn)(int) = NULL;
    int *slot = NULL;
    if (ty == ROLLOUT_EVENT_VERDICT) {
        field = "verdict", what = "verdict", fn = rollout_verdict_name, slot = &e->verdict;
    } else if (ty == ROLLOUT_EVENT_ROLLBACK) {
        field = "reason", what = "rollback reason", fn = rollout_rollback_reason_name,
        slot = &e->reason;
    } else if (ty == ROLLOUT_EVENT_CONFIRM) {
        field = "confirmation", what = "confirmation", fn = rollout_confirmation_name,
        slot = &e->confirmation;
    } else if ((ty == ROLLOUT_EVENT_APPROVE || (ty == ROLLOUT_EVENT_GO && e->override)) &&
               !has_role) {
        *msg = "role is required";
        return -1;
    }
    if (field) {
        lua_getfield(L, idx, field);
        const char *v = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER
                            ? lua_tostring(L, -1)
                            : NULL;
        if (!v && ty == ROLLOUT_EVENT_ROLLBACK && lua_isnil(L, -1))
            v = "manual";
        if (!v) {
            *msg = lua_pushfstring(L, "%s is required", what);
            return -1;
        }
        *slot = name_index(fn, v);
        if (*slot < 0) {
            *msg = lua_pushfstring(L, "unknown %s \"%s\"", what, v);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static void push_action(lua_State *L, const rollout_plan *p, const rollout_action *a)
{
    lua_newtable(L);
    set_str(L, "type", rollout_action_name(a->type));
    set_str(L, "cohort", cohort_name(p, a->cohort));
    if (a->type == ROLLOUT_ACTION_SET_WEIGHT) {
        set_int(L, "weight", a->weight);
        set_percent(L, "percent", a->weight);
        set_str(L, "unit", name_in(unit_names, COUNT(unit_names), a->unit));
    }
    set_str(L, "gate", gate_name(p, a->gate));
    set_roles(L, "roles", p, a->roles);
    if (a->due)
        set_int(L, "due", a->due);
    set_str(L, "id", a->id);
    set_str(L, "label", a->label);
    set_str(L, "channel", a->channel);
    set_str(L, "audience", a->audience);
    set_str(L, "text", a->text);
}

static int p_apply(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    const rollout_state *s = opt_state(L, 2, (argpos){1, "apply"});
    if (!s)
        type_fail(L, (argpos){1, "apply"}, "rollout state", 2);
    int64_t now = check_time_at(L, 4, (argpos){3, "apply"});
    rollout_event e;
    const char *msg;
    int code;
    if (read_event(L, p, 3, &e, &msg, &code))
        return fail_msg(L, msg, code);
    /* 22 KiB: a userdata rather than the C stack (hosts run Lua on small
     * coroutine stacks) or malloc (a Lua error would leak it) */
    rollout_action *acts =
        (rollout_action *)lua_newuserdata(L, ROLLOUT_MAX_ACTIONS * sizeof *acts);
    size_t n = ROLLOUT_MAX_ACTIONS;
    rollout_state next;
    rollout_error err;
    int rc = rollout_apply(p, s, &e, now, &next, acts, &n, &err);
    if (rc)
        return fail_err(L, &err, rc);
    *push_state(L) = next;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_action(L, p, &acts[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 2;
}

/* ---- schedule and calendar -------------------------------------------------------------- */

static void set_time_never(lua_State *L, const char *k, int64_t t)
{
    if (t != INT64_MAX)
        set_int(L, k, t);
}

static int p_schedule(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    int64_t now = check_time_at(L, 2, (argpos){1, "schedule"});
    const rollout_state *s = opt_state(L, 3, (argpos){2, "schedule"});
    rollout_schedule_info i;
    int rc = rollout_schedule(p, s, now, &i);
    if (rc)
        return fail_msg(L, decide_error(rc), rc);
    lua_createtable(L, 0, 16);
    set_str(L, "status", rollout_status_name(i.status));
    set_str(L, "phase", phase_name(p, i.phase));
    if (i.step >= 0)
        set_int(L, "step", i.step + 1);
    set_str(L, "gate", gate_name(p, i.gate));
    set_bool(L, "gate_pending", i.gate_pending != 0);
    if (i.gate >= 0)
        set_time_never(L, "gate_due", i.gate_due);
    set_int(L, "slip", i.slip);
    set_str(L, "next_change", name_in(change_names, COUNT(change_names), i.next_change));
    set_time_never(L, "next_at", i.next_at);
    set_str(L, "next_phase", phase_name(p, i.next_phase));
    if (i.next_step >= 0)
        set_int(L, "next_step", i.next_step + 1);
    if (i.next_phase >= 0)
        set_int(L, "next_weight", i.next_weight);
    if (i.next_phase >= 0)
        set_percent(L, "next_percent", i.next_weight);
    set_time_never(L, "bake_start", i.bake_start);
    set_time_never(L, "complete_at", i.complete_at);
    lua_createtable(L, i.n_cohorts, 0);
    for (int c = 0; c < i.n_cohorts; c++) {
        const rollout_cohort_weight *w = &i.cohorts[c];
        lua_createtable(L, 0, 5);
        set_str(L, "cohort", rollout_plan_cohort_name(p, c));
        set_int(L, "weight", w->weight);
        set_percent(L, "percent", w->weight);
        set_str(L, "unit", name_in(unit_names, COUNT(unit_names), w->unit));
        set_str(L, "phase", phase_name(p, w->phase));
        if (w->step >= 0)
            set_int(L, "step", w->step + 1);
        lua_rawseti(L, -2, c + 1);
    }
    lua_setfield(L, -2, "cohorts");
    return 1;
}

static int p_calendar(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    const rollout_state *s = opt_state(L, 2, (argpos){1, "calendar"});
    size_t n = 0;
    rollout_calendar_event *ev = (rollout_calendar_event *)lua_newuserdata(
        L, ROLLOUT_MAX_CALENDAR * sizeof *ev);
    int rc = rollout_calendar(p, s, ev, ROLLOUT_MAX_CALENDAR, &n);
    if (rc)
        return fail_msg(L, "calendar failed", rc);
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n; k++) {
        const rollout_calendar_event *e = &ev[k];
        lua_createtable(L, 0, 16);
        set_time_never(L, "at", e->at);
        set_str(L, "kind", name_in(cal_kind_names, COUNT(cal_kind_names), e->kind));
        set_str(L, "phase", phase_name(p, e->phase));
        if (e->step >= 0)
            set_int(L, "step", e->step + 1);
        set_str(L, "gate", gate_name(p, e->gate));
        set_str(L, "cohort", cohort_name(p, e->cohort));
        if (e->kind == ROLLOUT_CAL_STEP) {
            set_int(L, "weight", e->weight);
            set_percent(L, "percent", e->weight);
        }
        set_bool(L, "projected", e->projected != 0);
        set_str(L, "title", e->title);
        set_str(L, "channel", e->channel);
        set_str(L, "audience", e->audience);
        set_str(L, "message", e->message);
        set_roles(L, "owners", p, e->owners);
        lua_rawseti(L, -2, (int)k + 1);
    }
    return 1;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

/* The snapshot is owned by a userdata with __gc, so a Lua error while it is
 * being filled cannot leak it. */
#define METRICS_MT "rollout.metrics"

typedef struct lmetrics {
    rollout_metrics *m;
} lmetrics;

static int m_gc(lua_State *L)
{
    lmetrics *u = (lmetrics *)luaL_checkudata(L, 1, METRICS_MT);
    rollout_metrics_free(u->m);
    u->m = NULL;
    return 0;
}

static int is_count(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    lua_Number v = lua_tonumber(L, idx);
    return v >= 0 && v == floor(v) && v < 9007199254740992.0;
}

typedef struct mfail {
    int code;
    char message[512];
    rollout_error err;
} mfail;

static int metrics_fail(mfail *f, const char *msg)
{
    strncpy(f->message, msg, sizeof f->message - 1);
    f->message[sizeof f->message - 1] = '\0';
    return f->code = ROLLOUT_ERR_METRICS;
}

static int lib_fail(mfail *f, int rc)
{
    strncpy(f->message, f->err.message, sizeof f->message - 1);
    f->message[sizeof f->message - 1] = '\0';
    return f->code = rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The string keys of the table at idx, sorted; the strings stay alive in
 * the table. Non-string keys are refused. Returns the count or -1. */
static int sorted_keys(lua_State *L, int idx, const char **keys, int cap, mfail *f,
                       const char *what)
{
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            char msg[128];
            snprintf(msg, sizeof msg, "%s: keys must be names (strings)", what);
            metrics_fail(f, msg);
            return -1;
        }
        if (n < cap)
            keys[n] = lua_tostring(L, -1);
        n++;
    }
    if (n > cap) {
        metrics_fail(f, "too many metrics");
        return -1;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    return n;
}

static int not_a_number(lua_State *L, mfail *f, const char *k, int idx)
{
    char msg[256];
    snprintf(msg, sizeof msg, "metric %s: number expected, got %s", k, luaL_typename(L, idx));
    return metrics_fail(f, msg);
}

static int is_special(const char *k)
{
    static const char *const special[] = {"requests", "errors", "smoke_tests",
                                          "latency_samples", "latency_histogram"};
    for (int i = 0; i < COUNT(special); i++)
        if (!strcmp(k, special[i]))
            return 1;
    return 0;
}

/* One side of the snapshot from the table at idx (absolute). Same order of
 * calls as the FFI module, so both report the same first refusal. */
static int fill_side(lua_State *L, rollout_metrics *m, int variant, int idx, mfail *f)
{
    int rc;
    lua_getfield(L, idx, "requests");
    lua_getfield(L, idx, "errors");
    if (is_count(L, -2) && is_count(L, -1)) {
        rc = rollout_metrics_set_requests(m, variant, (uint64_t)lua_tonumber(L, -2),
                                          (uint64_t)lua_tonumber(L, -1), &f->err);
        lua_pop(L, 2);
        if (rc)
            return lib_fail(f, rc);
    } else {
        static const char *const ks[] = {"requests", "errors"};
        for (int k = 0; k < 2; k++) {
            int vi = lua_gettop(L) - 1 + k;
            if (lua_isnil(L, vi))
                continue;
            if (lua_type(L, vi) != LUA_TNUMBER)
                return not_a_number(L, f, ks[k], vi);
            rc = rollout_metrics_set(m, variant, ks[k], lua_tonumber(L, vi), &f->err);
            if (rc)
                return lib_fail(f, rc);
        }
        lua_pop(L, 2);
    }

    lua_getfield(L, idx, "latency_samples");
    if (!lua_isnil(L, -1)) {
        int t = lua_gettop(L);
        if (!lua_istable(L, t))
            return metrics_fail(f, "latency_samples: a list of seconds expected");
        size_t n = lua_rawlen(L, t);
        double *arr = (double *)lua_newuserdata(L, (n ? n : 1) * sizeof *arr);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, t, (int)i + 1);
            if (lua_type(L, -1) != LUA_TNUMBER)
                return metrics_fail(f, "latency_samples: a list of seconds expected");
            arr[i] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        rc = rollout_metrics_set_latency_samples(m, variant, arr, n, &f->err);
        if (rc)
            return lib_fail(f, rc);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "latency_histogram");
    if (!lua_isnil(L, -1)) {
        int h = lua_gettop(L);
        if (!lua_istable(L, h))
            return metrics_fail(f, "latency_histogram: {bounds = {...}, counts = {...}} expected");
        lua_getfield(L, h, "bounds");
        lua_getfield(L, h, "counts");
        if (!lua_istable(L, h + 1) || !lua_istable(L, h + 2))
            return metrics_fail(f, "latency_histogram: {bounds = {...}, counts = {...}} expected");
        size_t n = lua_rawlen(L, h + 1);
        if (lua_rawlen(L, h + 2) != n)
            return metrics_fail(f, "latency_histogram: bounds and counts differ in length");
        double *b = (double *)lua_newuserdata(L, (n ? n : 1) * sizeof *b);
        uint64_t *c = (uint64_t *)lua_newuserdata(L, (n ? n : 1) * sizeof *c);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, h + 1, (int)i + 1);
            lua_rawgeti(L, h + 2, (int)i + 1);
            if (lua_type(L, -2) != LUA_TNUMBER || !is_count(L, -1))
                return metrics_fail(f, "latency_histogram: numeric bounds and whole counts expected");
            b[i] = lua_tonumber(L, -2);
            c[i] = (uint64_t)lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
        rc = rollout_metrics_set_latency_histogram(m, variant, b, c, n, &f->err);
        if (rc)
            return lib_fail(f, rc);
        lua_settop(L, h);
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "smoke_tests");
    if (!lua_isnil(L, -1)) {
        int t = lua_gettop(L);
        if (!lua_istable(L, t))
            return metrics_fail(f, "smoke_tests: a table {id = true/false} expected");
        const char *ids[ROLLOUT_MAX_SMOKE_RESULTS + 1];
        int n = sorted_keys(L, t, ids, ROLLOUT_MAX_SMOKE_RESULTS + 1, f, "smoke_tests");
        if (n < 0)
            return f->code;
        for (int i = 0; i < n; i++) {
            lua_getfield(L, t, ids[i]);
            int passed = -1;
            if (lua_type(L, -1) == LUA_TBOOLEAN) {
                passed = lua_toboolean(L, -1);
            } else if (lua_type(L, -1) == LUA_TSTRING) {
                const char *v = lua_tostring(L, -1);
                if (!strcmp(v, "pass") || !strcmp(v, "passed"))
                    passed = 1;
                else if (!strcmp(v, "fail") || !strcmp(v, "failed"))
                    passed = 0;
            }
            lua_pop(L, 1);
            if (passed < 0) {
                char msg[256];
                snprintf(msg, sizeof msg,
                         "smoke_tests.%s: true, false, \"pass\" or \"fail\" expected", ids[i]);
                return metrics_fail(f, msg);
            }
            rc = rollout_metrics_set_smoke(m, variant, ids[i], passed, &f->err);
            if (rc)
                return lib_fail(f, rc);
        }
    }
    lua_pop(L, 1);

    enum { CAP = ROLLOUT_MAX_CUSTOM_METRICS + 32 };
    const char **keys = (const char **)lua_newuserdata(L, CAP * sizeof *keys);
    int n = sorted_keys(L, idx, keys, CAP, f, "metrics");
    if (n < 0)
        return f->code;
    for (int i = 0; i < n; i++) {
        if (is_special(keys[i]))
            continue;
        lua_getfield(L, idx, keys[i]);
        if (lua_type(L, -1) != LUA_TNUMBER)
            return not_a_number(L, f, keys[i], -1);
        rc = rollout_metrics_set(m, variant, keys[i], lua_tonumber(L, -1), &f->err);
        lua_pop(L, 1);
        if (rc)
            return lib_fail(f, rc);
    }
    lua_pop(L, 1);
    return 0;
}

/* Pushes a metrics userdata built from the argument at idx (a table or the
 * text of a snapshot). Returns 0, or the code with f filled. */
static int snapshot(lua_State *L, int idx, mfail *f)
{
    lmetrics *u = (lmetrics *)lua_newuserdata(L, sizeof *u);
    u->m = NULL;
    if (luaL_newmetatable(L, METRICS_MT)) {
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    int base = lua_gettop(L);
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, idx, &len);
        int rc = rollout_metrics_load_buffer(text, len, "<metrics>", &u->m, &f->err);
        return rc ? lib_fail(f, rc) : 0;
    }
    if (rollout_metrics_create(&u->m)) {
        metrics_fail(f, "out of memory");
        return f->code = ROLLOUT_ERR_NOMEM;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!k || (strcmp(k, "new") && strcmp(k, "baseline"))) {
            char msg[256];
            snprintf(msg, sizeof msg, "metrics: unknown key \"%s\" (new or baseline expected)",
                     k ? k : luaL_typename(L, -2));
            return metrics_fail(f, msg);
        }
        if (!lua_istable(L, -1)) {
            char msg[256];
            snprintf(msg, sizeof msg, "metrics.%s: table expected, got %s", k,
                     luaL_typename(L, -1));
            return metrics_fail(f, msg);
        }
        lua_pop(L, 1);
    }
    static const char *const sides[] = {"new", "baseline"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, idx, sides[i]);
        if (!lua_isnil(L, -1)) {
            int rc = fill_side(L, u->m, i == 0 ? ROLLOUT_NEW : ROLLOUT_STABLE, lua_gettop(L), f);
            if (rc)
                return rc;
        }
        lua_settop(L, base);
    }
    return 0;
}

/* NaN means "does not apply": left out, as the FFI module leaves it nil. */
static void set_num(lua_State *L, const char *k, double v)
{
    if (!isnan(v)) {
        lua_pushnumber(L, v);
        lua_setfield(L, -2, k);
    }
}

static int p_evaluate(lua_State *L)
{
    const rollout_plan *p = check_plan(L, 1);
    static const char *const targets[] = {"phase", "gate", "criteria", "bake", NULL};
    int target = luaL_checkoption(L, 2, NULL, targets);
    const char *name = luaL_optstring(L, 3, NULL);
    int mt = lua_type(L, 4);
    if (mt != LUA_TTABLE && mt != LUA_TSTRING)
        return luaL_argerror(L, 4, lua_pushfstring(L, "table or string expected, got %s",
                                                   luaL_typename(L, 4)));
    lua_settop(L, 4);
    mfail f;
    memset(&f, 0, sizeof f);
    if (snapshot(L, 4, &f))
        return fail_msg(L, f.message, f.code);
    lmetrics *u = (lmetrics *)lua_touserdata(L, 5);
    rollout_evaluation *e = (rollout_evaluation *)lua_newuserdata(L, sizeof *e);
    rollout_error err;
    int rc = rollout_evaluate(p, target, name, u->m, e, &err);
    if (rc)
        return fail_err(L, &err, rc);
    lua_createtable(L, 0, 8);
    set_str(L, "verdict", rollout_verdict_name(e->verdict));
    set_str(L, "criteria", e->criteria);
    set_int(L, "n_pass", e->n_pass);
    set_int(L, "n_fail", e->n_fail);
    set_int(L, "n_inconclusive", e->n_inconclusive);
    if (e->rollback_index >= 0)
        set_str(L, "rollback", e->results[e->rollback_index].id);
    if (e->rollback_reason >= 0)
        set_str(L, "rollback_reason", rollout_rollback_reason_name(e->rollback_reason));
    lua_createtable(L, e->n_results, 0);
    for (int i = 0; i < e->n_results; i++) {
        const rollout_criterion_result *r = &e->results[i];
        lua_createtable(L, 0, 13);
        set_str(L, "id", r->id);
        set_str(L, "metric", r->metric);
        set_str(L, "verdict", rollout_verdict_name(r->verdict));
        set_bool(L, "rollback", r->rollback != 0);
        if (r->rollback_reason >= 0)
            set_str(L, "rollback_reason", rollout_rollback_reason_name(r->rollback_reason));
        set_num(L, "observed", r->observed);
        set_num(L, "threshold", r->threshold);
        set_num(L, "baseline", r->baseline);
        set_num(L, "p_value", r->p_value);
        set_num(L, "lower", r->lower);
        set_num(L, "upper", r->upper);
        set_num(L, "samples", r->samples);
        set_str(L, "reason", r->reason);
        set_bool(L, "dry_run", r->dry_run != 0);
        set_str(L, "direction",
                r->direction == ROLLOUT_LOWER_IS_WORSE ? "lower_is_worse" : "higher_is_worse");
        set_num(L, "sla", r->sla);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "results");
    return 1;
}

/* ---- registration --------------------------------------------------------------------------- */

static const luaL_Reg plan_methods[] = {
    {"id", p_id},
    {"hash", p_hash},
    {"start", p_start},
    {"fingerprint", p_fingerprint},
    {"version_label", p_version_label},
    {"cohorts", p_cohorts},
    {"phases", p_phases},
    {"gates", p_gates},
    {"roles", p_roles},
    {"rule_reads", p_rule_reads},
    {"dump", p_dump},
    {"decide_variant", p_decide_variant},
    {"decide_label", p_decide_label},
    {"decide", p_decide},
    {"explain", p_explain},
    {"new_state", p_new_state},
    {"decode_state", p_decode_state},
    {"apply", p_apply},
    {"migrate", p_migrate},
    {"trail", p_trail},
    {"schedule", p_schedule},
    {"calendar", p_calendar},
    {"evaluate", p_evaluate},
    {NULL, NULL},
};

static const luaL_Reg state_methods[] = {
    {"encode", s_encode},
    {"status", s_status},
    {"revision", s_revision},
    {"info", s_info},
    {NULL, NULL},
};

static const luaL_Reg attrs_methods[] = {
    {"set", a_set},
    {"get", a_get},
    {"clear", a_clear},
    {NULL, NULL},
};

static const luaL_Reg module_functions[] = {
    {"new_attrs", l_new_attrs},
    {"load_library", l_load_library},
    {"library_version", l_library_version},
    {"load_file", l_load_file},
    {"load_string", l_load_string},
    {"seed_plan", l_seed_plan},
    {"bucket", l_bucket},
    {"bucket_with", l_bucket_with},
    {NULL, NULL},
};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction gc, lua_CFunction tostring)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

/* The only exported symbol (the module is built with hidden visibility). */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_rollout(lua_State *L);

int luaopen_rollout(lua_State *L)
{
    new_class(L, PLAN_MT, plan_methods, p_gc, p_tostring);
    new_class(L, STATE_MT, state_methods, NULL, s_tostring);
    new_class(L, ATTRS_MT, attrs_methods, NULL, NULL);
    lua_newtable(L);
    luaL_setfuncs(L, module_functions, 0);
    lua_pushliteral(L, BINDING_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
