-- SPDX-License-Identifier: MIT
-- vectors_spec.lua — tests/vectors/bucketing.json, every case, exactly as
-- tests/c/test_bucket.c reads it: id_hex is authoritative, the text form
-- must be the same bytes, every bucket must match, and the rejected ids
-- must fail. Each case is also decided through a plan with that salt, so
-- the decision path (not just rollout_bucket) reproduces the recipe.
local H = require "helper"
local rollout = H.rollout

local vectors = H.read_json("tests/vectors/bucketing.json")

-- A YAML double-quoted scalar for any UTF-8 text (the salts include tabs,
-- spaces and non-BMP characters).
local function yaml_quote(s)
    return '"' .. s:gsub('[\\"]', "\\%0"):gsub("\t", "\\t") .. '"'
end

local plans = {}
local function plan_for(salt)
    if not plans[salt] then
        plans[salt] = H.plan(([[
format: 1
id: vectors
salt: %s
start: 2026-01-01T00:00:00Z
versions: {stable: a, new: b}
cohorts: [{id: all, match: {everyone: true}}]
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases: [{id: p, cohort: all, steps: [{at: 0, weight: 100%%, unit: user}]}]
]]):format(yaml_quote(salt)))
    end
    return plans[salt]
end

describe("bucketing vectors (" .. H.binding .. ")", function()
    it("covers what the contract promises", function()
        assert.are.equal(100000, vectors.buckets)
        assert.is_true(#vectors.cases >= 1000)
        local non_utf8, long = 0, 0
        for _, c in ipairs(vectors.cases) do
            if c.id == H.null then non_utf8 = non_utf8 + 1 end
            if #c.id_hex >= 2000 then long = long + 1 end
        end
        assert.is_true(non_utf8 > 0)
        assert.is_true(long > 0)
    end)

    it("reproduces every bucket with rollout.bucket", function()
        local mismatches = {}
        for i, c in ipairs(vectors.cases) do
            local id = H.unhex(c.id_hex)
            if c.id ~= H.null then
                -- the text and the bytes are the same id, or the Lua tests
                -- would hash something else than the C tests
                assert.are.equal(id, c.id, "case " .. i .. ": id and id_hex differ")
            end
            local b, err = rollout.bucket(c.salt, id)
            assert.is_nil(err)
            if b ~= c.bucket then
                mismatches[#mismatches + 1] = ("case %d (salt %q, id_hex %s): %s, want %d")
                    :format(i, c.salt, c.id_hex:sub(1, 40), tostring(b), c.bucket)
            end
        end
        assert.are.same({}, mismatches)
    end)

    it("reproduces every bucket through plan:decide", function()
        local t = H.time("2026-06-01T00:00:00Z")
        for i, c in ipairs(vectors.cases) do
            local plan = plan_for(c.salt)
            local variant, reason, bucket, weight = plan:decide_variant(nil, H.unhex(c.id_hex),
                                                                        nil, t)
            assert.are.equal("IN_ROLLOUT", reason, "case " .. i)
            assert.are.equal("new", variant)
            assert.are.equal(c.bucket, bucket, "case " .. i)
            assert.are.equal(100000, weight)
        end
    end)

    it("rejects the empty ids", function()
        assert.is_true(#vectors.rejected > 0)
        for _, c in ipairs(vectors.rejected) do
            assert.are.equal("ROLLOUT_ERR_ARG", c.error)
            local b, err, code = rollout.bucket(c.salt, H.unhex(c.id_hex))
            assert.is_nil(b)
            assert.are.equal("an empty id is not a unit and has no bucket", err)
            assert.are.equal("ROLLOUT_ERR_ARG", code)
            -- and an empty id in a decision means "absent"
            local variant, reason, bucket = plan_for(c.salt):decide_variant(nil, "", nil,
                H.time("2026-06-01T00:00:00Z"))
            assert.are.equal("stable", variant)
            assert.are.equal("MISSING_UNIT", reason)
            assert.is_nil(bucket)
        end
    end)

    it("matches the worked example of docs/bucketing.md", function()
        local salt = "ledger-v2-2026-02"
        assert.are.equal(82372, rollout.bucket(salt, "acme-corp"))
        assert.are.equal(47558, rollout.bucket(salt, "globex"))
        assert.are.equal(96115, rollout.bucket(salt, "alice@example.com"))
        assert.are.equal(60324, rollout.bucket(salt, "user-1"))
        assert.are.equal(86480, rollout.bucket(salt, "a"))
        -- ids are bytes: no trimming, no case folding, NUL is a byte
        assert.are_not.equal(rollout.bucket(salt, "acme-corp"), rollout.bucket(salt, "acme-corp "))
        assert.are_not.equal(rollout.bucket(salt, "acme-corp"), rollout.bucket(salt, "Acme-corp"))
        assert.are_not.equal(rollout.bucket(salt, "acme-corp"), rollout.bucket(salt, "acme-corp\0"))
    end)
end)
