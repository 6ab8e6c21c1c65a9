#!/bin/sh
# examples_channel.sh EXAMPLES_DIR: runs the socket and channel examples and checks what they
# printed:
#   1. examples/unix_echo_server with --clients N and examples/unix_echo_client: the client
#      prints each line echoed; a caller of another uid is refused by the SO_PEERCRED check
#      (as root: a client run as nobody through setpriv, with the socket file at mode 0666 so
#      that the uid check, not the file mode, is what refuses it); a server that allows only
#      another uid refuses this one; the server ends by itself after N clients and removes
#      its socket file;
#   2. examples/channel_sender and examples/channel_receiver over unix:// (a path and an
#      abstract name), tcp:// (port 0: the receiver says which it got), fifo:// and mq://:
#      every message arrives whole and in order, the empty one too, and the receiver ends at
#      end of stream and removes what it made;
#   3. examples/channel_poll, an shm:// listener waiting in epoll on its readiness descriptor
#      and a signalfd: the four messages from channel_sender, then end of stream; a second
#      run ends on SIGTERM with exit status 0; both remove their segment.
# POSIX sh. Names are unique (the folder from mktemp, /ipckit-t-sh-PID for the queue,
# shm://ipckit-t-sh-PID-poll for the channel); on every way out the background programs are
# ended, the queue and the channel's segment removed and the folder deleted.
set -eu

# shellcheck source=tests/examples_lib.sh
. "$(dirname "$0")/examples_lib.sh"
examples_setup examples_channel.sh "$@"

queue=/ipckit-t-sh-$$
poll_name=ipckit-t-sh-$$-poll
poll_segment=/dev/shm/ipckit-ch-$poll_name
bg_pid=
extra_cleanup() {
  if [ -n "$bg_pid" ]; then
    kill "$bg_pid" 2>/dev/null || true
    wait "$bg_pid" 2>/dev/null || true
  fi
  # A receiver killed before it could remove its queue leaves it: drain and remove it.
  "$dir/mq_consumer" --timeout 0 --remove "$queue" > /dev/null 2>&1 || true
  # And a channel_poll killed before it could remove its segment leaves that.
  rm -f "$poll_segment"
}

# start NAME ARGS...: runs example NAME in the background (30 s at most), output in
# $tmp/NAME.out and .err, its pid in $bg_pid. The files are emptied here, before it starts:
# else wait_for_line could find the line a previous run of NAME left in them.
start() {
  name=$1
  shift
  : > "$tmp/$name.out"
  : > "$tmp/$name.err"
  timeout 30 "$dir/$name" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
  bg_pid=$!
}

# wait_for_line FILE PATTERN WHAT: waits until a line of FILE matches PATTERN (grep), while
# the background program runs; fails saying it did not WHAT.
wait_for_line() {
  tries=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 1500 ] || ! kill -0 "$bg_pid" 2>/dev/null; then
      cat "$1" "${1%.*}.err" >&2 2>/dev/null || true
      fail "the program did not $3"
    fi
    sleep 0.02 2>/dev/null || sleep 1
  done
}

# finish NAME: waits for the background example NAME; fails unless it exited 0.
finish() {
  status=0
  wait "$bg_pid" || status=$?
  bg_pid=
  if [ "$status" -ne 0 ]; then
    cat "$tmp/$1.out" "$tmp/$1.err" >&2
    fail "$1 exited with $status"
  fi
}


# --- 1. the echo server and its uid check ---------------------------------------------------

# Another user must be able to reach the socket file: search permission on the folder.
chmod 0711 "$tmp"
sock=$tmp/echo.sock
my_uid=$(id -u)

# As root, a client of another uid: setpriv to nobody (65534), if it can run our binary.
other_uid=
if [ "$my_uid" -eq 0 ] && command -v setpriv > /dev/null &&
   setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$dir/unix_echo_client" 2>/dev/null; then
  other_uid=65534
else
  echo "skip: a client of another uid needs root and setpriv (and $dir readable by nobody);" \
       "the refusal is shown below with --allow-uid instead"
fi
clients=2
[ -n "$other_uid" ] && clients=3

# Mode 0666: every user may connect, so only the uid check can refuse.
start unix_echo_server --clients "$clients" --mode 0666 "$sock"
wait_for_line "$tmp/unix_echo_server.out" "^listening on $sock" "listen on $sock"

run_client() {  # run_client OUTFILE MESSAGE...: exit status in $status
  out=$1
  shift
  status=0
  timeout 30 "$dir/unix_echo_client" "$sock" "$@" > "$tmp/$out.out" 2> "$tmp/$out.err" || status=$?
}

run_client first "hello" "two words" "  spaced  " ""
[ "$status" -eq 0 ] || { cat "$tmp/first.err" >&2; fail "the client exited with $status"; }
expect_file "$tmp/first.out" "the client did not print the echoed lines" <<'END'
hello
two words
  spaced  

END
echo "ok: the echo server echoed the client's 4 lines (one of them empty)"

if [ -n "$other_uid" ]; then
  status=0
  timeout 30 setpriv --reuid="$other_uid" --regid="$other_uid" --clear-groups \
    "$dir/unix_echo_client" "$sock" "let me in" > "$tmp/nobody.out" 2> "$tmp/nobody.err" || status=$?
  [ "$status" -eq 1 ] || { cat "$tmp/nobody.out" "$tmp/nobody.err" >&2; fail "the client of uid $other_uid exited with $status, not 1"; }
  [ ! -s "$tmp/nobody.out" ] || fail "the client of uid $other_uid got an answer: $(cat "$tmp/nobody.out")"
  grep -q "closed the connection without answering" "$tmp/nobody.err" ||
    { cat "$tmp/nobody.err" >&2; fail "the client of uid $other_uid was not refused by the server"; }
  grep -q "refused pid [0-9]*: uid $other_uid is not the allowed uid $my_uid" "$tmp/unix_echo_server.err" ||
    { cat "$tmp/unix_echo_server.err" >&2; fail "the server did not name uid $other_uid when it refused it"; }
  echo "ok: a client of uid $other_uid was refused: $(cat "$tmp/unix_echo_server.err")"
fi

# The server goes on serving after a refusal, and ends by itself after the last client.
run_client last "after"
[ "$status" -eq 0 ] || { cat "$tmp/last.err" >&2; fail "the last client exited with $status"; }
expect_file "$tmp/last.out" "the last client did not get its echo" <<'END'
after
END
finish unix_echo_server
grep -qx "stopping" "$tmp/unix_echo_server.out" || fail "the server did not stop after $clients clients"
[ ! -e "$sock" ] || fail "the server left its socket file $sock"
echo "ok: the server stopped after $clients clients and removed $sock"

# Allowing only another uid refuses this one (needs no root).
allowed=$((my_uid + 1))
start unix_echo_server --clients 1 --allow-uid "$allowed" "$sock"
wait_for_line "$tmp/unix_echo_server.out" "^listening on $sock" "listen on $sock again"
run_client refused "hello"
[ "$status" -eq 1 ] || { cat "$tmp/refused.out" "$tmp/refused.err" >&2; fail "the refused client exited with $status, not 1"; }
[ ! -s "$tmp/refused.out" ] || fail "the refused client got an answer: $(cat "$tmp/refused.out")"
finish unix_echo_server
grep -q "refused pid [0-9]*: uid $my_uid is not the allowed uid $allowed" "$tmp/unix_echo_server.err" ||
  { cat "$tmp/unix_echo_server.err" >&2; fail "the server did not name uid $my_uid when it refused it"; }
[ ! -e "$sock" ] || fail "the server left its socket file $sock"
echo "ok: with --allow-uid $allowed, uid $my_uid was refused: $(cat "$tmp/unix_echo_server.err")"

# --- 2. channel_sender and channel_receiver over each transport -------------------------------

# channel RECEIVER URL HOW [GONE]: the example RECEIVER (channel_receiver or channel_poll)
# on URL and one sender of four messages, taken from its arguments (HOW=args) or from the
# lines of its stdin (HOW=stdin); the receiver must print the four in order, the empty one
# too, and end at end of stream once the sender has gone. GONE: a path that must not exist
# any more once the receiver has ended.
channel() {
  receiver=$1
  shift
  url=$1 how=$2
  start "$receiver" "$url"
  wait_for_line "$tmp/$receiver.err" "listening on [a-z-]*://.*$" "listen on $url"
  # The URL as the receiver normalised it: with tcp://HOST:0, the port the kernel picked.
  bound=$(sed -n "s/^$receiver: listening on //p" "$tmp/$receiver.err")
  status=0
  if [ "$how" = args ]; then
    timeout 30 "$dir/channel_sender" "$bound" "one" "two words" "" "  four  " \
      > "$tmp/sender.out" 2> "$tmp/sender.err" || status=$?
  else
    printf 'one\ntwo words\n\n  four  \n' | timeout 30 "$dir/channel_sender" "$bound" \
      > "$tmp/sender.out" 2> "$tmp/sender.err" || status=$?
  fi
  [ "$status" -eq 0 ] || { cat "$tmp/sender.err" >&2; fail "channel_sender ($how) exited with $status on $bound"; }
  finish "$receiver"
  expect_file "$tmp/$receiver.out" "$receiver on $bound printed something else" <<'END'
one
two words

  four  
END
  grep -qx "$receiver: end of stream after 4 messages" "$tmp/$receiver.err" ||
    { cat "$tmp/$receiver.err" >&2; fail "$receiver on $bound did not end at end of stream"; }
  if [ $# -gt 2 ] && [ -e "$3" ]; then fail "$receiver on $bound left $3 behind"; fi
  echo "ok: $bound carried 4 messages ($how) whole and in order to $receiver, then end of stream"
}

channel channel_receiver "unix://$tmp/channel.sock" args "$tmp/channel.sock"
channel channel_receiver "unix://@ipckit-t-sh-$$" stdin
channel channel_receiver "tcp://127.0.0.1:0" args
channel channel_receiver "fifo://$tmp/channel.fifo" stdin "$tmp/channel.fifo"
channel channel_receiver "mq://$queue" args
# The receiver removed the queue it made: opening it now fails with ENOENT.
if "$dir/mq_consumer" --timeout 0 "$queue" > /dev/null 2> "$tmp/gone.err"; then
  fail "the receiver left the queue $queue behind"
fi
grep -q "ENOENT" "$tmp/gone.err" || { cat "$tmp/gone.err" >&2; fail "opening the queue did not fail with ENOENT"; }
echo "ok: the receiver removed $queue"

# --- 3. channel_poll: an shm:// listener in epoll ---------------------------------------------

# Its readiness descriptor wakes it for each message and for the sender's going.
channel channel_poll "shm://$poll_name?capacity=65536&senders=2" args "$poll_segment"

# SIGTERM comes through the signalfd in the same epoll set: a clean stop, status 0. Not
# through start: timeout --foreground passes a SIGTERM on to channel_poll alone, once, and
# exits with its status. (Without --foreground, timeout signals its whole process group too,
# and follows with SIGCONT, which can cancel the SIGSTOP of LeakSanitizer's exit-time check in
# a sanitizer build and leave it waiting for good.)
: > "$tmp/channel_poll.out"
: > "$tmp/channel_poll.err"
timeout --foreground 30 "$dir/channel_poll" "shm://$poll_name" \
  > "$tmp/channel_poll.out" 2> "$tmp/channel_poll.err" &
bg_pid=$!
wait_for_line "$tmp/channel_poll.err" "^channel_poll: listening on shm://$poll_name$" "listen on shm://$poll_name"
[ -e "$poll_segment" ] || fail "channel_poll says it listens, but $poll_segment is not there"
kill -TERM "$bg_pid"
finish channel_poll
grep -qx "channel_poll: SIGTERM, stopping after 0 messages" "$tmp/channel_poll.err" ||
  { cat "$tmp/channel_poll.err" >&2; fail "channel_poll did not say it stopped on SIGTERM"; }
[ ! -e "$poll_segment" ] || fail "channel_poll stopped by SIGTERM left $poll_segment behind"
echo "ok: channel_poll stopped on SIGTERM with status 0 and removed $poll_segment"
