# The two set-up commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test deps build-release build-dev bench stress-long fuzz fuzz-build fuzz-corpus fuzz-long format tidy clean

CMAKE ?= cmake
CTEST ?= ctest

run: deps build-release
	./build/release/tools/ipckit/ipckit bench --quick

test: deps build-dev
	$(CTEST) --preset dev

deps:
	@bash scripts/deps.sh

# The main job needs the library and the tool only: no test, example or microbenchmark target.
build-release:
	$(CMAKE) --preset release
	$(CMAKE) --build --preset release --target ipckit_cli

build-dev:
	$(CMAKE) --preset dev
	$(CMAKE) --build --preset dev

bench: deps build-release
	./build/release/tools/ipckit/ipckit bench

# shm:// under long load and many kills: the stress and crash tests of the dev build, scaled up
# (100 million messages per stress test, 5000 trials per crash test; a failing trial prints
# the IPCKIT_CRASH_SEED that replays it).
stress-long: deps build-dev
	IPCKIT_STRESS_MESSAGES=100000000 ./build/dev/tests/channel_shm_stress_test
	IPCKIT_CRASH_TRIALS=5000 ./build/dev/tests/channel_shm_crash_test

# The libFuzzer targets (tests/fuzz/): ring_fuzz (the ring), stream_fuzz (unix/tcp framing),
# shm_segment_fuzz (a whole shm:// segment). `make fuzz` runs FUZZ_TARGET (default ring_fuzz)
# for FUZZ_SECONDS; `make fuzz-long` runs each of the three for FUZZ_RUNS inputs (default 10
# million, inputs of at most 1 KiB), one after the other. On a free core of this machine:
# ring ~4 000 inputs/s (under an hour), stream ~1 000 (about 3 hours), shm segment ~700-3 500
# (1 to 4 hours): run it unattended. Corpora grow in build/fuzz/corpus/TARGET; a crash is written to
# build/fuzz/ as crash-<sha1> (replay: pass that file to the target). `make test` replays the
# checked-in corpora, tests/fuzz/corpus/TARGET; `make fuzz-corpus` merges what the runs found
# into them (libFuzzer -merge=1: only inputs that add coverage).
FUZZ_SECONDS ?= 60
FUZZ_TARGET ?= ring_fuzz
FUZZ_RUNS ?= 10000000
FUZZ_TARGETS = ring_fuzz stream_fuzz shm_segment_fuzz
fuzz-build:
	@bash scripts/deps.sh fuzz
	$(CMAKE) -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DIPCKIT_FUZZ=ON -DIPCKIT_BUILD_TESTS=OFF -DIPCKIT_BUILD_TOOLS=OFF -DIPCKIT_BUILD_EXAMPLES=OFF
	$(CMAKE) --build build/fuzz --target $(FUZZ_TARGETS)

fuzz: fuzz-build
	mkdir -p build/fuzz/corpus/$(FUZZ_TARGET)
	./build/fuzz/tests/fuzz/$(FUZZ_TARGET) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=build/fuzz/ build/fuzz/corpus/$(FUZZ_TARGET)

fuzz-corpus: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/corpus/$$t build/fuzz/corpus/$$t && \
	  ./build/fuzz/tests/fuzz/$$t -merge=1 -max_len=1024 -rss_limit_mb=4096 tests/fuzz/corpus/$$t build/fuzz/corpus/$$t || exit 1; \
	done

fuzz-long: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t && \
	  ./build/fuzz/tests/fuzz/$$t -runs=$(FUZZ_RUNS) -max_len=1024 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=build/fuzz/ \
	    build/fuzz/corpus/$$t || exit 1; \
	done

format:
	@bash scripts/deps.sh lint
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy: deps build-dev
	@bash scripts/deps.sh lint
	git ls-files 'src/*.cpp' 'tools/*.cpp' 'bench/*.cpp' | xargs clang-tidy -p build/dev --quiet

clean:
	rm -rf build
