#!/usr/bin/env bash
# System calls and context switches per request in the gateway at
# saturation (or at a paced load, PACE_MS): one gateway build in front of the mock (--no-limits
# --latency-ms 0), wrk -t1 -c64 for 1 s of warm-up, then 4 s with
# `perf stat` counting the gateway process's system calls by kind
# (syscalls:sys_enter_*), its context switches and CPU time, each divided by
# the requests wrk completed meanwhile. Counts, not times: a shared machine
# moves them little.
# perf comes from Debian's linux-perf, installed here for this benchmark if
# missing (apt-get).
# Usage: bench/gateway_syscalls.sh SLUICE_CLI   (C=64 connections, SERVE_ARGS=more serve options, e.g. --threads 1;
#        PACE_MS=N: each connection pauses N ms on average between requests, bench/wrk_chat_paced.lua;
#        PROXY=nginx: the same counts for Debian's nginx as the proxy (its worker), SLUICE_CLI then the mock only)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1; C=${C:-64}
SCRIPT=bench/wrk_chat.lua
[[ -n ${PACE_MS:-} ]] && { SCRIPT=bench/wrk_chat_paced.lua; export PACE_MS; }
. bench/gateway_common.sh
need_perf
start_mock "$CLI" 2
if [[ ${PROXY:-gateway} == nginx ]]; then
  need_nginx
  start_nginx "$NGINX" 20000
  await_nginx
  # The counts below are the nginx worker's, under the names the gateway's use.
  gw_url=$nginx_url gw_pid=$nginx_worker
else
  [[ ${PROXY:-gateway} == gateway ]] || { echo "PROXY=$PROXY: gateway or nginx" >&2; exit 2; }
  write_gateway_config
  start_gateway "$CLI" gw
fi
wrk -t1 -c"$C" -d1s -s "$SCRIPT" "$gw_url" > /dev/null
events=$(perf list 2>/dev/null | awk '/syscalls:sys_enter_(epoll|read |write |recvfrom|sendto|sendmsg|recvmsg|readv|writev|futex|timerfd|eventfd|accept)/{print $1}' | paste -sd,)
[[ -n $events ]] || { echo "perf lists no syscall tracepoints here (are they readable? /sys/kernel/tracing)" >&2; exit 2; }
perf stat -x, -o "$W/perf.csv" -e "context-switches,task-clock,$events" -p "$gw_pid" -- sleep 4 &
perf_pid=$!
out=$(wrk -t1 -c"$C" -d4s -s "$SCRIPT" "$gw_url")
wait "$perf_pid" || true
n=$(echo "$out" | awk '/requests in/{print $1}')
echo "${PROXY:-gateway} ($CLI ${SERVE_ARGS:-}): $n requests in 4 s on $C connections ($(echo "$out" | awk '/Requests\/sec/{print $2}') requests/s)"
# perf -x, lines: value,unit,event,...; task-clock is in milliseconds.
awk -F, -v n="$n" '
  $1 ~ /^[0-9.]+$/ && $1 > 0 {
    e = $3; sub(/^syscalls:sys_enter_/, "", e)
    if (e == "task-clock") { printf "  %-18s %7.1f us per request\n", "CPU", $1 * 1000 / n; next }
    printf "  %-18s %7.3f per request\n", e, $1 / n
    if ($3 ~ /^syscalls:/) total += $1
  }
  END { printf "  %-18s %7.3f per request\n", "system calls", total / n }' "$W/perf.csv"
