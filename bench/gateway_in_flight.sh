#!/usr/bin/env bash
# The gateway's CPU per request with many requests in flight at once: the
# mock answers after LAT ms (--no-limits), wrk keeps C connections busy
# through the gateway, and the gateway process's CPU time (user + system,
# /proc) is divided by the requests wrk completed. Each build given runs in
# turn on the same mock, twice, alternating (A B A B), to compare builds.
# Usage: bench/gateway_in_flight.sh SLUICE_CLI [SLUICE_CLI...]   (C=2000, LAT=1000, D=10s)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: $0 SLUICE_CLI [SLUICE_CLI...]" >&2; exit 2; }
for cli in "$@"; do [[ -x $cli ]] || { echo "$cli: not an executable" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
C=${C:-2000}; LAT=${LAT:-1000}; D=${D:-10s}
ulimit -n "$(ulimit -Hn)"
. bench/gateway_common.sh
"$1" mock --listen 127.0.0.1:0 --latency-ms "$LAT" --no-limits --threads 2 > "$W/mock.out" 2> "$W/mock.err" &
pids+=($!)
mock=$(first_url "$W/mock.out")
write_gateway_config
echo "$C connections, mock answering after $LAT ms, $D per run; load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  for cli in "$@"; do
    start_gateway "$cli" gw
    wrk -t1 -c"$C" -d3s -s bench/wrk_chat.lua "$gw_url" > /dev/null  # warm: connections open, tokenizer loaded
    before=$(cpu_ticks "$gw_pid")
    out=$(wrk -t1 -c"$C" -d"$D" -s bench/wrk_chat.lua "$gw_url")
    after=$(cpu_ticks "$gw_pid")
    n=$(echo "$out" | awk '/requests in/{print $1}')
    echo "round $round $cli: $n requests, $(echo "$out" | awk '/Requests\/sec/{print $2}')/s," \
         "gateway CPU $(awk -v d=$((after - before)) -v t="$tick_us" -v n="$n" 'BEGIN{printf "%.0f", d * t / n}') us per request" \
         "$(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')"
    kill -INT "$gw_pid"
    wait "$gw_pid" 2>/dev/null || true
  done
done
