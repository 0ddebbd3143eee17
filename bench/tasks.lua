-- wrk: POST /v1/tasks as a workload (TETHER_IDENTITY_TOKEN must be set).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TETHER_IDENTITY_TOKEN")
wrk.body = '{"repo":"acme/api","intent":"benchmark","ttl_seconds":86400}'
-- wrk reports "Non-2xx or 3xx responses" itself; run-server fails on any.
