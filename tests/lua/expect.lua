-- SPDX-License-Identifier: MIT
-- expect.lua LIBRARY PLAN STATE|- NOW < contexts > decisions
--
-- The expected answers of tests/lua/nginx_test.py, computed by the library
-- (through the FFI module) for each request context the test sends: a line
-- "org user session email" (tab-separated lowercase hex, "-" for absent) in,
-- a line "variant<TAB>label<TAB>explanation" out: the label is what the
-- example nginx.conf puts in X-Rollout-Reason (plan:decide_label, the call
-- gateway.route makes, with the same attribute set), the explanation what
-- its admin location's /explain returns (plan:explain). STATE is an encoded
-- state or "-" for none (the dict holds nothing yet).
local lib, plan_file, state_text, now = arg[1], arg[2], arg[3], tonumber(arg[4])
assert(lib and plan_file and state_text and now, "usage: expect.lua LIBRARY PLAN STATE|- NOW")
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "../../bindings/lua/?.lua;" .. package.path

local rollout = require "resty.rollout"
assert(rollout.load_library(lib))
local plan = assert(rollout.load_file(plan_file))
local state
if state_text ~= "-" then state = assert(plan:decode_state(state_text)) end
local attrs = rollout.new_attrs({ "email" })

local function unhex(h)
    if h == "-" then return nil end
    return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

local out = {}
for line in io.lines() do
    local o, u, s, e = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)$")
    assert(o, "bad context line: " .. line)
    attrs:set("email", unhex(e))
    local variant, label = plan:decide_label(unhex(o), unhex(u), unhex(s), now, state, nil, attrs)
    assert(variant, label)
    local text, v2 = plan:explain(unhex(o), unhex(u), unhex(s), now, state, nil, attrs)
    assert(text and v2 == variant, v2)
    out[#out + 1] = variant .. "\t" .. label .. "\t" .. text
end
io.write(table.concat(out, "\n"), #out > 0 and "\n" or "")
