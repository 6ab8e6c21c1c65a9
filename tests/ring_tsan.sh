#!/bin/sh
# Runs the ring's ThreadSanitizer stress (ring_tsan.cpp): any race TSan reports fails it
# (exit 66). Some kernels randomise mmap over more bits than an older TSan runtime expects
# (vm.mmap_rnd_bits above 28: "FATAL: ThreadSanitizer: unexpected memory mapping"); then the
# run is repeated with address-space randomisation off for this one process (setarch -R).
set -u
program=$1
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}"
out=$("$program" 2>&1)
rc=$?
case $out in
  *"unexpected memory mapping"*)
    echo "ring_tsan: TSan cannot place its shadow memory under this kernel's mmap randomisation; again under setarch -R"
    out=$(setarch "$(uname -m)" -R "$program" 2>&1)
    rc=$?
    ;;
esac
printf '%s\n' "$out"
exit "$rc"
