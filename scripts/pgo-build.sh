#!/usr/bin/env bash
# Builds sluice-cli with profile-guided optimisation (make pgo): an
# instrumented build, a training run of it as gateway and mock
# (scripts/pgo-train.sh), then the build again with the profile it wrote.
# The profile lets GCC inline and lay out the request path the way the
# gateway runs it; on the gateway benchmarks it cut the CPU per request by
# a fifth to a quarter (docs/benchmarks.md). Every run trains afresh, so the
# profile always matches the sources. Only sluice-cli is built (no console,
# tests or benchmarks).
# Usage: scripts/pgo-build.sh [BUILD_DIR]   (default build/pgo; JOBS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/pgo}
jobs=${JOBS:-2}
configure() {
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DSLUICE_BUILD_UI=OFF -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCHMARKS=OFF -DSLUICE_PGO="$1" > /dev/null
}
echo "pgo: instrumented build in $dir"
configure generate
# Counts from an earlier training would add up with this one's.
find "$dir" -name '*.gcda' -delete
cmake --build "$dir" -j "$jobs" --target sluice-cli
echo "pgo: training run"
scripts/pgo-train.sh "$dir/app/sluice-cli"
[[ -n $(find "$dir" -name '*.gcda' -print -quit) ]] || { echo "pgo: the training run wrote no profile" >&2; exit 1; }
echo "pgo: optimised build"
configure use
cmake --build "$dir" -j "$jobs" --target sluice-cli
echo "pgo: $dir/app/sluice-cli"
