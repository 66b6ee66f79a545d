-- corekv's Lua prelude: the script environment Redis 7.0 gives, on stock
-- Lua 5.1. Runs once per shard thread with the host's helpers; returns what
-- the host drives scripts with. Scripts run as coroutines: redis.call (a C
-- function, so a script's frame stays on the stack) yields to the host,
-- which runs the command (on any shard) and resumes the script with its
-- reply. pcall, xpcall and coroutine.resume are rebuilt on coroutines to let
-- those yields pass through them; a failed redis.call under them is
-- raised there (RAISE) instead of resuming the call.
local host = ...
local co_create, co_resume, co_yield, co_status =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local getinfo = debug.getinfo
local type, error, tostring, select, unpack, rawget, setmetatable, pairs, setfenv =
    type, error, tostring, select, unpack, rawget, setmetatable, pairs, setfenv
local loadstring_raw = loadstring
local sbyte = string.byte

-- A redis.call yields a table of its arguments, {n=, ...} (there may be
-- 8,000 of them), and host.take_call() then says whether it raises on
-- error; a pcall or coroutine passing one up yields NESTED, raise, args;
-- the host answers RAISE, err when the call failed and must raise.
local NESTED, RAISE = {}, {}
-- The script hook paused a busy script (a yield without values); a nested
-- coroutine's pause goes up as TICK, and the host gets 'tick'.
local TICK = {}

local function paused(r)
    return r[2] == TICK or (r.n == 1 and host.take_tick())
end

local function pack(...)
    return { n = select('#', ...), ... }
end

local function ro_error()
    error('Attempt to modify a readonly table', 2)
end

-- Every read-only view made here, by identity: the sandbox's setmetatable
-- and rawset refuse them, as Redis's read-only tables refuse both.
local protected = setmetatable({}, { __mode = 'k' })
-- What getmetatable answers for a read-only view.
local locked_mt = setmetatable({}, { __index = {}, __newindex = ro_error, __metatable = false })
protected[locked_mt] = true

local function readonly(t)
    local v = setmetatable({}, { __index = t, __newindex = ro_error, __metatable = locked_mt })
    protected[v] = true
    return v
end

-- Where an error happened: the innermost frame of the script's own code.
local function locate(co)
    for level = 0, 64 do
        local i = getinfo(co, level, 'Sl')
        if not i then
            return nil
        end
        if i.what ~= 'C' and i.source ~= '@corekv' then
            return i
        end
    end
end

-- A host function's error (an mlua error value) as the message luaL_error
-- would have raised: placed at the script's line.
local function normalize(co, e)
    if type(e) == 'userdata' then
        local m, placed = host.errmsg(e)
        if placed then
            return m
        end
        local i = locate(co)
        return (i and (i.short_src .. ':' .. i.currentline .. ': ') or '') .. m
    end
    return e
end

-- Resumes co; yields of the host's marker go up to the host and back.
local function resume_through(co, ...)
    local r = pack(co_resume(co, ...))
    while r[1] and co_status(co) == 'suspended' do
        -- A pause is told first: a pause of this coroutine itself, taken
        -- between an inner call's yield and here, must leave the call's
        -- flag for this code to take when it resumes.
        if paused(r) then
            co_yield(TICK)
            r = pack(co_resume(co))
        else
            local raise = host.take_call()
            if raise == nil and r[2] ~= NESTED then
                break
            end
            local rep
            if raise ~= nil then
                rep = pack(co_yield(NESTED, raise, r[2]))
                if rep[1] == RAISE then
                    return { n = 2, false, rep[2] }
                end
            else
                rep = pack(co_yield(NESTED, r[3], r[4]))
            end
            r = pack(co_resume(co, unpack(rep, 1, rep.n)))
        end
    end
    if not r[1] then
        r[2] = normalize(co, r[2])
    end
    return r
end

-- SCRIPT KILL's error is not the script's to catch.
local function unless_killed(r)
    if not r[1] and host.killed() then
        error(r[2], 0)
    end
    return r
end

local function ypcall(f, ...)
    local co = co_create(function(...) return f(...) end)
    local r = unless_killed(resume_through(co, ...))
    if r[1] then
        return true, unpack(r, 2, r.n)
    end
    local e = r[2]
    -- As Redis's pcall: an error table answers its message.
    if type(e) == 'table' then
        local m = e.err
        if type(m) == 'string' or type(m) == 'number' then
            e = m
        end
    end
    return false, e
end

local function yxpcall(f, handler)
    local co = co_create(function() return f() end)
    local r = unless_killed(resume_through(co))
    if r[1] then
        return true, unpack(r, 2, r.n)
    end
    return false, handler(r[2])
end

local coroutine_api = {
    create = co_create,
    status = co_status,
    yield = co_yield,
    running = coroutine.running,
    resume = function(co, ...)
        local r = unless_killed(resume_through(co, ...))
        return unpack(r, 1, r.n)
    end,
    wrap = function(f)
        local co = co_create(f)
        return function(...)
            local r = resume_through(co, ...)
            if not r[1] then
                error(r[2], 0)
            end
            return unpack(r, 2, r.n)
        end
    end,
}

-- luaPushErrorBuff: "-CODE msg" or "msg" (code ERR), trailing CR/LF trimmed.
local function error_table(s)
    local code, msg = 'ERR', s
    if sbyte(s, 1) == 45 then
        local sp = s:find(' ', 1, true)
        if sp then
            code, msg = s:sub(2, sp - 1), s:sub(sp + 1)
        else
            msg = s:sub(2)
        end
    end
    msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
    return { err = code .. ' ' .. msg }
end

local redis = {
    call = host.call,
    pcall = host.pcall,
    sha1hex = host.cwrap(function(...)
        if select('#', ...) ~= 1 then
            error(error_table('wrong number of arguments'))
        end
        local s = ...
        if type(s) ~= 'string' and type(s) ~= 'number' then
            s = ''
        end
        return host.sha1hex(tostring(s))
    end),
    log = host.cwrap(function(...)
        local n = select('#', ...)
        if n < 2 then
            error(error_table('redis.log() requires two arguments or more.'))
        end
        local level = ...
        if type(tonumber(level)) ~= 'number' then
            error(error_table('First argument must be a number (log level).'))
        end
        level = tonumber(level)
        if level < 0 or level > 3 then
            error(error_table('Invalid debug level.'))
        end
        local parts = {}
        for j = 2, n do
            local s = select(j, ...)
            if type(s) == 'string' or type(s) == 'number' then
                if j ~= 2 then
                    parts[#parts + 1] = ' '
                end
                parts[#parts + 1] = tostring(s)
            end
        end
        host.log(level, table.concat(parts))
    end),
    setresp = host.cwrap(function(...)
        if select('#', ...) ~= 1 then
            error(error_table('redis.setresp() requires one argument.'))
        end
        local n = tonumber((...))
        if n ~= 2 and n ~= 3 then
            error(error_table('RESP version must be 2 or 3.'))
        end
        host.set_resp(n)
    end),
    error_reply = function(...)
        local s = ...
        if select('#', ...) ~= 1 or type(s) ~= 'string' then
            return error_table('wrong number or type of arguments')
        end
        if sbyte(s, 1) ~= 45 then
            s = '-' .. s
        end
        return error_table(s)
    end,
    status_reply = function(...)
        local s = ...
        if select('#', ...) ~= 1 or type(s) ~= 'string' then
            return error_table('wrong number or type of arguments')
        end
        return { ok = s }
    end,
    set_repl = host.cwrap(function(...)
        if select('#', ...) ~= 1 then
            error(error_table('redis.set_repl() requires two arguments.'))
        end
        local f = tonumber((...)) or 0
        if f < 0 or f > 3 then
            error(error_table('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'))
        end
    end),
    replicate_commands = function() return true end,
    breakpoint = function() return false end,
    debug = function() end,
    acl_check_cmd = host.cwrap(function(...)
        if select('#', ...) == 0 then
            error(error_table('Please specify at least one argument for this redis lib call'))
        end
        if not host.command_exists((...)) then
            error(error_table('Invalid command passed to redis.acl_check_cmd()'))
        end
        return true
    end),
    REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
    REDIS_VERSION = host.version, REDIS_VERSION_NUM = host.version_num,
}

-- Redis's math.random: lrand48, one sequence per server (here per shard).
local math_api = {}
for k, v in pairs(math) do
    math_api[k] = v
end
math_api.random = host.random
math_api.randomseed = host.randomseed

-- What scripts see as globals (Redis's allow list), all read-only.
local real = {
    xpcall = yxpcall, tostring = tostring, setmetatable = setmetatable, next = next,
    assert = assert, tonumber = tonumber, rawequal = rawequal,
    collectgarbage = collectgarbage, getmetatable = getmetatable, rawset = rawset,
    pcall = ypcall, type = type, select = select, unpack = host.unpack, gcinfo = gcinfo,
    pairs = pairs, rawget = rawget, ipairs = ipairs, _VERSION = _VERSION, error = error,
    coroutine = readonly(coroutine_api),
    string = readonly(string), table = readonly(table), math = readonly(math_api),
    bit = readonly(host.bit), cjson = readonly(host.cjson),
    cmsgpack = readonly(host.cmsgpack), struct = readonly(host.struct),
    redis = readonly(redis),
}
-- A read-only table whose missing names are errors; `lookup(k)` finds
-- what it holds.
local function guarded(lookup)
    local v = setmetatable({}, {
        __index = function(_, k)
            local v = lookup(k)
            if v == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end
            return v
        end,
        __newindex = ro_error,
        __metatable = locked_mt,
    })
    protected[v] = true
    return v
end

local function strict(t)
    return guarded(function(k) return t[k] end)
end

-- setmetatable, getmetatable and rawset as Redis's read-only tables make
-- them: a view cannot be changed, and a string's metatable is a view whose
-- __index is the scripts' `string`.
local string_mt = readonly({ __index = real.string })
real.setmetatable, real.getmetatable, real.rawset = host.sandbox(protected, string_mt)

local env = strict(real)
real._G = env
-- Chunks a script loads run in the script's environment; no bytecode.
local function load_text(s, name)
    if type(s) == 'string' and sbyte(s, 1) == 27 then
        return nil, 'bytecode is not allowed'
    end
    local f, e = loadstring_raw(s, name)
    if f then
        setfenv(f, env)
    end
    return f, e
end
real.loadstring = load_text
real.load = function(f, name)
    if type(f) == 'string' then
        return load_text(f, name)
    end
    local parts = {}
    while true do
        local p = f()
        if p == nil or p == '' then
            break
        end
        parts[#parts + 1] = p
    end
    return load_text(table.concat(parts), name)
end

-- One step of a script: 'call', args... (a command to run), 'done', value,
-- or 'error', {err=, source=, line=} (Redis's error handler's table).
local function step(co, ...)
    local r = pack(co_resume(co, ...))
    if not r[1] then
        local e = r[2]
        e = normalize(co, e)
        if type(e) ~= 'table' then
            e = { err = 'ERR ' .. tostring(e) }
        end
        local i = locate(co)
        if i then
            e.source = i.source
            e.line = i.currentline
        end
        return 'error', e
    end
    if co_status(co) == 'dead' then
        return 'done', r[2]
    end
    if paused(r) then
        return 'tick'
    end
    local raise = host.take_call()
    if raise ~= nil then
        return 'call', false, raise, r[2]
    end
    if r[2] == NESTED then
        return 'call', true, r[3], r[4]
    end
    return 'error', { err = 'ERR attempt to yield across metamethod/C-call boundary' }
end

-- A redis.call the script made itself failed: the script ends there.
local function fail(co, e)
    local i = locate(co)
    if i then
        e.source = i.source
        e.line = i.currentline
    end
    return e
end

local function start(f, keys, argv)
    real.KEYS = keys
    real.ARGV = argv
    return co_create(f)
end

-- ---- Functions (FUNCTION LOAD, FCALL) ----
-- Libraries share one environment. While a library's code runs (a load)
-- its globals are the load API: only `redis`, with register_function, log
-- and the version. When a function is called they are the script API,
-- without KEYS and ARGV (a function gets its keys and arguments as
-- parameters). Both are read-only, and a missing name is an error.
local registering = nil

local function is_string(v)
    return type(v) == 'string' or type(v) == 'number'
end

local function reg_error(msg)
    error(error_table(msg))
end

local function read_flags(t)
    local flags = {}
    local j = 1
    while true do
        local f = t[j]
        if f == nil then
            return flags
        end
        if not is_string(f) or not host.script_flag(tostring(f)) then
            reg_error('unknown flag given')
        end
        flags[#flags + 1] = tostring(f)
        j = j + 1
    end
end

local function register_function(...)
    if not registering then
        reg_error('redis.register_function can only be called on FUNCTION LOAD command')
    end
    local n = select('#', ...)
    if n < 1 or n > 2 then
        reg_error('wrong number of arguments to redis.register_function')
    end
    local name, callback, desc, flags
    if n == 1 then
        local t = ...
        if type(t) ~= 'table' then
            reg_error('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
        end
        for k, v in pairs(t) do
            if not is_string(k) then
                reg_error('named argument key given to redis.register_function is not a string')
            end
            local key = string.lower(tostring(k))
            if key == 'function_name' then
                if not is_string(v) then
                    reg_error('function_name argument given to redis.register_function must be a string')
                end
                name = tostring(v)
            elseif key == 'description' then
                if not is_string(v) then
                    reg_error('description argument given to redis.register_function must be a string')
                end
                desc = tostring(v)
            elseif key == 'callback' then
                if type(v) ~= 'function' then
                    reg_error('callback argument given to redis.register_function must be a function')
                end
                callback = v
            elseif key == 'flags' then
                if type(v) ~= 'table' then
                    reg_error('flags argument to redis.register_function must be a table representing function flags')
                end
                flags = read_flags(v)
            else
                reg_error('unknown argument given to redis.register_function')
            end
        end
        if name == nil then
            reg_error('redis.register_function must get a function name argument')
        end
        if callback == nil then
            reg_error('redis.register_function must get a callback argument')
        end
    else
        name, callback = ...
        if not is_string(name) then
            reg_error('first argument to redis.register_function must be a string')
        end
        name = tostring(name)
        if type(callback) ~= 'function' then
            reg_error('second argument to redis.register_function must be a function')
        end
    end
    if not host.valid_name(name) then
        reg_error('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
    end
    if registering.names[name] then
        reg_error('Function already exists in the library')
    end
    registering.names[name] = true
    registering.list[#registering.list + 1] = {
        name = name, callback = callback, desc = desc, flags = flags or {},
    }
end

local load_globals = {
    redis = strict({
        register_function = host.cwrap(register_function),
        log = redis.log,
        LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
        REDIS_VERSION = host.version, REDIS_VERSION_NUM = host.version_num,
    }),
}
local fn_real = {}
for k, v in pairs(real) do
    fn_real[k] = v
end
local fenv = guarded(function(k)
    return (registering and load_globals or fn_real)[k]
end)
fn_real.cjson = readonly(host.fn_cjson)
fn_real._G = fenv

-- Runs a library's code (the thread `co`, made by the host with its load
-- time limit): true and the functions it registered, or false and the
-- error's message.
local function load_library(co)
    registering = { list = {}, names = {} }
    local r = pack(co_resume(co))
    local reg = registering
    registering = nil
    if not r[1] then
        local e = normalize(co, r[2])
        if type(e) == 'table' and is_string(e.err) then
            return false, tostring(e.err)
        end
        return false, 'ERR ' .. tostring(e)
    end
    if co_status(co) ~= 'dead' then
        return false, 'ERR attempt to yield from a library'
    end
    return true, reg.list
end

-- A function's coroutine: the callback with its keys and arguments.
local function start_fn(callback, keys, argv)
    return co_create(function()
        return callback(keys, argv)
    end)
end

return env, start, step, error_table, fail, RAISE, fenv, load_library, start_fn
