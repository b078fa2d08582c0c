-- wrk script: the same request as wrk_chat.lua, each connection pausing
-- PACE_MS milliseconds (environment) before its next request, so 64
-- connections offer a set rate instead of as much as they can
-- (bench/gateway_vs_nginx.sh: latency at half the saturating load).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
local pace = tonumber(os.getenv("PACE_MS") or "0")
function delay()
  return pace
end
