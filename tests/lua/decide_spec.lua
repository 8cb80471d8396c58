-- SPDX-License-Identifier: MIT
-- decide_spec.lua — decisions on the seed plan at known moments, every
-- reason, the three call forms (decide_variant, decide, explain), request
-- attributes (plain tables and prepared sets), ids as bytes, and states of
-- another plan. Expected buckets come from docs/bucketing.md's worked
-- example, expected texts from rollout_explain.
local H = require "helper"
local rollout = H.rollout

local SALT = "ledger-v2-2026-02"
local seed = H.seed()
local T = seed:start()

-- The seed with the canary gate passed on time (T+2h): the pilot ramps at
-- T+4h, 6h, 12h, 24h.
local function canary_passed(plan)
    local s = assert(plan:apply(plan:new_state(), "start", T))
    s = assert(plan:apply(s, { type = "approve", role = "engineering-lead" }, T + 2 * H.HOUR))
    s = assert(plan:apply(s, { type = "approve", role = "product-lead" }, T + 2 * H.HOUR))
    s = assert(plan:apply(s, { type = "verdict", verdict = "PASS" }, T + 2 * H.HOUR))
    s = assert(plan:apply(s, "go", T + 2 * H.HOUR))
    return s
end
local passed = canary_passed(seed)

describe("decisions (" .. H.binding .. ")", function()
    it("before the start: NOT_STARTED for everyone", function()
        local v, reason, bucket, weight = seed:decide_variant("acme-corp", "user-1", "s1", T - 1)
        assert.are.same({ "stable", "NOT_STARTED", nil, 0 }, { v, reason, bucket, weight })
        assert.are.equal("the rollout has not started; every request gets the stable version",
                         (seed:explain(nil, nil, "s1", T - 1, nil, nil, { role = "staff" })))
    end)

    it("internal staff get the canary by session", function()
        local at = T + H.HOUR
        local want = rollout.bucket(SALT, "s1")
        assert.are.equal(83206, want)
        local v, reason, bucket, weight = seed:decide_variant(nil, nil, "s1", at, nil, nil,
                                                              { email = "bob@example.com" })
        assert.are.same({ "new", "IN_ROLLOUT", 83206, 100000 }, { v, reason, bucket, weight })
        local d = seed:decide({ session = "s1", attrs = { role = "staff" } }, at)
        assert.are.same({ variant = "new", version = "app:candidate", reason = "IN_ROLLOUT",
                          cohort = "internal", phase = "canary", step = 1, unit = "session",
                          bucket = 83206, weight = 100000, percent = 100 }, d)
        local text, variant, r = seed:explain({ session = "s1", attrs = { role = "superuser" } }, at)
        assert.are.equal("session s1 is in cohort internal; bucket 83 206 < weight 100 000 at step 1 of phase canary", text)
        assert.are.equal("new", variant)
        assert.are.equal("IN_ROLLOUT", r)
    end)

    it("decide_label: the variant and a short label, the same string each time", function()
        local at = T + H.HOUR
        assert.are.same({ "new", "IN_ROLLOUT cohort=internal phase=canary step=1 unit=session" },
                        { seed:decide_label(nil, nil, "s1", at, nil, nil, { role = "staff" }) })
        assert.are.same({ "stable", "MISSING_UNIT cohort=internal phase=canary step=1 unit=session" },
                        { seed:decide_label(nil, nil, nil, at, nil, nil, { role = "staff" }) })
        assert.are.same({ "stable", "PHASE_NOT_STARTED cohort=pilot phase=pilot" },
                        { seed:decide_label("acme-corp", "user-1", nil, T + 5 * H.HOUR) })
        assert.are.same({ "stable", "NOT_STARTED" }, { seed:decide_label("acme-corp", "u", "s", T - 1) })
        -- the label leaves out the id and its bucket: many units, one label
        local a = rollout.new_attrs({ "role" })
        a:set("role", "staff")
        local seen = {}
        for i = 1, 50 do
            local v, label = seed:decide_label(nil, nil, "s" .. i, at, nil, nil, a)
            seen[label] = (seen[label] or 0) + 1
        end
        assert.are.same({ ["IN_ROLLOUT cohort=internal phase=canary step=1 unit=session"] = 50 }, seen)
        for _, c in ipairs({ { "acme-corp", "user-1", T + 5 * H.HOUR, passed },
                             { "globex", "user-1", T + 25 * H.HOUR, passed },
                             { "other-org", "user-9", T + 40 * H.DAY, passed } }) do
            local d = seed:decide(c[1], c[2], nil, c[3], c[4])
            assert.are.same({ d.variant, H.label_of(d) },
                            { seed:decide_label(c[1], c[2], nil, c[3], c[4]) })
        end
        assert.are.equal("bad argument #4 to 'decide_label' (number expected, got string)",
                         select(2, pcall(seed.decide_label, seed, nil, nil, nil, "now")):match("bad argument.*"))
    end)

    if H.binding == "ffi" then
        it("decide_label_raw (LuaJIT): a context of pointers and lengths, as decide_label", function()
            local ffi = require "ffi"
            local c = rollout.new_context()
            -- ids given as (pointer, length) into a larger buffer: no terminating NUL
            local buf = "acme-corpuser-1s1xstaff"
            local p = ffi.cast("const char *", buf)
            local attr = ffi.new("rollout_attr[1]")
            local key = "role"
            attr[0].key, attr[0].key_len, attr[0].value, attr[0].value_len = key, 4, p + 18, 5
            c.org, c.org_len, c.user, c.user_len, c.session, c.session_len = p, 9, p + 9, 6, p + 15, 2
            for _, at in ipairs({ T - 1, T + H.HOUR, T + 5 * H.HOUR, T + 25 * H.HOUR, T + 40 * H.DAY }) do
                c.attrs, c.n_attrs = attr, 1
                assert.are.same({ seed:decide_label("acme-corp", "user-1", "s1", at, passed, nil, { role = "staff" }) },
                                { seed:decide_label_raw(c, at, passed) })
                c.attrs, c.n_attrs = nil, 0
                assert.are.same({ seed:decide_label("acme-corp", "user-1", "s1", at, passed) },
                                { seed:decide_label_raw(c, at, passed) })
            end
            c.org, c.org_len = nil, 0
            assert.are.same({ "stable", "NOT_STARTED" }, { seed:decide_label_raw(c, T - 1) })
            local other = H.plan(H.read_file("examples/plans/minimal.yaml"))
            assert.are.same({ nil, "the state belongs to another plan", "ROLLOUT_ERR_STATE_PLAN" },
                            { seed:decide_label_raw(c, T, other:new_state()) })
            assert.has_error(function() seed:decide_label_raw(c, "now") end)
        end)

        it("decide_label_raw (LuaJIT): names the unit a MISSING_UNIT decision lacks", function()
            local p = H.plan([[
format: 1
id: units
salt: units-salt
start: 2020-01-01T00:00:00Z
versions: {stable: v1, new: v2}
cohorts:
  - {id: pilot, match: {org_in: [acme]}}
  - {id: everyone, match: {everyone: true}}
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - {id: pilot, cohort: pilot, steps: [{at: 0, weight: 100%, unit: session}]}
  - {id: ga, cohort: everyone, steps: [{at: 0, weight: 50%, unit: request}]}
bake: {duration: 3650d}
]])
            local now = 1700000000
            local c = rollout.new_context()
            c.org, c.org_len = "acme", 4
            local r = { p:decide_label_raw(c, now) }
            assert.are.same({ "stable", "MISSING_UNIT cohort=pilot phase=pilot step=1 unit=session",
                              "session" }, r)
            c.session, c.session_len = "s-1", 3
            r = { p:decide_label_raw(c, now) }
            assert.are.same({ p:decide_label("acme", nil, "s-1", now) }, r)
            assert.are.same({ "new", "IN_ROLLOUT cohort=pilot phase=pilot step=1 unit=session" }, r)
            c.org, c.org_len = "other", 5
            assert.are.same({ "stable", "MISSING_UNIT cohort=everyone phase=ga step=1 unit=request",
                              "request" }, { p:decide_label_raw(c, now) })
            c.request, c.request_len = "r-1", 3
            r = { p:decide_label_raw(c, now) }
            assert.are.equal(2, #r)
            assert.are.same({ p:decide_label("other", nil, "s-1", now, nil, "r-1") }, r)
            -- a rolled-back state decides without any unit
            local started = assert(p:apply(p:new_state(), "start", now))
            local s = assert(p:apply(started, { type = "rollback" }, now))
            c.request, c.request_len = nil, 0
            assert.are.same({ "stable", "ROLLED_BACK" }, { p:decide_label_raw(c, now, s) })
        end)
    end

    it("a step's unit missing from the request: MISSING_UNIT", function()
        local d = seed:decide({ attrs = { role = "staff" } }, T + H.HOUR)
        assert.are.same({ variant = "stable", version = "app:previous", reason = "MISSING_UNIT",
                          cohort = "internal", phase = "canary", step = 1, unit = "session",
                          weight = 100000, percent = 100 }, d)
        assert.are.equal("the request is in cohort internal, which buckets by session at step 1 of phase canary, but it has no session id; stable version",
                         (seed:explain({ session = "", attrs = { role = "staff" } }, T + H.HOUR)))
    end)

    it("without a state the pilot waits for the canary gate: PHASE_NOT_STARTED", function()
        local d = seed:decide("acme-corp", "user-1", nil, T + 5 * H.HOUR)
        assert.are.same({ variant = "stable", version = "app:previous",
                          reason = "PHASE_NOT_STARTED", cohort = "pilot", phase = "pilot",
                          weight = 0, percent = 0 }, d)
        assert.are.equal("the request is in cohort pilot, whose phase pilot has not begun; weight 0, stable version",
                         (seed:explain("acme-corp", "user-1", nil, T + 5 * H.HOUR)))
    end)

    it("pilot users by bucket once the canary gate has its GO", function()
        assert.are.equal(60324, rollout.bucket(SALT, "user-1"))
        local cases = {
            { 4 * H.HOUR - 1, "stable", "PHASE_NOT_STARTED", nil, 0, nil },
            { 4 * H.HOUR, "stable", "OUT_OF_ROLLOUT", 60324, 10000, 1 },
            { 6 * H.HOUR, "stable", "OUT_OF_ROLLOUT", 60324, 25000, 2 },
            { 12 * H.HOUR, "stable", "OUT_OF_ROLLOUT", 60324, 50000, 3 },
            { 24 * H.HOUR, "new", "IN_ROLLOUT", 60324, 100000, 4 },
        }
        for _, c in ipairs(cases) do
            local v, reason, bucket, weight = seed:decide_variant("globex", "user-1", "s", T + c[1],
                                                                  passed)
            assert.are.same({ c[2], c[3], c[4], c[5] }, { v, reason, bucket, weight },
                            "at T+" .. c[1])
            assert.are.equal(c[6], seed:decide("globex", "user-1", "s", T + c[1], passed).step)
        end
        assert.are.equal("user user-1 is in cohort pilot; bucket 60 324 >= weight 10 000 at step 1 of phase pilot",
                         (seed:explain("acme-corp", "user-1", nil, T + 5 * H.HOUR, passed)))
        assert.are.equal("user user-1 is in cohort pilot; bucket 60 324 < weight 100 000 at step 4 of phase pilot",
                         (seed:explain("acme-corp", "user-1", nil, T + 25 * H.HOUR, passed)))
    end)

    it("everyone else waits for GA", function()
        local d = seed:decide("initech", "u", "s", T + 25 * H.HOUR, passed)
        assert.are.equal("PHASE_NOT_STARTED", d.reason)
        assert.are.equal("everyone", d.cohort)
        assert.are.equal("ga", d.phase)
    end)

    it("ids are bytes: no trimming, case folding or NUL termination", function()
        local at = T + 25 * H.HOUR
        assert.are.equal("pilot", seed:decide("acme-corp", "u", nil, at, passed).cohort)
        assert.are.equal("everyone", seed:decide("acme-corp\0", "u", nil, at, passed).cohort)
        assert.are.equal("everyone", seed:decide("Acme-corp", "u", nil, at, passed).cohort)
        assert.are.equal("everyone", seed:decide("acme-corp ", "u", nil, at, passed).cohort)
        -- numbers are ids written as tostring writes them
        assert.are.same(seed:decide("globex", "42", nil, at, passed),
                        seed:decide("globex", 42, nil, at, passed))
        -- an empty id is an absent one
        assert.are.equal("MISSING_UNIT", seed:decide("globex", "", nil, at, passed).reason)
    end)

    it("explanations escape control bytes and cut long ids", function()
        local at = T + 25 * H.HOUR
        local text = seed:explain("globex", "a\tb\nc", nil, at, passed)
        assert.are.equal("user a\\x09b\\x0ac is in cohort pilot; bucket ", text:sub(1, 44))
        local long = ("x"):rep(100)
        text = seed:explain("globex", long, nil, at, passed)
        assert.are.equal("user " .. ("x"):rep(64) .. "... is in cohort pilot", text:sub(1, 91))
    end)

    it("a rollback sends everyone to stable", function()
        local s = assert(seed:apply(passed, { type = "rollback", reason = "critical_bug" },
                                    T + 30 * H.HOUR))
        for _, ctx in ipairs({ { org = "globex", user = "user-1" }, { session = "s1", attrs = { role = "staff" } },
                               { org = "x", user = "y", session = "z" } }) do
            local d = seed:decide(ctx, T + 31 * H.HOUR, s)
            assert.are.same({ variant = "stable", version = "app:previous", reason = "ROLLED_BACK",
                              weight = 0, percent = 0 }, d)
        end
        assert.are.equal("the rollout is rolled back (or rolling back); every request gets the stable version",
                         (seed:explain("globex", "user-1", nil, T + 31 * H.HOUR, s)))
    end)

    it("a halt sends everyone to stable until resumed", function()
        local p = H.plan([[
format: 1
id: halting
salt: halting-salt
start: 2026-01-01T00:00:00Z
versions: {stable: a, new: b}
roles: {lead: Lead}
cohorts: [{id: all, match: {everyone: true}}]
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases:
  - id: p
    cohort: all
    steps:
      - {at: 0, weight: 100%, unit: user, gate: {id: g, at: 1h, approvers: [lead], on_no_go: halt}}
      - {at: 2h, weight: 100%, unit: org}
]])
        local t0 = p:start()
        local s = assert(p:apply(p:new_state(), "start", t0))
        assert.are.equal("new", (p:decide_variant(nil, "u", nil, t0 + 60, s)))
        local halted, actions = p:apply(s, "no_go", t0 + H.HOUR)
        assert.are.equal("halted", halted:status())
        assert.are.equal("halt_traffic", actions[#actions].type)
        assert.are.same({ "stable", "HALTED", nil, 0 }, { p:decide_variant(nil, "u", nil, t0 + H.HOUR, halted) })
        assert.are.equal("traffic to the new version is halted; every request gets the stable version",
                         (p:explain(nil, "u", nil, t0 + H.HOUR, halted)))
        local resumed = assert(p:apply(halted, "resume", t0 + H.HOUR + 60))
        assert.are.equal("new", (p:decide_variant(nil, "u", nil, t0 + H.HOUR + 60, resumed)))
    end)

    it("a request no cohort matches: NO_COHORT", function()
        local p = H.plan([[
format: 1
id: nocohort
salt: nc
start: 2026-01-01T00:00:00Z
versions: {stable: a, new: b}
cohorts: [{id: vip, match: {org_in: [vip]}}]
rollback: {deadline: 30m, procedure: [{id: restore, action: restore_previous}]}
phases: [{id: p, cohort: vip, steps: [{at: 0, weight: 100%, unit: org}]}]
]])
        local d = p:decide("other", "u", "s", p:start())
        assert.are.same({ variant = "stable", version = "a", reason = "NO_COHORT", weight = 0, percent = 0 }, d)
        assert.are.equal("no cohort matches the request; it stays on the stable version",
                         (p:explain("other", "u", "s", p:start())))
        assert.are.equal("new", p:decide("vip", nil, nil, p:start()).variant)
    end)

    it("refuses a state of another plan", function()
        local other = H.plan(H.read_file("examples/plans/minimal.yaml"))
        local s = other:new_state()
        for _, call in ipairs({
            function() return seed:decide_variant("a", "b", "c", T, s) end,
            function() return seed:decide("a", "b", "c", T, s) end,
            function() return seed:explain({ org = "a" }, T, s) end,
        }) do
            local r, err, code = call()
            assert.is_nil(r)
            assert.are.equal("the state belongs to another plan", err)
            assert.are.equal("ROLLOUT_ERR_STATE_PLAN", code)
        end
    end)

    describe("request attributes", function()
        local at = T + H.HOUR
        it("in a plain table, strings or numbers", function()
            assert.are.equal("internal", seed:decide({ session = "s", attrs = { role = "staff" } }, at).cohort)
            assert.are.equal("internal", seed:decide({ session = "s", attrs = { email = "x@example.com", country = 49 } }, at).cohort)
            assert.are.equal("everyone", seed:decide({ session = "s", attrs = { email = "x@example.com.evil" } }, at).cohort)
            assert.are.equal("everyone", seed:decide({ session = "s", attrs = {} }, at).cohort)
            local many = {}
            for i = 1, 33 do many["k" .. i] = "v" end
            assert.has_error(function() seed:decide({ session = "s", attrs = many }, at) end)
        end)

        it("in a prepared set: keys fixed, values per request, nil absent", function()
            local a = rollout.new_attrs({ "email", "role" })
            assert.is_nil(a:get("email"))
            assert.are.equal("everyone", seed:decide({ session = "s", attrs = a }, at).cohort)
            a:set("role", "staff")
            assert.are.equal("staff", a:get("role"))
            assert.are.equal("internal", seed:decide({ session = "s", attrs = a }, at).cohort)
            assert.are.same({ "new", "IN_ROLLOUT", 83206, 100000 },
                            { seed:decide_variant(nil, nil, "s1", at, nil, nil, a) })
            a:set("role", nil)
            assert.are.equal("everyone", seed:decide({ session = "s", attrs = a }, at).cohort)
            a:set("email", "ops@example.com")
            assert.are.equal("internal", seed:decide({ session = "s", attrs = a }, at).cohort)
            a:clear()
            assert.is_nil(a:get("email"))
            assert.are.equal("everyone", seed:decide({ session = "s", attrs = a }, at).cohort)
            a:set("role", 7)
            assert.are.equal("7", a:get("role"))
        end)
    end)
end)
