-- SPDX-License-Identifier: MIT
-- attr_presence_spec.lua — tests/vectors/attr_presence.json, as the C and
-- Python tests read it: an attribute that is absent (left out of a plain
-- table, nil in a prepared set) against one that is the empty string, for
-- every kind of attribute rule (docs/targeting.md, "Attributes").
local H = require "helper"
local rollout = H.rollout

local V = H.read_json("tests/vectors/attr_presence.json")

describe("absent and empty attributes (" .. H.binding .. ")", function()
    local plan = assert(rollout.load_string(V.plan))
    local keys = {}
    for _, c in ipairs(V.cases) do
        if not keys[c.attr] then keys[#keys + 1], keys[c.attr] = c.attr, true end
    end

    it("every vector, with plain tables and prepared sets", function()
        assert.is_true(#V.cases >= 20)
        local prepared = rollout.new_attrs(keys)
        for i, c in ipairs(V.cases) do
            local value = c.value ~= H.null and c.value or nil
            local want = c.cohort ~= H.null and c.cohort or nil
            local what = ("case %d: %s=%s"):format(i, c.attr, tostring(value))
            prepared:clear()
            prepared:set(c.attr, value)
            for _, attrs in ipairs({ { [c.attr] = value }, prepared }) do
                local d = plan:decide({ user = V.user, attrs = attrs }, V.now)
                assert.are.equal(want, d.cohort, what)
                assert.are.equal(want and "new" or "stable",
                                 (plan:decide_variant(nil, V.user, nil, V.now, nil, nil, attrs)),
                                 what)
            end
        end
    end)
end)
