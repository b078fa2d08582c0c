#!/bin/sh
# The tokenize_reference test: js-tiktoken, run live, must still give the
# committed expectations (tests/data/tokenize/expected.json), and the C++
# tokenizer must give js-tiktoken's ids for a few thousand random
# mixed-script strings. Skipped (exit 77) where node or js-tiktoken
# (tools/tiktoken/node_modules, `npm ci --prefix tools/tiktoken`) is missing.
# usage: live_reference.sh SOURCE_DIR TST_TOKENIZE [SEED]
set -eu
src=$1
tst=$2
seed=${3:-14}
if ! command -v node >/dev/null 2>&1 || [ ! -d "$src/tools/tiktoken/node_modules/js-tiktoken" ]; then
  echo "tokenize_reference: skipped: needs node and $src/tools/tiktoken/node_modules (npm ci --prefix tools/tiktoken)"
  exit 77
fi
node "$src/tools/tiktoken/reference.mjs" check "$src/tests/data/tokenize"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
node "$src/tools/tiktoken/reference.mjs" random "$seed" 3000 "$tmp"
SLUICE_TOKENIZE_RANDOM=$tmp "$tst" liveRandom
