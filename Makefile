# fulcrum — the two commands: `make run` and `make test`.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
ifeq ($(strip $(PREFIX)),)
PREFIX = /usr/local
endif

.PHONY: all deps build build-asan build-tsan run install install-only test test-fast unit e2e fuzz bench bench-algos bench-ratelimit lint format clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFULCRUM_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# ThreadSanitizer: the unit tests (libfulcrum's concurrent picks and updates).
build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFULCRUM_TSAN=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)

# Build fulcrum and start it with three demo backends (Ctrl-C stops all).
run: build
	@sh scripts/run-demo.sh $(BUILD)

# Install into $(DESTDIR)$(PREFIX) (docs/operations.md): the binaries,
# libfulcrum with fulcrum.pc, fulcrum(1), fulcrum.service, docs and examples.
# SYSTEMD_UNIT_DIR overrides where the unit goes. install-only installs the
# existing build without building (tests/e2e/test_install.py runs it).
install: build
	@$(INSTALL_CMD)

install-only:
	@$(INSTALL_CMD)

INSTALL_CMD = DESTDIR="$(DESTDIR)" SYSTEMD_UNIT_DIR="$(SYSTEMD_UNIT_DIR)" \
	cmake --install $(BUILD) --prefix "$(abspath $(PREFIX))"

# The whole suite: formatting; the normal build running every test, the e2e
# tests on both event loops (io_uring, then epoll); the ASan+UBSan build
# running every test on io_uring; the unit tests again under ThreadSanitizer.
test: lint build build-asan build-tsan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -LE epoll
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit e2e fuzz: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L $@

bench: build
	@sh scripts/deps.sh bench
	@sh bench/run.sh $(BUILD)

bench-algos: build
	@sh bench/algos.sh $(BUILD)

# The rate limits' buckets: ns per take (1 and 2 threads), bytes per key.
bench-ratelimit: build
	@sh bench/ratelimit.sh $(BUILD)

lint: deps
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h') && echo "lint: clang-format clean"

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
