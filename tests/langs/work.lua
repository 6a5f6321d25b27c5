-- Lua 5.4 and LuaJIT alike: hot loops (LuaJIT compiles them to machine code
-- in pages it maps writable and then executable), coroutines, io and
-- io.popen, os.
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local acc = 0
for i = 1, 3000000 do acc = (acc + i * i) % 1000003 end
print("loop", acc, "fib", fib(24))

local gen = coroutine.wrap(function() for i = 1, 5 do coroutine.yield(i * i) end end)
local squares = {}
for _ = 1, 5 do squares[#squares + 1] = gen() end
print("coroutine", table.concat(squares, ","))

local f = assert(io.open("lua.txt", "w"))
for i = 1, 100 do f:write(string.format("line %03d\n", i)) end
f:close()
local n = 0
for line in io.lines("lua.txt") do if line:match("^line 0[5-9]") then n = n + 1 end end
print("lines", n, os.remove("lua.txt"))

local p = assert(io.popen("echo popen works", "r"))
print(p:read("*l"), p:close())
print("env", os.getenv("LUA_MARK") or "unset", type(os.time()), os.date("!%Y-%m-%d", 86400))
if jit then
  local ffi = require("ffi")
  ffi.cdef("int getpid(void); size_t strlen(const char *s);")
  print("jit", jit.status() and "on" or "off", ffi.C.strlen("unikernel"), ffi.C.getpid() > 0)
end
