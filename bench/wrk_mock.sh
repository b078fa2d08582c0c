#!/usr/bin/env bash
# Measures the mock provider with wrk (docs/benchmarks.md has the figures):
#   1. throughput: small non-streaming chat completions, latency 0, no limits;
#   2. capacity: 2,000 concurrent keep-alive connections held and served.
# Usage: bench/wrk_mock.sh [build-dir]   (MOCK_THREADS, DURATION to vary)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/release}
threads=${MOCK_THREADS:-1}
duration=${DURATION:-15s}
cli="$build_dir/app/sluice-cli"
[[ -x "$cli" ]] || { echo "wrk_mock: build first ($cli is missing)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk_mock: wrk is not installed (scripts/install-deps.sh)" >&2; exit 1; }

# 2,000 connections need 2,000 descriptors in wrk and in the mock.
ulimit -n "$(ulimit -Hn)"

out=$(mktemp -d)
"$cli" mock --listen 127.0.0.1:0 --latency-ms 0 --no-limits --threads "$threads" >"$out/stdout" 2>"$out/stderr" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 200); do
  [[ -s "$out/stdout" ]] && break
  sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$out/stdout" | head -n 1)
[[ -n "$url" ]] || { echo "wrk_mock: the mock did not start: $(cat "$out/stderr")" >&2; exit 1; }
port=${url##*:}
echo "mock: $url, $threads io thread(s); $(nproc) cores; wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}')"

echo
echo "== throughput: wrk -t1 -c64 -d$duration -s bench/wrk_chat.lua"
wrk -t1 -c64 -d"$duration" -s bench/wrk_chat.lua "$url"

echo
echo "== 2,000 connections: wrk -t1 -c2000 -d$duration --timeout 10s -s bench/wrk_chat.lua"
wrk -t1 -c2000 -d"$duration" --timeout 10s -s bench/wrk_chat.lua "$url" &
wrk_pid=$!
sleep 5
established=$(ss -Htn state established "( sport = :$port )" | wc -l)
stats=$(curl -s "$url/mock/stats" | grep -o '"openConnections":[0-9]*' || true)
rss=$(ps -o rss= -p "$pid" | tr -d ' ')
echo "   mid-run: $established established connections at the mock's port (ss); mock $stats; mock RSS ${rss} KiB"
wait "$wrk_pid"
