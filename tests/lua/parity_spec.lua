-- SPDX-License-Identifier: MIT
-- parity_spec.lua — 100 000 random contexts decided by the binding under
-- test and by the C library directly (tests/lua/decide_batch.c): every
-- variant, reason, cohort, phase, step, unit, bucket, weight and
-- explanation must be identical. The contexts mix known and random ids,
-- empty and absent ids, ids with control bytes, bytes that are not UTF-8
-- and ids longer than the explanation shows; attributes as plain tables
-- and prepared sets; times from before the start to after the end; and
-- states from "none" through gates, a pause and a rollback.
local H = require "helper"
local rollout = H.rollout

local N = 100000

local function harness_run(plan_file, states, lines)
    local input, output = os.tmpname(), os.tmpname()
    H.write_file(input, table.concat(lines, "\n") .. "\n")
    local args = { H.harness, plan_file }
    for _, s in ipairs(states) do args[#args + 1] = s:encode() end
    local cmd = table.concat(args, " ") .. " < " .. input .. " > " .. output
    local ok = os.execute(cmd)
    local text = H.read_file(output)
    os.remove(input)
    os.remove(output)
    assert.is_truthy(ok == true or ok == 0, "harness failed: " .. cmd)
    local out = {}
    for line in text:gmatch("([^\n]*)\n") do out[#out + 1] = line end
    return out
end

local function hex_or_dash(s)
    if s == nil then return "-" end
    return H.hex(s)
end

-- One line as the harness prints it, from the binding's answers.
local function binding_line(d, explanation)
    local function f(v) return v == nil and "-" or tostring(v) end
    return table.concat({ d.variant, d.reason, f(d.cohort), f(d.phase), f(d.step), f(d.unit),
                          f(d.bucket), f(d.weight), explanation }, "\t")
end

local function states_for(plan, events)
    local list, s = {}, plan:new_state()
    for _, e in ipairs(events) do
        local nxt, err = plan:apply(s, e[1], e[2])
        assert(nxt, err)
        s = nxt
        list[#list + 1] = s
    end
    return list
end

describe("parity with the C library (" .. H.binding .. ")", function()
    it("on " .. N .. " random contexts", function()
        assert.is_string(H.harness, "ROLLOUT_HARNESS is not set")
        local rnd = H.rng(20260228)
        local seed = H.seed()
        local T = seed:start()
        local plans = {
            { file = "examples/plans/seed.yaml", plan = seed, span = 12 * H.DAY,
              states = states_for(seed, {
                  { "start", T },
                  { { type = "approve", role = "engineering-lead" }, T + 2 * H.HOUR },
                  { { type = "approve", role = "product-lead" }, T + 2 * H.HOUR },
                  { { type = "verdict", verdict = "PASS" }, T + 2 * H.HOUR + 30 },
                  { "go", T + 2 * H.HOUR + 600 },                    -- late: the pilot slips
                  { "pause", T + 5 * H.HOUR },
                  { "resume", T + 7 * H.HOUR },
                  { { type = "approve", role = "sre-lead" }, T + 30 * H.HOUR },
                  { { type = "approve", role = "product-lead" }, T + 30 * H.HOUR },
                  { { type = "verdict", verdict = "PASS" }, T + 30 * H.HOUR },
                  { { type = "go", by = "sre-lead", why = "pilot healthy" }, T + 30 * H.HOUR },
                  { { type = "rollback", reason = "error_rate" }, T + 4 * H.DAY },
              }) },
            { file = "examples/plans/minimal.yaml", span = 4 * H.DAY },
            { file = "examples/plans/windows.yaml", span = 30 * H.DAY },
        }
        local known = { "acme-corp", "globex", "initech", "user-1", "alice@example.com", "s1" }
        local function rand_id()
            local k = rnd(10)
            if k == 0 then return nil end
            if k == 1 then return "" end
            if k <= 4 then return known[rnd(#known) + 1] end
            local len = (k == 5) and (65 + rnd(60)) or (1 + rnd(12))
            local bytes = {}
            for i = 1, len do
                local c
                if k == 6 then c = rnd(256)                  -- any byte, control and non-UTF-8
                else c = 97 + rnd(26) end
                bytes[i] = string.char(c)
            end
            return table.concat(bytes)
        end
        local emails = { "bob@example.com", "eve@example.com.evil", "x@corp.test", "" }
        local roles = { "staff", "superuser", "guest" }
        local prepared = rollout.new_attrs({ "email", "role", "country" })

        local per_plan = math.floor(N / #plans)
        local total, mismatches = 0, {}
        for pi, entry in ipairs(plans) do
            local plan = entry.plan or assert(rollout.load_file(entry.file))
            local states = entry.states or {}
            local t0 = plan:start()
            local lines, expect = {}, {}
            local count = pi == #plans and N - per_plan * (#plans - 1) or per_plan
            for i = 1, count do
                local now = t0 - H.HOUR + rnd(entry.span + H.HOUR)
                local si = rnd(#states + 1) - 1           -- -1: no state
                local state = si >= 0 and states[si + 1] or nil
                local org, user, session, request = rand_id(), rand_id(), rand_id(), rand_id()
                local attrs, attr_hex
                local a = rnd(4)
                if a == 1 then
                    attrs = { email = emails[rnd(#emails) + 1] }
                    if rnd(2) == 0 then attrs.role = roles[rnd(#roles) + 1] end
                elseif a == 2 then
                    prepared:clear()
                    prepared:set("email", emails[rnd(#emails) + 1])
                    if rnd(2) == 0 then prepared:set("role", roles[rnd(#roles) + 1]) end
                    if rnd(2) == 0 then prepared:set("country", 49) end
                    attrs = prepared
                end
                if attrs then
                    local pairs_hex = {}
                    for _, k in ipairs({ "email", "role", "country" }) do
                        local v = attrs == prepared and prepared:get(k) or (attrs ~= prepared and attrs[k])
                        if v then pairs_hex[#pairs_hex + 1] = H.hex(k) .. "=" .. H.hex(tostring(v)) end
                    end
                    attr_hex = #pairs_hex > 0 and table.concat(pairs_hex, ",") or "-"
                else
                    attr_hex = "-"
                end
                lines[i] = table.concat({ ("%d"):format(now), si, hex_or_dash(org), hex_or_dash(user),
                                          hex_or_dash(session), hex_or_dash(request), attr_hex }, "\t")
                local d = assert(plan:decide(org, user, session, now, state, request, attrs))
                local text = plan:explain(org, user, session, now, state, request, attrs)
                -- the hot-path form agrees with the table form
                local v, r, b, w = plan:decide_variant(org, user, session, now, state, request, attrs)
                assert(v == d.variant and r == d.reason and b == d.bucket and w == d.weight,
                       "decide_variant differs from decide")
                -- and so does the labelled form (cached labels in the FFI module)
                local lv, label = plan:decide_label(org, user, session, now, state, request, attrs)
                assert(lv == d.variant and label == H.label_of(d),
                       "decide_label differs from decide: " .. tostring(label))
                expect[i] = binding_line(d, text)
            end
            local got = harness_run(entry.file, states, lines)
            assert.are.equal(count, #got, entry.file)
            for i = 1, count do
                if got[i] ~= expect[i] and #mismatches < 5 then
                    mismatches[#mismatches + 1] = ("%s line %d: %s\n   C: %s\n Lua: %s")
                        :format(entry.file, i, lines[i], got[i], expect[i])
                end
            end
            total = total + count
        end
        assert.are.equal(N, total)
        assert.are.same({}, mismatches)
    end)
end)
