-- POST /auth/login rotating across seeded accounts. args: data file {password=, emails={...}}
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local data, i

function init(args)
  data = dofile(args[1])
  math.randomseed(os.time())
  i = math.random(#data.emails)
end

function request()
  i = i % #data.emails + 1
  local body = '{"providerName":"email","credentials":{"email":"' .. data.emails[i] ..
    '","password":"' .. data.password .. '"}}'
  return wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" }, body)
end
