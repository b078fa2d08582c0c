#!/usr/bin/env bash
# Dispatcher overhead: requests per second through the dispatcher against a
# mock with no limits and no latency, as a ratio to a plain curl-multi loop at
# the same concurrency, both against one mock run as its own process.
# Usage: bench/overhead.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build/release}
secs=${2:-8}
out=$(mktemp)
"$build/app/sluice-cli" mock --listen 127.0.0.1:0 --no-limits --latency-ms 0 >"$out" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
url=$(head -1 "$out" | sed 's/^listening on //')
"$build/bench/bench_goodput" overhead "$secs" "$url"
