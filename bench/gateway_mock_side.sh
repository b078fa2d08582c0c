#!/usr/bin/env bash
# What two gateway builds cost the provider behind them: one mock (one
# thread, --no-limits --latency-ms 0) with gateway A, gateway B and no
# gateway (direct) in turn, ROUNDS times, wrk -t1 -c64 for D each. Per round:
# requests/s, the mock's CPU per request, how often per request its threads
# went to sleep (voluntary context switches: left without work) and were
# preempted (involuntary ones: another program took its core), and the
# gateway's CPU per request. Then the machine's idle share over the round
# (/proc/stat) and, per second of the round, how long the mock and the
# gateway were ready to run but waited for a core (/proc/PID/task/*/schedstat):
# both high together mean the kernel queued them on one core while the other
# idled. On two cores the gateway's rate can follow the mock's share of a
# core more than the gateway's own work (docs/benchmarks.md, "Profile-guided
# build", "Waking less at saturation").
# Usage: bench/gateway_mock_side.sh A_SLUICE_CLI B_SLUICE_CLI   (ROUNDS=3, D=3s)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 && -x $1 && -x $2 ]] || { echo "usage: $0 A_SLUICE_CLI B_SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
A=$1; B=$2; ROUNDS=${ROUNDS:-3}; D=${D:-3s}
. bench/gateway_common.sh
start_mock "$A" 1
write_gateway_config
# shellcheck disable=SC2034  # read through ${!url} and ${!pid} below
{
  start_gateway "$A" A; url_A=$gw_url pid_A=$gw_pid
  start_gateway "$B" B; url_B=$gw_url pid_B=$gw_pid
  url_direct=$mock pid_direct=$mock_pid
}
# run_wait PID: nanoseconds all of PID's threads have waited, ready, for a core.
run_wait() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $2} END{printf "%d\n", s}'; }
for r in $(seq "$ROUNDS"); do
  for v in A B direct; do
    url=url_$v pid=pid_$v
    m0="$(cpu_ticks "$mock_pid") $(ctx_switches "$mock_pid" voluntary) $(ctx_switches "$mock_pid" nonvoluntary) $(cpu_ticks "${!pid}") $(idle_total) $(run_wait "$mock_pid") $(run_wait "${!pid}") $(date +%s%N)"
    out=$(wrk -t1 -c64 -d"$D" -s bench/wrk_chat.lua "${!url}")
    m1="$(cpu_ticks "$mock_pid") $(ctx_switches "$mock_pid" voluntary) $(ctx_switches "$mock_pid" nonvoluntary) $(cpu_ticks "${!pid}") $(idle_total) $(run_wait "$mock_pid") $(run_wait "${!pid}") $(date +%s%N)"
    n=$(echo "$out" | awk '/requests in/{print $1}')
    awk -v r="$r" -v v="$v" -v rps="$(echo "$out" | awk '/Requests\/sec/{print $2}')" -v a="$m0" -v b="$m1" -v n="$n" -v t="$tick_us" 'BEGIN{
      split(a, x, " "); split(b, y, " ")
      printf "round %s %s: %s requests/s; mock CPU %.1f us, sleeps %.3f, preempted %.3f per request", r, v, rps, (y[1] - x[1]) * t / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n
      if (v != "direct") printf "; gateway CPU %.1f us per request", (y[4] - x[4]) * t / n
      wall = y[9] - x[9]
      printf "; machine idle %.0f%%; waiting for a core: mock %.0f ms", 100 * (y[5] - x[5]) / (y[6] - x[6]), 1000 * (y[7] - x[7]) / wall
      if (v != "direct") printf ", gateway %.0f ms", 1000 * (y[8] - x[8]) / wall
      printf " per s\n"}'
  done
done
