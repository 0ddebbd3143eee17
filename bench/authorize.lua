-- wrk: POST /v1/authorize with a task token over keep-alive connections.
-- TETHER_TASK_TOKEN must be set.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TETHER_TASK_TOKEN")
wrk.body = '{"action":"git.fetch","resource":{"type":"Repo","id":"acme/api"},"context":{"ref":"refs/heads/main"}}'

-- wrk reports "Non-2xx or 3xx responses" itself; run-server fails on any.
