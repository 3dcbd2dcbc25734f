-- wrk script for the queues benchmark.
-- args: expected status, method (GET/POST), paths file ("-" for the URL's own path), body.
-- Each request takes a random path from the file; a response with another status, or an
-- empty body for a 200, counts as bad.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expected = tonumber(args[1])
  method = args[2] or "GET"
  body = args[4] or ""
  paths = {}
  if args[3] and args[3] ~= "-" then
    for line in io.lines(args[3]) do
      if #line > 0 then table.insert(paths, line) end
    end
  end
  bad = 0
end

function request()
  local path = nil
  if #paths > 0 then path = paths[math.random(#paths)] end
  if method == "POST" then
    -- wrk.format replaces wrk.headers when given a table: keep the Cookie (-H) header
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path)
end

function response(status, headers, resp_body)
  if status ~= expected or (status == 200 and #resp_body == 0) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  io.write(string.format("BAD_RESPONSES %d\n", total))
end
