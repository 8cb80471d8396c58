-- SPDX-License-Identifier: MIT
-- rule_reads_spec.lua — plan:rule_reads(): what a plan's cohort rules read
-- from a request (the ids of org_in / user_in, each attribute key once, in
-- plan order), which the nginx gateway uses to leave other ids unread.
-- Checked on hand-written expectations, and on every example plan against an
-- independent walk of the plan's JSON dump.
local H = require "helper"
local rollout = H.rollout

local HEAD = [[
format: 1
id: r
salt: r-salt
start: 2026-01-01T00:00:00Z
versions: {stable: a, new: b}
]]

local function reads(org, user, attrs)
    return { org = org, user = user, session = false, request = false, attrs = attrs }
end

-- The oracle: the rules of plan:dump("json"), walked as the gateway did
-- before the library said it itself.
local function walk(rule, out)
    for k, v in pairs(rule) do
        if k == "org_in" then
            out.org = true
        elseif k == "user_in" then
            out.user = true
        elseif k == "attr" then
            if not out.seen[v] then
                out.seen[v] = true
                out.attrs[#out.attrs + 1] = v
            end
        elseif k == "not" then
            walk(v, out)
        elseif k == "any" or k == "all" then
            for _, r in ipairs(v) do walk(r, out) end
        end
    end
end

local function from_dump(p)
    local out = { org = false, user = false, session = false, request = false, attrs = {},
                  seen = {} }
    for _, cohort in ipairs(H.json_decode(p:dump("json")).cohorts) do walk(cohort.match, out) end
    out.seen = nil
    return out
end

describe("plan:rule_reads (" .. H.binding .. ")", function()
    it("reads the seed plan: the org list, then email and role", function()
        assert.are.same(reads(true, false, { "email", "role" }), H.seed():rule_reads())
    end)

    it("reads nothing for a plan of everyone", function()
        local p = H.plan(HEAD .. [[
cohorts: [{id: all, match: {everyone: true}}]
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases: [{id: p, cohort: all, steps: [{at: 0, weight: 5%, unit: session}]}]
]])
        -- the step's unit (session) is not a rule's read
        assert.are.same(reads(false, false, {}), p:rule_reads())
    end)

    it("walks nested any, all and not; each key once, in plan order", function()
        local p = H.plan(HEAD .. [[
cohorts:
  - id: a
    match:
      all:
        - not: {attr: tier, equals: free}
        - any:
            - {user_in: [u-1, u-2]}
            - {attr: role, in: [ops, staff]}
            - {attr: tier, matches: '^p'}
  - id: b
    match: {not: {any: [{attr: role, equals: guest}, {all: [{attr: "ré gion", equals: eu}, {attr: email, matches: '@x\.com$'}]}]}}
  - id: c
    match: {attr: tier, in: [gold]}
  - {id: everyone, match: {everyone: true}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - {id: a, cohort: a, steps: [{at: 0, weight: 50%, unit: request}]}
  - {id: ga, cohort: everyone, steps: [{at: 0, weight: 40%, unit: org}]}
]])
        assert.are.same(reads(false, true, { "tier", "role", "r\195\169 gion", "email" }),
                        p:rule_reads())
    end)

    it("reads the org and the user where both lists appear", function()
        local p = H.plan(HEAD .. [[
cohorts:
  - {id: a, match: {any: [{not: {org_in: [o-1]}}, {user_in: [u-1]}]}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases: [{id: p, cohort: a, steps: [{at: 0, weight: 5%, unit: user}]}]
]])
        assert.are.same(reads(true, true, {}), p:rule_reads())
    end)

    it("returns a new table each call", function()
        local p = H.seed()
        local a = p:rule_reads()
        a.attrs[1], a.org = "x", false
        assert.are.same(reads(true, false, { "email", "role" }), p:rule_reads())
    end)

    it("agrees with the rules of the JSON dump on every example plan", function()
        for _, file in ipairs({ "examples/plans/seed.yaml", "examples/plans/minimal.yaml",
                                "examples/plans/windows.yaml",
                                "examples/plans/change-windows.yaml" }) do
            local p = assert(rollout.load_file(file))
            assert.are.same(from_dump(p), p:rule_reads(), file)
        end
    end)
end)
