#!/usr/bin/env bash
# Runs every libFuzzer target of a sanitizer build for SECONDS each (one at a
# time), each on a fresh copy of its seed corpus under fuzz/corpus/, after
# replaying its regression inputs (fuzz/regressions/). New corpus entries and
# any crashing input stay in BUILD_DIR/fuzz/make-fuzz/<target>/.
#   scripts/fuzz.sh build/asan 60
set -euo pipefail
build_dir=${1:-build/asan}
seconds=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
status=0
for corpus in "$src"/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  fuzzer="$build_dir/fuzz/$name"
  [[ -x "$fuzzer" ]] || { echo "fuzz.sh: $fuzzer not built (configure with -DSLUICE_BUILD_FUZZERS=ON)" >&2; exit 2; }
  cmake -DFUZZER="$fuzzer" -DCORPUS="$corpus" -DREGRESSIONS="$src/fuzz/regressions/$name" \
        -DWORK="$build_dir/fuzz/make-fuzz/$name" -DSECONDS="$seconds" -P "$src/fuzz/run_fuzzer.cmake" || status=1
done
exit $status
