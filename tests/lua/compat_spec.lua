-- SPDX-License-Identifier: MIT
-- compat_spec.lua — tests/vectors/compat/vectors.json (the peer SDKs' own
-- answers), as tests/c/test_bucket_compat.c reads it: every id of every
-- mode through rollout.bucket_with, and a sample through plan:decide_variant
-- on a plan in that mode at 25 %.
local H = require "helper"
local rollout = H.rollout

local vectors = H.read_json("tests/vectors/compat/vectors.json")
local weights = vectors.weights
local ids = {}
for i, v in ipairs(vectors.ids) do
    ids[i] = type(v) == "table" and H.unhex(v.hex) or v
end

local function first_in(b)
    for k, w in ipairs(weights) do
        if b < w then return k - 1 end -- 0-based, as the file counts
    end
    return #weights
end

describe("compatibility bucketing vectors (" .. H.binding .. ")", function()
    it("covers what it should", function()
        assert.is_true(#ids >= 10000)
        assert.are.equal(5, #vectors.modes)
        assert.are.equal(0, weights[1])
        assert.are.equal(100000, weights[#weights])
    end)

    for _, mode in ipairs(vectors.modes) do
        it("agrees with " .. mode.peer .. " " .. mode.version .. " (" .. mode.hash .. ")",
            function()
            local mismatches = {}
            for i, id in ipairs(ids) do
                local want = mode.first_in[i]
                if id == "" then
                    assert.are.equal(#weights, want)
                    local b, err, code = rollout.bucket_with(mode.hash, mode.key, id)
                    assert.is_nil(b)
                    assert.are.equal("ROLLOUT_ERR_ARG", code)
                else
                    local b, err = rollout.bucket_with(mode.hash, mode.key, id)
                    assert.is_nil(err)
                    if first_in(b) ~= want and #mismatches < 5 then
                        mismatches[#mismatches + 1] = ("id %d: bucket %d, SDK from index %d")
                            :format(i, b, want)
                    end
                end
            end
            assert.are.same({}, mismatches)
        end)

        it("decides as " .. mode.hash .. " through a plan", function()
            local plan = H.plan(([[
format: 1
id: compat
salt: s1
start: 2026-01-01T00:00:00Z
bucketing: {hash: %s, key: "%s"}
versions: {stable: a, new: b}
cohorts: [{id: all, match: {everyone: true}}]
rollback: {deadline: 30m, procedure: [{id: halt, action: halt_traffic}]}
phases: [{id: p, cohort: all, steps: [{at: 0, weight: 25%%, unit: user}]}]
]]):format(mode.hash, mode.key))
            assert.are.equal(mode.hash, plan:hash())
            local k = 0
            while weights[k + 1] ~= 25000 do k = k + 1 end
            local t = H.time("2026-06-01T00:00:00Z")
            for i = 1, 500 do
                if ids[i] ~= "" then
                    local variant, reason, bucket = plan:decide_variant(nil, ids[i], nil, t)
                    local want = mode.first_in[i] <= k
                    assert.are.equal(want and "new" or "stable", variant, "id " .. i)
                    assert.are.equal(rollout.bucket_with(mode.hash, mode.key, ids[i]), bucket)
                end
            end
        end)
    end

    it("names the default", function()
        assert.are.equal(82372, rollout.bucket_with("xxh3", "ledger-v2-2026-02", "acme-corp"))
        local b, err = rollout.bucket_with("murmur", "k", "a")
        assert.is_nil(b)
        assert.are.equal("unknown bucket function", err)
    end)
end)
