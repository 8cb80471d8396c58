-- SPDX-License-Identifier: MIT
-- resty/rollout/gateway.lua — librollout in nginx (lua-nginx-module /
-- OpenResty): the plan loaded before the workers fork, the rollout state
-- shared by every worker through a lua_shared_dict, and an admin handler
-- that applies state events. examples/nginx/nginx.conf shows the wiring.
--
--   init_by_lua_block { require("resty.rollout.gateway").init({
--       plan = "/etc/nginx/rollout/plan.yaml", org = { "http_x_org", "cookie_org" },
--       user = "http_x_user", session = "cookie_session", attrs = { email = "http_x_email" } }) }
--   set $rollout_reason "";
--   set_by_lua_block $rollout_upstream { return package.loaded["resty.rollout.gateway"].route() }
--   add_header X-Rollout-Reason $rollout_reason always;
--   proxy_pass http://$rollout_upstream;
--   location /_rollout/ { content_by_lua_block { require("resty.rollout.gateway").admin() } }
--
-- Or build a handler of your own from gw.plan and gw.state().
--
-- How the state is shared:
--   * the dict holds the encoded state (one short line, "rs2...") under the
--     plan's fingerprint, so a state is only ever read by the plan it was
--     made for; beside it, under the rollout's id, the fingerprint of the
--     plan that serves ("active:<id>") and that plan's text ("plan:<fp>"),
--     so that the next generation can load the plan the state was made for
--     and carry the state over (below);
--   * every request reads that line (one dict get) and compares it with the
--     line this worker decoded last; only a changed line is decoded again.
--     A write by the admin handler is therefore seen by the next request of
--     every worker: there is no per-worker copy to invalidate;
--   * no line in the dict means "no event yet": decisions use the plan's own
--     schedule (started at the plan's start, no gate decided).
--
-- With a store (init{ store = "redis://...", key_file = ... }): the state
-- is the fleet's, kept in the store (docs/fleet.md). One sync per nginx
-- instance, in worker 0 with the blocking calls in nginx's thread pool,
-- follows it (rollout_store_watch: pushed changes within milliseconds, a
-- poll every 250 ms besides) and writes each
-- verified state into the dict; workers read the dict exactly as without a
-- store, so no request ever waits on the store. Admin events go to the store
-- as a compare-and-set (rollout_store_apply). A store outage changes
-- nothing: the dict keeps the last good state, and /_rollout/state reports
-- how old it is. "No state" means STABLE for everyone (a fresh, not started
-- state), never the plan's schedule. docs/lua.md, "A store for the fleet".
--
-- Reloading the plan: edit the file, then `nginx -s reload` (HUP). nginx
-- runs init_by_lua again in the master, starts new workers with the new
-- plan and lets the old ones finish their requests, so nothing is dropped.
-- init carries the shared state over to the edited plan
-- (plan:migrate, rollout_state_migrate): a rollback, halt or pause is never
-- undone by a plan edit. A plan that does not load, or an edit the state
-- cannot be carried to (the current phase or gate removed, ...), makes init
-- fail: nginx then keeps the old configuration (plan and state) running and
-- logs why.

local rollout = require "resty.rollout"
local ffi = require "ffi"

local ngx = ngx
local ngx_var = ngx and ngx.var   -- one table for every request (resty.core)
local type, tostring, pairs, ipairs, pcall, error, next = type, tostring, pairs, ipairs, pcall, error, next
local concat, sort = table.concat, table.sort

local _M = { _VERSION = '0.1.0' }

-- Set by init(); read-only afterwards (the plan is immutable, so every
-- worker shares the master's copy through fork).
_M.plan = nil

local plan
local dict, state_key, lock_key, active_key
-- With a store: its URL and options (the key's bytes read by init in the
-- master, before the workers fork and drop privileges), the state that
-- stands for "none yet" (not started: STABLE for everyone), and the
-- dict's keys where the sync records its state for /_rollout/state
local store_cfg, fresh_state, sync_key
local store_config
-- Per worker: the last line read from the dict and what it decoded to.
local cached_text, cached_state, cached_err = nil, nil, nil

-- route()'s per-VM context: one rollout_context and attribute array, filled
-- per request with pointers into nginx's request memory (no Lua strings)
local cctx = rollout.new_context()
local attr_buf, n_attrs = nil, 0
-- attribute keys (sorted; they anchor the strings attr_buf points at):
-- attr_keys all of init's, for /explain; rule_attr_keys those the plan's
-- cohort rules read, the n_attrs route() reads, and rule_attr_vars the
-- nginx variable of each
local attr_keys = {}
local rule_attr_keys, rule_attr_vars = {}, {}
-- whether route() reads each id for every request (a cohort rule reads
-- it: plan:rule_reads()) or only when a decision buckets by it; no rule
-- kind reads the session or request id today
local eager_org, eager_user, eager_session, eager_request = true, true, true, true
-- the nginx variables each id comes from: a name and an optional fallback
local org1, org2, user1, user2, session1, session2, request1, request2
local upstream_new, upstream_stable, reason_var = "canary", "stable", "rollout_reason"
local bad_state_text, bad_state_label   -- the label for an unreadable state, per error
-- lua-nginx-module's own FFI entry points for variables, the ones
-- resty.core's ngx.var uses: var_get hands back a pointer into the
-- request's memory (no Lua string), var_set copies the label into the
-- request's pool; and resty.core's request getter
local var_get, var_set, get_request
local vp = ffi.new("char *[1]")
local vl = ffi.new("size_t[1]")
local verr = ffi.new("char *[1]")
local lowbuf = ffi.new("char[256]")   -- both lowercase the name into it
local set_err = ffi.new("char[256]")
local set_err_len = ffi.new("size_t[1]")

-- an id's source: "var" or { "var", "fallback_var" }
local function source(v, what)
    if v == nil then return nil, nil end
    if type(v) == "string" then v = { v } end
    if type(v) ~= "table" or #v < 1 or #v > 2 then
        error("rollout gateway: " .. what .. ": a variable name or a list of two expected", 3)
    end
    for _, name in ipairs(v) do
        if type(name) ~= "string" or name == "" or #name > 255 then
            error("rollout gateway: " .. what .. ": nginx variable names (without $) expected", 3)
        end
    end
    return v[1], v[2]
end

-- ---- what the plan's cohort rules read ----------------------------------------------
--
-- A decision reads the ids its cohort rules read (org_in the org, user_in
-- the user, attr rules their attribute), then, once a cohort matched, the id
-- of the unit its current step buckets by, and nothing else (docs/targeting.md,
-- "Deciding"). So route() reads the rules' ids for every request and a
-- unit's id only when the decision asks for it (MISSING_UNIT, below). What
-- the rules read the library says, once at init: plan:rule_reads().

-- ---- plan edits ------------------------------------------------------------------------
--
-- The dict outlives a reload, and so does the state in it; what a new
-- generation must not do is start its edited plan from the schedule, which
-- would undo a rollback. So the dict also records which plan serves
-- (active:<id> = its fingerprint) and that plan's text (plan:<fingerprint>),
-- and init, in the master, carries the state over before any new worker
-- reads it. Old workers keep serving the old plan's state until they exit;
-- their admin handler refuses events once another plan is active, so no
-- event is applied to a state the new generation no longer reads.

local function read_file(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local text = f:read("*a")
    f:close()
    if not text then return nil, "cannot read " .. path end
    return text
end

-- The master may not ngx.sleep: it waits for an admin request's lock with poll().
local function pause_10ms()
    if not pcall(function() return ffi.C.poll end) then
        pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
    end
    pcall(function() ffi.C.poll(nil, 0, 10) end)
end

-- Makes p (whose YAML is text) the plan that serves, carrying the state of
-- the plan that served until now over to it. true, or nil and why not (the
-- dict is then as it was, but for a carried state written under p's key,
-- which nothing reads until p serves).
local function take_over(p, text, with_store)
    local id, fp = p:id(), p:fingerprint()
    local lock = "lock:" .. id
    local locked = false
    -- 6 s: longer than an admin lock lives (5 s), so a lock left by a
    -- worker that died holding it never fails the reload
    for _ = 1, 600 do
        if dict:add(lock, true, 5) then locked = true break end
        pause_10ms()
    end
    if not locked then return nil, "the state is locked by an admin request" end
    local ok, res, why = pcall(function()
        local active = "active:" .. id
        local prev = dict:get(active)
        if prev == fp then return true end
        if prev ~= nil then
            local line = dict:get(prev)
            if line == nil then
                -- no event under the plan that served: the edited plan
                -- starts from its schedule, not from a state an earlier
                -- generation left under its fingerprint
                dict:delete(fp)
            else
                local prev_text = dict:get("plan:" .. prev)
                if not prev_text then
                    return nil, "the text of the serving plan (" .. prev .. ") is not in the dict"
                end
                local old, err = rollout.load_string(prev_text, "serving plan " .. prev)
                if not old or old:fingerprint() ~= prev then
                    return nil, "the serving plan does not load again: " .. tostring(err)
                end
                local s, derr = old:decode_state(line)
                if not s then return nil, "the serving state does not decode: " .. derr end
                local m, merr = p:migrate(s, old)
                if not m then
                    return nil, "the rollout's state cannot be carried over to this plan: " .. merr
                end
                local sok, serr = dict:set(fp, m:encode())
                if not sok then return nil, "shared dict: " .. tostring(serr) end
                ngx.log(ngx.WARN, "rollout: plan ", id, " edited (", prev, " -> ", fp,
                        "): state carried over, ", m:status(), ", revision ", m:revision())
            end
        end
        local tok, terr = dict:set("plan:" .. fp, text)
        if not tok then
            return nil, "the shared dict cannot hold the plan's text (" .. #text ..
                        " bytes): " .. tostring(terr) .. "; make lua_shared_dict larger"
        end
        dict:set(active, fp)
        if prev ~= nil then
            -- with a store, the store's copy of the state is migrated too,
            -- by the sync process (it holds the connection): it needs the
            -- plan the stored state was written for
            if with_store then
                local ptext = dict:get("plan:" .. prev)
                if ptext then dict:set("from:" .. fp, ptext) end
            end
            dict:delete("plan:" .. prev)
        end
        return true
    end)
    dict:delete(lock)
    if not ok then error(res, 0) end
    return res, why
end

-- ---- the fleet's store ---------------------------------------------------------------
--
-- One sync per nginx instance: worker 0 (a respawned worker 0 takes it over,
-- and a reload's new worker 0 replaces the old one's) runs a loop of
-- ngx.timer callbacks, each one rollout_store_watch call with a bounded wait.
-- The call blocks, so it runs in one of nginx's worker threads
-- (ngx.run_worker_thread): the worker's event loop goes on serving requests
-- meanwhile, and only the result (a state's text) comes back, to be
-- decoded and written into the dict. Blocking in a thread lets the C
-- component (hiredis, the HMAC check, the plan and replay checks) run
-- unchanged, where a cosocket loop would need the protocol, the signature
-- and the decoding written again in Lua. (OpenResty's privileged agent
-- would be the other home for it; Debian's nginx lacks the patch it needs.)

local STORE_DOWN = { ROLLOUT_ERR_STORE = true, ROLLOUT_ERR_TIMEOUT = true }

local function positive(v, what, default)
    if v == nil then return default end
    if type(v) ~= "number" or v < 1 or v ~= math.floor(v) then
        error("rollout gateway: " .. what .. ": a positive integer expected", 3)
    end
    return v
end

-- The store's configuration from init's options: checked (the URL parsed,
-- the key read) in the master, so a wrong one refuses the configuration.
store_config = function(opts)
    if type(opts.store) ~= "string" then return nil, "store: a URL expected" end
    if type(ngx.run_worker_thread) ~= "function" then
        return nil, "a store needs ngx.run_worker_thread (lua-nginx-module 0.10.21 or later, " ..
                    "nginx built --with-threads)"
    end
    local ok, err = rollout.load_store_library(opts.store_library)
    if not ok then return nil, err end
    local cfg = {
        url = opts.store,
        timeout_ms = positive(opts.store_timeout_ms, "store_timeout_ms", 500),
        poll_interval_ms = positive(opts.poll_interval_ms, "poll_interval_ms", 250),
        wait_ms = positive(opts.sync_wait_ms, "sync_wait_ms", 500),
        stale_after = positive(opts.stale_after, "stale_after", 5),
        subscribe = opts.subscribe ~= false,
        thread_pool = opts.thread_pool or "rollout",
    }
    if opts.key_file ~= nil then
        if type(opts.key_file) ~= "string" then return nil, "key_file: a path expected" end
        local key, kerr = rollout.read_key_file(opts.key_file)
        if not key then return nil, "key_file: " .. kerr end
        cfg.key = key
    end
    local st, serr = rollout.store_open(cfg.url, { lazy = true, key = cfg.key })
    if not st then return nil, serr end
    cfg.name = st.name
    st:close()
    cfg.lib, cfg.store_lib = rollout.library_paths()
    return cfg
end

local function store_open(cfg, extra)
    local o = { key = cfg.key, require_signature = cfg.key ~= nil, timeout_ms = cfg.timeout_ms,
                poll_interval_ms = cfg.poll_interval_ms, subscribe = cfg.subscribe }
    for k, v in pairs(extra or {}) do o[k] = v end
    return rollout.store_open(cfg.url, o)
end

-- Writes a state into the dict, under the admin lock, unless the dict
-- already holds this revision or a later one: the sync and an admin
-- request may both publish the same change, in either order.
local function publish(s)
    local line, rev = s:encode(), s:revision()
    for _ = 1, 500 do
        if dict:add(lock_key, true, 5) then
            local cur = dict:get(state_key)
            local held = cur and plan:decode_state(cur)
            local wrote = false
            if not held or held:revision() < rev then
                dict:set(state_key, line)
                wrote = true
            end
            dict:delete(lock_key)
            return wrote
        end
        ngx.sleep(0.01)
    end
    return nil
end

-- The sync's side (worker 0) --------------------------------------------------------

local agent = nil   -- { st, from_text, err, down_since, err_logged_at }

-- The plan time decisions and the admin location use: ngx.time(), or with
-- init's clock = {scale = N, start = T, origin = W} a plan clock that shows
-- T at the wall-clock second W and runs N plan seconds a second, the same
-- clock as `rollout operator --time-scale N --clock-start T --clock-origin W`
-- (docs/operator.md, scripts/demo.sh).
local clock_scale, clock_start, clock_origin
local function plan_now()
    if not clock_scale then return ngx.time() end
    return math.floor(clock_start + (ngx.now() - clock_origin) * clock_scale)
end

local function now_s()
    ngx.update_time()
    return ngx.now()
end

local function held_state()
    local cur = dict:get(state_key)
    return cur and plan:decode_state(cur)
end

local function sync_error(msg, code)
    local t = now_s()
    dict:set(sync_key .. "error", msg)
    dict:set(sync_key .. "error_code", code)
    dict:set(sync_key .. "error_at", t)
    if STORE_DOWN[code] then
        if not agent.down_since then agent.down_since = t end
        -- the first failure, and then every 10 s while it lasts
        if agent.err ~= msg or t - (agent.err_logged_at or 0) >= 10 then
            local ok_at = dict:get(sync_key .. "ok_at")
            local s = held_state()
            ngx.log(ngx.ERR, "rollout: store ", store_cfg.name, " unreachable for ",
                    ("%.1f"):format(t - agent.down_since), " s (", msg, "); routing stays on ",
                    s and ("revision " .. s:revision() .. ", " .. s:status()) or "no state (STABLE)",
                    ", last synced ", ok_at and ("%.1f s ago"):format(t - ok_at) or "never")
            agent.err_logged_at = t
        end
    else
        -- a refused value: the store component reports each one once
        ngx.log(ngx.ERR, "rollout: store ", store_cfg.name, ": ", msg, " (", code,
                "); the gateway keeps its last good state")
    end
    agent.err = msg
end

local function sync_ok()
    local t = now_s()
    dict:set(sync_key .. "ok_at", t)
    if agent.down_since then
        ngx.log(ngx.NOTICE, "rollout: store ", store_cfg.name, " reachable again after ",
                ("%.1f"):format(t - agent.down_since), " s")
        agent.down_since = nil
    end
    agent.err = nil
end

local function in_thread(fn, ...)
    return ngx.run_worker_thread(store_cfg.thread_pool, "resty.rollout.sync_thread", fn,
                                 store_cfg.lib, store_cfg.store_lib, ...)
end

-- A plan edit: the store still holds the state of the plan this one
-- replaced (docs/fleet.md, "Plan edits"). sync_thread.migrate migrates it
-- and compare-and-sets it in place of the revision it read; a lost
-- compare-and-set means the state moved on: the next round reads it again
-- (still the old plan's: migrate that one; this plan's: another gateway
-- did it, nothing to do).
local function migrate_store()
    local held = held_state()
    local ok, tag, a, b = in_thread("migrate", rollout.address(agent.st), agent.from_text,
                                    dict:get("plan:" .. state_key), held and held:revision())
    if not ok then return sync_error("worker thread: " .. tostring(tag), "ROLLOUT_ERR_IO") end
    if tag == "down" then return sync_error(a, b) end
    if tag == "conflict" then
        ngx.log(ngx.NOTICE, "rollout: the store's state changed while it was migrated (", a,
                "); reading it again")
        return
    end
    if tag == "written" then
        ngx.log(ngx.WARN, "rollout: plan edited: the store's state carried over (", b, ")")
        local m = plan:decode_state(a)
        if m then publish(m) end
    elseif tag == "cannot" then
        ngx.log(ngx.ERR, "rollout: the store's state cannot be carried over to this plan: ", a,
                "; this gateway keeps its own state until the store holds one of this plan")
    elseif tag == "refused" then
        sync_error(a, b)
    end
    agent.from_text = nil
    dict:delete("from:" .. state_key)
end

local function sync_once()
    if not agent.st then
        local st, err, code = store_open(store_cfg, { lazy = true })
        if not st then sync_error(err, code or "ROLLOUT_ERR_STORE") return 0.25 end
        -- what the dict holds survives a reload: the new handle follows it.
        -- Not while a plan edit is to be carried to the store: the dict then
        -- holds this gateway's own migration, one revision above the stored
        -- state the migration must still read.
        local held = not agent.from_text and held_state()
        if held then st:hold(plan, held) end
        agent.st = st
    end
    if agent.from_text then
        migrate_store()
        if agent.from_text and agent.down_since then return 0.25 end
    end
    local held = held_state()
    local ok, text, err, code = in_thread("watch", rollout.address(agent.st),
                                          rollout.address(plan),
                                          held and held:revision() or 0, store_cfg.wait_ms)
    if not ok then
        sync_error("worker thread: " .. tostring(text), "ROLLOUT_ERR_IO")
        return 1
    end
    if text then
        sync_ok()
        local s, derr = plan:decode_state(text)
        if not s then
            sync_error(derr, "ROLLOUT_ERR_STATE")
        elseif publish(s) then
            ngx.log(ngx.NOTICE, "rollout: state from the store: revision ", s:revision(), ", ",
                    s:status())
        end
    elseif text == false then
        sync_ok()
    else
        sync_error(err, code)
        if STORE_DOWN[code] then return 0.25 end
        -- the old plan's state after an edit not migrated yet (another
        -- generation wrote it meanwhile): try again
        if code == "ROLLOUT_ERR_STATE_PLAN" then agent.from_text = dict:get("from:" .. state_key) end
    end
    return 0
end

local function sync_step(premature)
    if premature or ngx.worker.exiting() then
        if agent and agent.st then agent.st:close() agent.st = nil end
        return
    end
    local ok, delay = pcall(sync_once)
    if not ok then
        ngx.log(ngx.ERR, "rollout: store sync: ", delay)
        delay = 1
    end
    local tok, terr = ngx.timer.at(delay, sync_step)
    if not tok and terr ~= "process exiting" then
        ngx.log(ngx.ALERT, "rollout: store sync stopped: ", terr)
    end
end

-- init_worker(): from init_worker_by_lua. With a store, worker 0 starts the
-- sync; nothing else. Without a store, nothing.
function _M.init_worker()
    -- worker 0, or the only process when master_process is off (no id)
    local id = ngx.worker.id()
    if not store_cfg or (id ~= nil and id ~= 0) then return true end
    agent = { from_text = dict:get("from:" .. state_key) }
    ngx.log(ngx.NOTICE, "rollout: store sync for ", plan:id(), " from ", store_cfg.name,
            store_cfg.subscribe and " (push and poll)" or " (poll only)", " in worker 0")
    local ok, err = ngx.timer.at(0, sync_step)
    if not ok then ngx.log(ngx.ALERT, "rollout: cannot start the store sync: ", err) end
    return ok
end

-- What /_rollout/state reports of the sync: when this instance last heard
-- from the store, how old that makes its state, and the last error.
local function sync_report(now)
    local ok_at = dict:get(sync_key .. "ok_at")
    local err_at = dict:get(sync_key .. "error_at")
    local age = ok_at and math.max(0, now - ok_at) or nil
    return {
        url = store_cfg.name, signed = store_cfg.key ~= nil,
        last_sync = ok_at, age = age,
        stale = age == nil or age > store_cfg.stale_after,
        last_error = err_at and dict:get(sync_key .. "error") or nil,
        last_error_code = err_at and dict:get(sync_key .. "error_code") or nil,
        last_error_at = err_at,
    }
end

-- init{ plan = FILE, dict = "rollout", library = nil,
--       org = { "http_x_org", "cookie_org" }, user = "http_x_user",
--       session = "cookie_session", request = nil,
--       attrs = { email = "http_x_email" },
--       upstreams = { new = "canary", stable = "stable" },
--       reason_var = "rollout_reason" }
-- Loads the library (library: an explicit librollout.so.0; nil: found on
-- lua_package_cpath, then by the dynamic linker) and the plan. Raises on
-- failure, so nginx refuses a configuration whose plan does not load.
-- org, user, session, request: the nginx variable (name without $) route()
-- reads each id from, or a list of two, the second read when the first is
-- empty; an id without one is absent. attrs: request attribute -> variable,
-- at most 4 (the attributes the plan's cohort rules read); a variable that
-- is not there is an absent attribute, one that is there but empty (a
-- header sent empty) the empty string (docs/targeting.md). upstreams: what
-- route() returns for each variant. reason_var: the variable (declared with
-- set) route() puts the decision's label in.
-- store: the fleet's store ("redis://[[user]:password@]host[:port][/db]" or
-- "unix:///path"); key_file: the HMAC key file (states must then be signed);
-- store_timeout_ms (500), poll_interval_ms (250), sync_wait_ms (500: how
-- long one watch call blocks the agent), stale_after (5 s: when
-- /_rollout/state calls the state stale), subscribe (false: poll only),
-- store_library (an explicit librollout_store.so.0), thread_pool ("rollout":
-- the nginx thread_pool the sync's blocking calls run in). A store needs
-- init_worker() in init_worker_by_lua and that thread_pool as well.
function _M.init(opts)
    if type(opts) ~= "table" or type(opts.plan) ~= "string" then
        error("rollout gateway: init{ plan = FILE } expected", 2)
    end
    local ok, err = rollout.load_library(opts.library)
    if not ok then error("rollout gateway: " .. err, 2) end
    -- the text, kept in the dict for the next generation's migration
    local text, rerr = read_file(opts.plan)
    if not text then error("rollout gateway: " .. rerr, 2) end
    local p, perr = rollout.load_string(text, opts.plan)
    if not p then error("rollout gateway: " .. perr, 2) end
    local name = opts.dict or "rollout"
    dict = ngx.shared[name]
    if not dict then
        error("rollout gateway: no lua_shared_dict named \"" .. name .. "\"", 2)
    end
    local cfg
    if opts.store ~= nil then
        cfg, err = store_config(opts)
        if not cfg then error("rollout gateway: " .. err, 2) end
    end
    local took, terr = take_over(p, text, cfg ~= nil)
    if not took then
        error("rollout gateway: " .. opts.plan .. ": " .. terr ..
              " (the serving plan and state stay)", 2)
    end
    org1, org2 = source(opts.org, "org")
    user1, user2 = source(opts.user, "user")
    session1, session2 = source(opts.session, "session")
    request1, request2 = source(opts.request, "request")
    local attrs = opts.attrs or {}
    if type(attrs) ~= "table" or attrs[1] ~= nil then
        error("rollout gateway: attrs: a table { attribute = variable } expected", 2)
    end
    attr_keys = {}
    for k, v in pairs(attrs) do
        if type(k) ~= "string" or k == "" or type(v) ~= "string" or v == "" then
            error("rollout gateway: attrs: a table { attribute = variable } expected", 2)
        end
        attr_keys[#attr_keys + 1] = k
    end
    if #attr_keys > 4 then error("rollout gateway: attrs: at most 4", 2) end
    sort(attr_keys)
    -- what route() reads for every request: the ids and attributes the
    -- plan's cohort rules read; the other ids only when a decision buckets
    -- by them, and attributes no rule reads never
    local reads, rerr = p:rule_reads()
    if not reads then error("rollout gateway: " .. rerr, 2) end
    eager_org, eager_user = reads.org, reads.user
    eager_session, eager_request = reads.session, reads.request
    local rule_attr = {}
    for _, k in ipairs(reads.attrs) do rule_attr[k] = true end
    rule_attr_keys, rule_attr_vars = {}, {}
    for _, k in ipairs(attr_keys) do
        if rule_attr[k] then
            rule_attr_keys[#rule_attr_keys + 1] = k
            rule_attr_vars[#rule_attr_vars + 1] = attrs[k]
        end
    end
    n_attrs = #rule_attr_keys
    attr_buf = ffi.new("rollout_attr[?]", n_attrs > 0 and n_attrs or 1)
    cctx.attrs, cctx.n_attrs = attr_buf, n_attrs
    local up = opts.upstreams or {}
    upstream_new, upstream_stable = up.new or "canary", up.stable or "stable"
    reason_var = opts.reason_var or "rollout_reason"
    if #reason_var > 255 then error("rollout gateway: reason_var: too long", 2) end
    -- stand-ins outside nginx (tests): var_get(r, name, len, lowbuf, 0, vp,
    -- vl, err), var_set(r, name, len, lowbuf, value, value_len, err,
    -- err_len) and get_request(), as lua-nginx-module and resty.core offer them
    var_get, var_set, get_request = opts.var_get, opts.var_set, opts.get_request
    clock_scale = nil
    if opts.clock ~= nil then
        local k = opts.clock
        if type(k) ~= "table" or type(k.scale) ~= "number" or not (k.scale >= 1 and k.scale <= 1e6)
                or type(k.start) ~= "number" or type(k.origin) ~= "number" then
            error("rollout gateway: clock: {scale = 1..1e6, start = epoch s, origin = epoch s} "
                  .. "expected", 2)
        end
        clock_scale, clock_start, clock_origin = k.scale, k.start, k.origin
    end
    if not var_get then
        local okb, base = pcall(require, "resty.core.base")
        pcall(require, "resty.core.var")   -- declares the two functions
        local okv, fget, fset = pcall(function()
            return ffi.C.ngx_http_lua_ffi_var_get, ffi.C.ngx_http_lua_ffi_var_set
        end)
        if not (okb and okv) then
            error("rollout gateway: needs lua-resty-core (resty.core.base, resty.core.var)", 2)
        end
        var_get, var_set, get_request = fget, fset, base.get_request
    end
    plan = p
    _M.plan = plan
    store_cfg = cfg
    fresh_state = cfg and plan:new_state() or nil
    sync_key = "sync:" .. plan:fingerprint() .. ":"
    bad_state_text, bad_state_label = nil, nil
    -- the fingerprint (a digest of the normalized plan, id included) names
    -- the plan; a short key because every request hashes it (crc32) to
    -- look it up
    state_key = plan:fingerprint()
    -- one lock per rollout, shared with the other generation during a reload
    lock_key = "lock:" .. plan:id()
    active_key = "active:" .. plan:id()
    -- a store's "no state yet" is not started (STABLE), from the first request
    cached_text, cached_state, cached_err = nil, fresh_state, nil
    -- say which plan this configuration routes by, and whether a state is
    -- already recorded for it (e.g. a rollback that survives the reload)
    local text = dict:get(state_key)
    ngx.log(ngx.NOTICE, "rollout: plan ", plan:id(), " (", plan:fingerprint(), ") from ",
            opts.plan, text and (", state " .. text) or ", no state yet",
            cfg and (", store " .. cfg.name .. (cfg.key and " (signed)" or " (unsigned)")) or "")
    return plan
end

-- The shared state as this worker sees it now: a state object, or nil when
-- no event has been applied yet. nil, err when the dict holds a line that
-- does not decode (the caller should route to stable, the safe side); the
-- error is cached with the line, so a bad line costs one decode, not one
-- per request. Cost per request: one dict get and one string comparison.
function _M.state()
    local text = dict:get(state_key)
    if text ~= cached_text then
        if text == nil then
            -- with a store, no state yet is not started: STABLE for
            -- everyone until the fleet's state arrives
            cached_state, cached_err = fresh_state, nil
        else
            local s, err = plan:decode_state(text)
            cached_state, cached_err = s, err
            if not s then ngx.log(ngx.ERR, "rollout: shared state unreadable: ", err) end
        end
        cached_text = text
    end
    if cached_err then return nil, cached_err end
    return cached_state
end

-- ---- the per-request decision ----------------------------------------------------------

-- The request's value of nginx variable name, into vp[0], vl[0]: true when
-- there is one and it is not empty.
local function read(r, name)
    return var_get(r, name, #name, lowbuf, 0, vp, vl, verr) == 0 and vl[0] ~= 0
end

-- The request's value of nginx variable name, into vp[0], vl[0], for an
-- attribute: true when nginx has the variable, even empty. A header sent
-- with an empty value is the empty string, one not sent is absent
-- (docs/targeting.md, "Attributes"); lua-nginx-module answers NGX_DECLINED
-- only for the latter.
local function read_attr(r, name)
    return var_get(r, name, #name, lowbuf, 0, vp, vl, verr) == 0
end

-- The request's value of the first of two variables (the second may be
-- nil) that has one, into vp[0], vl[0]; false when neither has (or no
-- variable is named).
local function read_either(r, v1, v2)
    return v1 ~= nil and (read(r, v1) or (v2 ~= nil and read(r, v2)))
end

-- The request's id from a variable and its fallback, as the context's
-- pointer and length: nil, 0 when not wanted or the request has none.
local function id_of(r, wanted, v1, v2)
    if wanted and read_either(r, v1, v2) then return vp[0], vl[0] end
    return nil, 0
end

-- Fills the context's id of unit ("org", "user", "session", "request",
-- the names decide_label_raw gives) from the request, if route() did not
-- read it already: true when the request has one.
local function fill_unit(r, c, unit)
    if unit == "org" and not eager_org and read_either(r, org1, org2) then
        c.org, c.org_len = vp[0], vl[0]
    elseif unit == "user" and not eager_user and read_either(r, user1, user2) then
        c.user, c.user_len = vp[0], vl[0]
    elseif unit == "session" and not eager_session and read_either(r, session1, session2) then
        c.session, c.session_len = vp[0], vl[0]
    elseif unit == "request" and not eager_request and read_either(r, request1, request2) then
        c.request, c.request_len = vp[0], vl[0]
    else
        return false
    end
    return true
end

-- route() -> upstream name
--
-- The whole per-request decision, for set_by_lua (examples/nginx/nginx.conf):
-- reads the ids and attributes from init's nginx variables, the shared
-- state (one dict get), decides, puts the decision's label
-- (plan:decide_label, e.g. "IN_ROLLOUT cohort=pilot phase=pilot step=1
-- unit=user") in the variable init's reason_var, and returns init's
-- upstreams.new or upstreams.stable. A state that does not decode routes to
-- stable, labelled "STATE_UNREADABLE: <why>". The full explanation of a
-- decision (rollout_explain's sentence, which names the id and its bucket)
-- is the admin location's GET .../explain.
--
-- What it costs is what it avoids: the ids go to the library as pointers
-- into nginx's request memory, never as Lua strings (interning a new string
-- per id and request, then collecting it, was the largest part of a
-- decision's cost); labels are cached in the plan; nothing else allocates.
-- And each nginx variable read by name costs about 800 instructions (the
-- name lowercased and hashed, nginx's scan of its prefix variables, the
-- header or cookie scan), so only the ids the plan's cohort rules read are
-- read for every request; a unit's id (a session for a step that buckets
-- by session, say) only when the decision comes back MISSING_UNIT for it,
-- which costs a second decision (about 250 instructions) for those
-- requests alone.
-- It is a Lua function called from the set_by_lua chunk, so that LuaJIT
-- compiles it from its entry: a chunk is a vararg function, which LuaJIT
-- never compiles, and interpreted FFI calls cost ten times more.
function _M.route()
    local r = get_request()
    local c = cctx
    -- the ids the cohort rules read; the others absent until a decision
    -- asks for one (fill_unit)
    c.org, c.org_len = id_of(r, eager_org, org1, org2)
    c.user, c.user_len = id_of(r, eager_user, user1, user2)
    c.session, c.session_len = id_of(r, eager_session, session1, session2)
    c.request, c.request_len = id_of(r, eager_request, request1, request2)
    -- an absent attribute has no key, as in resty.rollout's prepared sets;
    -- an empty one points at "" (a NULL value would be absent)
    for i = 1, n_attrs do
        local a = attr_buf[i - 1]
        if read_attr(r, rule_attr_vars[i]) then
            local k = rule_attr_keys[i]
            a.key, a.key_len, a.value_len = k, #k, vl[0]
            if vl[0] ~= 0 then a.value = vp[0] else a.value = "" end
        else
            a.key, a.key_len, a.value, a.value_len = nil, 0, nil, 0
        end
    end
    local state, err = _M.state()
    local variant, label
    if err then
        if err ~= bad_state_text then
            bad_state_text, bad_state_label = err, "STATE_UNREADABLE: " .. err
        end
        variant, label = "stable", bad_state_label
    else
        -- the event loop's cached clock (plan_now); the library reads none
        local now = plan_now()
        local unit
        variant, label, unit = plan:decide_label_raw(c, now, state)
        -- the step buckets by an id not read yet: read it and decide again,
        -- which answers as a context with every id would
        if unit and fill_unit(r, c, unit) then
            variant, label = plan:decide_label_raw(c, now, state)
        end
        if not variant then variant, label = "stable", "DECIDE_FAILED: " .. label end
    end
    set_err_len[0] = 256
    if var_set(r, reason_var, #reason_var, lowbuf, label, #label, set_err, set_err_len) ~= 0 then
        ngx_var[reason_var] = label   -- raises with nginx's message (e.g. not declared)
    end
    if variant == "new" then return upstream_new end
    return upstream_stable
end

-- The key the state is stored under (for ops scripts that write it).
function _M.state_key() return state_key end

-- What route() reads for every request, from the plan's cohort rules:
-- { org = bool, user = bool, session = bool, request = bool, attrs = { keys } }.
-- An id not read for every request is read when a decision buckets by it.
function _M.reads()
    local keys = {}
    for i, k in ipairs(rule_attr_keys) do keys[i] = k end
    return { org = eager_org, user = eager_user, session = eager_session,
             request = eager_request, attrs = keys }
end

-- ---- the admin handler ----------------------------------------------------------------

-- JSON for the admin responses (strings, numbers, booleans, arrays, objects).
local function json(v)
    local t = type(v)
    if t == "string" then
        return '"' .. v:gsub('[%c"\\]', function(c)
            local map = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
            return map[c] or ("\\u%04x"):format(c:byte())
        end) .. '"'
    elseif t == "number" then
        return ("%.17g"):format(v)
    elseif t == "boolean" then
        return tostring(v)
    elseif t == "table" then
        if #v > 0 or next(v) == nil then
            local parts = {}
            for i, x in ipairs(v) do parts[i] = json(x) end
            return "[" .. concat(parts, ",") .. "]"
        end
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        table.sort(keys)
        local parts = {}
        for i, k in ipairs(keys) do parts[i] = json(tostring(k)) .. ":" .. json(v[k]) end
        return "{" .. concat(parts, ",") .. "}"
    end
    return "null"
end
_M.json = json

local function respond(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx.say(json(body))
    return ngx.exit(status)
end

-- The state events are applied to: the one in the dict, or, before any
-- event, the state the plan's schedule implies (started at the plan's
-- start, no gate decided), which is what decisions used until now.
local function current_state(plan, now)
    local text = dict:get(state_key)
    if text then return plan:decode_state(text) end
    if fresh_state then return fresh_state end
    local s = plan:new_state()
    if now >= plan:start() then
        local started, err = plan:apply(s, "start", plan:start())
        if not started then return nil, err end
        s = started
    end
    return s
end

-- A lock in the dict itself: two admin requests in two workers must not
-- both read revision n and write their own n+1.
local function with_lock(fn)
    for _ = 1, 500 do
        if dict:add(lock_key, true, 5) then
            local ok, a, b, c = pcall(fn)
            dict:delete(lock_key)
            if not ok then error(a, 0) end
            return a, b, c
        end
        ngx.sleep(0.01)
    end
    return nil, "the state is locked by another admin request", "LOCKED"
end

-- Why an old generation's worker refuses an event during a reload.
local function retiring()
    return "another plan serves since a reload (" .. tostring(dict:get(active_key)) ..
           "); this worker is finishing its requests: retry"
end

local function describe(plan, s, now)
    local info = s and s:info() or {}
    local sched = plan:schedule(now, s)
    local weights = {}
    for _, c in ipairs(sched.cohorts) do weights[c.cohort] = c.weight end
    local trail = s and plan:trail(s) or {}
    return {
        plan = plan:id(), fingerprint = plan:fingerprint(), key = state_key,
        status = s and info.status or sched.status, revision = info.revision or 0,
        attempt = info.attempt or 1, trail = #trail > 0 and trail or nil,
        state = s and s:encode() or nil, weights = weights,
    }
end

local ID_ARGS = { "org", "user", "session", "request" }

-- GET .../explain?org=..&user=..&session=..&request=..&<attr>=..: how the requests of
-- that context are routed now, with the shared state route() reads: the
-- label route() puts in the header, the full explanation and the decision.
local function explain(args, now)
    -- one value per parameter (attributes checked first); an empty id is
    -- absent, an empty attribute the empty string, as route() reads headers
    for _, names in ipairs({ attr_keys, ID_ARGS }) do
        for _, name in ipairs(names) do
            local v = args[name]
            if v ~= nil and type(v) ~= "string" then
                return respond(400, { error = name .. ": one value expected" })
            end
        end
    end
    local function arg(name)
        local v = args[name]
        if v ~= "" then return v end
    end
    local a = {}
    for _, k in ipairs(attr_keys) do a[k] = args[k] end
    local ctx = { org = arg("org"), user = arg("user"), session = arg("session"),
                  request = arg("request"), attrs = a }
    local state, err = _M.state()
    if err then return respond(500, { error = "rollout state unreadable: " .. err }) end
    local d, derr = plan:decide(ctx, now, state)
    if not d then return respond(500, { error = derr }) end
    local text = plan:explain(ctx, now, state)
    local _, label = plan:decide_label(ctx.org, ctx.user, ctx.session, now, state, ctx.request,
                                       ctx.attrs)
    d.label, d.explanation = label, text
    d.upstream = d.variant == "new" and upstream_new or upstream_stable
    return respond(200, d)
end

-- An event through the store: read, apply, compare-and-set, retried on a
-- conflict (rollout_store_apply), in this worker. It blocks the worker for
-- at most a connect, then a read and a compare-and-set per attempt, each
-- bounded by store_timeout_ms: admin requests are rare and come from
-- operators, and an operator must learn at once whether the fleet took the
-- event (200) or not (503 with the store's error, nothing written). The
-- state written is put into this instance's dict as well, so its next
-- request follows it; the other gateways get it from the store's push.
local function store_event(plan, event, now)
    if dict:get(active_key) ~= state_key then
        return respond(503, { error = retiring(), code = "RELOADED" })
    end
    local st, err, code = store_open(store_cfg, { max_retries = 10 })
    local nxt, actions
    if st then
        -- the handle is new: it learns the state this gateway holds, so an
        -- event is never applied on a stored state that does not follow it
        -- (a store restored from a backup: docs/fleet.md, "Restoring")
        local held = held_state()
        if held then st:hold(plan, held) end
        nxt, actions, code = st:apply(plan, event, now)
        if not nxt then err = actions end
        st:close()
    end
    if not nxt then
        local status = (code == "ROLLOUT_ERR_TRANSITION" or code == "ROLLOUT_ERR_NOT_FOUND" or
                        code == "ROLLOUT_ERR_CONFLICT") and 409 or
                       ((code == "ROLLOUT_ERR_ARG" or code == "ROLLOUT_ERR_VALUE" or
                         code == "ROLLOUT_ERR_ENCODING") and 400 or 503)
        ngx.log(ngx.WARN, "rollout: event ", event.type, " not applied: ", err)
        return respond(status, { error = err, code = code })
    end
    publish(nxt)
    local body = describe(plan, nxt, now)
    body.actions = actions
    body.store = sync_report(ngx.now())
    ngx.log(ngx.WARN, "rollout: event ", event.type, " applied through the store ",
            store_cfg.name, "; status ", body.status, ", revision ", body.revision)
    return respond(200, body)
end

-- Handles, from a location that only loopback may reach:
--   GET    .../state                  the state, the plan and each cohort's weight now
--   GET    .../explain?org=&user=&session=&<attr>=   a context's decision, label and
--          explanation now (what route() decides for such a request)
--   POST   .../event?name=NAME&...    applies an event: name is rollback, abort,
--          retry, promote, pause, resume, go, no_go, approve, verdict, confirm,
--          escalate, tick or start; gate, role, verdict, reason, confirmation,
--          override=1 and override_verdict=1 as the event needs; why=TEXT (the
--          reason in words, required by an override and by promote), by=ROLE
--          (who sends it) and all_phases=1 (promote) for the audit trail
--   DELETE .../state                  forgets the state: back to the plan's schedule
-- Responds with JSON; 400 for a malformed event, 409 for one the state does
-- not allow now, 405 for another method.
function _M.admin()
    local plan = _M.plan
    local method = ngx.req.get_method()
    local uri = ngx.var.uri
    local now = plan_now()
    if uri:find("/state$") then
        if method == "GET" then
            local s, err = current_state(plan, now)
            if not s then return respond(500, { error = err }) end
            if not dict:get(state_key) and not store_cfg then s = nil end
            local body = describe(plan, s, now)
            if store_cfg then body.store = sync_report(ngx.now()) end
            return respond(200, body)
        elseif method == "DELETE" then
            if store_cfg then
                return respond(409, { error = "the state is the fleet's, in the store " ..
                                      store_cfg.name .. "; a gateway does not delete it",
                                      code = "STORE" })
            end
            local done, err, code = with_lock(function()
                if dict:get(active_key) ~= state_key then return nil, retiring(), "RELOADED" end
                dict:delete(state_key)
                return true
            end)
            if not done then return respond(503, { error = err, code = code }) end
            return respond(200, describe(plan, nil, now))
        end
        return respond(405, { error = "GET or DELETE" })
    end
    if uri:find("/explain$") then
        if method ~= "GET" then return respond(405, { error = "GET" }) end
        return explain(ngx.req.get_uri_args(), now)
    end
    if not uri:find("/event$") then return respond(404, { error = "no such admin resource" }) end
    if method ~= "POST" then return respond(405, { error = "POST an event" }) end

    local args = ngx.req.get_uri_args()
    local event = {
        type = args.name, gate = args.gate, role = args.role, verdict = args.verdict,
        reason = args.reason, confirmation = args.confirmation,
        override = args.override == "1" or args.override == "true",
        override_verdict = args.override_verdict == "1" or args.override_verdict == "true",
        all_phases = args.all_phases == "1" or args.all_phases == "true",
        why = args.why, by = args.by,
    }
    for _, k in ipairs({ "why", "by", "gate", "role" }) do
        if event[k] ~= nil and type(event[k]) ~= "string" then
            return respond(400, { error = k .. ": one value expected" })
        end
    end
    if type(event.type) ~= "string" then return respond(400, { error = "name=EVENT is required" }) end

    if store_cfg then return store_event(plan, event, now) end

    local result, err, code = with_lock(function()
        if dict:get(active_key) ~= state_key then return nil, retiring(), "RELOADED" end
        local s, e, c = current_state(plan, now)
        if not s then return nil, e, c end
        local nxt, actions, acode = plan:apply(s, event, now)
        if not nxt then return nil, actions, acode end
        local text = nxt:encode()
        -- set, not add: the lock makes this the only writer right now
        local ok, serr = dict:set(state_key, text)
        if not ok then return nil, "shared dict: " .. tostring(serr), "DICT" end
        local body = describe(plan, nxt, now)
        body.actions = actions
        return body
    end)
    if not result then
        local status = code == "ROLLOUT_ERR_TRANSITION" and 409 or
                       ((code == "LOCKED" or code == "RELOADED") and 503 or 400)
        return respond(status, { error = err, code = code })
    end
    ngx.log(ngx.WARN, "rollout: event ", event.type, " applied; status ", result.status,
            ", revision ", result.revision)
    return respond(200, result)
end

return _M
