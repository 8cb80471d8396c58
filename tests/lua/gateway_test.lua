-- SPDX-License-Identifier: MIT
-- gateway_test.lua LIBRARY — resty.rollout.gateway's route() outside nginx.
--
-- route() reads, for every request, only the ids and attributes the plan's
-- cohort rules read, and a unit's id only when a decision comes back
-- MISSING_UNIT for it (then decides again). This checks, under stand-ins for
-- what it uses of nginx (lua-nginx-module's variable getter and setter, a
-- shared dict), on several plans and thousands of generated requests, that:
--   * every answer (upstream and label) is exactly plan:decide_label's for
--     the request's whole context (every id and attribute given);
--   * the variables read are exactly the rules' ones, plus the decision's
--     unit's when the rules did not read it, and nothing else (no session
--     read for a request bucketed by org, no attribute no rule reads);
--   * gw.reads() reports which ids are read for every request (what
--     plan:rule_reads() says the rules read, narrowed to init's attributes);
--   * with a rolled-back state, nothing but the rules' ids is read;
--   * a state line that does not decode, and a decision the library
--     refuses, route to stable with STATE_UNREADABLE / DECIDE_FAILED labels;
--   * a header sent empty is the empty string (it matches equals: "" and
--     matches: '^$'), a header not sent an absent attribute (docs/targeting.md).
-- Run by ctest as lua_gateway (LuaJIT: the gateway uses the FFI).
local lib = arg[1] or error("usage: luajit gateway_test.lua LIBRARY")
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "../../bindings/lua/?.lua;" .. package.path

local ffi = require "ffi"
local rollout = require "resty.rollout"
assert(rollout.load_library(lib))

local now = 1700000000
local shared = {}
local dict = {}
function dict:get(key) return shared[key] end
-- what init writes (the serving plan, its text, the take-over lock)
function dict:set(key, v) shared[key] = v return true end
function dict:add(key, v) if shared[key] ~= nil then return false end shared[key] = v return true end
function dict:delete(key) shared[key] = nil end
local var = {}
_G.ngx = {
    shared = { rollout = dict }, var = var, time = function() return now end,
    log = function() end, NOTICE = 6, ERR = 4,
}

local request_vars = {}   -- the current request's nginx variables
local reads = {}          -- names read during the current request, in order
local function var_get(r, name, len, lowbuf, capture, vp, vl, err)
    reads[#reads + 1] = name
    local v = request_vars[name]
    if v == nil then return -5 end   -- NGX_DECLINED
    vp[0] = ffi.cast("char *", v)
    vl[0] = #v
    return 0
end
local function var_set(r, name, len, lowbuf, value, value_len, err, err_len)
    var[name] = ffi.string(value, value_len)
    return 0
end
local REQUEST = ffi.cast("void *", 1)

local gw = require "resty.rollout.gateway"
local SOURCES = {
    org = { "http_x_org", "cookie_org" }, user = "http_x_user", session = "cookie_session",
    request = "request_id", attrs = { email = "http_x_email", role = "http_x_role" },
}

local failures = 0
local function check(ok, msg)
    if not ok then
        failures = failures + 1
        io.stderr:write("gateway_test: ", msg, "\n")
    end
    return ok
end

local function init(yaml)
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(yaml)
    f:close()
    local plan = gw.init({ plan = file, library = lib, org = SOURCES.org, user = SOURCES.user,
                           session = SOURCES.session, request = SOURCES.request,
                           attrs = SOURCES.attrs, var_get = var_get, var_set = var_set,
                           get_request = function() return REQUEST end })
    os.remove(file)
    return plan
end

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local HEAD = [[
format: 1
id: %s
salt: %s-salt
start: 2020-01-01T00:00:00Z
versions: {stable: v1, new: v2}
bake: {duration: 3650d}
]]

local PLANS = {
    {   -- the nginx test's plan: rules read the e-mail and the org; units
        -- session, user, org
        name = "nginx", yaml = read_file(here .. "nginx_plan.yaml"),
        eager = { org = true, user = false, session = false, request = false, attrs = { "email" } },
    },
    {   -- rules in not/any/all read the user and the role; no rule reads
        -- the org or the e-mail; units org and request
        name = "nested", yaml = HEAD:format("nested", "nested") .. [[
cohorts:
  - id: staff
    match: {any: [{attr: role, equals: staff}, {all: [{not: {user_in: [u-1, u-2]}}, {attr: role, in: [ops]}]}]}
  - {id: everyone, match: {everyone: true}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - {id: staff, cohort: staff, steps: [{at: 0, weight: 50%, unit: request}]}
  - {id: ga, cohort: everyone, steps: [{at: 0, weight: 40%, unit: org}]}
]],
        eager = { org = false, user = true, session = false, request = false, attrs = { "role" } },
    },
    {   -- a later step: the first has passed, the cohort now buckets by user
        name = "steps", yaml = HEAD:format("steps", "steps") .. [[
cohorts:
  - {id: everyone, match: {everyone: true}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - {id: ga, cohort: everyone, steps: [{at: 0, weight: 10%, unit: session}, {at: 1d, weight: 60%, unit: user}]}
]],
        eager = { org = false, user = false, session = false, request = false, attrs = {} },
    },
    {   -- rules that match the empty string: a header sent empty matches
        -- them, one not sent does not
        name = "empty", yaml = HEAD:format("empty", "empty") .. [[
cohorts:
  - {id: no-role, match: {attr: role, equals: ""}}
  - {id: blank-email, match: {attr: email, matches: '^$'}}
  - {id: everyone, match: {everyone: true}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - {id: no-role, cohort: no-role, steps: [{at: 0, weight: 50%, unit: session}]}
  - {id: blank-email, cohort: blank-email, steps: [{at: 0, weight: 70%, unit: user}]}
  - {id: ga, cohort: everyone, steps: [{at: 0, weight: 30%, unit: org}]}
]],
        eager = { org = false, user = false, session = false, request = false,
                  attrs = { "email", "role" } },
    },
}

local rnd_state = 12345
local function rnd(n)   -- deterministic: a small LCG
    rnd_state = (rnd_state * 1103515245 + 12345) % 2147483648
    return rnd_state % n
end

local function context(i)
    local orgs = { "acme-corp", "globex", "org-1", "org-2", "org-" .. i }
    return {
        org = rnd(10) < 9 and orgs[rnd(#orgs) + 1] or nil,
        org_in_cookie = rnd(3) == 0,
        user = rnd(10) < 8 and ({ "u-1", "u-2", "u-" .. i })[rnd(3) + 1] or nil,
        session = rnd(10) < 8 and ("s-" .. i) or nil,
        request = rnd(10) < 8 and ("r-" .. i) or nil,
        email = ({ nil, "dev@example.com", "x@customer.test", "" })[rnd(4) + 1],
        role = ({ nil, "staff", "ops", "guest", "" })[rnd(5) + 1],
    }
end

local VAR_OF_UNIT = { user = "http_x_user", session = "cookie_session", request = "request_id" }

-- appends to want the variables route() reads for unit's id: the org's
-- header, then its cookie when the header is not there
local function want_unit(want, unit)
    if unit == "org" then
        want[#want + 1] = "http_x_org"
        if request_vars.http_x_org == nil then want[#want + 1] = "cookie_org" end
    else
        want[#want + 1] = VAR_OF_UNIT[unit]
    end
end

local function run(plan, spec, state_text, n, what)
    shared = {}
    if state_text then shared[gw.state_key()] = state_text end
    local state = state_text and assert(plan:decode_state(state_text)) or nil
    local eager = spec.eager   -- the plan's literal expectation, not gw.reads()
    local seen_units = {}
    for i = 1, n do
        local c = context(i)
        request_vars = {
            http_x_org = not c.org_in_cookie and c.org or nil,
            cookie_org = c.org_in_cookie and c.org or nil,
            http_x_user = c.user, cookie_session = c.session, request_id = c.request,
            http_x_email = c.email, http_x_role = c.role,
        }
        reads = {}
        var.rollout_reason = nil
        local upstream = gw.route()
        local attrs = {}
        if c.email then attrs.email = c.email end
        if c.role then attrs.role = c.role end
        local variant, label = plan:decide_label(c.org, c.user, c.session, now, state, c.request,
                                                 attrs)
        local want_up = variant == "new" and "canary" or "stable"
        if not check(upstream == want_up and var.rollout_reason == label,
                     ("%s/%s #%d: route() %s %q, decide_label %s %q"):format(
                         spec.name, what, i, upstream, tostring(var.rollout_reason), want_up,
                         label)) then
            break
        end
        -- the variables it read: the rules' ones, then the unit's if needed
        local want = {}
        for _, unit in ipairs({ "org", "user", "session", "request" }) do
            if eager[unit] then want_unit(want, unit) end
        end
        for _, k in ipairs(eager.attrs) do want[#want + 1] = SOURCES.attrs[k] end
        -- a unit the rules do not read: its id read after the first decision
        -- (bucketed or MISSING_UNIT alike)
        local unit = label:match(" unit=(%a+)$")
        if unit and not eager[unit] then
            seen_units[unit] = true
            want_unit(want, unit)
        end
        if not check(table.concat(reads, " ") == table.concat(want, " "),
                     ("%s/%s #%d (%s): read %q, want %q"):format(spec.name, what, i, label,
                         table.concat(reads, " "), table.concat(want, " "))) then
            break
        end
    end
    return seen_units
end

for _, spec in ipairs(PLANS) do
    local plan = init(spec.yaml)
    local got = gw.reads()
    local want = spec.eager
    check(got.org == want.org and got.user == want.user and got.session == want.session
          and got.request == want.request
          and table.concat(got.attrs, ",") == table.concat(want.attrs, ","),
          ("%s: reads() org=%s user=%s session=%s request=%s attrs=%s"):format(spec.name,
              tostring(got.org), tostring(got.user), tostring(got.session),
              tostring(got.request), table.concat(got.attrs, ",")))
    -- no state yet, then a rolled-back one
    local units = run(plan, spec, nil, 3000, "no state")
    local n = 0
    for _ in pairs(units) do n = n + 1 end
    check(n > 0, spec.name .. ": no request read a unit lazily")
    local started = assert(plan:apply(plan:new_state(), "start", plan:start()))
    local rolled = assert(plan:apply(started, { type = "rollback" }, now))
    units = run(plan, spec, rolled:encode(), 500, "rolled back")
    check(next(units) == nil, spec.name .. ": a rolled-back state read a unit")
end

-- The two ways route() answers stable without the plan's say: a state line
-- that does not decode (the error cached with the line: a second request
-- with the same line gets the same label, a good line ends it), and a
-- decision the library refused (which a decoded state cannot cause: the
-- plan is made to refuse here).
do
    local spec = PLANS[1]
    local plan = init(spec.yaml)
    request_vars = { http_x_org = "acme-corp", http_x_user = "u-7", cookie_session = "s-1" }
    local bad = "rs1.not-a-state"
    local _, why = plan:decode_state(bad)
    check(type(why) == "string" and #why > 0, "a bad state line decodes: " .. tostring(why))
    shared[gw.state_key()] = bad
    for round = 1, 2 do
        reads = {}
        local upstream = gw.route()
        check(upstream == "stable" and var.rollout_reason == "STATE_UNREADABLE: " .. why,
              ("unreadable state, request %d: %s %q"):format(round, upstream,
                  tostring(var.rollout_reason)))
    end
    local started = assert(plan:apply(plan:new_state(), "start", plan:start()))
    shared[gw.state_key()] = started:encode()
    reads = {}
    local upstream = gw.route()
    local variant, label = plan:decide_label("acme-corp", "u-7", "s-1", now, started, nil, {})
    check(upstream == (variant == "new" and "canary" or "stable") and var.rollout_reason == label,
          ("a good state line after a bad one: %s %q, want %q"):format(upstream,
              tostring(var.rollout_reason), label))
    plan.decide_label_raw = function() return nil, "refused for the test" end
    reads = {}
    upstream = gw.route()
    check(upstream == "stable" and var.rollout_reason == "DECIDE_FAILED: refused for the test",
          ("a refused decision: %s %q"):format(upstream, tostring(var.rollout_reason)))
    plan.decide_label_raw = nil
    shared[gw.state_key()] = nil
end

-- An empty header against no header, one request each: the label names
-- the cohort whose rule matches the empty string only for the former.
do
    local plan = init(PLANS[4].yaml)
    shared = {}
    local function label_of(vars)
        request_vars, reads = vars, {}
        gw.route()
        return var.rollout_reason
    end
    local base = { http_x_org = "o", http_x_user = "u", cookie_session = "s" }
    local function with(extra)
        local t = {}
        for k, v in pairs(base) do t[k] = v end
        for k, v in pairs(extra) do t[k] = v end
        return t
    end
    local got = label_of(with({ http_x_role = "" }))
    check(got:match(" cohort=no%-role ") ~= nil, "an empty X-Role: " .. got)
    got = label_of(with({}))
    check(got:match(" cohort=everyone ") ~= nil, "no X-Role, no X-Email: " .. got)
    got = label_of(with({ http_x_email = "" }))
    check(got:match(" cohort=blank%-email ") ~= nil, "an empty X-Email: " .. got)
    got = label_of(with({ http_x_role = "x", http_x_email = "x" }))
    check(got:match(" cohort=everyone ") ~= nil, "X-Role and X-Email not empty: " .. got)
    -- as the library has it for the same contexts
    local _, want = plan:decide_label("o", "u", "s", now, nil, nil, { role = "" })
    check(want:match(" cohort=no%-role ") ~= nil, "decide_label, role \"\": " .. want)
end

if failures > 0 then
    io.stderr:write("gateway_test: FAILED (", failures, ")\n")
    os.exit(1)
end
print("gateway_test: every answer is decide_label's; only the rules' and the decision's unit's ids read")
