#!/bin/sh
# Installs the build into a scratch prefix, then builds a tiny outside project that uses
# find_package(ipckit) and links ipckit::ipckit, and runs it.
set -eu
build=$1 consumer=$2
work=$(mktemp -d /tmp/ipckit-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -x "$work/prefix/bin/ipckit"
test -f "$work/prefix/include/ipckit/pipe.hpp"
flags=""
# A sanitized ipckit needs the sanitizer runtime in the consumer too.
if grep -q 'IPCKIT_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then flags="-fsanitize=address,undefined"; fi
cmake -S "$consumer" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64" "$work/build/consumer"
