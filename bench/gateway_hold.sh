#!/usr/bin/env bash
# Hold, don't bounce, and fairness, with the official OpenAI SDK as the
# client (tests/sdk/bench_gateway.mjs), through `sluice-cli serve` in front of
# `sluice-cli mock`, all on 127.0.0.1:
#  1. hold: 200 concurrent SDK clients on one tenant, closed loop, against a
#     mock whose limit (2,400 RPM in 1 s buckets, 40/s; 1 s per answer) is a
#     fifth of their demand (200/s): 429s reaching clients, 429s the mock
#     sent (and in which seconds of the run), throughput over the binding limit.
#  2. fair: tenant B at 4/s alone, then with tenant A at 40/s (10x), against
#     the same 40/s limit (0.2 s per answer): B's p95 wait in both runs (A
#     runs in a process of its own).
# The mock's enforcement and what the gateway is told of it can change
# (the figures must hold for a provider that enforces otherwise, and for a
# configuration with nothing but the limits page's number):
#   MOCK_ENFORCEMENT  bucket (default), sliding_window or fixed_window
#   MOCK_GRANULARITY  the mock's window or bucket span, default 1s (1s ... 1m)
#   MOCK_HEADERS      false: the mock sends no rate-limit headers (default true)
#   GW_GRANULARITY_S  granularity_s in the gateway's configuration, default 1;
#                     "none": left out (the gateway assumes its default)
#   GW_TOKEN_ACCOUNTING  token_accounting in the gateway's configuration
#                     (learn, estimate, actual); default: left out
#   BINDING           tpm: the hold's binding limit is 360,000 TPM instead
#                     (6,000 tokens/s, about a fifth of the demand), counted
#                     by the mock with o200k_base as OpenAI does (prompt +
#                     max_tokens on arrival), with prompts from English to
#                     Japanese, code and emoji (PROMPTS=varied in
#                     tests/sdk/bench_gateway.mjs); the gateway is told only
#                     the TPM. Throughput is the charged tokens per second
#                     over the limit's. MOCK_TOKENS_CHARGING=refund: the
#                     mock gives back the output an answer did not use,
#                     =completion: it charges the prompt on arrival and the
#                     output at the end (default arrival: kept, as OpenAI
#                     documents). Default rpm.
#                     otpm: 200 @anthropic-ai/sdk clients (DIALECT=anthropic in
#                     tests/sdk/bench_gateway.mjs) send Messages with
#                     max_tokens 256 to claude-haiku-4-5, whose binding limit
#                     is 150,000 output tokens per minute (2,500/s), charged
#                     as the answer is written (MOCK_CHARGING=actual, the
#                     newer docs; reserve: max_tokens up front, then
#                     corrected); the gateway is told only the OTPM. Hold
#                     only (SKIP_FAIR is implied).
#                     itpm: the same Anthropic clients, the binding limit
#                     360,000 input tokens per minute (6,000/s) counted by
#                     the mock with o200k_base, a tokenizer Sluice does not
#                     have for Claude models: the gateway, told only the
#                     ITPM, estimates each prompt and learns from the usage
#                     the answers report. Hold only.
#                     responses: the OpenAI clients carry Responses API
#                     conversations (DIALECT=responses), each turn a varied
#                     prompt continuing the last answer (previous_response_id),
#                     6 turns each (TURNS); the mock counts every turn's input
#                     with the conversation it continues, as OpenAI does, against
#                     the same 360,000 TPM, told to the gateway alone. Hold only.
#   GATEWAYS          N > 1: N gateways sharing their budgets through a
#                     redis-server started here (the "shared" section), the
#                     200 hold clients split evenly between them (1 default)
# GW_HOLD_S: the gateway's hold_s (default 30).
# CLI: the sluice-cli to run (default build/release/app/sluice-cli);
# GATEWAY_CLI: another one for the gateways alone (the mock stays CLI's).
# Usage: bench/gateway_hold.sh [HOLD_SECONDS [FAIR_SECONDS]]   (default 70 40; SKIP_HOLD=1: fairness only; SKIP_FAIR=1: hold only)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-build/release/app/sluice-cli}
HOLD_S=${1:-70}
FAIR_S=${2:-40}
[[ -x $CLI ]] || { echo "build sluice-cli first (make build)" >&2; exit 2; }
[[ -d tests/sdk/node_modules ]] || { echo "run scripts/install-deps.sh first (tests/sdk)" >&2; exit 2; }
GATEWAYS=${GATEWAYS:-1}
BINDING=${BINDING:-rpm}
[[ $BINDING =~ ^(rpm|tpm|otpm|itpm|responses)$ ]] || { echo "BINDING=$BINDING: rpm, tpm, otpm, itpm or responses" >&2; exit 2; }
[[ ${GW_HOLD_S:-30} =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "GW_HOLD_S=$GW_HOLD_S: a number of seconds" >&2; exit 2; }
GATEWAY_CLI=${GATEWAY_CLI:-$CLI}
[[ -x $GATEWAY_CLI ]] || { echo "GATEWAY_CLI=$GATEWAY_CLI: not a program" >&2; exit 2; }
TPM=360000
OTPM=150000
ITPM=360000
model=gpt-4o-mini flavor=openai
if [[ $BINDING == tpm || $BINDING == responses ]]; then
  mock_model="\"tokenizer\":\"o200k_base\",\"limits\":{\"rpm\":0,\"tpm\":$TPM"
  if [[ -n ${MOCK_TOKENS_CHARGING:-} ]]; then
    [[ $MOCK_TOKENS_CHARGING =~ ^(arrival|refund|completion)$ ]] || { echo "MOCK_TOKENS_CHARGING=$MOCK_TOKENS_CHARGING: arrival, refund or completion" >&2; exit 2; }
    mock_model+=",\"tokensCharging\":\"$MOCK_TOKENS_CHARGING\""
  fi
  gw_limits="\"tpm\": $TPM"
  export PROMPTS=varied
  if [[ $BINDING == responses ]]; then export DIALECT=responses; SKIP_FAIR=1; fi
elif [[ $BINDING == otpm ]]; then
  model=claude-haiku-4-5 flavor=anthropic SKIP_FAIR=1
  mock_model="\"tokenizer\":\"o200k_base\",\"limits\":{\"rpm\":0,\"itpm\":0,\"otpm\":$OTPM,\"outputCharging\":\"${MOCK_CHARGING:-actual}\""
  gw_limits="\"otpm\": $OTPM"
  export DIALECT=anthropic
elif [[ $BINDING == itpm ]]; then
  model=claude-haiku-4-5 flavor=anthropic SKIP_FAIR=1
  mock_model="\"tokenizer\":\"o200k_base\",\"limits\":{\"rpm\":0,\"itpm\":$ITPM,\"otpm\":0"
  gw_limits="\"itpm\": $ITPM"
  export DIALECT=anthropic
else
  mock_model="\"limits\":{\"rpm\":2400,\"tpm\":0"
  gw_limits="\"rpm\": 2400"
fi
[[ $GATEWAYS =~ ^[1-9][0-9]?$ && $((200 % GATEWAYS)) -eq 0 ]] \
  || { echo "GATEWAYS=$GATEWAYS: a number from 1 to 99 that divides the 200 clients evenly" >&2; exit 2; }
if [[ $GATEWAYS -gt 1 ]] && ! command -v redis-server >/dev/null; then
  echo "GATEWAYS=$GATEWAYS needs redis-server: scripts/install-deps.sh" >&2; exit 2
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

first_url() {  # waits for "listening on URL" in $1
  for _ in $(seq 100); do
    if url=$(grep -m1 -o 'http://[0-9.:]*' "$1" 2>/dev/null); then echo "$url"; return; fi
    sleep 0.1
  done
  echo "no address in $1" >&2; cat "$1" >&2; exit 1
}

run() {  # run LATENCY_MS MODE ARGS...
  local latency=$1; shift
  "$CLI" mock --listen 127.0.0.1:0 --latency-ms "$latency" > "$work/mock.out" 2> "$work/mock.err" &
  pids+=($!)
  local mock; mock=$(first_url "$work/mock.out")
  local answer
  # The mock names what it refuses (an unknown enforcement, a malformed granularity).
  if ! answer=$(curl -s -w '\n%{http_code}' "$mock/mock/config" -d "{\"rateLimitHeaders\":${MOCK_HEADERS:-true},\"models\":{\"$model\":{$mock_model,\"granularity\":\"${MOCK_GRANULARITY:-1s}\",\"enforcement\":\"${MOCK_ENFORCEMENT:-bucket}\"}}}}") \
     || [[ ${answer##*$'\n'} != 200 ]]; then
    echo "the mock refused MOCK_ENFORCEMENT / MOCK_GRANULARITY / MOCK_HEADERS: ${answer%$'\n'*}" >&2
    exit 2
  fi
  local granularity=", \"granularity_s\": ${GW_GRANULARITY_S:-1}"
  [[ ${GW_GRANULARITY_S:-1} == none ]] && granularity=""
  local accounting=""
  [[ -n ${GW_TOKEN_ACCOUNTING:-} ]] && accounting=" \"token_accounting\": \"$GW_TOKEN_ACCOUNTING\","
  local shared=""
  if [[ $GATEWAYS -gt 1 ]]; then
    local redis_port
    redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > "$work/redis.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    shared="\"shared\": { \"redis\": \"redis://127.0.0.1:$redis_port/0\", \"namespace\": \"hold\" },"
  fi
  cat > "$work/gw.json" <<JSON
{ $shared
  "providers": [ { "name": "mock", "flavor": "$flavor", "base_url": "$mock",$accounting
    "models": { "$model": { "limits": { $gw_limits$granularity } } },
    "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] } ],
  "tenants": { "a": { "weight": 1 }, "b": { "weight": 1 } },
  "gateway": { "hold_s": ${GW_HOLD_S:-30}, "tokens": [
    { "name": "a", "token_env": "TOKEN_A", "tenant": "a" },
    { "name": "b", "token_env": "TOKEN_B", "tenant": "b" } ] }
}
JSON
  local gws=() n=1
  [[ $1 == hold ]] && n=$GATEWAYS
  for i in $(seq "$n"); do
    MOCK_API_KEY=sk-mock TOKEN_A=bench-a TOKEN_B=bench-b "$GATEWAY_CLI" serve --config "$work/gw.json" --listen 127.0.0.1:0 \
      > "$work/gw$i.out" 2> "$work/gw$i.err" &
    pids+=($!)
    gws+=("$(first_url "$work/gw$i.out")") || { echo "the gateway did not start (GW_GRANULARITY_S?):" >&2; cat "$work/gw$i.err" >&2; exit 2; }
  done
  local gw=${gws[0]}
  if [[ -n ${BACKGROUND_A:-} ]]; then
    # Tenant A from its own process, so its load does not slow B's client.
    GATEWAY_URL=$gw TOKEN_A=bench-a TOKEN_B=bench-b node tests/sdk/bench_gateway.mjs fair "$FAIR_S" "$BACKGROUND_A" 0 \
      > "$work/a.json" &
    local a=$!
  fi
  if [[ $n -gt 1 ]]; then
    # hold SECONDS CLIENTS: the clients split between the gateways, one
    # Node process each; their lines, then the sums.
    local i=0 share=$(($3 / n)) runners=()
    for g in "${gws[@]}"; do
      i=$((i + 1))
      GATEWAY_URL=$g TOKEN_A=bench-a TOKEN_B=bench-b node tests/sdk/bench_gateway.mjs hold "$2" "$share" > "$work/hold$i.json" &
      runners+=($!)
    done
    for r in "${runners[@]}"; do wait "$r"; done
    cat "$work"/hold*.json
    node -e 'const fs=require("fs");const rs=process.argv.slice(1).map(f=>JSON.parse(fs.readFileSync(f,"utf8")));
      const sum=k=>rs.reduce((a,r)=>a+r[k],0);
      console.log(JSON.stringify({mode:"hold",gateways:rs.length,clients:sum("clients"),completed:sum("completed"),failed:sum("failed"),
        http429SeenByClients:sum("http429SeenByClients"),throughputPerSecond:sum("throughputPerSecond"),
        chargedTokensPerSecond:sum("chargedTokensPerSecond"),inputTokensPerSecond:sum("inputTokensPerSecond"),outputTokensPerSecond:sum("outputTokensPerSecond")}))' "$work"/hold*.json | tee "$work/client.json"
  else
    GATEWAY_URL=$gw TOKEN_A=bench-a TOKEN_B=bench-b node tests/sdk/bench_gateway.mjs "$@" | tee "$work/client.json"
  fi
  if [[ $1 == hold && $BINDING != rpm ]]; then
    node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").pop());
      const limit=Number(process.argv[2])/60, what=process.argv[3];
      const rate=what=="TPM"?j.chargedTokensPerSecond:what=="ITPM"?j.inputTokensPerSecond:j.outputTokensPerSecond;
      const counted={TPM:"charged",ITPM:"input",OTPM:"output"}[what];
      console.log(`binding limit ${limit} tokens/s (${what}): ${counted} ${rate.toFixed(1)} tokens/s after the first 10 s = ${(100*rate/limit).toFixed(1)}% of it`)' \
      "$work/client.json" "$(case $BINDING in tpm|responses) echo "$TPM";; itpm) echo "$ITPM";; *) echo "$OTPM";; esac)" \
      "$(case $BINDING in responses) echo TPM;; *) echo "${BINDING^^}";; esac)"
  fi
  if [[ -n ${BACKGROUND_A:-} ]]; then wait "$a"; echo "tenant A: $(cat "$work/a.json")"; fi
  echo "mock: $(curl -s "$mock/mock/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const r=Object.values(j.rateLimited).reduce((a,b)=>a+b,0);const t0=j.series.length?j.series[0].t:0;const at=j.series.filter(x=>x.rateLimited>0).map(x=>(x.t-t0)+"s"+(x.rateLimited>1?"x"+x.rateLimited:""));console.log(JSON.stringify({requests:j.requests,accepted:j.accepted,answered429:r,share429:r/j.requests,secondsWith429:at}))})')"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

echo "mock: ${MOCK_ENFORCEMENT:-bucket} at ${MOCK_GRANULARITY:-1s}, rate-limit headers ${MOCK_HEADERS:-true}; gateway granularity_s: ${GW_GRANULARITY_S:-1}"
if [[ ${SKIP_HOLD:-} != 1 ]]; then
  case $BINDING in
    rpm) binds="demand 5x the limit (40/s)";;
    tpm) binds="varied prompts, demand about 5x the TPM limit (6,000 tokens/s)";;
    responses) binds="Responses API conversations of ${TURNS:-6} turns (previous_response_id), varied prompts, against the TPM limit (6,000 tokens/s)";;
    itpm) binds="Anthropic Messages, varied prompts, demand about 5x the ITPM limit (6,000 tokens/s) counted by a tokenizer Sluice does not have";;
    otpm) binds="Anthropic Messages, demand about 5x the OTPM limit (2,500 tokens/s, charged ${MOCK_CHARGING:-actual})";;
  esac
  echo "== hold: 200 SDK clients, one tenant, $binds, ${HOLD_S} s$([[ $GATEWAYS -gt 1 ]] && echo ", through $GATEWAYS gateways sharing Redis")"
  run 1000 hold "$HOLD_S" 200
fi
[[ ${SKIP_FAIR:-} == 1 ]] && exit 0
echo "== fair: tenant B alone at 4/s, ${FAIR_S} s"
run 200 fair "$FAIR_S" 0 4
echo "== fair: tenant B at 4/s with tenant A at 40/s, ${FAIR_S} s"
BACKGROUND_A=40 run 200 fair "$FAIR_S" 0 4
