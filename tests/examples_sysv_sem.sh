#!/bin/sh
# examples_sysv_sem.sh EXAMPLES_DIR: runs examples/sysv_sem_undo and checks what it printed:
#   a child takes a System V semaphore with SEM_UNDO and is killed with SIGKILL; the parent
#   sees the value 0 while the child holds it, 1 after its death (the kernel gave it back),
#   takes it, and removes the set.
# The suite's leak check (suite.NothingLeftBehind) also sees a set the example left behind.
# POSIX sh. The example gets 30 s at most; a hung one is killed and the check fails.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: examples_sysv_sem.sh EXAMPLES_DIR" >&2
  exit 2
fi
dir=$(cd "$1" && pwd) || exit 2

tmp=$(mktemp -d /tmp/ipckit-t-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

status=0
timeout 30 "$dir/sysv_sem_undo" > "$tmp/out" 2> "$tmp/err" || status=$?
if [ "$status" -ne 0 ]; then
  cat "$tmp/out" "$tmp/err" >&2
  fail "sysv_sem_undo exited with $status"
fi

cat > "$tmp/expected" <<'EOF'
child: took the semaphore with SEM_UNDO
parent: value while the child holds it: 0
parent: try to take it: would block
parent: child killed by SIGKILL
parent: value after the child's death: 1
parent: take it: ok
parent: removed the set
EOF
if ! cmp -s "$tmp/expected" "$tmp/out"; then
  echo "expected:" >&2; cat "$tmp/expected" >&2
  echo "printed:" >&2; cat "$tmp/out" >&2
  fail "sysv_sem_undo printed something else"
fi
if [ -s "$tmp/err" ]; then
  cat "$tmp/err" >&2
  fail "sysv_sem_undo wrote to stderr"
fi
echo "ok: the semaphore held by the SIGKILLed child was given back, and the set removed"
