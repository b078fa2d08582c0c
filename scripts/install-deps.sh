#!/usr/bin/env bash
# Installs the Debian 12 packages Sluice needs to build, test and run.
# Idempotent: it asks dpkg first and calls apt-get only for what is missing,
# so a machine that has everything is left untouched (and needs no root).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev qtkeychain-qt6-dev libgl-dev libxkbcommon-dev
  ca-certificates libcurl4-openssl-dev nlohmann-json3-dev libsqlite3-dev libboost-dev
  libcli11-dev libbenchmark-dev
  xvfb xauth wrk
  # The sanitizer build (make test-asan) and the fuzz targets (make fuzz):
  # clang with its sanitizer and libFuzzer runtimes.
  clang-14 libclang-rt-14-dev
  # Text in offscreen renders (tests, make screenshots) needs a font that
  # fontconfig finds; most desktops have one, a minimal system may not.
  fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; a failed update is not fatal when
# the lists already exist, since the install below reports what it cannot find.
"${sudo_cmd[@]}" apt-get update -qq || true
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
