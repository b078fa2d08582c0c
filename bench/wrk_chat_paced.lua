-- wrk script: the same request as wrk_chat.lua, each connection pausing
-- PACE_MS milliseconds on average (environment) before its next request, so
-- 64 connections offer a set rate instead of as much as they can
-- (bench/gateway_vs_nginx.sh and bench/gateway_latency.sh: latency at half
-- the saturating load). The pauses are drawn from an exponential
-- distribution, so the connections' requests arrive independently of each
-- other, as from separate clients: with one fixed pause the connections
-- stay in step and every PACE_MS all of them arrive at once, which measures
-- a burst of 64, not half load. PACE_SPREAD=0: the fixed pause.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
local pace = tonumber(os.getenv("PACE_MS") or "0")
local spread = os.getenv("PACE_SPREAD") ~= "0"
math.randomseed(os.time())
function delay()
  if not spread or pace == 0 then
    return pace
  end
  return math.floor(-pace * math.log(1 - math.random()) + 0.5)
end
