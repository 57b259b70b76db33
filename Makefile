# The two commands of the README, and a few more. Everything real is in CMake.
#   make run     install deps if missing, build, start the pipeline on ./data
#   make test    install deps if missing, build, run every test
#   make bench   build and run the micro benchmarks
#   make asan    the same tests in an ASan+UBSan build (build-asan/)
#   make format  clang-format every source file; make format-check fails on a diff

BUILD ?= build
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
DATA ?= ./data
# Tracked sources for the check; `make format` also takes new files not yet added.
TRACKED = $(shell git ls-files '*.h' '*.cc')
SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.h' '*.cc')

.PHONY: deps configure build run test bench asan format format-check clean

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
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=RelWithDebInfo \
	  CMAKE_FLAGS="-DCQRS_SANITIZE=address,undefined -DCQRS_BUILD_BENCH=OFF $(CMAKE_FLAGS)"

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(TRACKED) && echo "format-check: $(words $(TRACKED)) files clean"

clean:
	rm -rf $(BUILD) build-asan
