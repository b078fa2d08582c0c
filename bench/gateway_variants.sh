#!/usr/bin/env bash
# Several variants of one gateway build against nginx, in turn, in the same
# rounds: each variant is `sluice-cli serve` started with its own
# environment (a throwaway build's switches, SLUICE_*=...) or serve options,
# all in front of one mock (--no-limits --latency-ms 0, MOCK_THREADS threads)
# beside nginx as a plain reverse proxy (bench/gateway_common.sh). Per round:
# nginx, then each variant, each wrk -t1 -c64 for 1 s of warm-up and D
# measured (bench/wrk_chat.lua), reporting requests/s, the ratio to nginx's
# rate just before, the proxy's CPU time per request (user + system, from
# /proc/PID/stat) and how much of the machine sat idle meanwhile (from
# /proc/stat: a proxy that leaves cores idle is waiting, not working).
# nginx must be installed (bench/gateway_vs_nginx.sh installs it).
# Usage: bench/gateway_variants.sh SLUICE_CLI NAME=SETTINGS...   (ROUNDS=3, D=4, MOCK_THREADS=1)
#   SETTINGS: VAR=VALUE[,VAR=VALUE...] put in the environment, or
#   "args:OPTIONS" added to serve's command line; "-" for neither.
#   e.g. bench/gateway_variants.sh build/release/app/sluice-cli default=- threads1="args:--threads 1"
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI NAME=SETTINGS..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1; shift
ROUNDS=${ROUNDS:-3}; D=${D:-4}
[[ $D =~ ^[1-9][0-9]*$ ]] || { echo "D=$D: whole seconds" >&2; exit 2; }
for v in "$@"; do
  [[ $v =~ ^[A-Za-z0-9_]+=.+$ ]] || { echo "variant \"$v\": NAME=SETTINGS (VAR=VALUE,..., args:OPTIONS or -)" >&2; exit 2; }
done
. bench/gateway_common.sh
need_nginx
start_mock "$CLI" "${MOCK_THREADS:-1}"
start_nginx "$NGINX" 20000 20000
write_gateway_config
names=(); declare -A url pid
for v in "$@"; do
  name=${v%%=*}; settings=${v#*=}; envs=(); args=()
  case $settings in
    -) ;;
    args:*) read -r -a args <<< "${settings#args:}";;
    *) IFS=, read -r -a envs <<< "$settings";;
  esac
  env "${envs[@]}" MOCK_API_KEY=sk-mock "$CLI" serve --config "$W/gw.json" --listen 127.0.0.1:0 "${args[@]}" \
    > "$W/$name.out" 2> "$W/$name.err" &
  pid[$name]=$!; pids+=($!); names+=("$name")
  url[$name]=$(first_url "$W/$name.out")
done
await_nginx
tick=$(getconf CLK_TCK)
echo "mock $mock (${MOCK_THREADS:-1} thread(s)), nginx $nginx_url, variants: $*; $(nproc) cores"

# measure PID URL: "RATE CPU_TICKS IDLE_TICKS" over D seconds after 1 s of warm-up.
measure() {
  wrk -t1 -c64 -d1s -s bench/wrk_chat.lua "$2" > /dev/null
  local i0 i1 c0 c1 out
  i0=$(awk '/^cpu /{print $5 + $6}' /proc/stat); c0=$(awk '{print $14 + $15}' "/proc/$1/stat")
  out=$(wrk -t1 -c64 -d"${D}s" -s bench/wrk_chat.lua "$2")
  c1=$(awk '{print $14 + $15}' "/proc/$1/stat"); i1=$(awk '/^cpu /{print $5 + $6}' /proc/stat)
  echo "$(echo "$out" | awk '/Requests\/sec/{print $2}') $((c1 - c0)) $((i1 - i0))"
}
report() {  # NAME RATE CPU IDLE NGINX_RATE
  awk -v n="$1" -v r="$2" -v c="$3" -v i="$4" -v nr="$5" -v t="$tick" -v d="$D" \
    'BEGIN{printf "  %-12s %8.0f requests/s  ratio %.3f  CPU %5.1f us/request  idle %.2f cores\n", n, r, r / nr, c / t * 1e6 / (r * d), i / t / d}'
}
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  read -r nrate ncpu nidle < <(measure "$nginx_worker" "$nginx_url")
  report nginx "$nrate" "$ncpu" "$nidle" "$nrate"
  for name in "${names[@]}"; do
    read -r rate cpu idle < <(measure "${pid[$name]}" "${url[$name]}")
    report "$name" "$rate" "$cpu" "$idle" "$nrate"
  done
done
