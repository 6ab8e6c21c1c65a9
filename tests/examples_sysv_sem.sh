#!/bin/sh
# examples_sysv_sem.sh EXAMPLES_DIR: runs examples/sysv_sem_undo and checks what it printed:
#   a child takes a System V semaphore with SEM_UNDO and is killed with SIGKILL; the parent
#   sees the value 0 while the child holds it, 1 after its death (the kernel gave it back),
#   takes it, and removes the set.
# The suite's leak check (suite.NothingLeftBehind) also sees a set the example left behind.
# POSIX sh. The example gets 30 s at most; a hung one is killed and the check fails.
set -eu

# shellcheck source=tests/examples_lib.sh
. "$(dirname "$0")/examples_lib.sh"
examples_setup examples_sysv_sem.sh "$@"

run sysv_sem_undo
expect_output sysv_sem_undo <<'EOF'
child: took the semaphore with SEM_UNDO
parent: value while the child holds it: 0
parent: try to take it: would block
parent: child killed by SIGKILL
parent: value after the child's death: 1
parent: take it: ok
parent: removed the set
EOF
if [ -s "$tmp/sysv_sem_undo.err" ]; then
  cat "$tmp/sysv_sem_undo.err" >&2
  fail "sysv_sem_undo wrote to stderr"
fi
echo "ok: the semaphore held by the SIGKILLed child was given back, and the set removed"
