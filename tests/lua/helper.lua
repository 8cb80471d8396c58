-- SPDX-License-Identifier: MIT
-- helper.lua — what the busted specs share: which binding is under test,
-- a small JSON reader for tests/vectors (the same files the C and Python
-- tests read), hex and time helpers, and the paths CMake passes in.
--
-- The binding comes from ROLLOUT_LUA_BINDING: "ffi" (resty.rollout, LuaJIT
-- only; the library from ROLLOUT_LIBRARY) or "c" (the rollout C module found
-- on package.cpath, which ctest points at the build's lua/ or lua51/). The
-- same spec files run against both.

local H = {}

H.binding = os.getenv("ROLLOUT_LUA_BINDING") or (jit and "ffi" or "c")
if H.binding == "ffi" then
    H.rollout = require "resty.rollout"
    local ok, err = H.rollout.load_library(os.getenv("ROLLOUT_LIBRARY"))
    assert(ok, err)
else
    H.rollout = require "rollout"
end

H.harness = os.getenv("ROLLOUT_HARNESS")     -- tests/lua/decide_batch.c
H.layout = os.getenv("ROLLOUT_LAYOUT")       -- tests/lua/layout.c

-- What plan:decide_label must return as the label of decision table d
-- (plan:decide), written independently of both bindings.
function H.label_of(d)
    local parts = { d.reason }
    if d.cohort then parts[#parts + 1] = "cohort=" .. d.cohort end
    if d.phase then parts[#parts + 1] = "phase=" .. d.phase end
    if d.step then parts[#parts + 1] = "step=" .. d.step end
    if d.unit then parts[#parts + 1] = "unit=" .. d.unit end
    return table.concat(parts, " ")
end

function H.read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

function H.write_file(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

function H.unhex(s)
    return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

function H.hex(s)
    return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- ---- JSON ----------------------------------------------------------------------
-- Enough of RFC 8259 for the vector files: objects, arrays, strings with
-- every escape (\uXXXX with surrogate pairs -> UTF-8), numbers, true, false,
-- null (H.null, so that a null is distinguishable from a missing key).

H.null = setmetatable({}, { __tostring = function() return "null" end })

local function utf8_encode(cp)
    if cp < 0x80 then return string.char(cp) end
    if cp < 0x800 then
        return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
    end
    if cp < 0x10000 then
        return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
                           0x80 + cp % 0x40)
    end
    return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
                       0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local ESCAPES = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n',
                  r = '\r', t = '\t' }

function H.json_decode(s)
    local pos = 1
    local value

    local function fail(what)
        error(("JSON: %s at byte %d"):format(what, pos), 0)
    end
    local function skip()
        pos = s:find("[^ \t\r\n]", pos) or #s + 1
    end
    local function str()
        pos = pos + 1 -- opening quote
        local parts = {}
        while true do
            local q = s:find('["\\]', pos)
            if not q then fail("unterminated string") end
            parts[#parts + 1] = s:sub(pos, q - 1)
            pos = q + 1
            if s:sub(q, q) == '"' then break end
            local e = s:sub(pos, pos)
            if e == "u" then
                local cp = tonumber(s:sub(pos + 1, pos + 4), 16)
                if not cp then fail("bad \\u escape") end
                pos = pos + 5
                if cp >= 0xD800 and cp <= 0xDBFF and s:sub(pos, pos + 1) == "\\u" then
                    local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
                    if lo and lo >= 0xDC00 and lo <= 0xDFFF then
                        cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
                        pos = pos + 6
                    end
                end
                parts[#parts + 1] = utf8_encode(cp)
            elseif ESCAPES[e] then
                parts[#parts + 1] = ESCAPES[e]
                pos = pos + 1
            else
                fail("bad escape")
            end
        end
        return table.concat(parts)
    end
    function value()
        skip()
        local c = s:sub(pos, pos)
        if c == "{" then
            local t = {}
            pos = pos + 1
            skip()
            if s:sub(pos, pos) == "}" then pos = pos + 1 return t end
            while true do
                skip()
                if s:sub(pos, pos) ~= '"' then fail("object key expected") end
                local k = str()
                skip()
                if s:sub(pos, pos) ~= ":" then fail("':' expected") end
                pos = pos + 1
                t[k] = value()
                skip()
                local d = s:sub(pos, pos)
                pos = pos + 1
                if d == "}" then return t end
                if d ~= "," then fail("',' or '}' expected") end
            end
        elseif c == "[" then
            local t = {}
            pos = pos + 1
            skip()
            if s:sub(pos, pos) == "]" then pos = pos + 1 return t end
            while true do
                t[#t + 1] = value()
                skip()
                local d = s:sub(pos, pos)
                pos = pos + 1
                if d == "]" then return t end
                if d ~= "," then fail("',' or ']' expected") end
            end
        elseif c == '"' then
            return str()
        elseif s:find("^true", pos) then
            pos = pos + 4 return true
        elseif s:find("^false", pos) then
            pos = pos + 5 return false
        elseif s:find("^null", pos) then
            pos = pos + 4 return H.null
        else
            local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
            if not num or num == "" then fail("value expected") end
            pos = pos + #num
            return tonumber(num)
        end
    end
    local v = value()
    skip()
    if pos <= #s then fail("trailing data") end
    return v
end

function H.read_json(path)
    return H.json_decode(H.read_file(path))
end

-- ---- time ------------------------------------------------------------------------

-- Epoch seconds of "YYYY-MM-DDTHH:MM:SSZ" (UTC only), without os.time's
-- dependence on the local time zone.
function H.time(iso)
    local y, mo, d, h, mi, s = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
    assert(y, "not a UTC time: " .. iso)
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    -- days from civil (Howard Hinnant's algorithm)
    if mo <= 2 then y = y - 1 end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local mp = (mo + 9) % 12
    local doy = math.floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    local days = era * 146097 + doe - 719468
    return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

H.HOUR, H.DAY = 3600, 86400

-- A plan from text; fails the test with the loader's message.
function H.plan(yaml)
    local p, err = H.rollout.load_string(yaml)
    assert(p, err)
    return p
end

function H.seed()
    local p, err = H.rollout.load_file("examples/plans/seed.yaml")
    assert(p, err)
    return p
end

-- A deterministic generator that behaves the same in LuaJIT and Lua 5.4
-- (Park-Miller: every intermediate is exact in a double).
function H.rng(seed)
    local x = seed % 2147483647
    if x <= 0 then x = x + 2147483646 end
    return function(n)
        x = (x * 16807) % 2147483647
        if n then return x % n end
        return x
    end
end

return H
