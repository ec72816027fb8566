-- wrk: keep-alive POST of a new message every time (each a durable commit)
local counter = 0
local prefix = ""

function setup(thread)
   thread:set("id", tostring(math.random(1, 1000000000)))
end

function init(args)
   prefix = id .. "-" .. tostring(os.time())
end

function request()
   counter = counter + 1
   local body = '{"message":"unique ' .. prefix .. ' ' .. counter .. '"}'
   return wrk.format("POST", "/messages",
      { ["Content-Type"] = "application/json" }, body)
end
