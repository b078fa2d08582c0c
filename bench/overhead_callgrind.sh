#!/usr/bin/env bash
# Dispatcher overhead in instructions per request (valgrind callgrind), the
# repeatable counterpart of bench/overhead.sh: the same mock (its own
# process) and the same two loops, each run once under callgrind, counting
# only the loop's own thread (HttpClient::poll for the plain loop,
# Dispatcher::Impl::run for the dispatcher). Per request = instructions
# counted / transfers finished (calls of HttpClient::finish, or of
# H1Client::finish where the dispatcher's transfers go through Sluice's own
# HTTP/1.1 client, the default).
# Usage: bench/overhead_callgrind.sh [BUILD_DIR] [JOBS]
set -euo pipefail
build=${1:-build/release}
jobs=${2:-3000}
dir=$(mktemp -d)
out="$dir/mock.out"
"$build/app/sluice-cli" mock --listen 127.0.0.1:0 --no-limits --latency-ms 0 >"$out" 2>/dev/null &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
url=$(head -1 "$out" | sed 's/^listening on //')

BENCH_ONLY=plain valgrind --tool=callgrind --callgrind-out-file="$dir/plain" \
    --toggle-collect='sluice::http::HttpClient::poll*' "$build/bench/bench_goodput" overhead 4 "$url" >/dev/null 2>&1
# The dispatcher runs a fixed batch to the end, so every job it queues is sent.
BENCH_ONLY=dispatcher BENCH_JOBS=$jobs valgrind --tool=callgrind --callgrind-out-file="$dir/dispatcher" \
    --toggle-collect='sluice::Dispatcher::Impl::run*' "$build/bench/bench_goodput" overhead 120 "$url" >/dev/null 2>&1

# (awk reads to the end: an early exit would fail the pipe under pipefail)
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'; }
inclusive() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null | awk -v f="$2" 'index($0, f) && !done { gsub(",", "", $1); print $1; done = 1 }'
}
# Calls of a function, summed over its call sites (names are compressed to
# "(id)" after their first appearance).
calls() {
    awk -v f="$2" '
        match($0, /^c?fn=\([0-9]+\)/) {
            id = substr($0, RSTART, RLENGTH); sub(/^c?fn=/, "", id)
            name = substr($0, RLENGTH + 2)
            if (name != "") names[id] = name
            if ($0 ~ /^cfn=/) current = names[id]
            next
        }
        /^calls=/ && index(current, f) { split(substr($0, 7), a, " "); n += a[1] }
        END { print n + 0 }' "$1"
}
plainIr=$(total "$dir/plain")
plainN=$(calls "$dir/plain" 'HttpClient::finish(')
dispIr=$(total "$dir/dispatcher")
# The dispatcher's transfers end in whichever client carries them
# (SLUICE_HTTP_CLIENT=curl|native, upstream_client.h); the plain loop is libcurl's.
dispN=$(( $(calls "$dir/dispatcher" 'HttpClient::finish(') + $(calls "$dir/dispatcher" 'H1Client::finish(') ))
queueIr=$(inclusive "$dir/dispatcher" 'Impl::apply(sluice::Dispatcher::Impl::Submit')
awk -v pi="$plainIr" -v pn="$plainN" -v di="$dispIr" -v dn="$dispN" -v qi="${queueIr:-0}" 'BEGIN {
    p = pi / pn; d = di / dn; q = qi / dn
    printf "plain curl-multi: %.0f instructions/request (%d requests)\n", p, pn
    printf "dispatcher:       %.0f instructions/request (%d requests), of which queueing %.0f\n", d, dn, q
    printf "ratio (plain/dispatcher) %.3f; without queueing (outside bench/overhead.sh window) %.3f\n", p / d, p / (d - q)
}'
