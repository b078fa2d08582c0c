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
# CLI: the sluice-cli to run (default build/release/app/sluice-cli).
# Usage: bench/gateway_hold.sh [HOLD_SECONDS [FAIR_SECONDS]]   (default 70 40; SKIP_HOLD=1: fairness only; SKIP_FAIR=1: hold only)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-build/release/app/sluice-cli}
HOLD_S=${1:-70}
FAIR_S=${2:-40}
[[ -x $CLI ]] || { echo "build sluice-cli first (make build)" >&2; exit 2; }
[[ -d tests/sdk/node_modules ]] || { echo "run scripts/install-deps.sh first (tests/sdk)" >&2; exit 2; }
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
  if ! answer=$(curl -s -w '\n%{http_code}' "$mock/mock/config" -d "{\"rateLimitHeaders\":${MOCK_HEADERS:-true},\"models\":{\"gpt-4o-mini\":{\"limits\":{\"rpm\":2400,\"tpm\":0,\"granularity\":\"${MOCK_GRANULARITY:-1s}\",\"enforcement\":\"${MOCK_ENFORCEMENT:-bucket}\"}}}}") \
     || [[ ${answer##*$'\n'} != 200 ]]; then
    echo "the mock refused MOCK_ENFORCEMENT / MOCK_GRANULARITY / MOCK_HEADERS: ${answer%$'\n'*}" >&2
    exit 2
  fi
  local granularity=", \"granularity_s\": ${GW_GRANULARITY_S:-1}"
  [[ ${GW_GRANULARITY_S:-1} == none ]] && granularity=""
  cat > "$work/gw.json" <<JSON
{
  "providers": [ { "name": "mock", "flavor": "openai", "base_url": "$mock",
    "models": { "gpt-4o-mini": { "limits": { "rpm": 2400$granularity } } },
    "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] } ],
  "tenants": { "a": { "weight": 1 }, "b": { "weight": 1 } },
  "gateway": { "hold_s": 30, "tokens": [
    { "name": "a", "token_env": "TOKEN_A", "tenant": "a" },
    { "name": "b", "token_env": "TOKEN_B", "tenant": "b" } ] }
}
JSON
  MOCK_API_KEY=sk-mock TOKEN_A=bench-a TOKEN_B=bench-b "$CLI" serve --config "$work/gw.json" --listen 127.0.0.1:0 \
    > "$work/gw.out" 2> "$work/gw.err" &
  pids+=($!)
  local gw
  gw=$(first_url "$work/gw.out") || { echo "the gateway did not start (GW_GRANULARITY_S?):" >&2; cat "$work/gw.err" >&2; exit 2; }
  if [[ -n ${BACKGROUND_A:-} ]]; then
    # Tenant A from its own process, so its load does not slow B's client.
    GATEWAY_URL=$gw TOKEN_A=bench-a TOKEN_B=bench-b node tests/sdk/bench_gateway.mjs fair "$FAIR_S" "$BACKGROUND_A" 0 \
      > "$work/a.json" &
    local a=$!
  fi
  GATEWAY_URL=$gw TOKEN_A=bench-a TOKEN_B=bench-b node tests/sdk/bench_gateway.mjs "$@"
  if [[ -n ${BACKGROUND_A:-} ]]; then wait "$a"; echo "tenant A: $(cat "$work/a.json")"; fi
  echo "mock: $(curl -s "$mock/mock/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const r=Object.values(j.rateLimited).reduce((a,b)=>a+b,0);const t0=j.series.length?j.series[0].t:0;const at=j.series.filter(x=>x.rateLimited>0).map(x=>(x.t-t0)+"s"+(x.rateLimited>1?"x"+x.rateLimited:""));console.log(JSON.stringify({requests:j.requests,accepted:j.accepted,answered429:r,share429:r/j.requests,secondsWith429:at}))})')"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

echo "mock: ${MOCK_ENFORCEMENT:-bucket} at ${MOCK_GRANULARITY:-1s}, rate-limit headers ${MOCK_HEADERS:-true}; gateway granularity_s: ${GW_GRANULARITY_S:-1}"
if [[ ${SKIP_HOLD:-} != 1 ]]; then
  echo "== hold: 200 SDK clients, one tenant, demand 5x the limit (40/s), ${HOLD_S} s"
  run 1000 hold "$HOLD_S" 200
fi
[[ ${SKIP_FAIR:-} == 1 ]] && exit 0
echo "== fair: tenant B alone at 4/s, ${FAIR_S} s"
run 200 fair "$FAIR_S" 0 4
echo "== fair: tenant B at 4/s with tenant A at 40/s, ${FAIR_S} s"
BACKGROUND_A=40 run 200 fair "$FAIR_S" 0 4
