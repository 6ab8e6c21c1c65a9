#!/usr/bin/env bash
# Installs the Debian packages ipckit needs to build, test and run its tools.
# Idempotent: installs only what is missing, and does nothing when all are there.
#
#   scripts/deps.sh            what make run and make test need
#   scripts/deps.sh fuzz       also clang and libFuzzer (make fuzz)
#   scripts/deps.sh lint       also clang-format and clang-tidy (make format, make tidy)
set -euo pipefail

packages=(
  cmake ninja-build g++ make pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and microbenchmarks
  libcli11-dev libfmt-dev nlohmann-json3-dev    # the ipckit command
  util-linux procps python3                     # ipcs/ipcmk/lsipc and interop peers in tests
  iproute2                                      # ip netns: the channel test across two hosts
)
for extra in "$@"; do
  case "$extra" in
    fuzz) packages+=(clang libclang-rt-dev) ;;
    lint) packages+=(clang-format clang-tidy) ;;
    *) echo "deps: unknown group '$extra' (known: fuzz, lint)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
