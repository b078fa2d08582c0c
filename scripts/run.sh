#!/usr/bin/env bash
# Starts Sluice after `make run` has built it: the desktop console on its
# demo (an embedded mock provider and a workload that pushes against its
# limits) when a display is available, otherwise the headless demo.
# Extra arguments go to the program: `make run ARGS=--first-run`.
set -euo pipefail
build_dir=${1:-build/release}
shift || true

if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]] && [[ -x "$build_dir/app/sluice" ]]; then
  if [[ $# -eq 0 ]]; then
    set -- --demo
  fi
  exec "$build_dir/app/sluice" "$@"
fi
echo "No display (DISPLAY/WAYLAND_DISPLAY unset): running the headless demo, sluice-cli demo, instead."
exec "$build_dir/app/sluice-cli" demo "$@"
