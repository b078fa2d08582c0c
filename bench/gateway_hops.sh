#!/usr/bin/env bash
# Where a request's time inside the gateway goes, from the gateway's system
# calls: a request read (recvfrom) to it sent upstream (sendmsg), the
# provider's time (sendmsg on a provider's connection to the recvfrom that
# read its answer there), the answer read to it written to the client
# (sendto), and the whole stay (a client's request read to the sendto on
# that connection). One gateway build in front of the mock (--no-limits
# --latency-ms 0), wrk on C connections (1) each pausing PACE_MS (5) on
# average, and `perf record` of the gateway's recvfrom, sendmsg and sendto
# tracepoints for 3 s. Reads under 100 bytes (a would-block, a short probe)
# are no request or answer. A connection that was sent a request is a
# provider's; the others are clients'. With more than one connection the
# first two gaps pair requests in the order they were read and sent (first
# read, first sent): medians, not one request's path. At one connection
# every request meets caches its previous one left 5 ms ago, as a gateway
# with light traffic does; C=64 PACE_MS=8 is about half the gateway's
# saturating rate on this machine. Prints p50, p90 and p99 of each gap in
# microseconds. Timestamps of system calls, not samples: the tracing adds
# ~1 us per system call, the same for every build.
# perf comes from Debian's linux-perf, installed here if missing (apt-get).
# Usage: bench/gateway_hops.sh SLUICE_CLI   (C=1, PACE_MS=5, SERVE_ARGS=more serve options)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1; C=${C:-1}; export PACE_MS=${PACE_MS:-5}
. bench/gateway_common.sh
need_perf
start_mock "$CLI" 1
write_gateway_config
start_gateway "$CLI" gw
wrk -t1 -c"$C" -d1s -s bench/wrk_chat_paced.lua "$gw_url" > /dev/null
wrk -t1 -c"$C" -d5s --latency -s bench/wrk_chat_paced.lua "$gw_url" > "$W/wrk.out" &
wrk_pid=$!
sleep 0.5
perf record -q -o "$W/perf.data" -p "$gw_pid" \
  -e syscalls:sys_enter_recvfrom,syscalls:sys_exit_recvfrom,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto -- sleep 3 2> /dev/null
wait "$wrk_pid"
perf script -i "$W/perf.data" -F time,event,trace 2> /dev/null > "$W/calls.txt"
# Lines: "TIME: syscalls:sys_enter_recvfrom: fd: 0x1c, ..." and then
# "TIME: syscalls:sys_exit_recvfrom: 0xfa" (the return value; the gateway
# reads on one thread, so an exit belongs to the enter before it). The
# first pass finds the providers' connections, so an answer to a request
# sent before the recording began is not taken for a client's request.
awk '
  function hex(s,   i, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v }
  function fdOf(   i) { for (i = 3; i <= NF; i++) if ($i == "fd:") return hex($(i + 1)); return -1 }
  NR == FNR { if ($2 ~ /sys_enter_sendmsg/) provider[fdOf()] = 1; next }
  $2 ~ /sys_enter_recvfrom/ { fd = fdOf(); next }
  $2 ~ /sys_exit_recvfrom/ {
    ret = hex($3); if (ret <= 100 || ret >= 1e9) next
    t = $1 + 0
    if (fd in provider) { if (fd in sent) { printf "provider %.1f\n", (t - sent[fd]) * 1e6; delete sent[fd] } answered = t; have = 1 }
    else { read[fd] = t; queue[tail++] = t }
    next }
  $2 ~ /sys_enter_sendmsg/ { t = $1 + 0; f = fdOf(); sent[f] = t
    if (head < tail) printf "request %.1f\n", (t - queue[head++]) * 1e6
    next }
  $2 ~ /sys_enter_sendto/ { t = $1 + 0; f = fdOf()
    if (have) { printf "answer %.1f\n", (t - answered) * 1e6; have = 0 }
    if (f in read) { printf "stay %.1f\n", (t - read[f]) * 1e6; delete read[f] }
    next }
' "$W/calls.txt" "$W/calls.txt" > "$W/gaps.txt"
echo "$CLI ${SERVE_ARGS:-}: $C connection(s) pausing $PACE_MS ms on average, $(awk '/Requests\/sec/{print $2}' "$W/wrk.out") requests/s, wrk p50 $(awk '$1=="50%"{print $2}' "$W/wrk.out")"
for kind in request provider answer stay; do
  case $kind in
    request) label="request read -> sent upstream";; provider) label="sent upstream -> answer read";;
    answer) label="answer read -> sent to the client";; stay) label="request read -> answer sent";;
  esac
  awk -v k="$kind" '$1 == k {print $2}' "$W/gaps.txt" | sort -n |
    awk -v l="$label" '{a[NR] = $1} END {
      if (NR == 0) { print "  " l ": none seen"; exit }
      i90 = int(NR * 0.9); if (i90 < 1) i90 = 1
      i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
      printf "  %-34s p50 %6.1f us, p90 %6.1f us, p99 %6.1f us (%d)\n", l, a[int((NR + 1) / 2)], a[i90], a[i99], NR }'
done
