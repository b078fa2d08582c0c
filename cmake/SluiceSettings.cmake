# One INTERFACE target carries every build setting our own code shares, so a
# target opts in with one link line and nothing is set globally.
add_library(sluice_settings INTERFACE)
add_library(Sluice::settings ALIAS sluice_settings)

target_compile_features(sluice_settings INTERFACE cxx_std_20)
target_compile_options(sluice_settings INTERFACE
  -Wall -Wextra -Wpedantic -Werror
  -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough
  # GCC 12 at -O3 reports impossible overlaps inside std::string's operator+
  # (GCC bug 105329); the warning is noise there and nowhere else useful. Its
  # siblings stringop-overflow and array-bounds report the same impossible
  # sizes inside std::string's inlined memcpy once the standard headers come
  # from a precompiled header (GCC then no longer suppresses them as a system
  # header's). The sanitizer build checks bounds at run time instead.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict -Wno-stringop-overflow -Wno-array-bounds>)

# Strict Qt defines: no silent ASCII casts, no contextless connects, no
# keyword macros that collide with other libraries. They are inert where no Qt
# header is included, so the engine may carry them too.
target_compile_definitions(sluice_settings INTERFACE
  QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII QT_NO_CAST_FROM_BYTEARRAY
  QT_NO_URL_CAST_FROM_STRING QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
  QT_NO_CONTEXTLESS_CONNECT QT_NO_KEYWORDS QT_NO_FOREACH QT_USE_QSTRINGBUILDER
  QT_DISABLE_DEPRECATED_UP_TO=0x060400)

if(SLUICE_SANITIZE)
  target_compile_options(sluice_settings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
    # The sanitizers' instrumentation changes inlining, and GCC 12 then reports
    # uninitialised reads inside Boost.Beast's boost::optional that the
    # release build (which keeps the warning) does not see.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  target_link_options(sluice_settings INTERFACE -fsanitize=address,undefined)
endif()

# Profile-guided optimisation (make pgo, scripts/pgo-build.sh): "generate"
# instruments the build for a training run, "use" builds again with the
# profile it wrote beside the objects (the same build directory in both
# phases). Set for every object, not through sluice_settings, because the
# precompiled headers must be built with the same profiling flags as the
# sources that include them. Functions the training never ran stay
# optimised as usual (-fprofile-partial-training), not for size. The profile
# changes inlining, and GCC 12's warnings that depend on it then report
# impossible reads (maybe-uninitialized of a std::optional, stringop-overread
# inside std::string) in code the plain build compiles clean: here they stay
# warnings, and the plain build, which CI runs, keeps them errors.
set(SLUICE_PGO "" CACHE STRING "Profile-guided optimisation phase: empty (none), generate or use")
if(SLUICE_PGO STREQUAL "generate")
  add_compile_options(-fprofile-generate -fprofile-update=atomic)
  add_link_options(-fprofile-generate)
elseif(SLUICE_PGO STREQUAL "use")
  add_compile_options(-fprofile-use -fprofile-partial-training -fprofile-correction -Wno-missing-profile)
  # After sluice_settings' own -Werror, so that it wins.
  target_compile_options(sluice_settings INTERFACE -Wno-error)
elseif(NOT SLUICE_PGO STREQUAL "")
  message(FATAL_ERROR "SLUICE_PGO must be empty, generate or use (got \"${SLUICE_PGO}\")")
endif()

# Fuzzing instruments all of our code for libFuzzer's coverage (no libFuzzer
# main: tests and programs link as usual); the fuzz targets add the main.
if(SLUICE_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SLUICE_BUILD_FUZZERS needs clang (CMAKE_CXX_COMPILER=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(NOT SLUICE_SANITIZE)
    message(FATAL_ERROR "SLUICE_BUILD_FUZZERS needs SLUICE_SANITIZE=ON")
  endif()
  target_compile_options(sluice_settings INTERFACE -fsanitize=fuzzer-no-link)
endif()

# Registers a QtTest executable with CTest. LABELS decide which suite runs it:
# "engine" tests also run in the sanitizer build.
function(sluice_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE sluice_settings Qt6::Test ${ARG_LIBS})
  # A console test links the widgets (their defines change what Qt Test
  # declares): the test headers precompiled with them (tests/CMakeLists.txt).
  if("ui" IN_LIST ARG_LABELS)
    sluice_use_pch(${name} sluice_pch_test_ui)
  else()
    sluice_use_pch(${name} sluice_pch_test)
  endif()
  # AUTOMOC's file of the target's moc output is empty when the test
  # includes its own .moc: loading the header would be its whole cost.
  set_source_files_properties(${CMAKE_CURRENT_BINARY_DIR}/${name}_autogen/mocs_compilation.cpp
    PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES
    LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "QT_QPA_PLATFORM=offscreen;ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1")
endfunction()

# sluice_engine_tests: every program the tests labelled "engine" or "fuzz"
# run (what `make test-asan` runs with ctest -L 'engine|fuzz'), and nothing
# else: the sanitizer build builds this target, not the whole tree. A
# directory with such tests calls sluice_collect_engine_tests deferred (at
# its end, so tests added anywhere in it are seen). A test not named after
# its program says what it runs in the test property SLUICE_RUNS; one that
# does neither stops the configure, so no test can drop out of the
# sanitizer run unbuilt.
add_custom_target(sluice_engine_tests)
function(sluice_collect_engine_tests)
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} LABELS labels)
    if(NOT labels MATCHES "(^|;)(engine|fuzz)(;|$)")
      continue()
    endif()
    get_test_property(${t} SLUICE_RUNS runs)
    if(runs)
      add_dependencies(sluice_engine_tests ${runs})
    elseif(TARGET ${t})
      add_dependencies(sluice_engine_tests ${t})
    else()
      message(FATAL_ERROR "test ${t} (labels ${labels}) is no target and names none in SLUICE_RUNS: "
        "sluice_engine_tests would not build what it runs")
    endif()
  endforeach()
endfunction()

# Precompiled headers. Parsing the third-party headers is most of what a
# test or a small engine file costs to compile (Qt Test ~5 s, nlohmann/json
# ~2.5 s of a ~8 s parse), and make test compiles ~330 files twice. One
# header set per kind of target is precompiled once, in a target of its own
# that carries the same flags, and every target of that kind reuses it
# (sluice_use_pch). A target whose flags differ gets no use of it from GCC
# (it parses the headers as usual) and a build error from clang, so the
# kinds below are the kinds the build has. SLUICE_PCH=OFF builds without.
option(SLUICE_PCH "Precompile the third-party headers once per kind of target" ON)

set(SLUICE_PCH_STD_HEADERS
  <algorithm> <atomic> <chrono> <condition_variable> <cstdint> <deque> <functional> <map> <memory> <mutex>
  <optional> <set> <sstream> <string> <string_view> <thread> <unordered_map> <utility> <vector>)

# sluice_pch_target(<name> LIBS <what the users link> HEADERS <headers>)
function(sluice_pch_target name)
  cmake_parse_arguments(ARG "" "" "LIBS;HEADERS" ${ARGN})
  if(NOT SLUICE_PCH)
    return()
  endif()
  add_library(${name} STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
  target_link_libraries(${name} PRIVATE sluice_settings ${ARG_LIBS})
  target_precompile_headers(${name} PRIVATE ${ARG_HEADERS})
endfunction()

# Unity builds. A library of twenty small files compiles each file's share of
# the same inline templates (nlohmann/json, <chrono>, std::function) twenty
# times at -O2; in batches of 16 the engine's modules compiled about three
# times faster (docs/benchmarks.md, "Build time"). Each batch is one
# translation unit, so helpers in two files' anonymous namespaces must not
# share a name: give them distinct names, or share them. GCC takes every
# batched file for a header and warns of a type from an anonymous namespace
# in a struct (subobject-linkage), which is no problem in a .cpp, so that
# warning is off for them. SLUICE_UNITY=OFF compiles file by file (the
# faster edit-compile loop for one file).
option(SLUICE_UNITY "Compile the engine modules, sluice-cli and sluice_ui in batches (unity build)" ON)

function(sluice_unity target)
  if(SLUICE_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
    target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
  endif()
endfunction()

function(sluice_use_pch target pch)
  if(SLUICE_PCH)
    target_precompile_headers(${target} REUSE_FROM ${pch})
  endif()
endfunction()
