-- SPDX-License-Identifier: MIT
-- lua_decide.lua LIBRARY [ROUNDS] — nanoseconds per decision from LuaJIT
-- (not pass/fail; docs/lua.md records the figures).
--
--   luajit tests/bench/lua_decide.lua build/librollout.so.0
--
-- Over the same 4096 ids (org/user/session strings made beforehand):
--   xxh3 bare      XXH3_64bits_withSeed from Debian's libxxhash.so.0 through
--                  the FFI: the floor, one hash and one FFI call per id
--   rollout_bucket the library's bucket: the same hash, plus hashing the salt
--                  into the seed every call (decide does that once at load)
--   rollout_decide the C call alone, context filled by hand (no binding code)
--   decide_variant the hot path for string ids: a whole decision
--                  (cohort match incl. an org_in set lookup, the schedule
--                  walk, the bucket) returning constant strings
--   decide_variant+attrs  the same with a prepared attribute set (pattern rule)
--   decide_label   the decision and its cached label (what the nginx
--                  example's X-Rollout-Reason shows)
--   decide_label_raw  the same from a context the caller filled with
--                  (pointer, length) ids: the nginx example's call
--   explain        a decision plus its full text (the admin /explain)
-- Each is timed in ROUNDS (default 7) interleaved rounds; the median is
-- printed. The plan is the nginx example's, tests/lua/nginx_plan.yaml.
local lib = arg[1] or error("usage: luajit lua_decide.lua LIBRARY [ROUNDS]")
local rounds = tonumber(arg[2] or "7")
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "../../bindings/lua/?.lua;" .. package.path

local ffi = require "ffi"
local rollout = require "resty.rollout"
assert(rollout.load_library(lib))

ffi.cdef [[
uint64_t XXH3_64bits_withSeed(const void *data, size_t len, uint64_t seed);
]]
local xxh = ffi.load("xxhash")

local plan = assert(rollout.load_file(here .. "../lua/nginx_plan.yaml"))

local N = 4096
local orgs, users, sessions = {}, {}, {}
for i = 1, N do
    orgs[i] = (i % 10 == 0) and "acme-corp" or ("org-" .. i)
    users[i] = "user-" .. (i * 7919 % 100000)
    sessions[i] = ("s-%08x"):format(i * 2654435761 % 4294967296)
end
local now = os.time()
local attrs = rollout.new_attrs({ "email" })
attrs:set("email", "someone@customer.test")
local salt = "bench-salt-2026"
local seed = 0ULL
do
    ffi.cdef [[ uint64_t XXH3_64bits(const void *data, size_t len); ]]
    seed = xxh.XXH3_64bits(salt, #salt)
end

-- for the raw-call case: the library's own namespace (ffi.load of the same
-- file returns the same handle) and the plan's pointer (a binding internal)
local C = ffi.load(lib)
local plan_ptr = plan._ptr
local raw_ctx = ffi.new("rollout_context")
local raw_dec = ffi.new("rollout_decision")
local label_ctx = rollout.new_context()

-- Counted without a branch, as the raw case adds raw_dec.variant: a branch
-- on the variant in the loop body makes LuaJIT's side trace for the
-- other outcome jump back to the loop's header on most iterations, and
-- that, not the decision, is then what gets timed.
local IS_NEW = { new = 1, stable = 0 }

local sink = 0
local cases = {
    { "xxh3 bare (libxxhash, FFI)", function(reps)
        local h = 0ULL
        for _ = 1, reps do
            for i = 1, N do
                local id = orgs[i]
                h = h + xxh.XXH3_64bits_withSeed(id, #id, seed)
            end
        end
        sink = sink + tonumber(h % 7)
    end },
    { "rollout.bucket", function(reps)
        local s = 0
        for _ = 1, reps do
            for i = 1, N do s = s + rollout.bucket(salt, orgs[i]) end
        end
        sink = sink + s
    end },
    { "rollout_decide, raw FFI call", function(reps)
        -- the C call alone, with the binding's marshalling done by hand:
        -- what decide_variant costs beyond this is the binding's share
        local n = 0
        for _ = 1, reps do
            for i = 1, N do
                local o, u, s = orgs[i], users[i], sessions[i]
                raw_ctx.org, raw_ctx.org_len = o, #o
                raw_ctx.user, raw_ctx.user_len = u, #u
                raw_ctx.session, raw_ctx.session_len = s, #s
                C.rollout_decide(plan_ptr, nil, now, raw_ctx, raw_dec)
                n = n + raw_dec.variant
            end
        end
        sink = sink + n
    end },
    { "plan:decide_variant", function(reps)
        local n = 0
        for _ = 1, reps do
            for i = 1, N do
                local v = plan:decide_variant(orgs[i], users[i], sessions[i], now, nil)
                n = n + IS_NEW[v]
            end
        end
        sink = sink + n
    end },
    { "plan:decide_variant + attrs", function(reps)
        local n = 0
        for _ = 1, reps do
            for i = 1, N do
                local v = plan:decide_variant(orgs[i], users[i], sessions[i], now, nil, nil, attrs)
                n = n + IS_NEW[v]
            end
        end
        sink = sink + n
    end },
    { "plan:decide_label", function(reps)
        local n = 0
        for _ = 1, reps do
            for i = 1, N do
                local v, label = plan:decide_label(orgs[i], users[i], sessions[i], now, nil)
                n = n + IS_NEW[v]
            end
        end
        sink = sink + n
    end },
    { "plan:decide_label_raw", function(reps)
        -- the context filled by the caller with (pointer, length) ids, as
        -- resty.rollout.gateway's route() fills it from nginx's memory
        local n = 0
        local c = label_ctx
        for _ = 1, reps do
            for i = 1, N do
                local o, u, s = orgs[i], users[i], sessions[i]
                c.org, c.org_len = o, #o
                c.user, c.user_len = u, #u
                c.session, c.session_len = s, #s
                local v, label = plan:decide_label_raw(c, now, nil)
                n = n + IS_NEW[v]
            end
        end
        sink = sink + n
    end },
    { "plan:explain", function(reps)
        local n = 0
        for _ = 1, reps do
            for i = 1, N do
                local text = plan:explain(orgs[i], users[i], sessions[i], now, nil)
                n = n + #text
            end
        end
        sink = sink + n
    end },
}

local clock = os.clock
local reps = 200
for _, c in ipairs(cases) do c[2](20) end   -- warm up: let the traces form
local times = {}
for r = 1, rounds do
    for k, c in ipairs(cases) do
        local t0 = clock()
        c[2](reps)
        local ns = (clock() - t0) * 1e9 / (reps * N)
        times[k] = times[k] or {}
        times[k][r] = ns
    end
end
local function median(t)
    local s = {}
    for i, v in ipairs(t) do s[i] = v end
    table.sort(s)
    return s[math.floor((#s + 1) / 2)]
end
print(("LuaJIT %s, %d ids, %d rounds of %d decisions each, median ns per call:")
      :format(jit.version, N, rounds, reps * N))
local bare = median(times[1])
for k, c in ipairs(cases) do
    local m = median(times[k])
    print(("  %-30s %8.1f ns   (%.2f x bare XXH3)"):format(c[1], m, m / bare))
end
io.stderr:write(("(checksum %d)\n"):format(sink))
