# The gateway benchmarks' shared start-up, sourced by bench/gateway_*.sh
# (ab, budget, callgrind, cpu, in_flight, latency, mock_side, profile, sched, syscalls, variants, vs_nginx): a work
# directory $W, removed on exit with every process started here stopped;
# the mock with no limits and no latency; the gateway configuration that
# points at it; gateways (`sluice-cli serve`); nginx as a plain reverse
# proxy in front of the mock. Everything listens on 127.0.0.1 only.

W=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  [[ -f $W/nginx.pid ]] && kill "$(cat "$W/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap bench_cleanup EXIT

# first_url FILE: the first http://host:port a program printed to FILE;
# when none comes, FILE and the program's errors (FILE.out -> FILE.err).
first_url() {
  for _ in $(seq 100); do
    if url=$(grep -m1 -o 'http://[0-9.:]*' "$1" 2>/dev/null); then echo "$url"; return; fi
    sleep 0.1
  done
  # What the program said about why, from its error output beside FILE.
  echo "no address in $1" >&2; cat "$1" "${1%.out}.err" >&2 2>/dev/null; exit 1
}
# need_perf: installs Debian's linux-perf (apt-get) when perf is missing, for
# the benchmark that sources this only.
need_perf() {
  command -v perf >/dev/null && return
  echo "installing perf for this benchmark (apt-get)"
  local sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
}
# need_nginx: sets NGINX to Debian's nginx, or stops when it is missing
# (bench/gateway_vs_nginx.sh installs it; the others only use it).
need_nginx() {
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  [[ -x $NGINX ]] || { echo "nginx is missing: run bench/gateway_vs_nginx.sh once (it installs it)" >&2; exit 2; }
}
# need_callgrind: stops unless valgrind and wrk are there (the callgrind benchmarks).
need_callgrind() {
  command -v valgrind >/dev/null && command -v wrk >/dev/null || { echo "valgrind and wrk are needed: scripts/install-deps.sh" >&2; exit 2; }
}
# await_models PORT: waits up to 60 s for 127.0.0.1:PORT to answer GET
# /v1/models (a program under valgrind starts slowly).
await_models() {
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$1/v1/models" && return; sleep 0.2; done
}
# ctx_switches PID voluntary|nonvoluntary: the context switches of all of
# PID's threads so far; voluntary: it went to sleep (left without work),
# nonvoluntary: it was preempted (another program took its core).
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk -v k="$2_ctxt_switches:" '$1 == k {s += $2} END{print s + 0}'; }
# cpu_ticks PID: the CPU time of PID so far, user and system together, in
# clock ticks; tick_us: microseconds per tick.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN{print 1e6 / t}')
# idle_total: the machine's idle and total ticks so far (idle + iowait).
idle_total() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t}' /proc/stat; }
# wrk prints latencies as 123.45us, 1.23ms or 1.23s: us turns them into
# microseconds; median prints the median of the numbers on standard input.
us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v+0} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1000000}}'; }
median() { sort -g | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_mock CLI [THREADS]: the mock (--no-limits --latency-ms 0); sets mock
# and mock_pid. MOCK_CONFIG=FILE: the mock's configuration from FILE instead
# of --no-limits (docs/mock.md), e.g. limits that never bind, so that every
# answer carries rate-limit headers as a provider's do. MOCK_KIND=static:
# start_static_mock instead.
start_mock() {
  if [[ ${MOCK_KIND:-sluice} == static ]]; then start_static_mock; return; fi
  [[ ${MOCK_KIND:-sluice} == sluice ]] || { echo "MOCK_KIND=$MOCK_KIND: sluice or static" >&2; exit 2; }
  local limits=(--no-limits)
  [[ -n ${MOCK_CONFIG:-} ]] && limits=(--config "$MOCK_CONFIG")
  "$1" mock --listen 127.0.0.1:0 --latency-ms 0 "${limits[@]}" --threads "${2:-1}" > "$W/mock.out" 2> "$W/mock.err" &
  mock_pid=$!
  pids+=($mock_pid)
  mock=$(first_url "$W/mock.out")
}

# nginx_worker_of PIDFILE: the (first) worker of the nginx master whose pid
# file that is, or nothing while the master has not written it yet.
nginx_worker_of() {
  local master
  master=$(cat "$1" 2>/dev/null || true)
  [[ -n $master ]] || return 0
  pgrep -P "$master" | head -n1 || true
}

# start_static_mock: a provider that is not ours: Debian's nginx (one
# worker) answering every request at once with one fixed chat completion,
# usage included, in a few microseconds; non-streaming chat only. Sets mock
# and mock_pid (the worker's, whose CPU and sleeps are counted).
start_static_mock() {
  need_nginx
  local port answer
  port=$(free_port)
  mkdir -p "$W/static"
  answer='{"id":"chatcmpl-static","object":"chat.completion","created":1796605105,"model":"gpt-4o-mini",'
  answer+='"choices":[{"index":0,"message":{"role":"assistant","content":"careful holds narrow turn level sluice tokens every spills under limit a its water of while","refusal":null},"logprobs":null,"finish_reason":"length"}],'
  answer+='"usage":{"prompt_tokens":13,"completion_tokens":16,"total_tokens":29},"system_fingerprint":"fp_static"}'
  cat > "$W/static/nginx.conf" <<CONF
worker_processes 1;
pid $W/static/nginx.pid;
error_log $W/static/nginx.err warn;
daemon off;
events { worker_connections 20000; }
worker_rlimit_nofile 20000;
http {
  access_log off;
  client_body_temp_path $W/static/body;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / { default_type application/json; add_header x-request-id req_static; return 200 '$answer'; }
  }
}
CONF
  "$NGINX" -p "$W/static" -c "$W/static/nginx.conf" &
  pids+=($!)
  mock=http://127.0.0.1:$port
  mock_pid=""
  for _ in $(seq 50); do
    mock_pid=$(nginx_worker_of "$W/static/nginx.pid")
    [[ -n $mock_pid ]] && curl -s -o /dev/null "$mock/v1/models" && break
    sleep 0.1
  done
  [[ -n $mock_pid ]] || { echo "the static mock did not start: $W/static/nginx.err" >&2; exit 1; }
}

# write_gateway_config: $W/gw.json, one provider, the mock (start_mock first);
# with ANTHROPIC=1 a second one, Anthropic's dialect on the same mock
# serving claude-haiku-4-5 (bench/wrk_messages.lua).
write_gateway_config() {
  local anthropic=""
  [[ ${ANTHROPIC:-0} == 1 ]] && anthropic=", { \"name\": \"mock-anthropic\", \"flavor\": \"anthropic\", \"base_url\": \"$mock\",
    \"learn_limits\": false, \"models\": { \"claude-haiku-4-5\": {} }, \"keys\": [ { \"name\": \"mock\", \"env\": \"MOCK_API_KEY\" } ] }"
  cat > "$W/gw.json" <<JSON
{ "global": { "limits": { "concurrency": 8000 } }, "gateway": { "hold_s": 120 },
  "providers": [ { "name": "mock", "flavor": "openai", "base_url": "$mock", "learn_limits": false,
    "models": { "gpt-4o-mini": {} }, "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] }$anthropic ] }
JSON
}

# start_gateway CLI NAME: `CLI serve` on $W/gw.json, output in $W/NAME.out;
# sets gw_url and gw_pid. SERVE_ARGS: more options (e.g. --threads 1: io threads of its own).
start_gateway() {
  # shellcheck disable=SC2086  # SERVE_ARGS is a list of options
  MOCK_API_KEY=sk-mock "$1" serve --config "$W/gw.json" --listen 127.0.0.1:0 ${SERVE_ARGS:-} > "$W/$2.out" 2> "$W/$2.err" &
  gw_pid=$!
  pids+=($gw_pid)
  gw_url=$(first_url "$W/$2.out")
}

# start_nginx NGINX CONNECTIONS [RLIMIT_NOFILE]: nginx proxying to the mock
# (keepalive 64, no buffering; NGINX_WORKERS worker processes, 1 unless
# set: "auto" is one per core); sets nginx_url.
start_nginx() {
  local port rlimit=""
  port=$(free_port)
  [[ -n ${3:-} ]] && rlimit="worker_rlimit_nofile $3;"
  cat > "$W/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-1};
pid $W/nginx.pid;
error_log $W/nginx.err warn;
daemon off;
events { worker_connections $2; }
$rlimit
http {
  access_log off;
  client_body_temp_path $W/body;
  proxy_temp_path $W/proxy;
  upstream mock { server ${mock#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
CONF
  "$1" -p "$W" -c "$W/nginx.conf" &
  pids+=($!)
  nginx_url=http://127.0.0.1:$port
}

# await_nginx: waits until nginx passes requests on to the mock (up to 5 s),
# then sets nginx_worker to its (first) worker's pid, or stops.
await_nginx() {
  for _ in $(seq 50); do curl -s "$nginx_url/mock/stats" > /dev/null && break; sleep 0.1; done
  nginx_worker=$(nginx_worker_of "$W/nginx.pid")
  [[ -n $nginx_worker ]] || { echo "nginx's worker did not start: $W/nginx.err" >&2; exit 1; }
}

# start_targets MOCK_CLI [GATEWAY_CLI]: the three targets the per-request
# benchmarks (cpu, sched) compare: the mock, nginx in front of it, and one
# gateway (GATEWAY_CLI, default MOCK_CLI); sets mock, nginx_url, gw_url and
# their processes' pids (mock_pid, nginx_worker, gw_pid).
start_targets() {
  need_nginx
  start_mock "$1" 1
  start_nginx "$NGINX" 4096
  write_gateway_config
  start_gateway "${2:-$1}" gw
  await_nginx
}
