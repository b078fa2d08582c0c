#!/usr/bin/env bash
# Where a gateway request's time goes between threads: one gateway build in
# front of the mock (--no-limits --latency-ms 0), wrk for D with C
# connections pausing PACE_MS between requests, and `perf stat --per-thread`
# on the gateway process meanwhile: per request, each thread's context
# switches, futex calls (a lock some other thread held), epoll/poll waits
# and CPU time. The two busy threads are the io thread (epoll_wait) and the
# dispatcher thread (libcurl's poll).
# perf comes from Debian's linux-perf, installed here for this benchmark if
# missing (apt-get).
# Usage: bench/gateway_profile.sh SLUICE_CLI   (C=1, PACE_MS=5, D=3s)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1; C=${C:-1}; PACE_MS=${PACE_MS:-5}; D=${D:-3s}
. bench/gateway_common.sh
need_perf
start_mock "$CLI" 1
write_gateway_config
start_gateway "$CLI" gw
gw=$gw_url
# Warm up: the tokenizer's rank file loads on the first request.
PACE_MS=$PACE_MS wrk -t1 -c"$C" -d1s -s bench/wrk_chat_paced.lua "$gw" > /dev/null
secs=${D%s}
perf stat --per-thread -x, -o "$W/perf.csv" \
  -e task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll \
  -p "$gw_pid" -- sleep "$secs" &
perf_pid=$!
out=$(PACE_MS=$PACE_MS wrk -t1 -c"$C" -d"$D" --latency -s bench/wrk_chat_paced.lua "$gw")
wait "$perf_pid"
n=$(echo "$out" | awk '/requests in/{print $1}')
echo "$CLI: $n requests in $D on $C connection(s) pausing ${PACE_MS} ms; p50 $(echo "$out" | awk '$1=="50%"{print $2}'), p99 $(echo "$out" | awk '$1=="99%"{print $2}'); load $(cut -d' ' -f1-3 /proc/loadavg)"
# perf -x, lines: thread,value,unit,event,...
awk -F, -v n="$n" '
  $2 ~ /^[0-9.]+$/ {
    t=$1; v=$2; e=$4;
    if (e ~ /task-clock/) cpu[t]=v*1000/n;  # msec -> microseconds per request
    else if (e ~ /context-switches/) cs[t]=v/n;
    else if (e ~ /futex/) fx[t]=v/n;
    else if (e ~ /epoll_wait/) ep[t]=v/n;
    else if (e ~ /sys_enter_poll/) pl[t]=v/n;
    seen[t]=1
  }
  END {
    for (t in seen) if (cpu[t] > 0.5) {
      role = ep[t] > pl[t] ? "io thread (epoll_wait)" : "dispatcher (poll)";
      printf "  %-24s CPU %6.1f us, context switches %4.2f, futex %4.2f, waits %4.2f per request\n", role, cpu[t], cs[t], fx[t], ep[t] + pl[t];
      tc+=cpu[t]; tcs+=cs[t]; tfx+=fx[t]
    }
    printf "  %-24s CPU", "all threads";
    printf " %6.1f us, context switches %4.2f, futex %4.2f per request\n", tc, tcs, tfx
  }' "$W/perf.csv"
