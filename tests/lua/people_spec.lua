-- SPDX-License-Identifier: MIT
-- people_spec.lua — tests/vectors/people.json, as the C and Python tests
-- read it: overrides with a reason, retry, promote, abort and the audit
-- trail, event by event; the same states and the same refusals.
local H = require "helper"
local rollout = H.rollout

local V = H.read_json("tests/vectors/people.json")

local function opt(v)
    if v == H.null then return nil end
    return v
end

local function event(e)
    local ev = { type = e.event }
    for _, k in ipairs({ "gate", "role", "override", "verdict", "reason", "confirmation", "why",
                         "by", "override_verdict", "all_phases" }) do
        ev[k] = opt(e[k])
    end
    return ev
end

describe("people in the loop (" .. H.binding .. ")", function()
    local plan = assert(rollout.load_file(V.plan))

    for _, case in ipairs(V.cases) do
        it(case.name, function()
            local s = plan:new_state()
            local n = #case.events
            for i = 1, n - 1 do
                local e = case.events[i]
                s = assert(plan:apply(s, event(e), H.time(e.at)))
            end
            local last = case.events[n]
            local nxt, msg, code = plan:apply(s, event(last), H.time(last.at))
            if case.refused then
                assert.is_nil(nxt)
                assert.are.equal(case.refused.code, code)
                assert.are.equal(case.refused.message, msg)
                return
            end
            assert.is_truthy(nxt, msg)
            local want = case.expect
            local info = nxt:info()
            assert.are.equal(want.status, info.status)
            assert.are.equal(want.attempt, info.attempt)
            assert.are.equal(want.trail_total, info.trail_total)
            local trail = plan:trail(nxt)
            assert.are.equal(#want.trail, #trail)
            for j, w in ipairs(want.trail) do
                local r = trail[j]
                assert.are.equal(H.time(w.at), r.at)
                assert.are.equal(w.kind, r.kind)
                assert.are.equal(opt(w.role), r.role)
                assert.are.equal(opt(w.gate), r.gate)
                assert.are.equal(w.attempt, r.attempt)
                assert.are.equal(w.detail, r.detail)
                assert.are.equal(w.reason, r.reason)
                assert.are.equal(w.verdict_overridden, r.verdict_overridden)
                assert.are.equal(w.all_phases, r.all_phases)
            end
            local again = assert(plan:decode_state(nxt:encode()))
            assert.are.equal(nxt:encode(), again:encode())
            for _, w in ipairs(want.weights or {}) do
                local sch = assert(plan:schedule(H.time(w.at), nxt))
                for _, cw in ipairs(sch.cohorts) do
                    assert.are.equal(w[cw.cohort], cw.weight, w.at .. " " .. cw.cohort)
                end
            end
        end)
    end

    it("reads a state of the previous format (rs1.)", function()
        local old = V.previous_format
        local s = assert(plan:decode_state(old.text))
        local info = s:info()
        assert.are.equal(old.status, info.status)
        assert.are.equal(old.revision, info.revision)
        assert.are.equal(1, info.attempt)
        assert.are.equal(0, info.trail_total)
        assert.are.equal("rs2.", s:encode():sub(1, 4))
    end)

    it("refuses a reason that is not a string", function()
        local s = plan:new_state()
        local r, msg = plan:apply(s, { type = "abort", why = 42 }, H.time("2026-02-28T09:00:00Z"))
        assert.is_nil(r)
        assert.are.equal("why must be a string", msg)
        r, msg = plan:apply(s, { type = "abort", by = "nobody" }, H.time("2026-02-28T09:00:00Z"))
        assert.is_nil(r)
        assert.are.equal('unknown role "nobody"', msg)
    end)
end)
