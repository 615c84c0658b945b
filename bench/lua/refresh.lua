-- POST /auth/refresh-token where every request presents a refresh token never used before:
-- each response's new refresh token goes back into the pool, so every session is a chain.
-- The pool starts with one token per connection. args: data file {tokens={...}}
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local pool, last = {}, nil

function init(args)
  local data = dofile(args[1])
  for _, t in ipairs(data.tokens) do pool[#pool + 1] = t end
  last = pool[1]
end

local checked = false

function request()
  if not checked then
    -- wrk's first call only checks the request and never sends it: it must not take a
    -- token out of the pool (that chain's token would then be sent twice, as ``last``)
    checked = true
    return wrk.format("POST", "/auth/refresh-token", { ["Content-Type"] = "application/json" },
      '{"refreshToken":"' .. (pool[#pool] or "") .. '"}')
  end
  local t = table.remove(pool) or last  -- empty only after failures: counted as errors
  return wrk.format("POST", "/auth/refresh-token", { ["Content-Type"] = "application/json" },
    '{"refreshToken":"' .. t .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local t = body:match('"refreshToken"%s*:%s*"([^"]+)"')
    if t then
      pool[#pool + 1] = t
      last = t
    end
  end
end
