-- METHOD path with a bearer token, rotating across many sessions.
-- args: data file (a Lua table {method=, path=, body=, tokens={...}})
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local data, tokens, i

function init(args)
  data = dofile(args[1])
  tokens = data.tokens
  math.randomseed(os.time() + (tonumber(args[2]) or 0))
  i = math.random(#tokens)
end

function request()
  i = i % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[i] }
  if data.body then headers["Content-Type"] = "application/json" end
  return wrk.format(data.method, data.path, headers, data.body)
end
