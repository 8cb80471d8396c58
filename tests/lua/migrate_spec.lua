-- SPDX-License-Identifier: MIT
-- migrate_spec.lua — plan:migrate(state, old_plan) through the binding: a
-- state taken over by an edited plan of the same rollout keeps its status
-- (a rollback stays: every decision STABLE with the new plan), gets the
-- revision + 1 and the new plan's fingerprint; an edit that removes what
-- the state records is refused as nil, err, code.
local H = require "helper"
local rollout = H.rollout

local seed = H.seed()
local T = seed:start()
local f = assert(io.open("examples/plans/seed.yaml", "rb"))
local SEED = f:read("*a")
f:close()

local function edited(from, to)
    local i, j = SEED:find(from, 1, true)
    assert(i, from)
    return assert(rollout.load_string(SEED:sub(1, i - 1) .. to .. SEED:sub(j + 1), "edited.yaml"))
end

local function rolled_back()
    local s = assert(seed:apply(seed:new_state(), "start", T))
    return assert(seed:apply(s, { type = "rollback", reason = "critical_bug" }, T + H.HOUR))
end

describe("plan edits (" .. H.binding .. ")", function()
    it("keeps a rollback through an edit", function()
        local s = rolled_back()
        local b = edited("{at: 12h, weight: 50%, unit: user}", "{at: 12h, weight: 40%, unit: user}")
        assert.are_not.equal(seed:fingerprint(), b:fingerprint())
        local m, err = b:migrate(s, seed)
        assert.is_nil(err)
        local info, old = m:info(), s:info()
        assert.are.equal("rolling_back", info.status)
        assert.are.equal(old.revision + 1, info.revision)
        assert.are.equal(b:fingerprint(), info.fingerprint)
        assert.are.equal(old.updated_at, info.updated_at)
        assert.are.equal("critical_bug", info.rollback_reason)
        for _, org in ipairs({ "acme-corp", "globex", "initech" }) do
            for _, at in ipairs({ T + 2 * H.HOUR, T + 13 * H.HOUR, T + 6 * 86400 }) do
                local v, reason = b:decide_variant(org, "u1", "s1", at, m, nil,
                                                   { email = "ann@example.com" })
                assert.are.equal("stable", v)
                assert.are.equal("ROLLED_BACK", reason)
            end
        end
        -- bound to the new plan: the old one no longer reads it
        assert.is_truthy(b:decode_state(m:encode()))
        local _, _, code = seed:decode_state(m:encode())
        assert.are.equal("ROLLOUT_ERR_STATE_PLAN", code)
    end)

    it("returns an equal state for the same plan", function()
        local s = rolled_back()
        local again = assert(rollout.load_string(SEED, "again.yaml"))
        local m = assert(again:migrate(s, seed))
        assert.are.equal(s:encode(), m:encode())
    end)

    it("refuses an edit that removes the current gate, naming it", function()
        local s = rolled_back()
        local b = edited("id: canary-go", "id: canary-gate")
        local m, err, code = b:migrate(s, seed)
        assert.is_nil(m)
        assert.are.equal("ROLLOUT_ERR_NOT_FOUND", code)
        assert.is_truthy(err:find('gate "canary-go"', 1, true), err)
        m, err, code = edited("id: ledger-v2", "id: ledger-v3"):migrate(s, seed)
        assert.is_nil(m)
        assert.are.equal("ROLLOUT_ERR_STATE_PLAN", code)
    end)

    it("raises on wrong argument types", function()
        local s = rolled_back()
        assert.has_error(function() seed:migrate(nil, seed) end)
        assert.has_error(function() seed:migrate(s, "plan") end)
        assert.has_error(function() seed:migrate("state", seed) end)
    end)
end)
