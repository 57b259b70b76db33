# The two commands of the README, and a few more. Everything real is in CMake.
#   make run     install deps if missing, build, start the pipeline on ./data
#   make test    install deps if missing, build, run every test
#   make bench   build and run the micro benchmarks
#   make asan    the same tests in an ASan+UBSan build (build-asan/)
#   make fuzz    each libFuzzer target for FUZZ_SECONDS (clang 14, ASan+UBSan, build-fuzz/)
#   make faults  the fault suite at full scale (docs/RELIABILITY.md); make test runs it short
#   make mistakes  build each injected mistake and show that its fault test catches it
#   make deb     the Debian packages (cpack) in build/packages/
#   make docs    draw docs/architecture.svg from docs/architecture.dot (Graphviz)
#   make format  clang-format every source file; make format-check fails on a diff

SHELL := /bin/bash  # make fuzz reads PIPESTATUS
BUILD ?= build
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
DATA ?= ./data
# Tracked sources for the check; `make format` also takes new files not yet added.
TRACKED = $(shell git ls-files '*.h' '*.cc')
SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.h' '*.cc')

FUZZ_SECONDS ?= 60
FUZZ_TARGETS = command query event replay

.PHONY: deps configure build run test bench asan fuzz faults mistakes deb docs format format-check clean

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) > /dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# The whole pipeline (writer, projector, 2 readers) on the default endpoints; Ctrl-C stops it.
run: build
	$(BUILD)/bin/cqrs up --data $(DATA)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The Debian packages cqrs, libcqrs-client0 and libcqrs-dev in $(BUILD)/packages/.
deb: build
	cd $(BUILD) && cpack -G DEB

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

# -g1 (line tables: sanitizer reports keep file:line) compiles a quarter faster than -g, and -O1
# (what the ASan documentation recommends) a third faster than -O2; the tests run as fast. The
# multi-host fault cases (NATS cluster, network namespaces) run in the Release build only: their
# code paths run sanitized in the process tests, and they would add minutes to CI. So do the
# tests of what is installed (the client library's consumer, the .deb packages): a sanitized
# library or server is not what anyone installs.
asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=RelWithDebInfo \
	  CTEST_ARGS='-E "fault: (the stream.s NATS leader|the mirror.s NATS host|replicas killed)|client_install_consumer|deb_packages"' \
	  CMAKE_FLAGS="-DCQRS_SANITIZE=address,undefined -DCQRS_BUILD_BENCH=OFF \
	  '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG' $(CMAKE_FLAGS)"

# New inputs go to build-fuzz/corpus/<target>; a crash stops with the input in
# build-fuzz/crash-<target>-*: keep it in fuzz/regressions/<target>/ (see fuzz/README.md).
fuzz: deps
	@CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCQRS_FUZZ=ON -DCQRS_BUILD_TESTS=OFF -DCQRS_BUILD_BENCH=OFF \
	  "-DCQRS_SANITIZE=address,undefined,fuzzer-no-link" > /dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS)) \
	  > build-fuzz/build.log 2>&1 || { cat build-fuzz/build.log; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; mkdir -p build-fuzz/corpus/$$t; \
	  build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crash-$$t- build-fuzz/corpus/$$t fuzz/corpus/$$t \
	    2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|artifact_prefix)" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# Each fault case prints one line of counts; then the process tests' kill -9 and feed-gap cases.
faults: build
	CQRS_FAULT_SCALE=full $(BUILD)/tests/fault_test
	$(BUILD)/tests/process_test "[crash],[feed]"

mistakes: deps
	scripts/mistakes

# docs/architecture.svg from its source (Graphviz: apt-get install graphviz).
docs:
	@command -v dot > /dev/null || { echo "make docs: needs Graphviz's dot (apt-get install graphviz)"; exit 1; }
	dot -Tsvg docs/architecture.dot -o docs/architecture.svg

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(TRACKED) && echo "format-check: $(words $(TRACKED)) files clean"

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-mistake-*
