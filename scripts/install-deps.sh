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
  # tests/check_source_size.py (the engine_source_size test).
  python3
  # bench_json_scan measures json_scan against simdjson (bench/, optional).
  libsimdjson-dev
  # Budgets shared through Redis (engine/shared/) and the tests' own server.
  libhiredis-dev redis-server
  # The executables allocate with jemalloc (app/CMakeLists.txt says why).
  libjemalloc-dev
  # The tokenizer's split patterns need Unicode categories (engine/tokenize).
  libpcre2-dev
  libssl-dev
  # The gateway's tests drive it with the official OpenAI and Anthropic SDKs
  # (tests/sdk/package.json).
  nodejs
  xvfb xauth wrk
  # The README installs the packages with sudo, as on any desktop; as root it
  # passes straight through.
  sudo
  # The sanitizer build (make test-asan) and the fuzz targets (make fuzz):
  # clang with its sanitizer and libFuzzer runtimes.
  clang-14 libclang-rt-14-dev
  # Text in offscreen renders (tests, make screenshots) needs a font that
  # fontconfig finds; most desktops have one, a minimal system may not.
  fonts-dejavu-core
  # make package / package-test: dpkg-shlibdeps computes the packages'
  # dependencies, rsvg-convert renders the icon's PNG sizes, the rest check
  # the packages (lintian, desktop entry, AppStream metainfo, man pages).
  dpkg-dev librsvg2-bin lintian desktop-file-utils appstream man-db curl
)

# Node runs js-tiktoken, the reference the tokenizer is tested and benchmarked
# against: Debian's, unless a node is already there (NodeSource's nodejs
# carries its own npm and conflicts with Debian's npm package).
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

# js-tiktoken itself, from the committed lock file, only when missing.
tiktoken_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/tiktoken"
install_tiktoken() {
  if [[ ! -d "$tiktoken_dir/node_modules" ]] && command -v npm >/dev/null; then
    echo "install-deps: npm ci --prefix tools/tiktoken"
    # Offline, the build still works: only the live reference test
    # (tokenize_reference) and the js side of tokenizer_bench skip.
    npm ci --prefix "$tiktoken_dir" --no-audit --no-fund --loglevel=error ||
      echo "install-deps: npm ci failed; tokenize_reference will be skipped" >&2
  fi
}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Debian packages npm apart from nodejs; other Node builds bring their own.
command -v npm >/dev/null || missing+=(npm)

# The SDKs the gateway tests use, exactly as locked; again only when the
# lockfile is newer than what is installed.
install_sdks() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/sdk"
  if [[ ! -d "$dir/node_modules" || "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
    echo "install-deps: npm ci --prefix tests/sdk"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    touch "$dir/node_modules"
  fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
  install_tiktoken
  install_sdks
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
install_tiktoken
install_sdks
