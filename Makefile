# The two set-up commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test deps build-release build-dev bench stress-long fuzz format tidy clean

CMAKE ?= cmake
CTEST ?= ctest

run: deps build-release
	./build/release/tools/ipckit/ipckit bench --quick

test: deps build-dev
	$(CTEST) --preset dev

deps:
	@bash scripts/deps.sh

build-release:
	$(CMAKE) --preset release
	$(CMAKE) --build --preset release

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

# The ring's libFuzzer target (tests/fuzz/ring_fuzz.cpp) for FUZZ_SECONDS; its corpus grows in
# build/fuzz/corpus/ring, a crash is written to build/fuzz/ as crash-<sha1> (replay: pass that file).
FUZZ_SECONDS ?= 60
fuzz:
	@bash scripts/deps.sh fuzz
	$(CMAKE) -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DIPCKIT_FUZZ=ON -DIPCKIT_BUILD_TESTS=OFF -DIPCKIT_BUILD_TOOLS=OFF -DIPCKIT_BUILD_EXAMPLES=OFF
	$(CMAKE) --build build/fuzz --target ring_fuzz
	mkdir -p build/fuzz/corpus/ring
	./build/fuzz/tests/fuzz/ring_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=build/fuzz/ build/fuzz/corpus/ring

format:
	@bash scripts/deps.sh lint
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy: deps build-dev
	@bash scripts/deps.sh lint
	git ls-files 'src/*.cpp' 'tools/*.cpp' 'bench/*.cpp' | xargs clang-tidy -p build/dev --quiet

clean:
	rm -rf build
