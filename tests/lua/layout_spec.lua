-- SPDX-License-Identifier: MIT
-- layout_spec.lua — the FFI module's ffi.cdef against the C compiler's view
-- of include/rollout.h: every size and field offset tests/lua/layout.c
-- prints must be what LuaJIT computes from the declarations. A header change
-- the FFI declarations miss would otherwise read and write the wrong bytes.
-- (The C module is compiled against the header itself: nothing to check.)
local H = require "helper"

if H.binding ~= "ffi" then return end
local ffi = require "ffi"

describe("FFI struct layouts", function()
    it("match include/rollout.h byte for byte", function()
        assert.is_string(H.layout, "ROLLOUT_LAYOUT is not set")
        local p = assert(io.popen(H.layout))
        local out = p:read("*a")
        p:close()
        local checked, structs = 0, {}
        for line in out:gmatch("[^\n]+") do
            local t, field, n = line:match("^(%S+) (%S+) (%d+)$")
            assert.is_not_nil(t, line)
            n = tonumber(n)
            if field == "sizeof" then
                assert.are.equal(n, ffi.sizeof(t), t .. " size")
                structs[#structs + 1] = t
            else
                assert.are.equal(n, ffi.offsetof(t, field), t .. "." .. field)
            end
            checked = checked + 1
        end
        assert.are.equal(12, #structs)
        assert.is_true(checked > 130)
    end)
end)
