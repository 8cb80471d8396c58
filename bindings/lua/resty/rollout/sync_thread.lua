-- SPDX-License-Identifier: MIT
-- resty/rollout/sync_thread.lua — the blocking half of the gateway's store
-- sync (resty/rollout/gateway.lua), run by ngx.run_worker_thread in one of
-- nginx's worker threads, so the worker's event loop keeps serving requests
-- while a watch waits on the store. Each call gets what it needs as numbers
-- and strings: the library paths, the addresses of the worker's store handle
-- and plan (the worker keeps them alive and does not use the handle
-- meanwhile), and answers in strings.

local rollout = require "resty.rollout"

local _M = {}

local function load(lib, store_lib)
    local ok, err = rollout.load_library(lib)
    if ok then ok, err = rollout.load_store_library(store_lib) end
    return ok, err
end

-- rollout_store_watch: the newer state's text; false; or nil, message, code.
function _M.watch(lib, store_lib, st_addr, plan_addr, after, wait_ms)
    local ok, err = load(lib, store_lib)
    if not ok then return nil, err, "ROLLOUT_ERR_IO" end
    return rollout.watch_at(st_addr, plan_addr, after, wait_ms)
end

local DOWN = { ROLLOUT_ERR_STORE = true, ROLLOUT_ERR_TIMEOUT = true }

-- A plan edit (docs/fleet.md, "Plan edits"): the store's state, read with
-- the plan it was written for (old_text), migrated to the new plan
-- (new_text) and written by compare-and-set in place of the revision read.
-- held: the revision the gateway holds; a stored state more than one
-- revision older is a replay, not something to carry. Returns a tag and
-- details: "written", text, summary | "none" (nothing stored, or not the
-- old plan's state: migrated already) | "conflict", message (the state moved
-- on: read it again) | "down", message, code | "refused", message, code |
-- "cannot", message (rollout_state_migrate refused).
function _M.migrate(lib, store_lib, st_addr, old_text, new_text, held)
    local ok, err = load(lib, store_lib)
    if not ok then return "refused", err, "ROLLOUT_ERR_IO" end
    local old, oerr = rollout.load_string(old_text, "the plan before the edit")
    if not old then return "refused", oerr, "ROLLOUT_ERR_PLAN" end
    local new, nerr = rollout.load_string(new_text, "the plan after the edit")
    if not new then return "refused", nerr, "ROLLOUT_ERR_PLAN" end
    local st = rollout.store_at(st_addr)
    local s, lerr, code = st:load(old)
    if not s then
        if code == "ROLLOUT_ERR_NOT_FOUND" or code == "ROLLOUT_ERR_STATE_PLAN" then return "none" end
        return DOWN[code] and "down" or "refused", lerr, code
    end
    if held and s:revision() + 1 < held then
        return "refused", ("the store holds revision %d, older than the revision %d this gateway " ..
                           "holds (a replayed or restored state); not carried over")
                          :format(s:revision(), held), "ROLLOUT_ERR_REPLAY"
    end
    local m, merr = new:migrate(s, old)
    if not m then return "cannot", merr end
    local put, perr, pcode = st:put(new, s:revision(), m)
    if put then
        return "written", m:encode(), ("revision %d -> %d, %s"):format(s:revision(), m:revision(),
                                                                      m:status())
    end
    if pcode == "ROLLOUT_ERR_CONFLICT" then return "conflict", perr end
    return DOWN[pcode] and "down" or "refused", perr, pcode
end

return _M
