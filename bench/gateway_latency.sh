#!/usr/bin/env bash
# Added latency of the gateway over a direct connection, with nginx (a plain
# reverse proxy, the same settings as bench/gateway_vs_nginx.sh) measured in
# the same rounds as the reference for what a proxy adds on this machine.
# One mock (--no-limits --latency-ms 0); one or two gateway builds; per
# round, each target in turn (direct, nginx, each gateway; two gateways
# swap places every other round):
#   one connection pausing 5 ms between requests: p50 and p99;
#   64 connections paced to ~RATE requests/s in all (half load): p50 and p99.
# Then the medians over the rounds, what each proxy adds over direct, and
# the lowest p50 of any round.
# Usage: bench/gateway_latency.sh SLUICE_CLI [OTHER_SLUICE_CLI]
#        (ROUNDS=5, D=3s, RATE=4000 requests/s for the paced 64 connections)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 && -x $1 && ( $# -lt 2 || -x $2 ) ]] || { echo "usage: $0 SLUICE_CLI [OTHER_SLUICE_CLI]" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}; D=${D:-3s}; RATE=${RATE:-4000}
. bench/gateway_common.sh
need_nginx
start_mock "$1" 1
start_nginx "$NGINX" 4096
write_gateway_config
names=(direct nginx)
declare -A URL=([direct]=$mock [nginx]=$nginx_url)
i=0
for cli in "$@"; do
  i=$((i + 1))
  start_gateway "$cli" "gw$i"
  names+=("gw$i")
  URL[gw$i]=$gw_url
done
for _ in $(seq 50); do curl -s "${URL[nginx]}/mock/stats" > /dev/null && break; sleep 0.1; done
# A second of traffic to each first: a gateway's first request loads the
# tokenizer's rank file (~25 ms), which would land in round 1's p99.
for n in "${names[@]}"; do wrk -t1 -c4 -d1s -s bench/wrk_chat.lua "${URL[$n]}" > /dev/null; done
echo "mock $mock; nginx ${URL[nginx]}; gateways: $(for k in $(seq $#); do printf 'gw%d=%s ' "$k" "${!k}"; done); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
pace64=$(awk -v r="$RATE" 'BEGIN{printf "%.3f", 64000/r}')
pct() { echo "$1" | awk -v p="$2" '$1==p{print $2}' | us; }
gateways=("${names[@]:2}")
for r in $(seq "$ROUNDS"); do
  # The gateways take turns going first: whichever ran later in a round
  # measured slower in the same round (a position effect of ~20 us at p50),
  # so a fixed order would favour the first.
  order=("${gateways[@]}")
  (( r % 2 == 0 && ${#gateways[@]} == 2 )) && order=("${gateways[1]}" "${gateways[0]}")
  for n in direct nginx "${order[@]}"; do
    out=$(PACE_MS=5 wrk -t1 -c1 -d"$D" --latency -s bench/wrk_chat_paced.lua "${URL[$n]}")
    echo "$r $n c1 $(pct "$out" 50%) $(pct "$out" 99%)" >> "$W/all"
    out=$(PACE_MS=$pace64 wrk -t1 -c64 -d"$D" --latency -s bench/wrk_chat_paced.lua "${URL[$n]}")
    echo "$r $n c64 $(pct "$out" 50%) $(pct "$out" 99%) $(echo "$out" | awk '/Requests\/sec/{printf "%d", $2}')" >> "$W/all"
  done
  echo "round $r: $(awk -v r="$r" '$1==r{printf "%s/%s p50 %d p99 %d; ", $2, $3, $4, $5}' "$W/all")"
done
echo
echo "medians over $ROUNDS rounds, microseconds (one connection pausing 5 ms; 64 connections pausing ${pace64} ms, ~$RATE/s offered):"
for mode in c1 c64; do
  for n in "${names[@]}"; do
    p50=$(awk -v n="$n" -v m=$mode '$2==n && $3==m{print $4}' "$W/all" | median)
    p99=$(awk -v n="$n" -v m=$mode '$2==n && $3==m{print $5}' "$W/all" | median)
    # Added latency per round (target minus direct in the same round), then the median.
    a50=$(awk -v n="$n" -v m=$mode '$3==m && $2=="direct"{d[$1]=$4} $3==m && $2==n{t[$1]=$4} END{for (r in t) print t[r]-d[r]}' "$W/all" | median)
    a99=$(awk -v n="$n" -v m=$mode '$3==m && $2=="direct"{d[$1]=$5} $3==m && $2==n{t[$1]=$5} END{for (r in t) print t[r]-d[r]}' "$W/all" | median)
    # The quietest round (lowest p50) shows what the path costs when the
    # machine's other work leaves the cores alone.
    q50=$(awk -v n="$n" -v m=$mode '$2==n && $3==m{print $4}' "$W/all" | sort -n | head -n1)
    echo "$mode $n: p50 $p50 p99 $p99; added over direct (median of per-round differences): p50 $a50 p99 $a99; lowest p50 $q50"
  done
done
