-- SPDX-License-Identifier: MIT
-- evaluate_spec.lua — plan:evaluate with the example snapshots (as text) and
-- the same snapshots as Lua tables: both must give the very same result,
-- and the verdicts the example files promise.
local H = require "helper"

local seed = H.seed()

-- examples/metrics/healthy.yaml as a Lua table: durations in seconds, rates
-- as fractions, the custom: block's metrics at the top level.
local HEALTHY = {
    new = {
        requests = 120000, errors = 84,
        latency_p50 = 0.18, latency_p95 = 1.4, latency_p99 = 2.1,
        critical_errors = 0, unhandled_exceptions = 0, support_tickets = 3,
        issue_resolution_time = 40 * 60, availability = 0.9995, throughput = 410,
        smoke_tests = { ["login-logout"] = "pass", ["journal-entry"] = true,
                        ["trial-balance"] = "passed", ["user-create-delete"] = true,
                        ["user-profile"] = true, ["help-panel"] = true, ["error-handling"] = true },
        data_integrity_issues = 0, financial_inconsistencies = 0, usage_kpi_ratio = 0.99,
    },
    baseline = {
        requests = 500000, errors = 400,
        latency_p50 = 0.175, latency_p95 = 1.35, latency_p99 = 2,
        support_tickets = 4, availability = 0.9996, throughput = 400, usage_kpi_ratio = 1,
    },
}

describe("evaluation (" .. H.binding .. ")", function()
    local healthy_text = H.read_file("examples/metrics/healthy.yaml")

    it("passes the healthy snapshot in every seed phase", function()
        for _, phase in ipairs({ "canary", "pilot", "ga" }) do
            local e = assert(seed:evaluate("phase", phase, healthy_text))
            assert.are.equal("PASS", e.verdict, phase)
            assert.are.equal(phase, e.criteria)
            assert.are.equal(#e.results, e.n_pass)
            assert.are.equal(0, e.n_fail)
            assert.is_nil(e.rollback)
        end
    end)

    it("reads a table exactly as the file", function()
        for _, target in ipairs({ { "phase", "canary" }, { "phase", "pilot" }, { "gate", "ga-day2-go" },
                                  { "criteria", "post-rollout" }, { "bake" } }) do
            local from_text = assert(seed:evaluate(target[1], target[2], healthy_text))
            local from_table = assert(seed:evaluate(target[1], target[2], HEALTHY))
            assert.are.same(from_text, from_table, table.concat(target, " "))
        end
    end)

    it("gives the canary criteria's results one by one", function()
        local e = assert(seed:evaluate("phase", "canary", HEALTHY))
        assert.are.equal(6, #e.results)
        local r = e.results[1]
        assert.are.equal("zero-critical-errors", r.id)
        assert.are.equal("critical_errors", r.metric)
        assert.are.equal("PASS", r.verdict)
        assert.is_true(r.rollback)
        assert.are.equal(0, r.observed)
        assert.are.equal("critical_errors is 0", r.reason)
        assert.are.equal("smoke-tests", e.results[2].id)
        assert.are.equal(7, e.results[2].observed)
        assert.are.equal("latency-p95", e.results[3].id)
        assert.are.equal(1.4, e.results[3].observed)
        assert.is_nil(e.results[3].p_value)   -- no statistical test ran: NaN -> nil
        assert.are.equal("no-unhandled-exceptions", e.results[4].id)
        assert.are.equal("data-integrity", e.results[5].id)
        assert.is_true(e.results[5].rollback)
        assert.are.equal("error-rate-runaway", e.results[6].id)
        assert.are.equal("PASS", e.results[6].verdict)
        assert.is_true(e.results[6].rollback)
        assert.is_false(e.results[6].dry_run)
        assert.are.equal("higher_is_worse", e.results[6].direction)
        assert.is_nil(e.results[6].sla)
        local ga = assert(seed:evaluate("gate", "ga-day2-go", HEALTHY))
        assert.are.equal("PASS", ga.verdict)
        assert.are.equal(0.02, ga.results[1].sla)
        assert.are.equal("throughput-stable", ga.results[8].id)
        assert.are.equal("lower_is_worse", ga.results[8].direction)
    end)

    it("says ROLLBACK on the critical snapshot", function()
        local text = H.read_file("examples/metrics/critical.yaml")
        local e = assert(seed:evaluate("phase", "canary", text))
        assert.are.equal("ROLLBACK", e.verdict)
        assert.are.equal("zero-critical-errors", e.rollback)
        assert.are.equal("FAIL", e.results[1].verdict)
        e = assert(seed:evaluate("phase", "pilot", text))
        assert.are.equal("ROLLBACK", e.verdict)
        assert.are.equal("data-integrity", e.rollback)
    end)

    it("is INCONCLUSIVE without data", function()
        local e = assert(seed:evaluate("phase", "canary", {}))
        assert.are.equal("INCONCLUSIVE", e.verdict)
        assert.are.equal(0, e.n_pass)
        e = assert(seed:evaluate("phase", "canary", { new = {} }))
        assert.are.equal("INCONCLUSIVE", e.verdict)
    end)

    it("takes latency samples and histograms", function()
        local samples = {}
        for i = 1, 100 do samples[i] = 0.5 + i / 100 end
        local e = assert(seed:evaluate("phase", "canary", { new = { latency_samples = samples } }))
        assert.are.equal("latency-p95", e.results[3].id)
        assert.are.equal("PASS", e.results[3].verdict)
        -- p95 falls in the 5 s bucket: over the 2 s max, and "or baseline + 10 %"
        -- cannot be judged without a baseline
        local hist = { bounds = { 0.5, 1, 5 }, counts = { 10, 80, 10 } }
        e = assert(seed:evaluate("phase", "canary", { new = { latency_histogram = hist } }))
        assert.are.equal(5, e.results[3].observed)
        assert.are.equal(100, e.results[3].samples)
        assert.are.equal("INCONCLUSIVE", e.results[3].verdict)
        e = assert(seed:evaluate("phase", "canary",
                                 { new = { latency_histogram = hist }, baseline = { latency_p95 = 1.35 } }))
        assert.are.equal("FAIL", e.results[3].verdict)
    end)

    it("refuses malformed snapshots with ROLLOUT_ERR_METRICS", function()
        local cases = {
            { { neww = {} }, "metrics: unknown key \"neww\" (new or baseline expected)" },
            { { new = 5 }, "metrics.new: table expected, got number" },
            { { new = { latency_p95 = "1s" } }, "metric latency_p95: number expected, got string" },
            { { new = { requests = "many" } }, "metric requests: number expected, got string" },
            { { new = { smoke_tests = { ["login-logout"] = "ok" } } },
              "smoke_tests.login-logout: true, false, \"pass\" or \"fail\" expected" },
            { { new = { smoke_tests = "all" } }, "smoke_tests: a table {id = true/false} expected" },
            { { new = { latency_samples = { 1, "x" } } }, "latency_samples: a list of seconds expected" },
            { { new = { latency_histogram = { bounds = { 1 }, counts = {} } } },
              "latency_histogram: bounds and counts differ in length" },
            { { new = { latency_histogram = { bounds = { 1 }, counts = { 1.5 } } } },
              "latency_histogram: numeric bounds and whole counts expected" },
            { { new = { [1] = 5 } }, "metrics: keys must be names (strings)" },
        }
        for _, c in ipairs(cases) do
            local e, err, code = seed:evaluate("phase", "canary", c[1])
            assert.is_nil(e)
            assert.are.equal(c[2], err)
            assert.are.equal("ROLLOUT_ERR_METRICS", code)
        end
        -- the library's own checks come back with its words
        local e, err, code = seed:evaluate("phase", "canary", { new = { requests = 10, errors = 11 } })
        assert.is_nil(e)
        assert.are.equal("ROLLOUT_ERR_METRICS", code)
        assert.is_truthy(err:find("errors", 1, true))
        e, err, code = seed:evaluate("phase", "canary", { new = { latency_p95 = -1 } })
        assert.is_nil(e)
        assert.are.equal("ROLLOUT_ERR_METRICS", code)
        e, err, code = seed:evaluate("phase", "canary", "new: {requests: x}\n")
        assert.is_nil(e)
        assert.are.equal("ROLLOUT_ERR_METRICS", code)
        assert.are.equal("<metrics>:", err:sub(1, 10))
    end)

    it("names what does not exist", function()
        local e, err, code = seed:evaluate("phase", "nope", HEALTHY)
        assert.is_nil(e)
        assert.are.equal("ROLLOUT_ERR_NOT_FOUND", code)
        assert.is_string(err)
    end)
end)
