-- SPDX-License-Identifier: MIT
-- jit_trace.lua LIBRARY — the FFI hot path stays JIT-compiled.
--
-- Runs plan:decide_variant (and explain, decide_variant with request
-- attributes, and decide_label) in tight loops, and the nginx example's
-- per-request function, resty.rollout.gateway's route(), called from C as
-- nginx calls it, under jit.v, Debian luajit2's verbose trace log, written
-- to a file. Fails when:
--   * any trace aborts with "NYI" (not yet implemented: the bytecode falls
--     back to the interpreter) inside bindings/lua/resty/rollout.lua,
--     resty/rollout/gateway.lua or in this file's hot loops;
--   * a hot loop did not end up in a compiled looping trace;
--   * route() has no trace that starts at its entry.
-- Other aborts (e.g. a side trace blacklisted after an unusual exit) are
-- printed but do not fail: they are LuaJIT heuristics, not a hot path that
-- cannot compile. Run by ctest as lua_jit_trace; prints the trace log.
local lib = arg[1] or error("usage: luajit jit_trace.lua LIBRARY")
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "../../bindings/lua/?.lua;" .. package.path

if not jit or not jit.status() then
    io.stderr:write("jit_trace: the JIT is not available or switched off\n")
    os.exit(1)
end

local rollout = require "resty.rollout"
assert(rollout.load_library(lib))

-- the nginx example's plan (tests/lua/nginx_plan.yaml)
local plan = assert(rollout.load_file(here .. "nginx_plan.yaml"))
local state = select(1, plan:apply(plan:new_state(), "start", 1577836800))

local log = os.tmpname()
local v = require "jit.v"
v.start(log)

-- Ids are made before the loops: the test is about the decision, not
-- about string building.
local N = 1000
local orgs, users, sessions = {}, {}, {}
for i = 1, N do
    orgs[i] = (i % 7 == 0) and "acme-corp" or ("org-" .. i)
    users[i] = "user-" .. i
    sessions[i] = "session-" .. i
end
local now = 1700000000

local HOT = {}   -- line numbers of the hot loops, for the check below
local function mark() return debug.getinfo(2, "l").currentline end

local counts = { new = 0, stable = 0 }
HOT[#HOT + 1] = mark()
for round = 1, 200 do
    for i = 1, N do
        local variant = plan:decide_variant(orgs[i], users[i], sessions[i], now, state)
        counts[variant] = counts[variant] + 1
    end
end

local attrs = rollout.new_attrs({ "email", "role" })
local emails = {}
for i = 1, N do emails[i] = (i % 3 == 0) and ("u" .. i .. "@example.com") or ("u" .. i .. "@corp.test") end
HOT[#HOT + 1] = mark()
for round = 1, 100 do
    for i = 1, N do
        attrs:set("email", emails[i])
        local variant, reason = plan:decide_variant(orgs[i], users[i], sessions[i], now, state,
                                                    nil, attrs)
        counts[variant] = counts[variant] + 1
    end
end

local total_len = 0
HOT[#HOT + 1] = mark()
for round = 1, 50 do
    for i = 1, N do
        local text, variant = plan:explain(orgs[i], users[i], sessions[i], now, state)
        total_len = total_len + #text
    end
end

HOT[#HOT + 1] = mark()
for round = 1, 100 do
    for i = 1, N do
        attrs:set("email", emails[i])
        local variant, label = plan:decide_label(orgs[i], users[i], sessions[i], now, state,
                                                 nil, attrs)
        counts[variant] = counts[variant] + 1
    end
end

-- An nginx handler is not called from a Lua loop but from C, once per
-- request, so its code compiles as traces that start at the function's
-- entry. string.gsub calls a Lua function from C for every match, which
-- reproduces that: no Lua loop around the handler. The handler is the
-- example's (examples/nginx/nginx.conf): resty.rollout.gateway's route(),
-- under a stand-in for what it uses of nginx: a dict holding the shared
-- state, ngx.var for the label, ngx.time, and the request's variables read
-- as pointer and length, as lua-nginx-module's ngx_http_lua_ffi_var_get
-- hands them over.
local ffi = require "ffi"
local shared = { [false] = state:encode() }
local dict = {}
-- any state key (a fingerprint, no ':') reads the state line; init's own
-- keys (the serving plan, its text, the lock) are kept as written
function dict:get(key) return shared[key] or (not key:find(":", 1, true) and shared[false] or nil) end
function dict:set(key, v) shared[key] = v return true end
function dict:add(key, v) if shared[key] ~= nil then return false end shared[key] = v return true end
function dict:delete(key) shared[key] = nil end
local var = {}
_G.ngx = {
    shared = { rollout = dict }, var = var, time = function() return now end,
    log = function() end, NOTICE = 6, ERR = 4,
}
local request_vars = {}   -- the current request's nginx variables
local function var_get(r, name, len, lowbuf, capture, vp, vl, err)
    local v = request_vars[name]
    if v == nil then return -5 end   -- NGX_DECLINED: no such variable value
    vp[0] = ffi.cast("char *", v)
    vl[0] = #v
    return 0
end
local REQUEST = ffi.cast("void *", 1)
local gw = require "resty.rollout.gateway"
gw.init({ plan = here .. "nginx_plan.yaml", library = lib,
          org = { "http_x_org", "cookie_org" }, user = "http_x_user",
          session = "cookie_session", attrs = { email = "http_x_email" },
          var_get = var_get, get_request = function() return REQUEST end,
          var_set = function(r, name, len, lowbuf, value, value_len, err, err_len)
              var[name] = value
              return 0
          end })
local route = gw.route
local req = 0
-- a vararg function, like the chunk set_by_lua runs: LuaJIT never starts
-- a trace in one, so route() must compile on its own
local function handler(...)
    req = req + 1
    local i = req % N + 1
    -- the org comes from the header or, for every fifth request, the cookie
    if i % 5 == 0 then
        request_vars.http_x_org, request_vars.cookie_org = nil, orgs[i]
    else
        request_vars.http_x_org, request_vars.cookie_org = orgs[i], nil
    end
    request_vars.http_x_user, request_vars.cookie_session = users[i], sessions[i]
    request_vars.http_x_email = emails[i]
    local upstream = route()
    local variant = upstream == "canary" and "new" or "stable"
    -- the same decision as the string API's
    attrs:set("email", emails[i])
    if variant ~= plan:decide_label(orgs[i], users[i], sessions[i], now, state, nil, attrs) then
        error("route() and decide_label disagree for request " .. i)
    end
    counts[variant] = counts[variant] + 1
    return ""
end
local ROUTE_LINE = debug.getinfo(route, "S").linedefined
local requests = string.rep("x", 20000)
local _ = requests:gsub("x", handler)
if var.rollout_reason == nil then error("route() set no $rollout_reason") end

v.off()
local f = assert(io.open(log))
local out = f:read("*a")
f:close()
os.remove(log)
io.write(out)
io.write(("decisions: new %d, stable %d; explanation bytes %d\n")
         :format(counts.new, counts.stable, total_len))

local failures = {}
local this = debug.getinfo(1, "S").short_src:match("[^/]+$")
for line in out:gmatch("[^\n]+") do
    if line:find("NYI", 1, true) and (line:find("rollout.lua", 1, true) or line:find("gateway.lua", 1, true)
                                      or line:find(this, 1, true)) then
        failures[#failures + 1] = "NYI abort: " .. line
    end
end
-- Each hot loop must have a compiled looping trace that starts at it
-- ("[TRACE  n jit_trace.lua:LINE loop]"); LuaJIT starts the trace at the
-- inner loop, one line below the outer one marked.
for k, at in ipairs(HOT) do
    local found = false
    for l = at, at + 3 do
        if out:find("%[TRACE%s+%d+%s+[^%s]*" .. this:gsub("%.", "%%.") .. ":" .. l .. "%s+loop%]") then
            found = true
        end
    end
    if not found then
        failures[#failures + 1] = ("hot loop %d (line %d) has no compiled looping trace"):format(k, at)
    end
end
-- route() compiled from its entry, as it must inside nginx
if not out:find("%[TRACE%s+%d+%s+[^%s]*gateway%.lua:" .. ROUTE_LINE .. "%s") then
    failures[#failures + 1] = ("gateway.route (line %d) has no trace from its entry"):format(ROUTE_LINE)
end
-- the decisions themselves are sane: both variants occur
if counts.new == 0 or counts.stable == 0 then
    failures[#failures + 1] = "the loop decided only one variant"
end

if #failures > 0 then
    io.stderr:write("jit_trace: FAILED\n  " .. table.concat(failures, "\n  ") .. "\n")
    os.exit(1)
end
print("jit_trace: every hot loop compiled, no NYI abort")
