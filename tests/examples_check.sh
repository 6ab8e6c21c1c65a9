#!/bin/sh
# examples_check.sh MODE EXAMPLES_DIR: runs an example program and checks what it printed.
#   pipe  examples/pipe prints what `ls DIR | wc -l` prints (with ipckit::Pipeline and by hand)
#   fifo  examples/fifo_reader receives, in order, the lines examples/fifo_writer sends, and
#         removes its FIFO afterwards
#   shm   the mapping, System V and memfd examples: parent and child share an anonymous
#         mapping; two programs talk through a mapped file; a System V writer and reader
#         (the reader's --remove leaves nothing behind); a sealed memfd refuses truncation
# POSIX sh. Everything it makes lives in one mktemp folder, removed on every way out.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: examples_check.sh pipe|fifo|shm EXAMPLES_DIR" >&2
  exit 2
fi
mode=$1
dir=$(cd "$2" && pwd) || exit 2

tmp=$(mktemp -d /tmp/ipckit-t-XXXXXX)
reader_pid=
cleanup() {
  if [ -n "$reader_pid" ]; then
    kill "$reader_pid" 2>/dev/null || true
    wait "$reader_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_same WHAT GOT WANTED
expect_same() {
  if [ "$2" != "$3" ]; then
    fail "$1: got '$2', expected '$3'"
  fi
  echo "ok: $1 = '$2'"
}

check_pipe() {
  # A folder whose entries we know, names with a space and a leading dot included.
  mkdir "$tmp/listing"
  for name in one two "three four" five .hidden; do
    : > "$tmp/listing/$name"
  done
  for target in "$tmp/listing" /usr/bin /; do
    wanted=$(ls "$target" | wc -l)
    expect_same "pipe $target" "$("$dir/pipe" "$target")" "$wanted"
    expect_same "pipe --fork $target" "$("$dir/pipe" --fork "$target")" "$wanted"
  done
  expect_same "count of $tmp/listing" "$("$dir/pipe" "$tmp/listing")" 4
  # No argument: the current folder, as `ls | wc -l`.
  wanted=$(cd "$tmp/listing" && ls | wc -l)
  expect_same "pipe (no argument)" "$(cd "$tmp/listing" && "$dir/pipe")" "$wanted"
  expect_same "pipe --fork (no argument)" "$(cd "$tmp/listing" && "$dir/pipe" --fork)" "$wanted"
  # A folder that does not exist: the shell prints 0; the example too, and fails.
  if out=$("$dir/pipe" "$tmp/missing" 2>/dev/null); then
    fail "pipe of a missing folder succeeded"
  fi
  expect_same "pipe of a missing folder" "$out" "$(ls "$tmp/missing" 2>/dev/null | wc -l)"
}

check_fifo() {
  fifo=$tmp/chat
  "$dir/fifo_reader" "$fifo" > "$tmp/received" 2> "$tmp/reader.err" &
  reader_pid=$!

  # The reader creates the FIFO, then blocks opening it until a writer comes.
  tries=0
  while [ ! -p "$fifo" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 500 ]; then
      cat "$tmp/reader.err" >&2
      fail "the reader did not create $fifo"
    fi
    if ! kill -0 "$reader_pid" 2>/dev/null; then
      cat "$tmp/reader.err" >&2
      fail "the reader exited before creating $fifo"
    fi
    sleep 0.02 2>/dev/null || sleep 1
  done
  perms=$(ls -l "$fifo" | cut -c1-10)
  expect_same "FIFO type and mode" "$perms" "prw-------"

  "$dir/fifo_writer" "$fifo" "first message" "second" "the third, with  two spaces" ||
    fail "the writer failed"

  status=0
  wait "$reader_pid" || status=$?
  reader_pid=
  if [ "$status" -ne 0 ]; then
    cat "$tmp/reader.err" >&2
    fail "the reader exited with $status"
  fi
  printf '%s\n' "first message" "second" "the third, with  two spaces" > "$tmp/expected"
  if ! cmp -s "$tmp/expected" "$tmp/received"; then
    echo "expected:" >&2; cat "$tmp/expected" >&2
    echo "received:" >&2; cat "$tmp/received" >&2
    fail "the reader did not print the messages in order"
  fi
  echo "ok: the reader printed the 3 messages in order"
  if [ -e "$fifo" ]; then
    fail "the reader left $fifo behind"
  fi
  echo "ok: the reader removed the FIFO"

  # With no reader, the writer gives up after its deadline, with a clear message.
  mkfifo -m 600 "$tmp/lonely"
  if "$dir/fifo_writer" "$tmp/lonely" "nobody listens" 2> "$tmp/writer.err"; then
    fail "the writer succeeded without a reader"
  fi
  grep -q "ETIMEDOUT" "$tmp/writer.err" || { cat "$tmp/writer.err" >&2; fail "the writer's error does not say it timed out"; }
  echo "ok: the writer without a reader fails: $(cat "$tmp/writer.err")"
}

# expect_line WHAT OUTPUT LINE: OUTPUT has LINE as one of its lines.
expect_line() {
  printf '%s\n' "$2" | grep -qxF -- "$3" || fail "$1: no line '$3' in: $2"
  echo "ok: $1"
}

check_shm() {
  out=$("$dir/mapping_parent_child")
  expect_line "parent reads what the child wrote" "$out" "parent read: hello from the child"

  "$dir/mapping_writer" "$tmp/mapped" "through a file" > /dev/null
  expect_same "mapping_reader prints mapping_writer's message" "$("$dir/mapping_reader" "$tmp/mapped")" "through a file"

  : > "$tmp/key"
  "$dir/sysv_shm_writer" "$tmp/key" "hi" > /dev/null
  out=$("$dir/sysv_shm_reader" "$tmp/key" --remove)
  expect_line "sysv reader gets the message" "$out" "message: hi"
  expect_line "sysv segment destroyed at the last detach" "$out" "detached: the segment is destroyed"
  if "$dir/sysv_shm_reader" "$tmp/key" > /dev/null 2>&1; then fail "the sysv segment outlived --remove"; fi
  echo "ok: nothing left of the sysv segment"

  out=$("$dir/shm_memfd_seal")
  expect_line "a sealed memfd refuses truncate" "$out" "child: truncate refused: the size is sealed"
}

case $mode in
  pipe) check_pipe ;;
  shm) check_shm ;;
  fifo) check_fifo ;;
  *) echo "examples_check.sh: unknown mode '$mode' (pipe or fifo)" >&2; exit 2 ;;
esac
