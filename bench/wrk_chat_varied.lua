-- wrk script: as wrk_chat.lua, but every request's message is a text no
-- earlier request sent (a counter in it), so the gateway's token-count memo
-- never has it: the cost of counting every prompt
-- (WRK_SCRIPT=bench/wrk_chat_varied.lua bench/gateway_vs_nginx.sh).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
local n = 0
function request()
  n = n + 1
  -- One counter per wrk thread: distinct texts with -t1, as the scripts run it.
  local body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words (request '
    .. n .. ')."}],"max_tokens":16}'
  return wrk.format(nil, nil, nil, body)
end
