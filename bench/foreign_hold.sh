#!/usr/bin/env bash
# The gateway in front of a provider that is not Sluice's: bench/foreign/provider.py
# (Python, stdlib; written apart from the engine and its mock) enforces the limits itself, in
# one of these ways (MODE), with no rate-limit headers unless the mode says so:
#   rpm1s      RPM as RPM/60 per fixed wall-clock second
#   rpm60      RPM over a sliding 60 s window
#   tpm1s      TPM as TPM/60 per fixed wall-clock second, charging its own count of the prompt
#              (characters / 3.5 + 4 per message + 2, not a tokenizer Sluice has) + max_tokens
#              on arrival, never corrected
#   tpm60      the same charge over a sliding 60 s window
#   tpmbucket  TPM as a refilling bucket (PROVIDER_ARGS="--bucket-s 1": a second's worth),
#              charged the real usage when the answer ends
#   rpm1s_hdr  rpm1s, with OpenAI's x-ratelimit-* headers (of a per-minute bucket, not of
#              what it enforces)
# Answers take 200-800 ms. CLIENTS official `openai` SDK clients (tests/sdk/foreign_drive.mjs)
# loop for SECONDS, offering OFFERED requests/s in all; the gateway is told only
# {"rpm": RPM, "tpm": TPM}. Prints one JSON line: the clients' and the provider's counts, the
# provider's 429s and when they came, and the accepted share of the binding limit over the run
# and after its first 5 s (in the provider's own units: requests, or tokens as it charged them).
# Usage: bench/foreign_hold.sh MODE RPM TPM
#   (CLIENTS=200 SECONDS=75 OFFERED=100 PROMPT_WORDS=60 MAX_TOKENS=100 STREAM_FRAC=0.3,
#    GATEWAY_CLI=path, PROVIDER_ARGS=..., CONFIG_EXTRA='{"token_accounting":"actual"}', KEEP=dir)
# Traffic goes to 127.0.0.1 only, and every run stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 3 ]] || { echo "usage: bench/foreign_hold.sh MODE RPM TPM" >&2; exit 2; }
MODE=$1 RPM=$2 TPM=$3
case $MODE in rpm1s|rpm60|tpm1s|tpm60|tpmbucket|rpm1s_hdr) ;; *) echo "MODE=$MODE: rpm1s, rpm60, tpm1s, tpm60, tpmbucket or rpm1s_hdr" >&2; exit 2;; esac
[[ $RPM =~ ^[0-9]+$ && $TPM =~ ^[0-9]+$ ]] || { echo "RPM and TPM: whole numbers (RPM=$RPM TPM=$TPM)" >&2; exit 2; }
GATEWAY_CLI=${GATEWAY_CLI:-build/release/app/sluice-cli}
[[ -x $GATEWAY_CLI ]] || { echo "GATEWAY_CLI=$GATEWAY_CLI: not a program (make build)" >&2; exit 2; }
[[ -d tests/sdk/node_modules/openai ]] || { echo "the openai SDK is missing: scripts/install-deps.sh" >&2; exit 2; }
. bench/gateway_common.sh
D=${KEEP:-$W}
mkdir -p "$D"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PPORT=$(free_port) GPORT=$(free_port)
export FOREIGN_API_KEY=sk-foreign GATEWAY_TOKEN_FOREIGN=foreign-secret
python3 bench/foreign/make_config.py "$D/config.json" "$PPORT" "$GPORT" "$RPM" "$TPM" "${CONFIG_EXTRA:-}"
# shellcheck disable=SC2086
python3 bench/foreign/provider.py --port "$PPORT" --mode "$MODE" --rpm "$RPM" --tpm "$TPM" --log "$D/provider.csv" ${PROVIDER_ARGS:-} > "$D/provider.out" 2>&1 &
PP=$!
pids+=("$PP")
"$GATEWAY_CLI" serve --config "$D/config.json" --state "$D/gateway.db" > "$D/gateway.out" 2>&1 &
GP=$!
pids+=("$GP")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GPORT/healthz" > /dev/null && break; sleep 0.1; done
GATEWAY_URL=http://127.0.0.1:$GPORT TOKEN=foreign-secret OUT=$D/clients.csv node tests/sdk/foreign_drive.mjs > "$D/driver.json" 2> "$D/driver.err"
kill "$GP"; wait "$GP" 2>/dev/null || true
kill "$PP"; wait "$PP" 2>/dev/null || true
python3 bench/foreign/analyze.py "$D"
