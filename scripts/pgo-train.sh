#!/usr/bin/env bash
# The training run of a profile-guided build (scripts/pgo-build.sh): the
# instrumented sluice-cli as the mock provider (--no-limits --latency-ms 0)
# and as the gateway in front of it, driven by wrk at 64 connections with
# the gateway benchmarks' request mixes (chat, streamed chat, varied
# prompts, long prompts, Anthropic messages), D (default 4 s) each; then
# chat and messages again through a second gateway and mock whose answers
# carry rate-limit headers (bench/mock_headers.json), as a provider's do.
# All stop with SIGINT, so each writes its profile as it exits. Everything
# listens on 127.0.0.1 only; nothing leaves the machine.
# Usage: scripts/pgo-train.sh SLUICE_CLI
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 SLUICE_CLI" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing: scripts/install-deps.sh" >&2; exit 2; }
CLI=$1
export SLUICE_RESOURCES_DIR=${SLUICE_RESOURCES_DIR:-$PWD/resources}
# shellcheck disable=SC2034  # read by write_gateway_config (bench/gateway_common.sh)
ANTHROPIC=1
. bench/gateway_common.sh
start_mock "$CLI" 1
write_gateway_config
start_gateway "$CLI" gw
train() {
  local s rate
  for s in "$@"; do
    rate=$(wrk -t1 -c64 -d"${D:-4}s" -s "bench/$s.lua" "$gw_url" | awk '/Requests\/sec/ {print $2}')
    echo "pgo training: $s ${rate:-?} requests/s${MOCK_CONFIG:+ (mock: $MOCK_CONFIG)}"
  done
}
train wrk_chat wrk_chat_stream wrk_chat_varied wrk_chat_long wrk_messages
first=("$gw_pid" "$mock_pid")
# A provider puts rate-limit headers on every answer: chat and messages once
# more through a second gateway, in front of a mock whose limits never bind,
# so that reading those headers is trained too.
MOCK_CONFIG=bench/mock_headers.json start_mock "$CLI" 1
write_gateway_config
start_gateway "$CLI" gw2
MOCK_CONFIG=bench/mock_headers.json train wrk_chat wrk_messages
# Stopped here rather than by the exit trap, so that a gateway or mock that
# fails to write its profile fails this script.
for p in "${first[@]}" "$gw_pid" "$mock_pid"; do
  kill -INT "$p"
done
for p in "${first[@]}" "$gw_pid" "$mock_pid"; do
  wait "$p"
done
pids=()
