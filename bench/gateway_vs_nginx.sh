#!/usr/bin/env bash
# The gateway against Debian's nginx as a plain reverse proxy, both in front
# of the same mock (--no-limits --latency-ms 0), in one run:
#   1. throughput: wrk -t1 -c64 (direct to the mock, via nginx, via the gateway);
#   2. added latency over direct at half the gateway's saturating rate
#      (64 connections paced by bench/wrk_chat_paced.lua), p50 and p99;
#   3. 5,000 concurrent streaming responses held through each proxy
#      (tests/sdk/hold_streams.mjs), memory per connection from RSS.
# nginx is installed here (apt-get), for this benchmark only.
# Usage: bench/gateway_vs_nginx.sh   (DURATION=15s, STREAMS=5000, PARTS=123, MOCK_THREADS=1, CLI=path to vary)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-build/release/app/sluice-cli}  # CLI=path: another build, to compare before and after
DURATION=${DURATION:-15s}
STREAMS=${STREAMS:-5000}
PARTS=${PARTS:-123}  # which of the three parts to run
[[ -x $CLI ]] || { echo "build sluice-cli first (make build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
  echo "installing nginx for this benchmark (apt-get)"
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nginx-light >/dev/null \
    || DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nginx >/dev/null
  # Installing may start the packaged service; this benchmark runs its own.
  command -v systemctl >/dev/null && "${sudo_cmd[@]}" systemctl stop nginx 2>/dev/null || true
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
first_url() {
  for _ in $(seq 100); do
    if url=$(grep -m1 -o 'http://[0-9.:]*' "$1" 2>/dev/null); then echo "$url"; return; fi
    sleep 0.1
  done
  echo "no address in $1" >&2; cat "$1" >&2; exit 1
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

"$CLI" mock --listen 127.0.0.1:0 --latency-ms 0 --no-limits --threads "${MOCK_THREADS:-1}" > "$work/mock.out" 2> "$work/mock.err" &
pids+=($!)
mock=$(first_url "$work/mock.out")
mock_hostport=${mock#http://}

nginx_port=$(free_port)
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
daemon off;
events { worker_connections 20000; }
worker_rlimit_nofile 20000;
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  upstream mock { server $mock_hostport; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
"$NGINX" -p "$work" -c "$work/nginx.conf" &
pids+=($!)
nginx_url=http://127.0.0.1:$nginx_port

cat > "$work/gw.json" <<JSON
{
  "global": { "limits": { "concurrency": 8000 } },
  "gateway": { "hold_s": 120 },
  "providers": [ { "name": "mock", "flavor": "openai", "base_url": "$mock", "learn_limits": false,
    "models": { "gpt-4o-mini": {} }, "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] } ]
}
JSON
MOCK_API_KEY=sk-mock "$CLI" serve --config "$work/gw.json" --listen 127.0.0.1:0 > "$work/gw.out" 2> "$work/gw.err" &
gw_pid=$!
pids+=($gw_pid)
gw_url=$(first_url "$work/gw.out")
for _ in $(seq 50); do curl -s "$nginx_url/mock/stats" > /dev/null && break; sleep 0.1; done
echo "mock $mock, nginx $nginx_url ($("$NGINX" -v 2>&1 | sed 's/.*: //')), gateway $gw_url; $(nproc) cores"

rps() { awk '/Requests\/sec/{print $2}'; }
declare -A RPS
if [[ $PARTS == *1* || $PARTS == *2* ]]; then
echo
echo "== 1. throughput: wrk -t1 -c64 -d$DURATION -s bench/wrk_chat.lua"
for name in direct nginx gateway; do
  case $name in direct) url=$mock;; nginx) url=$nginx_url;; gateway) url=$gw_url;; esac
  out=$(wrk -t1 -c64 -d"$DURATION" -s bench/wrk_chat.lua "$url")
  RPS[$name]=$(echo "$out" | rps)
  echo "$name: ${RPS[$name]} requests/s $(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')"
done
echo "gateway / nginx: $(awk -v g="${RPS[gateway]}" -v n="${RPS[nginx]}" 'BEGIN{printf "%.3f", g/n}')"

echo
half=$(awk -v g="${RPS[gateway]}" 'BEGIN{printf "%d", g/2}')
pace=$(awk -v g="${RPS[gateway]}" 'BEGIN{printf "%d", 64/(g/2)*1000}')
echo "== 2. latency at half the gateway's saturating rate: ~$half requests/s (64 connections, each pausing ${pace} ms)"
for name in direct nginx gateway; do
  case $name in direct) url=$mock;; nginx) url=$nginx_url;; gateway) url=$gw_url;; esac
  out=$(PACE_MS=$pace wrk -t1 -c64 -d"$DURATION" --latency -s bench/wrk_chat_paced.lua "$url")
  echo "$name: $(echo "$out" | rps) requests/s, p50 $(echo "$out" | awk '$1=="50%"{print $2}'), p99 $(echo "$out" | awk '$1=="99%"{print $2}')"
done
fi
[[ $PARTS == *3* ]] || exit 0

echo
echo "== 3. $STREAMS concurrent streaming responses (100 tokens, one every 300 ms: 30 s each)"
curl -sf "$mock/mock/config" -d '{"limitsEnabled":false,"latency":{"baseMs":0,"firstTokenMs":20,"perOutputTokenMs":300}}' > /dev/null
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -n1)
for name in nginx gateway; do
  case $name in nginx) url=$nginx_url; pid=$nginx_worker;; gateway) url=$gw_url; pid=$gw_pid;; esac
  before=$(rss_kb "$pid")
  node tests/sdk/hold_streams.mjs "$url" "$STREAMS" > "$work/streams.out" &
  node_pid=$!
  for _ in $(seq 600); do grep -q '^held' "$work/streams.out" && break; sleep 0.1; done
  held=$(grep -c '^held' "$work/streams.out" || true)
  during=$(rss_kb "$pid")
  wait "$node_pid"
  echo "$name: held=$held ($(grep '^done' "$work/streams.out")); RSS ${before} kB idle -> ${during} kB with $STREAMS streams:" \
       "$(awk -v a="$before" -v b="$during" -v n="$STREAMS" 'BEGIN{printf "%.1f", (b-a)/n}') kB per connection"
done
