#!/usr/bin/env bash
# CPU time and context switches per request of each process a request
# passes, at a set offered load: the mock answering directly, nginx's worker
# (a plain reverse proxy, as in bench/gateway_vs_nginx.sh) and the gateway
# (`sluice-cli serve`), each in turn in front of the same mock
# (--no-limits --latency-ms 0), C connections each pausing PACE_MS between
# requests (bench/wrk_chat_paced.lua), counted by `perf stat` over D.
# At one connection this shows what a proxy pays per request when every
# request finds it asleep (waking a thread, caches gone cold), which the
# figures at saturation hide.
# nginx must be installed (bench/gateway_vs_nginx.sh installs it); perf is
# installed here if missing (apt-get).
# Usage: bench/gateway_cpu.sh SLUICE_CLI   (C=1, PACE_MS=5, D=3s; SERVE_ARGS=more serve options)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
C=${C:-1}; PACE_MS=${PACE_MS:-5}; D=${D:-3s}
. bench/gateway_common.sh
need_perf
start_targets "$1"
echo "$C connection(s) pausing $PACE_MS ms, $D each; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for target in "direct $mock $mock_pid" "nginx $nginx_url $nginx_worker" "gateway $gw_url $gw_pid"; do
  read -r name url pid <<< "$target"
  PACE_MS=$PACE_MS wrk -t1 -c"$C" -d1s -s bench/wrk_chat_paced.lua "$url" > /dev/null  # warm-up
  perf stat -e task-clock,context-switches -p "$pid" -o "$W/perf.txt" -- sleep "${D%s}" &
  perf_pid=$!
  out=$(PACE_MS=$PACE_MS wrk -t1 -c"$C" -d"$D" --latency -s bench/wrk_chat_paced.lua "$url")
  wait "$perf_pid"
  n=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$name: $n requests, p50 $(echo "$out" | awk '$1=="50%"{print $2}'); per request $(awk -v n="$n" '
    /task-clock/ {gsub(",", "", $1); cpu = $1 * 1000 / n}
    /context-switches/ {gsub(",", "", $1); cs = $1 / n}
    END {printf "%.0f us CPU, %.2f context switches", cpu, cs}' "$W/perf.txt") ($([[ $name == direct ]] && echo "the mock" || echo "the proxy"))"
done
