-- SPDX-License-Identifier: MIT
-- resty/rollout.lua — librollout for LuaJIT (OpenResty, lua-nginx-module,
-- Kong) through the FFI.
--
--   local rollout = require "resty.rollout"
--   local plan, err = rollout.load_file("/etc/nginx/rollout/plan.yaml")
--   local variant, reason = plan:decide_variant(org, user, session, ngx.time(), state)
--
-- The same Lua-facing API is offered to PUC Lua 5.4/5.1 by the C module
-- bindings/lua/rollout.c (require "rollout"); docs/lua.md describes it and
-- tests/lua/*_spec.lua run against both.
--
-- Conventions:
--   * failures the caller can meet at run time return nil, message, code
--     (code is the symbolic rollout_code name, e.g. "ROLLOUT_ERR_SYNTAX");
--     a wrong argument type is a programming error and raises, like the
--     standard library does;
--   * times are epoch seconds (a fraction is cut off); the binding never
--     reads a clock: `now` is always an argument;
--   * steps are numbered from 1, as in the library's explanations; phases,
--   cohorts, gates and roles are named by their plan ids.
--
-- Hot path: decide_variant fills one preallocated rollout_context and
-- rollout_decision and returns constant strings, so a decision allocates
-- nothing on the Lua side and the loop around it stays JIT-compiled
-- (tests/lua/jit_trace.lua checks this under jit.v).

local ffi = require "ffi"
local bit = require "bit"

local ffi_new, ffi_string, ffi_gc = ffi.new, ffi.string, ffi.gc
local band, lshift = bit.band, bit.lshift
local type, tostring, tonumber, error, pairs, ipairs, setmetatable, getmetatable =
      type, tostring, tonumber, error, pairs, ipairs, setmetatable, getmetatable
local floor = math.floor
local sort, concat = table.sort, table.concat

local _M = { _VERSION = '0.1.0' }

-- The library series these declarations were copied from. The structs below
-- must match include/rollout.h byte for byte, and the 0.x ABI may change
-- between minor versions, so another major.minor is refused at load.
local ABI_MAJOR, ABI_MINOR = 0, 1

-- Copied from include/rollout.h with its macros expanded (ROLLOUT_MAX_PAUSES
-- 16, ROLLOUT_MAX_GATES 32, ROLLOUT_STATUS_COUNT 9, ROLLOUT_MAX_COHORTS 32,
-- ROLLOUT_MAX_CRITERIA 32). tests/lua/layout_spec.lua compares every size and
-- offset with what the C compiler says. Guarded so that a second load of the
-- module (package.loaded cleared) does not redefine the types.
if not pcall(ffi.typeof, "rollout_decision") then
ffi.cdef[[
typedef struct rollout_plan rollout_plan;
typedef struct rollout_metrics rollout_metrics;

typedef struct rollout_error {
    int code;
    int line;
    int column;
    char file[256];
    char field[128];
    char message[512];
} rollout_error;

typedef struct rollout_attr {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} rollout_attr;

typedef struct rollout_context {
    const char *org;     size_t org_len;
    const char *user;    size_t user_len;
    const char *session; size_t session_len;
    const char *request; size_t request_len;
    const rollout_attr *attrs;
    size_t n_attrs;
} rollout_context;

typedef struct rollout_decision {
    int variant;
    int reason;
    int cohort;
    int phase;
    int step;
    int unit;
    uint32_t bucket;
    uint32_t weight;
    const char *cohort_name;
    const char *phase_name;
} rollout_decision;

typedef struct rollout_trail_record {
    int64_t at;
    int32_t kind;
    int32_t role;
    int32_t gate;
    int32_t attempt;
    int32_t detail;
    uint32_t flags;
    char reason[48];
} rollout_trail_record;

typedef struct rollout_state rollout_state;
struct rollout_state {
    uint32_t format;
    int32_t status;
    uint64_t plan_fingerprint;
    uint64_t revision;
    int64_t started_at;
    int64_t updated_at;
    int32_t phase;
    int32_t step;
    int32_t gate;
    int32_t paused_from;
    int32_t n_pauses;
    int32_t last_verdict;
    int64_t pause_from[16];
    int64_t pause_to[16];
    int64_t gate_go_at[32];
    int64_t gate_no_go_at[32];
    uint32_t gate_approvals[32];
    int32_t gate_override_role[32];
    int32_t consecutive_failures;
    int32_t consecutive_inconclusive;
    int32_t rollback_reason;
    uint32_t rollback_done;
    int64_t rollback_started_at;
    int64_t status_since[9];
    int32_t attempt;
    int32_t attempt_step;
    int32_t attempt_gate;
    int32_t n_promotes;
    int64_t attempt_at;
    int32_t promote_to[8];
    int64_t promote_at[8];
    uint32_t trail_total;
    rollout_trail_record trail[16];
};

typedef struct rollout_event {
    int type;
    int gate;
    int role;
    int override;
    int verdict;
    int reason;
    int confirmation;
    const char *why;
    int override_verdict;
    int all_phases;
    int actor;
} rollout_event;

typedef struct rollout_action {
    int type;
    int cohort;
    uint32_t weight;
    int unit;
    int gate;
    int comm;
    uint32_t roles;
    int64_t due;
    const char *id;
    const char *label;
    const char *channel;
    const char *audience;
    const char *text;
} rollout_action;

typedef struct rollout_cohort_weight {
    uint32_t weight;
    int unit;
    int phase;
    int step;
} rollout_cohort_weight;

typedef struct rollout_schedule_info {
    int status;
    int phase;
    int step;
    int gate;
    int gate_pending;
    int64_t gate_due;
    int64_t slip;
    int next_change;
    int64_t next_at;
    int next_phase, next_step;
    uint32_t next_weight;
    int64_t bake_start;
    int64_t complete_at;
    int n_cohorts;
    rollout_cohort_weight cohorts[32];
} rollout_schedule_info;

typedef struct rollout_calendar_event {
    int64_t at;
    int kind;
    int phase;
    int step;
    int gate;
    int cohort;
    uint32_t weight;
    int projected;
    const char *title;
    const char *channel;
    const char *audience;
    const char *message;
    uint32_t owners;
    int64_t due;
} rollout_calendar_event;

typedef struct rollout_criterion_result {
    const char *id;
    const char *metric;
    int verdict;
    int rollback;
    int rollback_reason;
    double observed;
    double threshold;
    double baseline;
    double p_value;
    double lower, upper;
    double samples;
    char reason[160];
    int dry_run;
    int direction;
    double sla;
} rollout_criterion_result;

typedef struct rollout_evaluation {
    int verdict;
    const char *criteria;
    int n_results;
    int n_pass, n_fail, n_inconclusive;
    int rollback_index;
    int rollback_reason;
    rollout_criterion_result results[32];
} rollout_evaluation;

const char *rollout_version(void);
unsigned rollout_version_number(void);
const char *rollout_code_name(int code);

int rollout_plan_load_file(const char *path, rollout_plan **out, rollout_error *err);
int rollout_plan_load_buffer(const char *yaml, size_t len, const char *name,
                             rollout_plan **out, rollout_error *err);
const char *rollout_seed_plan(size_t *len);
void rollout_plan_unref(rollout_plan *plan);
const char *rollout_plan_id(const rollout_plan *plan);
const char *rollout_trail_kind_name(int kind);
int64_t rollout_plan_start(const rollout_plan *plan);
const char *rollout_plan_version_label(const rollout_plan *plan, int which);
uint64_t rollout_plan_fingerprint(const rollout_plan *plan);
int rollout_plan_phase_count(const rollout_plan *plan);
const char *rollout_plan_phase_name(const rollout_plan *plan, int index);
int rollout_plan_cohort_count(const rollout_plan *plan);
const char *rollout_plan_cohort_name(const rollout_plan *plan, int index);
int rollout_plan_gate_count(const rollout_plan *plan);
const char *rollout_plan_gate_name(const rollout_plan *plan, int index);
int rollout_plan_role_count(const rollout_plan *plan);
const char *rollout_plan_role_name(const rollout_plan *plan, int index);
unsigned rollout_plan_rule_units(const rollout_plan *plan);
const char *rollout_plan_rule_attr(const rollout_plan *plan, int index, size_t *len);
int rollout_plan_dump(const rollout_plan *plan, int format, char *buf, size_t cap,
                      size_t *needed);

int rollout_bucket(const char *salt, size_t salt_len, const char *id, size_t id_len,
                   uint32_t *bucket);
const char *rollout_hash_name(int hash);
int rollout_hash_from_name(const char *name, size_t len);
int rollout_bucket_with(int hash, const char *key, size_t key_len, const char *id,
                        size_t id_len, uint32_t *bucket);
int rollout_plan_hash(const rollout_plan *plan, const char **key, size_t *key_len);
const char *rollout_reason_name(int reason);
int rollout_decide(const rollout_plan *plan, const rollout_state *state, int64_t now,
                   const rollout_context *ctx, rollout_decision *out);
size_t rollout_explain(const rollout_plan *plan, const rollout_decision *d,
                       const rollout_context *ctx, char *buf, size_t cap);

const char *rollout_verdict_name(int verdict);
int rollout_metrics_create(rollout_metrics **out);
void rollout_metrics_free(rollout_metrics *m);
int rollout_metrics_set(rollout_metrics *m, int variant, const char *name, double value,
                        rollout_error *err);
int rollout_metrics_set_requests(rollout_metrics *m, int variant, uint64_t requests,
                                 uint64_t errors, rollout_error *err);
int rollout_metrics_set_latency_samples(rollout_metrics *m, int variant,
                                        const double *seconds, size_t n, rollout_error *err);
int rollout_metrics_set_latency_histogram(rollout_metrics *m, int variant,
                                          const double *upper_bounds, const uint64_t *counts,
                                          size_t n, rollout_error *err);
int rollout_metrics_set_smoke(rollout_metrics *m, int variant, const char *test, int passed,
                              rollout_error *err);
int rollout_metrics_load_buffer(const char *text, size_t len, const char *name,
                                rollout_metrics **out, rollout_error *err);
int rollout_evaluate(const rollout_plan *plan, int target, const char *name,
                     const rollout_metrics *metrics, rollout_evaluation *out,
                     rollout_error *err);

const char *rollout_status_name(int status);
const char *rollout_rollback_reason_name(int reason);
int rollout_state_init(const rollout_plan *plan, rollout_state *state);
int rollout_apply(const rollout_plan *plan, const rollout_state *state,
                  const rollout_event *event, int64_t now, rollout_state *next,
                  rollout_action *actions, size_t *n_actions, rollout_error *err);
const char *rollout_event_name(int type);
const char *rollout_action_name(int type);
const char *rollout_confirmation_name(int confirmation);
size_t rollout_state_encode(const rollout_state *state, char *buf, size_t cap);
int rollout_state_decode(const rollout_plan *plan, const char *text, size_t len,
                         rollout_state *state, rollout_error *err);
int rollout_state_migrate(const rollout_plan *old_plan, const rollout_state *state,
                          const rollout_plan *new_plan, rollout_state *out, rollout_error *err);

int rollout_schedule(const rollout_plan *plan, const rollout_state *state, int64_t now,
                     rollout_schedule_info *out);
int rollout_calendar(const rollout_plan *plan, const rollout_state *state,
                     rollout_calendar_event *events, size_t cap, size_t *n);
]]
end

-- ---------------------------------------------------------------------------
-- Constants the header fixes (values never change once released)
-- ---------------------------------------------------------------------------

local STATE_TEXT_MAX = 4096      -- ROLLOUT_STATE_TEXT_MAX
local MAX_ACTIONS = 256          -- ROLLOUT_MAX_ACTIONS
local MAX_CALENDAR = 162         -- ROLLOUT_MAX_CALENDAR
local MAX_ATTRS = 32             -- attributes per decision this binding passes
local INT64_MAX = 0x7fffffffffffffffLL   -- "never" in schedule times
local REASON_MISSING_UNIT = 4    -- ROLLOUT_REASON_MISSING_UNIT

-- Names without a C function for them; the C module uses the same words.
local VARIANTS = { [0] = "stable", [1] = "new" }
local UNITS = { [0] = "org", "user", "session", "request" }
local CHANGES = { [0] = "none", "step", "gate", "complete", "wait" }
local CAL_KINDS = { [0] = "step", "gate", "message", "bake", "complete" }
local EVAL_TARGETS = { phase = 0, gate = 1, criteria = 2, bake = 3 }
local FORMATS = { yaml = 0, json = 1 }

-- Filled from the library's own name functions once it is loaded, so the
-- binding cannot drift from the C spelling.
local REASONS, STATUSES, EVENTS, ACTIONS, CONFIRMS, VERDICTS, RB_REASONS, CODES = {}, {}, {}, {}, {}, {}, {}, {}
local EVENT_IDS, CONFIRM_IDS, VERDICT_IDS, RB_REASON_IDS = {}, {}, {}, {}

-- ---------------------------------------------------------------------------
-- Loading the library (once)
-- ---------------------------------------------------------------------------

local C               -- the library namespace; nil until loaded
local loaded_from     -- where it came from, for messages

-- Preallocated buffers and cached ctypes. Lua runs one thing at a time in a
-- VM and nothing below yields between filling a buffer and reading it, so
-- one set per VM (per nginx worker) is enough.
local plan_ptr_ct = ffi.typeof("rollout_plan *[1]")
local metrics_ptr_ct = ffi.typeof("rollout_metrics *[1]")
local state_ct = ffi.typeof("rollout_state")
local char_arr_ct = ffi.typeof("char[?]")
local ctx = ffi_new("rollout_context")
local dec = ffi_new("rollout_decision")
local attrs_buf = ffi_new("rollout_attr[?]", MAX_ATTRS)
local err = ffi_new("rollout_error")
local u32_out = ffi_new("uint32_t[1]")
local size_out = ffi_new("size_t[1]")
local explain_cap = 1024
local explain_buf = ffi_new(char_arr_ct, explain_cap)
local state_text = ffi_new(char_arr_ct, STATE_TEXT_MAX)
local event_buf = ffi_new("rollout_event")
local sched = ffi_new("rollout_schedule_info")
local actions_buf, calendar_buf, eval_buf   -- large: allocated on first use
-- Strings made from non-string ids (numbers) live here until the C call
-- that points at them has returned: the context only holds raw pointers.
local anchors = {}

local function name_table(fn, ids)
    local t = {}
    for i = 0, 255 do
        local s = fn(i)
        if s == nil then break end
        s = ffi_string(s)
        if s == "?" or s == "ROLLOUT_ERR_?" then break end
        t[i] = s
        if ids then
            ids[s] = i
            ids[s:lower()] = i
        end
    end
    return t
end

local function candidates()
    -- package.cpath lists where this Lua looks for C modules; a librollout
    -- installed or built next to them is found without configuration.
    local list = {}
    for tpl in package.cpath:gmatch("[^;]+") do
        local dir = tpl:match("^(.*/)%?[^/]*$")
        if dir then
            list[#list + 1] = dir .. "librollout.so.0"
            list[#list + 1] = dir .. "librollout.so"
        end
    end
    return list
end

local function file_exists(path)
    local f = io.open(path, "rb")
    if f then f:close() return true end
    return false
end

local function bind(lib, from)
    local ok, num = pcall(function() return lib.rollout_version_number() end)
    if not ok then
        return nil, from .. " is not librollout: " .. tostring(num)
    end
    local major, minor = floor(num / 10000), floor(num / 100) % 100
    if major ~= ABI_MAJOR or minor ~= ABI_MINOR then
        return nil, ("%s is librollout %s; this binding needs %d.%d.x")
                    :format(from, ffi_string(lib.rollout_version()), ABI_MAJOR, ABI_MINOR)
    end
    C, loaded_from = lib, from
    REASONS = name_table(C.rollout_reason_name)
    STATUSES = name_table(C.rollout_status_name)
    EVENTS = name_table(C.rollout_event_name, EVENT_IDS)
    ACTIONS = name_table(C.rollout_action_name)
    CONFIRMS = name_table(C.rollout_confirmation_name, CONFIRM_IDS)
    VERDICTS = name_table(C.rollout_verdict_name, VERDICT_IDS)
    RB_REASONS = name_table(C.rollout_rollback_reason_name, RB_REASON_IDS)
    CODES = name_table(C.rollout_code_name)
    return true
end

-- Loads librollout. With a path, exactly that file; without one, the first
-- librollout.so.0 (or .so) in a package.cpath directory, then the system's
-- dynamic-linker search. Called implicitly by the first function that needs
-- the library; call it yourself (e.g. in init_by_lua) to pin the file. A
-- second call for another file is refused: plans of one copy must not meet
-- functions of another.
function _M.load_library(path)
    if C then
        if path == nil or path == loaded_from then return true end
        return nil, "librollout is already loaded from " .. loaded_from
    end
    if path ~= nil then
        if type(path) ~= "string" then
            raise("bad argument #1 to 'load_library' (string expected, got " .. type(path) .. ")")
        end
        local ok, lib = pcall(ffi.load, path)
        if not ok then return nil, "cannot load " .. path .. ": " .. tostring(lib) end
        return bind(lib, path)
    end
    for _, p in ipairs(candidates()) do
        if file_exists(p) then
            local ok, lib = pcall(ffi.load, p)
            if ok then return bind(lib, p) end
        end
    end
    local why
    for _, name in ipairs({ "librollout.so.0", "rollout" }) do
        local ok, lib = pcall(ffi.load, name)
        if ok then return bind(lib, name) end
        why = lib
    end
    return nil, "librollout not found in package.cpath directories or the linker path: " ..
                tostring(why)
end

local function need_library()
    if C then return true end
    return _M.load_library()
end

-- The version of the library actually loaded, e.g. "0.1.0".
function _M.library_version()
    local ok, e = need_library()
    if not ok then return nil, e end
    return ffi_string(C.rollout_version())
end

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

local function fail(code)
    return nil, ffi_string(err.message), CODES[code] or ("ROLLOUT_ERR_" .. code)
end

-- Raises msg at the caller's position, as luaL_argerror does for the C
-- module ("file.lua:12: bad argument #1 to 'decide' (...)"): the level is
-- the first stack frame outside this file. Error paths only.
local THIS_SOURCE = debug.getinfo(1, "S").source
local function raise(msg)
    local level = 2
    while true do
        local info = debug.getinfo(level, "S")
        if not info or info.source ~= THIS_SOURCE then break end
        level = level + 1
    end
    error(msg, level)
end

local function arg_error(n, fname, want, v)
    raise(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, fname, want, type(v)))
end

-- A string argument; a number is accepted as its tostring, as the Lua C
-- API's luaL_checkstring does.
local function check_string(v, n, fname)
    if type(v) == "string" then return v end
    if type(v) == "number" then return tostring(v) end
    arg_error(n, fname, "string", v)
end

-- An epoch-seconds argument; a fraction is cut off (toward zero, as the
-- FFI's double -> int64_t conversion and the C module both do).
local function check_time(v, n, fname)
    if type(v) ~= "number" then arg_error(n, fname, "number", v) end
    if not (v > -9.2233720368547758e18 and v < 9.2233720368547758e18) then
        raise(("bad argument #%d to '%s' (time out of range)"):format(n, fname))
    end
    return v
end

-- An id: a string, or a number written as tostring writes it; nil and ""
-- mean absent.
local function id_arg(v, n, fname)
    if v == nil or type(v) == "string" then return v end
    if type(v) == "number" then return tostring(v) end
    arg_error(n, fname, "string", v)
end

local function opt_string(p)
    if p == nil then return nil end
    return ffi_string(p)
end

local function time_or_nil(t)
    if t == INT64_MAX then return nil end
    return tonumber(t)
end

local function nan_to_nil(x)
    if x ~= x then return nil end
    return x
end

local function role_list(plan, bits)
    if bits == 0 then return nil end
    local list = {}
    for r = 0, #plan._roles0 do
        if band(bits, lshift(1, r)) ~= 0 then list[#list + 1] = plan._roles0[r] end
    end
    return list
end

local function names(fn, count, p)
    local t = {}
    for i = 0, count - 1 do t[i] = ffi_string(fn(p, i)) end
    return t
end

local function as_list(t0)
    local list = {}
    for i = 0, #t0 do list[i + 1] = t0[i] end
    if t0[0] == nil then return {} end
    return list
end

local function index_of(t0)
    local idx = {}
    for i = 0, #t0 do
        if t0[i] then idx[t0[i]] = i end
    end
    return idx
end

-- ---------------------------------------------------------------------------
-- States
-- ---------------------------------------------------------------------------

-- A state object is a Lua table holding the rollout_state cdata in _s. Not
-- the cdata itself with a metatype: the struct's own fields (status,
-- revision, ...) would shadow methods of the same names.
local State = {}
State.__index = State

local function wrap_state(cs)
    return setmetatable({ _s = cs }, State)
end

-- The one-line text form ("rs2." + base64url), safe in a shared dict.
function State.encode(self)
    local n = C.rollout_state_encode(self._s, state_text, STATE_TEXT_MAX)
    if n == 0 then return nil, "the state does not encode", "ROLLOUT_ERR_BUFFER" end
    return ffi_string(state_text, n)
end

function State.status(self)
    return STATUSES[self._s.status]
end

function State.revision(self)
    return tonumber(self._s.revision)
end

local function idx1(i)
    if i < 0 then return nil end
    return i + 1
end

local function time0(t)
    if t == 0 then return nil end
    return tonumber(t)
end

-- The fields a caller reads, as a table. Indices are 1-based (nil = none);
-- plan:phases(), plan:gates() name them.
function State.info(self)
    local s = self._s
    local status = s.status
    return {
        status = STATUSES[status],
        revision = tonumber(s.revision),
        fingerprint = ("%016x"):format(s.plan_fingerprint),
        started_at = time0(s.started_at),
        updated_at = time0(s.updated_at),
        phase = idx1(s.phase),
        step = idx1(s.step),
        gate = idx1(s.gate),
        paused_from = status == 3 and STATUSES[s.paused_from] or nil,
        pauses = s.n_pauses,
        last_verdict = s.last_verdict >= 0 and VERDICTS[s.last_verdict] or nil,
        rollback_reason = s.rollback_reason >= 0 and RB_REASONS[s.rollback_reason] or nil,
        rollback_started_at = time0(s.rollback_started_at),
        attempt = s.attempt,
        trail_total = tonumber(s.trail_total),
    }
end

State.__tostring = function(self) return "rollout.state: " .. self:status() end

-- The cdata of an optional state argument (nil stays nil).
local function state_arg(s, n, fname)
    if s == nil then return nil end
    if getmetatable(s) ~= State then arg_error(n, fname, "rollout state", s) end
    return s._s
end

-- ---------------------------------------------------------------------------
-- Plans
-- ---------------------------------------------------------------------------

local Plan = {}
Plan.__index = Plan

local function wrap_plan(ptr)
    ptr = ffi_gc(ptr, C.rollout_plan_unref)
    local self = {
        _ptr = ptr,
        _cohorts0 = names(C.rollout_plan_cohort_name, C.rollout_plan_cohort_count(ptr), ptr),
        _phases0 = names(C.rollout_plan_phase_name, C.rollout_plan_phase_count(ptr), ptr),
        _gates0 = names(C.rollout_plan_gate_name, C.rollout_plan_gate_count(ptr), ptr),
        _roles0 = names(C.rollout_plan_role_name, C.rollout_plan_role_count(ptr), ptr),
        _labels = { [0] = ffi_string(C.rollout_plan_version_label(ptr, 0)),
                    [1] = ffi_string(C.rollout_plan_version_label(ptr, 1)) },
    }
    self._label_cache = {}   -- decide_label's labels, made on first use
    self._gate_idx = index_of(self._gates0)
    self._role_idx = index_of(self._roles0)
    return setmetatable(self, Plan)
end

function _M.load_file(path)
    path = check_string(path, 1, "load_file")
    local ok, e = need_library()
    if not ok then return nil, e, "ROLLOUT_ERR_IO" end
    local out = plan_ptr_ct()
    local rc = C.rollout_plan_load_file(path, out, err)
    if rc ~= 0 then return fail(rc) end
    return wrap_plan(out[0])
end

-- name is used in error messages ("<buffer>" when nil).
function _M.load_string(yaml, name)
    yaml = check_string(yaml, 1, "load_string")
    if name ~= nil then name = check_string(name, 2, "load_string") end
    local ok, e = need_library()
    if not ok then return nil, e, "ROLLOUT_ERR_IO" end
    local out = plan_ptr_ct()
    local rc = C.rollout_plan_load_buffer(yaml, #yaml, name, out, err)
    if rc ~= 0 then return fail(rc) end
    return wrap_plan(out[0])
end

-- The YAML of the seed plan compiled into the library.
function _M.seed_plan()
    local ok, e = need_library()
    if not ok then return nil, e end
    local p = C.rollout_seed_plan(size_out)
    return ffi_string(p, size_out[0])
end

-- The bucket (0..99999) of one unit id under a salt (docs/bucketing.md).
function _M.bucket(salt, id)
    salt = check_string(salt, 1, "bucket")
    id = check_string(id, 2, "bucket")
    local ok, e = need_library()
    if not ok then return nil, e end
    local rc = C.rollout_bucket(salt, #salt, id, #id, u32_out)
    if rc ~= 0 then
        return nil, "an empty id is not a unit and has no bucket", CODES[rc]
    end
    return u32_out[0]
end

-- The bucket (0..100000) under a named bucket function and its key
-- (docs/bucketing.md): in at weight w iff below w.
function _M.bucket_with(hash, key, id)
    hash = check_string(hash, 1, "bucket_with")
    key = check_string(key, 2, "bucket_with")
    id = check_string(id, 3, "bucket_with")
    local ok, e = need_library()
    if not ok then return nil, e end
    local h = C.rollout_hash_from_name(hash, #hash)
    if h < 0 then return nil, "unknown bucket function", "ROLLOUT_ERR_ARG" end
    local rc = C.rollout_bucket_with(h, key, #key, id, #id, u32_out)
    if rc ~= 0 then
        return nil, "an empty id, or a key this bucket function refuses", CODES[rc]
    end
    return u32_out[0]
end

function Plan:hash()
    return ffi_string(C.rollout_hash_name(C.rollout_plan_hash(self._ptr, nil, nil)))
end
function Plan:id() return ffi_string(C.rollout_plan_id(self._ptr)) end
function Plan:start() return tonumber(C.rollout_plan_start(self._ptr)) end
-- 16 hex digits: a uint64 does not fit a Lua 5.1 number.
function Plan:fingerprint() return ("%016x"):format(C.rollout_plan_fingerprint(self._ptr)) end

-- which: "stable" or "new".
function Plan:version_label(which)
    if which == "stable" then return self._labels[0] end
    if which == "new" then return self._labels[1] end
    raise("bad argument #1 to 'version_label' (\"stable\" or \"new\" expected)")
end

function Plan:cohorts() return as_list(self._cohorts0) end
function Plan:phases() return as_list(self._phases0) end
function Plan:gates() return as_list(self._gates0) end
function Plan:roles() return as_list(self._roles0) end

-- What the cohort rules read from a request (rollout_plan_rule_units and
-- rollout_plan_rule_attr): { org =, user =, session =, request = (booleans:
-- some rule reads that id), attrs = { keys, each once, plan order } }. The id
-- a step buckets by is not counted: a decision asks for it (MISSING_UNIT).
-- nil, err, code when the loaded librollout predates these functions.
function Plan:rule_reads()
    local ok, units = pcall(function() return C.rollout_plan_rule_units(self._ptr) end)
    if not ok then
        return nil, "librollout from " .. loaded_from .. " lacks rollout_plan_rule_units",
               "ROLLOUT_ERR_IO"
    end
    local attrs = {}
    while true do
        local key = C.rollout_plan_rule_attr(self._ptr, #attrs, size_out)
        if key == nil then break end
        attrs[#attrs + 1] = ffi_string(key, size_out[0])
    end
    local reads = { attrs = attrs }
    for u = 0, 3 do reads[UNITS[u]] = band(units, lshift(1, u)) ~= 0 end
    return reads
end

-- The normalized plan, "yaml" (default) or "json"; both load again.
function Plan:dump(format)
    local f = FORMATS[format or "yaml"]
    if not f then raise("bad argument #1 to 'dump' (\"yaml\" or \"json\" expected)") end
    local rc = C.rollout_plan_dump(self._ptr, f, nil, 0, size_out)
    local n = tonumber(size_out[0])
    local buf = ffi_new(char_arr_ct, n + 1)
    rc = C.rollout_plan_dump(self._ptr, f, buf, n + 1, nil)
    if rc ~= 0 then return nil, "dump failed", CODES[rc] end
    return ffi_string(buf, n)
end

-- ---- decisions -------------------------------------------------------------

-- ---- request attributes --------------------------------------------------------
--
-- A plain {key = value} table works everywhere, but reading it takes a
-- pairs() loop, and a loop inside the decision breaks LuaJIT traces that
-- start at a function entry, which is how an nginx handler (called from C
-- per request, no Lua loop around it) gets compiled: the trace aborts at
-- the inner loop and LuaJIT ends up blacklisting the decision function. A
-- prepared attribute set has its keys fixed once and keeps the C array
-- filled, so passing it is two field reads:
--
--   local attrs = rollout.new_attrs({ "email", "role" })     -- once
--   attrs:set("email", ngx.var.http_x_email)                -- per request; nil = absent
--   plan:decide_variant(org, user, session, now, state, nil, attrs)

local Attrs = {}
Attrs.__index = Attrs

function _M.new_attrs(keys)
    if type(keys) ~= "table" then arg_error(1, "new_attrs", "table", keys) end
    local n = #keys
    if n > MAX_ATTRS then
        raise(("bad argument #1 to 'new_attrs' (more than %d attributes)"):format(MAX_ATTRS))
    end
    local self = setmetatable({ _buf = ffi_new("rollout_attr[?]", n > 0 and n or 1), _n = n,
                                _idx = {}, _keys = {}, _values = {} }, Attrs)
    for i = 1, n do
        local k = keys[i]
        if type(k) ~= "string" or k == "" or self._idx[k] then
            raise("bad argument #1 to 'new_attrs' (distinct non-empty string keys expected)")
        end
        self._idx[k] = i - 1
        self._keys[i - 1] = k
        -- absent until set: a NULL key matches no rule
        self._buf[i - 1].key = nil
        self._buf[i - 1].key_len = 0
    end
    return self
end

-- Sets one attribute for the next decisions; nil makes it absent. The
-- value string is kept referenced here, since the C array only points at it.
function Attrs:set(key, value)
    local i = self._idx[key]
    if i == nil then
        raise(("bad argument #1 to 'set' (unknown attribute key \"%s\")"):format(tostring(key)))
    end
    local a = self._buf[i]
    if value == nil then
        self._values[i] = nil
        a.key = nil
        a.key_len = 0
        a.value = nil
        a.value_len = 0
        return
    end
    if type(value) ~= "string" then
        if type(value) ~= "number" then arg_error(2, "set", "string", value) end
        value = tostring(value)
    end
    self._values[i] = value
    local k = self._keys[i]
    a.key = k
    a.key_len = #k
    a.value = value
    a.value_len = #value
end

function Attrs:get(key)
    local i = self._idx[key]
    if i == nil then
        raise(("bad argument #1 to 'get' (unknown attribute key \"%s\")"):format(tostring(key)))
    end
    return self._values[i]
end

-- Makes every attribute absent.
function Attrs:clear()
    for i = 0, self._n - 1 do
        self._values[i] = nil
        local a = self._buf[i]
        a.key = nil
        a.key_len = 0
        a.value = nil
        a.value_len = 0
    end
end

-- Fills the attrs buffer from a {key = value} table and returns the count.
-- Cohort rules look attributes up by key, so iteration order does not
-- matter; more than MAX_ATTRS is refused rather than silently cut.
local function fill_attrs(attrs, fname)
    local n = 0
    for k, v in pairs(attrs) do
        if type(k) ~= "string" then arg_error(7, fname, "table of string keys", k) end
        if type(v) ~= "string" then
            if type(v) ~= "number" then arg_error(7, fname, "table of string values", v) end
            v = tostring(v)
        end
        if n >= MAX_ATTRS then
            raise(("bad argument #7 to '%s' (more than %d attributes)"):format(fname, MAX_ATTRS))
        end
        anchors[n + 1] = v
        local a = attrs_buf[n]
        a.key = k
        a.key_len = #k
        a.value = v
        a.value_len = #v
        n = n + 1
    end
    return n
end

-- Points the shared context at the ids. Nothing allocates between this and
-- the C call that reads it, so the strings cannot be collected meanwhile.
local function set_ctx(org, user, session, request, buf, n_attrs)
    if org then ctx.org = org; ctx.org_len = #org else ctx.org = nil; ctx.org_len = 0 end
    if user then ctx.user = user; ctx.user_len = #user else ctx.user = nil; ctx.user_len = 0 end
    if session then ctx.session = session; ctx.session_len = #session
    else ctx.session = nil; ctx.session_len = 0 end
    if request then ctx.request = request; ctx.request_len = #request
    else ctx.request = nil; ctx.request_len = 0 end
    ctx.attrs = buf
    ctx.n_attrs = n_attrs
end

local DECIDE_ERRORS = {
    [3] = "invalid argument",
    [19] = "the state is corrupt or of an unknown format",
    [20] = "the state belongs to another plan",
}

local function decide_into(self, org, user, session, now, state, request, attrs, fname)
    org = id_arg(org, 1, fname)
    user = id_arg(user, 2, fname)
    session = id_arg(session, 3, fname)
    check_time(now, 4, fname)
    state = state_arg(state, 5, fname)
    request = id_arg(request, 6, fname)
    local buf, n_attrs = attrs_buf, 0
    if attrs ~= nil then
        if getmetatable(attrs) == Attrs then
            buf, n_attrs = attrs._buf, attrs._n        -- prepared: no loop
        elseif type(attrs) == "table" then
            n_attrs = fill_attrs(attrs, fname)
        else
            arg_error(7, fname, "table", attrs)
        end
    end
    set_ctx(org, user, session, request, buf, n_attrs)
    -- not a tail call: LuaJIT cannot compile a tail call of a C function
    -- from a trace that started in a callee ("NYI: return to lower frame")
    local rc = C.rollout_decide(self._ptr, state, now, ctx, dec)
    return rc
end

-- The hot path: variant ("new" or "stable"), reason ("IN_ROLLOUT", ...),
-- bucket (nil when no unit was bucketed) and the cohort's weight. Allocates
-- nothing for string ids and no attrs. Errors: nil, message, code (only for
-- a state of another plan or a corrupt state).
function Plan:decide_variant(org, user, session, now, state, request, attrs)
    local rc = decide_into(self, org, user, session, now, state, request, attrs,
                           "decide_variant")
    if rc ~= 0 then return nil, DECIDE_ERRORS[rc] or "decide failed", CODES[rc] end
    local reason = dec.reason
    local bucket
    if reason <= 1 then bucket = dec.bucket end   -- IN_ROLLOUT or OUT_OF_ROLLOUT
    return VARIANTS[dec.variant], REASONS[reason], bucket, dec.weight
end

local function decision_table(self)
    local reason = dec.reason
    local cohort, phase, step, unit = dec.cohort, dec.phase, dec.step, dec.unit
    return {
        variant = VARIANTS[dec.variant],
        version = self._labels[dec.variant],
        reason = REASONS[reason],
        cohort = cohort >= 0 and self._cohorts0[cohort] or nil,
        phase = phase >= 0 and self._phases0[phase] or nil,
        step = step >= 0 and step + 1 or nil,
        unit = unit >= 0 and UNITS[unit] or nil,
        bucket = reason <= 1 and dec.bucket or nil,
        weight = dec.weight,
        percent = dec.weight / 1000,
    }
end

-- The decision's label: the reason name, then "cohort=", "phase=", "step="
-- (1-based) and "unit=" for those that apply, e.g.
-- "OUT_OF_ROLLOUT cohort=everyone phase=ga step=1 unit=org". It leaves out
-- the unit id, its bucket and the weight, so a plan has few distinct labels:
-- each is made once and cached in the plan, keyed by the decision's small
-- integers, and a decision returns the cached string (no allocation).
local LABEL_FIELDS = { "cohort", "phase", "step", "unit" }

local function make_label(self)
    local d = decision_table(self)
    local parts = { d.reason }
    for _, k in ipairs(LABEL_FIELDS) do
        if d[k] then parts[#parts + 1] = k .. "=" .. d[k] end
    end
    return concat(parts, " ")
end

-- variant ("new" or "stable") and the decision's label (above): what a
-- gateway's debugging header needs, at the cost of decide_variant. Errors as
-- decide_variant.
local function labelled(self)
    local d = dec
    -- reason < 16, cohort and phase < 32 (+1 for none), unit < 4 (+1), step
    -- any: one number per distinct label
    local key = d.reason + 16 * (d.cohort + 1) + 544 * (d.phase + 1) + 18496 * (d.unit + 1)
                + 92480 * (d.step + 1)
    local cache = self._label_cache
    local label = cache[key]
    if label == nil then
        label = make_label(self)
        cache[key] = label
    end
    return VARIANTS[d.variant], label
end

function Plan:decide_label(org, user, session, now, state, request, attrs)
    local rc = decide_into(self, org, user, session, now, state, request, attrs,
                           "decide_label")
    if rc ~= 0 then return nil, DECIDE_ERRORS[rc] or "decide failed", CODES[rc] end
    return labelled(self)
end

-- LuaJIT only: decide_label for a rollout_context cdata the caller filled
-- (rollout.new_context()), ids and attributes as pointer and length, e.g.
-- straight from nginx's request memory: no Lua string per id. The memory
-- must stay valid for the call.
--
-- A third result names the unit ("org", "user", "session", "request") when
-- the reason is MISSING_UNIT: the cohort's step buckets by that unit and
-- the context has no id for it. A caller that fills ids lazily (the nginx
-- gateway reads a unit's id only when a decision asks for it) fills that
-- one and decides again; the answer is then the one a context holding
-- every id gets, since a decision reads only the ids its cohort rules read
-- (org_in: the org, user_in: the user, attributes) and its step's unit.
function Plan:decide_label_raw(c, now, state)
    check_time(now, 2, "decide_label_raw")
    state = state_arg(state, 3, "decide_label_raw")
    local rc = C.rollout_decide(self._ptr, state, now, c, dec)
    if rc ~= 0 then return nil, DECIDE_ERRORS[rc] or "decide failed", CODES[rc] end
    local variant, label = labelled(self)
    if dec.reason == REASON_MISSING_UNIT then return variant, label, UNITS[dec.unit] end
    return variant, label
end

function _M.new_context() return ffi_new("rollout_context") end

-- decide/explain take either (ctx_table, now, state) with
-- ctx_table = {org=, user=, session=, request=, attrs={k=v}}, or the
-- positional arguments of decide_variant.
local function decide_args(self, a1, a2, a3, a4, a5, a6, a7, fname)
    if type(a1) == "table" then
        return decide_into(self, a1.org, a1.user, a1.session, a2, a3, a1.request, a1.attrs,
                           fname)
    end
    return decide_into(self, a1, a2, a3, a4, a5, a6, a7, fname)
end

-- A decision as a table: variant, version (the label), reason, cohort,
-- phase, step (1-based), unit, bucket, weight.
function Plan:decide(a1, a2, a3, a4, a5, a6, a7)
    local rc = decide_args(self, a1, a2, a3, a4, a5, a6, a7, "decide")
    if rc ~= 0 then return nil, DECIDE_ERRORS[rc] or "decide failed", CODES[rc] end
    return decision_table(self)
end

local function explanation()
    local n = C.rollout_explain(nil, dec, ctx, explain_buf, explain_cap)  -- plan unused
    if n >= explain_cap then
        -- a long explanation (ids are cut at 64 bytes, so this is rare):
        -- grow the shared buffer once and render again
        explain_cap = tonumber(n) + 1
        explain_buf = ffi_new(char_arr_ct, explain_cap)
        n = C.rollout_explain(nil, dec, ctx, explain_buf, explain_cap)
    end
    local text = ffi_string(explain_buf, n)
    return text
end

-- The decision in words (what X-Rollout-Reason shows) and its variant:
-- text, variant, reason. Same arguments as decide.
function Plan:explain(a1, a2, a3, a4, a5, a6, a7)
    local rc = decide_args(self, a1, a2, a3, a4, a5, a6, a7, "explain")
    if rc ~= 0 then return nil, DECIDE_ERRORS[rc] or "decide failed", CODES[rc] end
    return explanation(), VARIANTS[dec.variant], REASONS[dec.reason]
end

-- ---- states and events -------------------------------------------------------

-- A new state for this plan: not started, revision 0.
function Plan:new_state()
    local s = state_ct()
    C.rollout_state_init(self._ptr, s)
    return wrap_state(s)
end

-- Decodes text written by state:encode(); refuses corrupt, truncated,
-- foreign-format text and states of another plan.
function Plan:decode_state(text)
    text = check_string(text, 1, "decode_state")
    local s = state_ct()
    local rc = C.rollout_state_decode(self._ptr, text, #text, s, err)
    if rc ~= 0 then return fail(rc) end
    return wrap_state(s)
end

-- Takes over state, written for old_plan, an earlier edit of this rollout
-- (rollout_state_migrate): a new state bound to this plan, revision + 1,
-- with the status kept (a rollback, halt or pause stays). A state that
-- cannot be carried: nil, why, "ROLLOUT_ERR_NOT_FOUND" (the current phase or
-- gate, a decided gate, an approving role, a confirmed rollback step is
-- gone), "ROLLOUT_ERR_TRANSITION" (the edit reorders what the state passed)
-- or "ROLLOUT_ERR_STATE_PLAN" (not old_plan's state, or another rollout).
function Plan:migrate(state, old_plan)
    if state == nil then arg_error(1, "migrate", "rollout state", state) end
    state = state_arg(state, 1, "migrate")
    if getmetatable(old_plan) ~= Plan then arg_error(2, "migrate", "rollout plan", old_plan) end
    local ok, fn = pcall(function() return C.rollout_state_migrate end)
    if not ok then
        return nil, "librollout from " .. loaded_from .. " lacks rollout_state_migrate",
               "ROLLOUT_ERR_IO"
    end
    local out = state_ct()
    local rc = fn(old_plan._ptr, state, self._ptr, out, err)
    if rc ~= 0 then return fail(rc) end
    return wrap_state(out)
end

-- Looks an event field's name up; nil + message when unknown.
local function lookup(ids, v, what)
    if v == nil then return nil, what .. " is required" end
    local i = ids[v]
    if i == nil then return nil, ("unknown %s \"%s\""):format(what, tostring(v)) end
    return i
end

-- Fills event_buf from "name" or {type = "name", gate =, role =, override =,
-- verdict =, reason =, confirmation =}. Returns true or nil, message.
local function fill_event(self, ev)
    local e = event_buf
    local t = ev
    if type(ev) == "table" then t = ev.type else ev = {} end
    if type(t) ~= "string" then return nil, "an event is a name or a table with a type" end
    local ty = EVENT_IDS[t]
    if ty == nil then return nil, ("unknown event \"%s\""):format(t) end
    e.type = ty
    e.gate, e.role, e.override, e.verdict, e.reason, e.confirmation = -1, -1, 0, -1, -1, -1
    if ev.gate ~= nil then
        local g = self._gate_idx[ev.gate]
        if g == nil then return nil, ("unknown gate \"%s\""):format(tostring(ev.gate)), "ROLLOUT_ERR_NOT_FOUND" end
        e.gate = g
    end
    if ev.role ~= nil then
        local r = self._role_idx[ev.role]
        if r == nil then return nil, ("unknown role \"%s\""):format(tostring(ev.role)), "ROLLOUT_ERR_NOT_FOUND" end
        e.role = r
    end
    e.override = ev.override and 1 or 0
    e.override_verdict = ev.override_verdict and 1 or 0
    e.all_phases = ev.all_phases and 1 or 0
    -- the reason in words: the event table keeps the string alive for the
    -- call; the buffer forgets it with the next event
    e.why = nil
    if ev.why ~= nil then
        if type(ev.why) ~= "string" then return nil, "why must be a string" end
        if ev.why:find("\0", 1, true) then return nil, "why must not contain NUL" end
        e.why = ev.why
    end
    e.actor = 0
    if ev.by ~= nil then
        local r = self._role_idx[ev.by]
        if r == nil then return nil, ("unknown role \"%s\""):format(tostring(ev.by)), "ROLLOUT_ERR_NOT_FOUND" end
        e.actor = r + 1
    end
    local v, msg
    if t == "verdict" then
        v, msg = lookup(VERDICT_IDS, ev.verdict, "verdict"); if v == nil then return nil, msg end
        e.verdict = v
    elseif t == "rollback" then
        v, msg = lookup(RB_REASON_IDS, ev.reason or "manual", "rollback reason")
        if v == nil then return nil, msg end
        e.reason = v
    elseif t == "confirm" then
        v, msg = lookup(CONFIRM_IDS, ev.confirmation, "confirmation"); if v == nil then return nil, msg end
        e.confirmation = v
    elseif (t == "approve" or (t == "go" and ev.override)) and ev.role == nil then
        return nil, "role is required"
    end
    return true
end

local function action_table(self, a)
    local ty = a.type
    local t = { type = ACTIONS[ty] }
    if a.cohort >= 0 then t.cohort = self._cohorts0[a.cohort] end
    if ty == 0 then            -- SET_WEIGHT
        t.weight = a.weight
        t.percent = a.weight / 1000
        t.unit = UNITS[a.unit]
    end
    if a.gate >= 0 then t.gate = self._gates0[a.gate] end
    t.roles = role_list(self, a.roles)
    if a.due ~= 0 then t.due = tonumber(a.due) end
    t.id = opt_string(a.id)
    t.label = opt_string(a.label)
    t.channel = opt_string(a.channel)
    t.audience = opt_string(a.audience)
    t.text = opt_string(a.text)
    return t
end

-- Applies an event at now: returns the next state (a new object; the given
-- one is unchanged) and the actions the caller must perform, in order, as
-- tables {type = "set_weight", cohort =, weight =, unit =, ...}. An event not
-- valid now: nil, message, "ROLLOUT_ERR_TRANSITION".
function Plan:apply(state, event, now)
    if state == nil then arg_error(1, "apply", "rollout state", state) end
    state = state_arg(state, 1, "apply")
    check_time(now, 3, "apply")
    local ok, msg, code = fill_event(self, event)
    if not ok then return nil, msg, code or "ROLLOUT_ERR_ARG" end
    if not actions_buf then actions_buf = ffi_new("rollout_action[?]", MAX_ACTIONS) end
    local nxt = state_ct()
    size_out[0] = MAX_ACTIONS
    local rc = C.rollout_apply(self._ptr, state, event_buf, now, nxt, actions_buf, size_out, err)
    if rc ~= 0 then return fail(rc) end
    local list = {}
    for i = 0, tonumber(size_out[0]) - 1 do list[i + 1] = action_table(self, actions_buf[i]) end
    return wrap_state(nxt), list
end

-- The audit trail the state holds, oldest first: {at =, kind =, role =,
-- gate =, attempt =, detail =, reason =, verdict_overridden =, all_phases =}
-- with the plan's names for role and gate (nil when none).
function Plan:trail(state)
    if state == nil then arg_error(1, "trail", "rollout state", state) end
    local s = state_arg(state, 1, "trail")
    local total = tonumber(s.trail_total)
    local held = total < 16 and total or 16
    local out = {}
    for j = 0, held - 1 do
        local r = s.trail[(total - held + j) % 16]
        out[j + 1] = {
            at = tonumber(r.at),
            kind = ffi_string(C.rollout_trail_kind_name(r.kind)),
            role = r.role >= 0 and self._roles0[r.role] or nil,
            gate = r.gate >= 0 and self._gates0[r.gate] or nil,
            attempt = r.attempt,
            detail = r.detail,
            reason = ffi_string(r.reason),
            verdict_overridden = bit.band(r.flags, 1) ~= 0,
            all_phases = bit.band(r.flags, 2) ~= 0,
        }
    end
    return out
end

-- ---- schedule and calendar ------------------------------------------------------

-- Where the rollout stands at now (state nil: started at the plan's start,
-- no gate decided). Times that are unknown or never come are nil.
function Plan:schedule(now, state)
    check_time(now, 1, "schedule")
    state = state_arg(state, 2, "schedule")
    local rc = C.rollout_schedule(self._ptr, state, now, sched)
    if rc ~= 0 then return nil, DECIDE_ERRORS[rc] or "schedule failed", CODES[rc] end
    local s = sched
    local cohorts = {}
    for c = 0, s.n_cohorts - 1 do
        local w = s.cohorts[c]
        cohorts[c + 1] = {
            cohort = self._cohorts0[c],
            weight = w.weight,
            percent = w.weight / 1000,
            unit = w.unit >= 0 and UNITS[w.unit] or nil,
            phase = w.phase >= 0 and self._phases0[w.phase] or nil,
            step = w.step >= 0 and w.step + 1 or nil,
        }
    end
    return {
        status = STATUSES[s.status],
        phase = s.phase >= 0 and self._phases0[s.phase] or nil,
        step = s.step >= 0 and s.step + 1 or nil,
        gate = s.gate >= 0 and self._gates0[s.gate] or nil,
        gate_pending = s.gate_pending ~= 0,
        gate_due = s.gate >= 0 and time_or_nil(s.gate_due) or nil,
        slip = tonumber(s.slip),
        next_change = CHANGES[s.next_change],
        next_at = time_or_nil(s.next_at),
        next_phase = s.next_phase >= 0 and self._phases0[s.next_phase] or nil,
        next_step = s.next_step >= 0 and s.next_step + 1 or nil,
        next_weight = s.next_phase >= 0 and s.next_weight or nil,
        next_percent = s.next_phase >= 0 and s.next_weight / 1000 or nil,
        bake_start = time_or_nil(s.bake_start),
        complete_at = time_or_nil(s.complete_at),
        cohorts = cohorts,
    }
end

-- Every scheduled step, gate and message in time order.
function Plan:calendar(state)
    state = state_arg(state, 1, "calendar")
    if not calendar_buf then calendar_buf = ffi_new("rollout_calendar_event[?]", MAX_CALENDAR) end
    local rc = C.rollout_calendar(self._ptr, state, calendar_buf, MAX_CALENDAR, size_out)
    if rc ~= 0 then return nil, "calendar failed", CODES[rc] end
    local list = {}
    for i = 0, tonumber(size_out[0]) - 1 do
        local e = calendar_buf[i]
        list[i + 1] = {
            at = time_or_nil(e.at),
            kind = CAL_KINDS[e.kind],
            phase = e.phase >= 0 and self._phases0[e.phase] or nil,
            step = e.step >= 0 and e.step + 1 or nil,
            gate = e.gate >= 0 and self._gates0[e.gate] or nil,
            cohort = e.cohort >= 0 and self._cohorts0[e.cohort] or nil,
            weight = e.kind == 0 and e.weight or nil,
            percent = e.kind == 0 and e.weight / 1000 or nil,
            projected = e.projected ~= 0,
            title = opt_string(e.title),
            channel = opt_string(e.channel),
            audience = opt_string(e.audience),
            message = opt_string(e.message),
            owners = role_list(self, e.owners),
        }
    end
    return list
end

-- ---- evaluation ----------------------------------------------------------------------

local function is_count(v)
    return type(v) == "number" and v >= 0 and v == floor(v) and v < 2^53
end

-- A refusal worded by the binding: ROLLOUT_ERR_METRICS with that message.
local function metrics_fail(msg)
    err.message = msg
    return 22   -- ROLLOUT_ERR_METRICS
end

local function not_a_number(k, v)
    return metrics_fail(("metric %s: number expected, got %s"):format(k, type(v)))
end

-- The keys of t, sorted; every key must be a string (a metric or test id).
local function sorted_keys(t, what)
    local keys = {}
    for k in pairs(t) do
        if type(k) ~= "string" then
            return nil, metrics_fail(what .. ": keys must be names (strings)")
        end
        keys[#keys + 1] = k
    end
    sort(keys)
    return keys
end

local SPECIAL = { requests = true, errors = true, smoke_tests = true, latency_samples = true,
                  latency_histogram = true }

-- Fills one side of a snapshot from {requests =, errors =, latency_p95 =,
-- smoke_tests = {id = true}, latency_samples = {...}, latency_histogram =
-- {bounds = {...}, counts = {...}}, <any metric> = number}.
local function fill_side(m, variant, t)
    local rc
    local req, errs = t.requests, t.errors
    if is_count(req) and is_count(errs) then
        -- together, so that errors > requests is judged on the pair
        rc = C.rollout_metrics_set_requests(m, variant, req, errs, err)
        if rc ~= 0 then return rc end
    else
        -- one of them alone, or a value that is not a whole count: the
        -- library's own setter checks (and words the refusal)
        for _, k in ipairs({ "requests", "errors" }) do
            local v = t[k]
            if v ~= nil then
                if type(v) ~= "number" then return not_a_number(k, v) end
                rc = C.rollout_metrics_set(m, variant, k, v, err)
                if rc ~= 0 then return rc end
            end
        end
    end
    local v = t.latency_samples
    if v ~= nil then
        if type(v) ~= "table" then return metrics_fail("latency_samples: a list of seconds expected") end
        local n = #v
        local arr = ffi_new("double[?]", n > 0 and n or 1)
        for i = 1, n do
            if type(v[i]) ~= "number" then
                return metrics_fail("latency_samples: a list of seconds expected")
            end
            arr[i - 1] = v[i]
        end
        rc = C.rollout_metrics_set_latency_samples(m, variant, arr, n, err)
        if rc ~= 0 then return rc end
    end
    local h = t.latency_histogram
    if h ~= nil then
        local shape = "latency_histogram: {bounds = {...}, counts = {...}} expected"
        if type(h) ~= "table" then return metrics_fail(shape) end
        local bounds, counts = h.bounds, h.counts
        if type(bounds) ~= "table" or type(counts) ~= "table" then return metrics_fail(shape) end
        local n = #bounds
        if #counts ~= n then
            return metrics_fail("latency_histogram: bounds and counts differ in length")
        end
        local b, c = ffi_new("double[?]", n > 0 and n or 1), ffi_new("uint64_t[?]", n > 0 and n or 1)
        for i = 1, n do
            if type(bounds[i]) ~= "number" or not is_count(counts[i]) then
                return metrics_fail("latency_histogram: numeric bounds and whole counts expected")
            end
            b[i - 1] = bounds[i]
            c[i - 1] = counts[i]
        end
        rc = C.rollout_metrics_set_latency_histogram(m, variant, b, c, n, err)
        if rc ~= 0 then return rc end
    end
    local smoke = t.smoke_tests
    if smoke ~= nil then
        if type(smoke) ~= "table" then
            return metrics_fail("smoke_tests: a table {id = true/false} expected")
        end
        local ids, bad = sorted_keys(smoke, "smoke_tests")
        if not ids then return bad end
        for _, id in ipairs(ids) do
            local r = smoke[id]
            local passed
            if r == true or r == "pass" or r == "passed" then passed = 1
            elseif r == false or r == "fail" or r == "failed" then passed = 0
            else
                return metrics_fail(("smoke_tests.%s: true, false, \"pass\" or \"fail\" expected")
                                    :format(id))
            end
            rc = C.rollout_metrics_set_smoke(m, variant, id, passed, err)
            if rc ~= 0 then return rc end
        end
    end
    -- sorted, so that which of two inconsistent values is refused does not
    -- depend on table order (and is the one the C module refuses)
    local keys, bad = sorted_keys(t, "metrics")
    if not keys then return bad end
    for _, k in ipairs(keys) do
        if not SPECIAL[k] then
            local x = t[k]
            if type(x) ~= "number" then return not_a_number(k, x) end
            rc = C.rollout_metrics_set(m, variant, k, x, err)
            if rc ~= 0 then return rc end
        end
    end
    return 0
end

local function snapshot(metrics)
    local out = metrics_ptr_ct()
    local rc
    if type(metrics) == "string" then
        rc = C.rollout_metrics_load_buffer(metrics, #metrics, "<metrics>", out, err)
        if rc ~= 0 then return nil, rc end
        return ffi_gc(out[0], C.rollout_metrics_free)
    end
    rc = C.rollout_metrics_create(out)
    if rc ~= 0 then err.message = "out of memory"; return nil, rc end
    local m = ffi_gc(out[0], C.rollout_metrics_free)
    for k, v in pairs(metrics) do
        if k ~= "new" and k ~= "baseline" then
            local name = type(k) == "string" and k or type(k)
            return nil, metrics_fail(("metrics: unknown key \"%s\" (new or baseline expected)"):format(name))
        end
        if type(v) ~= "table" then
            return nil, metrics_fail(("metrics.%s: table expected, got %s"):format(k, type(v)))
        end
    end
    -- the new version first, then the baseline, as a snapshot file reads
    for _, side in ipairs({ "new", "baseline" }) do
        if metrics[side] ~= nil then
            rc = fill_side(m, side == "new" and 1 or 0, metrics[side])
            if rc ~= 0 then return nil, rc end
        end
    end
    return m
end

-- Judges metrics against a criteria set: target "phase", "gate",
-- "criteria" or "bake"; metrics a table {new = {...}, baseline = {...}} or the
-- text of a YAML/JSON snapshot (docs/evaluation.md). Returns {verdict =,
-- criteria =, n_pass =, n_fail =, n_inconclusive =, rollback = id or nil,
-- rollback_reason =, results = {{id =, metric =, verdict =, ...}}}; values that
-- do not apply are nil.
function Plan:evaluate(target, name, metrics)
    local t = EVAL_TARGETS[target]
    if t == nil then
        raise(("bad argument #1 to 'evaluate' (invalid option '%s')"):format(tostring(target)))
    end
    if name ~= nil then name = check_string(name, 2, "evaluate") end
    if type(metrics) ~= "table" and type(metrics) ~= "string" then
        arg_error(3, "evaluate", "table or string", metrics)
    end
    local m, rc = snapshot(metrics)
    if not m then return fail(rc) end
    if not eval_buf then eval_buf = ffi_new("rollout_evaluation") end
    rc = C.rollout_evaluate(self._ptr, t, name, m, eval_buf, err)
    if rc ~= 0 then return fail(rc) end
    local e = eval_buf
    local results = {}
    for i = 0, e.n_results - 1 do
        local r = e.results[i]
        results[i + 1] = {
            id = opt_string(r.id),
            metric = opt_string(r.metric),
            verdict = VERDICTS[r.verdict],
            rollback = r.rollback ~= 0,
            rollback_reason = r.rollback_reason >= 0 and RB_REASONS[r.rollback_reason] or nil,
            observed = nan_to_nil(r.observed),
            threshold = nan_to_nil(r.threshold),
            baseline = nan_to_nil(r.baseline),
            p_value = nan_to_nil(r.p_value),
            lower = nan_to_nil(r.lower),
            upper = nan_to_nil(r.upper),
            samples = nan_to_nil(r.samples),
            reason = ffi_string(r.reason),
            dry_run = r.dry_run ~= 0,
            direction = r.direction == 1 and "lower_is_worse" or "higher_is_worse",
            sla = nan_to_nil(r.sla),
        }
    end
    return {
        verdict = VERDICTS[e.verdict],
        criteria = opt_string(e.criteria),
        n_pass = e.n_pass,
        n_fail = e.n_fail,
        n_inconclusive = e.n_inconclusive,
        rollback = e.rollback_index >= 0 and results[e.rollback_index + 1].id or nil,
        rollback_reason = e.rollback_reason >= 0 and RB_REASONS[e.rollback_reason] or nil,
        results = results,
    }
end

Plan.__tostring = function(self) return "rollout.plan: " .. self:id() end

-- ---------------------------------------------------------------------------
-- The fleet's store (include/rollout_store.h, docs/fleet.md)
-- ---------------------------------------------------------------------------
--
-- librollout_store.so.0 is a library of its own (it links hiredis and
-- libcrypto), loaded on first use: from the directory librollout came from,
-- then package.cpath's directories, then the dynamic linker. Every call
-- blocks for at most the store's timeout (watch: its wait as well), so in
-- nginx it belongs in the privileged agent or an admin request, never in a
-- request's decision (resty/rollout/gateway.lua).

if not pcall(ffi.typeof, "rollout_store_options") then
ffi.cdef[[
typedef struct rollout_store rollout_store;
typedef struct rollout_store_options {
    int timeout_ms;
    const unsigned char *key;
    size_t key_len;
    int require_signature;
    int poll_interval_ms;
    int no_subscribe;
    int lazy_connect;
    int max_retries;
} rollout_store_options;
const char *rollout_store_code_name(int code);
void rollout_store_options_init(rollout_store_options *opts);
int rollout_store_open(const char *url, const rollout_store_options *opts,
                       rollout_store **out, rollout_error *err);
void rollout_store_close(rollout_store *st);
const char *rollout_store_name(const rollout_store *st);
int rollout_store_read_key_file(const char *path, unsigned char *key, size_t cap,
                                size_t *len, rollout_error *err);
int rollout_store_load(rollout_store *st, const rollout_plan *plan, rollout_state *state,
                       rollout_error *err);
int rollout_store_put(rollout_store *st, const rollout_plan *plan, uint64_t expected,
                      const rollout_state *state, rollout_error *err);
int rollout_store_hold(rollout_store *st, const rollout_plan *plan, const rollout_state *state,
                       rollout_error *err);
int rollout_store_apply(rollout_store *st, const rollout_plan *plan,
                        const rollout_event *event, int64_t now, rollout_state *next,
                        rollout_action *actions, size_t *n_actions, rollout_error *err);
int rollout_store_watch(rollout_store *st, const rollout_plan *plan, uint64_t after,
                        int wait_ms, rollout_state *state, rollout_error *err);
]]
end

local S                -- librollout_store's namespace; nil until loaded
local S_from
local STORE_KEY_MAX = 1024
local NO_CHANGE = 69   -- ROLLOUT_STORE_NO_CHANGE

local function store_fail(code)
    return nil, ffi_string(err.message), ffi_string(S.rollout_store_code_name(code))
end

-- Loads librollout_store (path: exactly that file). Needs librollout loaded
-- first: the store library links it, and must resolve to the same copy.
function _M.load_store_library(path)
    local ok, e = need_library()
    if not ok then return nil, e end
    if S then
        if path == nil or path == S_from then return true end
        return nil, "librollout_store is already loaded from " .. S_from
    end
    local list = {}
    if path ~= nil then
        list[1] = path
    else
        local dir = loaded_from:match("^(.*/)[^/]*$")
        if dir then
            list[#list + 1] = dir .. "librollout_store.so.0"
            list[#list + 1] = dir .. "store/librollout_store.so.0"
        end
        for tpl in package.cpath:gmatch("[^;]+") do
            local d = tpl:match("^(.*/)%?[^/]*$")
            if d then
                list[#list + 1] = d .. "librollout_store.so.0"
                list[#list + 1] = d .. "store/librollout_store.so.0"
            end
        end
    end
    local why = "not found"
    for _, p in ipairs(list) do
        if path ~= nil or file_exists(p) then
            local lok, lib = pcall(ffi.load, p)
            if lok then S, S_from = lib, p return true end
            why = tostring(lib)
        end
    end
    if path == nil then
        local lok, lib = pcall(ffi.load, "librollout_store.so.0")
        if lok then S, S_from = lib, "librollout_store.so.0" return true end
        why = tostring(lib)
    end
    return nil, "cannot load librollout_store" .. (path and (" from " .. path) or "") .. ": " .. why
end

-- Reads an HMAC key file (rollout_store_read_key_file): the key's bytes as
-- a Lua string, or nil, message, code.
function _M.read_key_file(path)
    check_string(path, 1, "read_key_file")
    local ok, e = _M.load_store_library()
    if not ok then return nil, e, "ROLLOUT_ERR_IO" end
    local buf = ffi_new("unsigned char[?]", STORE_KEY_MAX)
    local rc = S.rollout_store_read_key_file(path, buf, STORE_KEY_MAX, size_out, err)
    if rc ~= 0 then return store_fail(rc) end
    local key = ffi_string(buf, size_out[0])
    ffi.fill(buf, STORE_KEY_MAX)
    return key
end

local Store = {}
Store.__index = Store

-- Opens a store: url "redis://..." or "unix://...", opts { key = bytes,
-- require_signature = bool, timeout_ms =, poll_interval_ms =,
-- subscribe = false (poll only), lazy = bool (connect on first use),
-- max_retries = }. A Store, or nil, message, code.
function _M.store_open(url, opts)
    check_string(url, 1, "store_open")
    opts = opts or {}
    local ok, e = _M.load_store_library(opts.library)
    if not ok then return nil, e, "ROLLOUT_ERR_IO" end
    local o = ffi_new("rollout_store_options")
    S.rollout_store_options_init(o)
    if opts.timeout_ms then o.timeout_ms = opts.timeout_ms end
    if opts.poll_interval_ms then o.poll_interval_ms = opts.poll_interval_ms end
    if opts.max_retries then o.max_retries = opts.max_retries end
    o.require_signature = opts.require_signature and 1 or 0
    o.no_subscribe = opts.subscribe == false and 1 or 0
    o.lazy_connect = opts.lazy and 1 or 0
    local key = opts.key
    if key ~= nil then
        o.key, o.key_len = key, #key   -- copied by the library
    end
    local out = ffi_new("rollout_store *[1]")
    local rc = S.rollout_store_open(url, o, out, err)
    if rc ~= 0 then return store_fail(rc) end
    local st = setmetatable({ _st = ffi_gc(out[0], S.rollout_store_close) }, Store)
    st.name = ffi_string(S.rollout_store_name(st._st))
    return st
end

function Store:close()
    if self._st ~= nil then
        S.rollout_store_close(ffi_gc(self._st, nil))
        self._st = nil
    end
end

local function open_store(self)
    if self._st == nil then raise("the store is closed") end
    return self._st
end

-- The stored state of plan's rollout: a state, or nil, message, code
-- ("ROLLOUT_ERR_NOT_FOUND" when none is stored).
function Store:load(plan)
    local st = open_store(self)
    local s = state_ct()
    local rc = S.rollout_store_load(st, plan._ptr, s, err)
    if rc ~= 0 then return store_fail(rc) end
    return wrap_state(s)
end

-- The state this caller holds (rollout_store_hold): later reads refuse a
-- stored state that does not follow it (ROLLOUT_ERR_REPLAY), and apply then
-- writes nothing. true, or nil, message, code.
function Store:hold(plan, state)
    local st = open_store(self)
    state = state_arg(state, 3, "hold")
    local rc = S.rollout_store_hold(st, plan._ptr, state, err)
    if rc ~= 0 then return store_fail(rc) end
    return true
end

-- Compare-and-set: state in place of the stored revision expected.
function Store:put(plan, expected, state)
    local st = open_store(self)
    state = state_arg(state, 3, "put")
    local rc = S.rollout_store_put(st, plan._ptr, expected, state, err)
    if rc ~= 0 then return store_fail(rc) end
    return true
end

-- An operator's event through the store (read, apply, compare-and-set,
-- retried on a conflict): the stored state and the actions, as Plan:apply.
function Store:apply(plan, event, now)
    local st = open_store(self)
    check_time(now, 3, "apply")
    local ok, msg, code = fill_event(plan, event)
    if not ok then return nil, msg, code or "ROLLOUT_ERR_ARG" end
    if not actions_buf then actions_buf = ffi_new("rollout_action[?]", MAX_ACTIONS) end
    local nxt = state_ct()
    size_out[0] = MAX_ACTIONS
    local rc = S.rollout_store_apply(st, plan._ptr, event_buf, now, nxt, actions_buf, size_out, err)
    if rc ~= 0 then return store_fail(rc) end
    local list = {}
    for i = 0, tonumber(size_out[0]) - 1 do list[i + 1] = action_table(plan, actions_buf[i]) end
    return wrap_state(nxt), list
end

-- Waits up to wait_ms for a state newer than revision after: the state;
-- false when nothing newer came; or nil, message, code (a refused value,
-- or the store unreachable).
function Store:watch(plan, after, wait_ms)
    local st = open_store(self)
    local s = state_ct()
    local rc = S.rollout_store_watch(st, plan._ptr, after, wait_ms, s, err)
    if rc == NO_CHANGE then return false end
    if rc ~= 0 then return store_fail(rc) end
    return wrap_state(s)
end

-- ---- for a sync run in another thread (resty/rollout/sync_thread.lua) ------------
--
-- nginx's worker threads (ngx.run_worker_thread) run Lua in VMs of their
-- own, which can share only numbers and strings with the worker. The store
-- handle and the plan live in the process, so they cross as addresses; the
-- worker keeps both alive, and uses neither while the thread does.

function _M.library_paths() return loaded_from, S_from end

function _M.address(obj)
    local p = obj._st or obj._ptr
    return tonumber(ffi.cast("uintptr_t", p))
end

local function as_plan_ptr(addr) return ffi.cast("rollout_plan *", addr) end
local function as_store_ptr(addr) return ffi.cast("rollout_store *", addr) end

-- watch by addresses: the state's text; false; or nil, message, code.
function _M.watch_at(st_addr, plan_addr, after, wait_ms)
    local s = state_ct()
    local rc = S.rollout_store_watch(as_store_ptr(st_addr), as_plan_ptr(plan_addr), after,
                                     wait_ms, s, err)
    if rc == NO_CHANGE then return false end
    if rc ~= 0 then return store_fail(rc) end
    local n = C.rollout_state_encode(s, state_text, STATE_TEXT_MAX)
    return ffi_string(state_text, n)
end

-- The store as a Store object around an address the caller owns (not closed
-- by this object).
function _M.store_at(st_addr)
    return setmetatable({ _st = as_store_ptr(st_addr), name = "" }, Store)
end

return _M
