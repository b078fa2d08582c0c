#!/usr/bin/env bash
# Instructions per request in the gateway, counted by callgrind (not timed, so
# a busy machine does not change the figure): `sluice-cli serve` under
# valgrind in front of the mock (--no-limits --latency-ms 0), wrk -c16 for
# 2 s of warm-up, counters zeroed (callgrind_control -z: start-up and the
# tokenizer's rank-file load are not counted), 10 s measured
# (bench/wrk_chat.lua, or WRK_SCRIPT); then the io threads' and the
# dispatcher thread's instructions divided by the requests the gateway
# handled meanwhile (io is 0 by default, when the dispatcher thread runs the
# connections too; SERVE_ARGS="--threads 1" splits them). Prints
# "requests N; io I dispatcher D sum S per request".
# Usage: bench/gateway_callgrind.sh SLUICE_CLI   (SERVE_ARGS=more serve options, MOCK_CONFIG=bench/mock_headers.json:
#        answers with rate-limit headers, as a provider sends them;
#        CG_OUT=file to keep the callgrind output for callgrind_annotate)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
CLI=$1
WRK_SCRIPT=${WRK_SCRIPT:-bench/wrk_chat.lua}
. bench/gateway_common.sh
need_callgrind
start_mock "$CLI" 2
write_gateway_config
port=$(free_port)
# shellcheck disable=SC2086  # SERVE_ARGS is a list of options
MOCK_API_KEY=sk-mock valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$CLI" serve --config "$W/gw.json" \
  --listen "127.0.0.1:$port" ${SERVE_ARGS:-} > "$W/gw.out" 2> "$W/gw.err" &
gw=$!
await_models "$port"
# One request answered first: the tokenizer's rank file loads on the first
# request, which under valgrind takes longer than the warm-up.
curl -sf -m 300 -o /dev/null "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"warm up"}],"max_tokens":4}'
wrk -t1 -c16 -d2s -s "$WRK_SCRIPT" "http://127.0.0.1:$port" > /dev/null
callgrind_control -z "$gw" > /dev/null 2>&1
wrk -t1 -c16 -d10s -s "$WRK_SCRIPT" "http://127.0.0.1:$port" > /dev/null
kill -INT "$gw"
wait "$gw" || true
[[ -n ${CG_OUT:-} ]] && cp "$W/cg.out" "$CG_OUT"
callgrind_annotate --inclusive=yes --threshold=100 "$W/cg.out" > "$W/ann.txt" 2>/dev/null
total() { { grep -F "$1" "$W/ann.txt" || true; } | awk '{gsub(",", "", $1); if ($1 + 0 > max) max = $1 + 0} END{print max + 0}'; }
io=$(total 'HttpServer::Impl::runThreads')
dispatcher=$(total 'Dispatcher::Impl::run()')
# Requests: the calls of the gateway's handler, from the caller tree.
callgrind_annotate --inclusive=yes --tree=caller "$W/cg.out" > "$W/callers.txt" 2>/dev/null
# The caller lines above the handler's own line ("???:" without debug
# information, "file:" with it), their call counts summed.
n=$(awk '/^ *$/{block=""; next} /\*  .*sluice::gateway::Gateway::Impl::handle\(/{print block; exit} {block=block "\n" $0}' "$W/callers.txt" \
  | grep -o '([0-9,]*x)' | tr -d '(),x' | awk '{s+=$1} END{print s+0}')
echo "$CLI: requests $n; io $(( io / n )) dispatcher $(( dispatcher / n )) sum $(( (io + dispatcher) / n )) instructions per request"
