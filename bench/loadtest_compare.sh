#!/usr/bin/env bash
# Goodput under a binding TPM limit: the same workload (3x the limit for
# 60 s) through Sluice and through a naive client (a fixed concurrency of 5
# with the SDKs' plain retries), each against a fresh in-process mock with
# the same limits. Prints the figures docs/benchmarks.md records.
#
# The mock (bench/loadtest/mock.json): 60,000 TPM per key on gpt-4o-mini,
# enforced per second, answering in 0.2 s plus 5 ms per output token; every
# answer uses all of max_tokens, so the tokens charged on arrival (prompt +
# max_tokens, as OpenAI charges) are the tokens used.
#
#   bench/loadtest_compare.sh [BUILD_DIR] [NAIVE_CONCURRENCY] [MOCK_CONFIG]
#
# MOCK_CONFIG replaces bench/loadtest/mock.json (for instance one with
# "retryAfterMs": true, as Azure answers).
#
# Goodput is the input + output tokens of completed requests per minute over
# the steady state (from 10 s to 60 s, leaving out the first bucket and the
# ramp-up of latency), as a share of the 60,000 TPM limit; the whole-run
# figure is printed too. The 429 share is of every HTTP attempt.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/release}
naive=${2:-5}
mock=${3:-bench/loadtest/mock.json}
report=$(mktemp --suffix=.json)
trap 'rm -f "$report"' EXIT

"$build_dir/app/sluice-cli" loadtest --mock \
  --config bench/loadtest/config.json --mock-config "$mock" \
  --workload bench/loadtest/tpm-bound.json --compare-naive "$naive" \
  --progress never --report "$report" >&2

jq -r '
  def steady: [.series[] | select(.t >= 10 and .t < 60) | .tokens] | add * 60 / 50;
  .runs[] |
  (.limits.tpm) as $limit |
  "\(.label): steady goodput \(steady | floor) tok/min = \((steady / $limit * 1000 | round) / 10)% of \($limit) TPM; " +
  "whole run \((.limit_utilisation * 1000 | round) / 10)%; " +
  "429s \(.attempts.rate_limited) of \(.attempts.sent) attempts = \((.attempts.rate_limited_share * 10000 | round) / 100)%; " +
  "completed \(.requests.completed), failed \(.requests.failed), not sent at the cut \(.requests.cancelled); " +
  "latency p50 \(.latency_s.p50 * 100 | round / 100)s p95 \(.latency_s.p95 * 100 | round / 100)s"
' "$report"
