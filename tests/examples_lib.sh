# examples_lib.sh: sourced (not run) by the examples_*.sh checks; POSIX sh.
#   examples_setup SCRIPT "$@"  checks for the one EXAMPLES_DIR argument, sets $dir to it and
#                               $tmp to a fresh mktemp folder removed on every way out, after
#                               the script's own extra_cleanup (define it to kill or remove more)
#   fail MESSAGE                prints FAIL: MESSAGE and exits 1
#   run NAME                    runs example NAME (30 s at most), output in $tmp/NAME.out and
#                               .err; fails unless it exits 0
#   expect_file FILE WHAT       FILE holds exactly the lines of stdin (else fail WHAT)
#   expect_output NAME          the example printed exactly the lines of stdin

extra_cleanup() { :; }

examples_setup() {
  script=$1
  shift
  if [ $# -ne 1 ]; then
    echo "usage: $script EXAMPLES_DIR" >&2
    exit 2
  fi
  dir=$(cd "$1" && pwd) || exit 2
  tmp=$(mktemp -d /tmp/ipckit-t-XXXXXX)
  trap 'extra_cleanup; rm -rf "$tmp"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

run() {
  status=0
  timeout 30 "$dir/$1" > "$tmp/$1.out" 2> "$tmp/$1.err" || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$tmp/$1.out" "$tmp/$1.err" >&2
    fail "$1 exited with $status"
  fi
}

# expect_file FILE WHAT: FILE holds exactly the lines of stdin; else fails saying WHAT.
expect_file() {
  cat > "$tmp/expected"
  if ! cmp -s "$tmp/expected" "$1"; then
    echo "expected:" >&2; cat "$tmp/expected" >&2
    echo "got:" >&2; cat "$1" >&2
    fail "$2"
  fi
}

expect_output() {
  expect_file "$tmp/$1.out" "$1 printed something else"
  echo "ok: $1 printed the $(wc -l < "$tmp/$1.out") expected lines"
}
