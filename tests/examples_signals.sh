#!/bin/sh
# examples_signals.sh EXAMPLES_DIR: runs the signal examples and checks what they printed.
#   signal_mask     a blocked SIGINT raised three times is pending, then delivered once
#   signal_alarm    alarm returns the old alarm's seconds left; setitimer fires once, then
#                   periodically, and stops
#   signalfd_loop   SIGUSR1 from itself and from a child (with a value), SIGTERM ends the loop
# POSIX sh. Each example gets 30 s at most; a hung one is killed and the check fails.
set -eu

# shellcheck source=tests/examples_lib.sh
. "$(dirname "$0")/examples_lib.sh"
examples_setup examples_signals.sh "$@"

run signal_mask
expect_output signal_mask <<'END'
blocked: {SIGINT}
raised SIGINT 3 times while blocked
pending: {SIGINT}
handler has run: no
unblocking SIGINT
handler has run: yes (1 time: standard signals do not queue)
pending: {}
END

run signal_alarm
# alarm rounds what is left to the nearest second: 10, or 9 on a very slow machine.
sed 's/returns 9 (seconds/returns 10 (seconds/' "$tmp/signal_alarm.out" > "$tmp/signal_alarm.rounded"
mv "$tmp/signal_alarm.rounded" "$tmp/signal_alarm.out"
expect_output signal_alarm <<'END'
alarm(10) returns 0 (no alarm was set)
alarm(1) replaces it and returns 10 (seconds the old one had left)
SIGALRM: the handler ran 1 time
setitimer once: SIGALRM from the kernel
left on the timer: 0 us
setitimer every 50 ms: SIGALRM #1
setitimer every 50 ms: SIGALRM #2
setitimer every 50 ms: SIGALRM #3
timer stopped
END

run signalfd_loop
# Pids differ from run to run: check that the self-sent one carries the example's own pid
# and the child's two the same other pid, then compare the rest with the pids taken out.
self=$(sed -n 's/^pid \([0-9][0-9]*\) waits.*/\1/p' "$tmp/signalfd_loop.out")
[ -n "$self" ] || fail "signalfd_loop did not print its pid"
grep -qxF "SIGUSR1 from pid $self (this process, kill)" "$tmp/signalfd_loop.out" ||
  fail "the first SIGUSR1 is not from pid $self: $(cat "$tmp/signalfd_loop.out")"
child=$(sed -n 's/^SIGTERM from pid \([0-9][0-9]*\) (the child.*/\1/p' "$tmp/signalfd_loop.out")
if [ -z "$child" ] || [ "$child" = "$self" ]; then
  fail "SIGTERM did not come from a child: $(cat "$tmp/signalfd_loop.out")"
fi
grep -qxF "SIGUSR1 from pid $child (the child, sigqueue, value 42)" "$tmp/signalfd_loop.out" ||
  fail "the child's SIGUSR1 with value 42 is missing: $(cat "$tmp/signalfd_loop.out")"
echo "ok: signalfd_loop saw its own pid $self and its child's $child"
sed 's/pid [0-9][0-9]*/pid N/' "$tmp/signalfd_loop.out" > "$tmp/signalfd_loop.plain"
mv "$tmp/signalfd_loop.plain" "$tmp/signalfd_loop.out"
expect_output signalfd_loop <<'END'
pid N waits for SIGUSR1 and SIGTERM on a signalfd
SIGUSR1 from pid N (this process, kill)
SIGUSR1 from pid N (the child, sigqueue, value 42)
SIGTERM from pid N (the child, kill)
SIGTERM: stopping
child exited with 0
END
