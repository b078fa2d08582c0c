-- wrk script: as wrk_chat.lua, but the completion is streamed (SSE, one
-- event per token of max_tokens 16, then the usage event Sluice asks for)
-- (WRK_SCRIPT=bench/wrk_chat_stream.lua bench/gateway_vs_nginx.sh).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16,"stream":true}'
