-- route.lua — the per-request decision of examples/nginx/nginx.conf, run by
--
--   set_by_lua_file $rollout_upstream .../route.lua
--                   $http_x_org $cookie_org $http_x_user $cookie_session $http_x_email;
--
-- The ids come in as the chunk's arguments (...): nginx evaluates the
-- variables and the lua module passes them as Lua strings, "" for a header
-- or cookie that is not there (an empty id is an absent one to the
-- library). Reading them again through ngx.arg or ngx.var would cost an FFI
-- call and a new string each.
--
-- This chunk only picks the org and hands over to gateway.route(), which
-- does the work: one shared-dict read for the state, the decision, the
-- label into $rollout_reason (X-Rollout-Reason), and the upstream's name
-- ("canary" or "stable") as the chunk's result. The work is there, in a
-- function with fixed arguments, because LuaJIT compiles such a function
-- from its entry but never compiles a chunk (a vararg function): the FFI
-- calls a decision makes are ten times dearer interpreted.
--
-- set_by_lua rather than access_by_lua: it runs synchronously, without the
-- coroutine access_by_lua starts for every request, and a decision needs
-- nothing that yields.
local org, org_cookie, user, session, email = ...
if org == "" then org = org_cookie end   -- X-Org header, else the org cookie
-- init_by_lua loaded the module before the workers forked: a table read
-- here rather than a require() call per request
return package.loaded["resty.rollout.gateway"].route(org, user, session, email)
