-- SPDX-License-Identifier: MIT
-- state_spec.lua — the state machine through the binding: events by name,
-- actions as tables (exact, in order), states that are new objects, the
-- text form (round trip, corruption, another plan), and refused events.
local H = require "helper"
local rollout = H.rollout

local seed = H.seed()
local T = seed:start()

describe("states and events (" .. H.binding .. ")", function()
    it("starts not started, revision 0, bound to the plan", function()
        local s = seed:new_state()
        assert.are.equal("not_started", s:status())
        assert.are.equal(0, s:revision())
        assert.are.equal("rollout.state: not_started", tostring(s))
        local info = s:info()
        assert.are.same({ status = "not_started", revision = 0, fingerprint = seed:fingerprint(),
                          gate = 1, pauses = 0, attempt = 1, trail_total = 0 }, info)
    end)

    it("gives every weight its percent beside the exact units (0.001 %)", function()
        local s = seed:apply(seed:new_state(), "start", T)
        local sch = seed:schedule(T + 6 * H.HOUR + 1, s)
        local done = 0
        for _, c in pairs(sch.cohorts) do
            assert.are.equal(c.weight / 1000, c.percent)
            done = done + 1
        end
        assert.are.equal(3, done)
        for _, e in ipairs(seed:calendar()) do
            if e.weight then assert.are.equal(e.weight / 1000, e.percent) end
        end
        local d = seed:decide({ session = "s1", attrs = { role = "staff" } }, T + H.HOUR, s)
        assert.are.same({ 100000, 100 }, { d.weight, d.percent })
    end)

    it("runs the seed's canary and its gate, action by action", function()
        local s0 = seed:new_state()
        local s1, a1 = seed:apply(s0, "start", T)
        assert.are.equal("running", s1:status())
        assert.are.equal(1, s1:revision())
        assert.are.same({
            { type = "notify", id = "canary-start", channel = "slack", audience = "team",
              roles = { "engineering" }, text = "Slack notification to team" },
            { type = "set_weight", cohort = "internal", weight = 100000, percent = 100,
              unit = "session", id = "internal" },
        }, a1)
        -- the given state is not changed: apply returns a new one
        assert.are.equal("not_started", s0:status())

        local s2, a2 = seed:apply(s1, "tick", T + 2 * H.HOUR)
        assert.are.equal("awaiting_gate", s2:status())
        assert.are.same({
            { type = "gate_due", gate = "canary-go", id = "canary-go", due = T + 2 * H.HOUR,
              roles = { "engineering-lead", "product-lead" } },
        }, a2)

        -- GO needs both approvals and a PASS first
        local r, err, code = seed:apply(s2, "go", T + 2 * H.HOUR)
        assert.is_nil(r)
        assert.are.equal("ROLLOUT_ERR_TRANSITION", code)
        assert.are.equal("gate \"canary-go\" still needs the approval of \"engineering-lead\"", err)

        local s3 = assert(seed:apply(s2, { type = "approve", role = "engineering-lead" }, T + 2 * H.HOUR))
        local s4 = assert(seed:apply(s3, { type = "approve", gate = "canary-go", role = "product-lead" }, T + 2 * H.HOUR))
        r, err, code = seed:apply(s4, "go", T + 2 * H.HOUR)
        assert.are.equal("gate \"canary-go\" needs a PASS verdict first (last: none)", err)
        local s5, a5 = seed:apply(s4, { type = "verdict", verdict = "pass" }, T + 2 * H.HOUR)
        assert.are.same({}, a5)
        assert.are.equal("PASS", s5:info().last_verdict)
        local s6, a6 = seed:apply(s5, "go", T + 2 * H.HOUR)
        assert.are.equal("running", s6:status())
        assert.are.same({}, a6)
        assert.are.equal(2, s6:info().gate)   -- pilot-go is next

        local s7, a7 = seed:apply(s6, "tick", T + 4 * H.HOUR)
        assert.are.same({
            { type = "notify", id = "pilot-start", channel = "email+in-app-banner",
              audience = "pilot-orgs", roles = { "product" }, text = "Email to pilot orgs + in-app banner" },
            { type = "set_weight", cohort = "pilot", weight = 10000, percent = 10, unit = "user",
              id = "pilot" },
        }, a7)
        assert.are.equal(7, s7:revision())
    end)

    it("runs the rollback procedure step by step", function()
        local s = assert(seed:apply(seed:new_state(), "start", T))
        local rb, acts = seed:apply(s, { type = "rollback", reason = "error_rate" }, T + H.HOUR)
        assert.are.equal("rolling_back", rb:status())
        assert.are.same({
            { type = "notify", id = "rollback", channel = "emergency", audience = "affected-users",
              roles = { "product", "comms" }, text = "Emergency notification to all affected users" },
            { type = "page", id = "page", roles = { "product", "on-call-sre" },
              text = "Page on-call SRE + Product" },
            { type = "halt_traffic", id = "halt",
              text = "Halt traffic to new version (kill canary, revert traffic split)" },
        }, acts)
        local info = rb:info()
        assert.are.equal("error_rate", info.rollback_reason)
        assert.are.equal(T + H.HOUR, info.rollback_started_at)

        local r, err, code = seed:apply(rb, { type = "confirm", confirmation = "smoke_passed" }, T + H.HOUR)
        assert.is_nil(r)
        assert.are.equal("ROLLOUT_ERR_TRANSITION", code)
        assert.are.equal("smoke_passed does not confirm the step the rollback waits for (halt)", err)

        local steps = {
            { "traffic_halted", { { type = "restore_previous", id = "restore", label = "app:previous",
                                    text = "Restart previous approved version from container registry" } } },
            { "previous_restored", { { type = "run_smoke_tests", id = "smoke", label = "app:previous",
                                       text = "Run smoke tests on previous version" } } },
            { "smoke_passed", { { type = "resume_service", id = "resume", text = "Resume service" } } },
            { "service_resumed", { { type = "open_incident", id = "incident",
                                     text = "Document what went wrong; open incident ticket" } } },
            { "incident_opened", { { type = "schedule_postmortem", id = "postmortem",
                                     due = T + H.HOUR + 60 + 24 * H.HOUR,
                                     text = "Post-mortem within 24 hours" } } },
        }
        for _, st in ipairs(steps) do
            rb, acts = seed:apply(rb, { type = "confirm", confirmation = st[1] }, T + H.HOUR + 60)
            assert.are.same(st[2], acts, st[1])
        end
        assert.are.equal("rolled_back", rb:status())
    end)

    it("names unknown events, gates, roles and values", function()
        local s = seed:new_state()
        local cases = {
            { "launch", "unknown event \"launch\"", "ROLLOUT_ERR_ARG" },
            { { type = "approve" }, "role is required", "ROLLOUT_ERR_ARG" },
            { { type = "approve", role = "ceo" }, "unknown role \"ceo\"", "ROLLOUT_ERR_NOT_FOUND" },
            { { type = "go", gate = "nope" }, "unknown gate \"nope\"", "ROLLOUT_ERR_NOT_FOUND" },
            { { type = "verdict" }, "verdict is required", "ROLLOUT_ERR_ARG" },
            { { type = "verdict", verdict = "Pass" }, "unknown verdict \"Pass\"", "ROLLOUT_ERR_ARG" },
            { { type = "rollback", reason = "boredom" }, "unknown rollback reason \"boredom\"", "ROLLOUT_ERR_ARG" },
            { { type = "confirm" }, "confirmation is required", "ROLLOUT_ERR_ARG" },
            { {}, "an event is a name or a table with a type", "ROLLOUT_ERR_ARG" },
            { 42, "an event is a name or a table with a type", "ROLLOUT_ERR_ARG" },
        }
        for _, c in ipairs(cases) do
            local r, err, code = seed:apply(s, c[1], T)
            assert.is_nil(r)
            assert.are.equal(c[2], err)
            assert.are.equal(c[3], code)
        end
    end)

    it("refuses events the state does not allow, and time running backwards", function()
        local s = seed:new_state()
        local r, err, code = seed:apply(s, "pause", T)
        assert.is_nil(r)
        assert.are.equal("pause is not valid while the rollout is not_started", err)
        assert.are.equal("ROLLOUT_ERR_TRANSITION", code)
        local s1 = assert(seed:apply(s, "start", T))
        r, err, code = seed:apply(s1, "tick", T - 1)
        assert.is_nil(r)
        assert.are.equal("ROLLOUT_ERR_ARG", code)
        assert.are.equal("time runs backwards: now is before the state's last transition", err)
    end)

    it("pauses and resumes", function()
        local s = assert(seed:apply(seed:new_state(), "start", T))
        local p = assert(seed:apply(s, "pause", T + 60))
        assert.are.equal("paused", p:status())
        assert.are.equal("running", p:info().paused_from)
        assert.are.equal(1, p:info().pauses)
        local r = assert(seed:apply(p, "resume", T + 120))
        assert.are.equal("running", r:status())
    end)

    describe("text form", function()
        local s = assert(seed:apply(seed:new_state(), "start", T))
        s = assert(seed:apply(s, { type = "rollback" }, T + 60))   -- reason defaults to manual

        it("round-trips", function()
            local text = s:encode()
            assert.are.equal("rs2.", text:sub(1, 4))
            assert.is_truthy(text:match("^[%w%.%-_]+$"))
            local back = assert(seed:decode_state(text))
            assert.are.same(s:info(), back:info())
            assert.are.equal(text, back:encode())
            assert.are.equal("manual", back:info().rollback_reason)
        end)

        it("rejects any altered character and any truncation", function()
            local text = s:encode()
            for i = 5, #text do
                local c = text:sub(i, i)
                local alt = text:sub(1, i - 1) .. (c == "A" and "B" or "A") .. text:sub(i + 1)
                local r, _, code = seed:decode_state(alt)
                assert.is_nil(r, "altered at " .. i)
                assert.is_truthy(code == "ROLLOUT_ERR_STATE" or code == "ROLLOUT_ERR_UNSUPPORTED", code)
            end
            for n = 0, #text - 1 do
                local r, err, code = seed:decode_state(text:sub(1, n))
                assert.is_nil(r, "truncated to " .. n)
                assert.is_string(err)
                assert.is_truthy(code == "ROLLOUT_ERR_STATE" or code == "ROLLOUT_ERR_UNSUPPORTED", code)
            end
        end)

        it("refuses a state of another plan", function()
            local other = H.plan(H.read_file("examples/plans/minimal.yaml"))
            local r, err, code = other:decode_state(s:encode())
            assert.is_nil(r)
            assert.are.equal("ROLLOUT_ERR_STATE_PLAN", code)
            assert.is_string(err)
            r, err, code = other:apply(s, "tick", T + 120)
            assert.is_nil(r)
            assert.are.equal("ROLLOUT_ERR_STATE_PLAN", code)
        end)
    end)
end)
