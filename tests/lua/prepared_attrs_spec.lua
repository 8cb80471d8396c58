-- SPDX-License-Identifier: MIT
-- prepared_attrs_spec.lua — a prepared attribute set whose values (or keys)
-- are numbers: each counts as its string, and the string a number becomes
-- stays alive until the decision has read it, with the collector running
-- all the time (docs/security.md, "Lua attribute sets and empty attributes").
--
-- The C module reads the set's tables per decision, so a number written
-- straight into them (a._values.email = 123457, or a key replaced by a
-- number) is converted there. The string it became was once held by a
-- popped stack slot alone, and the decision read freed memory: about 970 of
-- 1 000 answers wrong in a plain build, heap-use-after-free under ASan
-- (where ctest runs these specs with Lua 5.4 against the instrumented
-- module, and the child below inherits the preloaded sanitizer). That loop
-- runs in a fresh interpreter: the collector frees such a string within a
-- few conversions only while the heap is small, and busted's is not.
local H = require "helper"
local rollout = H.rollout

local PLAN = [[
format: 1
id: numeric-attrs
salt: numeric-attrs-salt
start: 2026-01-01T00:00:00Z
versions: {stable: a, new: b}
cohorts:
  - id: numeric
    match: {all: [{attr: k1, matches: '^1[0-9]{6}$'}, {attr: k2, matches: '^2[0-9]{6}$'},
                  {attr: k3, matches: '^3[0-9]{6}$'}, {attr: k4, matches: '^4[0-9]{6}$'},
                  {attr: k5, matches: '^5[0-9]{6}$'}, {attr: "6", equals: "600001"}]}
  - {id: everyone, match: {everyone: true}}
phases:
  - {id: n, cohort: numeric, steps: [{at: 0h, weight: 100%, unit: session}]}
  - {id: e, cohort: everyone, steps: [{at: 0h, weight: 0%, unit: session}]}
rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}
]]

-- What the child runs (and, for set(), the spec itself): 1 000 decisions
-- with every number distinct, so none finds its strings already interned,
-- and the collector made eager: a new cycle as soon as one ends, a step at
-- almost every allocation. Lua 5.4 defaults to the generational mode, where
-- these parameters do nothing. Prints "wrong N".
local LOOP = [==[
local rollout, PLAN, how = ...
local plan = assert(rollout.load_string(PLAN))
local a, set
if how == "tables" then
    a = rollout.new_attrs({ "k1", "k2", "k3", "k4", "k5", "six" })
    a[6] = 6 -- a number key: read as "6"
    set = function(k, v) a._values[k] = v end
else
    a = rollout.new_attrs({ "k1", "k2", "k3", "k4", "k5", "6" })
    set = function(k, v) a:set(k, v) end
end
collectgarbage("collect")
local restore
if _VERSION == "Lua 5.4" then
    local mode = collectgarbage("incremental", 100, 400, 5)
    restore = function()
        collectgarbage("incremental", 200, 100, 13) -- the 5.4 defaults
        collectgarbage(mode)
    end
else
    local pause, stepmul = collectgarbage("setpause", 100), collectgarbage("setstepmul", 400)
    restore = function()
        collectgarbage("setpause", pause)
        collectgarbage("setstepmul", stepmul)
    end
end
local wrong = 0
for i = 1, 1000 do
    for k = 1, 5 do set("k" .. k, k * 1000000 + i) end
    set("6", 600001)
    local d = plan:decide({ session = "s" .. i, attrs = a }, 1767229200)
    if d.cohort ~= "numeric" then wrong = wrong + 1 end
    if plan:decide_variant(nil, nil, "s" .. i, 1767229200, nil, nil, a) ~= "new" then
        wrong = wrong + 1
    end
end
restore()
return "wrong " .. wrong
]==]

describe("prepared attribute sets holding numbers (" .. H.binding .. ")", function()
    local plan = assert(rollout.load_string(PLAN))

    it("set() with numbers: each decision sees their strings", function()
        assert.are.equal("wrong 0", assert(load(LOOP))(rollout, PLAN, "set"))
        local a = rollout.new_attrs({ "k1" })
        a:set("k1", 1000001)
        assert.are.equal("1000001", a:get("k1"))
    end)

    if H.binding == "c" then
        it("numbers written into the set's tables: converted, kept alive, decided right", function()
            local interp = arg and arg[-1]
            assert(interp, "the interpreter running busted (arg[-1]) is not known")
            local script = os.tmpname()
            H.write_file(script, "local f = assert(load(" .. ("%q"):format(LOOP) .. "))\n"
                                 .. "print(f(require 'rollout', " .. ("%q"):format(PLAN)
                                 .. ", 'tables'))\nprint('done')\n")
            -- the child finds the module on LUA_CPATH, as run_busted.sh exported it
            local p = assert(io.popen(interp .. " " .. script .. " 2>&1"))
            local out = p:read("*a")
            p:close()
            os.remove(script)
            assert.are.equal("wrong 0\ndone\n", out)
        end)

        it("anything but a string or a number in the set's tables is refused", function()
            local a = rollout.new_attrs({ "k1" })
            a._values.k1 = true
            local ok, err = pcall(plan.decide_variant, plan, nil, nil, "s", 1767229200, nil, nil, a)
            assert.is_false(ok)
            assert.are.equal("bad argument #7 to 'decide_variant' (attribute set of string "
                             .. "values expected, got boolean)", err:match("bad argument.*"))
            a._values.k1 = nil
            a[1] = {}
            ok, err = pcall(plan.decide, plan, { session = "s", attrs = a }, 1767229200)
            assert.is_false(ok)
            assert.are.equal("bad argument #7 to 'decide' (attribute set of string keys "
                             .. "expected, got table)", err:match("bad argument.*"))
        end)
    end
end)
