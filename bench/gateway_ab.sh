#!/usr/bin/env bash
# Two builds of the gateway side by side in front of one mock
# (--no-limits --latency-ms 0), measured in alternation, A then B, ROUNDS
# times, so both see the same machine: per round, wrk -t1 -c64 for D at
# saturation (requests/s, as a ratio to direct to the mock measured right
# after, and the gateway process's CPU time per request from
# /proc/PID/stat), then one connection pausing 5 ms (p50, and direct).
# Usage: bench/gateway_ab.sh OLD_SLUICE_CLI NEW_SLUICE_CLI   (ROUNDS=3, D=3s, WRK_SCRIPT=bench/wrk_chat.lua for the saturation part)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 && -x $1 && -x $2 ]] || { echo "usage: $0 OLD_SLUICE_CLI NEW_SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
A=$1; B=$2; ROUNDS=${ROUNDS:-3}; D=${D:-3s}; WRK_SCRIPT=${WRK_SCRIPT:-bench/wrk_chat.lua}
. bench/gateway_common.sh
start_mock "$B" 2
write_gateway_config
for v in A B; do
  start_gateway "${!v}" $v
  eval pid_$v=$gw_pid url_$v=$gw_url
done
for r in $(seq $ROUNDS); do
  for v in A B; do
    u=url_$v
    p=pid_$v; t0=$(cpu_ticks ${!p})
    out=$(wrk -t1 -c64 -d$D -s "$WRK_SCRIPT" ${!u})
    t1=$(cpu_ticks ${!p})
    sat=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    n=$(echo "$out" | awk '/requests in/{print $1}')
    cpu=$(awk -v t=$((t1-t0)) -v u="$tick_us" -v n=$n 'BEGIN{printf "%.1f", t*u/n}')
    dir=$(wrk -t1 -c64 -d$D -s "$WRK_SCRIPT" $mock | awk '/Requests\/sec/{print $2}')
    lat=$(PACE_MS=5 wrk -t1 -c1 -d$D --latency -s bench/wrk_chat_paced.lua ${!u} | awk '$1=="50%"{print $2}')
    dlat=$(PACE_MS=5 wrk -t1 -c1 -d$D --latency -s bench/wrk_chat_paced.lua $mock | awk '$1=="50%"{print $2}')
    echo "round $r $v: saturated ${sat}/s (direct ${dir}/s, ratio $(awk -v a=$sat -v b=$dir 'BEGIN{printf "%.3f", a/b}'), gateway CPU ${cpu} us/request); one connection p50 $lat (direct $dlat)"
  done
done
