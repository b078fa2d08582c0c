#!/usr/bin/env bash
# Runs the benchmark programs. Figures and their interpretation live in
# docs/benchmarks.md; rerun this to reproduce them on your machine.
set -euo pipefail
build_dir=${1:-build/release}
"$build_dir/bench/bench_admission" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
"$build_dir/bench/bench_store" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
"$build_dir/bench/bench_metrics" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
"$build_dir/bench/tokenizer_bench" --seconds 2
"$(dirname "$0")/../bench/wrk_mock.sh" "$build_dir"
