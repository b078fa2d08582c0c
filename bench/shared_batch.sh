#!/usr/bin/env bash
# Three `sluice-cli batch` processes share one key of the mock, each
# configured with the key's full limits, with "shared" pointing at one local
# redis-server (started here, persistence off). Prints requests accepted by
# the mock against what its limit allowed over the run, and the share of
# requests answered 429. MODE "local" runs the same without "shared" (the
# baseline: each process spends the whole limit). MODE "kill" kills -9 one
# process mid-run and reports how long until its concurrency lease is gone
# from Redis. MODE "outage" stops redis-server 6 s in and starts it again
# 4 s later: each process says so, runs on its share, and rejoins.
#
# Environment: PROCS (default 3) processes; ENFORCEMENT (bucket,
# sliding_window or fixed_window; default bucket) is how the mock counts
# the limit; CLI (default BUILD_DIR/app/sluice-cli) the binary the batch
# processes run, e.g. an older build to compare with.
#
#   bench/shared_batch.sh [BUILD_DIR] [REQUESTS_PER_PROCESS] [shared|local|kill] [RPM]
set -euo pipefail
build=${1:-build/release}
per=${2:-500}
mode=${3:-shared}
rpm=${4:-3000}
procs=${PROCS:-3}
enforcement=${ENFORCEMENT:-bucket}
batchcli=${CLI:-$build/app/sluice-cli}
cli=$build/app/sluice-cli
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n "${KEEP:-}" ]] || rm -rf "$tmp"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rport=$(freeport)
start_redis() {
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
  rpid=$!
  pids+=($rpid)
}
start_redis
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done

cat > "$tmp/mock.json" <<JSON
{"latency": {"baseMs": 100, "perOutputTokenMs": 0},
 "output": {"distribution": "fixed", "mean": 20},
 "models": {"gpt-4o-mini": {"flavor": "openai", "limits": {"rpm": $rpm, "tpm": 100000000, "granularity": "1s", "enforcement": "$enforcement"}}}}
JSON
"$cli" mock --config "$tmp/mock.json" --listen 127.0.0.1:0 > "$tmp/mock.out" 2> "$tmp/mock.err" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/mock.out" 2>/dev/null && break; sleep 0.05; done
mport=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/mock.out" | head -1)

shared=""
if [[ $mode != local ]]; then
  shared=", \"shared\": {\"redis\": \"redis://127.0.0.1:$rport/0\", \"namespace\": \"bench\"}"
fi
cat > "$tmp/config.json" <<JSON
{"providers": [{"name": "mock", "flavor": "openai", "base_url": "http://127.0.0.1:$mport",
   "models": {"gpt-4o-mini": {"limits": {"rpm": $rpm, "tpm": 100000000, "granularity_s": 1}}},
   "keys": [{"name": "shared-key", "env": "MOCK_API_KEY"}]}],
 "retry": {"max_attempts": 5, "base_delay_s": 0.5, "max_delay_s": 8}$shared}
JSON
for i in $(seq "$procs"); do
  python3 - "$per" "$i" > "$tmp/in$i.jsonl" <<'PY'
import json, sys
n, tag = int(sys.argv[1]), sys.argv[2]
for k in range(n):
    print(json.dumps({"custom_id": f"p{tag}-{k}", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": "gpt-4o-mini", "max_tokens": 20,
                               "messages": [{"role": "user", "content": f"request {k} of {tag}"}]}}))
PY
done

start=$(date +%s.%N)
bpids=()
for i in $(seq "$procs"); do
  MOCK_API_KEY=sk-mock "$batchcli" batch --config "$tmp/config.json" --input "$tmp/in$i.jsonl" \
    --output "$tmp/out$i.jsonl" --state "$tmp/st$i.db" > "$tmp/batch$i.out" 2> "$tmp/batch$i.err" &
  bpids+=($!)
  pids+=($!)
done
if [[ $mode == kill ]]; then
  sleep 8
  victim=${bpids[0]}
  kill -9 "$victim"
  killed=$(date +%s.%N)
  # The victim's instance id ends -PID-xxxxxxxx; its concurrency lease is a
  # member of the global scope's lease set until it lapses.
  key=$(redis-cli -p "$rport" --scan --pattern '{bench}:c:global|*' | head -1)
  back=""
  for _ in $(seq 100); do
    if ! redis-cli -p "$rport" zrange "$key" 0 -1 | grep -q -- "-$victim-"; then
      back=$(python3 -c "print(f'{$(date +%s.%N) - $killed:.2f}')"); break
    fi
    sleep 0.1
  done
  echo "killed batch pid $victim at +8 s; its concurrency lease left Redis after ${back:-more than 10} s (lease 2 s)"
  echo "while it was dead: the others kept running; redis keys of it: $(redis-cli -p "$rport" hgetall "${key/:c:/:cw:}" | tr '\n' ' ')"
fi
if [[ $mode == outage ]]; then
  sleep 6
  kill -9 "$rpid"
  echo "redis-server stopped at +6 s"
  sleep 4
  start_redis
  echo "redis-server started again at +10 s"
fi
status=0
for p in "${bpids[@]}"; do wait "$p" || status=$?; done
end=$(date +%s.%N)
curl -s "http://127.0.0.1:$mport/mock/stats" > "$tmp/stats.json"
for i in $(seq "$procs"); do
  grep -h "shared budget" "$tmp/batch$i.err" | sed "s/^/  batch $i: /" || true
  grep -h "completed" "$tmp/batch$i.err" | sed "s/^/  batch $i: /" || true
  echo "  batch $i: $(wc -l < "$tmp/out$i.jsonl") output lines, $(grep -c '"error":null' "$tmp/out$i.jsonl" || true) without error"
done
python3 - "$tmp/stats.json" "$rpm" "$start" "$end" "$mode" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); rpm = int(sys.argv[2]); start, end = float(sys.argv[3]), float(sys.argv[4])
acc = s["accepted"]; req = s["requests"]; rl = sum(v for k, v in s["rateLimited"].items() if k not in ("tooLarge", "quotaExhausted"))
busy = [p for p in s["series"] if p["accepted"] > 0]
span = busy[-1]["t"] - busy[0]["t"] + 1 if busy else 0
rate = rpm / 60.0
allowed = rate * 1 + rate * span  # burst (granularity 1 s) + refill over the seconds that had traffic
print(f"mode {sys.argv[5]}: {req} requests to the mock, {acc} accepted, {rl} answered 429 ({100.0*rl/max(req,1):.2f}%)")
t0 = busy[0]["t"] if busy else 0
when = [f"{p['t'] - t0}s:{p['rateLimited']}" for p in s["series"] if p.get("rateLimited", 0) > 0]
if when:
    print("  429s by second of the run: " + " ".join(when))
inner = busy[1:-1]
if inner:
    print(f"  full seconds only (first and last dropped): {sum(p['accepted'] for p in inner)/len(inner):.2f}/s "
          f"= {100.0*sum(p['accepted'] for p in inner)/(len(inner)*rate):.1f}% of the limit over {len(inner)} s")
print(f"  accepted over {span} s with traffic: {acc/span if span else 0:.1f}/s against a limit of {rate:.1f}/s "
      f"= {100.0*acc/allowed if allowed else 0:.1f}% of what the limit allowed (burst + refill); wall {end-start:.1f} s")
PY
exit $status
