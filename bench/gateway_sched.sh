#!/usr/bin/env bash
# Where a request's wait goes in the kernel's scheduler: the mock answering
# directly, nginx's worker (a plain reverse proxy, as in
# bench/gateway_vs_nginx.sh) and the gateway (`sluice-cli serve`), each in
# turn in front of the same mock (--no-limits --latency-ms 0), C connections
# each pausing PACE_MS between requests (bench/wrk_chat_paced.lua). For each,
# one second of `perf sched record` in the middle of the run, then:
#   - each program's time on each CPU, and each CPU's idle time;
#   - how long programs waited to run after being woken ("sch delay"), by
#     what held the CPU meanwhile: "idle" is a CPU that was asleep and had to
#     be woken first (on a virtual machine that can cost tens of
#     microseconds), any other name a program that had the CPU.
# Waits of 5 us or less are not counted (a switch's own cost).
# nginx must be installed (bench/gateway_vs_nginx.sh installs it); perf is
# installed here if missing (apt-get).
# Usage: bench/gateway_sched.sh SLUICE_CLI   (C=64, PACE_MS=2.3, TARGETS="direct nginx gateway";
#        GATEWAY_CLI=path for the gateway alone, e.g. a wrapper script setting its environment)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
C=${C:-64}; PACE_MS=${PACE_MS:-2.3}
. bench/gateway_common.sh
need_perf
start_targets "$1" "${GATEWAY_CLI:-$1}"
echo "$C connection(s) pausing $PACE_MS ms on average; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); kernel $(uname -r)"
for name in ${TARGETS:-direct nginx gateway}; do
  case $name in
    direct) url=$mock;; nginx) url=$nginx_url;; gateway) url=$gw_url;;
    *) echo "TARGETS: direct, nginx or gateway, not $name" >&2; exit 2;;
  esac
  PACE_MS=$PACE_MS wrk -t1 -c"$C" -d1s -s bench/wrk_chat_paced.lua "$url" > /dev/null  # warm-up
  PACE_MS=$PACE_MS wrk -t1 -c"$C" -d3s --latency -s bench/wrk_chat_paced.lua "$url" > "$W/wrk.txt" &
  wrk_pid=$!
  sleep 1
  perf sched record -a -o "$W/sched.data" -- sleep 1 > /dev/null 2>&1
  wait "$wrk_pid"
  echo
  echo "== $name: $(awk '/Requests\/sec/{printf "%d requests/s", $2}' "$W/wrk.txt"), p50 $(awk '$1=="50%"{print $2}' "$W/wrk.txt"), p99 $(awk '$1=="99%"{print $2}' "$W/wrk.txt")"
  perf sched timehist -i "$W/sched.data" 2> /dev/null > "$W/timehist.txt"
  # Lines after the three of heading: time, [cpu], task[tid/pid], wait, sch delay, run (ms).
  # The mock's and the gateway's threads are named after the mock's and
  # the gateway's pids, so that both are told apart when one binary runs both.
  awk -v mock="$mock_pid" -v gw="$gw_pid" -v ngx="$nginx_worker" '
    function who(task,   t, ids) {
      if (task ~ /^<idle>/) return "idle"
      split(task, t, "["); split(t[2], ids, "/"); sub(/\]$/, "", ids[2]); if (ids[2] == "") ids[2] = ids[1]
      sub(/\]$/, "", ids[2])
      if (ids[2] == mock) return "mock"; if (ids[2] == gw) return "gateway"; if (ids[2] == ngx) return "nginx"
      return t[1]
    }
    NR > 3 && $2 ~ /^\[[0-9]+\]$/ {
      cpu = $2; name = who($3); run[name " on " cpu] += $NF
      if (prev[cpu] != "" && $(NF-1) > 0.005) { waited[name " behind " prev[cpu]] += $(NF-1); times[name " behind " prev[cpu]]++ }
      prev[cpu] = name
    }
    END {
      for (k in run) if (run[k] >= 5) printf "  ran   %-28s %7.1f ms\n", k, run[k]
      for (k in waited) if (waited[k] >= 1) printf "  woken %-28s %7.1f ms in %5d waits, %3.0f us each\n", k, waited[k], times[k], waited[k] * 1000 / times[k]
    }' "$W/timehist.txt" | sort -k1,1 -k2,2
done
