#!/usr/bin/env bash
# The packages' check (make package-test; ctest label "package"): builds the
# .deb files with CPack from an already-built tree, inspects them with
# dpkg-deb, unpacks them into a temporary root and runs the programs from
# there, validates the desktop entry, the metainfo and the manual pages, and
# runs lintian. Nothing is installed on the system and nothing is written
# outside a temporary directory (removed at the end).
#   packaging/package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build=$(cd "${1:?usage: package_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: package_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
app_id=$(sed -n 's/^SLUICE_APP_ID:STRING=//p' "$build/CMakeCache.txt")

tmp=$(mktemp -d)
mock_pid=
cleanup() {
  if [[ -n $mock_pid ]]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

version=$("$build/app/sluice-cli" --version | sed 's/^sluice-cli //')
echo "version $version, build tree $build"

# --- build the packages -------------------------------------------------------
cpack --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; exit 1; }
arch=$(dpkg --print-architecture)
cli_deb=$tmp/out/sluice-cli_${version}_${arch}.deb
gui_deb=$tmp/out/sluice_${version}_${arch}.deb
for deb in "$cli_deb" "$gui_deb"; do
  [[ -f $deb ]] || { fail "no package $deb"; ls "$tmp/out"; exit 1; }
done
pass "built $(basename "$cli_deb") and $(basename "$gui_deb")"

# --- control fields ----------------------------------------------------------------
field() { dpkg-deb -f "$1" "$2"; }
for deb in "$cli_deb" "$gui_deb"; do
  [[ $(field "$deb" Version) == "$version" ]] || fail "$(basename "$deb"): Version $(field "$deb" Version), want $version"
  for f in Maintainer Section Homepage Description; do
    [[ -n $(field "$deb" "$f") ]] || fail "$(basename "$deb"): no $f"
  done
  [[ $(field "$deb" Depends) == *"libc6 (>="* ]] || fail "$(basename "$deb"): Depends not computed: $(field "$deb" Depends)"
done
[[ $(field "$gui_deb" Depends) == *"sluice-cli (= $version)"* ]] || fail "sluice does not depend on sluice-cli (= $version)"
[[ $(field "$gui_deb" Depends) == *libqt6widgets6* ]] || fail "sluice does not depend on libqt6widgets6"
[[ $(field "$cli_deb" Depends) != *libqt6* ]] || fail "sluice-cli depends on Qt: $(field "$cli_deb" Depends)"
pass "control fields: Version $version, Depends computed"

# --- file lists ------------------------------------------------------------------
dpkg-deb -c "$cli_deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/cli.list"
dpkg-deb -c "$gui_deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/gui.list"
# Every subcommand sluice-cli --help lists has its page.
subcommands=$("$build/app/sluice-cli" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF {print $1}')
[[ -n $subcommands ]] || fail "sluice-cli --help lists no subcommands"
expect_cli=(/usr/bin/sluice-cli /usr/share/man/man1/sluice-cli.1.gz /usr/share/man/man5/sluice-config.5.gz
  /usr/share/man/man5/sluice-workload.5.gz /usr/share/bash-completion/completions/sluice-cli
  /usr/lib/systemd/user/sluice-gateway.service /usr/lib/systemd/user/sluice-worker.service
  /usr/share/sluice/pricing.json /usr/share/sluice/config.example.json /usr/share/sluice/workloads/steady-mix.json
  /usr/share/doc/sluice-cli/copyright /usr/share/doc/sluice-cli/changelog.gz)
for s in $subcommands; do expect_cli+=("/usr/share/man/man1/sluice-cli-$s.1.gz"); done
expect_gui=(/usr/bin/sluice /usr/share/man/man1/sluice.1.gz "/usr/share/applications/$app_id.desktop"
  "/usr/share/metainfo/$app_id.metainfo.xml" "/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
  /usr/share/doc/sluice/copyright /usr/share/doc/sluice/changelog.gz)
for size in 16 22 24 32 48 64 128 256; do expect_gui+=("/usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png"); done
for f in "${expect_cli[@]}"; do grep -qxF "$f" "$tmp/cli.list" || fail "sluice-cli lacks $f"; done
for f in "${expect_gui[@]}"; do grep -qxF "$f" "$tmp/gui.list" || fail "sluice lacks $f"; done
if grep -v '^/usr/' "$tmp/cli.list" "$tmp/gui.list" | grep -v ':/$'; then fail "files outside /usr"; fi
pass "file lists: ${#expect_cli[@]} + ${#expect_gui[@]} expected paths (subcommands: $(echo $subcommands))"

# --- unpack and run from the temporary root ----------------------------------------
root=$tmp/root
dpkg-deb -x "$cli_deb" "$root"
dpkg-deb -x "$gui_deb" "$root"
for bin in "$root/usr/bin/sluice-cli" "$root/usr/bin/sluice"; do
  if strings -a "$bin" | grep -F -e "$build" -e "$src"; then fail "$(basename "$bin") contains a build path"; fi
done
pass "no build path ($build, $src) inside the binaries"

# Programs run with a throwaway home: whatever they write must land there.
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_DATA_HOME=$tmp/home/.local/share
export XDG_CACHE_HOME=$tmp/home/.cache XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

got=$("$root/usr/bin/sluice-cli" --version)
[[ $got == "sluice-cli $version" ]] || fail "sluice-cli --version printed '$got'"
got=$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/sluice" --version 2>/dev/null)
[[ $got == "Sluice $version" ]] || fail "sluice --version printed '$got'"
pass "--version: sluice-cli $version, Sluice $version"

# The mock's first line says where it listens; read it from a pipe (10 s at most).
mkfifo "$tmp/mock.out"
"$root/usr/bin/sluice-cli" mock --listen 127.0.0.1:0 --latency-ms 0 >"$tmp/mock.out" 2>"$tmp/mock.err" &
mock_pid=$!
exec 3<"$tmp/mock.out"
line=
read -r -t 10 -u 3 line || true
if [[ $line != "listening on "* ]]; then
  fail "sluice-cli mock did not say where it listens: $line $(cat "$tmp/mock.err")"
else
  url=${line#listening on }
  reply=$(curl -sS --max-time 10 "$url/v1/chat/completions" -H "Authorization: Bearer sk-mock" \
    -H "Content-Type: application/json" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":20}' || true)
  [[ $reply == *'"choices"'* ]] && pass "sluice-cli mock answered at $url" || fail "mock reply: $reply"
fi
kill "$mock_pid"; wait "$mock_pid" 2>/dev/null || true; mock_pid=
exec 3<&-

# --- desktop entry, metainfo, manual pages, completion ------------------------------
desktop-file-validate "$root/usr/share/applications/$app_id.desktop" >"$tmp/dfv" 2>&1 || true
[[ -s $tmp/dfv ]] && fail "desktop-file-validate: $(cat "$tmp/dfv")" || pass "desktop-file-validate clean"
appstreamcli validate --no-net "$root/usr/share/metainfo/$app_id.metainfo.xml" >"$tmp/asv" 2>&1 \
  && pass "appstreamcli validate --no-net clean" || fail "appstreamcli: $(cat "$tmp/asv")"
grep -q "<release version=\"$version\"" "$root/usr/share/metainfo/$app_id.metainfo.xml" \
  || fail "the metainfo has no release $version"
top=$(zcat "$root/usr/share/doc/sluice/changelog.gz" | head -1)
[[ $top == "sluice ($version) "* ]] || fail "changelog's latest entry is not $version: $top"
pages=0
while IFS= read -r page; do
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null)
  [[ -z $out ]] || fail "man --warnings $(basename "$page"): $out"
  pages=$((pages + 1))
done < <(find "$root/usr/share/man" -name '*.gz' | sort)
pass "man --warnings -l: $pages pages, no warnings"
# Each subcommand's page lists every option its --help lists.
missing=0
for s in $subcommands; do
  text=$(LC_ALL=C MANWIDTH=200 man -l "$root/usr/share/man/man1/sluice-cli-$s.1.gz" 2>/dev/null)
  for opt in $("$build/app/sluice-cli" "$s" --help | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u); do
    grep -qF -- "$opt" <<<"$text" || { fail "sluice-cli-$s(1) lacks $opt"; missing=1; }
  done
done
[[ $missing -eq 0 ]] && pass "every option of every subcommand's --help is in its manual page"
bash -n "$root/usr/share/bash-completion/completions/sluice-cli" || fail "the bash completion does not parse"
(
  source "$root/usr/share/bash-completion/completions/sluice-cli"
  COMP_WORDS=(sluice-cli report --by ''); COMP_CWORD=3; _sluice_cli
  [[ " ${COMPREPLY[*]} " == *" model "* ]]
) || fail "bash completion of 'sluice-cli report --by' does not offer model"
pass "bash completion parses and completes"

# Nothing was written outside the throwaway home (the unpacked tree is untouched).
changed=$(find "$root" -newer "$gui_deb" ! -type d | head -5)
[[ -z $changed ]] || fail "files written into the package tree: $changed"

# --- lintian ------------------------------------------------------------------------------
if command -v lintian >/dev/null; then
  lintian --fail-on error,warning "$cli_deb" "$gui_deb" >"$tmp/lintian" 2>&1 || fail "lintian: $(cat "$tmp/lintian")"
  grep -E '^[EW]:' "$tmp/lintian" && fail "lintian reported errors or warnings"
  pass "lintian: no errors or warnings"
else
  fail "lintian is not installed (scripts/install-deps.sh installs it)"
fi

echo "sizes: $(stat -c '%n %s' "$cli_deb" "$gui_deb" | sed "s|$tmp/out/||g" | tr '\n' ' ')"
if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "package test passed"
