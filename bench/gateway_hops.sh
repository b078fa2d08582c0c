#!/usr/bin/env bash
# Where a request's time inside the gateway goes: from the system call that
# read the request to the one that sent it upstream, and from the one that
# read the provider's answer to the one that wrote it to the client. One
# gateway build in front of the mock (--no-limits --latency-ms 0), wrk on one
# connection pausing PACE_MS (5) on average, and `perf record` of the
# gateway's recvfrom, sendmsg and sendto tracepoints for 3 s; each gap is
# measured from a recvfrom that returned a request or an answer (over 100
# bytes) to the next send. One request in flight at a time, so the next send
# is its own (with more connections they interleave and cannot be paired).
# At one connection every request meets caches its previous one left 5 ms
# ago, as a gateway with light traffic does. Prints p50 and p90 of each gap in
# microseconds. Timestamps of system calls, not samples: the tracing adds
# ~1 us per system call, the same for every build.
# perf comes from Debian's linux-perf, installed here if missing (apt-get).
# Usage: bench/gateway_hops.sh SLUICE_CLI   (PACE_MS=5, SERVE_ARGS=more serve options)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1; export PACE_MS=${PACE_MS:-5}
. bench/gateway_common.sh
need_perf
start_mock "$CLI" 1
write_gateway_config
start_gateway "$CLI" gw
wrk -t1 -c1 -d1s -s bench/wrk_chat_paced.lua "$gw_url" > /dev/null
wrk -t1 -c1 -d5s -s bench/wrk_chat_paced.lua "$gw_url" > "$W/wrk.out" &
wrk_pid=$!
sleep 0.5
perf record -q -o "$W/perf.data" -p "$gw_pid" \
  -e syscalls:sys_enter_recvfrom,syscalls:sys_exit_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto -- sleep 3 2> /dev/null
wait "$wrk_pid"
perf script -i "$W/perf.data" -F time,event,trace 2> /dev/null > "$W/calls.txt"
# Lines: "TIME: syscalls:sys_exit_recvfrom: 0xfa" (the return value), or an
# enter event with its arguments. The request goes upstream with sendmsg,
# the answer to the client with sendto.
awk '
  function hex(s,   i, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v }
  $2 ~ /sys_exit_recvfrom/ { ret = hex($3); if (ret > 100 && ret < 1e9) { t = $1 + 0; pending = 1 } next }
  $2 ~ /sys_enter_sendmsg/ && pending { printf "request %.1f\n", ($1 - t) * 1e6; pending = 0; next }
  $2 ~ /sys_enter_sendto/ && pending { printf "answer %.1f\n", ($1 - t) * 1e6; pending = 0; next }
' "$W/calls.txt" > "$W/gaps.txt"
echo "$CLI ${SERVE_ARGS:-}: one connection pausing $PACE_MS ms on average, $(awk '/Requests\/sec/{print $2}' "$W/wrk.out") requests/s"
for kind in request answer; do
  label=$([[ $kind == request ]] && echo "request read -> sent upstream" || echo "answer read -> sent to the client")
  awk -v k="$kind" '$1 == k {print $2}' "$W/gaps.txt" | sort -n |
    awk -v l="$label" '{a[NR] = $1} END {
      if (NR == 0) { print "  " l ": none seen"; exit }
      i90 = int(NR * 0.9); if (i90 < 1) i90 = 1
      printf "  %-34s p50 %6.1f us, p90 %6.1f us (%d)\n", l, a[int((NR + 1) / 2)], a[i90], NR }'
done
