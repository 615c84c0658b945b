-- POST /auth/mfa/toggle that changes the flag on every request: each user's requests go
-- off, on, off... (users with a verified authenticator and MFA on, sessions fresh enough for
-- the step-up). args: data file (a Lua table {tokens={...}})
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local tokens, i, on = nil, 0, {}

function init(args)
  tokens = dofile(args[1]).tokens
  for k = 1, #tokens do on[k] = true end  -- set up with MFA on
end

function request()
  i = i % #tokens + 1
  on[i] = not on[i]
  return wrk.format("POST", "/auth/mfa/toggle", {
    ["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json" },
    on[i] and '{"enabled":true}' or '{"enabled":false}')
end
