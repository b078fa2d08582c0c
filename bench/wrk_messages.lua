-- wrk script: every request posts one small non-streaming Anthropic message
-- with the headers @anthropic-ai/sdk 1.x sends for it (a dated version, a
-- beta from its `betas` option), to a gateway whose configuration serves
-- claude-haiku-4-5 (ANTHROPIC=1 in bench/gateway_common.sh).
wrk.method = "POST"
wrk.path = "/v1/messages"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-mock"
wrk.headers["anthropic-version"] = "2026-10-21"
wrk.headers["anthropic-beta"] = "context-1m-2025-08-07"
wrk.body = '{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
