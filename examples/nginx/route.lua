-- route.lua — the per-request decision of examples/nginx/nginx.conf, run by
--
--   set_by_lua_file $rollout_upstream .../route.lua
--                   $http_x_org $cookie_org $http_x_user $cookie_session $http_x_email;
--
-- set_by_lua rather than access_by_lua: it runs synchronously, without the
-- coroutine access_by_lua starts for every request, and a decision needs
-- nothing that yields (one shared-dict read, one library call). The ids come
-- in as ngx.arg, evaluated by nginx itself, which is cheaper than reading
-- each through ngx.var. A header or cookie that is not there comes as nil
-- (or ""), and the library treats an empty id as absent.
--
-- Returns the upstream's name ("canary" or "stable") and leaves the
-- decision's explanation in $rollout_reason (X-Rollout-Reason).
-- init_by_lua loaded the module before the workers forked: a table read
-- here, rather than a require() call on every request (a C function call
-- that also keeps LuaJIT from compiling this chunk).
local gw = package.loaded["resty.rollout.gateway"]
local arg = ngx.arg

local org = arg[1]                       -- X-Org header,
if org == nil or org == "" then          -- else the org cookie
    org = arg[2]
end
local email = arg[5]
if email == "" then email = nil end      -- an absent attribute, not an empty one
gw.attrs:set("email", email)

local state, err = gw.state()            -- per-worker cache of the shared state
local explanation, variant
if err then
    -- an unreadable state must not send traffic to the canary
    variant, explanation = "stable", "rollout state unreadable: " .. err
else
    -- ngx.time(): the event loop's cached clock; the library reads none
    explanation, variant = gw.plan:explain(org, arg[3], arg[4], ngx.time(), state, nil, gw.attrs)
    if not explanation then
        variant, explanation = "stable", "rollout decision failed: " .. variant
    end
end
ngx.var.rollout_reason = explanation
if variant == "new" then return "canary" end
return "stable"
