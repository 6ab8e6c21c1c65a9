#!/bin/sh
# examples_mqueue.sh EXAMPLES_DIR: runs examples/mq_producer and examples/mq_consumer over a
# POSIX message queue and checks what they printed:
#   1. the producer sends 6 messages while no one listens; the consumer then gets them highest
#      priority first, oldest first within a priority, and --remove leaves no queue behind;
#   2. the producer sends 30 messages into a queue of 10 while the consumer runs: all arrive,
#      each once, and within each priority in the order sent.
# POSIX sh. The queue's name is unique (/ipckit-t-sh-PID); on every way out the queue is
# drained and removed (mq_consumer --timeout 0 --remove) and the temporary folder deleted.
set -eu

# shellcheck source=tests/examples_lib.sh
. "$(dirname "$0")/examples_lib.sh"
examples_setup examples_mqueue.sh "$@"

queue=/ipckit-t-sh-$$
producer_pid=
extra_cleanup() {
  if [ -n "$producer_pid" ]; then
    kill "$producer_pid" 2>/dev/null || true
    wait "$producer_pid" 2>/dev/null || true
  fi
  "$dir/mq_consumer" --timeout 0 --remove "$queue" > /dev/null 2>&1 || true
}

# 1. Everything is queued before the consumer starts: priority order is exact.
timeout 30 "$dir/mq_producer" "$queue" 6 > "$tmp/producer.out" 2> "$tmp/producer.err" ||
  { cat "$tmp/producer.err" >&2; fail "the producer failed"; }
grep -qx "sent 6 messages and the end mark" "$tmp/producer.out" || fail "the producer did not say it sent 6 messages"
timeout 30 "$dir/mq_consumer" --remove "$queue" > "$tmp/consumer.out" 2> "$tmp/consumer.err" ||
  { cat "$tmp/consumer.err" >&2; fail "the consumer failed"; }
cat > "$tmp/expected" <<'END'
priority 2: message 2
priority 2: message 5
priority 1: message 1
priority 1: message 4
priority 0: message 3
priority 0: message 6
end: 6 messages
END
if ! cmp -s "$tmp/expected" "$tmp/consumer.out"; then
  echo "expected:" >&2; cat "$tmp/expected" >&2
  echo "got:" >&2; cat "$tmp/consumer.out" >&2
  fail "the consumer did not print the messages highest priority first"
fi
echo "ok: the consumer printed the 6 messages, highest priority first, FIFO within a priority"

# --remove took the queue away: opening it now fails, saying there is no such queue.
if "$dir/mq_consumer" --timeout 0 "$queue" > /dev/null 2> "$tmp/gone.err"; then
  fail "the queue is still there after --remove"
fi
grep -q "ENOENT" "$tmp/gone.err" || { cat "$tmp/gone.err" >&2; fail "opening the removed queue did not fail with ENOENT"; }
echo "ok: --remove removed the queue: $(cat "$tmp/gone.err")"

# 2. 30 messages through a queue of 10, with the consumer running: the producer waits for room.
timeout 60 "$dir/mq_producer" "$queue" 30 > "$tmp/producer.out" 2> "$tmp/producer.err" &
producer_pid=$!
# The consumer opens an existing queue: wait until the producer has made it.
tries=0
while ! grep -q "^queue $queue:" "$tmp/producer.out"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 1500 ] || ! kill -0 "$producer_pid" 2>/dev/null; then
    cat "$tmp/producer.err" >&2
    fail "the producer did not create the queue"
  fi
  sleep 0.02 2>/dev/null || sleep 1
done
timeout 60 "$dir/mq_consumer" --remove "$queue" > "$tmp/consumer.out" 2> "$tmp/consumer.err" ||
  { cat "$tmp/consumer.err" >&2; fail "the consumer failed while the producer ran"; }
status=0
wait "$producer_pid" || status=$?
producer_pid=
[ "$status" -eq 0 ] || { cat "$tmp/producer.err" >&2; fail "the producer exited with $status"; }

[ "$(tail -n 1 "$tmp/consumer.out")" = "end: 30 messages" ] || fail "the consumer did not end after 30 messages"
# Each message once: the numbers 1..30, each with priority N % 3.
sed '$d' "$tmp/consumer.out" |
  awk '{ n = $4; if ($2 != (n % 3) ":") { print "wrong priority: " $0 > "/dev/stderr"; exit 1 } print n }' \
    > "$tmp/received" || fail "a message came with the wrong priority"
sort -n "$tmp/received" > "$tmp/numbers"
seq 1 30 > "$tmp/all"
cmp -s "$tmp/numbers" "$tmp/all" || fail "messages lost or duplicated: $(tr '\n' ' ' < "$tmp/numbers")"
# Within each priority, in the order sent.
for p in 0 1 2; do
  grep "^priority $p:" "$tmp/consumer.out" | awk '{ print $4 }' > "$tmp/prio$p"
  sort -n "$tmp/prio$p" | cmp -s - "$tmp/prio$p" || fail "priority $p out of order: $(tr '\n' ' ' < "$tmp/prio$p")"
done
echo "ok: 30 messages through a queue of 10, each once, FIFO within each priority"
