# The two set-up commands: `make run` and `make test`. Both install what is missing first.
.PHONY: run test deps build-release build-dev bench format tidy clean

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

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy: build-dev
	git ls-files 'src/*.cpp' 'tools/*.cpp' 'bench/*.cpp' | xargs clang-tidy -p build/dev --quiet

clean:
	rm -rf build
