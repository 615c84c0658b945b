-- POST /auth/mfa/verify with TOTP codes. The suite precomputes every user's codes for the
-- time steps the run spans; each (user, step) is used at most once (the replay guard), the
-- current and next step per user. args: data file
-- {period=, users={{token=, after=<last step spent>, codes={[step]=code}}}}
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local data, users, period, i, used = nil, nil, 30, 0, {}

function init(args)
  data = dofile(args[1])
  users = data.users
  period = data.period
  for i, u in ipairs(users) do used[i] = u.after or 0 end  -- steps spent at set-up
end

function request()
  local now = math.floor(os.time() / period)
  for _ = 1, #users do
    i = i % #users + 1
    local u = users[i]
    local step = math.max((used[i] or 0) + 1, now)
    if step <= now + 1 and u.codes[step] then
      used[i] = step
      return wrk.format("POST", "/auth/mfa/verify", {
        ["Authorization"] = "Bearer " .. u.token, ["Content-Type"] = "application/json" },
        '{"method":"totp","otp":"' .. u.codes[step] .. '"}')
    end
  end
  -- every user has spent this step: the request is sent anyway and counted as an error
  local u = users[i]
  return wrk.format("POST", "/auth/mfa/verify", {
    ["Authorization"] = "Bearer " .. u.token, ["Content-Type"] = "application/json" },
    '{"method":"totp","otp":"000000"}')
end
