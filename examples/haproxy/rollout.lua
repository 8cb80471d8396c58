-- SPDX-License-Identifier: MIT
-- examples/haproxy/rollout.lua — canary routing with librollout in HAProxy
-- (Debian 12: HAProxy 2.6 on Lua 5.3, the C module build/lua53/rollout.so).
--
-- Loaded by `lua-load-per-thread` (examples/haproxy/haproxy.cfg): every
-- HAProxy thread has its own Lua state, so requests on different threads
-- never wait on one Lua lock. At load, in the master, before the workers
-- exist, it loads the plan; a plan that does not load, or an edit the
-- current state cannot be carried to, raises, and HAProxy refuses the
-- configuration (on a reload, the old workers keep serving).
--
-- Per request, the converter lua.rollout decides from the org (header or
-- cookie), the user, the session, the request id and the attributes, which
-- haproxy.cfg fetches natively into txn.rollout_in, and returns the
-- decision's label: haproxy.cfg puts it in txn.rollout_reason (sent back as
-- X-Rollout-Reason) and sets txn.rollout to "canary" when it starts with
-- IN_ROLLOUT (use_backend reads it). The converter does no I/O and takes no
-- lock: the state it decides with is a Lua value that the sync task below
-- replaces.
--
-- The state is the file that `rollout state init|apply|tick --state FILE`
-- writes (one rs1 line, replaced atomically by rename). A task re-reads it
-- every ROLLOUT_POLL_MS (100) milliseconds and decodes it only when it
-- changed, so a rollback reaches every request within that interval. The
-- file is local and one line long: the read is an open and a read of the
-- page cache, the one file access a task makes; nothing here opens a
-- network connection (docs/lua.md, "HAProxy", says why not the store).
--
-- Settings, from the environment (haproxy.cfg sets them with `setenv`
-- before `lua-load-per-thread`):
--   ROLLOUT_PLAN     the plan (YAML)
--   ROLLOUT_STATE    the state file; beside it, FILE.plan keeps a copy of
--                    the plan the state was written for, so that a reload
--                    with an edited plan can carry the state over
--   ROLLOUT_POLL_MS  how often the task re-reads the state file (10..5000)

local rollout = require "rollout"

local PLAN = os.getenv("ROLLOUT_PLAN") or "/etc/haproxy/rollout/plan.yaml"
local STATE = os.getenv("ROLLOUT_STATE") or "/var/lib/haproxy/rollout.state"
local POLL_MS = math.tointeger(tonumber(os.getenv("ROLLOUT_POLL_MS") or "100"))
if not POLL_MS or POLL_MS < 10 or POLL_MS > 5000 then
    error("rollout: ROLLOUT_POLL_MS must be a whole number of milliseconds from 10 to 5000")
end
local PLAN_COPY = STATE .. ".plan"

local function read_file(path)
    local f, err, errno = io.open(path, "rb")
    if not f then
        return nil, err, errno
    end
    local text = f:read("a")
    f:close()
    return text
end

-- Lua 5.3 has no getpid: a table's address (ASLR places each process's heap
-- apart) and the load time tell this process's temporary files from those of
-- an old worker still running during a reload
local PROCESS_TAG = (tostring({}):match("(%x+)$") or "0") .. "." .. tostring(os.time())

-- Replaces path's content atomically, as the state writer does: a reader
-- sees the old copy or the new one.
local function write_file(path, text)
    local tmp = path .. ".tmp." .. PROCESS_TAG .. "." .. tostring(core.thread or 0)
    local f, err = io.open(tmp, "wb")
    if not f then
        return nil, err
    end
    local ok, werr = f:write(text)
    f:close()
    if not ok then
        os.remove(tmp)
        return nil, werr
    end
    return os.rename(tmp, path)
end

local plan_text = read_file(PLAN)
if not plan_text then
    error("rollout: cannot read the plan " .. PLAN)
end
local plan, perr = rollout.load_string(plan_text, PLAN)
if not plan then
    error("rollout: " .. perr)
end

-- The plan served before this configuration, when it was another one: a
-- state written for it is carried over to this plan.
local previous
do
    local text = read_file(PLAN_COPY)
    if text and text ~= plan_text then
        local p = rollout.load_string(text, PLAN_COPY)
        if p and p:fingerprint() ~= plan:fingerprint() then
            previous = p
        end
    end
end

-- text -> state (or nil: no state, the plan's own schedule), how
-- ("own" | "migrated"), or nil, nil, why it is unreadable, fatal (an edit the
-- state cannot be carried to)
local function settle(text)
    if text == nil then
        return nil, "own"
    end
    local s, err, code = plan:decode_state(text)
    if s then
        return s, "own"
    end
    if code == "ROLLOUT_ERR_STATE_PLAN" and previous then
        local old = previous:decode_state(text)
        if old then
            local m, merr = plan:migrate(old, previous)
            if m then
                return m, "migrated"
            end
            return nil, nil, "the state cannot be carried over to the edited plan " .. PLAN
                .. ": " .. merr, true
        end
    end
    return nil, nil, err
end

local state            -- what requests decide with (nil: the plan's schedule)
local unreadable       -- a label when the state file cannot be used: all STABLE
local seen = false     -- whether the file was read once (seen_text may be nil)
local seen_text        -- the file's content as last read
-- whether FILE.plan must be made this plan's text: the file holds no state
-- or one of this plan. The task does it, never the load, so that
-- `haproxy -c` writes nothing.
local copy_due = false

local function trim(text)
    return text and (text:gsub("%s+$", ""))
end

-- Reads the state file and takes a changed state; fatal errors only at load.
local function sync(at_load)
    local text, err, errno = read_file(STATE)
    if not text and errno ~= 2 then
        -- there but unreadable: keep routing as before (fail-static), or
        -- route to stable when no state was ever read; say why once
        if not seen then
            state, unreadable = nil, "STATE_UNREADABLE: " .. tostring(err)
        end
        if seen_text ~= false then
            core.Alert("rollout: cannot read the state file: " .. tostring(err))
            seen, seen_text = true, false
        end
        return
    end
    text = trim(text)
    if seen and text == seen_text then
        return
    end
    seen, seen_text = true, text
    local s, how, why, fatal = settle(text)
    if fatal and at_load then
        error("rollout: " .. why)
    end
    if why then
        core.Alert("rollout: state file " .. STATE .. " unreadable, routing everything to stable: " .. why)
        state, unreadable = nil, "STATE_UNREADABLE: " .. why
        return
    end
    state, unreadable = s, nil
    copy_due = how == "own"
end

-- FILE.plan names the plan the file's state was written for, so that the
-- next configuration can carry that state over; while the file holds a
-- state of the previous plan, the copy stays that plan.
local function update_copy()
    if not copy_due then
        return
    end
    copy_due = false
    if read_file(PLAN_COPY) ~= plan_text then
        local ok, err = write_file(PLAN_COPY, plan_text)
        if not ok then
            core.Alert("rollout: cannot write " .. PLAN_COPY .. ": " .. tostring(err))
        end
    end
end

sync(true)

core.register_task(function()
    while true do
        local ok, err = pcall(sync, false)
        if ok then
            ok, err = pcall(update_copy)
        end
        if not ok then
            core.Alert("rollout: state sync: " .. tostring(err))
        end
        core.msleep(POLL_MS)
    end
end)

-- Request side ---------------------------------------------------------------
--
-- A converter, not an action or a fetch: HAProxy 2.6 builds a transaction
-- object (txn.f, txn.sf, txn.http, ...) for every Lua action or fetch, about
-- 5 us of CPU a request; a converter is handed a string and costs a
-- fraction of that (docs/performance.md, "HAProxy"). So haproxy.cfg fetches
-- the ids natively into one variable, a line per field:
--   org header, org cookie, user, session, request id,
--   then per attribute of ATTRS its count of headers (0: absent) and value
-- ("\n" cannot occur in a header or a cookie). An empty id is absent; an
-- attribute sent empty is the empty string.

local ATTRS = { "email" }   -- the attributes haproxy.cfg writes, in its order

local attrs = rollout.new_attrs(ATTRS)
local ID_FIELDS = "^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)()"
local ATTR_FIELD = "^\n(%d+)\n([^\n]*)()"

local function nonempty(v)
    if v == "" then
        return nil
    end
    return v
end

local function decide(input)
    if unreadable then
        return unreadable
    end
    local org, org_cookie, user, session, request, pos = input:match(ID_FIELDS)
    if not org then
        return "BAD_INPUT"
    end
    for i = 1, #ATTRS do
        local n, v, nextpos = input:match(ATTR_FIELD, pos)
        if not n then
            return "BAD_INPUT"
        end
        attrs:set(ATTRS[i], n ~= "0" and v or nil)
        pos = nextpos
    end
    local _, label = plan:decide_label(nonempty(org) or nonempty(org_cookie), nonempty(user),
                                             nonempty(session), os.time(), state,
                                             nonempty(request), attrs)
    return label
end

core.register_converters("rollout", decide)
