#!/usr/bin/env bash
# Where the machine's CPU goes per request, for direct, nginx and the
# gateway in turn: wrk -t1 -c64 against each for D, ROUNDS times, in front
# of one mock (one thread, --no-limits --latency-ms 0). Per target: requests/s,
# then microseconds of CPU per request spent by wrk, by the mock and by the
# proxy (user + system), and the machine's idle time per request (idle share
# of all cores × cores / rate). The four add up to cores / rate: on a
# machine whose cores are all taken by the three programs, a proxy passes on
# fewer requests by what it spends itself and by the idle time it leaves
# (docs/benchmarks.md, "On a faster machine").
# Usage: bench/gateway_budget.sh SLUICE_CLI   (ROUNDS=2, D=3s; MOCK_CLI=another build for the mock,
#        MOCK_KIND=static: nginx with one fixed answer as the provider instead, bench/gateway_common.sh,
#        SERVE_ARGS=more serve options, e.g. --threads 1)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1; MOCK_CLI=${MOCK_CLI:-$CLI}; ROUNDS=${ROUNDS:-2}; D=${D:-3s}
. bench/gateway_common.sh
need_nginx
start_mock "$MOCK_CLI" 1
start_nginx "$NGINX" 4096
write_gateway_config
start_gateway "$CLI" gw
await_nginx
echo "mock $mock ($MOCK_CLI), nginx $nginx_url, gateway $gw_url ($CLI${SERVE_ARGS:+ $SERVE_ARGS}); $(nproc) cores"
echo "microseconds per request: wrk, mock, proxy (user + system CPU), and the machine idle"
cores=$(nproc)
TIMEFORMAT='%U %S'
for r in $(seq "$ROUNDS"); do
  for v in direct nginx gateway; do
    case $v in
      direct) url=$mock pid=$mock_pid ;;
      nginx) url=$nginx_url pid=$nginx_worker ;;
      gateway) url=$gw_url pid=$gw_pid ;;
    esac
    m0="$(cpu_ticks "$mock_pid") $(cpu_ticks "$pid") $(idle_total)"
    # bash's time prints wrk's own user and system seconds after its output.
    out=$( { time wrk -t1 -c64 -d"$D" -s bench/wrk_chat.lua "$url"; } 2>&1 )
    m1="$(cpu_ticks "$mock_pid") $(cpu_ticks "$pid") $(idle_total)"
    awk -v r="$r" -v v="$v" -v a="$m0" -v b="$m1" -v t="$tick_us" -v cores="$cores" \
      -v n="$(echo "$out" | awk '/requests in/{print $1}')" -v rps="$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
      -v w="$(echo "$out" | tail -1)" 'BEGIN{
      split(a, x, " "); split(b, y, " "); split(w, c, " ")
      idle = (y[3] - x[3]) / (y[4] - x[4])
      printf "round %s %-7s %8.0f requests/s: wrk %5.1f, mock %5.1f, proxy %5.1f, idle %5.1f (%2.0f%% of the machine)\n",
        r, v, rps, (c[1] + c[2]) * 1e6 / n, (y[1] - x[1]) * t / n, v == "direct" ? 0 : (y[2] - x[2]) * t / n, cores * 1e6 / rps * idle, 100 * idle}'
  done
done
