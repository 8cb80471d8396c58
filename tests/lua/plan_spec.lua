-- SPDX-License-Identifier: MIT
-- plan_spec.lua — loading plans, their errors (file:line:column: field:
-- message, with the code name), read-only facts, dump round trips, and the
-- argument checks every function shares.
local H = require "helper"
local rollout = H.rollout

-- The message of an error raised by fn, without the "file:line: " prefix,
-- after checking that the prefix names this spec: an argument error must
-- point at the caller's line, not into the binding.
local function raised(fn)
    local ok, e = pcall(fn)
    assert.is_false(ok, "expected an error")
    e = tostring(e)
    local where, msg = e:match("^([^:]+:%d+): (.*)$")
    assert.is_not_nil(where, "no position in: " .. e)
    assert.is_truthy(where:find("plan_spec.lua", 1, true), "position outside the caller: " .. e)
    return msg
end

local MINIMAL = [[
format: 1
id: x
salt: s
start: 2026-01-01T00:00:00Z
versions: {stable: a, new: b}
cohorts: [{id: all, match: {everyone: true}}]
phases: [{id: p, cohort: all, steps: [{at: 0, weight: 5%, unit: user}]}]
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
]]

describe("plans (" .. H.binding .. ")", function()
    it("knows its versions", function()
        assert.are.equal("0.1.0", rollout._VERSION)
        assert.are.equal("0.1.0", rollout.library_version())
        assert.is_true(rollout.load_library())   -- already loaded (or linked): fine
    end)

    it("reads the seed plan's facts", function()
        local p = H.seed()
        assert.are.equal("ledger-v2", p:id())
        assert.are.equal(H.time("2026-02-28T09:00:00Z"), p:start())
        assert.are.equal("app:previous", p:version_label("stable"))
        assert.are.equal("app:candidate", p:version_label("new"))
        assert.are.same({ "internal", "pilot", "everyone" }, p:cohorts())
        assert.are.same({ "canary", "pilot", "ga" }, p:phases())
        assert.are.same({ "canary-go", "pilot-go", "ga-day2-go", "ga-day3-go", "ga-day4-go" },
                        p:gates())
        assert.are.same({ "engineering-lead", "product-lead", "sre-lead", "engineering", "product",
                          "sre", "on-call-sre", "support", "comms" }, p:roles())
        assert.are.equal("rollout.plan: ledger-v2", tostring(p))
        local fp = p:fingerprint()
        assert.are.equal(16, #fp)
        assert.is_truthy(fp:match("^%x+$"))
    end)

    it("has the seed plan compiled in", function()
        assert.are.equal(H.read_file("examples/plans/seed.yaml"), rollout.seed_plan())
        local a = H.seed()
        local b = assert(rollout.load_string(rollout.seed_plan(), "<seed>"))
        assert.are.equal(a:fingerprint(), b:fingerprint())
    end)

    it("dumps YAML and JSON that load back as the same plan", function()
        for _, file in ipairs({ "examples/plans/seed.yaml", "examples/plans/minimal.yaml",
                                "examples/plans/windows.yaml" }) do
            local p = assert(rollout.load_file(file))
            for _, format in ipairs({ "yaml", "json" }) do
                local text = p:dump(format)
                local q = assert(rollout.load_string(text))
                assert.are.equal(p:fingerprint(), q:fingerprint(), file .. " as " .. format)
                assert.are.equal(text, q:dump(format))
            end
            assert.are.equal(p:dump("yaml"), p:dump())
            assert.are.equal("{", p:dump("json"):sub(1, 1))
        end
    end)

    it("gives different plans different fingerprints", function()
        local a = H.plan(MINIMAL)
        local b = H.plan((MINIMAL:gsub("5%%", "6%%")))
        assert.are_not.equal(a:fingerprint(), b:fingerprint())
    end)

    describe("load errors", function()
        local cases = {
            { "format: 1\nid: x\n", nil,
              "<buffer>:1:1: missing required key \"salt\"", "ROLLOUT_ERR_MISSING" },
            { "format: 1\nid: [x\n", "broken.yaml",
              "broken.yaml:3:1: did not find expected ',' or ']' while parsing a flow sequence that starts at line 2",
              "ROLLOUT_ERR_SYNTAX" },
            { "", nil, "<buffer>: the plan is empty (a plan starts with \"format: 1\")", "ROLLOUT_ERR_EMPTY" },
            { "format: 2\n", nil,
              "<buffer>:1:9: format: plan format 2 is not supported (this library reads format 1)",
              "ROLLOUT_ERR_UNSUPPORTED" },
            { (MINIMAL:gsub("at: 0", "at: 4x")), "plan.yaml",
              "plan.yaml:7:44: phases[0].steps[0].at: \"4x\" is not a duration (write 90m, 4h, 2d)",
              "ROLLOUT_ERR_VALUE" },
            { (MINIMAL:gsub("cohort: all", "cohort: nobody")), nil,
              "<buffer>:7:26: phases[0].cohort: cohort \"nobody\" is not defined under cohorts:",
              "ROLLOUT_ERR_REFERENCE" },
        }
        for i, c in ipairs(cases) do
            it("case " .. i .. " (" .. c[4] .. ")", function()
                local p, err, code = rollout.load_string(c[1], c[2])
                assert.is_nil(p)
                assert.are.equal(c[3], err)
                assert.are.equal(c[4], code)
            end)
        end

        it("names a file it cannot read", function()
            local p, err, code = rollout.load_file("tests/lua/no-such-plan.yaml")
            assert.is_nil(p)
            assert.are.equal("tests/lua/no-such-plan.yaml: cannot open: No such file or directory", err)
            assert.are.equal("ROLLOUT_ERR_IO", code)
        end)

        it("reports errors of plan files with their name", function()
            local dir = os.tmpname()
            H.write_file(dir, (MINIMAL:gsub("weight: 5%%", "weight: 101%%")))
            local p, err, code = rollout.load_file(dir)
            os.remove(dir)
            assert.is_nil(p)
            assert.are.equal("ROLLOUT_ERR_RANGE", code)
            assert.are.equal(dir .. ":7:55: ", err:sub(1, #dir + 7))
        end)
    end)

    describe("argument checks raise at the caller's line", function()
        local p = H.plan(MINIMAL)
        it("load_file, load_string, bucket", function()
            assert.are.equal("bad argument #1 to 'load_string' (string expected, got nil)",
                             raised(function() local r = rollout.load_string(nil) return r end))
            assert.are.equal("bad argument #1 to 'load_file' (string expected, got table)",
                             raised(function() local r = rollout.load_file({}) return r end))
            assert.are.equal("bad argument #2 to 'bucket' (string expected, got boolean)",
                             raised(function() local r = rollout.bucket("s", true) return r end))
        end)
        it("plan methods", function()
            assert.are.equal("bad argument #1 to 'dump' (\"yaml\" or \"json\" expected)",
                             raised(function() local r = p:dump("xml") return r end))
            assert.are.equal("bad argument #1 to 'version_label' (\"stable\" or \"new\" expected)",
                             raised(function() local r = p:version_label("old") return r end))
            assert.are.equal("bad argument #1 to 'decide_variant' (string expected, got boolean)",
                             raised(function() local r = p:decide_variant(true, nil, nil, 0) return r end))
            assert.are.equal("bad argument #4 to 'decide_variant' (number expected, got string)",
                             raised(function() local r = p:decide_variant(nil, nil, nil, "now") return r end))
            assert.are.equal("bad argument #4 to 'decide_variant' (time out of range)",
                             raised(function() local r = p:decide_variant(nil, nil, nil, 0 / 0) return r end))
            assert.are.equal("bad argument #5 to 'decide_variant' (rollout state expected, got string)",
                             raised(function() local r = p:decide_variant(nil, nil, nil, 0, "rs1.x") return r end))
            assert.are.equal("bad argument #1 to 'decide' (string expected, got boolean)",
                             raised(function() local r = p:decide({ org = true }, 0) return r end))
            assert.are.equal("bad argument #7 to 'explain' (table of string keys expected, got number)",
                             raised(function() local r = p:explain({ org = "a", attrs = { "x" } }, 0) return r end))
            assert.are.equal("bad argument #7 to 'explain' (table of string values expected, got boolean)",
                             raised(function() local r = p:explain("a", nil, nil, 0, nil, nil, { a = true }) return r end))
            assert.are.equal("bad argument #7 to 'explain' (table expected, got string)",
                             raised(function() local r = p:explain("a", nil, nil, 0, nil, nil, "x") return r end))
            assert.are.equal("bad argument #1 to 'schedule' (number expected, got string)",
                             raised(function() local r = p:schedule("x") return r end))
            assert.are.equal("bad argument #2 to 'schedule' (rollout state expected, got table)",
                             raised(function() local r = p:schedule(0, {}) return r end))
            assert.are.equal("bad argument #1 to 'apply' (rollout state expected, got nil)",
                             raised(function() local r = p:apply(nil, "start", 0) return r end))
            assert.are.equal("bad argument #3 to 'apply' (number expected, got string)",
                             raised(function() local r = p:apply(p:new_state(), "start", "now") return r end))
            assert.are.equal("bad argument #1 to 'calendar' (rollout state expected, got number)",
                             raised(function() local r = p:calendar(1) return r end))
            assert.are.equal("bad argument #1 to 'evaluate' (invalid option 'planet')",
                             raised(function() local r = p:evaluate("planet", nil, {}) return r end))
            assert.are.equal("bad argument #3 to 'evaluate' (table or string expected, got number)",
                             raised(function() local r = p:evaluate("phase", "p", 5) return r end))
        end)
        it("attribute sets", function()
            local a = rollout.new_attrs({ "email" })
            assert.are.equal("bad argument #1 to 'set' (unknown attribute key \"role\")",
                             raised(function() local r = a:set("role", "x") return r end))
            assert.are.equal("bad argument #2 to 'set' (string expected, got table)",
                             raised(function() local r = a:set("email", {}) return r end))
            assert.are.equal("bad argument #1 to 'new_attrs' (distinct non-empty string keys expected)",
                             raised(function() local r = rollout.new_attrs({ "a", "a" }) return r end))
            assert.are.equal("bad argument #1 to 'new_attrs' (distinct non-empty string keys expected)",
                             raised(function() local r = rollout.new_attrs({ "" }) return r end))
            local many = {}
            for i = 1, 33 do many[i] = "k" .. i end
            assert.are.equal("bad argument #1 to 'new_attrs' (more than 32 attributes)",
                             raised(function() local r = rollout.new_attrs(many) return r end))
        end)
    end)
end)
