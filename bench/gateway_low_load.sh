#!/usr/bin/env bash
# Latency and CPU per request at a light load, for the mock directly, nginx
# as a plain reverse proxy and the gateway, each in front of the same mock
# (--no-limits --latency-ms 0): C connections (default 1) each pausing
# PACE_MS (default 5) on average between requests, 1 s of warm-up then 5 s
# measured, two rounds. Prints p50, p99 and the CPU time (user + system,
# from /proc, 10 ms ticks) per request of the party in front and of the mock.
# At such a load nothing queues: what a proxy adds is its own work on the
# path and the wake-ups, which on this machine cost every party (the mock
# too) far more CPU per request than at saturation.
# Usage: bench/gateway_low_load.sh SLUICE_CLI   (C=1, PACE_MS=5)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "nginx is missing: bench/gateway_vs_nginx.sh installs it" >&2; exit 2; }
CLI=$1; C=${C:-1}; PACE=${PACE_MS:-5}
. bench/gateway_common.sh
start_mock "$CLI" 1
start_nginx "$NGINX" 1000
write_gateway_config
start_gateway "$CLI" gw
for _ in $(seq 50); do curl -s "$nginx_url/mock/stats" > /dev/null && break; sleep 0.1; done
nginx_worker=$(pgrep -P "$(cat "$W/nginx.pid")" | head -n1)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN{print 1e6 / t}')
for round in 1 2; do
  for name in direct nginx gateway; do
    case $name in direct) url=$mock; pid=$mock_pid;; nginx) url=$nginx_url; pid=$nginx_worker;; gateway) url=$gw_url; pid=$gw_pid;; esac
    PACE_MS=$PACE wrk -t1 -c"$C" -d1s -s bench/wrk_chat_paced.lua "$url" > /dev/null
    b=$(cpu_ticks "$pid"); bm=$(cpu_ticks "$mock_pid")
    out=$(PACE_MS=$PACE wrk -t1 -c"$C" -d5s --latency -s bench/wrk_chat_paced.lua "$url")
    a=$(cpu_ticks "$pid"); am=$(cpu_ticks "$mock_pid")
    n=$(echo "$out" | awk '/requests in/{print $1}')
    echo "round $round $name: $n requests, p50 $(echo "$out" | awk '$1=="50%"{print $2}'), p99 $(echo "$out" | awk '$1=="99%"{print $2}')," \
         "CPU per request $(awk -v d=$((a - b)) -v t="$tick_us" -v n="$n" 'BEGIN{printf "%.0f", d * t / n}') us" \
         "(the mock's $(awk -v d=$((am - bm)) -v t="$tick_us" -v n="$n" 'BEGIN{printf "%.0f", d * t / n}') us)"
  done
done
