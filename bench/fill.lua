-- wrk: starts TETHER_FILL_PER_THREAD tasks per wrk thread, then stops (used
-- to fill the server before measuring its memory; not a rate measurement).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TETHER_IDENTITY_TOKEN")
wrk.body = '{"repo":"acme/api","intent":"benchmark","ttl_seconds":86400}'
local limit = tonumber(os.getenv("TETHER_FILL_PER_THREAD"))
local count = 0
function response(status, headers, body)
  count = count + 1
  if count >= limit then wrk.thread:stop() end
end
