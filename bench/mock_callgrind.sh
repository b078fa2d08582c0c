#!/usr/bin/env bash
# Instructions per request in the mock provider, counted by callgrind (not
# timed, so a busy machine does not change the figure): `sluice-cli mock
# --no-limits --latency-ms 0 --threads 1` under valgrind, wrk -c16 for 2 s
# of warm-up, counters zeroed (callgrind_control -z), 8 s measured
# (bench/wrk_chat.lua, or WRK_SCRIPT: bench/wrk_chat_stream.lua,
# bench/wrk_messages.lua); then the io thread's instructions divided by the
# requests wrk completed meanwhile. The mock is what the gateway's
# benchmarks put behind it, on the same two cores: what it spends on a
# request is taken from the proxy under test. Prints "requests N; I
# instructions per request".
# Usage: bench/mock_callgrind.sh SLUICE_CLI
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
CLI=$1
WRK_SCRIPT=${WRK_SCRIPT:-bench/wrk_chat.lua}
. bench/gateway_common.sh
need_callgrind
port=$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$CLI" mock --listen "127.0.0.1:$port" --latency-ms 0 \
  --no-limits --threads 1 > "$W/mock.out" 2> "$W/mock.err" &
mock=$!
pids+=($mock)
await_models "$port"
wrk -t1 -c16 -d2s -s "$WRK_SCRIPT" "http://127.0.0.1:$port" > /dev/null
callgrind_control -z "$mock" > /dev/null 2>&1
n=$(wrk -t1 -c16 -d8s -s "$WRK_SCRIPT" "http://127.0.0.1:$port" | awk '/requests in/{print $1}')
callgrind_control -d "$mock" > /dev/null 2>&1
kill -INT "$mock"
wait "$mock" || true
# The dump after zeroing is the second part (cg.out.1); its total is the measured span's.
total=$(callgrind_annotate "$W/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",", "", $1); print $1}')
echo "$CLI ($WRK_SCRIPT): requests $n; $(( total / n )) instructions per request"
