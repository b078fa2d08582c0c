#!/usr/bin/env bash
# Starts Sluice after `make run` has built it: the desktop console when a
# display is available, otherwise the headless demo.
set -euo pipefail
build_dir=${1:-build/release}

if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]] && [[ -x "$build_dir/app/sluice" ]]; then
  exec "$build_dir/app/sluice" "${@:2}"
fi
echo "No display (DISPLAY/WAYLAND_DISPLAY unset): running the headless demo, sluice-cli demo, instead."
exec "$build_dir/app/sluice-cli" demo "${@:2}"
