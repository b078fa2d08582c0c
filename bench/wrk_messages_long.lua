-- wrk script: as wrk_chat_long.lua for Anthropic's API: a system prompt and
-- a ~3 KB English user message, new each time, to a gateway whose
-- configuration serves claude-haiku-4-5 (ANTHROPIC=1 in
-- bench/gateway_common.sh). Sluice has no tokenizer for Claude: the prompt is
-- priced by the rule of thumb and its language class.
wrk.method = "POST"
wrk.path = "/v1/messages"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
wrk.headers["anthropic-version"] = "2026-10-21"
local paragraph = "The quick brown fox jumps over the lazy dog, while the committee reviewed the quarterly "
  .. "figures and found that revenue had grown by twelve percent. "
local text = string.rep(paragraph, 20)
local n = 0
function request()
  n = n + 1
  local body = '{"model":"claude-haiku-4-5","system":"You are a helpful assistant.","messages":[{"role":"user","content":"Request ' .. n .. ': ' .. text .. '"}],"max_tokens":16}'
  return wrk.format(nil, nil, nil, body)
end
