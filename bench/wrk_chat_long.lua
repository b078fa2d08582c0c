-- wrk script: as wrk_chat_varied.lua, with a prompt of the length real chat
-- traffic carries: a system message and a ~3 KB English user message
-- (about 600 tokens), new each time (a counter at its front), so the
-- gateway's token-count memo never has it and every request pays for an
-- exact count of 3 KB
-- (WRK_SCRIPT=bench/wrk_chat_long.lua bench/gateway_vs_nginx.sh).
-- ANTHROPIC=1 (as bench/gateway_common.sh reads it): the same prompt as an
-- Anthropic message to claude-haiku-4-5, which Sluice prices by the rule of
-- thumb and the text's language class (no public tokenizer).
local anthropic = os.getenv("ANTHROPIC") == "1"
wrk.method = "POST"
wrk.path = anthropic and "/v1/messages" or "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
if anthropic then
  wrk.headers["anthropic-version"] = "2026-10-21"
end
local paragraph = "The quick brown fox jumps over the lazy dog, while the committee reviewed the quarterly "
  .. "figures and found that revenue had grown by twelve percent. "
local text = string.rep(paragraph, 20)
local n = 0
function request()
  n = n + 1
  local user = '{"role":"user","content":"Request ' .. n .. ': ' .. text .. '"}'
  local body
  if anthropic then
    body = '{"model":"claude-haiku-4-5","system":"You are a helpful assistant.","messages":[' .. user
      .. '],"max_tokens":16}'
  else
    body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},'
      .. user .. '],"max_tokens":16}'
  end
  return wrk.format(nil, nil, nil, body)
end
