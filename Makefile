# The two commands a new user runs (see README.md):
#   make run   install what is missing, build (Release), start Sluice
#   make test  install what is missing, build, run every test
#   make test-asan  the engine tests and fuzz targets again, built with
#              AddressSanitizer and UndefinedBehaviorSanitizer (clang; a second
#              whole build, so not part of make test: see CODING_GUIDELINES.md)
#   make fuzz  run every libFuzzer target for FUZZ_SECONDS (default 60)
#              each, on a copy of its seed corpus (docs/fuzzing.md)
#   make screenshots  regenerate docs/screenshots/ from a live demo run
#              (offscreen, about a minute)
#   make package  build the Debian packages (build/release/sluice*_*.deb), with
#              sluice-cli from make pgo
#   make package-test  build, inspect, unpack and run the packages, lintian
#   make pgo   sluice-cli alone, built with profile guidance from a training
#              run of the gateway (build/pgo/app/sluice-cli; about 9 minutes)
BUILD_DIR ?= build/release
ASAN_DIR  ?= build/asan
JOBS      ?= 2
FUZZ_SECONDS ?= 60
CMAKE_GEN := -G Ninja

.PHONY: all deps build build-asan run test test-all test-release test-asan fuzz bench screenshots clean pgo

all: build

deps:
	@scripts/install-deps.sh

# -O2, as Debian builds its packages (dpkg-buildflags): CMake's -O3 cost a
# sixth more compile time (app/cli/worker_command.cpp: 36 s against 31 s).
$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG"

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The sanitizer build uses clang, so the same build carries the libFuzzer
# targets (fuzz/). It builds only sluice_engine_tests: the programs its ctest
# run (labels engine and fuzz) needs, not the rest of the tree. A build tree configured by an older Makefile with another
# compiler is configured afresh (CMake drops its cache when the compiler
# changes).
# -O1 and line tables only (what AddressSanitizer's own docs advise): file
# and line in every report, and a fifth less compile time than -O2 -g.
$(ASAN_DIR)/build.ninja: Makefile | deps
	cmake -S . -B $(ASAN_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
	  -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DSLUICE_SANITIZE=ON -DSLUICE_BUILD_FUZZERS=ON -DSLUICE_BUILD_UI=OFF -DSLUICE_BUILD_BENCHMARKS=OFF

build-asan: deps $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j $(JOBS) --target sluice_engine_tests

run: build
	@scripts/run.sh $(BUILD_DIR) $(ARGS)

test-release: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) -L 'engine|fuzz'

fuzz: build-asan
	scripts/fuzz.sh $(ASAN_DIR) $(FUZZ_SECONDS)

# The sanitizer run is a second whole build (13 min of two cores): with it,
# make test took 47 min in CI against a budget of 25. It stays one command
# away (make test-asan, or make test-all for both).
test: test-release

test-all: test-release test-asan

.PHONY: package package-test
# The packages need only what they hold (sluice_package_files), not the tests
# and benchmarks that CMake's own "package" target would build first.
# sluice-cli is packaged from the profile-guided build (make pgo), named to
# CPack for this one run and unnamed again whatever cpack's outcome.
package: pgo $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target sluice_package_files
	cmake -S . -B $(BUILD_DIR) -DSLUICE_PACKAGE_CLI=$(abspath build/pgo/app/sluice-cli) > /dev/null
	cd $(BUILD_DIR) && cpack; status=$$?; cd $(CURDIR) && cmake -S . -B $(BUILD_DIR) -DSLUICE_PACKAGE_CLI= > /dev/null; exit $$status

package-test: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target sluice_package_files
	cd $(BUILD_DIR) && ctest --output-on-failure -L package

screenshots: build
	QT_QPA_PLATFORM=offscreen $(BUILD_DIR)/app/sluice-screenshots --out docs/screenshots

pgo: deps
	JOBS=$(JOBS) scripts/pgo-build.sh build/pgo

bench: build
	scripts/bench.sh $(BUILD_DIR)

clean:
	rm -rf build
